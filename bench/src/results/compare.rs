//! Two sets of runs, cell by cell: did the new one get slower?
//!
//! Cells are those of [`Cells`] (test x setup x election timeout x nodes), so a comparison
//! never puts two different settings side by side. Per cell common to both sets: the
//! medians of the ok runs' `duration_ms`, the relative change of the median
//! (`new / base - 1`), its confidence interval, and a [`Verdict`].
//!
//! **Why a bootstrap interval.** Run times here are skewed, with a long right tail (one
//! election collision doubles an `up`), so a t interval's normal assumption does not hold.
//! Mann-Whitney's test asks whether one sample tends to be larger, but gives no interval on
//! the change of the *median*, which is the figure raftrtc reports and thresholds. A
//! percentile bootstrap of the ratio of medians gives exactly that interval without
//! assuming a distribution. It is seeded, so the same two files always get the same
//! verdict.
//!
//! **Verdicts.** `regressed` when the whole interval lies above `+threshold` (the slowdown
//! is both real and larger than the noise allowance), `improved` when it lies below
//! `-threshold`, otherwise `no change`; `too few runs` when either side has fewer ok runs
//! than [`CompareOptions::min_runs`]. Requiring the whole interval beyond the threshold,
//! not only its point estimate, is what keeps a noisy CI machine from crying wolf. And a
//! cell whose runs were all ok in the base but not in the new set is `regressed` whatever
//! its times: a run that fails is worse than a slow one.

use std::collections::BTreeSet;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use super::row::Signaling;
use super::stats::{quantile, CellKey, Cells};
use super::table::{Align, Table};

/// How two sets are compared.
#[derive(Clone, Debug, PartialEq)]
pub struct CompareOptions {
    /// The noise allowance, as a fraction (0.05: a change within 5 % is no change).
    pub threshold: f64,
    /// Fewer ok runs than this on either side: `too few runs`.
    pub min_runs: usize,
    /// Bootstrap resamples.
    pub resamples: usize,
    /// The interval's confidence (0.95).
    pub confidence: f64,
    /// The bootstrap's seed.
    pub seed: u64,
}

impl Default for CompareOptions {
    fn default() -> Self {
        CompareOptions {
            threshold: 0.05,
            min_runs: 3,
            resamples: 4000,
            confidence: 0.95,
            seed: 1,
        }
    }
}

/// What became of one cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Faster, beyond the threshold.
    Improved,
    /// Slower beyond the threshold, or failing where it did not.
    Regressed,
    /// Within the threshold (or not clearly outside it).
    NoChange,
    /// Not enough ok runs on one side to tell.
    TooFewRuns,
}

impl Verdict {
    /// As the table and exports spell it.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Improved => "improved",
            Verdict::Regressed => "regressed",
            Verdict::NoChange => "no change",
            Verdict::TooFewRuns => "too few runs",
        }
    }
}

/// One side of a compared cell.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Side {
    /// Runs.
    pub runs: usize,
    /// Of which ok.
    pub ok: usize,
    /// Median `duration_ms` of the ok runs.
    pub median_ms: Option<f64>,
}

/// One cell in both sets.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CellComparison {
    /// The cell.
    #[serde(skip)]
    pub key: CellKey,
    /// Its name, as the exports name benchmarks.
    pub name: String,
    /// The base set's runs.
    pub base: Side,
    /// The new set's runs.
    pub new: Side,
    /// `new median / base median - 1`.
    pub change: Option<f64>,
    /// Its confidence interval.
    pub interval: Option<(f64, f64)>,
    /// The verdict.
    pub verdict: Verdict,
    /// Why, in a few words.
    pub reason: String,
}

impl CellComparison {
    /// All runs ok in the base, some failing in the new set.
    fn newly_failing(&self) -> bool {
        self.base.ok == self.base.runs && self.new.ok < self.new.runs
    }
}

/// Every common cell compared, and the cells only one side has.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Comparison {
    /// Cells in both sets, in listing order.
    pub cells: Vec<CellComparison>,
    /// Cells only in the base set (their names).
    pub only_base: Vec<String>,
    /// Cells only in the new set.
    pub only_new: Vec<String>,
    /// The threshold used, as a fraction.
    pub threshold: f64,
    /// The interval's confidence.
    pub confidence: f64,
}

impl Comparison {
    /// Whether any cell regressed.
    pub fn regressed(&self) -> bool {
        self.cells.iter().any(|c| c.verdict == Verdict::Regressed)
    }

