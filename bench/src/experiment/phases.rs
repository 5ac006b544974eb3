//! The phases of bringing a cluster up, from the nodes' own reports.
//!
//! A node says when its control socket began listening, when it joined
//! signaling and when each data channel opened, both as pushed events and in
//! its `status` (a cold start subscribes only once a node answers, by which
//! time those moments may have passed; the status keeps them). Nodes stamp
//! them on `CLOCK_MONOTONIC`, which the bench's `Instant` is on Linux and
//! which containers on the same kernel share, so they are placed on the
//! bench's clock exactly ([`node::clock::Stamp`]) and measured from the same
//! t0 as the up time. A moment before t0 (a warm start's launch, signaling
//! and mesh) has no phase time.

use std::collections::BTreeMap;
use std::time::Duration;

use node::clock::Stamp;
use node::control::protocol::{NodeEvent, Status};

/// One node's launch milestones, on the shared monotonic clock (ns).
#[derive(Clone, Debug, Default)]
struct Marks {
    launched_ns: Option<u64>,
    signaling_ns: Option<u64>,
    /// Open links: peer → when it opened.
    links: BTreeMap<String, u64>,
    /// Events stamped at or before this are older than the last status.
    since_ns: u64,
    /// That last status, for the start's breakdown.
    status: Option<Status>,
}

/// What the nodes of a run reported about their launch.
#[derive(Clone, Debug)]
pub struct Milestones {
    ids: Vec<String>,
    nodes: Vec<Marks>,
}

impl Milestones {
    /// Nothing reported yet by these nodes.
    pub fn new(ids: &[String]) -> Self {
        Self {
            ids: ids.to_vec(),
            nodes: vec![Marks::default(); ids.len()],
        }
    }

    /// Applies one event of node `i`, stamped `t_ns` on its clock.
    pub fn apply(&mut self, i: usize, t_ns: u64, event: &NodeEvent) {
        let Some(n) = self.nodes.get_mut(i) else {
            return;
        };
        if t_ns <= n.since_ns {
            return;
        }
        match event {
            NodeEvent::SignalingConnected => {
                n.signaling_ns.get_or_insert(t_ns);
            }
            NodeEvent::PeerUp { peer } => {
                n.links.insert(peer.clone(), t_ns);
            }
            NodeEvent::PeerDown { peer, .. } => {
                n.links.remove(peer);
            }
            _ => {}
        }
    }

    /// Replaces node `i`'s milestones with what its status says.
    pub fn resync(&mut self, i: usize, status: &Status) {
        let Some(n) = self.nodes.get_mut(i) else {
            return;
        };
        n.launched_ns = (status.launched_ns > 0).then_some(status.launched_ns);
        n.signaling_ns = status.signaling_ns;
        n.links = status.link_up_ns.clone();
        n.since_ns = n.since_ns.max(status.t_ns);
        n.status = Some(status.clone());
    }

    /// Each node's last status, in node order (`None` for a node never asked).
    pub fn statuses(&self) -> impl Iterator<Item = Option<&Status>> {
        self.nodes.iter().map(|n| n.status.as_ref())
    }

    /// When the last node's control socket began listening, once all have.
    fn launched_ns(&self) -> Option<u64> {
        latest(self.nodes.iter().map(|n| n.launched_ns))
    }

    /// When the last node joined signaling, once all have.
    fn signaling_ns(&self) -> Option<u64> {
        latest(self.nodes.iter().map(|n| n.signaling_ns))
    }

    /// When the last of the N(N-1)/2 links opened (at both ends), if all are open.
    fn mesh_ns(&self) -> Option<u64> {
        let ends = self.nodes.iter().enumerate().flat_map(|(i, n)| {
            self.ids
                .iter()
                .enumerate()
                .filter(move |&(j, _)| j != i)
                .map(move |(_, peer)| n.links.get(peer).copied())
        });
        latest(ends)
    }
}

/// The latest of these moments, if every one is known.
fn latest(mut moments: impl Iterator<Item = Option<u64>>) -> Option<u64> {
    moments.try_fold(0, |acc, m| m.map(|m| acc.max(m)))
}

