//! The run loop: every run of the plan in turn, a CSV row appended (and synced) as each ends,
//! progress on the terminal, then the summary and the exports.

use std::process::ExitCode;
use std::time::SystemTime;

use anyhow::Context;
use signaling::{Server, ServerConfig};

use super::{interrupt, row, Options};
use crate::cli::LauncherArg;
use crate::commands::UsageError;
use crate::docker::DockerError;
use crate::experiment::{self, RunReport, RunSettings};
use crate::launcher::docker::DockerLauncher;
use crate::launcher::process::ProcessLauncher;
use crate::launcher::Launcher;
use crate::matrix::{RunSpec, TestKind};
use crate::progress::Progress;
use crate::results::{export, stats, CsvWriter, Row};

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
        interrupt::install_handler();
        let launcher = make_launcher(&options).await?;
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

/// The launcher `--launcher` names; an engine that is not there is a usage error.
async fn make_launcher(options: &Options) -> anyhow::Result<Box<dyn Launcher>> {
    Ok(match options.launcher {
        LauncherArg::Process => Box::new(
            ProcessLauncher::current_exe().context("cannot find the raftrtc binary to launch")?,
        ),
        LauncherArg::Docker => Box::new(DockerLauncher::connect(options.limits).await.map_err(
            |e| match e {
                e @ (DockerError::EngineUnavailable { .. } | DockerError::InvalidLimit(_)) => {
                    anyhow::Error::new(UsageError(format!("--launcher docker: {e}")))
                }
                e => anyhow::Error::new(e).context("cannot prepare the Docker launcher"),
            },
        )?),
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
        let label = label(spec, options.plan.runs);
        let started_at = SystemTime::now();
        let report = experiment::run_one(launcher, spec, seed, &settings, &|phase| {
            progress.phase(&label, phase);
        })
        .await;
        let row = row::to_row(options, spec, seed, started_at, &report, &settings);
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
