//! `raftrtc kill`: time recovery after a fault: SIGKILLing the leader (or more), pausing or
//! isolating it, or restarting every node from its data directory.

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
