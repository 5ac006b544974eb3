//! Launchers: how a run's nodes come to life and how they die.
//!
//! Why a trait: an experiment only needs "start N nodes paused, tell me how to reach
//! their control, SIGKILL this one, stop them all, keep the logs".
//! [`process::ProcessLauncher`] does that with child processes, [`docker::DockerLauncher`]
//! with containers and [`swarm::SwarmLauncher`] with swarm services, and no experiment
//! changes.
//!
//! Every child a launcher starts is registered here, so that an interrupt
//! (Ctrl-C, SIGTERM) can kill them all before the bench exits: see
//! [`kill_registered`].

pub mod docker;
pub mod process;
pub mod swarm;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use async_trait::async_trait;
use node::clock::Stamp;
use node::control::ControlAddr;
use node::settings::Settings;

/// Everything a launcher needs to start one run's cluster.
#[derive(Clone, Debug)]
pub struct ClusterSpec {
    /// How many nodes (`n0` .. `n{N-1}`; `n0` bootstraps).
    pub nodes: u32,
    /// The cluster's name, unique per run (the PeerJS key).
    pub cluster: String,
    /// Base URL of the signaling server.
    pub signaling_url: String,
    /// What every node shares (the election timeout included).
    pub settings: Settings,
    /// The nodes' `--log-level`.
    pub log_level: String,
    /// The run's seed; node `i` gets `seed + i`.
    pub seed: u64,
    /// Nodes run Raft from launch (`--start`, a cold start) rather than on the
    /// control socket's `start`.
    pub start_at_launch: bool,
    /// Every node keeps term, vote and log in a data directory (`--data-dir`, beside its
    /// control socket: see [`data_dir_beside`]), so that it can be restarted from it.
    pub data_dirs: bool,
    /// The signaling key is shared with other clusters (`None`: `cluster` is the key).
    pub shared_key: Option<SharedKey>,
}

/// A PeerJS key shared with other clusters, as a stock PeerJS server has one: the nodes
/// namespace their ids by the cluster name and learn presence by polling the peer list
/// (`raftrtc node --signaling-key --peers-poll`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SharedKey {
    /// The key.
    pub key: String,
    /// How often each node polls `GET /<key>/peers`.
    pub peers_poll: std::time::Duration,
}

impl ClusterSpec {
    /// The node ids of this run, in launch order.
    pub fn ids(&self) -> Vec<String> {
        (0..self.nodes).map(node_id).collect()
    }
}

/// The id of node `i` of a run.
pub fn node_id(i: u32) -> String {
    format!("n{i}")
}

