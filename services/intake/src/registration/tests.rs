use std::sync::Arc;

use fengqiao_platform::component::{Component, PLATFORM_MIGRATIONS};
use fengqiao_platform::config::IntakeRules;
use fengqiao_platform::testing::TestDatabase;
use fengqiao_platform::Backend;
use fengqiao_proto::fengqiao::common::v1::{Category, Dispute, Location, Source};
use fengqiao_proto::fengqiao::intake::v1::{Case, CaseLink, LinkKind};
use sqlx::Row;

use super::{write_all, Registration, Written};
use crate::store::{self, StoredParty};

const YEAR: i32 = 2026;

/// A registration by `police-1` under `reference` of one party known by `hash` (or nobody known).
fn registration(reference: &str, hash: Option<&str>) -> Registration {
    let case_id = uuid::Uuid::now_v7().to_string();
    let party =
        StoredParty {
            role: 1, name: "张三".into(), resident_id_hash: hash.map(str::to_string), ..Default::default()
        };
    Registration {
        case: Case {
            case_no: format!("pending-{case_id}"),
            case_id,
            source_agency: "police-1".into(),
            dispute: Some(Dispute {
                source: Source::Police as i32,
                external_ref: reference.into(),
                category: Category::Neighbourhood as i32,
                location: Some(Location { division_code: "620802001001".into(), ..Default::default() }),
                ..Default::default()
            }),
            ..Default::default()
        },
        protected: vec![party],
        hashes: hash.map(str::to_string).into_iter().collect(),
        county: "620802".into(),
        year: YEAR,
        registered_at: fengqiao_platform::db::now_micros(),
        rules: Arc::new(IntakeRules::default()),
        traceparent: None,
    }
}

async fn count(t: &TestDatabase, sql: &str) -> i64 {
    sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_one(t.db.pool()).await.unwrap().get::<i64, _>(0)
}

