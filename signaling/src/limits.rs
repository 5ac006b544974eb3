//! Resource limits of the signaling server.
//!
//! Every quantity a remote peer can make the server hold — bytes per
//! message, peers, clusters, messages waiting for an absent peer, frames and
//! bytes queued for a slow reader — has a ceiling here, so one misbehaving
//! client can never grow the server's memory without bound, and a slow one
//! never holds up the others. (The hold limits for absent peers are shared:
//! a client that keeps them full makes others' held messages expire at
//! once.) The defaults suit
//! the benchmark (clusters of up to a few hundred nodes, a few thousand
//! clients in all); the `raftrtc signaling` command exposes the ones an
//! operator tunes as flags.

use std::time::Duration;

use crate::error::ServerError;
use crate::protocol::MAX_ID_BYTES;

/// How much a relayed payload can grow when the server re-encodes it: JSON
/// numbers are printed in full, so `1e15` (4 bytes) comes out as
/// `1000000000000000.0` (18 bytes).
const REENCODING_GROWTH: usize = 5;

/// Ceilings and timeouts enforced by the server.
///
/// Why a plain struct with public fields: the CLI maps one flag to one field,
/// and tests shrink single limits to exercise them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest message accepted from a client, in payload bytes (fragments
    /// of one message count together). A larger one, of any size, is
    /// discarded as it arrives, never held in memory, and answered with an
    /// `ERROR` frame; the session goes on.
    pub max_frame_bytes: usize,
    /// Most peers connected at once in one cluster (one PeerJS key).
    pub max_peers_per_cluster: usize,
    /// Most clusters alive at once.
    pub max_clusters: usize,
    /// Most peers connected at once over all clusters (PeerJS's
    /// `concurrent_limit`).
    pub max_connections: usize,
    /// Most messages held for one absent destination id.
    pub max_pending_per_peer: usize,
    /// Most messages held for absent destinations over the whole server.
    pub max_pending_total: usize,
    /// Most bytes of held messages over the whole server.
    pub max_pending_bytes: usize,
    /// Frames queued for a client that does not read fast enough; a client
    /// whose queue is full is disconnected rather than buffered without end.
    pub outbound_queue: usize,
    /// Bytes of frames queued for one client, bounded like
    /// [`Limits::outbound_queue`]: an empty queue takes one frame of any
    /// size, a frame that would take a non-empty queue past this bound
    /// disconnects the client.
    pub outbound_queue_bytes: usize,
    /// How long a message for an absent peer is held before its sender gets
    /// `EXPIRE` (PeerJS `expire_timeout`, 5 s).
    pub expire_timeout: Duration,
    /// How long a socket may stay silent (no frame at all, heartbeats
    /// included) before it is dropped (PeerJS `alive_timeout`, 60 s).
    pub alive_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl Limits {
    /// The defaults, as a constant so that command-line flags can name them.
    pub const DEFAULT: Limits = Limits {
        max_frame_bytes: 64 * 1024,
        max_peers_per_cluster: 1024,
        max_clusters: 1024,
        max_connections: 10_000,
        max_pending_per_peer: 256,
        max_pending_total: 16_384,
        max_pending_bytes: 16 * 1024 * 1024,
        outbound_queue: 1024,
        outbound_queue_bytes: 4 * 1024 * 1024,
        expire_timeout: Duration::from_secs(5),
        alive_timeout: Duration::from_secs(60),
    };

    /// Smallest frame limit that still fits an `OFFER` with a typical SDP.
    pub const MIN_FRAME_BYTES: usize = 1024;

    /// Rejects limits that would make the server useless or spin (zero
    /// counts, zero timeouts), so a typo in a flag fails at startup with a
    /// clear message instead of refusing every peer later.
    pub fn validate(&self) -> Result<(), ServerError> {
        let counts = [
            ("max_peers_per_cluster", self.max_peers_per_cluster),
            ("max_clusters", self.max_clusters),
            ("max_connections", self.max_connections),
            ("max_pending_per_peer", self.max_pending_per_peer),
            ("max_pending_total", self.max_pending_total),
            ("max_pending_bytes", self.max_pending_bytes),
            ("outbound_queue", self.outbound_queue),
            ("outbound_queue_bytes", self.outbound_queue_bytes),
        ];
        for (name, value) in counts {
            if value == 0 {
                return Err(ServerError::InvalidConfig(format!(
                    "{name} must be at least 1"
                )));
            }
        }
        if self.max_frame_bytes < Self::MIN_FRAME_BYTES {
            return Err(ServerError::InvalidConfig(format!(
                "max_frame_bytes must be at least {}",
                Self::MIN_FRAME_BYTES
            )));
        }
        if self.max_frame_bytes > 64 * 1024 * 1024 {
            return Err(ServerError::InvalidConfig(
                "max_frame_bytes must be at most 64 MiB".into(),
            ));
        }
        if self.expire_timeout.is_zero() {
            return Err(ServerError::InvalidConfig(
                "expire_timeout must be positive".into(),
            ));
        }
        if self.alive_timeout.is_zero() {
            return Err(ServerError::InvalidConfig(
                "alive_timeout must be positive".into(),
            ));
        }
        Ok(())
    }

    /// Upper bound of one frame the server writes: a relayed message of
    /// [`Limits::max_frame_bytes`] after re-encoding, with ids stamped, or a
    /// `PEERS` snapshot of a full cluster.
    pub(crate) fn max_outbound_frame_bytes(&self) -> usize {
        let relay = self
            .max_frame_bytes
            .saturating_mul(REENCODING_GROWTH)
            .saturating_add(4 * MAX_ID_BYTES);
        let snapshot = self
            .max_peers_per_cluster
            .saturating_mul(MAX_ID_BYTES + 3)
            .saturating_add(64);
        relay.max(snapshot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert!(Limits::default().validate().is_ok());
    }

    #[test]
    fn zero_counts_and_timeouts_are_rejected() {
        let mut l = Limits {
            max_clusters: 0,
            ..Limits::default()
        };
        assert!(l.validate().is_err());
        l = Limits {
            expire_timeout: Duration::ZERO,
            ..Limits::default()
        };
        assert!(l.validate().is_err());
        l = Limits {
            max_frame_bytes: 10,
            ..Limits::default()
        };
        assert!(l.validate().is_err());
    }

    #[test]
    fn the_outbound_frame_bound_covers_the_worst_reencoding_and_a_full_snapshot() {
        let limits = Limits {
            max_frame_bytes: Limits::MIN_FRAME_BYTES,
            max_peers_per_cluster: 16,
            ..Limits::default()
        };
        // The largest accepted OFFER whose payload grows most when re-encoded.
        let dst = "d".repeat(MAX_ID_BYTES);
        let head = format!(r#"{{"type":"OFFER","dst":"{dst}","payload":["#);
        let numbers = (limits.max_frame_bytes - head.len() - 2) / 5;
        let text = format!("{head}{}1]}}", "1e15,".repeat(numbers));
        assert!(text.len() <= limits.max_frame_bytes);
        let parsed = crate::protocol::parse_client_frame(&text, limits.max_frame_bytes);
        let Ok(crate::protocol::ClientMessage::Relay { payload, .. }) = parsed else {
            panic!("not a relay: {parsed:?}");
        };
        let src = "s".repeat(MAX_ID_BYTES);
        let out = crate::protocol::server::relay(
            crate::protocol::MessageType::Offer,
            &src,
            &dst,
            payload.as_ref(),
        );
        assert!(
            out.len() > 3 * text.len(),
            "{} vs {}",
            out.len(),
            text.len()
        );
        assert!(out.len() <= limits.max_outbound_frame_bytes());

        let crowded = Limits {
            max_peers_per_cluster: 1024,
            ..limits
        };
        let ids: Vec<String> = (0..1024).map(|i| format!("{i:0>128}")).collect();
        let snapshot = crate::protocol::server::peers(&ids);
        assert!(snapshot.len() > limits.max_outbound_frame_bytes());
        assert!(snapshot.len() <= crowded.max_outbound_frame_bytes());
    }
}
