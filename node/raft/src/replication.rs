//! Log replication: AppendEntries on both sides, and the commit rule.
//!
//! Leader side: one [`Progress`] per follower. A follower starts in *probe*
//! mode (one AppendEntries at a time, until one succeeds); then, with
//! [`Replication::Immediate`](crate::Replication::Immediate), every new entry
//! is sent at once and `next_index` advances optimistically (pipelining); a
//! rejection falls back to probing from the follower's [`RejectHint`].
//!
//! [`Replication::Heartbeat`](crate::Replication::Heartbeat) is Raft.js's
//! pacing (its 2015 `base.js`), kept to reproduce the papers: every append
//! triggers one broadcast to all followers, which restarts the heartbeat
//! timer; `next_index` only moves on replies; a new commit index reaches
//! followers with the next broadcast; and a rejection steps `next_index` back
//! one entry, ignoring the hint, to be retried with the next broadcast. So an
//! empty server joining a log of L entries needs about L heartbeats.
//!
//! Lean heartbeats ([`Config::lean_heartbeats`](crate::Config), with check-quorum):
//! a heartbeat that could only tell the leader what it knows — the follower
//! matches up to `prev_log_index` and was heard from in this check-quorum
//! window — is marked `ack_optional`, and a follower that accepts it stays
//! silent. Every heartbeat is answered until the leader hears back in a
//! window, and so is the last one before each check (its answer may count for
//! the next window), so check-quorum sees each live follower as it would
//! without; rejections and entries are always answered.
//!
//! Commit rule: the highest index stored on a majority of the *current*
//! configuration, and only if its entry is of the leader's own term (Raft
//! paper §5.4.2, Figure 8); earlier entries commit with it.

use crate::{
    AppendEntries, AppendResponse, Entry, EntryKind, Envelope, LogIndex, Message, NodeId, Raft,
    RaftError, RejectHint, Replication, Role, Storage,
};

/// Folds `next` into the last message queued for `to` when that is an AppendEntries of the
/// same term that `next` continues (its entries start right after the other's), keeping
/// at most `max` entries; `next` back when it cannot be folded.
///
/// Why: a leader that takes several proposals before its output is taken (the node
/// handles every input that is ready before sending) would otherwise send one message per
/// proposal to every follower. Folded, they leave as one, with the same effect on the
/// follower as the messages in turn: the first one's consistency check, then every entry,
/// then the later commit index.
pub(super) fn fold_append(
    queue: &mut [Envelope],
    to: &str,
    next: AppendEntries,
    max: usize,
) -> Option<AppendEntries> {
    let Some(last) = queue.iter_mut().rev().find(|e| e.to == to) else {
        return Some(next);
    };
    let Message::AppendEntries(queued) = &mut last.message else {
        return Some(next);
    };
    let end = queued.prev_log_index + queued.entries.len() as LogIndex;
    let end_term = queued
        .entries
        .last()
        .map_or(queued.prev_log_term, |e| e.term);
    let continues = queued.term == next.term
        && next.prev_log_index == end
        && next.prev_log_term == end_term
        && queued.entries.len() + next.entries.len() <= max;
    if !continues {
        return Some(next);
    }
    queued.entries.extend(next.entries);
    queued.leader_commit = queued.leader_commit.max(next.leader_commit);
    // Only two answerless heartbeats make one (a flag is only ever set on an empty message).
    queued.ack_optional &= next.ack_optional;
    None
}

/// What the leader knows of one follower.
#[derive(Clone, Debug)]
pub(super) struct Progress {
    /// The next index to send.
    pub next_index: LogIndex,
    /// The highest index known to match the leader's log.
    pub match_index: LogIndex,
    /// Waiting for the first success: send one message at a time.
    pub probing: bool,
    /// In probe mode, a probe is out and unanswered (heartbeats resend it).
    pub probe_sent: bool,
    /// Heard from since the last check-quorum.
    pub recent_active: bool,
}

impl Progress {
    fn new(next_index: LogIndex) -> Self {
        Self {
            next_index,
            match_index: 0,
            probing: true,
            probe_sent: false,
            recent_active: false,
        }
    }
}

impl<S: Storage> Raft<S> {
    /// Starts tracking every other member from the end of the log.
    pub(super) fn reset_progress(&mut self) {
        let next = self.log.last_index() + 1;
        self.progress = self
            .members
            .iter()
            .filter(|m| **m != self.cfg.id)
            .map(|m| (m.clone(), Progress::new(next)))
            .collect();
    }

