//! NATS JetStream bus of distributed mode: one file-backed stream, durable pull
//! consumers with explicit acknowledgement, `Nats-Msg-Id` de-duplication and
//! CloudEvents attributes as headers.

use std::sync::Arc;
use std::time::Duration;

use async_nats::header::HeaderMap;
use async_nats::jetstream::{self, consumer::pull, stream};
use async_trait::async_trait;
use std::future::IntoFuture;

use futures::StreamExt;

use super::nats_pull::Pulling;
use super::nats_stream::StreamKeeper;
use super::{BusError, ConsumerSpec, Envelope, EventBus, PendingAck, Subscription};
use crate::config::BusSettings;

const CE_ID: &str = "ce-id";
const CE_SOURCE: &str = "ce-source";
const CE_TYPE: &str = "ce-type";
const CE_TIME: &str = "ce-time";
const CE_SUBJECT: &str = "ce-subject";
const CE_SPECVERSION: &str = "ce-specversion";
const TRACEPARENT: &str = "traceparent";

/// Batches a consumer lane holds unacknowledged (NATS's `max_ack_pending` is
/// this times `bus.consumer_batch` times the lanes): one being applied and
/// three behind it, so a lane starts its next batch as soon as one commits. At
/// one batch a lane, the gateway's status consumer sat at its limit, ran dry
/// between batches and fell further behind at 1,000 referrals/s
/// (docs/performance.md, twenty-ninth round).
const BATCHES_IN_FLIGHT: usize = 4;

/// A pull request's life. The client asks for more only when a request's
/// messages are mostly in, so a request the server stops serving holds the
/// consumer until async-nats gives up on it, 5 s after its expiry: on NATS 2.9
/// at 1,000 referrals/s a consumer got nothing for 15–34 s with tens of
/// thousands waiting at the default 30 s, and for ~9 s at 5 s.
const PULL_EXPIRES: Duration = Duration::from_secs(5);

/// The server's heartbeat while a pull request waits (under half its life):
/// a request lost with the connection is noticed within two.
const PULL_HEARTBEAT: Duration = Duration::from_secs(2);

/// The NATS JetStream bus.
#[derive(Clone)]
pub struct NatsBus {
    client: async_nats::Client,
    js: jetstream::Context,
    /// Makes the stream again where a running process finds it gone.
    keeper: Arc<StreamKeeper>,
    prefix: String,
    ack_wait: Duration,
    max_ack_pending: i64,
    filter_subjects_supported: bool,
}

impl std::fmt::Debug for NatsBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsBus")
            .field("stream", &self.stream_name())
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// The subject of every event under `prefix`: the stream's, and the filter of
/// a consumer of several kinds on NATS before 2.10.
fn every_event(prefix: &str) -> String {
    format!("{prefix}fq.v1.>")
}

/// True for servers that take several filter subjects on one consumer (2.10+).
fn supports_filter_subjects(version: &str) -> bool {
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (major, minor) >= (2, 10)
}

