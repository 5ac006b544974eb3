//! `raftrtc load --save-baseline FILE` and `--baseline FILE`: this invocation's cells against
//! a saved set of load rows.
//!
//! A load cell is every setting column of a [`LoadRow`] (size, clients, target, operation,
//! pacing and offered rate, election timeout, launcher, profile, network, warmup and measured
//! window); its sample is the
//! throughput of its ok runs. The statistics are the experiments' ([`judge_samples`]): the
//! change of the median with a seeded bootstrap interval and a verdict against the
//! threshold, computed on seconds per operation (the inverse of the throughput), so that
//! "slower" means the same as for a duration. The table shows it as a change of throughput.
//! A cell whose runs fail where the base's did not is a regression whatever its rate.

use std::collections::BTreeMap;

use rand::rngs::StdRng;
use rand::SeedableRng;

use super::row::LoadRow;
use crate::results::compare::{judge_samples, CompareOptions, Judged, Sample, Verdict};
use crate::results::table::Table;

/// What a load cell is: every column that is a setting, not a measurement.
fn cell_of(row: &LoadRow) -> String {
    let offered = row
        .offered_per_s
        .map_or_else(|| "closed".to_string(), |o| format!("open {o}/s"));
    format!(
        "load n={} clients={} at={} op={} {offered} et={} {} {} net={} window={}s+{}s",
        row.nodes,
        row.clients,
        row.at,
        row.op,
        row.election_timeout_ms,
        row.launcher,
        row.profile,
        row.net,
        row.warmup_s,
        row.duration_s
    )
}

/// Each cell's runs: how many, how many ok, and the ok runs' seconds per operation.
fn samples(rows: &[LoadRow]) -> BTreeMap<String, Sample> {
    let mut cells: BTreeMap<String, Sample> = BTreeMap::new();
    for row in rows {
        let sample = cells.entry(cell_of(row)).or_default();
        sample.runs += 1;
        if row.outcome == "ok" && row.ops_per_s > 0.0 {
            sample.ok += 1;
            sample.values.push(1.0 / row.ops_per_s);
        }
    }
    cells
}

/// One cell in both sets.
#[derive(Clone, Debug, PartialEq)]
pub struct LoadCellComparison {
    /// The cell's settings.
    pub name: String,
    /// Median throughput of the base's ok runs, operations a second.
    pub base_ops_per_s: Option<f64>,
    /// The same of the new runs.
    pub new_ops_per_s: Option<f64>,
    /// The statistics, on seconds per operation.
    pub judged: Judged,
}

/// Every common cell compared.
#[derive(Clone, Debug, PartialEq)]
pub struct LoadComparison {
    /// Cells in both sets.
    pub cells: Vec<LoadCellComparison>,
    /// Cells only one side has.
    pub unmatched: Vec<String>,
}

/// The two sets share no cell.
#[derive(Debug, thiserror::Error)]
#[error("the two sets of load rows have no cell in common (base: {base}; new: {new})")]
pub struct NoCommonLoadCell {
    base: String,
    new: String,
}

/// Compares `new` with `base`, cell by cell.
pub fn compare(
    base: &[LoadRow],
    new: &[LoadRow],
    options: &CompareOptions,
) -> Result<LoadComparison, NoCommonLoadCell> {
    let (base, new) = (samples(base), samples(new));
    let mut rng = StdRng::seed_from_u64(options.seed);
    let cells: Vec<LoadCellComparison> = base
        .iter()
        .filter_map(|(name, b)| {
            let n = new.get(name)?;
            let throughput = |s: &Sample| s.median().map(|v| 1.0 / v);
            Some(LoadCellComparison {
                name: name.clone(),
                base_ops_per_s: throughput(b),
                new_ops_per_s: throughput(n),
                judged: judge_samples(b, n, options, &mut rng),
            })
        })
        .collect();
    if cells.is_empty() {
        let list = |m: &BTreeMap<String, Sample>| m.keys().cloned().collect::<Vec<_>>().join(", ");
        return Err(NoCommonLoadCell {
            base: list(&base),
            new: list(&new),
        });
    }
    let unmatched = base
        .keys()
        .filter(|k| !new.contains_key(*k))
        .chain(new.keys().filter(|k| !base.contains_key(*k)))
        .cloned()
        .collect();
    Ok(LoadComparison { cells, unmatched })
}

