//! Summaries of the per-run rows: ok/failed counts and the distribution of
//! `duration_ms` over the ok runs, per matrix cell.
//!
//! A cell (group) is test x nodes x election timeout, and also launcher,
//! replication and profile, so CSVs that mix those never average two
//! different setups together; the exporters show those three columns only
//! when they differ.
//!
//! Percentiles use linear interpolation between closest ranks (Hyndman &
//! Fan type 7, the default of NumPy, R and spreadsheets): the q-quantile of
//! n sorted values sits at rank h = (n-1)q, between values floor(h) and
//! ceil(h). So the median of an even count is the mean of the two middle
//! values, and p90 of 1..=10 is 9.1. With few runs (the papers used 7), p90
//! is close to the maximum; that is expected.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::matrix::TestKind;
use crate::results::csv_out::Row;

/// The statistics of one matrix cell.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// The test's name (`up`, `kill_leader`, ...).
    pub test: String,
    /// `process` or `docker`.
    pub launcher: String,
    /// `immediate` or `heartbeat`.
    pub replication: String,
    /// `default` or `paper` (empty for CSVs without the column).
    pub profile: String,
    /// Cluster size.
    pub nodes: usize,
    /// Election timeout.
    pub election_timeout_ms: u64,
    /// All runs of the cell.
    pub runs: usize,
    /// Runs with outcome `ok`.
    pub ok: usize,
    /// Runs with any other outcome (`timeout`, `error` or `unsafe`).
    pub failed: usize,
    /// Of the failed runs, those that violated a safety property.
    pub unsafe_runs: usize,
    /// Mean `duration_ms` of the ok runs that have one.
    pub mean_ms: Option<f64>,
    /// Median (see the module docs for the method).
    pub median_ms: Option<f64>,
    /// 90th percentile (see the module docs for the method).
    pub p90_ms: Option<f64>,
    /// Fastest ok run.
    pub min_ms: Option<f64>,
    /// Slowest ok run.
    pub max_ms: Option<f64>,
}

/// What identifies a cell, ordered as summaries are listed: by test (up,
/// kill leader, kill half, kill N, propagate M, then unknown names), then
/// launcher, replication, profile, election timeout and cluster size.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    unknown_test: bool,
    kind: Option<TestKind>,
    test: String,
    launcher: String,
    replication: String,
    profile: String,
    election_timeout_ms: u64,
    nodes: usize,
}

/// Groups rows into cells and summarizes each; see [`Summary`].
///
/// An `ok` row without a `duration_ms` counts as ok but adds no value to the
/// statistics.
pub fn summarize(rows: &[Row]) -> Vec<Summary> {
    let mut groups: BTreeMap<Key, Vec<&Row>> = BTreeMap::new();
    for row in rows {
        let kind = row.test.parse::<TestKind>().ok();
        let key = Key {
            unknown_test: kind.is_none(),
            kind,
            test: row.test.clone(),
            launcher: row.launcher.clone(),
            replication: row.replication.clone(),
            profile: row.profile.clone(),
            election_timeout_ms: row.election_timeout_ms,
            nodes: row.nodes,
        };
        groups.entry(key).or_default().push(row);
    }
    groups
        .into_iter()
        .map(|(key, rows)| {
            let ok = rows.iter().filter(|r| r.outcome.is_ok()).count();
            let unsafe_runs = rows
                .iter()
                .filter(|r| r.outcome == crate::results::csv_out::Outcome::Unsafe)
                .count();
            let mut values: Vec<f64> = rows
                .iter()
                .filter(|r| r.outcome.is_ok())
                .filter_map(|r| r.duration_ms)
                .collect();
            values.sort_by(f64::total_cmp);
            Summary {
                test: key.test,
                launcher: key.launcher,
                replication: key.replication,
                profile: key.profile,
                nodes: key.nodes,
                election_timeout_ms: key.election_timeout_ms,
                runs: rows.len(),
                ok,
                failed: rows.len() - ok,
                unsafe_runs,
                mean_ms: mean(&values),
                median_ms: quantile_sorted(&values, 0.5),
                p90_ms: quantile_sorted(&values, 0.9),
                min_ms: values.first().copied(),
                max_ms: values.last().copied(),
            }
        })
        .collect()
}

/// The arithmetic mean; `None` for no values.
pub fn mean(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        None
    } else {
        Some(values.iter().sum::<f64>() / values.len() as f64)
    }
}

/// The least-squares slope of `y` over `x`; `None` unless at least two
/// distinct `x` values are given. `up` grows about linearly with the cluster
/// size (one membership change per added node), so its slope, time per
/// added node, is how the papers' scaling is compared.
pub fn slope(points: &[(f64, f64)]) -> Option<f64> {
    let n = points.len() as f64;
    let mx = mean(&points.iter().map(|p| p.0).collect::<Vec<_>>())?;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    (sxx > 0.0).then(|| sxy / sxx)
}

/// The median (linear interpolation); `None` for no values.
#[cfg(test)]
pub fn median(values: &[f64]) -> Option<f64> {
    quantile(values, 0.5)
}

/// The `q`-quantile (0 to 1, clamped) by linear interpolation between
/// closest ranks; `None` for no values. The input need not be sorted.
#[cfg(test)]
pub fn quantile(values: &[f64], q: f64) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    quantile_sorted(&sorted, q)
}

