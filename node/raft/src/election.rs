//! Leader election: timers, (pre-)votes, role changes, check-quorum.
//!
//! Rules implemented here (Raft paper §5.2, §5.4.1; dissertation §4.2.3, §9.6):
//! - the election timer is drawn uniformly from `[ET, 2ET)` and re-armed on
//!   every AppendEntries from the current leader and every vote granted;
//!   `election_backoff` stretches ET to `ET·2^level` after campaigns that a
//!   majority did not answer (`backoff.rs`);
//! - a node campaigns only if its latest configuration lists it;
//! - a vote goes to at most one candidate per term, and only to a candidate
//!   whose log is at least as up to date (last term, then last index) as
//!   this node's, or as the longer log it lost if its storage reports one
//!   ([`Storage::lost_log_end`](crate::Storage::lost_log_end)); such a node
//!   does not campaign until its log is back to that length;
//! - any higher term seen in a request or a rejection makes a node follower;
//! - with pre-vote, a node first asks whether it *would* win, without bumping
//!   its term; voters refuse pre-votes while they hear from a leader;
//! - with check-quorum, a leader steps down after an ET without hearing from a
//!   majority, and voters ignore vote requests while they hear from a leader
//!   (within an ET); backoff stretches both ETs;
//! - a follower told by a failure detector that its leader is gone
//!   ([`Raft::peer_departed`]) campaigns after `(rank + 1) · ET/25`, `rank`
//!   being its place in member order among those not reported gone, so the
//!   survivors take turns.

use crate::{
    Event, LogIndex, Message, NodeId, Raft, RaftError, RequestVote, Role, Storage, Term,
    VoteResponse,
};
use rand::Rng;

impl<S: Storage> Raft<S> {
    /// Re-arms the election timer to `now + [ET, 2ET)`, ET stretched by the
    /// backoff.
    pub(super) fn reset_election_timer(&mut self) {
        let et = self.backoff.stretch(self.cfg.election_timeout).as_nanos() as u64;
        let jitter = self.rng.random_range(0..et.max(1));
        self.election_deadline =
            Some(self.now + std::time::Duration::from_nanos(et.saturating_add(jitter)));
    }

    /// An outside failure detector says `peer` is gone; for raftrtc, the
    /// signaling server's PEER-LEFT, sent the moment a node's socket closes,
    /// which a killed process's does at once.
    ///
    /// Once this follower's leader is among the departed, the follower stops
    /// counting it as heard from (so it grants pre-votes and votes again) and
    /// campaigns after `(rank + 1)` slots of ET/25 instead of waiting out
    /// `[ET, 2ET)` of silence, where `rank` is its place among the members
    /// not reported gone. Every survivor computes the same order, so they
    /// take turns instead of splitting the vote (random delays within a
    /// heartbeat split it in about one run in ten at 3 nodes), and the first
    /// slot gives the others time to hear the news too. Later reports (kill
    /// half) move a survivor up. Only timers change, so a wrong report cannot
    /// break safety: it costs an election at most (the simulator sends wrong
    /// reports too).
    pub fn peer_departed(&mut self, now: std::time::Duration, peer: &str) {
        self.advance(now);
        if self.role != Role::Follower {
            return;
        }
        self.departed.insert(peer.to_owned());
        if !self
            .leader
            .as_ref()
            .is_some_and(|l| self.departed.contains(l))
        {
            return;
        }
        self.last_leader_contact = None;
        let Some(rank) = self
            .members
            .iter()
            .filter(|m| !self.departed.contains(*m))
            .position(|m| *m == self.cfg.id)
        else {
            return; // Not a member: it never campaigns anyway.
        };
        let slot = self.cfg.election_timeout / 25;
        let turn = self.now + slot * (rank as u32 + 1);
        self.election_deadline = Some(self.election_deadline.map_or(turn, |d| d.min(turn)));
    }

    pub(super) fn on_election_timeout(&mut self) -> Result<(), RaftError> {
        let majority_answered = self.is_quorum(self.backoff.answers().iter().chain([&self.cfg.id]));
        self.backoff
            .timer_fired(majority_answered, self.cfg.election_backoff);
        if !self.members.contains(&self.cfg.id) || self.last_log_id() < self.lost_log_end {
            // Not (or no longer) a member: never disturb the cluster. Or its
            // log is shorter than one it lost: it could lead without entries
            // it acknowledged, so it waits for a leader to fill it again.
            self.reset_election_timer();
            return Ok(());
        }
        if self.cfg.pre_vote {
            self.start_pre_vote()
        } else {
            self.start_election()
        }
    }

