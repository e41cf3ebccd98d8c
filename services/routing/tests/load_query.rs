//! Routing's load count reads only the organisation's own open referrals,
//! however many other organisations hold and however stale the statistics:
//! on PostgreSQL the generic plan of the covering query uses the partial
//! index of open referrals by organisation.

use fengqiao_platform::component::{Component, PLATFORM_MIGRATIONS};
use fengqiao_platform::migrate;
use fengqiao_platform::testing::TestDatabase;
use fengqiao_platform::Backend;
use fengqiao_routing::Routing;

#[tokio::test]
async fn postgres_routing_load_count_uses_the_open_referrals_by_organisation_index() {
    let test_db = TestDatabase::new(Backend::Postgres, "routing").await.unwrap();
    let mut all = PLATFORM_MIGRATIONS.to_vec();
    all.extend_from_slice(Routing::MIGRATIONS);
    migrate::run(&test_db.db, &all).await.unwrap();
    let mut conn = test_db.db.pool().acquire().await.unwrap();
    for sql in [
        "INSERT INTO organisations (org_id, name, kind, level, division_code)
         SELECT 'village-' || (620802001000 + g), 'v', 'VILLAGE_COMMITTEE', 1, (620802001000 + g)::text
         FROM generate_series(1, 300) g",
        // History: concluded referrals, analysed while nothing is open …
        "INSERT INTO referrals (referral_id, case_id, org_id, level, sender, state, explanation, reason, created_at, updated_at)
         SELECT 'h' || g, 'c' || g, 'village-620802001001', 1, 's', 7, '', '', g, g FROM generate_series(1, 5000) g",
        "ANALYZE",
        // … then thousands open across the county.
        "INSERT INTO referrals (referral_id, case_id, org_id, level, sender, state, explanation, reason, created_at, updated_at)
         SELECT 'o' || g, 'd' || g, 'village-' || (620802001001 + g % 300), 1, 's', 2, '', '', g, g FROM generate_series(1, 4000) g",
        "SET plan_cache_mode = force_generic_plan",
    ] {
        sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut *conn).await.unwrap();
    }
    let plan: Vec<String> = sqlx::query_scalar(
        "EXPLAIN SELECT o.org_id,
                (SELECT COUNT(*) FROM referrals r WHERE r.org_id = o.org_id AND r.state IN (1, 2, 3, 5, 6)) AS open
         FROM organisations o WHERE $1 LIKE o.division_code || '%' ORDER BY o.level, o.org_id",
    )
    .bind("620802001005")
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    let plan = plan.join("\n");
    assert!(plan.contains("referrals_open_by_org"), "{plan}");
    drop(conn);
    test_db.finish().await;
}
