//! The safety properties of Raft (paper, Figure 3), checked after every step.
//!
//! - **Election safety**: at most one leader per term.
//! - **Log matching**: two logs with an entry of the same index and term are
//!   identical up to it (checked with chained hashes: equal `(index, term)`
//!   must mean equal chain hash).
//! - **Leader completeness**: a new leader holds every committed entry; no
//!   node ever truncates below its own commit index; and, checked ahead,
//!   when a leader commits an entry no server without it could still win
//!   the votes of a majority (its log as up to date as theirs), which is
//!   what makes the entry committed (paper §5.4.2).
//! - **State-machine safety**: no two nodes apply different entries at one
//!   index.
//! - **Durability of acknowledged writes**: a write acknowledged to a client
//!   is the committed entry at its index, and (checked at the end) every live
//!   member holds and applied it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

use crate::{EntryKind, LogIndex, NodeId, RequestId, Term};

use super::storage::Disk;

/// Which property broke.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Property {
    /// Two leaders in one term.
    ElectionSafety,
    /// Same index and term, different history.
    LogMatching,
    /// A leader without a committed entry, or a committed entry erased.
    LeaderCompleteness,
    /// Different entries applied (or committed) at one index.
    StateMachineSafety,
    /// An acknowledged write missing or different.
    AcknowledgedWriteLost,
    /// The healed cluster did not elect a leader and converge in time.
    Liveness,
    /// The core returned an error although its storage never fails.
    CoreError,
    /// The schedule took more steps than [`SimOptions::max_steps`](super::SimOptions::max_steps).
    StepBudget,
    /// The schedule ran past [`SimOptions::max_virtual_time`](super::SimOptions::max_virtual_time).
    TimeBudget,
}

impl fmt::Display for Property {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Property::ElectionSafety => "election safety",
            Property::LogMatching => "log matching",
            Property::LeaderCompleteness => "leader completeness",
            Property::StateMachineSafety => "state-machine safety",
            Property::AcknowledgedWriteLost => "acknowledged write lost",
            Property::Liveness => "liveness",
            Property::CoreError => "core error",
            Property::StepBudget => "step budget",
            Property::TimeBudget => "virtual-time budget",
        };
        f.write_str(name)
    }
}

/// A broken property, with what showed it.
#[derive(Clone, Debug)]
pub struct Breach {
    /// The property.
    pub property: Property,
    /// What was seen.
    pub detail: String,
}

/// A committed entry as the checker remembers it.
#[derive(Clone, Debug)]
struct Committed {
    term: Term,
    chain: u64,
    /// For a command: its session and request id.
    request: Option<(NodeId, RequestId)>,
}

/// Global history the properties are checked against.
#[derive(Default)]
pub struct Checker {
    leaders: BTreeMap<Term, NodeId>,
    /// `(index, term)` → chained hash, over every entry any node ever stored.
    seen: HashMap<(LogIndex, Term), u64>,
    /// The committed prefix, by index - 1.
    committed: Vec<Committed>,
    /// Applied entries' chained hashes, by index - 1.
    applied: Vec<u64>,
    /// Writes acknowledged to clients: session, request, index.
    acked: Vec<(NodeId, RequestId, LogIndex)>,
}

fn breach(property: Property, detail: String) -> Result<(), Breach> {
    Err(Breach { property, detail })
}

impl Checker {
    /// Records that `node` became leader of `term`, holding log `disk`.
    pub fn leader_elected(&mut self, node: &str, term: Term, disk: &Disk) -> Result<(), Breach> {
        if let Some(other) = self.leaders.get(&term) {
            if other != node {
                return breach(
                    Property::ElectionSafety,
                    format!("{other} and {node} both lead term {term}"),
                );
            }
        }
        self.leaders.insert(term, node.to_owned());
        for (i, c) in self.committed.iter().enumerate() {
            let index = i as LogIndex + 1;
            if disk.chain_at(index) != Some(c.chain) {
                return breach(
                    Property::LeaderCompleteness,
                    format!("{node} leads term {term} without committed entry {index}"),
                );
            }
        }
        Ok(())
    }

    /// Checks the entries `node` wrote since the last look, and that it did
    /// not truncate at or below `commit_before` (its commit index before).
    pub fn log_changed(
        &mut self,
        node: &str,
        disk: &mut Disk,
        commit_before: LogIndex,
    ) -> Result<(), Breach> {
        if let Some(t) = disk.truncated_from.take() {
            if t <= commit_before {
                return breach(
                    Property::LeaderCompleteness,
                    format!("{node} truncated its log from {t}, at or below its commit index {commit_before}"),
                );
            }
        }
        let Some(from) = disk.dirty_from.take() else {
            return Ok(());
        };
        for index in from..=disk.last_index() {
            let pos = index as usize - 1;
            let key = (index, disk.entries[pos].term);
            let chain = disk.chain[pos];
            match self.seen.get(&key) {
                Some(c) if *c != chain => {
                    return breach(
                        Property::LogMatching,
                        format!(
                            "{node} holds a different history at index {} term {}",
                            key.0, key.1
                        ),
                    );
                }
                Some(_) => {}
                None => {
                    self.seen.insert(key, chain);
                }
            }
        }
        Ok(())
    }

