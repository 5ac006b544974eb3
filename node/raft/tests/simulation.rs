//! Thousands of seeded simulated schedules, every property checked after
//! every step.
//!
//! - `cargo test -p raftrtc-raft --test simulation` runs 2,000 schedules;
//! - `RAFTRTC_SIM_SCHEDULES=100000` runs more (a longer soak);
//! - `RAFTRTC_SIM_SEED=<seed>` replays one seed (or starts there).

use std::io::Write;

use std::time::Duration;

use raftrtc_raft::sim::{run_many, run_schedule, Property, SimOptions};

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
    let _ = writeln!(err, "{summary}");
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
    let a = run_schedule(42, &opts).expect("seed 42 passes");
    let b = run_schedule(42, &opts).expect("seed 42 passes");
    assert_eq!(
        (a.steps, a.messages, a.committed),
        (b.steps, b.messages, b.committed)
    );
    assert!(a.committed > 0 && a.steps > 0);
}

#[test]
fn a_schedule_over_its_step_budget_fails_with_its_seed() {
    let opts = SimOptions {
        max_steps: 50,
        ..SimOptions::default()
    };
    let v = run_schedule(42, &opts).expect_err("seed 42 takes more than 50 steps");
    assert_eq!((v.seed, v.property), (42, Property::StepBudget));
    assert!(v.step > 50 && v.is_overrun() && !v.is_safety());
    assert!(v.to_string().starts_with("seed 42: step budget"), "{v}");
}

#[test]
fn a_schedule_past_its_virtual_time_budget_fails_with_its_seed() {
    let opts = SimOptions {
        max_virtual_time: Duration::from_millis(500),
        ..SimOptions::default()
    };
    let v = run_schedule(42, &opts).expect_err("faults alone last 1.5 s");
    assert_eq!((v.seed, v.property), (42, Property::TimeBudget));
    assert!(v.time > Duration::from_millis(500) && v.is_overrun() && !v.is_safety());
}

#[test]
fn overruns_are_counted_apart_from_safety_and_liveness() {
    let opts = SimOptions {
        max_steps: 50,
        ..SimOptions::default()
    };
    let summary = run_many(1, 6, 2, &opts);
    assert_eq!(summary.overruns(), 6);
    assert_eq!(summary.safety_violations() + summary.liveness_failures(), 0);
    assert!(summary.to_string().contains("6 over budget"), "{summary}");
}