impl NatsBus {
    /// Connects and makes sure the stream exists.
    pub async fn connect(settings: &BusSettings) -> Result<Self, BusError> {
        let connect_err = |reason: String| BusError::Connect { url: settings.nats_url.clone(), reason };
        let client = async_nats::ConnectOptions::new()
            .name("fengqiao")
            .retry_on_initial_connect()
            .connection_timeout(Duration::from_secs(5))
            // A cluster is named by a comma-separated list of its servers.
            .connect(settings.nats_url.split(',').map(str::trim).collect::<Vec<_>>())
            .await
            .map_err(|e| connect_err(e.to_string()))?;
        // retry_on_initial_connect returns at once; wait for the first connection.
        tokio::time::timeout(Duration::from_secs(10), client.flush())
            .await
            .map_err(|_| connect_err("no answer within 10 s".into()))?
            .map_err(|e| connect_err(e.to_string()))?;
        let js = jetstream::new(client.clone());
        let prefix = settings.subject_prefix.clone();
        let stream_config = stream::Config {
            name: settings.stream.clone(),
            subjects: vec![every_event(&prefix)],
            storage: stream::StorageType::File,
            num_replicas: settings.stream_replicas.max(1),
            duplicate_window: Duration::from_secs(settings.duplicate_window_secs),
            max_age: Duration::from_secs(settings.stream_max_age_days * 24 * 3600),
            ..Default::default()
        };
        let keeper = Arc::new(StreamKeeper::new(js.clone(), stream_config));
        keeper.stream().await.map_err(|e| match e.subjects_taken {
            true => BusError::Stream { name: settings.stream.clone(), reason: e.to_string() },
            false => connect_err(format!("stream {}: {e}", settings.stream)),
        })?;
        let filter_subjects_supported = supports_filter_subjects(&client.server_info().version);
        Ok(Self {
            client,
            keeper,
            js,
            prefix,
            ack_wait: Duration::from_secs(settings.ack_wait_secs),
            max_ack_pending: (settings.consumer_lanes.unwrap_or(crate::config::PARALLEL_LANES)
                * settings.consumer_batch
                * BATCHES_IN_FLIGHT) as i64,
            filter_subjects_supported,
        })
    }

    /// The stream's name (`bus.stream`).
    fn stream_name(&self) -> &str {
        &self.keeper.config.name
    }

    /// Deletes the stream (tests clean up after themselves with it).
    pub async fn delete_stream(&self) -> Result<(), BusError> {
        self.js
            .delete_stream(self.stream_name())
            .await
            .map(|_| ())
            .map_err(|e| BusError::Consumer { durable: self.stream_name().to_string(), reason: e.to_string() })
    }

    /// Deletes a durable consumer (as an operator's `nats consumer rm` would;
    /// tests use it to check a running consumer makes it again).
    pub async fn delete_consumer(&self, durable: &str) -> Result<(), BusError> {
        let err = |reason: String| BusError::Consumer { durable: durable.to_string(), reason };
        let stream = self.js.get_stream(self.stream_name()).await.map_err(|e| err(e.to_string()))?;
        stream.delete_consumer(durable).await.map(|_| ()).map_err(|e| err(e.to_string()))
    }

    fn headers(envelope: &Envelope) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(async_nats::header::NATS_MESSAGE_ID, envelope.id.as_str());
        h.insert(CE_SPECVERSION, "1.0");
        h.insert(CE_ID, envelope.id.as_str());
        h.insert(CE_SOURCE, envelope.source.as_str());
        h.insert(CE_TYPE, envelope.event_type.as_str());
        h.insert(CE_TIME, envelope.time_rfc3339().as_str());
        h.insert(CE_SUBJECT, envelope.case_id.as_str());
        h.insert("content-type", "application/protobuf");
        if let Some(tp) = &envelope.traceparent {
            h.insert(TRACEPARENT, tp.as_str());
        }
        h
    }

    /// Reads an envelope back. Missing attributes are filled from what NATS
    /// knows, so a malformed message still reaches the handler (and, failing
    /// there, the dead-letter record) instead of stalling the consumer.
    pub(super) fn envelope(&self, msg: &jetstream::Message) -> Envelope {
        let header = |name: &str| msg.headers.as_ref().and_then(|h| h.get(name)).map(|v| v.as_str().to_string());
        let info = msg.info().ok();
        let id = header(CE_ID)
            .or_else(|| header(async_nats::header::NATS_MESSAGE_ID.as_ref()))
            .unwrap_or_else(|| format!("nats-seq-{}", info.as_ref().map_or(0, |i| i.stream_sequence)));
        let subject = msg.subject.as_str();
        Envelope {
            id,
            source: header(CE_SOURCE).unwrap_or_default(),
            event_type: subject.strip_prefix(self.prefix.as_str()).unwrap_or(subject).to_string(),
            time_micros: header(CE_TIME).and_then(|t| Envelope::parse_time(&t)).unwrap_or_else(crate::db::now_micros),
            case_id: header(CE_SUBJECT).unwrap_or_default(),
            traceparent: header(TRACEPARENT),
            payload: msg.payload.clone(),
        }
    }
}

