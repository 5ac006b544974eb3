//! The control socket's wire format: JSON lines over a Unix socket.
//!
//! One request per line, one response line per request, in order:
//!
//! ```text
//! -> {"cmd":"status"}
//! <- {"ok":true,"status":{"id":"n1","role":"leader",...}}
//! -> {"cmd":"start"}
//! <- {"ok":true}
//! -> {"cmd":"submit","lines":["hello"]}          (answered once applied locally)
//! <- {"ok":true,"submitted":{"lines":1,"last_index":7,"elapsed_ms":3.1}}
//! -> {"cmd":"subscribe"}
//! <- {"ok":true}
//! <- {"t_ns":1234,"event":"role_changed","role":"leader","term":2}   (then events, forever)
//! -> {"cmd":"shutdown"}
//! <- {"ok":true}
//! -> nonsense
//! <- {"ok":false,"error":"invalid request: expected value at line 1 column 1"}
//! ```
//!
//! A request may carry `"id"` (any JSON value); it is echoed in its response.
//! After `subscribe` the connection carries events (and still answers
//! requests). `t_ns` is the node's `CLOCK_MONOTONIC` in nanoseconds: the same
//! clock as the bench's on the same host, so times can be compared directly.
//! Hashes are hex strings (64-bit integers do not survive JSON in every tool).

use std::collections::BTreeMap;

use raftrtc_raft::{LogIndex, NodeId, Role, Term};
use serde::{Deserialize, Serialize};

/// Longest accepted request line, in bytes.
pub const MAX_LINE_BYTES: usize = 1024 * 1024;

/// A request line.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Request {
    /// Echoed in the response, to correlate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<serde_json::Value>,
    /// What to do.
    #[serde(flatten)]
    pub command: Command,
}

/// What a request asks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Command {
    /// Report [`Status`].
    Status,
    /// Start Raft (nodes launch paused: connected, Raft not running).
    Start,
    /// Queue chat lines; answered once every line is applied on this node.
    Submit {
        /// The lines, in order.
        lines: Vec<String>,
    },
    /// Stream [`EventLine`]s on this connection from now on.
    Subscribe,
    /// Leave the cluster politely and exit.
    Shutdown,
}

/// A response line.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Response {
    /// Whether the request succeeded.
    pub ok: bool,
    /// The request's `id`, if it had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<serde_json::Value>,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// For `status`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    /// For `submit`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submitted: Option<Submitted>,
}

impl Response {
    /// A bare success.
    pub fn ok(id: Option<serde_json::Value>) -> Self {
        Self {
            ok: true,
            id,
            error: None,
            status: None,
            submitted: None,
        }
    }

    /// A failure with a message.
    pub fn error(id: Option<serde_json::Value>, error: impl Into<String>) -> Self {
        Self {
            ok: false,
            error: Some(error.into()),
            ..Self::ok(id)
        }
    }
}

/// A completed `submit`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Submitted {
    /// How many lines were applied.
    pub lines: usize,
    /// The log index of the last one.
    pub last_index: LogIndex,
    /// From the request to the last line applied locally.
    pub elapsed_ms: f64,
}

/// Everything the bench checks about a node.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Status {
    /// The node's id.
    pub id: NodeId,
    /// Whether Raft was started.
    pub started: bool,
    /// Current role (`follower` before start).
    pub role: Option<Role>,
    /// Current term.
    pub term: Term,
    /// The leader it follows, if any.
    pub leader: Option<NodeId>,
    /// The configuration in force (latest membership entry).
    pub members: Vec<NodeId>,
    /// The configuration of the latest applied membership entry.
    pub applied_members: Vec<NodeId>,
    /// Commit index.
    pub commit_index: LogIndex,
    /// Last applied index.
    pub last_applied: LogIndex,
    /// Log length.
    pub log_len: LogIndex,
    /// Hash of the whole log (hex).
    pub log_hash: String,
    /// Hash of the state machine (hex).
    pub state_hash: String,
    /// Chat lines applied.
    pub chat_len: u64,
    /// Peers with an open data channel.
    pub peers: Vec<NodeId>,
    /// Raft messages sent, by type.
    pub rpc_sent: BTreeMap<String, u64>,
    /// Raft messages received, by type.
    pub rpc_received: BTreeMap<String, u64>,
    /// Data-channel messages dropped (malformed, oversized, before start).
    pub dropped_messages: u64,
    /// Elections this node started.
    pub elections: u64,
    /// Whether the signaling server is reachable now.
    pub signaling_connected: bool,
    /// How long each peer's data channel took to open, in ms.
    pub link_open_ms: BTreeMap<NodeId, f64>,
    /// When this status was taken (node's monotonic clock, ns).
    pub t_ns: u64,
}

