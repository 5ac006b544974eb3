//! One WebSocket connection, from the upgrade to the cleanup.
//!
//! A session admits the peer (checks `key`, `id`, `token`, joins the
//! registry), greets it with `OPEN`, then runs one loop that reads the
//! peer's frames, writes frames queued for it by others, watches its silence
//! timer and the server's shutdown signal. Bad frames, oversized ones
//! included, are answered with an `ERROR` frame on this socket only and the
//! loop reads on; whatever way the loop ends, the peer is removed from its
//! cluster.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::sync::watch;
use tokio::time::{timeout, Instant};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use tracing::{debug, trace};

use super::frame_limit::OversizeMarker;
use super::outbound::{self, Outbound, OutboundRx};
use super::registry::{ConnId, Origin};
use super::websocket::Socket;
use super::Shared;
use crate::error::FrameError;
use crate::protocol::{self, ClientMessage, MessageType};

/// How long one write may take before the peer is deemed stuck and dropped.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Close code for a normal end (RFC 6455).
const CLOSE_NORMAL: CloseCode = CloseCode::Normal;
/// Close code when the server goes away or drops a silent peer.
const CLOSE_GOING_AWAY: CloseCode = CloseCode::Away;
/// Close code after a policy refusal (bad key, id taken, limits).
const CLOSE_POLICY: CloseCode = CloseCode::Policy;
/// Close code after WebSocket framing the server cannot read past.
const CLOSE_PROTOCOL: CloseCode = CloseCode::Protocol;

/// What the WebSocket URL's query string asked for.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Params {
    pub key: Option<String>,
    pub id: Option<String>,
    pub token: Option<String>,
    pub presence: bool,
}

impl Params {
    /// Parses `key=..&id=..&token=..&presence=1`; unknown parameters (PeerJS
    /// sends `version`) are ignored, the first occurrence of a name wins.
    pub(crate) fn from_query(query: Option<&str>) -> Params {
        let mut p = Params::default();
        for (name, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            let slot = match name.as_ref() {
                "key" => &mut p.key,
                "id" => &mut p.id,
                "token" => &mut p.token,
                "presence" => {
                    p.presence = matches!(value.as_ref(), "1" | "true");
                    continue;
                }
                _ => continue,
            };
            if slot.is_none() {
                *slot = Some(value.into_owned());
            }
        }
        p
    }
}

/// The checked identity of an admitted peer.
struct Admitted {
    key: String,
    id: String,
    token: String,
    presence: bool,
}

/// Checks the parameters in the order the official server does; on refusal,
/// returns the frame that says why.
fn admit(p: Params) -> Result<Admitted, String> {
    let (Some(key), Some(id), Some(token)) = (p.key, p.id, p.token) else {
        return Err(protocol::server::error(
            protocol::msg::INVALID_WS_PARAMETERS,
        ));
    };
    if key.is_empty() || id.is_empty() || token.is_empty() {
        return Err(protocol::server::error(
            protocol::msg::INVALID_WS_PARAMETERS,
        ));
    }
    if !protocol::is_valid_key(&key) {
        return Err(protocol::server::invalid_key());
    }
    if !protocol::is_valid_id(&id) {
        return Err(protocol::server::error(protocol::msg::INVALID_ID));
    }
    if !protocol::is_valid_token(&token) {
        return Err(protocol::server::error(protocol::msg::INVALID_TOKEN));
    }
    Ok(Admitted {
        key,
        id,
        token,
        presence: p.presence,
    })
}

