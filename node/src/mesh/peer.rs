//! One link: the peer connection and `raft` data channel to one remote peer.
//!
//! Both sides create the same pre-negotiated `raft` channel (SCTP stream 0), so no in-band
//! DCEP handshake is needed. A [`Link`] is driven by a few small tasks and never blocks the
//! library's driver:
//! - the library calls [`Handler`] on its driver task; each callback only forwards the event
//!   into an unbounded channel and returns;
//! - a *supervisor* task consumes those events (trickled local candidates, ICE/connection
//!   state) and enforces the open timeout;
//! - a *reader* task polls the data channel: open → `PeerUp`, messages → `Message` (after the
//!   size check), close → `PeerDown`;
//! - a *writer* task drains the link's outbox into the data channel, so
//!   [`Mesh::send`](super::Mesh::send) is a non-blocking enqueue. Both the outbox
//!   ([`super::outbox`]) and the library's send buffer behind it hold at most
//!   `send_buffer_bytes`: a peer that stops acknowledging makes sends fail, not memory grow.
//!
//! Ending a link is idempotent ([`Link::end`]): it reports `PeerDown` (or `LinkFailed` if the
//! channel never opened) exactly once, unregisters the link if it is still the current one for
//! its peer, and closes the peer connection in the background.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};

use bytes::{Bytes, BytesMut};
use rand::distr::{Alphanumeric, SampleString};
use serde_json::Value;
use tokio::sync::{mpsc, Notify};
use tracing::{debug, trace, warn};
use webrtc::data_channel::{DataChannel, DataChannelEvent};
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCIceCandidateInit,
    RTCIceConnectionState, RTCPeerConnectionIceEvent, RTCPeerConnectionState,
    RTCSessionDescription,
};

use super::error::MeshError;
use super::outbox::{outbox, Outbox, OutboxReader, Refused};
use super::signal::{self, OutgoingSignal, SignalKind};
use super::timing::{Phase, PhaseClock};
use super::{MeshEvent, Shared, CHANNEL_LABEL};
use crate::netem::ShapedRuntime;

/// Remote candidates buffered before the remote description is applied, per link.
const MAX_PENDING_CANDIDATES: usize = 64;

/// Which side of the offer/answer exchange this link is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// We sent the offer (our id is the lower one).
    Offerer,
    /// We answered the peer's offer.
    Answerer,
}

/// What the library's callbacks forward to the supervisor.
enum HandlerEvent {
    LocalCandidate(RTCIceCandidateInit),
    IceState(RTCIceConnectionState),
    PeerState(RTCPeerConnectionState),
    Channel(Arc<dyn DataChannel>),
}

/// The library's event handler: forwards and returns, so the driver is never held up.
struct Handler {
    tx: mpsc::UnboundedSender<HandlerEvent>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        match event.candidate.to_json() {
            Ok(init) => {
                let _ = self.tx.send(HandlerEvent::LocalCandidate(init));
            }
            Err(err) => warn!("cannot serialize local candidate: {err}"),
        }
    }

    async fn on_ice_connection_state_change(&self, state: RTCIceConnectionState) {
        let _ = self.tx.send(HandlerEvent::IceState(state));
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        let _ = self.tx.send(HandlerEvent::PeerState(state));
    }

    async fn on_data_channel(&self, data_channel: Arc<dyn DataChannel>) {
        let _ = self.tx.send(HandlerEvent::Channel(data_channel));
    }
}

/// Lifecycle flags and the trickle queue, guarded together so events are emitted in order.
#[derive(Default)]
struct LinkState {
    /// The data channel opened and `PeerUp` was emitted.
    up: bool,
    /// [`Link::end`] ran.
    ended: bool,
    /// Our offer/answer was emitted, so candidates may follow it.
    sdp_sent: bool,
    /// Local candidates gathered before the offer/answer went out.
    held_candidates: Vec<RTCIceCandidateInit>,
    /// The answerer already accepted a data channel (later ones are ignored).
    has_channel: bool,
}

/// Whether the remote description is applied, and candidates that came before it.
#[derive(Default)]
struct RemoteState {
    applied: bool,
    pending: Vec<RTCIceCandidateInit>,
}

