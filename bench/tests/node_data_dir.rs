//! `raftrtc node --data-dir`: a log that lost entries it had synced stops the
//! node at launch, with the file named, instead of starting on a short log.

use std::time::Duration;

use node::storage::FileStorage;
use raftrtc_raft::{Entry, EntryKind, Storage};

mod common;
use common::{run, text};

/// A data directory whose log held `n` synced entries.
fn data_dir_with_log(n: u64) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut storage = FileStorage::open(dir.path()).expect("open");
    let entries: Vec<Entry> = (1..=n)
        .map(|index| Entry {
            term: 1,
            index,
            kind: EntryKind::Noop,
        })
        .collect();
    storage.append(&entries).expect("append");
    dir
}

#[test]
fn a_node_whose_log_was_cut_in_half_exits_non_zero_naming_the_file() {
    let dir = data_dir_with_log(8);
    let log = dir.path().join("raft.log");
    let len = std::fs::metadata(&log).expect("log").len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&log)
        .and_then(|f| f.set_len(len / 2))
        .expect("truncate");
    let control = dir.path().join("control.sock");
    let out = run(
        &[
            "node",
            "--id",
            "n0",
            // Nothing listens here: the node must stop before it gets that far.
            "--signaling-url",
            "http://127.0.0.1:9/",
            "--control",
            control.to_str().expect("utf-8 path"),
            "--data-dir",
            dir.path().to_str().expect("utf-8 path"),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&*log.to_string_lossy()) && stderr.contains("--discard-lost-log"),
        "{}",
        text(&out)
    );
    assert!(
        !control.exists(),
        "stopped before opening its control socket"
    );
}

/// A data directory that opens (every record intact) but cannot start a core: its log is
/// of a later term than the persisted hard state, which no correct run writes.
fn data_dir_with_log_ahead_of_its_term() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut storage = FileStorage::open(dir.path()).expect("open");
    let entry = Entry {
        term: 5,
        index: 1,
        kind: EntryKind::Noop,
    };
    storage.append(&[entry]).expect("append");
    dir
}

#[tokio::test(flavor = "multi_thread")]
async fn a_start_whose_storage_fails_answers_with_the_storage_error() {
    let server = signaling::Server::bind(signaling::ServerConfig::default())
        .await
        .expect("signaling binds")
        .spawn();
    let dir = data_dir_with_log_ahead_of_its_term();
    let control = dir.path().join("control.sock");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_raftrtc"))
        .args(["node", "--id", "n0", "--signaling-url", &server.url()])
        .arg("--control")
        .arg(&control)
        .arg("--data-dir")
        .arg(dir.path())
        .kill_on_drop(true)
        .spawn()
        .expect("the node starts");
    let mut client = node::control::ControlClient::connect(&control, Duration::from_secs(20))
        .await
        .expect("the control socket answers");
    let e = client.start().await.expect_err("the core cannot start");
    let said = e.to_string();
    assert!(said.contains("corrupt") && said.contains("ahead"), "{said}");
    assert!(!said.contains("shutting down"), "{said}");
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("the node stops after telling why")
        .expect("wait");
    assert_eq!(status.code(), Some(1));
    server.shutdown().await.expect("signaling stops");
}