/// Runs one connection to its end. Never panics; every exit path leaves the
/// registry without this session. `marker` is how this socket's frame
/// limiter reports a discarded oversized message.
pub(crate) async fn run(
    mut ws: Socket,
    marker: OversizeMarker,
    shared: Arc<Shared>,
    params: Params,
    mut stop: watch::Receiver<bool>,
) {
    let who = match admit(params) {
        Ok(who) => who,
        Err(frame) => {
            refuse(&mut ws, frame).await;
            return;
        }
    };
    let (tx, rx) = outbound::channel(
        shared.limits.outbound_queue,
        shared.limits.outbound_queue_bytes,
    );
    let mut rx = rx.delayed_by(shared.relay_delay.clone());
    let joined = shared
        .registry()
        .join(&who.key, &who.id, &who.token, who.presence, tx);
    let joined = match joined {
        Ok(j) => j,
        Err(e) => {
            debug!(key = %who.key, id = %who.id, reason = ?e, "join refused");
            refuse(&mut ws, e.frame()).await;
            return;
        }
    };
    debug!(key = %who.key, id = %who.id, "peer joined");
    let conn = joined.conn;
    let mut greeting = vec![Utf8Bytes::from(protocol::server::open())];
    if let Some(snapshot) = &joined.snapshot {
        greeting.push(Utf8Bytes::from(protocol::server::peers(snapshot)));
    }
    greeting.extend(joined.held);
    let mut ok = true;
    for frame in greeting {
        if !write(&mut ws, Message::Text(frame)).await {
            ok = false;
            break;
        }
    }
    if ok && !*stop.borrow() {
        let link = Link {
            who: &who,
            conn,
            marker,
        };
        serve(&mut ws, &shared, link, &mut rx, &mut stop).await;
    }
    let stopping = *stop.borrow();
    let left = if stopping {
        shared.registry().leave_quietly(&who.key, &who.id, conn)
    } else {
        shared.registry().leave(&who.key, &who.id, conn)
    };
    if left {
        debug!(key = %who.key, id = %who.id, stopping, "peer left");
    }
}

/// Who is at the other end of an admitted socket.
#[derive(Clone, Copy)]
struct Link<'a> {
    who: &'a Admitted,
    conn: ConnId,
    marker: OversizeMarker,
}

/// The main loop of an admitted peer.
async fn serve(
    ws: &mut Socket,
    shared: &Shared,
    link: Link<'_>,
    rx: &mut OutboundRx,
    stop: &mut watch::Receiver<bool>,
) {
    let who = link.who;
    let alive = shared.limits.alive_timeout;
    let mut deadline = Instant::now() + alive;
    loop {
        tokio::select! {
            _ = stop.changed() => {
                close(ws, CLOSE_GOING_AWAY, "server shutting down").await;
                return;
            }
            out = rx.recv() => match out {
                Some(frame) => {
                    if !write(ws, Message::Text(frame)).await {
                        return;
                    }
                }
                None => {
                    // The registry dropped our queue: replaced by a newer
                    // session with the same token, or evicted as too slow.
                    close(ws, CLOSE_POLICY, "session superseded").await;
                    return;
                }
            },
            _ = tokio::time::sleep_until(deadline) => {
                debug!(key = %who.key, id = %who.id, "dropping silent peer");
                close(ws, CLOSE_GOING_AWAY, "alive timeout").await;
                return;
            }
            incoming = ws.next() => {
                let msg = match incoming {
                    None => return,
                    Some(Ok(msg)) => msg,
                    Some(Err(e)) => {
                        // Broken WebSocket framing (not size: the frame
                        // limiter turns oversized messages into markers):
                        // the stream cannot be resynchronised, so report and
                        // close.
                        let text = format!("websocket error: {e}");
                        if write(ws, Message::Text(protocol::server::error(&text).into())).await {
                            close(ws, CLOSE_PROTOCOL, "bad framing").await;
                        }
                        return;
                    }
                };
                deadline = Instant::now() + alive;
                let parsed = match receive(&msg, link.marker, shared.limits.max_frame_bytes) {
                    Received::Frame(parsed) => parsed,
                    Received::Control => continue,
                    Received::Close => return,
                };
                match handle(shared, who, link.conn, parsed) {
                    Step::Continue => {}
                    Step::Reply(frame) => {
                        if !write(ws, Message::Text(frame)).await {
                            return;
                        }
                    }
                    Step::Depart => {
                        close(ws, CLOSE_NORMAL, "left").await;
                        return;
                    }
                }
            }
        }
    }
}

/// What one WebSocket message from the client amounts to.
enum Received {
    /// A protocol frame, parsed or refused.
    Frame(Result<ClientMessage, FrameError>),
    /// Ping or pong: nothing for the protocol.
    Control,
    /// The client closed.
    Close,
}

/// Parses a message; a binary one may be this socket's marker for an
/// oversized message the frame limiter discarded.
fn receive(msg: &Message, marker: OversizeMarker, max: usize) -> Received {
    let text = match msg {
        Message::Text(t) => Ok(t.as_str()),
        Message::Binary(b) => match marker.decode(b) {
            Some(size) => Err(FrameError::TooLarge {
                size: usize::try_from(size).unwrap_or(usize::MAX),
                max,
            }),
            None => std::str::from_utf8(b).map_err(|_| FrameError::NotUtf8),
        },
        Message::Close(_) => return Received::Close,
        Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => return Received::Control,
    };
    Received::Frame(text.and_then(|t| protocol::parse_client_frame(t, max)))
}

