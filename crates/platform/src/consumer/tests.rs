//! The runner's own tests: lanes, batches and copies of an event.

/// An event of `case` with a fresh id.
fn event(case: &str) -> super::Envelope {
    super::Envelope {
        id: uuid::Uuid::now_v7().to_string(),
        source: "t".into(),
        event_type: "fq.v1.case.registered".into(),
        time_micros: 0,
        case_id: case.into(),
        traceparent: None,
        payload: Default::default(),
    }
}

#[test]
fn one_case_always_lands_in_the_same_lane() {
    let lanes = 16;
    let a = super::lane_of("case-a", lanes);
    for _ in 0..10 {
        assert_eq!(super::lane_of("case-a", lanes), a);
    }
    assert!(a < lanes);
    let spread: std::collections::HashSet<_> = (0..200).map(|i| super::lane_of(&format!("case-{i}"), lanes)).collect();
    assert!(spread.len() > lanes / 2, "cases spread over lanes: {spread:?}");
}

#[test]
fn an_event_after_a_concerned_event_of_its_case_is_kept() {
    let (a1, b1, a2, b2) = (event("a"), event("b"), event("a"), event("b"));
    let batch = [&a1, &b1, &a2, &b2];
    // a's registration concerns the handler, so a's next event stays even though
    // its case is not tracked yet; b's events go.
    let kept = super::with_their_cases(&batch, vec![true, false, false, false]);
    assert_eq!(kept, [true, false, true, false]);
}

/// An event of `case` of the kind published on `subject`.
fn event_of(case: &str, subject: &str) -> super::Envelope {
    super::Envelope { event_type: subject.into(), ..event(case) }
}

#[test]
fn a_batch_is_cut_into_runs_of_one_kind_in_order() {
    let (reg, recv, acc) = ("fq.v1.case.registered", "fq.v1.referral.received", "fq.v1.referral.accepted");
    let events: Vec<_> = [reg, reg, recv, reg, acc, acc, recv].iter().map(|s| event_of("a", s)).collect();
    let arrivals: Vec<_> = events.iter().map(|event| super::Arrival { event, span: tracing::Span::none() }).collect();
    let runs = super::runs_of_kind(&arrivals);
    let kinds: Vec<Vec<&str>> =
        runs.iter().map(|run| run.iter().map(|a| a.event.event_type.as_str()).collect()).collect();
    assert_eq!(kinds, [vec![reg, reg], vec![recv], vec![reg], vec![acc, acc], vec![recv]]);
    let ids: Vec<&str> = runs.iter().flatten().map(|a| a.event.id.as_str()).collect();
    assert_eq!(ids, events.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(), "no event of one case moved");
}

/// The runs of `events`, each as `case:kind` names (`r` registered, `s` scheduled).
fn runs_named(events: &[super::Envelope]) -> Vec<Vec<String>> {
    let arrivals: Vec<_> = events.iter().map(|event| super::Arrival { event, span: tracing::Span::none() }).collect();
    let name = |a: &super::Arrival| {
        let kind = if a.event.event_type.ends_with("registered") { "r" } else { "s" };
        format!("{}:{kind}", a.event.case_id)
    };
    super::runs_of_kind(&arrivals).iter().map(|run| run.iter().map(name).collect()).collect()
}

