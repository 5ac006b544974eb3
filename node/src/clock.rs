//! The host's monotonic clock, in nanoseconds.
//!
//! Events carry `CLOCK_MONOTONIC` readings rather than `Instant`s because the
//! bench, the nodes and (on the same kernel) containers all share that clock,
//! so a node's timestamp can be compared with the bench's directly. On Linux
//! `std::time::Instant` *is* `CLOCK_MONOTONIC`, so a [`Stamp`] (one instant
//! read both ways) converts between the two exactly, up to the few
//! nanoseconds between its two readings.

use std::sync::OnceLock;
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

/// When the process's command began, set once by [`mark_main`].
static MAIN_NS: OnceLock<u64> = OnceLock::new();

/// Records now as the moment the process's command began (the first call wins), so that the
/// time from the launcher's spawn to here (exec, loading, argument parsing) can be told apart
/// from the node's own start-up.
pub fn mark_main() {
    MAIN_NS.get_or_init(monotonic_ns);
}

/// What [`mark_main`] recorded, or 0 if it never ran.
pub fn main_ns() -> u64 {
    MAIN_NS.get().copied().unwrap_or(0)
}

/// CPU time this process has used, user plus system, in milliseconds (0 if the kernel does
/// not say). The breakdown of a start compares the nodes' sum with the cores available.
pub fn cpu_ms() -> f64 {
    // SAFETY: an all-zero rusage is a valid value of a plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a valid, writable rusage; RUSAGE_SELF always exists.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return 0.0;
    }
    let ms = |t: libc::timeval| t.tv_sec as f64 * 1000.0 + t.tv_usec as f64 / 1000.0;
    ms(usage.ru_utime) + ms(usage.ru_stime)
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
    fn the_first_mark_of_main_wins_and_cpu_time_grows_with_work() {
        super::mark_main();
        let first = super::main_ns();
        super::mark_main();
        assert!(first > 0 && super::main_ns() == first);
        let before = super::cpu_ms();
        let mut x = 0u64;
        while super::cpu_ms() < before + 5.0 {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
        assert!(super::cpu_ms() >= before + 5.0);
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
