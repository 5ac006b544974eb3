//! One module per subcommand; [`run`] dispatches and maps errors to exit codes.
//!
//! Exit codes: 0 success, 1 a run failed (or a check found a violation),
//! 2 a usage error (clap reports its own parse errors with 2 as well).

mod node;
mod signaling;
mod sim;

use std::process::ExitCode;

use crate::cli::{Cli, Command};

/// Runs the chosen subcommand.
pub fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Signaling(args) => signaling::run(args),
        Command::Sim(args) => sim::run(args),
        Command::Node(args) => node::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("raftrtc: {e:#}");
            ExitCode::from(2)
        }
    }
}
