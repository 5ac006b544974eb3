//! One load cell: one CSV row, and the summary table of many.

use serde::{Deserialize, Serialize};

use super::{CellResult, LoadOp, Pacing, Target};
use crate::results::table::Table;

/// One load cell: one CSV row.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LoadRow {
    /// When the cell started (RFC 3339).
    pub started_at: String,
    /// The seed of the cluster and the workers' keys.
    pub seed: u64,
    /// `process` or `docker`.
    pub launcher: String,
    /// The settings preset.
    pub profile: String,
    /// Cluster size.
    pub nodes: usize,
    /// Election timeout.
    pub election_timeout_ms: u64,
    /// The network conditions (`none`: the machine's own).
    pub net: String,
    /// Client workers.
    pub clients: u32,
    /// Where they sent: `followers`, `leader` or `all`.
    pub at: String,
    /// What they sent: `set` or `chat`.
    pub op: String,
    /// `closed` or `open`.
    pub pacing: String,
    /// Open loop: operations a second offered; empty for a closed loop.
    pub offered_per_s: Option<f64>,
    /// Repetition of the cell, from 1.
    pub run: u32,
    /// The unmeasured warmup, in seconds.
    pub warmup_s: f64,
    /// The measured window, in seconds.
    pub duration_s: f64,
    /// Operations completed within the window.
    pub ops: u64,
    /// Operations refused, failed or unanswered within the window.
    pub errors: u64,
    /// Open loop: operations due within the window and never sent (the cluster fell behind).
    pub unsent: u64,
    /// Completed operations a second.
    pub ops_per_s: f64,
    /// Latency percentiles and maximum, in ms (empty without completed operations).
    pub p50_ms: Option<f64>,
    /// 90th percentile.
    pub p90_ms: Option<f64>,
    /// 99th percentile.
    pub p99_ms: Option<f64>,
    /// 99.9th percentile.
    pub p999_ms: Option<f64>,
    /// Slowest.
    pub max_ms: Option<f64>,
    /// `ok`, or `error` when the cluster could not be brought up or every operation failed.
    pub outcome: String,
    /// What went wrong, if anything (the first error).
    pub error: String,
    /// The raftrtc version.
    pub version: String,
}

impl crate::results::CsvRecord for LoadRow {
    fn columns() -> &'static csv::StringRecord {
        static HEADER: std::sync::OnceLock<csv::StringRecord> = std::sync::OnceLock::new();
        HEADER.get_or_init(|| crate::results::record_of::<LoadRow>().0)
    }
}

/// Whether `path` is a load CSV (its header is [`LoadRow`]'s), not an experiment's.
pub fn is_load_csv(path: &std::path::Path) -> bool {
    csv::Reader::from_path(path)
        .and_then(|mut r| r.headers().cloned())
        .is_ok_and(|h| h.iter().any(|c| c == "ops_per_s"))
}

/// Every row of a load CSV; a row that does not parse is an error naming the file and line.
pub fn read_rows(path: &std::path::Path) -> Result<Vec<LoadRow>, String> {
    let mut reader =
        csv::Reader::from_path(path).map_err(|e| format!("{}: {e}", path.display()))?;
    reader
        .deserialize()
        .enumerate()
        .map(|(k, row)| row.map_err(|e| format!("{} line {}: {e}", path.display(), k + 2)))
        .collect()
}

