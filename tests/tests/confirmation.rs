//! Judicial confirmation (司法确认) end to end: the parties apply jointly at
//! signing or later; the court that confirms sees the application through the
//! gateway, accepts it with its 民特 number, may extend its decision once, and
//! rules; routing times the court; the organisation sees the ruling. Matters of
//! personal status are refused at application.

use std::time::Duration;

use fengqiao_proto::fengqiao::common::v1::*;
use fengqiao_proto::fengqiao::court::v1::{ConfirmationApplication, ConfirmationState};
use fengqiao_proto::fengqiao::mediation::v1::*;
use fengqiao_proto::fengqiao::routing::v1::ClockState;
use fengqiao_tests::scenario::*;
use fengqiao_tests::system::{Mode, System};
use tonic::Code;

async fn application_of(court: &AgencySession, case_id: &str) -> ConfirmationApplication {
    for _ in 0..100 {
        if let Some(a) = court.confirmations().await.unwrap().into_iter().find(|a| a.case_id == case_id) {
            return a;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the court never saw an application for case {case_id}");
}

async fn confirmation_of(staff: &Staff, referral_id: &str, state: ConfirmationState) -> Confirmation {
    for _ in 0..100 {
        let r = GetCaseWorkRequest { referral_id: referral_id.into(), actor: staff.me() };
        let work = staff.client().get_case_work(r).await.unwrap().into_inner().work.unwrap();
        if let Some(c) = work.confirmation.filter(|c| c.state == state as i32) {
            return c;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the organisation never saw the confirmation {state:?}");
}

/// Brings the referral of a fresh case from `agency` to IN_PROGRESS at `staff`'s organisation.
async fn under_way(system: &System, agency: &str, staff: &Staff, d: Dispute) -> (String, String) {
    let sender = AgencySession::connect(system, agency).await;
    let case_id = sender.submit(d).await.unwrap().status.unwrap().case_id;
    let item = staff.referral_of(&case_id).await;
    staff.accept(&item.referral_id).await.unwrap();
    staff.start(&item.referral_id).await.unwrap();
    (case_id, item.referral_id)
}

async fn applied_at_signing_the_court_accepts_extends_once_and_confirms(mode: Mode) {
    let system = System::start(mode).await.unwrap();
    let court = AgencySession::connect(&system, COURT).await;
    let office = Staff::connect(&system, COURT_OFFICE_ORG).await;
    let d = dispute(Source::CourtPreLitigation, "(2026)甘0802民诉前调500号");
    let (case_id, id) = under_way(&system, COURT, &office, d).await;
    let mut signed = ConcludeMediationRequest { actor: office.me(), ..conclusion(&id, MediationOutcome::Agreement) };
    signed.confirmation_consents = vec![1, 2];
    let doc = office.client().conclude_mediation(signed).await.unwrap().into_inner().agreement_document.unwrap();

    let app = application_of(&court, &case_id).await;
    assert_eq!((app.state, app.agreement_sha256.as_str()), (ConfirmationState::Applied as i32, doc.sha256.as_str()));
    assert_eq!(
        clock_of(&system, &case_id, "CONFIRMATION_ACCEPTANCE", Some(ClockState::Running)).await.period,
        "days:3"
    );
    let police = AgencySession::connect(&system, POLICE).await;
    // A police station may not even ask (another court's asking is NOT_FOUND: gateway_matrix.rs).
    assert_eq!(police.confirmations().await.unwrap_err().code(), Code::PermissionDenied, "only courts see them");
    assert_eq!(
        police.accept_confirmation(&app.application_id, "(2026)甘0802民特1号").await.unwrap_err().code(),
        Code::PermissionDenied
    );

    let err = court.accept_confirmation(&app.application_id, "(2026)甘0802民初1号").await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "a confirmation case is numbered 民特");
    let accepted = court.accept_confirmation(&app.application_id, "(2026)甘0802民特12号").await.unwrap();
    assert_eq!(accepted.state, ConfirmationState::Accepted as i32);
    clock_of(&system, &case_id, "CONFIRMATION_ACCEPTANCE", Some(ClockState::Met)).await;
    let decision = clock_of(&system, &case_id, "CONFIRMATION_DECISION", Some(ClockState::Running)).await;
    assert_eq!(decision.period, "days:15");
    confirmation_of(&office, &id, ConfirmationState::Accepted).await;

    assert_eq!(court.extend_confirmation(&app.application_id, "").await.unwrap_err().code(), Code::InvalidArgument);
    assert!(court.extend_confirmation(&app.application_id, "院长王五").await.unwrap().extended);
    let extended = clock_of(&system, &case_id, "CONFIRMATION_DECISION", Some(ClockState::Running)).await;
    let days = (extended.due_at.unwrap().seconds - decision.due_at.unwrap().seconds) / 86_400;
    assert!((10..=13).contains(&days), "ten more days (to a working day): {days}");
    assert_eq!(
        court.extend_confirmation(&app.application_id, "院长王五").await.unwrap_err().code(),
        Code::FailedPrecondition
    );

    assert_eq!(
        court.decide_confirmation(&app.application_id, false, "").await.unwrap_err().code(),
        Code::InvalidArgument
    );
    let ruled = court.decide_confirmation(&app.application_id, true, "").await.unwrap();
    assert_eq!(ruled.state, ConfirmationState::Valid as i32);
    clock_of(&system, &case_id, "CONFIRMATION_DECISION", Some(ClockState::Met)).await;
    let seen = confirmation_of(&office, &id, ConfirmationState::Valid).await;
    assert_eq!(seen.court_id, COURT);
    assert_eq!(
        court.decide_confirmation(&app.application_id, true, "").await.unwrap_err().code(),
        Code::FailedPrecondition
    );
    system.finish().await;
}

async fn a_later_joint_application_goes_to_the_court_of_the_place_and_a_rejection_is_told(mode: Mode) {
    let system = System::start(mode).await.unwrap();
    let court = AgencySession::connect(&system, COURT).await;
    let village = Staff::connect(&system, VILLAGE_ORG).await;
    let (case_id, id) = under_way(&system, POLICE, &village, dispute(Source::Police, "JQ-confirm-1")).await;
    village.conclude(&id, MediationOutcome::Agreement).await.unwrap();
    let apply = |consents: Vec<u32>| ApplyForConfirmationRequest {
        referral_id: id.clone(),
        actor: village.me(),
        consenting_party_numbers: consents,
        concerns_personal_status: false,
    };
    let err = village.client().apply_for_confirmation(apply(vec![1])).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("joint"), "{}", err.message());
    let applied = village.client().apply_for_confirmation(apply(vec![1, 2])).await.unwrap().into_inner();
    let applied = applied.confirmation.unwrap();
    assert_eq!(applied.state, ConfirmationState::Applied as i32);
    assert_eq!(applied.window_ends.len(), 10, "a local date: {}", applied.window_ends);
    let again = village.client().apply_for_confirmation(apply(vec![1, 2])).await.unwrap_err();
    assert_eq!(again.code(), Code::FailedPrecondition);

    let app = application_of(&court, &case_id).await;
    court.accept_confirmation(&app.application_id, "(2026)甘0802民特13号").await.unwrap();
    court.decide_confirmation(&app.application_id, false, "协议内容违反法律强制性规定").await.unwrap();
    let seen = confirmation_of(&village, &id, ConfirmationState::Rejected).await;
    assert_eq!(seen.reason, "协议内容违反法律强制性规定");
    system.finish().await;
}

async fn personal_status_matters_are_refused_at_application(mode: Mode) {
    let system = System::start(mode).await.unwrap();
    let village = Staff::connect(&system, VILLAGE_ORG).await;
    let mut d = dispute(Source::Police, "JQ-confirm-2");
    d.category = Category::MarriageFamily as i32;
    let (_, id) = under_way(&system, POLICE, &village, d).await;
    let mut signed = ConcludeMediationRequest { actor: village.me(), ..conclusion(&id, MediationOutcome::Agreement) };
    signed.confirmation_consents = vec![1, 2];
    signed.agreement.as_mut().unwrap().terms = vec!["双方自愿离婚".into()];
    let err = village.client().conclude_mediation(signed.clone()).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("cannot be judicially confirmed"), "{}", err.message());
    signed.agreement.as_mut().unwrap().terms = vec!["婚后共同财产按约分割".into()];
    signed.concerns_personal_status = true;
    assert_eq!(village.client().conclude_mediation(signed.clone()).await.unwrap_err().code(), Code::InvalidArgument);
    let r = GetCaseWorkRequest { referral_id: id.clone(), actor: village.me() };
    let work = village.client().get_case_work(r).await.unwrap().into_inner().work.unwrap();
    assert_eq!(work.item.unwrap().state, ReferralState::InProgress as i32, "nothing changed");
    // The same agreement without an application concludes.
    signed.confirmation_consents.clear();
    signed.concerns_personal_status = false;
    village.client().conclude_mediation(signed).await.unwrap();
    system.finish().await;
}

mod standalone {
    use fengqiao_tests::system::Mode;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn applied_at_signing_the_court_accepts_extends_once_and_confirms() {
        super::applied_at_signing_the_court_accepts_extends_once_and_confirms(Mode::Standalone).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_later_joint_application_goes_to_the_court_of_the_place_and_a_rejection_is_told() {
        super::a_later_joint_application_goes_to_the_court_of_the_place_and_a_rejection_is_told(Mode::Standalone).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn personal_status_matters_are_refused_at_application() {
        super::personal_status_matters_are_refused_at_application(Mode::Standalone).await;
    }
}

mod distributed {
    use fengqiao_tests::system::Mode;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn applied_at_signing_the_court_accepts_extends_once_and_confirms() {
        super::applied_at_signing_the_court_accepts_extends_once_and_confirms(Mode::Distributed).await;
    }
}
