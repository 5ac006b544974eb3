//! `raftrtc compare` on CSVs made for the purpose: verdicts, exit statuses, and the exports
//! in the shapes their tools document.

use std::path::{Path, PathBuf};

use bench::matrix::TestKind;
use bench::results::{CsvWriter, Outcome, Row};

mod common;
use common::{run, text};

/// Writes a CSV of `up` runs at 3 nodes with these times (`None`: a timed-out run).
fn csv(dir: &Path, name: &str, times: &[Option<f64>]) -> PathBuf {
    let path = dir.join(name);
    let mut w = CsvWriter::<Row>::open_append(&path).unwrap();
    for (k, t) in times.iter().enumerate() {
        w.write_row(&Row {
            test: TestKind::Up,
            nodes: 3,
            election_timeout_ms: 250,
            run: k as u32 + 1,
            outcome: if t.is_some() {
                Outcome::Ok
            } else {
                Outcome::Timeout
            },
            duration_ms: *t,
            ..Row::default()
        })
        .unwrap();
    }
    path
}

/// Eight times around `centre`, ±8 % in a fixed pattern.
fn around(centre: f64) -> Vec<Option<f64>> {
    [0.97, 1.02, 0.94, 1.05, 1.0, 0.92, 1.08, 0.99]
        .iter()
        .map(|f| Some(centre * f))
        .collect()
}

fn compare(base: &Path, new: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["compare", base.to_str().unwrap(), new.to_str().unwrap()];
    args.extend_from_slice(extra);
    run(&args, &[])
}

fn verdict_line(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find(|l| l.starts_with("up n=3"))
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn a_clear_thirty_percent_regression_is_regressed_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let base = csv(dir.path(), "base.csv", &around(100.0));
    let new = csv(dir.path(), "new.csv", &around(130.0));
    let out = compare(&base, &new, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(verdict_line(&out).contains("regressed"), "{}", text(&out));
}

#[test]
fn a_clear_improvement_is_improved_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let base = csv(dir.path(), "base.csv", &around(100.0));
    let new = csv(dir.path(), "new.csv", &around(70.0));
    let out = compare(&base, &new, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(verdict_line(&out).contains("improved"), "{}", text(&out));
}

#[test]
fn two_samples_of_one_distribution_are_no_change() {
    let dir = tempfile::tempdir().unwrap();
    let base = csv(dir.path(), "base.csv", &around(100.0));
    let mut shuffled = around(100.0);
    shuffled.reverse();
    shuffled.rotate_left(3);
    let new = csv(dir.path(), "new.csv", &shuffled);
    let out = compare(&base, &new, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(verdict_line(&out).contains("no change"), "{}", text(&out));
}

#[test]
fn a_cell_ok_in_base_and_timed_out_in_new_is_regressed() {
    let dir = tempfile::tempdir().unwrap();
    let base = csv(dir.path(), "base.csv", &around(100.0));
    let mut times = around(90.0);
    times[3] = None;
    let new = csv(dir.path(), "new.csv", &times);
    let out = compare(&base, &new, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(verdict_line(&out).contains("regressed"), "{}", text(&out));
}

#[test]
fn files_with_no_setting_in_common_exit_2_naming_the_columns() {
    let dir = tempfile::tempdir().unwrap();
    let base = csv(dir.path(), "base.csv", &around(100.0));
    let other = dir.path().join("other.csv");
    let mut w = CsvWriter::<Row>::open_append(&other).unwrap();
    w.write_row(&Row {
        test: TestKind::Up,
        nodes: 7,
        election_timeout_ms: 500,
        outcome: Outcome::Ok,
        duration_ms: Some(10.0),
        ..Row::default()
    })
    .unwrap();
    let out = compare(&base, &other, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("nodes (base 3; new 7)") && err.contains("election_timeout_ms"),
        "{err}"
    );
    let missing = compare(&base, &dir.path().join("missing.csv"), &[]);
    assert_eq!(missing.status.code(), Some(2), "{}", text(&missing));
}

#[test]
fn the_exports_have_the_shapes_their_tools_read() {
    let dir = tempfile::tempdir().unwrap();
    let base = csv(dir.path(), "base.csv", &around(100.0));
    let new = csv(dir.path(), "new.csv", &around(101.0));
    let file = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    let (gh, bmf, json, md) = (
        file("gh.json"),
        file("bmf.json"),
        file("c.json"),
        file("c.md"),
    );
    let out = compare(
        &base,
        &new,
        &[
            "--export-github-benchmark",
            &gh,
            "--export-bmf",
            &bmf,
            "--export-json",
            &json,
            "--export-markdown",
            &md,
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let read = |p: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
    };
    // github-action-benchmark, customSmallerIsBetter: [{name, unit, value, range?, extra?}].
    let gh = read(&gh);
    let entry = &gh.as_array().expect("an array")[0];
    assert!(entry["name"].is_string() && entry["unit"] == "ms" && entry["value"].is_number());
    // Bencher Metric Format: {benchmark: {measure: {value, lower_value?, upper_value?}}}.
    let bmf = read(&bmf);
    let (_, measures) = bmf.as_object().unwrap().iter().next().expect("a benchmark");
    assert!(measures["latency"]["value"].is_number(), "{bmf}");
    let json = read(&json);
    assert_eq!(json["cells"][0]["verdict"], "no_change", "{json}");
    assert!(std::fs::read_to_string(&md)
        .unwrap()
        .starts_with("| cell |"));
}
