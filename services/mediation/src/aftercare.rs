//! After conclusion: an agreement's performance (art. 31), tracked against its
//! deadline, and return visits with the parties' satisfaction.

use fengqiao_platform::db::{micros_of, timestamp};
use fengqiao_platform::status::Violation;
use fengqiao_proto::fengqiao::common::v1::{Actor, MediationOutcome, ReferralState};
use fengqiao_proto::fengqiao::mediation::v1::{
    Performance, PerformanceState, RecordPerformanceRequest, RecordReturnVisitRequest, ReturnVisit,
};
use sqlx::{AnyConnection, Row};

use crate::access::{self, Who};
use crate::conclude::{self, end_of, parse_date, Concluded};
use crate::{MediationError, MediationService};

/// The performance of a concluded agreement as it stands at `now`.
pub(crate) fn performance(c: &Concluded, now: i64) -> Option<Performance> {
    c.agreement.as_ref()?;
    let mut state = PerformanceState::try_from(c.performance_state).unwrap_or_default();
    let passed = parse_date(&c.performance_deadline).is_some_and(|d| end_of(d) <= now);
    if state == PerformanceState::Pending && passed {
        state = PerformanceState::Overdue;
    }
    Some(Performance {
        state: state as i32,
        performance_deadline: c.performance_deadline.clone(),
        recorded_at: c.performance_recorded_at.map(timestamp),
        performed_at: c.performed_at.map(timestamp),
        note: c.performance_note.clone(),
    })
}

/// The start of the local day holding `micros`.
fn day_start(micros: i64) -> i64 {
    end_of(fengqiao_domain::period::local_date(micros)) - 86_400_000_000
}

/// A referral's return visits, oldest first.
pub(crate) async fn visits(conn: &mut AnyConnection, referral_id: &str) -> Result<Vec<ReturnVisit>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT visited_at, satisfaction, method, note, actor_org, actor_person FROM return_visits
         WHERE referral_id = $1 ORDER BY visited_at",
    )
    .bind(referral_id)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(ReturnVisit {
                visited_at: Some(timestamp(r.try_get("visited_at")?)),
                satisfaction: r.try_get::<i32, _>("satisfaction")? as u32,
                method: r.try_get("method")?,
                note: r.try_get("note")?,
                visited_by: Some(Actor { org_id: r.try_get("actor_org")?, person_id: r.try_get("actor_person")? }),
            })
        })
        .collect()
}

/// An instant that must lie between the conclusion's day and now.
fn check_instant(field: &str, t: Option<i64>, concluded_at: i64, now: i64, v: &mut Vec<Violation>) {
    match t {
        None => v.push(Violation::new(field, "is required")),
        Some(t) if t > now => v.push(Violation::new(field, "is in the future")),
        Some(t) if t < day_start(concluded_at) => v.push(Violation::new(field, "is before the mediation concluded")),
        Some(_) => {}
    }
}

impl MediationService {
    /// Records an agreement's performance.
    pub async fn record_performance(&self, r: RecordPerformanceRequest) -> Result<Performance, MediationError> {
        let actor = r.actor.clone().unwrap_or_default();
        let mut tx = self.db.begin().await?;
        access::load_for_change(&mut tx, &r.referral_id, &actor, Who::Lead).await?;
        let concluded = conclude::find(&mut tx, &r.referral_id).await?;
        let concluded = concluded.filter(|c| c.outcome == MediationOutcome::Agreement as i32).ok_or_else(|| {
            MediationError::Precondition(
                "performance is tracked only for a mediation concluded with an agreement".into(),
            )
        })?;
        let state = PerformanceState::try_from(r.state).unwrap_or_default();
        let now = self.now();
        let mut v = Vec::new();
        let performed_at = r.performed_at.as_ref().map(micros_of);
        match state {
            PerformanceState::Performed => {
                check_instant("performed_at", performed_at, concluded.concluded_at, now, &mut v)
            }
            PerformanceState::PartlyPerformed | PerformanceState::Breached => {
                if performed_at.is_some() {
                    v.push(Violation::new("performed_at", "is given only for PERFORMED"));
                }
            }
            _ => v.push(Violation::new("state", "is PERFORMED, PARTLY_PERFORMED or BREACHED")),
        }
        if !v.is_empty() {
            return Err(MediationError::Invalid(v));
        }
        if concluded.performance_state == PerformanceState::Performed as i32 {
            return Err(MediationError::Precondition("the agreement is already recorded as performed".into()));
        }
        sqlx::query(
            "UPDATE conclusions SET performance_state = $1, performed_at = $2, performance_note = $3,
                 performance_recorded_at = $4 WHERE referral_id = $5",
        )
        .bind(state as i32)
        .bind(performed_at)
        .bind(r.note.trim())
        .bind(now)
        .bind(&r.referral_id)
        .execute(&mut *tx)
        .await?;
        let concluded = conclude::find(&mut tx, &r.referral_id).await?.expect("exists");
        tx.commit().await?;
        Ok(performance(&concluded, now).expect("an agreement"))
    }

    /// Records a return visit after conclusion.
    pub async fn record_visit(&self, r: RecordReturnVisitRequest) -> Result<ReturnVisit, MediationError> {
        let actor = r.actor.clone().unwrap_or_default();
        let mut tx = self.db.begin().await?;
        let stored = access::load_for_change(&mut tx, &r.referral_id, &actor, Who::Lead).await?;
        access::require(&stored, &[ReferralState::Completed], "record a return visit")?;
        let concluded_at = stored.concluded_at.unwrap_or_default();
        let now = self.now();
        let mut v = Vec::new();
        let visited_at = r.visited_at.as_ref().map(micros_of);
        check_instant("visited_at", visited_at, concluded_at, now, &mut v);
        if !(1..=5).contains(&r.satisfaction) {
            v.push(Violation::new("satisfaction", "is 1 (very dissatisfied) to 5 (very satisfied)"));
        }
        if !["visit", "phone", "online"].contains(&r.method.as_str()) {
            v.push(Violation::new("method", "is `visit`, `phone` or `online`"));
        }
        if !v.is_empty() {
            return Err(MediationError::Invalid(v));
        }
        sqlx::query(
            "INSERT INTO return_visits (referral_id, visited_at, satisfaction, method, note, actor_org, actor_person,
                 recorded_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&r.referral_id)
        .bind(visited_at.expect("checked"))
        .bind(r.satisfaction as i32)
        .bind(&r.method)
        .bind(r.note.trim())
        .bind(&actor.org_id)
        .bind(&actor.person_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(ReturnVisit {
            visited_at: visited_at.map(timestamp),
            satisfaction: r.satisfaction,
            method: r.method,
            note: r.note.trim().to_string(),
            visited_by: Some(actor),
        })
    }
}
