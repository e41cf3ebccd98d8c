//! A court system hands disputes over through the gateway and gets its result
//! back: the agreement, or the reason it proceeds to filing (立案) — after no
//! agreement, a refusal, or when the mediation period runs out. Court case
//! numbers are checked, the court's roster designates, and the court's clocks
//! (simplified procedure, pre-litigation extensions) follow its rules.

use std::time::Duration;

use fengqiao_proto::fengqiao::common::v1::*;
use fengqiao_proto::fengqiao::court::v1::court_linkage_service_client::CourtLinkageServiceClient;
use fengqiao_proto::fengqiao::court::v1::{
    CourtResult, Delegation, RosterKind, RosterMember, UpsertRosterMemberRequest,
};
use fengqiao_proto::fengqiao::routing::v1::routing_service_client::RoutingServiceClient;
use fengqiao_proto::fengqiao::routing::v1::ExtendClockRequest;
use fengqiao_tests::scenario::*;
use fengqiao_tests::system::{Mode, System};
use tonic::Code;

fn court_dispute(source: Source, number: &str) -> Dispute {
    dispute(source, number)
}

async fn result_when(
    court: &AgencySession,
    case_id: &str,
    what: &str,
    done: impl Fn(&Delegation) -> bool,
) -> Delegation {
    for _ in 0..300 {
        if let Ok(d) = court.court_result(case_id).await {
            if done(&d) {
                return d;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the court never saw {what} for case {case_id}");
}

async fn a_delegation_returns_its_agreement_or_its_reason_for_filing(mode: Mode) {
    let system = System::start(mode).await.unwrap();
    let court = AgencySession::connect(&system, COURT).await;
    let office = Staff::connect(&system, COURT_OFFICE_ORG).await;

    let agreed = court.submit(court_dispute(Source::CourtPreLitigation, "(2026)甘0802民诉前调123号")).await.unwrap();
    let agreed = agreed.status.unwrap().case_id;
    let refused = court.submit(court_dispute(Source::CourtPreLitigation, "(2026)甘0802民诉前调124号")).await.unwrap();
    let refused = refused.status.unwrap().case_id;
    let none = court.submit(court_dispute(Source::CourtInLitigation, "(2026)甘0802民初456号")).await.unwrap();
    let none = none.status.unwrap().case_id;
    assert_eq!(court.court_result(&agreed).await.unwrap().result, CourtResult::Unspecified as i32, "under way");

    office.mediate(&agreed, MediationOutcome::Agreement).await;
    office.mediate(&refused, MediationOutcome::PartyRefused).await;
    office.mediate(&none, MediationOutcome::NoAgreement).await;

    let d = result_when(&court, &agreed, "the agreement", |d| d.result != 0).await;
    assert_eq!(d.result, CourtResult::Agreement as i32);
    assert_eq!(d.court_case_no, "(2026)甘0802民诉前调123号");
    assert_eq!(d.agreement_terms.len(), 2);
    assert_eq!((d.agreement_sha256.len(), d.agreement_amount_fen), (64, 120_000));
    assert!(!d.performance_deadline.is_empty());
    let d = result_when(&court, &refused, "filing", |d| d.result != 0).await;
    assert_eq!(d.result, CourtResult::ProceedToFiling as i32);
    assert!(d.filing_reason.contains("art. 17"), "{}", d.filing_reason);
    let d = result_when(&court, &none, "filing", |d| d.result != 0).await;
    assert!(d.filing_reason.contains("no agreement"), "{}", d.filing_reason);

    // Nobody else sees the court's result.
    let police = AgencySession::connect(&system, POLICE).await;
    // (A police station may not ask for court results at all; another court gets NOT_FOUND: gateway_matrix.rs.)
    assert_eq!(police.court_result(&agreed).await.unwrap_err().code(), Code::PermissionDenied);
    let station_case = police.submit(dispute(Source::Police, "JQ-court-1")).await.unwrap().status.unwrap().case_id;
    assert_eq!(court.court_result(&station_case).await.unwrap_err().code(), Code::NotFound);
    system.finish().await;
}

async fn a_mediation_period_that_runs_out_sends_the_case_to_filing(mode: Mode) {
    let system = System::start_with(mode, &[("FENGQIAO_CLOCKS__PRE_LITIGATION", "seconds:2")]).await.unwrap();
    let court = AgencySession::connect(&system, COURT).await;
    let office = Staff::connect(&system, COURT_OFFICE_ORG).await;
    let case = court.submit(court_dispute(Source::CourtPreLitigation, "(2026)甘0802民诉前调200号")).await.unwrap();
    let case = case.status.unwrap().case_id;
    let item = office.referral_of(&case).await;
    office.accept(&item.referral_id).await.unwrap();
    let d = result_when(&court, &case, "the period run out", |d| d.result != 0).await;
    assert_eq!(d.result, CourtResult::ProceedToFiling as i32);
    assert!(d.filing_reason.contains("ran out"), "{}", d.filing_reason);
    // A later conclusion does not overwrite what the court was told.
    office.start(&item.referral_id).await.unwrap();
    office.conclude(&item.referral_id, MediationOutcome::Agreement).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(court.court_result(&case).await.unwrap().result, CourtResult::ProceedToFiling as i32);
    system.finish().await;
}

async fn court_numbers_procedure_and_roster_are_checked(mode: Mode) {
    let system = System::start(mode).await.unwrap();
    let court = AgencySession::connect(&system, COURT).await;
    for (source, number) in [
        (Source::CourtInLitigation, "2026甘0802民初1号"),
        (Source::CourtInLitigation, "(2026)甘0802刑初1号"),
        (Source::CourtPreLitigation, "(2026)甘0802民初2号"),
        (Source::CourtInLitigation, "(2026)甘0802民诉前调3号"),
    ] {
        let err = court.submit(court_dispute(source, number)).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{number}");
        assert!(err.message().contains("court_case_no"), "{number}: {}", err.message());
    }
    let police = AgencySession::connect(&system, POLICE).await;
    let mut simplified = dispute(Source::Police, "JQ-simplified");
    simplified.simplified_procedure = true;
    assert_eq!(police.submit(simplified).await.unwrap_err().code(), Code::InvalidArgument);

    // Simplified procedure: a 7-day entrusted mediation.
    let mut d = court_dispute(Source::CourtInLitigation, "(2026)甘0802民初457号");
    d.simplified_procedure = true;
    let case = court.submit(d).await.unwrap().status.unwrap().case_id;
    let office = Staff::connect(&system, COURT_OFFICE_ORG).await;
    let item = office.referral_of(&case).await;
    office.accept(&item.referral_id).await.unwrap();
    assert_eq!(clock_of(&system, &case, "IN_LITIGATION_SIMPLIFIED", None).await.period, "days:7");

    // The roster: a designation must be on it, and is honoured.
    let mut linkage =
        CourtLinkageServiceClient::new(fengqiao_tests::channel(system.addr("court-linkage")).await.unwrap());
    let mut designated = court_dispute(Source::CourtPreLitigation, "(2026)甘0802民诉前调300号");
    designated.preferred_org_id = TOWNSHIP_ORG.into();
    let err = court.submit(designated.clone()).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(
        err.message().contains("dispute.preferred_org_id") && err.message().contains("roster"),
        "{}",
        err.message()
    );
    let member = RosterMember {
        court_id: COURT.into(),
        member_id: TOWNSHIP_ORG.into(),
        kind: RosterKind::Organisation as i32,
        name: "东关街道人民调解委员会".into(),
        active: true,
    };
    linkage.upsert_roster_member(UpsertRosterMemberRequest { member: Some(member) }).await.unwrap();
    let case = court.submit(designated).await.unwrap().status.unwrap().case_id;
    let s = court.wait_for(&case, "RECEIVED", in_state(ReferralState::Received)).await;
    assert_eq!(s.org_id, TOWNSHIP_ORG, "the court's designation is honoured");
    system.finish().await;
}

async fn pre_litigation_extension_needs_both_parties_and_stays_under_its_cap(mode: Mode) {
    let system = System::start(mode).await.unwrap();
    let court = AgencySession::connect(&system, COURT).await;
    let office = Staff::connect(&system, COURT_OFFICE_ORG).await;
    let case = court.submit(court_dispute(Source::CourtPreLitigation, "(2026)甘0802民诉前调400号")).await.unwrap();
    let case = case.status.unwrap().case_id;
    let item = office.referral_of(&case).await;
    office.accept(&item.referral_id).await.unwrap();
    let clock = clock_of(&system, &case, "PRE_LITIGATION", None).await;
    let mut routing = RoutingServiceClient::new(fengqiao_tests::channel(system.addr("routing")).await.unwrap());
    let extend = |period: &str, consented: &[&str]| ExtendClockRequest {
        clock_id: clock.clock_id.clone(),
        period: period.into(),
        consented_by: consented.iter().map(|c| c.to_string()).collect(),
        reason: "双方同意延长调解期限".into(),
        actor: Some(Actor { org_id: COURT_OFFICE_ORG.into(), ..Default::default() }),
    };
    let err = routing.extend_clock(extend("days:10", &["申请人张三"])).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("consented_by"), "{}", err.message());
    routing.extend_clock(extend("days:10", &["申请人张三", "被申请人李四"])).await.unwrap();
    let err = routing.extend_clock(extend("days:25", &["申请人张三", "被申请人李四"])).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("period"), "{}", err.message());
    routing.extend_clock(extend("days:15", &["申请人张三", "被申请人李四"])).await.unwrap();
    system.finish().await;
}

mod standalone {
    use fengqiao_tests::system::Mode;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_delegation_returns_its_agreement_or_its_reason_for_filing() {
        super::a_delegation_returns_its_agreement_or_its_reason_for_filing(Mode::Standalone).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_mediation_period_that_runs_out_sends_the_case_to_filing() {
        super::a_mediation_period_that_runs_out_sends_the_case_to_filing(Mode::Standalone).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn court_numbers_procedure_and_roster_are_checked() {
        super::court_numbers_procedure_and_roster_are_checked(Mode::Standalone).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pre_litigation_extension_needs_both_parties_and_stays_under_its_cap() {
        super::pre_litigation_extension_needs_both_parties_and_stays_under_its_cap(Mode::Standalone).await;
    }
}

mod distributed {
    use fengqiao_tests::system::Mode;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_delegation_returns_its_agreement_or_its_reason_for_filing() {
        super::a_delegation_returns_its_agreement_or_its_reason_for_filing(Mode::Distributed).await;
    }
}
