//! The latencies of one load cell, kept in an HDR histogram (the `hdrhistogram` crate):
//! every operation is recorded, at three significant digits, in constant memory, so p99.9
//! and the maximum of a million operations are as exact as their median.

use std::time::Duration;

use hdrhistogram::Histogram;

/// Longest latency kept apart from the others, in µs (an hour); longer ones count as this.
const HIGHEST_US: u64 = 3_600_000_000;

/// Latencies in microseconds.
#[derive(Debug, Clone)]
pub struct Latencies {
    hist: Histogram<u64>,
}

impl Default for Latencies {
    fn default() -> Self {
        Latencies {
            hist: Histogram::new_with_bounds(1, HIGHEST_US, 3)
                .expect("1 µs to an hour at 3 digits is a valid histogram"),
        }
    }
}

impl Latencies {
    /// Records one operation's latency.
    pub fn record(&mut self, latency: Duration) {
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.hist.saturating_record(us.clamp(1, HIGHEST_US));
    }

    /// Adds `other`'s operations.
    pub fn merge(&mut self, other: &Latencies) {
        // Both have the same bounds, so adding cannot fail.
        let _ = self.hist.add(&other.hist);
    }

    /// Operations recorded.
    pub fn len(&self) -> u64 {
        self.hist.len()
    }

    /// Whether none was recorded.
    pub fn is_empty(&self) -> bool {
        self.hist.is_empty()
    }

    /// The latency at quantile `q` (0.5: the median), in ms; `None` without operations.
    pub fn quantile_ms(&self, q: f64) -> Option<f64> {
        (!self.is_empty()).then(|| self.hist.value_at_quantile(q) as f64 / 1000.0)
    }

    /// The longest latency, in ms.
    pub fn max_ms(&self) -> Option<f64> {
        (!self.is_empty()).then(|| self.hist.max() as f64 / 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_come_from_every_operation_in_order() {
        let mut l = Latencies::default();
        for ms in 1..=1000 {
            l.record(Duration::from_millis(ms));
        }
        let near = |a: f64, b: f64| (a - b).abs() <= b * 0.002;
        assert!(near(l.quantile_ms(0.5).unwrap(), 500.0));
        assert!(near(l.quantile_ms(0.99).unwrap(), 990.0));
        assert!(near(l.quantile_ms(0.999).unwrap(), 999.0));
        assert!(near(l.max_ms().unwrap(), 1000.0));
        assert_eq!(l.len(), 1000);
    }

    #[test]
    fn merging_adds_the_operations_and_empty_has_no_quantile() {
        let mut a = Latencies::default();
        assert_eq!(a.quantile_ms(0.5), None);
        let mut b = Latencies::default();
        b.record(Duration::from_micros(250));
        b.record(Duration::ZERO);
        a.merge(&b);
        assert_eq!(a.len(), 2);
        assert_eq!(a.max_ms(), Some(0.25));
    }
}
