//! The load: agency systems submitting police disputes through the gateway,
//! open-loop at a target rate (latency counted from each call's scheduled
//! time, so a slow system cannot hide its queueing) or closed-loop at a
//! concurrency; and, per agency, the status stream that tells when each
//! referral reaches an organisation's inbox.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fengqiao_platform::grpc_trace::TracedChannel;
use fengqiao_proto::fengqiao::common::v1::{Category, Dispute, Location, Party, PartyRole, ReferralState, Source};
use fengqiao_proto::fengqiao::gateway::v1::agency_service_client::AgencyServiceClient;
use fengqiao_proto::fengqiao::gateway::v1::{SubmitDisputeRequest, WatchStatusRequest};
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::record::Recorder;

/// How the load is offered.
#[derive(Debug, Clone, Copy, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Shape {
    /// Submissions started at this many per second, whatever the answers.
    Open { rate: u32 },
    /// This many submitters, each sending again as soon as answered.
    Closed { concurrency: u32 },
}

/// The most submissions an open-loop run keeps outstanding; past it, a
/// scheduled submission is counted as `DRIVER_OVERLOADED` and not sent.
const MAX_OUTSTANDING: usize = 20_000;

/// One agency system: its connection and token.
#[derive(Clone)]
pub struct AgencyClient {
    pub agency_id: String,
    pub token: String,
    pub client: AgencyServiceClient<TracedChannel>,
}

/// The village division codes of the demo directory, so referrals spread over its organisations.
pub fn villages() -> Vec<String> {
    const DIRECTORY: &str = include_str!("../../../services/routing/seed/demo-620802.csv");
    let codes = DIRECTORY.lines().filter_map(|l| l.split(',').nth(4)).filter(|c| c.len() == 12);
    codes.map(str::to_string).collect()
}

/// One submission in this many comes from a returning party.
const RETURNING_EVERY: u64 = 50;

/// Returning parties: each comes back about once every `RETURNING_PARTIES`
/// returning submissions (at 1,000/s for 60 s, four times).
const RETURNING_PARTIES: u64 = 300;

/// The `n`th submission's dispute, as a police system would send it: two
/// parties with their phones, so intake seals them and looks for the parties'
/// earlier cases. Most parties are new; one submission in
/// [`RETURNING_EVERY`] has an applicant seen before, whose earlier cases it
/// links to.
pub fn dispute(external_ref: &str, village: &str, n: u64) -> Dispute {
    // New parties' phones: apart within a run (its refs' common prefix picks where they start).
    let run_start = {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        external_ref.trim_end_matches(|c: char| c.is_ascii_digit()).hash(&mut h);
        h.finish()
    };
    let phone = |role: u64| format!("139{:08}", run_start.wrapping_add(2 * n + role) % 100_000_000);
    let applicant_phone = match n % RETURNING_EVERY {
        0 => format!("138{:08}", (n / RETURNING_EVERY) % RETURNING_PARTIES),
        _ => phone(0),
    };
    Dispute {
        source: Source::Police as i32,
        external_ref: external_ref.to_string(),
        category: Category::Neighbourhood as i32,
        parties: vec![
            Party {
                role: PartyRole::Applicant as i32,
                name: "张三".into(),
                phone: applicant_phone,
                ..Default::default()
            },
            Party { role: PartyRole::Respondent as i32, name: "李四".into(), phone: phone(1), ..Default::default() },
        ],
        location: Some(Location { division_code: village.to_string(), ..Default::default() }),
        headcount: 2,
        narrative: "楼上装修噪音扰民，双方争执（基准测试）".into(),
        ..Default::default()
    }
}

/// A run in progress: what was sent when, and what came back.
pub struct Run {
    pub start: Instant,
    pub recorder: Mutex<Recorder>,
    /// Submissions not yet seen in an inbox: external ref → when it was sent (or scheduled).
    pending: Mutex<HashMap<String, Instant>>,
    label: String,
    villages: Vec<String>,
}

impl Run {
    /// A run labelled `label` (it makes the external refs unique).
    pub fn new(label: &str) -> Arc<Self> {
        Arc::new(Self {
            start: Instant::now(),
            recorder: Mutex::new(Recorder::default()),
            pending: Mutex::new(HashMap::new()),
            label: label.to_string(),
            villages: villages(),
        })
    }

    /// Submissions not yet seen in an inbox.
    pub fn pending(&self) -> usize {
        self.pending.lock().expect("lock").len()
    }

    /// Submits the `n`th dispute as `agency`, counting latency from `since`.
    async fn submit(&self, agency: &AgencyClient, n: u64, since: Instant) {
        let external_ref = format!("BENCH-{}-{n:08}", self.label);
        let village = &self.villages[n as usize % self.villages.len()];
        let mut request = tonic::Request::new(SubmitDisputeRequest {
            dispute: Some(dispute(&external_ref, village, n)),
            ..Default::default()
        });
        let md = request.metadata_mut();
        md.insert("authorization", format!("Bearer {}", agency.token).parse().expect("a token is ASCII"));
        md.insert("idempotency-key", external_ref.parse().expect("a ref is ASCII"));
        self.pending.lock().expect("lock").insert(external_ref.clone(), since);
        let answer = agency.client.clone().submit_dispute(request).await;
        let now = Instant::now();
        let code = match &answer {
            Ok(_) => "OK".to_string(),
            Err(status) => {
                self.pending.lock().expect("lock").remove(&external_ref);
                code_name(status.code())
            }
        };
        self.recorder.lock().expect("lock").submitted(now - self.start, now - since, &code);
    }