/// What the loop does after one frame.
enum Step {
    Continue,
    Reply(Outbound),
    Depart,
}

fn handle(
    shared: &Shared,
    who: &Admitted,
    conn: ConnId,
    parsed: Result<ClientMessage, FrameError>,
) -> Step {
    let from = Origin {
        key: &who.key,
        id: &who.id,
        conn,
    };
    let now = Instant::now().into_std();
    let reply = match parsed {
        Err(e) => {
            trace!(key = %who.key, id = %who.id, error = %e, "bad frame");
            return Step::Reply(Utf8Bytes::from(protocol::server::error(&e.to_string())));
        }
        Ok(ClientMessage::Heartbeat) => None,
        Ok(ClientMessage::Depart) => return Step::Depart,
        Ok(ClientMessage::Relay { kind, dst, payload }) => {
            shared
                .registry()
                .relay(from, kind.message_type(), &dst, payload.as_ref(), now)
        }
        Ok(ClientMessage::Expire { dst }) => {
            shared
                .registry()
                .relay(from, MessageType::Expire, &dst, None, now)
        }
    };
    match reply {
        Some(frame) => Step::Reply(frame),
        None => Step::Continue,
    }
}

/// Sends a refusal frame and closes; errors are irrelevant at this point.
async fn refuse(ws: &mut Socket, frame: String) {
    if write(ws, Message::Text(frame.into())).await {
        close(ws, CLOSE_POLICY, "refused").await;
    }
}

/// Writes one message within [`WRITE_TIMEOUT`]; false when the peer is gone
/// or stuck.
async fn write(ws: &mut Socket, msg: Message) -> bool {
    matches!(timeout(WRITE_TIMEOUT, ws.send(msg)).await, Ok(Ok(())))
}

async fn close(ws: &mut Socket, code: CloseCode, reason: &'static str) {
    let frame = CloseFrame {
        code,
        reason: Utf8Bytes::from_static(reason),
    };
    let _ = timeout(WRITE_TIMEOUT, ws.send(Message::Close(Some(frame)))).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parameters_are_decoded_and_unknown_ones_ignored() {
        let p = Params::from_query(Some(
            "key=k1&id=my%20peer&token=abc&version=1.5.4&presence=1",
        ));
        assert_eq!(
            p,
            Params {
                key: Some("k1".into()),
                id: Some("my peer".into()),
                token: Some("abc".into()),
                presence: true
            }
        );
        assert_eq!(Params::from_query(None), Params::default());
        assert!(!Params::from_query(Some("presence=0")).presence);
    }

    #[test]
    fn admission_reports_missing_parameters_then_key_then_id() {
        let missing = admit(Params::from_query(Some("key=k&id=a"))).err();
        assert_eq!(
            missing,
            Some(protocol::server::error(
                protocol::msg::INVALID_WS_PARAMETERS
            ))
        );
        let bad_key = admit(Params::from_query(Some("key=a/b&id=a&token=t"))).err();
        assert_eq!(bad_key, Some(protocol::server::invalid_key()));
        let bad_id = admit(Params::from_query(Some("key=k&id=%0A&token=t"))).err();
        assert_eq!(
            bad_id,
            Some(protocol::server::error(protocol::msg::INVALID_ID))
        );
        assert!(admit(Params::from_query(Some("key=k&id=a&token=t"))).is_ok());
    }

    #[test]
    fn only_this_sockets_marker_reads_as_an_oversized_frame() {
        let marker = OversizeMarker::random();
        let forged = OversizeMarker::random();
        let frame = |m: OversizeMarker| Message::Binary(m.encode(70_000).into());
        match receive(&frame(marker), marker, 1024) {
            Received::Frame(Err(e)) => assert_eq!(
                e,
                FrameError::TooLarge {
                    size: 70_000,
                    max: 1024
                }
            ),
            _ => panic!("the marker was not recognised"),
        }
        match receive(&frame(forged), marker, 1024) {
            Received::Frame(Err(e)) => assert_eq!(e, FrameError::NotUtf8),
            _ => panic!("a forged marker was not refused as binary garbage"),
        }
        let json = Message::Binary(br#"{"type":"HEARTBEAT"}"#.to_vec().into());
        assert!(matches!(
            receive(&json, marker, 1024),
            Received::Frame(Ok(ClientMessage::Heartbeat))
        ));
    }
}
