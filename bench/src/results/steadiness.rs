//! Warnings, like hyperfine's, when a cell's runs are too unsteady to compare: outliers, or a
//! spread too wide for a median to mean much.
//!
//! An outlier is a run whose modified z-score, `0.6745 (x - median) / MAD`, exceeds 3.5
//! (Iglewicz and Hoaglin's rule: the median and the median absolute deviation are not
//! pulled by the outliers themselves, as a mean and a standard deviation would be), and
//! which lies more than 10 % from the median. The
//! spread is too wide when the interquartile range exceeds a quarter of the median. Either
//! way the cure is the same: warm up (`--warmup`), make more runs, or quiet the machine.

use super::compare::name;
use super::stats::{quantile, Cells};

/// Above this modified z-score a run is an outlier.
const OUTLIER_Z: f64 = 3.5;

/// An outlier must also lie this far from the median, as a fraction of it: with runs a few
/// microseconds apart the MAD is tiny, and a run 5 % off is not worth a warning.
const OUTLIER_SHARE: f64 = 0.1;

/// Above this interquartile range, as a fraction of the median, the spread is too wide.
const WIDE_IQR: f64 = 0.25;

/// One warning per unsteady cell with at least three ok runs.
pub fn warnings(cells: &Cells) -> Vec<String> {
    cells
        .iter()
        .filter(|(_, cell)| cell.durations.len() >= 3)
        .filter_map(|(key, cell)| {
            let what = unsteady(&cell.durations)?;
            Some(format!(
                "{}: {what}; comparisons of this cell may mislead (use --warmup, more --runs or \
                 a quieter machine)",
                name(key)
            ))
        })
        .collect()
}

/// What is unsteady about `values`, if anything.
fn unsteady(values: &[f64]) -> Option<String> {
    let median = quantile(values, 0.5)?;
    let deviations: Vec<f64> = values.iter().map(|v| (v - median).abs()).collect();
    let mad = quantile(&deviations, 0.5)?;
    let outliers = if mad > 0.0 {
        values
            .iter()
            .filter(|v| {
                let off = (*v - median).abs();
                0.6745 * off / mad > OUTLIER_Z && off > OUTLIER_SHARE * median
            })
            .count()
    } else {
        0
    };
    let iqr = quantile(values, 0.75)? - quantile(values, 0.25)?;
    let mut found = Vec::new();
    if outliers > 0 {
        found.push(format!(
            "{outliers} of {} runs are outliers (modified z-score above {OUTLIER_Z})",
            values.len()
        ));
    }
    if median > 0.0 && iqr / median > WIDE_IQR {
        found.push(format!(
            "the middle half of the runs spans {:.0} % of the median",
            iqr / median * 100.0
        ));
    }
    (!found.is_empty()).then(|| found.join(", and "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steady_runs_raise_no_warning() {
        assert_eq!(unsteady(&[100.0, 101.0, 99.0, 100.5, 100.2]), None);
    }

    #[test]
    fn one_run_far_from_the_rest_is_an_outlier() {
        let w = unsteady(&[100.0, 101.0, 99.0, 100.5, 300.0]).unwrap();
        assert!(w.starts_with("1 of 5 runs are outliers"), "{w}");
    }

    #[test]
    fn a_run_a_few_percent_off_tightly_packed_runs_is_no_outlier() {
        assert_eq!(unsteady(&[13.7, 13.7, 13.8, 13.6, 12.8]), None);
    }

    #[test]
    fn runs_spread_over_twice_their_median_are_too_wide_to_compare() {
        let w = unsteady(&[50.0, 80.0, 100.0, 140.0, 180.0]).unwrap();
        assert!(w.contains("middle half"), "{w}");
    }
}
