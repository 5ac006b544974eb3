//! Whole experiments on the official PeerJS server (npm `peer`), as it is deployed: one key,
//! no presence events, discovery only with `--allow_discovery`.
//!
//! Needs `PEERJS_SERVER_BIN`, the path of the server's CLI
//! (`export PEERJS_SERVER_BIN="$(.ci/install-peerjs.sh)"`); without it the tests are skipped,
//! except under `CI=true`, where that is a failure.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bench::results::{read_rows, Outcome, Signaling};
use common::{run, text};

/// The official server, killed when dropped.
struct PeerServer {
    child: Child,
    url: String,
    port: u16,
}

impl PeerServer {
    /// Starts it on a free loopback port with `flags`, and waits until it answers HTTP.
    ///
    /// Starts are serialised, so no two servers of this binary's parallel tests are handed
    /// the same free port; a server that still exits at once (its port taken in between by
    /// an outgoing connection) is started again on another.
    fn start(bin: &str, flags: &[&str]) -> PeerServer {
        static STARTING: Mutex<()> = Mutex::new(());
        let _one_at_a_time = STARTING.lock().unwrap_or_else(|e| e.into_inner());
        for _ in 0..5 {
            if let Some(server) = PeerServer::try_start(bin, flags) {
                return server;
            }
        }
        panic!("the PeerJS server {bin} exited at start five times");
    }

    /// One try: the server, once it answers HTTP, or `None` if it exited first.
    fn try_start(bin: &str, flags: &[&str]) -> Option<PeerServer> {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(bin)
            .args(["--port", &port.to_string(), "--host", "127.0.0.1"])
            .args(flags)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {bin}: {e}"));
        let mut server = PeerServer {
            child,
            url: format!("http://127.0.0.1:{port}/"),
            port,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        // An HTTP answer, not a bare connect: a connect can succeed on a socket that is not
        // the server's (a loopback self-connect), and then the run meets a closed port.
        while server.get("/").is_none() {
            if server.child.try_wait().ok().flatten().is_some() {
                return None;
            }
            assert!(
                Instant::now() < deadline,
                "the PeerJS server did not answer"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(server)
    }

    /// The body of `GET path`, if the server answers HTTP.
    fn get(&self, path: &str) -> Option<String> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        )
        .ok()?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer).ok()?;
        if !answer.starts_with("HTTP/1.") {
            return None;
        }
        Some(answer.split_once("\r\n\r\n")?.1.to_string())
    }

    /// The ids `GET /peerjs/peers` lists, if it answers.
    fn peers(&self) -> Option<Vec<String>> {
        serde_json::from_str(&self.get("/peerjs/peers")?).ok()
    }
}

impl Drop for PeerServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn server_bin() -> Option<String> {
    match std::env::var("PEERJS_SERVER_BIN") {
        Ok(bin) if !bin.trim().is_empty() => Some(bin),
        _ => {
            let ci = std::env::var("CI").is_ok_and(|v| v == "true");
            assert!(
                !ci,
                "CI=true but PEERJS_SERVER_BIN is not set; run: export PEERJS_SERVER_BIN=\"$(.ci/install-peerjs.sh)\""
            );
            println!("skipping: set PEERJS_SERVER_BIN (see the module docs)");
            None
        }
    }
}

/// Every row of `csv`: how many, and whether all are ok on the official server.
fn assert_all_ok_on_peerjs(csv: &str, expected_rows: usize, context: &str) {
    let rows = read_rows(csv).expect("the CSV reads");
    assert_eq!(rows.len(), expected_rows, "{context}");
    for row in &rows {
        assert_eq!(row.outcome, Outcome::Ok, "{row:?}\n{context}");
        assert_eq!(row.signaling, Signaling::Peerjs, "{context}");
    }
}

