//! The in-process bus of standalone mode. A publish is acknowledged only when
//! every consumer group subscribed to its type has finished with it, so the
//! outbox row stays unsent — and is sent again after a crash — until the
//! event's effects are committed. Same ordering, redelivery and duplicate
//! window as JetStream.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::StreamExt;
use tokio::sync::{mpsc, oneshot};

use super::{Acker, BusError, ConsumerSpec, Delivery, Envelope, EventBus, PendingAck, Subscription};
use crate::config::BusSettings;

/// One event waiting for one consumer group.
struct Item {
    envelope: Envelope,
    delivered: u32,
    done: Option<oneshot::Sender<()>>,
}

struct Group {
    event_types: Vec<String>,
    tx: mpsc::UnboundedSender<Item>,
    rx: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Item>>>,
}

#[derive(Default)]
struct State {
    groups: HashMap<String, Group>,
    recent: HashMap<String, Instant>,
    recent_order: VecDeque<(Instant, String)>,
}

/// The in-process event bus.
#[derive(Clone)]
pub struct MemoryBus {
    state: Arc<Mutex<State>>,
    duplicate_window: Duration,
    opened: Arc<tokio::sync::watch::Sender<bool>>,
}

impl std::fmt::Debug for MemoryBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryBus").finish_non_exhaustive()
    }
}

impl MemoryBus {
    /// A new, empty bus, open for publishing.
    pub fn new(settings: &BusSettings) -> Self {
        let bus = Self::new_closed(settings);
        bus.open();
        bus
    }

    /// A bus whose publishes wait until [`MemoryBus::open`]: standalone mode
    /// opens it once every component has subscribed, so no event left in an
    /// outbox by a previous run is published before its consumers exist.
    pub fn new_closed(settings: &BusSettings) -> Self {
        Self {
            state: Arc::default(),
            duplicate_window: Duration::from_secs(settings.duplicate_window_secs),
            opened: Arc::new(tokio::sync::watch::channel(false).0),
        }
    }

    /// Lets publishes through.
    pub fn open(&self) {
        self.opened.send_replace(true);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl State {
    /// True when `id` was published within the window; records it otherwise.
    fn seen_recently(&mut self, id: &str, window: Duration) -> bool {
        let now = Instant::now();
        while let Some((at, old)) = self.recent_order.front() {
            if now.duration_since(*at) < window {
                break;
            }
            if self.recent.get(old) == Some(at) {
                self.recent.remove(old);
            }
            self.recent_order.pop_front();
        }
        if self.recent.contains_key(id) {
            return true;
        }
        self.recent.insert(id.to_string(), now);
        self.recent_order.push_back((now, id.to_string()));
        false
    }
}

/// Acknowledges an in-process delivery; dropping it unacknowledged redelivers
/// it, as a broker would after its ack wait.
struct MemoryAcker {
    item: Option<Item>,
    requeue: mpsc::UnboundedSender<Item>,
}

#[async_trait]
impl Acker for MemoryAcker {
    async fn ack(mut self: Box<Self>) -> Result<(), BusError> {
        if let Some(item) = self.item.take() {
            if let Some(done) = item.done {
                let _ = done.send(());
            }
        }
        Ok(())
    }

    async fn progress(&self) -> Result<(), BusError> {
        Ok(())
    }
}

impl Drop for MemoryAcker {
    fn drop(&mut self) {
        if let Some(mut item) = self.item.take() {
            item.delivered += 1;
            let _ = self.requeue.send(item);
        }
    }
}

#[async_trait]
impl EventBus for MemoryBus {
    async fn publish(&self, envelope: &Envelope) -> Result<PendingAck, BusError> {
        let mut opened = self.opened.subscribe();
        let _ = opened.wait_for(|open| *open).await;
        let mut state = self.lock();
        if state.seen_recently(&envelope.id, self.duplicate_window) {
            return Ok(Box::pin(async { Ok(()) }));
        }
        let mut waits = Vec::new();
        for group in state.groups.values() {
            if group.event_types.iter().any(|t| t == &envelope.event_type) {
                let (done, wait) = oneshot::channel();
                let item = Item { envelope: envelope.clone(), delivered: 1, done: Some(done) };
                if group.tx.send(item).is_ok() {
                    waits.push(wait);
                }
            }
        }
        let event_type = envelope.event_type.clone();
        Ok(Box::pin(async move {
            for wait in waits {
                wait.await.map_err(|_| BusError::Publish {
                    event_type: event_type.clone(),
                    reason: "the in-process bus shut down before the event was handled".into(),
                })?;
            }
            Ok(())
        }))
    }

    async fn subscribe(&self, spec: &ConsumerSpec) -> Result<Subscription, BusError> {
        let (rx, requeue) = {
            let mut state = self.lock();
            let group = state.groups.entry(spec.durable.clone()).or_insert_with(|| {
                let (tx, rx) = mpsc::unbounded_channel();
                Group { event_types: spec.event_types.clone(), tx, rx: Arc::new(tokio::sync::Mutex::new(rx)) }
            });
            group.event_types = spec.event_types.clone();
            (group.rx.clone(), group.tx.clone())
        };
        // One subscriber per durable at a time, as with a JetStream pull
        // consumer bound to one process; a second waits for the first to go.
        let guard = rx.lock_owned().await;
        let stream = futures::stream::unfold((guard, requeue), |(mut guard, requeue)| async move {
            let item = guard.recv().await?;
            let envelope = item.envelope.clone();
            let delivered = item.delivered;
            let acker = MemoryAcker { item: Some(item), requeue: requeue.clone() };
            Some((Ok(Delivery::new(envelope, delivered, Box::new(acker))), (guard, requeue)))
        });
        Ok(stream.boxed())
    }

    async fn ping(&self) -> Result<(), BusError> {
        Ok(())
    }

    fn kind(&self) -> &'static str {
        "in-process"
    }
}
