//! The settings every node of a cluster shares: their one type, their defaults and the
//! profile presets, in one place.
//!
//! Why one type: the bench resolves a profile and flags into [`Settings`], hands them to each
//! node as command-line flags ([`Settings::to_args`]), and the node parses the same type back
//! (it is a `clap::Args` flattened into `raftrtc node`'s flags) and builds its Raft core from
//! it ([`Settings::raft_config`]). Defaults exist only in [`Profile::settings`]; the flags'
//! defaults are read from there, so a flag never disagrees with a preset.
//!
//! What is *not* here: what differs per node (id, control socket, data directory, seed,
//! `--first`) and how it logs.

use std::time::Duration;

use raftrtc_raft::{self as raft, Replication};

use crate::netem::NetSpec;

/// A named preset of [`Settings`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Profile {
    /// Immediate replication, pre-vote and check-quorum on, election backoff, lean
    /// heartbeats, membership on events, PEER-LEFT failover.
    #[default]
    Default,
    /// The Dec 2015 papers (Raft.js): heartbeat pacing, 100 ms membership poll, pre-vote,
    /// check-quorum, election backoff, lean heartbeats and PEER-LEFT failover off.
    Paper,
}

impl Profile {
    /// The name used on the command line and in result files.
    pub const fn name(self) -> &'static str {
        match self {
            Profile::Default => "default",
            Profile::Paper => "paper",
        }
    }

    /// The preset's settings: the one place node defaults are written down.
    pub fn settings(self) -> Settings {
        let default = Settings {
            election_timeout_ms: 250,
            heartbeat_ratio: 5,
            replication: Replication::Immediate,
            pre_vote: true,
            check_quorum: true,
            election_backoff: raft::MAX_ELECTION_BACKOFF,
            lean_heartbeats: true,
            membership_poll_ms: 0,
            presence_failover: true,
            net: "none".to_owned(),
        };
        match self {
            Profile::Default => default,
            Profile::Paper => Settings {
                replication: Replication::Heartbeat,
                pre_vote: false,
                check_quorum: false,
                election_backoff: 0,
                lean_heartbeats: false,
                membership_poll_ms: 100,
                presence_failover: false,
                ..default
            },
        }
    }
}

impl std::fmt::Display for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// How every node of a cluster behaves: `raftrtc node`'s shared flags.
#[derive(Clone, Debug, PartialEq, Eq, clap::Args)]
pub struct Settings {
    /// Election timeout ET in ms; timers are drawn from [ET, 2ET).
    #[arg(
        long = "election-timeout",
        value_name = "MS",
        default_value_t = Settings::default().election_timeout_ms,
        value_parser = clap::value_parser!(u64).range(1..=600_000)
    )]
    pub election_timeout_ms: u64,
    /// Heartbeat interval = ET / ratio.
    #[arg(
        long,
        default_value_t = Settings::default().heartbeat_ratio,
        value_parser = clap::value_parser!(u32).range(1..=1000)
    )]
    pub heartbeat_ratio: u32,
    /// Entry pacing: `immediate`, or `heartbeat` (Raft.js's: one broadcast per append,
    /// commits and retries on heartbeats, one entry back per rejection).
    #[arg(long, default_value_t = Settings::default().replication)]
    pub replication: Replication,
    /// Pre-vote before starting an election.
    #[arg(long, default_value_t = Settings::default().pre_vote, action = clap::ArgAction::Set)]
    pub pre_vote: bool,
    /// A leader steps down without a majority for an ET.
    #[arg(long, default_value_t = Settings::default().check_quorum, action = clap::ArgAction::Set)]
    pub check_quorum: bool,
    /// After a campaign a majority did not answer, the node doubles its ET (timer, leader
    /// stickiness, check-quorum), at most this many times (0: never, as Raft.js).
    #[arg(
        long,
        value_name = "DOUBLINGS",
        default_value_t = Settings::default().election_backoff,
        value_parser = clap::value_parser!(u32).range(0..=i64::from(raft::MAX_ELECTION_BACKOFF))
    )]
    pub election_backoff: u32,
    /// With check-quorum, a follower answers an empty heartbeat only when the leader asks: until
    /// it hears from the follower in each check-quorum window, the last one before each check,
    /// and while it does not know the follower matches (false: every one answered, as Raft.js).
    #[arg(
        long,
        default_value_t = Settings::default().lean_heartbeats,
        action = clap::ArgAction::Set
    )]
    pub lean_heartbeats: bool,
    /// Milliseconds between the leader's membership checks (0: on events only).
    #[arg(
        long = "membership-poll",
        value_name = "MS",
        default_value_t = Settings::default().membership_poll_ms,
        value_parser = clap::value_parser!(u64).range(0..=60_000)
    )]
    pub membership_poll_ms: u64,
    /// On a PEER-LEFT for its leader, a follower campaigns after (rank + 1) x ET/25, rank being
    /// its place in member order among the members not reported gone, instead of after
    /// [ET, 2ET) of silence (false: timers only, as Raft.js).
    #[arg(
        long,
        default_value_t = Settings::default().presence_failover,
        action = clap::ArgAction::Set
    )]
    pub presence_failover: bool,
    /// Network conditions on every node's WebRTC datagrams, e.g. `delay=40ms,jitter=10ms,
    /// loss=1%` (see `node::netem`); `none` for the machine's own network.
    #[arg(
        long,
        value_name = "SPEC",
        default_value = "none",
        value_parser = parse_net,
        allow_hyphen_values = true
    )]
    pub net: String,
}

/// Validates a `--net` spec; its canonical text is what is kept (and written to the CSV).
pub fn parse_net(text: &str) -> Result<String, String> {
    text.parse::<NetSpec>()
        .map(|spec| spec.to_string())
        .map_err(|e| e.to_string())
}

