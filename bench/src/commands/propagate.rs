//! `raftrtc propagate`: time chat lines submitted at a follower until
//! applied everywhere, for each `--messages` count.

use std::process::ExitCode;

use super::bench::{run_plan, Defaults, Options};
use crate::cli::PropagateArgs;
use crate::matrix::TestKind;

/// Runs the propagate experiment.
pub fn run(args: PropagateArgs) -> anyhow::Result<ExitCode> {
    let tests = args.messages.into_iter().map(TestKind::Propagate).collect();
    run_plan(
        "propagate",
        Options::from_bench(args.bench, tests, Defaults::single())?,
    )
}
