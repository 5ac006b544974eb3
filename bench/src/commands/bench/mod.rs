//! The one benchmark loop every experiment subcommand shares, split by job:
//!
//! - [`options`]: the flags resolved into [`Options`] (profile, plan, defaults, validation);
//! - [`run`]: the run loop, one run after another, a CSV row appended after each, the summary;
//! - [`interrupt`]: Ctrl-C / SIGTERM kill every node before the bench exits;
//! - [`row`]: what a run produced, mapped to its CSV row;
//! - [`baseline`]: `--save-baseline` and `--baseline` after the runs.
//!
//! Exit status: 0 if every run was `ok`, 1 if any was not (or something failed at run time),
//! 2 for a usage error found before anything started (see [`super::UsageError`]).

mod baseline;
mod interrupt;
mod options;
mod row;
mod run;

pub(crate) use interrupt::install_handler;
pub use options::{seed_from_clock, Defaults, Options};
pub use run::run_plan;
pub(crate) use run::{default_csv, make_launcher, signaling_config};