    /// Keeps `progress` in line with the configuration after a change.
    pub(super) fn sync_progress_with_members(&mut self) {
        let next = self.log.last_index() + 1;
        self.progress.retain(|id, _| self.members.contains(id));
        for m in &self.members {
            if *m != self.cfg.id && !self.progress.contains_key(m) {
                self.progress.insert(m.clone(), Progress::new(next));
            }
        }
    }

    /// Appends a new entry of the leader's term and sends it (pipelined, or
    /// in one broadcast with heartbeat pacing). Callers register any waiter, then call [`Raft::maybe_commit`]
    /// (a leader that alone is a majority commits at once).
    pub(super) fn append_new(&mut self, kind: EntryKind) -> Result<LogIndex, RaftError> {
        let index = self.log.last_index() + 1;
        let is_membership = matches!(kind, EntryKind::Membership(_));
        let entry = Entry {
            term: self.term,
            index,
            kind,
        };
        self.append_entries_durably(vec![entry])?;
        if is_membership {
            self.sync_progress_with_members();
        }
        if self.cfg.replication == Replication::Heartbeat {
            // Raft.js calls its heartbeat function on every append, which
            // sends to everyone and re-arms the heartbeat timer.
            self.heartbeat_deadline = Some(self.now + self.cfg.heartbeat_interval());
            self.broadcast_append(false);
        } else {
            let ready: Vec<NodeId> = self
                .progress
                .iter()
                .filter(|(_, p)| {
                    if p.probing {
                        !p.probe_sent
                    } else {
                        p.next_index <= index
                    }
                })
                .map(|(id, _)| id.clone())
                .collect();
            for peer in ready {
                self.send_append(&peer);
            }
        }
        Ok(index)
    }

    /// Sends AppendEntries to every follower: entries from each one's
    /// `next_index` (none if it is past the end, making it a heartbeat).
    pub(super) fn broadcast_append(&mut self, _heartbeat: bool) {
        let peers: Vec<NodeId> = self.progress.keys().cloned().collect();
        for peer in peers {
            self.send_append(&peer);
        }
    }

    fn send_append(&mut self, peer: &str) {
        let last = self.log.last_index();
        let immediate = self.cfg.replication == Replication::Immediate;
        // The last heartbeat before a check-quorum is always answered: its answer may land
        // after the check and is then what counts for the next window, as without lean
        // heartbeats (otherwise a window's only proof would be a heartbeat sent after the
        // check and answered before the next one, stricter by up to a heartbeat interval).
        let check_is_near = self
            .quorum_deadline
            .is_none_or(|d| d <= self.now + self.cfg.heartbeat_interval());
        let Some(p) = self.progress.get_mut(peer) else {
            return;
        };
        p.next_index = p.next_index.clamp(1, last + 1);
        let prev_log_index = p.next_index - 1;
        let entries = self
            .log
            .batch(
                p.next_index,
                self.cfg.max_entries_per_append,
                self.cfg.max_append_weight,
                &self.cfg.entry_weight,
            )
            .to_vec();
        // Nothing to learn from a success: the follower is known to match and was heard
        // from in this check-quorum window (which ends by clearing `recent_active`).
        let ack_optional = self.cfg.lean_heartbeats
            && self.cfg.check_quorum
            && !check_is_near
            && entries.is_empty()
            && !p.probing
            && p.recent_active
            && p.match_index == prev_log_index;
        if p.probing {
            p.probe_sent = true;
        } else if immediate {
            if let Some(e) = entries.last() {
                p.next_index = e.index + 1;
            }
        }
        let message = AppendEntries {
            term: self.term,
            prev_log_index,
            prev_log_term: self.log.term_at(prev_log_index).unwrap_or(0),
            entries,
            leader_commit: self.commit_index,
            ack_optional,
        };
        self.send(peer, Message::AppendEntries(message));
    }

