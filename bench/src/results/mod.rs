//! Results: the per-run CSV and everything made from it.

pub mod csv_out;
pub mod export;
pub mod paper;
pub mod plot;
pub mod report;
pub mod stats;
