//! Per-cell aggregates of the rows, kept as the rows stream past, and the
//! summaries made from them: ok/failed counts and the distribution of
//! `duration_ms` over the ok runs.
//!
//! A cell is test x setup (launcher, replication, profile, start) x election
//! timeout x nodes, so CSVs that mix setups never average two different
//! setups together; the exporters show the setup columns only when they
//! differ. A cell keeps its counts and its ok runs' durations (8 bytes a
//! run: medians need the values), never the rows, so `plot` and `report`
//! on a million rows hold a few MB.
//!
//! Percentiles use linear interpolation between closest ranks (Hyndman &
//! Fan type 7, the default of NumPy, R and spreadsheets): the q-quantile of
//! n sorted values sits at rank h = (n-1)q, between values floor(h) and
//! ceil(h). So the median of an even count is the mean of the two middle
//! values, and p90 of 1..=10 is 9.1. With few runs (the papers used 7), p90
//! is close to the maximum; that is expected.

use std::collections::BTreeMap;

use serde::Serialize;

use super::row::{test_column, Launcher, Outcome, Profile, Replication, Row, Signaling, Start};
use crate::matrix::{RunSpec, TestKind};

/// What runs were made with besides the test and its sizes: runs that
/// differ in any of these are never put together.
///
/// Ordered by launcher, replication, profile, start and network conditions, as listings are.
/// A cold and a warm start never share a cell: their up times measure different things; nor
/// do runs under different network conditions.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Setup {
    /// What ran the nodes.
    pub launcher: Launcher,
    /// The leader's pacing.
    pub replication: Replication,
    /// The settings preset.
    pub profile: Profile,
    /// How the cluster came up.
    pub start: Start,
    /// The network conditions (`none`: the machine's own).
    pub net: String,
    /// The signaling server.
    pub signaling: Signaling,
}

impl Setup {
    /// The setup a row ran with.
    pub fn of(row: &Row) -> Setup {
        Setup {
            launcher: row.launcher,
            replication: row.replication,
            profile: row.profile,
            start: row.start,
            net: row.net.clone(),
            signaling: row.signaling,
        }
    }
}

/// What identifies a cell, ordered as cells are listed: by test (up, kill
/// leader, kill half, kill N, propagate M), then setup, election timeout and
/// cluster size.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CellKey {
    /// The experiment.
    pub test: TestKind,
    /// What it ran with.
    pub setup: Setup,
    /// Election timeout.
    pub election_timeout_ms: u64,
    /// Cluster size.
    pub nodes: usize,
}

impl CellKey {
    /// Whether `spec` is a run of this cell. The setup is one invocation's, common to all
    /// its runs, so the test, size and timeout decide.
    pub fn is_of(&self, spec: &RunSpec) -> bool {
        self.test == spec.test
            && self.nodes == spec.nodes
            && self.election_timeout_ms == spec.election_timeout_ms
    }
}

/// The runs of one cell, aggregated.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Cell {
    /// All runs.
    pub runs: usize,
    /// Runs with outcome `ok`.
    pub ok: usize,
    /// Runs that violated a safety property.
    pub unsafe_runs: usize,
    /// `duration_ms` of every ok run that has one, in the order read.
    pub durations: Vec<f64>,
    /// Elections started in every ok run that counted them.
    pub elections: Vec<u64>,
    /// `rejoin_ms` of every ok run that has one (the leader-out faults).
    pub rejoins: Vec<f64>,
}

impl Cell {
    /// Runs with any outcome but `ok`.
    pub fn failed(&self) -> usize {
        self.runs - self.ok
    }
}

/// Every cell of the rows seen so far; see the module docs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Cells {
    cells: BTreeMap<CellKey, Cell>,
}

impl Cells {
    /// No cells yet.
    pub fn new() -> Cells {
        Cells::default()
    }

    /// The cells of `rows`.
    pub fn of<'a>(rows: impl IntoIterator<Item = &'a Row>) -> Cells {
        let mut cells = Cells::new();
        for row in rows {
            cells.add(row);
        }
        cells
    }

    /// Counts `row` in its cell. An `ok` row without a `duration_ms` counts
    /// as ok but adds no value to the statistics.
    pub fn add(&mut self, row: &Row) {
        let key = CellKey {
            test: row.test,
            setup: Setup::of(row),
            election_timeout_ms: row.election_timeout_ms,
            nodes: row.nodes,
        };
        let cell = self.cells.entry(key).or_default();
        cell.runs += 1;
        if row.outcome.is_ok() {
            cell.ok += 1;
            cell.durations.extend(row.duration_ms);
            cell.elections.extend(row.elections);
            cell.rejoins.extend(row.rejoin_ms);
        }
        if row.outcome == Outcome::Unsafe {
            cell.unsafe_runs += 1;
        }
    }

    /// The cells in listing order (see [`CellKey`]).
    pub fn iter(&self) -> impl Iterator<Item = (&CellKey, &Cell)> {
        self.cells.iter()
    }

    /// The cell of `key`, if a row fell in it.
    pub fn get(&self, key: &CellKey) -> Option<&Cell> {
        self.cells.get(key)
    }

    /// Only the cells of `keys`.
    pub fn only(&self, keys: &[&CellKey]) -> Cells {
        Cells {
            cells: self
                .cells
                .iter()
                .filter(|(k, _)| keys.contains(k))
                .map(|(k, c)| (k.clone(), c.clone()))
                .collect(),
        }
    }

    /// Whether no row was added.
    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }

    /// One [`Summary`] per cell, in listing order.
    pub fn summaries(&self) -> Vec<Summary> {
        self.cells
            .iter()
            .map(|(key, cell)| Summary::of(key, cell))
            .collect()
    }
}

