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
    let mut tx = db.begin().await.unwrap();
    let status = CaseStatus { case_id: "case-a".into(), ..Default::default() };
    store::own_all(&mut tx, &[("police-1", &status, 0)]).await.unwrap();
    store::save(&mut tx, &[store::Change::to_agency("police-1", &status)], 0, store::Numbering::AfterCommit)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(store::number_new(db).await.unwrap(), 1);
    numbered.notify_waiters();

    tokio::time::timeout(Duration::from_secs(3), woken_1).await.expect("police-1's streams are woken");
    let other = tokio::time::timeout(Duration::from_millis(800), woken_2).await;
    assert!(other.is_err(), "police-2 has no news: its streams stay asleep");
    stop.cancel();
    test.finish().await;
}