/// One peer connection with its data channel to one remote peer.
pub(crate) struct Link {
    /// Remote peer id: the sender of everything read from this link.
    pub(crate) peer: String,
    /// PeerJS `connectionId` naming this negotiation in signals.
    pub(crate) connection_id: String,
    /// Offerer or answerer.
    pub(crate) role: Role,
    pc: Arc<dyn PeerConnection>,
    shared: Weak<Shared>,
    state: Mutex<LinkState>,
    /// Cheap copy of `state.up` for the message hot path.
    up: AtomicBool,
    remote: tokio::sync::Mutex<RemoteState>,
    outbox: Mutex<Option<Outbox>>,
    outbox_rx: Mutex<Option<OutboxReader>>,
    /// The `raft` channel once created; also our handle for waking the driver (see `kick`).
    channel: Mutex<Option<Arc<dyn DataChannel>>>,
    ended: Notify,
    clock: PhaseClock,
}

/// A fresh PeerJS-style connection id (`dc_` + 10 random alphanumerics).
pub(crate) fn new_connection_id() -> String {
    format!("dc_{}", Alphanumeric.sample_string(&mut rand::rng(), 10))
}

impl Link {
    /// Builds the peer connection and starts the link's supervisor. Nothing is signaled yet.
    pub(crate) async fn start(
        shared: &Arc<Shared>,
        peer: &str,
        role: Role,
        connection_id: String,
    ) -> Result<Arc<Link>, MeshError> {
        let clock = PhaseClock::start(role == Role::Offerer);
        let settings = &shared.settings;
        let (tx, rx) = mpsc::unbounded_channel();
        let runtime = ShapedRuntime::new(shared.net.clone(), peer, settings.quiet_step)
            .ok_or_else(|| MeshError::Config("webrtc was built without a runtime".into()))?;
        let pc = PeerConnectionBuilder::new()
            .with_runtime(Arc::new(runtime))
            .with_configuration(settings.configuration.clone())
            .with_setting_engine(match role {
                Role::Offerer if shared.net.for_peer(peer).1.is_perfect() => {
                    settings.setting_engine.clone()
                }
                Role::Offerer => settings.shaped_setting_engine.clone(),
                Role::Answerer => settings.answer_setting_engine.clone(),
            })
            .with_handler(Arc::new(Handler { tx }))
            .with_udp_addrs(vec![settings.bind_addr])
            .with_data_channel_send_buffer_limit(shared.send_buffer_bytes)
            .build()
            .await?;
        let (out_tx, out_rx) = outbox(shared.send_buffer_bytes);
        let link = Arc::new(Link {
            peer: peer.to_owned(),
            connection_id,
            role,
            pc: Arc::new(pc),
            shared: Arc::downgrade(shared),
            state: Mutex::new(LinkState::default()),
            up: AtomicBool::new(false),
            remote: tokio::sync::Mutex::new(RemoteState::default()),
            outbox: Mutex::new(Some(out_tx)),
            outbox_rx: Mutex::new(Some(out_rx)),
            channel: Mutex::new(None),
            ended: Notify::new(),
            clock,
        });
        tokio::spawn(supervise(link.clone(), rx, shared.open_timeout));
        Ok(link)
    }

    /// Offerer: creates the data channel and the offer, and emits the OFFER signal.
    pub(crate) async fn offer(self: &Arc<Self>, reliable: bool) -> Result<(), MeshError> {
        let shared = self.shared()?;
        let dc = self
            .pc
            .create_data_channel(CHANNEL_LABEL, Some(shared.settings.channel_init.clone()))
            .await?;
        self.accept_channel(dc);
        let offer = self.pc.create_offer(None).await?;
        self.pc.set_local_description(offer.clone()).await?;
        let payload = signal::offer_payload(&offer, &self.connection_id, CHANNEL_LABEL, reliable);
        self.emit_sdp(&shared, SignalKind::Offer, payload);
        Ok(())
    }

