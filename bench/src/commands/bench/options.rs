//! The flags of an experiment subcommand resolved into [`Options`]: the plan, the nodes'
//! [`Settings`] from the profile and its overrides, and every output. Plans that cannot
//! succeed are refused here, before anything starts, as usage errors.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use node::settings::{Profile, Settings};

use crate::cli::{BaselineArgs, BenchArgs, CommonArgs, ExportArgs, LauncherArg};
use crate::commands::UsageError;
use crate::experiment::Start;
use crate::launcher::SharedKey;
use crate::matrix::{Plan, RunSpec, TestKind};

/// Runs per cell of `smoke` with `--baseline` or `--save-baseline`, in rounds, after
/// [`SMOKE_BASELINE_WARMUP`] warmup runs per cell: about 15 s on the 2-core machine.
///
/// Why this many: a shared machine has slow spells lasting seconds, so a set of runs taken
/// in 5 s can sit 10 % off the machine's typical speed however many runs it holds. 40 runs
/// in rounds spread each cell over the whole invocation; with the confirmation of a slower
/// cell (`baseline.rs`) that kept one build from crying wolf (results/ci/).
pub const SMOKE_BASELINE_RUNS: u32 = 40;

/// Warmup runs per cell of `smoke` with a baseline: an invocation's first runs are slower
/// (binary and libraries not yet in the page cache, allocator and scheduler cold).
pub const SMOKE_BASELINE_WARMUP: u32 = 2;

/// A signaling server outside the bench (`--signaling-url`), whose one key every run shares.
#[derive(Clone, Debug)]
pub struct ExternalSignaling {
    /// Its base URL.
    pub url: String,
    /// Its key, and how nodes poll its peer list.
    pub shared_key: SharedKey,
}

/// Matrix defaults of a subcommand when the flags are not given.
#[derive(Clone, Debug)]
pub struct Defaults {
    /// `--nodes`.
    pub sizes: Vec<usize>,
    /// `--election-timeout`.
    pub timeouts_ms: Vec<u64>,
    /// `--runs`.
    pub runs: u32,
}

impl Defaults {
    /// `up`, `kill`, `propagate`: small and quick.
    pub fn single() -> Self {
        Self {
            sizes: vec![3, 5],
            timeouts_ms: vec![250],
            runs: 3,
        }
    }

    /// `matrix`: the Dec 2015 papers' plan.
    pub fn papers() -> Self {
        Self {
            sizes: (3..=35).step_by(2).collect(),
            timeouts_ms: vec![250, 500, 1000],
            runs: 7,
        }
    }
}

/// Everything a benchmark invocation needs, resolved from the flags.
#[derive(Clone, Debug)]
pub struct Options {
    /// What to run.
    pub plan: Plan,
    /// Node settings (the election timeout is set per run).
    pub node: Settings,
    /// The nodes' `--log-level`.
    pub node_log_level: String,
    /// `--profile`, for the CSV.
    pub profile: Profile,
    /// `--launcher`.
    pub launcher: LauncherArg,
    /// `--start`.
    pub start: Start,
    /// `--out`.
    pub out: Option<PathBuf>,
    /// Where the summary is exported besides the terminal.
    pub exports: ExportArgs,
    /// `--save-baseline`, `--baseline`, `--threshold`.
    pub baseline: BaselineArgs,
    /// `--warmup`: unrecorded runs made first in each cell.
    pub warmup: u32,
    /// `--timeout`.
    pub timeout: Option<Duration>,
    /// Seed of the first run.
    pub seed: u64,
    /// `--keep-logs`.
    pub keep_logs: bool,
    /// `--breakdown`.
    pub breakdown: bool,
    /// `--signaling-url` with its key and poll interval: a server outside the bench.
    pub external_signaling: Option<ExternalSignaling>,
    /// `--cpus` / `--memory` for the Docker and swarm launchers.
    pub limits: crate::docker::Limits,
    /// `--image`, `--placement`, `--bench-address`, `--control-port`.
    pub swarm: crate::launcher::swarm::SwarmOptions,
}

