//! `raftrtc kill`: time recovery after SIGKILLing the leader (or more).

use std::process::ExitCode;

use super::bench::{run_plan, Defaults, Options};
use crate::cli::KillArgs;

/// Runs the kill experiment.
pub fn run(args: KillArgs) -> anyhow::Result<ExitCode> {
    run_plan(
        "kill",
        Options::from_bench(args.bench, vec![args.kill], Defaults::single())?,
    )
}
