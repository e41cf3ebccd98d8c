//! The platform's promises, each proven on SQLite and PostgreSQL and on the
//! in-process bus and NATS JetStream: test names read
//! `<database>_<bus>::<what is proven>`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use fengqiao_platform::bus::{Envelope, EventBus};
use fengqiao_platform::consumer::{self, Consumer, ConsumerStats, EventHandler, HandlerError};
use fengqiao_platform::dead_letter;
use fengqiao_platform::migrate::{self, Migration};
use fengqiao_platform::outbox::{self, OutboxRelay};
use fengqiao_platform::testing::{self, BusKind, TestDatabase};
use fengqiao_platform::{Backend, Database, Settings};
use fengqiao_proto::fengqiao::events::v1::MediationConcluded;
use fengqiao_proto::EventKind;
use sqlx::{Any, Row, Transaction};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

const WAIT: Duration = Duration::from_secs(20);

const TEST_TABLES: &[Migration] = &[Migration {
    scope: "suite",
    version: 1,
    description: "effects recorded by the test handler",
    sqlite: "CREATE TABLE effects (applied INTEGER PRIMARY KEY AUTOINCREMENT, case_id TEXT NOT NULL, event_id TEXT NOT NULL, seq BIGINT NOT NULL)",
    postgres: "CREATE TABLE effects (applied BIGSERIAL PRIMARY KEY, case_id TEXT NOT NULL, event_id TEXT NOT NULL, seq BIGINT NOT NULL)",
}];

/// Records each event as a row; fails every time on a `poison` payload
/// until the test says the cause is fixed (then records it as seq -1).
struct RecordEffects {
    fixed: Arc<AtomicBool>,
}

#[async_trait]
impl EventHandler for RecordEffects {
    async fn handle(&self, tx: &mut Transaction<'static, Any>, event: &Envelope) -> Result<(), HandlerError> {
        let payload: MediationConcluded = event.decode()?;
        let seq: i64 = match payload.summary.as_str() {
            "poison" if self.fixed.load(Ordering::SeqCst) => -1,
            "poison" => return Err(HandlerError("poison payload refused by the test handler".into())),
            seq => seq.parse().map_err(|_| HandlerError("bad seq".into()))?,
        };
        sqlx::query("INSERT INTO effects (case_id, event_id, seq) VALUES ($1, $2, $3)")
            .bind(&event.case_id)
            .bind(&event.id)
            .bind(seq)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }
}

struct Harness {
    test_db: TestDatabase,
    settings: Settings,
    bus: Arc<dyn EventBus>,
    relay: OutboxRelay,
    stats: Arc<ConsumerStats>,
    fixed: Arc<AtomicBool>,
    tasks: TaskTracker,
    shutdown: CancellationToken,
}

impl Harness {
    async fn start(backend: Backend, bus_kind: BusKind, tweak: impl FnOnce(&mut Settings)) -> Self {
        fengqiao_platform::telemetry::init_for_tests();
        let mut settings = testing::settings();
        tweak(&mut settings);
        let test_db = TestDatabase::new(backend, "suite").await.expect("test database");
        let mut all = fengqiao_platform::component::PLATFORM_MIGRATIONS.to_vec();
        all.extend_from_slice(TEST_TABLES);
        migrate::run(&test_db.db, &all).await.expect("migrations");
        let bus = testing::bus(bus_kind, &mut settings).await.expect("bus");
        let relay = OutboxRelay::new(test_db.db.clone(), bus.clone(), settings.outbox.clone());
        let tasks = TaskTracker::new();
        let shutdown = CancellationToken::new();
        let fixed = Arc::new(AtomicBool::new(false));
        let handler = Arc::new(RecordEffects { fixed: fixed.clone() });
        let running = consumer::start(
            Consumer::new("suite-effects", &[EventKind::MediationConcluded], handler),
            test_db.db.clone(),
            bus.clone(),
            &settings.bus,
            relay.notifier(),
            &tasks,
            shutdown.clone(),
        )
        .await
        .expect("consumer");
        Self { test_db, settings, bus, relay, stats: running.stats, fixed, tasks, shutdown }
    }

