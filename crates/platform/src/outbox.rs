//! The transactional outbox: a component appends its events in the same
//! transaction as the state change; the relay publishes them in order and
//! marks them sent only after the broker's acknowledgement. A relay that dies
//! between publish and mark publishes again; the broker's duplicate window and
//! the consumers' inbox make the second copy harmless.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sqlx::{Any, AnyConnection, AssertSqlSafe, Row};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::bus::{Envelope, EventBus, PendingAck};
use crate::config::OutboxSettings;
use crate::db::{Backend, Database};

/// Appends `envelope` to the outbox inside the caller's transaction.
pub async fn append(conn: &mut AnyConnection, envelope: &Envelope) -> Result<(), sqlx::Error> {
    append_all(conn, std::slice::from_ref(envelope)).await
}

/// Appends `envelopes`, in order, inside the caller's transaction: one statement per
/// [`ROWS_PER_STATEMENT`](crate::db::ROWS_PER_STATEMENT) of them.
pub async fn append_all(conn: &mut AnyConnection, envelopes: &[Envelope]) -> Result<(), sqlx::Error> {
    for chunk in envelopes.chunks(crate::db::ROWS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO fq_outbox (event_id, event_type, source, case_id, payload, traceparent, created_at)
             VALUES {}",
            crate::db::values(conn, chunk.len(), 7)
        );
        let mut insert = sqlx::query::<Any>(AssertSqlSafe(sql));
        for envelope in chunk {
            insert = insert
                .bind(&envelope.id)
                .bind(&envelope.event_type)
                .bind(&envelope.source)
                .bind(&envelope.case_id)
                .bind(envelope.payload.to_vec())
                .bind(envelope.traceparent.as_deref())
                .bind(envelope.time_micros);
        }
        insert.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Rows [`resend_since`] marks per statement.
const RESEND_CHUNK: i64 = 5_000;

/// Marks the events committed at or after `since_micros` (microseconds since the
/// epoch) unsent again, oldest first, so the relay publishes them once more —
/// after the stream was lost with events in it not yet consumed
/// (docs/operations.md, NATS stream recovery). Consumers' inboxes drop what they
/// applied already. Each statement takes up where the last one ended (by id,
/// the primary key), so a long outbox is read once, not once a chunk.
/// `progress` hears the running count after each [`RESEND_CHUNK`] rows;
/// returns how many in all.
pub async fn resend_since(db: &Database, since_micros: i64, progress: impl FnMut(u64)) -> Result<u64, sqlx::Error> {
    resend_in_chunks(db, since_micros, RESEND_CHUNK, progress).await
}

async fn resend_in_chunks(
    db: &Database,
    since_micros: i64,
    chunk: i64,
    mut progress: impl FnMut(u64),
) -> Result<u64, sqlx::Error> {
    let (mut marked, mut after) = (0, 0_i64);
    loop {
        let ids: Vec<i64> = sqlx::query_scalar::<Any, i64>(
            "UPDATE fq_outbox SET sent_at = NULL WHERE id IN
               (SELECT id FROM fq_outbox WHERE id > $1 AND created_at >= $2 AND sent_at IS NOT NULL
                ORDER BY id LIMIT $3)
             RETURNING id",
        )
        .bind(after)
        .bind(since_micros)
        .bind(chunk)
        .fetch_all(db.writer())
        .await?;
        let Some(last) = ids.iter().max() else { return Ok(marked) };
        after = *last;
        marked += ids.len() as u64;
        progress(marked);
    }
}

/// Wakes the relay after a commit, so events leave at once instead of at the next poll.
#[derive(Clone, Debug, Default)]
pub struct OutboxNotifier(Arc<Notify>);

impl OutboxNotifier {
    /// Signals that committed events wait in the outbox.
    pub fn notify(&self) {
        self.0.notify_one();
    }
}

/// Batches a relay pass keeps published and unacknowledged at once: the
/// consumers work on one while the relay marks the previous one sent.
const IN_FLIGHT: usize = 2;

/// The most batches one relay pass fetches: rows committed out of id order
/// (an earlier id, a later commit) wait at most this long for the next pass.
const BATCHES_PER_PASS: usize = 8;

/// The row ids of `pending` the bus acknowledged — the longest acknowledged
/// prefix, so order holds — and whether it acknowledged them all.
async fn acknowledged(pending: Vec<(i64, PendingAck)>) -> (Vec<i64>, bool) {
    let (ids, acks): (Vec<i64>, Vec<_>) = pending.into_iter().unzip();
    let results = futures::future::join_all(acks).await;
    let mut acked = Vec::with_capacity(ids.len());
    for (id, result) in ids.into_iter().zip(results) {
        if let Err(e) = result {
            tracing::warn!(error = %e, "outbox event not acknowledged; will retry");
            return (acked, false);
        }
        acked.push(id);
    }
    (acked, true)
}

/// Counters of one relay, for metrics and tests.
#[derive(Debug, Default)]
pub struct RelayStats {
    /// Events acknowledged by the broker and marked sent.
    pub published: AtomicU64,
    /// Passes that failed (bus or database trouble); each is retried.
    pub failures: AtomicU64,
    /// Reads of the outbox (each a query on the component's database).
    pub reads: AtomicU64,
}

/// An outbox row waiting to be published.
#[derive(Debug, Clone)]
pub struct Unsent {
    /// The row id (publish order).
    pub row_id: i64,
    /// The event.
    pub envelope: Envelope,
}

/// How long a relay woken after a pass that ended at `ended` and published
/// `sent` events waits before the next: while it is busy (`sent` > 0), until
/// `linger` after that pass, so the events committed meanwhile leave in one
/// pass and one "sent" commit; an idle relay passes at once.
fn wait_before_pass(sent: usize, ended: tokio::time::Instant, linger: Duration) -> Duration {
    match sent {
        0 => Duration::ZERO,
        _ => linger.saturating_sub(ended.elapsed()),
    }
}

/// Publishes a component's outbox.
#[derive(Debug, Clone)]
pub struct OutboxRelay {
    db: Database,
    bus: Arc<dyn EventBus>,
    settings: OutboxSettings,
    notifier: OutboxNotifier,
    stats: Arc<RelayStats>,
}

impl OutboxRelay {
    /// A relay for `db`'s outbox onto `bus`.
    pub fn new(db: Database, bus: Arc<dyn EventBus>, settings: OutboxSettings) -> Self {
        Self { db, bus, settings, notifier: OutboxNotifier::default(), stats: Arc::default() }
    }

    /// The handle that wakes this relay.
    pub fn notifier(&self) -> OutboxNotifier {
        self.notifier.clone()
    }

    /// Its counters.
    pub fn stats(&self) -> Arc<RelayStats> {
        self.stats.clone()
    }

    /// Step 1 of a pass: the oldest unsent events, in publish order.
    pub async fn fetch_unsent(&self) -> Result<Vec<Unsent>, sqlx::Error> {
        self.fetch_unsent_after(i64::MIN).await
    }

    /// The oldest unsent events after row `after`, in publish order.
    async fn fetch_unsent_after(&self, after: i64) -> Result<Vec<Unsent>, sqlx::Error> {
        self.stats.reads.fetch_add(1, Ordering::Relaxed);
        let rows = sqlx::query(
            "SELECT id, event_id, event_type, source, case_id, payload, traceparent, created_at
             FROM fq_outbox WHERE sent_at IS NULL AND id > $2 ORDER BY id LIMIT $1",
        )
        .bind(i64::from(self.settings.batch_size))
        .bind(after)
        .fetch_all(self.db.pool())
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(Unsent {
                    row_id: r.try_get("id")?,
                    envelope: Envelope {
                        id: r.try_get("event_id")?,
                        event_type: r.try_get("event_type")?,
                        source: r.try_get("source")?,
                        case_id: r.try_get("case_id")?,
                        payload: r.try_get::<Vec<u8>, _>("payload")?.into(),
                        traceparent: r.try_get("traceparent")?,
                        time_micros: r.try_get("created_at")?,
                    },
                })
            })
            .collect()
    }

    /// Step 2: publishes in order, pipelined, and returns the row ids the
    /// broker acknowledged — the longest acknowledged prefix, so order holds.
    pub async fn publish(&self, batch: &[Unsent]) -> Vec<i64> {
        let (pending, _) = self.send(batch).await;
        acknowledged(pending).await.0
    }

    /// Publishes `batch` in order without waiting for the acknowledgements;
    /// stops at the first event the bus refuses (false then).
    async fn send(&self, batch: &[Unsent]) -> (Vec<(i64, PendingAck)>, bool) {
        let mut pending = Vec::with_capacity(batch.len());
        for row in batch {
            match self.bus.publish(&row.envelope).await {
                Ok(ack) => pending.push((row.row_id, ack)),
                Err(e) => {
                    tracing::warn!(error = %e, "outbox publish failed; will retry");
                    return (pending, false);
                }
            }
        }
        (pending, true)
    }

    /// Step 3: marks acknowledged rows sent.
    pub async fn mark_sent(&self, row_ids: &[i64]) -> Result<(), sqlx::Error> {
        for chunk in row_ids.chunks(crate::db::ROWS_PER_STATEMENT) {
            let sql =
                format!("UPDATE fq_outbox SET sent_at = $1 WHERE id IN ({})", crate::db::placeholders(2, chunk.len()));
            let q = sqlx::query::<Any>(AssertSqlSafe(sql)).bind(crate::db::now_micros());
            crate::db::bind_padded(q, chunk).execute(self.db.writer()).await?;
        }
        Ok(())
    }

    /// One pass: fetch, publish, mark, pipelined — the next batch is fetched
    /// and published while the broker (in standalone mode: every consumer)
    /// still works on the previous one, and batches are marked sent in
    /// order as they are acknowledged. Returns how many events were sent.
    ///
    /// A pass ends after [`BATCHES_PER_PASS`] batches, after a short batch,
    /// or at the first event not acknowledged (whose batch is marked up to it
    /// and the later ones not at all, so order holds; the next pass publishes
    /// them again and the bus's duplicate window drops the copies).
    pub async fn relay_once(&self) -> Result<usize, sqlx::Error> {
        let mut in_flight = VecDeque::with_capacity(IN_FLIGHT);
        let (mut after, mut fetched, mut more) = (i64::MIN, 0, true);
        let mut sent = 0;
        loop {
            while more && in_flight.len() < IN_FLIGHT {
                let batch = self.fetch_unsent_after(after).await?;
                fetched += 1;
                more = batch.len() >= self.settings.batch_size as usize && fetched < BATCHES_PER_PASS;
                let Some(last) = batch.last() else { break };
                after = last.row_id;
                let (pending, whole) = self.send(&batch).await;
                more &= whole;
                in_flight.push_back((batch.len(), tokio::spawn(acknowledged(pending))));
            }
            let Some((published, acks)) = in_flight.pop_front() else { break };
            let (acked, whole) = acks.await.unwrap_or_default();
            self.mark_sent(&acked).await?;
            sent += acked.len();
            self.stats.published.fetch_add(acked.len() as u64, Ordering::Relaxed);
            ::metrics::counter!(crate::metrics::OUTBOX_PUBLISHED, "component" => self.db.component().to_string())
                .increment(acked.len() as u64);
            if !whole || acked.len() < published {
                self.stats.failures.fetch_add(1, Ordering::Relaxed);
                break;
            }
        }
        Ok(sent)
    }

    /// Relays until `shutdown`, then flushes what is left. On PostgreSQL only
    /// one relay per component publishes at a time (an advisory lock), so
    /// replicas keep the outbox order.
    pub async fn run(self, shutdown: CancellationToken) {
        let poll = Duration::from_millis(self.settings.poll_interval_ms);
        let linger = self.settings.linger_on(self.bus.kind());
        let mut backoff = poll;
        let mut outage = crate::outage::Outage::new(self.db.component(), "outbox relay");
        loop {
            if shutdown.is_cancelled() {
                break;
            }
            let lease = match self.acquire_lease().await {
                Ok(Some(lease)) => lease,
                Ok(None) => {
                    outage.worked();
                    // Another replica relays; check again later.
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    }
                }
                Err(e) => {
                    outage.failed(&format_args!("cannot reach its database: {e}"));
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    continue;
                }
            };
            loop {
                match self.relay_once().await {
                    Ok(n) if n >= self.settings.batch_size as usize => {
                        outage.worked();
                        backoff = poll;
                        continue;
                    }
                    Ok(sent) => {
                        outage.worked();
                        backoff = poll;
                        let ended = tokio::time::Instant::now();
                        // A short pass left the outbox empty as it stood: wait for
                        // the next commit's notice (one given during the pass is
                        // kept, so it wakes at once) or the poll — not another
                        // pass to find nothing (a query of every relay after every
                        // event: half the relays' queries at low load).
                        tokio::select! {
                            _ = shutdown.cancelled() => break,
                            _ = self.notifier.0.notified() => {}
                            _ = tokio::time::sleep(poll) => {}
                        }
                        tokio::select! {
                            _ = shutdown.cancelled() => break,
                            _ = tokio::time::sleep(wait_before_pass(sent, ended, linger)) => {}
                        }
                    }
                    Err(e) => {
                        self.stats.failures.fetch_add(1, Ordering::Relaxed);
                        outage.failed(&e);
                        tokio::select! {
                            _ = shutdown.cancelled() => break,
                            _ = tokio::time::sleep(backoff) => {}
                        }
                        backoff = (backoff * 2).min(Duration::from_secs(5));
                        if lease.is_some() && self.db.backend() == Backend::Postgres {
                            break; // re-take the lease on a fresh connection
                        }
                    }
                }
            }
            drop(lease);
            if shutdown.is_cancelled() {
                break;
            }
        }
        // Drain: whatever committed before shutdown leaves now, if the bus lets it.
        for _ in 0..10 {
            match self.relay_once().await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    }

    /// On PostgreSQL, a connection holding the component's relay lock
    /// (`None` when another replica holds it); on SQLite, no lease is needed.
    /// The connection is detached from the pool: dropping it closes it, which
    /// releases the lock.
    async fn acquire_lease(&self) -> Result<Option<Option<AnyConnection>>, sqlx::Error> {
        if self.db.backend() != Backend::Postgres {
            return Ok(Some(None));
        }
        let mut conn = self.db.pool().acquire().await?.detach();
        let got: bool =
            sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtext(current_schema() || '.fq_outbox_relay'))")
                .fetch_one(&mut conn)
                .await?;
        if got {
            Ok(Some(Some(conn)))
        } else {
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    #[tokio::test]
    async fn a_resend_goes_through_the_outbox_chunk_by_chunk_from_the_moment_on() {
        use crate::bus::Envelope;
        use crate::db::Backend;
        use crate::testing::TestDatabase;
        use fengqiao_proto::fengqiao::events::v1::MediationConcluded;
        use fengqiao_proto::EventKind;

        for backend in [Backend::Sqlite, Backend::Postgres] {
            let t = TestDatabase::new(backend, "outbox").await.expect("a test database");
            crate::migrate::run(&t.db, crate::component::PLATFORM_MIGRATIONS).await.expect("migrations");
            let mut events: Vec<Envelope> = (0..5)
                .map(|n| {
                    let event = MediationConcluded { case_id: format!("case-{n}"), ..Default::default() };
                    Envelope::new("test", EventKind::MediationConcluded, &event)
                })
                .collect();
            for (n, e) in events.iter_mut().enumerate() {
                e.time_micros = 1_000 + n as i64;
            }
            let mut tx = t.db.begin().await.unwrap();
            super::append_all(&mut tx, &events).await.unwrap();
            tx.commit().await.unwrap();
            sqlx::query("UPDATE fq_outbox SET sent_at = 1").execute(t.db.writer()).await.unwrap();

            let mut heard = Vec::new();
            let resent = super::resend_in_chunks(&t.db, 1_001, 2, |n| heard.push(n)).await.unwrap();
            assert_eq!((resent, heard), (4, vec![2, 4]), "{backend:?}: two chunks of two, from the second event on");
            let unsent: Vec<String> =
                sqlx::query_scalar("SELECT case_id FROM fq_outbox WHERE sent_at IS NULL ORDER BY id")
                    .fetch_all(t.db.pool())
                    .await
                    .unwrap();
            assert_eq!(unsent, ["case-1", "case-2", "case-3", "case-4"], "{backend:?}");
            t.finish().await;
        }
    }

    #[test]
    fn only_a_relay_that_just_published_waits_and_only_for_what_is_left_of_its_linger() {
        let linger = Duration::from_millis(500);
        let now = tokio::time::Instant::now();
        assert_eq!(super::wait_before_pass(0, now, linger), Duration::ZERO, "idle: its last pass found nothing");
        let waits = super::wait_before_pass(3, now, linger);
        assert!(waits > Duration::from_millis(400) && waits <= linger, "busy: {waits:?}");
        let long_ago = now - Duration::from_secs(5);
        assert_eq!(super::wait_before_pass(3, long_ago, linger), Duration::ZERO, "its last pass was long ago");
        assert_eq!(super::wait_before_pass(3, now, Duration::ZERO), Duration::ZERO, "no linger");
    }
}
