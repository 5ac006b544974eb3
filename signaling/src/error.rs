//! Error types of the crate.
//!
//! Three families, kept apart because their callers react differently:
//! [`FrameError`] is what a bad frame from a peer turns into (the server
//! answers it with an `ERROR` frame and carries on), [`ServerError`] is what
//! stops a server from starting or running, and [`ClientError`] is what a node
//! sees when talking to a signaling server fails.

use thiserror::Error;

/// Why a frame received from a peer was refused.
///
/// The `Display` text is sent back verbatim as the `msg` of an `ERROR` frame,
/// so it names the problem without echoing unbounded peer input.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FrameError {
    /// The frame is larger than the configured `max_frame_bytes`.
    #[error("frame too large: {size} bytes, limit is {max}")]
    TooLarge {
        /// Size of the refused frame.
        size: usize,
        /// Configured limit.
        max: usize,
    },
    /// A binary frame that is not UTF-8 text.
    #[error("binary frame is not UTF-8 JSON")]
    NotUtf8,
    /// The frame is not JSON at all.
    #[error("invalid JSON: {0}")]
    InvalidJson(String),
    /// The frame is JSON but not an object.
    #[error("frame must be a JSON object")]
    NotAnObject,
    /// The object has no string `type`.
    #[error("frame has no string field \"type\"")]
    MissingType,
    /// The `type` is not one this side accepts.
    #[error("unknown message type \"{0}\"")]
    UnknownType(String),
    /// A field the message type requires is absent.
    #[error("{kind} frame is missing field \"{field}\"")]
    MissingField {
        /// Message type of the frame.
        kind: &'static str,
        /// Name of the missing field.
        field: &'static str,
    },
    /// A field is present but malformed.
    #[error("{kind} frame has an invalid \"{field}\"")]
    InvalidField {
        /// Message type of the frame.
        kind: &'static str,
        /// Name of the malformed field.
        field: &'static str,
    },
}

/// Why a server could not start or stopped.
#[derive(Debug, Error)]
pub enum ServerError {
    /// A configuration value is out of range (see [`crate::Limits::validate`]).
    #[error("invalid server configuration: {0}")]
    InvalidConfig(String),
    /// Binding or serving the listening socket failed.
    #[error("signaling server I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The server task panicked or was cancelled.
    #[error("signaling server task failed: {0}")]
    Task(String),
}

/// Why a client operation failed.
#[derive(Debug, Error)]
pub enum ClientError {
    /// The configuration is unusable (bad id, key, durations...).
    #[error("invalid client configuration: {0}")]
    InvalidConfig(String),
    /// The server URL cannot be used.
    #[error("invalid signaling URL: {0}")]
    InvalidUrl(String),
    /// The id is connected already with another token.
    #[error("ID is taken")]
    IdTaken,
    /// The server does not accept this key (cluster name).
    #[error("invalid key")]
    InvalidKey,
    /// The server refused the connection with an `ERROR` frame.
    #[error("server refused the connection: {0}")]
    Rejected(String),
    /// TCP or WebSocket failure while connecting or sending.
    #[error("connection failed: {0}")]
    Connect(String),
    /// The server did not answer in time.
    #[error("timed out waiting for {0}")]
    Timeout(&'static str),
    /// The server broke the protocol (e.g. closed before `OPEN`).
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The client is between connections (server lost, reconnecting).
    #[error("not connected to the signaling server")]
    NotConnected,
    /// The client was closed or gave up reconnecting.
    #[error("client is closed")]
    Closed,
    /// A destination id that no server would accept.
    #[error("invalid destination id {0:?}")]
    InvalidDestination(String),
    /// An HTTP request got a non-200 answer.
    #[error("HTTP {status}: {body}")]
    Http {
        /// Status code.
        status: u16,
        /// Start of the body, for the message.
        body: String,
    },
    /// A JSON body could not be decoded.
    #[error("bad JSON from server: {0}")]
    Json(#[from] serde_json::Error),
    /// Socket I/O failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}
