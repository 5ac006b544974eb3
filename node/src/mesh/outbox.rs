//! A link's outgoing queue, bounded in bytes.
//!
//! Why bounded: the Raft loop hands messages to a link without waiting, and a
//! writer task moves them into the data channel. A peer that stops
//! acknowledging keeps the link up (ICE consent still answers) while nothing
//! drains, so an unbounded queue would grow for as long as the node keeps
//! sending. Raft resends whatever is lost, so a message that does not fit is
//! refused at once and counted rather than queued.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::mpsc;

/// Why a message was not queued.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// `queued` bytes are already waiting for the peer.
    Full {
        /// Bytes in the queue.
        queued: usize,
    },
    /// The writer is gone (the link ended).
    Closed,
}

/// The sending side, used by the Raft loop through [`super::Mesh::send`].
#[derive(Debug)]
pub(crate) struct Outbox {
    tx: mpsc::UnboundedSender<Bytes>,
    queued: Arc<AtomicUsize>,
    limit: usize,
}

/// The receiving side, drained by the link's writer task.
#[derive(Debug)]
pub(crate) struct OutboxReader {
    rx: mpsc::UnboundedReceiver<Bytes>,
    queued: Arc<AtomicUsize>,
}

/// A queue holding at most `limit` bytes (but always one message, whatever
/// its size, so a message above the limit is not refused forever).
pub(crate) fn outbox(limit: usize) -> (Outbox, OutboxReader) {
    let (tx, rx) = mpsc::unbounded_channel();
    let queued = Arc::new(AtomicUsize::new(0));
    let reader = OutboxReader {
        rx,
        queued: queued.clone(),
    };
    (Outbox { tx, queued, limit }, reader)
}

impl Outbox {
    /// Queues `data` if it fits.
    pub(crate) fn push(&self, data: Bytes) -> Result<(), Refused> {
        let len = data.len();
        let before = self.queued.fetch_add(len, Ordering::AcqRel);
        if before > 0 && before + len > self.limit {
            self.queued.fetch_sub(len, Ordering::AcqRel);
            return Err(Refused::Full { queued: before });
        }
        self.tx.send(data).map_err(|_| {
            self.queued.fetch_sub(len, Ordering::AcqRel);
            Refused::Closed
        })
    }
}

impl OutboxReader {
    /// The next message; its bytes no longer count against the queue.
    pub(crate) async fn recv(&mut self) -> Option<Bytes> {
        let data = self.rx.recv().await?;
        self.queued.fetch_sub(data.len(), Ordering::AcqRel);
        Some(data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(n: usize) -> Bytes {
        Bytes::from(vec![0; n])
    }

    #[tokio::test]
    async fn a_full_queue_refuses_until_the_writer_takes_some() {
        let (out, mut reader) = outbox(100);
        out.push(bytes(60)).unwrap();
        out.push(bytes(40)).unwrap();
        assert_eq!(out.push(bytes(1)), Err(Refused::Full { queued: 100 }));
        assert_eq!(reader.recv().await.unwrap().len(), 60);
        out.push(bytes(60)).unwrap();
        assert_eq!(out.push(bytes(1)), Err(Refused::Full { queued: 100 }));
    }

    #[tokio::test]
    async fn an_empty_queue_takes_one_message_of_any_size() {
        let (out, mut reader) = outbox(10);
        out.push(bytes(500)).unwrap();
        assert_eq!(out.push(bytes(1)), Err(Refused::Full { queued: 500 }));
        assert_eq!(reader.recv().await.unwrap().len(), 500);
        out.push(bytes(1)).unwrap();
    }

    #[test]
    fn a_gone_writer_is_closed_not_full() {
        let (out, reader) = outbox(10);
        drop(reader);
        assert_eq!(out.push(bytes(1)), Err(Refused::Closed));
        assert_eq!(out.queued.load(Ordering::Acquire), 0);
    }
}