    /// Whether a cell regressed by failing where all the base's runs were ok.
    pub fn newly_failing(&self) -> bool {
        self.cells
            .iter()
            .any(|c| c.verdict == Verdict::Regressed && c.newly_failing())
    }

    /// The cells that regressed by their times alone, not by failing: the ones a second set
    /// of runs can confirm or clear.
    pub fn slower_cells(&self) -> Vec<CellKey> {
        self.cells
            .iter()
            .filter(|c| c.verdict == Verdict::Regressed && !c.newly_failing())
            .map(|c| c.key.clone())
            .collect()
    }
}

/// The two sets have no cell in common.
#[derive(Debug, thiserror::Error)]
#[error("the two sets have no setting in common: {differences}")]
pub struct NoCommonCell {
    /// Which columns differ, and their values on each side.
    pub differences: String,
}

/// Compares `base` with `new`; see the module docs.
pub fn compare(
    base: &Cells,
    new: &Cells,
    options: &CompareOptions,
) -> Result<Comparison, NoCommonCell> {
    let base_keys: BTreeSet<&CellKey> = base.iter().map(|(k, _)| k).collect();
    let new_keys: BTreeSet<&CellKey> = new.iter().map(|(k, _)| k).collect();
    if base_keys.is_disjoint(&new_keys) {
        return Err(NoCommonCell {
            differences: differences(&base_keys, &new_keys),
        });
    }
    let mut rng = StdRng::seed_from_u64(options.seed);
    let cells = base
        .iter()
        .filter_map(|(key, b)| {
            let n = new.get(key)?;
            Some(compare_cell(key, b, n, options, &mut rng))
        })
        .collect();
    Ok(Comparison {
        cells,
        only_base: base_keys.difference(&new_keys).map(|k| name(k)).collect(),
        only_new: new_keys.difference(&base_keys).map(|k| name(k)).collect(),
        threshold: options.threshold,
        confidence: options.confidence,
    })
}

fn compare_cell(
    key: &CellKey,
    base: &super::stats::Cell,
    new: &super::stats::Cell,
    options: &CompareOptions,
    rng: &mut StdRng,
) -> CellComparison {
    let sample = |c: &'_ super::stats::Cell| Sample {
        runs: c.runs,
        ok: c.ok,
        values: c.durations.clone(),
    };
    let (b, n) = (sample(base), sample(new));
    let judged = judge_samples(&b, &n, options, rng);
    let side = |s: &Sample| Side {
        runs: s.runs,
        ok: s.ok,
        median_ms: s.median(),
    };
    CellComparison {
        key: key.clone(),
        name: name(key),
        base: side(&b),
        new: side(&n),
        change: judged.change,
        interval: judged.interval,
        verdict: judged.verdict,
        reason: judged.reason,
    }
}

/// One side of a cell as the statistics see it: its runs, how many were ok, and the ok
/// runs' values, smaller being better (a duration; for a throughput, its inverse).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sample {
    /// Runs.
    pub runs: usize,
    /// Of which ok.
    pub ok: usize,
    /// The ok runs' values.
    pub values: Vec<f64>,
}

impl Sample {
    /// Runs that were not ok.
    fn failed(&self) -> usize {
        self.runs.saturating_sub(self.ok)
    }

    /// The median value, if any run was ok.
    pub fn median(&self) -> Option<f64> {
        quantile(&self.values, 0.5)
    }
}

/// What [`judge_samples`] concluded of one cell.
#[derive(Clone, Debug, PartialEq)]
pub struct Judged {
    /// `median(new) / median(base) - 1`.
    pub change: Option<f64>,
    /// Its bootstrap interval, with enough ok runs on both sides.
    pub interval: Option<(f64, f64)>,
    /// The verdict.
    pub verdict: Verdict,
    /// Why, in a few words.
    pub reason: String,
}

/// The change of the median from `base` to `new`, its interval and the verdict, as for every
/// cell of a comparison (module docs). `rng` draws the bootstrap's resamples.
pub fn judge_samples(
    base: &Sample,
    new: &Sample,
    options: &CompareOptions,
    rng: &mut StdRng,
) -> Judged {
    let change = match (base.median(), new.median()) {
        (Some(b), Some(n)) if b > 0.0 => Some(n / b - 1.0),
        _ => None,
    };
    let enough =
        base.values.len() >= options.min_runs.max(1) && new.values.len() >= options.min_runs.max(1);
    let interval = enough.then(|| {
        bootstrap(
            &base.values,
            &new.values,
            options.resamples,
            options.confidence,
            rng,
        )
    });
    let (verdict, reason) = judge(base, new, interval, options);
    Judged {
        change,
        interval,
        verdict,
        reason,
    }
}

