//! Election backoff: a server whose campaigns go unanswered doubles its ET.
//!
//! Why: randomized election timers settle an election because a round of vote
//! requests is much shorter than ET. When it is not (101 nodes on 2 cores: each
//! campaign sends 100 requests to processes that are all runnable), every
//! campaign times out before a majority answers, and each one adds the load that
//! makes the next fail too: the elections feed on themselves and no leader ever
//! wins (measured in `results/scale/README.md`).
//!
//! So after a campaign whose own round a majority did not answer, this server's
//! ET doubles, up to `2^Config::election_backoff` times: its election timer,
//! its leader stickiness as a voter, and as a leader its check-quorum window.
//! Stretching only the timer was not enough (measured at 101 nodes): a leader
//! elected on the overloaded machine is heard late at first, and its own
//! check-quorum deposed it (median tenure 0.3 s); with that stretched, voters
//! that had not heard it for one ET granted the pre-votes that deposed it
//! (median 0.9 s); with those stretched too, followers that kept Raft's
//! shortest timer kept starting pre-votes whose load deposed it (the longest
//! tenure, 139 s).
//!
//! A clean split vote (a majority answered, nobody won) says rounds do get
//! through, and halves the stretch. A leader keeps its stretch for its term. A
//! follower's falls by one level per stretched ET in which it heard its leader
//! at least every (plain) ET, so Raft's ET comes back once the machine keeps it,
//! and not before. Only timers change, so safety cannot.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::NodeId;

/// One server's backoff state, kept by its [`Raft`](crate::Raft).
#[derive(Clone, Debug, Default)]
pub(crate) struct Backoff {
    /// This server's ET is stretched to `ET · 2^level`.
    level: u32,
    /// Campaigned since the last word from a leader.
    campaigned: bool,
    /// Who answered the current round (a vote request at this server's term).
    answered: BTreeSet<NodeId>,
    /// Since when a leader has been heard at least every ET with no campaign
    /// between, less the stretched ETs that lowered the level.
    calm_since: Option<Duration>,
}

impl Backoff {
    /// `et` stretched by the level: what the election timer (`[ET, 2ET)`), a
    /// leader's check-quorum window and a voter's leader stickiness use.
    pub(crate) fn stretch(&self, et: Duration) -> Duration {
        et.saturating_mul(1u32 << self.level.min(31))
    }

    /// The current level (0: Raft's `[ET, 2ET)`).
    #[cfg(test)]
    pub(crate) fn level(&self) -> u32 {
        self.level
    }

    /// A new round of (pre-)vote requests goes out.
    pub(crate) fn round_started(&mut self) {
        self.campaigned = true;
        self.answered.clear();
        self.calm_since = None;
    }

    /// `from` answered the current round, granting or not.
    pub(crate) fn answered(&mut self, from: &str) {
        if self.campaigned {
            self.answered.insert(from.to_owned());
        }
    }

    /// Who answered the current round.
    pub(crate) fn answers(&self) -> &BTreeSet<NodeId> {
        &self.answered
    }

    /// This server won an election. It keeps its level for its whole term:
    /// the machine that slowed the campaigns slows its heartbeats too.
    pub(crate) fn won(&mut self) {
        self.campaigned = false;
        self.answered.clear();
        self.calm_since = None;
    }

    /// At `now` a follower heard its leader, whom it last heard at `previous`.
    /// The level falls by one per stretched ET of calm, calm meaning the leader
    /// was heard at least every ET: a leader elected on an overloaded machine is
    /// heard late at first, and going back to Raft's windows then deposed it
    /// (measured) before the load of the elections that made it had drained.
    pub(crate) fn leader_heard(&mut self, now: Duration, previous: Option<Duration>, et: Duration) {
        self.campaigned = false;
        self.answered.clear();
        let gap = previous.is_none_or(|t| now.saturating_sub(t) > et);
        let mut since = match self.calm_since {
            Some(since) if !gap => since,
            _ => now,
        };
        while self.level > 0 && now.saturating_sub(since) >= self.stretch(et) {
            since += self.stretch(et);
            self.level -= 1;
        }
        self.calm_since = Some(since);
    }

