//! The knobs of one Raft node, and their validation.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::message::{ClusterId, NodeId};

/// When the leader sends new entries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Replication {
    /// As soon as an entry is appended, pipelined; commits are pushed at once.
    #[default]
    Immediate,
    /// As Raft.js did (to reproduce the papers): each append triggers one
    /// broadcast; commits and retries wait for the next heartbeat; a
    /// rejection steps back one entry. See `replication.rs`.
    Heartbeat,
}

impl Replication {
    /// The name used on the command line and in result files.
    pub const fn name(self) -> &'static str {
        match self {
            Replication::Immediate => "immediate",
            Replication::Heartbeat => "heartbeat",
        }
    }
}

impl std::fmt::Display for Replication {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Replication {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "immediate" => Ok(Replication::Immediate),
            "heartbeat" => Ok(Replication::Heartbeat),
            _ => Err(format!(
                "`{s}` is not a replication pacing (immediate or heartbeat)"
            )),
        }
    }
}

/// The most doublings of ET that election backoff may take (the default): at ET 250 ms a
/// server's ET stretches to at most 16 s (`backoff.rs`).
pub const MAX_ELECTION_BACKOFF: u32 = 6;

/// Configuration of one node's Raft core.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// This node's id.
    pub id: NodeId,
    /// ET: election timers are drawn uniformly from `[ET, 2ET)`.
    pub election_timeout: Duration,
    /// The heartbeat interval is `ET / heartbeat_ratio` (Raft.js used 5).
    pub heartbeat_ratio: u32,
    /// Entry pacing.
    pub replication: Replication,
    /// Ask for pre-votes before disturbing the cluster with a new term.
    pub pre_vote: bool,
    /// A leader that hears from no majority for an ET steps down; voters
    /// ignore vote requests while they hear from a leader.
    pub check_quorum: bool,
    /// After a campaign that a majority did not answer, this server's ET
    /// doubles, at most this many times (`backoff.rs`); 0 keeps ET as set,
    /// as Raft.js did.
    pub election_backoff: u32,
    /// With `check_quorum`, a follower answers an empty AppendEntries only when the leader
    /// asks (`AppendEntries::ack_optional` unset): while the leader does not know the follower
    /// matches its log, until it heard from the follower in the current check-quorum window,
    /// and in the last heartbeat before each check. Raft.js answered every heartbeat; at 101
    /// nodes the answers were most of the heartbeats' cost.
    pub lean_heartbeats: bool,
    /// The first server: with an empty log it bootstraps a one-member cluster
    /// and leads at once.
    pub bootstrap: bool,
    /// The identity a bootstrapped cluster gets (used only with `bootstrap` and an empty
    /// log). The caller draws it from real randomness, not from the seeded RNG, so that two
    /// bootstraps never share one.
    pub bootstrap_cluster_id: ClusterId,
    /// At most this many entries per AppendEntries.
    pub max_entries_per_append: usize,
    /// And no more entries than fit in this weight by `entry_weight` (a first entry over it
    /// goes alone), so that a transport with a message size limit can bound an AppendEntries
    /// by what varies: its entries' text and ids.
    pub max_append_weight: usize,
    /// How an entry is weighed against `max_append_weight`.
    pub entry_weight: crate::EntryWeight,
    /// A deliberate bug for the simulator's tests to catch (`None` in
    /// `Config::new`); exists only with the `planted-bugs` feature.
    #[cfg(feature = "planted-bugs")]
    pub planted_bug: Option<crate::PlantedBug>,
}

impl Config {
    /// Defaults for node `id`: ET 250 ms, heartbeat ET/5, immediate
    /// replication, pre-vote and check-quorum on, election backoff up to
    /// `ET · 2^MAX_ELECTION_BACKOFF`, lean heartbeats.
    pub fn new(id: impl Into<NodeId>) -> Self {
        Self {
            id: id.into(),
            election_timeout: Duration::from_millis(250),
            heartbeat_ratio: 5,
            replication: Replication::Immediate,
            pre_vote: true,
            check_quorum: true,
            election_backoff: MAX_ELECTION_BACKOFF,
            lean_heartbeats: true,
            bootstrap: false,
            bootstrap_cluster_id: 0,
            max_entries_per_append: 256,
            max_append_weight: 64 * 1024,
            entry_weight: crate::EntryWeight::default(),
            #[cfg(feature = "planted-bugs")]
            planted_bug: None,
        }
    }

    /// The heartbeat interval.
    pub fn heartbeat_interval(&self) -> Duration {
        self.election_timeout / self.heartbeat_ratio.max(1)
    }

    /// Checks that the values can run.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.id.is_empty() {
            return Err(ConfigError::EmptyId);
        }
        if self.election_timeout < Duration::from_millis(1) {
            return Err(ConfigError::ElectionTimeoutTooShort(self.election_timeout));
        }
        if self.heartbeat_ratio < 1 {
            return Err(ConfigError::HeartbeatRatio(self.heartbeat_ratio));
        }
        if self.heartbeat_interval() < Duration::from_micros(100) {
            return Err(ConfigError::HeartbeatTooShort(self.heartbeat_interval()));
        }
        if self.election_backoff > MAX_ELECTION_BACKOFF {
            return Err(ConfigError::ElectionBackoff(self.election_backoff));
        }
        if self.max_entries_per_append == 0 {
            return Err(ConfigError::ZeroBatch);
        }
        Ok(())
    }
}

/// A configuration that cannot run.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// Nodes are addressed by id.
    #[error("the node id must not be empty")]
    EmptyId,
    /// Below a millisecond timers are meaningless.
    #[error("election timeout {0:?} is too short (at least 1 ms)")]
    ElectionTimeoutTooShort(Duration),
    /// The ratio divides the election timeout.
    #[error("heartbeat ratio must be at least 1, got {0}")]
    HeartbeatRatio(u32),
    /// A longer backoff would leave a cluster leaderless for minutes.
    #[error("election backoff must be at most {MAX_ELECTION_BACKOFF} doublings, got {0}")]
    ElectionBackoff(u32),
    /// ET / ratio must leave a usable interval.
    #[error("heartbeat interval {0:?} is too short (at least 100 µs)")]
    HeartbeatTooShort(Duration),
    /// Replication needs at least one entry per message.
    #[error("max entries per AppendEntries must be at least 1")]
    ZeroBatch,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_heartbeat_is_a_fifth() {
        let c = Config::new("a");
        assert_eq!(c.validate(), Ok(()));
        assert_eq!(c.heartbeat_interval(), Duration::from_millis(50));
    }

    #[test]
    fn replication_names_round_trip() {
        for r in [Replication::Immediate, Replication::Heartbeat] {
            assert_eq!(r.to_string().parse::<Replication>(), Ok(r));
        }
        assert!("eager".parse::<Replication>().is_err());
    }

    #[test]
    fn invalid_values_are_refused() {
        let mut c = Config::new("a");
        c.heartbeat_ratio = 0;
        assert_eq!(c.validate(), Err(ConfigError::HeartbeatRatio(0)));
        let mut c = Config::new("");
        c.election_timeout = Duration::ZERO;
        assert_eq!(c.validate(), Err(ConfigError::EmptyId));
        let mut c = Config::new("a");
        c.election_timeout = Duration::ZERO;
        assert!(matches!(
            c.validate(),
            Err(ConfigError::ElectionTimeoutTooShort(_))
        ));
    }
}
