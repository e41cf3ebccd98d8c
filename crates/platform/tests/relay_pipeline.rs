//! The outbox relay keeps the next batch on its way while the previous one
//! is still being acknowledged, so consumers never wait for a relay pass;
//! batches are still marked sent in order, all of them, once acknowledged.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use fengqiao_platform::bus::{BusError, ConsumerSpec, Envelope, EventBus, PendingAck, Subscription};
use fengqiao_platform::component::PLATFORM_MIGRATIONS;
use fengqiao_platform::config::OutboxSettings;
use fengqiao_platform::outbox::{self, OutboxRelay};
use fengqiao_platform::testing::TestDatabase;
use fengqiao_platform::{migrate, Backend};
use fengqiao_proto::fengqiao::events::v1::MediationConcluded;
use fengqiao_proto::EventKind;

/// A bus that holds every acknowledgement until the test opens its gate,
/// and refuses the events the test names.
#[derive(Debug)]
struct GatedBus {
    published: Mutex<Vec<String>>,
    gate: tokio::sync::watch::Sender<bool>,
    refused: Vec<String>,
}

impl GatedBus {
    fn new(open: bool, refused: Vec<String>) -> Arc<Self> {
        Arc::new(Self { published: Mutex::default(), gate: tokio::sync::watch::channel(open).0, refused })
    }
}

#[async_trait]
impl EventBus for GatedBus {
    async fn publish(&self, envelope: &Envelope) -> Result<PendingAck, BusError> {
        self.published.lock().unwrap().push(envelope.id.clone());
        let mut gate = self.gate.subscribe();
        let refused = self.refused.contains(&envelope.id);
        let event_type = envelope.event_type.clone();
        Ok(Box::pin(async move {
            let _ = gate.wait_for(|open| *open).await;
            match refused {
                true => Err(BusError::Publish { event_type, reason: "refused by the test".into() }),
                false => Ok(()),
            }
        }))
    }

    async fn subscribe(&self, _spec: &ConsumerSpec) -> Result<Subscription, BusError> {
        unreachable!("the relay only publishes")
    }

    async fn ping(&self) -> Result<(), BusError> {
        Ok(())
    }

    fn kind(&self) -> &'static str {
        "gated"
    }
}

/// A database with five events in its outbox, in order.
async fn outbox_of_five(backend: Backend) -> (TestDatabase, Vec<Envelope>) {
    let test_db = TestDatabase::new(backend, "relay").await.unwrap();
    migrate::run(&test_db.db, PLATFORM_MIGRATIONS).await.unwrap();
    let mut tx = test_db.db.begin().await.unwrap();
    let events: Vec<Envelope> = (0..5)
        .map(|i| {
            let e = MediationConcluded { case_id: format!("case-{i}"), ..Default::default() };
            Envelope::new("test", EventKind::MediationConcluded, &e)
        })
        .collect();
    outbox::append_all(&mut tx, &events).await.unwrap();
    tx.commit().await.unwrap();
    (test_db, events)
}

/// A relay of two events a batch onto `bus`.
fn relay(test_db: &TestDatabase, bus: &Arc<GatedBus>) -> OutboxRelay {
    OutboxRelay::new(test_db.db.clone(), bus.clone(), OutboxSettings { batch_size: 2, ..Default::default() })
}

async fn unsent(test_db: &TestDatabase) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM fq_outbox WHERE sent_at IS NULL")
        .fetch_one(test_db.db.pool())
        .await
        .unwrap()
}

async fn the_next_batch_is_published_before_the_previous_is_acknowledged(backend: Backend) {
    let (test_db, events) = outbox_of_five(backend).await;
    let bus = GatedBus::new(false, Vec::new());
    let relay = relay(&test_db, &bus);
    let pass = tokio::spawn(async move { relay.relay_once().await });

    // Nothing is acknowledged yet: a relay that waited for each batch would stop at 2.
    let started = tokio::time::Instant::now();
    while bus.published.lock().unwrap().len() < 4 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "only {} events published while the first batch awaits its acknowledgement",
            bus.published.lock().unwrap().len()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(unsent(&test_db).await, 5, "nothing is marked sent before the bus acknowledged it");

    bus.gate.send_replace(true);
    assert_eq!(pass.await.unwrap().unwrap(), 5, "the pass sends every event");
    assert_eq!(unsent(&test_db).await, 0);
    let order: Vec<String> = events.iter().map(|e| e.id.clone()).collect();
    assert_eq!(*bus.published.lock().unwrap(), order, "published once each, in outbox order");
    test_db.finish().await;
}

/// The second event is refused while the second batch, already on its way,
/// is acknowledged: only the first event is marked sent, so the next pass
/// starts again from the refused one and order holds.
async fn a_refused_event_leaves_it_and_every_later_batch_unsent(backend: Backend) {
    let (test_db, events) = outbox_of_five(backend).await;
    let bus = GatedBus::new(true, vec![events[1].id.clone()]);
    let relay = relay(&test_db, &bus);
    assert_eq!(relay.relay_once().await.unwrap(), 1, "only the event before the refused one is sent");
    assert_eq!(relay.stats().failures.load(std::sync::atomic::Ordering::Relaxed), 1);
    let left: Vec<String> = sqlx::query_scalar("SELECT event_id FROM fq_outbox WHERE sent_at IS NULL ORDER BY id")
        .fetch_all(test_db.db.pool())
        .await
        .unwrap();
    let later: Vec<String> = events[1..].iter().map(|e| e.id.clone()).collect();
    assert_eq!(left, later);
    test_db.finish().await;
}

