//! A lane's waiting events applied together leave the same statuses and the
//! same status log as the events applied one by one, on both engines.

use fengqiao_platform::bus::Envelope;
use fengqiao_platform::db::{Backend, Database};
use fengqiao_platform::testing::TestDatabase;
use fengqiao_proto::fengqiao::common::v1::{MediationOutcome, ReferralState};
use fengqiao_proto::fengqiao::events::v1::{MediationConcluded, ReferralRequested, ReferralStateChanged};
use fengqiao_proto::EventKind;
use prost::Message;
use sqlx::Row;

use super::*;

fn registered(case: &str, case_no: &str, agency: &str) -> Envelope {
    let e = CaseRegistered {
        case_id: case.into(),
        case_no: case_no.into(),
        source_agency: agency.into(),
        ..Default::default()
    };
    Envelope::new("intake", EventKind::CaseRegistered, &e)
}

fn requested(case: &str, referral: &str, org: &str) -> Envelope {
    let e = ReferralRequested {
        case_id: case.into(),
        referral_id: referral.into(),
        org_id: org.into(),
        ..Default::default()
    };
    Envelope::new("routing", EventKind::ReferralRequested, &e)
}

fn moved(case: &str, referral: &str, org: &str, kind: EventKind, from: ReferralState, to: ReferralState) -> Envelope {
    let e = ReferralStateChanged {
        case_id: case.into(),
        referral_id: referral.into(),
        org_id: org.into(),
        from_state: from as i32,
        to_state: to as i32,
        reason: format!("{from:?} -> {to:?}"),
        ..Default::default()
    };
    Envelope::new("routing", kind, &e)
}

fn concluded(case: &str, referral: &str, org: &str) -> Envelope {
    let e = MediationConcluded {
        case_id: case.into(),
        referral_id: referral.into(),
        org_id: org.into(),
        outcome: MediationOutcome::Agreement as i32,
        ..Default::default()
    };
    Envelope::new("mediation", EventKind::MediationConcluded, &e)
}

/// Four cases' events, interleaved, with the late and retried deliveries the
/// projection must see through. Referral ids sort as routing makes them.
fn story() -> Vec<Envelope> {
    use ReferralState::{Accepted, Received, Rejected, Requested};
    vec![
        registered("case-a", "A-1", "police-1"),
        registered("case-b", "A-2", "police-1"),
        // A court's case: no ownership row until its registration event.
        registered("case-c", "C-1", "court-1"),
        requested("case-a", "r-a1", "org-1"),
        requested("case-b", "r-b1", "org-1"),
        moved("case-a", "r-a1", "org-1", EventKind::ReferralReceived, Requested, Received),
        moved("case-b", "r-b1", "org-1", EventKind::ReferralRejected, Requested, Rejected),
        // Re-routed to org-2; then r-b1's request delivered again, late: stale.
        requested("case-b", "r-b2", "org-2"),
        requested("case-b", "r-b1", "org-1"),
        // case-c's move overtakes its request: the status follows r-c1 at once.
        moved("case-c", "r-c1", "org-2", EventKind::ReferralReceived, Requested, Received),
        requested("case-c", "r-c1", "org-2"),
        moved("case-a", "r-a1", "org-1", EventKind::ReferralAccepted, Received, Accepted),
        // A retried move already superseded, and a retried registration: nothing new.
        moved("case-a", "r-a1", "org-1", EventKind::ReferralReceived, Requested, Received),
        registered("case-a", "A-1", "police-1"),
        concluded("case-a", "r-a1", "org-1"),
        moved("case-b", "r-b2", "org-2", EventKind::ReferralReceived, Requested, Received),
    ]
}

async fn prepared(backend: Backend) -> TestDatabase {
    use fengqiao_platform::group_commit::Write;
    let test = crate::test_database(backend).await;
    // The police cases' submit calls recorded their owners, with their numbers.
    let mut conn = test.db.writer().acquire().await.unwrap();
    let owners = [("case-a", "A-1"), ("case-b", "A-2")].map(|(case, no)| store::Own {
        agency_id: "police-1".into(),
        status: CaseStatus { case_id: case.into(), case_no: no.into(), ..Default::default() },
        verification_code: format!("CODE-{no}"),
        at: 0,
    });
    let writes: Vec<&store::Own> = owners.iter().collect();
    store::Own::apply_all(&writes, &mut conn).await.unwrap();
    test
}

fn projection(backend: Backend) -> StatusProjection {
    StatusProjection::new(backend, Arc::new(Notify::new()), Arc::new(Notify::new()))
}

