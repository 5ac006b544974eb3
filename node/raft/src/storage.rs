//! Where the core's durable state goes: hard state (term, vote) and the log.
//!
//! The core calls [`Storage`] synchronously, *before* it queues any message
//! that depends on the state written: a vote is persisted before the vote is
//! sent, entries before they are acknowledged. A durable implementation that
//! syncs inside these calls therefore never acknowledges what a crash can lose.
//! If a call fails the core returns the error and sends nothing that relied on
//! it; the node is expected to stop (fail-stop).

use crate::log::Entry;
use crate::message::{LogIndex, NodeId, Term};

/// The state Raft must not forget across a crash, besides the log.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HardState {
    /// The latest term this node has seen.
    pub term: Term,
    /// Whom it voted for in `term`, if anyone.
    pub voted_for: Option<NodeId>,
}

/// Persistence for the core. Implementations decide how durable "persisted" is.
pub trait Storage {
    /// Everything persisted so far, read once when the core starts.
    fn load(&mut self) -> Result<(HardState, Vec<Entry>), StorageError>;
    /// Replaces the hard state.
    fn save_hard_state(&mut self, state: &HardState) -> Result<(), StorageError>;
    /// Appends entries that directly follow the last persisted one.
    fn append(&mut self, entries: &[Entry]) -> Result<(), StorageError>;
    /// Drops every persisted entry at or after `from`.
    fn truncate(&mut self, from: LogIndex) -> Result<(), StorageError>;
    /// The id (term, index) of the last entry of a log this node persisted,
    /// and so may have acknowledged, but then lost (a damaged disk), when it
    /// was told to start anyway; `None` (the default) when nothing was lost.
    ///
    /// The core then grants votes only to candidates whose log is at least as
    /// up to date as that lost one, and does not campaign until its own log
    /// is: Raft's election rule still sees the log this node promised.
    fn lost_log_end(&self) -> Option<(Term, LogIndex)> {
        None
    }
}

/// A boxed storage is a storage, so a node can pick one at run time.
impl<T: Storage + ?Sized> Storage for Box<T> {
    fn load(&mut self) -> Result<(HardState, Vec<Entry>), StorageError> {
        (**self).load()
    }
    fn save_hard_state(&mut self, state: &HardState) -> Result<(), StorageError> {
        (**self).save_hard_state(state)
    }
    fn append(&mut self, entries: &[Entry]) -> Result<(), StorageError> {
        (**self).append(entries)
    }
    fn truncate(&mut self, from: LogIndex) -> Result<(), StorageError> {
        (**self).truncate(from)
    }
    fn lost_log_end(&self) -> Option<(Term, LogIndex)> {
        (**self).lost_log_end()
    }
}

/// Why storage could not do what the core asked.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The underlying medium failed.
    #[error("storage I/O failed: {0}")]
    Io(#[from] std::io::Error),
    /// What was read back cannot be a valid Raft state.
    #[error("stored state is corrupt: {0}")]
    Corrupt(String),
}

/// Storage in memory: survives nothing but a restart of the core object, which
/// is exactly what tests and the simulator need.
#[derive(Clone, Debug, Default)]
pub struct MemStorage {
    /// The persisted hard state.
    pub hard_state: HardState,
    /// The persisted log.
    pub entries: Vec<Entry>,
    /// What [`Storage::lost_log_end`] reports (tests set it).
    pub lost_log_end: Option<(Term, LogIndex)>,
}

impl Storage for MemStorage {
    fn lost_log_end(&self) -> Option<(Term, LogIndex)> {
        self.lost_log_end
    }

    fn load(&mut self) -> Result<(HardState, Vec<Entry>), StorageError> {
        Ok((self.hard_state.clone(), self.entries.clone()))
    }

    fn save_hard_state(&mut self, state: &HardState) -> Result<(), StorageError> {
        self.hard_state = state.clone();
        Ok(())
    }

    fn append(&mut self, entries: &[Entry]) -> Result<(), StorageError> {
        if let Some(first) = entries.first() {
            let expected = self.entries.len() as LogIndex + 1;
            if first.index != expected {
                return Err(StorageError::Corrupt(format!(
                    "append at index {} but the log ends at {}",
                    first.index,
                    expected - 1
                )));
            }
        }
        self.entries.extend_from_slice(entries);
        Ok(())
    }

    fn truncate(&mut self, from: LogIndex) -> Result<(), StorageError> {
        self.entries.truncate((from.max(1) - 1) as usize);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::EntryKind;

    fn noop(term: Term, index: LogIndex) -> Entry {
        Entry {
            term,
            index,
            kind: EntryKind::Noop,
        }
    }

    #[test]
    fn mem_storage_round_trips_and_truncates() {
        let mut s = MemStorage::default();
        s.append(&[noop(1, 1), noop(1, 2), noop(2, 3)]).unwrap();
        s.truncate(3).unwrap();
        s.save_hard_state(&HardState {
            term: 2,
            voted_for: Some("a".into()),
        })
        .unwrap();
        let (hs, entries) = s.load().unwrap();
        assert_eq!(hs.term, 2);
        assert_eq!(entries.len(), 2);
    }

    #[test]
    fn mem_storage_refuses_an_append_with_a_gap() {
        let mut s = MemStorage::default();
        assert!(s.append(&[noop(1, 2)]).is_err());
    }
}
