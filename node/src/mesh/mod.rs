//! The WebRTC mesh: one peer connection and one `raft` data channel per remote peer.
//!
//! [`Mesh`] is decoupled from the signaling transport. It emits everything it wants sent to
//! other peers as [`MeshEvent::Signal`] (the node forwards those through the PeerJS signaling
//! client) and is fed what arrives through [`Mesh::handle_signal`]. Data-channel traffic comes
//! out as [`MeshEvent::Message`] and goes in through the non-blocking [`Mesh::send`].
//!
//! # Who offers
//!
//! For every pair of nodes exactly one side offers: **the peer whose id is lower in plain byte
//! order (`str` comparison) offers; the higher one waits for that offer.** [`Mesh::connect`]
//! applies the rule, so both nodes can call it as soon as they see each other in presence and
//! the two never offer to each other at once (no glare). An offer that does arrive from a peer
//! always wins over whatever link we had with it: that is how a restarted peer, or a PeerJS
//! client that ignores the rule, replaces an old connection.
//!
//! # Identity
//!
//! The `from` of a [`MeshEvent::Message`] is the peer bound to the connection the message
//! arrived on (the `src` of the signaling frames that negotiated it). The mesh never reads an
//! id from a message body.
//!
//! # Liveness
//!
//! A link goes down when ICE reports it disconnected (nothing heard for `disconnect_timeout`,
//! 3 s by default; on a quiet link, the answering end's keepalive every 900 ms and its answer
//! are all each end hears), when the peer
//! connection fails or closes, when its data channel closes, or when the peer sends LEAVE.
//! Each link that came up reports [`MeshEvent::PeerDown`] exactly once; one that never opened
//! reports [`MeshEvent::LinkFailed`] instead. A later offer (or `connect`) builds a new link.
//!
//! # Ordering
//!
//! Signals from one peer must be passed to [`Mesh::handle_signal`] in the order they arrived,
//! each awaited before the next (an ANSWER or CANDIDATE names a connection created by an
//! earlier OFFER). Events for one peer come out in order: `PeerUp` before its messages,
//! messages before its `PeerDown`.

mod config;
mod error;
mod outbox;
mod peer;
mod settings;
mod signal;
mod timing;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use serde_json::Value;
use tokio::sync::mpsc;
use tracing::debug;

pub use config::MeshConfig;
pub(crate) use config::DEFAULT_MAX_MESSAGE_BYTES;
pub use error::MeshError;
pub use signal::{OutgoingSignal, SignalKind};
pub use timing::LinkPhases;

use crate::netem::{NetConditions, NetSpec};
pub(crate) use config::MAX_PEER_ID_BYTES;
use peer::{new_connection_id, Link, Role};
use settings::LinkSettings;

/// Label of the data channel the offerer creates (PeerJS's `label`).
pub const CHANNEL_LABEL: &str = "raft";

/// Something the node has to act on.
#[derive(Debug, Clone, PartialEq)]
pub enum MeshEvent {
    /// Deliver this through signaling to `signal.dst`.
    Signal(OutgoingSignal),
    /// The data channel to `peer` opened; [`Mesh::send`] to it works from now on.
    PeerUp {
        /// The peer now connected.
        peer: String,
    },
    /// The link to `peer`, which had reported `PeerUp`, is gone (reported once per link).
    PeerDown {
        /// The peer no longer connected.
        peer: String,
        /// Why: ICE state, channel closed, LEAVE, replaced, local close...
        reason: String,
    },
    /// A link attempt to `peer` ended before its data channel opened (open timeout, ICE
    /// failure, rejected answer, superseded by a newer offer). The node may `connect` again.
    LinkFailed {
        /// The peer the attempt was with.
        peer: String,
        /// Why it failed.
        reason: String,
    },
    /// A message arrived on the data channel of `from`'s link.
    Message {
        /// The authenticated sender: the peer bound to the link, never read from `data`.
        from: String,
        /// The message, at most `max_message_bytes` long.
        data: Bytes,
    },
    /// How long the link to `peer` took to open, for the benchmark's link-open statistics.
    LinkTiming {
        /// The peer the link goes to.
        peer: String,
        /// From link start (offerer: before `createOffer`; answerer: offer received) to the
        /// data channel being open.
        open: Duration,
        /// When each phase was reached, to see where the time went.
        phases: LinkPhases,
    },
}

/// State shared by the [`Mesh`] handle and the tasks of its links.
pub(crate) struct Shared {
    local_id: String,
    settings: LinkSettings,
    max_message_bytes: usize,
    open_timeout: Duration,
    send_buffer_bytes: usize,
    reliable: bool,
    events: mpsc::UnboundedSender<MeshEvent>,
    links: Mutex<HashMap<String, Arc<Link>>>,
    closed: AtomicBool,
    dropped_oversized: AtomicU64,
    dropped_behind: AtomicU64,
    /// The conditions every link's socket applies.
    net: Arc<NetConditions>,
}

