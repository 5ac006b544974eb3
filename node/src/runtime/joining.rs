//! While a cluster grows, the leader's links come first.
//!
//! In a cold start every node comes up at once and, left alone, every pair starts its link at
//! once: N(N-1)/2 ICE, DTLS and SCTP handshakes sharing the machine's cores. Raft needs only
//! the leader's N-1 links to add the others; the links between followers matter only for the
//! next election. Measured on 2 cores at 21 nodes, all links at once kept both cores busy and
//! the leader's links waited behind the others'.
//!
//! So, while the cluster is still growing, a node that is not the leader holds back its
//! offers (the lower id of a pair offers; see [`crate::mesh`]). It still answers every offer,
//! so the leader reaches it. "Growing", as this node sees it: it is not a member yet, or a
//! peer present on signaling is not in its applied configuration. Once neither holds, or the node
//! leads, the held offers go out at once; a bound ([`bound`]) releases them whatever
//! happens, so no pair waits forever (a joiner whose leader has a higher id offers to it only
//! after the bound).
//!
//! A node not running Raft (paused: a warm start's mesh) never holds back, nor does one
//! restarted from a stored log (see `Node::defers_offers`).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use raftrtc_raft::{NodeId, Raft, Role, Storage};

/// Whether a node in this state holds back its offers: it runs Raft, does not lead, and the
/// cluster is still growing (it is no member, or a `present` peer is not one).
///
/// Membership is read from the *applied* configuration: a follower holds an appended but
/// uncommitted configuration a round trip before the leader has committed it and told
/// everyone. Releasing on the appended one started every follower link while the leader
/// still had to carry the last commit to the whole cluster (measured at 51 nodes: the last
/// 0.4 s of the up time).
pub fn defers_offers<S: Storage>(raft: Option<&Raft<S>>, present: &BTreeSet<NodeId>) -> bool {
    let Some(r) = raft else { return false };
    if r.role() == Role::Leader {
        return false;
    }
    let members = r.applied_members();
    !members.contains(r.id()) || present.iter().any(|p| !members.contains(p))
}

/// How long offers are held at most: four election timeouts plus 50 ms per peer present.
/// A cluster grows one member per committed change, so the time to grow is proportional to
/// its size: measured on 2 cores, a bound of four timeouts alone ran out before a 45- to
/// 51-node cold start had grown (at ET 250; from 41 nodes at ET 100), releasing every held
/// link at once and tripling the up time. Short enough that a joiner that must offer to its
/// leader itself (the leader has the higher id) is still added within a few timeouts.
pub fn bound(election_timeout: Duration, present: usize) -> Duration {
    let per_peer =
        Duration::from_millis(50).saturating_mul(u32::try_from(present).unwrap_or(u32::MAX));
    election_timeout.saturating_mul(4).saturating_add(per_peer)
}

/// The peers whose offers wait, and until when at the latest.
#[derive(Debug, Default)]
pub struct DeferredOffers {
    /// When the first offer was deferred; the bound runs from there.
    since: Option<Instant>,
    peers: Vec<String>,
}

impl DeferredOffers {
    /// Holds back the offer to `peer` (at most once per peer).
    pub fn defer(&mut self, peer: &str, now: Instant) {
        self.since.get_or_insert(now);
        if !self.peers.iter().any(|p| p == peer) {
            self.peers.push(peer.to_owned());
        }
    }

    /// When the held offers go out even if the node is still not a member.
    pub fn deadline(&self, bound: Duration) -> Option<Instant> {
        self.since
            .filter(|_| !self.peers.is_empty())
            .map(|s| s + bound)
    }

    /// The held peers, if the wait is over (`grown`: the node no longer defers, or the bound
    /// passed); empties the list.
    pub fn release(&mut self, grown: bool, now: Instant, bound: Duration) -> Vec<String> {
        match self.deadline(bound) {
            Some(deadline) if grown || now >= deadline => {
                self.since = None;
                std::mem::take(&mut self.peers)
            }
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use raftrtc_raft::{Config, MemStorage};
    use rand::SeedableRng;

    fn raft(bootstrap: bool) -> Raft<MemStorage> {
        let cfg = Config {
            bootstrap,
            ..Config::new("a")
        };
        let rng = Box::new(rand_chacha::ChaCha8Rng::seed_from_u64(1));
        Raft::new(cfg, MemStorage::default(), rng, Duration::ZERO).unwrap()
    }

    fn present(ids: &[&str]) -> BTreeSet<NodeId> {
        ids.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_joiner_defers_and_a_paused_node_or_the_leader_never_does() {
        let none = present(&[]);
        assert!(!defers_offers::<MemStorage>(None, &present(&["b"])));
        assert!(defers_offers(Some(&raft(false)), &none));
        let mut leader = raft(true);
        leader.tick(Duration::from_secs(10)).unwrap();
        assert_eq!(leader.role(), Role::Leader);
        assert!(!defers_offers(Some(&leader), &present(&["b", "c"])));
    }

    /// `b`, a follower of `a` in the configuration {a, b}.
    fn follower() -> Raft<MemStorage> {
        let mut leader = raft(true);
        leader.tick(Duration::from_secs(10)).unwrap();
        leader.add_server("b").unwrap();
        let rng = Box::new(rand_chacha::ChaCha8Rng::seed_from_u64(2));
        let mut b =
            Raft::new(Config::new("b"), MemStorage::default(), rng, Duration::ZERO).unwrap();
        let now = Duration::from_secs(10);
        // Exchange messages until both are quiet (a probe, its rejection, the entries...).
        for _ in 0..20 {
            for envelope in leader.take_output().messages {
                b.step(now, "a", envelope.message).unwrap();
            }
            for envelope in b.take_output().messages {
                leader.step(now, "b", envelope.message).unwrap();
            }
        }
        b
    }

    #[test]
    fn a_follower_defers_while_a_present_peer_is_not_a_member() {
        let b = follower();
        assert_eq!(b.role(), Role::Follower);
        assert!(b.members().contains("b"));
        assert!(!defers_offers(Some(&b), &present(&["a"])));
        assert!(defers_offers(Some(&b), &present(&["a", "c"])));
    }

    #[test]
    fn held_offers_go_out_on_membership_or_at_the_bound() {
        let bound = Duration::from_millis(250);
        let t = Instant::now();
        let mut held = DeferredOffers::default();
        assert_eq!(held.deadline(bound), None);
        held.defer("b", t);
        held.defer("b", t);
        held.defer("c", t + Duration::from_millis(10));
        assert_eq!(held.deadline(bound), Some(t + bound));
        assert!(held
            .release(false, t + Duration::from_millis(100), bound)
            .is_empty());
        assert_eq!(
            held.release(true, t + Duration::from_millis(100), bound),
            ["b", "c"]
        );
        assert_eq!(held.deadline(bound), None);
        held.defer("d", t + bound);
        assert_eq!(held.release(false, t + bound * 2, bound), ["d"]);
    }
}
