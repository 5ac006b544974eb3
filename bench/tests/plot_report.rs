//! `raftrtc plot` and `raftrtc report` end to end: the real binary on a
//! small CSV written here with the library's writer, as a user would run
//! them.
//!
//! The maths and drawing are unit-tested inside `bench::results`.

use std::fs;
use std::path::Path;
use std::process::Output;

use bench::matrix::TestKind;
use bench::results::{CsvWriter, Launcher, Outcome, Profile, Replication, Row};

mod common;
use common::text;

fn raftrtc(args: &[&str]) -> Output {
    common::run(args, &[])
}

/// Two tests at two sizes and two timeouts, one failed run.
fn write_csv(dir: &Path) -> String {
    let path = dir.join("runs.csv");
    let mut csv = CsvWriter::<Row>::open_append(&path).unwrap();
    let row = |test, nodes: usize, et: u64, run: u32| Row {
        test,
        launcher: Launcher::Process,
        nodes,
        election_timeout_ms: et,
        heartbeat_ms: et / 5,
        replication: Replication::Immediate,
        run,
        seed: u64::from(run),
        killed: test.killed(nodes),
        outcome: Outcome::Ok,
        duration_ms: Some(10.0 * nodes as f64 + f64::from(run) + et as f64 / 100.0),
        properties: "ok".to_string(),
        version: "0.1.0".to_string(),
        started_at: "2026-01-01T00:00:00Z".to_string(),
        profile: Profile::Default,
        ..Row::default()
    };
    for test in [TestKind::Up, TestKind::KillLeader] {
        for nodes in [3, 5] {
            for et in [250, 1000] {
                for run in 1..=3 {
                    csv.write_row(&row(test, nodes, et, run)).unwrap();
                }
            }
        }
    }
    let mut failed = row(TestKind::Up, 5, 250, 4);
    failed.outcome = Outcome::Timeout;
    failed.duration_ms = None;
    failed.error = "timed out".to_string();
    csv.write_row(&failed).unwrap();
    path.display().to_string()
}

#[test]
fn plot_writes_a_png_and_an_svg_per_test() {
    let dir = tempfile::tempdir().unwrap();
    let csv = write_csv(dir.path());
    let out = dir.path().join("figs");
    let run = raftrtc(&["plot", &csv, "--out", out.to_str().unwrap()]);
    assert!(run.status.success(), "{}", text(&run));
    for test in ["up", "kill_leader"] {
        let png = fs::read(out.join(format!("{test}.png"))).unwrap();
        assert!(
            png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 10_000,
            "{test}.png"
        );
        let svg = fs::read_to_string(out.join(format!("{test}.svg"))).unwrap();
        assert!(
            svg.starts_with("<svg") || svg.starts_with("<?xml"),
            "{test}.svg"
        );
        assert!(svg.contains("cluster size (nodes)") && svg.contains("time (ms)"));
    }

    let run = raftrtc(&["plot", &csv, "--out", out.to_str().unwrap(), "--log"]);
    assert!(run.status.success(), "{}", text(&run));
    let svg = fs::read_to_string(out.join("up-log.svg")).unwrap();
    assert!(svg.contains("time (ms, log scale)"));
}

#[test]
fn plot_refuses_a_malformed_csv_naming_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let csv = write_csv(dir.path());
    let body = fs::read_to_string(&csv).unwrap();
    fs::write(&csv, body.replacen(",3,250,", ",three,250,", 1)).unwrap();
    let out = dir.path().join("figs");
    let run = raftrtc(&["plot", &csv, "--out", out.to_str().unwrap()]);
    assert_eq!(
        run.status.code(),
        Some(2),
        "bad input is a usage error: {}",
        text(&run)
    );
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("line 2") && stderr.contains("\"nodes\""),
        "{}",
        text(&run)
    );
    assert!(!out.join("up.png").exists());
}

#[test]
fn report_prints_and_writes_markdown() {
    let dir = tempfile::tempdir().unwrap();
    let csv = write_csv(dir.path());
    let md = dir.path().join("report.md");
    let run = raftrtc(&["report", &csv, "--markdown", md.to_str().unwrap()]);
    assert!(run.status.success(), "{}", text(&run));
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(stdout.contains("ET 250: ours"), "{}", text(&run));
    let md = fs::read_to_string(md).unwrap();
    assert!(md.contains("### up"), "{md}");
    assert!(md.contains("### kill_leader"), "{md}");
    // 5 nodes at ET 250: 3 ok of 4 runs, median 54.5 ms.
    assert!(md.contains("| 5 | 54.5 (3/4) |"), "{md}");
}

#[test]
fn a_csv_without_the_columns_added_later_still_reports_and_plots() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("old.csv");
    fs::write(
        &csv,
        "test,launcher,nodes,election_timeout_ms,heartbeat_ms,replication,run,seed,killed,\
         messages,outcome,duration_ms,up_ms,elections,final_term,properties,version,started_at\n\
         up,process,3,250,50,immediate,1,1,0,0,ok,12.000,12.000,0,1,ok,0.1.0,2026-01-01T00:00:00Z\n",
    )
    .unwrap();
    let csv = csv.to_str().unwrap();
    let run = raftrtc(&["report", csv]);
    assert!(run.status.success(), "{}", text(&run));
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(stdout.contains("default profile"), "{stdout}");
    assert!(stdout.contains("12.0 (1/1)"), "{stdout}");
    let out = dir.path().join("figs");
    let run = raftrtc(&["plot", csv, "--no-paper", "--out", out.to_str().unwrap()]);
    assert!(run.status.success(), "{}", text(&run));
    assert!(out.join("up.svg").exists());
}
