//! A measurement, not a pass/fail test of speed: what 100,000 pending timers
//! cost the sweeps and the starting of new clocks, and what pending and ended
//! clocks cost a sample of routing's gauges, on both databases.
//! Run it with `cargo test -p fengqiao-routing --test timers_at_scale -- --ignored --nocapture`
//! (FQ_PENDING_TIMERS sets the count).

use std::time::{Duration, Instant};

use fengqiao_platform::component::{Component, PLATFORM_MIGRATIONS};
use fengqiao_platform::testing::TestDatabase;
use fengqiao_platform::{migrate, Backend, Database};
use fengqiao_routing::clocks::{self, Kind, Timing};
use fengqiao_routing::Routing;

const T0: i64 = 1_795_000_000_000_000;
const YEAR: i64 = 365 * 86_400 * 1_000_000;

/// (one sweep pass with nothing due, starting 200 clocks) at the current size.
async fn costs(db: &Database, round: i64) -> (Duration, Duration) {
    let passes = 20;
    let started = Instant::now();
    for _ in 0..passes {
        assert_eq!(clocks::breach_due(db, T0).await.unwrap() + clocks::warn_due(db, T0).await.unwrap(), 0);
    }
    let sweep = started.elapsed() / passes;
    let started = Instant::now();
    let timing = Timing::national();
    for i in 0..200 {
        let mut conn = db.writer().acquire().await.unwrap();
        let case = format!("probe-{round}-{i}");
        clocks::start(&mut conn, &case, Kind::PeoplesMediation, "months:1", &timing, T0).await.unwrap();
    }
    (sweep, started.elapsed() / 200)
}

/// How long one sample of routing's gauges takes (the mean of five).
async fn gauge_sample(db: &Database) -> Duration {
    use fengqiao_platform::metrics::Sampler;
    let started = Instant::now();
    for _ in 0..5 {
        fengqiao_routing::gauges::RoutingGauges.sample(db).await.unwrap();
    }
    started.elapsed() / 5
}

async fn pending_timers_cost(backend: Backend) {
    let n: i64 = std::env::var("FQ_PENDING_TIMERS").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let test_db = TestDatabase::new(backend, "routing").await.unwrap();
    let mut all = PLATFORM_MIGRATIONS.to_vec();
    all.extend_from_slice(Routing::MIGRATIONS);
    migrate::run(&test_db.db, &all).await.unwrap();
    let db = &test_db.db;
    let (empty_sweep, empty_start) = costs(db, 0).await;
    let loading = Instant::now();
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1)
         INSERT INTO clocks (clock_id, case_id, kind, period, started_at, due_at, state, warn_at)
         SELECT 'pending-' || i, 'case-' || i, 'PEOPLES_MEDIATION', 'months:1', $2, $3 + i, 1, $4 + i FROM n",
    )
    .bind(n)
    .bind(T0)
    .bind(T0 + YEAR)
    .bind(T0 + YEAR / 2)
    .execute(db.writer())
    .await
    .unwrap();
    let loaded = loading.elapsed();
    let (full_sweep, full_start) = costs(db, 1).await;
    println!(
        "{backend:?}: {n} pending timers loaded in {loaded:.1?}; sweep pass {empty_sweep:.2?} → {full_sweep:.2?}; \
         starting a clock {empty_start:.2?} → {full_start:.2?}"
    );
    // History: clocks that ended (met, breached, stopped), as years of cases leave them.
    let sampled = gauge_sample(db).await;
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1)
         INSERT INTO clocks (clock_id, case_id, kind, period, started_at, due_at, state, warn_at, ended_at)
         SELECT 'ended-' || i, 'old-case-' || i, 'PEOPLES_MEDIATION', 'months:1', $2, $2 + i, 3 + i % 3, $2 + i, $2 + i FROM n",
    )
    .bind(n)
    .bind(T0 - YEAR)
    .execute(db.writer())
    .await
    .unwrap();
    if backend == Backend::Postgres {
        sqlx::raw_sql("VACUUM ANALYZE clocks").execute(db.pool()).await.unwrap();
    }
    println!(
        "{backend:?}: routing's gauges sampled in {sampled:.2?} with {n} pending clocks, {:.2?} with {n} ended ones too",
        gauge_sample(db).await
    );
    test_db.finish().await;
}

#[tokio::test]
#[ignore = "a measurement; run with --ignored --nocapture"]
async fn sqlite_pending_timers_cost() {
    pending_timers_cost(Backend::Sqlite).await;
}

#[tokio::test]
#[ignore = "a measurement; run with --ignored --nocapture"]
async fn postgres_pending_timers_cost() {
    pending_timers_cost(Backend::Postgres).await;
}
