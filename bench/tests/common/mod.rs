//! Helpers shared by the `raftrtc` end-to-end tests: running the binary and
//! showing its output on failure. (The CSVs it writes are read with the
//! library's reader, `bench::results::read_rows`.)
#![allow(dead_code)] // Each test crate uses its own subset.

use std::process::{Command, Output, Stdio};

/// Runs `raftrtc args...` with extra environment variables, to completion.
pub fn run(args: &[&str], envs: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_raftrtc"))
        .args(args)
        .envs(envs.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("the raftrtc binary runs")
}

/// Exit status, stdout and stderr, for assertion messages.
pub fn text(out: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// What every launcher must carry, each a subcommand with its own flags: up, a leader kill,
/// a paused leader, a restart of every node from its data, one chat line.
pub const LAUNCHER_SUITE: [&[&str]; 5] = [
    &["up"],
    &["kill", "--kill", "leader"],
    &["kill", "--kill", "pause-leader"],
    &["kill", "--kill", "restart-all"],
    &["propagate", "--messages", "1"],
];

/// Runs each experiment of `tests` (a subcommand and its own flags) with `launcher` at 3
/// nodes, one run each, appending to `csv`; every one must exit 0.
pub fn run_each_at_three_nodes(tests: &[&[&str]], launcher: &str, csv: &str) {
    for test in tests {
        let mut args = test.to_vec();
        args.extend([
            "--launcher",
            launcher,
            "--nodes",
            "3",
            "--runs",
            "1",
            "--out",
            csv,
        ]);
        let out = run(&args, &[]);
        assert!(out.status.success(), "{test:?}: {}", text(&out));
    }
}
