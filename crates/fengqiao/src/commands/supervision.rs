//! `fengqiao supervision …`: alarms, figures and re-driving stuck cases,
//! through routing's SupervisionService.

use clap::Subcommand;
use fengqiao_platform::Settings;
use fengqiao_proto::fengqiao::common::v1::Actor;
use fengqiao_proto::fengqiao::supervision::v1::supervision_service_client::SupervisionServiceClient;
use fengqiao_proto::fengqiao::supervision::v1::*;

use super::directory::routing_channel;
use super::local_time;

/// Supervision commands.
#[derive(Debug, Subcommand)]
pub enum SupervisionCommand {
    /// Lists open alarms, newest first.
    Alarms {
        /// Only this kind: OVERDUE, WARNING, CLOCK_MISSING, STUCK_CASE, DEAD_LETTER, RED_UNOWNED.
        #[arg(long, default_value = "")]
        kind: String,
        /// Cleared alarms too.
        #[arg(long)]
        all: bool,
    },
    /// Prints a month's or quarter's figures as CSV, ranked.
    Figures {
        /// A month (2026-10) or a quarter (2026-Q4).
        #[arg(long)]
        period: String,
        /// township, department or organisation.
        #[arg(long, default_value = "township")]
        by: String,
    },
    /// Re-announces a stuck case's referral to its organisation.
    Redrive {
        /// The case id.
        case_id: String,
        /// Who re-drives it, e.g. county-620802-centre.
        #[arg(long)]
        by: String,
    },
}

/// Runs a supervision command.
pub async fn supervision(settings: Settings, command: SupervisionCommand) -> anyhow::Result<()> {
    let mut client = SupervisionServiceClient::new(routing_channel(&settings).await?);
    match command {
        SupervisionCommand::Alarms { kind, all } => {
            let mut page_token = String::new();
            loop {
                let page = client
                    .list_alarms(ListAlarmsRequest {
                        kind: kind.clone(),
                        include_cleared: all,
                        page_token,
                        ..Default::default()
                    })
                    .await?
                    .into_inner();
                for a in page.alarms {
                    let raised = local_time(a.raised_at.map(|t| t.seconds).unwrap_or_default());
                    let cleared = if a.cleared_at.is_some() { " (cleared)" } else { "" };
                    println!(
                        "{:<13} case {} {} raised {raised}{cleared}: {}",
                        a.kind, a.case_id, a.subject_id, a.detail
                    );
                }
                if page.next_page_token.is_empty() {
                    break;
                }
                page_token = page.next_page_token;
            }
        }
        SupervisionCommand::Figures { period, by } => {
            let dimension = match by.as_str() {
                "township" => Dimension::Township,
                "department" => Dimension::Department,
                "organisation" | "organization" => Dimension::Organisation,
                other => anyhow::bail!("--by {other}: write township, department or organisation"),
            };
            let csv = client
                .export_supervision_figures(ExportSupervisionFiguresRequest { period, dimension: dimension as i32 })
                .await?
                .into_inner()
                .csv;
            print!("{csv}");
        }
        SupervisionCommand::Redrive { case_id, by } => {
            let actor = Some(Actor { org_id: by, person_id: String::new() });
            let r = client.redrive_case(RedriveCaseRequest { case_id, actor }).await?.into_inner();
            println!("referral {} re-announced to its organisation", r.referral_id);
        }
    }
    Ok(())
}
