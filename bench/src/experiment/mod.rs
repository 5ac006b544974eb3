//! The papers' three experiments on a real cluster, one run at a time.
//!
//! [`run_one`] is the only run loop: it launches the cluster, brings it up
//! ([`up`]), runs the test's own phase ([`kill`] or [`propagate`]), checks
//! the steady-state properties ([`safety`]) and tears everything down, all
//! under the run's deadline. Whatever happens — success, timeout, crash,
//! violation — it returns a [`RunReport`], never an error, so a matrix goes
//! on after a bad run.
//!
//! Times are measured on the bench's monotonic clock: t0 is taken just
//! before the action (the first node's launch in a cold start; start, kill,
//! submit) and the end is the receive time of the event that made the
//! test's condition true (see [`tracker`]). The phases of an up come from
//! the nodes' own timestamps on the same clock (see [`phases`]).

pub mod breakdown;
mod fault;
mod kill;
pub mod phases;
mod propagate;
pub mod safety;
mod session;
pub mod tracker;
mod up;

use std::cell::RefCell;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use node::control::protocol::Status;
use node::control::ClientError;
use node::netem::NetSpec;
use node::settings::Settings;

use crate::launcher::{Cluster, ClusterSpec, LaunchError, Launcher, SharedKey};
use crate::matrix::{RunSpec, TestKind};
use crate::results::Outcome;
use breakdown::Breakdown;
use fault::LeaderOut;
use phases::Phases;
use safety::Verdict;
use session::{Session, STATUS_BOUND};
use up::UpTimes;

/// Why a run could not be carried out (outcome `error`).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Launching or killing failed.
    #[error(transparent)]
    Launch(#[from] LaunchError),
    /// A control request failed.
    #[error("node {node}: {source}")]
    Control {
        /// The node.
        node: String,
        /// Why.
        #[source]
        source: ClientError,
    },
    /// A node the bench did not kill exited.
    #[error("node {id} exited on its own ({how})")]
    NodeExited {
        /// The node.
        id: String,
        /// Its exit status.
        how: String,
    },
    /// A node's event stream lagged, and the status taken to recover showed
    /// the test's condition already met: the moment it was met was among
    /// the lost events, so the run cannot be timed.
    #[error(
        "node {node} lost {missed} events (its event stream lagged) as the condition was met: \
         the end time is unknown"
    )]
    EventsLost {
        /// The node.
        node: String,
        /// How many events it reported lost.
        missed: u64,
    },
    /// A node's event stream ended while it should be running.
    #[error("node {0} closed its event stream")]
    StreamEnded(String),
    /// A node could not be reached at all.
    #[error("cannot reach {0}")]
    Unreachable(String),
    /// There was no single leader to kill.
    #[error("no single leader to kill")]
    NoLeader,
    /// There was no follower to submit at.
    #[error("no follower to submit at")]
    NoFollower,
    /// A bounded wait ran out.
    #[error("timed out while {0}")]
    TimedOut(&'static str),
}

/// How an up starts the cluster.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Start {
    /// t0 before the first node is launched; nodes run Raft from launch.
    #[default]
    Cold,
    /// Mesh formed first (nodes paused), t0 before `start` goes to all:
    /// Raft alone, without WebRTC.
    Warm,
}

impl Start {
    /// The name on the command line and in the CSV.
    pub const fn name(self) -> &'static str {
        match self {
            Start::Cold => "cold",
            Start::Warm => "warm",
        }
    }
}

