//! An organisation's work through the mediation gRPC API on a running system:
//! mediators honouring the applicant's choice, sessions, every outcome with
//! what it needs (a party's refusal ends it, art. 17), the agreement document,
//! performance, the return visit, the case file, the subsidy and the figures.

use std::time::Duration;

use fengqiao_proto::fengqiao::common::v1::*;
use fengqiao_proto::fengqiao::mediation::v1::*;
use fengqiao_proto::fengqiao::routing::v1::routing_service_client::RoutingServiceClient;
use fengqiao_proto::fengqiao::routing::v1::{Mediator, UpsertMediatorRequest};
use fengqiao_tests::scenario::*;
use fengqiao_tests::system::{Mode, System};
use prost_types::Timestamp;
use sha2::{Digest, Sha256};
use tonic::Code;

fn hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn now() -> Timestamp {
    let t = std::time::SystemTime::now();
    Timestamp::from(t)
}

fn in_days(days: i64) -> Timestamp {
    Timestamp { seconds: now().seconds + days * 86_400, nanos: 0 }
}

fn field_of(status: &tonic::Status) -> String {
    // The field violations travel in the status details; the message names them too.
    status.message().to_string()
}

async fn add_mediators(system: &System, org: &str, ids: &[&str]) {
    let mut routing = RoutingServiceClient::new(fengqiao_tests::channel(system.addr("routing")).await.unwrap());
    for id in ids {
        let mediator = Mediator {
            mediator_id: id.to_string(),
            org_id: org.into(),
            name: format!("调解员{id}"),
            specialties: vec!["NEIGHBOURHOOD".into()],
            available: true,
        };
        routing.upsert_mediator(UpsertMediatorRequest { mediator: Some(mediator) }).await.unwrap();
    }
}

/// Submits a police dispute and brings its referral to IN_PROGRESS at `staff`'s organisation.
async fn under_way(
    system: &System,
    staff: &Staff,
    reference: &str,
    tune: impl FnOnce(&mut Dispute),
) -> (String, String) {
    let police = AgencySession::connect(system, POLICE).await;
    let mut d = dispute(Source::Police, reference);
    tune(&mut d);
    let case_id = police.submit(d).await.unwrap().status.unwrap().case_id;
    let item = staff.referral_of(&case_id).await;
    staff.accept(&item.referral_id).await.unwrap();
    staff.start(&item.referral_id).await.unwrap();
    (case_id, item.referral_id)
}

async fn work(staff: &Staff, referral_id: &str) -> CaseWork {
    let r = GetCaseWorkRequest { referral_id: referral_id.into(), actor: staff.me() };
    staff.client().get_case_work(r).await.unwrap().into_inner().work.unwrap()
}

async fn inbox(staff: &Staff, org: &str, tune: impl FnOnce(&mut ListInboxRequest)) -> Vec<InboxItem> {
    let mut r = ListInboxRequest { org_id: org.into(), page_size: 500, ..Default::default() };
    tune(&mut r);
    staff.client().list_inbox(r).await.unwrap().into_inner().items
}

fn schedule(referral_id: &str, actor: Option<Actor>) -> ScheduleSessionRequest {
    ScheduleSessionRequest {
        referral_id: referral_id.into(),
        actor,
        scheduled_at: Some(in_days(1)),
        place: "社区调解室".into(),
        party_numbers: vec![1, 2],
        participant_ids: vec!["mediator-v-1".into()],
        ..Default::default()
    }
}

fn record(session_id: &str, actor: Option<Actor>, absent: Vec<u32>) -> RecordSessionRequest {
    RecordSessionRequest {
        session_id: session_id.into(),
        actor,
        record: "双方陈述事实，调解员释法明理".into(),
        absent_party_numbers: absent,
    }
}

fn document(referral_id: &str, actor: Option<Actor>, kind: FileDocumentKind, title: &str) -> AddFileDocumentRequest {
    AddFileDocumentRequest {
        referral_id: referral_id.into(),
        actor,
        kind: kind as i32,
        title: title.into(),
        sha256: hex(title.as_bytes()),
        size_bytes: 2048,
        media_type: "application/pdf".into(),
    }
}

