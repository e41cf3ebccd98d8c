//! The consumer runner, the same over both buses: each event is applied with
//! its inbox row in one transaction (a redelivered event has no second effect);
//! a lane applies the events already waiting for it together, in one
//! transaction and one call of the handler, which may do their work in a few
//! statements (if any of them fails, each is applied alone as below);
//! a failing event is retried with backoff in place, so later events of the
//! same case wait and per-case order holds; after `bus.max_deliveries` it is
//! parked in the dead-letter record with an `fq.v1.ops.event_dead_lettered`
//! event, and the events behind it go on.

use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use fengqiao_proto::fengqiao::events::v1::{EventDeadLettered, EventReplayed};
use fengqiao_proto::EventKind;
use sqlx::{Any, AssertSqlSafe, Transaction};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::bus::{BusError, ConsumerSpec, Delivery, Envelope, EventBus};
use crate::config::BusSettings;
use crate::db::{now_micros, Database};
use crate::metrics;
use crate::outbox::{self, OutboxNotifier};

mod feed;
mod handler;

use crate::outage::Outage;
use handler::with_their_cases;
pub use handler::{concerns_tracked_cases, handle_each, run_span, runs_of_kind, Arrival, EventHandler, HandlerError};

/// Counters of one consumer, for metrics, readiness and tests.
#[derive(Debug, Default)]
pub struct ConsumerStats {
    /// Deliveries received (redeliveries included).
    pub delivered: AtomicU64,
    /// Events applied.
    pub applied: AtomicU64,
    /// Deliveries recognised by the inbox as already applied.
    pub duplicates: AtomicU64,
    /// Failed attempts (each retried or dead-lettered).
    pub failures: AtomicU64,
    /// Events parked in the dead-letter record.
    pub dead_lettered: AtomicU64,
    /// Events applied in one transaction with others (a lane's waiting events).
    pub batched: AtomicU64,
    /// Events acknowledged unapplied: they could have no effect here (see [`EventHandler::concerned`]).
    pub skipped: AtomicU64,
}

/// A durable consumer with its handler.
pub struct Consumer {
    name: String,
    event_types: Vec<String>,
    handler: Arc<dyn EventHandler>,
}

impl Consumer {
    /// `name` is the durable name and the inbox key (e.g. `routing-cases`).
    pub fn new(name: &str, kinds: &[EventKind], handler: Arc<dyn EventHandler>) -> Self {
        Self { name: name.to_string(), event_types: kinds.iter().map(|k| k.subject().to_string()).collect(), handler }
    }