/// Spells a column enum as the CSV does.
fn spelled<T: Serialize>(value: T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

impl LoadRow {
    /// Fills the load's columns from what was asked and what was measured.
    pub fn fill(&mut self, at: Target, op: LoadOp, pacing: Pacing, result: &CellResult) {
        self.at = spelled(at);
        self.op = spelled(op);
        (self.pacing, self.offered_per_s) = match pacing {
            Pacing::Closed => ("closed".into(), None),
            Pacing::Open(rate) => ("open".into(), Some(rate)),
        };
        self.ops = result.ops;
        self.errors = result.errors;
        self.unsent = result.unsent;
        self.ops_per_s = if self.duration_s > 0.0 {
            result.ops as f64 / self.duration_s
        } else {
            0.0
        };
        let l = &result.latencies;
        self.p50_ms = l.quantile_ms(0.5);
        self.p90_ms = l.quantile_ms(0.9);
        self.p99_ms = l.quantile_ms(0.99);
        self.p999_ms = l.quantile_ms(0.999);
        self.max_ms = l.max_ms();
        let all_failed = result.ops == 0;
        self.outcome = if all_failed { "error" } else { "ok" }.into();
        self.error = result.first_error.clone().unwrap_or_default();
    }
}

/// The summary: a line per row.
pub fn table(rows: &[LoadRow]) -> Table {
    let ms = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |v| format!("{v:.2}"));
    let headers = [
        "nodes",
        "clients",
        "at",
        "op",
        "offered/s",
        "ops/s",
        "p50 (ms)",
        "p90 (ms)",
        "p99 (ms)",
        "p99.9 (ms)",
        "max (ms)",
        "errors",
        "unsent",
    ];
    let rows = rows
        .iter()
        .map(|r| {
            vec![
                r.nodes.to_string(),
                r.clients.to_string(),
                r.at.clone(),
                r.op.clone(),
                r.offered_per_s
                    .map_or_else(|| "closed".to_string(), |o| format!("{o:.0}")),
                format!("{:.0}", r.ops_per_s),
                ms(r.p50_ms),
                ms(r.p90_ms),
                ms(r.p99_ms),
                ms(r.p999_ms),
                ms(r.max_ms),
                r.errors.to_string(),
                r.unsent.to_string(),
            ]
        })
        .collect();
    Table::right_aligned_except(&headers, &[2, 3], rows)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_row_holds_the_rate_and_ordered_percentiles_of_what_was_measured() {
        let mut result = CellResult::default();
        for ms in 1..=100 {
            result.latencies.record(Duration::from_millis(ms));
        }
        result.ops = 100;
        result.errors = 2;
        let mut row = LoadRow {
            duration_s: 2.0,
            ..LoadRow::default()
        };
        row.fill(Target::Followers, LoadOp::Set, Pacing::Open(80.0), &result);
        assert_eq!((row.at.as_str(), row.op.as_str()), ("followers", "set"));
        assert_eq!(
            (row.pacing.as_str(), row.offered_per_s),
            ("open", Some(80.0))
        );
        assert_eq!(row.ops_per_s, 50.0);
        let p = [row.p50_ms, row.p90_ms, row.p99_ms, row.p999_ms, row.max_ms].map(Option::unwrap);
        assert!(p.windows(2).all(|w| w[0] <= w[1]), "{p:?}");
        assert_eq!(row.outcome, "ok");
        let text = table(&[row]).to_text();
        assert!(text.contains("followers") && text.contains("50"), "{text}");
    }

    #[test]
    fn a_load_csv_is_known_by_its_header_and_reads_back_row_for_row() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("load.csv");
        let row = LoadRow {
            nodes: 5,
            clients: 64,
            offered_per_s: Some(1000.0),
            p99_ms: Some(4.5),
            ..LoadRow::default()
        };
        let mut csv = crate::results::CsvWriter::<LoadRow>::open_append(&path).unwrap();
        csv.write_row(&row).unwrap();
        drop(csv);
        assert!(is_load_csv(&path));
        assert_eq!(read_rows(&path).unwrap(), [row]);
        let other = dir.path().join("up.csv");
        crate::results::CsvWriter::<crate::results::Row>::open_append(&other).unwrap();
        assert!(!is_load_csv(&other));
    }

    #[test]
    fn a_cell_where_nothing_completed_is_an_error_with_its_reason() {
        let result = CellResult {
            errors: 3,
            first_error: Some("no answer in 10s".into()),
            ..CellResult::default()
        };
        let mut row = LoadRow::default();
        row.fill(Target::All, LoadOp::Chat, Pacing::Closed, &result);
        assert_eq!(row.outcome, "error");
        assert_eq!(row.error, "no answer in 10s");
        assert_eq!(row.p99_ms, None);
    }
}
