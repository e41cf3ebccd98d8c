//! The directory is managed through routing's API: an import reports each
//! rejected row and changes nothing for it; staff can re-route a case.

use fengqiao_proto::fengqiao::common::v1::{ReferralState, Source};
use fengqiao_tests::scenario::*;
use fengqiao_tests::system::{Mode, System};

const CSV: &str = "org_id,name,kind,level,division_code,capacity,categories,agency_id
studio-620802-laoma,老马调解工作室,MEDIATOR_STUDIO,2,620802001,20,,
village-620802001001,解放中路社区人民调解委员会,VILLAGE_COMMITTEE,1,620802001001,45,,
bad id,无名,TEMPLE,2,620802001,20,,
village-620802999999,不存在的村,VILLAGE_COMMITTEE,1,620802999999,10,,
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_applies_valid_rows_and_reports_each_rejected_one() {
    let system = System::start(Mode::Standalone).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("orgs.csv");
    std::fs::write(&file, CSV).unwrap();
    let file = file.to_str().unwrap();

    let dry = system.cli(&["directory", "import", file, "--dry-run"]);
    let out = String::from_utf8_lossy(&dry.stdout);
    assert!(out.contains("2 rows would be rejected"), "{out}");
    let listed =
        String::from_utf8_lossy(&system.cli(&["directory", "list", "--kind", "MEDIATOR_STUDIO"]).stdout).to_string();
    assert!(listed.trim().is_empty(), "a dry run changes nothing: {listed}");

    let run = system.cli(&["directory", "import", file]);
    let out = String::from_utf8_lossy(&run.stdout);
    assert!(!run.status.success(), "rejections make the import fail");
    assert!(out.contains("1 added, 1 replaced, 2 rejected"), "{out}");
    assert!(out.contains("line 4 (bad id): organisation.org_id"), "{out}");
    assert!(out.contains("organisation.kind"), "{out}");
    assert!(out.contains("line 5 (village-620802999999): organisation.division_code"), "{out}");
    let listed =
        String::from_utf8_lossy(&system.cli(&["directory", "list", "--division", "620802001001"]).stdout).to_string();
    assert!(listed.contains("0/45"), "the village's capacity was replaced: {listed}");
    assert!(String::from_utf8_lossy(&system.cli(&["directory", "list", "--kind", "MEDIATOR_STUDIO"]).stdout)
        .contains("老马调解工作室"));
    system.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_reroute_a_case_with_a_reason_and_the_old_referral_is_cancelled() {
    let system = System::start(Mode::Standalone).await.unwrap();
    let police = AgencySession::connect(&system, POLICE).await;
    let case = police.submit(dispute(Source::Police, "JQ-reroute-1")).await.unwrap().status.unwrap().case_id;
    police.wait_for(&case, "RECEIVED", in_state(ReferralState::Received)).await;
    let out = system.cli(&["reroute", &case, "--to", TOWNSHIP_ORG, "--reason", "涉及多个村组", "--by", COUNTY_ORG]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("re-routed by county-620802-centre: 涉及多个村组"));
    police
        .wait_for(&case, "received at the township", |s| {
            s.org_id == TOWNSHIP_ORG && s.referral_state == ReferralState::Received as i32
        })
        .await;
    // The old referral's cancellation, whenever it arrives, does not overwrite the new one.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let s = police.status(&case).await.unwrap();
    assert_eq!((s.org_id.as_str(), s.referral_state), (TOWNSHIP_ORG, ReferralState::Received as i32));
    let village = Staff::connect(&system, VILLAGE_ORG).await;
    assert_eq!(village.referral_of(&case).await.state, ReferralState::Cancelled as i32);
    let bad = system.cli(&["reroute", &case, "--to", "village-999", "--reason", "x", "--by", COUNTY_ORG]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("org_id: is not in the directory"));
    system.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_applicants_choice_of_mediator_is_honoured_while_they_take_cases() {
    use fengqiao_proto::fengqiao::routing::v1::routing_service_client::RoutingServiceClient;
    use fengqiao_proto::fengqiao::routing::v1::{ListCaseReferralsRequest, Mediator, UpsertMediatorRequest};
    let system = System::start(Mode::Standalone).await.unwrap();
    let mut routing = RoutingServiceClient::new(fengqiao_tests::channel(system.addr("routing")).await.unwrap());
    let mediator = |id: &str, org: &str, available: bool| UpsertMediatorRequest {
        mediator: Some(Mediator {
            mediator_id: id.into(),
            org_id: org.into(),
            name: "马老师".into(),
            specialties: vec!["NEIGHBOURHOOD".into()],
            available,
        }),
    };
    let err = routing.upsert_mediator(mediator("m-x", "no-such-org", true)).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    routing.upsert_mediator(mediator("mediator-620802-0001", TOWNSHIP_ORG, true)).await.unwrap();
    routing.upsert_mediator(mediator("mediator-620802-0002", TOWNSHIP_ORG, false)).await.unwrap();

    let police = AgencySession::connect(&system, POLICE).await;
    let mut d = dispute(Source::Police, "JQ-choice-1");
    d.preferred_mediator_id = "mediator-620802-0001".into();
    let case = police.submit(d).await.unwrap().status.unwrap().case_id;
    let township = Staff::connect(&system, TOWNSHIP_ORG).await;
    assert_eq!(township.referral_of(&case).await.mediator_id, "mediator-620802-0001");
    let r = routing.list_case_referrals(ListCaseReferralsRequest { case_id: case }).await.unwrap().into_inner();
    assert!(
        r.referrals[0].explanation.starts_with("the applicant's choice of mediator 马老师"),
        "{}",
        r.referrals[0].explanation
    );

    let mut d = dispute(Source::Police, "JQ-choice-2");
    d.preferred_mediator_id = "mediator-620802-0002".into();
    let case = police.submit(d).await.unwrap().status.unwrap().case_id;
    let s = police.wait_for(&case, "RECEIVED", in_state(ReferralState::Received)).await;
    assert_eq!(s.org_id, VILLAGE_ORG, "an unavailable mediator is not honoured");
    let r = routing.list_case_referrals(ListCaseReferralsRequest { case_id: case }).await.unwrap().into_inner();
    assert!(r.referrals[0].explanation.contains("is not taking new cases"), "{}", r.referrals[0].explanation);
    system.finish().await;
}
