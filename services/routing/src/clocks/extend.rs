//! Consented extensions of a running or paused clock.

use fengqiao_domain::period::{ends_at, Period};
use fengqiao_platform::db::timestamp;
use fengqiao_platform::status::Violation;
use fengqiao_platform::Database;
use fengqiao_proto::fengqiao::common::v1::Actor;
use fengqiao_proto::fengqiao::routing::v1::{Clock, ClockExtension, ClockState};
use sqlx::{AnyConnection, Row};

use super::{instant, micros, Kind, Timing};

/// The extensions of a clock, oldest first.
pub(super) async fn extensions(conn: &mut AnyConnection, clock_id: &str) -> Result<Vec<ClockExtension>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT period, consented_by, reason, actor_org, actor_person, extended_at FROM clock_extensions
         WHERE clock_id = $1 ORDER BY extended_at",
    )
    .bind(clock_id)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            let consented: String = r.try_get("consented_by")?;
            Ok(ClockExtension {
                period: r.try_get("period")?,
                consented_by: consented.split('|').map(str::to_string).collect(),
                reason: r.try_get("reason")?,
                actor: Some(Actor { org_id: r.try_get("actor_org")?, person_id: r.try_get("actor_person")? }),
                extended_at: Some(timestamp(r.try_get("extended_at")?)),
            })
        })
        .collect()
}

/// Why an extension cannot be recorded.
#[derive(Debug)]
pub enum ExtendError {
    /// Bad input.
    Invalid(Vec<Violation>),
    /// No such clock.
    NotFound,
    /// The clock has ended.
    Ended,
    /// The database failed.
    Sql(sqlx::Error),
}

impl From<sqlx::Error> for ExtendError {
    fn from(e: sqlx::Error) -> Self {
        Self::Sql(e)
    }
}

/// Pre-litigation mediation is extended only with both parties' consent, and
/// in all no further than the cap from its first deadline.
fn pre_litigation_rule(
    consented_by: &[String],
    first_due: i64,
    new_due: i64,
    timing: &Timing,
) -> Result<(), ExtendError> {
    let mut v = Vec::new();
    let mut named: Vec<&str> = consented_by.iter().map(|c| c.trim()).collect();
    named.sort_unstable();
    named.dedup();
    if named.len() < 2 {
        v.push(Violation::new(
            "consented_by",
            "pre-litigation mediation is extended only with both parties' consent: name each party who consented",
        ));
    }
    let cap = micros(ends_at(instant(first_due - 1), timing.pre_litigation_cap, &timing.calendar));
    if new_due > cap {
        v.push(Violation::new(
            "period",
            format!(
                "extends pre-litigation mediation beyond its cap ({:?} from the first deadline, \
                 clocks.pre_litigation_extension_cap); the court proceeds to filing instead",
                timing.pre_litigation_cap
            ),
        ));
    }
    if v.is_empty() {
        Ok(())
    } else {
        Err(ExtendError::Invalid(v))
    }
}

/// A petition's handling is extended once, with approval (`consented_by` names
/// who approved), by no more than the cap (信访工作条例: 30 days).
fn petition_rule(extended_before: bool, first_due: i64, new_due: i64, timing: &Timing) -> Result<(), ExtendError> {
    let cap = micros(ends_at(instant(first_due - 1), timing.petition_cap, &timing.calendar));
    let mut v = Vec::new();
    if extended_before {
        v.push(Violation::new("clock_id", "a petition's handling period is extended once; it already was"));
    }
    if new_due > cap {
        v.push(Violation::new(
            "period",
            format!(
                "extends a petition's handling beyond {:?} (clocks.petition_handling_extension_cap)",
                timing.petition_cap
            ),
        ));
    }
    if v.is_empty() {
        Ok(())
    } else {
        Err(ExtendError::Invalid(v))
    }
}

/// Extends a running or paused clock by `period`, counted from its old last
/// day, recording who consented and why.
#[allow(clippy::too_many_arguments)]
pub async fn extend(
    db: &Database,
    clock_id: &str,
    period_text: &str,
    consented_by: &[String],
    reason: &str,
    actor: Option<Actor>,
    timing: &Timing,
    now: i64,
) -> Result<Clock, ExtendError> {
    let actor = actor.unwrap_or_default();
    let mut v = Vec::new();
    let period = Period::parse(period_text);
    if let Err(e) = &period {
        v.push(Violation::new("period", e.clone()));
    }
    if period == Ok(Period::SameDay) {
        v.push(Violation::new("period", "an extension is hours:N, days:N, working_days:N or months:N"));
    }
    if consented_by.is_empty() || consented_by.iter().any(|c| c.trim().is_empty() || c.contains('|')) {
        v.push(Violation::new("consented_by", "must name who consented, at least one"));
    }
    if reason.trim().is_empty() {
        v.push(Violation::new("reason", "is required"));
    }
    if actor.org_id.trim().is_empty() {
        v.push(Violation::new("actor.org_id", "is required: who records the extension"));
    }
    if !v.is_empty() {
        return Err(ExtendError::Invalid(v));
    }
    let period = period.expect("checked");
    let mut tx = db.begin().await?;
    let row: Option<(i64, i32, i64, String, String, Option<i64>)> = sqlx::query_as(
        "SELECT due_at, state, started_at, case_id, kind, extended_from FROM clocks WHERE clock_id = $1",
    )
    .bind(clock_id)
    .fetch_optional(&mut *tx)
    .await?;
    let (due, state, started, case_id, kind, extended_from) = row.ok_or(ExtendError::NotFound)?;
    if state != ClockState::Running as i32 && state != ClockState::Paused as i32 {
        return Err(ExtendError::Ended);
    }
    // The old deadline is the end of the old last day; count on from that day.
    let new_due = micros(ends_at(instant(due - 1), period, &timing.calendar));
    let first_due = extended_from.unwrap_or(due);
    if kind == Kind::PreLitigation.name() {
        pre_litigation_rule(consented_by, first_due, new_due, timing)?;
    }
    if kind == Kind::PetitionHandling.name() {
        petition_rule(extended_from.is_some(), first_due, new_due, timing)?;
    }
    // A new deadline gets its own warning.
    sqlx::query("UPDATE clocks SET due_at = $1, warn_at = $2, warned = 0, extended_from = $3 WHERE clock_id = $4")
        .bind(new_due)
        .bind(timing.warn_at(started, new_due))
        .bind(first_due)
        .bind(clock_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("UPDATE alarms SET cleared_at = $1 WHERE kind = 'WARNING' AND subject_id = $2 AND cleared_at IS NULL")
        .bind(now)
        .bind(clock_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO clock_extensions (clock_id, period, consented_by, reason, actor_org, actor_person, extended_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(clock_id)
    .bind(period_text)
    .bind(consented_by.iter().map(|c| c.trim()).collect::<Vec<_>>().join("|"))
    .bind(reason.trim())
    .bind(&actor.org_id)
    .bind(&actor.person_id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    super::announce_due(&mut tx, &case_id, clock_id, &kind, new_due, reason.trim()).await?;
    tx.commit().await?;
    let mut conn = db.writer().acquire().await?;
    super::find(&mut conn, clock_id).await?.ok_or(ExtendError::NotFound)
}
