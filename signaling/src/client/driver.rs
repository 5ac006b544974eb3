//! The background task behind a [`crate::Client`]: it owns the WebSocket,
//! writes what the handles send, heartbeats, turns server frames into
//! [`ClientEvent`]s, notices a lost server and reconnects with backoff.
//!
//! It never blocks on the application: events wait in a bounded buffer,
//! and while that buffer is full the socket is simply not read (TCP
//! backpressure) — heartbeats and sends keep flowing.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use rand::Rng;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::time::{timeout, Instant};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Bytes, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tracing::{debug, warn};
use url::Url;

use super::{Backoff, ClientEvent, Namespace};
use crate::error::ClientError;
use crate::protocol::{self, ServerMessage};

/// The socket type.
pub(crate) type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Events buffered for an application that is not reading; beyond this the
/// socket is not read until it catches up.
const MAX_BUFFERED_EVENTS: usize = 4096;

/// Largest frame accepted from a server (a `PEERS` snapshot of a big cluster
/// fits comfortably).
const MAX_SERVER_FRAME: usize = 8 * 1024 * 1024;

/// How long one write may take before the server is deemed lost.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Requests from the handles.
pub(crate) enum Command {
    /// Write one text frame; the ack says whether it reached the socket.
    Send {
        text: String,
        ack: oneshot::Sender<Result<(), ClientError>>,
    },
    /// Close the socket and end the task.
    Close { ack: oneshot::Sender<()> },
}

/// Timing knobs the task needs.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub ws_url: Url,
    pub heartbeat: Duration,
    pub server_timeout: Duration,
    pub connect_timeout: Duration,
    pub backoff: Backoff,
}

/// Connects to `ws_url` and waits for `OPEN`, all within `limit`.
///
/// Frames the server sends before `OPEN` other than refusals are a protocol
/// error; `ID-TAKEN`, `INVALID-KEY` and `ERROR` become their own errors.
pub(crate) async fn open(ws_url: &Url, limit: Duration) -> Result<Ws, ClientError> {
    timeout(limit, open_inner(ws_url))
        .await
        .map_err(|_| ClientError::Timeout("OPEN from the signaling server"))?
}

async fn open_inner(ws_url: &Url) -> Result<Ws, ClientError> {
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_SERVER_FRAME))
        .max_frame_size(Some(MAX_SERVER_FRAME));
    let (mut ws, _) =
        tokio_tungstenite::connect_async_with_config(ws_url.as_str(), Some(config), true)
            .await
            .map_err(|e| ClientError::Connect(e.to_string()))?;
    loop {
        let msg = match ws.next().await {
            None => {
                return Err(ClientError::Protocol(
                    "server closed the socket before OPEN".into(),
                ))
            }
            Some(Err(e)) => return Err(ClientError::Connect(e.to_string())),
            Some(Ok(msg)) => msg,
        };
        let text = match &msg {
            Message::Text(t) => t.as_str(),
            Message::Close(_) => {
                return Err(ClientError::Protocol(
                    "server closed the socket before OPEN".into(),
                ));
            }
            _ => continue,
        };
        return match protocol::parse_server_frame(text) {
            Ok(ServerMessage::Open) => Ok(ws),
            Ok(ServerMessage::IdTaken) => Err(ClientError::IdTaken),
            Ok(ServerMessage::InvalidKey) => Err(ClientError::InvalidKey),
            Ok(ServerMessage::Error(m)) => Err(ClientError::Rejected(m)),
            Ok(other) => Err(ClientError::Protocol(format!(
                "expected OPEN, got {other:?}"
            ))),
            Err(e) => Err(ClientError::Protocol(format!("expected OPEN: {e}"))),
        };
    }
}

/// Events on their way to the application.
struct Outbox {
    tx: mpsc::Sender<ClientEvent>,
    pending: VecDeque<ClientEvent>,
    /// False once the application dropped its receiver: events are discarded.
    open: bool,
}

impl Outbox {
    fn push(&mut self, event: ClientEvent) {
        if self.open {
            self.pending.push_back(event);
        }
    }

    fn has_pending(&self) -> bool {
        self.open && !self.pending.is_empty()
    }

    fn is_full(&self) -> bool {
        self.pending.len() >= MAX_BUFFERED_EVENTS
    }

    /// Hands one event over as soon as the channel has room.
    async fn flush_one(&mut self) {
        match self.tx.reserve().await {
            Ok(permit) => {
                if let Some(event) = self.pending.pop_front() {
                    permit.send(event);
                }
            }
            Err(_) => {
                self.open = false;
                self.pending.clear();
            }
        }
    }

