//! The replicated log: entries and the in-memory view the core works on.
//!
//! The core keeps the whole log in memory (the papers' logs are small: a few
//! thousand entries at most); [`crate::storage::Storage`] only persists it.
//! There is no compaction: index `i` lives at position `i - 1`.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::hash::stable_hash;
use crate::membership::MembershipChange;
use crate::message::{LogIndex, NodeId, RequestId, Term};
use crate::state_machine::Command;

/// One log entry.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Entry {
    /// The term of the leader that created it.
    pub term: Term,
    /// Its position in the log.
    pub index: LogIndex,
    /// What it does when applied.
    pub kind: EntryKind,
}

impl Entry {
    /// Bytes of command text it carries (keys and values: what a client chose).
    pub fn text_bytes(&self) -> usize {
        match &self.kind {
            EntryKind::Command { command, .. } => command.payload_bytes(),
            EntryKind::Noop | EntryKind::Membership(_) => 0,
        }
    }

    /// The node ids it names: the client of a command, the changed server and every member
    /// of a membership change.
    pub fn ids(&self) -> Box<dyn Iterator<Item = &NodeId> + '_> {
        match &self.kind {
            EntryKind::Noop => Box::new(std::iter::empty()),
            EntryKind::Command { client, .. } => Box::new(std::iter::once(client)),
            EntryKind::Membership(change) => Box::new(change.ids()),
        }
    }
}

/// How much of an AppendEntries' budget ([`crate::Config::max_append_weight`]) an entry takes:
/// a linear model of its size, so that a transport can bound its encoding's worst case
/// without the core knowing the encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntryWeight {
    /// Per byte of command text ([`Entry::text_bytes`]).
    pub per_text_byte: usize,
    /// Per node id, besides its bytes.
    pub per_id: usize,
    /// Per entry, besides its text and ids.
    pub per_entry: usize,
}

impl EntryWeight {
    /// The weight of `entry`.
    pub fn of(&self, entry: &Entry) -> usize {
        let ids: usize = entry.ids().map(|id| id.len() + self.per_id).sum();
        entry.text_bytes() * self.per_text_byte + ids + self.per_entry
    }
}

impl Default for EntryWeight {
    /// The bytes of text and ids an entry carries, nothing else.
    fn default() -> Self {
        Self {
            per_text_byte: 1,
            per_id: 0,
            per_entry: 0,
        }
    }
}

/// What an entry carries.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EntryKind {
    /// Appended by every new leader so it can commit entries of its term
    /// (and so earlier ones) without waiting for a client.
    Noop,
    /// A client command; `client` names the session (the node whose client
    /// sent it, as authenticated by the transport).
    Command {
        /// The client session: the originating node.
        client: NodeId,
        /// The request id within that session (for exactly-once retries).
        request: RequestId,
        /// The command.
        command: Command,
    },
    /// A single-server membership change; takes effect when appended.
    Membership(MembershipChange),
}

/// The log as the core sees it.
#[derive(Clone, Debug, Default)]
pub struct RaftLog {
    entries: Vec<Entry>,
}

impl RaftLog {
    /// A log holding `entries`, which must be numbered 1, 2, 3, ...
    pub fn from_entries(entries: Vec<Entry>) -> Result<Self, LogError> {
        for (pos, e) in entries.iter().enumerate() {
            let expected = pos as u64 + 1;
            if e.index != expected {
                return Err(LogError::Gap {
                    expected,
                    found: e.index,
                });
            }
            if pos > 0 && e.term < entries[pos - 1].term {
                return Err(LogError::TermDecreases { index: e.index });
            }
        }
        Ok(Self { entries })
    }

    /// Index of the last entry (0 when empty).
    pub fn last_index(&self) -> LogIndex {
        self.entries.len() as LogIndex
    }

