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
    let runs: Vec<Vec<&str>> =
        super::runs_of_kind(&arrivals).map(|run| run.iter().map(|a| a.event.event_type.as_str()).collect()).collect();
    assert_eq!(runs, [vec![reg, reg], vec![recv], vec![reg], vec![acc, acc], vec![recv]]);
    let ids: Vec<&str> = super::runs_of_kind(&arrivals).flatten().map(|a| a.event.id.as_str()).collect();
    assert_eq!(ids, events.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(), "no event lost or moved");
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
