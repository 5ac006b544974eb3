//! `raftrtc`: launch Raft-over-WebRTC clusters and benchmark them.
//!
//! This file only wires the command line to the modules that do the work:
//! [`cli`] declares every flag, [`commands`] runs each subcommand.

mod cli;
mod commands;
mod control_client;
mod csv_out;
// Also compiled into tests/docker_engine.rs (by #[path]), which uses parts
// of it the binary does not (container inspection, leftovers, test images).
#[allow(dead_code, unused_imports)]
mod docker;
mod experiment;
mod export;
mod launcher;
mod matrix;
mod paper;
mod plot;
mod progress;
mod report;
mod stats;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    commands::run(cli)
}
