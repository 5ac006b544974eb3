//! Whether a link is quiet: open, and carrying nothing but ICE keepalives.
//!
//! Why: in a mesh of N nodes only the leader's N-1 links carry Raft traffic; the other
//! (N-1)(N-2)/2 links carry only ICE consent checks, yet the library's ICE agent ticks every
//! 200 ms on each end of each of them. A quiet link can have its long timers served on a
//! coarser grid (`timer_grid.rs`), because none of them is then one whose lateness matters:
//!
//! - SCTP's delayed acknowledgement is pending only up to 200 ms after data arrived;
//! - SCTP's retransmission timer is pending only while sent data is unacknowledged, and its
//!   first expiry (the RTO, at least 1 s in webrtc 0.21) comes before the link turns quiet,
//!   because any data sent makes the link busy for [`QUIET_AFTER`];
//! - DTLS retransmits only during its handshake, which is traffic.
//!
//! That holds on a link with no network conditions, whose RTO stays at its 1 s minimum. A link
//! under `--net` conditions is never quiet: with delay its RTO can pass [`QUIET_AFTER`], and its
//! retransmissions are what such an experiment measures.
//!
//! What remains on a quiet link is ICE's tick: keepalives and the disconnect check, which then
//! run on the coarse grid. A backed-off SCTP retransmission (2 s or more after a loss with no
//! answer, as in a partition) may also be served up to one coarse step late.
//!
//! The socket tells DTLS from STUN by the first byte of each datagram (RFC 7983): 20 to 63 is
//! DTLS, which carries SCTP and so every data-channel message.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

/// How long after its last DTLS datagram (either way) a link counts as quiet: longer than
/// SCTP's delayed acknowledgement (200 ms) and its minimum RTO (1 s).
pub const QUIET_AFTER: Duration = Duration::from_millis(1500);

/// Whether a datagram starting with `first_byte` is DTLS (RFC 7983's demultiplexing).
pub fn is_dtls(first_byte: u8) -> bool {
    (20..=63).contains(&first_byte)
}

/// When one link last sent or received a DTLS datagram.
#[derive(Debug)]
pub struct LinkActivity {
    origin: Instant,
    /// Nanoseconds after `origin` of the last DTLS datagram, plus one; 0: none yet.
    last_dtls: AtomicU64,
    /// Whether the link is under network conditions (then never quiet).
    shaped: AtomicBool,
}

impl LinkActivity {
    /// A link that has carried nothing yet.
    pub fn new() -> Self {
        Self {
            origin: Instant::now(),
            last_dtls: AtomicU64::new(0),
            shaped: AtomicBool::new(false),
        }
    }

    /// Notes a datagram sent or received at `now` that starts with `first_byte`.
    pub fn saw(&self, first_byte: u8, now: Instant) {
        if is_dtls(first_byte) {
            let ns = now.saturating_duration_since(self.origin).as_nanos();
            let stamp = u64::try_from(ns).unwrap_or(u64::MAX - 1) + 1;
            self.last_dtls.fetch_max(stamp, Ordering::Relaxed);
        }
    }

    /// Notes whether the link is now under network conditions.
    pub fn set_shaped(&self, shaped: bool) {
        self.shaped.store(shaped, Ordering::Relaxed);
    }

    /// Whether the link is quiet at `now`: it is under no network conditions, has carried DTLS
    /// (so it is open, not opening) and none for [`QUIET_AFTER`].
    pub fn is_quiet(&self, now: Instant) -> bool {
        let stamp = self.last_dtls.load(Ordering::Relaxed);
        if stamp == 0 || self.shaped.load(Ordering::Relaxed) {
            return false;
        }
        let last = self.origin + Duration::from_nanos(stamp - 1);
        now.saturating_duration_since(last) >= QUIET_AFTER
    }
}

impl Default for LinkActivity {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STUN: u8 = 0x00;
    const DTLS_APPLICATION_DATA: u8 = 23;

    #[test]
    fn dtls_is_told_from_stun_by_the_first_byte() {
        assert!(is_dtls(20) && is_dtls(DTLS_APPLICATION_DATA) && is_dtls(63));
        assert!(!is_dtls(STUN) && !is_dtls(1) && !is_dtls(19) && !is_dtls(64) && !is_dtls(128));
    }

    #[test]
    fn an_opening_link_is_never_quiet() {
        let activity = LinkActivity::new();
        let now = Instant::now();
        activity.saw(STUN, now);
        assert!(!activity.is_quiet(now + Duration::from_secs(60)));
    }

    #[test]
    fn a_link_turns_quiet_after_its_last_dtls_datagram_and_busy_with_the_next() {
        let activity = LinkActivity::new();
        let t0 = Instant::now();
        activity.saw(DTLS_APPLICATION_DATA, t0);
        assert!(!activity.is_quiet(t0 + QUIET_AFTER - Duration::from_millis(1)));
        // Keepalives do not make it busy.
        activity.saw(STUN, t0 + QUIET_AFTER);
        assert!(activity.is_quiet(t0 + QUIET_AFTER));
        let t1 = t0 + Duration::from_secs(10);
        activity.saw(DTLS_APPLICATION_DATA, t1);
        assert!(!activity.is_quiet(t1 + Duration::from_millis(200)));
    }

    #[test]
    fn a_link_under_network_conditions_is_never_quiet() {
        let activity = LinkActivity::new();
        let t0 = Instant::now();
        activity.saw(DTLS_APPLICATION_DATA, t0);
        activity.set_shaped(true);
        assert!(!activity.is_quiet(t0 + QUIET_AFTER * 4));
        activity.set_shaped(false);
        assert!(activity.is_quiet(t0 + QUIET_AFTER * 4));
    }

    #[test]
    fn an_older_datagram_noted_late_does_not_move_the_last_one_back() {
        let activity = LinkActivity::new();
        let t0 = Instant::now();
        activity.saw(DTLS_APPLICATION_DATA, t0 + Duration::from_secs(5));
        activity.saw(DTLS_APPLICATION_DATA, t0);
        assert!(!activity.is_quiet(t0 + Duration::from_secs(6)));
    }
}
