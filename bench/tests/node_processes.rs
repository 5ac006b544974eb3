//! Real `raftrtc node` processes over real WebRTC, with an embedded signaling
//! server: cluster formation, leader kill, chat propagation and ordering,
//! control-socket robustness and ownership, signals, a signaling outage, a partition and
//! a restart of every node from its data directory.
//!
//! The nodes are launched by the library's [`ProcessLauncher`], as the bench launches them;
//! a node started by hand (to bypass the launcher on purpose) gets its flags from
//! [`node_args`] all the same.

use std::collections::BTreeSet;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use bench::launcher::process::{ProcessCluster, ProcessLauncher};
use bench::launcher::{node_args, node_id, Cluster as _, ClusterSpec};
use node::control::protocol::Status;
use node::control::protocol::{ReadMode, RegisterOp, SessionId};
use node::control::{ControlAddr, ControlClient};
use node::netem::NetSpec;
use node::settings::Settings;
use raftrtc_raft::Role;
use signaling::{Server, ServerConfig, ServerHandle};
use tokio::process::{Child, Command};

const ET_MS: u64 = 250;

/// The launched nodes of one test, the nodes it started by hand beside them, and its
/// signaling server; every node is killed on drop, and a failed test keeps the logs.
struct Cluster {
    spec: ClusterSpec,
    nodes: ProcessCluster,
    /// Started by `spawn_beside`: nodes `n{N}`, `n{N+1}`, ... after the launched `N`.
    beside: Vec<Beside>,
    /// Indices of nodes killed, signalled or refused: no longer asked for their status.
    gone: BTreeSet<usize>,
    signaling: Option<ServerHandle>,
}

/// A node started by hand beside a launched cluster (killed when dropped).
struct Beside {
    control: PathBuf,
    child: Child,
}

impl Cluster {
    async fn launch(n: usize) -> Cluster {
        Cluster::launch_using(ProcessLauncher::with_program(raftrtc()), n, false, false).await
    }

    /// `n` nodes launched by `launcher`, all links open; with `start_at_launch` they run Raft
    /// from launch (a cold start), otherwise they wait paused for `start`; with `data_dirs`
    /// each keeps its log on disk and can be restarted.
    async fn launch_using(
        launcher: ProcessLauncher,
        n: usize,
        start_at_launch: bool,
        data_dirs: bool,
    ) -> Cluster {
        let signaling = Server::bind(ServerConfig::default())
            .await
            .expect("signaling server binds")
            .spawn();
        let spec = ClusterSpec {
            nodes: u32::try_from(n).expect("a small cluster"),
            cluster: "test".into(),
            signaling_url: signaling.url(),
            settings: Settings {
                election_timeout_ms: ET_MS,
                ..Settings::default()
            },
            log_level: "info".into(),
            seed: 1,
            start_at_launch,
            data_dirs,
            shared_key: None,
        };
        let nodes = launcher.launch_processes(&spec).await.expect("nodes start");
        let cluster = Cluster {
            spec,
            nodes,
            beside: Vec::new(),
            gone: BTreeSet::new(),
            signaling: Some(signaling),
        };
        cluster
            .wait_for(Duration::from_secs(20), "all links open", |all| {
                all.iter().all(|s| s.peers.len() == n - 1)
            })
            .await;
        cluster
    }

    /// Launched and hand-started nodes, gone ones included.
    fn len(&self) -> usize {
        self.nodes.members().len() + self.beside.len()
    }

    fn sock(&self, i: usize) -> PathBuf {
        let launched = self.nodes.members();
        match launched.get(i) {
            Some(member) => match &member.control {
                ControlAddr::Socket(path) => path.clone(),
                other => panic!("the process launcher gave {other}, not a socket"),
            },
            None => self.beside[i - launched.len()].control.clone(),
        }
    }

    async fn client(&self, i: usize) -> ControlClient {
        ControlClient::connect(&self.sock(i), Duration::from_secs(10))
            .await
            .expect("control socket")
    }

    fn live(&self) -> Vec<usize> {
        (0..self.len()).filter(|i| !self.gone.contains(i)).collect()
    }

