//! Results: the per-run CSV and everything made from it.
//!
//! - [`row`]: the row schema ([`Row`] and its column enums), columns defined
//!   once by the struct;
//! - [`writer`] appends rows as runs end, [`reader`] streams them back (both
//!   on the `csv` crate), [`error`] says what went wrong and where;
//! - [`stats`]: per-cell aggregates kept as rows stream past, and their
//!   summaries; [`table`]: the one table renderer (terminal and markdown);
//! - [`export`]: the bench's summary as text, markdown and JSON;
//!   [`ci_formats`]: the JSON CI benchmark trackers read (github-action-benchmark,
//!   Bencher);
//! - [`compare`]: two sets of runs cell by cell, with a bootstrap interval and a verdict;
//!   [`steadiness`]: warnings when a cell's runs are too unsteady to compare;
//! - [`paper`]: the papers' measurements; [`report`]: ours beside theirs;
//!   [`plot`]: the figures.
//!
//! The boundary: nothing here knows how runs are made. This module imports
//! no launcher, experiment or command; the one thing it shares with the
//! rest of the crate is [`crate::matrix::TestKind`], the experiments' names,
//! which is the `test` column's type. The bench maps its own settings into
//! the column enums when it makes a row.

pub mod ci_formats;
pub mod compare;
pub mod error;
pub mod export;
pub mod paper;
pub mod plot;
pub mod reader;
pub mod report;
pub mod row;
pub mod stats;
pub mod steadiness;
pub mod table;
pub mod writer;

pub use error::CsvError;
pub use reader::{read_csvs, read_rows, RowReader};
pub use row::record_of;
pub use row::{Launcher, Outcome, Profile, Replication, Row, Signaling, Start};
pub use writer::CsvRecord;
pub use writer::CsvWriter;
