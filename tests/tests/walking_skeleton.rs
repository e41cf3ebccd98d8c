//! A police, a court and a petition dispute cross every component and their
//! results return — in standalone mode and in distributed mode (a process
//! per component, PostgreSQL, NATS JetStream). Test names read
//! `<mode>::<what is proven>`.

use std::time::Duration;

use fengqiao_proto::fengqiao::common::v1::{MediationOutcome, ReferralState, Source};
use fengqiao_tests::scenario::*;
use fengqiao_tests::system::{Mode, System};
use tonic::Code;

async fn police_dispute_reaches_its_outcome_and_the_station_sees_every_step(mode: Mode) {
    let system = System::start(mode).await.unwrap();
    let police = AgencySession::connect(&system, POLICE).await;
    let submitted = police.submit(dispute(Source::Police, "JQ620802-2026-0001")).await.unwrap();
    assert!(submitted.created);
    let status = submitted.status.unwrap();
    assert!(status.case_no.starts_with("620802-20"), "{}", status.case_no);
    let case_id = status.case_id;

    let received = police.wait_for(&case_id, "RECEIVED", in_state(ReferralState::Received)).await;
    assert_eq!(received.org_id, VILLAGE_ORG, "the lowest level covering the village");
    let staff = Staff::connect(&system, VILLAGE_ORG).await;
    staff.mediate(&case_id, MediationOutcome::Agreement).await;
    let done = police.wait_for(&case_id, "concluded", |s| s.outcome == MediationOutcome::Agreement as i32).await;
    assert_eq!(done.referral_state, ReferralState::Completed as i32);

    // The stream tells the same story, in order, from the beginning: the
    // registration, five moves of the referral, and the conclusion.
    let changes = police.watch("", 7, Duration::from_secs(10)).await;
    let states: Vec<i32> = changes.iter().map(|c| c.status.as_ref().unwrap().referral_state).collect();
    use ReferralState::*;
    let expected = [Unspecified, Requested, Received, Accepted, InProgress, Completed, Completed].map(|s| s as i32);
    assert_eq!(states, expected);
    assert_eq!(changes[6].status.as_ref().unwrap().outcome, MediationOutcome::Agreement as i32);
    // Reconnecting with a cursor yields exactly the changes after it: no gap, no duplicate.
    let cursors = |c: &[fengqiao_proto::fengqiao::gateway::v1::WatchStatusResponse]| -> Vec<String> {
        c.iter().map(|x| x.cursor.clone()).collect()
    };
    let rest = police.watch(&changes[3].cursor, 7, Duration::from_millis(1_000)).await;
    assert_eq!(cursors(&rest), cursors(&changes[4..]));
    system.finish().await;
}

async fn court_and_petition_disputes_return_their_results(mode: Mode) {
    let system = System::start(mode).await.unwrap();
    let court = AgencySession::connect(&system, COURT).await;
    let bureau = AgencySession::connect(&system, PETITION).await;
    let court_office = Staff::connect(&system, COURT_OFFICE_ORG).await;
    let petition_committee = Staff::connect(&system, PETITION_COMMITTEE_ORG).await;

    let delegated = court.submit(dispute(Source::CourtPreLitigation, "(2026)甘0802民诉前调123号")).await.unwrap();
    let court_case = delegated.status.unwrap().case_id;
    let referred = bureau.submit(dispute(Source::Petition, "XF620802-2026-0042")).await.unwrap();
    let petition_case = referred.status.unwrap().case_id;

    // By the default rules a court's cases go to its own office, a bureau's to its committee.
    court_office.mediate(&court_case, MediationOutcome::NoAgreement).await;
    petition_committee.mediate(&petition_case, MediationOutcome::Agreement).await;
    let c = court.wait_for(&court_case, "concluded", |s| s.outcome != 0).await;
    assert_eq!(
        (c.outcome, c.external_ref.as_str()),
        (MediationOutcome::NoAgreement as i32, "(2026)甘0802民诉前调123号")
    );
    assert!(c.case_no.starts_with("620802-20"), "the court sees the case number: {c:?}");
    let p = bureau.wait_for(&petition_case, "concluded", |s| s.outcome != 0).await;
    assert!(p.case_no.starts_with("620802-20"), "the bureau sees the case number: {p:?}");
    assert_eq!(p.outcome, MediationOutcome::Agreement as i32);

    // A court cannot submit as the police, and neither sees the other's case.
    let err = court.submit(dispute(Source::Police, "JQ-x")).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(court.status(&petition_case).await.unwrap_err().code(), Code::NotFound);
    assert_eq!(bureau.status(&court_case).await.unwrap_err().code(), Code::NotFound);
    system.finish().await;
}

