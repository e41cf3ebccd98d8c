//! The settings of how events travel: the bus (NATS or in-process) with its
//! consumers' lanes, and the outbox relay that publishes onto it.

use serde::{Deserialize, Serialize};

/// Which bus and how it delivers.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct BusSettings {
    /// `nats://host:port` for NATS JetStream; empty for the in-process bus.
    pub nats_url: String,
    /// The JetStream stream name.
    pub stream: String,
    /// Copies of the stream the JetStream cluster keeps (1 on a single
    /// server, 3 on a province's cluster); applies when the stream is created.
    pub stream_replicas: usize,
    /// Prefix before every subject (`<prefix>fq.v1.…`); empty in production,
    /// set per test so tests never share a stream.
    pub subject_prefix: String,
    /// Deliveries of one event before it is parked in the dead-letter record.
    pub max_deliveries: u32,
    /// Wait before the first retry, in milliseconds; doubled each retry.
    pub retry_backoff_ms: u64,
    /// The longest wait between retries, in milliseconds.
    pub retry_backoff_max_ms: u64,
    /// Seconds the broker waits for an acknowledgement before redelivering.
    pub ack_wait_secs: u64,
    /// Seconds within which a republished event id is dropped as a duplicate.
    pub duplicate_window_secs: u64,
    /// Events handled at once per consumer; events of one case are handled in order.
    /// Fewer lanes hold more waiting events each, applied in fewer, larger
    /// transactions; a failing event holds up its lane's cases while it is retried.
    /// Unset: [`lanes_on`](Self::lanes_on) the component's database.
    pub consumer_lanes: Option<usize>,
    /// The most events a lane applies in one transaction: those already waiting
    /// when it starts, so a quiet consumer still applies each at once.
    pub consumer_batch: usize,
    /// Milliseconds a busy lane (its last transaction ended less than this long
    /// before the next event came) waits for more events before its next
    /// transaction, unless `consumer_batch` are already waiting; a quiet lane
    /// applies a lone event at once, and 0 never waits. Events reach a NATS
    /// consumer one by one, so without the wait most of a busy lane's
    /// transactions apply one event each; the wait adds at most this much to an
    /// event's way through the consumer. Unset: [`linger_on`](Self::linger_on) the bus.
    pub consumer_linger_ms: Option<u64>,
    /// Days the broker keeps an event (applies when the stream is created).
    pub stream_max_age_days: u64,
    /// Days a consumer remembers that it applied an event (its inbox receipt);
    /// longer than `stream_max_age_days`, so no copy the broker still holds
    /// can be applied twice.
    pub inbox_keep_days: u64,
}

/// The outbox relay.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutboxSettings {
    /// Events published per pass.
    pub batch_size: u32,
    /// Milliseconds between polls when nothing signals new events.
    pub poll_interval_ms: u64,
    /// Days a published event stays in the outbox before it is removed (the
    /// state it announced stays in the component's own tables).
    pub keep_sent_days: u64,
    /// Milliseconds a busy relay (its last pass published events) lets pass
    /// between passes, so the events committed meanwhile leave in one pass and
    /// one "sent" commit; an idle relay passes as soon as a commit wakes it,
    /// and 0 never waits. Unset: [`linger_on`](Self::linger_on) the bus.
    pub linger_ms: Option<u64>,
}

/// Lanes a consumer runs on PostgreSQL unless `bus.consumer_lanes` says otherwise.
pub const PARALLEL_LANES: usize = 4;

/// Milliseconds a busy lane waits for more events on NATS unless `bus.consumer_linger_ms` says
/// otherwise, and a busy relay between passes unless `outbox.linger_ms` does (docs/performance.md:
/// 20 ms in the 23rd round, commits per referral 11.6 → 9.1 and +16 % referrals/s; 50 ms in the
/// 25th, at 200/s submit p99 −60 % and 12 → 9.8 commits a referral, +17 % closed loop, for
/// ~110 ms more on the way to an inbox; 100 ms cost the submit p99 again).
pub const NATS_LINGER_MS: u64 = 50;

impl OutboxSettings {
    /// A busy relay's time between passes on the bus of `kind`: the setting, else [`NATS_LINGER_MS`] on
    /// NATS and none on the in-process bus, where a pass hands the events to the consumers directly.
    pub fn linger_on(&self, kind: &str) -> std::time::Duration {
        linger(self.linger_ms, kind)
    }
}

/// A linger setting's value on the bus of `kind`: the setting, else [`NATS_LINGER_MS`] on NATS, else none.
fn linger(setting: Option<u64>, kind: &str) -> std::time::Duration {
    let ms = match (setting, kind) {
        (Some(ms), _) => ms,
        (None, "nats") => NATS_LINGER_MS,
        (None, _) => 0,
    };
    std::time::Duration::from_millis(ms)
}

impl BusSettings {
    /// A busy lane's wait for more events on the bus of `kind` ([`EventBus::kind`](crate::bus::EventBus::kind)):
    /// the setting, else [`NATS_LINGER_MS`] on NATS, whose consumers receive events one by one, and
    /// none on the in-process bus, which hands a lane every waiting event at once.
    pub fn linger_on(&self, kind: &str) -> std::time::Duration {
        linger(self.consumer_linger_ms, kind)
    }

    /// A consumer's lanes on `backend`: the setting, else one on SQLite —
    /// whose one writer takes a lane's transaction at a time, so more lanes
    /// only cut the waiting events into smaller transactions (measured: one
    /// lane carries 40 % more referrals and halves latency in standalone) —
    /// and [`PARALLEL_LANES`] on PostgreSQL, where lanes commit side by side.
    pub fn lanes_on(&self, backend: crate::db::Backend) -> usize {
        match (self.consumer_lanes, backend) {
            (Some(lanes), _) => lanes,
            (None, crate::db::Backend::Sqlite) => 1,
            (None, crate::db::Backend::Postgres) => PARALLEL_LANES,
        }
    }
}

impl Default for BusSettings {
    fn default() -> Self {
        Self {
            nats_url: String::new(),
            stream: "FENGQIAO".into(),
            stream_replicas: 1,
            subject_prefix: String::new(),
            max_deliveries: 5,
            retry_backoff_ms: 200,
            retry_backoff_max_ms: 5_000,
            ack_wait_secs: 30,
            duplicate_window_secs: 120,
            consumer_lanes: None,
            consumer_batch: 64,
            consumer_linger_ms: None,
            stream_max_age_days: 7,
            inbox_keep_days: 14,
        }
    }
}

impl Default for OutboxSettings {
    fn default() -> Self {
        Self { batch_size: 256, poll_interval_ms: 200, keep_sent_days: 14, linger_ms: None }
    }
}