/// The subjects a consumer's settings filter, in order.
fn subjects_of(config: &pull::Config) -> Vec<&str> {
    let mut subjects: Vec<&str> = std::iter::once(config.filter_subject.as_str())
        .filter(|s| !s.is_empty())
        .chain(config.filter_subjects.iter().map(String::as_str))
        .collect();
    subjects.sort_unstable();
    subjects.dedup();
    subjects
}

/// What a durable consumer `kept` from an earlier release (or an earlier
/// setting) should become, if it differs from `wanted`: this release's limits
/// — how long an event may go unacknowledged, how many may — and, where the
/// server edits them (NATS 2.10+), its subjects, so a kind of event a release
/// adds to a consumer reaches it. Everything else it keeps.
fn update_of(kept: &pull::Config, wanted: &pull::Config, subjects_editable: bool) -> Option<pull::Config> {
    let mut updated = kept.clone();
    updated.ack_wait = wanted.ack_wait;
    updated.max_ack_pending = wanted.max_ack_pending;
    // NATS 2.9 keeps the subjects a consumer was made with.
    if subjects_editable && subjects_of(kept) != subjects_of(wanted) {
        updated.filter_subject = wanted.filter_subject.clone();
        updated.filter_subjects = wanted.filter_subjects.clone();
    }
    (updated != *kept).then_some(updated)
}

impl NatsBus {
    /// Gives `consumer`, a durable found or made for `wanted`, the settings of
    /// this release where it was made with others ([`update_of`]).
    async fn bring_up_to_date(
        &self,
        stream: &jetstream::stream::Stream,
        consumer: jetstream::consumer::PullConsumer,
        wanted: &pull::Config,
    ) -> Result<jetstream::consumer::PullConsumer, async_nats::Error> {
        use jetstream::consumer::FromConsumer;
        let kept = pull::Config::try_from_consumer_config(consumer.cached_info().config.clone())?;
        if !self.filter_subjects_supported
            && subjects_of(&kept) != subjects_of(wanted)
            && kept.filter_subject != every_event(&self.prefix)
        {
            tracing::warn!(
                durable = kept.durable_name.as_deref().unwrap_or_default(),
                subjects = ?subjects_of(&kept),
                wanted = ?subjects_of(wanted),
                "the NATS consumer filters other subjects than this release wants, and NATS before 2.10 cannot \
                 change them: events of the kinds it misses do not reach it. Upgrade NATS to 2.10 or later (the \
                 consumer is then updated at the next start)"
            );
        }
        let Some(updated) = update_of(&kept, wanted, self.filter_subjects_supported) else {
            return Ok(consumer);
        };
        tracing::info!(
            durable = kept.durable_name.as_deref().unwrap_or_default(),
            max_ack_pending = kept.max_ack_pending,
            ack_wait_ms = kept.ack_wait.as_millis() as u64,
            subjects = ?subjects_of(&kept),
            to_max_ack_pending = updated.max_ack_pending,
            to_ack_wait_ms = updated.ack_wait.as_millis() as u64,
            to_subjects = ?subjects_of(&updated),
            "the NATS consumer was made with other settings (by an earlier release?); updating them"
        );
        // Create-or-update: the server edits a durable's settings in place, keeping its position.
        Ok(stream.create_consumer(updated).await?)
    }
}

