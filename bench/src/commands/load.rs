//! `raftrtc load`: for every cell (size x clients x offered rate x run), a fresh cluster
//! brought up cold, the load driven for the warmup and the measured window, a CSV row
//! appended; then the summary table. Exit 0 when every cell completed operations, 1 when a
//! cell could not (no cluster, or every operation failed), 2 on usage errors.

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use chrono::{DateTime, SecondsFormat, Utc};
use node::control::{ControlAddr, ControlClient};
use signaling::Server;

use super::bench::{
    default_csv, install_handler, make_launcher, save, seed_from_clock, signaling_config,
};
use super::UsageError;
use crate::cli::{BaselineArgs, LoadArgs};
use crate::experiment;
use crate::launcher::{Cluster, ClusterSpec, Launcher, Member};
use crate::load::row::{self, LoadRow};
use crate::load::{self, figure, CellPlan, Pacing};
use crate::results::compare::CompareOptions;
use crate::results::CsvWriter;

/// The slowest open loop accepted, in operations a second.
const MIN_RATE: f64 = 0.1;

/// One cell of the matrix.
#[derive(Clone, Copy, Debug)]
struct Cell {
    nodes: usize,
    clients: u32,
    pacing: Pacing,
    run: u32,
}

/// Runs `raftrtc load`.
pub fn run(args: LoadArgs) -> anyhow::Result<ExitCode> {
    validate(&args)?;
    let csv_path = args
        .out
        .clone()
        .unwrap_or_else(|| default_csv("load", SystemTime::now()));
    let mut csv = CsvWriter::<LoadRow>::open_append(&csv_path)
        .map_err(|e| UsageError(format!("--out: {e}")))?;
    let runtime = crate::commands::runtime()?;
    let base_seed = args.seed.unwrap_or_else(seed_from_clock);
    let rows = runtime.block_on(async {
        install_handler();
        let limits = crate::docker::Limits::default();
        let launcher = make_launcher(args.launcher, limits, &args.swarm.options()).await?;
        let server = Server::bind(signaling_config(args.launcher))
            .await
            .context("cannot start the embedded signaling server")?
            .spawn();
        let mut rows = Vec::new();
        for (k, cell) in cells(&args).into_iter().enumerate() {
            let seed = base_seed.wrapping_add(k as u64);
            let row = one(&args, launcher.as_ref(), &server.url(), cell, seed).await;
            csv.write_row(&row)?;
            println!("{}", describe(&row));
            rows.push(row);
        }
        let _ = server.shutdown().await;
        anyhow::Ok(rows)
    })?;
    println!();
    print!("{}", row::table(&rows).to_text());
    // The figures show every row of the CSV, earlier invocations' too.
    let all = row::read_rows(&csv_path).unwrap_or_else(|_| rows.clone());
    draw(&all, &csv_path);
    println!("rows appended to {}", csv_path.display());
    let regressed = apply_baseline(&args.baseline, &rows)?;
    let failed = rows.iter().filter(|r| r.outcome != "ok").count();
    if failed > 0 {
        eprintln!("raftrtc: {failed} of {} load cells failed", rows.len());
    }
    Ok(if failed == 0 && !regressed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `--baseline`: compares the cells' throughput with the saved rows (true: one regressed);
/// then `--save-baseline` replaces that file with this invocation's rows.
fn apply_baseline(args: &BaselineArgs, rows: &[LoadRow]) -> anyhow::Result<bool> {
    let mut regressed = false;
    if let Some(path) = &args.baseline {
        let base = row::read_rows(path).map_err(|e| UsageError(format!("--baseline: {e}")))?;
        let options = CompareOptions {
            threshold: args.threshold / 100.0,
            ..CompareOptions::default()
        };
        let comparison = load::baseline::compare(&base, rows, &options)
            .map_err(|e| UsageError(format!("--baseline {}: {e}", path.display())))?;
        println!("\ncompared with the baseline {}:", path.display());
        print!("{}", comparison.table().to_text());
        for cell in &comparison.unmatched {
            println!("only on one side: {cell}");
        }
        regressed = comparison.regressed();
        if regressed {
            eprintln!("raftrtc: slower than the baseline {}", path.display());
        }
    }
    if let Some(path) = &args.save_baseline {
        save(path, rows)?;
        println!("baseline saved to {}", path.display());
    }
    Ok(regressed)
}

/// The figures, beside the CSV; a figure that cannot be drawn is a warning, not a failure.
fn draw(rows: &[LoadRow], csv: &Path) {
    let dir = csv
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let stem = csv
        .file_stem()
        .map_or_else(|| "load".into(), |s| s.to_string_lossy());
    match figure::write(rows, dir, &stem) {
        Ok(paths) => {
            for path in paths {
                println!("figure: {}", path.display());
            }
        }
        Err(e) => eprintln!("raftrtc: warning: {e}"),
    }
}

/// Refuses what cannot run.
fn validate(args: &LoadArgs) -> Result<(), UsageError> {
    if let Some(rate) = args.rate.iter().find(|&&r| r < MIN_RATE) {
        return Err(UsageError(format!(
            "--rate {rate} is below {MIN_RATE} operations a second: an open loop that slow \
             would not send one operation in a window"
        )));
    }
    if args.baseline.reference_binary.is_some() {
        return Err(UsageError(
            "--reference-binary is for the experiments (up, kill, propagate, matrix, smoke); \
             compare load with --baseline"
                .into(),
        ));
    }
    if let Some(path) = &args.baseline.baseline {
        // Unreadable is found now, not after the runs.
        row::read_rows(path).map_err(|e| UsageError(format!("--baseline: {e}")))?;
    }
    if args.at == load::Target::Followers && args.nodes.iter().any(|&n| n < 2) {
        return Err(UsageError(
            "--at followers needs at least 2 nodes: a one-node cluster has no follower".into(),
        ));
    }
    Ok(())
}

/// Every cell: size, then clients, then offered rate, then run.
fn cells(args: &LoadArgs) -> Vec<Cell> {
    let pacings: Vec<Pacing> = if args.rate.is_empty() {
        vec![Pacing::Closed]
    } else {
        args.rate.iter().map(|&r| Pacing::Open(r)).collect()
    };
    let mut cells = Vec::new();
    for &nodes in &args.nodes {
        for &clients in &args.clients {
            for &pacing in &pacings {
                for run in 1..=args.runs {
                    cells.push(Cell {
                        nodes,
                        clients,
                        pacing,
                        run,
                    });
                }
            }
        }
    }
    cells
}

/// One cell: a cluster up, the load, the row.
async fn one(
    args: &LoadArgs,
    launcher: &dyn Launcher,
    signaling_url: &str,
    cell: Cell,
    seed: u64,
) -> LoadRow {
    let mut row = LoadRow {
        started_at: DateTime::<Utc>::from(SystemTime::now())
            .to_rfc3339_opts(SecondsFormat::Millis, true),
        seed,
        launcher: args.launcher.name().into(),
        profile: format!("{:?}", args.profile).to_lowercase(),
        nodes: cell.nodes,
        election_timeout_ms: args.election_timeout,
        net: args.net.clone(),
        clients: cell.clients,
        run: cell.run,
        warmup_s: args.warmup.as_secs_f64(),
        duration_s: args.duration.as_secs_f64(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        ..LoadRow::default()
    };
    let spec = cluster_spec(args, cell.nodes, signaling_url, seed);
    let bound = experiment::default_timeout(cell.nodes);
    let cluster = match experiment::launch_up(launcher, &spec, seed, bound).await {
        Ok(cluster) => cluster,
        Err((e, cluster)) => {
            row.outcome = "error".into();
            row.error = format!("bringing the cluster up: {e}");
            finish(cluster, true).await;
            return row;
        }
    };
    let plan = CellPlan {
        clients: cell.clients,
        at: args.at,
        op: args.op,
        pacing: cell.pacing,
        keys: args.keys,
        warmup: args.warmup,
        duration: args.duration,
    };
    let controls: Vec<ControlAddr> = cluster
        .members()
        .iter()
        .map(|m| m.control.clone())
        .collect();
    match leader_of(cluster.members()).await {
        Some(leader) => {
            let targets = load::targets(&controls, leader, args.at);
            let result = load::drive(&targets, &plan, seed).await;
            row.fill(args.at, args.op, cell.pacing, &result);
        }
        None => {
            row.outcome = "error".into();
            row.error = "no node names a leader".into();
        }
    }
    let keep = args.keep_logs || row.outcome != "ok";
    row.error = match finish(Some(cluster), keep).await {
        Some(dir) if !row.error.is_empty() => format!("{} (logs: {dir})", row.error),
        _ => std::mem::take(&mut row.error),
    };
    row
}

/// The launcher's spec for a cell: a cold start, in-memory logs.
fn cluster_spec(args: &LoadArgs, nodes: usize, signaling_url: &str, seed: u64) -> ClusterSpec {
    let mut settings = args.profile.settings();
    settings.election_timeout_ms = args.election_timeout;
    settings.net.clone_from(&args.net);
    ClusterSpec {
        nodes: nodes as u32,
        cluster: format!("load-{}-{seed}", std::process::id()),
        signaling_url: signaling_url.to_string(),
        settings,
        log_level: "warn".into(),
        seed,
        start_at_launch: true,
        data_dirs: false,
        shared_key: None,
    }
}

/// The index of the member the first answering one names as leader.
async fn leader_of(members: &[Member]) -> Option<usize> {
    for member in members {
        let Ok(mut client) = ControlClient::connect(&member.control, Duration::from_secs(2)).await
        else {
            continue;
        };
        if let Ok(status) = client.status().await {
            let leader = status.leader?;
            return members.iter().position(|m| m.id == leader.as_str());
        }
    }
    None
}

/// Stops the cluster, keeping its directory if asked; where it is kept.
async fn finish(cluster: Option<Box<dyn Cluster>>, keep: bool) -> Option<String> {
    let mut cluster = cluster?;
    cluster.stop_all().await;
    keep.then(|| {
        cluster.keep_logs();
        cluster.logs_dir().display().to_string()
    })
}

fn describe(row: &LoadRow) -> String {
    let ms = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |v| format!("{v:.2} ms"));
    let mut line = format!(
        "load n={} clients={} {}: {} {:.0} ops/s, p50 {}, p99 {}, max {}, {} errors, {} unsent",
        row.nodes,
        row.clients,
        row.offered_per_s.map_or_else(
            || "closed loop".to_string(),
            |r| format!("offered {r:.0}/s")
        ),
        row.outcome,
        row.ops_per_s,
        ms(row.p50_ms),
        ms(row.p99_ms),
        ms(row.max_ms),
        row.errors,
        row.unsent
    );
    if !row.error.is_empty() {
        line.push_str(&format!(": {}", row.error));
    }
    line
}
