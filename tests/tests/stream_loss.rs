//! The NATS stream lost with events in it, while every component runs: the
//! components make the stream again by themselves, and `fengqiao outbox
//! resend` sends what went with it, so the case moves on, once.

use std::time::Duration;

use fengqiao_platform::bus::NatsBus;
use fengqiao_proto::fengqiao::common::v1::{ReferralState, Source};
use fengqiao_proto::fengqiao::mediation::v1::ListInboxRequest;
use fengqiao_tests::scenario::*;
use fengqiao_tests::system::{Mode, System};
use time::format_description::well_known::Rfc3339;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_referral_lost_with_the_stream_reaches_its_inbox_once_resent_from_the_outboxes() {
    let mut system = System::start(Mode::Distributed).await.unwrap();
    let before = (time::OffsetDateTime::now_utc() - time::Duration::seconds(1)).format(&Rfc3339).unwrap();
    // Mediation down, so routing's referral waits in the stream, unconsumed.
    system.kill("mediation");
    let police = AgencySession::connect(&system, POLICE).await;
    let case_id = police.submit(dispute(Source::Police, "JQ620802-2026-0900")).await.unwrap().status.unwrap().case_id;
    police.wait_for(&case_id, "REQUESTED", in_state(ReferralState::Requested)).await;

    // Every replica's storage lost: the stream goes, with the referral in it.
    NatsBus::connect(&system.bus_settings()).await.unwrap().delete_stream().await.unwrap();
    system.restart("mediation").unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let status = police.status(&case_id).await.unwrap();
    assert!(in_state(ReferralState::Requested)(&status), "nothing sent it again yet: {status:?}");

    let out = system.cli(&["outbox", "resend", "--since", &before]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}{}", String::from_utf8_lossy(&out.stderr));
    let routing_resent = said
        .lines()
        .find_map(|l| l.strip_prefix("routing ").and_then(|rest| rest.split_whitespace().next()))
        .and_then(|n| n.parse::<u64>().ok());
    assert!(routing_resent.is_some_and(|n| n >= 1), "routing's referral among them: {said}");
    police.wait_for(&case_id, "RECEIVED", in_state(ReferralState::Received)).await;

    // Once: the resent registration and referral met inboxes that had them or took them now.
    let village = Staff::connect(&system, VILLAGE_ORG).await;
    village.referral_of(&case_id).await;
    let request = ListInboxRequest { org_id: VILLAGE_ORG.into(), page_size: 500, ..Default::default() };
    let items = village.client().list_inbox(request).await.unwrap().into_inner().items;
    assert_eq!(items.iter().filter(|i| i.case_id == case_id).count(), 1, "one referral in the inbox");
    let bad = system.cli(&["outbox", "resend", "--since", "yesterday"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("2026-12-05T14:00:00+08:00"));
    system.finish().await;
}