/// One pushed event, stamped with the node's monotonic clock.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventLine {
    /// `CLOCK_MONOTONIC` in nanoseconds when it happened.
    pub t_ns: u64,
    /// What happened.
    #[serde(flatten)]
    pub event: NodeEvent,
}

/// What a subscriber is told.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum NodeEvent {
    /// Raft started on this node.
    Started,
    /// The role changed.
    RoleChanged {
        /// The new role.
        role: Role,
        /// The term.
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
        /// The term.
        term: Term,
    },
    /// A membership entry was applied.
    ConfigurationApplied {
        /// Its index.
        index: LogIndex,
        /// The members from now on.
        members: Vec<NodeId>,
    },
    /// An entry was applied.
    EntryApplied {
        /// Its index.
        index: LogIndex,
        /// Its term.
        term: Term,
        /// Chat lines applied on this node after this entry.
        chat_len: u64,
    },
    /// A data channel to a peer opened.
    PeerUp {
        /// The peer.
        peer: NodeId,
    },
    /// A data channel to a peer closed or failed.
    PeerDown {
        /// The peer.
        peer: NodeId,
        /// Why.
        reason: String,
    },
}

/// Parses one request line; the error text is what the client is told.
pub fn parse_request(line: &str) -> Result<Request, String> {
    if line.len() > MAX_LINE_BYTES {
        return Err(format!("request longer than {MAX_LINE_BYTES} bytes"));
    }
    serde_json::from_str(line).map_err(|e| format!("invalid request: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_parse_with_and_without_id() {
        let r = parse_request(r#"{"cmd":"status"}"#).unwrap();
        assert_eq!(r.command, Command::Status);
        assert_eq!(r.id, None);
        let r = parse_request(r#"{"cmd":"submit","lines":["a","b"],"id":7}"#).unwrap();
        assert_eq!(
            r.command,
            Command::Submit {
                lines: vec!["a".into(), "b".into()]
            }
        );
        assert_eq!(r.id, Some(serde_json::json!(7)));
    }

    #[test]
    fn malformed_or_unknown_requests_are_errors_not_panics() {
        for bad in [
            "",
            "nonsense",
            "{}",
            r#"{"cmd":"fly"}"#,
            r#"{"cmd":"submit"}"#,
            r#"{"cmd":"submit","lines":"x"}"#,
            "[1,2]",
        ] {
            assert!(parse_request(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn events_serialize_flat_with_a_timestamp() {
        let line = EventLine {
            t_ns: 5,
            event: NodeEvent::RoleChanged {
                role: Role::Leader,
                term: 2,
            },
        };
        let text = serde_json::to_string(&line).unwrap();
        assert_eq!(
            text,
            r#"{"t_ns":5,"event":"role_changed","role":"leader","term":2}"#
        );
        let back: EventLine = serde_json::from_str(&text).unwrap();
        assert_eq!(back, line);
    }

    #[test]
    fn responses_omit_empty_fields() {
        let text = serde_json::to_string(&Response::ok(None)).unwrap();
        assert_eq!(text, r#"{"ok":true}"#);
        let text = serde_json::to_string(&Response::error(Some(1.into()), "no")).unwrap();
        assert_eq!(text, r#"{"ok":false,"id":1,"error":"no"}"#);
    }
}