    /// Follows `agency`'s status stream, recording each referral's arrival in an inbox, until `stop`.
    pub async fn watch(self: Arc<Self>, agency: AgencyClient, stop: CancellationToken) {
        let mut request = tonic::Request::new(WatchStatusRequest::default());
        let auth = format!("Bearer {}", agency.token).parse().expect("a token is ASCII");
        request.metadata_mut().insert("authorization", auth);
        let mut stream = match agency.client.clone().watch_status(request).await {
            Ok(stream) => stream.into_inner(),
            Err(e) => {
                eprintln!(
                    "cannot follow {}'s status stream ({e}); its referrals will count as not in an inbox",
                    agency.agency_id
                );
                return;
            }
        };
        loop {
            let item = tokio::select! {
                _ = stop.cancelled() => return,
                item = stream.message() => item,
            };
            let item = match item {
                Ok(Some(item)) => item,
                Ok(None) => return,
                Err(e) => {
                    eprintln!("{}'s status stream broke ({e}); later arrivals are not counted", agency.agency_id);
                    return;
                }
            };
            let Some(status) = item.status else { continue };
            if status.referral_state != ReferralState::Received as i32 {
                continue;
            }
            let sent = self.pending.lock().expect("lock").remove(&status.external_ref);
            if let Some(sent) = sent {
                let now = Instant::now();
                self.recorder.lock().expect("lock").arrived(now - self.start, now - sent);
            }
        }
    }

    /// Offers the load for `duration` across `agencies` (round-robin), then waits for the answers.
    pub async fn drive(self: &Arc<Self>, agencies: &[AgencyClient], shape: Shape, duration: Duration) {
        match shape {
            Shape::Open { rate } => self.open(agencies, rate.max(1), duration).await,
            Shape::Closed { concurrency } => self.closed(agencies, concurrency.max(1), duration).await,
        }
    }

    async fn open(self: &Arc<Self>, agencies: &[AgencyClient], rate: u32, duration: Duration) {
        let outstanding = Arc::new(Semaphore::new(MAX_OUTSTANDING));
        let interval = Duration::from_secs_f64(1.0 / rate as f64);
        let total = (duration.as_secs_f64() * rate as f64) as u64;
        let mut calls = tokio::task::JoinSet::new();
        for n in 0..total {
            let scheduled = self.start + interval.mul_f64(n as f64);
            tokio::time::sleep_until(scheduled).await;
            let Ok(permit) = outstanding.clone().try_acquire_owned() else {
                let now = Instant::now();
                self.recorder.lock().expect("lock").submitted(now - self.start, Duration::ZERO, "DRIVER_OVERLOADED");
                continue;
            };
            let (me, agency) = (self.clone(), agencies[n as usize % agencies.len()].clone());
            calls.spawn(async move {
                me.submit(&agency, n, scheduled).await;
                drop(permit);
            });
            while calls.try_join_next().is_some() {}
        }
        while calls.join_next().await.is_some() {}
    }

    async fn closed(self: &Arc<Self>, agencies: &[AgencyClient], concurrency: u32, duration: Duration) {
        let end = self.start + duration;
        let next = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let mut workers = tokio::task::JoinSet::new();
        for w in 0..concurrency as usize {
            let (me, agency, next) = (self.clone(), agencies[w % agencies.len()].clone(), next.clone());
            workers.spawn(async move {
                while Instant::now() < end {
                    let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    me.submit(&agency, n, Instant::now()).await;
                }
            });
        }
        while workers.join_next().await.is_some() {}
    }
}

/// A gRPC code as the protos name it, e.g. `RESOURCE_EXHAUSTED`.
fn code_name(code: tonic::Code) -> String {
    let mut name = String::new();
    for (i, c) in format!("{code:?}").chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            name.push('_');
        }
        name.push(c.to_ascii_uppercase());
    }
    name
}

#[cfg(test)]
mod tests {
    #[test]
    fn codes_are_named_as_in_the_protos() {
        assert_eq!(super::code_name(tonic::Code::ResourceExhausted), "RESOURCE_EXHAUSTED");
        assert_eq!(super::code_name(tonic::Code::Unavailable), "UNAVAILABLE");
    }

    #[test]
    fn parties_carry_phones_and_one_dispute_in_fifty_has_a_returning_applicant() {
        let phones = |n: u64| -> Vec<String> {
            let d = super::dispute(&format!("BENCH-x-{n:08}"), "620802001001", n);
            d.parties.into_iter().map(|p| p.phone).collect()
        };
        let all: Vec<Vec<String>> = (0..30_000).map(phones).collect();
        assert!(all.iter().flatten().all(|p| p.len() == 11 && p.starts_with("13")), "mainland mobiles");
        let applicants: std::collections::HashMap<&str, usize> = all.iter().fold(Default::default(), |mut seen, p| {
            *seen.entry(p[0].as_str()).or_default() += 1;
            seen
        });
        let returning = applicants.values().filter(|&&n| n > 1).count();
        assert_eq!(returning, 300, "each returning applicant comes back");
        assert_eq!(applicants.values().filter(|&&n| n > 1).sum::<usize>(), 600, "one in fifty of 30,000");
        assert_ne!(phones(1)[1], phones(2)[1], "respondents differ");
    }

    #[test]
    fn referrals_spread_over_the_demo_directorys_villages() {
        let v = super::villages();
        assert!(v.len() > 100, "{}", v.len());
        assert!(v.iter().all(|c| c.starts_with("620802") && c.len() == 12));
    }
}