#[test]
fn a_run_gathers_its_kind_from_other_cases_but_never_passes_its_own_case() {
    let (reg, sched) = ("fq.v1.case.registered", "fq.v1.clock.scheduled");
    let batch =
        |names: &[(&str, &str)]| -> Vec<super::Envelope> { names.iter().map(|(c, s)| event_of(c, s)).collect() };
    // Interleaved cases: one run of each kind instead of four runs.
    let events = batch(&[("a", reg), ("a", sched), ("b", reg), ("b", sched)]);
    assert_eq!(runs_named(&events), [vec!["a:r", "b:r"], vec!["a:s", "b:s"]]);
    // a's second registration stays behind a's scheduling; b's joins the first run.
    let events = batch(&[("a", reg), ("a", sched), ("a", reg), ("b", reg)]);
    assert_eq!(runs_named(&events), [vec!["a:r", "b:r"], vec!["a:s"], vec!["a:r"]]);
    // An event without a case is passed by nothing after it.
    let events = batch(&[("a", reg), ("", sched), ("b", reg), ("b", sched)]);
    assert_eq!(runs_named(&events), [vec!["a:r"], vec![":s"], vec!["b:r"], vec!["b:s"]]);
    // Every event once, and each case's events in their order.
    let events = batch(&[("a", reg), ("b", sched), ("a", sched), ("c", reg), ("b", reg), ("a", reg), ("c", sched)]);
    let runs = runs_named(&events);
    let flat: Vec<&String> = runs.iter().flatten().collect();
    assert_eq!(flat.len(), events.len());
    for case in ["a", "b", "c"] {
        let mine: Vec<&str> = flat.iter().filter(|n| n.starts_with(case)).map(|n| n.as_str()).collect();
        let given: Vec<String> = events
            .iter()
            .filter(|e| e.case_id == case)
            .map(|e| format!("{case}:{}", if e.event_type.ends_with("registered") { "r" } else { "s" }))
            .collect();
        assert_eq!(mine, given, "case {case} kept its order");
    }
    assert_eq!(runs.len(), 3, "{runs:?}");
}

/// Counts the links (`follows_from`) spans are given.
struct CountingLinks(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for CountingLinks {
    fn on_follows_from(
        &self,
        _: &tracing::span::Id,
        _: &tracing::span::Id,
        _: tracing_subscriber::layer::Context<'_, S>,
    ) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

#[test]
fn a_run_applied_at_once_is_linked_from_every_event_of_it() {
    use tracing_subscriber::layer::SubscriberExt;
    let links = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let subscriber = tracing_subscriber::registry().with(CountingLinks(links.clone()));
    let events: Vec<_> = (0..3).map(|i| event(&format!("case-{i}"))).collect();
    tracing::subscriber::with_default(subscriber, || {
        let arrivals: Vec<_> = events
            .iter()
            .map(|event| super::Arrival { event, span: tracing::info_span!("event", event_id = %event.id) })
            .collect();
        let run = super::run_span(&arrivals);
        assert!(!run.is_disabled());
    });
    assert_eq!(links.load(std::sync::atomic::Ordering::Relaxed), 3, "one link for each event of the run");
}

/// Counts the events it is asked to apply.
struct Counting(std::sync::atomic::AtomicU64);

#[async_trait::async_trait]
impl super::EventHandler for Counting {
    async fn handle(
        &self,
        _: &mut sqlx::Transaction<'static, sqlx::Any>,
        _: &super::Envelope,
    ) -> Result<(), super::HandlerError> {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }
}

async fn copies_in_one_batch_and_later_are_applied_once(backend: crate::db::Backend) {
    use super::Applied::{Done, Duplicate};
    let test_db = crate::testing::TestDatabase::new(backend, "consumer").await.unwrap();
    crate::migrate::run(&test_db.db, crate::component::PLATFORM_MIGRATIONS).await.unwrap();
    let handler = std::sync::Arc::new(Counting(Default::default()));
    let runner = super::Runner {
        name: "counting".into(),
        db: test_db.db.clone(),
        handler: handler.clone(),
        settings: Default::default(),
        stats: Default::default(),
        outbox: Default::default(),
    };
    let (a, b) = (event("a"), event("b"));
    let outcomes = runner.apply_all(&[&a, &b, &a]).await.unwrap();
    assert!(matches!(outcomes[..], [Done, Done, Duplicate]), "{outcomes:?}");
    let again = runner.apply_all(&[&b, &event("c")]).await.unwrap();
    assert!(matches!(again[..], [Duplicate, Done]), "{again:?}");
    assert_eq!(handler.0.load(std::sync::atomic::Ordering::Relaxed), 3);
    test_db.finish().await;
}

#[tokio::test]
async fn copies_in_one_batch_and_later_are_applied_once_on_sqlite() {
    copies_in_one_batch_and_later_are_applied_once(crate::db::Backend::Sqlite).await;
}

#[tokio::test]
async fn copies_in_one_batch_and_later_are_applied_once_on_postgres() {
    copies_in_one_batch_and_later_are_applied_once(crate::db::Backend::Postgres).await;
}

/// Acknowledges nothing: `gather` only collects deliveries.
struct Unacked;

#[async_trait::async_trait]
impl crate::bus::Acker for Unacked {
    async fn ack(self: Box<Self>) -> Result<(), crate::bus::BusError> {
        Ok(())
    }
    async fn progress(&self) -> Result<(), crate::bus::BusError> {
        Ok(())
    }
}

fn delivery(case: &str) -> super::Delivery {
    super::Delivery::new(event(case), 1, Box::new(Unacked))
}

/// Sends a delivery of `case` after `ms` milliseconds.
fn later(tx: &tokio::sync::mpsc::Sender<super::Delivery>, case: &'static str, ms: u64) {
    let tx = tx.clone();
    tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
        let _ = tx.send(delivery(case)).await;
    });
}

