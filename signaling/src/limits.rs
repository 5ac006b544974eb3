//! Resource limits of the signaling server.
//!
//! Every quantity a remote peer can make the server hold — bytes per frame,
//! peers, clusters, messages waiting for an absent peer, frames queued for a
//! slow reader — has a ceiling here, so one misbehaving client can never grow
//! the server's memory without bound or starve the others. The defaults suit
//! the benchmark (clusters of up to a few hundred nodes, a few thousand
//! clients in all); the `raftrtc signaling` command exposes each as a flag.

use std::time::Duration;

use crate::error::ServerError;

/// Ceilings and timeouts enforced by the server.
///
/// Why a plain struct with public fields: the CLI maps one flag to one field,
/// and tests shrink single limits to exercise them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest text frame accepted from a client, in bytes. A larger frame
    /// is answered with an `ERROR` frame; a frame more than four times larger
    /// is not even read into memory and the socket is closed after the error.
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
    /// How long a message for an absent peer is held before its sender gets
    /// `EXPIRE` (PeerJS `expire_timeout`, 5 s).
    pub expire_timeout: Duration,
    /// How long a socket may stay silent (no frame at all, heartbeats
    /// included) before it is dropped (PeerJS `alive_timeout`, 60 s).
    pub alive_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_frame_bytes: 64 * 1024,
            max_peers_per_cluster: 1024,
            max_clusters: 1024,
            max_connections: 10_000,
            max_pending_per_peer: 256,
            max_pending_total: 16_384,
            max_pending_bytes: 16 * 1024 * 1024,
            outbound_queue: 1024,
            expire_timeout: Duration::from_secs(5),
            alive_timeout: Duration::from_secs(60),
        }
    }
}

impl Limits {
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

    /// Size above which the WebSocket layer refuses to buffer a frame at all.
    pub(crate) fn hard_frame_bytes(&self) -> usize {
        self.max_frame_bytes.saturating_mul(4)
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
}
