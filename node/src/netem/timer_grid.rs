//! The node-wide grid its links' long WebRTC timers are served on.
//!
//! Why: a node has one peer connection per other node, and each connected one wakes its
//! driver on the library's timers (ICE alone ticks every 200 ms per link end, whatever
//! keepalive interval is set). With N-1 links each waking on its own schedule, a node wakes
//! about 5(N-1) times a second at random instants. Rounding every long deadline up to a shared
//! grid makes the links' timers fall due together: the node wakes once per grid step and
//! serves them all in that pass. Short timers (ICE check pacing while a link opens, which
//! makes links open in about 9 ms) are served exactly.
//!
//! What it costs: a long timer fires up to one grid step late. The library's long timers are
//! keepalives, consent and disconnect checks, DTLS and SCTP retransmissions and SCTP's
//! delayed acknowledgement, all at least 200 ms, and none is harmed by a lateness of at most
//! [`GRID`]. An inference from reading webrtc 0.21, not a measurement.

use std::sync::OnceLock;
use std::time::Duration;

use tokio::time::Instant;

/// The grid step.
pub const GRID: Duration = Duration::from_millis(50);

/// Timers shorter than this are served exactly: they pace a link's opening.
pub const COALESCE_FROM: Duration = Duration::from_millis(100);

/// When a timer of `duration` set at `now` is served: exactly for short ones, otherwise at the
/// first grid instant (multiples of [`GRID`] after `epoch`) at or after its deadline.
pub fn serve_at(epoch: Instant, now: Instant, duration: Duration) -> Instant {
    let deadline = now + duration;
    if duration < COALESCE_FROM {
        return deadline;
    }
    let since = deadline.saturating_duration_since(epoch).as_nanos();
    let step = GRID.as_nanos();
    let steps = since.div_ceil(step);
    // The product fits: `steps * step` is within one step of `since`, itself a Duration.
    epoch + Duration::from_nanos(u64::try_from(steps * step).unwrap_or(u64::MAX))
}

/// The grid's origin: an instant on a multiple of [`GRID`] of the host's monotonic clock, so
/// that every node on a host (each a process) is on the same grid. Then a keepalive one node
/// sends on its grid instant reaches a peer that is awake for its own, and both serve it in a
/// pass they make anyway.
pub fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(|| {
        let now = Instant::now();
        let phase = monotonic_nanos().map_or(0, |ns| ns % GRID.as_nanos());
        now - Duration::from_nanos(u64::try_from(phase).unwrap_or(0))
    })
}

/// The host's monotonic clock (the one `Instant` reads) in nanoseconds, if it can be read.
fn monotonic_nanos() -> Option<u128> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec through a valid pointer.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    if rc != 0 {
        return None;
    }
    Some(u128::try_from(ts.tv_sec).ok()? * 1_000_000_000 + u128::try_from(ts.tv_nsec).ok()?)
}

/// A sleep of `duration`, served on the node's grid.
pub async fn sleep(duration: Duration) {
    tokio::time::sleep_until(serve_at(epoch(), Instant::now(), duration)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_timers_are_served_exactly() {
        let epoch = Instant::now();
        let now = epoch + Duration::from_millis(7);
        for ms in [0, 2, 50, 99] {
            let d = Duration::from_millis(ms);
            assert_eq!(serve_at(epoch, now, d), now + d);
        }
    }

    #[test]
    fn long_timers_fall_due_together_on_the_next_grid_instant() {
        let epoch = Instant::now();
        // Two links' 200 ms ticks set 13 ms apart are served at the same instant.
        let a = serve_at(
            epoch,
            epoch + Duration::from_millis(3),
            Duration::from_millis(200),
        );
        let b = serve_at(
            epoch,
            epoch + Duration::from_millis(16),
            Duration::from_millis(200),
        );
        assert_eq!(a, b);
        assert_eq!(a, epoch + Duration::from_millis(250));
    }

    #[test]
    fn a_long_timer_is_never_early_and_at_most_one_step_late() {
        let epoch = Instant::now();
        for offset_us in (0..200_000).step_by(7_919) {
            for ms in [100, 199, 200, 1000, 3000] {
                let now = epoch + Duration::from_micros(offset_us);
                let d = Duration::from_millis(ms);
                let at = serve_at(epoch, now, d);
                assert!(at >= now + d, "early: {offset_us} us + {ms} ms");
                assert!(at - (now + d) < GRID, "too late: {offset_us} us + {ms} ms");
            }
        }
    }

    #[test]
    fn the_grid_is_on_multiples_of_the_step_of_the_hosts_monotonic_clock() {
        let origin = epoch();
        let since = Instant::now() - origin;
        let host_now = monotonic_nanos().expect("CLOCK_MONOTONIC is readable");
        let phase = (host_now - since.as_nanos()) % GRID.as_nanos();
        // The two clock reads are a few microseconds apart, on either side.
        let slack = Duration::from_millis(1).as_nanos();
        assert!(
            phase < slack || phase > GRID.as_nanos() - slack,
            "phase {phase} ns"
        );
    }

    #[test]
    fn a_deadline_on_the_grid_is_served_at_it() {
        let epoch = Instant::now();
        let at = serve_at(epoch, epoch, Duration::from_millis(150));
        assert_eq!(at, epoch + Duration::from_millis(150));
    }
}
