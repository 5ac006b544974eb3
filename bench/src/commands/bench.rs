//! The one benchmark loop every experiment subcommand shares: resolve the
//! flags into [`Options`], then [`run_plan`] runs the matrix run by run,
//! appends a CSV row after each, and prints the summary.
//!
//! Exit status: 0 if every run was `ok`, 1 if any was not, 2 for a usage
//! error found before anything started (see [`super::UsageError`]).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use signaling::{Server, ServerConfig};

use super::UsageError;
use crate::cli::{BenchArgs, CommonArgs, LauncherArg, Profile, ReplicationArg};
use crate::docker::DockerError;
use crate::experiment::{self, RunReport, RunSettings};
use crate::launcher::docker::DockerLauncher;
use crate::launcher::process::ProcessLauncher;
use crate::launcher::{self, Launcher, NodeConfig};
use crate::matrix::{Plan, RunSpec, TestKind};
use crate::progress::Progress;
use crate::results::{self, export, stats, CsvWriter, Outcome, Row};

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
    pub node: NodeConfig,
    /// `--profile`, for the CSV.
    pub profile: Profile,
    /// `--launcher`.
    pub launcher: LauncherArg,
    /// `--out`.
    pub out: Option<PathBuf>,
    /// `--export-json`.
    pub export_json: Option<PathBuf>,
    /// `--export-markdown`.
    pub export_markdown: Option<PathBuf>,
    /// `--timeout`.
    pub timeout: Option<Duration>,
    /// Seed of the first run.
    pub seed: u64,
    /// `--keep-logs`.
    pub keep_logs: bool,
    /// `--signaling-url`.
    pub signaling_url: Option<String>,
    /// `--cpus` / `--memory` for the Docker launcher.
    pub limits: crate::docker::Limits,
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
        let paper = args.profile == Profile::Paper;
        let node = NodeConfig {
            election_timeout_ms: 0,
            heartbeat_ratio: args.heartbeat_ratio,
            replication: args.replication.unwrap_or(if paper {
                ReplicationArg::Heartbeat
            } else {
                ReplicationArg::Immediate
            }),
            pre_vote: !paper,
            check_quorum: !paper,
            membership_poll_ms: if paper { 100 } else { 0 },
            presence_failover: !paper,
            log_level: args.node_log_level,
        };
        let mut options = Self::new(plan, node, args.profile, args.common);
        options.export_json = args.export_json;
        options.export_markdown = args.export_markdown;
        options.validate()?;
        Ok(options)
    }

    /// `smoke`: up, kill leader, propagate 1 at 3 and 5 nodes, ET 250, once.
    pub fn smoke(common: CommonArgs) -> Result<Self, UsageError> {
        let plan = Plan {
            tests: vec![TestKind::Up, TestKind::KillLeader, TestKind::Propagate(1)],
            sizes: vec![3, 5],
            timeouts_ms: vec![250],
            runs: 1,
        };
        let node = NodeConfig::default_profile();
        let options = Self::new(plan, node, Profile::Default, common);
        options.validate()?;
        Ok(options)
    }

    fn new(plan: Plan, node: NodeConfig, profile: Profile, common: CommonArgs) -> Self {
        Self {
            plan,
            node,
            profile,
            launcher: common.launcher,
            out: common.out,
            export_json: None,
            export_markdown: None,
            timeout: common.timeout,
            seed: common.seed.unwrap_or_else(seed_from_clock),
            keep_logs: common.keep_logs,
            signaling_url: common.signaling_url,
            limits: crate::docker::Limits {
                cpus: common.cpus,
                memory_bytes: common.memory,
            },
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
        if let Some(url) = &self.signaling_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(UsageError(format!(
                    "--signaling-url `{url}` must be an http:// or https:// URL"
                )));
            }
        }
        Ok(())
    }
}

fn seed_from_clock() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    nanos ^ (u64::from(std::process::id()) << 32)
}

