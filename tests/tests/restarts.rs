//! The servers fengqiao depends on restart under load: the system recovers by
//! itself and nothing accepted is lost or repeated.

use std::time::Duration;

use fengqiao_tests::nats::OwnNats;
use fengqiao_tests::reconcile::{assert_steps_forward_and_concluded_once, reconcile};
use fengqiao_tests::scenario::{AgencySession, POLICE};
use fengqiao_tests::system::{Mode, System};
use fengqiao_tests::workload::Workload;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nats_killed_and_restarted_twice_under_load_loses_and_repeats_nothing() {
    let mut nats = OwnNats::start().unwrap();
    let url = nats.url();
    let system = System::start_with(
        Mode::Distributed,
        &[
            ("FENGQIAO_BUS__NATS_URL", &url),
            ("FENGQIAO_BUS__ACK_WAIT_SECS", "2"),
            ("FENGQIAO_BUS__RETRY_BACKOFF_MAX_MS", "1000"),
        ],
    )
    .await
    .unwrap();
    let mut workload = Workload::start(&system, "NATS-RESTART", 2).await;
    for _ in 0..2 {
        tokio::time::sleep(Duration::from_secs(3)).await;
        nats.stop();
        tokio::time::sleep(Duration::from_secs(2)).await;
        nats.resume().unwrap();
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let cases: Vec<String> = workload.stop_submitting().await.into_values().collect();
    workload.finish(&system, &cases, Duration::from_secs(120)).await;

    let r = reconcile(&system.database_url().unwrap(), &cases).await;
    println!("nats restarts: {r:?}");
    assert!(!cases.is_empty());
    assert_eq!((r.lost, r.duplicated, r.unasked), (0, 0, 0), "{:#?}", r.details);
    let police = AgencySession::connect(&system, POLICE).await;
    let changes = police.watch("", 7 * cases.len(), Duration::from_secs(30)).await;
    assert_steps_forward_and_concluded_once(&changes, &cases);
    system.finish().await;
}