/// The statuses and every reader's numbered log, without the times they were written.
async fn outcome(db: &Database) -> (Vec<String>, Vec<(String, String)>) {
    while store::number_new(db).await.unwrap().count > 0 {}
    let statuses = sqlx::query(
        "SELECT case_id, agency_id, case_no, referral_state, org_id, outcome, reason, returned, referral_id
         FROM case_status ORDER BY case_id",
    )
    .fetch_all(db.pool())
    .await
    .unwrap()
    .iter()
    .map(|r| {
        let text = |c: &str| r.get::<String, _>(c);
        let number = |c: &str| r.get::<i32, _>(c);
        format!(
            "{} owner={} no={} state={} org={} outcome={} reason={} returned={} follows={}",
            text("case_id"),
            text("agency_id"),
            text("case_no"),
            number("referral_state"),
            text("org_id"),
            number("outcome"),
            text("reason"),
            number("returned"),
            text("referral_id"),
        )
    })
    .collect();
    let log = sqlx::query("SELECT agency_id, status FROM status_log ORDER BY seq")
        .fetch_all(db.pool())
        .await
        .unwrap()
        .iter()
        .map(|r| {
            let mut status = CaseStatus::decode(r.get::<Vec<u8>, _>("status").as_slice()).unwrap();
            status.updated_at = None;
            (r.get::<String, _>("agency_id"), format!("{status:?}"))
        })
        .collect();
    (statuses, log)
}

async fn a_batch_leaves_what_one_by_one_leaves(backend: Backend) {
    let events = story();
    let alone = prepared(backend).await;
    for event in &events {
        let mut tx = alone.db.begin().await.unwrap();
        projection(backend).handle(&mut tx, event).await.unwrap();
        tx.commit().await.unwrap();
    }
    let together = prepared(backend).await;
    let mut tx = together.db.begin().await.unwrap();
    let arrivals: Vec<Arrival> = events.iter().map(|event| Arrival { event, span: tracing::Span::none() }).collect();
    projection(backend).handle_all(&mut tx, &arrivals).await.unwrap();
    tx.commit().await.unwrap();

    let (statuses, log) = outcome(&together.db).await;
    assert_eq!(
        statuses,
        [
            "case-a owner=police-1 no=A-1 state=3 org=org-1 outcome=1 reason=Received -> Accepted returned=0 follows=r-a1",
            "case-b owner=police-1 no=A-2 state=2 org=org-2 outcome=0 reason=Requested -> Received returned=0 follows=r-b2",
            "case-c owner=court-1 no=C-1 state=2 org=org-2 outcome=0 reason=Requested -> Received returned=0 follows=r-c1",
        ]
    );
    let readers =
        |case: &str| log.iter().filter(|(_, s)| s.contains(case)).map(|(r, _)| r.as_str()).collect::<Vec<_>>();
    // case-a: registered, requested, received, accepted, concluded; its police station reads
    // each, org-1 each from the request on.
    assert_eq!(readers("\"case-a\"").iter().filter(|r| **r == "police-1").count(), 5);
    assert_eq!(readers("\"case-a\"").iter().filter(|r| **r == "org-1").count(), 4);
    // case-b: org-1 learns the case went to org-2.
    assert!(log.iter().any(|(r, s)| r == "org-1" && s.contains("\"case-b\"") && s.contains("\"org-2\"")));
    assert_eq!((statuses, log), outcome(&alone.db).await, "batched and one-by-one differ");
    alone.finish().await;
    together.finish().await;
}

#[tokio::test]
async fn on_sqlite_a_batch_of_status_events_leaves_what_one_by_one_leaves() {
    a_batch_leaves_what_one_by_one_leaves(Backend::Sqlite).await;
}

#[tokio::test]
async fn on_postgres_a_batch_of_status_events_leaves_what_one_by_one_leaves() {
    a_batch_leaves_what_one_by_one_leaves(Backend::Postgres).await;
}

/// After a crash a case's registration comes back only after the consumer's
/// ack wait, while its later events go on: a case its submit call owns is
/// recorded from its owner row, its progress applied, and the registration,
/// when it comes, changes nothing; a case nobody owns yet is refused (retried).
async fn progress_ahead_of_its_registration_is_applied_to_an_owned_case(backend: Backend) {
    let test = prepared(backend).await;
    let p = projection(backend);
    let mut tx = test.db.begin().await.unwrap();
    p.handle(&mut tx, &requested("case-a", "r-a1", "org-1")).await.unwrap();
    tx.commit().await.unwrap();
    let mut tx = test.db.begin().await.unwrap();
    p.handle(&mut tx, &registered("case-a", "A-1", "police-1")).await.unwrap();
    tx.commit().await.unwrap();
    let mut tx = test.db.begin().await.unwrap();
    let unowned = p.handle(&mut tx, &requested("case-x", "r-x1", "org-1")).await;
    assert!(unowned.is_err(), "a case with neither owner nor registration waits for its registration");
    tx.rollback().await.unwrap();

    let (statuses, log) = outcome(&test.db).await;
    assert_eq!(statuses, ["case-a owner=police-1 no=A-1 state=1 org=org-1 outcome=0 reason= returned=0 follows=r-a1"]);
    assert_eq!(log.iter().filter(|(r, _)| r == "police-1").count(), 1, "the late registration is no news: {log:?}");
    test.finish().await;
}

