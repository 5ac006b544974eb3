//! What the bench believes each node's state is, built from pushed events.
//!
//! Why track state instead of polling: the experiments time the moment a
//! condition became true, which is the arrival of the event that made it
//! true. A status snapshot can re-anchor the view ([`Tracker::resync`]);
//! events the node emitted before that snapshot are then ignored, using the
//! node's own timestamps, so a stale event never overwrites newer state.

use std::collections::BTreeSet;

use node::control::protocol::{NodeEvent, Status};
use raftrtc_raft::{Event, Role};

/// The bench's view of one node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeView {
    /// The node's id.
    pub id: String,
    /// Not killed by the bench.
    pub alive: bool,
    /// Current role, once known.
    pub role: Option<Role>,
    /// Current term.
    pub term: u64,
    /// The leader it follows.
    pub leader: Option<String>,
    /// Members of the latest applied configuration.
    pub applied_members: BTreeSet<String>,
    /// Chat lines applied.
    pub chat_len: u64,
    /// Events stamped at or before this (node clock, ns) are older than the
    /// view and ignored.
    pub since_ns: u64,
}

impl NodeView {
    /// A live node of which nothing is known yet but that events stamped up to `since_ns`
    /// are older than it.
    fn unknown(id: &str, since_ns: u64) -> Self {
        NodeView {
            id: id.to_owned(),
            alive: true,
            role: None,
            term: 0,
            leader: None,
            applied_members: BTreeSet::new(),
            chat_len: 0,
            since_ns,
        }
    }
}

/// The views of every node of a run, in launch order.
#[derive(Clone, Debug)]
pub struct Tracker {
    nodes: Vec<NodeView>,
}

impl Tracker {
    /// All nodes alive, nothing known yet.
    pub fn new(ids: &[String]) -> Self {
        let nodes = ids.iter().map(|id| NodeView::unknown(id, 0)).collect();
        Self { nodes }
    }

    /// Node `i`'s view.
    pub fn node(&self, i: usize) -> Option<&NodeView> {
        self.nodes.get(i)
    }

