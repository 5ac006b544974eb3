//! The messages Raft nodes exchange, and the identifiers they use.
//!
//! No message names its sender: the transport tells the core who sent it (the
//! authenticated peer of the data channel), so a peer cannot speak for another.
//! Responses therefore "carry their sender" by arriving from it.

use serde::{Deserialize, Serialize};

use crate::log::Entry;
use crate::state_machine::{Command, CommandResult};

/// A node's identity: its signaling id.
pub type NodeId = String;
/// A Raft term.
pub type Term = u64;
/// A position in the log; the first entry has index 1, 0 means "before the log".
pub type LogIndex = u64;
/// A cluster's identity, drawn once when its first server bootstraps it (as etcd's cluster id)
/// and carried by the log's first entry: two clusters that share a signaling key still never
/// mix their logs.
pub type ClusterId = u64;
/// A client-chosen request id, unique and increasing within its client session.
pub type RequestId = u64;

/// One Raft RPC, request or response.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Message {
    /// Asks for a vote (or a pre-vote, which changes no state on the voter).
    RequestVote(RequestVote),
    /// Answers a [`Message::RequestVote`].
    VoteResponse(VoteResponse),
    /// Replicates entries and asserts leadership (empty = heartbeat).
    AppendEntries(AppendEntries),
    /// Answers a [`Message::AppendEntries`].
    AppendResponse(AppendResponse),
    /// A client command forwarded to the node believed to be the leader.
    ClientRequest(ClientRequest),
    /// The leader's answer to a forwarded [`Message::ClientRequest`].
    ClientResponse(ClientResponse),
}

impl Message {
    /// A short name per message type, for counters and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Message::RequestVote(m) if m.pre_vote => "pre_vote",
            Message::RequestVote(_) => "request_vote",
            Message::VoteResponse(m) if m.pre_vote => "pre_vote_response",
            Message::VoteResponse(_) => "vote_response",
            Message::AppendEntries(_) => "append_entries",
            Message::AppendResponse(_) => "append_response",
            Message::ClientRequest(_) => "client_request",
            Message::ClientResponse(_) => "client_response",
        }
    }
}

/// RequestVote arguments (Raft paper, Figure 2), plus the pre-vote flag.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestVote {
    /// The candidate's term; for a pre-vote, the term it would campaign in.
    pub term: Term,
    /// Index of the candidate's last log entry.
    pub last_log_index: LogIndex,
    /// Term of the candidate's last log entry.
    pub last_log_term: Term,
    /// A pre-vote asks "would you vote for me?" without disturbing anyone.
    pub pre_vote: bool,
}

/// A vote (or pre-vote) answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoteResponse {
    /// The voter's term (for a granted pre-vote: the term asked about).
    pub term: Term,
    /// Whether the vote was granted.
    pub granted: bool,
    /// Whether this answers a pre-vote.
    pub pre_vote: bool,
}

/// AppendEntries arguments (Raft paper, Figure 2).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppendEntries {
    /// The leader's term.
    pub term: Term,
    /// Index of the entry just before `entries`.
    pub prev_log_index: LogIndex,
    /// Term of the entry at `prev_log_index`.
    pub prev_log_term: Term,
    /// Entries to store, in order (empty for a heartbeat).
    pub entries: Vec<Entry>,
    /// The leader's commit index.
    pub leader_commit: LogIndex,
    /// The leader needs no answer to this one if it succeeds: it is empty, the leader knows
    /// the follower matches up to `prev_log_index`, and it heard from the follower in its
    /// current check-quorum window, which does not end within a heartbeat
    /// ([`Config::lean_heartbeats`](crate::Config)). A rejection is still answered. Absent
    /// means false (Raft.js's messages, which are all answered).
    #[serde(default, skip_serializing_if = "is_false")]
    pub ack_optional: bool,
}

/// Serde's test for leaving a false flag out of the encoding.
fn is_false(flag: &bool) -> bool {
    !*flag
}

/// An AppendEntries answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppendResponse {
    /// The follower's term.
    pub term: Term,
    /// Whether the entries were accepted.
    pub success: bool,
    /// On success the follower's matching index (last entry it now shares with
    /// the leader); on rejection the `prev_log_index` that was rejected.
    pub index: LogIndex,
    /// On rejection, where the leader should resume (see [`RejectHint`]).
    pub hint: Option<RejectHint>,
}

/// Lets the leader skip back over a whole conflicting term in one round trip
/// instead of one entry per heartbeat (what made Raft.js start slowly).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectHint {
    /// The first index of `conflict_term` in the follower's log, or the
    /// follower's last index + 1 when its log is too short.
    pub conflict_index: LogIndex,
    /// The follower's term at the rejected `prev_log_index`, if it has one.
    pub conflict_term: Option<Term>,
}

/// A client command sent to the leader on behalf of a client of the sending node: the
/// node's own (the chat) or, with `session`, one of the clients it serves.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientRequest {
    /// The client session, if not the sending node's own (absent = the node's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// Chosen by the client; a retry reuses it so the command applies once.
    pub request: RequestId,
    /// What to do.
    pub command: Command,
    /// The client has more requests queued behind this one: the leader may
    /// skip the commit-only AppendEntries for it, since the next request's
    /// entries will carry the commit index anyway (absent = false).
    #[serde(default)]
    pub more: bool,
}

/// The answer to a [`ClientRequest`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientResponse {
    /// The session of the request answered (absent = the node's own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// The request answered.
    pub request: RequestId,
    /// What happened.
    pub outcome: ClientOutcome,
}

/// How a client request ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClientOutcome {
    /// The command was committed at `index` and applied with `result`.
    Applied {
        /// The log index the command was applied at.
        index: LogIndex,
        /// The state machine's answer.
        result: CommandResult,
    },
    /// This node is not the leader; try `leader_hint` if known.
    NotLeader {
        /// The leader this node currently follows, if any.
        leader_hint: Option<NodeId>,
    },
}

/// A message addressed to a peer, produced by the core for the transport.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    /// The peer to deliver to.
    pub to: NodeId,
    /// The message.
    pub message: Message,
}
