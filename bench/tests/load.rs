//! `raftrtc load` end to end: real node processes over WebRTC, real client workers on their
//! control sockets. No test here asserts a speed; they assert what a row must hold.

mod common;

use bench::load::row::LoadRow;
use common::{run, text};

fn rows(csv: &std::path::Path) -> Vec<LoadRow> {
    csv::Reader::from_path(csv)
        .expect("the load CSV opens")
        .deserialize()
        .map(|r| r.expect("a load row reads"))
        .collect()
}

#[test]
fn a_closed_loop_writes_a_row_per_cell_with_throughput_and_ordered_percentiles() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("load.csv");
    let out = run(
        &[
            "load",
            "--nodes",
            "3",
            "--clients",
            "1,4",
            "--duration",
            "2s",
            "--warmup",
            "0.5s",
            "--out",
            csv.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let rows = rows(&csv);
    assert_eq!(rows.len(), 2, "{}", text(&out));
    for (row, clients) in rows.iter().zip([1, 4]) {
        assert_eq!((row.nodes, row.clients), (3, clients));
        assert_eq!(
            (row.outcome.as_str(), row.pacing.as_str()),
            ("ok", "closed")
        );
        assert!(row.ops > 0 && row.ops_per_s > 0.0, "{row:?}");
        let p = [row.p50_ms, row.p90_ms, row.p99_ms, row.p999_ms, row.max_ms]
            .map(|v| v.expect("a percentile"));
        assert!(p.windows(2).all(|w| w[0] <= w[1]), "{row:?}");
        assert_eq!(row.unsent, 0, "a closed loop never falls behind a schedule");
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("ops/s") && stdout.contains("p99.9 (ms)"),
        "{stdout}"
    );

    // `report` reads a load CSV as its table; `compare` says it does not compare them.
    let csv = csv.to_str().unwrap();
    let report = run(&["report", csv], &[]);
    assert_eq!(report.status.code(), Some(0), "{}", text(&report));
    assert!(String::from_utf8_lossy(&report.stdout).contains("p99.9 (ms)"));
    let compared = run(&["compare", csv, csv], &[]);
    assert_eq!(compared.status.code(), Some(2), "{}", text(&compared));
    assert!(String::from_utf8_lossy(&compared.stderr).contains("`raftrtc load` CSV"));
}

#[test]
fn an_open_loop_the_cluster_cannot_hold_reports_the_wait_it_caused() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("load.csv");
    // One worker, one operation in flight, 100,000 due a second: every operation waits for
    // all those due before it, so latency grows through the window.
    let out = run(
        &[
            "load",
            "--nodes",
            "3",
            "--clients",
            "1",
            "--rate",
            "100000",
            "--duration",
            "2s",
            "--warmup",
            "0",
            "--out",
            csv.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let row = rows(&csv).pop().expect("a row");
    assert_eq!(
        (row.pacing.as_str(), row.offered_per_s),
        ("open", Some(100000.0))
    );
    let (p50, max) = (row.p50_ms.unwrap(), row.max_ms.unwrap());
    // Measured from the due times: the median operation waited for about half the window,
    // where its own round trip takes milliseconds.
    assert!(p50 >= 250.0, "{row:?}");
    assert!(
        max >= 2.0 * p50 * 0.75,
        "latency grows through the window: {row:?}"
    );
    assert!(
        row.unsent > 0,
        "operations due and never sent are counted: {row:?}"
    );
}

#[test]
fn bad_load_flags_are_usage_errors() {
    for (args, says) in [
        (&["load", "--clients", "0"][..], "--clients"),
        (&["load", "--rate", "-5"][..], "rate"),
        (&["load", "--rate", "1e-300"][..], "below 0.1"),
        (&["load", "--nodes", "1"][..], "at least 2 nodes"),
        (&["load", "--duration", "0"][..], "positive"),
        (&["load", "--at", "somewhere"][..], "somewhere"),
        (
            &["load", "--reference-binary", "/bin/true"][..],
            "--reference-binary is for the experiments",
        ),
        (
            &["load", "--baseline", "/nonexistent/base.csv"][..],
            "--baseline",
        ),
    ] {
        let out = run(args, &[]);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
}

#[test]
fn a_saved_load_baseline_is_compared_cell_by_cell_on_the_next_invocation() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base.csv");
    let base = base.to_str().unwrap();
    let load = |extra: &[&str]| {
        let csv = dir.path().join("load.csv");
        let mut args = vec!["load", "--nodes", "3", "--clients", "2", "--runs", "3"];
        args.extend(["--duration", "1s", "--warmup", "0.2s"]);
        args.extend(["--out", csv.to_str().unwrap()]);
        args.extend(extra);
        run(&args, &[])
    };
    let saved = load(&["--save-baseline", base]);
    assert_eq!(saved.status.code(), Some(0), "{}", text(&saved));
    assert_eq!(
        rows(std::path::Path::new(base)).len(),
        3,
        "this invocation's rows"
    );
    // Whether one build's two sets agree within 5 % is a statement about the machine's
    // speed, not the tool's: the test compares at a threshold no noise reaches.
    let compared = load(&["--baseline", base, "--threshold", "100"]);
    assert_eq!(compared.status.code(), Some(0), "{}", text(&compared));
    let stdout = String::from_utf8_lossy(&compared.stdout);
    assert!(stdout.contains("compared with the baseline"), "{stdout}");
    assert!(
        stdout.contains("load n=3 clients=2 at=followers op=set closed"),
        "{stdout}"
    );
    assert!(stdout.contains("no change"), "{stdout}");
}
