//! `raftrtc matrix`: the papers' whole plan in one go — up, kill leader,
//! kill half, propagate 1 and 100 — over the papers' sizes and timeouts
//! unless the flags say otherwise.

use std::process::ExitCode;

use super::bench::{run_plan, Defaults, Options};
use crate::cli::MatrixArgs;
use crate::matrix::TestKind;

/// Runs the papers' plan.
pub fn run(args: MatrixArgs) -> anyhow::Result<ExitCode> {
    let tests = vec![
        TestKind::Up,
        TestKind::KillLeader,
        TestKind::KillHalf,
        TestKind::Propagate(1),
        TestKind::Propagate(100),
    ];
    run_plan(
        "matrix",
        Options::from_bench(args.bench, tests, Defaults::papers())?,
    )
}
