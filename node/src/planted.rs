//! Deliberate bugs in a node, built only with the `planted-bugs` feature, so that the chaos
//! checkers can be shown to catch each of them (`bench/tests/chaos_bugs.rs`).
//!
//! A node takes its bug from the environment variable [`ENV`]; the process launcher's
//! children inherit it, so `RAFTRTC_PLANTED_BUG=local-reads raftrtc chaos ...` runs a whole
//! cluster with the bug. Without the feature this module does not exist and the variable
//! means nothing.

use std::sync::OnceLock;

use raftrtc_raft::{Config, PlantedBug};

/// The environment variable naming the bug.
pub const ENV: &str = "RAFTRTC_PLANTED_BUG";

/// One deliberate bug.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeBug {
    /// A bug of the Raft core ([`PlantedBug`]).
    Core(PlantedBug),
    /// A linearizable `get` is answered from the node's own state, as a local read: a
    /// follower or a deposed leader serves what it has applied, which may be stale.
    LocalReads,
}

/// Every bug, by the name [`ENV`] takes.
pub const BUGS: [(&str, NodeBug); 5] = [
    (
        "vote-ignores-log",
        NodeBug::Core(PlantedBug::VoteIgnoresLog),
    ),
    (
        "commit-older-term",
        NodeBug::Core(PlantedBug::CommitOlderTermByCounting),
    ),
    (
        "forget-vote-on-restart",
        NodeBug::Core(PlantedBug::ForgetVoteOnRestart),
    ),
    (
        "ack-before-durable",
        NodeBug::Core(PlantedBug::AcknowledgeBeforeDurable),
    ),
    ("local-reads", NodeBug::LocalReads),
];

/// The bug [`ENV`] names, if any; an unknown name is an error naming the known ones.
pub fn from_env() -> Result<Option<NodeBug>, String> {
    let Ok(name) = std::env::var(ENV) else {
        return Ok(None);
    };
    BUGS.iter()
        .find(|(n, _)| *n == name)
        .map(|(_, bug)| Some(*bug))
        .ok_or_else(|| {
            let names: Vec<&str> = BUGS.iter().map(|(n, _)| *n).collect();
            format!("{ENV}={name:?} is not a planted bug ({})", names.join(", "))
        })
}

/// `raft` with the core's bug planted, if [`ENV`] names one of the core's.
pub fn plant(mut raft: Config) -> Result<Config, String> {
    if let Some(NodeBug::Core(bug)) = from_env()? {
        raft.planted_bug = Some(bug);
    }
    Ok(raft)
}

/// Whether this node serves linearizable reads locally ([`NodeBug::LocalReads`]).
pub fn local_reads() -> bool {
    static LOCAL: OnceLock<bool> = OnceLock::new();
    *LOCAL.get_or_init(|| from_env() == Ok(Some(NodeBug::LocalReads)))
}
