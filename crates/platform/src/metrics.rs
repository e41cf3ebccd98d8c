//! Prometheus metrics: one recorder per process (served by `admin.rs`), the
//! catalogue of every metric fengqiao exports (names and help in one place,
//! see `docs/operations.md`), and the samplers that turn database state into
//! gauges.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio_util::sync::CancellationToken;

use crate::db::Database;

/// Time an agency call spent in each stage of the gateway's path.
pub const GATEWAY_STAGE: &str = "fengqiao_gateway_stage_seconds";
/// Calls by gRPC method (or `HTTP`) and status code.
pub const RPC_REQUESTS: &str = "fengqiao_rpc_requests_total";
/// Time to answer a call (to the response headers; streams: to their start).
pub const RPC_DURATION: &str = "fengqiao_rpc_duration_seconds";
/// Deliveries a consumer received, redeliveries included.
pub const CONSUMER_DELIVERIES: &str = "fengqiao_consumer_deliveries_total";
/// Deliveries the broker made again (not acknowledged in time, or after a failure).
pub const CONSUMER_REDELIVERIES: &str = "fengqiao_consumer_redeliveries_total";
/// Events a consumer applied.
pub const CONSUMER_APPLIED: &str = "fengqiao_consumer_applied_total";
/// Failed attempts to apply an event (each retried or parked).
pub const CONSUMER_FAILURES: &str = "fengqiao_consumer_failures_total";
/// Events a consumer acknowledged unapplied: they could have no effect there.
pub const CONSUMER_SKIPPED: &str = "fengqiao_consumer_skipped_total";
/// Events a consumer parked in the dead-letter record.
pub const CONSUMER_DEAD_LETTERED: &str = "fengqiao_consumer_dead_lettered_total";
/// Events the broker holds for a consumer that it has not yet acknowledged (its lag).
pub const CONSUMER_PENDING: &str = "fengqiao_consumer_pending";
/// Events the outbox relay published.
pub const OUTBOX_PUBLISHED: &str = "fengqiao_outbox_published_total";
/// Committed events not yet published.
pub const OUTBOX_BACKLOG: &str = "fengqiao_outbox_backlog";
/// Age of the oldest unpublished event (0 when none).
pub const OUTBOX_OLDEST_SECONDS: &str = "fengqiao_outbox_oldest_age_seconds";
/// Bookkeeping rows removed past their retention (sent outbox events, inbox receipts).
pub const BOOKKEEPING_REMOVED: &str = "fengqiao_bookkeeping_removed_total";
/// Writes applied through a group commit, by what they write.
pub const GROUP_COMMIT_WRITES: &str = "fengqiao_group_commit_writes_total";
/// Commits a group commit made (writes ÷ commits = writes a commit carried).
pub const GROUP_COMMITS: &str = "fengqiao_group_commits_total";
/// How long each lending of a SQLite file's one writing connection lasted.
pub const DB_WRITER_HELD: &str = "fengqiao_db_writer_held_seconds";
/// Parked events not yet replayed.
pub const DEAD_LETTERS: &str = "fengqiao_dead_letters";
/// Running clocks whose deadline has passed and that the sweep has not yet breached.
pub const CLOCKS_DUE: &str = "fengqiao_clocks_due";
/// Clocks by state (running, paused, breached).
pub const CLOCKS: &str = "fengqiao_clocks";
/// Open alarms by kind.
pub const ALARMS_OPEN: &str = "fengqiao_alarms_open";
/// Moves of referrals not yet folded into the organisations' loads (routing).
pub const LOAD_UNFOLDED: &str = "fengqiao_routing_load_changes_unfolded";
/// 1 while the gateway hears of every credential change (PostgreSQL), 0 while it does not.
pub const CREDENTIALS_LISTENING: &str = "fengqiao_gateway_credentials_listening";

