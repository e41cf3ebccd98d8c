//! A case's whole story for the referral page, once mediation's API has
//! shown the referral to this member of staff: its hand-offs (routing's
//! referrals with why each organisation was chosen), its clocks, the cases
//! linked to it (intake's lineage: repeats, reflows), the agreement
//! document's hash, what staff did in the console, and every agency's call
//! about the case (the gateway's audit log, read as the county's centre).

use fengqiao_proto::fengqiao::gateway::v1::ListCaseCallsRequest;
use fengqiao_proto::fengqiao::intake::v1::GetLineageRequest;
use fengqiao_proto::fengqiao::routing::v1::{ListCaseClocksRequest, ListCaseReferralsRequest};
use serde::Serialize;
use sqlx::Row;

use crate::app::App;
use crate::i18n::{state_name, Lang};
use crate::items::local_time;

/// One line of a list on the page.
#[derive(Debug, Serialize)]
pub struct Line {
    /// When.
    pub at: String,
    /// What.
    pub what: String,
    /// More about it.
    pub detail: String,
}

/// The story of `case_id`, whose referral `referral_id` the caller may see.
#[derive(Debug, Serialize, Default)]
pub struct Story {
    /// Every hand-off, oldest first.
    pub referrals: Vec<Line>,
    /// Every clock.
    pub clocks: Vec<Line>,
    /// Cases linked to this one (personal data masked by intake).
    pub lineage: Vec<Line>,
    /// What staff did in the console on this referral.
    pub audit: Vec<Line>,
    /// Every agency's call about the case through the gateway: who, what, the answer.
    pub calls: Vec<Line>,
}

fn seconds(t: &Option<prost_types::Timestamp>) -> String {
    t.as_ref().map(|t| local_time(t.seconds)).unwrap_or_default()
}

fn clock_state(n: i32, lang: Lang) -> &'static str {
    const NAMES: [(i32, &str, &str); 5] = [
        (1, "计时中", "running"),
        (2, "已暂停", "paused"),
        (3, "按期完成", "met"),
        (4, "已超期", "breached"),
        (5, "已停止", "stopped"),
    ];
    crate::i18n::pick(&NAMES, n, lang)
}

/// Gathers the story; a part whose service does not answer is left empty
/// (the page says what it shows, and the rest of the case still shows).
pub async fn of(app: &App, case_id: &str, referral_id: &str, lang: Lang) -> Story {
    let mut story = Story::default();
    let case = case_id.to_string();
    if let Ok(r) = app.routing.clone().list_case_referrals(ListCaseReferralsRequest { case_id: case.clone() }).await {
        story.referrals = r
            .into_inner()
            .referrals
            .into_iter()
            .map(|r| Line {
                at: seconds(&r.created_at),
                what: format!("{} · {}", r.org_id, state_name(r.state, lang)),
                detail: if r.reason.is_empty() { r.explanation } else { format!("{} ({})", r.explanation, r.reason) },
            })
            .collect();
    }
    if let Ok(r) = app.routing.clone().list_case_clocks(ListCaseClocksRequest { case_id: case.clone() }).await {
        story.clocks = r
            .into_inner()
            .clocks
            .into_iter()
            .map(|c| Line {
                at: seconds(&c.due_at),
                what: format!("{} · {}", c.kind, clock_state(c.state, lang)),
                detail: c.period,
            })
            .collect();
    }
    if let Ok(r) = app.intake.clone().get_lineage(GetLineageRequest { case_id: case }).await {
        let lineage = r.into_inner();
        story.lineage = lineage
            .links
            .iter()
            .map(|l| {
                let other = if l.case_id == case_id { &l.related_case_id } else { &l.case_id };
                let related = lineage.cases.iter().find(|c| &c.case_id == other);
                Line {
                    at: related.map(|c| seconds(&c.registered_at)).unwrap_or_default(),
                    what: related.map_or_else(|| other.clone(), |c| c.case_no.clone()),
                    detail: l.reason.clone(),
                }
            })
            .collect();
    }
    if app.centre.is_configured() {
        let request = app.centre.request(ListCaseCallsRequest { case_id: case_id.to_string() }, None);
        match app.centre.client().list_case_calls(request).await {
            Ok(r) => {
                // The console's own readings of this trail (one per page view) are audited, not shown.
                story.calls = r
                    .into_inner()
                    .calls
                    .into_iter()
                    .filter(|c| c.method != "ListCaseCalls")
                    .map(|c| Line {
                        at: seconds(&c.at),
                        what: format!("{} ({}) · {}", c.agency_name, c.agency_id, c.method),
                        detail: c.code,
                    })
                    .collect()
            }
            Err(e) => tracing::warn!(code = ?e.code(), "cannot read the agency calls about a case for its page"),
        }
    }
    let rows = sqlx::query("SELECT at, username, action, outcome FROM console_audit WHERE target = $1 ORDER BY at")
        .bind(referral_id)
        .fetch_all(&app.db)
        .await
        .unwrap_or_default();
    story.audit = rows
        .iter()
        .filter_map(|r| {
            let at: i64 = r.try_get("at").ok()?;
            Some(Line {
                at: local_time(at / 1_000_000),
                what: format!(
                    "{} · {}",
                    r.try_get::<String, _>("username").ok()?,
                    r.try_get::<String, _>("action").ok()?
                ),
                detail: r.try_get("outcome").ok()?,
            })
        })
        .collect();
    story
}