    fn db(&self) -> &Database {
        &self.test_db.db
    }

    fn run_relay(&self) {
        self.tasks.spawn(self.relay.clone().run(self.shutdown.clone()));
    }

    /// Appends one event for `case_id` in its own transaction, committed or rolled back.
    async fn produce(&self, case_id: &str, summary: &str, commit: bool) -> Envelope {
        let event = MediationConcluded { case_id: case_id.into(), summary: summary.into(), ..Default::default() };
        let env = Envelope::new("suite", EventKind::MediationConcluded, &event);
        let mut tx = self.db().begin().await.unwrap();
        outbox::append(&mut tx, &env).await.unwrap();
        if commit {
            tx.commit().await.unwrap();
            self.relay.notifier().notify();
        } else {
            tx.rollback().await.unwrap();
        }
        env
    }

    /// Appends events for (case id, summary) pairs in one statement of one committed
    /// transaction, so they leave together, in order.
    async fn produce_together(&self, events: &[(String, String)]) {
        let envelopes: Vec<Envelope> = events
            .iter()
            .map(|(case_id, summary)| {
                let event =
                    MediationConcluded { case_id: case_id.clone(), summary: summary.clone(), ..Default::default() };
                Envelope::new("suite", EventKind::MediationConcluded, &event)
            })
            .collect();
        let mut tx = self.db().begin().await.unwrap();
        outbox::append_all(&mut tx, &envelopes).await.unwrap();
        tx.commit().await.unwrap();
        self.relay.notifier().notify();
    }

    async fn count(&self, sql: &'static str) -> i64 {
        sqlx::query(sql).fetch_one(self.db().pool()).await.unwrap().get::<i64, _>(0)
    }

    async fn effects(&self) -> i64 {
        self.count("SELECT COUNT(*) FROM effects").await
    }

    async fn wait_effects(&self, n: i64) {
        assert!(testing::eventually(WAIT, || async { self.effects().await >= n }).await, "expected {n} effects");
    }

    async fn finish(self) {
        self.shutdown.cancel();
        self.tasks.close();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.tasks.wait()).await;
        testing::finish_bus(&self.settings).await;
        self.test_db.finish().await;
    }
}

async fn rolled_back_transaction_publishes_nothing(backend: Backend, bus: BusKind) {
    let h = Harness::start(backend, bus, |_| {}).await;
    h.run_relay();
    h.produce("case-rolled-back", "1", false).await;
    h.produce("case-marker", "2", true).await;
    h.wait_effects(1).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let cases: Vec<String> = sqlx::query_scalar("SELECT case_id FROM effects").fetch_all(h.db().pool()).await.unwrap();
    assert_eq!(cases, vec!["case-marker".to_string()]);
    assert_eq!(h.count("SELECT COUNT(*) FROM fq_outbox").await, 1);
    h.finish().await;
}

async fn committed_event_publishes_once_even_if_the_relay_dies_between_publish_and_mark(
    backend: Backend,
    bus: BusKind,
) {
    let h = Harness::start(backend, bus, |_| {}).await;
    h.produce("case-1", "1", true).await;
    // The first relay publishes and dies before marking the row sent.
    let batch = h.relay.fetch_unsent().await.unwrap();
    assert_eq!(batch.len(), 1);
    let acked = h.relay.publish(&batch).await;
    assert_eq!(acked.len(), 1, "the broker acknowledged the publish");
    h.wait_effects(1).await;
    assert_eq!(h.count("SELECT COUNT(*) FROM fq_outbox WHERE sent_at IS NULL").await, 1);
    // A restarted relay finds the row unsent and publishes it again.
    let restarted = OutboxRelay::new(h.db().clone(), h.bus.clone(), h.settings.outbox.clone());
    assert_eq!(restarted.relay_once().await.unwrap(), 1);
    assert_eq!(h.count("SELECT COUNT(*) FROM fq_outbox WHERE sent_at IS NULL").await, 0);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(h.effects().await, 1, "the event had exactly one effect");
    h.finish().await;
}

