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
