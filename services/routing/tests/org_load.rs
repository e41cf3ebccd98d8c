//! An organisation's load (its open referrals) is kept as a number by
//! triggers and folds (routing migrations 13 and 14): it matches a count of
//! the referrals through every kind of move (a TRUNCATE too), before and after
//! a fold, on SQLite and PostgreSQL; on PostgreSQL no writer waits on another
//! for a busy organisation, and a routing decision's count reads no referral.

use std::time::Duration;

use fengqiao_platform::component::{Component, PLATFORM_MIGRATIONS};
use fengqiao_platform::migrate::{self, Migration};
use fengqiao_platform::testing::TestDatabase;
use fengqiao_platform::{Backend, Database};
use fengqiao_routing::{load, Routing};

fn migrations() -> Vec<Migration> {
    let mut all = PLATFORM_MIGRATIONS.to_vec();
    all.extend_from_slice(Routing::MIGRATIONS);
    all
}

async fn run(db: &Database, sql: &str) {
    sqlx::query(sqlx::AssertSqlSafe(sql.to_string())).execute(db.writer()).await.unwrap();
}

/// Three villages; `count` referrals to each in `state` (ids from `first`).
async fn add_referrals(db: &Database, first: i64, count: i64, state: i32) {
    for village in 1..=3 {
        let sql = format!(
            "INSERT INTO referrals (referral_id, case_id, org_id, level, sender, state, explanation, reason, created_at, updated_at)
             SELECT 'r' || (g * 10 + {village}), 'c' || g, 'village-{village}', 1, 's', {state}, '', '', g, g
             FROM (SELECT {first} + n AS g FROM (WITH RECURSIVE k(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM k WHERE n + 1 < {count}) SELECT n FROM k) AS nums) AS ids"
        );
        run(db, &sql).await;
    }
}

/// Each organisation's load as routing reads it, and as a count of its referrals.
async fn loads(db: &Database) -> (Vec<(String, i64)>, Vec<(String, i64)>) {
    let kept = format!("SELECT o.org_id, {} AS open FROM organisations o ORDER BY o.org_id", load::OPEN);
    let kept: Vec<(String, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(kept)).fetch_all(db.pool()).await.unwrap();
    let counted: Vec<(String, i64)> = sqlx::query_as(
        "SELECT o.org_id, (SELECT COUNT(*) FROM referrals r WHERE r.org_id = o.org_id AND r.state IN (1, 2, 3, 5, 6))
         FROM organisations o ORDER BY o.org_id",
    )
    .fetch_all(db.pool())
    .await
    .unwrap();
    (kept, counted)
}

async fn assert_loads_match(db: &Database, step: &str) {
    let (kept, counted) = loads(db).await;
    assert_eq!(kept, counted, "{step}: kept load against counted open referrals");
    load::fold(db).await.unwrap();
    let (folded, counted) = loads(db).await;
    assert_eq!(folded, counted, "{step}, folded: kept load against counted open referrals");
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM org_load_changes").fetch_one(db.pool()).await.unwrap();
    assert_eq!(left, 0, "{step}: a fold moves every committed change");
}

async fn open_counts_follow_every_referral_move(backend: Backend) {
    let test_db = TestDatabase::new(backend, "routing").await.unwrap();
    let all = migrations();
    // Referrals from before migration 13 are counted by it.
    let kept_from = all.iter().position(|m| m.scope == "routing" && m.version == 13).expect("routing 13");
    migrate::run(&test_db.db, &all[..kept_from]).await.unwrap();
    let db = &test_db.db;
    run(
        db,
        "INSERT INTO organisations (org_id, name, kind, level, division_code)
         VALUES ('village-1', 'v1', 'VILLAGE_COMMITTEE', 1, '1'), ('village-2', 'v2', 'VILLAGE_COMMITTEE', 1, '2'),
                ('village-3', 'v3', 'VILLAGE_COMMITTEE', 1, '3'), ('idle', 'i', 'VILLAGE_COMMITTEE', 1, '4')",
    )
    .await;
    add_referrals(db, 0, 5, 2).await;
    add_referrals(db, 100, 4, 7).await;
    migrate::run(db, &all).await.unwrap();
    let (kept, _) = loads(db).await;
    assert_eq!(kept[1..], [("village-1".into(), 5), ("village-2".into(), 5), ("village-3".into(), 5)]);
    assert_loads_match(db, "migrated").await;

    add_referrals(db, 200, 7, 1).await; // opened
    add_referrals(db, 300, 2, 9).await; // created closed
    assert_loads_match(db, "inserted").await;
    // Closed, moved between open states, reopened, moved to another organisation, other columns changed.
    run(db, "UPDATE referrals SET state = 7 WHERE referral_id IN ('r1', 'r2', 'r2003')").await;
    run(db, "UPDATE referrals SET state = 5 WHERE referral_id IN ('r11', 'r12')").await;
    run(db, "UPDATE referrals SET state = 3 WHERE referral_id = 'r1001'").await;
    run(db, "UPDATE referrals SET org_id = 'idle' WHERE referral_id IN ('r21', 'r22', 'r1002')").await;
    run(db, "UPDATE referrals SET reason = 'x', updated_at = updated_at + 1").await;
    assert_loads_match(db, "updated").await;
    run(db, "DELETE FROM referrals WHERE referral_id IN ('r31', 'r32', 'r1003')").await;
    assert_loads_match(db, "deleted").await;
    let (kept, _) = loads(db).await;
    assert!(kept.iter().all(|(_, open)| *open > 0), "every organisation holds open referrals: {kept:?}");
    // Emptied at once, with changes not folded yet: an operator's clean-up.
    add_referrals(db, 400, 2, 1).await;
    run(db, if backend == Backend::Postgres { "TRUNCATE referrals" } else { "DELETE FROM referrals" }).await;
    assert_loads_match(db, "emptied").await;
    let (kept, _) = loads(db).await;
    assert!(kept.iter().all(|(_, open)| *open == 0), "no referral, no load: {kept:?}");
    add_referrals(db, 500, 3, 2).await;
    assert_loads_match(db, "filled again").await;
    test_db.finish().await;
}

