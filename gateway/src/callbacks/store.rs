//! The callbacks and dead letters tables.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

/// An agency's callback as stored.
#[derive(Debug, Clone)]
pub struct Stored {
    pub agency_id: String,
    pub url: String,
    pub secret: String,
    pub delivered_seq: i64,
    pub attempts: i32,
    pub last_error: String,
    pub next_at: i64,
}

/// A dead letter as stored.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    pub after_seq: i64,
    pub last_seq: i64,
    pub url: String,
    pub last_error: String,
    pub attempts: i32,
    pub dead_at: i64,
}

fn stored(r: &AnyRow) -> Result<Stored, sqlx::Error> {
    Ok(Stored {
        agency_id: r.try_get("agency_id")?,
        url: r.try_get("url")?,
        secret: r.try_get("secret")?,
        delivered_seq: r.try_get("delivered_seq")?,
        attempts: r.try_get("attempts")?,
        last_error: r.try_get("last_error")?,
        next_at: r.try_get("next_at")?,
    })
}

/// An agency's callback.
pub async fn get(conn: &mut AnyConnection, agency_id: &str) -> Result<Option<Stored>, sqlx::Error> {
    sqlx::query(
        "SELECT agency_id, url, secret, delivered_seq, attempts, last_error, next_at FROM callbacks WHERE agency_id = $1",
    )
    .bind(agency_id)
    .fetch_optional(conn)
    .await?
    .as_ref()
    .map(stored)
    .transpose()
}

/// The newest status change of an agency (0 if none).
pub async fn latest_seq(conn: &mut AnyConnection, agency_id: &str) -> Result<i64, sqlx::Error> {
    let seq: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM status_log WHERE agency_id = $1")
        .bind(agency_id)
        .fetch_one(conn)
        .await?;
    Ok(seq.unwrap_or(0))
}

/// Creates an agency's callback.
pub async fn create(conn: &mut AnyConnection, c: &Stored, at: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO callbacks (agency_id, url, secret, delivered_seq, attempts, last_error, next_at, lease_until,
             created_at)
         VALUES ($1, $2, $3, $4, 0, '', 0, 0, $5)",
    )
    .bind(&c.agency_id)
    .bind(&c.url)
    .bind(&c.secret)
    .bind(c.delivered_seq)
    .bind(at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Replaces an agency's callback URL, secret and position; a failing
/// delivery starts afresh.
pub async fn replace(conn: &mut AnyConnection, c: &Stored) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE callbacks SET url = $1, secret = $2, delivered_seq = $3, attempts = 0, last_error = '', next_at = 0
         WHERE agency_id = $4",
    )
    .bind(&c.url)
    .bind(&c.secret)
    .bind(c.delivered_seq)
    .bind(&c.agency_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Removes an agency's callback; false if it had none.
pub async fn delete(conn: &mut AnyConnection, agency_id: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM callbacks WHERE agency_id = $1").bind(agency_id).execute(conn).await?;
    Ok(done.rows_affected() > 0)
}

/// The agencies whose callback has changes to deliver and is neither held
/// back after a failure nor leased by another replica.
pub async fn due(conn: &mut AnyConnection, now: i64, limit: i64) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT c.agency_id FROM callbacks c
         WHERE c.next_at <= $1 AND c.lease_until <= $1
           AND EXISTS (SELECT 1 FROM status_log l WHERE l.agency_id = c.agency_id AND l.seq > c.delivered_seq)
         ORDER BY c.next_at LIMIT $2",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// Leases an agency's callback until `until`; false if another replica holds it.
pub async fn lease(conn: &mut AnyConnection, agency_id: &str, now: i64, until: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("UPDATE callbacks SET lease_until = $1 WHERE agency_id = $2 AND lease_until <= $3")
        .bind(until)
        .bind(agency_id)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Records a delivery's result: the callback moves to `delivered_seq` (if it
/// still stands where the delivery began) with `attempts`, `last_error` and
/// `next_at`, and the lease is released.
pub async fn settle(
    conn: &mut AnyConnection,
    c: &Stored,
    delivered_seq: i64,
    attempts: i32,
    last_error: &str,
    next_at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE callbacks SET delivered_seq = $1, attempts = $2, last_error = $3, next_at = $4, lease_until = 0
         WHERE agency_id = $5 AND delivered_seq = $6 AND url = $7",
    )
    .bind(delivered_seq)
    .bind(attempts)
    .bind(last_error)
    .bind(next_at)
    .bind(&c.agency_id)
    .bind(c.delivered_seq)
    .bind(&c.url)
    .execute(&mut *conn)
    .await?;
    // Whatever happened above (the agency may have replaced the callback meanwhile), the lease goes.
    sqlx::query("UPDATE callbacks SET lease_until = 0 WHERE agency_id = $1").bind(&c.agency_id).execute(conn).await?;
    Ok(())
}

/// Records a delivery given up.
pub async fn bury(conn: &mut AnyConnection, agency_id: &str, d: &DeadLetter) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO callback_dead_letters (agency_id, after_seq, last_seq, url, last_error, attempts, dead_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (agency_id, last_seq) DO NOTHING",
    )
    .bind(agency_id)
    .bind(d.after_seq)
    .bind(d.last_seq)
    .bind(&d.url)
    .bind(&d.last_error)
    .bind(d.attempts)
    .bind(d.dead_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// An agency's dead letters, newest first.
pub async fn dead_letters(
    conn: &mut AnyConnection,
    agency_id: &str,
    limit: i64,
) -> Result<Vec<DeadLetter>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT after_seq, last_seq, url, last_error, attempts, dead_at FROM callback_dead_letters
         WHERE agency_id = $1 ORDER BY last_seq DESC LIMIT $2",
    )
    .bind(agency_id)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(DeadLetter {
                after_seq: r.try_get("after_seq")?,
                last_seq: r.try_get("last_seq")?,
                url: r.try_get("url")?,
                last_error: r.try_get("last_error")?,
                attempts: r.try_get("attempts")?,
                dead_at: r.try_get("dead_at")?,
            })
        })
        .collect()
}

/// How many dead letters an agency has.
pub async fn dead_letter_count(conn: &mut AnyConnection, agency_id: &str) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COUNT(*) FROM callback_dead_letters WHERE agency_id = $1")
        .bind(agency_id)
        .fetch_one(conn)
        .await
}