fn quantile_sorted(sorted: &[f64], q: f64) -> Option<f64> {
    let last = sorted.len().checked_sub(1)?;
    let q = if q.is_nan() { 0.5 } else { q.clamp(0.0, 1.0) };
    let h = last as f64 * q;
    let lo = h.floor() as usize;
    let hi = h.ceil() as usize;
    let (a, b) = (sorted[lo.min(last)], sorted[hi.min(last)]);
    Some(a + (b - a) * (h - lo as f64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::csv_out::test_row as row;
    use crate::results::csv_out::Outcome;

    fn close(a: Option<f64>, b: f64) -> bool {
        a.is_some_and(|a| (a - b).abs() < 1e-9)
    }

    #[test]
    fn slope_is_exact_on_a_line_and_needs_two_distinct_sizes() {
        let line: Vec<(f64, f64)> = [3.0, 9.0, 21.0]
            .iter()
            .map(|&x| (x, 0.1 * x + 0.2))
            .collect();
        assert!(close(slope(&line), 0.1));
        // Least squares through (0,0), (1,1), (2,1): 0.5.
        assert!(close(slope(&[(0.0, 0.0), (1.0, 1.0), (2.0, 1.0)]), 0.5));
        assert_eq!(slope(&[(3.0, 1.0), (3.0, 2.0)]), None);
        assert_eq!(slope(&[]), None);
    }

    #[test]
    fn median_of_an_even_count_is_the_mean_of_the_middle_two() {
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[7.0]), Some(7.0));
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn p90_of_ten_values_interpolates_between_the_ninth_and_tenth() {
        let values: Vec<f64> = (1..=10).rev().map(f64::from).collect();
        assert!(close(quantile(&values, 0.9), 9.1));
        assert_eq!(quantile(&values, 0.0), Some(1.0));
        assert_eq!(quantile(&values, 1.0), Some(10.0));
        // Seven runs, as in the papers: rank 5.4 of 0..=6.
        let seven = [10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0];
        assert!(close(quantile(&seven, 0.9), 64.0));
    }

    #[test]
    fn quantiles_never_panic_on_odd_input() {
        assert_eq!(quantile(&[1.0, 2.0], f64::NAN), Some(1.5));
        assert_eq!(quantile(&[1.0, 2.0], 7.0), Some(2.0));
        assert_eq!(quantile(&[1.0, 2.0], -1.0), Some(1.0));
        assert_eq!(mean(&[]), None);
        assert_eq!(mean(&[1.0, 2.0, 6.0]), Some(3.0));
    }

    #[test]
    fn summaries_count_ok_and_failed_and_use_only_ok_durations() {
        let rows = vec![
            row("up", 3, 250, Outcome::Ok, Some(100.0)),
            row("up", 3, 250, Outcome::Ok, Some(300.0)),
            row("up", 3, 250, Outcome::Timeout, Some(5000.0)),
            row("up", 3, 250, Outcome::Unsafe, Some(1.0)),
            row("up", 3, 250, Outcome::Ok, Some(200.0)),
            row("up", 3, 250, Outcome::Ok, None),
        ];
        let s = summarize(&rows);
        assert_eq!(s.len(), 1);
        let s = &s[0];
        assert_eq!((s.runs, s.ok, s.failed, s.unsafe_runs), (6, 4, 2, 1));
        assert_eq!(s.mean_ms, Some(200.0));
        assert_eq!(s.median_ms, Some(200.0));
        assert!(close(s.p90_ms, 280.0));
        assert_eq!((s.min_ms, s.max_ms), (Some(100.0), Some(300.0)));
    }

    #[test]
    fn a_cell_with_no_ok_run_has_no_statistics() {
        let s = summarize(&[row("up", 21, 100, Outcome::Timeout, None)]);
        assert_eq!((s[0].ok, s[0].failed), (0, 1));
        assert_eq!(s[0].mean_ms, None);
        assert_eq!(s[0].median_ms, None);
        assert_eq!(s[0].max_ms, None);
    }

    #[test]
    fn cells_are_split_by_setup_and_listed_in_test_then_timeout_then_size_order() {
        let mut docker = row("up", 3, 250, Outcome::Ok, Some(1.0));
        docker.launcher = "docker".to_string();
        let rows = vec![
            row("propagate_100", 3, 250, Outcome::Ok, Some(1.0)),
            row("zzz_custom", 3, 250, Outcome::Ok, Some(1.0)),
            row("kill_half", 3, 250, Outcome::Ok, Some(1.0)),
            row("up", 5, 250, Outcome::Ok, Some(1.0)),
            row("up", 21, 100, Outcome::Ok, Some(1.0)),
            row("up", 3, 250, Outcome::Ok, Some(1.0)),
            docker,
            row("kill_leader", 3, 250, Outcome::Ok, Some(1.0)),
            row("propagate_1", 3, 250, Outcome::Ok, Some(1.0)),
        ];
        let got: Vec<_> = summarize(&rows)
            .into_iter()
            .map(|s| (s.test, s.launcher, s.election_timeout_ms, s.nodes))
            .collect();
        let want: Vec<(String, String, u64, usize)> = [
            ("up", "docker", 250, 3),
            ("up", "process", 100, 21),
            ("up", "process", 250, 3),
            ("up", "process", 250, 5),
            ("kill_leader", "process", 250, 3),
            ("kill_half", "process", 250, 3),
            ("propagate_1", "process", 250, 3),
            ("propagate_100", "process", 250, 3),
            ("zzz_custom", "process", 250, 3),
        ]
        .into_iter()
        .map(|(t, l, e, n)| (t.to_string(), l.to_string(), e, n))
        .collect();
        assert_eq!(got, want);
    }
}
