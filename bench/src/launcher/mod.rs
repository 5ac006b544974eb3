//! Launchers: how a run's nodes come to life and how they die.
//!
//! Why a trait: an experiment only needs "start N nodes paused, tell me where
//! their control sockets are, SIGKILL this one, stop them all, keep the logs".
//! [`process::ProcessLauncher`] does that with child processes; a Docker
//! launcher does it with containers, and no experiment changes.
//!
//! Every child a launcher starts is registered here, so that an interrupt
//! (Ctrl-C, SIGTERM) can kill them all before the bench exits: see
//! [`kill_registered`].

pub mod docker;
pub mod process;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::cli::ReplicationArg;

/// Node settings shared by every node of a run (the `raftrtc node` flags).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeConfig {
    /// Election timeout ET in ms.
    pub election_timeout_ms: u64,
    /// Heartbeat = ET / ratio.
    pub heartbeat_ratio: u32,
    /// Entry pacing.
    pub replication: ReplicationArg,
    /// Pre-vote before elections.
    pub pre_vote: bool,
    /// Leaders step down without a majority.
    pub check_quorum: bool,
    /// The leader's membership poll period in ms (0: on events only).
    pub membership_poll_ms: u64,
    /// Followers act on the signaling server's PEER-LEFT for their leader.
    pub presence_failover: bool,
    /// The nodes' `--log-level`.
    pub log_level: String,
}

impl NodeConfig {
    /// The default profile (immediate replication, pre-vote, check-quorum
    /// and PEER-LEFT failover on, membership on events, heartbeat ET/5); the election
    /// timeout is set per run.
    pub fn default_profile() -> Self {
        Self {
            election_timeout_ms: 0,
            heartbeat_ratio: 5,
            replication: ReplicationArg::Immediate,
            pre_vote: true,
            check_quorum: true,
            membership_poll_ms: 0,
            presence_failover: true,
            log_level: "info".into(),
        }
    }
}

/// Everything a launcher needs to start one run's cluster.
#[derive(Clone, Debug)]
pub struct ClusterSpec {
    /// How many nodes (`n0` .. `n{N-1}`; `n0` bootstraps).
    pub nodes: u32,
    /// The cluster's name, unique per run (the PeerJS key).
    pub cluster: String,
    /// Base URL of the signaling server.
    pub signaling_url: String,
    /// Node settings.
    pub node: NodeConfig,
    /// The run's seed; node `i` gets `seed + i`.
    pub seed: u64,
}

impl ClusterSpec {
    /// The node ids of this run, in launch order.
    pub fn ids(&self) -> Vec<String> {
        (0..self.nodes).map(|i| format!("n{i}")).collect()
    }
}

/// One launched node, as the experiments see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// Its id.
    pub id: String,
    /// Path of its control socket.
    pub control: PathBuf,
    /// Path of its log (stdout and stderr).
    pub log: PathBuf,
}