#[async_trait]
impl EventBus for NatsBus {
    async fn publish(&self, envelope: &Envelope) -> Result<PendingAck, BusError> {
        let subject = format!("{}{}", self.prefix, envelope.event_type);
        let event_type = envelope.event_type.clone();
        let err = move |reason: String| BusError::Publish { event_type: event_type.clone(), reason };
        let pending = self
            .js
            .publish_with_headers(subject, Self::headers(envelope), envelope.payload.clone())
            .await
            .map_err(|e| err(e.to_string()))?;
        let keeper = self.keeper.clone();
        Ok(Box::pin(async move {
            let acked = pending.into_future().await;
            if acked.as_ref().is_err_and(|e| e.kind() == jetstream::context::PublishErrorKind::StreamNotFound) {
                keeper.remake_missing().await;
            }
            acked.map(|_| ()).map_err(|e| err(e.to_string()))
        }))
    }

    async fn subscribe(&self, spec: &ConsumerSpec) -> Result<Subscription, BusError> {
        let err = |reason: String| BusError::Consumer { durable: spec.durable.clone(), reason };
        let subjects: Vec<String> = spec.event_types.iter().map(|t| format!("{}{}", self.prefix, t)).collect();
        let mut config = pull::Config {
            durable_name: Some(spec.durable.clone()),
            ack_policy: jetstream::consumer::AckPolicy::Explicit,
            ack_wait: self.ack_wait,
            max_ack_pending: self.max_ack_pending,
            deliver_policy: jetstream::consumer::DeliverPolicy::All,
            ..Default::default()
        };
        match subjects.len() {
            1 => config.filter_subject = subjects[0].clone(),
            _ if self.filter_subjects_supported => config.filter_subjects = subjects.clone(),
            // NATS before 2.10 takes one filter: receive the whole prefix and
            // acknowledge what this consumer does not want.
            _ => config.filter_subject = every_event(&self.prefix),
        }
        let stream = self.keeper.stream().await.map_err(|e| err(e.to_string()))?;
        let wanted_config = config.clone();
        let consumer = stream.get_or_create_consumer(&spec.durable, config).await.map_err(|e| err(e.to_string()))?;
        let consumer =
            self.bring_up_to_date(&stream, consumer, &wanted_config).await.map_err(|e| err(e.to_string()))?;
        let pull: pull::Stream = consumer
            .stream()
            .expires(PULL_EXPIRES)
            .heartbeat(PULL_HEARTBEAT)
            .messages()
            .await
            .map_err(|e| err(e.to_string()))?;
        let pulling = Pulling { pull, bus: self.clone(), stream, spec: spec.clone() };
        Ok(futures::stream::unfold(Some(pulling), Pulling::next_delivery).boxed())
    }

    async fn ping(&self) -> Result<(), BusError> {
        match self.client.connection_state() {
            async_nats::connection::State::Connected => Ok(()),
            state => Err(BusError::Connect {
                url: "(configured bus.nats_url)".into(),
                reason: format!("connection is {state:?}"),
            }),
        }
    }

    async fn pending(&self, durable: &str) -> Result<Option<u64>, BusError> {
        let err = |reason: String| BusError::Consumer { durable: durable.to_string(), reason };
        let stream = self.js.get_stream(self.stream_name()).await.map_err(|e| err(e.to_string()))?;
        let info = stream.consumer_info(durable).await.map_err(|e| err(e.to_string()))?;
        Ok(Some(info.num_pending + info.num_ack_pending as u64))
    }

    fn kind(&self) -> &'static str {
        "nats"
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    #[test]
    fn filter_subjects_need_nats_2_10() {
        assert!(!super::supports_filter_subjects("2.9.10"));
        assert!(super::supports_filter_subjects("2.10.0"));
        assert!(super::supports_filter_subjects("2.15.1"));
        assert!(!super::supports_filter_subjects("garbage"));
    }

