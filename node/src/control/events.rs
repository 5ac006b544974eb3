//! The fan-out of a node's events to its control-socket subscribers.
//!
//! Each event is stamped and serialized once, into a shared line that every
//! subscriber's queue holds by reference: two hundred subscribers cost two
//! hundred pointers per event, not two hundred copies.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use tokio::sync::broadcast;

use super::protocol::{EventLine, NodeEvent};
use crate::clock::monotonic_ns;

/// Events kept for subscribers that have not taken them yet. A subscriber's
/// forwarder drains this at once into its own bounded queue, so the ring only
/// fills when a forwarder task does not get to run; what it then misses is
/// reported as lag like any other loss.
const RING_EVENTS: usize = 4096;

/// Events kept from launch for subscribers that ask for them (a cold start's bench subscribes
/// only once the control socket answers). Start-up produces a few per peer; past this bound
/// the rest are counted, not kept.
const HISTORY_EVENTS: usize = 4096;

/// The events since launch, as published.
#[derive(Debug, Default)]
struct History {
    lines: Vec<Bytes>,
    /// Events published after `lines` was full.
    not_kept: u64,
}

/// Where the node loop publishes its events; cheap to clone.
///
/// Why a type and not a bare channel: stamping and serializing belong to the
/// publisher, once, so subscribers share the bytes.
#[derive(Clone, Debug)]
pub struct EventBus {
    tx: broadcast::Sender<Bytes>,
    /// Events dropped for subscribers that fell behind, over all of them.
    dropped: Arc<AtomicU64>,
    /// The first events since launch; also the lock that orders publishing against a
    /// subscription from launch, so such a subscriber gets each event exactly once.
    history: Arc<Mutex<History>>,
}

impl Default for EventBus {
    fn default() -> Self {
        Self::new()
    }
}

impl EventBus {
    /// A bus with no subscribers.
    pub fn new() -> Self {
        let (tx, _) = broadcast::channel(RING_EVENTS);
        Self {
            tx,
            dropped: Arc::new(AtomicU64::new(0)),
            history: Arc::default(),
        }
    }

    /// Stamps `event` with the monotonic clock and sends it to every
    /// subscriber (none is fine).
    pub fn publish(&self, event: NodeEvent) {
        self.publish_at(monotonic_ns(), event);
    }

    /// Sends `event` stamped `t_ns` (a `CLOCK_MONOTONIC` reading taken by the caller, who
    /// also records it elsewhere, e.g. in `status`, so both say the same instant).
    pub fn publish_at(&self, t_ns: u64, event: NodeEvent) {
        let line = json_line(&EventLine { t_ns, event });
        let mut history = self.history();
        if history.lines.len() < HISTORY_EVENTS {
            history.lines.push(line.clone());
        } else {
            history.not_kept += 1;
        }
        let _ = self.tx.send(line);
    }

    fn history(&self) -> MutexGuard<'_, History> {
        self.history
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// How many subscriptions are open (each subscribed connection holds one).
    pub fn subscribers(&self) -> usize {
        self.tx.receiver_count()
    }

    /// Events dropped so far because their subscriber was behind (each
    /// subscriber was told with a `lagged` event, or disconnected).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Counts `n` events a subscriber did not get.
    pub(super) fn count_dropped(&self, n: u64) {
        self.dropped.fetch_add(n, Ordering::Relaxed);
    }

    /// A new subscription from launch: the events kept since launch, how many were not kept,
    /// and every event published from now on, with none twice and none missing in between.
    pub(super) fn subscribe_from_launch(&self) -> (Vec<Bytes>, u64, broadcast::Receiver<Bytes>) {
        let history = self.history();
        (history.lines.clone(), history.not_kept, self.tx.subscribe())
    }

    /// A new subscription: every event published from now on.
    pub(super) fn subscribe(&self) -> broadcast::Receiver<Bytes> {
        self.tx.subscribe()
    }
}

/// Any response or event as a `\n`-terminated JSON line.
pub(super) fn json_line<T: serde::Serialize>(value: &T) -> Bytes {
    // Our own types of strings and numbers always serialize; the fallback
    // keeps the stream well-formed if that ever changes.
    let mut line = serde_json::to_vec(value).unwrap_or_else(|e| {
        format!(r#"{{"ok":false,"error":"unserializable: {e}"}}"#).into_bytes()
    });
    line.push(b'\n');
    Bytes::from(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_subscriber_gets_the_same_stamped_line() {
        let bus = EventBus::new();
        let mut a = bus.subscribe();
        let mut b = bus.subscribe();
        assert_eq!(bus.subscribers(), 2);
        bus.publish(NodeEvent::Started);
        let (x, y) = (a.recv().await.unwrap(), b.recv().await.unwrap());
        assert_eq!(x, y);
        assert_eq!(x.as_ptr(), y.as_ptr(), "shared, not copied");
        let line: EventLine = serde_json::from_slice(&x).unwrap();
        assert_eq!(line.event, NodeEvent::Started);
        assert!(line.t_ns > 0);
        assert!(x.ends_with(b"\n"));
        drop(a);
        assert_eq!(bus.subscribers(), 1);
    }

    #[tokio::test]
    async fn a_subscriber_from_launch_gets_every_event_once() {
        let bus = EventBus::new();
        bus.publish(NodeEvent::Started);
        bus.publish(NodeEvent::PeerUp { peer: "n1".into() });
        let (history, not_kept, mut live) = bus.subscribe_from_launch();
        assert_eq!((history.len(), not_kept), (2, 0));
        let first: EventLine = serde_json::from_slice(&history[0]).unwrap();
        assert_eq!(first.event, NodeEvent::Started);
        bus.publish(NodeEvent::PeerDown {
            peer: "n1".into(),
            reason: "gone".into(),
        });
        let next: EventLine = serde_json::from_slice(&live.recv().await.unwrap()).unwrap();
        assert!(matches!(next.event, NodeEvent::PeerDown { .. }));
        assert!(live.try_recv().is_err(), "nothing twice");
    }

    #[test]
    fn the_history_is_bounded_and_counts_what_it_did_not_keep() {
        let bus = EventBus::new();
        for _ in 0..HISTORY_EVENTS + 3 {
            bus.publish(NodeEvent::Started);
        }
        let (history, not_kept, _) = bus.subscribe_from_launch();
        assert_eq!((history.len(), not_kept), (HISTORY_EVENTS, 3));
    }
}
