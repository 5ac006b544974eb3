//! The queue of frames waiting to be written to one client.
//!
//! Other clients fill it (relays, presence news), its own session empties it
//! onto the socket. A client that stops reading stops the emptying, so the
//! queue is bounded twice: in frames ([`Limits::outbound_queue`]) and in bytes
//! ([`Limits::outbound_queue_bytes`]), the latter because a frame can be as
//! large as a relayed payload allows. A queue that refuses a frame is full,
//! and the registry disconnects its client.
//!
//! The queue is also where slow signaling is made: with a [`RelayDelay`] set, each frame
//! leaves no sooner than that long after it was queued, in order (a fault the bench
//! injects; see [`crate::ServerHandle::set_relay_delay`]).
//!
//! [`Limits::outbound_queue`]: crate::Limits::outbound_queue
//! [`Limits::outbound_queue_bytes`]: crate::Limits::outbound_queue_bytes

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc::{self, error::TrySendError};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Utf8Bytes;

/// A frame ready to write to a socket; cheap to clone for broadcasts.
pub(crate) type Outbound = Utf8Bytes;

/// What became of a frame offered to a queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Offered {
    /// Queued.
    Queued,
    /// The queue is at its frame or byte bound: the client is too slow.
    Full,
    /// The session is ending (it removes itself from the registry).
    Closed,
}

/// How long every frame waits in its queue before it is written, shared by all the
/// queues of one server and changed live (zero: no wait).
#[derive(Debug, Clone, Default)]
pub(crate) struct RelayDelay(Arc<AtomicU64>);

impl RelayDelay {
    /// Makes every frame queued from now on wait `delay`.
    pub(crate) fn set(&self, delay: Duration) {
        let micros = u64::try_from(delay.as_micros()).unwrap_or(u64::MAX);
        self.0.store(micros, Ordering::Relaxed);
    }

    fn get(&self) -> Duration {
        Duration::from_micros(self.0.load(Ordering::Relaxed))
    }
}

/// The sending side, held by the registry.
#[derive(Debug, Clone)]
pub(crate) struct OutboundTx {
    tx: mpsc::Sender<(Instant, Outbound)>,
    bytes: Arc<AtomicUsize>,
    max_bytes: usize,
}

/// The receiving side, held by the session.
#[derive(Debug)]
pub(crate) struct OutboundRx {
    rx: mpsc::Receiver<(Instant, Outbound)>,
    bytes: Arc<AtomicUsize>,
    delay: RelayDelay,
    /// Taken from the channel and waiting out its delay; kept here so that a cancelled
    /// [`OutboundRx::recv`] loses nothing.
    due: Option<(Instant, Outbound)>,
}

/// A queue of at most `max_frames` frames and `max_bytes` bytes; an empty
/// queue takes one frame of any size, so a single large frame never counts
/// as a slow reader.
pub(crate) fn channel(max_frames: usize, max_bytes: usize) -> (OutboundTx, OutboundRx) {
    let (tx, rx) = mpsc::channel(max_frames.max(1));
    let bytes = Arc::new(AtomicUsize::new(0));
    (
        OutboundTx {
            tx,
            bytes: bytes.clone(),
            max_bytes,
        },
        OutboundRx {
            rx,
            bytes,
            delay: RelayDelay::default(),
            due: None,
        },
    )
}

impl OutboundTx {
    /// Queues `frame` without waiting.
    pub(crate) fn offer(&self, frame: Outbound) -> Offered {
        let len = frame.len();
        let reserved = self
            .bytes
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |queued| {
                (queued == 0 || queued.saturating_add(len) <= self.max_bytes)
                    .then(|| queued.saturating_add(len))
            });
        if reserved.is_err() {
            return if self.tx.is_closed() {
                Offered::Closed
            } else {
                Offered::Full
            };
        }
        match self.tx.try_send((Instant::now(), frame)) {
            Ok(()) => Offered::Queued,
            Err(e) => {
                self.bytes.fetch_sub(len, Ordering::AcqRel);
                match e {
                    TrySendError::Full(_) => Offered::Full,
                    TrySendError::Closed(_) => Offered::Closed,
                }
            }
        }
    }
}

