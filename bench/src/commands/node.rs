//! `raftrtc node`: one Raft node as its own process.
//!
//! Logs go to stderr (the launchers redirect them to the run's log files).
//! Exit status: 0 after a `shutdown` request, SIGTERM or SIGINT; 2 for
//! invalid settings (a [`UsageError`]); 1 when the node fails (its control
//! socket is in use, signaling refuses it, its storage fails).

use std::process::ExitCode;

use anyhow::Context;
use node::control::{ControlEndpoint, DialBack};
use node::mesh::MeshConfig;
use node::runtime::{self, NodeConfig};

use super::UsageError;
use crate::cli::NodeArgs;

/// Runs the node until it is shut down or killed.
pub fn run(args: NodeArgs) -> anyhow::Result<ExitCode> {
    node::clock::mark_main();
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
    let filter = tracing_subscriber::EnvFilter::try_new(&directives).map_err(|e| {
        UsageError(format!(
            "--log-level {level:?} is not a valid log filter: {e}"
        ))
    })?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    Ok(())
}

/// Turns the flags into a validated node configuration (usage errors here).
fn node_config(args: NodeArgs) -> anyhow::Result<NodeConfig> {
    let raft = args
        .settings
        .raft_config(&args.id, args.first)
        .map_err(|e| UsageError(format!("invalid Raft settings: {e}")))?;
    #[cfg(feature = "planted-bugs")]
    node::planted::from_env().map_err(UsageError)?;
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
    mesh.net = args.settings.net_spec();
    mesh.net_seed = seed;
    let control = match (args.control, args.control_dial, args.control_token) {
        (Some(path), _, _) => ControlEndpoint::Socket(path),
        (None, Some(bench), Some(token)) => ControlEndpoint::DialBack(DialBack {
            bench,
            run: args.cluster.clone(),
            node: mesh.local_id.clone(),
            token,
        }),
        _ => {
            return Err(UsageError(
                "give --control PATH, or --control-dial HOST:PORT with RAFTRTC_CONTROL_TOKEN"
                    .into(),
            )
            .into())
        }
    };
    Ok(NodeConfig {
        raft,
        signaling_url: args.signaling_url,
        cluster: args.cluster,
        signaling_key: args.signaling_key,
        peers_poll: args.peers_poll,
        membership_poll: args.settings.membership_poll(),
        presence_failover: args.settings.presence_failover,
        control,
        data_dir: args.data_dir,
        discard_lost_log: args.discard_lost_log,
        force_bootstrap: args.force_bootstrap,
        start_at_launch: args.start,
        mesh,
        seed,
    })
}