    /// Indices of the nodes not killed.
    pub fn live(&self) -> impl Iterator<Item = usize> + '_ {
        self.nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.alive)
            .map(|(i, _)| i)
    }

    /// Marks node `i` killed: it no longer counts, and its events are
    /// ignored.
    pub fn mark_dead(&mut self, i: usize) {
        if let Some(n) = self.nodes.get_mut(i) {
            n.alive = false;
        }
    }

    /// Node `i` was restarted: a new process, whose state is known only from its own
    /// events (its stamps are later than anything the old one sent).
    pub fn revive(&mut self, i: usize) {
        if let Some(n) = self.nodes.get_mut(i) {
            *n = NodeView::unknown(&n.id, n.since_ns);
        }
    }

    /// Whether the nodes `among` all follow one leader of theirs elected after `term`:
    /// a leader among them with a higher term, and every other one of them following it
    /// in that term. What "the others have a new leader" means while one node is paused
    /// or cut off.
    pub fn new_leader_among(&self, among: &[usize], term: u64) -> bool {
        let leader = among
            .iter()
            .map(|&i| &self.nodes[i])
            .find(|n| n.alive && n.role == Some(Role::Leader) && n.term > term);
        let Some(leader) = leader else {
            return false;
        };
        among.iter().map(|&i| &self.nodes[i]).all(|n| {
            n.id == leader.id
                || (n.role == Some(Role::Follower)
                    && n.term == leader.term
                    && n.leader.as_deref() == Some(leader.id.as_str()))
        })
    }

    /// Applies one event of node `i` stamped `t_ns` on the node's clock.
    pub fn apply(&mut self, i: usize, t_ns: u64, event: &NodeEvent) {
        let Some(n) = self.nodes.get_mut(i) else {
            return;
        };
        if !n.alive || t_ns <= n.since_ns {
            return;
        }
        match event {
            NodeEvent::Core(Event::RoleChanged { role, term }) => {
                n.role = Some(*role);
                n.term = *term;
                if *role == Role::Leader {
                    n.leader = Some(n.id.clone());
                }
            }
            NodeEvent::Core(Event::TermChanged { term }) => n.term = *term,
            NodeEvent::Core(Event::LeaderChanged { leader, term }) => {
                n.leader.clone_from(leader);
                n.term = *term;
            }
            NodeEvent::Core(Event::ConfigurationApplied { members, .. }) => {
                n.applied_members = members.iter().cloned().collect();
            }
            NodeEvent::EntryApplied { chat_len, .. } => n.chat_len = *chat_len,
            // A started node is a follower until told otherwise; nodes do
            // not announce that first role.
            NodeEvent::Started => {
                n.role.get_or_insert(Role::Follower);
            }
            // Nodes send applied entries as `EntryApplied` with the chat
            // length, never the core's own event; a lag is the session's to
            // recover from (it resyncs from `status`); launch milestones are
            // `phases.rs`'s.
            NodeEvent::Core(Event::EntryApplied { .. })
            | NodeEvent::SignalingConnected
            | NodeEvent::PeerUp { .. }
            | NodeEvent::PeerDown { .. }
            | NodeEvent::Lagged { .. } => {}
        }
    }

    /// Replaces node `i`'s view with a status snapshot.
    pub fn resync(&mut self, i: usize, status: &Status) {
        let Some(n) = self.nodes.get_mut(i) else {
            return;
        };
        n.role = status.role;
        n.term = status.term;
        n.leader.clone_from(&status.leader);
        n.applied_members = status.applied_members.iter().cloned().collect();
        n.chat_len = status.chat_len;
        n.since_ns = n.since_ns.max(status.t_ns);
    }

    /// The one live leader, if exactly one live node believes it leads.
    pub fn leader(&self) -> Option<usize> {
        let mut leaders = self
            .live()
            .filter(|&i| self.nodes[i].role == Some(Role::Leader));
        match (leaders.next(), leaders.next()) {
            (Some(i), None) => Some(i),
            _ => None,
        }
    }

    /// Indices of live followers.
    pub fn followers(&self) -> Vec<usize> {
        self.live()
            .filter(|&i| self.nodes[i].role == Some(Role::Follower))
            .collect()
    }

    /// The experiments' "done": exactly one live leader and every live
    /// node's applied configuration is exactly the live nodes. With
    /// `strict`, also no (pre-)candidate: every other node is a follower
    /// (the definition of *up*).
    pub fn converged(&self, strict: bool) -> bool {
        if self.leader().is_none() {
            return false;
        }
        let live: BTreeSet<&str> = self.live().map(|i| self.nodes[i].id.as_str()).collect();
        let configured = self.live().all(|i| {
            let members = &self.nodes[i].applied_members;
            members.len() == live.len() && members.iter().all(|m| live.contains(m.as_str()))
        });
        let roles_settled = !strict
            || self
                .live()
                .all(|i| matches!(self.nodes[i].role, Some(Role::Leader | Role::Follower)));
        configured && roles_settled
    }

    /// Whether every live node applied at least `lines` chat lines.
    pub fn all_applied(&self, lines: u64) -> bool {
        self.live().all(|i| self.nodes[i].chat_len >= lines)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_leader_among_the_others_needs_a_higher_term_and_all_of_them_following() {
        let mut t = Tracker::new(&ids(4));
        // n0 led in term 1 and is paused; n1..n3 are the others.
        t.apply(0, 1, &role(Role::Leader, 1));
        let others = [1, 2, 3];
        assert!(!t.new_leader_among(&others, 1));
        t.apply(1, 2, &role(Role::Leader, 2));
        t.apply(2, 2, &leader("n1", 2));
        t.apply(2, 3, &role(Role::Follower, 2));
        assert!(!t.new_leader_among(&others, 1), "n3 does not follow yet");
        t.apply(3, 2, &role(Role::Follower, 2));
        t.apply(3, 3, &leader("n1", 2));
        assert!(t.new_leader_among(&others, 1));
        assert!(!t.new_leader_among(&others, 2), "not newer than term 2");
    }

    #[test]
    fn a_revived_node_is_live_again_and_known_only_from_its_new_events() {
        let mut t = Tracker::new(&ids(3));
        t.apply(1, 5, &role(Role::Leader, 3));
        t.mark_dead(1);
        assert_eq!(t.live().count(), 2);
        t.revive(1);
        assert_eq!(t.live().count(), 3);
        assert_eq!(t.node(1).unwrap().role, None);
        t.apply(1, 9, &role(Role::Follower, 3));
        assert_eq!(t.node(1).unwrap().role, Some(Role::Follower));
    }

    fn ids(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("n{i}")).collect()
    }

    fn role(role: Role, term: u64) -> NodeEvent {
        NodeEvent::Core(Event::RoleChanged { role, term })
    }

    fn leader(id: &str, term: u64) -> NodeEvent {
        NodeEvent::Core(Event::LeaderChanged {
            leader: Some(id.to_owned()),
            term,
        })
    }

    fn config(members: &[&str]) -> NodeEvent {
        NodeEvent::Core(Event::ConfigurationApplied {
            index: 1,
            members: members.iter().map(|s| s.to_string()).collect(),
        })
    }

    #[test]
    fn up_needs_one_leader_followers_and_full_configurations() {
        let mut t = Tracker::new(&ids(3));
        assert!(!t.converged(true));
        t.apply(0, 1, &role(Role::Leader, 1));
        t.apply(1, 1, &role(Role::Follower, 1));
        t.apply(2, 1, &role(Role::Candidate, 1));
        for i in 0..3 {
            t.apply(i, 2, &config(&["n0", "n1", "n2"]));
        }
        assert!(!t.converged(true), "a candidate is left");
        assert!(t.converged(false));
        t.apply(2, 3, &role(Role::Follower, 1));
        assert!(t.converged(true));
        assert_eq!(t.leader(), Some(0));
        assert_eq!(t.followers(), vec![1, 2]);
        t.apply(1, 4, &config(&["n0", "n1"]));
        assert!(!t.converged(true));
    }

    #[test]
    fn a_started_node_is_a_follower_until_it_says_otherwise() {
        let mut t = Tracker::new(&ids(2));
        t.apply(0, 1, &NodeEvent::Started);
        t.apply(0, 2, &role(Role::Leader, 1));
        t.apply(1, 1, &NodeEvent::Started);
        t.apply(1, 2, &NodeEvent::Core(Event::TermChanged { term: 1 }));
        for i in 0..2 {
            t.apply(i, 3, &config(&["n0", "n1"]));
        }
        assert_eq!(t.node(1).unwrap().role, Some(Role::Follower));
        assert!(t.converged(true));
    }

    #[test]
    fn two_leaders_are_not_up() {
        let mut t = Tracker::new(&ids(2));
        t.apply(0, 1, &role(Role::Leader, 1));
        t.apply(1, 1, &role(Role::Leader, 2));
        t.apply(0, 2, &config(&["n0", "n1"]));
        t.apply(1, 2, &config(&["n0", "n1"]));
        assert_eq!(t.leader(), None);
        assert!(!t.converged(false));
    }

    #[test]
    fn after_a_kill_only_survivors_count() {
        let mut t = Tracker::new(&ids(3));
        t.apply(0, 1, &role(Role::Leader, 1));
        t.mark_dead(0);
        t.apply(0, 2, &role(Role::Leader, 1));
        assert_eq!(t.leader(), None);
        t.apply(1, 1, &role(Role::Leader, 2));
        t.apply(2, 1, &role(Role::Follower, 2));
        t.apply(1, 2, &config(&["n0", "n1", "n2"]));
        t.apply(2, 2, &config(&["n0", "n1", "n2"]));
        assert!(!t.converged(false), "the dead node is still a member");
        t.apply(1, 3, &config(&["n1", "n2"]));
        t.apply(2, 3, &config(&["n2", "n1"]));
        assert!(t.converged(false));
        assert_eq!(t.live().collect::<Vec<_>>(), vec![1, 2]);
    }

    #[test]
    fn events_older_than_a_snapshot_are_ignored() {
        let mut t = Tracker::new(&ids(1));
        let status = Status {
            id: "n0".into(),
            role: Some(Role::Leader),
            term: 3,
            applied_members: vec!["n0".into()],
            chat_len: 5,
            t_ns: 100,
            ..Status::default()
        };
        t.resync(0, &status);
        t.apply(0, 90, &role(Role::Follower, 2));
        assert_eq!(t.node(0).unwrap().role, Some(Role::Leader));
        t.apply(
            0,
            101,
            &NodeEvent::EntryApplied {
                index: 9,
                term: 3,
                chat_len: 6,
            },
        );
        assert!(t.all_applied(6));
        assert!(!t.all_applied(7));
    }
}
