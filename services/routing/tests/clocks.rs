//! A due clock is breached exactly once, however many routing replicas sweep
//! at the same moment — on SQLite and on PostgreSQL.

use std::sync::Arc;

use fengqiao_platform::component::{Component, PLATFORM_MIGRATIONS};
use fengqiao_platform::testing::TestDatabase;
use fengqiao_platform::{migrate, Backend};
use fengqiao_proto::fengqiao::routing::v1::ClockState;
use fengqiao_routing::clocks::{self, Kind, Timing};
use fengqiao_routing::Routing;
use sqlx::Row;

const DAY: i64 = 86_400_000_000;
const T0: i64 = 1_795_400_000_000_000; // 2026-11-22

async fn a_due_clock_is_breached_once_across_replicas(backend: Backend) {
    let test_db = TestDatabase::new(backend, "routing").await.unwrap();
    let mut all = PLATFORM_MIGRATIONS.to_vec();
    all.extend_from_slice(Routing::MIGRATIONS);
    migrate::run(&test_db.db, &all).await.unwrap();
    let timing = Timing::national();
    let mut conn = test_db.db.writer().acquire().await.unwrap();
    for i in 0..20 {
        clocks::start(&mut conn, &format!("case-{i}"), Kind::RiskResponse, "days:3", &timing, T0).await.unwrap();
    }
    clocks::start(&mut conn, "case-met", Kind::RiskResponse, "days:3", &timing, T0).await.unwrap();
    clocks::end(&mut conn, "case-met", &[Kind::RiskResponse], ClockState::Met, T0 + DAY).await.unwrap();
    clocks::start(&mut conn, "case-paused", Kind::PeoplesMediation, "days:3", &timing, T0).await.unwrap();
    clocks::pause(&mut conn, "case-paused", Kind::PeoplesMediation, T0 + DAY).await.unwrap();
    drop(conn);

    assert_eq!(clocks::breach_due(&test_db.db, T0 + DAY).await.unwrap(), 0, "nothing is due yet");
    // Three replicas sweep at once, well past the deadline.
    let db = Arc::new(test_db.db.clone());
    let sweeps = (0..3).map(|_| {
        let db = db.clone();
        tokio::spawn(async move { clocks::breach_due(&db, T0 + 10 * DAY).await.unwrap() })
    });
    let total: usize = futures::future::join_all(sweeps).await.into_iter().map(|r| r.unwrap()).sum();
    assert_eq!(total, 20, "each running clock breached once; met and paused clocks are not");
    assert_eq!(clocks::breach_due(&test_db.db, T0 + 11 * DAY).await.unwrap(), 0);
    let events = sqlx::query("SELECT COUNT(*) FROM fq_outbox WHERE event_type = 'fq.v1.clock.breached'")
        .fetch_one(test_db.db.pool())
        .await
        .unwrap()
        .get::<i64, _>(0);
    assert_eq!(events, 20);

    // A pause moves the deadline by the time paused.
    let mut conn = test_db.db.writer().acquire().await.unwrap();
    let before = clocks::of_case(&mut conn, "case-paused").await.unwrap()[0].due_at.unwrap().seconds;
    clocks::resume(&mut conn, "case-paused", Kind::PeoplesMediation, T0 + 3 * DAY).await.unwrap();
    let after = clocks::of_case(&mut conn, "case-paused").await.unwrap()[0].clone();
    assert_eq!(after.due_at.unwrap().seconds - before, 2 * 86_400, "two days paused, two days later");
    assert_eq!(after.state, ClockState::Running as i32);
    drop(conn);

    // A consented extension moves the deadline on from the old last day, and is recorded.
    let mut conn = test_db.db.writer().acquire().await.unwrap();
    clocks::start(&mut conn, "case-ext", Kind::PreLitigation, "days:30", &timing, T0).await.unwrap();
    let clock = clocks::of_case(&mut conn, "case-ext").await.unwrap().remove(0);
    drop(conn);
    let consent = vec!["applicant".to_string(), "respondent".to_string()];
    let actor = Some(fengqiao_proto::fengqiao::common::v1::Actor {
        org_id: "court-620802-office".into(),
        person_id: "m-1".into(),
    });
    let bad = clocks::extend(&test_db.db, &clock.clock_id, "days:10", &[], "", actor.clone(), &timing, T0).await;
    assert!(matches!(bad, Err(clocks::ExtendError::Invalid(v)) if v.len() == 2));
    let extended =
        clocks::extend(&test_db.db, &clock.clock_id, "days:30", &consent, "双方同意延长", actor, &timing, T0 + DAY)
            .await
            .unwrap();
    assert_eq!(extended.due_at.unwrap().seconds - clock.due_at.unwrap().seconds, 30 * 86_400, "{extended:?}");
    assert_eq!(extended.extensions.len(), 1);
    assert_eq!(extended.extensions[0].consented_by, consent);
    test_db.finish().await;
}

async fn a_case_worked_on_without_its_clock_raises_one_alarm(backend: Backend) {
    let test_db = TestDatabase::new(backend, "routing").await.unwrap();
    let mut all = PLATFORM_MIGRATIONS.to_vec();
    all.extend_from_slice(Routing::MIGRATIONS);
    migrate::run(&test_db.db, &all).await.unwrap();
    for (referral, case, state) in [("r-1", "case-1", 3), ("r-2", "case-2", 5), ("r-3", "case-3", 2)] {
        sqlx::query(
            "INSERT INTO referrals (referral_id, case_id, org_id, level, sender, state, explanation, reason, created_at, updated_at)
             VALUES ($1, $2, 'village-1', 1, 'police-1', $3, '', '', 0, 0)",
        )
        .bind(referral)
        .bind(case)
        .bind(state)
        .execute(test_db.db.writer())
        .await
        .unwrap();
    }
    // case-2's mediation clock runs; case-1's was never started; case-3 is not accepted yet.
    let mut conn = test_db.db.writer().acquire().await.unwrap();
    clocks::start(&mut conn, "case-2", Kind::PeoplesMediation, "months:1", &Timing::national(), T0).await.unwrap();
    drop(conn);
    assert_eq!(clocks::alarm_missing(&test_db.db, T0).await.unwrap(), 1);
    assert_eq!(clocks::alarm_missing(&test_db.db, T0 + DAY).await.unwrap(), 0, "raised once");
    let case: String = sqlx::query_scalar("SELECT case_id FROM fq_outbox WHERE event_type = 'fq.v1.clock.missing'")
        .fetch_one(test_db.db.pool())
        .await
        .unwrap();
    assert_eq!(case, "case-1");
    test_db.finish().await;
}

mod sqlite {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_due_clock_is_breached_once_across_replicas() {
        super::a_due_clock_is_breached_once_across_replicas(fengqiao_platform::Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_case_worked_on_without_its_clock_raises_one_alarm() {
        super::a_case_worked_on_without_its_clock_raises_one_alarm(fengqiao_platform::Backend::Sqlite).await;
    }
}

mod postgres {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_due_clock_is_breached_once_across_replicas() {
        super::a_due_clock_is_breached_once_across_replicas(fengqiao_platform::Backend::Postgres).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_case_worked_on_without_its_clock_raises_one_alarm() {
        super::a_case_worked_on_without_its_clock_raises_one_alarm(fengqiao_platform::Backend::Postgres).await;
    }
}