impl Options {
    /// Resolves an experiment subcommand's flags for these tests.
    pub fn from_bench(
        args: BenchArgs,
        tests: Vec<TestKind>,
        defaults: Defaults,
    ) -> Result<Self, UsageError> {
        let plan = Plan {
            tests,
            sizes: args.nodes.unwrap_or(defaults.sizes),
            timeouts_ms: args.election_timeout.unwrap_or(defaults.timeouts_ms),
            runs: args.runs.unwrap_or(defaults.runs),
        };
        let mut node = args.profile.settings();
        if let Some(ratio) = args.heartbeat_ratio {
            node.heartbeat_ratio = ratio;
        }
        if let Some(replication) = args.replication {
            node.replication = replication;
        }
        let mut options = Self::new(plan, node, args.profile, args.common);
        options.node_log_level = args.node_log_level;
        options.validate()?;
        Ok(options)
    }

    /// `smoke`: up, kill leader, propagate 1 at 3 and 5 nodes, ET 250, once; with a
    /// baseline to save or compare with, [`SMOKE_BASELINE_RUNS`] times after
    /// [`SMOKE_BASELINE_WARMUP`] warmup runs.
    pub fn smoke(common: CommonArgs) -> Result<Self, UsageError> {
        let with_baseline = common.baseline.in_use();
        let plan = Plan {
            tests: vec![TestKind::Up, TestKind::KillLeader, TestKind::Propagate(1)],
            sizes: vec![3, 5],
            timeouts_ms: vec![250],
            runs: if with_baseline {
                SMOKE_BASELINE_RUNS
            } else {
                1
            },
        };
        let mut common = common;
        if with_baseline {
            common.warmup = common.warmup.max(SMOKE_BASELINE_WARMUP);
        }
        let options = Self::new(plan, Profile::Default.settings(), Profile::Default, common);
        options.validate()?;
        Ok(options)
    }

    fn new(plan: Plan, node: Settings, profile: Profile, common: CommonArgs) -> Self {
        let node = Settings {
            net: common.net.clone(),
            ..node
        };
        Self {
            plan,
            node,
            node_log_level: "info".to_string(),
            profile,
            launcher: common.launcher,
            start: common.start,
            out: common.out,
            exports: common.exports,
            baseline: common.baseline,
            warmup: common.warmup,
            timeout: common.timeout,
            seed: common.seed.unwrap_or_else(seed_from_clock),
            keep_logs: common.keep_logs,
            breakdown: common.breakdown,
            external_signaling: common.signaling_url.map(|url| ExternalSignaling {
                url,
                shared_key: SharedKey {
                    key: common.signaling_key,
                    peers_poll: common.peers_poll,
                },
            }),
            limits: crate::docker::Limits {
                cpus: common.cpus,
                memory_bytes: common.memory,
            },
            swarm: common.swarm.options(),
        }
    }

    /// The runs in the order they are made: cell by cell, or in rounds (see
    /// [`Plan::rounds`]) when a baseline is saved or compared with.
    pub fn specs(&self) -> Vec<RunSpec> {
        match self.baseline.in_use() {
            true => self.plan.rounds(),
            false => self.plan.specs(),
        }
    }

    /// Refuses plans that cannot succeed: kills that leave no majority,
    /// propagation without a follower.
    fn validate(&self) -> Result<(), UsageError> {
        if self.plan.is_empty() {
            return Err(UsageError("the plan has no run".into()));
        }
        for test in &self.plan.tests {
            for &n in &self.plan.sizes {
                if matches!(test, TestKind::Propagate(_)) && n < 2 {
                    return Err(UsageError(format!(
                        "{test} submits at a follower: it needs at least 2 nodes, not {n}"
                    )));
                }
                let killed = test.killed(n);
                let leader_out = matches!(test, TestKind::PauseLeader | TestKind::IsolateLeader);
                if leader_out && n < 3 {
                    return Err(UsageError(format!(
                        "{test} at {n} nodes leaves no majority without the leader: use at \
                         least 3 nodes"
                    )));
                }
                let is_kill = matches!(
                    test,
                    TestKind::KillLeader | TestKind::KillHalf | TestKind::KillCount(_)
                );
                if is_kill && (killed == 0 || killed > (n - 1) / 2) {
                    return Err(UsageError(format!(
                        "{test} at {n} nodes kills {killed}: the survivors must be a majority \
                         (at most {} of {n}) and at least one node must die; use larger --nodes",
                        (n - 1) / 2
                    )));
                }
            }
        }
        if let Some(path) = &self.baseline.baseline {
            // Unreadable is found now, not after the runs.
            crate::commands::compare::cells_of(path)
                .map_err(|e| UsageError(format!("--baseline: {e}")))?;
        }
        if let Some(binary) = &self.baseline.reference_binary {
            if self.launcher != LauncherArg::Process {
                return Err(UsageError(
                    "--reference-binary runs the reference's nodes as processes: use it with \
                     --launcher process"
                        .into(),
                ));
            }
            if !binary.is_file() {
                return Err(UsageError(format!(
                    "--reference-binary {}: no such file",
                    binary.display()
                )));
            }
        }
        if let Some(external) = &self.external_signaling {
            let url = &external.url;
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(UsageError(format!(
                    "--signaling-url `{url}` must be an http:// or https:// URL"
                )));
            }
            let key = &external.shared_key.key;
            if !signaling::protocol::is_valid_key(key) {
                return Err(UsageError(format!(
                    "--signaling-key `{key}` must be 1-64 characters of [A-Za-z0-9_.-]"
                )));
            }
        }
        Ok(())
    }
}

