//! The host's monotonic clock, in nanoseconds.
//!
//! Events carry `CLOCK_MONOTONIC` readings rather than `Instant`s because the
//! bench, the nodes and (on the same kernel) containers all share that clock,
//! so a node's timestamp can be compared with the bench's directly. On Linux
//! `std::time::Instant` *is* `CLOCK_MONOTONIC`, so a [`Stamp`] (one instant
//! read both ways) converts between the two exactly, up to the few
//! nanoseconds between its two readings.

use std::time::Instant;

/// One moment as an [`Instant`] and as `CLOCK_MONOTONIC` nanoseconds.
///
/// Why both: the bench waits and times with `Instant`s, while nodes (processes or
/// containers on the same kernel) stamp events in nanoseconds of the same clock; a
/// stamp relates the two so either can be measured from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    /// The moment as an `Instant`.
    pub at: Instant,
    /// The moment in `CLOCK_MONOTONIC` nanoseconds.
    pub ns: u64,
}

impl Stamp {
    /// Now.
    pub fn now() -> Self {
        Self {
            at: Instant::now(),
            ns: monotonic_ns(),
        }
    }

    /// The `Instant` of `ns` (monotonic nanoseconds, before or after this stamp).
    pub fn at_ns(&self, ns: u64) -> Instant {
        if ns >= self.ns {
            self.at + std::time::Duration::from_nanos(ns - self.ns)
        } else {
            self.at
                .checked_sub(std::time::Duration::from_nanos(self.ns - ns))
                .unwrap_or(self.at)
        }
    }

    /// `later` (an `Instant` not before this stamp) in monotonic nanoseconds.
    pub fn ns_of(&self, later: Instant) -> u64 {
        let since = later.saturating_duration_since(self.at).as_nanos();
        self.ns
            .saturating_add(u64::try_from(since).unwrap_or(u64::MAX))
    }
}

/// `CLOCK_MONOTONIC` now, in nanoseconds.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC always exists
    // on Linux, so the call cannot fail.
    unsafe {
        libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts);
    }
    (ts.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec as u64)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_clock_never_goes_back() {
        let a = super::monotonic_ns();
        let b = super::monotonic_ns();
        assert!(b >= a && a > 0);
    }

    #[test]
    fn nanoseconds_before_and_after_a_stamp_convert_to_instants() {
        let stamp = super::Stamp::now();
        let later = stamp.at_ns(stamp.ns + 5_000);
        assert_eq!(later - stamp.at, std::time::Duration::from_nanos(5_000));
        let earlier = stamp.at_ns(stamp.ns - 5_000);
        assert_eq!(stamp.at - earlier, std::time::Duration::from_nanos(5_000));
        assert_eq!(stamp.ns_of(later), stamp.ns + 5_000);
    }

    #[test]
    fn an_instant_after_a_stamp_converts_to_the_monotonic_clock() {
        let stamp = super::Stamp::now();
        assert_eq!(stamp.ns_of(stamp.at), stamp.ns);
        let much_later = stamp.at + std::time::Duration::from_millis(5);
        assert_eq!(stamp.ns_of(much_later), stamp.ns + 5_000_000);
    }
}