async fn rejection_moves_the_case_up_a_level_until_it_returns_to_the_station(mode: Mode) {
    let system = System::start(mode).await.unwrap();
    let police = AgencySession::connect(&system, POLICE).await;
    let case_id = police.submit(dispute(Source::Police, "JQ-reject-1")).await.unwrap().status.unwrap().case_id;
    for (org, next) in [(VILLAGE_ORG, Some(TOWNSHIP_ORG)), (TOWNSHIP_ORG, Some(COUNTY_ORG)), (COUNTY_ORG, None)] {
        let staff = Staff::connect(&system, org).await;
        let item = staff.referral_of(&case_id).await;
        staff.reject(&item.referral_id, "当事人住所不在本辖区").await.unwrap();
        match next {
            Some(next) => {
                let s = police
                    .wait_for(&case_id, "re-routed", |s| {
                        s.org_id == next && s.referral_state == ReferralState::Received as i32
                    })
                    .await;
                assert!(!s.returned_to_sender);
            }
            None => {
                let s = police.wait_for(&case_id, "returned", |s| s.returned_to_sender).await;
                assert!(s.reason.contains("当事人住所不在本辖区"), "the last reason is passed on: {}", s.reason);
            }
        }
    }
    system.finish().await;
}

async fn revoke_before_accept_cancels_and_the_organisation_can_no_longer_accept(mode: Mode) {
    let system = System::start(mode).await.unwrap();
    let police = AgencySession::connect(&system, POLICE).await;
    let case_id = police.submit(dispute(Source::Police, "JQ-revoke-1")).await.unwrap().status.unwrap().case_id;
    police.wait_for(&case_id, "RECEIVED", in_state(ReferralState::Received)).await;
    let revoked = police.revoke(&case_id, "当事人已自行和解").await.unwrap();
    assert_eq!(revoked.referral_state, ReferralState::Cancelled as i32);
    let staff = Staff::connect(&system, VILLAGE_ORG).await;
    let item = staff.referral_of(&case_id).await;
    let err = staff.accept(&item.referral_id).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(err.message().contains("CANCELLED"), "{}", err.message());
    police.wait_for(&case_id, "CANCELLED", in_state(ReferralState::Cancelled)).await;

    // Once work has started, the sender can no longer revoke.
    let case_id = police.submit(dispute(Source::Police, "JQ-revoke-2")).await.unwrap().status.unwrap().case_id;
    let item = staff.referral_of(&case_id).await;
    staff.accept(&item.referral_id).await.unwrap();
    staff.start(&item.referral_id).await.unwrap();
    police.wait_for(&case_id, "IN_PROGRESS", in_state(ReferralState::InProgress)).await;
    let err = police.revoke(&case_id, "改变主意").await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
    system.finish().await;
}

async fn a_resubmission_returns_the_same_case(mode: Mode) {
    let system = System::start(mode).await.unwrap();
    let police = AgencySession::connect(&system, POLICE).await;
    let first = police.submit(dispute(Source::Police, "JQ-dup-1")).await.unwrap();
    let again = police.submit(dispute(Source::Police, "JQ-dup-1")).await.unwrap();
    assert!(first.created && !again.created);
    assert_eq!(first.status.unwrap().case_id, again.status.unwrap().case_id);
    system.finish().await;
}

async fn a_partys_refusal_to_share_with_village_committees_is_respected(mode: Mode) {
    use fengqiao_proto::fengqiao::common::v1::Consent;
    let system = System::start(mode).await.unwrap();
    let police = AgencySession::connect(&system, POLICE).await;
    let mut d = dispute(Source::Police, "JQ-consent-1");
    d.parties[0].consents.push(Consent {
        recipient_kind: "VILLAGE_COMMITTEE".into(),
        purpose: "mediation".into(),
        granted: false,
    });
    let case_id = police.submit(d).await.unwrap().status.unwrap().case_id;
    let s = police.wait_for(&case_id, "RECEIVED", in_state(ReferralState::Received)).await;
    assert_eq!(s.org_id, TOWNSHIP_ORG, "the village committee is skipped");
    system.finish().await;
}