/// The statistics of one cell.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// The experiment (`up`, `kill_leader`, ...).
    #[serde(with = "test_column")]
    pub test: TestKind,
    /// What ran the nodes.
    pub launcher: Launcher,
    /// The leader's pacing.
    pub replication: Replication,
    /// The settings preset.
    pub profile: Profile,
    /// How the cluster came up.
    pub start: Start,
    /// The network conditions (`none`: the machine's own).
    pub net: String,
    /// The signaling server.
    pub signaling: Signaling,
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
    /// Elections started per ok run, on average: above one, some elections failed (split
    /// votes, candidates that could not reach a majority in time).
    pub elections_mean: Option<f64>,
    /// Median `rejoin_ms` of the ok runs (`pause_leader`, `isolate_leader`).
    pub rejoin_median_ms: Option<f64>,
}

impl Summary {
    fn of(key: &CellKey, cell: &Cell) -> Summary {
        let mut values = cell.durations.clone();
        values.sort_by(f64::total_cmp);
        Summary {
            test: key.test,
            launcher: key.setup.launcher,
            replication: key.setup.replication,
            profile: key.setup.profile,
            start: key.setup.start,
            net: key.setup.net.clone(),
            signaling: key.setup.signaling,
            nodes: key.nodes,
            election_timeout_ms: key.election_timeout_ms,
            runs: cell.runs,
            ok: cell.ok,
            failed: cell.failed(),
            unsafe_runs: cell.unsafe_runs,
            mean_ms: mean(&values),
            median_ms: quantile_sorted(&values, 0.5),
            p90_ms: quantile_sorted(&values, 0.9),
            min_ms: values.first().copied(),
            max_ms: values.last().copied(),
            elections_mean: mean(&cell.elections.iter().map(|&e| e as f64).collect::<Vec<_>>()),
            rejoin_median_ms: median(&cell.rejoins),
        }
    }

    /// The setup of the cell.
    pub fn setup(&self) -> Setup {
        Setup {
            launcher: self.launcher,
            replication: self.replication,
            profile: self.profile,
            start: self.start,
            net: self.net.clone(),
            signaling: self.signaling,
        }
    }
}

/// Groups rows into cells and summarizes each; see [`Summary`].
pub fn summarize(rows: &[Row]) -> Vec<Summary> {
    Cells::of(rows).summaries()
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
pub fn median(values: &[f64]) -> Option<f64> {
    quantile(values, 0.5)
}

/// The `q`-quantile (0 to 1, clamped) by linear interpolation between
/// closest ranks; `None` for no values. The input need not be sorted.
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
    use crate::results::row::test_row as row;

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
    fn a_cell_keeps_counts_and_ok_durations_in_the_order_read() {
        let mut cells = Cells::new();
        for r in [
            row("up", 3, 250, Outcome::Ok, Some(30.0)),
            row("up", 3, 250, Outcome::Error, None),
            row("up", 3, 250, Outcome::Ok, Some(10.0)),
        ] {
            cells.add(&r);
        }
        let (key, cell) = cells.iter().next().unwrap();
        assert_eq!((key.nodes, key.election_timeout_ms), (3, 250));
        assert_eq!(cell.durations, [30.0, 10.0]);
        assert_eq!((cell.runs, cell.ok, cell.failed()), (3, 2, 1));
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
        docker.launcher = Launcher::Docker;
        let rows = vec![
            row("propagate_100", 3, 250, Outcome::Ok, Some(1.0)),
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
            .map(|s| (s.test.name(), s.launcher, s.election_timeout_ms, s.nodes))
            .collect();
        let want: Vec<(String, Launcher, u64, usize)> = [
            ("up", Launcher::Docker, 250, 3),
            ("up", Launcher::Process, 100, 21),
            ("up", Launcher::Process, 250, 3),
            ("up", Launcher::Process, 250, 5),
            ("kill_leader", Launcher::Process, 250, 3),
            ("kill_half", Launcher::Process, 250, 3),
            ("propagate_1", Launcher::Process, 250, 3),
            ("propagate_100", Launcher::Process, 250, 3),
        ]
        .into_iter()
        .map(|(t, l, e, n)| (t.to_string(), l, e, n))
        .collect();
        assert_eq!(got, want);
    }
}
