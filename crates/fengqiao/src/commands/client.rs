//! `fengqiao agency …` and `fengqiao org …`: talk to a running fengqiao as an
//! agency system or as an organisation's staff, from a terminal.

use clap::Subcommand;
use fengqiao_platform::Settings;
use fengqiao_proto::fengqiao::common::v1::*;
use fengqiao_proto::fengqiao::gateway::v1::agency_service_client::AgencyServiceClient;
use fengqiao_proto::fengqiao::gateway::v1::*;
use fengqiao_proto::fengqiao::mediation::v1::mediation_service_client::MediationServiceClient;
use fengqiao_proto::fengqiao::mediation::v1::*;
use tonic::transport::Channel;
use tonic::Request;

use super::casework::{self, ConcludeArgs};

/// What an agency system does.
#[derive(Debug, Subcommand)]
pub enum AgencyCommand {
    /// Hands a dispute over; prints the case.
    Submit {
        /// Your own number for the matter (警情编号, 案号, 信访件编号).
        #[arg(long = "ref")]
        external_ref: String,
        /// police, court-pre-litigation, court-in-litigation or petition.
        #[arg(long, default_value = "police")]
        source: String,
        /// Division code of the place (6, 9 or 12 digits).
        #[arg(long, default_value = "620802001001")]
        division: String,
        /// neighbourhood, marriage-family, labour, traffic-accident, … (see Category in the protos).
        #[arg(long, default_value = "neighbourhood")]
        category: String,
        /// The applicant's name.
        #[arg(long)]
        applicant: String,
        /// The respondent's name.
        #[arg(long)]
        respondent: Option<String>,
        /// What happened.
        #[arg(long, default_value = "")]
        narrative: String,
    },
    /// Prints a case's status.
    Status {
        /// The case id.
        case_id: String,
    },
    /// Prints status changes from a cursor on; with --follow, keeps waiting.
    Watch {
        /// Resume after this cursor.
        #[arg(long, default_value = "")]
        cursor: String,
        /// Keep waiting for new changes.
        #[arg(long)]
        follow: bool,
    },
    /// Revokes a case's hand-off before the organisation starts work.
    Revoke {
        /// The case id.
        case_id: String,
        /// Why.
        #[arg(long)]
        reason: String,
    },
}

/// What an organisation's staff do.
#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// Lists the organisation's inbox.
    Inbox,
    /// Accepts a referral.
    Accept {
        /// The referral id.
        referral_id: String,
    },
    /// Rejects a referral with a reason.
    Reject {
        /// The referral id.
        referral_id: String,
        /// Why (told to the sender).
        #[arg(long)]
        reason: String,
    },
    /// Starts mediation.
    Start {
        /// The referral id.
        referral_id: String,
    },
    /// Concludes mediation with its outcome's details.
    Conclude(ConcludeArgs),
    /// Prints the record of a referral's work: sessions, performance, visits, case file, subsidy.
    Work {
        /// The referral id.
        referral_id: String,
    },
    /// Prints the agreement document (its SHA-256 on stderr).
    Agreement {
        /// The referral id.
        referral_id: String,
    },
    /// Prints the organisation's subsidy statement (以案定补) for a month.
    Statement {
        /// The month, e.g. 2026-11.
        #[arg(long)]
        month: String,
        /// As CSV.
        #[arg(long)]
        csv: bool,
    },
    /// Prints the organisation's and its mediators' figures for a month or quarter.
    Stats {
        /// A month (2026-11) or a quarter (2026-Q4).
        #[arg(long)]
        period: String,
    },
}

fn enum_value(prefix: &str, text: &str, parse: fn(&str) -> Option<i32>, what: &str) -> anyhow::Result<i32> {
    let name = format!("{prefix}_{}", text.replace('-', "_").to_uppercase());
    parse(&name).ok_or_else(|| anyhow::anyhow!("unknown {what} `{text}`"))
}

fn state_name(state: i32) -> &'static str {
    match ReferralState::try_from(state) {
        Ok(ReferralState::Unspecified) => "REGISTERED",
        Ok(s) => fengqiao_domain::referral::state_name(s),
        Err(_) => "?",
    }
}

fn outcome_name(outcome: i32) -> &'static str {
    match MediationOutcome::try_from(outcome) {
        Ok(MediationOutcome::Unspecified) => "-",
        Ok(o) => o.as_str_name().trim_start_matches("MEDIATION_OUTCOME_"),
        Err(_) => "?",
    }
}

fn print_status(s: &CaseStatus) {
    println!("case_id:   {}", s.case_id);
    println!("case_no:   {}", s.case_no);
    println!("reference: {}", s.external_ref);
    println!("state:     {}", state_name(s.referral_state));
    println!("org:       {}", s.org_id);
    println!("outcome:   {}", outcome_name(s.outcome));
    if !s.reason.is_empty() {
        println!("reason:    {}", s.reason);
    }
    if s.returned_to_sender {
        println!("returned to the sending agency");
    }
}

