//! `raftrtc smoke`: the CI smoke benchmark — up, kill leader and propagate 1
//! at 3 and 5 nodes, ET 250 ms, one run each; well under a minute, and a
//! non-zero exit status if any run is not `ok`.

use std::process::ExitCode;

use super::bench::{run_plan, Options};
use crate::cli::SmokeArgs;

/// Runs the smoke benchmark.
pub fn run(args: SmokeArgs) -> anyhow::Result<ExitCode> {
    run_plan("smoke", Options::smoke(args.common)?)
}
