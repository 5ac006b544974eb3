//! The simulated disk: what survives a crash, with change tracking for the
//! checker.
//!
//! Every write the core makes goes through here, so the checker can verify
//! log matching incrementally (only what changed since the last step) and can
//! see truncations, instead of rescanning every log after every step.

use std::cell::RefCell;
use std::rc::Rc;

use crate::log::chain_hash;
use crate::{Entry, HardState, LogIndex, Storage, StorageError, Term};

/// The persisted state of one simulated node.
#[derive(Debug, Default)]
pub struct Disk {
    /// Persisted term and vote.
    pub hard: HardState,
    /// Persisted log.
    pub entries: Vec<Entry>,
    /// `chain[i]`: the chained hash of entries `1..=i+1`.
    pub chain: Vec<u64>,
    /// The lowest index written or truncated since the checker last looked.
    pub dirty_from: Option<LogIndex>,
    /// The lowest index truncated since the checker last looked.
    pub truncated_from: Option<LogIndex>,
}

impl Disk {
    /// The chained hash of the log up to `index` (0 for index 0).
    pub fn chain_at(&self, index: LogIndex) -> Option<u64> {
        if index == 0 {
            return Some(0);
        }
        self.chain.get(index as usize - 1).copied()
    }

    /// The last persisted index.
    pub fn last_index(&self) -> LogIndex {
        self.entries.len() as LogIndex
    }

    /// The (term, index) of the last persisted entry, ordered as Raft's
    /// election rule compares logs; (0, 0) when empty.
    pub fn last_id(&self) -> (Term, LogIndex) {
        (self.entries.last().map_or(0, |e| e.term), self.last_index())
    }
}

/// A handle on a shared [`Disk`]: the core writes through it, the simulator
/// keeps another handle so the disk outlives a crash of the core.
#[derive(Clone, Debug, Default)]
pub struct SimStorage(pub Rc<RefCell<Disk>>);

fn mark(slot: &mut Option<LogIndex>, index: LogIndex) {
    *slot = Some(slot.map_or(index, |d| d.min(index)));
}

impl Storage for SimStorage {
    fn load(&mut self) -> Result<(HardState, Vec<Entry>), StorageError> {
        let disk = self.0.borrow();
        Ok((disk.hard.clone(), disk.entries.clone()))
    }

    fn save_hard_state(&mut self, state: &HardState) -> Result<(), StorageError> {
        self.0.borrow_mut().hard = state.clone();
        Ok(())
    }

    fn append(&mut self, entries: &[Entry]) -> Result<(), StorageError> {
        let mut disk = self.0.borrow_mut();
        let Some(first) = entries.first() else {
            return Ok(());
        };
        if first.index != disk.last_index() + 1 {
            return Err(StorageError::Corrupt(format!(
                "append at {} after {}",
                first.index,
                disk.last_index()
            )));
        }
        mark(&mut disk.dirty_from, first.index);
        for e in entries {
            let prev = disk.chain.last().copied().unwrap_or(0);
            disk.chain.push(chain_hash(prev, e));
            disk.entries.push(e.clone());
        }
        Ok(())
    }

    fn truncate(&mut self, from: LogIndex) -> Result<(), StorageError> {
        let mut disk = self.0.borrow_mut();
        let keep = (from.max(1) - 1) as usize;
        disk.entries.truncate(keep);
        disk.chain.truncate(keep);
        mark(&mut disk.truncated_from, from);
        mark(&mut disk.dirty_from, from);
        Ok(())
    }
}
