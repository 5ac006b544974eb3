//! Loopback tests of `node::mesh`: several meshes in one process, their signals routed by an
//! in-memory router task instead of a signaling server.
//!
//! Timeouts here are generous upper bounds meant to catch hangs, never speed assertions; the
//! `#[ignore]`d tests at the end print link-open and formation timings for the issue notes
//! (`cargo test -p node --test mesh_loopback -- --ignored --nocapture`).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;
use node::mesh::{Mesh, MeshConfig, MeshError, MeshEvent, OutgoingSignal, SignalKind};
use serde_json::{json, Value};
use tokio::runtime::Handle;
use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender};

/// Upper bound for anything that should happen "soon"; only hit when something is broken.
const PATIENCE: Duration = Duration::from_secs(20);

type Inbox = UnboundedSender<(String, SignalKind, Value)>;

/// Routes every mesh's outgoing signals to the addressed mesh, in order per destination, and
/// hands all other events to the test.
#[derive(Clone, Default)]
struct Router {
    inboxes: Arc<Mutex<HashMap<String, Inbox>>>,
    /// Every signal routed, for assertions on payload shapes.
    log: Arc<Mutex<Vec<(String, OutgoingSignal)>>>,
}

impl Router {
    /// Plugs `mesh` in. Its incoming signals are handled by a task spawned on `runtime`, so a
    /// mesh living on its own runtime keeps all of its work there.
    fn add(
        &self,
        mesh: &Mesh,
        mut events: UnboundedReceiver<MeshEvent>,
        runtime: &Handle,
    ) -> UnboundedReceiver<MeshEvent> {
        let id = mesh.local_id().to_owned();
        let (inbox_tx, mut inbox_rx) = mpsc::unbounded_channel::<(String, SignalKind, Value)>();
        self.inboxes
            .lock()
            .expect("router lock")
            .insert(id.clone(), inbox_tx);
        let receiver = mesh.clone();
        runtime.spawn(async move {
            while let Some((src, kind, payload)) = inbox_rx.recv().await {
                // Errors (e.g. a candidate for a link that was just replaced) are part of life.
                let _ = receiver.handle_signal(&src, kind, payload).await;
            }
        });
        let (out_tx, out_rx) = mpsc::unbounded_channel();
        let router = self.clone();
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                match event {
                    MeshEvent::Signal(signal) => router.route(&id, signal),
                    other => {
                        let _ = out_tx.send(other);
                    }
                }
            }
        });
        out_rx
    }

    fn route(&self, src: &str, signal: OutgoingSignal) {
        self.log
            .lock()
            .expect("router log")
            .push((src.to_owned(), signal.clone()));
        let inbox = self
            .inboxes
            .lock()
            .expect("router lock")
            .get(&signal.dst)
            .cloned();
        if let Some(inbox) = inbox {
            let _ = inbox.send((src.to_owned(), signal.kind, signal.payload));
        }
    }

    fn signals(&self) -> Vec<(String, OutgoingSignal)> {
        self.log.lock().expect("router log").clone()
    }
}

/// One mesh plus the non-signal events it produced.
struct Node {
    mesh: Mesh,
    events: UnboundedReceiver<MeshEvent>,
}

impl Node {
    fn new(router: &Router, cfg: MeshConfig) -> Result<Node> {
        Self::on(router, cfg, &Handle::current())
    }

    fn on(router: &Router, cfg: MeshConfig, runtime: &Handle) -> Result<Node> {
        let (mesh, events) = Mesh::new(cfg)?;
        let events = router.add(&mesh, events, runtime);
        Ok(Node { mesh, events })
    }

    /// Waits for the first event `pick` maps to `Some`, discarding others.
    async fn wait_for<T>(
        &mut self,
        what: &str,
        mut pick: impl FnMut(&MeshEvent) -> Option<T>,
    ) -> Result<T> {
        let id = self.mesh.local_id().to_owned();
        tokio::time::timeout(PATIENCE, async {
            while let Some(event) = self.events.recv().await {
                if let Some(found) = pick(&event) {
                    return Ok(found);
                }
            }
            bail!("{id}: event stream ended while waiting for {what}")
        })
        .await
        .with_context(|| format!("{id}: timed out waiting for {what}"))?
    }

    async fn wait_up(&mut self, peer: &str) -> Result<()> {
        self.wait_for(&format!("PeerUp({peer})"), |e| match e {
            MeshEvent::PeerUp { peer: p } if p == peer => Some(()),
            _ => None,
        })
        .await
    }

