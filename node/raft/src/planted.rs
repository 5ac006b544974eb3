//! Deliberate bugs, built only with the `planted-bugs` feature, so the
//! simulator's tests can show that it catches each of them
//! (`tests/planted_bugs.rs`).
//!
//! A core runs with at most one, chosen by [`Config::planted_bug`](crate::Config).
//! Without the feature neither this module nor that field exists, and every
//! place a bug could act reads `planted!(..)`, which is then the constant
//! `false`: a normal build carries no trace of them.
//!
//! Not planted: serving reads from a follower's local state, since the core
//! has no follower reads to break.

use crate::{Entry, Raft, RaftError, Storage};

/// One deliberate bug.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlantedBug {
    /// In a real (not pre-) vote every candidate's log counts as up to date,
    /// so the vote is granted whatever the log: the election restriction
    /// (paper §5.4.1) is skipped. Besides electing leaders that lack
    /// committed entries, it lets a refused same-term request arm a leader's
    /// election timer, which a leader's `tick` never clears: its deadline
    /// stays in the past and the schedule stops advancing time (what made
    /// the simulation test hang before schedules had a budget).
    VoteIgnoresLog,
    /// The leader commits the highest index a majority stores even when its
    /// entry is of an older term, counting replicas (the paper's Figure 8).
    CommitOlderTermByCounting,
    /// The vote is not persisted with the term, so a restarted server can
    /// vote a second time in the same term.
    ForgetVoteOnRestart,
    /// New entries reach storage only at the core's next `tick` or `step`,
    /// after the output of the input that appended them (AppendEntries
    /// acknowledgements, client replies) has left: a crash in between loses
    /// a write that was acknowledged.
    AcknowledgeBeforeDurable,
}

impl<S: Storage> Raft<S> {
    /// With [`PlantedBug::AcknowledgeBeforeDurable`], keeps `entries` for
    /// [`Raft::write_deferred`] instead of writing them, and says so.
    pub(crate) fn defer_write(&mut self, entries: &[Entry]) -> bool {
        if !planted!(self.cfg, AcknowledgeBeforeDurable) {
            return false;
        }
        self.unsynced.extend_from_slice(entries);
        true
    }

    /// Writes the entries [`Raft::defer_write`] kept, in order.
    pub(crate) fn write_deferred(&mut self) -> Result<(), RaftError> {
        if !self.unsynced.is_empty() {
            let entries = std::mem::take(&mut self.unsynced);
            self.storage.append(&entries)?;
        }
        Ok(())
    }
}
