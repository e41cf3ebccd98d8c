//! The commands.

mod client;
mod directory;
mod migrate;
mod serve;
mod standalone;
mod token;

pub use client::{agency, org, AgencyCommand, OrgCommand};
pub use directory::{directory, reroute, DirectoryCommand};
pub use migrate::migrate;
pub use serve::serve;
pub use standalone::standalone;
pub use token::token;
