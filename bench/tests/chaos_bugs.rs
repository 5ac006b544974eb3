//! The chaos checkers can fail: each bug planted in the nodes (`node::planted`) is caught by
//! `raftrtc chaos` within a bounded number of seeded runs, and the seed that caught it passes
//! without the bug.
//!
//! Built only with the `planted-bugs` feature:
//! `cargo test --release -p bench --features planted-bugs --test chaos_bugs`.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use bench::chaos::report::ChaosRow;

mod common;
use common::text;

/// How a bug is hunted: the faults and profile that give it its chance, and how many seeds
/// may be tried before the test fails.
struct Hunt {
    bug: &'static str,
    faults: &'static str,
    profile: &'static str,
    max_runs: u64,
}

fn chaos(dir: &Path, hunt: &Hunt, seed: u64, planted: bool) -> (Output, ChaosRow) {
    let csv = dir.join(format!("{}-{seed}-{planted}.csv", hunt.bug));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_raftrtc"));
    cmd.current_dir(dir)
        .args(["chaos", "--nodes", "5", "--clients", "10", "--rate", "150"])
        .args(["--duration", "10", "--interval", "1.5", "--quiet", "2"])
        .args(["--faults", hunt.faults, "--profile", hunt.profile])
        .args(["--seed", &seed.to_string(), "--out", csv.to_str().unwrap()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if planted {
        cmd.env("RAFTRTC_PLANTED_BUG", hunt.bug);
    } else {
        cmd.env_remove("RAFTRTC_PLANTED_BUG");
    }
    let out = cmd.output().expect("raftrtc runs");
    let row = csv::Reader::from_path(&csv)
        .unwrap_or_else(|e| panic!("{e}\n{}", text(&out)))
        .deserialize()
        .next()
        .expect("a row")
        .expect("a chaos row");
    (out, row)
}

/// Tries seeds 1.. until a run with the bug fails a checker; then that seed must pass without
/// it. Returns the catching row.
fn hunt(h: &Hunt) -> ChaosRow {
    let dir = tempfile::tempdir().unwrap();
    for seed in 1..=h.max_runs {
        let (out, row) = chaos(dir.path(), h, seed, true);
        if row.verdict == "fail" {
            assert_eq!(out.status.code(), Some(1), "{}", text(&out));
            let (clean, clean_row) = chaos(dir.path(), h, seed, false);
            assert_eq!(
                clean_row.verdict,
                "pass",
                "seed {seed} fails without {} too\n{}",
                h.bug,
                text(&clean)
            );
            return row;
        }
        assert_eq!(row.verdict, "pass", "seed {seed}: {row:?}\n{}", text(&out));
    }
    panic!("{} not caught in {} seeded runs", h.bug, h.max_runs);
}

#[test]
fn serving_reads_from_local_state_is_caught_as_a_stale_read() {
    let row = hunt(&Hunt {
        bug: "local-reads",
        faults: "pause,isolate,split",
        profile: "default",
        max_runs: 3,
    });
    assert_eq!(row.linearizable, "violated", "{row:?}");
}

#[test]
fn acknowledging_writes_before_they_are_stored_is_caught_as_lost_writes_after_restart_all() {
    let row = hunt(&Hunt {
        bug: "ack-before-durable",
        faults: "restart-all",
        profile: "default",
        max_runs: 3,
    });
    assert_eq!(row.chat, "lost", "{row:?}");
    assert!(row.lost_writes > 0, "{row:?}");
}
