//! Registration through the domain API, on SQLite and on PostgreSQL.

use fengqiao_intake::{Intake, IntakeError, IntakeService};
use fengqiao_platform::component::{Component, PLATFORM_MIGRATIONS};
use fengqiao_platform::outbox::OutboxNotifier;
use fengqiao_platform::testing::TestDatabase;
use fengqiao_platform::{migrate, Backend};
use fengqiao_proto::fengqiao::common::v1::{Category, Dispute, Location, Party, PartyRole, Source};
use sqlx::Row;

fn police_dispute(external_ref: &str) -> Dispute {
    Dispute {
        source: Source::Police as i32,
        external_ref: external_ref.into(),
        category: Category::Neighbourhood as i32,
        parties: vec![Party {
            role: PartyRole::Applicant as i32,
            name: "张三".into(),
            ..Default::default()
        }],
        location: Some(Location {
            division_code: "620802001001".into(),
            ..Default::default()
        }),
        headcount: 2,
        narrative: "邻里噪音".into(),
        ..Default::default()
    }
}

async fn intake(backend: Backend) -> (TestDatabase, IntakeService) {
    let test_db = TestDatabase::new(backend, "intake").await.unwrap();
    let mut all = PLATFORM_MIGRATIONS.to_vec();
    all.extend_from_slice(Intake::MIGRATIONS);
    migrate::run(&test_db.db, &all).await.unwrap();
    let service = IntakeService::new(test_db.db.clone(), OutboxNotifier::default());
    (test_db, service)
}

async fn registration_is_numbered_and_announced_once(backend: Backend) {
    let (test_db, intake) = intake(backend).await;
    let first = intake
        .register(
            "police-620802-dongguan",
            Some(police_dispute("JQ2026-0001")),
        )
        .await
        .unwrap();
    assert!(first.created);
    assert!(
        first.case.case_no.starts_with("620802-"),
        "{}",
        first.case.case_no
    );
    assert!(
        first.case.case_no.ends_with("-000001"),
        "{}",
        first.case.case_no
    );
    let again = intake
        .register(
            "police-620802-dongguan",
            Some(police_dispute("JQ2026-0001")),
        )
        .await
        .unwrap();
    assert!(!again.created);
    assert_eq!(again.case, first.case);
    // Another agency may use the same number for its own matter.
    let other = intake
        .register("police-620802-xijiao", Some(police_dispute("JQ2026-0001")))
        .await
        .unwrap();
    assert!(other.created);
    assert!(other.case.case_no.ends_with("-000002"));
    let events =
        sqlx::query("SELECT COUNT(*) FROM fq_outbox WHERE event_type = 'fq.v1.case.registered'")
            .fetch_one(test_db.db.pool())
            .await
            .unwrap()
            .get::<i64, _>(0);
    assert_eq!(events, 2);
    assert_eq!(intake.get(&first.case.case_id).await.unwrap(), first.case);
    assert!(matches!(
        intake.get("no-such-case").await,
        Err(IntakeError::NotFound)
    ));
    test_db.finish().await;
}

async fn concurrent_identical_submissions_create_one_case(backend: Backend) {
    let (test_db, intake) = intake(backend).await;
    let tasks = (0..100).map(|_| {
        let intake = intake.clone();
        tokio::spawn(async move {
            intake
                .register(
                    "court-620802",
                    Some(police_dispute("(2026)甘0802民诉前调123号")),
                )
                .await
        })
    });
    let results: Vec<_> = futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(|r| r.unwrap().unwrap())
        .collect();
    assert_eq!(results.iter().filter(|r| r.created).count(), 1);
    assert!(results.iter().all(|r| r.case == results[0].case));
    let cases = sqlx::query("SELECT COUNT(*) FROM cases")
        .fetch_one(test_db.db.pool())
        .await
        .unwrap()
        .get::<i64, _>(0);
    assert_eq!(cases, 1);
    test_db.finish().await;
}