    #[tokio::test]
    async fn a_consumer_lane_holds_four_batches_unacknowledged_before_nats_stops_sending() {
        use crate::bus::{ConsumerSpec, Envelope, EventBus};
        use fengqiao_proto::fengqiao::events::v1::MediationConcluded;
        use fengqiao_proto::EventKind;
        use futures::StreamExt;

        let mut settings = crate::testing::settings().bus;
        settings.nats_url = crate::testing::nats_url();
        settings.consumer_lanes = Some(1);
        let bus = super::NatsBus::connect(&settings).await.unwrap();
        let events: Vec<Envelope> = (0..600)
            .map(|i| {
                let e = MediationConcluded { case_id: format!("case-{i}"), ..Default::default() };
                Envelope::new("test", EventKind::MediationConcluded, &e)
            })
            .collect();
        let spec = ConsumerSpec { durable: "in-flight".into(), event_types: vec![events[0].event_type.clone()] };
        let mut deliveries = bus.subscribe(&spec).await.unwrap();
        for e in &events {
            bus.publish(e).await.unwrap().await.unwrap();
        }
        // Nothing acknowledged: NATS sends until the consumer's limit, then waits.
        let mut held = Vec::new();
        while let Ok(Some(delivery)) = tokio::time::timeout(Duration::from_secs(2), deliveries.next()).await {
            held.push(delivery.unwrap());
        }
        assert_eq!(
            held.len(),
            4 * settings.consumer_batch,
            "one lane's events in flight: a batch applied, three waiting"
        );
        bus.delete_stream().await.unwrap();
    }

    fn consumer(subjects: &[&str], ack_wait_secs: u64, max_ack_pending: i64) -> super::pull::Config {
        let mut config = super::pull::Config {
            durable_name: Some("routing-cases".into()),
            ack_wait: Duration::from_secs(ack_wait_secs),
            max_ack_pending,
            ..Default::default()
        };
        match subjects {
            [one] => config.filter_subject = one.to_string(),
            many => config.filter_subjects = many.iter().map(|s| s.to_string()).collect(),
        }
        config
    }

    #[test]
    fn a_consumer_made_with_this_releases_settings_is_left_alone() {
        let wanted = consumer(&["a", "b"], 30, 1024);
        assert_eq!(super::update_of(&wanted, &wanted, true), None);
        // However the server spells one subject.
        assert_eq!(super::update_of(&consumer(&["a"], 30, 1024), &consumer(&["a"], 30, 1024), true), None);
        let mut spelt = consumer(&["a"], 30, 1024);
        (spelt.filter_subject, spelt.filter_subjects) = (String::new(), vec!["a".into()]);
        assert_eq!(super::update_of(&spelt, &consumer(&["a"], 30, 1024), true), None);
    }

    #[test]
    fn an_earlier_consumers_limits_are_updated_and_the_rest_kept() {
        let mut kept = consumer(&["p.fq.v1.>"], 60, 256);
        kept.max_deliver = 9;
        let updated = super::update_of(&kept, &consumer(&["p.fq.v1.a"], 30, 1024), false).expect("an update");
        assert_eq!((updated.ack_wait, updated.max_ack_pending), (Duration::from_secs(30), 1024));
        assert_eq!(updated.filter_subject, "p.fq.v1.>", "NATS 2.9 cannot change the subjects");
        assert_eq!(updated.max_deliver, 9, "what this release does not set is kept");
        // Only the subjects differ, and the server cannot edit them: nothing to do.
        assert_eq!(super::update_of(&consumer(&["p.fq.v1.>"], 30, 1024), &consumer(&["x"], 30, 1024), false), None);
    }

    #[test]
    fn a_kind_of_event_a_release_adds_to_a_consumer_reaches_it_where_nats_edits_subjects() {
        let kept = consumer(&["a"], 30, 1024);
        let updated = super::update_of(&kept, &consumer(&["a", "b"], 30, 1024), true).expect("an update");
        assert_eq!(super::subjects_of(&updated), ["a", "b"]);
        assert_eq!(updated.filter_subject, "", "one way of naming the subjects, not both");
    }

