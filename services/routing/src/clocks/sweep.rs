//! The sweeps over clocks: warnings, breaches and missing clocks, each
//! announced once whatever the number of routing replicas.

use fengqiao_platform::bus::Envelope;
use fengqiao_platform::db::timestamp;
use fengqiao_platform::outbox;
use fengqiao_platform::Database;
use fengqiao_proto::fengqiao::events::v1::{ClockBreached, ClockMissing, ClockWarning};
use fengqiao_proto::fengqiao::routing::v1::ClockState;
use fengqiao_proto::EventKind;

use crate::alarms::{self, AlarmKind};

/// How many due clocks one pass takes on.
const BATCH: i64 = 200;

/// Breaches every running clock due by `now`, each once: the clock, its
/// OVERDUE alarm and its `fq.v1.clock.breached` event commit together, and
/// only the transaction that flips `fired` announces it. Returns how many
/// this call breached.
pub async fn breach_due(db: &Database, now: i64) -> Result<usize, sqlx::Error> {
    let due: Vec<(String, String, String, i64)> = sqlx::query_as(
        "SELECT clock_id, case_id, kind, due_at FROM clocks WHERE state = $1 AND due_at <= $2 AND fired = 0
         ORDER BY due_at LIMIT $3",
    )
    .bind(ClockState::Running as i32)
    .bind(now)
    .bind(BATCH)
    .fetch_all(db.pool())
    .await?;
    let mut breached = 0;
    for (clock_id, case_id, kind, due_at) in due {
        let mut tx = db.begin().await?;
        let won = sqlx::query(
            "UPDATE clocks SET fired = 1, state = $1, ended_at = $2 WHERE clock_id = $3 AND fired = 0 AND state = $4",
        )
        .bind(ClockState::Breached as i32)
        .bind(now)
        .bind(&clock_id)
        .bind(ClockState::Running as i32)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if won {
            let detail = format!("{kind} clock breached");
            alarms::raise(&mut tx, &case_id, AlarmKind::Overdue, &clock_id, &detail, now).await?;
            alarms::clear(&mut tx, AlarmKind::Warning, &clock_id, now).await?;
            let event = ClockBreached { case_id, clock_id, kind, due_at: Some(timestamp(due_at)) };
            outbox::append(&mut tx, &Envelope::new("routing", EventKind::ClockBreached, &event)).await?;
            breached += 1;
        }
        tx.commit().await?;
    }
    Ok(breached)
}

/// Warns once for every running clock that entered its last share by `now`:
/// a WARNING alarm and `fq.v1.clock.warning`. Returns how many this call warned.
pub async fn warn_due(db: &Database, now: i64) -> Result<usize, sqlx::Error> {
    let due: Vec<(String, String, String, i64)> = sqlx::query_as(
        "SELECT clock_id, case_id, kind, due_at FROM clocks WHERE state = $1 AND warn_at <= $2 AND warned = 0
         AND due_at > $2 ORDER BY warn_at LIMIT $3",
    )
    .bind(ClockState::Running as i32)
    .bind(now)
    .bind(BATCH)
    .fetch_all(db.pool())
    .await?;
    let mut warned = 0;
    for (clock_id, case_id, kind, due_at) in due {
        let mut tx = db.begin().await?;
        let won = sqlx::query("UPDATE clocks SET warned = 1 WHERE clock_id = $1 AND warned = 0 AND state = $2")
            .bind(&clock_id)
            .bind(ClockState::Running as i32)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            == 1;
        if won {
            let detail = format!("{kind} clock is nearly due");
            alarms::raise(&mut tx, &case_id, AlarmKind::Warning, &clock_id, &detail, now).await?;
            let event = ClockWarning { case_id, clock_id, kind, due_at: Some(timestamp(due_at)) };
            outbox::append(&mut tx, &Envelope::new("routing", EventKind::ClockWarning, &event)).await?;
            warned += 1;
        }
        tx.commit().await?;
    }
    Ok(warned)
}

/// Raises `fq.v1.clock.missing` (and a CLOCK_MISSING alarm) once for each
/// referral being worked on (ACCEPTED, IN_PROGRESS, ON_HOLD) whose case has
/// no running or paused mediation clock. Returns how many this call raised.
pub async fn alarm_missing(db: &Database, now: i64) -> Result<usize, sqlx::Error> {
    let missing: Vec<(String, String)> = sqlx::query_as(
        "SELECT r.referral_id, r.case_id FROM referrals r
         WHERE r.state IN (3, 5, 6)
           AND NOT EXISTS (SELECT 1 FROM clocks c WHERE c.case_id = r.case_id
                           AND c.kind IN ('PEOPLES_MEDIATION', 'PRE_LITIGATION', 'IN_LITIGATION', 'IN_LITIGATION_SIMPLIFIED',
                 'PETITION_HANDLING', 'PETITION_REVIEW_ANSWER') AND c.state IN ($1, $2))
           AND NOT EXISTS (SELECT 1 FROM alarms a WHERE a.kind = 'CLOCK_MISSING' AND a.subject_id = r.referral_id)
         LIMIT $3",
    )
    .bind(ClockState::Running as i32)
    .bind(ClockState::Paused as i32)
    .bind(BATCH)
    .fetch_all(db.pool())
    .await?;
    let mut raised = 0;
    for (referral_id, case_id) in missing {
        let mut tx = db.begin().await?;
        let detail = "a referral is worked on without its mediation clock";
        if alarms::raise(&mut tx, &case_id, AlarmKind::ClockMissing, &referral_id, detail, now).await? {
            let event = ClockMissing { case_id, referral_id, kind: "MEDIATION".into() };
            outbox::append(&mut tx, &Envelope::new("routing", EventKind::ClockMissing, &event)).await?;
            raised += 1;
        }
        tx.commit().await?;
    }
    Ok(raised)
}