impl Shared {
    /// Unregisters `link` if it is still the current link of its peer.
    fn forget(&self, link: &Arc<Link>) {
        if let Ok(mut links) = self.links.lock() {
            if links
                .get(&link.peer)
                .is_some_and(|current| Arc::ptr_eq(current, link))
            {
                links.remove(&link.peer);
            }
        }
    }

    fn count_oversized(&self) {
        self.dropped_oversized.fetch_add(1, Ordering::Relaxed);
    }

    fn link(&self, peer: &str) -> Option<Arc<Link>> {
        self.links.lock().ok()?.get(peer).cloned()
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        // The last handle is gone without `close()`: stop the peer connections anyway, so
        // remote peers see the links go down instead of being kept alive by our drivers.
        if let Ok(links) = self.links.get_mut() {
            for (_, link) in links.drain() {
                link.end("mesh dropped");
            }
        }
    }
}

/// Handle to a node's WebRTC mesh. Cheap to clone; all clones drive the same mesh.
#[derive(Clone)]
pub struct Mesh {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Mesh {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mesh")
            .field("local_id", &self.shared.local_id)
            .finish_non_exhaustive()
    }
}

impl Mesh {
    /// Creates a mesh for `cfg.local_id` and the stream of events the node must consume.
    ///
    /// Validates the configuration and generates the DTLS certificate all links share. Links
    /// are only made by [`connect`](Self::connect) and [`handle_signal`](Self::handle_signal),
    /// which must run inside a Tokio runtime.
    pub fn new(cfg: MeshConfig) -> Result<(Mesh, mpsc::UnboundedReceiver<MeshEvent>), MeshError> {
        cfg.validate()?;
        let settings = LinkSettings::new(&cfg)?;
        let (events, rx) = mpsc::unbounded_channel();
        let net = Arc::new(NetConditions::new(
            &cfg.local_id,
            cfg.net.clone(),
            cfg.net_seed,
        ));
        let shared = Arc::new(Shared {
            net,
            reliable: cfg.reliable(),
            local_id: cfg.local_id,
            settings,
            max_message_bytes: cfg.max_message_bytes,
            open_timeout: cfg.open_timeout,
            send_buffer_bytes: cfg.send_buffer_bytes,
            events,
            links: Mutex::new(HashMap::new()),
            closed: AtomicBool::new(false),
            dropped_oversized: AtomicU64::new(0),
            dropped_behind: AtomicU64::new(0),
        });
        Ok((Mesh { shared }, rx))
    }

    /// Puts network conditions in force on every link, from the next datagram on.
    pub fn set_net(&self, spec: NetSpec) {
        self.shared.net.set(spec);
    }

    /// The network conditions in force.
    pub fn net(&self) -> Arc<NetSpec> {
        self.shared.net.spec()
    }

    /// This node's id.
    pub fn local_id(&self) -> &str {
        &self.shared.local_id
    }

    /// Makes sure a link to `peer` exists or is coming: call it whenever `peer` is seen in
    /// presence.
    ///
    /// Offers only if our id is the lower one; otherwise does nothing and waits for the peer's
    /// offer. Idempotent: a link that is open or being negotiated is left alone.
    pub async fn connect(&self, peer: &str) -> Result<(), MeshError> {
        self.check_peer(peer)?;
        if self.shared.local_id.as_str() > peer {
            return Ok(());
        }
        if self.shared.link(peer).is_some() {
            return Ok(());
        }
        let link = Link::start(&self.shared, peer, Role::Offerer, new_connection_id()).await?;
        {
            let mut links = self.shared.links.lock().map_err(|_| MeshError::Closed)?;
            if self.shared.closed.load(Ordering::Acquire) || links.contains_key(peer) {
                drop(links);
                link.discard();
                return self.ensure_open();
            }
            links.insert(peer.to_owned(), link.clone());
        }
        debug!(peer, conn = %link.connection_id, "offering");
        if let Err(err) = link.offer(self.shared.reliable).await {
            link.end(&format!("offer failed: {err}"));
            return Err(err);
        }
        Ok(())
    }

