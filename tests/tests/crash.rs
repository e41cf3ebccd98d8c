//! Killing a process (SIGKILL) between two steps of a referral loses no case
//! and repeats no effect: after a restart every submitted case reaches its
//! outcome exactly once, as the sending agency's status stream shows.

use std::time::Duration;

use fengqiao_proto::fengqiao::common::v1::{MediationOutcome, ReferralState, Source};
use fengqiao_tests::reconcile::assert_each_step_once;
use fengqiao_tests::scenario::*;
use fengqiao_tests::system::{Mode, System};

async fn submit_all(police: &AgencySession, refs: impl Iterator<Item = String>) -> Vec<String> {
    let mut ids = Vec::new();
    for r in refs {
        ids.push(police.submit(dispute(Source::Police, &r)).await.unwrap().status.unwrap().case_id);
    }
    ids
}

async fn accept_all(staff: &Staff, cases: &[String]) {
    for case in cases {
        let item = staff.referral_of(case).await;
        if item.state == ReferralState::Received as i32 {
            staff.accept(&item.referral_id).await.unwrap();
        }
    }
}

async fn finish_all(staff: &Staff, cases: &[String]) {
    for case in cases {
        let item = staff.referral_of(case).await;
        if item.state == ReferralState::Received as i32 {
            staff.accept(&item.referral_id).await.unwrap();
        }
        staff.start(&item.referral_id).await.unwrap();
        staff.conclude(&item.referral_id, MediationOutcome::Agreement).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn distributed_killing_mediation_between_steps_loses_and_repeats_nothing() {
    let mut system = System::start(Mode::Distributed).await.unwrap();
    let police = AgencySession::connect(&system, POLICE).await;
    let first = submit_all(&police, (0..8).map(|i| format!("JQ-crash-m-{i}"))).await;
    {
        let staff = Staff::connect(&system, VILLAGE_ORG).await;
        accept_all(&staff, &first).await;
    }
    // Mediation dies after the accepts, before any mediation starts; new
    // referrals arrive while it is down.
    system.kill("mediation");
    let second = submit_all(&police, (0..4).map(|i| format!("JQ-crash-m-late-{i}"))).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    system.restart("mediation").unwrap();
    let staff = Staff::connect(&system, VILLAGE_ORG).await;
    let all: Vec<String> = first.iter().chain(&second).cloned().collect();
    finish_all(&staff, &all).await;
    for case in &all {
        police.wait_for(case, "concluded", |s| s.outcome == MediationOutcome::Agreement as i32).await;
    }
    let changes = police.watch("", 7 * all.len(), Duration::from_secs(15)).await;
    assert_each_step_once(&changes, &all);
    system.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn distributed_killing_intake_loses_no_accepted_submission() {
    let mut system = System::start(Mode::Distributed).await.unwrap();
    let police = AgencySession::connect(&system, POLICE).await;
    let refs: Vec<String> = (0..12).map(|i| format!("JQ-crash-i-{i}")).collect();
    // Submit, and kill intake right behind the last answer: events it
    // committed may still sit in its outbox.
    let accepted = submit_all(&police, refs[..8].iter().cloned()).await;
    system.kill("intake");
    for r in &refs[8..] {
        let err = police.submit(dispute(Source::Police, r)).await.unwrap_err();
        assert_eq!(err.code(), tonic::Code::Unavailable, "{err:?}");
    }
    system.restart("intake").unwrap();
    // The agency retries everything; what was accepted before is not registered twice.
    let mut all = Vec::new();
    for (i, r) in refs.iter().enumerate() {
        let again = police.submit(dispute(Source::Police, r)).await.unwrap();
        if i < 8 {
            assert!(!again.created, "{r} was registered before the crash");
            assert_eq!(again.status.as_ref().unwrap().case_id, accepted[i]);
        }
        all.push(again.status.unwrap().case_id);
    }
    let staff = Staff::connect(&system, VILLAGE_ORG).await;
    finish_all(&staff, &all).await;
    for case in &all {
        police.wait_for(case, "concluded", |s| s.outcome == MediationOutcome::Agreement as i32).await;
    }
    let changes = police.watch("", 7 * all.len(), Duration::from_secs(15)).await;
    assert_each_step_once(&changes, &all);
    system.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_killing_the_process_between_steps_loses_and_repeats_nothing() {
    let mut system = System::start(Mode::Standalone).await.unwrap();
    let cases = {
        let police = AgencySession::connect(&system, POLICE).await;
        let cases = submit_all(&police, (0..6).map(|i| format!("JQ-crash-s-{i}"))).await;
        let staff = Staff::connect(&system, VILLAGE_ORG).await;
        accept_all(&staff, &cases).await;
        cases
    };
    system.kill("standalone");
    system.restart("standalone").unwrap();
    let police = AgencySession::connect(&system, POLICE).await;
    let staff = Staff::connect(&system, VILLAGE_ORG).await;
    finish_all(&staff, &cases).await;
    for case in &cases {
        police.wait_for(case, "concluded", |s| s.outcome == MediationOutcome::Agreement as i32).await;
    }
    let changes = police.watch("", 7 * cases.len(), Duration::from_secs(15)).await;
    assert_each_step_once(&changes, &cases);
    system.finish().await;
}
