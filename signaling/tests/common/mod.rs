//! Helpers shared by the integration tests: starting a server on a free
//! loopback port, a raw WebSocket peer that speaks the protocol by hand (to
//! send what a well-behaved client never would), and bounded waits.

#![allow(dead_code)]

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use signaling::{ClientEvent, Limits, Server, ServerConfig, ServerHandle};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Upper bound for anything a test waits for.
pub const WAIT: Duration = Duration::from_secs(5);

/// A server on 127.0.0.1:0 with `limits`.
pub async fn server_with(limits: Limits) -> ServerHandle {
    let config = ServerConfig {
        limits,
        ..ServerConfig::default()
    };
    Server::bind(config).await.expect("bind").spawn()
}

/// A server with default limits.
pub async fn server() -> ServerHandle {
    server_with(Limits::default()).await
}

/// `ws://` URL of the PeerJS endpoint for `query`.
pub fn ws_url(http_base: &str, query: &str) -> String {
    format!(
        "{}peerjs?{}",
        http_base.replacen("http://", "ws://", 1),
        query
    )
}

/// A peer that speaks raw frames.
pub struct Raw {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Raw {
    /// Opens the socket without reading anything.
    pub async fn connect(http_base: &str, query: &str) -> Raw {
        let (ws, _) = tokio_tungstenite::connect_async(ws_url(http_base, query))
            .await
            .expect("websocket connect");
        Raw { ws }
    }

    /// Connects as `id` in cluster `key` and checks the `OPEN` greeting.
    pub async fn join(http_base: &str, key: &str, id: &str) -> Raw {
        Self::join_with(http_base, &format!("key={key}&id={id}&token=tok-{id}")).await
    }

    /// Connects with `query` and checks the `OPEN` greeting.
    pub async fn join_with(http_base: &str, query: &str) -> Raw {
        let mut raw = Raw::connect(http_base, query).await;
        assert_eq!(raw.recv_text().await, r#"{"type":"OPEN"}"#);
        raw
    }

    pub async fn send_text(&mut self, text: impl Into<String>) {
        self.ws
            .send(Message::text(text.into()))
            .await
            .expect("send");
    }

    pub async fn send_json(&mut self, v: Value) {
        self.send_text(v.to_string()).await;
    }

    /// The next text frame, within [`WAIT`].
    pub async fn recv_text(&mut self) -> String {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let next = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .expect("timed out waiting for a frame");
            match next {
                Some(Ok(Message::Text(t))) => return t.as_str().to_string(),
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                other => panic!("expected a text frame, got {other:?}"),
            }
        }
    }

    /// The next text frame as JSON.
    pub async fn recv_json(&mut self) -> Value {
        let text = self.recv_text().await;
        serde_json::from_str(&text).expect("server sent JSON")
    }

    /// Asserts that the next frame is an `ERROR` and returns its `msg`.
    pub async fn expect_error(&mut self) -> String {
        let v = self.recv_json().await;
        assert_eq!(v["type"], "ERROR", "expected ERROR, got {v}");
        v["payload"]["msg"].as_str().expect("msg").to_string()
    }

    /// Asserts that the server closes the socket within [`WAIT`] (text
    /// frames before the close are returned).
    pub async fn expect_closed(&mut self) -> Vec<String> {
        let mut texts = Vec::new();
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            match tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .expect("socket was not closed in time")
            {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return texts,
                Some(Ok(Message::Text(t))) => texts.push(t.as_str().to_string()),
                Some(Ok(_)) => {}
            }
        }
    }

    /// Asserts that no text frame arrives for `d`.
    pub async fn expect_silence(&mut self, d: Duration) {
        let deadline = tokio::time::Instant::now() + d;
        loop {
            match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => return,
                Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
                Ok(other) => panic!("expected silence, got {other:?}"),
            }
        }
    }
}

/// The next event within [`WAIT`].
pub async fn next_event(rx: &mut mpsc::Receiver<ClientEvent>) -> ClientEvent {
    tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("timed out waiting for an event")
        .expect("event channel closed")
}

/// Waits until `check` holds, polling every 20 ms, for at most [`WAIT`].
pub async fn eventually<F: FnMut() -> bool>(what: &str, mut check: F) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