    fn start_pre_vote(&mut self) -> Result<(), RaftError> {
        self.backoff.round_started();
        self.set_role(Role::PreCandidate);
        self.set_leader(None);
        self.votes.clear();
        self.votes.insert(self.cfg.id.clone());
        self.reset_election_timer();
        if self.is_quorum(&self.votes.clone()) {
            return self.start_election();
        }
        self.request_votes(true);
        Ok(())
    }

    fn start_election(&mut self) -> Result<(), RaftError> {
        self.term += 1;
        self.voted_for = Some(self.cfg.id.clone());
        self.persist_hard_state()?;
        self.backoff.round_started();
        if self.role == Role::Candidate {
            self.emit(Event::TermChanged { term: self.term });
        }
        self.set_role(Role::Candidate);
        self.set_leader(None);
        self.votes.clear();
        self.votes.insert(self.cfg.id.clone());
        self.reset_election_timer();
        if self.is_quorum(&self.votes.clone()) {
            return self.become_leader();
        }
        self.request_votes(false);
        Ok(())
    }

    fn request_votes(&mut self, pre_vote: bool) {
        let request = RequestVote {
            term: if pre_vote { self.term + 1 } else { self.term },
            last_log_index: self.log.last_index(),
            last_log_term: self.log.last_term(),
            pre_vote,
        };
        let peers: Vec<NodeId> = self
            .members
            .iter()
            .filter(|m| **m != self.cfg.id)
            .cloned()
            .collect();
        for peer in peers {
            self.send(&peer, Message::RequestVote(request.clone()));
        }
    }

    /// Whether this node heard from a live leader less than an ET (stretched
    /// by its backoff) ago.
    fn hears_from_leader(&self) -> bool {
        if self.role == Role::Leader {
            return true;
        }
        let window = self.backoff.stretch(self.cfg.election_timeout);
        self.leader.is_some()
            && self
                .last_leader_contact
                .is_some_and(|t| self.now.saturating_sub(t) < window)
    }

    fn last_log_id(&self) -> (Term, LogIndex) {
        (self.log.last_term(), self.log.last_index())
    }

    /// Whether a candidate's log is at least as up to date as ours, or as the
    /// longer log we persisted and lost: our vote must not elect a leader
    /// lacking entries we may have acknowledged.
    fn log_is_up_to_date(&self, last_term: Term, last_index: LogIndex) -> bool {
        (last_term, last_index) >= self.last_log_id().max(self.lost_log_end)
    }

    pub(super) fn on_request_vote(&mut self, from: &str, m: RequestVote) -> Result<(), RaftError> {
        if m.pre_vote {
            let granted = m.term > self.term
                && !self.hears_from_leader()
                && self.log_is_up_to_date(m.last_log_term, m.last_log_index);
            let term = if granted { m.term } else { self.term };
            self.send(
                from,
                Message::VoteResponse(VoteResponse {
                    term,
                    granted,
                    pre_vote: true,
                }),
            );
            return Ok(());
        }
        if m.term > self.term {
            if self.cfg.check_quorum && self.hears_from_leader() {
                // Leader stickiness: a server that still hears from its leader
                // ignores the request (disruptive or removed servers).
                return Ok(());
            }
            self.become_follower(m.term, None)?;
        }
        let better_log = planted!(self.cfg, VoteIgnoresLog)
            || self.log_is_up_to_date(m.last_log_term, m.last_log_index);
        let granted = m.term == self.term
            && self.voted_for.as_deref().is_none_or(|v| v == from)
            && better_log;
        if granted {
            self.voted_for = Some(from.to_owned());
            // The vote is durable before it is sent.
            self.persist_hard_state()?;
            self.reset_election_timer();
        } else if better_log && (m.last_log_term, m.last_log_index) != self.last_log_id() {
            // Refused on term or an earlier vote only, to a candidate whose log
            // is strictly ahead of ours: we cannot win against its voters, so
            // hold back our next campaign and give it a clean round. (A server
            // with a stale log and configuration otherwise keeps its term one
            // ahead of the servers that can win. Timers only: safety unchanged.)
            self.reset_election_timer();
        }
        self.send(
            from,
            Message::VoteResponse(VoteResponse {
                term: self.term,
                granted,
                pre_vote: false,
            }),
        );
        Ok(())
    }

