//! A durable NATS consumer outlives the release that made it: the next
//! release's consumer of the same name finds it and brings it up to date.
//! These need a current nats-server (2.10+, from PyPI), which edits a
//! consumer's subjects; the machine's 2.9 only its limits (a unit test of the
//! bus checks those).

use std::time::Duration;

use fengqiao_platform::bus::{ConsumerSpec, Envelope, EventBus, NatsBus};
use fengqiao_proto::fengqiao::events::v1::{CaseReturned, MediationConcluded};
use fengqiao_proto::EventKind;
use fengqiao_tests::nats::OwnNats;
use futures::StreamExt;

#[tokio::test]
async fn a_kind_of_event_a_release_adds_to_a_consumer_reaches_its_existing_durable() {
    let nats = OwnNats::start().unwrap();
    let mut settings = fengqiao_platform::testing::settings().bus;
    settings.nats_url = nats.url();
    let bus = NatsBus::connect(&settings).await.unwrap();
    let concluded = Envelope::new(
        "test",
        EventKind::MediationConcluded,
        &MediationConcluded { case_id: "case-1".into(), ..Default::default() },
    );
    let returned = Envelope::new(
        "test",
        EventKind::CaseReturned,
        &CaseReturned { case_id: "case-2".into(), ..Default::default() },
    );

    // The earlier release consumed one kind, and stopped.
    let earlier = ConsumerSpec { durable: "results".into(), event_types: vec![concluded.event_type.clone()] };
    drop(bus.subscribe(&earlier).await.unwrap());
    bus.publish(&concluded).await.unwrap().await.unwrap();
    bus.publish(&returned).await.unwrap().await.unwrap();

    // This one consumes two under the same name.
    let now = ConsumerSpec { event_types: vec![concluded.event_type.clone(), returned.event_type.clone()], ..earlier };
    let mut deliveries = bus.subscribe(&now).await.unwrap();
    let mut ids = Vec::new();
    while let Ok(Some(delivery)) = tokio::time::timeout(Duration::from_secs(5), deliveries.next()).await {
        let delivery = delivery.unwrap();
        ids.push(delivery.envelope.id.clone());
        delivery.ack().await.unwrap();
        if ids.len() == 2 {
            break;
        }
    }
    assert_eq!(ids, [concluded.id.clone(), returned.id.clone()], "both kinds, the added one too, in order");
    bus.delete_stream().await.unwrap();
}
