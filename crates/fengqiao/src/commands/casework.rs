//! `fengqiao org … conclude | work | agreement | statement | stats`: an
//! organisation's staff conclude a mediation with its details and read the
//! record, the agreement document, the subsidy statement and the figures.

use clap::Args;
use fengqiao_proto::fengqiao::common::v1::{Actor, MediationOutcome};
use fengqiao_proto::fengqiao::mediation::v1::mediation_service_client::MediationServiceClient;
use fengqiao_proto::fengqiao::mediation::v1::*;
use tonic::transport::Channel;

use super::local_time;

/// How a mediation ended, with what the outcome needs.
#[derive(Debug, Args)]
pub struct ConcludeArgs {
    /// The referral id.
    pub referral_id: String,
    /// agreement, no-agreement, party-refused, withdrawn or terminated.
    #[arg(long)]
    pub outcome: String,
    /// A summary without personal data; required for withdrawn and terminated (why).
    #[arg(long, default_value = "")]
    pub summary: String,
    /// Agreement: one term (repeat for each obligation); defaults to the summary.
    #[arg(long = "term")]
    pub terms: Vec<String>,
    /// Agreement: the amount paid under it, in fen.
    #[arg(long, default_value_t = 0)]
    pub amount_fen: i64,
    /// Agreement: the last day of performance, YYYY-MM-DD (default: 30 days from today).
    #[arg(long)]
    pub deadline: Option<String>,
    /// Agreement: an oral agreement (default: written, signed by every party).
    #[arg(long)]
    pub oral: bool,
    /// No agreement: the routes the parties were told of (litigation, arbitration, administrative).
    #[arg(long = "route")]
    pub routes: Vec<String>,
    /// Party refused: the number of the party who refused (1 = first).
    #[arg(long, default_value_t = 0)]
    pub refusing_party: u32,
    /// Terminated: return the case to the agency that sent it.
    #[arg(long)]
    pub return_to_source: bool,
}

fn named(prefix: &str, text: &str, parse: fn(&str) -> Option<i32>) -> anyhow::Result<i32> {
    let name = format!("{prefix}_{}", text.replace('-', "_").to_uppercase());
    parse(&name).ok_or_else(|| anyhow::anyhow!("unknown value `{text}`"))
}

/// Concludes as `args` say; a written agreement is signed by every party of the case.
pub async fn conclude(
    client: &mut MediationServiceClient<Channel>,
    actor: Option<Actor>,
    a: ConcludeArgs,
) -> anyhow::Result<Option<InboxItem>> {
    let outcome = named("MEDIATION_OUTCOME", &a.outcome, |n| MediationOutcome::from_str_name(n).map(|v| v as i32))?;
    let mut r = ConcludeMediationRequest {
        referral_id: a.referral_id.clone(),
        actor: actor.clone(),
        outcome,
        summary: a.summary.clone(),
        refusing_party_number: a.refusing_party,
        return_to_source: a.return_to_source,
        ..Default::default()
    };
    for route in &a.routes {
        r.routes_told.push(named("OTHER_ROUTE", route, |n| OtherRoute::from_str_name(n).map(|v| v as i32))?);
    }
    if outcome == MediationOutcome::Agreement as i32 {
        let work = client
            .get_case_work(GetCaseWorkRequest { referral_id: a.referral_id.clone(), actor })
            .await?
            .into_inner()
            .work
            .unwrap_or_default();
        let parties = work.item.and_then(|i| i.dispute).map_or(0, |d| d.parties.len() as u32);
        let today = time::OffsetDateTime::now_utc().to_offset(fengqiao_domain::period::LOCAL).date();
        r.agreement = Some(AgreementTerms {
            form: if a.oral { AgreementForm::Oral } else { AgreementForm::Written } as i32,
            terms: if a.terms.is_empty() { vec![a.summary.clone()] } else { a.terms },
            amount_fen: a.amount_fen,
            performance_deadline: a.deadline.unwrap_or_else(|| (today + time::Duration::days(30)).to_string()),
            signatures: if a.oral {
                Vec::new()
            } else {
                (1..=parties).map(|n| Signature { party_number: n, signed_at: None }).collect()
            },
        });
    }
    let answer = client.conclude_mediation(r).await?.into_inner();
    if let Some(d) = answer.agreement_document {
        println!("agreement document {} sha256 {}", d.template_id, d.sha256);
    }
    Ok(answer.item)
}

