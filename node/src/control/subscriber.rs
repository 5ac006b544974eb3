//! One subscriber's event stream: what it is sent, what it misses, and when
//! it is cut off.
//!
//! Why this is bounded: a subscriber that never reads used to get an
//! unbounded queue, and two hundred of them during a 10,000-line submit took
//! a node from 32 MB to 358 MB. Now events go into the connection's bounded
//! queue without waiting; when it is full the event is dropped and counted.
//! As soon as there is room again the subscriber gets a `lagged` event saying
//! how many it missed, before anything newer, so it knows to ask for
//! `status`. One that misses [`DISCONNECT_AFTER_MISSED`] in a row without
//! room even for that notice is not reading at all and is disconnected.

use bytes::Bytes;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::mpsc::{self, error::TrySendError};

use super::events::{json_line, EventBus};
use super::protocol::{EventLine, NodeEvent};
use crate::clock::monotonic_ns;

/// A subscriber that has missed this many events since its last lag notice,
/// with no room in its queue for the notice, is disconnected.
pub const DISCONNECT_AFTER_MISSED: u64 = 4096;

/// How many events a subscriber has missed since it was last told.
#[derive(Debug, Default)]
pub(super) struct Backlog {
    missed: u64,
}

/// What became of an event offered to a subscriber.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Offer {
    /// It is in the queue (after the lag notice, if one was due).
    Queued,
    /// The queue was full: dropped and counted.
    Missed,
    /// The subscriber fell [`DISCONNECT_AFTER_MISSED`] behind: cut it off.
    Disconnect,
    /// The connection is gone.
    Closed,
}

impl Backlog {
    /// Queues `line` without waiting; a due lag notice goes first, and only
    /// together with the line, so the notice always sits where the gap is.
    pub(super) fn offer(&mut self, line: Bytes, out: &mpsc::Sender<Bytes>) -> Offer {
        if self.missed == 0 {
            return match out.try_send(line) {
                Ok(()) => Offer::Queued,
                Err(TrySendError::Full(_)) => self.miss(1),
                Err(TrySendError::Closed(_)) => Offer::Closed,
            };
        }
        match out.try_reserve_many(2) {
            Ok(mut permits) => {
                for line in [self.notice(), line] {
                    if let Some(permit) = permits.next() {
                        permit.send(line);
                    }
                }
                Offer::Queued
            }
            Err(TrySendError::Full(())) => self.miss(1),
            Err(TrySendError::Closed(())) => Offer::Closed,
        }
    }

    /// Counts `n` events lost before they could even be offered.
    pub(super) fn miss(&mut self, n: u64) -> Offer {
        self.missed = self.missed.saturating_add(n);
        if self.missed >= DISCONNECT_AFTER_MISSED {
            Offer::Disconnect
        } else {
            Offer::Missed
        }
    }

    /// Whether a lag notice is due.
    pub(super) fn behind(&self) -> bool {
        self.missed > 0
    }

    /// The lag notice for what was missed so far; the count starts over.
    pub(super) fn notice(&mut self) -> Bytes {
        let missed = std::mem::take(&mut self.missed);
        json_line(&EventLine {
            t_ns: monotonic_ns(),
            event: NodeEvent::Lagged { missed },
        })
    }
}

/// Moves one subscription's events into its connection's queue until the
/// connection closes (returns `false`) or the subscriber is too far behind
/// (returns `true`: the caller disconnects it).
pub(super) async fn forward(
    mut events: broadcast::Receiver<Bytes>,
    out: mpsc::Sender<Bytes>,
    bus: EventBus,
) -> bool {
    let mut backlog = Backlog::default();
    loop {
        let offer = tokio::select! {
            // Room again: the notice goes out now, not with the next event,
            // which may never come.
            biased;
            permit = out.reserve(), if backlog.behind() => match permit {
                Ok(permit) => {
                    permit.send(backlog.notice());
                    Offer::Queued
                }
                Err(_) => Offer::Closed,
            },
            received = events.recv() => match received {
                Ok(line) => backlog.offer(line, &out),
                // The forwarder itself fell behind the bus's ring.
                Err(RecvError::Lagged(n)) => backlog.miss(n),
                Err(RecvError::Closed) => Offer::Closed,
            },
        };
        match offer {
            Offer::Queued => {}
            Offer::Missed => bus.count_dropped(1),
            Offer::Disconnect => {
                bus.count_dropped(1);
                return true;
            }
            Offer::Closed => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(k: u64) -> Bytes {
        json_line(&EventLine {
            t_ns: k,
            event: NodeEvent::Started,
        })
    }

    fn read(rx: &mut mpsc::Receiver<Bytes>) -> EventLine {
        serde_json::from_slice(&rx.try_recv().expect("a queued line")).expect("an event line")
    }

    #[test]
    fn a_full_queue_drops_events_then_says_how_many_before_the_next() {
        let (out, mut rx) = mpsc::channel(3);
        let mut backlog = Backlog::default();
        for k in 1..=3 {
            assert_eq!(backlog.offer(line(k), &out), Offer::Queued);
        }
        assert_eq!(backlog.offer(line(4), &out), Offer::Missed);
        assert_eq!(backlog.offer(line(5), &out), Offer::Missed);
        assert_eq!(read(&mut rx).t_ns, 1);
        // One free slot is not enough for the notice and the event together.
        assert_eq!(backlog.offer(line(6), &out), Offer::Missed);
        assert_eq!(read(&mut rx).t_ns, 2);
        assert_eq!(backlog.offer(line(7), &out), Offer::Queued);
        assert_eq!(read(&mut rx).t_ns, 3);
        assert_eq!(read(&mut rx).event, NodeEvent::Lagged { missed: 3 });
        assert_eq!(read(&mut rx).t_ns, 7);
        assert!(!backlog.behind(), "the count starts over once told");
    }

    #[test]
    fn a_subscriber_that_stays_behind_is_cut_off() {
        let (out, _rx) = mpsc::channel(1);
        let mut backlog = Backlog::default();
        assert_eq!(backlog.offer(line(0), &out), Offer::Queued);
        for k in 1..DISCONNECT_AFTER_MISSED {
            assert_eq!(backlog.offer(line(k), &out), Offer::Missed);
        }
        assert_eq!(backlog.offer(line(0), &out), Offer::Disconnect);
    }

    #[test]
    fn a_closed_connection_ends_the_stream() {
        let (out, rx) = mpsc::channel(1);
        drop(rx);
        assert_eq!(Backlog::default().offer(line(0), &out), Offer::Closed);
    }

    #[tokio::test]
    async fn the_notice_goes_out_as_soon_as_there_is_room_without_a_new_event() {
        let bus = EventBus::new();
        let (out, mut rx) = mpsc::channel(2);
        let task = tokio::spawn(forward(bus.subscribe(), out, bus.clone()));
        for _ in 0..5 {
            bus.publish(NodeEvent::Started);
        }
        // Two queued, three dropped: wait until the forwarder has seen all five.
        while bus.dropped() < 3 {
            tokio::task::yield_now().await;
        }
        for _ in 0..2 {
            let line: EventLine = serde_json::from_slice(&rx.recv().await.unwrap()).unwrap();
            assert_eq!(line.event, NodeEvent::Started);
        }
        let line: EventLine = serde_json::from_slice(&rx.recv().await.unwrap()).unwrap();
        assert_eq!(line.event, NodeEvent::Lagged { missed: 3 });
        drop(rx);
        bus.publish(NodeEvent::Started);
        assert!(
            !task.await.unwrap(),
            "a closed connection is not a disconnect"
        );
    }
}