impl std::fmt::Display for Start {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Settings shared by every run of an invocation.
#[derive(Clone, Debug)]
pub struct RunSettings {
    /// The nodes' settings (the election timeout is replaced per run).
    pub node: Settings,
    /// The nodes' `--log-level`.
    pub node_log_level: String,
    /// Base URL of the signaling server.
    pub signaling_url: String,
    /// The server's one key, shared by every run (an external server); `None`: a fresh
    /// key per run (the embedded server).
    pub shared_key: Option<SharedKey>,
    /// Which server that is, for the CSV.
    pub signaling: crate::results::Signaling,
    /// The per-run timeout (`None`: [`default_timeout`] for the size).
    pub timeout: Option<Duration>,
    /// Keep the logs of successful runs too.
    pub keep_logs: bool,
    /// How an up starts the cluster.
    pub start: Start,
}

impl RunSettings {
    /// The timeout of a run on `nodes` nodes.
    pub fn timeout_for(&self, nodes: usize) -> Duration {
        self.timeout.unwrap_or_else(|| default_timeout(nodes))
    }
}

/// The default per-run timeout: 10 s plus 0.5 s per node (connecting N
/// nodes pairwise is what grows).
pub fn default_timeout(nodes: usize) -> Duration {
    Duration::from_secs(10) + Duration::from_millis(500).saturating_mul(nodes as u32)
}

/// Everything a run produced.
#[derive(Clone, Debug)]
pub struct RunReport {
    /// How it ended.
    pub outcome: Outcome,
    /// Why the run could not be carried out (outcome `error`).
    pub error: Option<String>,
    /// The time the test measures.
    pub duration: Option<Duration>,
    /// The cluster's up time.
    pub up: Option<Duration>,
    /// After a pause or a partition was lifted, until the whole cluster followed the new
    /// leader with every acknowledged line (`pause_leader`, `isolate_leader`).
    pub rejoin: Option<Duration>,
    /// The phases of the up (`raft` is the up time).
    pub phases: Phases,
    /// Where the up's time went (empty if the cluster never came up).
    pub breakdown: Breakdown,
    /// The nodes killed.
    pub killed: Vec<String>,
    /// The safety check (`None` if the cluster never answered).
    pub verdict: Option<Verdict>,
    /// Where the logs were kept, if they were.
    pub logs: Option<PathBuf>,
    /// The phase the measurement ended in (where a timeout struck).
    pub ended_in: String,
}

impl RunReport {
    /// Marks the run as not carried out, for `reason`.
    fn fail(&mut self, reason: String) {
        self.outcome = Outcome::Error;
        self.error = Some(reason);
    }
}

/// A cluster name unique to the run: the process id and a counter keep this bench's runs
/// apart, a random part keeps apart benches on other hosts that share one signaling server
/// (where the name namespaces the nodes' ids).
fn cluster_name() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let random: u32 = rand::random();
    format!(
        "raftrtc-{}-{}-{random:08x}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Runs one test end to end; see the module docs. `phase` is told each
/// phase's name as it begins.
pub async fn run_one(
    launcher: &dyn Launcher,
    spec: &RunSpec,
    seed: u64,
    settings: &RunSettings,
    phase: &dyn Fn(&str),
) -> RunReport {
    let mut report = RunReport {
        outcome: Outcome::Ok,
        error: None,
        duration: None,
        up: None,
        rejoin: None,
        phases: Phases::default(),
        breakdown: Breakdown::default(),
        killed: Vec::new(),
        verdict: None,
        logs: None,
        ended_in: String::new(),
    };
    let current = RefCell::new(String::new());
    let phase = &|p: &str| {
        p.clone_into(&mut current.borrow_mut());
        phase(p);
    };
    phase("launching");
    let deadline = Instant::now() + settings.timeout_for(spec.nodes);
    let launched = match launcher.launch(&cluster_spec(spec, seed, settings)).await {
        Ok(c) => c,
        Err(e) => {
            report.fail(e.to_string());
            return report;
        }
    };
    let mut session = Session::new(launched, seed);
    let completed = measure_until(&mut session, spec, settings, deadline, &mut report, phase).await;
    report.ended_in = current.borrow().clone();
    phase("checking");
    check(&mut session, spec, completed, &mut report).await;
    phase("stopping");
    let cluster = session.cluster_mut();
    cluster.stop_all().await;
    if report.outcome != Outcome::Ok || settings.keep_logs {
        cluster.keep_logs();
        report.logs = Some(cluster.logs_dir().to_path_buf());
    }
    report
}

/// Launches `spec`'s cluster and brings it up cold with the whole mesh formed, within
/// `bound`: where a chaos run starts. On failure, the error and the cluster (for its logs).
pub(crate) async fn launch_up(
    launcher: &dyn Launcher,
    spec: &ClusterSpec,
    seed: u64,
    bound: Duration,
) -> Result<Box<dyn Cluster>, (RunError, Option<Box<dyn Cluster>>)> {
    let cluster = launcher
        .launch(spec)
        .await
        .map_err(|e| (RunError::Launch(e), None))?;
    let mut session = Session::new(cluster, seed);
    let launched = session.cluster_mut().started_at();
    let upped = tokio::time::timeout(bound, async {
        up::run(&mut session, Start::Cold, launched, &|_| {}).await?;
        session.wait_ready().await
    })
    .await;
    match upped {
        Ok(Ok(())) => Ok(session.into_cluster()),
        Ok(Err(e)) => Err((e, Some(session.into_cluster()))),
        Err(_) => Err((
            RunError::TimedOut("bringing the cluster up"),
            Some(session.into_cluster()),
        )),
    }
}

/// What the launcher needs for this run: the settings with its ET, a fresh PeerJS key.
fn cluster_spec(spec: &RunSpec, seed: u64, settings: &RunSettings) -> ClusterSpec {
    ClusterSpec {
        nodes: spec.nodes as u32,
        cluster: cluster_name(),
        signaling_url: settings.signaling_url.clone(),
        settings: Settings {
            election_timeout_ms: spec.election_timeout_ms,
            ..settings.node.clone()
        },
        log_level: settings.node_log_level.clone(),
        seed,
        start_at_launch: settings.start == Start::Cold,
        data_dirs: spec.test.restarts(),
        shared_key: settings.shared_key.clone(),
    }
}

/// Measures the test under the run's deadline, filling the report's times; whether the
/// measurement completed.
async fn measure_until(
    session: &mut Session,
    spec: &RunSpec,
    settings: &RunSettings,
    deadline: Instant,
    report: &mut RunReport,
    phase: &dyn Fn(&str),
) -> bool {
    let mut up = UpTimes::default();
    let net: NetSpec = settings.node.net.parse().unwrap_or_default();
    let measured = tokio::time::timeout_at(
        deadline.into(),
        measure(session, spec.test, settings.start, &net, &mut up, phase),
    )
    .await;
    report.up = up.phases.raft;
    report.phases = up.phases;
    report.breakdown = up.breakdown;
    report.killed = session.killed_ids();
    match measured {
        Ok(Ok(timed)) => {
            report.duration = Some(timed.took);
            report.rejoin = timed.rejoin;
            true
        }
        Ok(Err(e)) => {
            report.fail(e.to_string());
            false
        }
        Err(_) => {
            report.outcome = Outcome::Timeout;
            false
        }
    }
}

/// The steady-state properties, on every live node: waited for after a completed
/// measurement, asked once (as evidence) after a failed one.
async fn check(session: &mut Session, spec: &RunSpec, completed: bool, report: &mut RunReport) {
    report.verdict = if completed {
        match settled_verdict(session, settle_bound(spec.election_timeout_ms)).await {
            Ok(v) => Some(v),
            Err(e) => {
                report.fail(format!("safety check: {e}"));
                None
            }
        }
    } else {
        // A cancelled request may have left half a line on a connection.
        let asked = async {
            session.reconnect_all(STATUS_BOUND).await?;
            session.statuses().await
        };
        match tokio::time::timeout(STATUS_BOUND, asked).await {
            Ok(Ok(s)) => Some(safety::check(&strip(s))),
            _ => None,
        }
    };
    if report.outcome == Outcome::Ok && report.verdict.as_ref().is_some_and(|v| !v.ok()) {
        report.outcome = Outcome::Unsafe;
    }
}

/// What a test measured.
struct Timed {
    /// The test's time (the CSV's `duration_ms`).
    took: Duration,
    /// The second time of a leader-out fault.
    rejoin: Option<Duration>,
}

impl From<Duration> for Timed {
    fn from(took: Duration) -> Self {
        Timed { took, rejoin: None }
    }
}

/// Up, then the test's own phase; records the up phases as soon as known so
/// a later timeout still reports them. `net` is the run's conditions (a partition is
/// laid over them).
async fn measure(
    session: &mut Session,
    test: TestKind,
    start: Start,
    net: &NetSpec,
    up_times: &mut UpTimes,
    phase: &dyn Fn(&str),
) -> Result<Timed, RunError> {
    let launched = session.cluster_mut().started_at();
    *up_times = up::run(session, start, launched, phase).await?;
    let took = up_times.phases.raft.unwrap_or_default();
    let nodes = session.ids().len();
    if test != TestKind::Up {
        // A cold start's links between followers may still be forming (the leader's come
        // first); a kill or a propagation is timed on the whole mesh, as a warm start's is.
        phase("meshing");
        session.wait_ready().await?;
    }
    match test {
        TestKind::Up => Ok(took.into()),
        TestKind::KillLeader | TestKind::KillHalf | TestKind::KillCount(_) => {
            Ok(kill::run(session, test.killed(nodes), phase).await?.into())
        }
        TestKind::PauseLeader | TestKind::IsolateLeader => {
            let how = match test {
                TestKind::PauseLeader => LeaderOut::Pause,
                _ => LeaderOut::Isolate,
            };
            let r = fault::leader_out(session, how, net, phase).await?;
            Ok(Timed {
                took: r.elected,
                rejoin: Some(r.rejoined),
            })
        }
        TestKind::RestartAll => Ok(fault::restart_all(session, phase).await?.into()),
        TestKind::Propagate(m) => Ok(propagate::run(session, m, phase).await?.into()),
    }
}

/// How long the properties may take to settle after the condition held:
/// a few heartbeats, at least a second.
fn settle_bound(election_timeout_ms: u64) -> Duration {
    Duration::from_millis(election_timeout_ms.saturating_mul(4)).max(Duration::from_secs(1))
}

/// Polls every live node's status until the properties hold or `bound`
/// passes; the last verdict either way.
async fn settled_verdict(session: &mut Session, bound: Duration) -> Result<Verdict, RunError> {
    let until = Instant::now() + bound;
    loop {
        let statuses = tokio::time::timeout(STATUS_BOUND, session.statuses())
            .await
            .map_err(|_| RunError::Unreachable("a node's status (no answer)".into()))??;
        let verdict = safety::check(&strip(statuses));
        if verdict.ok() || Instant::now() >= until {
            return Ok(verdict);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn strip(statuses: Vec<(usize, Status)>) -> Vec<Status> {
    statuses.into_iter().map(|(_, s)| s).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_timeout_grows_with_the_cluster() {
        assert_eq!(default_timeout(3), Duration::from_millis(11_500));
        assert_eq!(default_timeout(21), Duration::from_millis(20_500));
    }

    #[test]
    fn cluster_names_are_unique_and_valid_peerjs_keys() {
        let a = cluster_name();
        let b = cluster_name();
        assert_ne!(a, b);
        assert!(a.len() <= 64);
        // A PeerJS key, and a namespace of ids on a shared key: no `.`.
        assert!(a
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-')));
    }

    #[test]
    fn the_settle_bound_is_a_few_election_timeouts_at_least_a_second() {
        assert_eq!(settle_bound(100), Duration::from_secs(1));
        assert_eq!(settle_bound(1000), Duration::from_secs(4));
    }
}