    pub(super) fn on_vote_response(
        &mut self,
        from: &str,
        m: VoteResponse,
    ) -> Result<(), RaftError> {
        if self.answers_this_round(&m) {
            self.backoff.answered(from);
        }
        if m.term > self.term && !(m.pre_vote && m.granted) {
            return self.become_follower(m.term, None);
        }
        if !m.granted {
            return Ok(());
        }
        if m.pre_vote && self.role == Role::PreCandidate && m.term == self.term + 1 {
            self.votes.insert(from.to_owned());
            if self.is_quorum(&self.votes.clone()) {
                self.start_election()?;
            }
        } else if !m.pre_vote && self.role == Role::Candidate && m.term == self.term {
            self.votes.insert(from.to_owned());
            if self.is_quorum(&self.votes.clone()) {
                self.become_leader()?;
            }
        }
        Ok(())
    }

    /// Whether `m` answers this server's current round, for its backoff: the
    /// round got through to that voter. A vote round is answered by a reply at
    /// its term, granted or not (a split vote), or at a newer one (a faster
    /// rival); a pre-vote round by a grant (which names the next term) or a
    /// refusal naming a newer term. A pre-vote refused at this server's own term
    /// means the voter still hears a leader or has a longer log: that is this
    /// server's mistake to back off from, not an answer.
    fn answers_this_round(&self, m: &VoteResponse) -> bool {
        let round = if m.pre_vote {
            Role::PreCandidate
        } else {
            Role::Candidate
        };
        self.role == round && (m.term > self.term || (!m.pre_vote && m.term == self.term))
    }

    /// Becomes a follower in `term` (persisting a higher term and clearing
    /// the vote), following `leader` if known. A running election timer keeps
    /// its deadline; a former leader (or a server never contacted) arms one.
    pub(super) fn become_follower(
        &mut self,
        term: Term,
        leader: Option<NodeId>,
    ) -> Result<(), RaftError> {
        if term > self.term {
            self.term = term;
            self.voted_for = None;
            self.persist_hard_state()?;
            if self.role == Role::Follower {
                self.emit(Event::TermChanged { term });
            }
        }
        let was_leader = self.role == Role::Leader;
        self.set_role(Role::Follower);
        self.set_leader(leader);
        self.heartbeat_deadline = None;
        self.quorum_deadline = None;
        if was_leader {
            self.progress.clear();
            self.fail_waiters();
        }
        // Only a vote granted or a message from the leader re-arms a running
        // timer (paper §5.2): a hopeless candidate with a stale log must not
        // keep postponing the elections the up-to-date servers would win.
        if was_leader || self.election_deadline.is_none() {
            self.reset_election_timer();
        }
        Ok(())
    }

    pub(super) fn become_leader(&mut self) -> Result<(), RaftError> {
        self.backoff.won();
        self.set_role(Role::Leader);
        self.set_leader(Some(self.cfg.id.clone()));
        self.election_deadline = None;
        self.heartbeat_deadline = Some(self.now + self.cfg.heartbeat_interval());
        self.quorum_deadline = self
            .cfg
            .check_quorum
            .then(|| self.now + self.quorum_window());
        self.reset_progress();
        // A no-op of the new term lets the leader commit everything before it.
        self.append_new(crate::EntryKind::Noop)?;
        self.maybe_commit()
    }

    pub(super) fn check_quorum_due(&self) -> bool {
        self.quorum_deadline.is_some_and(|d| d <= self.now)
    }

    /// Steps down unless a majority was heard from since the last check.
    pub(super) fn check_quorum(&mut self) -> Result<(), RaftError> {
        let mut heard: Vec<NodeId> = self
            .progress
            .iter()
            .filter(|(_, p)| p.recent_active)
            .map(|(id, _)| id.clone())
            .collect();
        heard.push(self.cfg.id.clone());
        for p in self.progress.values_mut() {
            p.recent_active = false;
        }
        if !self.is_quorum(&heard) {
            let term = self.term;
            return self.become_follower(term, None);
        }
        self.quorum_deadline = Some(self.now + self.quorum_window());
        Ok(())
    }

    /// How long a leader may go without hearing from a majority: an ET,
    /// stretched by the backoff it was elected with (kept for its term).
    fn quorum_window(&self) -> std::time::Duration {
        self.backoff.stretch(self.cfg.election_timeout)
    }

    fn set_role(&mut self, role: Role) {
        if self.role != role {
            self.role = role;
            self.emit(Event::RoleChanged {
                role,
                term: self.term,
            });
        }
    }

    pub(super) fn set_leader(&mut self, leader: Option<NodeId>) {
        if self.leader != leader {
            self.leader = leader.clone();
            self.emit(Event::LeaderChanged {
                leader,
                term: self.term,
            });
        }
    }
}
