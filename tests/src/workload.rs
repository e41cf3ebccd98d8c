//! A steady workload for fault tests: police stations submitting disputes
//! (each retried with the same reference until answered) and the mediation
//! organisations they reach (village, township, county: routing escalates
//! repeated and risky disputes) working their inboxes to conclusion, each step
//! retried until it holds — what keeps going while processes and servers fail.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use fengqiao_proto::fengqiao::common::v1::{MediationOutcome, ReferralState, Source};
use fengqiao_proto::fengqiao::mediation::v1::ListInboxRequest;
use futures::StreamExt;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::scenario::{dispute, AgencySession, Staff, COUNTY_ORG, POLICE, TOWNSHIP_ORG, VILLAGE_ORG};
use crate::system::System;

/// The workload running against a system.
pub struct Workload {
    stop_load: CancellationToken,
    stop_work: CancellationToken,
    submitters: Vec<JoinHandle<BTreeMap<String, String>>>,
    mediator: JoinHandle<()>,
}

impl Workload {
    /// Starts `stations` submitters (about 10 disputes/s each, references
    /// `<label>-<station>-<n>`) and the organisations' mediators.
    pub async fn start(system: &System, label: &str, stations: usize) -> Self {
        let (stop_load, stop_work) = (CancellationToken::new(), CancellationToken::new());
        let mut submitters = Vec::new();
        for s in 0..stations {
            let police = AgencySession::connect(system, POLICE).await;
            submitters.push(tokio::spawn(submit_until(police, format!("{label}-{s}"), stop_load.clone())));
        }
        let mut staff = Vec::new();
        for org in [VILLAGE_ORG, TOWNSHIP_ORG, COUNTY_ORG] {
            staff.push(Staff::connect(system, org).await);
        }
        let mediator = tokio::spawn(mediate_until(staff, stop_work.clone()));
        Self { stop_load, stop_work, submitters, mediator }
    }

    /// Stops submitting; returns every case submitted (reference → case id),
    /// while the organisations go on mediating.
    pub async fn stop_submitting(&mut self) -> BTreeMap<String, String> {
        self.stop_load.cancel();
        let mut submitted = BTreeMap::new();
        for s in self.submitters.drain(..) {
            submitted.extend(s.await.expect("a submitter"));
        }
        submitted
    }

    /// Waits until every one of `cases` has its outcome (within `within`), then stops the mediators.
    pub async fn finish(self, system: &System, cases: &[String], within: Duration) {
        let police = AgencySession::connect(system, POLICE).await;
        let deadline = Instant::now() + within;
        for case in cases {
            loop {
                let done = police.status(case).await.is_ok_and(|s| s.outcome == MediationOutcome::Agreement as i32);
                if done {
                    break;
                }
                assert!(Instant::now() < deadline, "case {case} did not reach its outcome within {within:?}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        self.stop_work.cancel();
        self.mediator.await.expect("the mediator");
    }
}

async fn submit_until(police: AgencySession, prefix: String, stop: CancellationToken) -> BTreeMap<String, String> {
    let mut cases = BTreeMap::new();
    let mut n = 0;
    while !stop.is_cancelled() {
        let reference = format!("{prefix}-{n}");
        loop {
            match police.submit(dispute(Source::Police, &reference)).await {
                Ok(answer) => {
                    cases.insert(reference.clone(), answer.status.unwrap_or_default().case_id);
                    break;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        n += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    cases
}

async fn mediate_until(organisations: Vec<Staff>, stop: CancellationToken) {
    use ReferralState::*;
    let open = [Received, Accepted, InProgress].map(|s| s as i32).to_vec();
    while !stop.is_cancelled() {
        for staff in &organisations {
            work_inbox(staff, &open).await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// One pass over an organisation's open referrals: each moves one step.
async fn work_inbox(staff: &Staff, open: &[i32]) {
    use ReferralState::*;
    let org_id = staff.me().map(|a| a.org_id).unwrap_or_default();
    let request = ListInboxRequest { org_id, states: open.to_vec(), page_size: 500, ..Default::default() };
    let items = staff.client().list_inbox(request).await.map(|r| r.into_inner().items).unwrap_or_default();
    // Several mediators at once, as in a real committee; a step that fails is
    // tried again on the next pass, and one already taken shows in the item's
    // state then.
    futures::stream::iter(items)
        .for_each_concurrent(MEDIATORS, |item| async move {
            let _ = match ReferralState::try_from(item.state) {
                Ok(Received) => staff.accept(&item.referral_id).await.map(|_| ()),
                Ok(Accepted) => staff.start(&item.referral_id).await.map(|_| ()),
                Ok(InProgress) => staff.conclude(&item.referral_id, MediationOutcome::Agreement).await.map(|_| ()),
                _ => Ok(()),
            };
        })
        .await;
}

/// Steps an organisation takes at once.
const MEDIATORS: usize = 8;