/// Every metric with its help text, as Prometheus shows it.
pub const CATALOGUE: &[(&str, &str)] = &[
    (RPC_REQUESTS, "Calls answered, by method (gRPC path, or HTTP for the JSON face) and gRPC status code."),
    (RPC_DURATION, "Seconds from a call's arrival to its response headers, by method."),
    (GATEWAY_STAGE, "Seconds an agency call spent in each stage of the gateway's path (authorize, claim, work, audit; a submission's work also as hand_over and, unless the call registered the case itself, ownership), by method."),
    (CONSUMER_DELIVERIES, "Deliveries a consumer received, redeliveries included."),
    (CONSUMER_REDELIVERIES, "Deliveries received again after a failure or an expired acknowledgement wait."),
    (CONSUMER_APPLIED, "Events a consumer applied."),
    (CONSUMER_FAILURES, "Failed attempts to apply an event; each is retried or parked."),
    (CONSUMER_DEAD_LETTERED, "Events a consumer parked in the dead-letter record."),
    (CONSUMER_SKIPPED, "Events a consumer acknowledged without applying them: they could have no effect there."),
    (CONSUMER_PENDING, "Events the broker holds for a consumer and it has not acknowledged (its lag)."),
    (OUTBOX_PUBLISHED, "Events the outbox relay published."),
    (OUTBOX_BACKLOG, "Committed events waiting in the outbox to be published."),
    (OUTBOX_OLDEST_SECONDS, "Age in seconds of the oldest event waiting in the outbox (0 when none)."),
    (BOOKKEEPING_REMOVED, "Rows removed past their retention, by table: fq_outbox (sent events), fq_inbox (receipts)."),
    (GROUP_COMMIT_WRITES, "Small writes of concurrent calls applied together in one commit, by what they write."),
    (GROUP_COMMITS, "Commits those writes shared; writes divided by commits is how many a commit carried."),
    (DB_WRITER_HELD, "Seconds each write held its SQLite file's one writing connection, by the work that held it; the sum's rate by component is the share of time the writer was busy."),
    (DEAD_LETTERS, "Events parked in the dead-letter record and not yet replayed."),
    (CLOCKS_DUE, "Running clocks past their deadline that the sweep has not yet marked breached."),
    (CLOCKS, "Clocks by state: running, paused, breached."),
    (ALARMS_OPEN, "Open alarms by kind."),
    (LOAD_UNFOLDED, "Referral moves routing has not yet folded into the organisations' loads; near 0 while the fold runs each second."),
    (CREDENTIALS_LISTENING, "1 while the gateway hears of every change to credentials and agencies and keeps what it looked up; 0 while it reads the registry on every call (PostgreSQL only)."),
];

/// Latency buckets in seconds: 1 ms to 30 s.
const LATENCY_BUCKETS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// How often samplers read the database, and so how old a gauge such as
/// the outboxes' backlog may be when scraped.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(10);

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process's recorder, installed on first use. Before it is installed
/// (unit tests), recording a metric does nothing.
pub fn recorder() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
            .expect("latency buckets are not empty")
            .build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_ok() {
            for (name, help) in CATALOGUE {
                if name.ends_with("_total") {
                    metrics::describe_counter!(*name, *help);
                } else if name.ends_with("_seconds") && *name != OUTBOX_OLDEST_SECONDS {
                    metrics::describe_histogram!(*name, metrics::Unit::Seconds, *help);
                } else {
                    metrics::describe_gauge!(*name, *help);
                }
            }
        }
        handle
    })
}

/// One reading of a gauge: its name, labels and value.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// The metric (one of this module's names).
    pub name: &'static str,
    /// Its labels (the component's is added).
    pub labels: Vec<(&'static str, String)>,
    /// The value.
    pub value: f64,
}

impl Reading {
    /// A reading without labels of its own.
    pub fn new(name: &'static str, value: f64) -> Self {
        Self { name, labels: Vec::new(), value }
    }

    /// Adds a label.
    pub fn label(mut self, key: &'static str, value: impl Into<String>) -> Self {
        self.labels.push((key, value.into()));
        self
    }
}

/// Reads gauges from a component's state, every few seconds.
#[async_trait]
pub trait Sampler: Send + Sync + 'static {
    /// The current readings.
    async fn sample(&self, db: &Database) -> anyhow::Result<Vec<Reading>>;
}