async fn redelivered_event_changes_nothing(backend: Backend, bus: BusKind) {
    // A one-second duplicate window, so the second copy passes the broker and
    // only the inbox stands between it and a second effect.
    let h = Harness::start(backend, bus, |s| s.bus.duplicate_window_secs = 1).await;
    let env = h.produce("case-1", "1", true).await;
    h.relay.relay_once().await.unwrap();
    h.wait_effects(1).await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    h.bus.publish(&env).await.unwrap().await.unwrap();
    assert!(
        testing::eventually(WAIT, || async { h.stats.duplicates.load(Ordering::Relaxed) == 1 }).await,
        "the copy was delivered and recognised"
    );
    assert_eq!(h.effects().await, 1);
    assert_eq!(h.stats.applied.load(Ordering::Relaxed), 1);
    h.finish().await;
}

async fn events_resent_since_a_moment_are_published_again_and_applied_once(backend: Backend, bus: BusKind) {
    // A one-second duplicate window, so the copies pass the broker and reach the inbox.
    let h = Harness::start(backend, bus, |s| s.bus.duplicate_window_secs = 1).await;
    h.produce("case-0", "0", true).await;
    h.relay.relay_once().await.unwrap();
    h.wait_effects(1).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let since = fengqiao_platform::db::now_micros();
    h.produce("case-1", "1", true).await;
    h.produce("case-2", "2", true).await;
    h.relay.relay_once().await.unwrap();
    h.wait_effects(3).await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;

    let mut heard = Vec::new();
    let resent = outbox::resend_since(h.db(), since, |n| heard.push(n)).await.unwrap();
    assert_eq!(resent, 2, "the two events since the moment, not the one before");
    assert_eq!(heard, [2], "progress after each chunk");
    assert_eq!(h.count("SELECT COUNT(*) FROM fq_outbox WHERE sent_at IS NULL").await, 2);
    assert_eq!(h.relay.relay_once().await.unwrap(), 2, "the relay publishes them again");
    assert!(
        testing::eventually(WAIT, || async { h.stats.duplicates.load(Ordering::Relaxed) == 2 }).await,
        "both copies delivered and recognised"
    );
    assert_eq!(h.effects().await, 3, "nothing applied twice");
    assert_eq!(outbox::resend_since(h.db(), fengqiao_platform::db::now_micros(), |_| {}).await.unwrap(), 0);
    h.finish().await;
}

async fn poison_event_is_dead_lettered_after_max_deliveries_and_the_rest_go_on(backend: Backend, bus: BusKind) {
    let h = Harness::start(backend, bus, |s| s.bus.max_deliveries = 3).await;
    h.run_relay();
    let poison = h.produce("case-a", "poison", true).await;
    h.produce("case-a", "1", true).await;
    h.produce("case-b", "2", true).await;
    h.wait_effects(2).await;
    assert!(testing::eventually(WAIT, || async { h.count("SELECT COUNT(*) FROM fq_dead_letter").await == 1 }).await);
    let row = sqlx::query("SELECT event_id, attempts, last_error FROM fq_dead_letter")
        .fetch_one(h.db().pool())
        .await
        .unwrap();
    assert_eq!(row.get::<String, _>("event_id"), poison.id);
    assert_eq!(row.get::<i64, _>("attempts"), 3);
    assert!(row.get::<String, _>("last_error").contains("poison"));
    // The alarm event is in the same component's outbox.
    assert_eq!(h.count("SELECT COUNT(*) FROM fq_outbox WHERE event_type = 'fq.v1.ops.event_dead_lettered'").await, 1);
    assert_eq!(h.stats.dead_lettered.load(Ordering::Relaxed), 1);
    assert_eq!(h.stats.failures.load(Ordering::Relaxed), 3);
    h.finish().await;
}

