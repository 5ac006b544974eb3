//! A sans-IO, deterministic Raft core, and the simulator that checks it.
//!
//! This crate does no I/O and depends on no async runtime, network or file
//! system crate: the `node` crate wraps it with WebRTC, a control socket and
//! file storage. The core's types live at the crate root; [`sim`] drives many
//! cores through a faulty simulated network and checks Raft's safety
//! properties after every step.
//!
//! [`Raft`] does no I/O, runs no tasks and reads no clock. The node feeds it
//! the current time (a monotonic `Duration` since any origin), incoming
//! messages with the peer they came from, client proposals and membership
//! requests; it returns, through [`Raft::take_output`], messages to send,
//! events and client replies. Durable state goes through [`Storage`] before any
//! message that depends on it is queued. Randomness (election timers) comes
//! from an injected, seeded RNG, so a run can be replayed exactly.
//!
//! # Behaviour in brief
//! - **Election** (`election.rs`): timers drawn from `[ET, 2ET)`; heartbeats
//!   every `ET / heartbeat_ratio`; RequestVote with the up-to-date rule, one
//!   vote per term, step down on a higher term; optional pre-vote and
//!   check-quorum; timers that back off while campaigns go unanswered
//!   (`backoff.rs`).
//! - **Replication** (`replication.rs`): prevLogIndex/prevLogTerm check and
//!   conflict truncation; a rejection carries a [`RejectHint`] so the leader
//!   skips back a whole term in one round trip; commit by a majority of the
//!   current configuration, and only entries of the leader's own term (the
//!   Figure 8 rule). Two pacings: [`Replication::Immediate`] and
//!   [`Replication::Heartbeat`]. With lean heartbeats (and check-quorum) a
//!   follower answers an empty AppendEntries only when the leader asks
//!   ([`AppendEntries::ack_optional`]).
//! - **Membership** (`membership.rs`): single-server changes that take effect
//!   when appended, one uncommitted at a time.
//! - **Clients** (`client.rs`) and the **state machine** (`state_machine.rs`).
//!
//! # How a new, empty server joins
//! A server that is not the bootstrap server starts with an empty log, no
//! configuration and no election timer: it cannot campaign and so never
//! disturbs a cluster it is not part of. The leader's `add_server` appends an
//! `AddServer` entry whose configuration includes the new server; from that
//! moment (append time, as the single-server algorithm requires) the new server
//! **counts for the majority** and the leader replicates to it. Its first
//! AppendEntries is rejected with a hint "my log ends at 0", so the leader
//! jumps straight to index 1 and sends the whole log in batches of
//! `max_entries_per_append` (and `max_append_weight`), pipelined: an empty server is caught up in about
//! one round trip per batch instead of one entry per heartbeat (which is what
//! [`Replication::Heartbeat`], Raft.js's pacing, does on purpose). Until the new
//! server holds the `AddServer` entry, commits of later entries need it among
//! the majority, so the leader accepts the next change only once this one has
//! committed (`PendingConfigChange` otherwise). There is no learner phase: with
//! the papers' logs (a few entries per member) catch-up is one round trip, and
//! a learner phase would add one more round trip to every join.
//!
//! The new server arms its election timer on the first AppendEntries from a
//! leader and campaigns only while its own latest configuration lists it.

/// Whether `cfg` plants the [`PlantedBug`] variant `$bug`: with the
/// `planted-bugs` feature only; otherwise the constant `false`, compiled away.
#[cfg(feature = "planted-bugs")]
macro_rules! planted {
    ($cfg:expr, $bug:ident) => {
        $cfg.planted_bug == Some($crate::planted::PlantedBug::$bug)
    };
}
#[cfg(not(feature = "planted-bugs"))]
macro_rules! planted {
    ($cfg:expr, $bug:ident) => {
        false
    };
}

mod apply;
mod backoff;
mod client;

pub mod config;
mod election;
pub mod event;
pub mod hash;
pub mod log;
pub mod membership;
pub mod message;
#[cfg(feature = "planted-bugs")]
pub mod planted;
mod replication;
pub mod sim;
pub mod state_machine;
pub mod storage;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use rand::RngCore;

pub use client::ProposeError;
pub use config::{Config, ConfigError, Replication, MAX_ELECTION_BACKOFF};
pub use event::{ClientReply, Event, Output, Role};
pub use log::{Entry, EntryKind, EntryWeight, LogError, RaftLog};
pub use membership::{cluster_of, Change, MembershipChange, MembershipError};
pub use message::{
    AppendEntries, AppendResponse, ClientOutcome, ClientRequest, ClientResponse, ClusterId,
    Envelope, LogIndex, Message, NodeId, RejectHint, RequestId, RequestVote, Term, VoteResponse,
};
#[cfg(feature = "planted-bugs")]
pub use planted::PlantedBug;
pub use state_machine::{Command, CommandResult, KvStore, Value};
pub use storage::{HardState, MemStorage, Storage, StorageError};

use replication::Progress;

