//! One module per subcommand; [`run`] dispatches and maps errors to exit codes.
//!
//! Exit codes, the same for every subcommand: 0 success; 2 a usage error only — bad input
//! found before anything started, returned as a [`UsageError`] (clap reports its own parse
//! errors with 2 as well); 1 anything that failed at run time (a run that was not `ok`, a
//! node or signaling server that failed, a violation found, a file that could not be
//! written).

mod bench;
mod chaos;
mod compare;
mod docker;
mod kill;
mod load;
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
    let result = match cli.command {
        Command::Signaling(args) => signaling::run(args),
        Command::Sim(args) => sim::run(args),
        Command::Node(args) => node::run(args),
        Command::Up(args) => up::run(args),
        Command::Kill(args) => kill::run(args),
        Command::Propagate(args) => propagate::run(args),
        Command::Matrix(args) => matrix::run(args),
        Command::Smoke(args) => smoke::run(args),
        Command::Chaos(args) => chaos::run(args),
        Command::Load(args) => load::run(args),
        Command::Plot(args) => plot::run(args),
        Command::Report(args) => report::run(args),
        Command::Compare(args) => compare::run(args),
        Command::Docker(args) => docker::run(args),
        Command::Cleanup => docker::cleanup(),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("raftrtc: {e:#}");
            if e.downcast_ref::<UsageError>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
    }
}

/// The async runtime every command that drives nodes runs on: two workers, as the machine
/// the bench is tuned for has two cores.
pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    use anyhow::Context;
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}