    /// Last chance before the task ends: whatever fits without waiting.
    fn flush_now(&mut self) {
        while let Some(event) = self.pending.pop_front() {
            if self.tx.try_send(event).is_err() {
                break;
            }
        }
    }
}

/// How a connected period ended.
enum End {
    /// Closed on request, or every handle was dropped.
    Closed,
    /// The server went away; reconnect.
    Lost,
}

/// The task's state.
pub(crate) struct Driver {
    settings: Settings,
    cmds: mpsc::Receiver<Command>,
    outbox: Outbox,
    connected: Arc<AtomicBool>,
    /// Frames about other namespaces' peers are dropped, ours made plain.
    namespace: Namespace,
    /// Our id on the server, for logs.
    id: String,
}

impl Driver {
    pub(crate) fn new(
        settings: Settings,
        cmds: mpsc::Receiver<Command>,
        events: mpsc::Sender<ClientEvent>,
        connected: Arc<AtomicBool>,
        namespace: Namespace,
        id: String,
    ) -> Driver {
        Driver {
            settings,
            cmds,
            outbox: Outbox {
                tx: events,
                pending: VecDeque::new(),
                open: true,
            },
            connected,
            namespace,
            id,
        }
    }

    /// Runs until closed, all handles dropped, or reconnection gives up.
    pub(crate) async fn run(mut self, first: Ws) {
        let mut ws = first;
        loop {
            self.connected.store(true, Ordering::SeqCst);
            let end = self.serve(&mut ws).await;
            self.connected.store(false, Ordering::SeqCst);
            match end {
                End::Closed => {
                    self.outbox.flush_now();
                    return;
                }
                End::Lost => {
                    debug!(id = %self.id, "signaling server lost");
                    self.outbox.push(ClientEvent::Disconnected);
                }
            }
            drop(ws);
            match self.reconnect().await {
                Some(next) => {
                    debug!(id = %self.id, "reconnected to signaling server");
                    ws = next;
                    self.outbox.push(ClientEvent::Reconnected);
                }
                None => {
                    self.outbox.flush_now();
                    return;
                }
            }
        }
    }

    /// One connected period.
    async fn serve(&mut self, ws: &mut Ws) -> End {
        let hb_period = self.settings.heartbeat;
        let mut heartbeat = tokio::time::interval_at(Instant::now() + hb_period, hb_period);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_rx = Instant::now();
        loop {
            let silent_until = last_rx + self.settings.server_timeout;
            let reading = !self.outbox.is_full();
            tokio::select! {
                cmd = self.cmds.recv() => match cmd {
                    None => {
                        close(ws).await;
                        return End::Closed;
                    }
                    Some(Command::Close { ack }) => {
                        close(ws).await;
                        let _ = ack.send(());
                        return End::Closed;
                    }
                    Some(Command::Send { text, ack }) => {
                        if write(ws, Message::text(text)).await {
                            let _ = ack.send(Ok(()));
                        } else {
                            let _ = ack.send(Err(ClientError::NotConnected));
                            return End::Lost;
                        }
                    }
                },
                _ = heartbeat.tick() => {
                    // The PeerJS heartbeat keeps the server from dropping us;
                    // the ping makes the server answer, so we notice a dead one.
                    if !write(ws, Message::text(protocol::client::heartbeat())).await
                        || !write(ws, Message::Ping(Bytes::new())).await
                    {
                        return End::Lost;
                    }
                }
                _ = tokio::time::sleep_until(silent_until) => {
                    warn!(id = %self.id, "signaling server silent for {:?}", self.settings.server_timeout);
                    return End::Lost;
                }
                _ = self.outbox.flush_one(), if self.outbox.has_pending() => {}
                incoming = ws.next(), if reading => match incoming {
                    None | Some(Err(_)) => return End::Lost,
                    Some(Ok(msg)) => {
                        last_rx = Instant::now();
                        match msg {
                            Message::Text(t) => self.on_frame(t.as_str()),
                            Message::Binary(b) => {
                                if let Ok(t) = std::str::from_utf8(&b) {
                                    self.on_frame(t);
                                }
                            }
                            Message::Close(_) => return End::Lost,
                            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
                        }
                    }
                },
            }
        }
    }

