//! Real `raftrtc node` processes over real WebRTC, with an embedded signaling
//! server: cluster formation, leader kill, chat propagation and ordering,
//! control-socket robustness, and a signaling outage.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use node::control::protocol::Status;
use node::control::ControlClient;
use node::raft::Role;
use signaling::{Server, ServerConfig, ServerHandle};

const ET_MS: u64 = 250;

/// A cluster of node processes; every child is killed and reaped on drop.
struct Cluster {
    dir: tempfile::TempDir,
    children: Vec<Option<Child>>,
    signaling: Option<ServerHandle>,
}

impl Cluster {
    async fn launch(n: usize) -> Cluster {
        let signaling = Server::bind(ServerConfig::default())
            .await
            .expect("signaling server binds")
            .spawn();
        let dir = tempfile::tempdir().expect("temp dir");
        let mut children = Vec::new();
        for i in 0..n {
            let log =
                std::fs::File::create(dir.path().join(format!("n{i}.log"))).expect("log file");
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_raftrtc"));
            cmd.args(["node", "--id", &format!("n{i}"), "--cluster", "test"])
                .args(["--signaling-url", &signaling.url()])
                .args(["--election-timeout", &ET_MS.to_string()])
                .arg("--control")
                .arg(dir.path().join(format!("n{i}.sock")))
                .stdout(Stdio::null())
                .stderr(log);
            if i == 0 {
                cmd.arg("--first");
            }
            children.push(Some(cmd.spawn().expect("node starts")));
        }
        let cluster = Cluster {
            dir,
            children,
            signaling: Some(signaling),
        };
        cluster
            .wait_for(Duration::from_secs(20), "all links open", |all| {
                all.iter().all(|s| s.peers.len() == n - 1)
            })
            .await;
        cluster
    }

    fn sock(&self, i: usize) -> PathBuf {
        self.dir.path().join(format!("n{i}.sock"))
    }

    async fn client(&self, i: usize) -> ControlClient {
        ControlClient::connect(&self.sock(i), Duration::from_secs(10))
            .await
            .expect("control socket")
    }

    fn live(&self) -> Vec<usize> {
        (0..self.children.len())
            .filter(|i| self.children[*i].is_some())
            .collect()
    }

    async fn statuses(&self) -> Vec<Status> {
        let mut all = Vec::new();
        for i in self.live() {
            let mut c = self.client(i).await;
            if let Ok(s) = c.status().await {
                all.push(s);
            }
        }
        all
    }

    async fn start(&self) {
        for i in self.live() {
            self.client(i).await.start().await.expect("start");
        }
    }

