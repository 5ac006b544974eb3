//! The WebSocket upgrade, done here rather than by axum's extractor so that
//! the client's bytes pass through the [`FrameLimiter`] before tungstenite
//! reads them (axum hands out a socket whose byte stream cannot be wrapped).
//!
//! [`accept`] checks the HTTP/1.1 upgrade request (RFC 6455 section 4.2.1),
//! answers `101 Switching Protocols` and runs the session on the upgraded
//! connection; [`socket_config`] bounds what tungstenite itself buffers.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::WebSocketStream;
use tracing::debug;

use super::frame_limit::{FrameLimiter, OversizeMarker};
use crate::limits::Limits;

/// An admitted client's socket, as sessions use it.
pub(crate) type Socket = WebSocketStream<Limited<TokioIo<Upgraded>>>;

/// Bytes read from the socket per call.
const READ_CHUNK: usize = 8 * 1024;

/// What tungstenite may buffer for one connection.
///
/// Why these values: messages reach it already cut to the limit, so its own
/// read limits only guard against a limiter bug. Writes go out at once (the
/// session flushes every frame anyway), and the write buffer is bounded so
/// that automatic pong replies to a client that sends pings but never reads
/// cannot pile up: past the bound tungstenite keeps only the latest pong, as
/// RFC 6455 allows, and a frame that no longer fits fails the write, which
/// ends the session.
pub(crate) fn socket_config(limits: &Limits) -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(limits.max_frame_bytes))
        .max_frame_size(Some(limits.max_frame_bytes))
        .write_buffer_size(0)
        .max_write_buffer_size(limits.max_outbound_frame_bytes() + 64 * 1024)
}

/// Answers an upgrade request: `101` and `session` spawned on the socket, or
/// an HTTP error saying what is wrong with the request.
pub(crate) fn accept<F, Fut>(mut request: Request, limits: &Limits, session: F) -> Response
where
    F: FnOnce(Socket, OversizeMarker) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let accept_key = match check_request(request.headers()) {
        Ok(key) => key,
        Err(refusal) => return refusal.into_response(),
    };
    let Some(on_upgrade) = request.extensions_mut().remove::<OnUpgrade>() else {
        return Refusal::Bad("connection cannot be upgraded").into_response();
    };
    let marker = OversizeMarker::random();
    let limiter = FrameLimiter::new(limits.max_frame_bytes, marker);
    let config = socket_config(limits);
    tokio::spawn(async move {
        let upgraded = match on_upgrade.await {
            Ok(upgraded) => upgraded,
            Err(e) => {
                debug!(error = %e, "websocket upgrade failed");
                return;
            }
        };
        let io = Limited::new(TokioIo::new(upgraded), limiter);
        let ws = WebSocketStream::from_raw_socket(io, Role::Server, Some(config)).await;
        session(ws, marker).await;
    });
    let mut response = StatusCode::SWITCHING_PROTOCOLS.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept_key);
    response
}

/// Why an upgrade request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// `400` with the reason.
    Bad(&'static str),
    /// `426` naming the one version spoken (RFC 6455 section 4.4).
    Version,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::Bad(why) => (StatusCode::BAD_REQUEST, why).into_response(),
            Refusal::Version => (
                StatusCode::UPGRADE_REQUIRED,
                [(header::SEC_WEBSOCKET_VERSION, "13")],
                "unsupported WebSocket version",
            )
                .into_response(),
        }
    }
}

/// Checks the handshake headers; returns the `Sec-WebSocket-Accept` value.
fn check_request(headers: &HeaderMap) -> Result<HeaderValue, Refusal> {
    if !has_token(headers, header::CONNECTION, "upgrade") {
        return Err(Refusal::Bad("expected Connection: upgrade"));
    }
    if !has_token(headers, header::UPGRADE, "websocket") {
        return Err(Refusal::Bad("expected Upgrade: websocket"));
    }
    if headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .is_none_or(|v| v.as_bytes() != b"13")
    {
        return Err(Refusal::Version);
    }
    let key = headers
        .get(header::SEC_WEBSOCKET_KEY)
        .ok_or(Refusal::Bad("missing Sec-WebSocket-Key"))?;
    HeaderValue::from_str(&derive_accept_key(key.as_bytes()))
        .map_err(|_| Refusal::Bad("invalid Sec-WebSocket-Key"))
}

/// Whether any comma-separated token of header `name` equals `token`,
/// ignoring case (`Connection: keep-alive, Upgrade` counts).
fn has_token(headers: &HeaderMap, name: HeaderName, token: &str) -> bool {
    headers.get_all(name).iter().any(|value| {
        value
            .as_bytes()
            .split(|&b| b == b',')
            .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
    })
}

/// A byte stream whose reads go through a [`FrameLimiter`]; writes pass
/// unchanged.
pub(crate) struct Limited<S> {
    inner: S,
    limiter: FrameLimiter,
    chunk: Box<[u8]>,
    /// Limited bytes not yet handed to the reader, from `ready_from` on.
    ready: Vec<u8>,
    ready_from: usize,
    /// Set once the limiter refused the stream; every later read fails.
    broken: Option<super::frame_limit::FramingError>,
}

