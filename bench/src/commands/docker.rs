//! `raftrtc docker build` and `raftrtc cleanup`: the node image, and a sweep
//! of whatever runs left behind.
//!
//! No engine reachable (`DOCKER_HOST` honoured) is a usage error: exit 2.

use std::process::ExitCode;

use super::UsageError;
use crate::cli::{DockerArgs, DockerCommand};
use crate::docker::{self, DockerError};

async fn engine() -> anyhow::Result<docker::Engine> {
    docker::connect().await.map_err(|e| match e {
        e @ DockerError::EngineUnavailable { .. } => anyhow::Error::new(UsageError(e.to_string())),
        e => anyhow::Error::new(e),
    })
}

/// `raftrtc docker build [--force]`.
pub fn run(args: DockerArgs) -> anyhow::Result<ExitCode> {
    let DockerCommand::Build { force } = args.command;
    super::runtime()?.block_on(async {
        let engine = engine().await?;
        let image = docker::build_image(&engine.docker, force).await?;
        println!(
            "{} {} ({:.1} MB, binary sha256 {})",
            if image.reused { "reused" } else { "built" },
            image.tag,
            image.size_bytes.unwrap_or(0) as f64 / 1e6,
            image.binary_sha256
        );
        Ok(ExitCode::SUCCESS)
    })
}

/// `raftrtc cleanup`: removes every service (on a swarm manager), container, network and
/// volume with a run label.
pub fn cleanup() -> anyhow::Result<ExitCode> {
    super::runtime()?.block_on(async {
        let engine = engine().await?;
        // Services first: their tasks hold the networks and volumes.
        if docker::swarm::require_manager(&engine.docker).await.is_ok() {
            let removed = docker::swarm::remove_swarm_run(&engine.docker, None).await?;
            println!(
                "removed {} service(s), {} network(s) and {} volume(s) of swarm runs",
                removed.services, removed.networks, removed.volumes
            );
        }
        let removed = docker::cleanup_all(&engine.docker).await?;
        println!(
            "removed {} container(s) and {} network(s)",
            removed.containers, removed.networks
        );
        Ok(ExitCode::SUCCESS)
    })
}
