//! The control protocol's wire format: JSON lines over a Unix socket, or over a TCP
//! connection the node dialed back to the bench ([`super::dialback`]).
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
//! <- {"t_ns":1250,"event":"peer_up","peer":"n2"}
//! <- {"t_ns":1290,"event":"lagged","missed":17}   (if this subscriber fell behind)
//! -> {"cmd":"op","session":"c3","request":12,"op":{"f":"cas","key":"k1","from":"a","to":"b"}}
//! <- {"ok":true,"result":{"index":41,"swapped":true}}         (answered once the leader applied it)
//! -> {"cmd":"op","session":"c3","request":13,"op":{"f":"get","key":"k1"},"read":"local"}
//! <- {"ok":true,"result":{"value":"b"}}                      (this node's state: not linearizable)
//! -> {"cmd":"chat"}
//! <- {"ok":true,"chat":["hello","world"]}
//! -> {"cmd":"shutdown"}
//! <- {"ok":true}
//! -> {"cmd":"kill"}
//!    (no answer: the node SIGKILLs itself and the connection closes)
//! -> nonsense
//! <- {"ok":false,"error":"invalid request: expected value at line 1 column 1"}
//! ```
//!
//! A request may carry `"id"` (any JSON value); it is echoed in its response.
//! After `subscribe` the connection carries events (and still answers
//! requests). A subscriber that does not read fast enough loses events: it
//! is told how many with a `lagged` event, and one that stays behind is
//! disconnected (see [`super::server`]). `t_ns` is the node's `CLOCK_MONOTONIC` in
//! nanoseconds: the same clock as the bench's on the same host, so times can be compared
//! directly; a node on another host has its own.
//! Hashes are hex strings (64-bit integers do not survive JSON in every tool).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use raftrtc_raft::{Event, LogIndex, NodeId, Role, Term};

use crate::mesh::LinkPhases;
use crate::netem::NetSpecText;

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
    /// Stream [`EventLine`]s on this connection from now on; with `from_launch`, first every
    /// event since the node launched (up to a bound, past which a `lagged` line says how many
    /// were not kept), so a subscriber that came late misses nothing.
    Subscribe {
        /// Replay the events since launch first.
        #[serde(default)]
        from_launch: bool,
    },
    /// Put these network conditions in force on this node's links (its egress), from the
    /// next datagram on; `none` lifts them. A spec that does not parse is refused.
    SetNet {
        /// The spec, as `--net` takes it.
        spec: NetSpecText,
    },
    /// One register operation for a client session: answered with its result once the
    /// leader applied it (a `get` with `read: local` at once, from this node's state).
    Op {
        /// The client session; its requests apply at most once, through any node.
        session: SessionId,
        /// Increasing per session; a retry reuses it.
        request: u64,
        /// What to do.
        op: RegisterOp,
        /// How a `get` is served.
        #[serde(default)]
        read: ReadMode,
    },
    /// This node's chat lines, as applied here.
    Chat,
    /// Leave the cluster politely and exit.
    Shutdown,
    /// Die at once by SIGKILL, unanswered: the experiments' kill, for launchers that cannot
    /// signal the node's process themselves (a swarm task on another host).
    Kill,
}

/// A register operation, as `op` carries it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "f", rename_all = "snake_case")]
pub enum RegisterOp {
    /// Store `value` at `key`.
    Set {
        /// The register.
        key: String,
        /// The value.
        value: String,
    },
    /// Read `key`.
    Get {
        /// The register.
        key: String,
    },
    /// Store `to` at `key` if it holds `from`.
    Cas {
        /// The register.
        key: String,
        /// The value it must hold.
        from: String,
        /// The value stored if it does.
        to: String,
    },
}

impl From<RegisterOp> for raftrtc_raft::Command {
    fn from(op: RegisterOp) -> Self {
        match op {
            RegisterOp::Set { key, value } => raftrtc_raft::Command::Set { key, value },
            RegisterOp::Get { key } => raftrtc_raft::Command::Get { key },
            RegisterOp::Cas { key, from, to } => raftrtc_raft::Command::Cas { key, from, to },
        }
    }
}

/// How a read is served.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReadMode {
    /// Through the log, like a write: linearizable.
    #[default]
    Linearizable,
    /// From this node's applied state at once: may be stale on a follower or a deposed
    /// leader.
    Local,
}

/// A client session's name: 1 to 64 of `[A-Za-z0-9_.-]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SessionId(String);