/// Sets the gauges of `readings`, labelled with `component`.
pub fn record(component: &str, readings: &[Reading]) {
    for r in readings {
        let mut labels: Vec<metrics::Label> = vec![metrics::Label::new("component", component.to_string())];
        labels.extend(r.labels.iter().map(|(k, v)| metrics::Label::new(*k, v.clone())));
        metrics::gauge!(r.name, labels).set(r.value);
    }
}

/// Runs `samplers` against `db` every [`SAMPLE_EVERY`] until `shutdown`. A
/// failing sampler is logged and tried again next time.
pub async fn sample_forever(
    component: &'static str,
    db: Database,
    samplers: Vec<Arc<dyn Sampler>>,
    shutdown: CancellationToken,
) {
    let mut outage = crate::outage::Outage::new(component, "metrics sampling");
    loop {
        let mut round = Ok(());
        for sampler in &samplers {
            match tokio::time::timeout(SAMPLE_EVERY, sampler.sample(&db)).await {
                Ok(Ok(readings)) => record(component, &readings),
                Ok(Err(e)) => round = Err(format!("{e:#}")),
                Err(_) => round = Err("a sampler took over 10 s; is the database slow?".to_string()),
            }
        }
        outage.record(&round);
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(SAMPLE_EVERY) => {}
        }
    }
}

/// The platform's own gauges: outbox backlog and age, dead letters.
pub struct PlatformSampler;

#[async_trait]
impl Sampler for PlatformSampler {
    async fn sample(&self, db: &Database) -> anyhow::Result<Vec<Reading>> {
        use sqlx::Row;
        let outbox = sqlx::query("SELECT COUNT(*), MIN(created_at) FROM fq_outbox WHERE sent_at IS NULL")
            .fetch_one(db.pool())
            .await?;
        let backlog: i64 = outbox.try_get(0)?;
        let oldest: Option<i64> = outbox.try_get(1)?;
        let age = oldest.map_or(0.0, |t| ((crate::db::now_micros() - t).max(0) as f64) / 1e6);
        let parked: i64 = sqlx::query("SELECT COUNT(*) FROM fq_dead_letter WHERE replayed_at IS NULL")
            .fetch_one(db.pool())
            .await?
            .try_get(0)?;
        Ok(vec![
            Reading::new(OUTBOX_BACKLOG, backlog as f64),
            Reading::new(OUTBOX_OLDEST_SECONDS, age),
            Reading::new(DEAD_LETTERS, parked as f64),
        ])
    }
}

/// Records the time since `since` that an agency call of `method` spent in `stage` ([`GATEWAY_STAGE`]).
pub fn gateway_stage(method: &'static str, stage: &'static str, since: std::time::Instant) {
    metrics::histogram!(GATEWAY_STAGE, "method" => method, "stage" => stage).record(since.elapsed().as_secs_f64());
}

/// Counts a call: its method label, gRPC code and time to answer.
pub fn count_call(method: &str, code: &str, seconds: f64) {
    metrics::counter!(RPC_REQUESTS, "method" => method.to_string(), "code" => code.to_string()).increment(1);
    metrics::histogram!(RPC_DURATION, "method" => method.to_string()).record(seconds);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_catalogued_name_is_a_valid_prometheus_name_and_unique() {
        let mut seen = std::collections::HashSet::new();
        for (name, help) in CATALOGUE {
            assert!(name.starts_with("fengqiao_"), "{name}");
            assert!(name.chars().all(|c| c.is_ascii_lowercase() || c == '_'), "{name}");
            assert!(!help.is_empty(), "{name} has help");
            assert!(seen.insert(*name), "{name} twice");
        }
    }

    #[test]
    fn the_operations_guide_explains_every_metric() {
        let guide = include_str!("../../../docs/operations.md");
        for (name, _) in CATALOGUE {
            assert!(guide.contains(&format!("`{name}")), "docs/operations.md does not explain {name}");
        }
    }
}
