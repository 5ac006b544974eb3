//! The one benchmark loop every experiment subcommand shares, split by job:
//!
//! - [`options`]: the flags resolved into [`Options`] (profile, plan, defaults, validation);
//! - [`run`]: one invocation: the runs, the summary, the exports, the baseline's verdict;
//! - [`session`]: what the runs share (launchers, signaling) and the loop that makes them, a
//!   CSV row appended after each;
//! - [`interrupt`]: Ctrl-C / SIGTERM kill every node before the bench exits;
//! - [`row`]: what a run produced, mapped to its CSV row;
//! - [`baseline`]: `--save-baseline`, `--baseline` and `--reference-binary` after the runs.
//!
//! Exit status: 0 if every run was `ok`, 1 if any was not (or something failed at run time),
//! 2 for a usage error found before anything started (see [`super::UsageError`]).

mod baseline;
mod interrupt;
mod options;
mod row;
mod run;
mod session;

pub(crate) use baseline::save;
pub(crate) use interrupt::install_handler;
pub use options::{seed_from_clock, Defaults, Options};
pub use run::run_plan;
pub(crate) use run::{default_csv, make_launcher, signaling_config};