impl<S> Limited<S> {
    pub(crate) fn new(inner: S, limiter: FrameLimiter) -> Self {
        Limited {
            inner,
            limiter,
            chunk: vec![0; READ_CHUNK].into_boxed_slice(),
            ready: Vec::new(),
            ready_from: 0,
            broken: None,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Limited<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        loop {
            if let Some(e) = this.broken {
                return Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, e)));
            }
            if this.ready_from < this.ready.len() {
                let n = buf.remaining().min(this.ready.len() - this.ready_from);
                buf.put_slice(&this.ready[this.ready_from..this.ready_from + n]);
                this.ready_from += n;
                if this.ready_from == this.ready.len() {
                    this.ready.clear();
                    this.ready_from = 0;
                }
                return Poll::Ready(Ok(()));
            }
            let mut raw = ReadBuf::new(&mut this.chunk);
            ready!(Pin::new(&mut this.inner).poll_read(cx, &mut raw))?;
            if raw.filled().is_empty() {
                return Poll::Ready(Ok(()));
            }
            if let Err(e) = this.limiter.push(raw.filled(), &mut this.ready) {
                this.broken = Some(e);
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Limited<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn headers(pairs: &[(HeaderName, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(name.clone(), HeaderValue::from_static(value));
        }
        map
    }

    fn valid() -> Vec<(HeaderName, &'static str)> {
        vec![
            (header::CONNECTION, "keep-alive, Upgrade"),
            (header::UPGRADE, "websocket"),
            (header::SEC_WEBSOCKET_VERSION, "13"),
            (header::SEC_WEBSOCKET_KEY, "dGhlIHNhbXBsZSBub25jZQ=="),
        ]
    }

    #[test]
    fn a_valid_handshake_gets_the_rfc_accept_key() {
        // The worked example of RFC 6455 section 1.3.
        let accepted = check_request(&headers(&valid())).ok();
        assert_eq!(
            accepted.as_ref().map(|v| v.as_bytes()),
            Some(&b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="[..])
        );
    }

    #[test]
    fn a_handshake_missing_any_part_is_refused() {
        for (i, expected) in [
            Refusal::Bad("expected Connection: upgrade"),
            Refusal::Bad("expected Upgrade: websocket"),
            Refusal::Version,
            Refusal::Bad("missing Sec-WebSocket-Key"),
        ]
        .into_iter()
        .enumerate()
        {
            let mut pairs = valid();
            pairs.remove(i);
            assert_eq!(check_request(&headers(&pairs)).err(), Some(expected));
        }
    }

    #[test]
    fn another_protocol_version_gets_426_naming_version_13() {
        let mut old = valid();
        old[2].1 = "8";
        let refused = check_request(&headers(&old))
            .err()
            .map(|r| r.into_response());
        assert_eq!(
            refused.as_ref().map(|r| r.status()),
            Some(StatusCode::UPGRADE_REQUIRED)
        );
        assert_eq!(
            refused
                .as_ref()
                .and_then(|r| r.headers().get(header::SEC_WEBSOCKET_VERSION)),
            Some(&HeaderValue::from_static("13"))
        );
    }

    #[test]
    fn the_write_buffer_is_bounded_but_fits_any_frame_the_server_writes() {
        let limits = Limits::default();
        let config = socket_config(&limits);
        assert!(config.max_write_buffer_size < 16 * 1024 * 1024);
        assert!(config.max_write_buffer_size > limits.max_outbound_frame_bytes());
    }

    #[tokio::test]
    async fn client_frames_are_read_through_the_limiter() {
        let marker = OversizeMarker::random();
        let (mut client, server) = tokio::io::duplex(1024);
        let mut limited = Limited::new(server, FrameLimiter::new(1024, marker));
        // "hi", masked with key 1 2 3 4, then an oversized text frame.
        let mut input = vec![0x81, 0x82, 1, 2, 3, 4, b'h' ^ 1, b'i' ^ 2];
        input.extend_from_slice(&[0x81, 0x80 | 126, 0x08, 0x00, 0, 0, 0, 0]);
        input.extend_from_slice(&[b'x'; 2048]);
        let writer = tokio::spawn(async move {
            let _ = client.write_all(&input).await;
            client
        });
        let mut expected = vec![0x81, 0x82, 0, 0, 0, 0, b'h', b'i'];
        let marker_payload = marker.encode(2048);
        expected.extend_from_slice(&[0x82, 0x80 | marker_payload.len() as u8, 0, 0, 0, 0]);
        expected.extend_from_slice(&marker_payload);
        let mut got = vec![0u8; expected.len()];
        assert!(limited.read_exact(&mut got).await.is_ok());
        assert_eq!(got, expected);
        drop(writer.await);
    }

    #[tokio::test]
    async fn a_framing_error_fails_this_read_and_every_later_one() {
        let marker = OversizeMarker::random();
        let (mut client, server) = tokio::io::duplex(1024);
        let mut limited = Limited::new(server, FrameLimiter::new(1024, marker));
        // An unmasked text frame: refused.
        let writer = tokio::spawn(async move {
            let _ = client.write_all(&[0x81, 0x02, b'h', b'i']).await;
            client
        });
        let mut buf = [0u8; 64];
        let first = limited.read(&mut buf).await.map_err(|e| e.kind());
        assert_eq!(first, Err(io::ErrorKind::InvalidData));
        let second = limited.read(&mut buf).await.map_err(|e| e.kind());
        assert_eq!(second, Err(io::ErrorKind::InvalidData));
        drop(writer.await);
    }
}
