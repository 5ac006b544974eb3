//! The run loop: every run of the plan in turn, a CSV row appended (and synced) as each ends,
//! progress on the terminal, then the summary and the exports.
//!
//! Every invocation leaves its rows in a CSV: `--out`'s, or else a new file named after the
//! experiment and the UTC time under `raftrtc-results/` in the working directory, whose path
//! is the last line printed.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::SystemTime;

use anyhow::Context;
use chrono::{DateTime, Utc};
use signaling::{Server, ServerConfig};

use super::{baseline, interrupt, row, Options};
use crate::cli::{ExportArgs, LauncherArg};
use crate::commands::UsageError;
use crate::docker::DockerError;
use crate::experiment::breakdown::Breakdown;
use crate::experiment::{self, RunReport, RunSettings, Start};
use crate::launcher::docker::DockerLauncher;
use crate::launcher::process::ProcessLauncher;
use crate::launcher::Launcher;
use crate::matrix::{RunSpec, TestKind};
use crate::progress::Progress;
use crate::results::stats::Cells;
use crate::results::{ci_formats, export, stats, steadiness, CsvWriter, Row};

/// The directory, relative to the working directory, of the CSVs written without `--out`.
pub const DEFAULT_RESULTS_DIR: &str = "raftrtc-results";

/// Runs every run of the plan of `experiment` (`up`, `kill`, ...: it names the default CSV);
/// see the module docs for the exit status.
pub fn run_plan(experiment: &str, options: Options) -> anyhow::Result<ExitCode> {
    let (path, appending) = match &options.out {
        Some(path) => (path.clone(), true),
        None => (default_csv(experiment, SystemTime::now()), false),
    };
    let mut csv = CsvWriter::<Row>::open_append(&path).map_err(|e| match appending {
        true => anyhow::Error::new(UsageError(format!("--out: {e}"))),
        false => anyhow::Error::new(e).context("cannot create the results CSV"),
    })?;
    if let Some(line) = csv.dropped_torn_line() {
        eprintln!(
            "raftrtc: warning: {} line {line} was incomplete (an earlier bench was stopped while writing it) and was removed",
            path.display()
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let mut breakdowns = Breakdowns::new();
    let ran = runtime.block_on(async {
        interrupt::install_handler();
        let launcher = make_launcher(options.launcher, options.limits).await?;
        run_all(&options, launcher.as_ref(), &mut csv, &mut breakdowns).await
    });
    if let Err(e) = &ran {
        // A usage error (no engine) comes before any run: the new file would hold a header
        // and nothing else.
        if !appending && e.downcast_ref::<UsageError>().is_some() {
            let _ = std::fs::remove_file(csv.path());
        }
    }
    let rows = ran?;

    let cells = Cells::of(&rows);
    let summaries = cells.summaries();
    println!();
    print!("{}", export::render_table(&summaries));
    for warning in steadiness::warnings(&cells) {
        eprintln!("raftrtc: warning: {warning}");
    }
    if options.breakdown {
        print_breakdowns(&breakdowns, options.start);
    }
    write_exports(&options.exports, &cells, &summaries)?;
    let verb = if appending {
        "appended to"
    } else {
        "written to"
    };
    println!("rows {verb} {}", csv.path().display());
    let failed = rows.iter().filter(|r| !r.outcome.is_ok()).count();
    if failed > 0 {
        eprintln!("raftrtc: {failed} of {} runs failed", rows.len());
    }
    let regressed = baseline::apply(&options.baseline, &rows, &cells)?;
    Ok(if failed == 0 && !regressed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Writes every export `exports` asks for.
fn write_exports(
    exports: &ExportArgs,
    cells: &Cells,
    summaries: &[stats::Summary],
) -> anyhow::Result<()> {
    if let Some(path) = &exports.export_json {
        export::write_json(path, summaries)?;
    }
    if let Some(path) = &exports.export_markdown {
        export::write_markdown(path, summaries)?;
    }
    if let Some(path) = &exports.export_github_benchmark {
        export::write_value(path, &ci_formats::github_benchmark(cells))?;
    }
    if let Some(path) = &exports.export_bmf {
        export::write_value(path, &ci_formats::bmf(cells))?;
    }
    Ok(())
}

/// The launcher `--launcher` names; an engine that is not there is a usage error.
pub(crate) async fn make_launcher(
    launcher: LauncherArg,
    limits: crate::docker::Limits,
) -> anyhow::Result<Box<dyn Launcher>> {
    Ok(match launcher {
        LauncherArg::Process => Box::new(
            ProcessLauncher::current_exe().context("cannot find the raftrtc binary to launch")?,
        ),
        LauncherArg::Docker => {
            Box::new(DockerLauncher::connect(limits).await.map_err(|e| match e {
                e @ (DockerError::EngineUnavailable { .. } | DockerError::InvalidLimit(_)) => {
                    anyhow::Error::new(UsageError(format!("--launcher docker: {e}")))
                }
                e => anyhow::Error::new(e).context("cannot prepare the Docker launcher"),
            })?)
        }
    })
}

/// The embedded signaling server: loopback for processes; all addresses for
/// containers, which reach it at their bridge network's gateway.
pub(crate) fn signaling_config(launcher: LauncherArg) -> ServerConfig {
    let mut config = ServerConfig::default();
    if launcher == LauncherArg::Docker {
        config.listen = std::net::SocketAddr::from(([0, 0, 0, 0], 0));
    }
    config
}

/// The start-up breakdowns of the ok runs, merged per cluster size and election timeout.
type Breakdowns = BTreeMap<(usize, u64), Breakdown>;

/// Prints each cell's breakdown as a markdown table.
fn print_breakdowns(breakdowns: &Breakdowns, start: Start) {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    for ((nodes, et), b) in breakdowns {
        let runs = b.wall_ms.len();
        let title = format!(
            "\nwhere the time went: {start} start, {nodes} nodes, ET {et} ms, {runs} ok runs"
        );
        print!("{}", b.render(&title, cores));
    }
}

/// Starts the signaling server (unless external), then runs the plan.
async fn run_all(
    options: &Options,
    launcher: &dyn Launcher,
    csv: &mut CsvWriter,
    breakdowns: &mut Breakdowns,
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
        node_log_level: options.node_log_level.clone(),
        signaling_url,
        timeout: options.timeout,
        keep_logs: options.keep_logs,
        start: options.start,
    };
    let specs = options.plan.specs();
    let progress = Progress::new(specs.len());
    let mut rows = Vec::with_capacity(specs.len());
    for (k, spec) in specs.iter().enumerate() {
        let seed = options.seed.wrapping_add(k as u64);
        if spec.run == 1 {
            warm_up(options, launcher, spec, seed, &settings, &progress).await;
        }
        let label = label(spec, options.plan.runs);
        let started_at = SystemTime::now();
        let report = experiment::run_one(launcher, spec, seed, &settings, &|phase| {
            progress.phase(&label, phase);
        })
        .await;
        let row = row::to_row(options, spec, seed, started_at, &report, &settings);
        csv.write_row(&row)?;
        progress.finish_run(k, &describe(&label, &row, &report));
        if let Some(dir) = &report.logs {
            progress.println(&format!("    logs: {}", dir.display()));
        }
        if row.outcome.is_ok() {
            breakdowns
                .entry((spec.nodes, spec.election_timeout_ms))
                .or_default()
                .merge(&report.breakdown);
        }
        rows.push(row);
    }
    progress.finish();
    if let Some(server) = server {
        let _ = server.shutdown().await;
    }
    Ok(rows)
}

/// `--warmup`: runs of the cell of `spec` made before its first recorded one, each on a seed
/// of its own, reported on the terminal but written nowhere.
async fn warm_up(
    options: &Options,
    launcher: &dyn Launcher,
    spec: &RunSpec,
    seed: u64,
    settings: &RunSettings,
    progress: &Progress,
) {
    for w in 1..=options.warmup {
        let label = format!(
            "{} n={} et={}ms warmup {w}/{}",
            spec.test, spec.nodes, spec.election_timeout_ms, options.warmup
        );
        // Far from every recorded run's seed (seed + k), so no warmup repeats one.
        let seed = seed ^ (0x5741_524d_u64 << 32) ^ u64::from(w);
        let report = experiment::run_one(launcher, spec, seed, settings, &|phase| {
            progress.phase(&label, phase);
        })
        .await;
        progress.println(&format!("{label}: {} (not recorded)", report.outcome));
    }
}

/// `raftrtc-results/up-20250131T123456.789Z.csv`: the experiment and the UTC time to the
/// millisecond, so invocations never share a file.
pub(crate) fn default_csv(experiment: &str, now: SystemTime) -> PathBuf {
    let stamp = DateTime::<Utc>::from(now).format("%Y%m%dT%H%M%S%.3fZ");
    PathBuf::from(DEFAULT_RESULTS_DIR).join(format!("{experiment}-{stamp}.csv"))
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

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    #[test]
    fn the_default_csv_is_named_after_the_experiment_and_the_utc_millisecond() {
        let t = UNIX_EPOCH + Duration::from_millis(1_709_210_096_250);
        assert_eq!(
            default_csv("up", t),
            PathBuf::from("raftrtc-results/up-20240229T123456.250Z.csv")
        );
        assert_ne!(
            default_csv("up", t),
            default_csv("up", t + Duration::from_millis(1))
        );
    }
}
