//! Wire frames of the PeerJS server protocol and of raftrtc's presence
//! extension: names, validation of ids and keys, parsing of what each side
//! receives and encoding of what each side sends.
//!
//! The shapes follow the official `peer` server (npm, 1.0.x) field for field,
//! so the official PeerJS client can use our server and our client can use
//! the official server:
//!
//! | frame | shape |
//! |---|---|
//! | greeting | `{"type":"OPEN"}` |
//! | id in use | `{"type":"ID-TAKEN","payload":{"msg":"ID is taken"}}` |
//! | bad key | `{"type":"INVALID-KEY","payload":{"msg":"Invalid key provided"}}` |
//! | error | `{"type":"ERROR","payload":{"msg":"..."}}` |
//! | relayed | `{"type":"OFFER","src":"a","dst":"b","payload":{...}}` (also `ANSWER`, `CANDIDATE`, `LEAVE`) |
//! | expiry | `{"type":"EXPIRE","src":"<unreachable peer>","dst":"<sender>"}` |
//! | keep-alive | `{"type":"HEARTBEAT"}` (client to server only) |
//!
//! Extension, only for clients that connect with `presence=1`:
//! `{"type":"PEERS","payload":["a","b"]}` right after `OPEN`, then
//! `{"type":"PEER-JOINED","src":"c"}` and `{"type":"PEER-LEFT","src":"c"}`.

use serde::Serialize;
use serde_json::Value;

use crate::error::FrameError;

/// Path segment of the WebSocket endpoint under the base path
/// (`<base>peerjs?key=..&id=..&token=..`), as in PeerJS.
pub const WS_PATH_SEGMENT: &str = "peerjs";

/// The `implementation` field of our server's description (`GET <base>`), which the
/// official server's lacks: how a client tells the two apart.
pub const IMPLEMENTATION: &str = "raftrtc-signaling";

/// Longest peer id accepted, in bytes.
pub const MAX_ID_BYTES: usize = 128;

/// Longest key (cluster name) accepted, in bytes.
pub const MAX_KEY_BYTES: usize = 64;

/// Longest token accepted, in bytes.
pub const MAX_TOKEN_BYTES: usize = 128;

/// `msg` texts of the official server, reused so that clients matching on
/// them behave the same against both servers.
pub mod msg {
    /// `INVALID-KEY` / `ERROR` text for a key that names no cluster.
    pub const INVALID_KEY: &str = "Invalid key provided";
    /// `ERROR` text for a malformed token.
    pub const INVALID_TOKEN: &str = "Invalid token provided";
    /// `ERROR` text when `id`, `token` or `key` is missing from the URL.
    pub const INVALID_WS_PARAMETERS: &str = "No id, token, or key supplied to websocket server";
    /// `ERROR` text when the server is full.
    pub const CONNECTION_LIMIT_EXCEED: &str = "Server has reached its concurrent user limit";
    /// `ID-TAKEN` text.
    pub const ID_TAKEN: &str = "ID is taken";
    /// `ERROR` text for an id with characters no PeerJS client can produce.
    pub const INVALID_ID: &str = "Invalid id provided";
    /// `ERROR` text when the cluster has reached its peer limit.
    pub const CLUSTER_FULL: &str = "Cluster has reached its peer limit";
    /// `ERROR` text when the server has reached its cluster limit.
    pub const TOO_MANY_CLUSTERS: &str = "Server has reached its cluster limit";
}

/// Every message type either side may send.
///
/// Why an enum rather than strings: a typo in a type name becomes a compile
/// error, and parsing rejects anything else in one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageType {
    /// Server greeting after a successful join.
    Open,
    /// Peer closed its connection to the destination (relayed).
    Leave,
    /// ICE candidate (relayed).
    Candidate,
    /// SDP offer (relayed).
    Offer,
    /// SDP answer (relayed).
    Answer,
    /// A held message could not be delivered in time.
    Expire,
    /// Client keep-alive.
    Heartbeat,
    /// The id is connected with another token.
    IdTaken,
    /// The key names no cluster.
    InvalidKey,
    /// Server-side error report.
    Error,
    /// Extension: a member joined the cluster.
    PeerJoined,
    /// Extension: a member left the cluster.
    PeerLeft,
    /// Extension: snapshot of the cluster's other members.
    Peers,
}

