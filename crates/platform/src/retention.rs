//! Removes a component's bookkeeping past its use, hourly: outbox rows
//! published long ago, and inbox receipts of events the broker no longer
//! holds (so no copy can arrive that the receipt would have to stop). The
//! component's own tables — cases, referrals, the story — are never touched.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::config::Settings;
use crate::db::Database;

const DAY_MICROS: i64 = 24 * 3_600_000_000;
/// Rows removed per statement, so no transaction holds many locks for long.
const CHUNK: i64 = 5_000;
/// The pause between passes.
const EVERY: Duration = Duration::from_secs(3600);

/// What one pass removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Removed {
    /// Outbox rows of events published before the cut-off.
    pub outbox: u64,
    /// Inbox receipts written before the cut-off.
    pub inbox: u64,
}

/// Removes outbox rows sent before `sent_before` and inbox receipts written
/// before `received_before` (microseconds since the epoch), a chunk at a time.
pub async fn remove(db: &Database, sent_before: i64, received_before: i64) -> Result<Removed, sqlx::Error> {
    let outbox = in_chunks(
        db,
        "DELETE FROM fq_outbox WHERE id IN
           (SELECT id FROM fq_outbox WHERE sent_at < $1 ORDER BY id LIMIT $2)",
        sent_before,
    )
    .await?;
    let inbox = in_chunks(
        db,
        "DELETE FROM fq_inbox WHERE (consumer, event_id) IN
           (SELECT consumer, event_id FROM fq_inbox WHERE processed_at < $1 LIMIT $2)",
        received_before,
    )
    .await?;
    Ok(Removed { outbox, inbox })
}

async fn in_chunks(db: &Database, sql: &'static str, before: i64) -> Result<u64, sqlx::Error> {
    let mut total = 0;
    loop {
        let n = sqlx::query(sql).bind(before).bind(CHUNK).execute(db.writer()).await?.rows_affected();
        total += n;
        if n < CHUNK as u64 {
            return Ok(total);
        }
        tokio::task::yield_now().await;
    }
}

/// The cut-offs `settings` give at `now`: (sent before, received before).
pub fn cut_offs(settings: &Settings, now: i64) -> (i64, i64) {
    (now - settings.outbox.keep_sent_days as i64 * DAY_MICROS, now - settings.bus.inbox_keep_days as i64 * DAY_MICROS)
}

/// Runs a pass at start and then hourly until `shutdown`.
pub async fn run(db: Database, settings: Settings, shutdown: CancellationToken) {
    loop {
        let (sent_before, received_before) = cut_offs(&settings, crate::db::now_micros());
        match remove(&db, sent_before, received_before).await {
            Ok(removed) => {
                let component = db.component().to_string();
                for (table, n) in [("fq_outbox", removed.outbox), ("fq_inbox", removed.inbox)] {
                    ::metrics::counter!(crate::metrics::BOOKKEEPING_REMOVED, "component" => component.clone(), "table" => table)
                        .increment(n);
                }
                if removed != Removed::default() {
                    tracing::info!(
                        outbox = removed.outbox,
                        inbox = removed.inbox,
                        "sent events and inbox receipts past their retention removed"
                    );
                }
            }
            Err(e) => tracing::warn!(
                error = %e,
                "cannot remove old outbox and inbox rows; they stay and are tried again in an hour"
            ),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(EVERY) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Backend;
    use crate::testing::TestDatabase;

    async fn rows(db: &Database, sql: &'static str) -> Vec<String> {
        use sqlx::Row;
        sqlx::query(sql).fetch_all(db.pool()).await.unwrap().iter().map(|r| r.get::<String, _>(0)).collect()
    }

    /// Old sent events and old receipts go; unsent events and recent rows stay.
    async fn removes_only_what_is_past_its_use(backend: Backend) {
        let test = TestDatabase::new(backend, "retention").await.unwrap();
        let db = &test.db;
        crate::migrate::run(db, crate::component::PLATFORM_MIGRATIONS).await.unwrap();
        let now = crate::db::now_micros();
        let old = now - 30 * DAY_MICROS;
        for (id, created, sent) in
            [("old-sent", old, Some(old)), ("old-unsent", old, None), ("new-sent", now, Some(now))]
        {
            sqlx::query(
                "INSERT INTO fq_outbox (event_id, event_type, source, case_id, payload, created_at, sent_at)
                 VALUES ($1, 't', 's', 'c', $2, $3, $4)",
            )
            .bind(id)
            .bind(vec![0u8])
            .bind(created)
            .bind(sent)
            .execute(db.writer())
            .await
            .unwrap();
        }
        // More old receipts than one chunk, so the pass goes on past the first.
        let many = CHUNK as u64 + 7;
        let mut tx = db.begin().await.unwrap();
        for i in 0..many {
            sqlx::query("INSERT INTO fq_inbox (consumer, event_id, processed_at) VALUES ('c', $1, $2)")
                .bind(format!("old-{i}"))
                .bind(old)
                .execute(&mut *tx)
                .await
                .unwrap();
        }
        tx.commit().await.unwrap();
        sqlx::query("INSERT INTO fq_inbox (consumer, event_id, processed_at) VALUES ('c', 'new', $1)")
            .bind(now)
            .execute(db.writer())
            .await
            .unwrap();

        let (sent_before, received_before) = cut_offs(&Settings::default(), now);
        let removed = remove(db, sent_before, received_before).await.unwrap();
        assert_eq!(removed, Removed { outbox: 1, inbox: many });
        assert_eq!(rows(db, "SELECT event_id FROM fq_outbox ORDER BY id").await, ["old-unsent", "new-sent"]);
        assert_eq!(rows(db, "SELECT event_id FROM fq_inbox").await, ["new"]);
        // A second pass finds nothing.
        assert_eq!(remove(db, sent_before, received_before).await.unwrap(), Removed::default());
        test.finish().await;
    }

    #[tokio::test]
    async fn sqlite_removes_old_sent_events_and_old_receipts_only() {
        removes_only_what_is_past_its_use(Backend::Sqlite).await;
    }

    #[tokio::test]
    async fn postgres_removes_old_sent_events_and_old_receipts_only() {
        removes_only_what_is_past_its_use(Backend::Postgres).await;
    }
}
