//! WatchStatus streams are woken by agency: a numbered change rings the bell
//! of its agency's streams and leaves every other agency's asleep
//! (PostgreSQL, through the status log).

use std::sync::Arc;
use std::time::Duration;

use fengqiao_gateway::watchers::Watchers;
use fengqiao_gateway::{store, Gateway};
use fengqiao_platform::component::Component;
use fengqiao_platform::db::Backend;
use fengqiao_platform::testing::TestDatabase;
use fengqiao_proto::fengqiao::gateway::v1::CaseStatus;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn a_numbered_change_wakes_only_its_agencys_streams() {
    let test = TestDatabase::new(Backend::Postgres, "gateway").await.unwrap();
    fengqiao_platform::migrate::run(&test.db, Gateway::MIGRATIONS).await.unwrap();
    let db = &test.db;
    let (watchers, numbered, stop) = (Arc::new(Watchers::default()), Arc::new(Notify::new()), CancellationToken::new());
    tokio::spawn(watchers.clone().follow(db.clone(), numbered.clone(), stop.clone()));
    // Its first look finds where the log stands.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let (police_1, police_2) = (watchers.bell("police-1"), watchers.bell("police-2"));
    let (woken_1, woken_2) = (police_1.notified(), police_2.notified());
    commit_a_change_for_police_1(db).await;
    assert_eq!(store::number_new(db).await.unwrap().count, 1);
    numbered.notify_waiters();

    only_police_1_is_woken(woken_1, woken_2).await;
    stop.cancel();
    test.finish().await;
}

/// Where changes are numbered after commit, the sequencer rings the streams of
/// the agencies it numbered for itself: no look at the log is needed to wake
/// them (the watchers' own look is not running here).
#[tokio::test]
async fn the_sequencer_wakes_the_streams_of_the_agencies_it_numbered() {
    let test = TestDatabase::new(Backend::Postgres, "gateway").await.unwrap();
    fengqiao_platform::migrate::run(&test.db, Gateway::MIGRATIONS).await.unwrap();
    let db = &test.db;
    let watchers = Arc::new(Watchers::default());
    let (written, changed, stop) = (Arc::new(Notify::new()), Arc::new(Notify::new()), CancellationToken::new());
    let gap = Duration::from_millis(20);
    let sequencer =
        fengqiao_gateway::number_changes(db.clone(), written.clone(), changed, watchers.clone(), gap, stop.clone());
    tokio::spawn(sequencer);

    let (police_1, police_2) = (watchers.bell("police-1"), watchers.bell("police-2"));
    let (woken_1, woken_2) = (police_1.notified(), police_2.notified());
    commit_a_change_for_police_1(db).await;
    written.notify_one();

    only_police_1_is_woken(woken_1, woken_2).await;
    stop.cancel();
    test.finish().await;
}

/// A status change for police-1's case, left for numbering after commit.
async fn commit_a_change_for_police_1(db: &fengqiao_platform::Database) {
    let mut tx = db.begin().await.unwrap();
    let status = CaseStatus { case_id: "case-a".into(), ..Default::default() };
    store::record_all(&mut tx, &[("police-1", &status, 0)]).await.unwrap();
    store::save(&mut tx, &[store::Change::to_agency("police-1", &status)], 0, store::Numbering::AfterCommit)
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

/// police-1's streams are woken and police-2's stay asleep.
async fn only_police_1_is_woken(
    woken_1: impl std::future::Future<Output = ()>,
    woken_2: impl std::future::Future<Output = ()>,
) {
    tokio::time::timeout(Duration::from_secs(3), woken_1).await.expect("police-1's streams are woken");
    let other = tokio::time::timeout(Duration::from_millis(800), woken_2).await;
    assert!(other.is_err(), "police-2 has no news: its streams stay asleep");
}
