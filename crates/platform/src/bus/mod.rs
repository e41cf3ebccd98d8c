//! The event bus: one trait, two implementations with the same semantics —
//! NATS JetStream (distributed) and in-process (standalone). Both deliver at
//! least once, in publish order per consumer, and redeliver what was not
//! acknowledged; the consumer runner adds the inbox, retries and dead-letters.

mod envelope;
mod memory;
mod nats;
mod nats_pull;
mod nats_stream;

use std::fmt::Debug;

use async_trait::async_trait;
use futures::future::BoxFuture;
use futures::stream::BoxStream;

pub use envelope::Envelope;
pub use memory::MemoryBus;
pub use nats::NatsBus;

use crate::config::BusSettings;

/// A bus failure. The message says what to check.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The broker could not be reached.
    #[error("cannot reach NATS at {url}: {reason}; check bus.nats_url and that nats-server runs with JetStream (-js)")]
    Connect {
        /// The URL tried.
        url: String,
        /// Why.
        reason: String,
    },
    /// NATS was reached but will not make the stream (its reason says what to do).
    #[error("NATS will not make stream {name}: {reason}")]
    Stream {
        /// The stream (`bus.stream`).
        name: String,
        /// Why, and what to do.
        reason: String,
    },
    /// The broker refused or lost a publish.
    #[error("publish of {event_type} failed: {reason}; the outbox keeps it and retries")]
    Publish {
        /// The event type.
        event_type: String,
        /// Why.
        reason: String,
    },
    /// Setting up or reading a consumer failed.
    #[error("consumer {durable}: {reason}")]
    Consumer {
        /// The durable consumer name.
        durable: String,
        /// Why.
        reason: String,
    },
    /// An acknowledgement could not be sent; the broker will redeliver and the inbox drops the copy.
    #[error("acknowledgement failed: {0}")]
    Ack(String),
}

/// Resolves when the broker holds the event (JetStream ack; in-process: every
/// consumer has finished with it).
pub type PendingAck = BoxFuture<'static, Result<(), BusError>>;

/// What a durable consumer wants.
#[derive(Debug, Clone)]
pub struct ConsumerSpec {
    /// Durable name, unique per component and purpose (e.g. `routing-cases`).
    pub durable: String,
    /// Event types (unprefixed subjects such as `fq.v1.case.registered`) it receives.
    pub event_types: Vec<String>,
}

/// Acknowledges one delivery.
#[async_trait]
pub trait Acker: Send + Sync {
    /// The event is done with (handled, a duplicate, or dead-lettered).
    async fn ack(self: Box<Self>) -> Result<(), BusError>;
    /// Still working on it: do not redeliver yet.
    async fn progress(&self) -> Result<(), BusError>;
}

/// One delivery of one event.
pub struct Delivery {
    /// The event.
    pub envelope: Envelope,
    /// How many times the broker has delivered it, this time included (1 first).
    pub delivered: u32,
    acker: Box<dyn Acker>,
}

impl Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("event_id", &self.envelope.id)
            .field("event_type", &self.envelope.event_type)
            .field("delivered", &self.delivered)
            .finish()
    }
}

impl Delivery {
    /// A delivery acknowledged through `acker`.
    pub fn new(envelope: Envelope, delivered: u32, acker: Box<dyn Acker>) -> Self {
        Self { envelope, delivered, acker }
    }

    /// Acknowledges it.
    pub async fn ack(self) -> Result<(), BusError> {
        self.acker.ack().await
    }

    /// Asks the broker to wait longer before redelivering.
    pub async fn progress(&self) -> Result<(), BusError> {
        self.acker.progress().await
    }
}

/// Deliveries of a durable consumer, in order.
pub type Subscription = BoxStream<'static, Result<Delivery, BusError>>;

/// The event bus.
#[async_trait]
pub trait EventBus: Send + Sync + Debug + 'static {
    /// Sends one event. Events sent one after another are delivered in that
    /// order; await the returned [`PendingAck`] to know the broker holds it. A
    /// republished event id within the duplicate window is dropped.
    async fn publish(&self, envelope: &Envelope) -> Result<PendingAck, BusError>;
    /// Opens (creating if needed) a durable consumer.
    async fn subscribe(&self, spec: &ConsumerSpec) -> Result<Subscription, BusError>;
    /// Checks the bus answers (readiness).
    async fn ping(&self) -> Result<(), BusError>;
    /// Events the broker holds for durable consumer `durable` that it has
    /// not acknowledged (its lag); `None` where the bus cannot tell.
    async fn pending(&self, _durable: &str) -> Result<Option<u64>, BusError> {
        Ok(None)
    }
    /// Which implementation, for logs: `nats` or `in-process`.
    fn kind(&self) -> &'static str;
}

/// Connects the bus the settings name: NATS when `bus.nats_url` is set, else in-process.
pub async fn connect(settings: &BusSettings) -> Result<std::sync::Arc<dyn EventBus>, BusError> {
    if settings.nats_url.is_empty() {
        Ok(std::sync::Arc::new(MemoryBus::new(settings)))
    } else {
        Ok(std::sync::Arc::new(NatsBus::connect(settings).await?))
    }
}
