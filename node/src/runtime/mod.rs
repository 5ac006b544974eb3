//! One node process: the Raft core wired to the WebRTC mesh, the signaling
//! client and the control socket.
//!
//! Everything runs on one event loop ([`run`]) that owns the core, so the
//! core needs no locks: mesh events, signaling events, control requests and
//! timers are handled one at a time, and after each the core's output is
//! drained — messages to the mesh, events to subscribers, replies to the chat
//! client. The node starts *paused*: it joins signaling and opens data
//! channels to every peer it learns of, but creates the Raft core only on the
//! control socket's `start` — or, with `--start` ([`NodeConfig::start_at_launch`]),
//! as soon as it joined signaling (a cold start). Once Raft runs, a node that
//! does not lead holds back its own offers while the cluster grows, so the
//! leader's links come first (`joining.rs`). It remembers when its control
//! socket began listening, when it joined signaling and when each link opened,
//! and reports them in `status` as well as in events, so a subscriber that came
//! after those moments still learns them. It stops on the socket's `shutdown`, on SIGTERM
//! or SIGINT (`signals.rs`), or when the core fails; its control socket file
//! goes with it.

pub mod chat;
pub mod config;
mod identity;
mod joining;
pub mod membership;
mod ops;
mod signals;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use bytes::Bytes;
use raftrtc_raft::{
    cluster_of, ClusterId, Event, MemStorage, Message, Raft, RaftError, Role, Storage, StorageError,
};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use signaling::{
    Client, ClientConfig, ClientError as SignalingError, ClientEvent, Namespace, Presence, Relay,
};
use tokio::sync::mpsc;

use crate::clock::monotonic_ns;
use crate::control::protocol::{
    Command, NodeEvent, OpResult, ReadMode, RegisterOp, Response, Status,
};
use crate::control::{ControlRequest, EventBus};
use crate::mesh::{LinkPhases, Mesh, MeshEvent, SignalKind};
use crate::storage::FileStorage;
use crate::wire::{self, Frame};

pub use config::NodeConfig;

use chat::{ChatClient, CHAT_KEY};
use identity::Identities;
use joining::DeferredOffers;
use ops::OpsClient;
use signals::StopSignals;

