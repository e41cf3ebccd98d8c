//! The commands.

mod migrate;
mod serve;
mod standalone;
mod token;

pub use migrate::migrate;
pub use serve::serve;
pub use standalone::standalone;
pub use token::token;