/// Waits up to 10 s for `counter` to reach `at_least`.
async fn until(counter: &AtomicU64, at_least: u64, what: &str) {
    let started = tokio::time::Instant::now();
    while counter.load(Ordering::Relaxed) < at_least {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{what}: {} of {at_least}",
            counter.load(Ordering::Relaxed)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A relay running with `settings` (its poll an hour away) on a fresh outbox,
/// after its first pass has read it empty.
struct RunningRelay {
    test_db: TestDatabase,
    stats: std::sync::Arc<outbox::RelayStats>,
    notifier: outbox::OutboxNotifier,
    shutdown: tokio_util::sync::CancellationToken,
    running: tokio::task::JoinHandle<()>,
}

impl RunningRelay {
    async fn start(backend: Backend, settings: OutboxSettings) -> Self {
        let test_db = TestDatabase::new(backend, "relay").await.unwrap();
        migrate::run(&test_db.db, PLATFORM_MIGRATIONS).await.unwrap();
        let settings = OutboxSettings { poll_interval_ms: 3_600_000, ..settings };
        let relay = OutboxRelay::new(test_db.db.clone(), GatedBus::new(true, Vec::new()), settings);
        let (stats, notifier) = (relay.stats(), relay.notifier());
        let shutdown = tokio_util::sync::CancellationToken::new();
        let running = tokio::spawn(relay.run(shutdown.clone()));
        until(&stats.reads, 1, "the first pass reads the (empty) outbox").await;
        Self { test_db, stats, notifier, shutdown, running }
    }

    /// Commits one event of `case` to the outbox and wakes the relay, as a component's write does.
    async fn commit_one(&self, case: &str) {
        let event = MediationConcluded { case_id: case.into(), ..Default::default() };
        let mut tx = self.test_db.db.begin().await.unwrap();
        outbox::append(&mut tx, &Envelope::new("test", EventKind::MediationConcluded, &event)).await.unwrap();
        tx.commit().await.unwrap();
        self.notifier.notify();
    }

    async fn stop(self) {
        self.shutdown.cancel();
        self.running.await.unwrap();
        self.test_db.finish().await;
    }
}

/// A running relay reads the outbox once at start and once for a commit's
/// notice: the short pass that published the event is not followed by
/// another read to find the outbox empty (the poll is an hour away here).
async fn a_commits_notice_costs_one_read_of_the_outbox(backend: Backend) {
    let relay = RunningRelay::start(backend, OutboxSettings::default()).await;
    relay.commit_one("case-1").await;
    until(&relay.stats.published, 1, "the notice wakes the relay").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(relay.stats.reads.load(Ordering::Relaxed), 2, "one read at start, one for the notice, none after");
    relay.stop().await;
}

/// A relay that has just published waits out its linger, so what is committed
/// meanwhile leaves in one pass; after a quiet spell it passes at once.
async fn a_busy_relay_sends_what_was_committed_meanwhile_in_one_pass(backend: Backend) {
    let linger = Duration::from_millis(800);
    let settings = OutboxSettings { linger_ms: Some(linger.as_millis() as u64), ..Default::default() };
    let relay = RunningRelay::start(backend, settings).await;
    let stats = relay.stats.clone();

    relay.commit_one("case-a").await;
    until(&stats.published, 1, "an idle relay passes at once").await;
    let first_pass = std::time::Instant::now();
    relay.commit_one("case-b").await;
    relay.commit_one("case-c").await;
    until(&stats.published, 3, "the busy relay's next pass").await;
    assert!(first_pass.elapsed() >= linger / 2, "the busy relay waited: {:?}", first_pass.elapsed());
    assert_eq!(stats.reads.load(Ordering::Relaxed), 3, "b and c left in one pass");

    tokio::time::sleep(linger * 2).await;
    let quiet = std::time::Instant::now();
    relay.commit_one("case-d").await;
    until(&stats.published, 4, "after a quiet spell").await;
    assert!(quiet.elapsed() < linger, "a relay quiet for longer than its linger passes at once: {:?}", quiet.elapsed());
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sqlite_a_busy_relay_sends_what_was_committed_meanwhile_in_one_pass() {
    a_busy_relay_sends_what_was_committed_meanwhile_in_one_pass(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_a_busy_relay_sends_what_was_committed_meanwhile_in_one_pass() {
    a_busy_relay_sends_what_was_committed_meanwhile_in_one_pass(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sqlite_a_commits_notice_costs_one_read_of_the_outbox() {
    a_commits_notice_costs_one_read_of_the_outbox(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_a_commits_notice_costs_one_read_of_the_outbox() {
    a_commits_notice_costs_one_read_of_the_outbox(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sqlite_a_refused_event_leaves_it_and_every_later_batch_unsent() {
    a_refused_event_leaves_it_and_every_later_batch_unsent(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_a_refused_event_leaves_it_and_every_later_batch_unsent() {
    a_refused_event_leaves_it_and_every_later_batch_unsent(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sqlite_the_next_batch_is_published_before_the_previous_is_acknowledged() {
    the_next_batch_is_published_before_the_previous_is_acknowledged(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_the_next_batch_is_published_before_the_previous_is_acknowledged() {
    the_next_batch_is_published_before_the_previous_is_acknowledged(Backend::Postgres).await;
}