#[tokio::test]
async fn sqlite_open_counts_follow_every_referral_move() {
    open_counts_follow_every_referral_move(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_open_counts_follow_every_referral_move() {
    open_counts_follow_every_referral_move(Backend::Postgres).await;
}

#[tokio::test]
async fn postgres_referrals_to_one_organisation_wait_on_no_open_transaction() {
    let test_db = TestDatabase::new(Backend::Postgres, "routing").await.unwrap();
    let db = &test_db.db;
    migrate::run(db, &migrations()).await.unwrap();
    run(db, "INSERT INTO organisations (org_id, name, kind, level, division_code) VALUES ('village-1', 'v', 'VILLAGE_COMMITTEE', 1, '1')").await;
    let insert = |id: &str| {
        format!(
            "INSERT INTO referrals (referral_id, case_id, org_id, level, sender, state, explanation, reason, created_at, updated_at)
             VALUES ('{id}', 'c-{id}', 'village-1', 1, 's', 1, '', '', 1, 1)"
        )
    };
    // A lane's transaction sends a referral to the village and stays open …
    let mut open = db.pool().begin().await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(insert("held"))).execute(&mut *open).await.unwrap();
    let own: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT {} FROM organisations o WHERE o.org_id = 'village-1'",
        load::OPEN
    )))
    .fetch_one(&mut *open)
    .await
    .unwrap();
    assert_eq!(own, 1, "a transaction counts its own referral");
    // … while another sends one there too, and a fold runs.
    let other = tokio::time::timeout(Duration::from_secs(5), run(db, &insert("other"))).await;
    assert!(other.is_ok(), "a second referral to the organisation waited on the open transaction");
    let folded = tokio::time::timeout(Duration::from_secs(5), load::fold(db)).await;
    assert_eq!(folded.expect("a fold waited on the open transaction").unwrap(), 1, "only the committed change");
    let (kept, counted) = loads(db).await;
    assert_eq!((kept.clone(), counted), (vec![("village-1".into(), 1)], vec![("village-1".into(), 1)]));
    open.commit().await.unwrap();
    let (kept, _) = loads(db).await;
    assert_eq!(kept, [("village-1".into(), 2)], "the later commit counts before its fold");
    assert_eq!(load::fold(db).await.unwrap(), 1);
    assert_eq!(loads(db).await.0, [("village-1".into(), 2)]);
    test_db.finish().await;
}

#[tokio::test]
async fn postgres_routing_load_reads_no_referral() {
    let test_db = TestDatabase::new(Backend::Postgres, "routing").await.unwrap();
    migrate::run(&test_db.db, &migrations()).await.unwrap();
    let mut conn = test_db.db.pool().acquire().await.unwrap();
    for sql in [
        "INSERT INTO organisations (org_id, name, kind, level, division_code)
         SELECT 'village-' || (620802001000 + g), 'v', 'VILLAGE_COMMITTEE', 1, (620802001000 + g)::text
         FROM generate_series(1, 300) g",
        "INSERT INTO referrals (referral_id, case_id, org_id, level, sender, state, explanation, reason, created_at, updated_at)
         SELECT 'o' || g, 'd' || g, 'village-' || (620802001001 + g % 300), 1, 's', 2, '', '', g, g FROM generate_series(1, 4000) g",
        "SET plan_cache_mode = force_generic_plan",
    ] {
        sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut *conn).await.unwrap();
    }
    let plan: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "EXPLAIN SELECT o.org_id, {} AS open FROM organisations o WHERE o.division_code IN ($1, $2)",
        load::OPEN
    )))
    .bind("620802001005")
    .bind("620802001006")
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    let plan = plan.join("\n");
    assert!(!plan.contains("referrals"), "{plan}");
    assert!(plan.contains("org_load_changes_org"), "{plan}");
    drop(conn);
    test_db.finish().await;
}