impl Default for Settings {
    fn default() -> Self {
        Profile::Default.settings()
    }
}

impl Settings {
    /// The flags that make `raftrtc node` parse back exactly these settings.
    pub fn to_args(&self) -> Vec<String> {
        [
            ("--election-timeout", self.election_timeout_ms.to_string()),
            ("--heartbeat-ratio", self.heartbeat_ratio.to_string()),
            ("--replication", self.replication.to_string()),
            ("--pre-vote", self.pre_vote.to_string()),
            ("--check-quorum", self.check_quorum.to_string()),
            ("--election-backoff", self.election_backoff.to_string()),
            ("--lean-heartbeats", self.lean_heartbeats.to_string()),
            ("--membership-poll", self.membership_poll_ms.to_string()),
            ("--presence-failover", self.presence_failover.to_string()),
            ("--net", self.net.clone()),
        ]
        .into_iter()
        .flat_map(|(flag, value)| [flag.to_string(), value])
        .collect()
    }

    /// The network conditions (checked when the settings were parsed; a spec that somehow
    /// does not parse reads as none).
    pub fn net_spec(&self) -> NetSpec {
        self.net.parse().unwrap_or_else(|_| NetSpec::none())
    }

    /// The election timeout.
    pub fn election_timeout(&self) -> Duration {
        Duration::from_millis(self.election_timeout_ms)
    }

    /// The heartbeat interval in ms (ET / ratio), as the CSV records it.
    pub fn heartbeat_ms(&self) -> u64 {
        self.election_timeout_ms / u64::from(self.heartbeat_ratio.max(1))
    }

    /// The leader's membership poll period (`None`: on events only).
    pub fn membership_poll(&self) -> Option<Duration> {
        (self.membership_poll_ms > 0).then(|| Duration::from_millis(self.membership_poll_ms))
    }

    /// The Raft core's configuration for node `id`; every knob comes from these settings, and a
    /// bootstrapping node gets a fresh random cluster identity.
    pub fn raft_config(
        &self,
        id: &str,
        bootstrap: bool,
    ) -> Result<raft::Config, raft::ConfigError> {
        let mut cfg = raft::Config::new(id);
        cfg.election_timeout = self.election_timeout();
        cfg.heartbeat_ratio = self.heartbeat_ratio;
        cfg.replication = self.replication;
        cfg.pre_vote = self.pre_vote;
        cfg.check_quorum = self.check_quorum;
        cfg.election_backoff = self.election_backoff;
        cfg.lean_heartbeats = self.lean_heartbeats;
        cfg.bootstrap = bootstrap;
        // From the OS's randomness, not the node's seed: a second bootstrap with the same
        // seed must still make a cluster of another identity.
        cfg.bootstrap_cluster_id = rand::random();
        cfg.validate()?;
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn the_paper_profile_differs_only_where_raft_js_did() {
        let (d, p) = (Profile::Default.settings(), Profile::Paper.settings());
        assert_eq!(p.election_timeout_ms, d.election_timeout_ms);
        assert_eq!(p.heartbeat_ratio, d.heartbeat_ratio);
        assert_eq!(p.replication, Replication::Heartbeat);
        assert!(!p.pre_vote && !p.check_quorum && !p.presence_failover);
        assert_eq!(p.election_backoff, 0, "Raft.js's timers never back off");
        assert!(d.election_backoff > 0);
        assert!(
            !p.lean_heartbeats && d.lean_heartbeats,
            "Raft.js answered every heartbeat"
        );
        assert_eq!(p.membership_poll(), Some(Duration::from_millis(100)));
        assert_eq!(d.membership_poll(), None);
    }

    #[test]
    fn the_raft_config_carries_every_knob() {
        let mut s = Profile::Paper.settings();
        s.election_timeout_ms = 1000;
        s.heartbeat_ratio = 4;
        let cfg = s.raft_config("n1", true).unwrap();
        assert_eq!(cfg.id, "n1");
        assert_eq!(cfg.election_timeout, Duration::from_secs(1));
        assert_eq!(cfg.heartbeat_interval(), Duration::from_millis(250));
        assert_eq!(cfg.replication, Replication::Heartbeat);
        assert!(!cfg.pre_vote && !cfg.check_quorum && cfg.bootstrap);
        assert_eq!(cfg.election_backoff, 0);
        assert!(!cfg.lean_heartbeats);
        assert_eq!(s.heartbeat_ms(), 250);
    }

    /// `raftrtc node`'s shared flags alone, to parse them as the node does.
    #[derive(clap::Parser)]
    struct Flags {
        #[command(flatten)]
        settings: Settings,
    }

    #[test]
    fn an_election_backoff_past_the_cap_is_refused_on_the_command_line() {
        let cap = raft::MAX_ELECTION_BACKOFF.to_string();
        let parsed = Flags::try_parse_from(["node", "--election-backoff", &cap]);
        assert_eq!(
            parsed.map(|f| f.settings.election_backoff).ok(),
            Some(raft::MAX_ELECTION_BACKOFF)
        );
        let past = (raft::MAX_ELECTION_BACKOFF + 1).to_string();
        assert!(Flags::try_parse_from(["node", "--election-backoff", &past]).is_err());
    }

    #[test]
    fn lean_heartbeats_take_a_boolean_on_the_command_line() {
        let parsed = Flags::try_parse_from(["node", "--lean-heartbeats", "false"]);
        assert_eq!(parsed.map(|f| f.settings.lean_heartbeats).ok(), Some(false));
        assert!(Flags::try_parse_from(["node", "--lean-heartbeats", "sometimes"]).is_err());
    }

    #[test]
    fn settings_that_cannot_run_are_refused() {
        assert!(Settings::default().raft_config("", false).is_err());
    }
}