/// What can go wrong launching or killing nodes.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// The per-run directory could not be made.
    #[error("cannot create a run directory: {0}")]
    RunDir(#[source] std::io::Error),
    /// The run directory's path is too long for a Unix socket path.
    #[error(
        "control socket path {0} is too long for a Unix socket; set TMPDIR to a shorter directory"
    )]
    SocketPathTooLong(PathBuf),
    /// A node's log file could not be created.
    #[error("cannot create log file {path}: {source}")]
    Log {
        /// The log file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The node process could not be started.
    #[error("cannot start node {id} ({exe}): {source}")]
    Spawn {
        /// The node.
        id: String,
        /// The program.
        exe: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// No such node in this run.
    #[error("no node {0} in this run")]
    UnknownNode(String),
    /// The Docker engine refused or failed.
    #[error(transparent)]
    Docker(#[from] crate::docker::DockerError),
    /// The kill failed.
    #[error("cannot kill node {id}: {source}")]
    Kill {
        /// The node.
        id: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// Starts the nodes of one run.
pub trait Launcher {
    /// The launcher's name, as written in the CSV's `launcher` column.
    fn name(&self) -> &'static str;

    /// Starts `spec.nodes` nodes, paused (Raft not started), each with its
    /// control socket; returns at once, before the sockets exist.
    fn launch(&self, spec: &ClusterSpec) -> Result<Box<dyn Cluster>, LaunchError>;
}

/// The nodes of one run. Dropping it stops every node.
pub trait Cluster: Send {
    /// The nodes, in launch order.
    fn members(&self) -> &[Member];

    /// Kills one node at once (SIGKILL / `docker kill`), without waiting.
    fn kill(&mut self, id: &str) -> Result<(), LaunchError>;

    /// Nodes that ended on their own since the last call: `(id, how)`.
    fn exited(&mut self) -> Vec<(String, String)>;

    /// Kills and reaps every node that is still there.
    fn stop_all(&mut self);

    /// Where the logs are (the run directory).
    fn logs_dir(&self) -> &Path;

    /// Keeps the run directory after the cluster is dropped.
    fn keep_logs(&mut self);
}

/// The `raftrtc node` flags for node `i` of `spec`.
pub(crate) fn node_args(spec: &ClusterSpec, i: u32, id: &str, control: &Path) -> Vec<String> {
    let n = &spec.node;
    let mut args = vec![
        "--id".to_string(),
        id.to_string(),
        "--signaling-url".to_string(),
        spec.signaling_url.clone(),
        "--cluster".to_string(),
        spec.cluster.clone(),
        "--election-timeout".to_string(),
        n.election_timeout_ms.to_string(),
        "--heartbeat-ratio".to_string(),
        n.heartbeat_ratio.to_string(),
        "--replication".to_string(),
        match n.replication {
            ReplicationArg::Immediate => "immediate",
            ReplicationArg::Heartbeat => "heartbeat",
        }
        .to_string(),
        "--pre-vote".to_string(),
        n.pre_vote.to_string(),
        "--check-quorum".to_string(),
        n.check_quorum.to_string(),
        "--membership-poll".to_string(),
        n.membership_poll_ms.to_string(),
        "--presence-failover".to_string(),
        n.presence_failover.to_string(),
        "--control".to_string(),
        control.display().to_string(),
        "--log-level".to_string(),
        n.log_level.clone(),
        "--seed".to_string(),
        spec.seed.wrapping_add(u64::from(i)).to_string(),
    ];
    if i == 0 {
        args.push("--first".to_string());
    }
    args
}

/// Process ids of every live child, for [`kill_registered`].
static CHILDREN: Mutex<BTreeSet<u32>> = Mutex::new(BTreeSet::new());
/// Docker runs in progress, removed on an interrupt.
static DOCKER_RUNS: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());
/// Run directories in use, printed on an interrupt.
static RUN_DIRS: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());

fn registry<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Records a child so an interrupt kills it.
pub(crate) fn register_child(pid: u32) {
    registry(&CHILDREN).insert(pid);
}

/// Forgets a child (it was killed or reaped).
pub(crate) fn unregister_child(pid: u32) {
    registry(&CHILDREN).remove(&pid);
}

/// Records a Docker run so an interrupt removes its containers and network.
pub(crate) fn register_docker_run(run: &str) {
    registry(&DOCKER_RUNS).insert(run.to_owned());
}

/// Forgets a Docker run (removed).
pub(crate) fn unregister_docker_run(run: &str) {
    registry(&DOCKER_RUNS).remove(run);
}

/// The Docker runs still registered (for the interrupt handler).
pub fn registered_docker_runs() -> Vec<String> {
    registry(&DOCKER_RUNS).iter().cloned().collect()
}

/// Records a run directory in use.
pub(crate) fn register_run_dir(dir: &Path) {
    registry(&RUN_DIRS).insert(dir.to_path_buf());
}

/// Forgets a run directory.
pub(crate) fn unregister_run_dir(dir: &Path) {
    registry(&RUN_DIRS).remove(dir);
}

/// SIGKILLs every registered child and returns the run directories in use
/// (kept: the process is about to exit without running destructors).
///
/// Why a registry and not `Drop`: on Ctrl-C the bench exits from a signal
/// task, and no destructor of the run in progress runs.
pub fn kill_registered() -> Vec<PathBuf> {
    let pids: Vec<u32> = registry(&CHILDREN).iter().copied().collect();
    for pid in pids {
        // Best effort: the process may already be gone.
        let _ = process::sigkill(pid);
    }
    registry(&RUN_DIRS).iter().cloned().collect()
}
