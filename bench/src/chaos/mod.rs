//! `raftrtc chaos`: concurrent clients on a real cluster under a seeded fault schedule, and
//! checkers that decide from the history alone whether it behaved as one correct copy of
//! the state machine would have.
//!
//! One run, in order:
//! 1. launch N nodes with data directories and bring them up cold, the whole mesh formed;
//! 2. start K client workers ([`workload`]) writing the history, one JSON line per
//!    invocation and completion;
//! 3. carry out the schedule ([`schedule`], drawn from the seed; [`nemesis`]), one fault at a
//!    time, each lifted before the next; the load goes on for `--duration`;
//! 4. a quiet period with the load still on and nothing struck, then the clients stop;
//! 5. wait (bounded) for every node to hold the same log and state, read every node's chat;
//! 6. check ([`report`]): linearizable registers, the chat, durability, convergence,
//!    availability; write the CSV row, the summary and the timeline ([`timeline`]).

pub mod nemesis;
pub mod report;
pub mod schedule;
pub mod tally;
pub mod timeline;
pub mod workload;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use node::clock::monotonic_ns;
use node::control::ControlClient;
use node::netem::NetSpec;
use raftrtc_check::{History, Record};

use crate::experiment::{self, RunError};
use crate::launcher::{Cluster, ClusterSpec, Launcher};
use nemesis::{Nemesis, Signaling};
use report::Verdicts;
use schedule::Planned;
use workload::{Targets, Workload};

/// How long the nodes get to agree after the quiet period, beyond catching up.
const CONVERGE_BOUND: Duration = Duration::from_secs(15);
/// The longest convergence wait, whatever the logs' gap.
const CONVERGE_CAP: Duration = Duration::from_secs(300);

/// Everything one chaos run needs.
#[derive(Clone, Debug)]
pub struct ChaosPlan {
    /// The cluster (data directories and a cold start are forced).
    pub cluster: ClusterSpec,
    /// The clients.
    pub workload: Workload,
    /// The load's length (faults strike within it).
    pub duration: Duration,
    /// After the load, with nothing struck, before the clients stop.
    pub quiet: Duration,
    /// The faults, in order.
    pub schedule: Vec<Planned>,
    /// The history file (JSON lines).
    pub history: PathBuf,
    /// Search steps per register for the linearizability checker.
    pub lin_budget: u64,
}

/// What a run produced.
pub struct ChaosOutcome {
    /// The history's records, as written.
    pub records: Vec<Record>,
    /// The history.
    pub history: History,
    /// When each fault struck and was lifted.
    pub windows: Vec<raftrtc_check::FaultWindow>,
    /// The load's span on the bench's clock (ns).
    pub span: (u64, u64),
    /// The checkers' verdicts.
    pub verdicts: Verdicts,
}

