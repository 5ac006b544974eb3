//! What happens to each datagram of one link direction: the decisions, without the I/O.
//!
//! [`Shaper::plan`] takes a datagram's size and the time and says when to send it (never,
//! once, or twice), drawing loss, jitter and the rest from its own seeded RNG. Keeping this
//! apart from the socket lets the decisions be tested exactly and keeps the socket a queue.

use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::spec::{Conditions, JitterDist};

/// The state of one direction of one link.
#[derive(Debug)]
pub struct Shaper {
    conditions: Conditions,
    rng: ChaCha8Rng,
    /// Gilbert-Elliott state: in a loss burst.
    bad: bool,
    /// When the rate limit lets the next datagram start.
    next_free: Option<Instant>,
    /// When the last in-order datagram leaves: later ones never overtake it.
    last_due: Option<Instant>,
}

/// When to send one datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// Lost.
    Drop,
    /// Send at this time (at once if it has passed).
    At(Instant),
    /// Send at both times (a duplicate).
    Twice(Instant, Instant),
}

impl Shaper {
    /// A shaper applying `conditions`, drawing from `seed`.
    pub fn new(conditions: Conditions, seed: u64) -> Self {
        Self {
            conditions,
            rng: ChaCha8Rng::seed_from_u64(seed),
            bad: false,
            next_free: None,
            last_due: None,
        }
    }

    /// The conditions it applies.
    pub fn conditions(&self) -> &Conditions {
        &self.conditions
    }

    /// Replaces the conditions, keeping the RNG (a live change continues the same draw).
    pub fn set_conditions(&mut self, conditions: Conditions) {
        self.conditions = conditions;
        self.bad = false;
    }

    /// Decides the fate of a `len`-byte datagram handed over at `now`.
    pub fn plan(&mut self, now: Instant, len: usize) -> Plan {
        let c = self.conditions;
        if c.down || self.lost() {
            return Plan::Drop;
        }
        let start = match c.rate_bps {
            Some(bps) => {
                let begin = self.next_free.map_or(now, |f| f.max(now));
                let wire = Duration::from_secs_f64(len as f64 * 8.0 / bps as f64);
                self.next_free = Some(begin + wire);
                begin + wire
            }
            None => now,
        };
        let due = if c.reorder > 0.0 && self.rng.random_bool(c.reorder) {
            // Sent at once: it overtakes whatever is still delayed.
            start
        } else {
            let due = start + c.delay + self.jitter();
            let due = self.last_due.map_or(due, |last| due.max(last));
            self.last_due = Some(due);
            due
        };
        if c.duplicate > 0.0 && self.rng.random_bool(c.duplicate) {
            Plan::Twice(due, due + self.jitter())
        } else {
            Plan::At(due)
        }
    }

    /// Steps the loss model once: independent loss, then the Gilbert-Elliott chain.
    fn lost(&mut self) -> bool {
        let c = self.conditions;
        let mut lost = c.loss > 0.0 && self.rng.random_bool(c.loss);
        if let Some(b) = c.burst {
            let flip = if self.bad { b.to_good } else { b.to_bad };
            if self.rng.random_bool(flip) {
                self.bad = !self.bad;
            }
            lost |= self.bad && self.rng.random_bool(b.loss_bad);
        }
        lost
    }

