//! `raftrtc chaos`: runs chaos runs one after another (seeds S, S+1, ...), each with its
//! schedule printed first; appends a row per run to the CSV and writes its history and
//! timeline beside it; prints each run's verdicts. Exit 0 when every checker passed in every
//! run, 1 when one failed (or a run could not be carried out), 2 on usage errors.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use chrono::{DateTime, SecondsFormat, Utc};
use signaling::Server;

use super::bench::{
    default_csv, install_handler, make_launcher, seed_from_clock, signaling_config,
};
use super::UsageError;
use crate::chaos::nemesis::Signaling;
use crate::chaos::report::{self, ChaosRow};
use crate::chaos::schedule::{self, Planned};
use crate::chaos::tally;
use crate::chaos::timeline::Timeline;
use crate::chaos::workload::Workload;
use crate::chaos::{self, ChaosOutcome, ChaosPlan};
use crate::cli::ChaosArgs;
use crate::launcher::{Cluster, ClusterSpec, Launcher};
use crate::results::CsvWriter;

/// Search steps per register before the linearizability checker gives up.
const LIN_BUDGET: u64 = raftrtc_check::lin::DEFAULT_BUDGET;

/// Runs `raftrtc chaos`.
pub fn run(args: ChaosArgs) -> anyhow::Result<ExitCode> {
    let csv_path = args
        .out
        .clone()
        .unwrap_or_else(|| default_csv("chaos", SystemTime::now()));
    let mut csv = CsvWriter::<ChaosRow>::open_append(&csv_path)
        .map_err(|e| UsageError(format!("--out: {e}")))?;
    let runtime = crate::commands::runtime()?;
    let rows = runtime.block_on(async {
        install_handler();
        let limits = crate::docker::Limits::default();
        let launcher = make_launcher(args.launcher, limits, &args.swarm.options()).await?;
        let server = Server::bind(signaling_config(args.launcher))
            .await
            .context("cannot start the embedded signaling server")?
            .spawn();
        let mut signaling = Signaling::new(server);
        let base = args.seed.unwrap_or_else(seed_from_clock);
        let mut rows = Vec::new();
        for k in 0..args.runs {
            let seed = base.wrapping_add(u64::from(k));
            let row = one(&args, launcher.as_ref(), &mut signaling, seed, &csv_path).await;
            csv.write_row(&row)?;
            rows.push(row);
        }
        signaling.shutdown().await;
        anyhow::Ok(rows)
    })?;
    if rows.len() > 1 {
        print!("{}", tally::table(&tally::tally(&rows)).to_text());
    }
    let failed = rows.iter().filter(|r| r.verdict != "pass").count();
    println!("rows appended to {}", csv_path.display());
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        eprintln!("raftrtc: {failed} of {} chaos runs failed", args.runs);
        ExitCode::from(1)
    })
}

/// One run with `seed`: its plan, the run, its row, history, timeline and summary.
async fn one(
    args: &ChaosArgs,
    launcher: &dyn Launcher,
    signaling: &mut Signaling,
    seed: u64,
    csv: &Path,
) -> ChaosRow {
    let started_at = SystemTime::now();
    let plan = plan(args, seed, signaling.url(), csv);
    print_schedule(&plan, seed);
    let (outcome, cluster) =
        chaos::run(launcher, &plan, signaling, &|line| println!("  {line}")).await;
    let mut row = row_of(args, &plan, seed, started_at);
    let keep = match &outcome {
        Ok(o) => {
            report::fill(&mut row, &o.verdicts);
            print!("{}", report::summary(&row, &o.verdicts));
            draw_timeline(&plan, o, seed);
            args.keep_logs || !o.verdicts.ok()
        }
        Err(e) => {
            row.verdict = "error".into();
            row.error = e.to_string();
            eprintln!("raftrtc: chaos run {seed}: {e}");
            true
        }
    };
    row.logs = finish(cluster, keep).await;
    println!("verdict: {}\n", row.verdict);
    row
}

/// Stops the cluster, keeping its directory if asked; where it is kept.
async fn finish(cluster: Option<Box<dyn Cluster>>, keep: bool) -> String {
    let Some(mut cluster) = cluster else {
        return String::new();
    };
    cluster.stop_all().await;
    if keep {
        cluster.keep_logs();
        let dir = cluster.logs_dir().display().to_string();
        println!("logs: {dir}");
        return dir;
    }
    String::new()
}