/// How long after t0 each phase of an up ended.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Phases {
    /// Every node running and its control socket answering.
    pub launched: Option<Duration>,
    /// Every node connected to signaling.
    pub signaling: Option<Duration>,
    /// Every link open, if that happened before the cluster was up.
    pub mesh: Option<Duration>,
    /// The cluster up: the up time.
    pub raft: Option<Duration>,
}

impl Phases {
    /// The phases of an up timed from `t0` and done at `done`.
    pub fn between(t0: Stamp, done: std::time::Instant, marks: &Milestones) -> Self {
        let done_ns = t0.ns_of(done);
        let since_t0 = |ns: Option<u64>| {
            ns.and_then(|ns| ns.checked_sub(t0.ns))
                .map(Duration::from_nanos)
        };
        Self {
            launched: since_t0(marks.launched_ns()),
            signaling: since_t0(marks.signaling_ns()),
            mesh: since_t0(marks.mesh_ns().filter(|&m| m <= done_ns)),
            raft: Some(done.saturating_duration_since(t0.at)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("n{i}")).collect()
    }

    fn up(peer: &str) -> NodeEvent {
        NodeEvent::PeerUp { peer: peer.into() }
    }

    fn status(launched_ns: u64, signaling_ns: u64, links: &[(&str, u64)], t_ns: u64) -> Status {
        Status {
            launched_ns,
            signaling_ns: Some(signaling_ns),
            link_up_ns: links.iter().map(|&(p, t)| (p.to_string(), t)).collect(),
            t_ns,
            ..Status::default()
        }
    }

    /// A stamp at monotonic `ns` (its `Instant` is now; only differences matter).
    fn t0(ns: u64) -> Stamp {
        Stamp {
            at: std::time::Instant::now(),
            ns,
        }
    }

    #[test]
    fn phases_wait_for_the_last_node_and_the_last_link_end() {
        let mut m = Milestones::new(&ids(2));
        m.resync(0, &status(1_000, 3_000, &[("n1", 9_000)], 9_500));
        m.resync(1, &status(2_000, 4_000, &[], 9_500));
        let t = t0(500);
        let done = t.at + Duration::from_nanos(20_000);
        let p = Phases::between(t, done, &m);
        assert_eq!(p.launched, Some(Duration::from_nanos(1_500)));
        assert_eq!(p.signaling, Some(Duration::from_nanos(3_500)));
        assert_eq!(p.mesh, None, "n1 has not seen the link open");
        m.apply(1, 9_600, &up("n0"));
        let p = Phases::between(t, done, &m);
        assert_eq!(p.mesh, Some(Duration::from_nanos(9_100)));
        assert_eq!(p.raft, Some(Duration::from_nanos(20_000)));
    }

    #[test]
    fn a_mesh_completed_after_up_and_moments_before_t0_have_no_phase() {
        let mut m = Milestones::new(&ids(2));
        m.resync(0, &status(1_000, 3_000, &[("n1", 30_000)], 31_000));
        m.resync(1, &status(2_000, 4_000, &[("n0", 30_000)], 31_000));
        let t = t0(2_500);
        let p = Phases::between(t, t.at + Duration::from_nanos(10_000), &m);
        assert_eq!(p.mesh, None, "the mesh completed after up");
        assert_eq!(p.launched, None, "n1 launched before t0 (a warm start)");
        assert_eq!(p.signaling, Some(Duration::from_nanos(1_500)));
    }

    #[test]
    fn events_older_than_the_status_do_not_undo_it_and_a_closed_link_reopens_later() {
        let mut m = Milestones::new(&ids(2));
        m.resync(0, &status(1, 2, &[("n1", 5)], 10));
        m.resync(1, &status(1, 2, &[("n0", 5)], 10));
        m.apply(
            0,
            8,
            &NodeEvent::PeerDown {
                peer: "n1".into(),
                reason: "old".into(),
            },
        );
        assert_eq!(m.mesh_ns(), Some(5));
        m.apply(
            0,
            11,
            &NodeEvent::PeerDown {
                peer: "n1".into(),
                reason: "gone".into(),
            },
        );
        assert_eq!(m.mesh_ns(), None);
        m.apply(0, 12, &up("n1"));
        assert_eq!(m.mesh_ns(), Some(12));
        m.apply(0, 13, &NodeEvent::SignalingConnected);
        assert_eq!(m.signaling_ns(), Some(2), "the first connection counts");
    }
}
