//! Single-server membership changes (Raft dissertation §4.1).
//!
//! A change adds or removes one server. Its entry carries the whole resulting
//! member set and takes effect as soon as it is appended (on every node), so a
//! truncated change reverts to the previous membership entry in the log. The
//! leader accepts a change only when the previous one has committed *and* it
//! has committed an entry of its own term (the fix for the single-server bug
//! Ongaro reported in 2015); otherwise the request gets `PendingConfigChange`.
//! A leader removed by a change keeps leading until that entry commits, then
//! steps down.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::{ClusterId, EntryKind, LogIndex, NodeId, Raft, RaftError, Role, Storage};

/// The one server a change adds or removes.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Change {
    /// AddServer.
    Add(NodeId),
    /// RemoveServer.
    Remove(NodeId),
}

/// A membership entry: the change and the member set it results in.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MembershipChange {
    /// What changed.
    pub change: Change,
    /// All members once the change is in effect.
    pub members: BTreeSet<NodeId>,
    /// Set on the bootstrap entry (index 1) only: the identity of the cluster every log that
    /// holds this entry belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<ClusterId>,
}

impl MembershipChange {
    /// The node ids it names: the changed server, then every member.
    pub fn ids(&self) -> impl Iterator<Item = &NodeId> {
        let (Change::Add(id) | Change::Remove(id)) = &self.change;
        std::iter::once(id).chain(&self.members)
    }
}

/// The cluster identity an entry names: only the bootstrap entry (index 1) names one.
pub fn cluster_of(entry: &crate::Entry) -> Option<ClusterId> {
    match &entry.kind {
        EntryKind::Membership(MembershipChange { cluster, .. }) if entry.index == 1 => *cluster,
        _ => None,
    }
}

/// Why a membership change was refused.
#[derive(Debug, thiserror::Error)]
pub enum MembershipError {
    /// Only the leader changes membership.
    #[error("not the leader (leader: {leader_hint:?})")]
    NotLeader {
        /// The leader this node follows, if known.
        leader_hint: Option<NodeId>,
    },
    /// One change at a time: retry once the pending one commits.
    #[error("a membership change is still pending")]
    PendingConfigChange,
    /// The server is already a member.
    #[error("{0} is already a member")]
    AlreadyMember(NodeId),
    /// The server is not a member.
    #[error("{0} is not a member")]
    NotMember(NodeId),
    /// A cluster cannot have no members.
    #[error("cannot remove the last member")]
    LastMember,
    /// The entry could not be persisted.
    #[error(transparent)]
    Raft(#[from] RaftError),
}

impl<S: Storage> Raft<S> {
    /// Appends an AddServer entry for `id`; returns its index.
    pub fn add_server(&mut self, id: &str) -> Result<LogIndex, MembershipError> {
        self.check_can_change()?;
        if self.members.contains(id) {
            return Err(MembershipError::AlreadyMember(id.to_owned()));
        }
        let mut members = self.members.clone();
        members.insert(id.to_owned());
        self.append_change(Change::Add(id.to_owned()), members)
    }

    /// Appends a RemoveServer entry for `id`; returns its index.
    pub fn remove_server(&mut self, id: &str) -> Result<LogIndex, MembershipError> {
        self.check_can_change()?;
        if !self.members.contains(id) {
            return Err(MembershipError::NotMember(id.to_owned()));
        }
        if self.members.len() == 1 {
            return Err(MembershipError::LastMember);
        }
        let mut members = self.members.clone();
        members.remove(id);
        self.append_change(Change::Remove(id.to_owned()), members)
    }

    /// Whether a change was appended and has not committed yet, or this
    /// leader has not yet committed an entry of its term.
    pub fn config_change_pending(&self) -> bool {
        self.members_index > self.commit_index
            || self.log.term_at(self.commit_index) != Some(self.term)
    }

    fn check_can_change(&self) -> Result<(), MembershipError> {
        if self.role != Role::Leader {
            return Err(MembershipError::NotLeader {
                leader_hint: self.leader.clone(),
            });
        }
        if self.config_change_pending() {
            return Err(MembershipError::PendingConfigChange);
        }
        Ok(())
    }

    fn append_change(
        &mut self,
        change: Change,
        members: BTreeSet<NodeId>,
    ) -> Result<LogIndex, MembershipError> {
        let index = self.append_new(EntryKind::Membership(MembershipChange {
            change,
            members,
            cluster: None,
        }))?;
        self.maybe_commit()?;
        Ok(index)
    }

    /// The identity of the cluster this server's log belongs to: the one its first entry
    /// names. `None` while the log is empty (a new server, not yet contacted).
    pub fn cluster_id(&self) -> Option<ClusterId> {
        cluster_of(self.log.get(1)?)
    }

    /// Whether a message from a peer of cluster `theirs` may reach this core: not when both
    /// identities are known and differ. A server with an empty log takes the first leader that
    /// reaches it; from then on its first entry fixes its identity, so a log never holds
    /// entries of two clusters and a vote is never given across clusters.
    pub fn accepts_cluster(&self, theirs: Option<ClusterId>) -> bool {
        match (self.cluster_id(), theirs) {
            (Some(mine), Some(theirs)) => mine == theirs,
            _ => true,
        }
    }

    /// Starts the cluster: term 1, a one-member configuration, leadership.
    pub(super) fn bootstrap(&mut self) -> Result<(), RaftError> {
        self.term = self.term.max(1);
        self.voted_for = Some(self.cfg.id.clone());
        self.persist_hard_state()?;
        let members = BTreeSet::from([self.cfg.id.clone()]);
        let entry = crate::Entry {
            term: self.term,
            index: 1,
            kind: EntryKind::Membership(MembershipChange {
                change: Change::Add(self.cfg.id.clone()),
                members,
                cluster: Some(self.cfg.bootstrap_cluster_id),
            }),
        };
        self.append_entries_durably(vec![entry])?;
        self.become_leader()
    }
}