    /// Answerer: applies the peer's offer, answers it and emits the ANSWER signal.
    pub(crate) async fn answer(
        self: &Arc<Self>,
        offer: RTCSessionDescription,
    ) -> Result<(), MeshError> {
        let shared = self.shared()?;
        self.apply_remote(offer).await?;
        let dc = self
            .pc
            .create_data_channel(CHANNEL_LABEL, Some(shared.settings.channel_init.clone()))
            .await?;
        self.accept_channel(dc);
        let answer = self.pc.create_answer(None).await?;
        self.pc.set_local_description(answer.clone()).await?;
        let payload = signal::answer_payload(&answer, &self.connection_id);
        self.emit_sdp(&shared, SignalKind::Answer, payload);
        Ok(())
    }

    /// Offerer: applies the peer's answer.
    pub(crate) async fn accept_answer(
        &self,
        answer: RTCSessionDescription,
    ) -> Result<(), MeshError> {
        self.clock.mark(Phase::AnswerReceived);
        self.apply_remote(answer).await
    }

    /// Adds a trickled remote candidate, or buffers it until the remote description is set.
    pub(crate) async fn add_remote_candidate(
        &self,
        init: RTCIceCandidateInit,
    ) -> Result<(), MeshError> {
        self.clock.mark(Phase::FirstRemoteCandidate);
        let mut remote = self.remote.lock().await;
        if remote.applied {
            self.pc.add_ice_candidate(init).await?;
        } else if remote.pending.len() < MAX_PENDING_CANDIDATES {
            remote.pending.push(init);
        } else {
            return Err(MeshError::BadSignal {
                kind: SignalKind::Candidate,
                reason: "too many candidates before the session description".to_owned(),
            });
        }
        Ok(())
    }

    /// Wakes the library's driver so it sends the SCTP INIT it just queued.
    ///
    /// webrtc 0.21's driver loop runs `poll_writes` *before* `poll_events`, and the DTLS
    /// client's SCTP INIT is queued while the "DTLS handshake complete" event is processed
    /// (as was, with in-band channels, the DCEP OPEN on "SCTP established"). Nothing wakes the
    /// loop again, so the INIT sat until the next timer tick — by then the ICE keepalive
    /// interval (2 s by default, 200 ms here) — which is where most of the measured ~0.5 s per
    /// link went. Touching the channel's buffered-amount threshold is a no-op that ends in the
    /// driver's coalesced write wake-up, so calling this on "connected" sends the INIT at once.
    /// (The DTLS ClientHello has the same problem but is only flushed by the driver's timer
    /// pass, which no public call triggers; a short `ice_check_interval` bounds that wait.)
    async fn kick(&self) {
        let dc = self.channel.lock().ok().and_then(|channel| channel.clone());
        if let Some(dc) = dc {
            if let Err(err) = dc.set_buffered_amount_low_threshold(0).await {
                trace!(peer = %self.peer, "driver kick: {err}");
            }
        }
    }

    /// Queues `data` for the writer task; fails if the link is not (or no longer) open, or if
    /// the peer is not taking what is already queued.
    pub(crate) fn enqueue(&self, data: Bytes) -> Result<(), MeshError> {
        if !self.is_up() {
            return Err(MeshError::PeerNotConnected(self.peer.clone()));
        }
        let outbox = self.outbox.lock().map_err(|_| MeshError::Closed)?;
        let Some(outbox) = outbox.as_ref() else {
            return Err(MeshError::PeerNotConnected(self.peer.clone()));
        };
        match outbox.push(data) {
            Ok(()) => Ok(()),
            Err(Refused::Full { queued }) => Err(MeshError::PeerBehind {
                peer: self.peer.clone(),
                queued,
            }),
            Err(Refused::Closed) => Err(MeshError::PeerNotConnected(self.peer.clone())),
        }
    }

    /// Whether the data channel is open and the link has not ended.
    pub(crate) fn is_up(&self) -> bool {
        self.up.load(Ordering::Acquire)
    }

    /// Tears the link down once: reports `PeerDown` (if it was up) or `LinkFailed`, forgets it
    /// if it is still the current link of its peer, and closes the peer connection.
    pub(crate) fn end(self: &Arc<Self>, reason: &str) {
        self.end_with(reason, true);
    }

    /// Tears down a link that was never registered (lost a race), without reporting it.
    pub(crate) fn discard(self: &Arc<Self>) {
        self.end_with("discarded", false);
    }