    /// Polls statuses of live nodes until `done` holds; panics with the
    /// statuses and the log directory if it does not within `timeout`.
    async fn wait_for(
        &self,
        timeout: Duration,
        what: &str,
        done: impl Fn(&[Status]) -> bool,
    ) -> Vec<Status> {
        let deadline = Instant::now() + timeout;
        loop {
            let all = self.statuses().await;
            if all.len() == self.live().len() && done(&all) {
                return all;
            }
            if Instant::now() > deadline {
                let logs = self.dir.path().display().to_string();
                let summary: Vec<String> = all
                    .iter()
                    .map(|s| {
                        format!(
                            "{} {:?} t{} peers{:?} members{:?}",
                            s.id, s.role, s.term, s.peers, s.applied_members
                        )
                    })
                    .collect();
                // Drop keeps the directory while panicking: the logs stay.
                panic!("timed out waiting for {what}: {summary:#?}\nnode logs kept in {logs}");
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.children[i].take() {
            child.kill().expect("SIGKILL");
            child.wait().expect("reaped");
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for child in self.children.iter_mut().filter_map(Option::take) {
            let mut child = child;
            let _ = child.kill();
            let _ = child.wait();
        }
        drop(self.signaling.take());
        if std::thread::panicking() {
            // Keep the node logs of a failed test for the post-mortem.
            let dir = std::mem::replace(&mut self.dir, tempfile::TempDir::new().expect("temp dir"));
            let _ = dir.keep();
        }
    }
}

fn id(i: usize) -> String {
    format!("n{i}")
}

/// One leader, everyone else following it, all listing exactly `members`.
fn settled(all: &[Status], members: &[String]) -> bool {
    // Nodes list members in string order (n0 n1 n10 n2 ...): compare sets.
    let wanted: BTreeSet<&String> = members.iter().collect();
    let leaders: Vec<&Status> = all
        .iter()
        .filter(|s| s.role == Some(Role::Leader))
        .collect();
    leaders.len() == 1
        && all.iter().all(|s| {
            s.leader.as_deref() == Some(leaders[0].id.as_str())
                && s.applied_members.iter().collect::<BTreeSet<_>>() == wanted
                && s.term == leaders[0].term
        })
}

/// Same log and state everywhere.
fn converged(all: &[Status]) -> bool {
    all.iter().all(|s| {
        s.log_hash == all[0].log_hash
            && s.state_hash == all[0].state_hash
            && s.commit_index == all[0].commit_index
    })
}

async fn up(n: usize) -> Cluster {
    let cluster = Cluster::launch(n).await;
    cluster.start().await;
    let members: Vec<String> = (0..n).map(id).collect();
    cluster
        .wait_for(Duration::from_secs(20), "the cluster to come up", |all| {
            settled(all, &members)
        })
        .await;
    cluster
}

#[tokio::test(flavor = "multi_thread")]
async fn three_and_five_nodes_form_one_cluster_whose_every_member_lists_all() {
    for n in [3, 5] {
        let cluster = up(n).await;
        let all = cluster.statuses().await;
        assert_eq!(
            all.iter().filter(|s| s.role == Some(Role::Leader)).count(),
            1
        );
        assert!(all.iter().all(|s| s.applied_members.len() == n));
        assert!(all
            .iter()
            .all(|s| s.rpc_sent.contains_key("append_entries") || s.role != Some(Role::Leader)));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sigkilled_leader_is_replaced_and_removed_from_the_configuration() {
    let mut cluster = up(5).await;
    let all = cluster.statuses().await;
    let leader = all
        .iter()
        .find(|s| s.role == Some(Role::Leader))
        .expect("a leader")
        .id
        .clone();
    let old_term = all[0].term;
    let index: usize = leader[1..].parse().expect("nN id");
    cluster.kill(index);
    let survivors: Vec<String> = (0..5).filter(|i| *i != index).map(id).collect();
    let all = cluster
        .wait_for(
            Duration::from_secs(20),
            "a new leader without the dead node",
            |all| settled(all, &survivors),
        )
        .await;
    assert!(all[0].term > old_term);
    assert!(all
        .iter()
        .all(|s| s.leader.as_deref() != Some(leader.as_str())));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_chat_line_submitted_at_a_follower_is_applied_on_every_node() {
    let cluster = up(3).await;
    let all = cluster.statuses().await;
    let follower = all
        .iter()
        .position(|s| s.role == Some(Role::Follower))
        .expect("a follower");
    let follower_index: usize = all[follower].id[1..].parse().expect("nN id");
    let mut client = cluster.client(follower_index).await;
    let submit = client.submit(vec!["hello from a follower".into()]);
    let done = tokio::time::timeout(Duration::from_secs(10), submit)
        .await
        .expect("submit completes in time")
        .expect("submit");
    assert_eq!(done.lines, 1);
    cluster
        .wait_for(Duration::from_secs(10), "the line everywhere", |all| {
            all.iter().all(|s| s.chat_len == 1) && converged(all)
        })
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn lines_submitted_concurrently_at_different_nodes_end_in_the_same_order_everywhere() {
    let cluster = up(3).await;
    let mut tasks = Vec::new();
    for i in 0..3 {
        let mut client = cluster.client(i).await;
        tasks.push(tokio::spawn(async move {
            let lines = (0..10).map(|k| format!("n{i} line {k}")).collect();
            client.submit(lines).await
        }));
    }
    for t in tasks {
        tokio::time::timeout(Duration::from_secs(20), t)
            .await
            .expect("submits complete in time")
            .expect("task")
            .expect("submit");
    }
    // Same state hash = same lines in the same order (the hash covers the list).
    cluster
        .wait_for(
            Duration::from_secs(10),
            "30 lines everywhere, same order",
            |all| all.iter().all(|s| s.chat_len == 30) && converged(all),
        )
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_control_requests_get_an_error_line_and_the_connection_stays_usable() {
    let cluster = Cluster::launch(3).await;
    let mut c = cluster.client(1).await;
    for bad in [
        "nonsense",
        "{}",
        r#"{"cmd":"fly"}"#,
        r#"{"cmd":"submit","lines":7}"#,
        "[]",
    ] {
        let r = c.raw(bad.as_bytes()).await.expect("a response line");
        assert!(!r.ok, "{bad:?} must be refused");
        assert!(r.error.is_some_and(|e| !e.is_empty()));
    }
    // Submitting before start is refused, not queued forever.
    let r = c
        .raw(br#"{"cmd":"submit","lines":["x"]}"#)
        .await
        .expect("a response line");
    assert!(!r.ok);
    let status = c.status().await.expect("still usable");
    assert_eq!(status.id, "n1");
    assert!(!status.started);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cluster_keeps_working_through_a_signaling_outage() {
    let mut cluster = up(3).await;
    if let Some(server) = cluster.signaling.take() {
        server.shutdown().await.expect("signaling stops");
    }
    let mut c = cluster.client(2).await;
    c.submit(vec!["while signaling is down".into()])
        .await
        .expect("submit");
    let all = cluster
        .wait_for(Duration::from_secs(10), "the line everywhere", |all| {
            all.iter().all(|s| s.chat_len == 1) && converged(all)
        })
        .await;
    assert!(all.iter().all(|s| s.peers.len() == 2), "links stayed up");
}

/// Not part of the default run (21 processes on 2 cores): formation of a
/// 21-node mesh (210 links) and election, with link-open statistics.
/// `cargo test --release -p bench --test node_processes -- --ignored --nocapture`
#[tokio::test(flavor = "multi_thread")]
#[ignore]
async fn twenty_one_nodes_open_210_links_and_elect_one_leader() {
    let t0 = Instant::now();
    let cluster = Cluster::launch(21).await;
    let links_open = t0.elapsed();
    let mut opens: Vec<f64> = cluster
        .statuses()
        .await
        .iter()
        .flat_map(|s| s.link_open_ms.values().copied().collect::<Vec<_>>())
        .collect();
    opens.sort_by(f64::total_cmp);
    let pct = |p: f64| opens[((opens.len() as f64 - 1.0) * p).round() as usize];
    let t1 = Instant::now();
    cluster.start().await;
    let members: Vec<String> = (0..21).map(id).collect();
    cluster
        .wait_for(Duration::from_secs(60), "21-node cluster up", |all| {
            settled(all, &members)
        })
        .await;
    let up = t1.elapsed();
    // Idle cost of the formed cluster: CPU time and RSS of the 21 node
    // processes over 10 s (heartbeats and ICE keepalives only).
    let pids: Vec<u32> = cluster.children.iter().flatten().map(Child::id).collect();
    let before: u64 = pids.iter().filter_map(|p| cpu_ticks(*p)).sum();
    let window = Instant::now();
    tokio::time::sleep(Duration::from_secs(10)).await;
    let after: u64 = pids.iter().filter_map(|p| cpu_ticks(*p)).sum();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let cpu_share = (after - before) as f64 / hz / window.elapsed().as_secs_f64();
    let rss_mib: Vec<f64> = pids
        .iter()
        .filter_map(|p| rss_kib(*p))
        .map(|k| k as f64 / 1024.0)
        .collect();
    println!(
        "21 nodes: all 210 links open {links_open:?} after spawn; per-link open p50 {:.1} ms p99 {:.1} ms (n={}); up {up:?} after start",
        pct(0.5),
        pct(0.99),
        opens.len(),
    );
    println!(
        "idle: {:.2}% of one core per node, RSS per node {:.1} MiB mean, {:.1} MiB max",
        cpu_share * 100.0 / pids.len() as f64,
        rss_mib.iter().sum::<f64>() / rss_mib.len().max(1) as f64,
        rss_mib.iter().copied().fold(0.0, f64::max)
    );
}

/// User + system CPU ticks of a process (from /proc/<pid>/stat).
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// Resident set size of a process in KiB (from /proc/<pid>/status).
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