impl OutboundRx {
    /// Holds every frame `delay` after it was queued (slow signaling).
    pub(crate) fn delayed_by(mut self, delay: RelayDelay) -> Self {
        self.delay = delay;
        self
    }

    /// The next frame, once its delay is over; `None` once every sender is gone (the
    /// registry dropped this client). Cancel-safe.
    pub(crate) async fn recv(&mut self) -> Option<Outbound> {
        if self.due.is_none() {
            let (queued, frame) = self.rx.recv().await?;
            self.bytes.fetch_sub(frame.len(), Ordering::AcqRel);
            self.due = Some((queued + self.delay.get(), frame));
        }
        if let Some((at, _)) = &self.due {
            if *at > Instant::now() {
                tokio::time::sleep_until(*at).await;
            }
        }
        self.due.take().map(|(_, frame)| frame)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(len: usize) -> Outbound {
        Outbound::from("x".repeat(len))
    }

    #[tokio::test]
    async fn the_byte_bound_refuses_until_the_reader_catches_up() {
        let (tx, mut rx) = channel(100, 1000);
        assert_eq!(tx.offer(frame(600)), Offered::Queued);
        assert_eq!(tx.offer(frame(600)), Offered::Full);
        assert_eq!(tx.offer(frame(400)), Offered::Queued);
        assert_eq!(tx.offer(frame(1)), Offered::Full);
        assert_eq!(rx.recv().await.map(|f| f.len()), Some(600));
        assert_eq!(tx.offer(frame(600)), Offered::Queued);
    }

    #[tokio::test]
    async fn the_frame_bound_holds_for_tiny_frames() {
        let (tx, mut rx) = channel(2, 1_000_000);
        assert_eq!(tx.offer(frame(1)), Offered::Queued);
        assert_eq!(tx.offer(frame(1)), Offered::Queued);
        assert_eq!(tx.offer(frame(1)), Offered::Full);
        assert!(rx.recv().await.is_some());
        assert_eq!(tx.offer(frame(1)), Offered::Queued);
    }

    #[tokio::test(start_paused = true)]
    async fn a_relay_delay_holds_each_frame_from_its_queueing_in_order() {
        let delay = RelayDelay::default();
        delay.set(Duration::from_millis(300));
        let (tx, rx) = channel(100, 1000);
        let mut rx = rx.delayed_by(delay.clone());
        let t0 = Instant::now();
        assert_eq!(tx.offer(Outbound::from("a")), Offered::Queued);
        tokio::time::advance(Duration::from_millis(100)).await;
        assert_eq!(tx.offer(Outbound::from("b")), Offered::Queued);
        assert_eq!(rx.recv().await.as_deref(), Some("a"));
        assert_eq!(t0.elapsed(), Duration::from_millis(300));
        assert_eq!(rx.recv().await.as_deref(), Some("b"));
        assert_eq!(t0.elapsed(), Duration::from_millis(400));
        delay.set(Duration::ZERO);
        assert_eq!(tx.offer(Outbound::from("c")), Offered::Queued);
        assert_eq!(rx.recv().await.as_deref(), Some("c"));
        assert_eq!(
            t0.elapsed(),
            Duration::from_millis(400),
            "no delay once lifted"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancelled_wait_for_a_delayed_frame_loses_nothing() {
        let delay = RelayDelay::default();
        delay.set(Duration::from_millis(300));
        let (tx, rx) = channel(100, 1000);
        let mut rx = rx.delayed_by(delay);
        assert_eq!(tx.offer(Outbound::from("a")), Offered::Queued);
        let early = tokio::time::timeout(Duration::from_millis(100), rx.recv()).await;
        assert!(early.is_err(), "still waiting out its delay");
        assert_eq!(rx.recv().await.as_deref(), Some("a"));
    }

    #[test]
    fn an_empty_queue_takes_one_frame_larger_than_the_byte_bound() {
        let (tx, _rx) = channel(100, 1000);
        assert_eq!(tx.offer(frame(5000)), Offered::Queued);
        assert_eq!(tx.offer(frame(1)), Offered::Full);
    }

    #[test]
    fn a_queue_whose_session_ended_reports_closed() {
        let (tx, rx) = channel(100, 1000);
        drop(rx);
        assert_eq!(tx.offer(frame(10)), Offered::Closed);
    }
}
