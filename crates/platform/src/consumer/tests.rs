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
