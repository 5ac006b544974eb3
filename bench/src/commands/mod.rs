//! One module per subcommand; [`run`] dispatches and maps errors to exit codes.
//!
//! Exit codes: 0 success, 1 a run failed (or a check found a violation),
//! 2 a usage error (clap reports its own parse errors with 2 as well).
//! The benchmarks (`up`, `kill`, `propagate`, `matrix`, `smoke`) return a
//! [`UsageError`] for bad input found before anything starts (exit 2); any
//! other error of theirs is a failure (exit 1).

mod bench;
mod docker;
mod kill;
mod matrix;
mod node;
mod plot;
mod propagate;
mod report;
mod signaling;
mod sim;
mod smoke;
mod up;

use std::process::ExitCode;

use crate::cli::{Cli, Command};

/// Bad input, found before anything ran: exit status 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Runs the chosen subcommand.
pub fn run(cli: Cli) -> ExitCode {
    let (result, failure) = match cli.command {
        Command::Signaling(args) => (signaling::run(args), 2),
        Command::Sim(args) => (sim::run(args), 2),
        Command::Node(args) => (node::run(args), 2),
        Command::Up(args) => (up::run(args), 1),
        Command::Kill(args) => (kill::run(args), 1),
        Command::Propagate(args) => (propagate::run(args), 1),
        Command::Matrix(args) => (matrix::run(args), 1),
        Command::Smoke(args) => (smoke::run(args), 1),
        Command::Plot(args) => (plot::run(args), 2),
        Command::Report(args) => (report::run(args), 2),
        Command::Docker(args) => (docker::run(args), 1),
        Command::Cleanup => (docker::cleanup(), 1),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("raftrtc: {e:#}");
            if e.downcast_ref::<UsageError>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::from(failure)
            }
        }
    }
}