/// A batch sharing one transaction is written as its registrations one after
/// another would be: a reference registered earlier in the batch is taken, a
/// party seen earlier in the batch is linked, numbers follow the batch's order,
/// and each event goes on in the trace of the call that registered its case.
async fn a_batch_is_written_as_if_one_registration_after_another(backend: Backend) {
    let t = TestDatabase::new(backend, "intake_batch").await.unwrap();
    let mut all = PLATFORM_MIGRATIONS.to_vec();
    all.extend_from_slice(crate::Intake::MIGRATIONS);
    fengqiao_platform::migrate::run(&t.db, &all).await.unwrap();
    if backend == Backend::Postgres {
        store::ensure_sequence(t.db.writer(), "620802", YEAR).await.unwrap();
    }
    let mut batch = [
        registration("R-0", Some("party-p")),
        registration("R-1", Some("party-q")),
        registration("R-0", Some("party-x")),
        registration("R-3", Some("party-p")),
        registration("R-4", None),
    ];
    const CALL: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    batch[1].traceparent = Some(CALL.into());
    let writes: Vec<&Registration> = batch.iter().collect();
    let mut tx = t.db.begin().await.unwrap();
    let written = write_all(&writes, &mut tx).await.unwrap();
    tx.commit().await.unwrap();

    let created: Vec<Option<&Case>> = written
        .iter()
        .map(|w| match w {
            Written::Created(case) => Some(case.as_ref()),
            Written::Taken => None,
        })
        .collect();
    assert!(created[2].is_none(), "R-0 again, earlier in the same batch, is taken");
    let numbers: Vec<&str> = created.iter().flatten().map(|c| c.case_no.as_str()).collect();
    assert_eq!(numbers, ["620802-2026-000001", "620802-2026-000002", "620802-2026-000003", "620802-2026-000004"]);
    let linked: Vec<Vec<&str>> =
        created.iter().flatten().map(|c| c.links.iter().map(|l| l.related_case_id.as_str()).collect()).collect();
    let first = batch[0].case.case_id.as_str();
    assert_eq!(linked, [vec![], vec![], vec![first], vec![]], "R-3 is linked to R-0, written before it in the batch");
    let traced: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT case_id, traceparent FROM fq_outbox WHERE traceparent IS NOT NULL")
            .fetch_all(t.db.pool())
            .await
            .unwrap();
    assert_eq!(traced, [(batch[1].case.case_id.clone(), Some(CALL.to_string()))], "R-1's event in R-1's trace alone");
    for (case, sql) in [
        (4, "SELECT COUNT(*) FROM cases WHERE case_no NOT LIKE 'pending-%'"),
        (4, "SELECT COUNT(*) FROM parties"),
        (1, "SELECT COUNT(*) FROM case_links"),
        (4, "SELECT COUNT(*) FROM fq_outbox WHERE event_type = 'fq.v1.case.registered'"),
        (0, "SELECT COUNT(*) FROM parties WHERE resident_id_hash = 'party-x'"),
    ] {
        assert_eq!(count(&t, sql).await, case, "{sql}");
    }

    // A later batch: R-1 again is taken and takes no number; R-5 gets the next one.
    let later = [registration("R-1", None), registration("R-5", None)];
    let writes: Vec<&Registration> = later.iter().collect();
    let mut tx = t.db.begin().await.unwrap();
    let written = write_all(&writes, &mut tx).await.unwrap();
    tx.commit().await.unwrap();
    assert!(matches!(written[0], Written::Taken), "R-1 was registered before");
    let Written::Created(case) = &written[1] else { panic!("R-5 is new") };
    assert_eq!(case.case_no, "620802-2026-000005", "no number went to the resubmission");
    assert_eq!(count(&t, "SELECT COUNT(*) FROM cases").await, 5, "no row but the new cases'");
    if backend == Backend::Postgres {
        // Each case row written once, with its number: never rewritten (a new version of a
        // row and of its four index entries each time).
        let stats = "SELECT n_tup_ins, n_tup_upd FROM pg_stat_user_tables WHERE relname = 'cases'";
        let counted = async {
            loop {
                let (inserted, updated): (i64, i64) = sqlx::query_as(stats).fetch_one(t.db.pool()).await.unwrap();
                if inserted >= 5 {
                    return updated;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        };
        let updated = tokio::time::timeout(std::time::Duration::from_secs(30), counted).await.expect("counted");
        assert_eq!(updated, 0, "case rows updated after their insert");
    }
    t.finish().await;
}

#[tokio::test]
async fn on_sqlite_a_batch_is_written_as_if_one_registration_after_another() {
    a_batch_is_written_as_if_one_registration_after_another(Backend::Sqlite).await;
}

#[tokio::test]
async fn on_postgres_a_batch_is_written_as_if_one_registration_after_another() {
    a_batch_is_written_as_if_one_registration_after_another(Backend::Postgres).await;
}

/// Writes `registrations` in one transaction; returns the cases created.
async fn write(t: &TestDatabase, registrations: &[Registration]) -> Vec<Case> {
    let writes: Vec<&Registration> = registrations.iter().collect();
    let mut tx = t.db.begin().await.unwrap();
    let written = write_all(&writes, &mut tx).await.unwrap();
    tx.commit().await.unwrap();
    written
        .into_iter()
        .map(|w| match w {
            Written::Created(case) => *case,
            Written::Taken => panic!("every reference is new"),
        })
        .collect()
}

/// Each new case of a run finds its own party's earlier cases, as it would
/// alone: within the window, in the same place or of the same kind of
/// dispute, the 20 oldest — though the run looks them up together.
async fn each_case_of_a_run_finds_its_own_partys_earlier_cases(backend: Backend) {
    let t = TestDatabase::new(backend, "intake_related").await.unwrap();
    let mut all = PLATFORM_MIGRATIONS.to_vec();
    all.extend_from_slice(crate::Intake::MIGRATIONS);
    fengqiao_platform::migrate::run(&t.db, &all).await.unwrap();
    if backend == Backend::Postgres {
        store::ensure_sequence(t.db.writer(), "620802", YEAR).await.unwrap();
    }
    const DAY: i64 = 86_400_000_000;
    let now = fengqiao_platform::db::now_micros();
    // An earlier case of `hash`, `days` ago, at `village` and of `category`.
    let earlier = |n: usize, hash: &str, days: i64, village: &str, category: Category| {
        let mut r = registration(&format!("E-{hash}-{n}"), Some(hash));
        r.registered_at = now - days * DAY + n as i64;
        let d = r.case.dispute.as_mut().unwrap();
        d.location.as_mut().unwrap().division_code = village.into();
        d.category = category as i32;
        r
    };
    const HERE: &str = "620802001001";
    const ELSEWHERE: &str = "620802002001";
    let mut history = vec![
        earlier(0, "p", 40, HERE, Category::Neighbourhood), // outside the 30 days
        earlier(1, "p", 10, HERE, Category::Labour),        // the same place
        earlier(2, "q", 10, ELSEWHERE, Category::Labour),   // neither place nor kind
        earlier(3, "q", 9, ELSEWHERE, Category::Neighbourhood), // the same kind
        earlier(4, "p", 8, ELSEWHERE, Category::Neighbourhood), // the same kind
    ];
    history.extend((0..25).map(|n| earlier(100 + n, "r", 20 - n as i64 / 2, HERE, Category::Neighbourhood)));
    // One transaction a case, oldest first, as they came.
    let mut ids = Vec::new();
    for r in history {
        ids.push(write(&t, &[r]).await.remove(0).case_id);
    }

    let links_before = count(&t, "SELECT COUNT(*) FROM case_links").await;
    let batch = [
        registration("N-p", Some("p")),
        registration("N-none", None),
        registration("N-q", Some("q")),
        registration("N-r", Some("r")),
        registration("N-s", Some("s")),
    ];
    let created = write(&t, &batch).await;
    let linked = |c: &Case| -> Vec<(String, bool)> {
        c.links.iter().map(|l| (l.related_case_id.clone(), l.reason.ends_with("the same place"))).collect()
    };
    let expected: [Vec<(String, bool)>; 5] = [
        vec![(ids[1].clone(), true), (ids[4].clone(), false)],
        vec![],
        vec![(ids[3].clone(), false)],
        ids[5..25].iter().map(|id| (id.clone(), true)).collect(),
        vec![],
    ];
    for (case, expected) in created.iter().zip(expected) {
        assert_eq!(linked(case), expected, "{}", case.dispute.as_ref().unwrap().external_ref);
    }
    assert_eq!(created[0].links[0].kind, LinkKind::Reflow as i32, "police after police");
    let stored = count(&t, "SELECT COUNT(*) FROM case_links").await - links_before;
    assert_eq!(stored, 23, "the links stored are those answered");
    // Stored as answered (the run's links go in together), each at its case's registration.
    let mut conn = t.db.pool().acquire().await.unwrap();
    let new_ids: Vec<String> = created.iter().map(|c| c.case_id.clone()).collect();
    let key = |l: &CaseLink| (l.case_id.clone(), l.related_case_id.clone(), l.kind, l.reason.clone());
    let mut kept: Vec<_> = crate::links::among(&mut conn, &new_ids).await.unwrap().iter().map(key).collect();
    let mut answered: Vec<_> = created.iter().flat_map(|c| c.links.iter().map(key)).collect();
    kept.sort();
    answered.sort();
    assert_eq!(kept, answered);
    for (case, r) in created.iter().zip(&batch) {
        let sql = format!(
            "SELECT COUNT(*) FROM case_links WHERE case_id = '{}' AND created_at = {}",
            case.case_id, r.registered_at
        );
        assert_eq!(count(&t, &sql).await, case.links.len() as i64, "{}", r.case.case_id);
    }
    drop(conn);
    t.finish().await;
}

#[tokio::test]
async fn on_sqlite_each_case_of_a_run_finds_its_own_partys_earlier_cases() {
    each_case_of_a_run_finds_its_own_partys_earlier_cases(Backend::Sqlite).await;
}

#[tokio::test]
async fn on_postgres_each_case_of_a_run_finds_its_own_partys_earlier_cases() {
    each_case_of_a_run_finds_its_own_partys_earlier_cases(Backend::Postgres).await;
}

#[test]
fn a_run_ends_before_the_first_registration_sharing_a_party_with_one_before_it() {
    let r = |hash: Option<&str>| registration("R", hash);
    let batch = [r(Some("a")), r(None), r(Some("b")), r(Some("a")), r(Some("c"))];
    let writes: Vec<&Registration> = batch.iter().collect();
    assert_eq!(super::unrelated_run(&writes), 3);
    assert_eq!(super::unrelated_run(&writes[3..]), 2);
    assert_eq!(super::unrelated_run(&writes[..1]), 1);
}