async fn connect(settings: &Settings, component: &str) -> anyhow::Result<Channel> {
    let url = settings.component(component).expect("known component").endpoint();
    tonic::transport::Endpoint::from_shared(url.clone())?
        .connect()
        .await
        .map_err(|e| anyhow::anyhow!("cannot reach {component} at {url}: {e}; is fengqiao running?"))
}

/// Runs an agency command as `agency` (a one-day token from the registry unless given).
pub async fn agency(
    settings: Settings,
    agency: &str,
    token: Option<String>,
    command: AgencyCommand,
) -> anyhow::Result<()> {
    let token = match token {
        Some(t) => t,
        None => super::credentials::session_token(&settings, agency).await?,
    };
    let bearer: tonic::metadata::MetadataValue<_> = format!("Bearer {token}").parse()?;
    let mut client =
        AgencyServiceClient::with_interceptor(connect(&settings, "gateway").await?, move |mut r: Request<()>| {
            r.metadata_mut().insert("authorization", bearer.clone());
            Ok(r)
        });
    match command {
        AgencyCommand::Submit { external_ref, source, division, category, applicant, respondent, narrative } => {
            let mut parties = vec![Party { role: PartyRole::Applicant as i32, name: applicant, ..Default::default() }];
            if let Some(name) = respondent {
                parties.push(Party { role: PartyRole::Respondent as i32, name, ..Default::default() });
            }
            let dispute = Dispute {
                source: enum_value("SOURCE", &source, |n| Source::from_str_name(n).map(|v| v as i32), "source")?,
                external_ref,
                category: enum_value(
                    "CATEGORY",
                    &category,
                    |n| Category::from_str_name(n).map(|v| v as i32),
                    "category",
                )?,
                parties,
                location: Some(Location { division_code: division, ..Default::default() }),
                narrative,
                ..Default::default()
            };
            let r = client
                .submit_dispute(SubmitDisputeRequest { dispute: Some(dispute), ..Default::default() })
                .await?
                .into_inner();
            println!("{}", if r.created { "registered" } else { "already registered" });
            print_status(&r.status.unwrap_or_default());
        }
        AgencyCommand::Status { case_id } => {
            let r = client.get_status(GetStatusRequest { case_id }).await?.into_inner();
            print_status(&r.status.unwrap_or_default());
        }
        AgencyCommand::Watch { cursor, follow } => {
            let mut stream = client.watch_status(WatchStatusRequest { cursor }).await?.into_inner();
            loop {
                let next = if follow {
                    stream.message().await?
                } else {
                    match tokio::time::timeout(std::time::Duration::from_secs(1), stream.message()).await {
                        Ok(m) => m?,
                        Err(_) => None,
                    }
                };
                let Some(item) = next else { break };
                let s = item.status.unwrap_or_default();
                println!(
                    "{:>6}  {}  {:<12} {:<24} {}",
                    item.cursor,
                    s.case_no,
                    state_name(s.referral_state),
                    if s.org_id.is_empty() { "-" } else { &s.org_id },
                    outcome_name(s.outcome)
                );
            }
        }
        AgencyCommand::Revoke { case_id, reason } => {
            let r = client
                .revoke_referral(RevokeReferralRequest { case_id, reason, ..Default::default() })
                .await?
                .into_inner();
            print_status(&r.status.unwrap_or_default());
        }
    }
    Ok(())
}

fn print_item(i: &InboxItem) {
    println!("{}  case {}  {}  {}", i.referral_id, i.case_no, state_name(i.state), i.case_id);
}

/// Runs an organisation command as staff of `org`.
pub async fn org(settings: Settings, org: &str, command: OrgCommand) -> anyhow::Result<()> {
    let mut client = MediationServiceClient::new(connect(&settings, "mediation").await?);
    let actor = Some(Actor { org_id: org.to_string(), person_id: String::new() });
    let item = match command {
        OrgCommand::Inbox => {
            let r = client
                .list_inbox(ListInboxRequest { org_id: org.to_string(), ..Default::default() })
                .await?
                .into_inner();
            for i in &r.items {
                print_item(i);
            }
            if r.items.is_empty() {
                println!("(empty)");
            }
            return Ok(());
        }
        OrgCommand::Accept { referral_id } => {
            client.accept_referral(AcceptReferralRequest { referral_id, actor }).await?.into_inner().item
        }
        OrgCommand::Reject { referral_id, reason } => {
            client.reject_referral(RejectReferralRequest { referral_id, actor, reason }).await?.into_inner().item
        }
        OrgCommand::Start { referral_id } => {
            client.start_mediation(StartMediationRequest { referral_id, actor }).await?.into_inner().item
        }
        OrgCommand::Conclude(args) => casework::conclude(&mut client, actor, args).await?,
        OrgCommand::Work { referral_id } => return casework::work(&mut client, actor, referral_id).await,
        OrgCommand::Agreement { referral_id } => return casework::agreement(&mut client, actor, referral_id).await,
        OrgCommand::Statement { month, csv } => return casework::statement(&mut client, org, month, csv).await,
        OrgCommand::Stats { period } => return casework::stats(&mut client, org, period).await,
    };
    print_item(&item.unwrap_or_default());
    Ok(())
}
