//! Deliberate bugs in a node, built only with the `planted-bugs` feature, so that the chaos
//! checkers can be shown to catch each of them (`bench/tests/chaos_bugs.rs`).
//!
//! A node takes its bug from the environment variable [`ENV`]; the process launcher's
//! children inherit it, so `RAFTRTC_PLANTED_BUG=local-reads raftrtc chaos ...` runs a whole
//! cluster with the bug. Without the feature this module does not exist and the variable
//! means nothing.
//!
//! The Raft core's own planted bugs (`raftrtc_raft::PlantedBug`) are caught by the simulator
//! (`node/raft/tests/planted_bugs.rs`), not here: each needs an interleaving a few
//! milliseconds wide (a vote between a crash and a restart, the Figure 8 sequence of three
//! leaders) that a fault schedule of seconds does not hit within a bounded number of runs.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use raftrtc_raft::{Entry, HardState, LogIndex, Storage, StorageError, Term};

/// The environment variable naming the bug.
pub const ENV: &str = "RAFTRTC_PLANTED_BUG";

/// One deliberate bug.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeBug {
    /// A linearizable `get` is answered from the node's own state, as a local read: a
    /// follower or a deposed leader serves what it has applied, which may be stale.
    LocalReads,
    /// Log entries are held in the process for [`LATE_WRITE`] before they reach the data
    /// directory, and acknowledged meanwhile, as a write-back cache without fsync would: a
    /// SIGKILL loses them. (The core's `PlantedBug::AcknowledgeBeforeDurable` defers a
    /// write only to the next input, which in a node arrives within microseconds, so no
    /// real kill lands in between.)
    LateWrites,
}

/// How long [`NodeBug::LateWrites`] holds entries before writing them.
pub const LATE_WRITE: Duration = Duration::from_millis(300);

/// Every bug, by the name [`ENV`] takes.
pub const BUGS: [(&str, NodeBug); 2] = [
    ("ack-before-durable", NodeBug::LateWrites),
    ("local-reads", NodeBug::LocalReads),
];

/// The bug [`ENV`] names, if any; an unknown name is an error naming the known ones.
pub fn from_env() -> Result<Option<NodeBug>, String> {
    let Ok(name) = std::env::var(ENV) else {
        return Ok(None);
    };
    BUGS.iter()
        .find(|(n, _)| *n == name)
        .map(|(_, bug)| Some(*bug))
        .ok_or_else(|| {
            let names: Vec<&str> = BUGS.iter().map(|(n, _)| *n).collect();
            format!("{ENV}={name:?} is not a planted bug ({})", names.join(", "))
        })
}

/// Whether this node serves linearizable reads locally ([`NodeBug::LocalReads`]).
pub fn local_reads() -> bool {
    static LOCAL: OnceLock<bool> = OnceLock::new();
    *LOCAL.get_or_init(|| from_env() == Ok(Some(NodeBug::LocalReads)))
}

/// `storage`, holding its writes late if [`ENV`] names [`NodeBug::LateWrites`].
pub fn storage<S: Storage + Send + 'static>(storage: S) -> Box<dyn Storage + Send> {
    if from_env() == Ok(Some(NodeBug::LateWrites)) {
        Box::new(LateWrites {
            inner: storage,
            held: Vec::new(),
            since: None,
        })
    } else {
        Box::new(storage)
    }
}

/// The storage of [`NodeBug::LateWrites`]: appends are held in memory and passed on only
/// once the oldest held is [`LATE_WRITE`] old (or a truncation needs them in place).
struct LateWrites<S> {
    inner: S,
    held: Vec<Entry>,
    since: Option<Instant>,
}

impl<S: Storage> LateWrites<S> {
    fn write_held(&mut self) -> Result<(), StorageError> {
        self.since = None;
        if self.held.is_empty() {
            return Ok(());
        }
        let held = std::mem::take(&mut self.held);
        self.inner.append(&held)
    }
}

impl<S: Storage> Storage for LateWrites<S> {
    fn load(&mut self) -> Result<(HardState, Vec<Entry>), StorageError> {
        self.inner.load()
    }
    fn save_hard_state(&mut self, state: &HardState) -> Result<(), StorageError> {
        self.inner.save_hard_state(state)
    }
    fn append(&mut self, entries: &[Entry]) -> Result<(), StorageError> {
        self.held.extend_from_slice(entries);
        let since = *self.since.get_or_insert_with(Instant::now);
        if since.elapsed() >= LATE_WRITE {
            self.write_held()?;
        }
        Ok(())
    }
    fn truncate(&mut self, from: LogIndex) -> Result<(), StorageError> {
        self.write_held()?;
        self.inner.truncate(from)
    }
    fn lost_log_end(&self) -> Option<(Term, LogIndex)> {
        self.inner.lost_log_end()
    }
}