/// The verdict of one cell and why.
fn judge(
    base: &Sample,
    new: &Sample,
    interval: Option<(f64, f64)>,
    options: &CompareOptions,
) -> (Verdict, String) {
    if base.failed() == 0 && new.failed() > 0 {
        return (
            Verdict::Regressed,
            format!(
                "{} of {} runs failed; all {} were ok in the base",
                new.failed(),
                new.runs,
                base.runs
            ),
        );
    }
    let Some((lo, hi)) = interval else {
        return (
            Verdict::TooFewRuns,
            format!(
                "{} and {} ok runs; at least {} a side are needed",
                base.values.len(),
                new.values.len(),
                options.min_runs
            ),
        );
    };
    let t = options.threshold;
    let pct = |v: f64| format!("{:+.1} %", v * 100.0);
    if lo > t {
        (
            Verdict::Regressed,
            format!("slower: the interval lies above {}", pct(t)),
        )
    } else if hi < -t {
        (
            Verdict::Improved,
            format!("faster: the interval lies below {}", pct(-t)),
        )
    } else if lo >= -t && hi <= t {
        (Verdict::NoChange, format!("within ±{:.1} %", t * 100.0))
    } else {
        (
            Verdict::NoChange,
            format!(
                "not clearly beyond ±{:.1} %: more runs would tell",
                t * 100.0
            ),
        )
    }
}

/// The percentile bootstrap interval of `median(new) / median(base) - 1`.
fn bootstrap(
    base: &[f64],
    new: &[f64],
    resamples: usize,
    confidence: f64,
    rng: &mut StdRng,
) -> (f64, f64) {
    let mut scratch = Vec::new();
    let mut median_of = |values: &[f64], rng: &mut StdRng| {
        scratch.clear();
        scratch.extend((0..values.len()).map(|_| values[rng.random_range(0..values.len())]));
        quantile(&scratch, 0.5).unwrap_or(f64::NAN)
    };
    let ratios: Vec<f64> = (0..resamples.max(1))
        .map(|_| {
            let b = median_of(base, rng);
            let n = median_of(new, rng);
            n / b - 1.0
        })
        .filter(|r| r.is_finite())
        .collect();
    let tail = (1.0 - confidence.clamp(0.0, 1.0)) / 2.0;
    (
        quantile(&ratios, tail).unwrap_or(f64::NAN),
        quantile(&ratios, 1.0 - tail).unwrap_or(f64::NAN),
    )
}

impl Comparison {
    /// The comparison as a table: one line per common cell.
    pub fn table(&self) -> Table {
        let ms = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.1}"));
        let pct = |v: f64| format!("{:+.1} %", v * 100.0);
        let rows = self
            .cells
            .iter()
            .map(|c| {
                vec![
                    c.name.clone(),
                    format!("{}/{}", c.base.ok, c.base.runs),
                    ms(c.base.median_ms),
                    format!("{}/{}", c.new.ok, c.new.runs),
                    ms(c.new.median_ms),
                    c.change.map_or("-".to_owned(), pct),
                    c.interval.map_or("-".to_owned(), |(lo, hi)| {
                        format!("{} .. {}", pct(lo), pct(hi))
                    }),
                    c.verdict.name().to_owned(),
                    c.reason.clone(),
                ]
            })
            .collect();
        let headers = [
            "cell",
            "base ok",
            "base median (ms)",
            "new ok",
            "new median (ms)",
            "change",
            &format!("{:.0} % interval", self.confidence * 100.0),
            "verdict",
            "why",
        ];
        let right = [1, 2, 3, 4, 5, 6];
        Table {
            headers: headers.iter().map(|h| (*h).to_owned()).collect(),
            aligns: (0..headers.len())
                .map(|i| {
                    if right.contains(&i) {
                        Align::Right
                    } else {
                        Align::Left
                    }
                })
                .collect(),
            rows,
        }
    }

    /// Lines naming the cells only one side has (compared with nothing).
    pub fn unmatched(&self) -> Vec<String> {
        let side = |which: &str, names: &[String]| {
            names
                .iter()
                .map(|n| format!("only in {which}: {n}"))
                .collect::<Vec<_>>()
        };
        let mut lines = side("base", &self.only_base);
        lines.extend(side("new", &self.only_new));
        lines
    }
}

