//! What the core hands back after each input: messages, events, client replies.

use serde::{Deserialize, Serialize};

use crate::message::{ClientOutcome, Envelope, LogIndex, NodeId, RequestId, Term};
use crate::state_machine::CommandResult;

/// A node's role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Follows a leader (or waits to be contacted).
    Follower,
    /// Collecting pre-votes; has not bumped its term.
    PreCandidate,
    /// Campaigning in its current term.
    Candidate,
    /// Leads its term.
    Leader,
}

/// Something observable that happened inside the core.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The role changed (the term is the one it changed in).
    RoleChanged {
        /// The new role.
        role: Role,
        /// The current term.
        term: Term,
    },
    /// The term changed without a role change.
    TermChanged {
        /// The new term.
        term: Term,
    },
    /// The known leader changed.
    LeaderChanged {
        /// The leader, if known.
        leader: Option<NodeId>,
        /// The current term.
        term: Term,
    },
    /// A membership entry was applied (committed and applied in order).
    ConfigurationApplied {
        /// Its log index.
        index: LogIndex,
        /// The members from now on.
        members: Vec<NodeId>,
    },
    /// An entry was applied to the state machine.
    EntryApplied {
        /// Its log index.
        index: LogIndex,
        /// Its term.
        term: Term,
        /// For a command, what it returned.
        result: Option<CommandResult>,
    },
}

/// The answer to a client request made through this node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientReply {
    /// The node that answered (this node, for a local proposal).
    pub from: NodeId,
    /// The session of the request (`None`: this node's own).
    pub session: Option<String>,
    /// The request answered.
    pub request: RequestId,
    /// What happened.
    pub outcome: ClientOutcome,
}

/// Everything the core produced since it was last drained.
#[derive(Clone, Debug, Default)]
pub struct Output {
    /// Messages to send, in order.
    pub messages: Vec<Envelope>,
    /// Events, in order.
    pub events: Vec<Event>,
    /// Replies to client requests made through this node.
    pub replies: Vec<ClientReply>,
}

impl Output {
    /// Whether nothing was produced.
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty() && self.events.is_empty() && self.replies.is_empty()
    }
}
