//! The node-wide grids its links' long WebRTC timers are served on.
//!
//! Why: a node has one peer connection per other node, and each connected one wakes its
//! driver on the library's timers (ICE alone ticks every 200 ms per link end, whatever
//! keepalive interval is set). With N-1 links each waking on its own schedule, a node wakes
//! about 5(N-1) times a second at random instants. Rounding every long deadline up to a shared
//! grid makes the links' timers fall due together: the node wakes once per grid step and
//! serves them all in that pass. Short timers (ICE check pacing while a link opens, which
//! makes links open in about 9 ms) are served exactly.
//!
//! Two grids: [`GRID`] for a link that carries data, and [`QUIET_GRID`] for a quiet one
//! (`activity.rs`), whose only long timer that matters is ICE's tick (its keepalives and
//! disconnect check). At 101 nodes nearly every link is quiet, and serving those ticks once a
//! second instead of four times is the difference between a saturated machine and one with
//! room (results/scale).
//!
//! What it costs: a long timer fires up to one step late. On a busy link that is at most
//! [`GRID`] on timers of 200 ms or more (keepalives, consent and disconnect checks, DTLS and
//! SCTP retransmissions, SCTP's delayed acknowledgement); on a quiet link, at most
//! [`QUIET_GRID`] on ICE's tick, so a dead peer is noticed up to 1 s later.

use std::sync::OnceLock;
use std::time::Duration;

use tokio::time::Instant;

/// The grid step of a link that carries data.
pub const GRID: Duration = Duration::from_millis(50);

/// The grid step of a quiet link; a multiple of [`GRID`], so the grids share their instants.
pub const QUIET_GRID: Duration = Duration::from_millis(1000);

/// The step for quiet links of a mesh whose ICE declares a silent peer disconnected after
/// `disconnect_timeout`: [`QUIET_GRID`] if three steps fit in it (then one lost round of
/// keepalives does not take a quiet link down), else none (quiet links stay on [`GRID`]).
pub fn quiet_step_for(disconnect_timeout: Duration) -> Option<Duration> {
    (QUIET_GRID * 3 <= disconnect_timeout).then_some(QUIET_GRID)
}

/// Timers shorter than this are served exactly: they pace a link's opening.
pub const COALESCE_FROM: Duration = Duration::from_millis(100);

/// When a timer of `duration` set at `now` is served: exactly for short ones, otherwise at the
/// first grid instant (multiples of `step` after `epoch`) at or after its deadline. `None` for a
/// deadline past what an `Instant` can hold (a "never" from the library).
pub fn serve_at(
    epoch: Instant,
    now: Instant,
    duration: Duration,
    step: Duration,
) -> Option<Instant> {
    let deadline = now.checked_add(duration)?;
    if duration < COALESCE_FROM {
        return Some(deadline);
    }
    let since = deadline.saturating_duration_since(epoch).as_nanos();
    let step = step.as_nanos().max(1);
    let on_grid = u64::try_from(since.div_ceil(step) * step)
        .ok()
        .and_then(|ns| epoch.checked_add(Duration::from_nanos(ns)));
    // A deadline too far out for the grid's arithmetic is served as it is.
    Some(on_grid.unwrap_or(deadline))
}

/// How many phases of the host's second the nodes' grids are spread over.
pub const PHASES: u32 = 4;

