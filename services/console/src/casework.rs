//! The referral page's later steps, each through the mediation API as the
//! signed-in member of staff: the head assigns mediators from the
//! organisation's directory; mediators plan sessions ahead and record them
//! when held; after an agreement, its performance and the return visit.

use std::collections::HashMap;

use fengqiao_platform::status::{invalid_argument, Violation};
use fengqiao_proto::fengqiao::mediation::v1::{
    AssignMediatorsRequest, CaseWork, MediatorRole, PerformanceState, RecordPerformanceRequest,
    RecordReturnVisitRequest, RecordSessionRequest, RescheduleSessionRequest, ScheduleSessionRequest, SessionState,
};
use fengqiao_proto::fengqiao::routing::v1::ListMediatorsRequest;
use serde::Serialize;
use time::macros::{format_description, offset};

use crate::app::App;
use crate::i18n::{words, Lang};
use crate::sessions::Session;

type Fields = HashMap<String, String>;

/// A form field, trimmed; empty when absent.
pub(crate) fn field(fields: &Fields, name: &str) -> String {
    fields.get(name).map(|v| v.trim().to_string()).unwrap_or_default()
}

fn timestamp(seconds: i64) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp { seconds, nanos: 0 })
}

/// `2026-12-05T09:30` (a date-time field), Beijing time, in seconds since the epoch.
pub fn local_date_time(text: &str) -> Option<i64> {
    let format = format_description!("[year]-[month]-[day]T[hour]:[minute]");
    let t = time::PrimitiveDateTime::parse(text, format).ok()?;
    Some(t.assume_offset(offset!(+8)).unix_timestamp())
}

/// `2026-12-05` (a date field) as the end of that day, Beijing time, or `now`
/// if earlier: a thing done "on" a day is never after the moment it is recorded.
pub fn day_done(text: &str, now: i64) -> Option<i64> {
    let date = time::Date::parse(text, format_description!("[year]-[month]-[day]")).ok()?;
    let end = date.with_hms(23, 59, 59).ok()?.assume_offset(offset!(+8)).unix_timestamp();
    Some(end.min(now))
}

fn now_seconds() -> i64 {
    fengqiao_platform::db::now_micros() / 1_000_000
}

/// The case's parties, numbered from 1.
pub(crate) fn party_numbers(work: &CaseWork) -> Vec<u32> {
    let parties = work.item.as_ref().and_then(|i| i.dispute.as_ref()).map_or(0, |d| d.parties.len() as u32);
    (1..=parties).collect()
}

/// Assigns the lead and co-mediators the head chose.
pub async fn assign(app: &App, session: &Session, id: &str, fields: &Fields) -> Result<(), tonic::Status> {
    let co_mediator_ids = fields
        .iter()
        .filter(|(k, v)| k.starts_with("co_") && v.as_str() == "on")
        .map(|(k, _)| k["co_".len()..].to_string())
        .filter(|c| *c != field(fields, "lead"))
        .collect();
    let request = AssignMediatorsRequest {
        referral_id: id.to_string(),
        actor: crate::pages::actor(session),
        lead_mediator_id: field(fields, "lead"),
        co_mediator_ids,
        reason: field(fields, "reason"),
    };
    app.mediation.clone().assign_mediators(request).await.map(|_| ())
}

/// Plans a session for every party at the time and place given.
pub async fn schedule(
    app: &App,
    session: &Session,
    work: &CaseWork,
    id: &str,
    fields: &Fields,
) -> Result<(), tonic::Status> {
    let at = when(fields)?;
    let request = ScheduleSessionRequest {
        referral_id: id.to_string(),
        actor: crate::pages::actor(session),
        scheduled_at: timestamp(at),
        place: field(fields, "place"),
        party_numbers: party_numbers(work),
        ..Default::default()
    };
    app.mediation.clone().schedule_session(request).await.map(|_| ())
}