/// Why a run could not be carried out.
#[derive(Debug, thiserror::Error)]
pub enum ChaosError {
    /// The cluster did not come up.
    #[error("the cluster did not come up: {0}")]
    Up(RunError),
    /// The nemesis could not carry out a fault.
    #[error("fault: {0}")]
    Nemesis(#[from] nemesis::NemesisError),
    /// The history could not be written.
    #[error("history {path}: {source}")]
    History {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The history written does not read back (a bug of the bench).
    #[error("the history does not read back: {0}")]
    Replay(#[from] raftrtc_check::HistoryError),
}

/// Runs one chaos run on a cluster from `launcher`, with the embedded `signaling` server.
pub async fn run(
    launcher: &dyn Launcher,
    plan: &ChaosPlan,
    signaling: &mut Signaling,
    log: &dyn Fn(&str),
) -> (Result<ChaosOutcome, ChaosError>, Option<Box<dyn Cluster>>) {
    let spec = ClusterSpec {
        start_at_launch: true,
        data_dirs: true,
        signaling_url: signaling.url(),
        ..plan.cluster.clone()
    };
    let bound = experiment::default_timeout(plan.cluster.nodes as usize);
    let mut cluster = match experiment::launch_up(launcher, &spec, spec.seed, bound).await {
        Ok(c) => c,
        Err((e, cluster)) => return (Err(ChaosError::Up(e)), cluster),
    };
    let outcome = drive(cluster.as_mut(), plan, signaling, log).await;
    (outcome, Some(cluster))
}

/// Steps 2 to 6 on an up cluster.
async fn drive(
    cluster: &mut dyn Cluster,
    plan: &ChaosPlan,
    signaling: &mut Signaling,
    log: &dyn Fn(&str),
) -> Result<ChaosOutcome, ChaosError> {
    let targets = Targets {
        ids: cluster.members().iter().map(|m| m.id.clone()).collect(),
        controls: cluster
            .members()
            .iter()
            .map(|m| m.control.clone())
            .collect(),
    };
    let file = std::fs::File::create(&plan.history).map_err(|source| ChaosError::History {
        path: plan.history.clone(),
        source,
    })?;
    let t0 = Instant::now();
    let start_ns = monotonic_ns();
    let clients = workload::start(&plan.workload, targets.clone(), file, plan.cluster.seed);
    let base: NetSpec = plan.cluster.settings.net.parse().unwrap_or_default();
    let mut nemesis = Nemesis {
        cluster,
        signaling,
        targets: &targets,
        base,
    };
    let struck = nemesis.run(&plan.schedule, t0, log).await;
    tokio::time::sleep_until((t0 + plan.duration).into()).await;
    log("quiet");
    tokio::time::sleep(plan.quiet).await;
    let end_ns = monotonic_ns();
    let records = clients.stop().await.map_err(|source| ChaosError::History {
        path: plan.history.clone(),
        source,
    })?;
    let windows = struck?;
    let settings = &plan.cluster.settings;
    let heartbeat = Duration::from_millis(
        settings.election_timeout_ms / u64::from(settings.heartbeat_ratio.max(1)),
    );
    let converged = converge(&targets, heartbeat).await;
    let chats = read_chats(&targets).await;
    let history = History::from_records(records.iter().cloned())?;
    let verdicts = report::check(
        &history,
        &chats,
        &windows,
        (start_ns, end_ns),
        converged,
        plan.lin_budget,
    );
    Ok(ChaosOutcome {
        records,
        history,
        windows,
        span: (start_ns, end_ns),
        verdicts,
    })
}

/// Waits until every node reports the same log, commit and state, all applied; how long
/// that took, or, if not in time, what each node last reported. In time: [`CONVERGE_BOUND`]
/// plus one `heartbeat` per entry of the widest gap between two logs seen, since a follower
/// of the paper profile backs up one entry per heartbeat (Raft.js's rule), capped at
/// [`CONVERGE_CAP`].
async fn converge(targets: &Targets, heartbeat: Duration) -> Result<Duration, Vec<String>> {
    let started = Instant::now();
    let mut last = Vec::new();
    let mut bound = CONVERGE_BOUND;
    while started.elapsed() < bound {
        let mut seen = Vec::new();
        last.clear();
        for (id, path) in targets.ids.iter().zip(&targets.controls) {
            let asked = async {
                let mut c = ControlClient::connect(path, Duration::ZERO).await?;
                c.status().await
            };
            match tokio::time::timeout(Duration::from_secs(1), asked).await {
                Ok(Ok(s)) => {
                    last.push(format!(
                        "{id}: {:?} term {}, leader {:?}, commit {}, applied {}, log {} ({}), \
                         state {}, members {:?}",
                        s.role,
                        s.term,
                        s.leader,
                        s.commit_index,
                        s.last_applied,
                        s.log_len,
                        s.log_hash,
                        s.state_hash,
                        s.applied_members
                    ));
                    seen.push(s);
                }
                _ => last.push(format!("{id}: no answer")),
            }
        }
        let agreed = seen.len() == targets.controls.len()
            && seen.iter().all(|s| {
                s.log_hash == seen[0].log_hash
                    && s.state_hash == seen[0].state_hash
                    && s.commit_index == seen[0].commit_index
                    && s.last_applied == s.commit_index
            });
        if agreed {
            return Ok(started.elapsed());
        }
        let lens = seen.iter().map(|s| s.log_len);
        let gap = lens.clone().max().unwrap_or(0) - lens.min().unwrap_or(0);
        let catch_up = heartbeat.saturating_mul(u32::try_from(gap).unwrap_or(u32::MAX));
        bound = bound.max((CONVERGE_BOUND + catch_up).min(CONVERGE_CAP));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(last)
}

/// Every node's chat (a node that does not answer has none).
async fn read_chats(targets: &Targets) -> BTreeMap<String, Vec<String>> {
    let mut chats = BTreeMap::new();
    for (id, path) in targets.ids.iter().zip(&targets.controls) {
        let asked = async {
            let mut c = ControlClient::connect(path, Duration::ZERO).await?;
            c.chat().await
        };
        if let Ok(Ok(chat)) = tokio::time::timeout(Duration::from_secs(2), asked).await {
            chats.insert(id.clone(), chat);
        }
    }
    chats
}