fn when(t: &Option<::prost_types::Timestamp>) -> String {
    t.as_ref().map_or("-".into(), |t| local_time(t.seconds))
}

/// Prints the record of a referral's work.
pub async fn work(
    client: &mut MediationServiceClient<Channel>,
    actor: Option<Actor>,
    id: String,
) -> anyhow::Result<()> {
    let w = client
        .get_case_work(GetCaseWorkRequest { referral_id: id, actor })
        .await?
        .into_inner()
        .work
        .unwrap_or_default();
    let item = w.item.unwrap_or_default();
    println!("referral {}  case {}  lead mediator {}", item.referral_id, item.case_no, item.lead_mediator_id);
    for s in &w.sessions {
        let state = SessionState::try_from(s.state).map_or("?", |s| s.as_str_name());
        println!("session {}  {}  {}  absent {:?}", s.session_id, when(&s.scheduled_at), state, s.absent_party_numbers);
    }
    if let Some(p) = &w.performance {
        let state = PerformanceState::try_from(p.state).map_or("?", |s| s.as_str_name());
        println!("performance {state}  deadline {}", p.performance_deadline);
    }
    for v in &w.visits {
        println!("return visit {}  satisfaction {}", when(&v.visited_at), v.satisfaction);
    }
    let file = w.case_file.unwrap_or_default();
    println!("case file {}", if file.complete { "complete" } else { "incomplete" });
    for m in &file.missing_explained {
        println!("  - {m}");
    }
    let s = w.subsidy.unwrap_or_default();
    println!(
        "subsidy tier {} ({}) {} yuan, {}",
        s.tier,
        s.tier_reason,
        s.amount_fen as f64 / 100.0,
        if s.eligible { "payable".to_string() } else { s.why_not }
    );
    Ok(())
}

/// Prints the agreement document and its hash.
pub async fn agreement(
    client: &mut MediationServiceClient<Channel>,
    actor: Option<Actor>,
    id: String,
) -> anyhow::Result<()> {
    let r = GetAgreementDocumentRequest { referral_id: id, actor };
    let d = client.get_agreement_document(r).await?.into_inner().document.unwrap_or_default();
    print!("{}", d.text);
    eprintln!("{}  sha256 {}", d.template_id, d.sha256);
    Ok(())
}

/// Prints the month's subsidy statement, as a table or CSV.
pub async fn statement(
    client: &mut MediationServiceClient<Channel>,
    org: &str,
    month: String,
    csv: bool,
) -> anyhow::Result<()> {
    let r = GetSubsidyStatementRequest { org_id: org.to_string(), month };
    let s = client.get_subsidy_statement(r).await?.into_inner().statement.unwrap_or_default();
    if csv {
        print!("{}", fengqiao_mediation::statement_csv(&s));
        return Ok(());
    }
    println!("{:<20} {:<22} {:>4} {:>12}", "case", "mediator", "tier", "yuan");
    for l in &s.lines {
        println!("{:<20} {:<22} {:>4} {:>12.2}", l.case_no, l.mediator_id, l.tier, l.amount_fen as f64 / 100.0);
    }
    for m in &s.mediators {
        println!(
            "{:<20} {:<22} {:>4} {:>12.2}",
            format!("{} cases", m.cases),
            m.mediator_id,
            "",
            m.amount_fen as f64 / 100.0
        );
    }
    println!("{:<20} {:<22} {:>4} {:>12.2}", format!("{} cases", s.cases), "total", "", s.amount_fen as f64 / 100.0);
    Ok(())
}

/// Prints the organisation's and its mediators' figures.
pub async fn stats(client: &mut MediationServiceClient<Channel>, org: &str, period: String) -> anyhow::Result<()> {
    let r = GetWorkStatisticsRequest { org_id: org.to_string(), period };
    let s = client.get_work_statistics(r).await?.into_inner();
    println!(
        "{:<24} {:>5} {:>9} {:>10} {:>9} {:>9} {:>12}",
        "", "open", "concluded", "agreements", "rate %", "days", "satisfaction"
    );
    for f in s.organisation.iter().chain(&s.mediators) {
        let who = if f.mediator_id.is_empty() { &f.org_id } else { &f.mediator_id };
        println!(
            "{:<24} {:>5} {:>9} {:>10} {:>9.1} {:>9.1} {:>12.2}",
            who,
            f.open,
            f.concluded,
            f.agreements,
            f.agreement_rate * 100.0,
            f.average_days_to_conclusion,
            f.average_satisfaction
        );
    }
    Ok(())
}