fn cases(batch: &[super::Delivery]) -> Vec<&str> {
    batch.iter().map(|d| d.envelope.case_id.as_str()).collect()
}

// Real time (a paused clock needs tokio's test-util, which would build the
// dependency tree twice): the margins are wide enough for a loaded machine.

#[tokio::test]
async fn without_a_linger_a_lane_takes_only_the_events_already_waiting() {
    let (tx, mut rx) = tokio::sync::mpsc::channel(8);
    tx.send(delivery("waiting")).await.unwrap();
    later(&tx, "late", 50);
    let batch = super::gather(delivery("first"), &mut rx, 64, std::time::Duration::ZERO).await;
    assert_eq!(cases(&batch), ["first", "waiting"]);
}

#[tokio::test]
async fn a_lingering_lane_takes_what_arrives_within_the_linger_and_no_more() {
    let (tx, mut rx) = tokio::sync::mpsc::channel(8);
    later(&tx, "soon", 10);
    later(&tx, "a little later", 50);
    later(&tx, "too late", 2_000);
    let linger = std::time::Duration::from_millis(600);
    let started = std::time::Instant::now();
    let batch = super::gather(delivery("first"), &mut rx, 64, linger).await;
    let waited = started.elapsed();
    assert_eq!(cases(&batch), ["first", "soon", "a little later"]);
    assert!(waited >= linger && waited < std::time::Duration::from_millis(1_900), "waited {waited:?}");
    let next = super::gather(rx.recv().await.unwrap(), &mut rx, 64, std::time::Duration::ZERO).await;
    assert_eq!(cases(&next), ["too late"], "the late one opens the next batch");
}

#[tokio::test]
async fn a_full_batch_or_a_closed_lane_ends_the_linger_at_once() {
    let (tx, mut rx) = tokio::sync::mpsc::channel(8);
    for _ in 0..3 {
        tx.send(delivery("waiting")).await.unwrap();
    }
    let started = std::time::Instant::now();
    let full = super::gather(delivery("first"), &mut rx, 3, std::time::Duration::from_secs(30)).await;
    assert_eq!(full.len(), 3);
    drop(tx);
    let closing = super::gather(delivery("first"), &mut rx, 64, std::time::Duration::from_secs(30)).await;
    assert_eq!(cases(&closing), ["first", "waiting"]);
    assert!(started.elapsed() < std::time::Duration::from_secs(10), "no linger: {:?}", started.elapsed());
}

#[tokio::test]
async fn only_a_lane_that_just_finished_a_batch_lingers() {
    let linger = std::time::Duration::from_millis(500);
    let now = tokio::time::Instant::now();
    assert_eq!(super::linger_after(None, linger), std::time::Duration::ZERO, "the first event of a lane");
    assert_eq!(super::linger_after(Some(now), linger), linger, "busy: its last batch just ended");
    let long_ago = now - std::time::Duration::from_secs(5);
    assert_eq!(super::linger_after(Some(long_ago), linger), std::time::Duration::ZERO, "quiet for seconds");
    assert_eq!(super::linger_after(Some(now), std::time::Duration::ZERO), std::time::Duration::ZERO, "never");
}