#[tokio::test]
async fn on_sqlite_progress_ahead_of_its_registration_is_applied_to_an_owned_case() {
    progress_ahead_of_its_registration_is_applied_to_an_owned_case(Backend::Sqlite).await;
}

#[tokio::test]
async fn on_postgres_progress_ahead_of_its_registration_is_applied_to_an_owned_case() {
    progress_ahead_of_its_registration_is_applied_to_an_owned_case(Backend::Postgres).await;
}

async fn count(db: &Database, sql: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string())).fetch_one(db.pool()).await.unwrap()
}

async fn apply_one_by_one(db: &Database, projection: &StatusProjection, events: &[Envelope]) {
    for event in events {
        let mut tx = db.begin().await.unwrap();
        projection.handle(&mut tx, event).await.unwrap();
        tx.commit().await.unwrap();
        projection.committed();
    }
}

/// Standalone numbers each change in the commit that writes it (no sequencer
/// round); changes an earlier version left waiting are numbered first, so
/// every log keeps its order and its numbers have no gap.
#[tokio::test]
async fn on_sqlite_changes_are_numbered_as_they_commit_after_those_left_waiting() {
    let events = story();
    let (earlier, later) = events.split_at(4);
    let upgraded = prepared(Backend::Sqlite).await;
    // An earlier version's gateway left its changes waiting for the sequencer.
    let before = StatusProjection::new(Backend::Postgres, Arc::new(Notify::new()), Arc::new(Notify::new()));
    apply_one_by_one(&upgraded.db, &before, earlier).await;
    let waiting = count(&upgraded.db, "SELECT COUNT(*) FROM status_pending").await;
    assert!(waiting > 0);
    assert_eq!(crate::projection::number_left_waiting(&upgraded.db).await.unwrap(), waiting as u64);
    let changed = Arc::new(Notify::new());
    let now = StatusProjection::new(Backend::Sqlite, Arc::new(Notify::new()), changed.clone());
    assert_eq!(now.numbering(), store::Numbering::AtCommit);
    let woken = changed.notified();
    apply_one_by_one(&upgraded.db, &now, later).await;
    tokio::time::timeout(std::time::Duration::from_secs(1), woken).await.expect("the log's readers are woken");
    assert_eq!(count(&upgraded.db, "SELECT COUNT(*) FROM status_pending").await, 0, "nothing waits for a sequencer");
    let seqs: Vec<i64> =
        sqlx::query_scalar("SELECT seq FROM status_log ORDER BY written").fetch_all(upgraded.db.pool()).await.unwrap();
    assert_eq!(seqs, (1..=seqs.len() as i64).collect::<Vec<_>>(), "numbered in the order written, without a gap");

    let fresh = prepared(Backend::Sqlite).await;
    apply_one_by_one(&fresh.db, &projection(Backend::Sqlite), &events).await;
    assert_eq!(outcome(&upgraded.db).await, outcome(&fresh.db).await, "the upgrade changed what readers see");
    upgraded.finish().await;
    fresh.finish().await;
}

/// Gateway replicas may apply events of one case side by side (PostgreSQL):
/// the second reads the status only once the first has committed its change.
#[tokio::test]
async fn on_postgres_an_event_of_a_case_waits_for_a_batch_holding_it() {
    let test = prepared(Backend::Postgres).await;
    apply_one_by_one(&test.db, &projection(Backend::Postgres), &[registered("case-a", "A-1", "police-1")]).await;
    let mut first = test.db.pool().begin().await.unwrap();
    store::statuses_for_change(&mut first, &BTreeSet::from(["case-a"])).await.unwrap();

    let db = test.db.clone();
    let second = tokio::spawn(async move {
        let mut tx = db.begin().await.unwrap();
        projection(Backend::Postgres).handle(&mut tx, &requested("case-a", "r-a1", "org-1")).await.unwrap();
        tx.commit().await.unwrap();
    });
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(!second.is_finished(), "the second applied its event while the first held the case");
    first.commit().await.unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(10), second).await.expect("it goes on").unwrap();
    test.finish().await;
}