/// The grids' origin: an instant on one of [`PHASES`] evenly spaced phases of each whole
/// [`QUIET_GRID`] of the host's monotonic clock, the phase drawn at random per process.
///
/// Why phases: a keepalive that a node sends on its grid instant reaches a peer awake for its
/// own when the two share a phase, and both serve it in a pass they make anyway; a node hears
/// the keepalives of other phases in at most one wake-up per phase. Why not one phase for all:
/// then every node's quiet links fall due in one instant, and at 101 nodes the machine had
/// about 100 runnable processes for the first 250 ms of every second (sampled from
/// `/proc/loadavg`): a leader's heartbeats waited out that queue, longer than an ET of 250 ms.
/// And why not a random phase each: at 101 idle nodes that woke the nodes 9,300 times a second
/// (4,400 with four phases) and used 121 % of one core (87–97 % with four phases;
/// `results/scale/README.md`).
pub fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(|| {
        // The real clock, not tokio's, which a test may have paused and moved on.
        let now = std::time::Instant::now();
        let slot = QUIET_GRID.as_nanos() / u128::from(PHASES);
        let phase = slot * u128::from(rand::random_range(0..PHASES));
        let since = monotonic_nanos().map_or(0, |ns| {
            (ns + QUIET_GRID.as_nanos() - phase) % QUIET_GRID.as_nanos()
        });
        let since = Duration::from_nanos(u64::try_from(since).unwrap_or(0));
        Instant::from_std(now.checked_sub(since).unwrap_or(now))
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

/// A sleep of `duration`, served on the node's grid of `step`.
pub async fn sleep(duration: Duration, step: Duration) {
    match serve_at(epoch(), Instant::now(), duration, step) {
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
            assert_eq!(serve_at(epoch, now, d, GRID), Some(now + d));
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
            GRID,
        );
        let b = serve_at(
            epoch,
            epoch + Duration::from_millis(16),
            Duration::from_millis(200),
            GRID,
        );
        assert_eq!(a, b);
        assert_eq!(a, Some(epoch + Duration::from_millis(250)));
    }

    #[test]
    fn a_long_timer_is_never_early_and_at_most_one_step_late() {
        let epoch = Instant::now();
        for step in [GRID, QUIET_GRID] {
            for offset_us in (0..2_000_000).step_by(79_193) {
                for ms in [100, 199, 200, 1000, 3000] {
                    let now = epoch + Duration::from_micros(offset_us);
                    let d = Duration::from_millis(ms);
                    let at = serve_at(epoch, now, d, step).expect("a near deadline");
                    assert!(at >= now + d, "early: {offset_us} us + {ms} ms");
                    assert!(at - (now + d) < step, "too late: {offset_us} us + {ms} ms");
                }
            }
        }
    }

    #[test]
    fn the_grids_origin_is_on_one_of_the_phases_of_the_hosts_monotonic_clock() {
        let origin = epoch();
        assert_eq!(epoch(), origin, "one origin for the process");
        let since = Instant::now() - origin;
        let host_now = monotonic_nanos().expect("CLOCK_MONOTONIC is readable");
        let slot = QUIET_GRID.as_nanos() / u128::from(PHASES);
        let offset = (host_now - since.as_nanos()) % slot;
        // The two clock reads are a few microseconds apart, on either side.
        let slack = Duration::from_millis(1).as_nanos();
        assert!(
            offset < slack || offset > slot - slack,
            "offset {offset} ns"
        );
    }

    #[test]
    fn a_quiet_links_tick_is_served_on_the_next_quiet_step_which_is_also_a_busy_one() {
        let epoch = Instant::now();
        for start_ms in [0, 10, 620, 999] {
            let now = epoch + Duration::from_millis(start_ms);
            let at = serve_at(epoch, now, Duration::from_millis(200), QUIET_GRID)
                .expect("a near deadline");
            let expected = if start_ms + 200 <= 1000 { 1000 } else { 2000 };
            assert_eq!(
                at,
                epoch + Duration::from_millis(expected),
                "from {start_ms} ms"
            );
            assert_eq!((at - epoch).as_nanos() % GRID.as_nanos(), 0);
        }
        // Short timers stay exact on a quiet link too.
        let now = epoch + Duration::from_millis(5);
        let d = Duration::from_millis(2);
        assert_eq!(serve_at(epoch, now, d, QUIET_GRID), Some(now + d));
    }

    #[test]
    fn only_a_disconnect_timeout_of_three_quiet_steps_allows_the_quiet_grid() {
        assert_eq!(quiet_step_for(Duration::from_secs(3)), Some(QUIET_GRID));
        assert_eq!(quiet_step_for(Duration::from_millis(2999)), None);
        assert_eq!(quiet_step_for(Duration::from_millis(500)), None);
    }

    #[test]
    fn a_deadline_on_the_grid_is_served_at_it() {
        let epoch = Instant::now();
        let at = serve_at(epoch, epoch, Duration::from_millis(150), GRID);
        assert_eq!(at, Some(epoch + Duration::from_millis(150)));
    }

    #[test]
    fn a_never_timer_is_not_a_panic() {
        let epoch = Instant::now();
        assert_eq!(serve_at(epoch, epoch, Duration::MAX, QUIET_GRID), None);
        let century = Duration::from_secs(100 * 365 * 24 * 3600);
        let at = serve_at(epoch, epoch, century, QUIET_GRID).expect("a century fits in an Instant");
        assert!(at >= epoch + century);
    }

    #[tokio::test(start_paused = true)]
    async fn a_grid_sleep_ends_on_the_grid_and_a_never_sleep_does_not_panic() {
        let before = Instant::now();
        sleep(Duration::from_millis(120), GRID).await;
        let slept = Instant::now() - before;
        assert!(slept >= Duration::from_millis(120) && slept < Duration::from_millis(170));
        let since = (Instant::now() - epoch()).as_nanos();
        // tokio's timer wheel has a resolution of 1 ms, so the wake is within it of the grid.
        let off = since % GRID.as_nanos();
        assert!(
            off < Duration::from_millis(1).as_nanos(),
            "woke {off} ns off the grid"
        );
        let never =
            tokio::time::timeout(Duration::from_secs(3600), sleep(Duration::MAX, GRID)).await;
        assert!(never.is_err(), "a never sleep ended");
    }
}