impl SessionId {
    /// The name, if it is one.
    pub fn new(name: &str) -> Result<Self, String> {
        let ok = !name.is_empty()
            && name.len() <= 64
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        if ok {
            Ok(SessionId(name.to_owned()))
        } else {
            Err(format!(
                "session {name:?} is not 1 to 64 letters, digits, '_', '.' or '-'"
            ))
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for SessionId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        SessionId::new(&name).map_err(serde::de::Error::custom)
    }
}

/// The result of an `op`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpResult {
    /// The log index it was applied at (absent for a local read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<LogIndex>,
    /// What a `get` read (absent: the register is empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Whether a `cas` swapped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub swapped: Option<bool>,
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
    /// For `op`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<OpResult>,
    /// For `chat`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chat: Option<Vec<String>>,
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
            result: None,
            chat: None,
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
    /// Data-channel messages dropped (malformed, oversized, beyond the bound
    /// kept before start, or for a peer whose outbox was full).
    pub dropped_messages: u64,
    /// Elections this node started.
    pub elections: u64,
    /// Whether the signaling server is reachable now.
    pub signaling_connected: bool,
    /// How long each peer's data channel took to open, in ms.
    pub link_open_ms: BTreeMap<NodeId, f64>,
    /// When each link's negotiation phases were reached (the last link to each peer that
    /// opened), for the breakdown of where a start's time goes.
    #[serde(default)]
    pub link_phases: BTreeMap<NodeId, LinkPhases>,
    /// When the node's command began, just after its arguments were parsed (ns).
    #[serde(default)]
    pub main_ns: u64,
    /// When the mesh was ready (its DTLS certificate generated), just before the node
    /// dialled signaling (ns).
    #[serde(default)]
    pub mesh_ready_ns: u64,
    /// CPU time this process has used so far, user and system, in ms.
    #[serde(default)]
    pub cpu_ms: f64,
    /// The network conditions in force on this node's links (`none`: the machine's own).
    #[serde(default)]
    pub net: String,
    /// When the control socket began listening (node's monotonic clock, ns): the node is
    /// running and its socket answers from then on.
    #[serde(default)]
    pub launched_ns: u64,
    /// When the node first joined signaling (ns), if it has.
    #[serde(default)]
    pub signaling_ns: Option<u64>,
    /// When each currently open data channel opened (ns): the same instant as its
    /// [`NodeEvent::PeerUp`], so a subscriber that came late loses nothing.
    #[serde(default)]
    pub link_up_ns: BTreeMap<NodeId, u64>,
    /// This node's cluster identity (hex), once its log has one.
    #[serde(default)]
    pub cluster: Option<String>,
    /// What each peer that said hello named as its cluster (hex, or `none`).
    #[serde(default)]
    pub peer_clusters: BTreeMap<NodeId, String>,
    /// Peers known to belong to another cluster (never made members).
    #[serde(default)]
    pub foreign_peers: Vec<NodeId>,
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
///
/// Role, term, leader and configuration changes are the core's own
/// [`Event`]s, sent as they are ([`NodeEvent::Core`]); the rest is what only
/// the node knows. An applied entry is the exception: subscribers get the
/// chat length after it ([`NodeEvent::EntryApplied`]) rather than the
/// command's result, so the runtime never sends [`Event::EntryApplied`] as is.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum NodeEvent {
    /// Raft started on this node.
    Started,
    /// The node joined the signaling server (the first time; also in
    /// [`Status::signaling_ns`]).
    SignalingConnected,
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
    /// This subscriber fell behind and `missed` events were dropped for it
    /// just before this line: its view is stale until it asks for `status`.
    /// A subscriber that stays behind is disconnected.
    Lagged {
        /// How many events it did not get.
        missed: u64,
    },
    /// A role, term, leader or configuration change, as the core reports it.
    #[serde(untagged)]
    Core(Event),
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
        let r = parse_request(
            r#"{"cmd":"op","session":"c3","request":9,"op":{"f":"cas","key":"k","from":"a","to":"b"}}"#,
        )
        .unwrap();
        assert_eq!(
            r.command,
            Command::Op {
                session: SessionId::new("c3").unwrap(),
                request: 9,
                op: RegisterOp::Cas {
                    key: "k".into(),
                    from: "a".into(),
                    to: "b".into()
                },
                read: ReadMode::Linearizable,
            }
        );
        let r = parse_request(r#"{"cmd":"chat"}"#).unwrap();
        assert_eq!(r.command, Command::Chat);
        let r = parse_request(r#"{"cmd":"set_net","spec":"n1:down"}"#).unwrap();
        match r.command {
            Command::SetNet { spec } => assert!(spec.0.conditions("n0", "n1").down),
            other => panic!("not set_net: {other:?}"),
        }
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
            r#"{"cmd":"set_net"}"#,
            r#"{"cmd":"set_net","spec":"loss=7"}"#,
            r#"{"cmd":"set_net","spec":"delay=5ms;n1:"}"#,
            r#"{"cmd":"op","session":"","request":1,"op":{"f":"get","key":"k"}}"#,
            r#"{"cmd":"op","session":"a b","request":1,"op":{"f":"get","key":"k"}}"#,
            r#"{"cmd":"op","session":"c","request":-1,"op":{"f":"get","key":"k"}}"#,
            r#"{"cmd":"op","session":"c","request":1,"op":{"f":"del","key":"k"}}"#,
            r#"{"cmd":"op","session":"c","request":1,"op":{"f":"get"}}"#,
            r#"{"cmd":"op","session":"c","request":1,"op":{"f":"get","key":"k"},"read":"stale"}"#,
            "[1,2]",
        ] {
            assert!(parse_request(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn core_events_go_on_the_wire_as_the_core_serializes_them() {
        let line = EventLine {
            t_ns: 5,
            event: NodeEvent::Core(Event::RoleChanged {
                role: Role::Leader,
                term: 2,
            }),
        };
        let text = serde_json::to_string(&line).unwrap();
        assert_eq!(
            text,
            r#"{"t_ns":5,"event":"role_changed","role":"leader","term":2}"#
        );
        let back: EventLine = serde_json::from_str(&text).unwrap();
        assert_eq!(back, line);
        let back: EventLine = serde_json::from_str(
            r#"{"t_ns":6,"event":"configuration_applied","index":3,"members":["a","b"]}"#,
        )
        .unwrap();
        assert_eq!(
            back.event,
            NodeEvent::Core(Event::ConfigurationApplied {
                index: 3,
                members: vec!["a".into(), "b".into()]
            })
        );
    }

    #[test]
    fn node_events_and_lag_round_trip_flat_with_a_timestamp() {
        for (text, event) in [
            (
                r#"{"t_ns":7,"event":"entry_applied","index":9,"term":2,"chat_len":4}"#,
                NodeEvent::EntryApplied {
                    index: 9,
                    term: 2,
                    chat_len: 4,
                },
            ),
            (
                r#"{"t_ns":7,"event":"lagged","missed":17}"#,
                NodeEvent::Lagged { missed: 17 },
            ),
            (r#"{"t_ns":7,"event":"started"}"#, NodeEvent::Started),
            (
                r#"{"t_ns":7,"event":"signaling_connected"}"#,
                NodeEvent::SignalingConnected,
            ),
        ] {
            let line = EventLine { t_ns: 7, event };
            assert_eq!(serde_json::to_string(&line).unwrap(), text);
            assert_eq!(serde_json::from_str::<EventLine>(text).unwrap(), line);
        }
    }

    #[test]
    fn unknown_or_incomplete_events_are_errors() {
        for bad in [
            r#"{"t_ns":1,"event":"bogus"}"#,
            r#"{"t_ns":1,"event":"lagged"}"#,
            r#"{"t_ns":1,"event":"role_changed","role":"boss","term":1}"#,
            r#"{"t_ns":1}"#,
        ] {
            assert!(serde_json::from_str::<EventLine>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_status_without_the_launch_times_still_reads() {
        let old = serde_json::to_value(Status::default()).unwrap();
        let mut old = old.as_object().unwrap().clone();
        for added in [
            "launched_ns",
            "signaling_ns",
            "link_up_ns",
            "link_phases",
            "main_ns",
            "mesh_ready_ns",
            "cpu_ms",
            "net",
        ] {
            assert!(old.remove(added).is_some(), "{added}");
        }
        let status: Status = serde_json::from_value(old.into()).unwrap();
        assert_eq!(status.signaling_ns, None);
        assert!(status.link_up_ns.is_empty());
    }

    #[test]
    fn responses_omit_empty_fields() {
        let text = serde_json::to_string(&Response::ok(None)).unwrap();
        assert_eq!(text, r#"{"ok":true}"#);
        let text = serde_json::to_string(&Response::error(Some(1.into()), "no")).unwrap();
        assert_eq!(text, r#"{"ok":false,"id":1,"error":"no"}"#);
    }
}
