//! The dead-letter record seen by operators: what is parked, and replay
//! requests (`fengqiao dlq replay`) that the owning consumer carries out.

use sqlx::any::AnyRow;
use sqlx::Row;

use crate::bus::Envelope;
use crate::db::{now_micros, Database};

/// One parked event, without its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parked {
    /// The consumer that gave up on it.
    pub consumer: String,
    /// The event's id.
    pub event_id: String,
    /// The event's subject.
    pub event_type: String,
    /// The case it concerns.
    pub case_id: String,
    /// How many times it was tried.
    pub attempts: i64,
    /// The last error (no personal data).
    pub last_error: String,
    /// When it was parked (microseconds).
    pub parked_at: i64,
    /// When a replay was requested and not yet carried out.
    pub replay_requested_at: Option<i64>,
    /// When a replay succeeded.
    pub replayed_at: Option<i64>,
}

/// Every parked event of this component's database, oldest first.
pub async fn list(db: &Database) -> Result<Vec<Parked>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT consumer, event_id, event_type, case_id, attempts, last_error, created_at, replay_requested_at,
                replayed_at FROM fq_dead_letter ORDER BY id",
    )
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(parked).collect()
}

fn parked(r: &AnyRow) -> Result<Parked, sqlx::Error> {
    Ok(Parked {
        consumer: r.try_get("consumer")?,
        event_id: r.try_get("event_id")?,
        event_type: r.try_get("event_type")?,
        case_id: r.try_get("case_id")?,
        attempts: r.try_get::<i32, _>("attempts").map(i64::from).or_else(|_| r.try_get("attempts"))?,
        last_error: r.try_get("last_error")?,
        parked_at: r.try_get("created_at")?,
        replay_requested_at: r.try_get("replay_requested_at")?,
        replayed_at: r.try_get("replayed_at")?,
    })
}

fn envelope(r: &AnyRow) -> Result<Envelope, sqlx::Error> {
    Ok(Envelope {
        id: r.try_get("event_id")?,
        source: r.try_get("source")?,
        event_type: r.try_get("event_type")?,
        time_micros: r.try_get("event_time")?,
        case_id: r.try_get("case_id")?,
        traceparent: r.try_get("traceparent")?,
        payload: r.try_get::<Vec<u8>, _>("payload")?.into(),
    })
}

/// Every consumer's parked copy of event `event_id`, with the event itself.
pub async fn show(db: &Database, event_id: &str) -> Result<Vec<(Parked, Envelope)>, sqlx::Error> {
    let rows = sqlx::query("SELECT * FROM fq_dead_letter WHERE event_id = $1 ORDER BY id")
        .bind(event_id)
        .fetch_all(db.pool())
        .await?;
    rows.iter().map(|r| Ok((parked(r)?, envelope(r)?))).collect()
}

/// Asks for a replay of the parked events not yet replayed (all of them, or
/// the one with `event_id`); the running component carries it out within
/// seconds. Returns how many were asked for.
pub async fn request_replay(db: &Database, event_id: Option<&str>) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "UPDATE fq_dead_letter SET replay_requested_at = $1 WHERE replayed_at IS NULL AND ($2 = '' OR event_id = $2)",
    )
    .bind(now_micros())
    .bind(event_id.unwrap_or(""))
    .execute(db.writer())
    .await?
    .rows_affected())
}

/// The parked events of `consumer` whose replay was asked for, oldest first.
pub(crate) async fn requested(db: &Database, consumer: &str) -> Result<Vec<Envelope>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT event_id, event_type, source, case_id, event_time, payload, traceparent FROM fq_dead_letter
         WHERE consumer = $1 AND replay_requested_at IS NOT NULL AND replayed_at IS NULL ORDER BY id LIMIT 100",
    )
    .bind(consumer)
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(envelope).collect()
}