    pub(super) fn on_append_entries(
        &mut self,
        from: &str,
        m: AppendEntries,
    ) -> Result<(), RaftError> {
        if m.term < self.term {
            self.reply_append(from, false, m.prev_log_index, None);
            return Ok(());
        }
        if m.term == self.term && self.role == Role::Leader {
            // Two leaders in one term cannot happen; drop rather than obey.
            return Ok(());
        }
        if m.term > self.term || self.role != Role::Follower || self.leader.as_deref() != Some(from)
        {
            self.become_follower(m.term, Some(from.to_owned()))?;
        }
        self.backoff.leader_heard(
            self.now,
            self.last_leader_contact,
            self.cfg.election_timeout,
        );
        self.reset_election_timer();
        self.last_leader_contact = Some(self.now);
        self.departed.clear();

        if !entries_are_well_formed(&m) {
            return Ok(());
        }
        match self.log.term_at(m.prev_log_index) {
            None => {
                let hint = RejectHint {
                    conflict_index: self.log.last_index() + 1,
                    conflict_term: None,
                };
                self.reply_append(from, false, m.prev_log_index, Some(hint));
                return Ok(());
            }
            Some(t) if t != m.prev_log_term => {
                let hint = RejectHint {
                    conflict_index: self
                        .log
                        .first_index_of_term_run(m.prev_log_index, self.commit_index + 1),
                    conflict_term: Some(t),
                };
                self.reply_append(from, false, m.prev_log_index, Some(hint));
                return Ok(());
            }
            Some(_) => {}
        }

        let last_new = m.prev_log_index + m.entries.len() as LogIndex;
        let first_new = m
            .entries
            .iter()
            .position(|e| self.log.term_at(e.index) != Some(e.term));
        if let Some(pos) = first_new {
            let at = m.entries[pos].index;
            if at <= self.log.last_index() {
                if at <= self.commit_index {
                    // Would erase a committed entry: the sender is wrong.
                    return Ok(());
                }
                self.truncate_log(at)?;
            }
            let mut entries = m.entries;
            entries.drain(..pos);
            self.append_entries_durably(entries)?;
        }
        if m.leader_commit > self.commit_index {
            self.commit_index = m.leader_commit.min(last_new).max(self.commit_index);
        }
        // Persisted above, so the acknowledgement is safe to send; a heartbeat the leader
        // needs no answer to gets none (it would only repeat what the leader knows).
        if !(m.ack_optional && last_new == m.prev_log_index) {
            self.reply_append(from, true, last_new, None);
        }
        self.apply_committed()
    }

    fn truncate_log(&mut self, from: LogIndex) -> Result<(), RaftError> {
        // Deferred entries (a planted bug only) land before the cut.
        self.write_deferred()?;
        self.storage.truncate(from)?;
        self.log.truncate_from(from);
        if self.members_index >= from {
            let (members, index) = self.log.latest_membership();
            self.members = members;
            self.members_index = index;
        }
        Ok(())
    }

    fn reply_append(&mut self, to: &str, success: bool, index: LogIndex, hint: Option<RejectHint>) {
        self.send(
            to,
            Message::AppendResponse(AppendResponse {
                term: self.term,
                success,
                index,
                hint,
            }),
        );
    }

    pub(super) fn on_append_response(
        &mut self,
        from: &str,
        m: AppendResponse,
    ) -> Result<(), RaftError> {
        if m.term > self.term {
            return self.become_follower(m.term, None);
        }
        if self.role != Role::Leader || m.term < self.term {
            return Ok(());
        }
        let last = self.log.last_index();
        let immediate = self.cfg.replication == Replication::Immediate;
        let Some(p) = self.progress.get_mut(from) else {
            return Ok(());
        };
        p.recent_active = true;
        p.probe_sent = false;
        if m.success {
            if m.index > last {
                return Ok(()); // Claims entries the leader never sent.
            }
            p.match_index = p.match_index.max(m.index);
            p.next_index = p.next_index.max(m.index + 1);
            p.probing = false;
            let more = p.next_index <= last;
            self.maybe_commit()?;
            if immediate && more && self.role == Role::Leader {
                self.send_append(from);
            }
            return Ok(());
        }
        let stale = if p.probing {
            m.index + 1 != p.next_index
        } else {
            m.index <= p.match_index
        };
        if stale {
            return Ok(());
        }
        let next = match &m.hint {
            // Raft.js: `nextIndex -= 1`, whatever the follower said.
            _ if !immediate => m.index,
            Some(RejectHint {
                conflict_term: Some(t),
                conflict_index,
            }) => self
                .log
                .last_index_of_term(*t, m.index)
                .map_or(*conflict_index, |i| i + 1),
            Some(h) => h.conflict_index,
            None => m.index,
        };
        let Some(p) = self.progress.get_mut(from) else {
            return Ok(());
        };
        let floor = p.match_index + 1;
        p.next_index = next.min(m.index).max(floor);
        p.probing = true;
        if immediate {
            self.send_append(from);
        }
        Ok(())
    }