/// A cell's name for tables and benchmark trackers: stable across runs of one setting.
pub fn name(key: &CellKey) -> String {
    let s = &key.setup;
    let mut name = format!(
        "{} n={} et={}ms {} {} {} {}",
        key.test, key.nodes, key.election_timeout_ms, s.launcher, s.profile, s.start, s.replication
    );
    if s.net != "none" {
        name.push_str(&format!(" net={}", s.net));
    }
    if s.signaling != Signaling::Embedded {
        name.push_str(&format!(" signaling={}", s.signaling));
    }
    name
}

/// Which columns keep the two sets apart, and the values each side has.
fn differences(base: &BTreeSet<&CellKey>, new: &BTreeSet<&CellKey>) -> String {
    type Column = (&'static str, fn(&CellKey) -> String);
    const COLUMNS: [Column; 9] = [
        ("test", |k| k.test.to_string()),
        ("nodes", |k| k.nodes.to_string()),
        ("election_timeout_ms", |k| k.election_timeout_ms.to_string()),
        ("launcher", |k| k.setup.launcher.to_string()),
        ("replication", |k| k.setup.replication.to_string()),
        ("profile", |k| k.setup.profile.to_string()),
        ("start", |k| k.setup.start.to_string()),
        ("net", |k| k.setup.net.clone()),
        ("signaling", |k| k.setup.signaling.to_string()),
    ];
    let values = |keys: &BTreeSet<&CellKey>, f: fn(&CellKey) -> String| -> BTreeSet<String> {
        keys.iter().map(|k| f(k)).collect()
    };
    let differing: Vec<String> = COLUMNS
        .iter()
        .filter_map(|(column, f)| {
            let (b, n) = (values(base, *f), values(new, *f));
            (b != n).then(|| {
                let list = |s: &BTreeSet<String>| s.iter().cloned().collect::<Vec<_>>().join(",");
                format!("{column} (base {}; new {})", list(&b), list(&n))
            })
        })
        .collect();
    if differing.is_empty() {
        "no column differs, yet no cell matches".into()
    } else {
        differing.join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matrix::TestKind;
    use crate::results::row::{Outcome, Row};

    fn rows(test: TestKind, nodes: usize, times: &[f64], outcome: Outcome) -> Vec<Row> {
        times
            .iter()
            .map(|&t| Row {
                test,
                nodes,
                election_timeout_ms: 250,
                outcome,
                duration_ms: (outcome == Outcome::Ok).then_some(t),
                ..Row::default()
            })
            .collect()
    }

    /// `n` draws around `centre`, spread ±`spread` (a fixed pseudo-random pattern).
    fn sample(centre: f64, spread: f64, n: usize, seed: u64) -> Vec<f64> {
        let mut rng = StdRng::seed_from_u64(seed);
        (0..n)
            .map(|_| centre * (1.0 + rng.random_range(-spread..=spread)))
            .collect()
    }

    fn verdict(base: Vec<Row>, new: Vec<Row>) -> CellComparison {
        let c = compare(
            &Cells::of(&base),
            &Cells::of(&new),
            &CompareOptions::default(),
        )
        .unwrap();
        assert_eq!(c.cells.len(), 1, "{c:?}");
        c.cells[0].clone()
    }

    #[test]
    fn a_clear_thirty_percent_slowdown_is_a_regression() {
        let base = rows(TestKind::Up, 3, &sample(100.0, 0.1, 8, 1), Outcome::Ok);
        let new = rows(TestKind::Up, 3, &sample(130.0, 0.1, 8, 2), Outcome::Ok);
        let c = verdict(base, new);
        assert_eq!(c.verdict, Verdict::Regressed, "{c:?}");
        let (lo, hi) = c.interval.unwrap();
        assert!(
            lo > 0.05 && hi > lo && (0.15..0.45).contains(&c.change.unwrap()),
            "{c:?}"
        );
    }

    #[test]
    fn a_clear_improvement_is_an_improvement() {
        let base = rows(TestKind::Up, 3, &sample(100.0, 0.1, 8, 3), Outcome::Ok);
        let new = rows(TestKind::Up, 3, &sample(70.0, 0.1, 8, 4), Outcome::Ok);
        assert_eq!(verdict(base, new).verdict, Verdict::Improved);
    }

    #[test]
    fn two_samples_of_one_distribution_are_no_change() {
        for seed in 0..20 {
            let base = rows(
                TestKind::Up,
                3,
                &sample(100.0, 0.1, 8, 100 + seed),
                Outcome::Ok,
            );
            let new = rows(
                TestKind::Up,
                3,
                &sample(100.0, 0.1, 8, 200 + seed),
                Outcome::Ok,
            );
            let c = verdict(base, new);
            assert_eq!(c.verdict, Verdict::NoChange, "seed {seed}: {c:?}");
        }
    }

    #[test]
    fn a_cell_ok_in_the_base_and_timing_out_in_the_new_set_regressed_whatever_its_times() {
        let base = rows(TestKind::Up, 3, &[100.0, 101.0, 99.0], Outcome::Ok);
        let mut new = rows(TestKind::Up, 3, &[50.0, 51.0], Outcome::Ok);
        new.extend(rows(TestKind::Up, 3, &[0.0], Outcome::Timeout));
        let c = verdict(base, new);
        assert_eq!(c.verdict, Verdict::Regressed, "{c:?}");
        assert!(c.reason.contains("1 of 3 runs failed"), "{c:?}");
    }

    #[test]
    fn only_cells_slower_by_their_times_are_offered_for_confirmation() {
        let mut base = rows(TestKind::Up, 3, &sample(100.0, 0.1, 8, 5), Outcome::Ok);
        base.extend(rows(
            TestKind::Up,
            5,
            &sample(100.0, 0.1, 8, 6),
            Outcome::Ok,
        ));
        base.extend(rows(
            TestKind::Up,
            7,
            &sample(100.0, 0.1, 8, 7),
            Outcome::Ok,
        ));
        let mut new = rows(TestKind::Up, 3, &sample(140.0, 0.1, 8, 8), Outcome::Ok);
        new.extend(rows(TestKind::Up, 5, &[100.0; 7], Outcome::Ok));
        new.extend(rows(TestKind::Up, 5, &[0.0], Outcome::Timeout));
        new.extend(rows(
            TestKind::Up,
            7,
            &sample(100.0, 0.1, 8, 9),
            Outcome::Ok,
        ));
        let c = compare(
            &Cells::of(&base),
            &Cells::of(&new),
            &CompareOptions::default(),
        )
        .unwrap();
        let slower: Vec<usize> = c.slower_cells().iter().map(|k| k.nodes).collect();
        assert_eq!(slower, [3], "{c:?}");
        assert!(c.newly_failing(), "{c:?}");
        let without_failures = compare(
            &Cells::of(&base),
            &Cells::of(&new[..8]),
            &CompareOptions::default(),
        )
        .unwrap();
        assert!(!without_failures.newly_failing());
    }

    #[test]
    fn fewer_ok_runs_than_the_minimum_are_too_few_to_tell() {
        let base = rows(TestKind::Up, 3, &[100.0, 101.0], Outcome::Ok);
        let new = rows(TestKind::Up, 3, &[200.0, 201.0], Outcome::Ok);
        assert_eq!(verdict(base, new).verdict, Verdict::TooFewRuns);
    }

    #[test]
    fn sets_without_a_common_cell_name_the_columns_that_differ() {
        let base = rows(TestKind::Up, 3, &[100.0; 3], Outcome::Ok);
        let new = rows(TestKind::Up, 7, &[100.0; 3], Outcome::Ok);
        let e = compare(
            &Cells::of(&base),
            &Cells::of(&new),
            &CompareOptions::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("nodes (base 3; new 7)"), "{e}");
        assert!(!e.contains("test ("), "{e}");
    }

    #[test]
    fn cells_only_one_side_has_are_listed_not_compared() {
        let mut base = rows(TestKind::Up, 3, &[100.0; 3], Outcome::Ok);
        base.extend(rows(TestKind::Up, 5, &[100.0; 3], Outcome::Ok));
        let new = rows(TestKind::Up, 3, &[100.0; 3], Outcome::Ok);
        let c = compare(
            &Cells::of(&base),
            &Cells::of(&new),
            &CompareOptions::default(),
        )
        .unwrap();
        assert_eq!(c.cells.len(), 1);
        assert_eq!(c.only_base.len(), 1);
        assert!(c.only_base[0].starts_with("up n=5"), "{c:?}");
        assert!(c.only_new.is_empty());
    }
}