    /// The election timer fired. If this server campaigned since it last heard
    /// a leader, that campaign failed: `majority_answered` says whether a
    /// majority answered its last round ([`Backoff::answers`], with this server
    /// counted). Unanswered, the level rises (at most to `max`); answered, it
    /// falls.
    pub(crate) fn timer_fired(&mut self, majority_answered: bool, max: u32) {
        if !self.campaigned {
            return;
        }
        if majority_answered {
            self.level = self.level.saturating_sub(1);
        } else {
            self.level = (self.level + 1).min(max);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ET: Duration = Duration::from_millis(100);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn failed_campaigns(b: &mut Backoff, n: usize) {
        for _ in 0..n {
            b.round_started();
            b.timer_fired(false, 3);
        }
    }

    #[test]
    fn a_follower_that_never_campaigned_keeps_raft_timers() {
        let mut b = Backoff::default();
        b.timer_fired(false, 3);
        b.timer_fired(false, 3);
        assert_eq!(b.stretch(ET), ET);
    }

    #[test]
    fn each_unanswered_campaign_doubles_the_stretch_up_to_the_cap() {
        let mut b = Backoff::default();
        let stretches: Vec<Duration> = (0..5)
            .map(|_| {
                failed_campaigns(&mut b, 1);
                b.stretch(ET)
            })
            .collect();
        assert_eq!(stretches, [ms(200), ms(400), ms(800), ms(800), ms(800)]);
    }

    #[test]
    fn a_clean_split_vote_halves_the_stretch() {
        let mut b = Backoff::default();
        failed_campaigns(&mut b, 3);
        b.round_started();
        b.timer_fired(true, 3);
        assert_eq!(b.level(), 2);
    }

    /// Hears the leader every 50 ms from `from` to `to` (ms), the first time 50 ms after
    /// the one before.
    fn heartbeats(b: &mut Backoff, from: u64, to: u64) {
        for t in (from..=to).step_by(50) {
            b.leader_heard(ms(t), t.checked_sub(50).map(ms), ET);
        }
    }

    #[test]
    fn a_steady_leader_lowers_the_level_by_one_per_stretched_election_timeout() {
        let mut b = Backoff::default();
        failed_campaigns(&mut b, 3);
        heartbeats(&mut b, 1000, 1750);
        assert_eq!(b.level(), 3, "8 ETs of calm are not over");
        heartbeats(&mut b, 1800, 1800);
        assert_eq!(b.level(), 2);
        heartbeats(&mut b, 1850, 2200);
        assert_eq!(b.level(), 1, "then 4 ETs");
        heartbeats(&mut b, 2250, 5000);
        assert_eq!(b.level(), 0);
        b.timer_fired(false, 3);
        assert_eq!(
            b.level(),
            0,
            "no campaign since the leader: nothing to judge"
        );
    }

    #[test]
    fn a_gap_longer_than_an_election_timeout_restarts_the_calm() {
        let mut b = Backoff::default();
        failed_campaigns(&mut b, 1);
        heartbeats(&mut b, 0, 150);
        b.leader_heard(ms(260), Some(ms(150)), ET);
        assert_eq!(
            b.level(),
            1,
            "heard 260 ms after the calm began, but after a gap"
        );
        b.leader_heard(ms(350), Some(ms(260)), ET);
        b.leader_heard(ms(400), Some(ms(350)), ET);
        assert_eq!(b.level(), 1);
        b.leader_heard(ms(460), Some(ms(400)), ET);
        assert_eq!(b.level(), 0, "two ETs without a gap since 260 ms");
    }

    #[test]
    fn a_campaign_ends_the_calm_and_a_leader_keeps_its_level() {
        let mut b = Backoff::default();
        failed_campaigns(&mut b, 2);
        heartbeats(&mut b, 0, 350);
        b.round_started();
        b.won();
        assert_eq!(b.level(), 2);
        heartbeats(&mut b, 400, 600);
        assert_eq!(b.level(), 2, "the calm starts again at 400 ms");
        heartbeats(&mut b, 650, 800);
        assert_eq!(b.level(), 1);
    }

    #[test]
    fn only_answers_to_the_current_round_are_counted() {
        let mut b = Backoff::default();
        b.answered("n1");
        b.round_started();
        b.answered("n2");
        b.round_started();
        b.answered("n3");
        assert_eq!(b.answers().iter().collect::<Vec<_>>(), ["n3"]);
    }

    #[test]
    fn with_a_cap_of_zero_the_timers_are_raft_s() {
        let mut b = Backoff::default();
        b.round_started();
        b.timer_fired(false, 0);
        assert_eq!(b.stretch(ET), ET);
    }
}