/// Moves a planned session to a new time, with the reason.
pub async fn reschedule(app: &App, session: &Session, fields: &Fields) -> Result<(), tonic::Status> {
    let scheduled_at = when(fields)?;
    let request = RescheduleSessionRequest {
        session_id: field(fields, "session_id"),
        actor: crate::pages::actor(session),
        scheduled_at: timestamp(scheduled_at),
        reason: field(fields, "reason"),
    };
    app.mediation.clone().reschedule_session(request).await.map(|_| ())
}

/// The form's `scheduled_at`, or the refusal naming it.
fn when(fields: &Fields) -> Result<i64, tonic::Status> {
    local_date_time(&field(fields, "scheduled_at")).ok_or_else(|| {
        invalid_argument(&[Violation::new("scheduled_at", "must be a date and time such as 2026-12-05T09:30")])
    })
}

/// Records a planned session as held, with what was said and done (调解笔录).
pub async fn record(app: &App, session: &Session, fields: &Fields) -> Result<(), tonic::Status> {
    let request = RecordSessionRequest {
        session_id: field(fields, "session_id"),
        actor: crate::pages::actor(session),
        record: field(fields, "record"),
        absent_party_numbers: Vec::new(),
    };
    app.mediation.clone().record_session(request).await.map(|_| ())
}

/// Records how the agreement was performed.
pub async fn performance(app: &App, session: &Session, id: &str, fields: &Fields) -> Result<(), tonic::Status> {
    let state = match field(fields, "state").as_str() {
        "performed" => PerformanceState::Performed,
        "partly" => PerformanceState::PartlyPerformed,
        "breached" => PerformanceState::Breached,
        _ => return Err(invalid_argument(&[Violation::new("state", "choose performed, partly or breached")])),
    };
    // The API takes a date only for an agreement performed in full.
    let performed_at = match (state, day_done(&field(fields, "performed_on"), now_seconds())) {
        (PerformanceState::Performed, Some(at)) => timestamp(at),
        (PerformanceState::Performed, None) => {
            return Err(invalid_argument(&[Violation::new("performed_on", "must be a date such as 2026-12-05")]))
        }
        _ => None,
    };
    let request = RecordPerformanceRequest {
        referral_id: id.to_string(),
        actor: crate::pages::actor(session),
        state: state as i32,
        performed_at,
        note: field(fields, "note"),
    };
    app.mediation.clone().record_performance(request).await.map(|_| ())
}

/// Records a return visit and the parties' satisfaction.
pub async fn visit(app: &App, session: &Session, id: &str, fields: &Fields) -> Result<(), tonic::Status> {
    let Some(visited_at) = day_done(&field(fields, "visited_on"), now_seconds()) else {
        return Err(invalid_argument(&[Violation::new("visited_on", "must be a date such as 2026-12-05")]));
    };
    let request = RecordReturnVisitRequest {
        referral_id: id.to_string(),
        actor: crate::pages::actor(session),
        visited_at: timestamp(visited_at),
        satisfaction: field(fields, "satisfaction").parse().unwrap_or(0),
        method: field(fields, "method"),
        note: field(fields, "note"),
    };
    app.mediation.clone().record_return_visit(request).await.map(|_| ())
}

/// A session planned and not yet held, as the page lists it.
#[derive(Debug, Serialize)]
pub struct Planned {
    /// The session id (the record form's hidden field).
    pub session_id: String,
    /// When, local time.
    pub at: String,
    /// Where.
    pub place: String,
}

/// A mediator the head may choose.
#[derive(Debug, Serialize)]
pub struct Choice {
    /// The mediator id.
    pub id: String,
    /// The name.
    pub name: String,
    /// Currently the lead.
    pub lead: bool,
    /// Currently a co-mediator.
    pub co: bool,
}