    /// Turns one server frame into an event.
    fn on_frame(&mut self, text: &str) {
        let event = match protocol::parse_server_frame(text) {
            Ok(ServerMessage::Relayed { kind, src, payload }) => {
                ClientEvent::Relayed { kind, src, payload }
            }
            Ok(ServerMessage::Expire { peer }) => ClientEvent::Expired { dst: peer },
            Ok(ServerMessage::PeerJoined(id)) => ClientEvent::PeerJoined(id),
            Ok(ServerMessage::PeerLeft(id)) => ClientEvent::PeerLeft(id),
            Ok(ServerMessage::Peers(ids)) => ClientEvent::Peers(ids),
            Ok(ServerMessage::Error(m)) => ClientEvent::ServerError(m),
            Ok(ServerMessage::IdTaken) => ClientEvent::ServerError(protocol::msg::ID_TAKEN.into()),
            Ok(ServerMessage::InvalidKey) => {
                ClientEvent::ServerError(protocol::msg::INVALID_KEY.into())
            }
            Ok(ServerMessage::Open) | Ok(ServerMessage::Ignored(_)) => return,
            Err(e) => {
                debug!(id = %self.id, error = %e, "ignoring unparsable server frame");
                return;
            }
        };
        if let Some(event) = self.namespace.inward(event) {
            self.outbox.push(event);
        }
    }

    /// Reconnects with backoff, still answering handles (sends fail with
    /// `NotConnected`) and delivering buffered events. `None` when closed or
    /// out of attempts.
    async fn reconnect(&mut self) -> Option<Ws> {
        let mut attempt: u32 = 0;
        loop {
            if self
                .settings
                .backoff
                .max_attempts
                .is_some_and(|max| attempt >= max)
            {
                warn!(id = %self.id, attempts = attempt, "giving up reconnecting to signaling server");
                self.outbox.push(ClientEvent::ServerError(format!(
                    "gave up reconnecting after {attempt} attempts"
                )));
                return None;
            }
            let delay = jitter(self.settings.backoff.delay(attempt));
            attempt = attempt.saturating_add(1);
            let wake = Instant::now() + delay;
            loop {
                tokio::select! {
                    _ = tokio::time::sleep_until(wake) => break,
                    cmd = self.cmds.recv() => if !answer_offline(cmd) { return None },
                    _ = self.outbox.flush_one(), if self.outbox.has_pending() => {}
                }
            }
            let attempt_fut = open(&self.settings.ws_url, self.settings.connect_timeout);
            tokio::pin!(attempt_fut);
            let result = loop {
                tokio::select! {
                    r = &mut attempt_fut => break r,
                    cmd = self.cmds.recv() => if !answer_offline(cmd) { return None },
                    _ = self.outbox.flush_one(), if self.outbox.has_pending() => {}
                }
            };
            match result {
                Ok(ws) => return Some(ws),
                Err(
                    e @ (ClientError::IdTaken | ClientError::InvalidKey | ClientError::Rejected(_)),
                ) => {
                    warn!(id = %self.id, error = %e, "signaling server refused reconnection");
                    self.outbox.push(ClientEvent::ServerError(e.to_string()));
                }
                Err(e) => debug!(id = %self.id, attempt, error = %e, "reconnect attempt failed"),
            }
        }
    }
}

/// Handles a command while offline; false when the task must end.
fn answer_offline(cmd: Option<Command>) -> bool {
    match cmd {
        None => false,
        Some(Command::Close { ack }) => {
            let _ = ack.send(());
            false
        }
        Some(Command::Send { ack, .. }) => {
            let _ = ack.send(Err(ClientError::NotConnected));
            true
        }
    }
}

/// A delay drawn uniformly from [d/2, d], so clients restarted together do
/// not reconnect in lockstep.
fn jitter(d: Duration) -> Duration {
    let nanos = d.as_nanos().min(u128::from(u64::MAX)) as u64;
    if nanos < 2 {
        return d;
    }
    Duration::from_nanos(rand::rng().random_range(nanos / 2..=nanos))
}

async fn write(ws: &mut Ws, msg: Message) -> bool {
    matches!(timeout(WRITE_TIMEOUT, ws.send(msg)).await, Ok(Ok(())))
}

/// Sends a close frame and briefly waits for the server's, so the server sees
/// a clean departure rather than a reset.
async fn close(ws: &mut Ws) {
    let _ = timeout(Duration::from_secs(1), async {
        if ws.close(None).await.is_ok() {
            while let Some(Ok(_)) = ws.next().await {}
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_half_to_full_delay() {
        let d = Duration::from_millis(100);
        for _ in 0..100 {
            let j = jitter(d);
            assert!(j >= d / 2 && j <= d, "{j:?}");
        }
        assert_eq!(jitter(Duration::ZERO), Duration::ZERO);
    }
}
