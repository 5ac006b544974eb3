//! Thousands of seeded simulated schedules, every property checked after
//! every step.
//!
//! - `cargo test -p raftrtc-raft --test simulation` runs 2,000 schedules;
//! - `RAFTRTC_SIM_SCHEDULES=100000` runs more (a longer soak);
//! - `RAFTRTC_SIM_SEED=<seed>` replays one seed (or starts there).

use std::io::Write;

use raftrtc_raft::sim::{run_many, SimOptions};

fn env_u64(name: &str) -> Option<u64> {
    let value = std::env::var(name).ok()?;
    match value.parse() {
        Ok(v) => Some(v),
        Err(_) => panic!("{name} must be a whole number, got {value:?}"),
    }
}

#[test]
fn seeded_schedules_keep_raft_safe_and_live() {
    let seed = env_u64("RAFTRTC_SIM_SEED");
    let count = env_u64("RAFTRTC_SIM_SCHEDULES").unwrap_or(if seed.is_some() { 1 } else { 2000 });
    let first = seed.unwrap_or(1);
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let summary = run_many(first, count, threads, &SimOptions::default());
    // Written to the stderr handle itself, which the test harness does not
    // capture, so the summary shows in every `cargo test` run.
    let mut err = std::io::stderr().lock();
    let _ = writeln!(
        err,
        "simulated {} schedules, {} safety violations",
        summary.schedules,
        summary.safety_violations()
    );
    let _ = writeln!(
        err,
        "  {} liveness failures ({} not asserted: papers' settings with a removed server campaigning), {} steps checked, {} writes acknowledged, worst recovery {:?}, {:.1?} wall",
        summary.liveness_failures(),
        summary.liveness_unchecked,
        summary.steps,
        summary.acknowledged,
        summary.worst_recovery,
        summary.elapsed
    );
    for v in summary.violations.iter().take(20) {
        let _ = writeln!(err, "{v}");
    }
    assert!(
        summary.violations.is_empty(),
        "{} schedules failed; first: {}",
        summary.violations.len(),
        summary.violations[0]
    );
}

#[test]
fn the_same_seed_replays_the_same_schedule() {
    let opts = SimOptions::default();
    let a = raftrtc_raft::sim::run_schedule(42, &opts).expect("seed 42 passes");
    let b = raftrtc_raft::sim::run_schedule(42, &opts).expect("seed 42 passes");
    assert_eq!(
        (a.steps, a.messages, a.committed),
        (b.steps, b.messages, b.committed)
    );
    assert!(a.committed > 0 && a.steps > 0);
}
