//! What Kubernetes' probes see: readiness (grpc.health.v1 "") follows the
//! database and the bus, liveness ("liveness") only that the process serves,
//! so losing NATS takes a pod out of the Service without restarting it.

use std::time::{Duration, Instant};

use fengqiao_tests::nats::OwnNats;
use fengqiao_tests::system::{Mode, System};
use fengqiao_tests::{health_of, ServingStatus};

async fn wait_for(addr: std::net::SocketAddr, service: &str, want: ServingStatus) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let seen = health_of(addr, service).await;
        if matches!(&seen, Ok(s) if *s == want) {
            return;
        }
        assert!(Instant::now() < deadline, "{service:?} is {seen:?}, not {want:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_nats_drops_readiness_but_not_liveness_and_both_return() {
    let mut nats = OwnNats::start().unwrap();
    let system = System::start_with(Mode::Distributed, &[("FENGQIAO_BUS__NATS_URL", &nats.url())]).await.unwrap();
    let routing = system.addr("routing");
    wait_for(routing, "", ServingStatus::Serving).await;
    wait_for(routing, "liveness", ServingStatus::Serving).await;

    nats.stop();
    wait_for(routing, "", ServingStatus::NotServing).await;
    assert_eq!(health_of(routing, "liveness").await.unwrap(), ServingStatus::Serving, "no restart for a lost bus");

    nats.resume().unwrap();
    wait_for(routing, "", ServingStatus::Serving).await;
    system.finish().await;
}
