//! Errors returned by the mesh.
//!
//! Every fallible input path of [`Mesh`](super::Mesh) — configuration, signaling payloads from
//! the network, sends from the Raft loop — reports through [`MeshError`] instead of panicking,
//! so a malformed frame from a remote peer can never take the node down.

use super::signal::SignalKind;

/// Why a mesh operation failed.
#[derive(Debug, thiserror::Error)]
pub enum MeshError {
    /// The [`MeshConfig`](super::MeshConfig) is inconsistent; the message says which field.
    #[error("invalid mesh configuration: {0}")]
    Config(String),

    /// A peer id was empty or equal to our own id, so no link can be made to it.
    #[error("invalid peer id {0:?}")]
    InvalidPeerId(String),

    /// [`Mesh::close`](super::Mesh::close) has run; the mesh accepts nothing any more.
    #[error("mesh is closed")]
    Closed,

    /// There is no open data channel to this peer (never connected, or it went down).
    #[error("peer {0:?} is not connected")]
    PeerNotConnected(String),

    /// The peer is not taking messages: its link's outbox is full. The message was dropped
    /// (Raft resends).
    #[error("peer {peer:?} is behind: {queued} bytes already queued")]
    PeerBehind {
        /// The peer.
        peer: String,
        /// Bytes waiting in its outbox.
        queued: usize,
    },

    /// An outgoing message is larger than `max_message_bytes`; the peer would drop it.
    #[error("message of {len} bytes exceeds the {max} byte limit")]
    MessageTooLarge {
        /// Size of the rejected message.
        len: usize,
        /// The configured `max_message_bytes`.
        max: usize,
    },

    /// A signaling payload could not be understood (bad JSON shape, bad SDP, bad candidate).
    #[error("malformed {kind:?} signal: {reason}")]
    BadSignal {
        /// Which signal carried the payload.
        kind: SignalKind,
        /// What was wrong with it.
        reason: String,
    },

    /// An ANSWER or CANDIDATE named a connection this mesh does not have (stale or forged).
    #[error("no connection {connection_id:?} with peer {peer:?}")]
    UnknownConnection {
        /// The signal's source.
        peer: String,
        /// The `connectionId` it named.
        connection_id: String,
    },

    /// The WebRTC stack refused an operation (SDP rejected, connection already closed, ...).
    #[error("webrtc: {0}")]
    WebRtc(#[from] webrtc::error::Error),
}
