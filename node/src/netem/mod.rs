//! Network conditions on a node's own WebRTC datagrams: delay, jitter, loss, bursts,
//! duplication, reordering, a rate limit and partitions.
//!
//! # Where they act, and why there
//!
//! Kernel netem is not available on the machines raftrtc runs on (its qdisc is missing here,
//! and containers can rarely load it). So each node shapes what it sends, per destination
//! peer, in the UDP socket under its WebRTC stack (`socket.rs`): below ICE, DTLS and SCTP, so
//! that the real stacks see real effects (SCTP retransmits, ICE consent fails and recovers)
//! and the application sees nothing but a worse network. Only egress is shaped: every node
//! applies the spec to what it sends, so a rule on a link acts in both directions because
//! both ends apply it.
//!
//! The spec (`spec.rs`) is what `--net` and the control socket's `set_net` take; the
//! decisions per datagram (`shaper.rs`) are sans-IO and seeded. A perfect link (no condition)
//! passes each datagram straight to the real socket after one check.

mod activity;
mod shaper;
mod socket;
mod spec;
mod timer_grid;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

pub use shaper::{Plan, Shaper};
pub use socket::{ShapedRuntime, ShapedSocket};
pub use spec::{Burst, Conditions, JitterDist, NetSpec, NetSpecText, Scope, SpecError};
pub use timer_grid::quiet_step_for;

/// A node's network conditions, shared by its links' sockets and changed live.
#[derive(Debug)]
pub struct NetConditions {
    local: String,
    spec: RwLock<Arc<NetSpec>>,
    /// Bumped on every change, so a socket re-reads its conditions only then.
    version: AtomicU64,
    seed: u64,
}

impl NetConditions {
    /// The conditions `spec` sets for node `local`'s links; `seed` makes the draws repeatable.
    pub fn new(local: &str, spec: NetSpec, seed: u64) -> Self {
        Self {
            local: local.to_owned(),
            spec: RwLock::new(Arc::new(spec)),
            version: AtomicU64::new(0),
            seed,
        }
    }

    /// The spec in force.
    pub fn spec(&self) -> Arc<NetSpec> {
        self.spec
            .read()
            .map_or_else(|e| e.into_inner().clone(), |s| s.clone())
    }

    /// Puts `spec` in force for every link, from the next datagram on.
    pub fn set(&self, spec: NetSpec) {
        match self.spec.write() {
            Ok(mut s) => *s = Arc::new(spec),
            Err(e) => *e.into_inner() = Arc::new(spec),
        }
        self.version.fetch_add(1, Ordering::AcqRel);
    }

    /// How many changes were made.
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    /// What this node's sends to `peer` get, with the version it was read at.
    pub fn for_peer(&self, peer: &str) -> (u64, Conditions) {
        let version = self.version();
        (version, self.spec().conditions(&self.local, peer))
    }

    /// The RNG seed of the link to `peer`: distinct per link, fixed per run.
    pub fn seed_for(&self, peer: &str) -> u64 {
        peer.bytes()
            .fold(self.seed ^ 0x9e37_79b9_7f4a_7c15, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_change_is_seen_by_version_and_per_peer() {
        let net = NetConditions::new("n0", "n1:down".parse().unwrap(), 1);
        let (v0, c) = net.for_peer("n1");
        assert!(c.down);
        assert!(!net.for_peer("n2").1.down);
        net.set(NetSpec::none());
        let (v1, c) = net.for_peer("n1");
        assert!(v1 > v0 && !c.down);
        assert_eq!(net.spec().to_string(), "none");
        assert_ne!(net.seed_for("n1"), net.seed_for("n2"));
    }
}
