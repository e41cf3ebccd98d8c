//! The commands.

mod migrate;
mod serve;
mod standalone;

pub use migrate::migrate;
pub use serve::serve;
pub use standalone::standalone;
