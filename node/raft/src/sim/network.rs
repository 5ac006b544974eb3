//! The simulated network: delays, drops, duplicates, reordering, partitions.
//!
//! Each message gets its own random delay, so messages overtake each other
//! (reordering) even between the same pair of nodes. Partitions are decided
//! at delivery time: a message in flight when a partition starts is lost.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::time::Duration;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::Message;

/// How badly the network behaves during the fault phase of a schedule.
#[derive(Clone, Debug)]
pub struct Faults {
    /// Probability that a message is lost.
    pub drop: f64,
    /// Probability that a message is delivered twice.
    pub duplicate: f64,
    /// Each delivery takes a uniformly drawn delay in `[0, max_delay]`.
    pub max_delay: Duration,
}

/// A message on its way.
#[derive(Debug)]
pub struct InFlight {
    /// When it arrives.
    pub at: Duration,
    seq: u64,
    /// Sender index.
    pub from: usize,
    /// Recipient index.
    pub to: usize,
    /// The message.
    pub message: Message,
}

impl PartialEq for InFlight {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for InFlight {}
impl PartialOrd for InFlight {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for InFlight {
    fn cmp(&self, other: &Self) -> Ordering {
        // Reversed: BinaryHeap is a max-heap and we want the earliest first.
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// All messages in flight, and the current partition.
pub struct Network {
    queue: BinaryHeap<InFlight>,
    seq: u64,
    /// Current behaviour.
    pub faults: Faults,
    /// Partition group of each node: messages cross only within a group.
    groups: Vec<u8>,
    /// Messages handed to the network.
    pub sent: u64,
    /// Messages lost (dropped, or undeliverable at arrival).
    pub lost: u64,
}

impl Network {
    /// A healthy network for `nodes` nodes.
    pub fn new(nodes: usize, faults: Faults) -> Self {
        Self {
            queue: BinaryHeap::new(),
            seq: 0,
            faults,
            groups: vec![0; nodes],
            sent: 0,
            lost: 0,
        }
    }

    /// Queues `message` from `from` to `to`, applying drop/dup/delay.
    pub fn send(
        &mut self,
        rng: &mut ChaCha8Rng,
        now: Duration,
        from: usize,
        to: usize,
        message: Message,
    ) {
        self.sent += 1;
        if rng.random_bool(self.faults.drop.clamp(0.0, 1.0)) {
            self.lost += 1;
            return;
        }
        let copies = if rng.random_bool(self.faults.duplicate.clamp(0.0, 1.0)) {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let max = self.faults.max_delay.as_micros() as u64;
            let delay = Duration::from_micros(rng.random_range(0..=max));
            self.seq += 1;
            self.queue.push(InFlight {
                at: now + delay,
                seq: self.seq,
                from,
                to,
                message: message.clone(),
            });
        }
    }

    /// When the next message arrives.
    pub fn next_arrival(&self) -> Option<Duration> {
        self.queue.peek().map(|m| m.at)
    }

    /// Takes the next message, or `None` if it was cut by a partition.
    pub fn pop(&mut self) -> Option<Option<InFlight>> {
        let m = self.queue.pop()?;
        if self.groups[m.from] != self.groups[m.to] {
            self.lost += 1;
            return Some(None);
        }
        Some(Some(m))
    }

    /// Splits the nodes: `groups[i]` is node i's side.
    pub fn partition(&mut self, groups: Vec<u8>) {
        self.groups = groups;
    }

    /// Removes every partition.
    pub fn heal(&mut self) {
        self.groups.iter_mut().for_each(|g| *g = 0);
    }
}