/// Why the core could not process an input.
#[derive(Debug, thiserror::Error)]
pub enum RaftError {
    /// Storage failed; nothing depending on the failed write was sent.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Storage returned a log that cannot be right.
    #[error("stored log is invalid: {0}")]
    Log(#[from] LogError),
}

/// Who is waiting for the answer to a command the leader appended.
#[derive(Clone, Debug)]
enum Waiter {
    /// A proposal made on this node, for a session (`None`: the node's own).
    Local(Option<String>, RequestId),
    /// A request forwarded by a peer for a session; `true` if more follow from it.
    Remote(NodeId, Option<String>, RequestId, bool),
}

/// One node's Raft state machine, driven by its caller.
pub struct Raft<S: Storage> {
    cfg: Config,
    storage: S,
    rng: Box<dyn RngCore + Send>,
    now: Duration,

    term: Term,
    voted_for: Option<NodeId>,
    log: RaftLog,
    /// The end (term, index) of a log this node persisted and lost
    /// ([`Storage::lost_log_end`]); (0, 0) if none. Votes are judged as if
    /// the log still reached here, and the node campaigns only once it does.
    lost_log_end: (Term, LogIndex),
    commit_index: LogIndex,
    last_applied: LogIndex,

    role: Role,
    leader: Option<NodeId>,
    /// The configuration in force: the latest membership entry in the log.
    members: BTreeSet<NodeId>,
    /// Index of the entry that set `members` (0: none yet).
    members_index: LogIndex,
    /// The configuration of the latest *applied* membership entry.
    applied_members: BTreeSet<NodeId>,
    state: KvStore,

    election_deadline: Option<Duration>,
    heartbeat_deadline: Option<Duration>,
    quorum_deadline: Option<Duration>,
    last_leader_contact: Option<Duration>,
    /// Peers a failure detector reported gone since this node last heard
    /// from a leader ([`Raft::peer_departed`]).
    departed: BTreeSet<NodeId>,
    votes: BTreeSet<NodeId>,
    /// How far failed campaigns have stretched the election timer.
    backoff: backoff::Backoff,
    progress: BTreeMap<NodeId, Progress>,
    waiters: BTreeMap<LogIndex, Waiter>,
    /// Entries appended but not yet written ([`PlantedBug::AcknowledgeBeforeDurable`]).
    #[cfg(feature = "planted-bugs")]
    unsynced: Vec<Entry>,

    out: Output,
}

impl<S: Storage> Raft<S> {
    /// Loads the persisted state and starts the core at time `now`.
    ///
    /// With an empty log, the bootstrap server (`cfg.bootstrap`) creates a
    /// one-member cluster and leads it at once; any other server waits, with
    /// no timer, until a leader contacts it. With a non-empty log (a restart)
    /// the server is a follower with its election timer armed.
    pub fn new(
        cfg: Config,
        mut storage: S,
        rng: Box<dyn RngCore + Send>,
        now: Duration,
    ) -> Result<Self, RaftError> {
        cfg.validate()?;
        let (hard, entries) = storage.load()?;
        let lost_log_end = storage.lost_log_end().unwrap_or((0, 0));
        let log = RaftLog::from_entries(entries)?;
        if log.last_term() > hard.term {
            return Err(RaftError::Storage(StorageError::Corrupt(format!(
                "log term {} is ahead of the persisted term {}",
                log.last_term(),
                hard.term
            ))));
        }
        let (members, members_index) = log.latest_membership();
        let mut raft = Self {
            cfg,
            storage,
            rng,
            now,
            term: hard.term,
            voted_for: hard.voted_for,
            log,
            lost_log_end,
            commit_index: 0,
            last_applied: 0,
            role: Role::Follower,
            leader: None,
            members,
            members_index,
            applied_members: BTreeSet::new(),
            state: KvStore::default(),
            election_deadline: None,
            heartbeat_deadline: None,
            quorum_deadline: None,
            last_leader_contact: None,
            departed: BTreeSet::new(),
            votes: BTreeSet::new(),
            backoff: backoff::Backoff::default(),
            progress: BTreeMap::new(),
            waiters: BTreeMap::new(),
            #[cfg(feature = "planted-bugs")]
            unsynced: Vec::new(),
            out: Output::default(),
        };
        // A server that lost its log must not found a new cluster over it.
        if raft.log.is_empty() && raft.cfg.bootstrap && raft.lost_log_end == (0, 0) {
            raft.bootstrap()?;
        } else if !raft.log.is_empty() {
            raft.reset_election_timer();
        }
        Ok(raft)
    }

    /// Advances time to `now` and fires every timer that is due.
    pub fn tick(&mut self, now: Duration) -> Result<(), RaftError> {
        self.advance(now);
        self.write_deferred()?;
        if self.role == Role::Leader {
            if self.check_quorum_due() {
                self.check_quorum()?;
            }
            if self.role == Role::Leader && self.heartbeat_deadline.is_some_and(|d| d <= now) {
                self.heartbeat_deadline = Some(now + self.cfg.heartbeat_interval());
                self.broadcast_append(true);
            }
        } else if self.election_deadline.is_some_and(|d| d <= now) {
            self.on_election_timeout()?;
        }
        Ok(())
    }

