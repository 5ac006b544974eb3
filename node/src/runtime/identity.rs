//! Which peers belong to this node's cluster.
//!
//! Why: two clusters can share one signaling key (a second `--first` started by mistake, two
//! benches on one server). Each cluster has an identity fixed at bootstrap and carried by the
//! first log entry ([`raftrtc_raft::Raft::cluster_id`]); every frame on a link names its
//! sender's identity (`wire::Frame`). This module keeps what the peers said:
//! - a `Hello` on every new link, so a peer is known before it can be made a member: the
//!   leader adds only peers that said hello with no identity or with ours;
//! - a `Refused` answer when we sent a peer a message of another cluster's identity, so the
//!   sender stops taking it for a member (and the leader removes it if it was added first);
//! - which present peer already has an identity, so `--first` refuses to bootstrap a second
//!   cluster beside a running one.

use std::collections::{BTreeMap, BTreeSet};

use raftrtc_raft::ClusterId;

/// What this node knows of its peers' clusters.
#[derive(Debug, Default)]
pub(super) struct Identities {
    /// Peers that said who they are on their current link, with the identity they named
    /// last (a peer says hello again when its identity changes).
    said: BTreeMap<String, Option<ClusterId>>,
    /// Peers that refused our messages: another cluster's, whatever they said.
    refused: BTreeSet<String>,
}

impl Identities {
    /// A peer said hello (or sent a Raft frame) naming `cluster`. Returns whether it is the
    /// first word from it on this link: then we say hello back, since ours may have been sent
    /// before its end of the link was reading, and lost.
    pub(super) fn heard(&mut self, peer: &str, cluster: Option<ClusterId>) -> bool {
        self.said.insert(peer.to_owned(), cluster).is_none()
    }

    /// A peer refused our messages: it belongs to another cluster.
    pub(super) fn refused_by(&mut self, peer: &str) {
        self.refused.insert(peer.to_owned());
    }

    /// The peer's link is gone: it says hello again on the next one.
    pub(super) fn forget(&mut self, peer: &str) {
        self.said.remove(peer);
    }

    /// Whether `peer` is known to be of another cluster than `mine`.
    fn is_foreign(&self, peer: &str, mine: Option<ClusterId>) -> bool {
        let other = matches!(
            (self.said.get(peer), mine),
            (Some(Some(theirs)), Some(mine)) if *theirs != mine
        );
        other || self.refused.contains(peer)
    }

    /// The connected peers that may be members of cluster `mine`: they said who they are, and
    /// are not of another cluster.
    pub(super) fn eligible(
        &self,
        connected: &BTreeSet<String>,
        mine: Option<ClusterId>,
    ) -> BTreeSet<String> {
        connected
            .iter()
            .filter(|p| self.said.contains_key(*p) && !self.is_foreign(p, mine))
            .cloned()
            .collect()
    }

    /// A peer that named a cluster identity: there is a running cluster on this key.
    pub(super) fn existing_cluster(&self) -> Option<(&str, ClusterId)> {
        self.said
            .iter()
            .find_map(|(peer, cluster)| cluster.map(|c| (peer.as_str(), c)))
    }

    /// What every peer that said hello named (hex, or `none`), for `status`.
    pub(super) fn said(&self) -> impl Iterator<Item = (&String, String)> {
        self.said.iter().map(|(p, c)| {
            (
                p,
                c.map_or_else(|| "none".to_string(), |c| format!("{c:016x}")),
            )
        })
    }

    /// Peers known to be of another cluster than `mine`, for `status`.
    pub(super) fn foreign(&self, mine: Option<ClusterId>) -> Vec<String> {
        let mut peers: BTreeSet<&String> = self.refused.iter().collect();
        peers.extend(self.said.keys().filter(|p| self.is_foreign(p, mine)));
        peers.into_iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(peers: &[&str]) -> BTreeSet<String> {
        peers.iter().map(|p| p.to_string()).collect()
    }

    #[test]
    fn only_peers_that_said_hello_and_are_not_foreign_may_be_members() {
        let mut ids = Identities::default();
        let connected = set(&["a", "b", "c", "d"]);
        ids.heard("a", None);
        ids.heard("b", Some(1));
        ids.heard("c", Some(2));
        assert_eq!(ids.eligible(&connected, Some(1)), set(&["a", "b"]));
        ids.refused_by("a");
        assert_eq!(ids.eligible(&connected, Some(1)), set(&["b"]));
        assert_eq!(ids.foreign(Some(1)), ["a", "c"]);
    }

    #[test]
    fn who_is_foreign_follows_our_identity_as_it_is_fixed() {
        let mut ids = Identities::default();
        ids.heard("a", Some(9));
        assert_eq!(ids.eligible(&set(&["a"]), None), set(&["a"]));
        assert_eq!(ids.existing_cluster(), Some(("a", 9)));
        assert!(
            ids.eligible(&set(&["a"]), Some(8)).is_empty(),
            "we bootstrapped another"
        );
        assert_eq!(ids.foreign(Some(8)), ["a"]);
    }

    #[test]
    fn only_the_first_word_on_a_link_is_answered() {
        let mut ids = Identities::default();
        assert!(ids.heard("a", None));
        assert!(
            !ids.heard("a", Some(3)),
            "a changed identity is news, not a new link"
        );
        ids.forget("a");
        assert!(ids.heard("a", Some(3)));
    }

    #[test]
    fn a_lost_link_must_say_hello_again() {
        let mut ids = Identities::default();
        ids.heard("a", None);
        ids.forget("a");
        assert!(ids.eligible(&set(&["a"]), None).is_empty());
        assert_eq!(ids.existing_cluster(), None);
    }
}