    /// Closes the peer connection and waits for its driver to stop (idempotent).
    pub(crate) async fn close_connection(&self) {
        if let Err(err) = self.pc.close().await {
            trace!(peer = %self.peer, "closing peer connection: {err}");
        }
    }

    fn end_with(self: &Arc<Self>, reason: &str, report: bool) {
        let shared = self.shared.upgrade();
        {
            let Ok(mut state) = self.state.lock() else {
                return;
            };
            if state.ended {
                return;
            }
            state.ended = true;
            let was_up = state.up;
            state.up = false;
            self.up.store(false, Ordering::Release);
            debug!(peer = %self.peer, conn = %self.connection_id, was_up, "link ended: {reason}");
            if let (Some(shared), true) = (&shared, report) {
                let (peer, reason) = (self.peer.clone(), reason.to_owned());
                let event = if was_up {
                    MeshEvent::PeerDown { peer, reason }
                } else {
                    MeshEvent::LinkFailed { peer, reason }
                };
                let _ = shared.events.send(event);
            }
        }
        if let Ok(mut outbox) = self.outbox.lock() {
            outbox.take();
        }
        if let Some(shared) = &shared {
            shared.forget(self);
        }
        self.ended.notify_one();
        // Outside a runtime (the mesh dropped after its runtime) the drivers are gone anyway.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let link = self.clone();
            runtime.spawn(async move { link.close_connection().await });
        }
    }

    fn shared(&self) -> Result<Arc<Shared>, MeshError> {
        self.shared.upgrade().ok_or(MeshError::Closed)
    }

    async fn apply_remote(&self, desc: RTCSessionDescription) -> Result<(), MeshError> {
        let mut remote = self.remote.lock().await;
        self.pc.set_remote_description(desc).await?;
        remote.applied = true;
        for init in std::mem::take(&mut remote.pending) {
            if let Err(err) = self.pc.add_ice_candidate(init).await {
                warn!(peer = %self.peer, "buffered remote candidate rejected: {err}");
            }
        }
        Ok(())
    }

    /// Emits our offer/answer, then every candidate gathered before it, in that order.
    fn emit_sdp(&self, shared: &Shared, kind: SignalKind, payload: Value) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        if state.ended {
            return;
        }
        self.clock.mark(Phase::SdpSent);
        let _ = shared.events.send(MeshEvent::Signal(OutgoingSignal {
            dst: self.peer.clone(),
            kind,
            payload,
        }));
        state.sdp_sent = true;
        for init in std::mem::take(&mut state.held_candidates) {
            self.emit_candidate(shared, init);
        }
    }

    fn emit_candidate(&self, shared: &Shared, init: RTCIceCandidateInit) {
        let _ = shared.events.send(MeshEvent::Signal(OutgoingSignal {
            dst: self.peer.clone(),
            kind: SignalKind::Candidate,
            payload: signal::candidate_payload(init, &self.connection_id),
        }));
    }

    fn on_local_candidate(&self, init: RTCIceCandidateInit) {
        self.clock.mark(Phase::FirstLocalCandidate);
        let Ok(shared) = self.shared() else { return };
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        if state.ended {
            return;
        }
        if state.sdp_sent {
            self.emit_candidate(&shared, init);
        } else {
            state.held_candidates.push(init);
        }
    }

    /// Starts reading a data channel: ours (offerer) or the first one the peer opened.
    fn accept_channel(self: &Arc<Self>, dc: Arc<dyn DataChannel>) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        if state.has_channel || state.ended {
            // Only a non-mesh peer opens in-band channels; close them rather than leave their
            // events queued in the driver forever.
            debug!(peer = %self.peer, "closing extra data channel");
            tokio::spawn(async move {
                let _ = dc.close().await;
            });
            return;
        }
        state.has_channel = true;
        if let Ok(mut channel) = self.channel.lock() {
            *channel = Some(dc.clone());
        }
        tokio::spawn(read_channel(self.clone(), dc));
    }

    fn on_open(self: &Arc<Self>, dc: &Arc<dyn DataChannel>) {
        let open = self.clock.mark(Phase::ChannelOpen);
        let Ok(shared) = self.shared() else { return };
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        if state.ended || state.up {
            return;
        }
        let rx = self.outbox_rx.lock().ok().and_then(|mut rx| rx.take());
        if let Some(rx) = rx {
            tokio::spawn(write_channel(Arc::downgrade(self), dc.clone(), rx));
        }
        state.up = true;
        self.up.store(true, Ordering::Release);
        let phases = self.clock.snapshot();
        debug!(peer = %self.peer, "link open: {phases}");
        let _ = shared.events.send(MeshEvent::PeerUp {
            peer: self.peer.clone(),
        });
        let _ = shared.events.send(MeshEvent::LinkTiming {
            peer: self.peer.clone(),
            open,
            phases,
        });
    }

    fn on_message(&self, data: BytesMut) {
        let Ok(shared) = self.shared() else { return };
        if data.len() > shared.max_message_bytes {
            shared.count_oversized();
            debug!(peer = %self.peer, len = data.len(), "dropped oversized message");
            return;
        }
        // Under the state lock, so no message can be emitted after this link's `PeerDown`.
        let Ok(state) = self.state.lock() else { return };
        if state.up {
            let _ = shared.events.send(MeshEvent::Message {
                from: self.peer.clone(),
                data: data.freeze(),
            });
        }
    }
}

