//! A petition bureau's matter through mediation and back: the statutory
//! clocks (acceptance 15 days, handling 60 with one approved extension of at
//! most 30, hearing time excluded), the leader who owns it, the reply, the
//! petitioner's satisfaction, repeat petitions flagged, the three rates and
//! the backlog — all through the gateway.

use std::time::Duration;

use fengqiao_proto::fengqiao::common::v1::*;
use fengqiao_proto::fengqiao::gateway::v1::SubmitDisputeRequest;
use fengqiao_proto::fengqiao::mediation::v1::{HoldMediationRequest, ResumeMediationRequest};
use fengqiao_proto::fengqiao::petition::v1::{BacklogState, Petition, ReviewLevel};
use fengqiao_proto::fengqiao::routing::v1::routing_service_client::RoutingServiceClient;
use fengqiao_proto::fengqiao::routing::v1::{ClockState, ExtendClockRequest};
use fengqiao_proto::fengqiao::supervision::v1::supervision_service_client::SupervisionServiceClient;
use fengqiao_proto::fengqiao::supervision::v1::GetCaseSupervisionRequest;
use fengqiao_tests::scenario::*;
use fengqiao_tests::system::{Mode, System};
use tonic::Code;

const DAY: i64 = 86_400;

async fn petition_when(
    bureau: &AgencySession,
    case_id: &str,
    what: &str,
    done: impl Fn(&Petition) -> bool,
) -> Petition {
    for _ in 0..100 {
        if let Ok(p) = bureau.petition_result(case_id).await {
            if done(&p) {
                return p;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the bureau never saw {what} for case {case_id}");
}

fn petitioner(reference: &str) -> Dispute {
    let mut d = dispute(Source::Petition, reference);
    d.parties[0].resident_id = "11010519491231002X".into();
    d
}

async fn a_matter_is_accepted_handled_extended_replied_and_rated(mode: Mode) {
    let system = System::start(mode).await.unwrap();
    let bureau = AgencySession::connect(&system, PETITION).await;
    let committee = Staff::connect(&system, PETITION_COMMITTEE_ORG).await;
    let submitted = bureau
        .submit_with(SubmitDisputeRequest {
            dispute: Some(petitioner("XF620802-2026-1001")),
            previous_handling: "2026年9月街道答复，信访人不服".into(),
            leader_id: "leader-620802-01".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let case_id = submitted.status.unwrap().case_id;
    let waiting = bureau.submit(dispute(Source::Petition, "XF620802-2026-1002")).await.unwrap();
    let waiting = waiting.status.unwrap().case_id;

    // Registered: the leader owns it; an organisation has 15 days to accept.
    let p = petition_when(&bureau, &case_id, "the acceptance deadline", |p| p.acceptance_due.is_some()).await;
    assert_eq!(
        (p.leader_id.as_str(), p.previous_handling.as_str()),
        ("leader-620802-01", "2026年9月街道答复，信访人不服")
    );
    let days = p.acceptance_due.unwrap().seconds - p.registered_at.unwrap().seconds;
    assert!((15 * DAY..=19 * DAY).contains(&days), "15 days (to a working day): {days}");
    let mut supervision = SupervisionServiceClient::new(fengqiao_tests::channel(system.addr("routing")).await.unwrap());
    let owner = supervision.get_case_supervision(GetCaseSupervisionRequest { case_id: case_id.clone() }).await.unwrap();
    assert_eq!(owner.into_inner().owner.unwrap().leader_id, "leader-620802-01");

    // Accepted: 60 days to handle it.
    let item = committee.referral_of(&case_id).await;
    committee.accept(&item.referral_id).await.unwrap();
    committee.start(&item.referral_id).await.unwrap();
    clock_of(&system, &case_id, "PETITION_ACCEPTANCE", Some(ClockState::Met)).await;
    let handling = clock_of(&system, &case_id, "PETITION_HANDLING", Some(ClockState::Running)).await;
    assert_eq!(handling.period, "days:60");
    let mut shown = committee.referral_of(&case_id).await;
    for _ in 0..50 {
        if shown.clock_due_at.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        shown = committee.referral_of(&case_id).await;
    }
    assert_eq!(shown.clock_due_at, handling.due_at, "the committee's inbox shows the handling deadline");

    // A hearing is not counted: on hold the clock stops, and resumes with its deadline moved.
    let mut mediation = committee.client();
    let hold =
        HoldMediationRequest { referral_id: item.referral_id.clone(), actor: committee.me(), reason: "听证".into() };
    let silent = HoldMediationRequest { reason: String::new(), ..hold.clone() };
    assert_eq!(mediation.hold_mediation(silent).await.unwrap_err().code(), Code::InvalidArgument, "a hold says why");
    mediation.hold_mediation(hold).await.unwrap();
    clock_of(&system, &case_id, "PETITION_HANDLING", Some(ClockState::Paused)).await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let resume = ResumeMediationRequest { referral_id: item.referral_id.clone(), actor: committee.me() };
    mediation.resume_mediation(resume).await.unwrap();
    let resumed = clock_of(&system, &case_id, "PETITION_HANDLING", Some(ClockState::Running)).await;
    assert!(resumed.due_at.unwrap().seconds > handling.due_at.unwrap().seconds, "the hearing moved the deadline");

    // One extension, approved, of at most 30 days; its reason reaches the bureau.
    let mut routing = RoutingServiceClient::new(fengqiao_tests::channel(system.addr("routing")).await.unwrap());
    let extend = |period: &str| ExtendClockRequest {
        clock_id: handling.clock_id.clone(),
        period: period.into(),
        consented_by: vec!["县信访局局长".into()],
        reason: "需要补充调查取证".into(),
        actor: Some(Actor { org_id: PETITION.into(), ..Default::default() }),
    };
    assert_eq!(routing.extend_clock(extend("days:40")).await.unwrap_err().code(), Code::InvalidArgument);
    routing.extend_clock(extend("days:30")).await.unwrap();
    let err = routing.extend_clock(extend("days:5")).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("clock_id"), "extended once: {}", err.message());
    let p = petition_when(&bureau, &case_id, "the extension", |p| !p.extension_reason.is_empty()).await;
    assert_eq!(p.extension_reason, "需要补充调查取证");

    // Concluded: the reply and the outcome come back; the petitioner is asked.
    committee.conclude(&item.referral_id, MediationOutcome::Agreement).await.unwrap();
    let p = petition_when(&bureau, &case_id, "the reply", |p| p.concluded_at.is_some()).await;
    assert_eq!((p.outcome, p.reply.as_str()), (MediationOutcome::Agreement as i32, "双方达成一致"));
    assert_eq!(bureau.petition_satisfaction(&case_id, 6).await.unwrap_err().code(), Code::InvalidArgument);
    assert_eq!(bureau.petition_satisfaction(&waiting, 5).await.unwrap_err().code(), Code::FailedPrecondition);
    bureau.petition_satisfaction(&case_id, 5).await.unwrap();

    // This month: two registered, one accepted in time; one concluded in time; one satisfied.
    let month = {
        let t = time::OffsetDateTime::now_utc().to_offset(time::macros::offset!(+8));
        format!("{:04}-{:02}", t.year(), u8::from(t.month()))
    };
    let r = bureau.petition_rates(&month).await.unwrap();
    assert_eq!((r.registered, r.accepted_on_time, r.concluded, r.concluded_on_time), (2, 1, 1, 1));
    assert_eq!((r.timely_acceptance_rate, r.handling_rate, r.satisfaction_rate), (0.5, 1.0, 1.0));
    let backlog = bureau.petition_backlog().await.unwrap();
    assert_eq!(backlog.len(), 1);
    assert_eq!((backlog[0].clock.as_str(), backlog[0].state), ("ACCEPTANCE", BacklogState::OnTime as i32));

    // Nobody else sees the bureau's matter.
    let police = AgencySession::connect(&system, POLICE).await;
    assert_eq!(police.petition_result(&case_id).await.unwrap_err().code(), Code::PermissionDenied);
    let stray = SubmitDisputeRequest {
        dispute: Some(dispute(Source::Police, "JQ-petition-1")),
        leader_id: "leader-x".into(),
        ..Default::default()
    };
    assert_eq!(police.submit_with(stray).await.unwrap_err().code(), Code::InvalidArgument);
    system.finish().await;
}

async fn a_repeat_petition_on_the_same_matter_is_flagged(mode: Mode) {
    let system = System::start(mode).await.unwrap();
    let bureau = AgencySession::connect(&system, PETITION).await;
    let first = bureau.submit(petitioner("XF620802-2026-2001")).await.unwrap().status.unwrap().case_id;
    let again = bureau.submit(petitioner("XF620802-2026-2002")).await.unwrap().status.unwrap().case_id;
    let p = petition_when(&bureau, &again, "the repeat flag", |p| !p.repeat_of_case_id.is_empty()).await;
    assert_eq!(p.repeat_of_case_id, first);
    let p = bureau.petition_result(&first).await.unwrap();
    assert!(p.repeat_of_case_id.is_empty(), "the first is no repeat");
    system.finish().await;
}

async fn a_dissatisfied_petitioner_asks_for_review_and_second_review(mode: Mode) {
    let system = System::start(mode).await.unwrap();
    let bureau = AgencySession::connect(&system, PETITION).await;
    let committee = Staff::connect(&system, PETITION_COMMITTEE_ORG).await;
    let original = bureau.submit(petitioner("XF620802-2026-3001")).await.unwrap().status.unwrap().case_id;
    let review = |number: &str, of: &str, level: ReviewLevel| SubmitDisputeRequest {
        dispute: Some(petitioner(number)),
        review_of_case_id: of.into(),
        review_level: level as i32,
        ..Default::default()
    };
    // No reply yet: nothing to review.
    let early = bureau.submit_with(review("XF620802-2026-3001-复查", &original, ReviewLevel::Review)).await;
    assert_eq!(early.unwrap_err().code(), Code::FailedPrecondition);
    committee.mediate(&original, MediationOutcome::NoAgreement).await;
    petition_when(&bureau, &original, "the reply", |p| p.concluded_at.is_some()).await;
    bureau.petition_satisfaction(&original, 2).await.unwrap();

    // A second review of an original matter is refused; a review opens a linked matter.
    let skipped = bureau.submit_with(review("XF620802-2026-3001-复核", &original, ReviewLevel::SecondReview)).await;
    assert_eq!(skipped.unwrap_err().code(), Code::InvalidArgument);
    let opened = bureau.submit_with(review("XF620802-2026-3001-复查", &original, ReviewLevel::Review)).await.unwrap();
    let reviewed = opened.status.unwrap().case_id;
    assert_ne!(reviewed, original);
    let p = bureau.petition_result(&reviewed).await.unwrap();
    assert_eq!((p.review_of_case_id.as_str(), p.review_level), (original.as_str(), ReviewLevel::Review as i32));

    // It is answered within 30 days, not 60.
    let item = committee.referral_of(&reviewed).await;
    committee.accept(&item.referral_id).await.unwrap();
    assert_eq!(
        clock_of(&system, &reviewed, "PETITION_REVIEW_ANSWER", Some(ClockState::Running)).await.period,
        "days:30"
    );
    committee.start(&item.referral_id).await.unwrap();
    committee.conclude(&item.referral_id, MediationOutcome::NoAgreement).await.unwrap();
    petition_when(&bureau, &reviewed, "the review's reply", |p| p.concluded_at.is_some()).await;

    // Then a second review of the review.
    let second = bureau.submit_with(review("XF620802-2026-3001-复核", &reviewed, ReviewLevel::SecondReview)).await;
    let second = second.unwrap().status.unwrap().case_id;
    let p = bureau.petition_result(&second).await.unwrap();
    assert_eq!((p.review_of_case_id.as_str(), p.review_level), (reviewed.as_str(), ReviewLevel::SecondReview as i32));
    system.finish().await;
}

mod standalone {
    use fengqiao_tests::system::Mode;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_matter_is_accepted_handled_extended_replied_and_rated() {
        super::a_matter_is_accepted_handled_extended_replied_and_rated(Mode::Standalone).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_dissatisfied_petitioner_asks_for_review_and_second_review() {
        super::a_dissatisfied_petitioner_asks_for_review_and_second_review(Mode::Standalone).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_repeat_petition_on_the_same_matter_is_flagged() {
        super::a_repeat_petition_on_the_same_matter_is_flagged(Mode::Standalone).await;
    }
}

mod distributed {
    use fengqiao_tests::system::Mode;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_matter_is_accepted_handled_extended_replied_and_rated() {
        super::a_matter_is_accepted_handled_extended_replied_and_rated(Mode::Distributed).await;
    }
}