    /// One draw of the extra delay.
    fn jitter(&mut self) -> Duration {
        let j = self.conditions.jitter.as_secs_f64();
        if j == 0.0 {
            return Duration::ZERO;
        }
        let u: f64 = self.rng.random();
        let extra = match self.conditions.dist {
            JitterDist::Uniform => u * j,
            // Box-Muller, folded: |N(0, j)|.
            JitterDist::Normal => {
                let v: f64 = self.rng.random();
                (-2.0 * (1.0 - u).ln()).sqrt() * (std::f64::consts::TAU * v).cos().abs() * j
            }
            // Pareto with shape 3 and mean j: scale j * 2 / 3.
            JitterDist::Pareto => (j * 2.0 / 3.0) / (1.0 - u).powf(1.0 / 3.0),
        };
        Duration::from_secs_f64(extra.min(60.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shaper(spec: &str) -> Shaper {
        let spec: super::super::spec::NetSpec = spec.parse().unwrap();
        Shaper::new(spec.conditions("a", "b"), 7)
    }

    fn due(p: Plan) -> Option<Instant> {
        match p {
            Plan::Drop => None,
            Plan::At(t) | Plan::Twice(t, _) => Some(t),
        }
    }

    #[test]
    fn a_perfect_link_sends_everything_at_once() {
        let mut s = shaper("none");
        let now = Instant::now();
        assert!((0..1000).all(|_| s.plan(now, 1200) == Plan::At(now)));
    }

    #[test]
    fn delay_and_jitter_stay_within_their_bounds_and_keep_order() {
        let mut s = shaper("delay=40ms,jitter=10ms");
        let now = Instant::now();
        let mut last = now;
        for i in 0..1000 {
            let t = now + Duration::from_micros(i * 100);
            let d = due(s.plan(t, 100)).unwrap();
            assert!(d >= t + Duration::from_millis(40));
            assert!(d >= last, "datagram {i} overtook the one before");
            last = d;
        }
        // Order kept, so the last one may queue behind a jittered one, but never by more
        // than the largest jitter.
        assert!(last <= now + Duration::from_millis(100 + 40 + 10));
    }

    #[test]
    fn loss_is_close_to_its_rate_and_down_loses_all() {
        let mut s = shaper("loss=10%");
        let now = Instant::now();
        let lost = (0..20_000).filter(|_| s.plan(now, 1) == Plan::Drop).count();
        assert!((1600..2400).contains(&lost), "{lost}");
        let mut s = shaper("down");
        assert!((0..100).all(|_| s.plan(now, 1) == Plan::Drop));
    }

    #[test]
    fn bursts_lose_datagrams_in_runs() {
        // Mean burst 1/R = 5 datagrams; independent loss at the same average rate would give
        // runs of about 1.
        let mut s = shaper("burst=2%/20%");
        let now = Instant::now();
        let lost: Vec<bool> = (0..50_000).map(|_| s.plan(now, 1) == Plan::Drop).collect();
        let losses = lost.iter().filter(|l| **l).count();
        let runs = lost.windows(2).filter(|w| w[1] && !w[0]).count();
        let mean_run = losses as f64 / runs as f64;
        assert!((3.5..7.0).contains(&mean_run), "{mean_run}");
    }

    #[test]
    fn rate_spaces_datagrams_by_their_wire_time() {
        // 1000 bytes at 8 mbit/s: 1 ms each.
        let mut s = shaper("rate=8mbit");
        let now = Instant::now();
        let dues: Vec<Instant> = (0..5).map(|_| due(s.plan(now, 1000)).unwrap()).collect();
        for (i, d) in dues.iter().enumerate() {
            let expect = now + Duration::from_millis(i as u64 + 1);
            let off = if *d > expect {
                *d - expect
            } else {
                expect - *d
            };
            assert!(off < Duration::from_micros(10), "{i}");
        }
    }

    #[test]
    fn duplicates_and_reorders_happen_at_their_rates() {
        let mut s = shaper("delay=10ms,dup=20%,reorder=30%");
        let now = Instant::now();
        let plans: Vec<Plan> = (0..10_000).map(|_| s.plan(now, 1)).collect();
        let twice = plans
            .iter()
            .filter(|p| matches!(p, Plan::Twice(..)))
            .count();
        let early = plans.iter().filter(|p| due(**p) == Some(now)).count();
        assert!((1700..2300).contains(&twice), "{twice}");
        assert!((2700..3300).contains(&early), "{early}");
    }

    #[test]
    fn a_live_change_takes_effect_on_the_next_datagram() {
        let mut s = shaper("none");
        let now = Instant::now();
        assert_eq!(s.plan(now, 1), Plan::At(now));
        s.set_conditions(*shaper("down").conditions());
        assert_eq!(s.plan(now, 1), Plan::Drop);
    }
}
