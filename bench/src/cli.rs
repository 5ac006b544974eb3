//! The command line: every subcommand and flag, declared with clap derive.
//!
//! Values are validated here (ranges, formats), so a bad flag is a usage
//! error with a plain message and exit status 2 before anything starts.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

/// Measure Raft over real WebRTC data channels.
#[derive(Debug, Parser)]
#[command(name = "raftrtc", version, about, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the PeerJS-compatible signaling server alone.
    Signaling(SignalingArgs),
    /// Run seeded simulated schedules of the Raft core and check safety.
    Sim(SimArgs),
    /// Run one Raft node (what the launchers start).
    Node(NodeArgs),
}

/// How the leader replicates: at once, or on heartbeats as Raft.js did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ReplicationArg {
    /// Send entries as soon as they are appended.
    Immediate,
    /// Send entries only on heartbeat ticks (the papers' behaviour).
    Heartbeat,
}

/// `raftrtc node`.
#[derive(Debug, Args)]
pub struct NodeArgs {
    /// This node's id (its signaling id).
    #[arg(long)]
    pub id: String,
    /// Base URL of the PeerJS signaling server, e.g. http://127.0.0.1:9000/.
    #[arg(long)]
    pub signaling_url: String,
    /// The cluster to join (the PeerJS key).
    #[arg(long, default_value = "raftrtc")]
    pub cluster: String,
    /// Bootstrap a one-member cluster and lead it (the first server).
    #[arg(long)]
    pub first: bool,
    /// Election timeout ET in ms; timers are drawn from [ET, 2ET).
    #[arg(long, default_value_t = 250, value_parser = clap::value_parser!(u64).range(1..=600_000))]
    pub election_timeout: u64,
    /// Heartbeat interval = ET / ratio.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub heartbeat_ratio: u32,
    /// Entry pacing.
    #[arg(long, value_enum, default_value_t = ReplicationArg::Immediate)]
    pub replication: ReplicationArg,
    /// Pre-vote before starting an election.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub pre_vote: bool,
    /// A leader steps down without a majority for an ET.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub check_quorum: bool,
    /// Milliseconds between the leader's membership checks (0: on events only).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=60_000))]
    pub membership_poll: u64,
    /// Path of the control socket (Unix, mode 0600).
    #[arg(long)]
    pub control: std::path::PathBuf,
    /// Keep term, vote and log here, durably (default: in memory).
    #[arg(long)]
    pub data_dir: Option<std::path::PathBuf>,
    /// Address to bind WebRTC (UDP) to.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind_ip: std::net::IpAddr,
    /// STUN/TURN server URLs for real networks (repeatable).
    #[arg(long)]
    pub ice_server: Vec<String>,
    /// Log filter: error, warn, info, debug, trace (or a tracing filter).
    #[arg(long, default_value = "info")]
    pub log_level: String,
    /// Seed of the node's RNG (election timers); default from the clock.
    #[arg(long)]
    pub seed: Option<u64>,
}

/// `raftrtc signaling`.
#[derive(Debug, Args)]
pub struct SignalingArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9000")]
    pub listen: SocketAddr,
    /// URL path prefix of the PeerJS endpoints.
    #[arg(long, default_value = "/")]
    pub path: String,
    /// Largest accepted WebSocket frame, in bytes.
    #[arg(long, default_value_t = 64 * 1024, value_parser = clap::value_parser!(u32).range(1024..))]
    pub max_frame_bytes: u32,
    /// Most peers in one cluster (PeerJS key).
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_peers_per_cluster: u32,
    /// Most clusters at once.
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_clusters: u32,
    /// Most WebSocket connections at once.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,
    /// Most messages held for one absent peer.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_pending_per_peer: u32,
    /// Seconds a message for an absent peer is held before EXPIRE.
    #[arg(long, default_value = "5", value_parser = parse_seconds)]
    pub expire_timeout: Duration,
    /// Seconds of silence after which a socket is dropped.
    #[arg(long, default_value = "60", value_parser = parse_seconds)]
    pub alive_timeout: Duration,
}

/// `raftrtc sim`.
#[derive(Debug, Args)]
pub struct SimArgs {
    /// How many schedules (seeds) to run.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub schedules: u64,
    /// The first seed; with `--schedules 1`, replays exactly that seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Print the cluster's state as the schedule runs (use with one seed).
    #[arg(long)]
    pub trace: bool,
    /// Worker threads (default: all cores).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub threads: Option<u32>,
}

/// Parses a duration given in seconds, fractions allowed (`0.5`).
pub fn parse_seconds(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a number of seconds"))?;
    if !secs.is_finite() || secs <= 0.0 {
        return Err(format!("`{s}` must be a positive number of seconds"));
    }
    if secs > 86_400.0 {
        return Err(format!("`{s}` seconds is more than a day"));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_accept_fractions_and_refuse_nonsense() {
        assert_eq!(parse_seconds("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_seconds("3"), Ok(Duration::from_secs(3)));
        assert!(parse_seconds("-1").is_err());
        assert!(parse_seconds("0").is_err());
        assert!(parse_seconds("abc").is_err());
        assert!(parse_seconds("NaN").is_err());
    }

    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
