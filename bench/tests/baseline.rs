//! `smoke --save-baseline` then `smoke --baseline` on one build: real runs, saved, compared,
//! and the exit status by the comparison. In a file of its own so no other test runs beside
//! it and adds noise.
//!
//! At the default 5 % threshold two smoke invocations of one build can differ by more than
//! 5 % (results/ci/: up to ±35 % in a debug build on CI), so this test pins the plumbing at a
//! threshold no such noise crosses; making 5 % hold is issue 15's open work.

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
        30,
        "5 recorded runs of 6 cells, warmups left out"
    );
    assert!(
        String::from_utf8_lossy(&saved.stdout).contains("warmup 1/1"),
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
