//! The supervisors' pages: the alarms board (overdue, warnings, stuck cases,
//! missing clocks, dead letters, RED cases without an owner) and the figures
//! dashboard (a month's registrations, conclusions, agreements, the shares
//! resolved at village and township level, the joint-summons response, the
//! ranking, with a bar chart), through routing's supervision API. Only
//! supervisors, leaders and administrators; a supervisor of a township sees
//! its own units.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::response::Response;
use fengqiao_proto::fengqiao::supervision::v1::{
    Dimension, GetSupervisionFiguresRequest, ListAlarmsRequest, UnitFigures,
};
use http::{HeaderMap, StatusCode};
use minijinja::context;
use serde::Serialize;

use crate::accounts::Role;
use crate::app::App;
use crate::i18n::alarm_name;
use crate::pages::{lang_of, page, refusal, session_of, to_login, Common};
use crate::sessions::Session;
use crate::views::{render, Frame};

fn oversees(session: &Session) -> bool {
    matches!(session.staff.role, Role::Supervisor | Role::Leader | Role::Administrator)
}

/// The alarms board.
pub async fn alarms(State(app): State<Arc<App>>, headers: HeaderMap, Query(q): Query<Common>) -> Response {
    let Some(session) = session_of(&app, &headers).await else { return to_login() };
    let lang = lang_of(&headers, &q);
    if !oversees(&session) {
        return refusal(&app, lang, &session, &tonic::Status::permission_denied("role"), &q);
    }
    // A supervisor or leader with a jurisdiction sees the alarms of cases placed in it.
    let division_prefix =
        if session.staff.role == Role::Administrator { String::new() } else { session.staff.jurisdiction.clone() };
    let request = ListAlarmsRequest { page_size: 500, division_prefix, ..Default::default() };
    let alarms = match app.supervision.clone().list_alarms(request).await {
        Ok(r) => r.into_inner().alarms,
        Err(status) => return refusal(&app, lang, &session, &status, &q),
    };
    let rows: Vec<_> = alarms
        .iter()
        .map(|a| {
            context! {
                kind => alarm_name(&a.kind, lang), kind_code => a.kind, case_id => a.case_id,
                subject => a.subject_id, detail => a.detail,
                raised_at => a.raised_at.as_ref().map(|t| crate::items::local_time(t.seconds)).unwrap_or_default(),
            }
        })
        .collect();
    let frame = Frame { staff: Some(session.staff.clone()), csrf: session.csrf.clone(), ..Default::default() };
    page(StatusCode::OK, render(&app.templates, "alarms.html", lang, &frame, context! { alarms => rows }), &q)
}

/// A unit's row, with its bar's width in the chart.
#[derive(Serialize)]
struct Row {
    rank: u32,
    name: String,
    registered: u32,
    concluded: u32,
    agreements: u32,
    success: String,
    timeliness: String,
    net: String,
    bar: u32,
}

fn percent(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

fn row(u: &UnitFigures, widest: u32) -> Row {
    Row {
        rank: u.rank,
        name: u.unit_name.clone(),
        registered: u.registered,
        concluded: u.concluded,
        agreements: u.agreements,
        success: percent(u.success_rate),
        timeliness: percent(u.timeliness),
        net: percent(u.net_resolution_rate),
        bar: (u.agreements * 300).checked_div(widest).unwrap_or(0),
    }
}

/// The month now, local time (`2026-12`).
pub(crate) fn this_month() -> String {
    let now = time::OffsetDateTime::now_utc().to_offset(time::macros::offset!(+8));
    format!("{}-{:02}", now.year(), u8::from(now.month()))
}

/// Whether a unit id lies in `jurisdiction` (a division-code prefix; empty for all).
fn in_jurisdiction(unit_id: &str, jurisdiction: &str) -> bool {
    let digits = unit_id.rsplit('-').find(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())).unwrap_or("");
    jurisdiction.is_empty() || (!digits.is_empty() && digits.starts_with(jurisdiction))
}

/// The figures dashboard.
pub async fn dashboard(State(app): State<Arc<App>>, headers: HeaderMap, Query(q): Query<Common>) -> Response {
    let Some(session) = session_of(&app, &headers).await else { return to_login() };
    let lang = lang_of(&headers, &q);
    if !oversees(&session) {
        return refusal(&app, lang, &session, &tonic::Status::permission_denied("role"), &q);
    }
    let period = q.period.clone().filter(|p| !p.is_empty()).unwrap_or_else(this_month);
    let by_org = q.by.as_deref() == Some("organisation");
    let dimension = if by_org { Dimension::Organisation } else { Dimension::Township };
    let request = GetSupervisionFiguresRequest { period: period.clone(), dimension: dimension as i32 };
    let figures = match app.supervision.clone().get_supervision_figures(request).await {
        Ok(r) => r.into_inner(),
        Err(status) => return refusal(&app, lang, &session, &status, &q),
    };
    let jurisdiction = session.staff.jurisdiction.clone();
    let units: Vec<&UnitFigures> =
        figures.units.iter().filter(|u| in_jurisdiction(&u.unit_id, &jurisdiction)).collect();
    let widest = units.iter().map(|u| u.agreements).max().unwrap_or(0);
    let rows: Vec<Row> = units.iter().map(|u| row(u, widest)).collect();
    let t = figures.total.unwrap_or_default();
    let total = context! {
        registered => t.registered, concluded => t.concluded, agreements => t.agreements,
        success => percent(t.success_rate), timeliness => percent(t.timeliness),
        village_share => percent(t.village_share), township_share => percent(t.township_share),
        summons => percent(t.summons_response_rate), net => percent(t.net_resolution_rate),
    };
    let frame = Frame { staff: Some(session.staff.clone()), csrf: session.csrf.clone(), ..Default::default() };
    let html = render(
        &app.templates,
        "dashboard.html",
        lang,
        &frame,
        context! { period => period, by_org => by_org, total => total, rows => rows, chart_height => rows.len() * 28 + 8,
        departments => crate::summons::rates(&app, &period).await },
    );
    page(StatusCode::OK, html, &q)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_jurisdiction_keeps_its_own_units() {
        use super::in_jurisdiction;
        assert!(in_jurisdiction("620802001", ""));
        assert!(in_jurisdiction("620802001", "620802"));
        assert!(in_jurisdiction("village-620802001001", "620802001"));
        assert!(!in_jurisdiction("village-620802003001", "620802001"));
        assert!(!in_jurisdiction("county-620802-centre", "620802001"), "the county's own units are above a township");
        assert!(!in_jurisdiction("police-xyz", "620802001"));
    }
}
