//! NATS JetStream bus of distributed mode: one file-backed stream, durable pull
//! consumers with explicit acknowledgement, `Nats-Msg-Id` de-duplication and
//! CloudEvents attributes as headers.

use std::time::Duration;

use async_nats::header::HeaderMap;
use async_nats::jetstream::{self, consumer::pull, stream, AckKind};
use async_trait::async_trait;
use std::future::IntoFuture;

use futures::StreamExt;

use super::{Acker, BusError, ConsumerSpec, Delivery, Envelope, EventBus, PendingAck, Subscription};
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
/// consumer until it expires: on NATS 2.9 at 1,000 referrals/s a consumer got
/// nothing for 15–34 s with tens of thousands waiting, at the default 30 s.
const PULL_EXPIRES: Duration = Duration::from_secs(5);

/// The server's heartbeat while a pull request waits (under half its life):
/// a request lost with the connection is noticed within two.
const PULL_HEARTBEAT: Duration = Duration::from_secs(2);

/// The NATS JetStream bus.
#[derive(Clone)]
pub struct NatsBus {
    client: async_nats::Client,
    js: jetstream::Context,
    stream: String,
    prefix: String,
    ack_wait: Duration,
    max_ack_pending: i64,
    filter_subjects_supported: bool,
}

impl std::fmt::Debug for NatsBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsBus").field("stream", &self.stream).field("prefix", &self.prefix).finish_non_exhaustive()
    }
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
        js.get_or_create_stream(stream::Config {
            name: settings.stream.clone(),
            subjects: vec![format!("{prefix}fq.v1.>")],
            storage: stream::StorageType::File,
            num_replicas: settings.stream_replicas.max(1),
            duplicate_window: Duration::from_secs(settings.duplicate_window_secs),
            max_age: Duration::from_secs(settings.stream_max_age_days * 24 * 3600),
            ..Default::default()
        })
        .await
        .map_err(|e| connect_err(format!("stream {}: {e}", settings.stream)))?;
        let filter_subjects_supported = supports_filter_subjects(&client.server_info().version);
        Ok(Self {
            client,
            js,
            stream: settings.stream.clone(),
            prefix,
            ack_wait: Duration::from_secs(settings.ack_wait_secs),
            max_ack_pending: (settings.consumer_lanes.unwrap_or(crate::config::PARALLEL_LANES)
                * settings.consumer_batch
                * BATCHES_IN_FLIGHT) as i64,
            filter_subjects_supported,
        })
    }

    /// Deletes the stream (tests clean up after themselves with it).
    pub async fn delete_stream(&self) -> Result<(), BusError> {
        self.js
            .delete_stream(&self.stream)
            .await
            .map(|_| ())
            .map_err(|e| BusError::Consumer { durable: self.stream.clone(), reason: e.to_string() })
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
    fn envelope(&self, msg: &jetstream::Message) -> Envelope {
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

struct NatsAcker(jetstream::Message);

#[async_trait]
impl Acker for NatsAcker {
    async fn ack(self: Box<Self>) -> Result<(), BusError> {
        self.0.ack().await.map_err(|e| BusError::Ack(e.to_string()))
    }

    async fn progress(&self) -> Result<(), BusError> {
        self.0.ack_with(AckKind::Progress).await.map_err(|e| BusError::Ack(e.to_string()))
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
        Ok(Box::pin(async move { pending.into_future().await.map(|_| ()).map_err(|e| err(e.to_string())) }))
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
            _ => config.filter_subject = format!("{}fq.v1.>", self.prefix),
        }
        let stream = self.js.get_stream(&self.stream).await.map_err(|e| err(e.to_string()))?;
        let consumer: pull::Stream = stream
            .get_or_create_consumer(&spec.durable, config)
            .await
            .map_err(|e| err(e.to_string()))?
            .stream()
            .expires(PULL_EXPIRES)
            .heartbeat(PULL_HEARTBEAT)
            .messages()
            .await
            .map_err(|e| err(e.to_string()))?;
        let bus = self.clone();
        let wanted = spec.event_types.clone();
        let durable = spec.durable.clone();
        let deliveries = consumer.filter_map(move |item| {
            let bus = bus.clone();
            let wanted = wanted.clone();
            let durable = durable.clone();
            async move {
                let msg = match item {
                    Ok(msg) => msg,
                    Err(e) => return Some(Err(BusError::Consumer { durable, reason: e.to_string() })),
                };
                let envelope = bus.envelope(&msg);
                if !wanted.contains(&envelope.event_type) {
                    // Only reached on pre-2.10 servers with the wide filter.
                    let _ = msg.ack().await;
                    return None;
                }
                let delivered = msg.info().map(|i| i.delivered.max(1) as u32).unwrap_or(1);
                Some(Ok(Delivery::new(envelope, delivered, Box::new(NatsAcker(msg)))))
            }
        });
        Ok(deliveries.boxed())
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
        let stream = self.js.get_stream(&self.stream).await.map_err(|e| err(e.to_string()))?;
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