async fn staff_see_party_contacts_only_while_their_organisation_works_on_the_case(mode: Mode) {
    let system = System::start(mode).await.unwrap();
    let police = AgencySession::connect(&system, POLICE).await;
    let mut d = dispute(Source::Police, "JQ-contacts-1");
    d.parties[0].phone = "13812345678".into();
    d.parties[0].resident_id = "11010519491231002X".into();
    let case_id = police.submit(d).await.unwrap().status.unwrap().case_id;
    let staff = Staff::connect(&system, VILLAGE_ORG).await;
    let item = staff.referral_of(&case_id).await;
    let shown = &item.dispute.as_ref().unwrap().parties[0];
    assert_eq!((shown.phone.as_str(), shown.resident_id.as_str()), ("138****5678", "1101**********002X"));
    let err = staff.contacts(&item.referral_id).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "not before accepting: {err:?}");
    let stranger = Staff::connect(&system, TOWNSHIP_ORG).await;
    assert_eq!(stranger.contacts(&item.referral_id).await.unwrap_err().code(), Code::NotFound);
    staff.accept(&item.referral_id).await.unwrap();
    let parties = staff.contacts(&item.referral_id).await.unwrap();
    assert_eq!((parties[0].phone.as_str(), parties[0].resident_id.as_str()), ("13812345678", "11010519491231002X"));
    system.finish().await;
}

async fn the_rules_decide_where_each_case_goes_and_say_why(mode: Mode) {
    use fengqiao_proto::fengqiao::common::v1::Category;
    use fengqiao_proto::fengqiao::routing::v1::routing_service_client::RoutingServiceClient;
    use fengqiao_proto::fengqiao::routing::v1::ListCaseReferralsRequest;
    let system = System::start(mode).await.unwrap();
    let routing = RoutingServiceClient::new(fengqiao_tests::channel(system.addr("routing")).await.unwrap());
    let explanation = |case_id: String| {
        let mut routing = routing.clone();
        async move {
            let r = routing.list_case_referrals(ListCaseReferralsRequest { case_id }).await.unwrap().into_inner();
            (r.referrals[0].org_id.clone(), r.referrals[0].explanation.clone())
        }
    };
    // A station with its own police–mediation office sends its disputes there.
    let xijiao = AgencySession::connect(&system, "police-620802-xijiao").await;
    let mut d = dispute(Source::Police, "JQ-xijiao-1");
    d.location.as_mut().unwrap().division_code = "620802003001".into();
    let case = xijiao.submit(d).await.unwrap().status.unwrap().case_id;
    xijiao.wait_for(&case, "RECEIVED", in_state(ReferralState::Received)).await;
    let (org, why) = explanation(case).await;
    assert_eq!(org, "police-620802-xijiao-office");
    assert!(why.starts_with("rule police-to-station-office"), "{why}");
    // A station without one: a traffic accident goes to the traffic committee.
    let police = AgencySession::connect(&system, POLICE).await;
    let mut d = dispute(Source::Police, "JQ-traffic-1");
    d.category = Category::TrafficAccident as i32;
    let case = police.submit(d).await.unwrap().status.unwrap().case_id;
    police.wait_for(&case, "RECEIVED", in_state(ReferralState::Received)).await;
    let (org, why) = explanation(case).await;
    assert_eq!(org, "industry-620802-traffic");
    assert!(why.starts_with("rule category-to-industry-committee"), "{why}");
    assert!(why.contains("rule police-to-station-office: applies, but no organisation"), "{why}");
    system.finish().await;
}

