//! The servers fengqiao depends on restart under load: the system recovers by
//! itself and nothing accepted is lost or repeated.

use std::time::Duration;

use fengqiao_tests::nats::OwnNats;
use fengqiao_tests::postgres::OwnPostgres;
use fengqiao_tests::reconcile::{assert_steps_forward_and_concluded_once, reconcile};
use fengqiao_tests::scenario::{AgencySession, POLICE};
use fengqiao_tests::system::{Mode, System};
use fengqiao_tests::workload::Workload;

/// Settings that make a killed consumer's events come back quickly.
const QUICK_REDELIVERY: [(&str, &str); 2] =
    [("FENGQIAO_BUS__ACK_WAIT_SECS", "2"), ("FENGQIAO_BUS__RETRY_BACKOFF_MAX_MS", "1000")];

/// Runs the workload through two outages (`outage(true)` takes the server
/// down, `outage(false)` brings it back), then checks that every case reached
/// its outcome once, counted in the database at `db_url`.
async fn two_outages_under_load_lose_and_repeat_nothing(
    system: System,
    label: &str,
    db_url: &str,
    mut outage: impl FnMut(bool),
) {
    let mut workload = Workload::start(&system, label, 2).await;
    for _ in 0..2 {
        tokio::time::sleep(Duration::from_secs(3)).await;
        outage(true);
        tokio::time::sleep(Duration::from_secs(2)).await;
        outage(false);
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let cases: Vec<String> = workload.stop_submitting().await.into_values().collect();
    workload.finish(&system, &cases, Duration::from_secs(120)).await;

    let r = reconcile(db_url, &cases).await;
    println!("{label}: {r:?}");
    assert!(!cases.is_empty());
    assert_eq!((r.lost, r.duplicated, r.unasked), (0, 0, 0), "{:#?}", r.details);
    let police = AgencySession::connect(&system, POLICE).await;
    let changes = police.watch("", 7 * cases.len(), Duration::from_secs(30)).await;
    assert_steps_forward_and_concluded_once(&changes, &cases);
    system.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nats_killed_and_restarted_twice_under_load_loses_and_repeats_nothing() {
    let mut nats = OwnNats::start().unwrap();
    let url = nats.url();
    let [a, b] = QUICK_REDELIVERY;
    let system = System::start_with(Mode::Distributed, &[("FENGQIAO_BUS__NATS_URL", &url), a, b]).await.unwrap();
    let db_url = system.database_url().unwrap();
    two_outages_under_load_lose_and_repeat_nothing(system, "NATS-RESTART", &db_url, |down| {
        if down {
            nats.stop();
        } else {
            nats.resume().unwrap();
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_crashed_and_restarted_twice_under_load_loses_and_repeats_nothing() {
    let mut pg = OwnPostgres::start().unwrap();
    let url = pg.url();
    let [a, b] = QUICK_REDELIVERY;
    let system = System::start_with(Mode::Distributed, &[("FENGQIAO_DATABASE__URL", &url), a, b]).await.unwrap();
    // Immediate shutdown: no checkpoint, every connection cut; the restart replays the WAL.
    two_outages_under_load_lose_and_repeat_nothing(system, "PG-RESTART", &url, |down| {
        if down {
            pg.crash().unwrap();
        } else {
            pg.resume().unwrap();
        }
    })
    .await;
}
