//! The in-process bus of standalone mode. A publish is acknowledged only when
//! every consumer group subscribed to its type has finished with it, so the
//! outbox row stays unsent — and is sent again after a crash — until the
//! event's effects are committed. Same ordering, redelivery and duplicate
//! window as JetStream.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
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
    _counted: Counted,
}

/// Counts an item among its group's pending events while it lives: from its
/// publish until its acknowledgement (a redelivery keeps it counted).
struct Counted(Arc<AtomicU64>);

impl Counted {
    fn new(pending: &Arc<AtomicU64>) -> Self {
        pending.fetch_add(1, Ordering::Relaxed);
        Self(pending.clone())
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

struct Group {
    event_types: Vec<String>,
    /// Events published to the group and not yet acknowledged.
    pending: Arc<AtomicU64>,
    tx: mpsc::UnboundedSender<Item>,
    rx: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Item>>>,
}

#[derive(Default)]
struct State {
    groups: HashMap<String, Group>,
    /// The ids published within the duplicate window: at 1,000 referrals/s some 600,000 of
    /// them (docs/performance.md, forty-ninth round).
    recent: HashSet<RecentId>,
    /// The same ids with when each was published, oldest first, to forget them in turn.
    recent_order: VecDeque<(Instant, RecentId)>,
}

/// An event id as the duplicate window holds it: the 16 bytes of a UUID where the id is one
/// written in UUID's canonical text (lowercase, hyphenated, as `Envelope::new` writes it), which
/// maps each such text to its own bytes, and the text itself otherwise.
#[derive(Clone, PartialEq, Eq, Hash)]
enum RecentId {
    Uuid(uuid::Uuid),
    Text(Box<str>),
}

impl RecentId {
    fn of(id: &str) -> Self {
        let canonical = id.len() == 36 && !id.bytes().any(|b| b.is_ascii_uppercase());
        match uuid::Uuid::try_parse(id) {
            Ok(uuid) if canonical => Self::Uuid(uuid),
            _ => Self::Text(id.into()),
        }
    }
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
    /// An id is in `recent` exactly while its one entry is in `recent_order`.
    fn seen_recently(&mut self, id: &str, window: Duration) -> bool {
        let now = Instant::now();
        while let Some((at, _)) = self.recent_order.front() {
            if now.duration_since(*at) < window {
                break;
            }
            if let Some((_, old)) = self.recent_order.pop_front() {
                self.recent.remove(&old);
            }
        }
        let id = RecentId::of(id);
        if self.recent.contains(&id) {
            return true;
        }
        self.recent.insert(id.clone());
        self.recent_order.push_back((now, id));
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
                let item = Item {
                    envelope: envelope.clone(),
                    delivered: 1,
                    done: Some(done),
                    _counted: Counted::new(&group.pending),
                };
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
                Group {
                    event_types: spec.event_types.clone(),
                    pending: Arc::default(),
                    tx,
                    rx: Arc::new(tokio::sync::Mutex::new(rx)),
                }
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

    async fn pending(&self, durable: &str) -> Result<Option<u64>, BusError> {
        Ok(self.lock().groups.get(durable).map(|g| g.pending.load(Ordering::Relaxed)))
    }

    fn kind(&self) -> &'static str {
        "in-process"
    }
}

#[cfg(test)]
mod tests {
    use fengqiao_proto::fengqiao::events::v1::MediationConcluded;
    use fengqiao_proto::EventKind;

    use super::*;

    #[test]
    fn ids_differing_only_in_case_or_spelling_of_a_uuid_are_different_ids() {
        let id = uuid::Uuid::now_v7().to_string();
        let mut state = State::default();
        let window = Duration::from_secs(60);
        assert!(!state.seen_recently(&id, window));
        assert!(state.seen_recently(&id, window), "the same id again within the window");
        assert!(matches!(RecentId::of(&id), RecentId::Uuid(_)), "held as 16 bytes");
        for other in [id.to_uppercase(), id.replace('-', ""), format!("{{{id}}}"), format!("urn:uuid:{id}")] {
            assert!(!state.seen_recently(&other, window), "{other} is another id than {id}");
            assert!(state.seen_recently(&other, window), "{other} again within the window");
        }
        assert!(!state.seen_recently("case-7:1", window), "an id that is no UUID");
        assert!(state.seen_recently("case-7:1", window));
        assert_eq!(state.recent.len(), 6);
    }

    #[test]
    fn an_id_is_forgotten_once_its_window_has_passed() {
        let mut state = State::default();
        let window = Duration::from_millis(50);
        let id = uuid::Uuid::now_v7().to_string();
        assert!(!state.seen_recently(&id, window));
        assert!(!state.seen_recently("not-a-uuid", window));
        std::thread::sleep(Duration::from_millis(60));
        assert!(!state.seen_recently(&id, window), "published again after the window: passed on");
        assert!(!state.seen_recently("not-a-uuid", window));
        assert_eq!((state.recent.len(), state.recent_order.len()), (2, 2), "the expired entries are gone");
    }

    #[tokio::test]
    async fn a_groups_pending_count_runs_from_publish_to_acknowledgement() {
        let bus = MemoryBus::new(&BusSettings::default());
        let events: Vec<Envelope> = (0..3)
            .map(|i| {
                let e = MediationConcluded { case_id: format!("case-{i}"), ..Default::default() };
                Envelope::new("test", EventKind::MediationConcluded, &e)
            })
            .collect();
        assert_eq!(bus.pending("test-group").await.unwrap(), None, "no such group yet");
        let spec = ConsumerSpec { durable: "test-group".into(), event_types: vec![events[0].event_type.clone()] };
        let mut deliveries = bus.subscribe(&spec).await.unwrap();
        for e in &events {
            drop(bus.publish(e).await.unwrap());
        }
        assert_eq!(bus.pending("test-group").await.unwrap(), Some(3));
        // Dropped unacknowledged: delivered again, so still pending.
        drop(deliveries.next().await.unwrap().unwrap());
        assert_eq!(bus.pending("test-group").await.unwrap(), Some(3));
        deliveries.next().await.unwrap().unwrap().ack().await.unwrap();
        assert_eq!(bus.pending("test-group").await.unwrap(), Some(2));
    }
}