/// A seed from the wall clock and the process id, when `--seed` is not given.
pub fn seed_from_clock() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    nanos ^ (u64::from(std::process::id()) << 32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(tests: Vec<TestKind>, sizes: Vec<usize>) -> Result<Options, UsageError> {
        let plan = Plan {
            tests,
            sizes,
            timeouts_ms: vec![250],
            runs: 1,
        };
        let common = CommonArgs {
            warmup: 0,
            exports: ExportArgs::default(),
            baseline: BaselineArgs::default(),
            launcher: LauncherArg::Process,
            swarm: crate::cli::SwarmArgs::default(),
            start: Start::Cold,
            out: None,
            timeout: None,
            seed: Some(1),
            keep_logs: false,
            breakdown: false,
            signaling_url: None,
            signaling_key: "peerjs".to_owned(),
            peers_poll: Duration::from_millis(100),
            net: "none".to_owned(),
            cpus: None,
            memory: None,
        };
        let o = Options::new(plan, Settings::default(), Profile::Default, common);
        o.validate().map(|()| o)
    }

    #[test]
    fn kills_must_leave_a_majority() {
        assert!(options(vec![TestKind::KillLeader], vec![3, 5]).is_ok());
        assert!(options(vec![TestKind::KillHalf], vec![3, 21]).is_ok());
        assert!(options(vec![TestKind::KillCount(2)], vec![5]).is_ok());
        assert!(options(vec![TestKind::PauseLeader], vec![3]).is_ok());
        assert!(options(vec![TestKind::IsolateLeader], vec![2]).is_err());
        assert!(options(vec![TestKind::RestartAll], vec![1, 5]).is_ok());
        let e = options(vec![TestKind::KillCount(3)], vec![5]).unwrap_err();
        assert!(e.0.contains("majority"), "{e}");
        assert!(options(vec![TestKind::KillLeader], vec![2]).is_err());
        assert!(options(vec![TestKind::KillHalf], vec![1]).is_err());
        assert!(options(vec![TestKind::Up], vec![1]).is_ok());
        assert!(options(vec![TestKind::Propagate(1)], vec![1]).is_err());
        assert!(options(vec![TestKind::Propagate(1)], vec![2]).is_ok());
    }

    #[test]
    fn the_papers_plan_is_the_matrix_default() {
        let d = Defaults::papers();
        assert_eq!(d.sizes.first(), Some(&3));
        assert_eq!(d.sizes.last(), Some(&35));
        assert_eq!(d.runs, 7);
    }

    fn parse_bench(args: &[&str]) -> BenchArgs {
        use clap::Parser;
        let argv = ["raftrtc", "up"].iter().chain(args).copied();
        match crate::cli::Cli::try_parse_from(argv).unwrap().command {
            crate::cli::Command::Up(up) => up.bench,
            _ => unreachable!("parsed `up`"),
        }
    }

    #[test]
    fn the_profile_gives_the_settings_and_flags_override_them() {
        let o = Options::from_bench(
            parse_bench(&["--profile", "paper"]),
            vec![TestKind::Up],
            Defaults::single(),
        )
        .unwrap();
        assert_eq!(o.node, Profile::Paper.settings());
        let o = Options::from_bench(
            parse_bench(&[
                "--profile",
                "paper",
                "--replication",
                "immediate",
                "--heartbeat-ratio",
                "10",
            ]),
            vec![TestKind::Up],
            Defaults::single(),
        )
        .unwrap();
        assert_eq!(o.node.replication, raftrtc_raft::Replication::Immediate);
        assert_eq!(o.node.heartbeat_ratio, 10);
        assert!(!o.node.pre_vote, "the rest of the paper profile stays");
    }
}
