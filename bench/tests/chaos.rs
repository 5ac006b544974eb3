//! `raftrtc chaos` end to end: real node processes over real WebRTC, clients, a seeded fault
//! schedule, and the checkers' verdicts.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use bench::chaos::report::ChaosRow;
use raftrtc_check::History;

mod common;
use common::text;

fn chaos(dir: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_raftrtc"))
        .current_dir(dir)
        .arg("chaos")
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("raftrtc runs")
}

fn rows(csv: &Path) -> Vec<ChaosRow> {
    csv::Reader::from_path(csv)
        .expect("the CSV")
        .deserialize()
        .collect::<Result<_, _>>()
        .expect("chaos rows")
}

/// The schedule lines a run printed.
fn schedule(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.trim_start().starts_with("at "))
        .map(str::to_owned)
        .collect()
}

#[test]
fn a_short_chaos_run_passes_every_checker_and_leaves_history_row_and_timeline() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("chaos.csv");
    let args = [
        "--nodes",
        "5",
        "--clients",
        "6",
        "--rate",
        "60",
        "--duration",
        "8s",
        "--interval",
        "1.5",
        "--quiet",
        "2",
        "--faults",
        "all",
        "--seed",
        "11",
        "--out",
    ];
    let mut with_out = args.to_vec();
    with_out.push(csv.to_str().unwrap());
    let out = chaos(dir.path(), &with_out);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let rows = rows(&csv);
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!(row.verdict, "pass", "{row:?}\n{}", text(&out));
    assert_eq!((row.linearizable.as_str(), row.chat.as_str()), ("ok", "ok"));
    assert!(
        row.ok > 0 && row.converged && row.lost_writes == 0,
        "{row:?}"
    );
    assert!(row.faults_struck >= 3, "{row:?}");
    let history = std::fs::read_to_string(&row.history).expect("the history file");
    let history = History::parse(&history).expect("the history parses");
    assert_eq!(history.ops.len(), row.ops);
    let timeline = dir.path().join("chaos-11-timeline");
    for ext in ["png", "svg"] {
        assert!(
            timeline.with_extension(ext).exists(),
            "{ext}\n{}",
            text(&out)
        );
    }
    // The schedule replays from the seed.
    let first = schedule(&out);
    assert!(!first.is_empty());
    let again = dir.path().join("again.csv");
    let mut with_again = args.to_vec();
    with_again.push(again.to_str().unwrap());
    let replay = chaos(dir.path(), &with_again);
    assert_eq!(schedule(&replay), first, "{}", text(&replay));
    // `report` tallies both runs' CSVs together: one setting, two runs.
    let report = Command::new(env!("CARGO_BIN_EXE_raftrtc"))
        .args(["report", csv.to_str().unwrap(), again.to_str().unwrap()])
        .output()
        .expect("raftrtc runs");
    assert_eq!(report.status.code(), Some(0), "{}", text(&report));
    let tally = String::from_utf8_lossy(&report.stdout);
    let line = tally
        .lines()
        .find(|l| l.starts_with("default"))
        .unwrap_or_else(|| panic!("{tally}"));
    let cells: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(&cells[..2], ["default", "5"], "{tally}");
    assert_eq!(cells[3], "2", "two runs tallied: {tally}");
}

#[test]
fn bad_chaos_flags_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    for (flags, says) in [
        (&["--faults", "explode"][..], "explode"),
        (&["--nodes", "2"][..], "2"),
        (&["--rate", "0"][..], "rate"),
        (&["--duration", "-1"][..], "-1"),
    ] {
        let out = chaos(dir.path(), flags);
        assert_eq!(out.status.code(), Some(2), "{flags:?}: {}", text(&out));
        assert!(text(&out).contains(says), "{flags:?}: {}", text(&out));
    }
}