    /// The earliest time at which [`Raft::tick`] has something to do.
    pub fn next_deadline(&self) -> Option<Duration> {
        [
            self.election_deadline,
            self.heartbeat_deadline,
            self.quorum_deadline,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Handles `message` received from peer `from` at time `now`.
    pub fn step(&mut self, now: Duration, from: &str, message: Message) -> Result<(), RaftError> {
        self.advance(now);
        self.write_deferred()?;
        match message {
            Message::RequestVote(m) => self.on_request_vote(from, m),
            Message::VoteResponse(m) => self.on_vote_response(from, m),
            Message::AppendEntries(m) => self.on_append_entries(from, m),
            Message::AppendResponse(m) => self.on_append_response(from, m),
            Message::ClientRequest(m) => self.on_client_request(from, m),
            Message::ClientResponse(m) => {
                self.out.replies.push(ClientReply {
                    from: from.to_owned(),
                    session: m.session,
                    request: m.request,
                    outcome: m.outcome,
                });
                Ok(())
            }
        }
    }

    /// Takes everything produced since the last call.
    pub fn take_output(&mut self) -> Output {
        std::mem::take(&mut self.out)
    }

    /// This node's id.
    pub fn id(&self) -> &str {
        &self.cfg.id
    }

    /// The configuration the core runs with.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// The current role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The current term.
    pub fn term(&self) -> Term {
        self.term
    }

    /// The leader this node knows of in its term.
    pub fn leader(&self) -> Option<&str> {
        self.leader.as_deref()
    }

    /// The highest index known committed.
    pub fn commit_index(&self) -> LogIndex {
        self.commit_index
    }

    /// The highest index applied to the state machine.
    pub fn last_applied(&self) -> LogIndex {
        self.last_applied
    }

    /// The log.
    pub fn log(&self) -> &RaftLog {
        &self.log
    }

    /// The configuration in force (latest membership entry, maybe uncommitted).
    pub fn members(&self) -> &BTreeSet<NodeId> {
        &self.members
    }

    /// The configuration of the latest applied membership entry.
    pub fn applied_members(&self) -> &BTreeSet<NodeId> {
        &self.applied_members
    }

    /// The state machine.
    pub fn state(&self) -> &KvStore {
        &self.state
    }

    /// Whether this node has ever been part of a cluster (has a log).
    pub fn is_contacted(&self) -> bool {
        !self.log.is_empty()
    }

    fn advance(&mut self, now: Duration) {
        // Time never goes backwards, whatever the caller passes.
        self.now = self.now.max(now);
    }

    fn persist_hard_state(&mut self) -> Result<(), RaftError> {
        let hs = HardState {
            term: self.term,
            voted_for: if planted!(self.cfg, ForgetVoteOnRestart) {
                None
            } else {
                self.voted_for.clone()
            },
        };
        self.storage.save_hard_state(&hs)?;
        Ok(())
    }

    /// Appends entries to storage first, then to the in-memory log.
    fn append_entries_durably(&mut self, entries: Vec<Entry>) -> Result<(), RaftError> {
        if entries.is_empty() {
            return Ok(());
        }
        if !self.defer_write(&entries) {
            self.storage.append(&entries)?;
        }
        for e in entries {
            if let EntryKind::Membership(change) = &e.kind {
                self.members = change.members.clone();
                self.members_index = e.index;
            }
            self.log.push(e);
        }
        Ok(())
    }

    /// Queues `message` for `to`; an AppendEntries that continues the last one queued for
    /// `to` is folded into it ([`replication::fold_append`]).
    fn send(&mut self, to: &str, message: Message) {
        let message = match message {
            Message::AppendEntries(next) => {
                let max = self.cfg.max_entries_per_append;
                match replication::fold_append(&mut self.out.messages, to, next, max) {
                    None => return,
                    Some(next) => Message::AppendEntries(next),
                }
            }
            other => other,
        };
        self.out.messages.push(Envelope {
            to: to.to_owned(),
            message,
        });
    }

    fn emit(&mut self, event: Event) {
        self.out.events.push(event);
    }

    /// Whether `votes` (or acknowledgements) form a majority of the members.
    fn is_quorum<'a>(&self, voters: impl IntoIterator<Item = &'a NodeId>) -> bool {
        let n = voters
            .into_iter()
            .filter(|v| self.members.contains(*v))
            .count();
        n > self.members.len() / 2
    }
}

/// A build without the `planted-bugs` feature never defers a write.
#[cfg(not(feature = "planted-bugs"))]
impl<S: Storage> Raft<S> {
    #[inline(always)]
    fn defer_write(&mut self, _entries: &[Entry]) -> bool {
        false
    }

    #[inline(always)]
    fn write_deferred(&mut self) -> Result<(), RaftError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests;
