//! `fengqiao audit …`: proves the gateway's hash-chained audit log and shows
//! who called about a case (reads the gateway's database directly).

use clap::Subcommand;
use fengqiao_gateway::audit::{self, Verdict};
use fengqiao_gateway::Gateway;
use fengqiao_platform::component::{self, Component};
use fengqiao_platform::Settings;

use super::local_time;

/// Audit commands.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Recomputes every entry's hash from the chain's anchor; fails naming
    /// the first entry that was altered, removed or inserted.
    Verify,
    /// Every call that concerned a case, oldest first: who looked, when, with what result.
    Case {
        /// The case id.
        case_id: String,
    },
}

/// Runs an audit command.
pub async fn audit(settings: Settings, command: AuditCommand) -> anyhow::Result<()> {
    let (db, _) = component::migrate(&settings, Gateway::NAME, Gateway::MIGRATIONS).await?;
    match command {
        AuditCommand::Verify => {
            let verdict = audit::verify(&db, |n| eprint!("\rchecked {n} entries")).await?;
            eprintln!();
            match verdict {
                Verdict::Intact(n) => println!("audit chain intact: {n} entries verified"),
                Verdict::BrokenAt(seq) => anyhow::bail!(
                    "audit chain broken at entry {seq}: it, or one before it, was altered, removed or inserted; \
                     keep the database as it is and restore the log from a backup to compare"
                ),
            }
        }
        AuditCommand::Case { case_id } => {
            for e in audit::of_case(&db, &case_id).await? {
                let code = tonic::Code::from_i32(e.code);
                println!(
                    "{} {:<24} {:<28} {:?} request {}",
                    local_time(e.at / 1_000_000),
                    if e.agency_id.is_empty() { "(unauthenticated)" } else { &e.agency_id },
                    e.method,
                    code,
                    e.request_id
                );
            }
        }
    }
    Ok(())
}