async fn parked_event_replays_once_after_the_fix_and_a_failed_replay_stays_parked(backend: Backend, bus: BusKind) {
    let h = Harness::start(backend, bus, |s| s.bus.max_deliveries = 2).await;
    h.run_relay();
    let poison = h.produce("case-a", "poison", true).await;
    assert!(testing::eventually(WAIT, || async { h.count("SELECT COUNT(*) FROM fq_dead_letter").await == 1 }).await);

    // Replayed before the fix: it fails again and stays parked, with the request used up.
    assert_eq!(dead_letter::request_replay(h.db(), None).await.unwrap(), 1);
    let used_up = || async {
        let parked = dead_letter::list(h.db()).await.unwrap();
        parked[0].replay_requested_at.is_none() && parked[0].attempts == 3
    };
    assert!(testing::eventually(WAIT, used_up).await, "{:?}", dead_letter::list(h.db()).await);
    assert_eq!(h.effects().await, 0);

    // Fixed, then replayed: applied once, marked, announced.
    h.fixed.store(true, Ordering::SeqCst);
    assert_eq!(dead_letter::request_replay(h.db(), Some(&poison.id)).await.unwrap(), 1);
    h.wait_effects(1).await;
    let parked = dead_letter::list(h.db()).await.unwrap();
    assert!(parked[0].replayed_at.is_some(), "{parked:?}");
    assert_eq!(h.count("SELECT COUNT(*) FROM fq_outbox WHERE event_type = 'fq.v1.ops.event_replayed'").await, 1);
    assert_eq!(dead_letter::request_replay(h.db(), None).await.unwrap(), 0, "nothing left to replay");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(h.effects().await, 1, "replayed once");
    h.finish().await;
}

async fn events_of_one_case_are_applied_in_publish_order(backend: Backend, bus: BusKind) {
    let h = Harness::start(backend, bus, |_| {}).await;
    let (cases, per_case) = (8, 25);
    for seq in 0..per_case {
        for c in 0..cases {
            h.produce(&format!("case-{c}"), &seq.to_string(), true).await;
        }
    }
    h.run_relay();
    h.wait_effects(cases * per_case).await;
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT case_id, seq FROM effects ORDER BY applied").fetch_all(h.db().pool()).await.unwrap();
    assert_eq!(rows.len() as i64, cases * per_case);
    for c in 0..cases {
        let seqs: Vec<i64> = rows.iter().filter(|(id, _)| *id == format!("case-{c}")).map(|r| r.1).collect();
        assert_eq!(seqs, (0..per_case).collect::<Vec<_>>(), "case-{c} applied in order");
    }
    h.finish().await;
}

async fn waiting_events_are_applied_together_and_a_poison_among_them_spoils_none(backend: Backend, bus: BusKind) {
    // One lane, so every waiting event lands in the same batch.
    let h = Harness::start(backend, bus, |s| {
        s.bus.consumer_lanes = Some(1);
        s.bus.max_deliveries = 2;
    })
    .await;
    // Waiting when the relay starts, the first twenty arrive together.
    for seq in 0..20 {
        h.produce(&format!("case-{}", seq % 4), &seq.to_string(), true).await;
    }
    h.run_relay();
    h.wait_effects(20).await;
    assert!(h.stats.batched.load(Ordering::Relaxed) > 0, "waiting events were applied together");
    // Then a poison among the next twenty, all leaving together.
    let mut next: Vec<(String, String)> = (20..40).map(|seq| (format!("case-{}", seq % 4), seq.to_string())).collect();
    next.insert(11, ("case-0".into(), "poison".into()));
    h.produce_together(&next).await;
    h.wait_effects(40).await;
    assert!(testing::eventually(WAIT, || async { h.count("SELECT COUNT(*) FROM fq_dead_letter").await == 1 }).await);
    // Each good event applied once, in order within its case, the poison parked.
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT case_id, seq FROM effects ORDER BY applied").fetch_all(h.db().pool()).await.unwrap();
    assert_eq!(rows.len(), 40, "no effect applied twice");
    for c in 0..4 {
        let seqs: Vec<i64> = rows.iter().filter(|(id, _)| *id == format!("case-{c}")).map(|r| r.1).collect();
        let expected: Vec<i64> = (0..40).filter(|s| s % 4 == c).collect();
        assert_eq!(seqs, expected, "case-{c} applied in order");
    }
    assert_eq!(h.stats.applied.load(Ordering::Relaxed), 40);
    assert_eq!(h.stats.dead_lettered.load(Ordering::Relaxed), 1);
    h.finish().await;
}

