//! Timers through real processes on PostgreSQL and NATS: a due clock fires
//! exactly once, within a second of due, when routing runs as two replicas
//! and when routing was down at the moment it fell due.

use std::time::Duration;

use fengqiao_proto::fengqiao::common::v1::Source;
use fengqiao_proto::fengqiao::routing::v1::routing_service_client::RoutingServiceClient;
use fengqiao_proto::fengqiao::routing::v1::{Clock, ClockState, ListCaseClocksRequest};
use fengqiao_proto::fengqiao::supervision::v1::supervision_service_client::SupervisionServiceClient;
use fengqiao_proto::fengqiao::supervision::v1::ListAlarmsRequest;
use fengqiao_tests::scenario::*;
use fengqiao_tests::system::{Mode, System};

/// Risk-response clocks of a few seconds, so the test sees them fall due.
const FAST_RISK_CLOCKS: [(&str, &str); 4] = [
    ("FENGQIAO_CLOCKS__RISK_RED", "seconds:4"),
    ("FENGQIAO_CLOCKS__RISK_ORANGE", "seconds:4"),
    ("FENGQIAO_CLOCKS__RISK_YELLOW", "seconds:4"),
    ("FENGQIAO_CLOCKS__RISK_BLUE", "seconds:4"),
];

async fn risk_clock(system: &System, case_id: &str) -> Option<Clock> {
    let channel = fengqiao_tests::channel(system.addr("routing")).await.ok()?;
    let clocks = RoutingServiceClient::new(channel)
        .list_case_clocks(ListCaseClocksRequest { case_id: case_id.into() })
        .await
        .ok()?
        .into_inner()
        .clocks;
    clocks.into_iter().find(|c| c.kind == "RISK_RESPONSE")
}

/// Waits until every case's risk clock is breached; returns the clocks.
async fn breached(system: &System, cases: &[String]) -> Vec<Clock> {
    let mut done = Vec::new();
    for case in cases {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            match risk_clock(system, case).await {
                Some(c) if c.state == ClockState::Breached as i32 => {
                    done.push(c);
                    break;
                }
                other => assert!(tokio::time::Instant::now() < deadline, "case {case}: clock {other:?} not breached"),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    done
}

async fn breach_events(system: &System) -> i64 {
    let pool = sqlx::PgPool::connect(&system.database_url().unwrap()).await.unwrap();
    let n = sqlx::query_scalar("SELECT COUNT(*) FROM routing.fq_outbox WHERE event_type = 'fq.v1.clock.breached'")
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    n
}

async fn overdue_alarms(system: &System) -> usize {
    let channel = fengqiao_tests::channel(system.addr("routing")).await.unwrap();
    let request =
        ListAlarmsRequest { kind: "OVERDUE".into(), include_cleared: true, page_size: 1000, ..Default::default() };
    SupervisionServiceClient::new(channel).list_alarms(request).await.unwrap().into_inner().alarms.len()
}

async fn submit(police: &AgencySession, prefix: &str, n: usize) -> Vec<String> {
    let mut cases = Vec::new();
    for i in 0..n {
        let response = police.submit(dispute(Source::Police, &format!("JQ-{prefix}-{i}"))).await.unwrap();
        cases.push(response.status.unwrap().case_id);
    }
    cases
}

fn lateness_ms(c: &Clock) -> i64 {
    let (due, ended) = (c.due_at.unwrap(), c.ended_at.unwrap());
    (ended.seconds - due.seconds) * 1000 + i64::from(ended.nanos - due.nanos) / 1_000_000
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn distributed_due_clocks_fire_once_each_within_a_second_across_two_routing_replicas() {
    let mut system = System::start_with(Mode::Distributed, &FAST_RISK_CLOCKS).await.unwrap();
    system.add_replica("routing").unwrap();
    let police = AgencySession::connect(&system, POLICE).await;
    let cases = submit(&police, "two-replicas", 10).await;
    let clocks = breached(&system, &cases).await;
    for c in &clocks {
        let late = lateness_ms(c);
        assert!((0..=1000).contains(&late), "case {}: breached {late} ms after due", c.case_id);
    }
    // Let both replicas sweep a few more times: nothing fires again.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(breach_events(&system).await, cases.len() as i64, "one breach event per clock");
    assert_eq!(overdue_alarms(&system).await, cases.len());
    system.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn distributed_clock_due_while_routing_is_down_fires_once_after_restart() {
    let mut system = System::start_with(Mode::Distributed, &FAST_RISK_CLOCKS).await.unwrap();
    let police = AgencySession::connect(&system, POLICE).await;
    let cases = submit(&police, "restart", 4).await;
    // Routing has started each clock once the case is referred.
    for case in &cases {
        police.wait_for(case, "referred", |s| !s.org_id.is_empty()).await;
    }
    system.kill("routing");
    tokio::time::sleep(Duration::from_secs(6)).await; // every clock falls due while routing is down
    let restarted_at = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    system.restart("routing").unwrap();
    let clocks = breached(&system, &cases).await;
    for c in &clocks {
        assert!(c.ended_at.unwrap().seconds >= restarted_at - 1, "breached by the restarted process");
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(breach_events(&system).await, cases.len() as i64, "each fired exactly once");
    system.finish().await;
}
