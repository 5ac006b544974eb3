//! `raftrtc up`: time cluster start-up over the size x timeout matrix.

use std::process::ExitCode;

use super::bench::{run_plan, Defaults, Options};
use crate::cli::UpArgs;
use crate::matrix::TestKind;

/// Runs the up experiment.
pub fn run(args: UpArgs) -> anyhow::Result<ExitCode> {
    run_plan(
        "up",
        Options::from_bench(args.bench, vec![TestKind::Up], Defaults::single())?,
    )
}
