//! The authorisation matrix: every agency-facing call, made by an agency of
//! the right kind that does not own the case (or application), answers
//! NOT_FOUND — as for a case that does not exist — and changes nothing;
//! lists and streams show only the caller's own. A call outside the
//! agency's kind is PERMISSION_DENIED.

use std::time::Duration;

use fengqiao_proto::fengqiao::common::v1::*;
use fengqiao_proto::fengqiao::court::v1::ConfirmationState;
use fengqiao_proto::fengqiao::mediation::v1::ConcludeMediationRequest;
use fengqiao_tests::scenario::*;
use fengqiao_tests::system::{Mode, System};
use tonic::Code;

fn register(system: &System, id: &str, kind: &str) {
    let out = system.cli(&["agencies", "add", "--id", id, "--kind", kind, "--name", id, "--division", "620802"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

fn not_found<T: std::fmt::Debug>(call: &str, result: Result<T, tonic::Status>) {
    let status = result.expect_err(call);
    assert_eq!(status.code(), Code::NotFound, "{call}: {status:?}");
}

#[tokio::test]
async fn every_call_about_another_agencys_case_is_not_found_and_changes_nothing() {
    let system = System::start(Mode::Standalone).await.unwrap();
    register(&system, "court-620803", "court");
    register(&system, "petition-620803", "petition");
    let (police, other_police) =
        (AgencySession::connect(&system, POLICE).await, AgencySession::connect(&system, "police-620802-xijiao").await);
    let (court, other_court) =
        (AgencySession::connect(&system, COURT).await, AgencySession::connect(&system, "court-620803").await);
    let (bureau, other_bureau) =
        (AgencySession::connect(&system, PETITION).await, AgencySession::connect(&system, "petition-620803").await);

    // Each owner has a case; the court's is mediated to an agreement with a confirmation application.
    let police_case = police.submit(dispute(Source::Police, "JQ-MATRIX-1")).await.unwrap().status.unwrap().case_id;
    let petition_case = bureau.submit(dispute(Source::Petition, "XF-MATRIX-1")).await.unwrap().status.unwrap().case_id;
    let office = Staff::connect(&system, COURT_OFFICE_ORG).await;
    let court_case = court
        .submit(dispute(Source::CourtPreLitigation, "(2026)甘0802民诉前调900号"))
        .await
        .unwrap()
        .status
        .unwrap()
        .case_id;
    let item = office.referral_of(&court_case).await;
    office.accept(&item.referral_id).await.unwrap();
    office.start(&item.referral_id).await.unwrap();
    let mut signed =
        ConcludeMediationRequest { actor: office.me(), ..conclusion(&item.referral_id, MediationOutcome::Agreement) };
    signed.confirmation_consents = vec![1, 2];
    office.client().conclude_mediation(signed).await.unwrap();
    let mut application = None;
    for _ in 0..100 {
        application = court.confirmations().await.unwrap().into_iter().find(|a| a.case_id == court_case);
        if application.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let application = application.expect("the court sees the application");
    police.wait_for(&police_case, "RECEIVED", in_state(ReferralState::Received)).await;
    let before = police.status(&police_case).await.unwrap();

    // Same kind, not the owner: NOT_FOUND, exactly as for an id that does not exist.
    for case in [police_case.as_str(), "no-such-case"] {
        not_found("GetStatus", other_police.status(case).await);
        not_found("RevokeReferral", other_police.revoke(case, "not ours").await);
    }
    not_found("GetCourtResult", other_court.court_result(&court_case).await);
    not_found(
        "AcceptConfirmation",
        other_court.accept_confirmation(&application.application_id, "(2026)甘0803民特1号").await,
    );
    not_found("ExtendConfirmationDecision", other_court.extend_confirmation(&application.application_id, "院长").await);
    not_found("DecideConfirmation", other_court.decide_confirmation(&application.application_id, true, "").await);
    not_found("GetPetitionResult", other_bureau.petition_result(&petition_case).await);
    not_found("RecordPetitionSatisfaction", other_bureau.petition_satisfaction(&petition_case, 5).await);
    // A court asking about a police case is also NOT_FOUND: it is not its own.
    not_found("GetCourtResult (a police case)", court.court_result(&police_case).await);

    // Lists and streams hold only the caller's own.
    assert!(other_court.confirmations().await.unwrap().is_empty());
    assert!(other_bureau.petition_backlog().await.unwrap().is_empty());
    assert!(other_police.watch("", 1, Duration::from_millis(500)).await.is_empty());
    let now = time::OffsetDateTime::now_utc().to_offset(time::macros::offset!(+8));
    let month = format!("{}-{:02}", now.year(), now.month() as u8);
    assert_eq!(bureau.petition_rates(&month).await.unwrap().registered, 1, "the bureau counts its own matter");
    assert_eq!(other_bureau.petition_rates(&month).await.unwrap().registered, 0, "and no other bureau does");

    // Outside its kind's scope: PERMISSION_DENIED, naming who may.
    let denied = police.court_result(&police_case).await.unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    assert!(denied.message().contains("court"), "{}", denied.message());
    assert_eq!(court.petition_backlog().await.unwrap_err().code(), Code::PermissionDenied);

    // Nothing changed: the police case is where it was, the application still APPLIED, no satisfaction.
    let after = police.status(&police_case).await.unwrap();
    assert_eq!((after.referral_state, after.reason.as_str()), (before.referral_state, before.reason.as_str()));
    let still = court.confirmations().await.unwrap().into_iter().find(|a| a.case_id == court_case).unwrap();
    assert_eq!(still.state, ConfirmationState::Applied as i32);
    assert_eq!(bureau.petition_result(&petition_case).await.unwrap().satisfaction, 0);
    system.finish().await;
}

#[tokio::test]
async fn an_organisation_follows_only_the_cases_referred_to_it_and_cannot_hand_over() {
    let system = System::start(Mode::Standalone).await.unwrap();
    register(&system, VILLAGE_ORG, "organisation");
    register(&system, COURT_OFFICE_ORG, "organisation");
    let police = AgencySession::connect(&system, POLICE).await;
    let (village, office) =
        (AgencySession::connect(&system, VILLAGE_ORG).await, AgencySession::connect(&system, COURT_OFFICE_ORG).await);
    let case_id = police.submit(dispute(Source::Police, "JQ-ORG-1")).await.unwrap().status.unwrap().case_id;
    police.wait_for(&case_id, "RECEIVED", in_state(ReferralState::Received)).await;

    // The village committee the case was referred to reads it and its stream; another organisation does not.
    assert_eq!(village.status(&case_id).await.unwrap().org_id, VILLAGE_ORG);
    let seen = village.watch("", 1, Duration::from_secs(5)).await;
    assert_eq!(seen[0].status.as_ref().unwrap().case_id, case_id);
    not_found("GetStatus (another organisation)", office.status(&case_id).await);
    assert!(office.watch("", 1, Duration::from_millis(500)).await.is_empty());

    // An organisation follows; it does not hand over or revoke.
    assert_eq!(village.submit(dispute(Source::Police, "JQ-ORG-2")).await.unwrap_err().code(), Code::PermissionDenied);
    assert_eq!(village.revoke(&case_id, "ours now").await.unwrap_err().code(), Code::PermissionDenied);
    system.finish().await;
}
