//! `raftrtc node`: one Raft node as its own process.
//!
//! Logs go to stderr (the launchers redirect them to the run's log files).
//! Exit status: 0 after a `shutdown` request, SIGTERM or SIGINT, 2 for
//! invalid settings, 1 when the node fails (its control socket is in use,
//! signaling refuses it, its storage fails).

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use node::mesh::MeshConfig;
use node::raft;
use node::runtime::{self, NodeConfig};

use crate::cli::{NodeArgs, ReplicationArg};

/// Runs the node until it is shut down or killed.
pub fn run(args: NodeArgs) -> anyhow::Result<ExitCode> {
    init_logging(&args.log_level)?;
    let cfg = node_config(args)?;
    // One thread: a node is one event loop plus its links' drivers, and dozens
    // of nodes share a few cores, where extra worker threads only add wake-ups.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    match runtime.block_on(runtime::run(cfg)) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) => {
            tracing::error!("node failed: {e}");
            eprintln!("raftrtc node: {e}");
            Ok(ExitCode::from(1))
        }
    }
}

fn init_logging(level: &str) -> anyhow::Result<()> {
    // A bare level also quiets the WebRTC stack's per-link chatter, which
    // logs expected conditions (no candidate pairs yet) as warnings.
    let directives = if level.contains('=') {
        level.to_owned()
    } else {
        format!("{level},rtc_ice=error,rtc_dtls=error,rtc=error,webrtc=error")
    };
    let filter = tracing_subscriber::EnvFilter::try_new(&directives)
        .with_context(|| format!("--log-level {level:?} is not a valid log filter"))?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    Ok(())
}

/// Turns the flags into a validated node configuration (usage errors here).
fn node_config(args: NodeArgs) -> anyhow::Result<NodeConfig> {
    let mut raft_cfg = raft::Config::new(args.id.clone());
    raft_cfg.election_timeout = Duration::from_millis(args.election_timeout);
    raft_cfg.heartbeat_ratio = args.heartbeat_ratio;
    raft_cfg.replication = match args.replication {
        ReplicationArg::Immediate => raft::Replication::Immediate,
        ReplicationArg::Heartbeat => raft::Replication::Heartbeat,
    };
    raft_cfg.pre_vote = args.pre_vote;
    raft_cfg.check_quorum = args.check_quorum;
    raft_cfg.bootstrap = args.first;
    raft_cfg.validate().context("invalid Raft settings")?;
    let mut mesh = MeshConfig::new(args.id);
    mesh.bind_ip = args.bind_ip;
    mesh.loopback_only = args.bind_ip.is_loopback() && args.ice_server.is_empty();
    mesh.ice_servers = args.ice_server;
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
            ^ u64::from(std::process::id())
    });
    Ok(NodeConfig {
        raft: raft_cfg,
        signaling_url: args.signaling_url,
        cluster: args.cluster,
        membership_poll: (args.membership_poll > 0)
            .then(|| Duration::from_millis(args.membership_poll)),
        presence_failover: args.presence_failover,
        control: args.control,
        data_dir: args.data_dir,
        mesh,
        seed,
    })
}
