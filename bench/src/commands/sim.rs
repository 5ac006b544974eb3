//! `raftrtc sim`: the Raft core's deterministic simulator, at any length.

use std::process::ExitCode;

use raftrtc_raft::sim::{run_many, run_schedule, SimOptions};

use crate::cli::SimArgs;

/// Runs the schedules; exit 1 if any property was violated.
pub fn run(args: SimArgs) -> anyhow::Result<ExitCode> {
    let opts = SimOptions {
        trace: args.trace,
        ..SimOptions::default()
    };
    if args.trace {
        let result = run_schedule(args.seed, &opts);
        return Ok(match result {
            Ok(r) => {
                println!("seed {} ok: {r:?}", args.seed);
                ExitCode::SUCCESS
            }
            Err(v) => {
                println!("{v}");
                ExitCode::from(1)
            }
        });
    }
    let threads = args.threads.map_or_else(
        || std::thread::available_parallelism().map_or(2, |n| n.get()),
        |t| t as usize,
    );
    let summary = run_many(args.seed, args.schedules, threads, &opts);
    println!("{summary}");
    for v in &summary.violations {
        println!("{v}");
    }
    Ok(if summary.violations.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