impl MessageType {
    /// The exact `type` string on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageType::Open => "OPEN",
            MessageType::Leave => "LEAVE",
            MessageType::Candidate => "CANDIDATE",
            MessageType::Offer => "OFFER",
            MessageType::Answer => "ANSWER",
            MessageType::Expire => "EXPIRE",
            MessageType::Heartbeat => "HEARTBEAT",
            MessageType::IdTaken => "ID-TAKEN",
            MessageType::InvalidKey => "INVALID-KEY",
            MessageType::Error => "ERROR",
            MessageType::PeerJoined => "PEER-JOINED",
            MessageType::PeerLeft => "PEER-LEFT",
            MessageType::Peers => "PEERS",
        }
    }

    /// Parses a wire `type` string; `None` for anything unknown.
    pub fn parse(s: &str) -> Option<MessageType> {
        Some(match s {
            "OPEN" => MessageType::Open,
            "LEAVE" => MessageType::Leave,
            "CANDIDATE" => MessageType::Candidate,
            "OFFER" => MessageType::Offer,
            "ANSWER" => MessageType::Answer,
            "EXPIRE" => MessageType::Expire,
            "HEARTBEAT" => MessageType::Heartbeat,
            "ID-TAKEN" => MessageType::IdTaken,
            "INVALID-KEY" => MessageType::InvalidKey,
            "ERROR" => MessageType::Error,
            "PEER-JOINED" => MessageType::PeerJoined,
            "PEER-LEFT" => MessageType::PeerLeft,
            "PEERS" => MessageType::Peers,
            _ => return None,
        })
    }
}

/// The message types a peer can send to another peer through the server.
///
/// Why separate from [`MessageType`]: it is what the client API takes and
/// yields, so a caller cannot ask to "relay" an `OPEN`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Relay {
    /// SDP offer.
    Offer,
    /// SDP answer.
    Answer,
    /// ICE candidate.
    Candidate,
    /// The sender is done with the destination.
    Leave,
}

impl Relay {
    /// The wire message type.
    pub fn message_type(self) -> MessageType {
        match self {
            Relay::Offer => MessageType::Offer,
            Relay::Answer => MessageType::Answer,
            Relay::Candidate => MessageType::Candidate,
            Relay::Leave => MessageType::Leave,
        }
    }

    /// The relay kind of a wire message type, if it is one.
    pub fn from_message_type(t: MessageType) -> Option<Relay> {
        match t {
            MessageType::Offer => Some(Relay::Offer),
            MessageType::Answer => Some(Relay::Answer),
            MessageType::Candidate => Some(Relay::Candidate),
            MessageType::Leave => Some(Relay::Leave),
            _ => None,
        }
    }

    /// The exact `type` string on the wire.
    pub fn as_str(self) -> &'static str {
        self.message_type().as_str()
    }
}

/// Whether `key` can name a cluster: `[A-Za-z0-9_.-]{1,64}`.
///
/// Why restrict it: the key appears in URL paths (`/<key>/peers`) and in
/// logs; a small alphabet keeps both unambiguous.
pub fn is_valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= MAX_KEY_BYTES
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// Whether `id` can be a peer id: 1 to 128 bytes of `[A-Za-z0-9 _.:@-]`.
///
/// This is a superset of what the PeerJS client accepts
/// (`^[A-Za-z0-9]+(?:[ _-][A-Za-z0-9]+)*$`) and of the UUIDs servers hand
/// out, and keeps control characters and quoting out of logs.
pub fn is_valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID_BYTES
        && id.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b' ' | b'_' | b'.' | b':' | b'@' | b'-')
        })
}

