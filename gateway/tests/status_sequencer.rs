//! The status log's numbering: a change committed late is numbered after
//! every change numbered before it, so a reader holding a cursor never skips
//! it (PostgreSQL, where writers run side by side); the sequencer's rounds
//! gather the changes committed during their gap.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use fengqiao_gateway::store;
use fengqiao_gateway::watchers::Watchers;
use fengqiao_gateway::Gateway;
use fengqiao_platform::component::Component;
use fengqiao_platform::db::Backend;
use fengqiao_platform::testing::TestDatabase;
use fengqiao_proto::fengqiao::gateway::v1::CaseStatus;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

async fn write(tx: &mut sqlx::Transaction<'static, sqlx::Any>, case_id: &str) {
    let status = CaseStatus { case_id: case_id.into(), ..Default::default() };
    store::record_all(tx, &[("police-1", &status, 0)]).await.unwrap();
    store::save(tx, &[store::Change::to_agency("police-1", &status)], 0, store::Numbering::AfterCommit).await.unwrap();
}

#[tokio::test]
async fn a_change_committed_late_is_numbered_after_those_a_reader_has_seen() {
    let test = TestDatabase::new(Backend::Postgres, "gateway").await.unwrap();
    fengqiao_platform::migrate::run(&test.db, Gateway::MIGRATIONS).await.unwrap();
    let db = &test.db;

    // A writes first but commits last; B commits in between.
    let mut a = db.pool().begin().await.unwrap();
    write(&mut a, "case-a").await;
    let mut b = db.pool().begin().await.unwrap();
    write(&mut b, "case-b").await;
    b.commit().await.unwrap();

    // Only what is committed gets a number; the reader moves its cursor past it.
    assert_eq!(store::number_new(db).await.unwrap().count, 1);
    let mut conn = db.pool().acquire().await.unwrap();
    let seen = store::log_after(&mut conn, "police-1", 0, 100).await.unwrap();
    assert_eq!(seen.iter().map(|(_, s)| s.case_id.as_str()).collect::<Vec<_>>(), ["case-b"]);
    let cursor = seen[0].0;

    // A commits late: numbered after the cursor, so the reader still gets it.
    a.commit().await.unwrap();
    assert_eq!(store::number_new(db).await.unwrap().count, 1);
    let next = store::log_after(&mut conn, "police-1", cursor, 100).await.unwrap();
    assert_eq!(next.iter().map(|(_, s)| s.case_id.as_str()).collect::<Vec<_>>(), ["case-a"]);
    assert!(next[0].0 > cursor);
    assert_eq!(store::number_new(db).await.unwrap().count, 0, "nothing left to number");
    drop(conn);
    test.finish().await;
}

/// During a rolling upgrade a gateway from before `status_pending` still writes
/// its changes into the log unnumbered: the sequencer numbers those where they
/// are, then moves the waiting ones after them, and none is numbered twice.
async fn changes_written_either_way_are_numbered_once(backend: Backend) {
    let test = TestDatabase::new(backend, "gateway").await.unwrap();
    fengqiao_platform::migrate::run(&test.db, Gateway::MIGRATIONS).await.unwrap();
    let db = &test.db;
    let old = CaseStatus { case_id: "case-old".into(), ..Default::default() };
    sqlx::query("INSERT INTO status_log (case_id, status, created_at, agency_id) VALUES ($1, $2, 0, 'police-1')")
        .bind("case-old")
        .bind(prost::Message::encode_to_vec(&old))
        .execute(db.writer())
        .await
        .unwrap();
    // Three waiting: the statements' lists are padded to four with a repeat.
    let mut tx = db.begin().await.unwrap();
    for case in ["case-new-1", "case-new-2", "case-new-3"] {
        write(&mut tx, case).await;
    }
    tx.commit().await.unwrap();

    let numbered = store::number_new(db).await.unwrap();
    assert_eq!((numbered.count, numbered.agencies), (4, vec!["police-1".to_string()]), "four changes, one agency");
    assert_eq!(store::number_new(db).await.unwrap().count, 0, "nothing left to number");
    let waiting: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM status_pending").fetch_one(db.pool()).await.unwrap();
    assert_eq!(waiting, 0, "a numbered change still waits");
    let mut conn = db.pool().acquire().await.unwrap();
    let seen = store::log_after(&mut conn, "police-1", 0, 100).await.unwrap();
    let numbers: Vec<i64> = seen.iter().map(|(n, _)| *n).collect();
    assert_eq!(numbers, [1, 2, 3, 4]);
    assert_eq!(
        seen.iter().map(|(_, s)| s.case_id.as_str()).collect::<Vec<_>>(),
        ["case-old", "case-new-1", "case-new-2", "case-new-3"]
    );
    drop(conn);
    test.finish().await;
}