/// Runs every run of the plan; see the module docs for the exit status.
pub fn run_plan(options: Options) -> anyhow::Result<ExitCode> {
    let mut csv = match &options.out {
        Some(path) => {
            let w = CsvWriter::open_append(path).map_err(|e| UsageError(format!("--out: {e}")))?;
            if let Some(line) = w.dropped_torn_line() {
                eprintln!(
                    "raftrtc: warning: {} line {line} was incomplete (an earlier bench was stopped while writing it) and was removed",
                    path.display()
                );
            }
            Some(w)
        }
        None => None,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let rows = runtime.block_on(async {
        install_interrupt_handler();
        let launcher: Box<dyn Launcher> = match options.launcher {
            LauncherArg::Process => Box::new(
                ProcessLauncher::current_exe()
                    .context("cannot find the raftrtc binary to launch")?,
            ),
            LauncherArg::Docker => Box::new(
                DockerLauncher::connect(options.limits)
                    .await
                    .map_err(|e| match e {
                        e @ (DockerError::EngineUnavailable { .. }
                        | DockerError::InvalidLimit(_)) => {
                            anyhow::Error::new(UsageError(format!("--launcher docker: {e}")))
                        }
                        e => anyhow::Error::new(e).context("cannot prepare the Docker launcher"),
                    })?,
            ),
        };
        run_all(&options, launcher.as_ref(), csv.as_mut()).await
    })?;

    let summaries = stats::summarize(&rows);
    println!();
    print!("{}", export::render_table(&summaries));
    if let Some(path) = &options.export_json {
        export::write_json(path, &summaries)?;
    }
    if let Some(path) = &options.export_markdown {
        export::write_markdown(path, &summaries)?;
    }
    if let Some(w) = &csv {
        println!("rows appended to {}", w.path().display());
    }
    let failed = rows.iter().filter(|r| !r.outcome.is_ok()).count();
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        eprintln!("raftrtc: {failed} of {} runs failed", rows.len());
        ExitCode::from(1)
    })
}

/// The embedded signaling server: loopback for processes; all addresses for
/// containers, which reach it at their bridge network's gateway.
fn signaling_config(launcher: LauncherArg) -> ServerConfig {
    let mut config = ServerConfig::default();
    if launcher == LauncherArg::Docker {
        config.listen = std::net::SocketAddr::from(([0, 0, 0, 0], 0));
    }
    config
}

/// Starts the signaling server (unless external), then runs the plan.
async fn run_all(
    options: &Options,
    launcher: &dyn Launcher,
    mut csv: Option<&mut CsvWriter>,
) -> anyhow::Result<Vec<Row>> {
    let (server, signaling_url) = match &options.signaling_url {
        Some(url) => (None, url.clone()),
        None => {
            let server = Server::bind(signaling_config(options.launcher))
                .await
                .context("cannot start the embedded signaling server")?
                .spawn();
            let url = server.url();
            (Some(server), url)
        }
    };
    let settings = RunSettings {
        node: options.node.clone(),
        signaling_url,
        timeout: options.timeout,
        keep_logs: options.keep_logs,
    };
    let specs = options.plan.specs();
    let progress = Progress::new(specs.len());
    let mut rows = Vec::with_capacity(specs.len());
    for (k, spec) in specs.iter().enumerate() {
        let seed = options.seed.wrapping_add(k as u64);
        let label = label(spec, options.plan.runs);
        let started_at = SystemTime::now();
        let report = experiment::run_one(launcher, spec, seed, &settings, &|phase| {
            progress.phase(&label, phase);
        })
        .await;
        let row = to_row(options, spec, seed, started_at, &report, &settings);
        if let Some(w) = csv.as_deref_mut() {
            w.write_row(&row)?;
        }
        progress.finish_run(k, &describe(&label, &row, &report));
        if let Some(dir) = &report.logs {
            progress.println(&format!("    logs: {}", dir.display()));
        }
        rows.push(row);
    }
    progress.finish();
    if let Some(server) = server {
        let _ = server.shutdown().await;
    }
    Ok(rows)
}

/// Kills every node and exits on Ctrl-C or SIGTERM, printing where the
/// interrupted run's logs are.
fn install_interrupt_handler() {
    tokio::spawn(async {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(t) => t,
                Err(_) => return,
            };
        // Exit as a shell reports death by that signal: 128 + its number.
        let status = tokio::select! {
            _ = tokio::signal::ctrl_c() => 128 + libc::SIGINT,
            _ = term.recv() => 128 + libc::SIGTERM,
        };
        let dirs = launcher::kill_registered();
        let runs = launcher::registered_docker_runs();
        if !runs.is_empty() {
            if let Ok(engine) = crate::docker::connect().await {
                for run in runs {
                    let _ = crate::docker::remove_run(&engine.docker, &run).await;
                }
            }
        }
        eprintln!("\nraftrtc: interrupted; every node was killed");
        for dir in dirs {
            eprintln!("raftrtc: logs of the interrupted run: {}", dir.display());
        }
        std::process::exit(status);
    });
}