async fn an_agreement_is_rendered_performed_visited_and_paid(mode: Mode) {
    let system = System::start(mode).await.unwrap();
    add_mediators(&system, VILLAGE_ORG, &["mediator-v-1", "mediator-v-2"]).await;
    let staff = Staff::connect(&system, VILLAGE_ORG).await;
    let mut client = staff.client();
    let me = staff.me();
    let (case_id, id) =
        under_way(&system, &staff, "JQ-med-agree", |d| d.preferred_mediator_id = "mediator-v-1".into()).await;

    // The applicant's choice (挂号) leads from acceptance; replacing it needs a reason.
    let w = work(&staff, &id).await;
    assert_eq!((w.mediators[0].mediator_id.as_str(), w.mediators[0].chosen_by_party), ("mediator-v-1", true));
    let assign = |lead: &str, co: &[&str], reason: &str| AssignMediatorsRequest {
        referral_id: id.clone(),
        actor: me.clone(),
        lead_mediator_id: lead.into(),
        co_mediator_ids: co.iter().map(|c| c.to_string()).collect(),
        reason: reason.into(),
    };
    let err = client.assign_mediators(assign("mediator-v-2", &[], "")).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(field_of(&err).contains("reason"), "{err:?}");
    let err = client.assign_mediators(assign("mediator-nobody", &[], "当事人同意")).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    let assigned = client.assign_mediators(assign("mediator-v-1", &["mediator-v-2"], "")).await.unwrap().into_inner();
    assert_eq!(assigned.mediators.len(), 2);

    // The inbox shows the mediation clock's deadline and filters by it, the risk, the source, the lead.
    let due = fengqiao_platform::db::micros_of(&in_days(40));
    let mut shown = Vec::new();
    for _ in 0..100 {
        shown = inbox(&staff, VILLAGE_ORG, |r| r.due_before = Some(in_days(40))).await;
        if shown.iter().any(|i| i.referral_id == id) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let item = shown.iter().find(|i| i.referral_id == id).expect("due within 40 days");
    assert!(fengqiao_platform::db::micros_of(item.clock_due_at.as_ref().unwrap()) < due);
    assert!(inbox(&staff, VILLAGE_ORG, |r| r.due_before = Some(now())).await.iter().all(|i| i.referral_id != id));
    let by = |r: &mut ListInboxRequest| r.sources = vec![Source::CourtPreLitigation as i32];
    assert!(inbox(&staff, VILLAGE_ORG, by).await.iter().all(|i| i.referral_id != id));
    let by = |r: &mut ListInboxRequest| r.lead_mediator_id = "mediator-v-1".into();
    assert!(inbox(&staff, VILLAGE_ORG, by).await.iter().any(|i| i.referral_id == id));

    // A session, moved once, held with the respondent absent.
    let session = client.schedule_session(schedule(&id, me.clone())).await.unwrap().into_inner().session.unwrap();
    let moved = RescheduleSessionRequest {
        session_id: session.session_id.clone(),
        actor: me.clone(),
        scheduled_at: Some(in_days(2)),
        reason: "被申请人出差".into(),
    };
    let moved = client.reschedule_session(moved).await.unwrap().into_inner().session.unwrap();
    assert_eq!(moved.reschedules.len(), 1);
    let held = client.record_session(record(&session.session_id, me.clone(), vec![2])).await.unwrap();
    assert_eq!(held.into_inner().session.unwrap().absent_party_numbers, vec![2]);

    for (kind, title) in
        [(FileDocumentKind::Application, "调解申请书"), (FileDocumentKind::InvestigationRecord, "调查笔录")]
    {
        client.add_file_document(document(&id, me.clone(), kind, title)).await.unwrap();
    }

    // The agreement: rendered from the neighbourhood template with the parties in full, hashed.
    let concluded = client
        .conclude_mediation(ConcludeMediationRequest {
            actor: me.clone(),
            ..conclusion(&id, MediationOutcome::Agreement)
        })
        .await
        .unwrap()
        .into_inner();
    let doc = concluded.agreement_document.unwrap();
    assert_eq!(doc.template_id, "agreement/neighbourhood@1");
    assert!(doc.text.contains("张三") && doc.text.contains("李四") && doc.text.contains("1200.00"), "{}", doc.text);
    assert_eq!(doc.sha256, hex(doc.text.as_bytes()));
    let again = GetAgreementDocumentRequest { referral_id: id.clone(), actor: me.clone() };
    assert_eq!(client.get_agreement_document(again).await.unwrap().into_inner().document.unwrap(), doc);
    let police = AgencySession::connect(&system, POLICE).await;
    police.wait_for(&case_id, "AGREEMENT", |s| s.outcome == MediationOutcome::Agreement as i32).await;
    let due_soon = inbox(&staff, VILLAGE_ORG, |r| r.due_before = Some(in_days(40))).await;
    assert!(due_soon.iter().all(|i| i.referral_id != id), "a concluded referral is no longer due");

    // Not paid until performed, visited and complete — and it says what is missing.
    let w = work(&staff, &id).await;
    assert_eq!(w.performance.unwrap().state, PerformanceState::Pending as i32);
    let subsidy = w.subsidy.unwrap();
    assert!(!subsidy.eligible && subsidy.why_not.contains("performed"), "{subsidy:?}");
    assert_eq!(w.case_file.unwrap().missing, vec![FileDocumentKind::ReturnVisit as i32]);
    let perform = RecordPerformanceRequest {
        referral_id: id.clone(),
        actor: me.clone(),
        state: PerformanceState::Performed as i32,
        performed_at: Some(now()),
        note: "已当场给付".into(),
    };
    client.record_performance(perform).await.unwrap();
    let visit = |satisfaction| RecordReturnVisitRequest {
        referral_id: id.clone(),
        actor: me.clone(),
        visited_at: Some(now()),
        satisfaction,
        method: "phone".into(),
        note: "双方表示满意".into(),
    };
    assert_eq!(client.record_return_visit(visit(6)).await.unwrap_err().code(), Code::InvalidArgument);
    client.record_return_visit(visit(5)).await.unwrap();
    let w = work(&staff, &id).await;
    assert!(w.case_file.as_ref().unwrap().complete, "{:?}", w.case_file);
    let subsidy = w.subsidy.unwrap();
    assert_eq!((subsidy.eligible, subsidy.tier, subsidy.amount_fen), (true, 1, 5_000), "{subsidy:?}");

    // This month's statement and figures count it.
    let month = {
        let t = time::OffsetDateTime::now_utc().to_offset(time::macros::offset!(+8));
        format!("{:04}-{:02}", t.year(), u8::from(t.month()))
    };
    let r = GetSubsidyStatementRequest { org_id: VILLAGE_ORG.into(), month: month.clone() };
    let statement = client.get_subsidy_statement(r).await.unwrap().into_inner().statement.unwrap();
    assert_eq!((statement.cases, statement.amount_fen), (1, 5_000));
    assert_eq!(statement.mediators[0].mediator_id, "mediator-v-1");
    let r = GetWorkStatisticsRequest { org_id: VILLAGE_ORG.into(), period: month.clone() };
    let figures = client.get_work_statistics(r).await.unwrap().into_inner();
    let org = figures.organisation.unwrap();
    assert_eq!((org.concluded, org.agreements, org.agreement_rate, org.average_satisfaction), (1, 1, 1.0, 5.0));
    if mode == Mode::Standalone {
        let out = system.cli(&["org", "--as", VILLAGE_ORG, "statement", "--month", &month, "--csv"]);
        let csv = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(csv.contains(&format!("total,{VILLAGE_ORG},{month},,,,,,1,50.00")), "{csv}");
    }
    system.finish().await;
}

async fn a_partys_refusal_ends_the_mediation_and_no_session_follows(mode: Mode) {
    let system = System::start(mode).await.unwrap();
    let staff = Staff::connect(&system, VILLAGE_ORG).await;
    let mut client = staff.client();
    let (case_id, id) = under_way(&system, &staff, "JQ-med-refused", |_| {}).await;
    let session = client.schedule_session(schedule(&id, staff.me())).await.unwrap().into_inner().session.unwrap();

    let mut refused = ConcludeMediationRequest { actor: staff.me(), ..conclusion(&id, MediationOutcome::PartyRefused) };
    refused.refusing_party_number = 0;
    let err = client.conclude_mediation(refused.clone()).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(field_of(&err).contains("refusing_party_number"), "{err:?}");
    refused.refusing_party_number = 3;
    assert_eq!(client.conclude_mediation(refused.clone()).await.unwrap_err().code(), Code::InvalidArgument);
    refused.refusing_party_number = 2;
    let item = client.conclude_mediation(refused).await.unwrap().into_inner().item.unwrap();
    assert_eq!(item.state, ReferralState::Completed as i32);

    // The sender is told; the mediation is over.
    let police = AgencySession::connect(&system, POLICE).await;
    police.wait_for(&case_id, "PARTY_REFUSED", |s| s.outcome == MediationOutcome::PartyRefused as i32).await;
    let err = client.record_session(record(&session.session_id, staff.me(), vec![])).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(err.message().contains("art. 17"), "{}", err.message());
    let err = client.schedule_session(schedule(&id, staff.me())).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
    assert_eq!(work(&staff, &id).await.refusing_party_number, 2);
    system.finish().await;
}

async fn each_outcome_requires_its_details_and_bad_input_changes_nothing(mode: Mode) {
    let system = System::start(mode).await.unwrap();
    let staff = Staff::connect(&system, VILLAGE_ORG).await;
    let mut client = staff.client();
    let police = AgencySession::connect(&system, POLICE).await;
    let conclude = |id: &str, outcome| ConcludeMediationRequest { actor: staff.me(), ..conclusion(id, outcome) };

    // An agreement: every party signs a written one; the deadline lies ahead.
    let (_, id) = under_way(&system, &staff, "JQ-med-details-1", |_| {}).await;
    let mut bad = conclude(&id, MediationOutcome::Agreement);
    bad.agreement.as_mut().unwrap().signatures.pop();
    bad.agreement.as_mut().unwrap().performance_deadline = "2020-01-01".into();
    let err = client.conclude_mediation(bad).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    for field in ["agreement.signatures", "agreement.performance_deadline"] {
        assert!(field_of(&err).contains(field), "{field} in {err:?}");
    }
    let mut oral = conclude(&id, MediationOutcome::Agreement);
    oral.routes_told = vec![OtherRoute::Litigation as i32];
    assert_eq!(client.conclude_mediation(oral).await.unwrap_err().code(), Code::InvalidArgument);
    assert_eq!(work(&staff, &id).await.item.unwrap().state, ReferralState::InProgress as i32, "nothing changed");
    let mut oral = conclude(&id, MediationOutcome::Agreement);
    let terms = oral.agreement.as_mut().unwrap();
    terms.form = AgreementForm::Oral as i32;
    terms.signatures.clear();
    let doc = client.conclude_mediation(oral).await.unwrap().into_inner().agreement_document.unwrap();
    assert!(doc.text.contains("口头协议"), "{}", doc.text);

    // No agreement: the parties were told their other routes (art. 26).
    let (case_id, id) = under_way(&system, &staff, "JQ-med-details-2", |_| {}).await;
    let mut none = conclude(&id, MediationOutcome::NoAgreement);
    none.routes_told.clear();
    assert_eq!(client.conclude_mediation(none).await.unwrap_err().code(), Code::InvalidArgument);
    client.conclude_mediation(conclude(&id, MediationOutcome::NoAgreement)).await.unwrap();
    police.wait_for(&case_id, "NO_AGREEMENT", |s| s.outcome == MediationOutcome::NoAgreement as i32).await;
    assert_eq!(work(&staff, &id).await.routes_told, vec![OtherRoute::Litigation as i32]);
    let err = client.get_agreement_document(GetAgreementDocumentRequest { referral_id: id, actor: staff.me() });
    assert_eq!(err.await.unwrap_err().code(), Code::FailedPrecondition);

    // Withdrawn: why.
    let (_, id) = under_way(&system, &staff, "JQ-med-details-3", |_| {}).await;
    let mut withdrawn = conclude(&id, MediationOutcome::Withdrawn);
    withdrawn.summary.clear();
    assert_eq!(client.conclude_mediation(withdrawn).await.unwrap_err().code(), Code::InvalidArgument);
    client.conclude_mediation(conclude(&id, MediationOutcome::Withdrawn)).await.unwrap();

    // Terminated: it turned criminal and goes back to the police station.
    let (case_id, id) = under_way(&system, &staff, "JQ-med-details-4", |_| {}).await;
    let mut terminated = conclude(&id, MediationOutcome::Terminated);
    terminated.summary = "涉嫌故意伤害，移交公安机关".into();
    terminated.return_to_source = true;
    client.conclude_mediation(terminated).await.unwrap();
    let s = police.wait_for(&case_id, "returned", |s| s.returned_to_sender).await;
    assert_eq!(s.outcome, MediationOutcome::Terminated as i32);
    system.finish().await;
}

async fn joint_mediation_has_one_lead_that_alone_concludes(mode: Mode) {
    let system = System::start(mode).await.unwrap();
    let lead = Staff::connect(&system, VILLAGE_ORG).await;
    let township = Staff::connect(&system, TOWNSHIP_ORG).await;
    let county = Staff::connect(&system, COUNTY_ORG).await;
    let (_, id) = under_way(&system, &lead, "JQ-med-joint", |_| {}).await;
    let invite = InviteOrganisationsRequest {
        referral_id: id.clone(),
        actor: lead.me(),
        org_ids: vec![TOWNSHIP_ORG.into(), COUNTY_ORG.into()],
        reason: "涉及土地边界，需街道司法所参与".into(),
    };
    assert_eq!(lead.client().invite_organisations(invite).await.unwrap().into_inner().joint_organisations.len(), 2);

    // Invited organisations see it in their inbox under the lead's name, and nothing more until they join.
    let seen = inbox(&township, TOWNSHIP_ORG, |_| {}).await;
    assert_eq!(seen.iter().find(|i| i.referral_id == id).unwrap().org_id, VILLAGE_ORG);
    let get = GetCaseWorkRequest { referral_id: id.clone(), actor: township.me() };
    assert_eq!(township.client().get_case_work(get).await.unwrap_err().code(), Code::NotFound);
    let answer = |staff: &Staff, join: bool, reason: &str| AnswerJointInvitationRequest {
        referral_id: id.clone(),
        actor: staff.me(),
        join,
        reason: reason.into(),
    };
    township.client().answer_joint_invitation(answer(&township, true, "")).await.unwrap();
    let err = county.client().answer_joint_invitation(answer(&county, false, "")).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    county.client().answer_joint_invitation(answer(&county, false, "本案不属县级受理范围")).await.unwrap();
    assert!(inbox(&county, COUNTY_ORG, |_| {}).await.iter().all(|i| i.referral_id != id));
    let err = county.client().answer_joint_invitation(answer(&county, true, "")).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "a declined invitation is answered");

    // The joined organisation holds sessions; only the lead concludes.
    let mut joined = township.client();
    let session = joined.schedule_session(schedule(&id, township.me())).await.unwrap().into_inner().session.unwrap();
    joined.record_session(record(&session.session_id, township.me(), vec![])).await.unwrap();
    let by_township = ConcludeMediationRequest { actor: township.me(), ..conclusion(&id, MediationOutcome::Agreement) };
    assert_eq!(joined.conclude_mediation(by_township).await.unwrap_err().code(), Code::NotFound);
    let w = work(&lead, &id).await;
    let states: Vec<i32> = w.joint_organisations.iter().map(|j| j.state).collect();
    assert!(states.contains(&(JointState::Joined as i32)) && states.contains(&(JointState::Declined as i32)));
    assert_eq!(w.sessions[0].org_id, TOWNSHIP_ORG);
    assert_eq!(w.subsidy.unwrap().tier, 3, "a joint mediation is tier 3");
    let by_lead = ConcludeMediationRequest { actor: lead.me(), ..conclusion(&id, MediationOutcome::Agreement) };
    lead.client().conclude_mediation(by_lead).await.unwrap();
    system.finish().await;
}

mod standalone {
    use fengqiao_tests::system::Mode;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_agreement_is_rendered_performed_visited_and_paid() {
        super::an_agreement_is_rendered_performed_visited_and_paid(Mode::Standalone).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_partys_refusal_ends_the_mediation_and_no_session_follows() {
        super::a_partys_refusal_ends_the_mediation_and_no_session_follows(Mode::Standalone).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn each_outcome_requires_its_details_and_bad_input_changes_nothing() {
        super::each_outcome_requires_its_details_and_bad_input_changes_nothing(Mode::Standalone).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn joint_mediation_has_one_lead_that_alone_concludes() {
        super::joint_mediation_has_one_lead_that_alone_concludes(Mode::Standalone).await;
    }
}

mod distributed {
    use fengqiao_tests::system::Mode;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn joint_mediation_has_one_lead_that_alone_concludes() {
        super::joint_mediation_has_one_lead_that_alone_concludes(Mode::Distributed).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_agreement_is_rendered_performed_visited_and_paid() {
        super::an_agreement_is_rendered_performed_visited_and_paid(Mode::Distributed).await;
    }
}