/// Whether `token` is acceptable: 1 to 128 printable ASCII bytes.
pub fn is_valid_token(token: &str) -> bool {
    !token.is_empty()
        && token.len() <= MAX_TOKEN_BYTES
        && token.bytes().all(|b| b.is_ascii_graphic())
}

/// A frame a client sent to the server, validated.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientMessage {
    /// Keep-alive; resets the server's silence timer.
    Heartbeat,
    /// Relay to `dst` (`OFFER`, `ANSWER`, `CANDIDATE`, or `LEAVE` with a `dst`).
    Relay {
        /// Kind of message.
        kind: Relay,
        /// Destination peer id.
        dst: String,
        /// Opaque payload, forwarded untouched; absent stays absent.
        payload: Option<Value>,
    },
    /// `LEAVE` without `dst`: the sender leaves the server.
    Depart,
    /// `EXPIRE` sent by a client: relayed if `dst` is connected, as PeerJS does.
    Expire {
        /// Destination peer id.
        dst: String,
    },
}

/// Parses and validates one text frame from a client.
///
/// Why here and not in the session: it is pure, so every rule about bad input
/// is unit-tested without sockets. Any `src` the client put in is ignored; the
/// server stamps the real one.
pub fn parse_client_frame(text: &str, max_bytes: usize) -> Result<ClientMessage, FrameError> {
    if text.len() > max_bytes {
        return Err(FrameError::TooLarge {
            size: text.len(),
            max: max_bytes,
        });
    }
    let value: Value =
        serde_json::from_str(text).map_err(|e| FrameError::InvalidJson(e.to_string()))?;
    let Value::Object(mut obj) = value else {
        return Err(FrameError::NotAnObject);
    };
    let kind = match obj.get("type") {
        Some(Value::String(s)) => s.as_str(),
        _ => return Err(FrameError::MissingType),
    };
    let Some(kind) = MessageType::parse(kind) else {
        return Err(FrameError::UnknownType(truncate(kind, 64)));
    };
    let name = kind.as_str();
    let dst = match obj.get("dst") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if is_valid_id(s) => Some(s.clone()),
        Some(_) => {
            return Err(FrameError::InvalidField {
                kind: name,
                field: "dst",
            })
        }
    };
    let payload = match obj.remove("payload") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v),
    };
    match kind {
        MessageType::Heartbeat => Ok(ClientMessage::Heartbeat),
        MessageType::Offer | MessageType::Answer | MessageType::Candidate => {
            let dst = dst.ok_or(FrameError::MissingField {
                kind: name,
                field: "dst",
            })?;
            let payload = payload.ok_or(FrameError::MissingField {
                kind: name,
                field: "payload",
            })?;
            let kind =
                Relay::from_message_type(kind).ok_or(FrameError::UnknownType(name.into()))?;
            Ok(ClientMessage::Relay {
                kind,
                dst,
                payload: Some(payload),
            })
        }
        MessageType::Leave => Ok(match dst {
            Some(dst) => ClientMessage::Relay {
                kind: Relay::Leave,
                dst,
                payload,
            },
            None => ClientMessage::Depart,
        }),
        MessageType::Expire => {
            let dst = dst.ok_or(FrameError::MissingField {
                kind: name,
                field: "dst",
            })?;
            Ok(ClientMessage::Expire { dst })
        }
        _ => Err(FrameError::UnknownType(name.into())),
    }
}

/// A frame the server sent to a client, as the client understands it.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerMessage {
    /// Join accepted.
    Open,
    /// Id in use with another token.
    IdTaken,
    /// Key refused (`INVALID-KEY`, or the official server's `ERROR` "Invalid key provided").
    InvalidKey,
    /// Any other `ERROR`, with its `msg`.
    Error(String),
    /// A relayed message.
    Relayed {
        /// Kind of message.
        kind: Relay,
        /// Sender id, stamped by the server.
        src: String,
        /// Payload (`Null` when absent).
        payload: Value,
    },
    /// A message we sent to `peer` expired undelivered.
    Expire {
        /// The unreachable peer.
        peer: String,
    },
    /// Extension: a member joined.
    PeerJoined(String),
    /// Extension: a member left.
    PeerLeft(String),
    /// Extension: the other members right now.
    Peers(Vec<String>),
    /// Something this client does not use (e.g. a server heartbeat); ignored.
    Ignored(String),
}

