//! The `raftrtc` benchmarks end to end: the real binary launching real node
//! processes over real WebRTC on loopback.
//!
//! Cluster tests hold one lock so they never compete for the machine's
//! cores with each other (timing-sensitive elections on a 2-core box).

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;

use bench::matrix::TestKind;
use bench::results::{read_rows, Outcome, Row, Start};

mod common;
use common::text;

/// The rows the bench wrote to `csv`.
fn rows(csv: &Path) -> Vec<Row> {
    read_rows(csv).unwrap_or_else(|e| panic!("{e}"))
}

static CLUSTERS: Mutex<()> = Mutex::new(());

/// Runs `raftrtc` in a scratch working directory (where a benchmark without
/// `--out` leaves its CSV).
fn raftrtc(args: &[&str]) -> (Output, u32) {
    let scratch = tempfile::tempdir().unwrap();
    raftrtc_in(scratch.path(), args)
}

/// Runs `raftrtc` in working directory `dir`.
fn raftrtc_in(dir: &Path, args: &[&str]) -> (Output, u32) {
    let child = Command::new(env!("CARGO_BIN_EXE_raftrtc"))
        .current_dir(dir)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the raftrtc binary runs");
    let pid = child.id();
    (child.wait_with_output().expect("raftrtc finishes"), pid)
}

/// Runs a cluster benchmark (serialized with the others).
fn bench(args: &[&str]) -> (Output, u32) {
    let _guard = CLUSTERS.lock().unwrap_or_else(|e| e.into_inner());
    raftrtc(args)
}

/// Processes whose command line mentions `needle`.
fn processes_mentioning(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        if !entry
            .file_name()
            .to_string_lossy()
            .bytes()
            .all(|b| b.is_ascii_digit())
        {
            continue;
        }
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if cmdline.contains(needle) {
                found.push(format!(
                    "{}: {cmdline}",
                    entry.file_name().to_string_lossy()
                ));
            }
        }
    }
    found
}

fn assert_all_ok(out: &Output, csv: &Path, expected_rows: usize) {
    assert_eq!(out.status.code(), Some(0), "{}", text(out));
    let rows = rows(csv);
    assert_eq!(rows.len(), expected_rows, "{}", text(out));
    for row in &rows {
        assert_eq!(row.outcome, Outcome::Ok, "{row:?}\n{}", text(out));
        assert_eq!(row.properties, "ok", "{row:?}");
        let duration = row.duration_ms.expect("a duration");
        let up = row.up_ms.expect("an up time");
        assert!(duration > 0.0 && up > 0.0, "{row:?}");
    }
}

#[test]
fn up_at_three_nodes_writes_one_ok_row() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("up.csv");
    let (out, _) = bench(&[
        "up",
        "--nodes",
        "3",
        "--runs",
        "1",
        "--election-timeout",
        "250",
        "--seed",
        "7",
        "--out",
        csv.to_str().unwrap(),
    ]);
    assert_all_ok(&out, &csv, 1);
    let row = &rows(&csv)[0];
    assert_eq!(row.test, TestKind::Up);
    assert_eq!(row.nodes, 3);
    assert_eq!(row.launcher, bench::results::Launcher::Process);
    assert_eq!(row.seed, 7);
    assert_eq!(row.heartbeat_ms, 50);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("median"), "a summary table: {stdout}");
}

#[test]
fn up_without_out_writes_a_new_csv_of_a_cold_start_and_prints_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let (out, _) = {
        let _guard = CLUSTERS.lock().unwrap_or_else(|e| e.into_inner());
        raftrtc_in(dir.path(), &["up", "--nodes", "3", "--runs", "1"])
    };
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    let path = last
        .strip_prefix("rows written to ")
        .unwrap_or_else(|| panic!("the path is printed last: {stdout}"));
    assert!(
        path.starts_with("raftrtc-results/up-") && path.ends_with(".csv"),
        "{path}"
    );
    let csv = dir.path().join(path);
    assert_all_ok(&out, &csv, 1);
    let row = &rows(&csv)[0];
    assert_eq!(row.start, Start::Cold);
    let duration = row.duration_ms.unwrap();
    let launched = row.launched_ms.expect("a launch phase");
    let signaling = row.signaling_ms.expect("a signaling phase");
    assert!(
        0.0 < launched && launched <= signaling && signaling <= duration,
        "phases in order: {row:?}"
    );
    assert!(
        row.mesh_ms.is_none_or(|m| signaling <= m && m <= duration),
        "{row:?}"
    );
    assert_eq!((row.raft_ms, row.up_ms), (Some(duration), Some(duration)));
}

