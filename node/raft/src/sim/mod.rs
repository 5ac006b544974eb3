//! A deterministic simulator for the Raft core.
//!
//! One *schedule* is one seed: a cluster of 3 to 9 in-process cores (the first
//! bootstraps, the others are added one at a time), a network that drops,
//! duplicates, delays and reorders messages and partitions and heals, crashes
//! and restarts (a restart keeps only what the core persisted), clients
//! issuing `set`, `get` and `seqAppend` with retries, servers added and
//! removed, and a failure detector ([`Raft::peer_departed`](crate::Raft::peer_departed))
//! that tells survivors of a crash only sometimes and reports live servers
//! gone now and then. Options (pre-vote, check-quorum, replication mode, batch size) and
//! fault rates are drawn per seed, so both the default and the papers' profile
//! are covered.
//!
//! After **every step** (a message delivered or a timer fired) the checker
//! verifies election safety, log matching, leader completeness, state-machine
//! safety and that acknowledged writes are committed. Then the network heals,
//! crashed servers restart and faults stop: a leader must emerge and all live
//! members converge (same term, log, commit, state; every client answered)
//! within [`SimOptions::calm_limit_ets`] election timeouts (plus, with the
//! papers' pacing, two heartbeats per log entry: its one-entry-per-heartbeat
//! catch-up is slow by design).
//!
//! Replay a seed with `RAFTRTC_SIM_SEED=<seed> cargo test -p raftrtc-raft --test
//! simulation -- --nocapture`, or `raftrtc sim --seed <seed>`.

mod checker;
mod cluster;
mod network;
mod storage;

use std::time::{Duration, Instant};

pub use checker::Property;

/// The shape of every schedule.
#[derive(Clone, Debug)]
pub struct SimOptions {
    /// Smallest cluster a schedule grows to.
    pub min_nodes: usize,
    /// Largest cluster (and the size of the pool of servers).
    pub max_nodes: usize,
    /// ET of every core.
    pub election_timeout: Duration,
    /// How long faults are injected (virtual time).
    pub fault_phase: Duration,
    /// After healing, how many ETs the cluster gets to elect and converge.
    pub calm_limit_ets: u32,
    /// Print the cluster's state every half ET (for replaying one seed).
    pub trace: bool,
}

impl Default for SimOptions {
    fn default() -> Self {
        Self {
            min_nodes: 3,
            max_nodes: 9,
            election_timeout: Duration::from_millis(100),
            fault_phase: Duration::from_millis(1500),
            calm_limit_ets: 40,
            trace: false,
        }
    }
}

/// What one passing schedule did.
#[derive(Clone, Debug, Default)]
pub struct ScheduleReport {
    /// Steps (deliveries and timer firings) checked.
    pub steps: u64,
    /// Messages handed to the network.
    pub messages: u64,
    /// Length of the committed prefix at the end.
    pub committed: u64,
    /// Client writes acknowledged.
    pub acknowledged: u64,
    /// Terms that had a leader.
    pub leader_terms: u64,
    /// Virtual time from healing to convergence.
    pub recovery: Duration,
    /// The papers' settings met a removed server still campaigning, so
    /// liveness was not asserted (see `Cluster::disruptor_without_defence`).
    pub liveness_unchecked: bool,
}

/// A schedule that broke a property.
#[derive(Clone, Debug)]
pub struct Violation {
    /// The seed that replays it.
    pub seed: u64,
    /// The step at which it was seen.
    pub step: u64,
    /// Virtual time at that step.
    pub time: Duration,
    /// The property.
    pub property: Property,
    /// What was seen.
    pub detail: String,
}

impl Violation {
    /// Whether this is a safety (not liveness) violation.
    pub fn is_safety(&self) -> bool {
        self.property != Property::Liveness
    }

    /// The command that replays this seed.
    pub fn replay_command(&self) -> String {
        format!(
            "RAFTRTC_SIM_SEED={} cargo test -p raftrtc-raft --test simulation -- --nocapture",
            self.seed
        )
    }
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "seed {}: {} violated at step {} (t={:?}): {}\n  replay: {}",
            self.seed,
            self.property,
            self.step,
            self.time,
            self.detail,
            self.replay_command()
        )
    }
}

/// Runs the schedule of `seed`.
pub fn run_schedule(seed: u64, opts: &SimOptions) -> Result<ScheduleReport, Violation> {
    cluster::Cluster::new(seed, opts.clone()).run()
}

/// The outcome of many schedules.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    /// Schedules run.
    pub schedules: u64,
    /// Steps checked in all.
    pub steps: u64,
    /// Client writes acknowledged in all.
    pub acknowledged: u64,
    /// The longest recovery after healing, in virtual time.
    pub worst_recovery: Duration,
    /// Schedules whose liveness was not asserted (papers' settings with a
    /// campaigning removed server).
    pub liveness_unchecked: u64,
    /// Every violation, by seed.
    pub violations: Vec<Violation>,
    /// Wall-clock time taken.
    pub elapsed: Duration,
}

impl Summary {
    /// Safety violations only.
    pub fn safety_violations(&self) -> usize {
        self.violations.iter().filter(|v| v.is_safety()).count()
    }

    /// Liveness failures only.
    pub fn liveness_failures(&self) -> usize {
        self.violations.len() - self.safety_violations()
    }
}

/// Runs seeds `first..first + count` on `threads` threads.
pub fn run_many(first: u64, count: u64, threads: usize, opts: &SimOptions) -> Summary {
    let started = Instant::now();
    let threads = threads.clamp(1, 64) as u64;
    let mut parts: Vec<Summary> = Vec::new();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    let mut part = Summary::default();
                    let mut seed = first + t;
                    while seed < first + count {
                        part.schedules += 1;
                        match run_schedule(seed, opts) {
                            Ok(r) => {
                                part.steps += r.steps;
                                part.acknowledged += r.acknowledged;
                                if r.liveness_unchecked {
                                    part.liveness_unchecked += 1;
                                } else {
                                    part.worst_recovery = part.worst_recovery.max(r.recovery);
                                }
                            }
                            Err(v) => part.violations.push(v),
                        }
                        seed += threads;
                    }
                    part
                })
            })
            .collect();
        for h in handles {
            if let Ok(part) = h.join() {
                parts.push(part);
            }
        }
    });
    let mut total = Summary::default();
    for p in parts {
        total.schedules += p.schedules;
        total.steps += p.steps;
        total.acknowledged += p.acknowledged;
        total.worst_recovery = total.worst_recovery.max(p.worst_recovery);
        total.liveness_unchecked += p.liveness_unchecked;
        total.violations.extend(p.violations);
    }
    total.violations.sort_by_key(|v| v.seed);
    total.elapsed = started.elapsed();
    total
}