    #[tokio::test]
    async fn a_consumer_made_by_an_earlier_release_gets_this_releases_limits_when_subscribed() {
        use crate::bus::{ConsumerSpec, Envelope, EventBus};
        use fengqiao_proto::fengqiao::events::v1::MediationConcluded;
        use fengqiao_proto::EventKind;
        use futures::StreamExt;

        let mut settings = crate::testing::settings().bus;
        settings.nats_url = crate::testing::nats_url();
        let bus = super::NatsBus::connect(&settings).await.unwrap();
        let event = Envelope::new(
            "test",
            EventKind::MediationConcluded,
            &MediationConcluded { case_id: "case-1".into(), ..Default::default() },
        );
        // As the release before four batches a lane made it: one batch a lane, another ack wait.
        let stream = bus.js.get_stream(bus.stream_name()).await.unwrap();
        let mut earlier = consumer(&[&format!("{}{}", bus.prefix, event.event_type)], 300, 256);
        earlier.durable_name = Some("earlier".into());
        earlier.ack_policy = super::jetstream::consumer::AckPolicy::Explicit;
        stream.create_consumer(earlier.clone()).await.unwrap();
        assert_ne!((earlier.ack_wait, earlier.max_ack_pending), (bus.ack_wait, bus.max_ack_pending));

        let spec = ConsumerSpec { durable: "earlier".into(), event_types: vec![event.event_type.clone()] };
        let mut deliveries = bus.subscribe(&spec).await.unwrap();
        let now = stream.consumer_info("earlier").await.unwrap().config;
        assert_eq!((now.ack_wait, now.max_ack_pending), (bus.ack_wait, bus.max_ack_pending));
        assert_eq!(now.filter_subject, earlier.filter_subject);
        // Still the same consumer, delivering.
        bus.publish(&event).await.unwrap().await.unwrap();
        let delivery = tokio::time::timeout(Duration::from_secs(10), deliveries.next()).await.unwrap().unwrap();
        assert_eq!(delivery.unwrap().envelope.id, event.id);
        bus.delete_stream().await.unwrap();
    }

    #[tokio::test]
    async fn a_publish_that_finds_the_stream_gone_makes_it_again_for_the_next() {
        use crate::bus::{Envelope, EventBus};
        use fengqiao_proto::fengqiao::events::v1::MediationConcluded;
        use fengqiao_proto::EventKind;

        let mut settings = crate::testing::settings().bus;
        settings.nats_url = crate::testing::nats_url();
        let bus = super::NatsBus::connect(&settings).await.unwrap();
        let event = |case: &str| {
            Envelope::new(
                "test",
                EventKind::MediationConcluded,
                &MediationConcluded { case_id: case.into(), ..Default::default() },
            )
        };
        bus.publish(&event("case-1")).await.unwrap().await.unwrap();
        // Its storage lost, or `nats stream rm`, while the process runs.
        bus.delete_stream().await.unwrap();
        let lost = bus.publish(&event("case-2")).await.unwrap().await;
        assert!(lost.is_err(), "nothing took the event in");
        // The relay's next pass finds the stream made again, with its settings.
        bus.publish(&event("case-2")).await.unwrap().await.expect("the stream was made again");
        let info = bus.js.get_stream(bus.stream_name()).await.unwrap().info().await.unwrap().clone();
        assert_eq!(info.config.subjects, bus.keeper.config.subjects);
        assert_eq!(info.config.max_age, bus.keeper.config.max_age);
        assert_eq!(info.state.messages, 1, "only what came after the loss");
        bus.delete_stream().await.unwrap();
    }

