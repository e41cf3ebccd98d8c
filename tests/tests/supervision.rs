//! Supervision through a running system: a RED case raises RED_UNOWNED until
//! a leader owns and acknowledges it; a supervision notice is answered; the
//! month's figures count the cases, over gRPC and as CSV from the command
//! line; parked events are listed by `fengqiao dlq`.

use fengqiao_proto::fengqiao::common::v1::{Actor, MediationOutcome, Source};
use fengqiao_proto::fengqiao::supervision::v1::supervision_service_client::SupervisionServiceClient;
use fengqiao_proto::fengqiao::supervision::v1::*;
use fengqiao_tests::scenario::*;
use fengqiao_tests::system::{Mode, System};
use tonic::transport::Channel;

async fn open_alarms(client: &mut SupervisionServiceClient<Channel>, kind: &str, case_id: &str) -> Vec<Alarm> {
    let request = ListAlarmsRequest { kind: kind.into(), case_id: case_id.into(), ..Default::default() };
    client.list_alarms(request).await.unwrap().into_inner().alarms
}

fn this_month() -> String {
    let now = time::OffsetDateTime::now_utc().to_offset(time::macros::offset!(+8));
    format!("{}-{:02}", now.year(), u8::from(now.month()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_red_case_is_owned_supervised_and_counted() {
    let system = System::start(Mode::Standalone).await.unwrap();
    let police = AgencySession::connect(&system, POLICE).await;
    let mut red = dispute(Source::Police, "JQ-supervision-red");
    red.narrative = "双方争执，一方扬言堵路".into();
    let case_id = police.submit(red).await.unwrap().status.unwrap().case_id;
    let plain = police.submit(dispute(Source::Police, "JQ-supervision-plain")).await.unwrap().status.unwrap().case_id;

    let channel = fengqiao_tests::channel(system.addr("routing")).await.unwrap();
    let mut client = SupervisionServiceClient::new(channel);
    let raised = fengqiao_platform::testing::eventually(std::time::Duration::from_secs(20), || {
        let mut c = client.clone();
        let case_id = case_id.clone();
        async move { open_alarms(&mut c, "RED_UNOWNED", &case_id).await.len() == 1 }
    })
    .await;
    assert!(raised, "a RED case without an owner raises RED_UNOWNED");
    assert!(open_alarms(&mut client, "RED_UNOWNED", &plain).await.is_empty(), "only RED cases need an owner");

    let centre = Some(Actor { org_id: "county-620802-centre".into(), person_id: "supervisor-1".into() });
    let bad = client
        .assign_case_owner(AssignCaseOwnerRequest { case_id: case_id.clone(), leader_id: String::new(), actor: None })
        .await
        .unwrap_err();
    assert_eq!(bad.code(), tonic::Code::InvalidArgument);
    let fields: Vec<String> = fengqiao_platform::status::violations(&bad).into_iter().map(|v| v.field).collect();
    assert_eq!(fields, ["leader_id", "actor.org_id"]);
    let assign =
        AssignCaseOwnerRequest { case_id: case_id.clone(), leader_id: "leader-wang".into(), actor: centre.clone() };
    client.assign_case_owner(assign).await.unwrap();
    assert!(open_alarms(&mut client, "RED_UNOWNED", &case_id).await.is_empty());
    let ack = AcknowledgeCaseOwnershipRequest { case_id: case_id.clone(), leader_id: "leader-wang".into() };
    let owner = client.acknowledge_case_ownership(ack).await.unwrap().into_inner().owner.unwrap();
    assert!(owner.acknowledged_at.is_some());

    let notice = IssueSupervisionNoticeRequest {
        case_id: case_id.clone(),
        org_id: VILLAGE_ORG.into(),
        demand: "请当日联系双方".into(),
        response_period: "hours:4".into(),
        actor: centre,
    };
    let notice = client.issue_supervision_notice(notice).await.unwrap().into_inner().notice.unwrap();
    let answer = RespondToSupervisionNoticeRequest {
        notice_id: notice.notice_id.clone(),
        response: "已联系双方，约定明日调解".into(),
        actor: Some(Actor { org_id: VILLAGE_ORG.into(), person_id: "m-1".into() }),
    };
    client.respond_to_supervision_notice(answer).await.unwrap();
    let story = client.get_case_supervision(GetCaseSupervisionRequest { case_id: case_id.clone() }).await.unwrap();
    let story = story.into_inner();
    assert_eq!(story.owner.unwrap().leader_id, "leader-wang");
    assert!(story.notices[0].responded_at.is_some());

    // The plain case is resolved; both count in this month's figures of township 620802001.
    let staff = Staff::connect(&system, VILLAGE_ORG).await;
    staff.mediate(&plain, MediationOutcome::Agreement).await;
    police.wait_for(&plain, "concluded", |s| s.outcome == MediationOutcome::Agreement as i32).await;
    let request = GetSupervisionFiguresRequest { period: this_month(), dimension: Dimension::Township as i32 };
    let counted = fengqiao_platform::testing::eventually(std::time::Duration::from_secs(20), || {
        let mut c = client.clone();
        let r = request.clone();
        async move {
            let figures = c.get_supervision_figures(r).await.unwrap().into_inner();
            figures.units.iter().any(|u| u.unit_id == "620802001" && u.registered == 2 && u.agreements == 1)
        }
    })
    .await;
    assert!(counted, "the month's figures count both cases and the agreement");
    let out = system.cli(&["supervision", "figures", "--period", &this_month(), "--by", "township"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let csv = String::from_utf8(out.stdout).unwrap();
    assert!(csv.lines().any(|l| l.starts_with("1,620802001,") && l.contains(",2,1,1,")), "{csv}");
    let bad = system.cli(&["supervision", "figures", "--period", "2026-13"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("period"), "the error names the field");

    let out = system.cli(&["dlq", "replay"]);
    assert!(!out.status.success(), "nothing parked: nothing to replay");
    assert!(String::from_utf8_lossy(&out.stderr).contains("fengqiao dlq list"));
    system.finish().await;
}
