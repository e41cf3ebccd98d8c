//! A subscription's deliveries, pulled from its NATS consumer: the events it
//! wants handed on with their acknowledgement, and the subscription ended
//! once the server no longer knows the consumer.

use async_nats::jetstream::{self, consumer::pull, stream, AckKind};
use async_trait::async_trait;
use futures::StreamExt;

use super::nats::NatsBus;
use super::{Acker, BusError, ConsumerSpec, Delivery};

/// A subscription's pull of its NATS consumer, and what it needs to hand on
/// deliveries.
pub(super) struct Pulling {
    pub(super) pull: pull::Stream,
    pub(super) bus: NatsBus,
    pub(super) stream: stream::Stream,
    pub(super) spec: ConsumerSpec,
}

impl Pulling {
    /// The next delivery the consumer wants, or an error. An error after which
    /// the server no longer knows the consumer (it, or its stream, was deleted)
    /// ends the subscription, so the component subscribes again
    /// (crate::consumer::feed). async-nats ends it itself only when a waiting
    /// pull request is told "consumer deleted"; a consumer lost with no request
    /// waiting gives missed heartbeats or "no responders", for ever.
    pub(super) async fn next_delivery(state: Option<Pulling>) -> Option<(Result<Delivery, BusError>, Option<Pulling>)> {
        let mut this = state?;
        loop {
            let msg = match this.pull.next().await? {
                Ok(msg) => msg,
                Err(e) => {
                    let error = BusError::Consumer { durable: this.spec.durable.clone(), reason: e.to_string() };
                    let gone = this.consumer_gone().await;
                    return Some((Err(error), (!gone).then_some(this)));
                }
            };
            let envelope = this.bus.envelope(&msg);
            if !this.spec.event_types.contains(&envelope.event_type) {
                // Only reached on pre-2.10 servers with the wide filter.
                let _ = msg.ack().await;
                continue;
            }
            let delivered = msg.info().map(|i| i.delivered.max(1) as u32).unwrap_or(1);
            return Some((Ok(Delivery::new(envelope, delivered, Box::new(NatsAcker(msg)))), Some(this)));
        }
    }

    /// Whether the server says the consumer or its stream does not exist (not
    /// whether it could not be asked: a lost connection keeps the pull, which
    /// async-nats renews when the connection is back).
    async fn consumer_gone(&self) -> bool {
        use jetstream::context::ConsumerInfoErrorKind as Kind;
        match self.stream.consumer_info(&self.spec.durable).await {
            Err(e) => matches!(e.kind(), Kind::NotFound | Kind::StreamNotFound),
            Ok(_) => false,
        }
    }
}

/// Acknowledges one delivery on NATS.
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