    /// Term of the last entry (0 when empty).
    pub fn last_term(&self) -> Term {
        self.entries.last().map_or(0, |e| e.term)
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The term at `index`: `Some(0)` for index 0, `None` past the end.
    pub fn term_at(&self, index: LogIndex) -> Option<Term> {
        if index == 0 {
            return Some(0);
        }
        self.get(index).map(|e| e.term)
    }

    /// The entry at `index`, if present.
    pub fn get(&self, index: LogIndex) -> Option<&Entry> {
        let pos = usize::try_from(index.checked_sub(1)?).ok()?;
        self.entries.get(pos)
    }

    /// The entries one AppendEntries carries from `from`: at most `max_entries`, and no more
    /// than fit in `max_weight` by `weight`, except that a first entry heavier than that still
    /// goes alone (replication must never stall on one big entry). Empty when `from` is past
    /// the end.
    pub fn batch(
        &self,
        from: LogIndex,
        max_entries: usize,
        max_weight: usize,
        weight: &EntryWeight,
    ) -> &[Entry] {
        let start = (from.max(1) - 1) as usize;
        if start >= self.entries.len() {
            return &[];
        }
        let end = self
            .entries
            .len()
            .min(start.saturating_add(max_entries.max(1)));
        let mut taken = 1;
        let mut total = weight.of(&self.entries[start]);
        for entry in &self.entries[start + 1..end] {
            total = total.saturating_add(weight.of(entry));
            if total > max_weight {
                break;
            }
            taken += 1;
        }
        &self.entries[start..start + taken]
    }

    /// All entries.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Appends one entry; the caller guarantees it is numbered last + 1.
    pub(crate) fn push(&mut self, entry: Entry) {
        debug_assert_eq!(entry.index, self.last_index() + 1);
        self.entries.push(entry);
    }

    /// Drops every entry at or after `from`.
    pub(crate) fn truncate_from(&mut self, from: LogIndex) {
        self.entries.truncate((from.max(1) - 1) as usize);
    }

    /// The first index of the run of `term` that contains `index`, not going
    /// below `floor` (entries at or below the commit index never conflict).
    pub fn first_index_of_term_run(&self, index: LogIndex, floor: LogIndex) -> LogIndex {
        let Some(term) = self.term_at(index) else {
            return index;
        };
        let mut i = index;
        while i > floor.max(1) && self.term_at(i - 1) == Some(term) {
            i -= 1;
        }
        i
    }

    /// The last index holding an entry of `term`, if any, at or below `upto`.
    pub fn last_index_of_term(&self, term: Term, upto: LogIndex) -> Option<LogIndex> {
        let mut i = upto.min(self.last_index());
        while i > 0 {
            match self.term_at(i) {
                Some(t) if t == term => return Some(i),
                Some(t) if t < term => return None,
                _ => i -= 1,
            }
        }
        None
    }

    /// The configuration in force at the end of the log: the members of the
    /// latest membership entry and its index (empty set, 0 if none).
    pub fn latest_membership(&self) -> (BTreeSet<NodeId>, LogIndex) {
        self.entries
            .iter()
            .rev()
            .find_map(|e| match &e.kind {
                EntryKind::Membership(c) => Some((c.members.clone(), e.index)),
                _ => None,
            })
            .unwrap_or_default()
    }

    /// A hash of the whole log, chained entry by entry: equal hashes mean equal
    /// logs (up to FNV collisions).
    pub fn hash(&self) -> u64 {
        self.entries.iter().fold(0, chain_hash)
    }
}

/// Extends a chained log hash with one more entry.
pub fn chain_hash(prev: u64, entry: &Entry) -> u64 {
    stable_hash(prev, entry)
}

/// A log handed to the core (by storage) that cannot be right.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LogError {
    /// Entries must be numbered 1, 2, 3, ... without gaps.
    #[error("log entry numbering is broken: expected index {expected}, found {found}")]
    Gap {
        /// The index that should have come next.
        expected: LogIndex,
        /// The index found instead.
        found: LogIndex,
    },
    /// Terms never decrease along a log.
    #[error("log term decreases at index {index}")]
    TermDecreases {
        /// Where the term went down.
        index: LogIndex,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log_of(terms: &[Term]) -> RaftLog {
        let entries = terms
            .iter()
            .enumerate()
            .map(|(i, t)| Entry {
                term: *t,
                index: i as u64 + 1,
                kind: EntryKind::Noop,
            })
            .collect();
        RaftLog::from_entries(entries).expect("valid log")
    }

    #[test]
    fn term_at_zero_is_zero_and_past_end_is_none() {
        let log = log_of(&[1, 1, 2]);
        assert_eq!(log.term_at(0), Some(0));
        assert_eq!(log.term_at(3), Some(2));
        assert_eq!(log.term_at(4), None);
    }

    #[test]
    fn first_index_of_term_run_walks_back_to_floor() {
        let log = log_of(&[1, 2, 2, 2, 3]);
        assert_eq!(log.first_index_of_term_run(4, 0), 2);
        assert_eq!(log.first_index_of_term_run(4, 3), 3);
        assert_eq!(log.first_index_of_term_run(5, 0), 5);
    }

    #[test]
    fn last_index_of_term_finds_the_run_end() {
        let log = log_of(&[1, 2, 2, 4]);
        assert_eq!(log.last_index_of_term(2, 4), Some(3));
        assert_eq!(log.last_index_of_term(3, 4), None);
        assert_eq!(log.last_index_of_term(1, 4), Some(1));
    }

    #[test]
    fn batch_is_bounded_by_count_and_empty_past_end() {
        let log = log_of(&[1, 1, 1, 1]);
        assert_eq!(
            log.batch(2, 2, usize::MAX, &EntryWeight::default()).len(),
            2
        );
        assert_eq!(
            log.batch(4, 10, usize::MAX, &EntryWeight::default()).len(),
            1
        );
        assert!(log
            .batch(5, 10, usize::MAX, &EntryWeight::default())
            .is_empty());
    }

    /// A log of `set` entries whose payloads are `sizes` bytes (a one-byte client, a one-byte
    /// key, the rest value).
    fn log_of_payloads(sizes: &[usize]) -> RaftLog {
        let entries = sizes
            .iter()
            .enumerate()
            .map(|(i, size)| Entry {
                term: 1,
                index: i as u64 + 1,
                kind: EntryKind::Command {
                    client: "c".into(),
                    request: i as u64,
                    command: Command::Set {
                        key: "k".into(),
                        value: "v".repeat(size - 2),
                    },
                },
            })
            .collect();
        RaftLog::from_entries(entries).expect("valid log")
    }

    #[test]
    fn batch_stops_before_the_entry_that_passes_the_weight_budget() {
        let log = log_of_payloads(&[10, 10, 10, 10]);
        let bytes = EntryWeight::default();
        assert_eq!(log.batch(1, 64, 30, &bytes).len(), 3);
        assert_eq!(log.batch(1, 64, 29, &bytes).len(), 2);
        assert_eq!(
            log.batch(2, 2, 1000, &bytes).len(),
            2,
            "the count still bounds it"
        );
    }

    #[test]
    fn an_entry_heavier_than_the_budget_goes_alone() {
        let log = log_of_payloads(&[100, 10]);
        let bytes = EntryWeight::default();
        assert_eq!(log.batch(1, 64, 50, &bytes).len(), 1);
        assert_eq!(log.batch(1, 64, 0, &bytes).len(), 1);
        assert_eq!(log.batch(2, 64, 0, &bytes).len(), 1);
    }

    #[test]
    fn an_entry_weighs_its_text_its_ids_and_itself() {
        // Client "c" (1 byte), key "k" and a value: 9 bytes of text.
        let log = log_of_payloads(&[10]);
        let entry = log.get(1).expect("one entry");
        assert_eq!(entry.text_bytes(), 9);
        let weight = EntryWeight {
            per_text_byte: 6,
            per_id: 3,
            per_entry: 100,
        };
        assert_eq!(weight.of(entry), 9 * 6 + (1 + 3) + 100);
        assert_eq!(EntryWeight::default().of(entry), 10);
    }

    #[test]
    fn from_entries_rejects_gaps_and_decreasing_terms() {
        let gap = vec![Entry {
            term: 1,
            index: 2,
            kind: EntryKind::Noop,
        }];
        assert!(matches!(
            RaftLog::from_entries(gap),
            Err(LogError::Gap { .. })
        ));
        let mut entries = log_of(&[2]).entries().to_vec();
        entries.push(Entry {
            term: 1,
            index: 2,
            kind: EntryKind::Noop,
        });
        assert!(matches!(
            RaftLog::from_entries(entries),
            Err(LogError::TermDecreases { index: 2 })
        ));
    }

    #[test]
    fn log_hash_differs_when_any_entry_differs() {
        assert_eq!(log_of(&[1, 2]).hash(), log_of(&[1, 2]).hash());
        assert_ne!(log_of(&[1, 2]).hash(), log_of(&[1, 3]).hash());
        assert_ne!(log_of(&[1, 2]).hash(), log_of(&[1, 2, 2]).hash());
    }
}
