//! Membership driven by presence, as Raft.js did it.
//!
//! The leader compares the peers it has an open data channel to with the
//! configuration, and asks the core for one change at a time: additions
//! first (so a cluster grows before it shrinks), then removals of members it
//! has lost. `PendingConfigChange` simply means "later": the next check comes
//! on the next presence or configuration event, or poll tick.

use std::collections::BTreeSet;

use raftrtc_raft::{MembershipError, NodeId, Raft, Role, Storage};

/// What the driver asked for, for logging.
#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    /// Nothing to do (or not the leader, or a change is pending).
    Idle,
    /// Asked to add this server.
    Add(NodeId),
    /// Asked to remove this server.
    Remove(NodeId),
}

/// Whether this node may make a change now: it leads and none is pending. Cheap, so callers
/// can skip computing the connected set on every message otherwise.
pub fn may_change<S: Storage>(raft: &Raft<S>) -> bool {
    raft.role() == Role::Leader && !raft.config_change_pending()
}

/// The next change the leader should make, if any.
pub fn next_change<S: Storage>(raft: &Raft<S>, connected: &BTreeSet<NodeId>) -> Decision {
    if !may_change(raft) {
        return Decision::Idle;
    }
    let members = raft.members();
    if let Some(new) = connected.iter().find(|p| !members.contains(*p)) {
        return Decision::Add(new.clone());
    }
    if let Some(gone) = members
        .iter()
        .find(|m| **m != raft.id() && !connected.contains(*m))
    {
        return Decision::Remove(gone.clone());
    }
    Decision::Idle
}

/// Applies [`next_change`]; returns what was asked.
pub fn drive<S: Storage>(raft: &mut Raft<S>, connected: &BTreeSet<NodeId>) -> Decision {
    let decision = next_change(raft, connected);
    let result = match &decision {
        Decision::Idle => return decision,
        Decision::Add(id) => raft.add_server(id),
        Decision::Remove(id) => raft.remove_server(id),
    };
    match result {
        Ok(_) => decision,
        Err(MembershipError::PendingConfigChange) => Decision::Idle,
        Err(e) => {
            tracing::warn!("membership change {decision:?} refused: {e}");
            Decision::Idle
        }
    }
}

/// Whether a change is in flight (the poll runs twice as fast then).
pub fn change_pending<S: Storage>(raft: &Raft<S>) -> bool {
    raft.role() == Role::Leader && raft.config_change_pending()
}

#[cfg(test)]
mod tests {
    use super::*;
    use raftrtc_raft::{Config, MemStorage};
    use rand::SeedableRng;
    use std::time::Duration;

    fn leader() -> Raft<MemStorage> {
        let cfg = Config {
            bootstrap: true,
            ..Config::new("a")
        };
        let rng = Box::new(rand_chacha::ChaCha8Rng::seed_from_u64(1));
        Raft::new(cfg, MemStorage::default(), rng, Duration::ZERO).unwrap()
    }

    fn set(ids: &[&str]) -> BTreeSet<NodeId> {
        ids.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn additions_come_before_removals_and_one_at_a_time() {
        let mut r = leader();
        assert_eq!(drive(&mut r, &set(&["b", "c"])), Decision::Add("b".into()));
        // b has not acknowledged: the change is pending, nothing more happens.
        assert_eq!(drive(&mut r, &set(&["b", "c"])), Decision::Idle);
        assert!(change_pending(&r));
    }

    #[test]
    fn a_lost_member_is_removed_when_nothing_is_to_be_added() {
        let r = leader();
        assert_eq!(next_change(&r, &set(&[])), Decision::Idle);
        // A one-member cluster has nobody else to remove.
        assert_eq!(next_change(&r, &set(&["a"])), Decision::Idle);
    }
}
