//! The `raftrtc` library: everything the binary does, reachable from tests.
//!
//! - [`cli`] declares every flag (clap derive), [`commands`] runs each subcommand;
//! - [`launcher`] starts a run's nodes (processes or containers), [`docker`] is the engine API;
//! - [`experiment`] drives one run (up / kill / the faults / propagate) through
//!   `node::control`'s client; [`chaos`] runs clients under a fault schedule and checks the
//!   history (with `raftrtc-check`);
//! - [`matrix`] is the plan of runs, [`progress`] the terminal bars;
//! - [`results`] writes the per-run CSV and analyses it (stats, exports, report, figures).

pub mod chaos;
pub mod cli;
pub mod commands;
pub mod docker;
pub mod experiment;
pub mod launcher;
pub mod load;
pub mod matrix;
pub mod progress;
pub mod results;
