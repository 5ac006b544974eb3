//! `raftrtc signaling`: the PeerJS-compatible signaling server on its own.

use std::process::ExitCode;

use anyhow::Context;
use signaling::{Limits, Server, ServerConfig};

use crate::cli::SignalingArgs;

/// Serves until Ctrl-C.
pub fn run(args: SignalingArgs) -> anyhow::Result<ExitCode> {
    let limits = Limits {
        max_frame_bytes: args.max_frame_bytes as usize,
        max_peers_per_cluster: args.max_peers_per_cluster as usize,
        max_clusters: args.max_clusters as usize,
        max_connections: args.max_connections as usize,
        max_pending_per_peer: args.max_pending_per_peer as usize,
        outbound_queue: args.outbound_queue as usize,
        outbound_queue_bytes: args.outbound_queue_bytes as usize,
        expire_timeout: args.expire_timeout,
        alive_timeout: args.alive_timeout,
        ..Limits::default()
    };
    let config = ServerConfig {
        listen: args.listen,
        path: args.path,
        limits,
    };
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async {
        let server = Server::bind(config)
            .await
            .context("cannot start the signaling server")?;
        println!("signaling server listening on {}", server.url());
        server
            .run_until(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .context("signaling server failed")?;
        Ok(ExitCode::SUCCESS)
    })
}