    /// Records `node`'s commit index advancing from `before` to `after`.
    pub fn committed(
        &mut self,
        node: &str,
        disk: &Disk,
        before: LogIndex,
        after: LogIndex,
    ) -> Result<(), Breach> {
        for index in (before + 1)..=after {
            let pos = (index - 1) as usize;
            let Some(entry) = disk.entries.get(pos) else {
                return breach(
                    Property::StateMachineSafety,
                    format!("{node} commits index {index}, which its disk does not hold"),
                );
            };
            let chain = disk.chain[pos];
            if let Some(c) = self.committed.get(pos) {
                if c.chain != chain {
                    return breach(
                        Property::StateMachineSafety,
                        format!(
                            "{node} commits a different entry at index {index} (term {} vs {})",
                            entry.term, c.term
                        ),
                    );
                }
            } else if pos == self.committed.len() {
                let request = match &entry.kind {
                    EntryKind::Command {
                        client, request, ..
                    } => Some((client.clone(), *request)),
                    _ => None,
                };
                self.committed.push(Committed {
                    term: entry.term,
                    chain,
                    request,
                });
            } else {
                return breach(
                    Property::StateMachineSafety,
                    format!("{node} commits index {index} past the committed prefix"),
                );
            }
        }
        Ok(())
    }

    /// Checks that the entry a leader just committed at `index` is in every
    /// future leader's log: no server of `servers` (every server whose disk
    /// may come back) that lacks it holds a log at least as up to date as
    /// those of a majority of the leader's `members`, who would then elect it.
    ///
    /// A healthy leader commits only an entry of its own term T: a server
    /// without it has a log older than (T, index), so no holder of the
    /// entry, a majority, votes for it. An older-term entry counted onto a
    /// majority is not safe (the paper's Figure 8), and this catches it at
    /// once, before an election has to overwrite it.
    pub fn commit_survives_elections(
        &self,
        index: LogIndex,
        members: &BTreeSet<NodeId>,
        servers: &[(&str, &Disk)],
    ) -> Result<(), Breach> {
        let Some(committed) = index
            .checked_sub(1)
            .and_then(|pos| self.committed.get(pos as usize))
        else {
            return Ok(());
        };
        for (candidate, disk) in servers {
            if disk.chain_at(index) == Some(committed.chain) {
                continue;
            }
            let last = disk.last_id();
            let voters: Vec<&str> = servers
                .iter()
                .filter(|(id, d)| members.contains(*id) && d.last_id() <= last)
                .map(|(id, _)| *id)
                .collect();
            if voters.len() > members.len() / 2 {
                return breach(
                    Property::LeaderCompleteness,
                    format!(
                        "committed entry {index} (term {}) is not safe: {candidate}, whose log ends at (term, index) {last:?} without it, could be elected by {}",
                        committed.term,
                        voters.join(", ")
                    ),
                );
            }
        }
        Ok(())
    }

    /// Records that `node` applied the entry at `index`.
    pub fn applied(&mut self, node: &str, disk: &Disk, index: LogIndex) -> Result<(), Breach> {
        let Some(chain) = disk.chain_at(index) else {
            return breach(
                Property::StateMachineSafety,
                format!("{node} applied index {index} it does not hold"),
            );
        };
        let pos = (index.max(1) - 1) as usize;
        match self.applied.get(pos) {
            Some(c) if *c != chain => breach(
                Property::StateMachineSafety,
                format!("{node} applied a different entry at index {index}"),
            ),
            Some(_) => Ok(()),
            None if pos == self.applied.len() => {
                self.applied.push(chain);
                Ok(())
            }
            None => breach(
                Property::StateMachineSafety,
                format!(
                    "{node} applied index {index} before index {}",
                    self.applied.len() + 1
                ),
            ),
        }
    }

    /// Records a write acknowledged to `client`'s session at `index`.
    pub fn acknowledged(
        &mut self,
        client: &str,
        request: RequestId,
        index: LogIndex,
    ) -> Result<(), Breach> {
        let ok = index
            .checked_sub(1)
            .and_then(|pos| self.committed.get(pos as usize))
            .and_then(|c| c.request.as_ref())
            .is_some_and(|(c, r)| c == client && *r == request);
        if !ok {
            return breach(
                Property::AcknowledgedWriteLost,
                format!("request {request} of {client} acknowledged at {index}, which is not its committed entry"),
            );
        }
        self.acked.push((client.to_owned(), request, index));
        Ok(())
    }

    /// At the end: every live member holds and applied every acknowledged write.
    pub fn acknowledged_writes_survive(
        &self,
        node: &str,
        disk: &Disk,
        last_applied: LogIndex,
    ) -> Result<(), Breach> {
        for (client, request, index) in &self.acked {
            let committed = &self.committed[*index as usize - 1];
            if disk.chain_at(*index) != Some(committed.chain) || last_applied < *index {
                return breach(
                    Property::AcknowledgedWriteLost,
                    format!("{node} lost request {request} of {client} acknowledged at {index}"),
                );
            }
        }
        Ok(())
    }