async fn concurrent_registrations_get_gap_free_numbers(backend: Backend) {
    let (test_db, intake) = intake(backend).await;
    let tasks = (0..60).map(|i| {
        let intake = intake.clone();
        // Every fifth is a resubmission racing its original.
        let reference = if i % 5 == 4 {
            format!("JQ-{}", i - 4)
        } else {
            format!("JQ-{i}")
        };
        tokio::spawn(async move {
            intake
                .register("police-620802-dongguan", Some(police_dispute(&reference)))
                .await
        })
    });
    for r in futures::future::join_all(tasks).await {
        r.unwrap().unwrap();
    }
    let mut seqs: Vec<i64> = sqlx::query_scalar::<_, String>("SELECT case_no FROM cases")
        .fetch_all(test_db.db.pool())
        .await
        .unwrap()
        .iter()
        .map(|no| no.rsplit('-').next().unwrap().parse().unwrap())
        .collect();
    seqs.sort();
    assert_eq!(
        seqs,
        (1..=seqs.len() as i64).collect::<Vec<_>>(),
        "numbers 1..n with no gap"
    );
    test_db.finish().await;
}

async fn bad_input_names_every_field_and_stores_nothing(backend: Backend) {
    let (test_db, intake) = intake(backend).await;
    let mut d = police_dispute(" ");
    d.source = 0;
    d.location = None;
    d.parties[0].role = PartyRole::Respondent as i32;
    let Err(IntakeError::Invalid(violations)) = intake.register("police-1", Some(d)).await else {
        panic!("expected INVALID_ARGUMENT");
    };
    let fields: Vec<&str> = violations.iter().map(|v| v.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "dispute.source",
            "dispute.external_ref",
            "dispute.location.division_code",
            "dispute.parties"
        ]
    );
    let stored =
        sqlx::query("SELECT (SELECT COUNT(*) FROM cases) + (SELECT COUNT(*) FROM fq_outbox)")
            .fetch_one(test_db.db.pool())
            .await
            .unwrap()
            .get::<i64, _>(0);
    assert_eq!(stored, 0);
    test_db.finish().await;
}

async fn bad_identity_numbers_phones_and_places_are_named_and_never_echoed(backend: Backend) {
    let (test_db, intake) = intake(backend).await;
    let mut d = police_dispute("JQ-pd-1");
    d.parties[0].resident_id = "620802198002311234".into(); // 31 February
    d.parties[0].phone = "1381234567".into(); // a digit short
    d.location.as_mut().unwrap().division_code = "620802001999".into(); // no such village
    let Err(IntakeError::Invalid(violations)) = intake.register("police-1", Some(d)).await else {
        panic!("expected INVALID_ARGUMENT");
    };
    let fields: Vec<&str> = violations.iter().map(|v| v.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "dispute.location.division_code",
            "dispute.parties[0].resident_id",
            "dispute.parties[0].phone"
        ]
    );
    for v in &violations {
        for secret in ["620802198002311234", "1381234567", "620802001999"] {
            assert!(!v.description.contains(secret), "{} echoes input", v.field);
        }
    }
    let mut ok = police_dispute("JQ-pd-2");
    ok.parties[0].resident_id = "11010519491231002X".into();
    ok.parties[0].phone = "0933-8212345".into();
    assert!(intake.register("police-1", Some(ok)).await.unwrap().created);
    test_db.finish().await;
}

macro_rules! on_both_databases {
    ($($test:ident),*) => {
        mod sqlite { $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $test() { super::$test(fengqiao_platform::Backend::Sqlite).await; })* }
        mod postgres { $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $test() { super::$test(fengqiao_platform::Backend::Postgres).await; })* }
    };
}

on_both_databases!(
    registration_is_numbered_and_announced_once,
    concurrent_identical_submissions_create_one_case,
    concurrent_registrations_get_gap_free_numbers,
    bad_input_names_every_field_and_stores_nothing,
    bad_identity_numbers_phones_and_places_are_named_and_never_echoed
);
