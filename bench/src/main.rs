//! `raftrtc`: launch Raft-over-WebRTC clusters and benchmark them.
//!
//! A thin wire-up: [`bench::cli`] declares every flag, [`bench::commands`] runs each subcommand
//! and maps its result to an exit status.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    bench::commands::run(bench::cli::Cli::parse())
}