    /// Its durable name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// What one attempt came to.
#[derive(Debug)]
enum Applied {
    Done,
    Duplicate,
}

#[derive(Clone)]
struct Runner {
    name: Arc<str>,
    db: Database,
    handler: Arc<dyn EventHandler>,
    settings: BusSettings,
    stats: Arc<ConsumerStats>,
    outbox: OutboxNotifier,
}

/// A running consumer.
pub struct RunningConsumer {
    /// Its counters.
    pub stats: Arc<ConsumerStats>,
}

/// Subscribes `consumer` and runs it on `tasks` until `shutdown`.
pub async fn start(
    consumer: Consumer,
    db: Database,
    bus: Arc<dyn EventBus>,
    settings: &BusSettings,
    outbox: OutboxNotifier,
    tasks: &TaskTracker,
    shutdown: CancellationToken,
) -> Result<RunningConsumer, BusError> {
    let spec = ConsumerSpec { durable: consumer.name.clone(), event_types: consumer.event_types.clone() };
    let subscription = bus.subscribe(&spec).await?;
    let stats = Arc::new(ConsumerStats::default());
    let runner = Runner {
        name: consumer.name.clone().into(),
        db,
        handler: consumer.handler,
        settings: settings.clone(),
        stats: stats.clone(),
        outbox,
    };
    let lane_count = settings.lanes_on(runner.db.backend());
    let linger = settings.linger_on(bus.kind());
    tracing::info!(
        consumer = %runner.name,
        lanes = lane_count,
        batch = settings.consumer_batch,
        linger_ms = linger.as_millis() as u64,
        "consuming (events of one case go through one lane, in order)"
    );
    let mut lanes = Vec::with_capacity(lane_count);
    for _ in 0..lane_count {
        let (tx, mut rx) = mpsc::channel::<Delivery>(64);
        let runner = runner.clone();
        let holder = runner.name.clone();
        tasks.spawn(crate::db::held_by(holder, async move {
            let mut finished = None;
            while let Some(first) = rx.recv().await {
                let wait = linger_after(finished, linger);
                let batch = gather(first, &mut rx, runner.settings.consumer_batch, wait).await;
                runner.process_batch(batch).await;
                finished = Some(tokio::time::Instant::now());
            }
        }));
        lanes.push(tx);
    }
    let replayer = runner.clone();
    let stop_replays = shutdown.clone();
    let component = runner.db.component().to_string();
    let stream_outage = Outage::new(&component, "the consumer's event stream");
    tasks.spawn(crate::db::held_by("replays", async move {
        let mut outage = Outage::new(&component, "reading replay requests");
        loop {
            tokio::select! {
                _ = stop_replays.cancelled() => break,
                _ = tokio::time::sleep(REPLAY_POLL) => {}
            }
            outage.record(&replayer.replay_requested().await);
        }
    }));
    let name = consumer.name;
    tasks.spawn(
        feed::feed_lanes(subscription, bus, spec, lanes, stream_outage, shutdown)
            .instrument(tracing::info_span!("consumer", consumer = %name)),
    );
    Ok(RunningConsumer { stats })
}

/// How long a lane waits for more events after the first: `linger` while it is
/// busy — its last batch finished less than `linger` ago, so events keep
/// coming and waiting gathers several in one transaction — and not at all
/// when it was quiet, so a lone event is applied at once.
fn linger_after(finished: Option<tokio::time::Instant>, linger: Duration) -> Duration {
    match finished {
        Some(at) if at.elapsed() < linger => linger,
        _ => Duration::ZERO,
    }
}

/// A lane's next batch: `first`, the events already waiting behind it, and
/// those that arrive within `linger` of it, up to `most` events.
async fn gather(first: Delivery, rx: &mut mpsc::Receiver<Delivery>, most: usize, linger: Duration) -> Vec<Delivery> {
    let mut batch = vec![first];
    let until = tokio::time::Instant::now() + linger;
    while batch.len() < most {
        match rx.try_recv() {
            Ok(more) => batch.push(more),
            Err(mpsc::error::TryRecvError::Empty) if !linger.is_zero() => {
                match tokio::time::timeout_at(until, rx.recv()).await {
                    Ok(Some(more)) => batch.push(more),
                    Ok(None) | Err(_) => break,
                }
            }
            Err(_) => break,
        }
    }
    batch
}

fn lane_of(case_id: &str, lanes: usize) -> usize {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    case_id.hash(&mut h);
    (h.finish() % lanes as u64) as usize
}

/// How often a consumer looks for replay requests of its parked events.
const REPLAY_POLL: Duration = Duration::from_secs(2);

impl Runner {
    /// Replays the parked events an operator asked for; one that fails again
    /// stays parked with its new error, and needs a new request.
    async fn replay_requested(&self) -> Result<(), sqlx::Error> {
        for env in crate::dead_letter::requested(&self.db, &self.name).await? {
            match self.replay(&env).await {
                Ok(true) => {
                    tracing::info!(event_id = %env.id, event_type = %env.event_type, consumer = %self.name, "parked event replayed")
                }
                Ok(false) => {}
                Err(e) => {
                    sqlx::query(
                        "UPDATE fq_dead_letter SET replay_requested_at = NULL, attempts = attempts + 1, last_error = $1
                         WHERE consumer = $2 AND event_id = $3",
                    )
                    .bind(&e.0)
                    .bind(&*self.name)
                    .bind(&env.id)
                    .execute(self.db.writer())
                    .await?;
                    tracing::error!(
                        alarm = "event_dead_lettered",
                        event_id = %env.id,
                        error = %e,
                        "replay of a parked event failed; it stays parked: fix the cause, then replay again"
                    );
                }
            }
        }
        Ok(())
    }