    /// Feeds one signaling frame received from `src`.
    ///
    /// A malformed payload, or an ANSWER/CANDIDATE for a connection we do not have, returns an
    /// error and changes nothing; the mesh stays usable.
    pub async fn handle_signal(
        &self,
        src: &str,
        kind: SignalKind,
        payload: Value,
    ) -> Result<(), MeshError> {
        self.check_peer(src)?;
        match kind {
            SignalKind::Offer => {
                let offer = signal::parse_offer(payload)?;
                let link =
                    Link::start(&self.shared, src, Role::Answerer, offer.connection_id).await?;
                let old = {
                    let mut links = self.shared.links.lock().map_err(|_| MeshError::Closed)?;
                    if self.shared.closed.load(Ordering::Acquire) {
                        drop(links);
                        link.discard();
                        return Err(MeshError::Closed);
                    }
                    links.insert(src.to_owned(), link.clone())
                };
                if let Some(old) = old {
                    old.end("replaced by a new offer");
                }
                debug!(peer = src, conn = %link.connection_id, "answering");
                if let Err(err) = link.answer(offer.sdp).await {
                    link.end(&format!("offer rejected: {err}"));
                    return Err(err);
                }
            }
            SignalKind::Answer => {
                let answer = signal::parse_answer(payload)?;
                let link = self.find(src, &answer.connection_id, Some(Role::Offerer))?;
                if let Err(err) = link.accept_answer(answer.sdp).await {
                    link.end(&format!("answer rejected: {err}"));
                    return Err(err);
                }
            }
            SignalKind::Candidate => {
                let candidate = signal::parse_candidate(payload)?;
                let link = self.find(src, &candidate.connection_id, None)?;
                if let Some(init) = candidate.init {
                    link.add_remote_candidate(init).await?;
                }
            }
            SignalKind::Leave => {
                if let Some(link) = self.shared.link(src) {
                    link.end("peer left");
                }
            }
        }
        Ok(())
    }

    /// Queues `data` for `peer` without blocking (so the Raft loop never waits on the network).
    ///
    /// Fails if the peer is not up, is not taking what is already queued (the message is
    /// dropped and counted, see [`Mesh::dropped_behind`]), or the message exceeds
    /// `max_message_bytes`.
    pub fn send(&self, peer: &str, data: Bytes) -> Result<(), MeshError> {
        if data.len() > self.shared.max_message_bytes {
            return Err(MeshError::MessageTooLarge {
                len: data.len(),
                max: self.shared.max_message_bytes,
            });
        }
        let sent = self
            .shared
            .link(peer)
            .ok_or_else(|| MeshError::PeerNotConnected(peer.to_owned()))?
            .enqueue(data);
        if let Err(MeshError::PeerBehind { .. }) = &sent {
            self.shared.dropped_behind.fetch_add(1, Ordering::Relaxed);
        }
        sent
    }

    /// Tears down the link to `peer` (if any) and tells it so with a LEAVE signal.
    pub async fn disconnect(&self, peer: &str) {
        let link = self
            .shared
            .links
            .lock()
            .ok()
            .and_then(|mut links| links.remove(peer));
        if let Some(link) = link {
            self.leave(peer);
            link.end("disconnected locally");
            link.close_connection().await;
        }
    }

    /// Closes every link (sending LEAVE to each peer) and refuses further work.
    pub async fn close(&self) {
        self.shared.closed.store(true, Ordering::Release);
        let links: Vec<Arc<Link>> = self
            .shared
            .links
            .lock()
            .map(|mut links| links.drain().map(|(_, link)| link).collect())
            .unwrap_or_default();
        for link in &links {
            self.leave(&link.peer);
            link.end("mesh closed");
        }
        for link in links {
            link.close_connection().await;
        }
    }

    /// Peers whose data channel is open, sorted.
    pub fn connected_peers(&self) -> Vec<String> {
        let mut peers: Vec<String> = self
            .shared
            .links
            .lock()
            .map(|links| {
                links
                    .values()
                    .filter(|link| link.is_up())
                    .map(|link| link.peer.clone())
                    .collect()
            })
            .unwrap_or_default();
        peers.sort();
        peers
    }

    /// Inbound messages dropped because they exceeded `max_message_bytes`.
    pub fn dropped_oversized(&self) -> u64 {
        self.shared.dropped_oversized.load(Ordering::Relaxed)
    }

    /// Outbound messages dropped because their peer's outbox was full.
    pub fn dropped_behind(&self) -> u64 {
        self.shared.dropped_behind.load(Ordering::Relaxed)
    }

    fn leave(&self, peer: &str) {
        let _ = self.shared.events.send(MeshEvent::Signal(OutgoingSignal {
            dst: peer.to_owned(),
            kind: SignalKind::Leave,
            payload: Value::Null,
        }));
    }

    fn ensure_open(&self) -> Result<(), MeshError> {
        if self.shared.closed.load(Ordering::Acquire) {
            Err(MeshError::Closed)
        } else {
            Ok(())
        }
    }

    fn check_peer(&self, peer: &str) -> Result<(), MeshError> {
        self.ensure_open()?;
        if peer.is_empty() || peer.len() > MAX_PEER_ID_BYTES || peer == self.shared.local_id {
            return Err(MeshError::InvalidPeerId(peer.to_owned()));
        }
        Ok(())
    }

    fn find(
        &self,
        peer: &str,
        connection_id: &str,
        role: Option<Role>,
    ) -> Result<Arc<Link>, MeshError> {
        self.shared
            .link(peer)
            .filter(|link| link.connection_id == connection_id)
            .filter(|link| role.is_none_or(|role| link.role == role))
            .ok_or_else(|| MeshError::UnknownConnection {
                peer: peer.to_owned(),
                connection_id: connection_id.to_owned(),
            })
    }
}