#[tokio::test]
async fn changes_written_either_way_are_numbered_once_on_postgres() {
    changes_written_either_way_are_numbered_once(Backend::Postgres).await;
}

#[tokio::test]
async fn changes_written_either_way_are_numbered_once_on_sqlite() {
    changes_written_either_way_are_numbered_once(Backend::Sqlite).await;
}

/// After a round the sequencer waits out its gap: the changes committed
/// meanwhile are numbered together in the next round, not a round each.
#[tokio::test]
async fn changes_committed_within_the_round_gap_share_the_next_round() {
    let test = TestDatabase::new(Backend::Postgres, "gateway").await.unwrap();
    fengqiao_platform::migrate::run(&test.db, Gateway::MIGRATIONS).await.unwrap();
    let db = &test.db;
    let (written, changed, stop) = (Arc::new(Notify::new()), Arc::new(Notify::new()), CancellationToken::new());
    // Each round that numbers something rings `changed` once; the gap keeps rings far apart.
    let rounds = Arc::new(AtomicUsize::new(0));
    tokio::spawn({
        let (changed, rounds, stop) = (changed.clone(), rounds.clone(), stop.clone());
        async move {
            loop {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = changed.notified() => rounds.fetch_add(1, Ordering::SeqCst),
                };
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let gap = Duration::from_millis(1500);
    let watchers = Arc::new(Watchers::default());
    tokio::spawn(fengqiao_gateway::number_changes(db.clone(), written.clone(), changed, watchers, gap, stop.clone()));

    commit(db, "case-a", &written).await;
    rounds_reach(&rounds, 1).await;
    assert_eq!(numbered(db).await, 1);

    commit(db, "case-b", &written).await;
    commit(db, "case-c", &written).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rounds.load(Ordering::SeqCst), 1, "the next round waits out the gap");
    assert_eq!(numbered(db).await, 1);

    rounds_reach(&rounds, 2).await;
    assert_eq!(numbered(db).await, 3, "both changes numbered in the one round after the gap");
    assert_eq!(rounds.load(Ordering::SeqCst), 2);
    stop.cancel();
    test.finish().await;
}

/// A change of police-1's `case_id` committed, and the sequencer told.
async fn commit(db: &fengqiao_platform::Database, case_id: &str, written: &Notify) {
    let mut tx = db.pool().begin().await.unwrap();
    write(&mut tx, case_id).await;
    tx.commit().await.unwrap();
    written.notify_one();
}

/// How many of police-1's changes are numbered.
async fn numbered(db: &fengqiao_platform::Database) -> usize {
    let mut conn = db.pool().acquire().await.unwrap();
    store::log_after(&mut conn, "police-1", 0, 100).await.unwrap().len()
}

/// Waits (up to 5 s) until `rounds` numbering rounds have run.
async fn rounds_reach(rounds: &AtomicUsize, n: usize) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while rounds.load(Ordering::SeqCst) < n {
        assert!(tokio::time::Instant::now() < deadline, "round {n} never came");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
