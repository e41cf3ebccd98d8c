//! What the console's pages share: its database, the mediation API, the
//! templates, session lifetimes, the sign-in throttle and the audit log.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use fengqiao_platform::db::now_micros;
use fengqiao_platform::grpc_trace::TracedChannel;
use fengqiao_proto::fengqiao::intake::v1::intake_service_client::IntakeServiceClient;
use fengqiao_proto::fengqiao::mediation::v1::mediation_service_client::MediationServiceClient;
use fengqiao_proto::fengqiao::routing::v1::routing_service_client::RoutingServiceClient;
use fengqiao_proto::fengqiao::supervision::v1::supervision_service_client::SupervisionServiceClient;
use sqlx::AnyPool;

use crate::sessions::Lifetimes;

/// A hash checked when the username is unknown, so a refusal takes as long either way.
pub static DUMMY_HASH: LazyLock<String> =
    LazyLock::new(|| crate::accounts::hash("no account has this password").expect("argon2 hashes"));

/// The console's shared state.
pub struct App {
    /// The console's own schema: accounts, sessions, audit.
    pub db: AnyPool,
    /// The mediation API, called as the signed-in member of staff.
    pub mediation: MediationServiceClient<TracedChannel>,
    /// Routing's API (a case's referrals and clocks).
    pub routing: RoutingServiceClient<TracedChannel>,
    /// Intake's API (a case's lineage).
    pub intake: IntakeServiceClient<TracedChannel>,
    /// Routing's supervision API (alarms, figures).
    pub supervision: SupervisionServiceClient<TracedChannel>,
    /// The gateway, called as the mediation centre (registrations, progress look-ups).
    pub centre: crate::agency::Centre,
    /// The pages.
    pub templates: minijinja::Environment<'static>,
    /// How long sessions live.
    pub life: Lifetimes,
    /// Mark cookies Secure (the console is served over TLS).
    pub secure_cookies: bool,
    /// Failed sign-ins by username.
    pub sign_ins: SignIns,
    /// The province's identity platform, when sign-in through it is configured.
    pub oidc: Option<crate::oidc::Oidc>,
}

impl App {
    /// Records what `username` did (never personal data: ids and outcomes only).
    pub async fn audit(&self, username: &str, action: &str, target: &str, outcome: &str) {
        let written = sqlx::query(
            "INSERT INTO console_audit (at, username, action, target, outcome) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(now_micros())
        .bind(username)
        .bind(action)
        .bind(target)
        .bind(outcome)
        .execute(&self.db)
        .await;
        if let Err(e) = written {
            tracing::error!(error = %e, action, "cannot write the console's audit log");
        }
    }

    /// Records a step and how the API answered it: `ok`, or the gRPC code.
    pub async fn audit_done(&self, username: &str, action: &str, target: &str, done: &Result<(), tonic::Status>) {
        let outcome = match done {
            Ok(()) => "ok".to_string(),
            Err(status) => format!("{:?}", status.code()),
        };
        self.audit(username, action, target, &outcome).await;
    }
}

/// Failed sign-ins per username: after `MAX_FAILURES` within `WINDOW`, the
/// name is refused until the window has passed (against password guessing).
#[derive(Default)]
pub struct SignIns {
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

/// Failures allowed within the window.
pub const MAX_FAILURES: u32 = 5;
/// The window.
pub const WINDOW: Duration = Duration::from_secs(15 * 60);

impl SignIns {
    /// Whether `username` is refused for now.
    pub fn is_throttled(&self, username: &str) -> bool {
        let map = self.failures.lock().expect("not poisoned");
        map.get(username).is_some_and(|(n, since)| *n >= MAX_FAILURES && since.elapsed() < WINDOW)
    }

    /// Counts a failure.
    pub fn failed(&self, username: &str) {
        let mut map = self.failures.lock().expect("not poisoned");
        map.retain(|_, (_, since)| since.elapsed() < WINDOW);
        let entry = map.entry(username.to_string()).or_insert((0, Instant::now()));
        entry.0 += 1;
    }

    /// Forgets the failures of a name that signed in.
    pub fn succeeded(&self, username: &str) {
        self.failures.lock().expect("not poisoned").remove(username);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_refused_after_five_failures_and_freed_by_a_success() {
        let s = SignIns::default();
        for _ in 0..MAX_FAILURES - 1 {
            s.failed("li");
        }
        assert!(!s.is_throttled("li"));
        s.failed("li");
        assert!(s.is_throttled("li"));
        assert!(!s.is_throttled("wang"), "only the name guessed at");
        s.succeeded("li");
        assert!(!s.is_throttled("li"));
    }
}