/// What the referral page shows of the later work.
#[derive(Debug, Serialize, Default)]
pub struct Later {
    /// Sessions planned and not yet held.
    pub planned: Vec<Planned>,
    /// The agreement's performance in words (empty without an agreement).
    pub performance: String,
    /// Whether performance may still be recorded (pending, overdue or partly performed).
    pub performance_open: bool,
    /// The return visits: when, how, satisfaction, note.
    pub visits: Vec<String>,
    /// The organisation's available mediators (for the head's assignment form).
    pub choices: Vec<Choice>,
}

/// The later work of `work`, with the organisation's mediators when `assigning`.
pub async fn later(app: &App, work: &CaseWork, lang: Lang, assigning: bool) -> Later {
    let w = words(lang);
    let planned = work
        .sessions
        .iter()
        .filter(|s| s.state == SessionState::Scheduled as i32)
        .map(|s| Planned {
            session_id: s.session_id.clone(),
            at: s.scheduled_at.as_ref().map(|t| crate::items::local_time(t.seconds)).unwrap_or_default(),
            place: s.place.clone(),
        })
        .collect();
    let state = work.performance.as_ref().map(|p| p.state).unwrap_or_default();
    let performance = match PerformanceState::try_from(state).unwrap_or_default() {
        PerformanceState::Unspecified => String::new(),
        PerformanceState::Pending => w["perf_pending"].to_string(),
        PerformanceState::Overdue => w["perf_overdue"].to_string(),
        PerformanceState::Performed => w["perf_performed"].to_string(),
        PerformanceState::PartlyPerformed => w["perf_partly"].to_string(),
        PerformanceState::Breached => w["perf_breached"].to_string(),
    };
    let performance_open = [PerformanceState::Pending, PerformanceState::Overdue, PerformanceState::PartlyPerformed]
        .iter()
        .any(|s| *s as i32 == state);
    let visits = work
        .visits
        .iter()
        .map(|v| {
            let at = v.visited_at.as_ref().map(|t| crate::items::local_time(t.seconds)).unwrap_or_default();
            let method = w.get(format!("visit_{}", v.method).as_str()).copied().unwrap_or(v.method.as_str());
            format!("{at} {method} · {} {} · {}", w["satisfaction"], v.satisfaction, v.note)
        })
        .collect();
    let mut choices = Vec::new();
    if assigning {
        let org_id = work.item.as_ref().map(|i| i.org_id.clone()).unwrap_or_default();
        match app.routing.clone().list_mediators(ListMediatorsRequest { org_id }).await {
            Ok(r) => {
                let role = |id: &str, lead: bool| {
                    work.mediators.iter().any(|m| m.mediator_id == id && (m.role == MediatorRole::Lead as i32) == lead)
                };
                choices = r
                    .into_inner()
                    .mediators
                    .into_iter()
                    .filter(|m| m.available)
                    .map(|m| Choice {
                        lead: role(&m.mediator_id, true),
                        co: role(&m.mediator_id, false),
                        id: m.mediator_id,
                        name: m.name,
                    })
                    .collect();
            }
            Err(e) => {
                tracing::warn!(code = ?e.code(), "cannot list the organisation's mediators for the assignment form")
            }
        }
    }
    Later { planned, performance, performance_open, visits, choices }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_times_are_read_as_beijing_time() {
        // 2026-12-05 09:30 in Beijing is 01:30 UTC.
        assert_eq!(local_date_time("2026-12-05T09:30"), Some(1_796_434_200));
        assert_eq!(local_date_time("2026-12-05 09:30"), None);
        assert_eq!(local_date_time(""), None);
    }

    #[test]
    fn a_day_done_is_its_last_second_but_never_later_than_now() {
        let end_of_day = 1_796_486_399; // 2026-12-05 23:59:59 in Beijing
        assert_eq!(day_done("2026-12-05", end_of_day + 86_400), Some(end_of_day));
        assert_eq!(day_done("2026-12-05", end_of_day - 100), Some(end_of_day - 100));
        assert_eq!(day_done("05/12/2026", 0), None);
    }
}