async fn a_referral_not_accepted_in_time_moves_up_a_level(mode: Mode) {
    let system = System::start_with(mode, &[("FENGQIAO_ROUTING_ACCEPTANCE_TIMEOUT_SECS", "3")]).await.unwrap();
    let police = AgencySession::connect(&system, POLICE).await;
    let case_id = police.submit(dispute(Source::Police, "JQ-timeout-1")).await.unwrap().status.unwrap().case_id;
    police.wait_for(&case_id, "RECEIVED", in_state(ReferralState::Received)).await;
    // Nobody at the village accepts; after the timeout the township has it.
    let s = police.wait_for(&case_id, "at the township", |s| s.org_id == TOWNSHIP_ORG).await;
    assert_ne!(s.referral_state, ReferralState::Cancelled as i32);
    let village = Staff::connect(&system, VILLAGE_ORG).await;
    let old = village.referral_of(&case_id).await;
    assert_eq!(old.state, ReferralState::Cancelled as i32);
    assert!(old.reason.contains("not accepted within"), "{}", old.reason);
    // An accepted referral is never timed out.
    let township = Staff::connect(&system, TOWNSHIP_ORG).await;
    let item = township.referral_of(&case_id).await;
    township.accept(&item.referral_id).await.unwrap();
    tokio::time::sleep(Duration::from_secs(4)).await;
    let s = police.status(&case_id).await.unwrap();
    assert_eq!((s.org_id.as_str(), s.referral_state), (TOWNSHIP_ORG, ReferralState::Accepted as i32));
    system.finish().await;
}

async fn clocks_start_and_end_as_the_referral_moves(mode: Mode) {
    use fengqiao_proto::fengqiao::routing::v1::routing_service_client::RoutingServiceClient;
    use fengqiao_proto::fengqiao::routing::v1::{ClockState, ListCaseClocksRequest};
    let system = System::start(mode).await.unwrap();
    let routing = RoutingServiceClient::new(fengqiao_tests::channel(system.addr("routing")).await.unwrap());
    let clocks = |case_id: &str| {
        let mut routing = routing.clone();
        let case_id = case_id.to_string();
        async move {
            let r = routing.list_case_clocks(ListCaseClocksRequest { case_id }).await.unwrap().into_inner();
            r.clocks.into_iter().map(|c| (c.kind, c.state)).collect::<Vec<_>>()
        }
    };
    let police = AgencySession::connect(&system, POLICE).await;
    let case_id = police.submit(dispute(Source::Police, "JQ-clocks-1")).await.unwrap().status.unwrap().case_id;
    police.wait_for(&case_id, "RECEIVED", in_state(ReferralState::Received)).await;
    let running = ClockState::Running as i32;
    let met = ClockState::Met as i32;
    let mut seen = clocks(&case_id).await;
    seen.sort();
    assert_eq!(seen, [("POLICE_FEEDBACK".to_string(), running), ("RISK_RESPONSE".to_string(), running)]);
    let staff = Staff::connect(&system, VILLAGE_ORG).await;
    let item = staff.referral_of(&case_id).await;
    staff.accept(&item.referral_id).await.unwrap();
    let expected = [
        ("PEOPLES_MEDIATION".to_string(), running),
        ("POLICE_FEEDBACK".to_string(), met),
        ("RISK_RESPONSE".to_string(), met),
    ];
    let accepted = fengqiao_platform::testing::eventually(Duration::from_secs(15), || async {
        let mut seen = clocks(&case_id).await;
        seen.sort();
        seen == expected
    })
    .await;
    assert!(accepted, "acceptance meets the response clocks and starts mediation's: {:?}", clocks(&case_id).await);
    staff.start(&item.referral_id).await.unwrap();
    staff.conclude(&item.referral_id, MediationOutcome::Agreement).await.unwrap();
    let all_met = fengqiao_platform::testing::eventually(Duration::from_secs(15), || async {
        clocks(&case_id).await.iter().all(|(_, state)| *state == met)
    })
    .await;
    assert!(all_met, "every clock met: {:?}", clocks(&case_id).await);
    system.finish().await;
}

macro_rules! in_both_modes {
    ($($test:ident),* $(,)?) => {
        mod standalone {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $test() { super::$test(fengqiao_tests::system::Mode::Standalone).await; })*
        }
        mod distributed {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $test() { super::$test(fengqiao_tests::system::Mode::Distributed).await; })*
        }
    };
}

in_both_modes!(
    police_dispute_reaches_its_outcome_and_the_station_sees_every_step,
    court_and_petition_disputes_return_their_results,
    rejection_moves_the_case_up_a_level_until_it_returns_to_the_station,
    revoke_before_accept_cancels_and_the_organisation_can_no_longer_accept,
    a_resubmission_returns_the_same_case,
    a_partys_refusal_to_share_with_village_committees_is_respected,
    staff_see_party_contacts_only_while_their_organisation_works_on_the_case,
    the_rules_decide_where_each_case_goes_and_say_why,
    a_referral_not_accepted_in_time_moves_up_a_level,
    clocks_start_and_end_as_the_referral_moves,
);