/// Why a node stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The control socket could not be opened.
    #[error(transparent)]
    Control(#[from] crate::control::BindError),
    /// SIGTERM/SIGINT could not be taken over.
    #[error("cannot handle signals: {0}")]
    Signals(std::io::Error),
    /// The signaling server refused us or could not be reached.
    #[error("signaling: {0}")]
    Signaling(#[from] signaling::ClientError),
    /// The WebRTC stack could not be set up.
    #[error("mesh: {0}")]
    Mesh(#[from] crate::mesh::MeshError),
    /// The Raft core failed (storage): the node stops rather than lie.
    #[error("raft: {0}")]
    Raft(#[from] RaftError),
    /// The durable storage could not be opened.
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    /// `--first` with an empty log where a cluster already runs on the signaling key.
    #[error(
        "refusing to bootstrap: peer {peer} on this signaling key already belongs to cluster \
         {cluster:016x} (join it without --first, or pass --force-bootstrap to start a separate \
         cluster)"
    )]
    ClusterExists {
        /// A peer of the running cluster.
        peer: String,
        /// Its cluster identity.
        cluster: ClusterId,
    },
}

type DynStorage = Box<dyn Storage + Send>;

/// Counters reported in `status`.
#[derive(Default)]
struct Counters {
    sent: BTreeMap<String, u64>,
    received: BTreeMap<String, u64>,
    dropped: u64,
    elections: u64,
}

struct Node {
    cfg: NodeConfig,
    mesh: Mesh,
    signaling: Client,
    signaling_up: bool,
    raft: Option<Raft<DynStorage>>,
    /// The storage opened at launch, handed to the core on `start`.
    storage: Option<DynStorage>,
    /// The cluster identity of the stored log (`None`: empty), known before `start`.
    stored_cluster: Option<ClusterId>,
    /// Whether the stored log was empty at launch (only then may `--first` bootstrap).
    stored_log_empty: bool,
    /// What the peers said of their clusters.
    identities: Identities,
    /// The identity last announced to the peers (a change is announced again).
    announced: Option<ClusterId>,
    epoch: Instant,
    /// Peers the signaling server says are in the cluster.
    presence: BTreeSet<String>,
    /// Peers with an open data channel.
    connected: BTreeSet<String>,
    /// Peers to `connect` again at the given time (after a failed link).
    reconnect: BTreeMap<String, Instant>,
    /// Offers held back while the cluster grows (`joining.rs`).
    deferred: DeferredOffers,
    /// The phases of the last link to each peer that opened.
    link_phases: BTreeMap<String, LinkPhases>,
    /// When the mesh was ready, just before dialling signaling (monotonic ns).
    mesh_ready_ns: u64,
    /// When the control socket began listening (monotonic ns).
    launched_ns: u64,
    /// When the node first joined signaling (monotonic ns).
    signaling_ns: u64,
    /// When each open link opened (monotonic ns), as its `PeerUp` said.
    link_up_ns: BTreeMap<String, u64>,
    counters: Counters,
    events: EventBus,
    chat: ChatClient,
    ops: OpsClient,
    next_membership_poll: Option<Instant>,
    /// Messages that arrived before `start`, replayed on start (the first
    /// AppendEntries of a leader that started a moment earlier must not wait
    /// for a heartbeat to be resent).
    early: Vec<(String, Bytes)>,
    /// Bytes held in `early`.
    early_bytes: usize,
    shutdown: bool,
}

/// At most this many bytes of messages are kept from before `start` (peers
/// fill this, so it is bounded in bytes, not in messages).
const MAX_EARLY_BYTES: usize = 4 * 1024 * 1024;

/// Runs a node until `shutdown` arrives on the control socket, SIGTERM or
/// SIGINT arrives, or the core fails.
pub async fn run(cfg: NodeConfig) -> Result<(), NodeError> {
    // Storage first: a damaged data directory stops the node at launch, with
    // the file named, before it joins anything.
    let storage: DynStorage = match &cfg.data_dir {
        Some(dir) if cfg.discard_lost_log => Box::new(FileStorage::open_discarding_lost(dir)?),
        Some(dir) => Box::new(FileStorage::open(dir)?),
        None => Box::new(MemStorage::default()),
    };
    #[cfg(feature = "planted-bugs")]
    let storage = crate::planted::storage(storage);
    let mut storage = storage;
    let (_, entries) = storage.load()?;
    let stored = (entries.first().and_then(cluster_of), entries.is_empty());
    drop(entries);
    let control = cfg.control.bind()?;
    let launched_ns = monotonic_ns();
    let mut stop = StopSignals::install().map_err(NodeError::Signals)?;
    let events = EventBus::new();
    let (control_tx, mut control_rx) = mpsc::channel(64);
    // Dropped on every way out of this function, and the socket file (if any) with it.
    let _serving = control.spawn(control_tx, events.clone());

    let (mesh, mut mesh_rx) = Mesh::new(cfg.mesh.clone())?;
    let mesh_ready_ns = monotonic_ns();
    let (signaling, mut sig_rx) = tokio::select! {
        joined = join_signaling(&cfg) => joined?,
        signal = stop.recv() => {
            tracing::info!("{signal} before joining signaling: exiting");
            return Ok(());
        }
    };
    let signaling_ns = monotonic_ns();
    events.publish_at(signaling_ns, NodeEvent::SignalingConnected);
    let mut node = Node::new(cfg, mesh, signaling, events, storage, stored);
    node.launched_ns = launched_ns;
    node.signaling_ns = signaling_ns;
    node.mesh_ready_ns = mesh_ready_ns;

    let mut result = if node.cfg.start_at_launch {
        node.start().and_then(|()| node.after_input())
    } else {
        Ok(())
    };
    if result.is_ok() {
        result = node
            .serve(&mut mesh_rx, &mut sig_rx, &mut control_rx, &mut stop)
            .await;
    }
    if let Err(e) = &result {
        tracing::error!("stopping: {e}");
        node.refuse_pending(&mut control_rx, &format!("the node stopped: {e}"));
    }
    node.mesh.close().await;
    node.signaling.close().await;
    result
}

impl Node {
    /// The event loop until shutdown or an error: one input, then every input already
    /// waiting (up to [`MAX_BATCH`]), then the output of them all.
    ///
    /// Why in batches: the leader of a loaded cluster takes many proposals (from its control
    /// socket and forwarded by followers) between two sends; handled together, their
    /// AppendEntries to each follower leave as one message (`fold_append` in the core), and
    /// the mesh's cost is per message, not per entry (results/load/).
    async fn serve(
        &mut self,
        mesh_rx: &mut mpsc::UnboundedReceiver<MeshEvent>,
        sig_rx: &mut mpsc::Receiver<ClientEvent>,
        control_rx: &mut mpsc::Receiver<ControlRequest>,
        stop: &mut StopSignals,
    ) -> Result<(), NodeError> {
        loop {
            let deadline = self.next_deadline();
            let sleep = tokio::time::sleep_until(deadline.map_or_else(
                || tokio::time::Instant::now() + Duration::from_secs(3600),
                tokio::time::Instant::from_std,
            ));
            let step = tokio::select! {
                Some(event) = mesh_rx.recv() => self.on_mesh(event).await,
                Some(event) = sig_rx.recv() => self.on_signaling(event).await,
                Some(request) = control_rx.recv() => self.on_control(request),
                signal = stop.recv() => {
                    tracing::info!("{signal}: leaving");
                    self.shutdown = true;
                    Ok(())
                }
                _ = sleep => self.on_timer().await,
            };
            step?;
            for _ in 0..MAX_BATCH {
                if self.shutdown {
                    break;
                }
                let more = if let Ok(event) = mesh_rx.try_recv() {
                    self.on_mesh(event).await
                } else if let Ok(request) = control_rx.try_recv() {
                    self.on_control(request)
                } else {
                    break;
                };
                more?;
            }
            self.after_input()?;
            if self.shutdown {
                return Ok(());
            }
        }
    }
}

/// Joins the cluster on the signaling server, with presence: pushed by raftrtc's server on
/// the cluster's own key, or polled, namespaced by the cluster on a shared key.
async fn join_signaling(
    cfg: &NodeConfig,
) -> Result<(Client, mpsc::Receiver<ClientEvent>), NodeError> {
    let key = cfg.signaling_key.as_ref().unwrap_or(&cfg.cluster);
    let mut sig_cfg = ClientConfig::new(cfg.signaling_url.clone(), key, cfg.raft.id.clone());
    if cfg.signaling_key.is_some() {
        sig_cfg.namespace = Namespace::new(cfg.cluster.clone());
    }
    sig_cfg.presence = match cfg.peers_poll {
        Some(interval) => Presence::Polled(interval),
        None => Presence::Pushed,
    };
    let patience = Instant::now() + JOIN_PATIENCE;
    let mut pause = Duration::from_millis(20);
    loop {
        match Client::connect(sig_cfg.clone()).await {
            Ok(joined) => {
                tracing::info!(id = %cfg.raft.id, cluster = %cfg.cluster, "joined signaling");
                return Ok(joined);
            }
            // A restarted node's previous session may not be gone yet (ID-TAKEN), and a
            // server being restarted refuses connections for a moment.
            Err(e @ (SignalingError::IdTaken | SignalingError::Connect(_)))
                if Instant::now() + pause < patience =>
            {
                tracing::debug!("joining signaling: {e}; retrying in {pause:?}");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(500));
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Most inputs handled after the first of a batch before its output is sent: enough to
/// gather the proposals of many clients, few enough that timers stay on time.
const MAX_BATCH: usize = 64;

/// How long a node keeps trying to join signaling while its id is still taken (by its own
/// previous, killed, process) or the server refuses connections (restarting).
const JOIN_PATIENCE: Duration = Duration::from_secs(10);

impl Node {
    fn new(
        cfg: NodeConfig,
        mesh: Mesh,
        signaling: Client,
        events: EventBus,
        storage: DynStorage,
        (stored_cluster, stored_log_empty): (Option<ClusterId>, bool),
    ) -> Self {
        let first_request = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_micros() as u64);
        let retry = cfg.raft.election_timeout;
        Node {
            cfg,
            mesh,
            signaling,
            signaling_up: true,
            raft: None,
            storage: Some(storage),
            stored_cluster,
            stored_log_empty,
            identities: Identities::default(),
            announced: stored_cluster,
            epoch: Instant::now(),
            presence: BTreeSet::new(),
            connected: BTreeSet::new(),
            reconnect: BTreeMap::new(),
            deferred: DeferredOffers::default(),
            link_phases: BTreeMap::new(),
            mesh_ready_ns: 0,
            launched_ns: 0,
            signaling_ns: 0,
            link_up_ns: BTreeMap::new(),
            counters: Counters::default(),
            events,
            chat: ChatClient::new(first_request, retry),
            ops: OpsClient::new(retry),
            next_membership_poll: None,
            early: Vec::new(),
            early_bytes: 0,
            shutdown: false,
        }
    }

    fn now(&self) -> Duration {
        self.epoch.elapsed()
    }

    /// Answers what the loop leaves unanswered when it stops on an error:
    /// pending submits and queued requests get `reason`, not a bare
    /// "shutting down".
    fn refuse_pending(&mut self, control_rx: &mut mpsc::Receiver<ControlRequest>, reason: &str) {
        self.chat.fail_all(reason);
        self.ops.fail_all(reason);
        control_rx.close();
        while let Ok(request) = control_rx.try_recv() {
            let _ = request.reply.send(Response::error(None, reason));
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        let raft = self
            .raft
            .as_ref()
            .and_then(|r| r.next_deadline())
            .map(|d| self.epoch + d);
        let deferred = self.deferred.deadline(joining::bound(
            self.cfg.raft.election_timeout,
            self.presence.len(),
        ));
        [
            raft,
            self.chat.deadline(),
            self.ops.deadline(),
            self.next_membership_poll,
            deferred,
        ]
        .into_iter()
        .chain(self.reconnect.values().copied().map(Some))
        .flatten()
        .min()
    }

    async fn on_timer(&mut self) -> Result<(), NodeError> {
        let now = self.now();
        if let Some(raft) = self.raft.as_mut() {
            raft.tick(now)?;
        }
        self.release_deferred();
        let due: Vec<String> = self
            .reconnect
            .iter()
            .filter(|(_, t)| **t <= Instant::now())
            .map(|(p, _)| p.clone())
            .collect();
        for peer in due {
            self.reconnect.remove(&peer);
            if self.presence.contains(&peer) && !self.connected.contains(&peer) {
                if let Err(e) = self.mesh.connect(&peer).await {
                    tracing::warn!(%peer, "reconnect failed: {e}");
                }
            }
        }
        if self
            .next_membership_poll
            .is_some_and(|t| t <= Instant::now())
        {
            self.drive_membership(true);
        }
        Ok(())
    }

    async fn on_mesh(&mut self, event: MeshEvent) -> Result<(), NodeError> {
        match event {
            MeshEvent::Signal(s) => {
                let kind = match s.kind {
                    SignalKind::Offer => Relay::Offer,
                    SignalKind::Answer => Relay::Answer,
                    SignalKind::Candidate => Relay::Candidate,
                    SignalKind::Leave => Relay::Leave,
                };
                if let Err(e) = self.signaling.send(&s.dst, kind, s.payload).await {
                    tracing::debug!(dst = %s.dst, "signal not sent: {e}");
                }
                return Ok(());
            }
            MeshEvent::PeerUp { peer } => {
                tracing::debug!(%peer, "peer up");
                self.send_frame(
                    &peer,
                    &Frame::Hello {
                        cluster: self.my_cluster(),
                    },
                );
                self.connected.insert(peer.clone());
                let now = monotonic_ns();
                self.link_up_ns.insert(peer.clone(), now);
                self.events.publish_at(now, NodeEvent::PeerUp { peer });
                self.drive_membership(false);
            }
            MeshEvent::PeerDown { peer, reason } => {
                tracing::info!(%peer, %reason, "peer down");
                self.connected.remove(&peer);
                self.link_up_ns.remove(&peer);
                self.identities.forget(&peer);
                self.schedule_reconnect(&peer);
                self.events.publish(NodeEvent::PeerDown { peer, reason });
                self.drive_membership(false);
            }
            MeshEvent::LinkFailed { peer, reason } => {
                tracing::info!(%peer, %reason, "link failed");
                self.schedule_reconnect(&peer);
            }
            MeshEvent::LinkTiming { peer, phases, .. } => {
                self.link_phases.insert(peer, phases);
                return Ok(());
            }
            MeshEvent::Message { from, data } => self.on_message(&from, &data)?,
        }
        Ok(())
    }

    fn schedule_reconnect(&mut self, peer: &str) {
        if self.presence.contains(peer) {
            let delay = self.cfg.raft.election_timeout / 2;
            self.reconnect
                .insert(peer.to_owned(), Instant::now() + delay);
        }
    }

    fn on_message(&mut self, from: &str, data: &Bytes) -> Result<(), NodeError> {
        let (cluster, message) = match wire::decode(data, self.cfg.mesh.max_message_bytes) {
            Ok(Frame::Raft { cluster, message }) => (cluster, message),
            Ok(Frame::Hello { cluster }) => {
                if self.identities.heard(from, cluster) {
                    let mine = self.my_cluster();
                    self.send_frame(from, &Frame::Hello { cluster: mine });
                }
                self.drive_membership(false);
                return Ok(());
            }
            Ok(Frame::Refused { cluster }) => {
                tracing::warn!(%from, "peer belongs to cluster {cluster:016x}, not ours");
                self.identities.refused_by(from);
                self.drive_membership(false);
                return Ok(());
            }
            Err(e) => {
                tracing::debug!(%from, "dropped message: {e}");
                self.counters.dropped += 1;
                return Ok(());
            }
        };
        let Some(raft) = self.raft.as_mut() else {
            if self.early_bytes + data.len() <= MAX_EARLY_BYTES {
                self.early_bytes += data.len();
                self.early.push((from.to_owned(), data.clone()));
            } else {
                self.counters.dropped += 1;
            }
            return Ok(());
        };
        if !raft.accepts_cluster(cluster) {
            self.counters.dropped += 1;
            let mine = raft.cluster_id();
            self.identities.heard(from, cluster);
            if let Some(mine) = mine {
                tracing::warn!(%from, "dropped a message of another cluster");
                self.send_frame(from, &Frame::Refused { cluster: mine });
            }
            return Ok(());
        }
        if let Message::ClientRequest(r) = &message {
            // Refuse commands that could not be replicated in one message.
            if r.command.payload_bytes() > config::MAX_CHAT_LINE_BYTES + 64 {
                self.counters.dropped += 1;
                return Ok(());
            }
        }
        *self
            .counters
            .received
            .entry(message.kind().to_owned())
            .or_default() += 1;
        let now = self.epoch.elapsed();
        raft.step(now, from, message)?;
        Ok(())
    }

    /// This node's cluster identity: its core's, or before `start` its stored log's.
    fn my_cluster(&self) -> Option<ClusterId> {
        match &self.raft {
            Some(raft) => raft.cluster_id(),
            None => self.stored_cluster,
        }
    }

    /// Sends one frame on `peer`'s link (best effort: Raft resends what matters).
    fn send_frame(&mut self, peer: &str, frame: &Frame) {
        if let Err(e) = self.mesh.send(peer, Bytes::from(wire::encode(frame))) {
            tracing::trace!(to = %peer, "not sent: {e}");
        }
    }

    async fn on_signaling(&mut self, event: ClientEvent) -> Result<(), NodeError> {
        match event {
            ClientEvent::Relayed { kind, src, payload } => {
                let kind = match kind {
                    Relay::Offer => SignalKind::Offer,
                    Relay::Answer => SignalKind::Answer,
                    Relay::Candidate => SignalKind::Candidate,
                    Relay::Leave => SignalKind::Leave,
                };
                if let Err(e) = self.mesh.handle_signal(&src, kind, payload).await {
                    tracing::debug!(%src, "bad signal: {e}");
                }
            }
            ClientEvent::Peers(peers) => {
                for peer in peers {
                    self.peer_joined(peer).await;
                }
            }
            ClientEvent::PeerJoined(peer) => self.peer_joined(peer).await,
            ClientEvent::PeerLeft(peer) => {
                // Its signaling socket closed: the process is gone (a SIGKILL
                // closes it at once), so drop the link now rather than wait
                // for ICE to time out.
                self.presence.remove(&peer);
                self.reconnect.remove(&peer);
                self.identities.forget(&peer);
                self.mesh.disconnect(&peer).await;
                if self.cfg.presence_failover {
                    let now = self.now();
                    if let Some(raft) = self.raft.as_mut() {
                        raft.peer_departed(now, &peer);
                    }
                }
            }
            ClientEvent::Expired { dst } => tracing::debug!(%dst, "signal expired"),
            ClientEvent::ServerError(e) => tracing::warn!("signaling server error: {e}"),
            ClientEvent::Disconnected => {
                tracing::warn!("signaling server lost; links stay up");
                self.signaling_up = false;
            }
            ClientEvent::Reconnected => {
                tracing::info!("signaling server back");
                self.signaling_up = true;
            }
        }
        Ok(())
    }

    async fn peer_joined(&mut self, peer: String) {
        if peer == self.cfg.raft.id {
            return;
        }
        self.presence.insert(peer.clone());
        if self.defers_offers() {
            self.deferred.defer(&peer, Instant::now());
            return;
        }
        if !self.connected.contains(&peer) {
            if let Err(e) = self.mesh.connect(&peer).await {
                tracing::warn!(%peer, "connect failed: {e}");
            }
        }
    }

    fn on_control(&mut self, request: ControlRequest) -> Result<(), NodeError> {
        match request.command {
            Command::Status => {
                let mut response = Response::ok(None);
                response.status = Some(self.status());
                let _ = request.reply.send(response);
            }
            Command::Start => {
                let started = if self.raft.is_none() {
                    self.start()
                } else {
                    Ok(())
                };
                let response = match &started {
                    Ok(()) => Response::ok(None),
                    Err(e) => Response::error(None, format!("raft did not start: {e}")),
                };
                let _ = request.reply.send(response);
                // The storage went into the failed core: the node cannot start again, so it
                // stops, having told the caller why.
                started?;
            }
            Command::Submit { lines } => {
                if self.raft.is_none() {
                    let _ = request
                        .reply
                        .send(Response::error(None, "raft is not started"));
                } else {
                    self.chat.submit(lines, request.reply);
                }
            }
            Command::Op {
                session,
                request: number,
                op,
                read,
            } => self.on_op(session.as_str(), number, op, read, request.reply),
            Command::Chat => {
                let mut response = Response::ok(None);
                response.chat = Some(
                    self.raft
                        .as_ref()
                        .map(|r| r.state().seq(CHAT_KEY).to_vec())
                        .unwrap_or_default(),
                );
                let _ = request.reply.send(response);
            }
            // The connection handles these itself; they never reach the node loop.
            Command::Subscribe { .. } | Command::Kill => {
                let _ = request.reply.send(Response::ok(None));
            }
            Command::SetNet { spec } => {
                tracing::info!(net = %spec.0, "network conditions changed");
                self.mesh.set_net(spec.0);
                let _ = request.reply.send(Response::ok(None));
                return Ok(());
            }
            Command::Shutdown => {
                tracing::info!("shutdown requested");
                let _ = request.reply.send(Response::ok(None));
                self.shutdown = true;
                return Ok(());
            }
        }
        Ok(())
    }

    /// An `op` request: a local read is answered at once; the rest waits for the leader.
    fn on_op(
        &mut self,
        session: &str,
        number: u64,
        op: RegisterOp,
        read: ReadMode,
        reply: tokio::sync::oneshot::Sender<Response>,
    ) {
        let Some(raft) = self.raft.as_ref() else {
            let _ = reply.send(Response::error(None, "raft is not started"));
            return;
        };
        #[cfg(feature = "planted-bugs")]
        let read = if crate::planted::local_reads() {
            ReadMode::Local
        } else {
            read
        };
        let command: raftrtc_raft::Command = op.clone().into();
        if command.payload_bytes() > config::MAX_CHAT_LINE_BYTES {
            let _ = reply.send(Response::error(
                None,
                format!(
                    "an operation of {} bytes exceeds the limit of {}",
                    command.payload_bytes(),
                    config::MAX_CHAT_LINE_BYTES
                ),
            ));
            return;
        }
        if let (RegisterOp::Get { key }, ReadMode::Local) = (&op, read) {
            let mut response = Response::ok(None);
            response.result = Some(OpResult {
                value: ops::text(raft.state().get(key)),
                ..OpResult::default()
            });
            let _ = reply.send(response);
            return;
        }
        self.ops.submit(session, number, command, reply);
    }

    fn start(&mut self) -> Result<(), NodeError> {
        if self.cfg.raft.bootstrap && self.stored_log_empty && !self.cfg.force_bootstrap {
            if let Some((peer, cluster)) = self.identities.existing_cluster() {
                return Err(NodeError::ClusterExists {
                    peer: peer.to_owned(),
                    cluster,
                });
            }
        }
        let Some(storage) = self.storage.take() else {
            // Only after a failed start, which stops the node.
            return Err(NodeError::Storage(StorageError::Io(std::io::Error::other(
                "the storage went to an earlier start that failed",
            ))));
        };
        let rng = Box::new(ChaCha8Rng::seed_from_u64(self.cfg.seed));
        let mut cfg = self.cfg.raft.clone();
        cfg.max_entries_per_append = config::MAX_ENTRIES_PER_APPEND;
        cfg.max_append_weight = config::MAX_APPEND_WEIGHT;
        cfg.entry_weight = config::ENTRY_WEIGHT;
        let raft = Raft::new(cfg, storage, rng, self.now())?;
        self.raft = Some(raft);
        self.events.publish(NodeEvent::Started);
        tracing::info!("raft started");
        self.early_bytes = 0;
        for (from, data) in std::mem::take(&mut self.early) {
            self.on_message(&from, &data)?;
        }
        if self.cfg.membership_poll.is_some() {
            self.next_membership_poll = Some(Instant::now());
        }
        Ok(())
    }

    /// Runs the leader's membership check: `poll` says a poll tick is due.
    fn drive_membership(&mut self, poll: bool) {
        let Some(raft) = self.raft.as_mut() else {
            return;
        };
        match self.cfg.membership_poll {
            Some(period) => {
                if !poll {
                    return; // Raft.js looked only on its poll ticks.
                }
                membership::drive(
                    raft,
                    &self.identities.eligible(&self.connected, raft.cluster_id()),
                );
                let next = if membership::change_pending(raft) {
                    period / 2
                } else {
                    period
                };
                self.next_membership_poll = Some(Instant::now() + next);
            }
            None => {
                membership::drive(
                    raft,
                    &self.identities.eligible(&self.connected, raft.cluster_id()),
                );
                // A slow safety tick in case an event was missed.
                self.next_membership_poll = Some(Instant::now() + Duration::from_secs(1));
            }
        }
    }

    /// After any input: drains the core's output and announces a new identity.
    fn after_input(&mut self) -> Result<(), NodeError> {
        self.drain_output()?;
        self.announce_identity();
        self.release_deferred();
        Ok(())
    }

    /// Whether this node holds back its offers while the cluster grows (see [`joining`]).
    /// A node restarted from a stored log never does: its cluster is recovering, not
    /// growing, and until a leader of the new term commits, its applied configuration is
    /// empty, so holding would wait out the whole bound with every restarted node doing the
    /// same (measured: a 5-node restart-all took 1.2 s more).
    fn defers_offers(&self) -> bool {
        self.stored_log_empty && joining::defers_offers(self.raft.as_ref(), &self.presence)
    }

    /// Hands the offers held while the cluster grew to the reconnect timer (due now) once it
    /// has grown, as this node sees it, or the bound passed.
    fn release_deferred(&mut self) {
        let grown = !self.defers_offers();
        let now = Instant::now();
        for peer in self.deferred.release(
            grown,
            now,
            joining::bound(self.cfg.raft.election_timeout, self.presence.len()),
        ) {
            self.reconnect.entry(peer).or_insert(now);
        }
    }

    /// Tells every connected peer our cluster identity when it changed (bootstrapped, or the
    /// first entry arrived): they stop taking us for a possible member of another cluster.
    fn announce_identity(&mut self) {
        let mine = self.my_cluster();
        if mine == self.announced {
            return;
        }
        self.announced = mine;
        let peers: Vec<String> = self.connected.iter().cloned().collect();
        for peer in peers {
            self.send_frame(&peer, &Frame::Hello { cluster: mine });
        }
    }

    /// Drains the core's output: messages, events, replies, membership.
    fn drain_output(&mut self) -> Result<(), NodeError> {
        let Some(raft) = self.raft.as_mut() else {
            return Ok(());
        };
        // Draining can trigger more input (chat sends, membership changes),
        // which produces more output: loop until quiet.
        for _ in 0..16 {
            // The chat client may have something to send (a new submit, a
            // leader now known) even when the core produced nothing.
            self.chat.pump(raft, Instant::now());
            self.ops.pump(raft, Instant::now());
            let out = raft.take_output();
            if out.is_empty() {
                break;
            }
            let cluster = raft.cluster_id();
            for envelope in out.messages {
                let kind = envelope.message.kind();
                let bytes = wire::encode(&Frame::Raft {
                    cluster,
                    message: envelope.message,
                });
                match self.mesh.send(&envelope.to, Bytes::from(bytes)) {
                    Ok(()) => {
                        *self.counters.sent.entry(kind.to_owned()).or_default() += 1;
                    }
                    Err(e) => tracing::trace!(to = %envelope.to, "not sent: {e}"),
                }
            }
            for event in out.events {
                let elected = match &event {
                    Event::RoleChanged { role, .. } => *role == Role::Candidate,
                    Event::TermChanged { .. } => raft.role() == Role::Candidate,
                    _ => false,
                };
                self.counters.elections += u64::from(elected);
                let event = match event {
                    Event::EntryApplied { index, term, .. } => NodeEvent::EntryApplied {
                        index,
                        term,
                        chat_len: raft.state().seq(CHAT_KEY).len() as u64,
                    },
                    event => NodeEvent::Core(event),
                };
                self.events.publish(event);
            }
            for reply in &out.replies {
                self.chat.on_reply(reply);
                self.ops.on_reply(reply);
            }
            self.chat.on_applied(raft.last_applied());
            // Event-driven membership: any output may have unblocked the
            // next change (a configuration or the new leader's no-op committed).
            // (Checked first: a follower handles every heartbeat here.)
            if self.cfg.membership_poll.is_none() && membership::may_change(raft) {
                membership::drive(
                    raft,
                    &self.identities.eligible(&self.connected, raft.cluster_id()),
                );
            }
        }
        Ok(())
    }

    fn status(&self) -> Status {
        let peers: Vec<String> = self.connected.iter().cloned().collect();
        let mut status = Status {
            id: self.cfg.raft.id.clone(),
            peers,
            rpc_sent: self.counters.sent.clone(),
            rpc_received: self.counters.received.clone(),
            dropped_messages: self.counters.dropped
                + self.mesh.dropped_oversized()
                + self.mesh.dropped_behind(),
            elections: self.counters.elections,
            signaling_connected: self.signaling_up,
            link_open_ms: self
                .link_phases
                .iter()
                .filter_map(|(p, l)| {
                    let open = l.channel_open_ns?.checked_sub(l.started_ns)?;
                    Some((p.clone(), open as f64 / 1e6))
                })
                .collect(),
            link_phases: self.link_phases.clone(),
            main_ns: crate::clock::main_ns(),
            mesh_ready_ns: self.mesh_ready_ns,
            cpu_ms: crate::clock::cpu_ms(),
            net: self.mesh.net().to_string(),
            launched_ns: self.launched_ns,
            signaling_ns: Some(self.signaling_ns),
            link_up_ns: self.link_up_ns.clone(),
            cluster: self.my_cluster().map(|c| format!("{c:016x}")),
            peer_clusters: self
                .identities
                .said()
                .map(|(p, c)| (p.clone(), c))
                .collect(),
            foreign_peers: self.identities.foreign(self.my_cluster()),
            t_ns: monotonic_ns(),
            ..Status::default()
        };
        if let Some(r) = &self.raft {
            status.started = true;
            status.role = Some(r.role());
            status.term = r.term();
            status.leader = r.leader().map(str::to_owned);
            status.members = r.members().iter().cloned().collect();
            status.applied_members = r.applied_members().iter().cloned().collect();
            status.commit_index = r.commit_index();
            status.last_applied = r.last_applied();
            status.log_len = r.log().last_index();
            status.log_hash = format!("{:016x}", r.log().hash());
            status.state_hash = format!("{:016x}", r.state().hash());
            status.chat_len = r.state().seq(CHAT_KEY).len() as u64;
        }
        status
    }
}
