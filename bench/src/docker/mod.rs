//! Docker building blocks for `--launcher docker`: one container per Raft node.
//!
//! Why a module of its own: the papers' second harness ran each node in its own container, and
//! the launcher that reproduces it needs four things that have nothing to do with Raft — an
//! engine connection ([`engine`]), a node image built locally from the running binary because no
//! registry is reachable ([`image`]), and per-run networks and containers that are always
//! cleaned up ([`cluster`]). `--launcher swarm` places the same image as services on a swarm
//! ([`swarm`]). Everything goes through the Engine API (`bollard`), never the
//! docker CLI, so errors are typed and the API version is negotiated.

pub mod cluster;
pub mod engine;
pub mod image;
pub mod swarm;

use std::path::PathBuf;

pub use cluster::{
    cleanup_all, container_ip, container_name, create_network, follow_logs, kill, leftovers,
    network_name, pause, remove_run, restart, save_logs, start_node, start_nodes,
    stopped_containers, unpause, validate_run_id, Leftovers, Limits, NodeContainer, NodeSpec,
    Removed, RunNetwork, CONTAINER_CONTROL_DIR,
};
pub use engine::{connect, connect_to, docker_host, Engine};
pub use image::{build_image, build_image_from, ensure_image, image_tag, NodeImage, IMAGE_REPO};

/// Label carrying the run id on every container and network of a run.
pub const LABEL_RUN: &str = "raftrtc.run";
/// Label carrying the node index on every node container.
pub const LABEL_NODE: &str = "raftrtc.node";
/// Label carrying the sha256 of the binary an image was built from.
pub const LABEL_BINARY_SHA256: &str = "raftrtc.binary-sha256";

/// Everything that can go wrong talking to Docker.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    /// No engine answered at `host` (socket missing, daemon down, bad `DOCKER_HOST`).
    #[error("no Docker engine reachable at {host}: {reason}")]
    EngineUnavailable {
        /// The `DOCKER_HOST` tried (or the default socket).
        host: String,
        /// What failed, in plain words.
        reason: String,
    },
    /// A local file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The libraries of the binary could not be listed.
    #[error("cannot list the shared libraries of {binary}: {reason}")]
    Ldd {
        /// The binary given to `ldd`.
        binary: PathBuf,
        /// What `ldd` said, or why it could not run.
        reason: String,
    },
    /// The engine refused or failed the image build.
    #[error("building the node image failed: {0}")]
    Build(String),
    /// A run id that cannot name a container or network.
    #[error("invalid run id {0:?}: use 1-40 characters [a-zA-Z0-9_.-], starting alphanumeric")]
    InvalidRunId(String),
    /// A resource limit out of range.
    #[error("invalid limit: {0}")]
    InvalidLimit(String),
    /// A bind-mount source that Docker cannot use.
    #[error("invalid host directory {0}: it must be an existing absolute directory")]
    InvalidHostDir(PathBuf),
    /// The run's network has no IPv4 gateway to bind the signaling server to.
    #[error("network {0} has no IPv4 gateway")]
    NoGateway(String),
    /// A call to the Engine API failed.
    #[error("{what}: {source}")]
    Api {
        /// What was being done, e.g. `create container raftrtc-r1-n0`.
        what: String,
        /// The engine's error.
        #[source]
        source: bollard::errors::Error,
    },
    /// The engine cannot create services.
    #[error("not a swarm manager ({0}): run `docker swarm init` (or join a swarm as a manager)")]
    NotASwarmManager(String),
    /// The swarm answered something the launcher cannot use.
    #[error("swarm: {0}")]
    Swarm(String),
    /// Several removals failed during a cleanup; the first is kept.
    #[error("cleanup left {count} object(s) behind; first error: {first}")]
    Cleanup {
        /// How many removals failed.
        count: usize,
        /// The first failure.
        first: Box<DockerError>,
    },
}

impl DockerError {
    /// Wraps an API error with what was being done.
    pub(crate) fn api(what: impl Into<String>, source: bollard::errors::Error) -> Self {
        DockerError::Api {
            what: what.into(),
            source,
        }
    }

    /// The HTTP status the engine answered with, if this is an engine refusal.
    pub fn status_code(&self) -> Option<u16> {
        match self {
            DockerError::Api {
                source: bollard::errors::Error::DockerResponseServerError { status_code, .. },
                ..
            } => Some(*status_code),
            _ => None,
        }
    }
}

/// The HTTP status of an engine refusal, if `err` is one.
pub(crate) fn status_of(err: &bollard::errors::Error) -> Option<u16> {
    match err {
        bollard::errors::Error::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}
