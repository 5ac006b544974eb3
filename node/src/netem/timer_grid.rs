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
/// first grid instant (multiples of [`GRID`] after `epoch`) at or after its deadline. `None` for a
/// deadline past what an `Instant` can hold (a "never" from the library).
pub fn serve_at(epoch: Instant, now: Instant, duration: Duration) -> Option<Instant> {
    let deadline = now.checked_add(duration)?;
    if duration < COALESCE_FROM {
        return Some(deadline);
    }
    let since = deadline.saturating_duration_since(epoch).as_nanos();
    let step = GRID.as_nanos();
    let on_grid = u64::try_from(since.div_ceil(step) * step)
        .ok()
        .and_then(|ns| epoch.checked_add(Duration::from_nanos(ns)));
    // A deadline too far out for the grid's arithmetic is served as it is.
    Some(on_grid.unwrap_or(deadline))
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
        let phase = Duration::from_nanos(u64::try_from(phase).unwrap_or(0));
        now.checked_sub(phase).unwrap_or(now)
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
    match serve_at(epoch(), Instant::now(), duration) {
        Some(at) => tokio::time::sleep_until(at).await,
        // tokio's own sleep stands for "never" with a far instant it can hold.
        None => tokio::time::sleep(duration).await,
    }
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
            assert_eq!(serve_at(epoch, now, d), Some(now + d));
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
        assert_eq!(a, Some(epoch + Duration::from_millis(250)));
    }

    #[test]
    fn a_long_timer_is_never_early_and_at_most_one_step_late() {
        let epoch = Instant::now();
        for offset_us in (0..200_000).step_by(7_919) {
            for ms in [100, 199, 200, 1000, 3000] {
                let now = epoch + Duration::from_micros(offset_us);
                let d = Duration::from_millis(ms);
                let at = serve_at(epoch, now, d).expect("a near deadline");
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
        assert_eq!(at, Some(epoch + Duration::from_millis(150)));
    }

    #[test]
    fn a_never_timer_is_not_a_panic() {
        let epoch = Instant::now();
        assert_eq!(serve_at(epoch, epoch, Duration::MAX), None);
        let century = Duration::from_secs(100 * 365 * 24 * 3600);
        let at = serve_at(epoch, epoch, century).expect("a century fits in an Instant");
        assert!(at >= epoch + century);
    }

    #[tokio::test(start_paused = true)]
    async fn a_grid_sleep_ends_on_the_grid_and_a_never_sleep_does_not_panic() {
        let before = Instant::now();
        sleep(Duration::from_millis(120)).await;
        let slept = Instant::now() - before;
        assert!(slept >= Duration::from_millis(120) && slept < Duration::from_millis(170));
        let since = (Instant::now() - epoch()).as_nanos();
        // tokio's timer wheel has a resolution of 1 ms, so the wake is within it of the grid.
        let off = since % GRID.as_nanos();
        assert!(
            off < Duration::from_millis(1).as_nanos(),
            "woke {off} ns off the grid"
        );
        let never = tokio::time::timeout(Duration::from_secs(3600), sleep(Duration::MAX)).await;
        assert!(never.is_err(), "a never sleep ended");
    }
}