/// Parses one text frame from a server.
///
/// Lenient where PeerJS is lenient (unknown types are reported as
/// [`ServerMessage::Ignored`], not errors), strict on fields we rely on.
pub fn parse_server_frame(text: &str) -> Result<ServerMessage, FrameError> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| FrameError::InvalidJson(e.to_string()))?;
    let Value::Object(mut obj) = value else {
        return Err(FrameError::NotAnObject);
    };
    let kind = match obj.get("type") {
        Some(Value::String(s)) => s.clone(),
        _ => return Err(FrameError::MissingType),
    };
    let Some(t) = MessageType::parse(&kind) else {
        return Ok(ServerMessage::Ignored(truncate(&kind, 64)));
    };
    let name = t.as_str();
    let src = match obj.get("src") {
        Some(Value::String(s)) => Some(s.clone()),
        _ => None,
    };
    let payload = obj.remove("payload").unwrap_or(Value::Null);
    let error_msg = |payload: &Value| -> String {
        match payload.get("msg") {
            Some(Value::String(s)) => s.clone(),
            _ => String::from("unspecified error"),
        }
    };
    Ok(match t {
        MessageType::Open => ServerMessage::Open,
        MessageType::IdTaken => ServerMessage::IdTaken,
        MessageType::InvalidKey => ServerMessage::InvalidKey,
        MessageType::Error => {
            let m = error_msg(&payload);
            if m == msg::INVALID_KEY {
                ServerMessage::InvalidKey
            } else {
                ServerMessage::Error(m)
            }
        }
        MessageType::Offer | MessageType::Answer | MessageType::Candidate | MessageType::Leave => {
            let src = src.ok_or(FrameError::MissingField {
                kind: name,
                field: "src",
            })?;
            let kind = Relay::from_message_type(t).ok_or(FrameError::UnknownType(name.into()))?;
            ServerMessage::Relayed { kind, src, payload }
        }
        MessageType::Expire => ServerMessage::Expire {
            peer: src.ok_or(FrameError::MissingField {
                kind: name,
                field: "src",
            })?,
        },
        MessageType::PeerJoined => {
            ServerMessage::PeerJoined(src.ok_or(FrameError::MissingField {
                kind: name,
                field: "src",
            })?)
        }
        MessageType::PeerLeft => ServerMessage::PeerLeft(src.ok_or(FrameError::MissingField {
            kind: name,
            field: "src",
        })?),
        MessageType::Peers => {
            let ids: Vec<String> =
                serde_json::from_value(payload).map_err(|_| FrameError::InvalidField {
                    kind: name,
                    field: "payload",
                })?;
            ServerMessage::Peers(ids)
        }
        MessageType::Heartbeat => ServerMessage::Ignored(kind),
    })
}

/// The one JSON shape all frames share; absent fields are omitted, exactly as
/// `JSON.stringify` drops `undefined` in the official server.
#[derive(Serialize)]
struct Frame<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    src: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dst: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    payload: Option<&'a Value>,
}