#[test]
fn a_warm_start_times_raft_alone_on_a_formed_mesh() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("warm.csv");
    let (out, _) = bench(&[
        "up",
        "--start",
        "warm",
        "--nodes",
        "3",
        "--runs",
        "1",
        "--out",
        csv.to_str().unwrap(),
    ]);
    assert_all_ok(&out, &csv, 1);
    let row = &rows(&csv)[0];
    assert_eq!(row.start, Start::Warm);
    assert_eq!(row.raft_ms, row.duration_ms);
    // Launch, signaling and the mesh all came before t0 (the start).
    assert_eq!(
        (row.launched_ms, row.signaling_ms, row.mesh_ms),
        (None, None, None)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("rows appended to"), "{stdout}");
}

#[test]
fn a_too_short_timeout_is_a_timeout_row_exit_1_and_no_orphans() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("timeout.csv");
    let (out, pid) = bench(&[
        "up",
        "--nodes",
        "3",
        "--runs",
        "1",
        "--timeout",
        "0.001", // a cold 3-node start takes well over a millisecond
        "--out",
        csv.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let rows = rows(&csv);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].outcome, Outcome::Timeout, "{:?}", rows[0]);
    assert!(
        rows[0].error.starts_with("timed out after"),
        "{:?}",
        rows[0]
    );
    assert!(!rows[0].logs.is_empty(), "logs are kept on failure");
    assert!(Path::new(&rows[0].logs).join("n0.log").exists());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(&rows[0].logs), "the logs path is printed");
    let left = processes_mentioning(&format!("raftrtc-{pid}-"));
    assert!(left.is_empty(), "node processes left running: {left:?}");
    let _ = std::fs::remove_dir_all(&rows[0].logs);
}

#[test]
fn bad_flags_are_usage_errors_with_plain_messages() {
    for (args, says) in [
        (&["up", "--nodes", "0"][..], "at least 1"),
        (&["up", "--nodes", "abc"][..], "`abc` is not a cluster size"),
        (&["up", "--election-timeout", "-5"][..], "`-5` is negative"),
        (
            &["kill", "--kill", "leader", "--nodes", "2"][..],
            "majority",
        ),
        (&["up", "--net", "delay=40ms,lost=1%"][..], "\"lost=1%\""),
        (&["smoke", "--net", "loss=1"][..], "\"loss=1\""),
        (
            &["up", "--signaling-url", "http://127.0.0.1:1/"][..],
            "cannot reach the signaling server at http://127.0.0.1:1/",
        ),
        (&["up", "--signaling-key", "peerjs"][..], "--signaling-url"),
        (
            &[
                "up",
                "--signaling-url",
                "http://127.0.0.1:1/",
                "--signaling-key",
                "a/b",
            ][..],
            "--signaling-key `a/b`",
        ),
    ] {
        let (out, _) = raftrtc(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
}

#[test]
fn up_under_network_conditions_records_them_and_times_the_delay() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("up.csv");
    let csv_arg = csv.to_str().unwrap();
    let common = [
        "--nodes", "3", "--runs", "1", "--seed", "7", "--out", csv_arg,
    ];
    let (out, _) = bench(&[&["up", "--net", "delay = 40ms, jitter=10ms"][..], &common].concat());
    assert_all_ok(&out, &csv, 1);
    let (out, _) = bench(&[&["up"][..], &common].concat());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let rows = rows(&csv);
    assert_eq!(rows[0].net, "delay=40ms,jitter=10ms");
    assert_eq!(rows[1].net, "none");
    // Offer and answer go through signaling, undelayed; but an ICE check, the DTLS
    // handshake and the SCTP association are at least four one-way trips over the shaped
    // link, so no link, and no cluster, can be up sooner than 160 ms.
    let shaped = rows[0].duration_ms.unwrap();
    assert!(shaped >= 160.0, "up under 40 ms delay took {shaped} ms");
}

#[test]
fn breakdown_prints_where_each_step_of_the_start_went() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("up.csv");
    let (out, _) = bench(&[
        "up",
        "--nodes",
        "3",
        "--runs",
        "1",
        "--breakdown",
        "--out",
        csv.to_str().unwrap(),
    ]);
    assert_all_ok(&out, &csv, 1);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("where the time went: cold start, 3 nodes"),
        "{stdout}"
    );
    // One sample per node, one per run; links have one per offering end that had opened
    // (the leader's two at least: the followers' link may open after up).
    for step in [
        "| process start | node | 3 |",
        "| membership | run | 1 |",
        "| DTLS | link | ",
    ] {
        assert!(stdout.contains(step), "{step}: {stdout}");
    }
    assert!(stdout.contains("cores busy on average"), "{stdout}");
}

