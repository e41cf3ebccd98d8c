//! The network between fengqiao and the servers it depends on stalls (bytes
//! held, connections open) or goes down (connections cut, new ones refused),
//! through a proxy the test controls: an agency's call answers within its
//! deadline — at worst DEADLINE_EXCEEDED or UNAVAILABLE, never a hang or an
//! internal error — and when the link comes back everything resumes by
//! itself, nothing lost or repeated.

use std::time::{Duration, Instant};

use fengqiao_platform::testing;
use fengqiao_proto::fengqiao::common::v1::Source;
use fengqiao_tests::proxy::{authority, Proxy};
use fengqiao_tests::reconcile::{assert_steps_forward_and_concluded_once, reconcile};
use fengqiao_tests::scenario::{dispute, AgencySession, POLICE};
use fengqiao_tests::system::{Mode, System};
use fengqiao_tests::workload::Workload;
use tonic::Code;

/// The gateway's deadline for a call in this test.
const DEADLINE: Duration = Duration::from_secs(3);

/// One submission during a failure: it answers within the deadline (and a
/// margin for the answer's own trip), with a code an agency can act on.
async fn answers_within_deadline(police: &AgencySession, reference: &str, what: &str) -> Code {
    let started = Instant::now();
    let code = match police.submit(dispute(Source::Police, reference)).await {
        Ok(_) => Code::Ok,
        Err(status) => status.code(),
    };
    let took = started.elapsed();
    assert!(took < DEADLINE + Duration::from_secs(2), "{what}: a call took {took:?}, past its {DEADLINE:?} deadline");
    assert!(
        matches!(code, Code::Ok | Code::Unavailable | Code::DeadlineExceeded),
        "{what}: a call answered {code:?}; an agency can only retry on UNAVAILABLE or DEADLINE_EXCEEDED"
    );
    println!("{what}: answered {code:?} in {took:?}");
    code
}

/// Submits `reference` until it is answered; its case id.
async fn submit_until_answered(police: &AgencySession, reference: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match police.submit(dispute(Source::Police, reference)).await {
            Ok(answer) => return answer.status.unwrap_or_default().case_id,
            Err(status) => {
                assert!(Instant::now() < deadline, "{reference} still refused after the links returned: {status:?}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn links_to_postgres_and_nats_stall_and_drop_calls_answer_within_deadline_then_all_resumes() {
    let (db_url, db_name) = testing::create_postgres_database().await.unwrap();
    let nats_url = testing::nats_url();
    let (pg_addr, nats_addr) = (authority(&db_url), authority(&nats_url));
    let pg = Proxy::start(pg_addr).await.unwrap();
    let nats = Proxy::start(nats_addr).await.unwrap();
    let deadline = DEADLINE.as_secs().to_string();
    let system = System::start_with(
        Mode::Distributed,
        &[
            ("FENGQIAO_DATABASE__URL", &pg.url(&db_url, pg_addr)),
            ("FENGQIAO_BUS__NATS_URL", &nats.url(&nats_url, nats_addr)),
            ("FENGQIAO_AGENCY_API__DEADLINE_SECS", &deadline),
            ("FENGQIAO_BUS__ACK_WAIT_SECS", "2"),
            ("FENGQIAO_BUS__RETRY_BACKOFF_MAX_MS", "1000"),
        ],
    )
    .await
    .unwrap();
    let mut workload = Workload::start(&system, "STALL", 2).await;
    let police = AgencySession::connect(&system, POLICE).await;
    tokio::time::sleep(Duration::from_secs(2)).await;

    pg.pause();
    let code = answers_within_deadline(&police, "STALL-PROBE-1", "PostgreSQL stalled").await;
    assert_ne!(code, Code::Ok, "nothing can be registered while PostgreSQL is unreachable");
    tokio::time::sleep(Duration::from_secs(2)).await;
    pg.restore();
    tokio::time::sleep(Duration::from_secs(2)).await;

    pg.sever();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let code = answers_within_deadline(&police, "STALL-PROBE-2", "PostgreSQL down").await;
    assert_ne!(code, Code::Ok, "nothing can be registered while PostgreSQL is down");
    tokio::time::sleep(Duration::from_secs(2)).await;
    pg.restore();
    tokio::time::sleep(Duration::from_secs(2)).await;

    // Registration needs only PostgreSQL: the outbox holds the announcement until NATS is back.
    nats.pause();
    answers_within_deadline(&police, "STALL-PROBE-3", "NATS stalled").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    nats.restore();
    tokio::time::sleep(Duration::from_secs(2)).await;
    nats.sever();
    answers_within_deadline(&police, "STALL-PROBE-4", "NATS down").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    nats.restore();
    tokio::time::sleep(Duration::from_secs(2)).await;

    let mut cases: Vec<String> = workload.stop_submitting().await.into_values().collect();
    // The agency retries every probe with its reference, as it must after
    // UNAVAILABLE or DEADLINE_EXCEEDED: each is registered once, whatever the
    // first attempt did.
    for n in 1..=4 {
        cases.push(submit_until_answered(&police, &format!("STALL-PROBE-{n}")).await);
    }
    workload.finish(&system, &cases, Duration::from_secs(120)).await;
    let r = reconcile(&db_url, &cases).await;
    println!("stalls: {r:?}");
    assert!(!cases.is_empty());
    assert_eq!((r.lost, r.duplicated, r.unasked), (0, 0, 0), "{:#?}", r.details);
    let changes = police.watch("", 7 * cases.len(), Duration::from_secs(30)).await;
    assert_steps_forward_and_concluded_once(&changes, &cases);
    system.finish().await;
    testing::drop_postgres_database(&db_name).await;
}