fn encode(
    kind: MessageType,
    src: Option<&str>,
    dst: Option<&str>,
    payload: Option<&Value>,
) -> String {
    let frame = Frame {
        kind: kind.as_str(),
        src,
        dst,
        payload,
    };
    // Serializing strings and an already-valid `Value` cannot fail; the
    // fallback only keeps this function total.
    serde_json::to_string(&frame).unwrap_or_else(|_| {
        String::from(r#"{"type":"ERROR","payload":{"msg":"internal encoding error"}}"#)
    })
}

fn msg_payload(text: &str) -> Value {
    serde_json::json!({ "msg": text })
}

/// Encoders for frames the server sends.
pub mod server {
    use super::*;

    /// `{"type":"OPEN"}`
    pub fn open() -> String {
        encode(MessageType::Open, None, None, None)
    }

    /// `{"type":"ID-TAKEN","payload":{"msg":"ID is taken"}}`
    pub fn id_taken() -> String {
        encode(
            MessageType::IdTaken,
            None,
            None,
            Some(&msg_payload(msg::ID_TAKEN)),
        )
    }

    /// `{"type":"INVALID-KEY","payload":{"msg":"Invalid key provided"}}`
    pub fn invalid_key() -> String {
        encode(
            MessageType::InvalidKey,
            None,
            None,
            Some(&msg_payload(msg::INVALID_KEY)),
        )
    }

    /// `{"type":"ERROR","payload":{"msg":<text>}}`
    pub fn error(text: &str) -> String {
        encode(MessageType::Error, None, None, Some(&msg_payload(text)))
    }

    /// A relayed frame with the server-stamped `src`.
    pub fn relay(kind: MessageType, src: &str, dst: &str, payload: Option<&Value>) -> String {
        encode(kind, Some(src), Some(dst), payload)
    }

    /// `{"type":"EXPIRE","src":<unreachable>,"dst":<sender>}`
    pub fn expire(unreachable: &str, sender: &str) -> String {
        encode(MessageType::Expire, Some(unreachable), Some(sender), None)
    }

    /// `{"type":"LEAVE","src":<gone>,"dst":<sender>}`: tells a sender its
    /// destination was dropped, as the official server does.
    pub fn leave(gone: &str, sender: &str) -> String {
        encode(MessageType::Leave, Some(gone), Some(sender), None)
    }

    /// `{"type":"PEER-JOINED","src":<id>}`
    pub fn peer_joined(id: &str) -> String {
        encode(MessageType::PeerJoined, Some(id), None, None)
    }

    /// `{"type":"PEER-LEFT","src":<id>}`
    pub fn peer_left(id: &str) -> String {
        encode(MessageType::PeerLeft, Some(id), None, None)
    }

    /// `{"type":"PEERS","payload":[ids...]}`
    pub fn peers(ids: &[String]) -> String {
        let list = Value::Array(ids.iter().cloned().map(Value::String).collect());
        encode(MessageType::Peers, None, None, Some(&list))
    }
}

/// Encoders for frames a client sends.
pub mod client {
    use super::*;

    /// `{"type":"HEARTBEAT"}`
    pub fn heartbeat() -> String {
        encode(MessageType::Heartbeat, None, None, None)
    }

    /// A message to relay; a `Null` payload is omitted.
    pub fn relay(kind: Relay, dst: &str, payload: &Value) -> String {
        let payload = (!payload.is_null()).then_some(payload);
        encode(kind.message_type(), None, Some(dst), payload)
    }
}

/// Cuts `s` to at most `max` bytes on a char boundary, for error messages
/// that quote peer input.
pub(crate) fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const MAX: usize = 64 * 1024;

    #[test]
    fn server_frames_match_the_official_server_byte_for_byte() {
        assert_eq!(server::open(), r#"{"type":"OPEN"}"#);
        assert_eq!(
            server::id_taken(),
            r#"{"type":"ID-TAKEN","payload":{"msg":"ID is taken"}}"#
        );
        assert_eq!(
            server::error(msg::INVALID_WS_PARAMETERS),
            r#"{"type":"ERROR","payload":{"msg":"No id, token, or key supplied to websocket server"}}"#
        );
        assert_eq!(
            server::expire("b", "a"),
            r#"{"type":"EXPIRE","src":"b","dst":"a"}"#
        );
        assert_eq!(
            server::relay(MessageType::Offer, "a", "b", Some(&json!({"sdp": "x"}))),
            r#"{"type":"OFFER","src":"a","dst":"b","payload":{"sdp":"x"}}"#
        );
        assert_eq!(
            server::relay(MessageType::Leave, "a", "b", None),
            r#"{"type":"LEAVE","src":"a","dst":"b"}"#
        );
    }

    #[test]
    fn extension_frames_have_the_documented_shape() {
        assert_eq!(
            server::peer_joined("n1"),
            r#"{"type":"PEER-JOINED","src":"n1"}"#
        );
        assert_eq!(
            server::peer_left("n1"),
            r#"{"type":"PEER-LEFT","src":"n1"}"#
        );
        assert_eq!(
            server::peers(&["a".into(), "b".into()]),
            r#"{"type":"PEERS","payload":["a","b"]}"#
        );
    }

    #[test]
    fn offer_with_dst_and_payload_parses_and_forged_src_is_ignored() {
        let m = parse_client_frame(
            r#"{"type":"OFFER","src":"mallory","dst":"b","payload":{"sdp":"x"}}"#,
            MAX,
        );
        assert_eq!(
            m,
            Ok(ClientMessage::Relay {
                kind: Relay::Offer,
                dst: "b".into(),
                payload: Some(json!({"sdp": "x"}))
            })
        );
    }

    #[test]
    fn heartbeat_parses() {
        assert_eq!(
            parse_client_frame(r#"{"type":"HEARTBEAT"}"#, MAX),
            Ok(ClientMessage::Heartbeat)
        );
    }

    #[test]
    fn leave_with_dst_is_relayed_and_without_dst_departs() {
        assert_eq!(
            parse_client_frame(r#"{"type":"LEAVE","dst":"b"}"#, MAX),
            Ok(ClientMessage::Relay {
                kind: Relay::Leave,
                dst: "b".into(),
                payload: None
            })
        );
        assert_eq!(
            parse_client_frame(r#"{"type":"LEAVE"}"#, MAX),
            Ok(ClientMessage::Depart)
        );
    }

    #[test]
    fn invalid_json_is_rejected() {
        assert!(matches!(
            parse_client_frame("{nope", MAX),
            Err(FrameError::InvalidJson(_))
        ));
        assert!(matches!(
            parse_client_frame("", MAX),
            Err(FrameError::InvalidJson(_))
        ));
    }

    #[test]
    fn non_objects_and_missing_type_are_rejected() {
        assert_eq!(
            parse_client_frame("[1,2]", MAX),
            Err(FrameError::NotAnObject)
        );
        assert_eq!(parse_client_frame("42", MAX), Err(FrameError::NotAnObject));
        assert_eq!(
            parse_client_frame(r#"{"dst":"b"}"#, MAX),
            Err(FrameError::MissingType)
        );
        assert_eq!(
            parse_client_frame(r#"{"type":7}"#, MAX),
            Err(FrameError::MissingType)
        );
    }

    #[test]
    fn unknown_and_server_only_types_are_rejected() {
        assert_eq!(
            parse_client_frame(r#"{"type":"PING"}"#, MAX),
            Err(FrameError::UnknownType("PING".into()))
        );
        assert_eq!(
            parse_client_frame(r#"{"type":"OPEN"}"#, MAX),
            Err(FrameError::UnknownType("OPEN".into()))
        );
        assert_eq!(
            parse_client_frame(r#"{"type":"PEER-JOINED","src":"x"}"#, MAX),
            Err(FrameError::UnknownType("PEER-JOINED".into()))
        );
    }

    #[test]
    fn unknown_type_echo_is_truncated() {
        let long = "X".repeat(10_000);
        let frame = format!(r#"{{"type":"{long}"}}"#);
        match parse_client_frame(&frame, MAX) {
            Err(e @ FrameError::UnknownType(_)) => assert!(e.to_string().len() < 200),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn relays_need_dst_and_payload() {
        assert_eq!(
            parse_client_frame(r#"{"type":"OFFER","payload":{}}"#, MAX),
            Err(FrameError::MissingField {
                kind: "OFFER",
                field: "dst"
            })
        );
        assert_eq!(
            parse_client_frame(r#"{"type":"CANDIDATE","dst":"b"}"#, MAX),
            Err(FrameError::MissingField {
                kind: "CANDIDATE",
                field: "payload"
            })
        );
        assert_eq!(
            parse_client_frame(r#"{"type":"EXPIRE"}"#, MAX),
            Err(FrameError::MissingField {
                kind: "EXPIRE",
                field: "dst"
            })
        );
    }

    #[test]
    fn malformed_dst_is_rejected() {
        for dst in [r#"5"#, r#""""#, r#""a\nb""#, r#"["b"]"#] {
            let frame = format!(r#"{{"type":"ANSWER","dst":{dst},"payload":{{}}}}"#);
            assert_eq!(
                parse_client_frame(&frame, MAX),
                Err(FrameError::InvalidField {
                    kind: "ANSWER",
                    field: "dst"
                }),
                "{frame}"
            );
        }
    }

    #[test]
    fn oversized_frame_is_rejected_before_parsing() {
        let big = format!(
            r#"{{"type":"OFFER","dst":"b","payload":"{}"}}"#,
            "x".repeat(2000)
        );
        assert_eq!(
            parse_client_frame(&big, 1024),
            Err(FrameError::TooLarge {
                size: big.len(),
                max: 1024
            })
        );
    }

    #[test]
    fn keys_follow_the_documented_alphabet() {
        assert!(is_valid_key("peerjs"));
        assert!(is_valid_key("cluster-1.a_b"));
        assert!(is_valid_key(&"k".repeat(64)));
        assert!(!is_valid_key(&"k".repeat(65)));
        assert!(!is_valid_key(""));
        assert!(!is_valid_key("a/b"));
        assert!(!is_valid_key("a b"));
        assert!(!is_valid_key("é"));
    }

    #[test]
    fn ids_accept_peerjs_ids_and_uuids_but_not_controls() {
        assert!(is_valid_id("node-3"));
        assert!(is_valid_id("my peer_1"));
        assert!(is_valid_id("0f8fad5b-d9cb-469f-a165-70867728950e"));
        assert!(!is_valid_id(""));
        assert!(!is_valid_id("a\u{0}b"));
        assert!(!is_valid_id("a\"b"));
        assert!(!is_valid_id(&"i".repeat(129)));
    }

    #[test]
    fn server_frames_parse_on_the_client_side() {
        assert_eq!(parse_server_frame(&server::open()), Ok(ServerMessage::Open));
        assert_eq!(
            parse_server_frame(&server::id_taken()),
            Ok(ServerMessage::IdTaken)
        );
        assert_eq!(
            parse_server_frame(&server::invalid_key()),
            Ok(ServerMessage::InvalidKey)
        );
        assert_eq!(
            parse_server_frame(&server::error(msg::INVALID_KEY)),
            Ok(ServerMessage::InvalidKey)
        );
        assert_eq!(
            parse_server_frame(&server::error("boom")),
            Ok(ServerMessage::Error("boom".into()))
        );
        assert_eq!(
            parse_server_frame(&server::expire("b", "a")),
            Ok(ServerMessage::Expire { peer: "b".into() })
        );
        assert_eq!(
            parse_server_frame(&server::relay(
                MessageType::Candidate,
                "a",
                "b",
                Some(&json!(1))
            )),
            Ok(ServerMessage::Relayed {
                kind: Relay::Candidate,
                src: "a".into(),
                payload: json!(1)
            })
        );
        assert_eq!(
            parse_server_frame(&server::peers(&["x".into()])),
            Ok(ServerMessage::Peers(vec!["x".into()]))
        );
        assert_eq!(
            parse_server_frame(r#"{"type":"SOMETHING-NEW"}"#),
            Ok(ServerMessage::Ignored("SOMETHING-NEW".into()))
        );
    }

    #[test]
    fn client_relay_omits_null_payload() {
        assert_eq!(
            client::relay(Relay::Leave, "b", &Value::Null),
            r#"{"type":"LEAVE","dst":"b"}"#
        );
        assert_eq!(
            client::relay(Relay::Answer, "b", &json!({"sdp": 1})),
            r#"{"type":"ANSWER","dst":"b","payload":{"sdp":1}}"#
        );
    }
}
