//! The commands.

mod client;
mod directory;
mod dlq;
mod migrate;
mod serve;
mod standalone;
mod supervision;
mod token;

pub use client::{agency, org, AgencyCommand, OrgCommand};
pub use directory::{directory, reroute, DirectoryCommand};
pub use dlq::{dlq, DlqCommand};
pub use migrate::migrate;
pub use serve::serve;
pub use standalone::standalone;
pub use supervision::{supervision, SupervisionCommand};
pub use token::token;