    #[tokio::test]
    async fn pull_requests_reaching_nats_expire_within_five_seconds_and_ask_for_a_heartbeat_every_two() {
        use crate::bus::{ConsumerSpec, EventBus};
        use futures::StreamExt;

        let mut settings = crate::testing::settings().bus;
        settings.nats_url = crate::testing::nats_url();
        let bus = super::NatsBus::connect(&settings).await.unwrap();
        // The requests as the server receives them, heard on the subject it serves them on.
        let mut requests =
            bus.client.subscribe(format!("$JS.API.CONSUMER.MSG.NEXT.{}.pulling", bus.stream_name())).await.unwrap();
        bus.client.flush().await.unwrap();
        let spec = ConsumerSpec { durable: "pulling".into(), event_types: vec!["fq.v1.case.registered".into()] };
        let mut deliveries = bus.subscribe(&spec).await.unwrap();
        // The first request goes out when the consumer first asks for an event.
        assert!(tokio::time::timeout(Duration::from_millis(500), deliveries.next()).await.is_err());
        let request = tokio::time::timeout(Duration::from_secs(10), requests.next()).await.unwrap().unwrap();
        let request: serde_json::Value = serde_json::from_slice(&request.payload).unwrap();
        let nanos = |field: &str| Duration::from_nanos(request[field].as_u64().unwrap_or_else(|| panic!("{field}")));
        // A request the server stops serving holds the consumer until the
        // client gives up on it, its expiry and 5 s after (async-nats).
        assert_eq!(nanos("expires"), super::PULL_EXPIRES);
        assert!(nanos("expires") <= Duration::from_secs(5), "{request}");
        assert!(nanos("idle_heartbeat") <= Duration::from_secs(2), "{request}");
        bus.delete_stream().await.unwrap();
    }

    /// Subscribes, loses the consumer (`lose`) while no pull request waits
    /// for it, and reads the subscription until it ends.
    async fn a_subscription_after_losing_its_consumer(
        lose: impl AsyncFnOnce(&super::NatsBus),
    ) -> Result<Vec<String>, Vec<String>> {
        use crate::bus::{ConsumerSpec, EventBus};
        use futures::StreamExt;

        let mut settings = crate::testing::settings().bus;
        settings.nats_url = crate::testing::nats_url();
        let bus = super::NatsBus::connect(&settings).await.unwrap();
        let spec = ConsumerSpec { durable: "losing".into(), event_types: vec!["fq.v1.case.registered".into()] };
        // Not yet read: its first pull request goes out with the first read.
        let mut deliveries = bus.subscribe(&spec).await.unwrap();
        lose(&bus).await;
        let mut errors = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(15), async {
            while let Some(item) = deliveries.next().await {
                errors.push(item.err().map(|e| e.to_string()).unwrap_or_else(|| "a delivery".into()));
            }
        })
        .await;
        let _ = bus.delete_stream().await;
        read.map(|()| errors.clone()).map_err(|_| errors)
    }

    #[tokio::test]
    async fn a_subscription_whose_stream_is_lost_with_no_pull_waiting_ends_so_its_consumer_subscribes_again() {
        let errors = a_subscription_after_losing_its_consumer(async |bus| bus.delete_stream().await.unwrap())
            .await
            .unwrap_or_else(|errors| panic!("still open after 15 s, with errors {errors:?}"));
        assert!(!errors.is_empty() && !errors.contains(&"a delivery".to_string()), "{errors:?}");
    }

    #[tokio::test]
    async fn a_subscription_whose_consumer_is_deleted_with_no_pull_waiting_ends_so_it_is_made_again() {
        let errors = a_subscription_after_losing_its_consumer(async |bus| bus.delete_consumer("losing").await.unwrap())
            .await
            .unwrap_or_else(|errors| panic!("still open after 15 s, with errors {errors:?}"));
        assert!(!errors.is_empty() && !errors.contains(&"a delivery".to_string()), "{errors:?}");
    }

    #[tokio::test]
    async fn a_cluster_is_reached_through_any_server_of_a_comma_separated_list() {
        use crate::bus::EventBus;
        let mut settings = crate::testing::settings().bus;
        settings.nats_url = format!("nats://127.0.0.1:1, {}", crate::testing::nats_url());
        let bus = super::NatsBus::connect(&settings).await.expect("the live server of the list");
        bus.ping().await.unwrap();
        bus.delete_stream().await.unwrap();
    }
}