/// One launched node, as the experiments see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// Its id.
    pub id: String,
    /// Where its control connections come from (its socket, or its dial-back).
    pub control: ControlAddr,
    /// Path of its log (stdout and stderr).
    pub log: PathBuf,
    /// When the launcher spawned it (monotonic ns), for the start's breakdown; `None` where
    /// the launcher does not know (a container's start is the engine's).
    pub spawned_ns: Option<u64>,
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
    /// A signal to a node (SIGKILL, SIGSTOP, SIGCONT) could not be sent.
    #[error("cannot signal node {id}: {source}")]
    Kill {
        /// The node.
        id: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A restart was asked of a node that still runs.
    #[error("node {0} still runs: kill it before restarting it")]
    StillRunning(String),
    /// Waiting for a node to end failed.
    #[error("cannot wait for node {id}: {source}")]
    Wait {
        /// The node.
        id: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// Starts the nodes of one run.
///
/// Async because launching talks to an engine (Docker's API) or waits for processes; a
/// launcher never blocks the bench's runtime.
#[async_trait]
pub trait Launcher: Send + Sync {
    /// Starts `spec.nodes` nodes, paused (Raft not started) unless
    /// `spec.start_at_launch`, each with its control (a socket, or a dial-back); returns once
    /// they are started, before their control answers.
    async fn launch(&self, spec: &ClusterSpec) -> Result<Box<dyn Cluster>, LaunchError>;
}

/// The nodes of one run. Dropping it kills every node (best effort; call
/// [`Cluster::stop_all`] to wait until they are gone).
#[async_trait]
pub trait Cluster: Send {
    /// The nodes, in launch order.
    fn members(&self) -> &[Member];

    /// Just before the first node was started (process spawned, container created): the t0
    /// of a cold start.
    fn started_at(&self) -> Stamp;

    /// Kills one node (SIGKILL / `docker kill` / its own SIGKILL on request), without waiting
    /// for it to be reaped.
    async fn kill(&mut self, id: &str) -> Result<(), LaunchError>;

    /// Starts a killed node again with the same flags, from its data directory (see
    /// [`ClusterSpec::data_dirs`]), running Raft at once; its log is appended to.
    async fn restart(&mut self, id: &str) -> Result<(), LaunchError>;

    /// Freezes one node (SIGSTOP / `docker pause`): it keeps its sockets and its peers their
    /// links, but it answers nothing, as a throttled background tab or a stalled machine.
    async fn pause(&mut self, id: &str) -> Result<(), LaunchError>;

    /// Thaws a node [`Cluster::pause`] froze (SIGCONT / `docker unpause`).
    async fn resume(&mut self, id: &str) -> Result<(), LaunchError>;

    /// Nodes that ended on their own since the last call: `(id, how)`.
    async fn exited(&mut self) -> Vec<(String, String)>;

    /// Kills and reaps every node that is still there.
    async fn stop_all(&mut self);

    /// Where the logs are (the run directory).
    fn logs_dir(&self) -> &Path;

    /// Keeps the run directory after the cluster is dropped.
    fn keep_logs(&mut self);
}

/// The `raftrtc node` flags for node `i` of `spec`: the shared [`Settings`], then what is this
/// node's own, with its control socket at `control`.
pub fn node_args(spec: &ClusterSpec, i: u32, id: &str, control: &Path) -> Vec<String> {
    let mut args = own_args(spec, i, id);
    args.extend(["--control".to_string(), control.display().to_string()]);
    if spec.data_dirs {
        args.push("--data-dir".to_string());
        args.push(data_dir_beside(control).display().to_string());
    }
    args
}

/// Like [`node_args`], for a node that dials the bench's control listener at `bench`
/// (`host:port`; the token goes in the environment) and keeps its data under `data_root`.
pub fn dialing_node_args(
    spec: &ClusterSpec,
    i: u32,
    id: &str,
    bench: &str,
    data_root: &Path,
) -> Vec<String> {
    let mut args = own_args(spec, i, id);
    args.extend(["--control-dial".to_string(), bench.to_string()]);
    if spec.data_dirs {
        args.push("--data-dir".to_string());
        args.push(data_root.join(format!("{id}.data")).display().to_string());
    }
    args
}

/// The flags of node `i` but its control and data directory.
fn own_args(spec: &ClusterSpec, i: u32, id: &str) -> Vec<String> {
    let mut args = spec.settings.to_args();
    args.extend([
        "--id".to_string(),
        id.to_string(),
        "--signaling-url".to_string(),
        spec.signaling_url.clone(),
        "--cluster".to_string(),
        spec.cluster.clone(),
        "--log-level".to_string(),
        spec.log_level.clone(),
        "--seed".to_string(),
        spec.seed.wrapping_add(u64::from(i)).to_string(),
    ]);
    if i == 0 {
        args.push("--first".to_string());
    }
    if spec.start_at_launch {
        args.push("--start".to_string());
    }
    if let Some(shared) = &spec.shared_key {
        args.extend([
            "--signaling-key".to_string(),
            shared.key.clone(),
            "--peers-poll".to_string(),
            format!("{}ms", shared.peers_poll.as_millis()),
        ]);
    }
    args
}

/// A node's data directory: `<id>.data` beside its control socket, so that it lives in the
/// run directory (a container's bind mount) and goes with it.
pub fn data_dir_beside(control: &Path) -> PathBuf {
    let stem = control
        .file_stem()
        .map_or_else(|| "node".into(), |s| s.to_string_lossy().into_owned());
    control.with_file_name(format!("{stem}.data"))
}

/// Process ids of every live child, for [`kill_registered`].
static CHILDREN: Mutex<BTreeSet<u32>> = Mutex::new(BTreeSet::new());
/// Docker runs in progress, removed on an interrupt.
static DOCKER_RUNS: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());
/// Swarm runs in progress, removed on an interrupt.
static SWARM_RUNS: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());
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

/// Records a swarm run so an interrupt removes its services, network and volumes.
pub(crate) fn register_swarm_run(run: &str) {
    registry(&SWARM_RUNS).insert(run.to_owned());
}

/// Forgets a swarm run (removed).
pub(crate) fn unregister_swarm_run(run: &str) {
    registry(&SWARM_RUNS).remove(run);
}

/// The swarm runs still registered (for the interrupt handler).
pub fn registered_swarm_runs() -> Vec<String> {
    registry(&SWARM_RUNS).iter().cloned().collect()
}

/// A run's directory (logs, sockets), registered for the interrupt handler while it lives,
/// and removed with it unless kept.
#[derive(Debug)]
pub(crate) struct RunDir {
    dir: Option<tempfile::TempDir>,
    path: PathBuf,
}

impl RunDir {
    /// A new `raftrtc-run-*` directory in the temp dir.
    pub(crate) fn new() -> Result<Self, LaunchError> {
        let dir = tempfile::Builder::new()
            .prefix("raftrtc-run-")
            .tempdir()
            .map_err(LaunchError::RunDir)?;
        let path = dir.path().to_path_buf();
        registry(&RUN_DIRS).insert(path.clone());
        Ok(Self {
            dir: Some(dir),
            path,
        })
    }