impl LoadComparison {
    /// Whether any cell regressed.
    pub fn regressed(&self) -> bool {
        self.cells
            .iter()
            .any(|c| c.judged.verdict == Verdict::Regressed)
    }

    /// A line per common cell: the throughputs, their change and its interval, the verdict.
    pub fn table(&self) -> Table {
        // A change of seconds per operation `c` is a change of throughput `1 / (1 + c) - 1`.
        let rate = |c: f64| 1.0 / (1.0 + c) - 1.0;
        let pct = |v: f64| format!("{:+.1} %", v * 100.0);
        let ops = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |v| format!("{v:.0}"));
        let rows = self
            .cells
            .iter()
            .map(|c| {
                let j = &c.judged;
                vec![
                    c.name.clone(),
                    ops(c.base_ops_per_s),
                    ops(c.new_ops_per_s),
                    j.change.map_or_else(|| "-".into(), |v| pct(rate(v))),
                    j.interval.map_or_else(
                        || "-".into(),
                        |(lo, hi)| format!("{} .. {}", pct(rate(hi)), pct(rate(lo))),
                    ),
                    j.verdict.name().to_string(),
                    j.reason.clone(),
                ]
            })
            .collect();
        let headers = [
            "cell",
            "base ops/s",
            "new ops/s",
            "throughput",
            "95 % interval",
            "verdict",
            "why",
        ];
        Table::right_aligned_except(&headers, &[0, 5, 6], rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(rates: &[f64]) -> Vec<LoadRow> {
        rates
            .iter()
            .enumerate()
            .map(|(i, &rate)| LoadRow {
                nodes: 5,
                clients: 64,
                at: "followers".into(),
                op: "set".into(),
                pacing: "closed".into(),
                launcher: "process".into(),
                profile: "default".into(),
                net: "none".into(),
                election_timeout_ms: 250,
                run: i as u32 + 1,
                ops_per_s: rate,
                outcome: if rate > 0.0 { "ok" } else { "error" }.into(),
                ..LoadRow::default()
            })
            .collect()
    }

    fn verdict(base: &[f64], new: &[f64]) -> Verdict {
        let c = compare(&rows(base), &rows(new), &CompareOptions::default()).unwrap();
        assert_eq!(c.cells.len(), 1);
        c.cells[0].judged.verdict
    }

    #[test]
    fn a_clearly_lower_throughput_is_a_regression_and_a_higher_one_an_improvement() {
        let base = [20_000.0, 20_400.0, 19_800.0, 20_100.0, 19_900.0];
        let slower = base.map(|r| r * 0.7);
        let faster = base.map(|r| r * 1.3);
        assert_eq!(verdict(&base, &slower), Verdict::Regressed);
        assert_eq!(verdict(&base, &faster), Verdict::Improved);
        assert_eq!(verdict(&base, &base), Verdict::NoChange);
        let c = compare(&rows(&base), &rows(&slower), &CompareOptions::default()).unwrap();
        assert!(c.regressed());
        let text = c.table().to_text();
        assert!(text.contains("-30.0 %"), "{text}");
    }

    #[test]
    fn a_cell_failing_where_the_base_did_not_regressed_whatever_its_rate() {
        let base = [20_000.0, 20_400.0, 19_800.0];
        assert_eq!(
            verdict(&base, &[30_000.0, 0.0, 30_000.0]),
            Verdict::Regressed
        );
    }

    #[test]
    fn different_settings_are_different_cells() {
        let base = rows(&[20_000.0; 3]);
        let mut other = rows(&[20_000.0; 3]);
        for r in &mut other {
            r.clients = 16;
        }
        let e = compare(&base, &other, &CompareOptions::default()).unwrap_err();
        assert!(e.to_string().contains("clients=64"), "{e}");
        assert!(e.to_string().contains("clients=16"), "{e}");
    }

    #[test]
    fn a_different_measured_window_is_a_different_cell() {
        let base = rows(&[20_000.0; 3]);
        let mut longer = rows(&[20_000.0; 3]);
        for r in &mut longer {
            r.duration_s = 10.0;
        }
        let e = compare(&base, &longer, &CompareOptions::default()).unwrap_err();
        assert!(e.to_string().contains("window=0s+10s"), "{e}");
    }
}
