//! The consumer's feed: NATS deliveries handed to the lanes of their cases,
//! with the subscription made again when it ends.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::bus::{ConsumerSpec, Delivery, EventBus, Subscription};
use crate::outage::Outage;

/// The pause before subscribing again after a subscription ended, and between tries.
const RESUBSCRIBE_EVERY: Duration = Duration::from_secs(1);

/// Hands each delivery of `subscription` to its case's lane until `shutdown`.
/// A subscription that ends — its NATS consumer was deleted, say — is made
/// again, every [`RESUBSCRIBE_EVERY`] until it is: the consumer comes back
/// from the stream's start, and the inbox drops what was already applied.
pub(super) async fn feed_lanes(
    mut subscription: Subscription,
    bus: Arc<dyn EventBus>,
    spec: ConsumerSpec,
    lanes: Vec<mpsc::Sender<Delivery>>,
    mut outage: Outage,
    shutdown: CancellationToken,
) {
    'consuming: loop {
        loop {
            let next = tokio::select! {
                _ = shutdown.cancelled() => break 'consuming,
                next = subscription.next() => next,
            };
            match next {
                Some(Ok(delivery)) => {
                    outage.worked();
                    let lane = super::lane_of(&delivery.envelope.case_id, lanes.len());
                    if lanes[lane].send(delivery).await.is_err() {
                        break 'consuming;
                    }
                }
                Some(Err(e)) => {
                    outage.failed(&e);
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                None => break,
            }
        }
        drop(subscription);
        tracing::warn!(
            "the consumer's event stream ended (was its NATS consumer deleted?); subscribing again, which makes the \
             consumer again if it is gone: it starts from the stream's first event and skips those already applied"
        );
        subscription = loop {
            tokio::select! {
                _ = shutdown.cancelled() => break 'consuming,
                _ = tokio::time::sleep(RESUBSCRIBE_EVERY) => {}
            }
            match bus.subscribe(&spec).await {
                Ok(subscription) => break subscription,
                Err(e) => outage.failed(&e),
            }
        };
    }
    // Dropping the lanes lets each finish the event in hand and stop;
    // unacknowledged deliveries are redelivered later.
}