    /// How many writes were acknowledged.
    pub fn acknowledged_count(&self) -> usize {
        self.acked.len()
    }

    /// How long the committed prefix is.
    pub fn committed_len(&self) -> usize {
        self.committed.len()
    }

    /// How many terms had a leader.
    pub fn leader_terms(&self) -> usize {
        self.leaders.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::storage::SimStorage;
    use crate::{Entry, Storage};

    fn disk_with(terms: &[Term]) -> SimStorage {
        let mut s = SimStorage::default();
        let entries: Vec<Entry> = terms
            .iter()
            .enumerate()
            .map(|(i, t)| Entry {
                term: *t,
                index: i as u64 + 1,
                kind: EntryKind::Noop,
            })
            .collect();
        s.append(&entries).unwrap();
        s
    }

    #[test]
    fn two_leaders_in_one_term_are_caught() {
        let mut c = Checker::default();
        let d = disk_with(&[1]);
        c.leader_elected("a", 2, &d.0.borrow()).unwrap();
        let e = c.leader_elected("b", 2, &d.0.borrow()).unwrap_err();
        assert_eq!(e.property, Property::ElectionSafety);
    }

    #[test]
    fn diverging_histories_with_the_same_index_and_term_are_caught() {
        let mut c = Checker::default();
        let a = disk_with(&[1, 2]);
        let b = disk_with(&[1, 1]);
        // Force b's entry 2 to claim term 2 while its history differs.
        {
            let mut d = b.0.borrow_mut();
            d.entries[1].term = 2;
            d.chain[1] ^= 1;
        }
        c.log_changed("a", &mut a.0.borrow_mut(), 0).unwrap();
        let e = c.log_changed("b", &mut b.0.borrow_mut(), 0).unwrap_err();
        assert_eq!(e.property, Property::LogMatching);
    }

    #[test]
    fn a_leader_missing_a_committed_entry_is_caught() {
        let mut c = Checker::default();
        let full = disk_with(&[1, 1]);
        c.committed("a", &full.0.borrow(), 0, 2).unwrap();
        let short = disk_with(&[1]);
        let e = c.leader_elected("b", 3, &short.0.borrow()).unwrap_err();
        assert_eq!(e.property, Property::LeaderCompleteness);
    }

    #[test]
    fn truncating_a_committed_entry_is_caught() {
        let mut c = Checker::default();
        let mut s = disk_with(&[1, 1, 1]);
        s.truncate(2).unwrap();
        let e = c.log_changed("a", &mut s.0.borrow_mut(), 2).unwrap_err();
        assert_eq!(e.property, Property::LeaderCompleteness);
    }

    /// Leader a (term 4) and c hold entry 2 of term 2; b holds an entry of
    /// term 3 there instead.
    fn figure_8_disks() -> [SimStorage; 3] {
        [
            disk_with(&[1, 2, 4]),
            disk_with(&[1, 3]),
            disk_with(&[1, 2]),
        ]
    }

    fn members() -> BTreeSet<NodeId> {
        ["a", "b", "c"].iter().map(|m| m.to_string()).collect()
    }

    #[test]
    fn an_older_term_entry_counted_onto_a_majority_is_caught_before_it_is_overwritten() {
        let [a, b, c] = figure_8_disks();
        let mut checker = Checker::default();
        checker.committed("a", &a.0.borrow(), 0, 2).unwrap();
        let (a, b, c) = (a.0.borrow(), b.0.borrow(), c.0.borrow());
        let servers = [("a", &*a), ("b", &*b), ("c", &*c)];
        let e = checker
            .commit_survives_elections(2, &members(), &servers)
            .unwrap_err();
        assert_eq!(e.property, Property::LeaderCompleteness);
        assert!(e.detail.contains("b, whose log ends at"), "{}", e.detail);
    }

    #[test]
    fn an_entry_of_the_leaders_term_on_a_majority_is_safe() {
        let [a, b, _] = figure_8_disks();
        let c = disk_with(&[1, 2, 4]);
        let mut checker = Checker::default();
        checker.committed("a", &a.0.borrow(), 0, 3).unwrap();
        let (a, b, c) = (a.0.borrow(), b.0.borrow(), c.0.borrow());
        let servers = [("a", &*a), ("b", &*b), ("c", &*c)];
        checker
            .commit_survives_elections(3, &members(), &servers)
            .unwrap();
    }

    #[test]
    fn different_entries_applied_at_one_index_are_caught() {
        let mut c = Checker::default();
        c.applied("a", &disk_with(&[1]).0.borrow(), 1).unwrap();
        let e = c.applied("b", &disk_with(&[2]).0.borrow(), 1).unwrap_err();
        assert_eq!(e.property, Property::StateMachineSafety);
    }

    #[test]
    fn an_acknowledgement_for_an_uncommitted_write_is_caught() {
        let mut c = Checker::default();
        let e = c.acknowledged("a", 1, 1).unwrap_err();
        assert_eq!(e.property, Property::AcknowledgedWriteLost);
    }
}
