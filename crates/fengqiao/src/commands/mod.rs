//! The commands.

mod accounts;
mod audit;
mod casework;
mod client;
mod credentials;
mod directory;
mod dlq;
mod health;
mod migrate;
mod outbox;
mod serve;
mod standalone;
mod supervision;

pub use accounts::{accounts, AccountsCommand};
pub use audit::{audit, AuditCommand};
pub use client::{agency, org, AgencyCommand, OrgCommand};
pub use credentials::{agencies, credentials, token, AgenciesCommand, CredentialsCommand};
pub use directory::{directory, reroute, DirectoryCommand};
pub use dlq::{dlq, DlqCommand};
pub use health::health;
pub use migrate::migrate;
pub use outbox::{outbox, OutboxCommand};
pub use serve::serve;
pub use standalone::standalone;
pub use supervision::{supervision, SupervisionCommand};

/// An instant (seconds since the epoch) as local time (Asia/Shanghai), for people reading a terminal.
pub(crate) fn local_time(seconds: i64) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    time::OffsetDateTime::from_unix_timestamp(seconds)
        .ok()
        .and_then(|t| t.to_offset(fengqiao_domain::period::LOCAL).format(format).ok())
        .unwrap_or_default()
}