#[test]
fn up_kill_leader_and_propagate_run_whole_on_the_official_server() {
    let Some(bin) = server_bin() else { return };
    let server = PeerServer::start(&bin, &["--allow_discovery"]);
    let dir = tempfile::tempdir().unwrap();
    let experiments: [&[&str]; 3] = [
        &["up"],
        &["kill", "--kill", "leader"],
        &["propagate", "--messages", "1"],
    ];
    for experiment in experiments {
        let csv = dir.path().join(format!("{}.csv", experiment[0]));
        let csv = csv.to_str().unwrap();
        let mut args = experiment.to_vec();
        args.extend(["--nodes", "3", "--runs", "1", "--out", csv]);
        args.extend(["--signaling-url", &server.url]);
        let out = run(&args, &[]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        assert_all_ok_on_peerjs(csv, 1, &text(&out));
    }
}

#[test]
fn two_benches_on_one_official_server_each_see_only_their_own_nodes() {
    let Some(bin) = server_bin() else { return };
    let server = Arc::new(PeerServer::start(&bin, &["--allow_discovery"]));
    let dir = tempfile::tempdir().unwrap();
    let csvs = ["a.csv", "b.csv"].map(|f| dir.path().join(f).display().to_string());

    // Watch the server's one realm while both benches run.
    let done = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (server, done) = (server.clone(), done.clone());
        std::thread::spawn(move || {
            let mut seen = BTreeSet::new();
            while !done.load(Ordering::SeqCst) {
                seen.extend(server.peers().unwrap_or_default());
                std::thread::sleep(Duration::from_millis(20));
            }
            seen
        })
    };
    let benches: Vec<Child> = csvs
        .iter()
        .map(|csv| {
            Command::new(env!("CARGO_BIN_EXE_raftrtc"))
                .args(["up", "--nodes", "3", "--runs", "2", "--out", csv])
                .args(["--signaling-url", &server.url])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("a bench starts")
        })
        .collect();
    let pids: Vec<u32> = benches.iter().map(Child::id).collect();
    let outputs: Vec<_> = benches
        .into_iter()
        .map(|b| b.wait_with_output().expect("a bench ends"))
        .collect();
    done.store(true, Ordering::SeqCst);
    let seen = watcher.join().expect("the watcher ends");

    for (out, csv) in outputs.iter().zip(&csvs) {
        assert_eq!(out.status.code(), Some(0), "{}", text(out));
        assert_all_ok_on_peerjs(csv, 2, &text(out));
    }
    // Every node id on the server is `<run's cluster>.<node>`, the cluster named after its
    // bench's pid; a cluster holds only n0..n2, so no node was counted in another's.
    let mut clusters: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for id in seen.iter().filter(|id| !id.starts_with("raftrtc-probe-")) {
        let (cluster, node) = id.split_once('.').unwrap_or_else(|| panic!("{id}"));
        clusters
            .entry(cluster.to_string())
            .or_default()
            .insert(node.to_string());
    }
    let all_nodes: BTreeSet<String> = ["n0", "n1", "n2"].map(String::from).into();
    for (cluster, nodes) in &clusters {
        assert!(nodes.is_subset(&all_nodes), "{cluster}: {nodes:?}");
    }
    for pid in pids {
        let prefix = format!("raftrtc-{pid}-");
        assert!(
            clusters.keys().any(|c| c.starts_with(&prefix)),
            "no cluster of bench {pid} seen among {clusters:?}"
        );
    }
}

/// Runs `up` against a server started with `flags` and returns its output, which must be
/// exit 2 before any node was launched.
fn refused_up(bin: &str, flags: &[&str], extra: &[&str]) -> String {
    let server = PeerServer::start(bin, flags);
    let mut args = vec!["up", "--nodes", "3", "--runs", "1"];
    args.extend(["--signaling-url", &server.url]);
    args.extend(extra);
    let out = run(&args, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !stdout.contains("run 1/1"),
        "a node was launched: {}",
        text(&out)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_server_without_discovery_is_refused_naming_discovery() {
    let Some(bin) = server_bin() else { return };
    let stderr = refused_up(&bin, &[], &[]);
    assert!(stderr.contains("discovery"), "{stderr}");
    assert!(stderr.contains("--allow_discovery"), "{stderr}");
}

#[test]
fn a_wrong_key_or_path_is_refused_before_any_node_starts() {
    let Some(bin) = server_bin() else { return };
    let stderr = refused_up(&bin, &["--allow_discovery", "--key", "theirs"], &[]);
    assert!(stderr.contains("refused the key `peerjs`"), "{stderr}");
    assert!(stderr.contains("--signaling-key"), "{stderr}");

    let stderr = refused_up(&bin, &["--allow_discovery", "--path", "/signal"], &[]);
    assert!(stderr.contains("no PeerJS server"), "{stderr}");
    assert!(stderr.contains("path"), "{stderr}");
}
