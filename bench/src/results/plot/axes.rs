//! The figures' axes: the time axis' range and tick labels, and the size
//! axis ticked at the cluster sizes that were run.

use plotters::coord::ranged1d::{KeyPointHint, NoDefaultFormatting, Ranged, ValueFormatter};
use plotters::coord::types::RangedCoordf64;

/// Largest time an axis reaches, in ms (about 11.6 days; a run's timeout is
/// far shorter).
const AXIS_MAX_MS: f64 = 1e9;

/// Smallest time a log axis reaches, in ms (1 µs).
const AXIS_MIN_LOG_MS: f64 = 1e-3;

/// The time axis' range: from 0 (linear) or below the smallest positive
/// value (log) to a little above the largest, never empty.
pub(super) fn y_range(values: impl Iterator<Item = f64>, log_scale: bool) -> (f64, f64) {
    // A CSV may hold any finite time; an axis spanning hundreds of decades
    // made plotters spin (1e307 ms hung `plot --log`). Points beyond these
    // bounds are drawn at the axis' edge.
    let values: Vec<f64> = values
        .filter(|v| v.is_finite() && *v >= 0.0)
        .map(|v| v.min(AXIS_MAX_MS))
        .collect();
    let max = values.iter().copied().fold(0.0_f64, f64::max);
    if log_scale {
        let min_pos = values
            .iter()
            .copied()
            .filter(|v| *v > 0.0)
            .fold(f64::INFINITY, f64::min);
        if !min_pos.is_finite() || max <= 0.0 {
            return (1.0, 10.0);
        }
        // Whole decades: the log axis labels its decade lines, so a range
        // inside one decade (35 to 450 ms) would show a single label.
        let decade = |v: f64, round: fn(f64) -> f64| 10f64.powf(round(v.log10()));
        let lo = decade((min_pos / 1.5).max(AXIS_MIN_LOG_MS), f64::floor);
        let hi = decade(max * 1.6, f64::ceil).max(lo * 10.0);
        (lo, hi)
    } else if max > 0.0 {
        (0.0, max * 1.1)
    } else {
        (0.0, 1.0)
    }
}

/// A y tick label: whole ms from 100 up, else at most two decimals with
/// trailing zeros dropped (`0`, `2.5`, `0.25`).
pub(super) fn format_tick(v: f64) -> String {
    if !v.is_finite() {
        return String::new();
    }
    if v.abs() >= 100.0 {
        return format!("{v:.0}");
    }
    let s = format!("{v:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() || s == "-" {
        "0".to_string()
    } else {
        s.to_string()
    }
}

/// Cluster sizes to label on the x axis: every size run, left to right,
/// skipping any closer than `min_gap_px` to the last one labelled on an
/// axis `width_px` wide, so labels never collide.
pub(super) fn x_ticks(
    sizes: &[usize],
    x_range: (f64, f64),
    width_px: f64,
    min_gap_px: f64,
) -> Vec<f64> {
    let span = (x_range.1 - x_range.0).max(f64::MIN_POSITIVE);
    let mut ticks: Vec<f64> = Vec::new();
    let mut last_px = f64::NEG_INFINITY;
    for &n in sizes {
        let px = (n as f64 - x_range.0) / span * width_px;
        if px - last_px >= min_gap_px {
            ticks.push(n as f64);
            last_px = px;
        }
    }
    ticks
}

/// The x axis: cluster sizes, ticked at the sizes that were run (as the
/// papers' figures are) rather than at round numbers.
pub(super) struct SizeAxis {
    inner: RangedCoordf64,
    ticks: Vec<f64>,
}

impl SizeAxis {
    /// An axis over `range` with a label at each of `ticks`.
    pub(super) fn new(range: (f64, f64), ticks: Vec<f64>) -> SizeAxis {
        SizeAxis {
            inner: (range.0..range.1).into(),
            ticks,
        }
    }
}

impl Ranged for SizeAxis {
    type ValueType = f64;
    type FormatOption = NoDefaultFormatting;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.inner.map(value, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, _hint: Hint) -> Vec<f64> {
        self.ticks.clone()
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.inner.range()
    }
}

impl ValueFormatter<f64> for SizeAxis {
    fn format(value: &f64) -> String {
        format!("{value:.0}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn y_ranges_are_never_empty() {
        assert_eq!(y_range([].into_iter(), false), (0.0, 1.0));
        assert_eq!(y_range([0.0].into_iter(), true), (1.0, 10.0));
        let (lo, hi) = y_range([0.0, 5.0, 500.0].into_iter(), true);
        assert!(lo > 0.0 && lo < 5.0 && hi > 500.0);
    }

    #[test]
    fn log_ranges_span_whole_decades_so_the_axis_has_labels() {
        assert_eq!(y_range([35.0, 450.0].into_iter(), true), (10.0, 1000.0));
        assert_eq!(y_range([2.0, 9000.0].into_iter(), true), (1.0, 100_000.0));
        assert_eq!(y_range([120.0].into_iter(), true), (10.0, 1000.0));
    }

    #[test]
    fn absurd_times_give_a_bounded_axis() {
        assert_eq!(y_range([1e-300, 1e307].into_iter(), true), (1e-3, 1e10));
        let (lo, hi) = y_range([1e307].into_iter(), false);
        assert!(lo == 0.0 && (hi - 1.1e9).abs() < 1.0, "{hi}");
        assert_eq!(y_range([10.0, f64::NAN].into_iter(), false), (0.0, 11.0));
    }

    #[test]
    fn x_ticks_never_collide() {
        let sizes: Vec<usize> = (3..=21).step_by(2).chain([25, 29, 33]).collect();
        // Roomy: every size.
        assert_eq!(x_ticks(&sizes, (2.0, 34.0), 800.0, 20.0).len(), sizes.len());
        // Cramped: sizes 2 apart are 20 px apart, so every other one.
        let ticks = x_ticks(&sizes, (2.0, 34.0), 320.0, 25.0);
        assert_eq!(ticks[..4], [3.0, 7.0, 11.0, 15.0]);
        assert!(ticks.windows(2).all(|w| (w[1] - w[0]) * 10.0 >= 25.0));
        assert!(x_ticks(&[], (0.0, 1.0), 100.0, 10.0).is_empty());
    }

    #[test]
    fn tick_labels_are_short() {
        assert_eq!(format_tick(0.0), "0");
        assert_eq!(format_tick(500.0), "500");
        assert_eq!(format_tick(2.5), "2.5");
        assert_eq!(format_tick(0.25), "0.25");
        assert_eq!(format_tick(20.0), "20");
        assert_eq!(format_tick(f64::NAN), "");
    }
}
