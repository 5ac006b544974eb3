//! `raftrtc plot` and `raftrtc report` end to end: the real binary on a
//! small CSV written here, as a user would run them.
//!
//! The maths and drawing are unit-tested inside `plot.rs` and `report.rs`
//! (a binary crate's modules can't be reached from here).

use std::fs;
use std::path::Path;
use std::process::Output;

const HEADER: &str = "test,launcher,nodes,election_timeout_ms,heartbeat_ms,replication,run,\
seed,killed,messages,outcome,duration_ms,up_ms,elections,final_term,properties,version,\
started_at,profile,error,logs";

mod common;
use common::text;

fn raftrtc(args: &[&str]) -> Output {
    common::run(args, &[])
}

/// Two tests at two sizes and two timeouts, one failed run.
fn write_csv(dir: &Path) -> String {
    let mut csv = format!("{HEADER}\n");
    for (test, killed) in [("up", 0), ("kill_leader", 1)] {
        for nodes in [3, 5] {
            for et in [250, 1000] {
                for run in 1..=3 {
                    let ms = 10.0 * nodes as f64 + run as f64 + et as f64 / 100.0;
                    csv.push_str(&format!(
                        "{test},process,{nodes},{et},{},immediate,{run},{run},{killed},0,ok,\
                         {ms:.3},{ms:.3},0,1,ok,0.1.0,2026-01-01T00:00:00Z,default,,\n",
                        et / 5
                    ));
                }
            }
        }
    }
    csv.push_str(
        "up,process,5,250,50,immediate,4,4,0,0,timeout,,,3,2,,0.1.0,\
         2026-01-01T00:00:00Z,default,timed out,/tmp/x\n",
    );
    let path = dir.join("runs.csv");
    fs::write(&path, csv).unwrap();
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
    assert!(!run.status.success(), "{}", text(&run));
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