    /// Where it is.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Keeps it after the run (its logs are wanted).
    pub(crate) fn keep(&mut self) {
        if let Some(dir) = self.dir.take() {
            let _ = dir.keep();
        }
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        registry(&RUN_DIRS).remove(&self.path);
    }
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

#[cfg(test)]
mod tests {
    use clap::Parser;
    use node::settings::Profile;
    use raftrtc_raft::Replication;

    use super::*;
    use crate::cli::{Cli, Command, NodeArgs};

    fn spec(settings: Settings) -> ClusterSpec {
        ClusterSpec {
            nodes: 3,
            cluster: "c1".into(),
            signaling_url: "http://127.0.0.1:1/".into(),
            settings,
            log_level: "debug".into(),
            seed: 41,
            start_at_launch: false,
            data_dirs: false,
            shared_key: None,
        }
    }

    fn parsed(args: Vec<String>) -> NodeArgs {
        let argv = ["raftrtc".to_string(), "node".to_string()]
            .into_iter()
            .chain(args);
        match Cli::try_parse_from(argv)
            .expect("the node flags parse")
            .command
        {
            Command::Node(n) => n,
            other => panic!("not a node command: {other:?}"),
        }
    }

    #[test]
    fn settings_survive_the_trip_through_the_node_command_line() {
        let odd = Settings {
            election_timeout_ms: 777,
            heartbeat_ratio: 3,
            replication: Replication::Heartbeat,
            pre_vote: false,
            check_quorum: true,
            election_backoff: 2,
            lean_heartbeats: false,
            membership_poll_ms: 40,
            presence_failover: false,
            net: "delay=5ms;n1:loss=1%".to_owned(),
        };
        for settings in [Profile::Default.settings(), Profile::Paper.settings(), odd] {
            let s = spec(settings.clone());
            let node = parsed(node_args(&s, 2, "n2", Path::new("/r/n2.sock")));
            assert_eq!(node.settings, settings);
            assert_eq!(node.id, "n2");
            assert_eq!(node.cluster, "c1");
            assert_eq!(node.seed, Some(43), "node i gets seed + i");
            assert_eq!(node.log_level, "debug");
            assert!(!node.first);
        }
    }

    #[test]
    fn a_shared_key_reaches_the_node_with_its_poll_interval() {
        let mut s = spec(Settings::default());
        let plain = parsed(node_args(&s, 1, "n1", Path::new("/r/n1.sock")));
        assert_eq!((plain.signaling_key, plain.peers_poll), (None, None));
        s.shared_key = Some(SharedKey {
            key: "peerjs".into(),
            peers_poll: std::time::Duration::from_millis(150),
        });
        let node = parsed(node_args(&s, 1, "n1", Path::new("/r/n1.sock")));
        assert_eq!(node.signaling_key.as_deref(), Some("peerjs"));
        assert_eq!(node.peers_poll, Some(std::time::Duration::from_millis(150)));
        assert_eq!(node.cluster, "c1");
    }

    #[test]
    fn only_the_first_node_bootstraps() {
        let s = spec(Settings::default());
        assert!(parsed(node_args(&s, 0, "n0", Path::new("/r/n0.sock"))).first);
        assert!(!parsed(node_args(&s, 1, "n1", Path::new("/r/n1.sock"))).first);
    }

    #[test]
    fn every_node_of_a_cold_start_runs_raft_from_launch() {
        let mut s = spec(Settings::default());
        assert!(!parsed(node_args(&s, 1, "n1", Path::new("/r/n1.sock"))).start);
        s.start_at_launch = true;
        for (i, id) in s.ids().iter().enumerate() {
            let node = parsed(node_args(&s, i as u32, id, Path::new("/r/n.sock")));
            assert!(node.start, "{id}");
        }
    }

    #[test]
    fn nodes_get_a_data_directory_beside_their_control_socket_when_asked() {
        let mut s = spec(Settings::default());
        let control = Path::new("/r/n1.sock");
        assert_eq!(parsed(node_args(&s, 1, "n1", control)).data_dir, None);
        s.data_dirs = true;
        assert_eq!(
            parsed(node_args(&s, 1, "n1", control)).data_dir,
            Some(PathBuf::from("/r/n1.data"))
        );
    }

    #[test]
    fn a_node_without_settings_flags_gets_the_default_profile() {
        let node = parsed(
            [
                "--id",
                "a",
                "--signaling-url",
                "http://x/",
                "--control",
                "/c",
            ]
            .map(String::from)
            .to_vec(),
        );
        assert_eq!(node.settings, Profile::Default.settings());
    }
}