    /// The handler's effect, the record marked replayed and
    /// `fq.v1.ops.event_replayed`, in one transaction; false when another
    /// replica replayed it first.
    async fn replay(&self, env: &Envelope) -> Result<bool, HandlerError> {
        let mut tx = self.db.begin().await?;
        self.handler.handle(&mut tx, env).await?;
        let marked = sqlx::query(
            "UPDATE fq_dead_letter SET replayed_at = $1, replay_requested_at = NULL
             WHERE consumer = $2 AND event_id = $3 AND replayed_at IS NULL",
        )
        .bind(now_micros())
        .bind(&*self.name)
        .bind(&env.id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if marked == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        let replayed = EventReplayed {
            case_id: env.case_id.clone(),
            event_id: env.id.clone(),
            event_subject: env.event_type.clone(),
            consumer: self.name.to_string(),
        };
        let component = self.db.component().to_string();
        outbox::append(&mut tx, &Envelope::new(&component, EventKind::EventReplayed, &replayed)).await?;
        tx.commit().await?;
        self.outbox.notify();
        Ok(true)
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let base = self.settings.retry_backoff_ms.saturating_mul(1 << attempt.min(16).saturating_sub(1));
        Duration::from_millis(base.min(self.settings.retry_backoff_max_ms))
    }

    /// The span of handling `env`, a child of the trace it was published in.
    fn span(&self, env: &Envelope) -> tracing::Span {
        let span = tracing::info_span!(
            "event",
            consumer = %self.name,
            event_id = %env.id,
            event_type = %env.event_type,
            case_id = %env.case_id,
        );
        crate::telemetry::set_parent(&span, env.traceparent.as_deref());
        span
    }

    /// Applies a lane's waiting events in one transaction and acknowledges
    /// them; if one fails, applies each alone (with retries and dead letters).
    async fn process_batch(&self, batch: Vec<Delivery>) {
        self.stats.delivered.fetch_add(batch.len() as u64, Ordering::Relaxed);
        self.metric(metrics::CONSUMER_DELIVERIES, batch.len() as u64);
        self.metric(metrics::CONSUMER_REDELIVERIES, batch.iter().filter(|d| d.delivered > 1).count() as u64);
        let batch = self.skip_unconcerned(batch).await;
        if batch.len() > 1 {
            let envelopes: Vec<&Envelope> = batch.iter().map(|d| &d.envelope).collect();
            let applied = self.apply_all(&envelopes).await;
            if let Err(e) = &applied {
                tracing::debug!(error = %e, events = batch.len(), "a batch failed; applying its events one by one");
            }
            if let Ok(outcomes) = applied {
                self.stats.batched.fetch_add(batch.len() as u64, Ordering::Relaxed);
                for (delivery, outcome) in batch.into_iter().zip(outcomes) {
                    self.count(outcome);
                    if let Err(e) = delivery.ack().await {
                        tracing::warn!(error = %e, "ack failed; the inbox will drop the redelivery");
                    }
                }
                return;
            }
        }
        for delivery in batch {
            self.process(delivery).await;
        }
    }

    /// Acknowledges the events of `batch` that cannot concern the handler; returns the others.
    async fn skip_unconcerned(&self, batch: Vec<Delivery>) -> Vec<Delivery> {
        let envelopes: Vec<&Envelope> = batch.iter().map(|d| &d.envelope).collect();
        let verdicts = match self.handler.concerned(&self.db, &envelopes).await {
            Ok(v) if v.len() == envelopes.len() => with_their_cases(&envelopes, v),
            // Cannot tell: apply everything, which is always correct.
            _ => return batch,
        };
        let mut kept = Vec::with_capacity(batch.len());
        for (delivery, keep) in batch.into_iter().zip(verdicts) {
            if keep {
                kept.push(delivery);
                continue;
            }
            self.stats.skipped.fetch_add(1, Ordering::Relaxed);
            self.metric(metrics::CONSUMER_SKIPPED, 1);
            if let Err(e) = delivery.ack().await {
                tracing::warn!(error = %e, "ack failed; the event will be judged again");
            }
        }
        kept
    }

    /// Adds `n` to this consumer's counter `name`.
    fn metric(&self, name: &'static str, n: u64) {
        if n > 0 {
            ::metrics::counter!(name, "consumer" => self.name.to_string()).increment(n);
        }
    }

    fn count(&self, outcome: Applied) {
        let counter = match outcome {
            Applied::Done => {
                self.metric(metrics::CONSUMER_APPLIED, 1);
                &self.stats.applied
            }
            Applied::Duplicate => &self.stats.duplicates,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Every event of `batch` with its inbox row, in one transaction; an error rolls all back.
    async fn apply_all(&self, batch: &[&Envelope]) -> Result<Vec<Applied>, HandlerError> {
        let mut tx = self.db.begin().await?;
        let mut outcomes = Vec::with_capacity(batch.len());
        let first_copies = self.claim_all(&mut tx, batch).await?;
        let mut arrivals = Vec::with_capacity(batch.len());
        for (env, first) in batch.iter().copied().zip(first_copies) {
            if !first {
                outcomes.push(Applied::Duplicate);
                continue;
            }
            // One event alone is already inside its span (see `process`).
            let span = if batch.len() > 1 { self.span(env) } else { tracing::Span::none() };
            arrivals.push(Arrival { event: env, span });
            outcomes.push(Applied::Done);
        }
        if !arrivals.is_empty() {
            self.handler.handle_all(&mut tx, &arrivals).await?;
        }
        tx.commit().await?;
        self.outbox.notify();
        self.handler.committed();
        Ok(outcomes)
    }

    /// Writes the inbox rows of `batch` in one statement; for each event, whether
    /// this is its first copy (not applied before, nor earlier in the batch).
    async fn claim_all(
        &self,
        tx: &mut Transaction<'static, Any>,
        batch: &[&Envelope],
    ) -> Result<Vec<bool>, sqlx::Error> {
        let mut claimed = Vec::with_capacity(batch.len());
        for chunk in batch.chunks(crate::db::ROWS_PER_STATEMENT) {
            let sql = format!(
                "INSERT INTO fq_inbox (consumer, processed_at, event_id) VALUES {}
                 ON CONFLICT (consumer, event_id) DO NOTHING RETURNING event_id",
                crate::db::values(tx, chunk.len(), 3)
            );
            let now = now_micros();
            let mut q = sqlx::query_scalar::<Any, String>(AssertSqlSafe(sql));
            for env in chunk {
                q = q.bind(&*self.name).bind(now).bind(&env.id);
            }
            let mut written: HashSet<String> = q.fetch_all(&mut **tx).await?.into_iter().collect();
            // A copy later in the chunk finds its id already taken out.
            claimed.extend(chunk.iter().map(|env| written.remove(&env.id)));
        }
        Ok(claimed)
    }

    /// Applies one delivery, retrying in place, then acknowledges it.
    async fn process(&self, delivery: Delivery) {
        let env = delivery.envelope.clone();
        let span = self.span(&env);
        async {
            let mut attempt = delivery.delivered.max(1);
            loop {
                match self.apply(&env).await {
                    Ok(outcome) => {
                        self.count(outcome);
                        break;
                    }
                    Err(e) => {
                        self.stats.failures.fetch_add(1, Ordering::Relaxed);
                        self.metric(metrics::CONSUMER_FAILURES, 1);
                        if attempt >= self.settings.max_deliveries {
                            match self.dead_letter(&env, attempt, &e).await {
                                Ok(()) => break,
                                Err(db) => {
                                    // Cannot even park it: keep it and try again later.
                                    tracing::error!(error = %db, "cannot write the dead-letter record; retrying");
                                }
                            }
                        } else {
                            tracing::warn!(attempt, error = %e, "event handler failed; retrying");
                        }
                        tokio::time::sleep(self.backoff(attempt)).await;
                        let _ = delivery.progress().await;
                        attempt = attempt.saturating_add(1);
                    }
                }
            }
            if let Err(e) = delivery.ack().await {
                tracing::warn!(error = %e, "ack failed; the inbox will drop the redelivery");
            }
        }
        .instrument(span)
        .await
    }

    /// The inbox row and the handler's effect, in one transaction.
    async fn apply(&self, env: &Envelope) -> Result<Applied, HandlerError> {
        let mut outcomes = self.apply_all(&[env]).await?;
        Ok(outcomes.remove(0))
    }

    /// Parks the event with its inbox row (so a redelivery is not parked
    /// twice) and announces it, in one transaction.
    async fn dead_letter(&self, env: &Envelope, attempts: u32, error: &HandlerError) -> Result<(), sqlx::Error> {
        let mut tx = self.db.begin().await?;
        sqlx::query(
            "INSERT INTO fq_inbox (consumer, event_id, processed_at) VALUES ($1, $2, $3)
             ON CONFLICT (consumer, event_id) DO NOTHING",
        )
        .bind(&*self.name)
        .bind(&env.id)
        .bind(now_micros())
        .execute(&mut *tx)
        .await?;
        let parked = sqlx::query(
            "INSERT INTO fq_dead_letter (consumer, event_id, event_type, source, case_id, event_time,
                 payload, traceparent, attempts, last_error, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
             ON CONFLICT (consumer, event_id) DO NOTHING",
        )
        .bind(&*self.name)
        .bind(&env.id)
        .bind(&env.event_type)
        .bind(&env.source)
        .bind(&env.case_id)
        .bind(env.time_micros)
        .bind(env.payload.to_vec())
        .bind(env.traceparent.as_deref())
        .bind(i64::from(attempts))
        .bind(&error.0)
        .bind(now_micros())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if parked > 0 {
            let notice = EventDeadLettered {
                case_id: env.case_id.clone(),
                event_id: env.id.clone(),
                event_subject: env.event_type.clone(),
                consumer: self.name.to_string(),
                attempts,
                last_error: error.0.clone(),
            };
            let component = self.db.component().to_string();
            outbox::append(&mut tx, &Envelope::new(&component, EventKind::EventDeadLettered, &notice)).await?;
        }
        tx.commit().await?;
        self.outbox.notify();
        self.stats.dead_lettered.fetch_add(1, Ordering::Relaxed);
        self.metric(metrics::CONSUMER_DEAD_LETTERED, 1);
        tracing::error!(
            alarm = "event_dead_lettered",
            attempts,
            error = %error,
            "event parked in the dead-letter record; inspect it and replay once fixed"
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests;