    /// The process id of launched node `i`.
    fn pid(&self, i: usize) -> u32 {
        self.nodes.pid(&id(i)).expect("a running node")
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
                let logs = self.nodes.logs_dir().display().to_string();
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

    /// The process of node `i`, started by `spawn_beside`.
    fn started_by_hand(&mut self, i: usize) -> &mut Child {
        let launched = self.nodes.members().len();
        &mut self.beside[i - launched].child
    }

    /// SIGKILLs launched node `i`.
    async fn kill(&mut self, i: usize) {
        self.nodes.kill(&id(i)).await.expect("SIGKILL");
        self.gone.insert(i);
    }
}

impl Drop for Cluster {
    /// The nodes die with `nodes` and `beside`; a failed test keeps their logs.
    fn drop(&mut self) {
        if std::thread::panicking() {
            // Keep the node logs of a failed test for the post-mortem.
            self.nodes.keep_logs();
        }
    }
}

fn id(i: usize) -> String {
    node_id(u32::try_from(i).expect("a small cluster"))
}

/// The `raftrtc` binary under test.
fn raftrtc() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_raftrtc"))
}

/// `raftrtc node` as the launcher would start node `i` of `spec`, on `control`, with
/// `extra` flags, but by hand: for the tests whose point is to bypass the launcher. Its
/// stderr goes to `log`; it is killed when dropped.
fn by_hand(spec: &ClusterSpec, i: usize, control: &Path, extra: &[&str], log: &Path) -> Child {
    let log = std::fs::File::create(log).expect("log file");
    let index = u32::try_from(i).expect("a small cluster");
    Command::new(raftrtc())
        .arg("node")
        .args(node_args(spec, index, &id(i), control))
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .expect("node starts")
}