#[test]
fn smoke_passes() {
    let (out, _) = bench(&["smoke"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

/// `experiment` (its command and flags) once per cell at five nodes, ET 250, into
/// `<dir>/<name>.csv`; every one of the `expected` rows must be ok.
fn at_five_nodes(dir: &Path, name: &str, experiment: &[&str], expected: usize) -> Vec<Row> {
    let csv = dir.join(format!("{name}.csv"));
    let mut args = experiment.to_vec();
    args.extend([
        "--nodes",
        "5",
        "--runs",
        "1",
        "--election-timeout",
        "250",
        "--out",
    ]);
    args.push(csv.to_str().unwrap());
    let (out, _) = bench(&args);
    assert_all_ok(&out, &csv, expected);
    rows(&csv)
}

/// One `kill --kill <kill>` run at five nodes.
fn kill_once(dir: &Path, kill: &str) -> Row {
    at_five_nodes(dir, kill, &["kill", "--kill", kill], 1).remove(0)
}

#[test]
fn kill_leader_and_kill_half_at_five_nodes() {
    let dir = tempfile::tempdir().unwrap();
    for (kill, killed) in [("leader", 1), ("half", 2)] {
        let row = kill_once(dir.path(), kill);
        assert_eq!(row.killed, killed);
        assert_eq!(row.test.name(), format!("kill_{kill}"));
    }
}

#[test]
fn a_paused_an_isolated_leader_and_a_restart_of_all_recover_with_their_own_test_names() {
    let dir = tempfile::tempdir().unwrap();
    for (kill, name, killed) in [
        ("pause-leader", "pause_leader", 0),
        ("isolate-leader", "isolate_leader", 0),
        ("restart-all", "restart_all", 5),
    ] {
        let row = kill_once(dir.path(), kill);
        assert_eq!(row.test.name(), name);
        assert_eq!(row.killed, killed, "{row:?}");
        // The leader-out faults time the lifting too; a restart has nothing to lift.
        assert_eq!(row.rejoin_ms.is_some(), killed == 0, "{row:?}");
    }
}

#[test]
fn propagate_one_and_a_hundred_at_five_nodes() {
    let dir = tempfile::tempdir().unwrap();
    let rows = at_five_nodes(
        dir.path(),
        "propagate",
        &["propagate", "--messages", "1,100"],
        2,
    );
    let tests: Vec<TestKind> = rows.iter().map(|r| r.test).collect();
    assert_eq!(tests, [TestKind::Propagate(1), TestKind::Propagate(100)]);
}

#[test]
fn ctrl_c_in_the_middle_of_a_matrix_leaves_no_node_process() {
    let _guard = CLUSTERS.lock().unwrap_or_else(|e| e.into_inner());
    let scratch = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_raftrtc"))
        .current_dir(scratch.path())
        .args(["up", "--nodes", "5", "--runs", "50"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the raftrtc binary runs");
    let needle = format!("raftrtc-{}-", child.id());
    // Wait until a run's nodes are up, then interrupt as a user would.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while processes_mentioning(&needle).len() < 5 {
        assert!(
            std::time::Instant::now() < deadline,
            "no nodes were started"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // SAFETY: plain kill(2) on our own child's pid.
    let rc = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    assert_eq!(rc, 0, "SIGINT delivered");
    let status = child.wait().expect("the bench exits");
    assert!(
        !status.success(),
        "an interrupted bench does not report success"
    );
    // Children are killed by the bench (and by the kernel with it): give the
    // kernel a moment to reap them.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let left = processes_mentioning(&needle);
        if left.is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "node processes left after Ctrl-C: {left:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