/// The plan of the run with `seed`: the cluster, the load, the schedule drawn from the seed.
fn plan(args: &ChaosArgs, seed: u64, signaling_url: String, csv: &Path) -> ChaosPlan {
    let mut settings = args.profile.settings();
    settings.election_timeout_ms = args.election_timeout;
    settings.net.clone_from(&args.net);
    let nodes = args.nodes as usize;
    ChaosPlan {
        cluster: ClusterSpec {
            nodes: args.nodes,
            cluster: format!("chaos-{}-{seed}", std::process::id()),
            signaling_url,
            settings,
            log_level: args.node_log_level.clone(),
            seed,
            start_at_launch: true,
            data_dirs: true,
            shared_key: None,
        },
        workload: Workload {
            clients: args.clients,
            rate: args.rate,
            keys: 5,
            op_timeout: Duration::from_millis(args.election_timeout.saturating_mul(4).max(1000)),
        },
        duration: args.duration,
        quiet: args.quiet,
        schedule: schedule::plan(&args.faults, nodes, args.duration, args.interval, seed),
        history: beside(csv, seed, "jsonl"),
        lin_budget: LIN_BUDGET,
    }
}

/// `<csv stem>-<seed>.<ext>` beside the CSV.
fn beside(csv: &Path, seed: u64, ext: &str) -> PathBuf {
    let stem = csv
        .file_stem()
        .map_or_else(|| "chaos".into(), |s| s.to_string_lossy().into_owned());
    csv.with_file_name(format!("{stem}-{seed}.{ext}"))
}

fn print_schedule(plan: &ChaosPlan, seed: u64) {
    let ids: Vec<String> = (0..plan.cluster.nodes)
        .map(crate::launcher::node_id)
        .collect();
    println!(
        "chaos run, seed {seed}: {} nodes, {} clients, {:.0} ops/s for {:.1} s, {} faults:",
        plan.cluster.nodes,
        plan.workload.clients,
        plan.workload.rate,
        plan.duration.as_secs_f64(),
        plan.schedule.len()
    );
    for Planned { at, hold, fault } in &plan.schedule {
        println!(
            "  at {:>6.2} s for {:>5.2} s: {}",
            at.as_secs_f64(),
            hold.as_secs_f64(),
            fault.describe(&ids)
        );
    }
}

fn draw_timeline(plan: &ChaosPlan, o: &ChaosOutcome, seed: u64) {
    let title = format!(
        "chaos seed {seed}: {} nodes, {} clients",
        plan.cluster.nodes, plan.workload.clients
    );
    let timeline = Timeline::new(title, &o.records, &o.windows, o.span);
    let dir = plan.history.parent().unwrap_or(Path::new("."));
    let stem = plan
        .history
        .file_stem()
        .map_or_else(|| "chaos".into(), |s| s.to_string_lossy().into_owned());
    match timeline.write(dir, &format!("{stem}-timeline")) {
        Ok([png, svg]) => println!("timeline: {} {}", png.display(), svg.display()),
        Err(e) => eprintln!("raftrtc: timeline: {e}"),
    }
}

/// The row's settings columns.
fn row_of(args: &ChaosArgs, plan: &ChaosPlan, seed: u64, started_at: SystemTime) -> ChaosRow {
    ChaosRow {
        started_at: DateTime::<Utc>::from(started_at).to_rfc3339_opts(SecondsFormat::Millis, true),
        seed,
        launcher: args.launcher.name().into(),
        profile: format!("{:?}", args.profile).to_lowercase(),
        nodes: args.nodes as usize,
        election_timeout_ms: args.election_timeout,
        clients: args.clients,
        rate: args.rate,
        duration_s: args.duration.as_secs_f64(),
        faults: args
            .faults
            .iter()
            .map(|f| f.name())
            .collect::<Vec<_>>()
            .join("+"),
        faults_struck: plan.schedule.len(),
        net: args.net.clone(),
        history: plan.history.display().to_string(),
        ..ChaosRow::default()
    }
}
