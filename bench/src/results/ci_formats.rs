//! Results in the JSON formats CI benchmark trackers read, so a pipeline can chart raftrtc's
//! figures over commits and alert on them:
//!
//! - github-action-benchmark's `customSmallerIsBetter`: an array of
//!   `{"name", "unit", "value", "range", "extra"}`, one per benchmark;
//! - Bencher Metric Format (BMF): `{"<benchmark>": {"<measure>": {"value", "lower_value",
//!   "upper_value"}}}`, here the built-in `latency` measure, which Bencher keeps in
//!   nanoseconds.
//!
//! One benchmark per cell with an ok run, named by [`compare::name`] so the name of a
//! setting never changes between commits; its value is the median of the ok runs, its range
//! the fastest to the slowest of them. From `compare`, the new set's cells are exported.

use serde_json::{json, Map, Value};

use super::compare::{self, Comparison};
use super::stats::{CellKey, Cells};

/// github-action-benchmark's `customSmallerIsBetter` JSON for `cells`.
pub fn github_benchmark(cells: &Cells) -> Value {
    let entries: Vec<Value> = figures(cells)
        .map(|f| {
            json!({
                "name": f.name,
                "unit": "ms",
                "value": round(f.median),
                "range": format!("{} .. {} ms", round(f.min), round(f.max)),
                "extra": format!("{} ok of {} runs", f.ok, f.runs),
            })
        })
        .collect();
    Value::Array(entries)
}

/// Bencher Metric Format JSON for `cells` (latency in nanoseconds).
pub fn bmf(cells: &Cells) -> Value {
    let mut out = Map::new();
    for f in figures(cells) {
        let ns = |ms: f64| (ms * 1e6).round();
        out.insert(
            f.name,
            json!({ "latency": {
                "value": ns(f.median),
                "lower_value": ns(f.min),
                "upper_value": ns(f.max),
            }}),
        );
    }
    Value::Object(out)
}

/// The cells of `comparison`'s new set that `new` holds, for the exports after `compare`.
pub fn compared_cells(comparison: &Comparison, new: &Cells) -> Cells {
    let keys: Vec<&CellKey> = comparison.cells.iter().map(|c| &c.key).collect();
    new.only(&keys)
}

/// What one cell contributes to an export.
struct Figure {
    name: String,
    median: f64,
    min: f64,
    max: f64,
    ok: usize,
    runs: usize,
}

fn figures(cells: &Cells) -> impl Iterator<Item = Figure> + '_ {
    cells.iter().filter_map(|(key, cell)| {
        let mut values = cell.durations.clone();
        values.sort_by(f64::total_cmp);
        Some(Figure {
            name: compare::name(key),
            median: super::stats::median(&values)?,
            min: *values.first()?,
            max: *values.last()?,
            ok: cell.ok,
            runs: cell.runs,
        })
    })
}

/// Milliseconds to the microsecond, as the CSV keeps them.
fn round(ms: f64) -> f64 {
    (ms * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matrix::TestKind;
    use crate::results::row::{Outcome, Row};

    fn cells() -> Cells {
        let row = |nodes, ms: Option<f64>, outcome| Row {
            test: TestKind::Up,
            nodes,
            election_timeout_ms: 250,
            outcome,
            duration_ms: ms,
            ..Row::default()
        };
        Cells::of(&[
            row(3, Some(10.0), Outcome::Ok),
            row(3, Some(30.0), Outcome::Ok),
            row(3, Some(20.0), Outcome::Ok),
            row(3, None, Outcome::Timeout),
            row(5, None, Outcome::Timeout),
        ])
    }

    /// The shape github-action-benchmark documents for `customSmallerIsBetter`.
    #[test]
    fn the_github_benchmark_export_is_an_array_of_named_values_with_unit_and_range() {
        let v = github_benchmark(&cells());
        let entries = v.as_array().expect("an array");
        assert_eq!(
            entries.len(),
            1,
            "a cell without an ok run has no value: {v}"
        );
        let e = entries[0].as_object().unwrap();
        assert!(e["name"].as_str().unwrap().starts_with("up n=3 et=250ms"));
        assert_eq!(e["unit"], "ms");
        assert_eq!(e["value"].as_f64(), Some(20.0));
        assert!(e["range"].is_string() && e["extra"].is_string());
        let keys: Vec<&str> = e.keys().map(String::as_str).collect();
        assert!(
            keys.iter()
                .all(|k| ["name", "unit", "value", "range", "extra"].contains(k)),
            "{keys:?}"
        );
    }

    /// The shape of Bencher's JSON schema: benchmark -> measure -> {value, lower, upper}.
    #[test]
    fn the_bmf_export_maps_benchmarks_to_a_latency_measure_in_nanoseconds() {
        let v = bmf(&cells());
        let benchmarks = v.as_object().expect("an object");
        assert_eq!(benchmarks.len(), 1);
        let (name, measures) = benchmarks.iter().next().unwrap();
        assert!(name.starts_with("up n=3"));
        let latency = measures["latency"].as_object().expect("a latency measure");
        assert_eq!(latency["value"].as_f64(), Some(20e6));
        assert_eq!(latency["lower_value"].as_f64(), Some(10e6));
        assert_eq!(latency["upper_value"].as_f64(), Some(30e6));
        assert!(latency.values().all(Value::is_number));
    }
}
