//! `smoke --save-baseline` then `smoke --baseline` on one build: real runs, compared; no
//! regression. In a file of its own so no other test runs beside it and adds noise.

mod common;
use common::{run, text};

#[test]
fn smoke_compared_with_its_own_saved_baseline_is_no_change() {
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
    let compared = run(&["smoke", "--baseline", base, "--out", out_csv], &[]);
    assert_eq!(compared.status.code(), Some(0), "{}", text(&compared));
    let stdout = String::from_utf8_lossy(&compared.stdout);
    assert!(stdout.contains("compared with the baseline"), "{stdout}");
    assert!(!stdout.contains("regressed"), "{stdout}");
}
