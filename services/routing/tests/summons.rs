//! Joint summons: deadlines, answers, overdue requests and each department's
//! response rate, on SQLite and on PostgreSQL.

use fengqiao_platform::component::{Component, PLATFORM_MIGRATIONS};
use fengqiao_platform::testing::TestDatabase;
use fengqiao_platform::{migrate, Backend};
use fengqiao_proto::fengqiao::common::v1::Actor;
use fengqiao_routing::{Routing, RoutingError, Summons};

const HOUR: i64 = 3_600_000_000;
const T0: i64 = 1_795_000_000_000_000;

async fn summons_track_deadlines_and_response_rates(backend: Backend) {
    let test_db = TestDatabase::new(backend, "routing").await.unwrap();
    let mut all = PLATFORM_MIGRATIONS.to_vec();
    all.extend_from_slice(Routing::MIGRATIONS);
    migrate::run(&test_db.db, &all).await.unwrap();
    sqlx::query(
        "INSERT INTO routed_cases (case_id, case_no, source_agency, division_code, risk_level, dispute, created_at)
         VALUES ('case-1', '620802-2026-000001', 'police-1', '620802001001', 1, $1, 0)",
    )
    .bind(Vec::<u8>::new())
    .execute(test_db.db.writer())
    .await
    .unwrap();
    let summons = Summons::new(test_db.db.clone());
    let actor = Some(Actor { org_id: "county-620802-centre".into(), person_id: "clerk-1".into() });
    let departments: Vec<String> = ["land", "water", "housing"].iter().map(|d| d.to_string()).collect();

    let bad = summons.summon("case-1", &["land".into(), "land".into()], "", 0, actor.clone(), T0).await.unwrap_err();
    let RoutingError::Invalid(v) = bad else { panic!("expected field violations") };
    assert_eq!(v.iter().map(|v| v.field.as_str()).collect::<Vec<_>>(), ["departments", "request", "response_hours"]);
    assert!(matches!(
        summons.summon("no-case", &departments, "x", 24, actor.clone(), T0).await,
        Err(RoutingError::NotFound)
    ));

    let made = summons.summon("case-1", &departments, "核查宅基地界址", 24, actor, T0).await.unwrap();
    assert_eq!(made.len(), 3);
    let id = |d: &str| made.iter().find(|r| r.department == d).unwrap().assistance_id.clone();
    summons.respond(&id("land"), "land", "已现场核查", T0 + HOUR).await.unwrap();
    summons.respond(&id("water"), "water", "已协调", T0 + 30 * HOUR).await.unwrap();
    assert!(summons.respond(&id("water"), "water", "again", T0 + 31 * HOUR).await.is_err(), "answered once");
    assert!(matches!(summons.respond(&id("land"), "water", "not mine", T0).await, Err(RoutingError::NotFound)));

    let listed = summons.of_case("case-1", T0 + 48 * HOUR).await.unwrap();
    let overdue: Vec<&str> = listed.iter().filter(|r| r.overdue).map(|r| r.department.as_str()).collect();
    assert_eq!(overdue, ["housing"]);
    let rates = summons.response_rates(T0, T0 + 1, T0 + 48 * HOUR).await.unwrap();
    let figures: Vec<(&str, u32, u32, u32, u32, f64)> = rates
        .iter()
        .map(|r| (r.department.as_str(), r.requested, r.answered, r.answered_in_time, r.overdue, r.response_rate))
        .collect();
    assert_eq!(figures, [("housing", 1, 0, 0, 1, 0.0), ("land", 1, 1, 1, 0, 1.0), ("water", 1, 1, 0, 0, 0.0)]);
    test_db.finish().await;
}

mod sqlite {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn summons_track_deadlines_and_response_rates() {
        super::summons_track_deadlines_and_response_rates(fengqiao_platform::Backend::Sqlite).await;
    }
}

mod postgres {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn summons_track_deadlines_and_response_rates() {
        super::summons_track_deadlines_and_response_rates(fengqiao_platform::Backend::Postgres).await;
    }
}