    /// Advances the commit index to the highest index of this term stored on
    /// a majority of the current configuration; applies what committed.
    pub(super) fn maybe_commit(&mut self) -> Result<(), RaftError> {
        if self.role != Role::Leader || self.members.is_empty() {
            return Ok(());
        }
        let mut matched: Vec<LogIndex> = self
            .members
            .iter()
            .map(|m| {
                if *m == self.cfg.id {
                    self.log.last_index()
                } else {
                    self.progress.get(m).map_or(0, |p| p.match_index)
                }
            })
            .collect();
        matched.sort_unstable_by(|a, b| b.cmp(a));
        let quorum_index = matched[self.members.len() / 2];
        let own_term = self.log.term_at(quorum_index) == Some(self.term);
        if quorum_index > self.commit_index
            && (own_term || planted!(self.cfg, CommitOlderTermByCounting))
        {
            self.commit_index = quorum_index;
            // Tell followers now rather than at the next heartbeat, unless the
            // client of the newest committed entry has more requests queued:
            // the next one's AppendEntries carries this commit index anyway
            // (halves the messages per chat line; the last line is pushed).
            let more_follow = matches!(
                self.waiters.get(&quorum_index),
                Some(crate::Waiter::Remote(_, _, _, true))
            );
            if self.cfg.replication == Replication::Immediate && !more_follow {
                self.broadcast_append(false);
            }
            self.apply_committed()?;
        }
        Ok(())
    }
}

/// Entries must directly follow `prev_log_index`, in order, and be no newer
/// than the leader's term; anything else is a malformed message.
fn entries_are_well_formed(m: &AppendEntries) -> bool {
    m.entries.iter().enumerate().all(|(i, e)| {
        e.index == m.prev_log_index + 1 + i as LogIndex
            && e.term <= m.term
            && (i == 0 || e.term >= m.entries[i - 1].term)
    }) && m.entries.first().is_none_or(|e| e.term >= m.prev_log_term)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn append(
        term: u64,
        prev: LogIndex,
        prev_term: u64,
        entries: &[u64],
        commit: LogIndex,
    ) -> AppendEntries {
        AppendEntries {
            term,
            prev_log_index: prev,
            prev_log_term: prev_term,
            entries: entries
                .iter()
                .enumerate()
                .map(|(k, &t)| Entry {
                    term: t,
                    index: prev + 1 + k as LogIndex,
                    kind: EntryKind::Noop,
                })
                .collect(),
            leader_commit: commit,
            ack_optional: false,
        }
    }

    fn queued(to: &str, m: AppendEntries) -> Envelope {
        Envelope {
            to: to.into(),
            message: Message::AppendEntries(m),
        }
    }

    #[test]
    fn an_append_that_continues_the_last_one_queued_for_its_peer_is_folded_into_it() {
        let mut queue = vec![
            queued("b", append(2, 4, 1, &[2], 3)),
            queued("c", append(2, 4, 1, &[2], 3)),
        ];
        assert_eq!(
            fold_append(&mut queue, "b", append(2, 5, 2, &[2, 2], 5), 64),
            None
        );
        assert_eq!(queue.len(), 2);
        assert_eq!(
            queue[0].message,
            Message::AppendEntries(append(2, 4, 1, &[2, 2, 2], 5))
        );
        assert_eq!(
            queue[1].message,
            Message::AppendEntries(append(2, 4, 1, &[2], 3))
        );
    }

    #[test]
    fn a_folded_append_needs_an_answer_unless_both_parts_did_not() {
        let heartbeat = || AppendEntries {
            ack_optional: true,
            ..append(2, 4, 1, &[], 3)
        };
        let mut queue = vec![queued("b", heartbeat())];
        assert_eq!(fold_append(&mut queue, "b", heartbeat(), 64), None);
        assert_eq!(queue[0].message, Message::AppendEntries(heartbeat()));
        assert_eq!(
            fold_append(&mut queue, "b", append(2, 4, 1, &[2], 3), 64),
            None
        );
        assert_eq!(
            queue[0].message,
            Message::AppendEntries(append(2, 4, 1, &[2], 3)),
            "entries behind an answerless heartbeat are answered"
        );
    }

    #[test]
    fn an_append_that_does_not_continue_or_would_not_fit_is_queued_apart() {
        let base = || vec![queued("b", append(2, 4, 1, &[2], 3))];
        for next in [
            append(2, 6, 2, &[2], 3), // a gap
            append(2, 5, 1, &[2], 3), // another term at the joint
            append(3, 5, 2, &[3], 3), // a newer leader's term
        ] {
            let mut queue = base();
            assert_eq!(fold_append(&mut queue, "b", next.clone(), 64), Some(next));
        }
        let mut queue = base();
        let next = append(2, 5, 2, &[2, 2], 3);
        assert_eq!(
            fold_append(&mut queue, "b", next.clone(), 2),
            Some(next),
            "3 > max 2"
        );
        let mut queue = vec![Envelope {
            to: "b".into(),
            message: Message::AppendResponse(AppendResponse {
                term: 2,
                success: true,
                index: 4,
                hint: None,
            }),
        }];
        let next = append(2, 4, 1, &[2], 3);
        assert_eq!(fold_append(&mut queue, "b", next.clone(), 64), Some(next));
    }
}