/// Consumes the library's events for one link and enforces its open timeout.
async fn supervise(
    link: Arc<Link>,
    mut rx: mpsc::UnboundedReceiver<HandlerEvent>,
    open_timeout: std::time::Duration,
) {
    let deadline = tokio::time::sleep(open_timeout);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            event = rx.recv() => {
                let Some(event) = event else { break };
                match event {
                    HandlerEvent::LocalCandidate(init) => link.on_local_candidate(init),
                    HandlerEvent::IceState(state) => {
                        trace!(peer = %link.peer, "ice {state}");
                        match state {
                            RTCIceConnectionState::Checking => {
                                link.clock.mark(Phase::IceChecking);
                            }
                            RTCIceConnectionState::Connected | RTCIceConnectionState::Completed => {
                                link.clock.mark(Phase::IceConnected);
                            }
                            _ => {}
                        }
                    }
                    HandlerEvent::PeerState(state) => {
                        trace!(peer = %link.peer, "connection {state}");
                        match state {
                            RTCPeerConnectionState::Connected => {
                                link.clock.mark(Phase::Connected);
                                link.kick().await;
                            }
                            RTCPeerConnectionState::Disconnected
                            | RTCPeerConnectionState::Failed
                            | RTCPeerConnectionState::Closed => {
                                link.end(&format!("connection {state}"));
                                break;
                            }
                            _ => {}
                        }
                    }
                    HandlerEvent::Channel(dc) => link.accept_channel(dc),
                }
            }
            () = &mut deadline, if !link.is_up() => {
                // The guard was evaluated when this `select!` began; the channel may have
                // opened since. Once fired with the link up, the guard keeps it disabled.
                if !link.is_up() {
                    link.end("open timeout");
                    break;
                }
            }
            () = link.ended.notified() => break,
        }
    }
}

/// Reads one data channel until it closes.
async fn read_channel(link: Arc<Link>, dc: Arc<dyn DataChannel>) {
    while let Some(event) = dc.poll().await {
        match event {
            DataChannelEvent::OnOpen => link.on_open(&dc),
            DataChannelEvent::OnMessage(msg) => link.on_message(msg.data),
            DataChannelEvent::OnClose => break,
            _ => {}
        }
    }
    link.end("data channel closed");
}

/// Drains a link's outbox into its data channel.
async fn write_channel(link: Weak<Link>, dc: Arc<dyn DataChannel>, mut rx: OutboxReader) {
    // `send` waits while the library's buffer for this channel is full.
    while let Some(data) = rx.recv().await {
        let len = data.len();
        match dc.send(BytesMut::from(data)).await {
            Ok(()) => {}
            Err(webrtc::error::Error::ErrOutboundPacketTooLarge) => {
                warn!(len, "peer's max-message-size refused a message; dropped");
            }
            Err(err) => {
                if let Some(link) = link.upgrade() {
                    link.end(&format!("send failed: {err}"));
                }
                break;
            }
        }
    }
}
