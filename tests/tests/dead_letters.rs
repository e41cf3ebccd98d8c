//! A poison event (a payload no handler can read) is parked after its last
//! delivery without holding up the events behind it; the operator sees it in
//! metrics, on the supervisors' alarm board and in `fengqiao dlq list|show`,
//! and a replay of an unfixed event leaves it parked.

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use fengqiao_platform::bus::{Envelope, EventBus, NatsBus};
use fengqiao_proto::fengqiao::common::v1::{ReferralState, Source};
use fengqiao_proto::fengqiao::supervision::v1::supervision_service_client::SupervisionServiceClient;
use fengqiao_proto::fengqiao::supervision::v1::ListAlarmsRequest;
use fengqiao_tests::scenario::*;
use fengqiao_tests::system::{Mode, System};
use fengqiao_tests::METRICS_ON;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_event_is_parked_shown_and_does_not_block_the_next_case() {
    let system =
        System::start_with(Mode::Distributed, &[METRICS_ON, ("FENGQIAO_BUS__MAX_DELIVERIES", "2")]).await.unwrap();
    let bus = NatsBus::connect(&system.bus_settings()).await.unwrap();
    let poison = Envelope {
        id: uuid::Uuid::now_v7().to_string(),
        source: "fengqiao/test".into(),
        event_type: "fq.v1.case.registered".into(),
        time_micros: fengqiao_platform::db::now_micros(),
        case_id: uuid::Uuid::now_v7().to_string(),
        traceparent: None,
        payload: b"\xff\xff\xff not protobuf".to_vec().into(),
    };
    bus.publish(&poison).await.unwrap().await.unwrap();

    // The next case goes through while the poison is retried and parked.
    let police = AgencySession::connect(&system, POLICE).await;
    let case_id = police.submit(dispute(Source::Police, "JQ620802-2026-0800")).await.unwrap().status.unwrap().case_id;
    police.wait_for(&case_id, "RECEIVED", in_state(ReferralState::Received)).await;

    // Parked in routing's record, listed by id.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = system.cli(&["dlq", "list", "--component", "routing"]);
        if String::from_utf8_lossy(&out.stdout).contains(&poison.id) {
            break;
        }
        assert!(Instant::now() < deadline, "not parked: {}", String::from_utf8_lossy(&out.stdout));
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    // It raises a DEAD_LETTER alarm on the supervisors' board, naming the consumer and the event.
    let channel = fengqiao_tests::channel(system.addr("routing")).await.unwrap();
    let supervision = SupervisionServiceClient::new(channel);
    let alarm = fengqiao_platform::testing::eventually(Duration::from_secs(30), || {
        let mut client = supervision.clone();
        let request =
            ListAlarmsRequest { kind: "DEAD_LETTER".into(), case_id: poison.case_id.clone(), ..Default::default() };
        let id = poison.id.clone();
        async move {
            let alarms = client.list_alarms(request).await.map(|r| r.into_inner().alarms).unwrap_or_default();
            alarms.iter().any(|a| a.subject_id.contains(&id) && a.cleared_at.is_none())
        }
    })
    .await;
    assert!(alarm, "a parked event raises an open DEAD_LETTER alarm for its case");

    // Shown in full, its payload only into a private file.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("poison.bin");
    let out =
        system.cli(&["dlq", "show", &poison.id, "--component", "routing", "--payload-to", file.to_str().unwrap()]);
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for said in ["fq.v1.case.registered", "fengqiao/test", "attempts:    2", &poison.case_id] {
        assert!(shown.contains(said), "{said}: {shown}");
    }
    assert_eq!(std::fs::read(&file).unwrap(), poison.payload.to_vec());
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    let unknown = system.cli(&["dlq", "show", "no-such-event"]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("fengqiao dlq list"));

    // The dead-letter gauge says so (sampled every 10 s).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = system.scrape("routing").await.unwrap();
        let parked = text
            .lines()
            .find(|l| l.starts_with("fengqiao_dead_letters{"))
            .and_then(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok());
        if parked.is_some_and(|n| n >= 1.0) {
            break;
        }
        assert!(Instant::now() < deadline, "dead-letter gauge: {parked:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // Replayed before a fix, it fails again and stays parked.
    let out = system.cli(&["dlq", "replay", "--component", "routing", "--event-id", &poison.id]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = system.cli(&["dlq", "list", "--component", "routing"]);
        let listed = String::from_utf8_lossy(&out.stdout).to_string();
        let line = listed.lines().find(|l| l.contains(&poison.id)).unwrap_or_default().to_string();
        if line.contains("parked") && !line.contains("requested") {
            break;
        }
        assert!(Instant::now() < deadline, "after the replay: {listed}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    system.finish().await;
}