macro_rules! suite {
    ($($module:ident: $backend:expr, $bus:expr;)*) => {$(
        mod $module {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn rolled_back_transaction_publishes_nothing() {
                super::rolled_back_transaction_publishes_nothing($backend, $bus).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn committed_event_publishes_once_even_if_the_relay_dies_between_publish_and_mark() {
                super::committed_event_publishes_once_even_if_the_relay_dies_between_publish_and_mark($backend, $bus).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn redelivered_event_changes_nothing() {
                super::redelivered_event_changes_nothing($backend, $bus).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn events_resent_since_a_moment_are_published_again_and_applied_once() {
                super::events_resent_since_a_moment_are_published_again_and_applied_once($backend, $bus).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn poison_event_is_dead_lettered_after_max_deliveries_and_the_rest_go_on() {
                super::poison_event_is_dead_lettered_after_max_deliveries_and_the_rest_go_on($backend, $bus).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn parked_event_replays_once_after_the_fix_and_a_failed_replay_stays_parked() {
                super::parked_event_replays_once_after_the_fix_and_a_failed_replay_stays_parked($backend, $bus).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn waiting_events_are_applied_together_and_a_poison_among_them_spoils_none() {
                super::waiting_events_are_applied_together_and_a_poison_among_them_spoils_none($backend, $bus).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn events_of_one_case_are_applied_in_publish_order() {
                super::events_of_one_case_are_applied_in_publish_order($backend, $bus).await;
            }
        }
    )*};
}

suite! {
    sqlite_memory: Backend::Sqlite, BusKind::Memory;
    sqlite_nats: Backend::Sqlite, BusKind::Nats;
    postgres_memory: Backend::Postgres, BusKind::Memory;
    postgres_nats: Backend::Postgres, BusKind::Nats;
}

/// NATS alone: an operator (or a lost JetStream store) deletes a consumer or
/// the stream while its component runs.
mod nats_only {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_deleted_nats_consumer_is_made_again_and_nothing_is_applied_twice() {
        let h = Harness::start(Backend::Postgres, BusKind::Nats, |_| {}).await;
        h.run_relay();
        h.produce("case-1", "1", true).await;
        h.wait_effects(1).await;

        let nats = fengqiao_platform::bus::NatsBus::connect(&h.settings.bus).await.unwrap();
        nats.delete_consumer("suite-effects").await.unwrap();
        h.produce("case-2", "2", true).await;
        h.wait_effects(2).await;
        // Made again from the stream's start: the first event comes again and the inbox drops it.
        assert!(
            testing::eventually(WAIT, || async { h.stats.duplicates.load(Ordering::Relaxed) >= 1 }).await,
            "the first event redelivered to the new consumer"
        );
        let cases: Vec<String> =
            sqlx::query_scalar("SELECT case_id FROM effects ORDER BY applied").fetch_all(h.db().pool()).await.unwrap();
        assert_eq!(cases, ["case-1", "case-2"], "each event applied once");
        h.finish().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_lost_nats_stream_is_made_again_while_its_relay_and_consumer_run() {
        let h = Harness::start(Backend::Postgres, BusKind::Nats, |_| {}).await;
        h.run_relay();
        h.produce("case-1", "1", true).await;
        h.wait_effects(1).await;

        // All its replicas' storage lost (here: deleted) under the running relay and consumer.
        let nats = fengqiao_platform::bus::NatsBus::connect(&h.settings.bus).await.unwrap();
        nats.delete_stream().await.unwrap();
        h.produce("case-2", "2", true).await;
        h.wait_effects(2).await;
        let cases: Vec<String> =
            sqlx::query_scalar("SELECT case_id FROM effects ORDER BY applied").fetch_all(h.db().pool()).await.unwrap();
        assert_eq!(cases, ["case-1", "case-2"], "the event after the loss applied, once");
        h.finish().await;
    }
}