/// Waits for a node to exit; fails the test if it still runs after `bound` (the bound only
/// guards against a hang; the node's owner kills it when dropped).
async fn exit_within<E: std::fmt::Debug>(
    exit: impl Future<Output = Result<ExitStatus, E>>,
    bound: Duration,
    what: &str,
) -> ExitStatus {
    match tokio::time::timeout(bound, exit).await {
        Ok(status) => status.expect("reaped"),
        Err(_) => panic!("{what}: still running after {bound:?}"),
    }
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

/// The leader's id, its index and the highest term among `all`.
fn leader_of(all: &[Status]) -> (String, usize, u64) {
    let leader = all
        .iter()
        .find(|s| s.role == Some(Role::Leader))
        .expect("a leader")
        .id
        .clone();
    let index = leader[1..].parse().expect("nN id");
    let term = all.iter().map(|s| s.term).max().unwrap_or(0);
    (leader, index, term)
}

async fn up(n: usize) -> Cluster {
    started(Cluster::launch(n).await).await
}

/// Starts every node and waits for one leader and full configurations.
async fn started(cluster: Cluster) -> Cluster {
    let n = cluster.len();
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
async fn nodes_launched_with_start_come_up_unasked_and_say_when_they_launched_joined_and_linked() {
    let n = 3;
    let cluster =
        Cluster::launch_using(ProcessLauncher::with_program(raftrtc()), n, true, false).await;
    let members: Vec<String> = (0..n).map(id).collect();
    // No `start` request is ever sent. The links between followers open once the cluster
    // has grown, so wait for those too.
    let all = cluster
        .wait_for(
            Duration::from_secs(20),
            "the cluster up and every link open",
            |all| settled(all, &members) && all.iter().all(|s| s.link_up_ns.len() == n - 1),
        )
        .await;
    for s in &all {
        assert!(s.started, "{s:?}");
        let joined = s.signaling_ns.expect("joined signaling");
        assert!(0 < s.launched_ns && s.launched_ns <= joined, "{s:?}");
        assert_eq!(s.link_up_ns.len(), n - 1, "{s:?}");
        assert!(
            s.link_up_ns.values().all(|&t| joined < t && t <= s.t_ns),
            "{s:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sigkilled_leader_is_replaced_and_removed_from_the_configuration() {
    let mut cluster = up(5).await;
    let (leader, index, old_term) = leader_of(&cluster.statuses().await);
    cluster.kill(index).await;
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
async fn a_paused_leader_is_replaced_and_steps_down_once_resumed() {
    let mut cluster = up(5).await;
    let (leader, index, old_term) = leader_of(&cluster.statuses().await);
    // Frozen, not gone: its sockets stay open, so only the others' election timers notice.
    cluster.nodes.pause(&id(index)).await.expect("SIGSTOP");
    cluster.gone.insert(index);
    let all = cluster
        .wait_for(
            Duration::from_secs(20),
            "a new leader among the others",
            |all| {
                all.iter()
                    .filter(|s| s.role == Some(Role::Leader) && s.term > old_term)
                    .count()
                    == 1
            },
        )
        .await;
    let new_term = all.iter().map(|s| s.term).max().unwrap_or(0);
    cluster.nodes.resume(&id(index)).await.expect("SIGCONT");
    cluster.gone.remove(&index);
    cluster
        .wait_for(
            Duration::from_secs(20),
            "the old leader to step down and follow the new one",
            |all| {
                let old = all.iter().find(|s| s.id == leader);
                old.is_some_and(|s| s.role == Some(Role::Follower) && s.term >= new_term)
                    && all.iter().filter(|s| s.role == Some(Role::Leader)).count() == 1
            },
        )
        .await;
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
async fn register_operations_of_a_session_apply_once_through_any_node_and_chat_reads_back() {
    let cluster = up(3).await;
    let (_, leader, _) = leader_of(&cluster.statuses().await);
    let follower = (leader + 1) % 3;
    let other = (leader + 2) % 3;
    let session = SessionId::new("c1").expect("a session name");
    let set = RegisterOp::Set {
        key: "k".into(),
        value: "a".into(),
    };
    let linearizable = ReadMode::Linearizable;
    let mut at_follower = cluster.client(follower).await;
    let done = at_follower
        .op(session.clone(), 1, set.clone(), linearizable)
        .await
        .expect("set through a follower");
    assert!(done.index.is_some());
    // The same request through another node: applied once, answered all the same.
    let mut at_other = cluster.client(other).await;
    let again = at_other
        .op(session.clone(), 1, set, linearizable)
        .await
        .expect("a retry elsewhere");
    assert_eq!(again.value, None);
    let cas = |from: &str, to: &str| RegisterOp::Cas {
        key: "k".into(),
        from: from.into(),
        to: to.into(),
    };
    let swapped = at_other
        .op(session.clone(), 2, cas("a", "b"), linearizable)
        .await
        .expect("cas");
    assert_eq!(swapped.swapped, Some(true));
    let refused = at_other
        .op(session.clone(), 3, cas("a", "c"), linearizable)
        .await
        .expect("cas");
    assert_eq!(refused.swapped, Some(false), "k holds b now");
    let get = RegisterOp::Get { key: "k".into() };
    let read = at_follower
        .op(session.clone(), 4, get.clone(), linearizable)
        .await
        .expect("get");
    assert_eq!(
        (read.value.as_deref(), read.index.is_some()),
        (Some("b"), true)
    );
    let local = cluster
        .client(leader)
        .await
        .op(SessionId::new("c2").unwrap(), 1, get, ReadMode::Local)
        .await
        .expect("a local read");
    assert_eq!((local.value.as_deref(), local.index), (Some("b"), None));
    // Too large to replicate in one message: refused at once, never proposed.
    let huge = RegisterOp::Set {
        key: "k".into(),
        value: "x".repeat(4096),
    };
    let e = at_follower
        .op(session.clone(), 5, huge, linearizable)
        .await
        .expect_err("too large");
    assert!(e.to_string().contains("exceeds the limit"), "{e}");
    // An older request of the session is refused as stale, not applied.
    let stale = at_follower
        .op(session, 2, cas("b", "z"), linearizable)
        .await;
    assert!(stale.is_err(), "{stale:?}");

    at_follower
        .submit(vec!["one".into(), "two".into()])
        .await
        .expect("submit");
    cluster
        .wait_for(Duration::from_secs(10), "both lines everywhere", |all| {
            all.iter().all(|s| s.chat_len == 2)
        })
        .await;
    for i in 0..3 {
        let chat = cluster.client(i).await.chat().await.expect("chat");
        assert_eq!(chat, ["one", "two"], "n{i}");
    }
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
    let r = c
        .raw(b"{\"cmd\":\"st\xffatus\"}")
        .await
        .expect("a response line");
    assert!(r.error.is_some_and(|e| e.contains("not UTF-8")));
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
async fn a_second_node_cannot_take_over_a_live_control_socket() {
    let cluster = Cluster::launch(1).await;
    let sock = cluster.sock(0);
    let log_path = cluster.nodes.logs_dir().join("second.log");
    let mut second = by_hand(&cluster.spec, 1, &sock, &[], &log_path);
    let status = exit_within(
        second.wait(),
        Duration::from_secs(20),
        "a node on a taken socket",
    )
    .await;
    let message = std::fs::read_to_string(&log_path).expect("its log");
    assert_eq!(status.code(), Some(1), "{message}");
    let expected = format!(
        "control socket {} is in use by a running process",
        sock.display()
    );
    assert!(message.contains(&expected), "{message}");
    let status = cluster.client(0).await.status().await;
    assert_eq!(status.expect("the first node still answers").id, "n0");
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_and_sigint_make_a_node_exit_cleanly_and_remove_its_socket_file() {
    let mut cluster = Cluster::launch(2).await;
    for (i, signal) in [(0, libc::SIGTERM), (1, libc::SIGINT)] {
        let pid = cluster.pid(i);
        cluster.gone.insert(i);
        // SAFETY: kill(2) has no memory-safety preconditions.
        assert_eq!(unsafe { libc::kill(pid as libc::pid_t, signal) }, 0);
        let status = exit_within(
            cluster.nodes.wait(&id(i)),
            Duration::from_secs(20),
            "a signalled node",
        )
        .await;
        assert!(status.success(), "signal {signal}: {status:?}");
        assert!(
            !cluster.sock(i).exists(),
            "signal {signal} left the socket file"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cluster_keeps_working_through_a_signaling_outage_and_rejoins_the_restarted_server() {
    let mut cluster = up(3).await;
    let server = cluster.signaling.take().expect("the test's server");
    let restart = server.restart_config();
    server.shutdown().await.expect("signaling stops");
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
    assert!(all.iter().all(|s| !s.signaling_connected));
    let server = Server::bind(restart)
        .await
        .expect("the server restarts on its address")
        .spawn();
    cluster.signaling = Some(server);
    let members: Vec<String> = (0..3).map(id).collect();
    cluster
        .wait_for(
            Duration::from_secs(20),
            "every node back on signaling, the cluster whole",
            |all| all.iter().all(|s| s.signaling_connected) && settled(all, &members),
        )
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_partition_into_three_and_two_leaves_a_leader_only_on_the_three_side() {
    let cluster = up(5).await;
    let (_, leader, old_term) = leader_of(&cluster.statuses().await);
    // The old leader on the minority side: it must step down there, not just stay put.
    let buddy = (leader + 1) % 5;
    let minority = [leader, buddy];
    let majority: Vec<usize> = (0..5).filter(|i| !minority.contains(i)).collect();
    let group = |nodes: &[usize]| nodes.iter().map(|&i| id(i)).collect::<Vec<_>>().join("+");
    let split: NetSpec = format!("{}|{}:down", group(&majority), group(&minority))
        .parse()
        .expect("a split spec");
    for i in 0..5 {
        cluster
            .client(i)
            .await
            .set_net(split.clone())
            .await
            .expect("set_net");
    }
    let majority_ids: Vec<String> = majority.iter().map(|&i| id(i)).collect();
    let minority_ids: Vec<String> = minority.iter().map(|&i| id(i)).collect();
    cluster
        .wait_for(
            Duration::from_secs(20),
            "a new leader on the three-side and none on the two-side",
            |all| {
                let side = |ids: &[String]| -> Vec<&Status> {
                    all.iter().filter(|s| ids.contains(&s.id)).collect()
                };
                let three = side(&majority_ids);
                let two = side(&minority_ids);
                let leaders: Vec<&&Status> = three
                    .iter()
                    .filter(|s| s.role == Some(Role::Leader) && s.term > old_term)
                    .collect();
                leaders.len() == 1
                    && three
                        .iter()
                        .all(|s| s.leader.as_deref() == Some(leaders[0].id.as_str()))
                    && two.iter().all(|s| s.role != Some(Role::Leader))
            },
        )
        .await;
    // Held until ICE consent fails on the cut links (the mesh's disconnect timeout): the
    // heal must bring back links that really went down.
    cluster
        .wait_for(Duration::from_secs(20), "the cut links down", |all| {
            all.iter()
                .filter(|s| minority_ids.contains(&s.id))
                .all(|s| s.peers.iter().all(|p| minority_ids.contains(p)))
        })
        .await;
    for i in 0..5 {
        cluster
            .client(i)
            .await
            .set_net(NetSpec::none())
            .await
            .expect("heal");
    }
    let members: Vec<String> = (0..5).map(id).collect();
    cluster
        .wait_for(
            Duration::from_secs(30),
            "one cluster again after the heal",
            |all| settled(all, &members) && all.iter().all(|s| s.peers.len() == 4),
        )
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_node_killed_and_restarted_from_disk_keeps_every_acknowledged_line() {
    let launcher = ProcessLauncher::with_program(raftrtc());
    let mut cluster = started(Cluster::launch_using(launcher, 3, false, true).await).await;
    let (_, leader, _) = leader_of(&cluster.statuses().await);
    let lines: Vec<String> = (0..4).map(|k| format!("acknowledged {k}")).collect();
    cluster
        .client(leader)
        .await
        .submit(lines)
        .await
        .expect("acknowledged");
    for i in 0..3 {
        cluster.kill(i).await;
    }
    for i in 0..3 {
        cluster.nodes.restart(&id(i)).await.expect("restart");
        cluster.gone.remove(&i);
    }
    let members: Vec<String> = (0..3).map(id).collect();
    cluster
        .wait_for(
            Duration::from_secs(30),
            "the cluster up again with the four lines",
            |all| settled(all, &members) && all.iter().all(|s| s.chat_len == 4) && converged(all),
        )
        .await;
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
    let pids: Vec<u32> = cluster.live().into_iter().map(|i| cluster.pid(i)).collect();
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

/// Not part of the default run (a measurement): the memory of a node that
/// has 200 subscribers that never read, during a 10,000-line submit at it.
/// `RAFTRTC_NODE_BIN=<raftrtc>` measures another build of the node.
/// `cargo test -p bench --test node_processes -- --ignored --nocapture never_read`
#[tokio::test(flavor = "multi_thread")]
#[ignore]
async fn two_hundred_subscribers_that_never_read_during_a_10000_line_submit() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let exe = std::env::var_os("RAFTRTC_NODE_BIN").map_or_else(
        || PathBuf::from(env!("CARGO_BIN_EXE_raftrtc")),
        PathBuf::from,
    );
    let launcher = ProcessLauncher::with_program(exe.clone());
    let cluster = started(Cluster::launch_using(launcher, 3, false, false).await).await;
    let all = cluster.statuses().await;
    let at = all
        .iter()
        .position(|s| s.role == Some(Role::Follower))
        .expect("a follower");
    let at: usize = all[at].id[1..].parse().expect("nN id");
    let pid = cluster.pid(at);
    let before = rss_kib(pid).expect("rss");
    let mut silent = Vec::new();
    for _ in 0..200 {
        let mut s = tokio::net::UnixStream::connect(cluster.sock(at))
            .await
            .expect("connects");
        s.write_all(b"{\"cmd\":\"subscribe\"}\n")
            .await
            .expect("subscribes");
        silent.push(s);
    }
    let lines: Vec<String> = (0..10_000)
        .map(|k| format!("line {k:05} of 10000"))
        .collect();
    let t0 = Instant::now();
    let mut client = cluster.client(at).await;
    let submitted = tokio::time::timeout(Duration::from_secs(600), client.submit(lines))
        .await
        .expect("the submit completes")
        .expect("submit");
    let took = t0.elapsed();
    let (after, peak) = (rss_kib(pid).expect("rss"), peak_rss_kib(pid).expect("hwm"));
    let ended = futures_util::future::join_all(silent.iter_mut().map(|s| async move {
        let mut sink = Vec::new();
        let end = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut sink)).await;
        matches!(end, Ok(Ok(_)))
    }))
    .await;
    let mib = |k: u64| k as f64 / 1024.0;
    println!(
        "{}: {} lines in {took:?}; RSS {:.1} MiB before, {:.1} MiB after, peak {:.1} MiB; \
         {} of 200 silent subscribers disconnected",
        exe.display(),
        submitted.lines,
        mib(before),
        mib(after),
        mib(peak),
        ended.iter().filter(|e| **e).count()
    );
}

/// Peak resident set size of a process in KiB (VmHWM).
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
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

/// Starts node `n{i}` beside `cluster`, on its signaling key, with `extra` flags; it is killed
/// with the cluster. Returns its index.
fn spawn_beside(cluster: &mut Cluster, extra: &[&str]) -> usize {
    let i = cluster.len();
    let dir = cluster.nodes.logs_dir();
    let control = dir.join(format!("{}.sock", id(i)));
    let log = dir.join(format!("{}.log", id(i)));
    let child = by_hand(&cluster.spec, i, &control, extra, &log);
    cluster.beside.push(Beside { control, child });
    i
}

/// Polls one node's status until `done` holds (bounded: the bound only guards a hang).
async fn wait_status(c: &mut ControlClient, what: &str, done: impl Fn(&Status) -> bool) -> Status {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status = c.status().await.expect("status");
        if done(&status) {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {status:#?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_first_node_is_refused_beside_a_running_cluster() {
    let mut cluster = up(3).await;
    let i = spawn_beside(&mut cluster, &["--first"]);
    let mut c = cluster.client(i).await;
    wait_status(&mut c, "the members' hellos", |s| {
        s.peer_clusters.values().filter(|c| *c != "none").count() == 3
    })
    .await;
    let refused = c.start().await.expect_err("a second bootstrap is refused");
    let said = refused.to_string();
    assert!(
        said.contains("refusing to bootstrap") && said.contains("--force-bootstrap"),
        "{said}"
    );
    cluster.gone.insert(i);
    let refused = cluster.started_by_hand(i);
    let status = exit_within(refused.wait(), Duration::from_secs(20), "the refused node").await;
    assert_eq!(status.code(), Some(1));
    let members: Vec<String> = (0..3).map(id).collect();
    cluster
        .wait_for(
            Duration::from_secs(20),
            "the first cluster, untouched",
            |all| settled(all, &members),
        )
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_forced_second_cluster_never_mixes_with_the_first() {
    let mut cluster = up(3).await;
    let members: Vec<String> = (0..3).map(id).collect();
    let i = spawn_beside(&mut cluster, &["--first", "--force-bootstrap"]);
    let mut c = cluster.client(i).await;
    wait_status(&mut c, "links to the members", |s| s.peers.len() == 3).await;
    c.start().await.expect("a forced bootstrap starts");
    let forced = wait_status(&mut c, "the members known as foreign", |s| {
        s.foreign_peers == members && s.role == Some(Role::Leader)
    })
    .await;
    assert_eq!(forced.applied_members, [id(i)]);
    let all = cluster
        .wait_for(
            Duration::from_secs(20),
            "n3 known as foreign, 3 members",
            |all| {
                let first: Vec<Status> = all.iter().filter(|s| s.id != id(i)).cloned().collect();
                settled(&first, &members)
                    && converged(&first)
                    && first.iter().all(|s| s.foreign_peers == [id(i)])
            },
        )
        .await;
    for s in all.iter().filter(|s| s.id != id(i)) {
        assert!(s.cluster.is_some() && s.cluster != forced.cluster, "{s:?}");
        assert_ne!(s.log_hash, forced.log_hash, "logs never mix");
    }
}
