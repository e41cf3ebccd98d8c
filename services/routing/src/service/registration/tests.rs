//! Registrations routed together (a consumer lane's run) leave the same cases,
//! referrals, clocks, figures and events as routed one by one — each decision
//! counting the referrals made before it in the run — on both engines.

use fengqiao_platform::db::{Backend, Database};
use fengqiao_platform::testing::TestDatabase;
use fengqiao_proto::fengqiao::common::v1::{MediationOutcome, Source};
use fengqiao_proto::fengqiao::events::v1::{CaseRegistered, LinkedCase};

use crate::testing::registered;
use crate::RoutingService;

/// Routing over the demo directory, with an earlier case settled by agreement
/// (which a registration below re-flows).
async fn routing(backend: Backend) -> (TestDatabase, RoutingService) {
    let (test_db, service) = crate::testing::routing(backend).await;
    sqlx::query(
        "INSERT INTO case_figures (case_id, registered_at, township, source_agency, outcome)
         VALUES ('settled', 1, '620802001', 'police-620802-dongguan', $1)",
    )
    .bind(MediationOutcome::Agreement as i32)
    .execute(test_db.db.writer())
    .await
    .unwrap();
    (test_db, service)
}

/// The run: most cases in one village (its committee's load grows with each),
/// some in the next, one no organisation covers (returned), one asking for a
/// mediator who is not in the directory, a refiled one and a re-flowed one;
/// `case-00` was routed before and `case-03` comes twice.
fn run() -> Vec<(CaseRegistered, i64)> {
    let mut run = Vec::new();
    for i in 0..12 {
        let division = if i % 4 == 3 { "620802001002" } else { "620802001001" };
        let source = if i % 2 == 0 { Source::Police } else { Source::Petition };
        run.push(registered(i, division, source));
    }
    run.insert(5, registered(3, "620802001002", Source::Police));
    run.push(registered(12, "110101001001", Source::Police));
    let mut chose = registered(13, "620802001001", Source::Police);
    chose.0.dispute.as_mut().unwrap().preferred_mediator_id = "mediator-unknown".into();
    run.push(chose);
    let mut refiled = registered(14, "620802001001", Source::Police);
    refiled.0.links = vec![LinkedCase { related_case_id: "case-01".into(), kind: "RELATED".into() }];
    run.push(refiled);
    let mut reflowed = registered(15, "620802001001", Source::Police);
    reflowed.0.links = vec![LinkedCase { related_case_id: "settled".into(), kind: "REFLOW".into() }];
    run.push(reflowed);
    run
}

/// Every row routing wrote and every event it announced, without the ids and
/// times each run makes anew.
async fn outcome(db: &Database) -> Vec<String> {
    let queries = [
        "SELECT case_id, case_no, division_code, risk_level, returned_reason FROM routed_cases ORDER BY case_id",
        "SELECT case_id, org_id, level, sender, state, explanation, reason, mediator_id FROM referrals
         ORDER BY case_id, created_at",
        "SELECT case_id, kind, period, state FROM clocks ORDER BY case_id, kind",
        "SELECT case_id, registered_at, township, source_agency, org_id, org_level, refiled, reflowed_at
         FROM case_figures ORDER BY case_id",
        "SELECT event_type, case_id FROM fq_outbox ORDER BY id",
    ];
    crate::testing::rows(db, &queries).await
}

async fn routed_together_leaves_what_one_by_one_leaves(backend: Backend) {
    let (alone, one_by_one) = routing(backend).await;
    let (together, at_once) = routing(backend).await;
    for (db, service) in [(&alone.db, &one_by_one), (&together.db, &at_once)] {
        let mut tx = db.begin().await.unwrap();
        service.on_cases_registered(&mut tx, &[registered(0, "620802001001", Source::Police)]).await.unwrap();
        tx.commit().await.unwrap();
    }
    for registration in run() {
        let mut tx = alone.db.begin().await.unwrap();
        one_by_one.on_cases_registered(&mut tx, &[registration]).await.unwrap();
        tx.commit().await.unwrap();
    }
    let mut tx = together.db.begin().await.unwrap();
    at_once.on_cases_registered(&mut tx, &run()).await.unwrap();
    tx.commit().await.unwrap();

    let rows = outcome(&together.db).await;
    let of = |case: &str| rows.iter().filter(|r| r.starts_with(&format!("{case} | "))).count();
    assert!(rows.iter().any(|r| r.contains("(village level, 0/30 open)")), "{rows:#?}");
    assert!(
        rows.iter().any(|r| r.contains("(village level, 3/30 open)")),
        "later decisions count the run's earlier referrals: {rows:#?}"
    );
    assert!(rows.iter().any(|r| r.starts_with("case-12 |") && r.contains("no mediation organisation can take")));
    assert!(rows.iter().any(|r| r.contains("mediator-unknown is not in the directory")), "{rows:#?}");
    assert!(rows.iter().any(|r| r.starts_with("settled |") && r.ends_with("| 1790000000000015")), "{rows:#?}");
    assert_eq!(of("case-03"), of("case-01"), "a copy in the run is routed once: {rows:#?}");
    let figures_of_case_04 =
        "case-04 | 1790000000000004 | 620802001 | police-620802-dongguan | village-620802001001 | 1 |";
    assert!(rows.iter().any(|r| r.starts_with(figures_of_case_04)), "the figures name the organisation: {rows:#?}");
    assert_eq!(rows, outcome(&alone.db).await, "together and one by one differ");
    alone.finish().await;
    together.finish().await;
}

#[tokio::test]
async fn on_sqlite_registrations_routed_together_leave_what_one_by_one_leaves() {
    routed_together_leaves_what_one_by_one_leaves(Backend::Sqlite).await;
}

#[tokio::test]
async fn on_postgres_registrations_routed_together_leave_what_one_by_one_leaves() {
    routed_together_leaves_what_one_by_one_leaves(Backend::Postgres).await;
}
