//! `smoke --save-baseline` then `smoke --baseline` on one build, and `--reference-binary`
//! with this build as its own reference: real runs, saved, compared, and the exit status by
//! the comparison.
//!
//! Whether two sets of one build come out `no change` at the default 5 % threshold is a
//! statement about the machine's speed, which tests here do not make: these tests compare
//! at a threshold no noise crosses and pin the plumbing. How often the default threshold
//! cries wolf is measured by the benchmark study in results/ci/.

mod common;
use common::{run, text};

#[test]
fn smoke_saves_a_baseline_of_its_recorded_runs_and_compares_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base.csv");
    let base = base.to_str().unwrap();
    let out_csv = dir.path().join("runs.csv");
    let out_csv = out_csv.to_str().unwrap();
    let saved = run(&["smoke", "--save-baseline", base, "--out", out_csv], &[]);
    assert_eq!(saved.status.code(), Some(0), "{}", text(&saved));
    let rows = bench::results::read_rows(base).expect("the baseline reads");
    assert_eq!(
        rows.len(),
        240,
        "40 recorded runs of 6 cells, warmups left out"
    );
    let first_round: Vec<String> = rows[..6].iter().map(|r| r.test.to_string()).collect();
    assert_eq!(
        first_round,
        [
            "up",
            "up",
            "kill_leader",
            "kill_leader",
            "propagate_1",
            "propagate_1"
        ],
        "runs are made in rounds: run 1 of every cell first"
    );
    assert!(
        String::from_utf8_lossy(&saved.stdout).contains("warmup 2/2"),
        "{}",
        text(&saved)
    );
    let compared = run(
        &[
            "smoke",
            "--baseline",
            base,
            "--threshold",
            "100",
            "--out",
            out_csv,
        ],
        &[],
    );
    assert_eq!(compared.status.code(), Some(0), "{}", text(&compared));
    let stdout = String::from_utf8_lossy(&compared.stdout);
    assert!(stdout.contains("compared with the baseline"), "{stdout}");
    assert!(!stdout.contains("regressed"), "{stdout}");
}

#[test]
fn a_reference_build_runs_beside_every_run_and_only_this_builds_rows_are_written() {
    let dir = tempfile::tempdir().unwrap();
    let out_csv = dir.path().join("runs.csv");
    let out_csv = out_csv.to_str().unwrap();
    let out = run(
        &[
            "up",
            "--nodes",
            "3",
            "--runs",
            "4",
            "--reference-binary",
            env!("CARGO_BIN_EXE_raftrtc"),
            "--threshold",
            "100",
            "--out",
            out_csv,
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.matches("(reference): ok").count(), 4, "{stdout}");
    assert!(
        stdout.contains("compared with the reference build"),
        "{stdout}"
    );
    let rows = bench::results::read_rows(out_csv).expect("the CSV reads");
    assert_eq!(rows.len(), 4, "the reference's runs are not written");
    // The builds take turns going first.
    let order = |run: &str| -> Vec<bool> {
        stdout
            .lines()
            .filter(|l| l.contains(&format!("run {run}/4")))
            .map(|l| l.contains("(reference)"))
            .collect()
    };
    assert_eq!(order("1"), [false, true], "{stdout}");
    assert_eq!(order("2"), [true, false], "{stdout}");
}