    async fn wait_down(&mut self, peer: &str) -> Result<String> {
        self.wait_for(&format!("PeerDown({peer})"), |e| match e {
            MeshEvent::PeerDown { peer: p, reason } if p == peer => Some(reason.clone()),
            _ => None,
        })
        .await
    }

    async fn wait_message(&mut self) -> Result<(String, Bytes)> {
        self.wait_for("a message", |e| match e {
            MeshEvent::Message { from, data } => Some((from.clone(), data.clone())),
            _ => None,
        })
        .await
    }
}

fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// Connects every pair (both sides call `connect`, as presence would make them do).
async fn connect_all(nodes: &[Node]) -> Result<()> {
    for a in nodes {
        for b in nodes {
            if a.mesh.local_id() != b.mesh.local_id() {
                a.mesh.connect(b.mesh.local_id()).await?;
            }
        }
    }
    Ok(())
}

/// Waits until every node has seen every other node come up (`PeerUp`, then its
/// `LinkTiming`); returns the offerer-side open time of every link.
async fn wait_full_mesh(nodes: &mut [Node]) -> Result<Vec<Duration>> {
    let ids: Vec<String> = nodes.iter().map(|n| n.mesh.local_id().to_owned()).collect();
    let mut opens = Vec::new();
    for node in nodes.iter_mut() {
        let me = node.mesh.local_id().to_owned();
        let mut missing: HashSet<String> = ids.iter().filter(|id| **id != me).cloned().collect();
        while !missing.is_empty() {
            let (peer, open, offerer) = node
                .wait_for("LinkTiming", |e| match e {
                    MeshEvent::LinkTiming { peer, open, phases } => {
                        Some((peer.clone(), *open, phases.offerer))
                    }
                    _ => None,
                })
                .await
                .with_context(|| format!("{me} still misses {missing:?}"))?;
            missing.remove(&peer);
            if offerer {
                opens.push(open);
            }
        }
    }
    Ok(opens)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_peers_exchange_messages_both_ways() -> Result<()> {
    init_tracing();
    let router = Router::default();
    let mut a = Node::new(&router, MeshConfig::new("alice"))?;
    let mut b = Node::new(&router, MeshConfig::new("bob"))?;

    // Both call connect; only "alice" (the lower id) offers. Calling twice is harmless.
    b.mesh.connect("alice").await?;
    a.mesh.connect("bob").await?;
    a.mesh.connect("bob").await?;
    a.wait_up("bob").await?;
    b.wait_up("alice").await?;
    assert_eq!(a.mesh.connected_peers(), vec!["bob".to_owned()]);
    assert_eq!(b.mesh.connected_peers(), vec!["alice".to_owned()]);

    let signals = router.signals();
    let offers: Vec<_> = signals
        .iter()
        .filter(|(_, s)| s.kind == SignalKind::Offer)
        .collect();
    assert_eq!(offers.len(), 1, "exactly one offer: {offers:?}");
    let (src, offer) = offers[0];
    assert_eq!((src.as_str(), offer.dst.as_str()), ("alice", "bob"));
    let p = &offer.payload;
    assert_eq!(p["sdp"]["type"], "offer");
    assert!(p["sdp"]["sdp"]
        .as_str()
        .is_some_and(|s| s.starts_with("v=0")));
    assert_eq!(p["type"], "data");
    assert_eq!(p["label"], "raft");
    assert_eq!(p["reliable"], true);
    assert_eq!(p["serialization"], "binary");
    let conn = p["connectionId"].as_str().context("connectionId")?;
    assert!(conn.starts_with("dc_"));
    let candidate = signals
        .iter()
        .find(|(_, s)| s.kind == SignalKind::Candidate)
        .context("a trickled candidate")?;
    assert!(candidate.1.payload["candidate"]["candidate"]
        .as_str()
        .is_some_and(|c| c.starts_with("candidate:")));
    assert!(candidate.1.payload["connectionId"] == conn);

    for i in 0..100u32 {
        a.mesh.send("bob", Bytes::from(format!("a{i}")))?;
        b.mesh.send("alice", Bytes::from(format!("b{i}")))?;
    }
    for i in 0..100u32 {
        assert_eq!(
            b.wait_message().await?,
            ("alice".to_owned(), Bytes::from(format!("a{i}")))
        );
        assert_eq!(
            a.wait_message().await?,
            ("bob".to_owned(), Bytes::from(format!("b{i}")))
        );
    }
    // A message of exactly `max_message_bytes` goes through whole.
    let big = Bytes::from(vec![0x5a; MeshConfig::new("x").max_message_bytes]);
    a.mesh.send("bob", big.clone())?;
    assert_eq!(b.wait_message().await?, ("alice".to_owned(), big));
    assert!(matches!(
        a.mesh.send("carol", Bytes::from_static(b"x")),
        Err(MeshError::PeerNotConnected(_))
    ));

    a.mesh.close().await;
    b.mesh.close().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_idle_link_outlives_its_open_timeout() -> Result<()> {
    init_tracing();
    let router = Router::default();
    let cfg = |id: &str| {
        let mut cfg = MeshConfig::new(id);
        cfg.open_timeout = Duration::from_millis(300);
        // Short liveness timers, so the idle wait below spans several
        // keepalives and disconnect timeouts (the defaults are 1 s and 3 s).
        cfg.keepalive_interval = Duration::from_millis(200);
        cfg.disconnect_timeout = Duration::from_millis(500);
        cfg
    };
    let mut a = Node::new(&router, cfg("a"))?;
    let mut b = Node::new(&router, cfg("b"))?;
    a.mesh.connect("b").await?;
    a.wait_up("b").await?;
    b.wait_up("a").await?;
    // Idle for several open timeouts and keepalive periods: nothing may go down.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(a.mesh.connected_peers(), vec!["b".to_owned()]);
    a.mesh.send("b", Bytes::from_static(b"still up"))?;
    assert_eq!(
        b.wait_message().await?,
        ("a".to_owned(), Bytes::from_static(b"still up"))
    );
    while let Ok(event) = a.events.try_recv() {
        assert!(!matches!(event, MeshEvent::PeerDown { .. }), "{event:?}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_node_full_mesh_delivers_with_the_right_sender() -> Result<()> {
    init_tracing();
    let router = Router::default();
    let mut nodes = (0..5)
        .map(|i| Node::new(&router, MeshConfig::new(format!("n{i}"))))
        .collect::<Result<Vec<_>>>()?;
    connect_all(&nodes).await?;
    let opens = wait_full_mesh(&mut nodes).await?;
    assert_eq!(opens.len(), 10, "one offerer-side timing per link");
    for node in &nodes {
        assert_eq!(node.mesh.connected_peers().len(), 4);
    }

    for a in &nodes {
        for b in &nodes {
            let (from, to) = (a.mesh.local_id(), b.mesh.local_id());
            if from != to {
                a.mesh.send(to, Bytes::from(format!("{from}->{to}")))?;
            }
        }
    }
    for node in &mut nodes {
        let me = node.mesh.local_id().to_owned();
        let mut seen = HashSet::new();
        for _ in 0..4 {
            let (from, data) = node.wait_message().await?;
            assert_eq!(
                data,
                Bytes::from(format!("{from}->{me}")),
                "sender is the link's peer"
            );
            assert!(seen.insert(from));
        }
    }
    for node in &nodes {
        node.mesh.close().await;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_or_killing_a_mesh_makes_the_others_report_peer_down() -> Result<()> {
    init_tracing();
    let router = Router::default();
    // "z" lives on its own runtime, so shutting that runtime down kills it like SIGKILL: its
    // sockets vanish and nothing says goodbye.
    let victim_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let mut nodes = vec![
        Node::new(&router, MeshConfig::new("a"))?,
        Node::new(&router, MeshConfig::new("b"))?,
        Node::on(&router, MeshConfig::new("z"), victim_rt.handle())?,
    ];
    connect_all(&nodes).await?;
    wait_full_mesh(&mut nodes).await?;
    let z = nodes.pop().context("victim")?;

    let killed = Instant::now();
    victim_rt.shutdown_background();
    for node in &mut nodes {
        let reason = node.wait_down("z").await?;
        eprintln!(
            "{} saw z down {:?} after the kill ({reason})",
            node.mesh.local_id(),
            killed.elapsed()
        );
    }
    assert_eq!(nodes[0].mesh.connected_peers(), vec!["b".to_owned()]);
    assert_eq!(nodes[1].mesh.connected_peers(), vec!["a".to_owned()]);

    // A graceful close is noticed at once (LEAVE, then the channel closing).
    let closed = Instant::now();
    nodes[1].mesh.close().await;
    let reason = nodes[0].wait_down("b").await?;
    eprintln!(
        "a saw b down {:?} after b closed ({reason})",
        closed.elapsed()
    );
    assert!(nodes[0].mesh.connected_peers().is_empty());
    drop(z);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiet_link_with_default_timers_stays_up_and_still_carries_messages() -> Result<()> {
    init_tracing();
    let router = Router::default();
    let mut a = Node::new(&router, MeshConfig::new("a"))?;
    let mut b = Node::new(&router, MeshConfig::new("b"))?;
    a.mesh.connect("b").await?;
    a.wait_up("b").await?;
    b.wait_up("a").await?;
    // Quiet after 1.5 s, then ICE ticks on 1 s steps, only the answerer keeping alive: over 8 s,
    // more than twice the disconnect timeout, neither end may see the link go.
    tokio::time::sleep(Duration::from_secs(8)).await;
    for node in [&mut a, &mut b] {
        while let Ok(event) = node.events.try_recv() {
            assert!(
                !matches!(
                    event,
                    MeshEvent::PeerDown { .. } | MeshEvent::LinkFailed { .. }
                ),
                "{}: {event:?}",
                node.mesh.local_id()
            );
        }
    }
    a.mesh.send("b", Bytes::from_static(b"after the quiet"))?;
    assert_eq!(
        b.wait_message().await?,
        ("a".to_owned(), Bytes::from_static(b"after the quiet"))
    );
    Ok(())
}

/// Two linked meshes, `a` offering to `b`, both with `net` in force.
async fn linked_pair(router: &Router, net: &str, disconnect: Duration) -> Result<(Node, Node)> {
    let cfg = |id: &str| {
        let mut cfg = MeshConfig::new(id);
        cfg.net = net.parse().expect("a valid spec");
        cfg.disconnect_timeout = disconnect;
        cfg.keepalive_interval = disconnect / 4;
        cfg
    };
    let mut a = Node::new(router, cfg("a"))?;
    let mut b = Node::new(router, cfg("b"))?;
    a.mesh.connect("b").await?;
    a.wait_up("b").await?;
    b.wait_up("a").await?;
    Ok((a, b))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delayed_link_round_trips_in_at_least_twice_its_delay() -> Result<()> {
    init_tracing();
    let router = Router::default();
    let (mut a, mut b) = linked_pair(&router, "delay=50ms", Duration::from_secs(3)).await?;
    for i in 0..3 {
        let sent = Instant::now();
        a.mesh.send("b", Bytes::from(format!("ping {i}")))?;
        let (_, ping) = b.wait_message().await?;
        b.mesh.send("a", ping)?;
        a.wait_message().await?;
        let rtt = sent.elapsed();
        assert!(rtt >= Duration::from_millis(100), "round trip {i}: {rtt:?}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_link_goes_down_and_comes_back_once_healed() -> Result<()> {
    init_tracing();
    let router = Router::default();
    let (mut a, mut b) = linked_pair(&router, "none", Duration::from_millis(800)).await?;
    // Only what a sends to b is lost: consent fails on both ends all the same.
    a.mesh.set_net("a>b:loss=100%".parse()?);
    assert_eq!(a.mesh.net().to_string(), "a>b:loss=100%");
    b.wait_down("a").await?;
    a.wait_down("b").await?;
    a.mesh.set_net("none".parse()?);
    a.mesh.connect("b").await?;
    a.wait_up("b").await?;
    b.wait_up("a").await?;
    a.mesh.send("b", Bytes::from_static(b"healed"))?;
    assert_eq!(b.wait_message().await?.1, Bytes::from_static(b"healed"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_peer_replaces_its_old_connection() -> Result<()> {
    init_tracing();
    let router = Router::default();
    let old_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    // "a" offers to "b"; then "a" dies silently and comes back before "b" noticed.
    let old_a = Node::on(&router, MeshConfig::new("a"), old_rt.handle())?;
    let mut b = Node::new(&router, MeshConfig::new("b"))?;
    let offer = old_a.mesh.clone();
    old_rt
        .spawn(async move { offer.connect("b").await })
        .await??;
    b.wait_up("a").await?;
    old_rt.shutdown_background();

    let mut a = Node::new(&router, MeshConfig::new("a"))?;
    a.mesh.connect("b").await?;
    let reason = b.wait_down("a").await?;
    assert!(reason.contains("replaced"), "{reason}");
    b.wait_up("a").await?;
    a.wait_up("b").await?;
    a.mesh.send("b", Bytes::from_static(b"hello again"))?;
    assert_eq!(
        b.wait_message().await?,
        ("a".to_owned(), Bytes::from_static(b"hello again"))
    );
    b.mesh.send("a", Bytes::from_static(b"welcome back"))?;
    assert_eq!(
        a.wait_message().await?,
        ("b".to_owned(), Bytes::from_static(b"welcome back"))
    );
    assert_eq!(b.mesh.connected_peers(), vec!["a".to_owned()]);

    // After a clean PeerDown the same pair can connect again.
    a.mesh.disconnect("b").await;
    b.wait_down("a").await?;
    a.wait_down("b").await?;
    a.mesh.connect("b").await?;
    a.wait_up("b").await?;
    b.wait_up("a").await?;
    drop(old_a);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_signals_are_errors_and_the_mesh_keeps_working() -> Result<()> {
    init_tracing();
    let router = Router::default();
    let mut a = Node::new(&router, MeshConfig::new("a"))?;
    let mut b_cfg = MeshConfig::new("b");
    b_cfg.max_message_bytes = 1000;
    let mut b = Node::new(&router, b_cfg)?;

    let garbage = [
        (SignalKind::Offer, json!({"sdp": "garbage"})),
        (
            SignalKind::Offer,
            json!({"sdp": {"type": "offer", "sdp": "v=0\r\nnonsense"}, "type": "data", "connectionId": "dc_x"}),
        ),
        (SignalKind::Offer, Value::Null),
        (
            SignalKind::Answer,
            json!({"sdp": {"type": "answer", "sdp": "v=0"}, "type": "data", "connectionId": "dc_unknown"}),
        ),
        (SignalKind::Answer, json!([1, 2, 3])),
        (
            SignalKind::Candidate,
            json!({"candidate": {"candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host"}, "type": "data", "connectionId": "dc_unknown"}),
        ),
        (SignalKind::Candidate, json!("candidate")),
    ];
    for (kind, payload) in garbage {
        let result = a.mesh.handle_signal("b", kind, payload.clone()).await;
        assert!(result.is_err(), "{kind:?} {payload} was accepted");
    }
    assert!(matches!(
        a.mesh
            .handle_signal("a", SignalKind::Offer, Value::Null)
            .await,
        Err(MeshError::InvalidPeerId(_))
    ));
    assert!(matches!(
        a.mesh
            .handle_signal("", SignalKind::Leave, Value::Null)
            .await,
        Err(MeshError::InvalidPeerId(_))
    ));
    // LEAVE for a peer we have no link with is a no-op.
    a.mesh
        .handle_signal("b", SignalKind::Leave, Value::Null)
        .await?;

    a.mesh.connect("b").await?;
    a.wait_up("b").await?;
    b.wait_up("a").await?;

    // A forged candidate for a live link's wrong connection is refused; the link survives.
    let forged = json!({"candidate": {"candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host"}, "type": "data", "connectionId": "dc_forged"});
    assert!(b
        .mesh
        .handle_signal("a", SignalKind::Candidate, forged)
        .await
        .is_err());

    // Oversized: refused at our sender, dropped and counted at the receiver.
    assert!(matches!(
        b.mesh.send("a", Bytes::from(vec![0u8; 1001])),
        Err(MeshError::MessageTooLarge { .. })
    ));
    a.mesh.send("b", Bytes::from(vec![7u8; 5000]))?;
    a.mesh.send("b", Bytes::from_static(b"small"))?;
    assert_eq!(
        b.wait_message().await?,
        ("a".to_owned(), Bytes::from_static(b"small"))
    );
    assert_eq!(b.mesh.dropped_oversized(), 1);

    b.mesh.send("a", Bytes::from_static(b"still here"))?;
    assert_eq!(
        a.wait_message().await?,
        ("b".to_owned(), Bytes::from_static(b"still here"))
    );
    a.mesh.close().await;
    assert!(matches!(a.mesh.connect("b").await, Err(MeshError::Closed)));
    Ok(())
}

/// User+system CPU time of this process (Linux `/proc/self/stat`, 100 Hz ticks).
fn process_cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// Resident set size of this process in KiB.
fn process_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// Configuration for the timing reports, with environment overrides for experiments:
/// `MESH_LIBRARY_TIMERS=1` uses webrtc-rs's default ICE timers (200 ms checks, 2 s keepalive,
/// 5 s/25 s disconnected/failed) and `MESH_CHECK_MS`, `MESH_KEEPALIVE_MS`, `MESH_DISCONNECT_MS` set those timers (ms).
fn profile_config(id: String) -> MeshConfig {
    let mut cfg = MeshConfig::new(id);
    if std::env::var_os("MESH_LIBRARY_TIMERS").is_some() {
        cfg.ice_check_interval = Duration::from_millis(200);
        cfg.keepalive_interval = Duration::from_secs(2);
        cfg.disconnect_timeout = Duration::from_secs(5);
        cfg.failed_timeout = Duration::from_secs(25);
    }
    let ms = |name: &str| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .map(Duration::from_millis)
    };
    if let Some(d) = ms("MESH_CHECK_MS") {
        cfg.ice_check_interval = d;
    }
    if let Some(d) = ms("MESH_KEEPALIVE_MS") {
        cfg.keepalive_interval = d;
    }
    if let Some(d) = ms("MESH_DISCONNECT_MS") {
        cfg.disconnect_timeout = d;
    }
    cfg
}

/// Opens links one at a time and prints the per-phase timings (for the link-open analysis).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "timing report, run with --ignored --nocapture"]
async fn link_open_phase_profile() -> Result<()> {
    init_tracing();
    let router = Router::default();
    let mut opens = Vec::new();
    let rounds: usize = std::env::var("MESH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    for round in 0..rounds {
        let mut a = Node::new(&router, profile_config(format!("a{round:02}")))?;
        let mut b = Node::new(&router, profile_config(format!("b{round:02}")))?;
        a.mesh.connect(b.mesh.local_id()).await?;
        let (open, phases) = a
            .wait_for("LinkTiming", |e| match e {
                MeshEvent::LinkTiming { open, phases, .. } => Some((*open, phases.clone())),
                _ => None,
            })
            .await?;
        let answerer = b
            .wait_for("LinkTiming", |e| match e {
                MeshEvent::LinkTiming { phases, .. } => Some(phases.clone()),
                _ => None,
            })
            .await?;
        eprintln!("round {round:2}: open {open:?}\n  {phases}\n  {answerer}");
        opens.push(open);
        a.mesh.close().await;
        b.mesh.close().await;
    }
    opens.sort();
    eprintln!(
        "link open over {} links: p50 {:?} p99 {:?} max {:?}",
        opens.len(),
        percentile(&opens, 50.0),
        percentile(&opens, 99.0),
        opens.last().copied().unwrap_or_default()
    );
    Ok(())
}

/// Forms a full mesh of `MESH_NODES` (default 21) nodes in one process and prints the
/// formation time and per-link open time percentiles.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "timing report, run with --ignored --nocapture"]
async fn large_full_mesh_formation() -> Result<()> {
    init_tracing();
    let n: usize = std::env::var("MESH_NODES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(21);
    let router = Router::default();
    let mut nodes = (0..n)
        .map(|i| Node::new(&router, profile_config(format!("n{i:02}"))))
        .collect::<Result<Vec<_>>>()?;
    let started = Instant::now();
    connect_all(&nodes).await?;
    let mut opens = wait_full_mesh(&mut nodes).await?;
    let formed = started.elapsed();
    opens.sort();
    eprintln!(
        "{n} nodes, {} links: all open after {formed:?}; per-link open p50 {:?} p99 {:?} max {:?}",
        opens.len(),
        percentile(&opens, 50.0),
        percentile(&opens, 99.0),
        opens.last().copied().unwrap_or_default()
    );
    if opens.len() != n * (n - 1) / 2 {
        return Err(anyhow!(
            "expected {} links, got {}",
            n * (n - 1) / 2,
            opens.len()
        ));
    }
    // Idle cost of the formed mesh (keepalives only): CPU and RSS of this whole process.
    let cpu_before = process_cpu_time();
    let wall = Instant::now();
    tokio::time::sleep(Duration::from_secs(5)).await;
    if let (Some(before), Some(after)) = (cpu_before, process_cpu_time()) {
        let share = (after - before).as_secs_f64() / wall.elapsed().as_secs_f64();
        eprintln!(
            "idle: {:.1}% of one core for {n} nodes ({:.2}% per node), RSS {} MiB",
            share * 100.0,
            share * 100.0 / n as f64,
            process_rss_kib().unwrap_or(0) / 1024
        );
    }
    for node in &nodes {
        node.mesh.close().await;
    }
    Ok(())
}