fn label(spec: &RunSpec, runs: u32) -> String {
    format!(
        "{} n={} et={}ms run {}/{}",
        spec.test, spec.nodes, spec.election_timeout_ms, spec.run, runs
    )
}

fn describe(label: &str, row: &Row, report: &RunReport) -> String {
    let ms = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1} ms"));
    let mut line = format!("{label}: {} {}", row.outcome, ms(row.duration_ms));
    if row.test != TestKind::Up {
        line.push_str(&format!(" (up {})", ms(row.up_ms)));
    }
    if !report.killed.is_empty() {
        line.push_str(&format!(" killed {}", report.killed.join(",")));
    }
    if let Some(v) = &report.verdict {
        line.push_str(&format!(
            ", {} elections, term {}, {} rpcs",
            v.elections, v.final_term, v.rpc_sent
        ));
    }
    if !row.error.is_empty() {
        line.push_str(&format!(": {}", row.error));
    } else if row.properties != "ok" {
        line.push_str(&format!(": properties {}", row.properties));
    }
    line
}

fn to_row(
    options: &Options,
    spec: &RunSpec,
    seed: u64,
    started_at: SystemTime,
    report: &RunReport,
    settings: &RunSettings,
) -> Row {
    let ms = |d: Option<Duration>| d.map(|d| d.as_secs_f64() * 1000.0);
    let error = match report.outcome {
        Outcome::Timeout => format!(
            "timed out after {:?} while {}",
            settings.timeout_for(spec.nodes),
            report.ended_in
        ),
        _ => report.error.clone().unwrap_or_default(),
    };
    Row {
        test: spec.test,
        launcher: match options.launcher {
            LauncherArg::Process => results::Launcher::Process,
            LauncherArg::Docker => results::Launcher::Docker,
        },
        nodes: spec.nodes,
        election_timeout_ms: spec.election_timeout_ms,
        heartbeat_ms: spec.election_timeout_ms / u64::from(options.node.heartbeat_ratio.max(1)),
        replication: match options.node.replication {
            ReplicationArg::Immediate => results::Replication::Immediate,
            ReplicationArg::Heartbeat => results::Replication::Heartbeat,
        },
        run: spec.run,
        seed,
        killed: spec.test.killed(spec.nodes),
        messages: spec.test.messages(),
        outcome: report.outcome,
        duration_ms: ms(report.duration),
        up_ms: ms(report.up),
        elections: report.verdict.as_ref().map(|v| v.elections),
        final_term: report.verdict.as_ref().map(|v| v.final_term),
        properties: report
            .verdict
            .as_ref()
            .map_or_else(|| "unchecked".to_string(), |v| v.properties()),
        version: env!("CARGO_PKG_VERSION").to_string(),
        started_at: rfc3339(started_at),
        profile: match options.profile {
            Profile::Default => results::Profile::Default,
            Profile::Paper => results::Profile::Paper,
        },
        error,
        logs: report
            .logs
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
    }
}

/// `2025-01-31T12:34:56.789Z` (UTC).
fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = UNIX_EPOCH + Duration::from_millis(1_709_210_096_250);
        assert_eq!(rfc3339(t), "2024-02-29T12:34:56.250Z");
        let t = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(rfc3339(t), "2000-02-29T00:00:00.000Z");
    }

    fn options(tests: Vec<TestKind>, sizes: Vec<usize>) -> Result<Options, UsageError> {
        let plan = Plan {
            tests,
            sizes,
            timeouts_ms: vec![250],
            runs: 1,
        };
        let common = CommonArgs {
            launcher: LauncherArg::Process,
            out: None,
            timeout: None,
            seed: Some(1),
            keep_logs: false,
            signaling_url: None,
            cpus: None,
            memory: None,
        };
        let node = NodeConfig::default_profile();
        let o = Options::new(plan, node, Profile::Default, common);
        o.validate().map(|()| o)
    }

    #[test]
    fn kills_must_leave_a_majority() {
        assert!(options(vec![TestKind::KillLeader], vec![3, 5]).is_ok());
        assert!(options(vec![TestKind::KillHalf], vec![3, 21]).is_ok());
        assert!(options(vec![TestKind::KillCount(2)], vec![5]).is_ok());
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
}
