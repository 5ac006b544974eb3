//! One experiment invocation: every run of the plan (through a [`Session`]), then the
//! summary, the exports and the baseline's verdict.
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
use signaling::ServerConfig;

use super::session::Session;
use super::{baseline, interrupt, Options};
use crate::cli::{ExportArgs, LauncherArg};
use crate::commands::UsageError;
use crate::docker::DockerError;
use crate::experiment::breakdown::Breakdown;
use crate::experiment::Start;
use crate::launcher::docker::DockerLauncher;
use crate::launcher::process::ProcessLauncher;
use crate::launcher::swarm::{SwarmLauncher, SwarmOptions};
use crate::launcher::Launcher;
use crate::matrix::RunSpec;
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
    let runtime = crate::commands::runtime()?;
    let mut breakdowns = Breakdowns::new();
    let specs = options.specs();
    let ran = runtime.block_on(async {
        interrupt::install_handler();
        let session = Session::start(&options).await?;
        let sets = session.run(&specs, 0, &mut csv, &mut breakdowns).await?;
        anyhow::Ok((session, sets))
    });
    if let Err(e) = &ran {
        // A usage error (no engine) comes before any run: the new file would hold a header
        // and nothing else.
        if !appending && e.downcast_ref::<UsageError>().is_some() {
            let _ = std::fs::remove_file(csv.path());
        }
    }
    let (session, sets) = ran?;
    let rows = sets.rows;

    let cells = Cells::of(&rows);
    summarize(&options, &cells, &breakdowns)?;
    let failed = rows.iter().filter(|r| !r.outcome.is_ok()).count();
    if failed > 0 {
        eprintln!("raftrtc: {failed} of {} runs failed", rows.len());
    }
    let regressed = baseline::apply(
        &options.baseline,
        &rows,
        &cells,
        &sets.reference,
        |suspects| {
            let again: Vec<RunSpec> = specs
                .iter()
                .filter(|s| suspects.iter().any(|k| k.is_of(s)))
                .cloned()
                .collect();
            let first_seed = specs.len() as u64;
            runtime.block_on(session.run(&again, first_seed, &mut csv, &mut breakdowns))
        },
    )?;
    runtime.block_on(session.finish());
    let verb = if appending {
        "appended to"
    } else {
        "written to"
    };
    println!("rows {verb} {}", csv.path().display());
    Ok(if failed == 0 && !regressed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The summary table, the steadiness warnings, the breakdowns if asked for, the exports.
fn summarize(options: &Options, cells: &Cells, breakdowns: &Breakdowns) -> anyhow::Result<()> {
    let summaries = cells.summaries();
    println!();
    print!("{}", export::render_table(&summaries));
    for warning in steadiness::warnings(cells) {
        eprintln!("raftrtc: warning: {warning}");
    }
    if options.breakdown {
        print_breakdowns(breakdowns, options.start);
    }
    write_exports(&options.exports, cells, &summaries)
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

/// The launcher `--launcher` names; an engine that is not there (or not a swarm manager,
/// for the swarm) is a usage error, and so are the swarm's flags with another launcher.
pub(crate) async fn make_launcher(
    launcher: LauncherArg,
    limits: crate::docker::Limits,
    swarm: &SwarmOptions,
) -> anyhow::Result<Box<dyn Launcher>> {
    if launcher != LauncherArg::Swarm && *swarm != SwarmOptions::default() {
        return Err(UsageError(
            "--image, --placement, --bench-address and --control-port are for --launcher swarm"
                .into(),
        )
        .into());
    }
    let usage = |e: DockerError, what: &'static str| match e {
        e @ (DockerError::EngineUnavailable { .. }
        | DockerError::InvalidLimit(_)
        | DockerError::NotASwarmManager(_)) => {
            anyhow::Error::new(UsageError(format!("--launcher {}: {e}", launcher.name())))
        }
        e => anyhow::Error::new(e).context(what),
    };
    Ok(match launcher {
        LauncherArg::Process => Box::new(
            ProcessLauncher::current_exe().context("cannot find the raftrtc binary to launch")?,
        ),
        LauncherArg::Docker => Box::new(
            DockerLauncher::connect(limits)
                .await
                .map_err(|e| usage(e, "cannot prepare the Docker launcher"))?,
        ),
        LauncherArg::Swarm => Box::new(
            SwarmLauncher::connect(swarm.clone(), limits)
                .await
                .map_err(|e| usage(e, "cannot prepare the swarm launcher"))?,
        ),
    })
}

/// The embedded signaling server: loopback for processes; all addresses for containers and
/// swarm tasks, which reach it at their network's gateway or the bench address.
pub(crate) fn signaling_config(launcher: LauncherArg) -> ServerConfig {
    let mut config = ServerConfig::default();
    if launcher != LauncherArg::Process {
        config.listen = std::net::SocketAddr::from(([0, 0, 0, 0], 0));
    }
    config
}

/// The start-up breakdowns of the ok runs, merged per cluster size and election timeout.
pub(super) type Breakdowns = BTreeMap<(usize, u64), Breakdown>;

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

/// `raftrtc-results/up-20250131T123456.789Z.csv`: the experiment and the UTC time to the
/// millisecond, so invocations never share a file.
pub(crate) fn default_csv(experiment: &str, now: SystemTime) -> PathBuf {
    let stamp = DateTime::<Utc>::from(now).format("%Y%m%dT%H%M%S%.3fZ");
    PathBuf::from(DEFAULT_RESULTS_DIR).join(format!("{experiment}-{stamp}.csv"))
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
