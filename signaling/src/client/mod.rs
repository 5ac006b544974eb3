//! The Rust signaling client used by nodes.
//!
//! [`Client::connect`] opens the WebSocket, waits for `OPEN` and spawns a
//! background task (see `driver.rs`) that heartbeats, delivers server frames
//! as [`ClientEvent`]s and reconnects with backoff — same id, same token — if
//! the server goes away. The [`Client`] itself is a cheap, cloneable handle.
//!
//! Nothing here is needed once two peers have their WebRTC link: a signaling
//! outage shows up as [`ClientEvent::Disconnected`] and failing
//! [`Client::send`]s, never as a panic or a closed data channel.
//!
//! Works against our server and against the official `peer` server. Presence events
//! ([`ClientEvent::PeerJoined`], [`ClientEvent::PeerLeft`], [`ClientEvent::Peers`]) are
//! pushed by ours ([`Presence::Pushed`]); against the official one they come from polling
//! its peer list ([`Presence::Polled`], `poll.rs`; needs its `--allow_discovery`). A
//! [`Namespace`] keeps clusters that share the official server's one key apart.

mod driver;
mod http;
mod namespace;
mod poll;
mod probe;

pub use namespace::Namespace;
pub use probe::{probe, ProbeError, ServerKind};

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use url::Url;

use crate::error::ClientError;
use crate::protocol::{self, Relay};
use driver::{Command, Driver, Settings};
use http::Endpoint;

/// Timeout of the `/id` and `/peers` HTTP requests.
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);

/// Capacity of the command channel from handles to the driver task.
const COMMAND_QUEUE: usize = 256;

/// Exponential backoff between reconnection attempts.
///
/// Why configurable: CI wants quick retries against a local server, a real
/// deployment wants to spare a struggling one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backoff {
    /// Delay before the first attempt.
    pub initial: Duration,
    /// Ceiling of the delay.
    pub max: Duration,
    /// Growth factor per attempt.
    pub factor: u32,
    /// Attempts before giving up (`None`: never give up).
    pub max_attempts: Option<u32>,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(5),
            factor: 2,
            max_attempts: None,
        }
    }
}

impl Backoff {
    /// Nominal delay before attempt number `attempt` (0-based):
    /// `initial * factor^attempt`, capped at `max`. The client waits a random
    /// time between half of it and all of it.
    pub fn delay(&self, attempt: u32) -> Duration {
        let mut d = self.initial;
        for _ in 0..attempt {
            d = d.saturating_mul(self.factor.max(1));
            if d >= self.max {
                return self.max;
            }
        }
        d.min(self.max)
    }
}

/// How a client learns who else is in its cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    /// It does not: a client that only relays.
    Off,
    /// The server pushes it: raftrtc's extension (`presence=1`).
    Pushed,
    /// The client polls `GET /<key>/peers` at this interval: for the stock PeerJS server,
    /// started with `--allow_discovery`.
    Polled(Duration),
}

/// How to reach a signaling server and who we are there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// Base HTTP URL of the server, e.g. `http://127.0.0.1:9000/` (a path
    /// prefix is allowed: `http://host:9000/signal/`). `ws://` works too.
    pub url: String,
    /// The cluster: the PeerJS key (`[A-Za-z0-9_.-]{1,64}`).
    pub key: String,
    /// Our peer id in the cluster (without the namespace).
    pub id: String,
    /// Where our ids live on the server: none when the key is our cluster's alone.
    pub namespace: Namespace,
    /// Secret that lets us take our id back after a reconnect; random when
    /// `None`.
    pub token: Option<String>,
    /// How presence events (join/leave/snapshot) are had, if at all.
    pub presence: Presence,
    /// Heartbeat period (PeerJS uses 5 s).
    pub heartbeat: Duration,
    /// Reconnection policy.
    pub reconnect: Backoff,
    /// Limit for TCP connect + WebSocket upgrade + `OPEN`.
    pub connect_timeout: Duration,
    /// A server that sends nothing (not even a pong) for this long is
    /// considered lost and reconnected to.
    pub server_timeout: Duration,
    /// Capacity of the event channel returned by [`Client::connect`].
    pub event_capacity: usize,
}

impl ClientConfig {
    /// A configuration with the defaults for everything but the identity.
    pub fn new(url: impl Into<String>, key: impl Into<String>, id: impl Into<String>) -> Self {
        ClientConfig {
            url: url.into(),
            key: key.into(),
            id: id.into(),
            ..ClientConfig::default()
        }
    }

    fn validate(&self) -> Result<(), ClientError> {
        let bad = |m: &str| Err(ClientError::InvalidConfig(m.to_string()));
        if !protocol::is_valid_key(&self.key) {
            return bad("key must match [A-Za-z0-9_.-]{1,64}");
        }
        if !self.namespace.is_valid() {
            return bad("namespace must be 1-64 characters of [A-Za-z0-9_-]");
        }
        if !protocol::is_valid_id(&self.namespace.outer(&self.id)) {
            return bad("id (with its namespace) must be 1-128 characters of [A-Za-z0-9 _.:@-]");
        }
        if self.presence == Presence::Polled(Duration::ZERO) {
            return bad("the peer-list poll interval must be positive");
        }
        if self
            .token
            .as_deref()
            .is_some_and(|t| !protocol::is_valid_token(t))
        {
            return bad("token must be 1-128 printable ASCII characters");
        }
        if self.heartbeat.is_zero()
            || self.connect_timeout.is_zero()
            || self.server_timeout.is_zero()
        {
            return bad("heartbeat, connect_timeout and server_timeout must be positive");
        }
        if self.server_timeout <= self.heartbeat {
            return bad("server_timeout must be longer than heartbeat");
        }
        if self.event_capacity == 0 {
            return bad("event_capacity must be at least 1");
        }
        if self.reconnect.initial.is_zero() || self.reconnect.max < self.reconnect.initial {
            return bad("reconnect backoff needs 0 < initial <= max");
        }
        Ok(())
    }
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            url: String::from("http://127.0.0.1:9000/"),
            key: String::from("peerjs"),
            id: String::new(),
            namespace: Namespace::none(),
            token: None,
            presence: Presence::Off,
            heartbeat: Duration::from_secs(5),
            reconnect: Backoff::default(),
            connect_timeout: Duration::from_secs(10),
            server_timeout: Duration::from_secs(15),
            event_capacity: 1024,
        }
    }
}

/// Something the signaling server told us, or a change in our link to it.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientEvent {
    /// A message from another peer; `src` was stamped by the server.
    Relayed {
        /// Kind of message.
        kind: Relay,
        /// Sender id.
        src: String,
        /// Payload (`Null` when the sender sent none).
        payload: Value,
    },
    /// Presence: a member joined our cluster.
    PeerJoined(String),
    /// Presence: a member left our cluster.
    PeerLeft(String),
    /// Presence: the other members, sent after every (re)connection.
    Peers(Vec<String>),
    /// A message we sent to `dst` could not be delivered in time.
    Expired {
        /// The unreachable peer.
        dst: String,
    },
    /// The server reported an error (bad frame, refused reconnection, ...).
    ServerError(String),
    /// The link to the server is lost; reconnecting.
    Disconnected,
    /// The link is back (same id); presence clients get a fresh `Peers`.
    Reconnected,
}

struct Inner {
    id: String,
    key: String,
    namespace: Namespace,
    token: String,
    endpoint: Endpoint,
    cmds: mpsc::Sender<Command>,
    connected: Arc<AtomicBool>,
}

/// A handle to one signaling session; clone it freely.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("key", &self.inner.key)
            .field("id", &self.inner.id)
            .field("connected", &self.is_connected())
            .finish()
    }
}

impl Client {
    /// Connects, waits for `OPEN`, and starts the background task.
    ///
    /// Fails with [`ClientError::IdTaken`], [`ClientError::InvalidKey`] or
    /// [`ClientError::Rejected`] when the server refuses us; reconnection
    /// only applies once connected.
    pub async fn connect(
        config: ClientConfig,
    ) -> Result<(Client, mpsc::Receiver<ClientEvent>), ClientError> {
        config.validate()?;
        let base = parse_base(&config.url)?;
        let endpoint = Endpoint::from_url(&base)?;
        let token = config.token.clone().unwrap_or_else(random_token);
        let outer_id = config.namespace.outer(&config.id);
        let pushed = config.presence == Presence::Pushed;
        let ws_url = ws_url(&base, &config.key, &outer_id, &token, pushed)?;
        let ws = driver::open(&ws_url, config.connect_timeout).await?;

        let (cmd_tx, cmd_rx) = mpsc::channel(COMMAND_QUEUE);
        let (ev_tx, ev_rx) = mpsc::channel(config.event_capacity);
        let connected = Arc::new(AtomicBool::new(true));
        let settings = Settings {
            ws_url,
            heartbeat: config.heartbeat,
            server_timeout: config.server_timeout,
            connect_timeout: config.connect_timeout,
            backoff: config.reconnect.clone(),
        };
        if let Presence::Polled(interval) = config.presence {
            let poller = poll::Poller {
                endpoint: endpoint.clone(),
                key: config.key.clone(),
                namespace: config.namespace.clone(),
                me: config.id.clone(),
                interval,
                events: ev_tx.clone(),
                client: cmd_tx.downgrade(),
            };
            tokio::spawn(poller.run());
        }
        let driver = Driver::new(
            settings,
            cmd_rx,
            ev_tx,
            connected.clone(),
            config.namespace.clone(),
            outer_id,
        );
        tokio::spawn(driver.run(ws));
        let client = Client {
            inner: Arc::new(Inner {
                id: config.id,
                key: config.key,
                namespace: config.namespace,
                token,
                endpoint,
                cmds: cmd_tx,
                connected,
            }),
        };
        Ok((client, ev_rx))
    }

    /// Our id.
    pub fn id(&self) -> &str {
        &self.inner.id
    }

    /// Our cluster (PeerJS key).
    pub fn key(&self) -> &str {
        &self.inner.key
    }

    /// The token that lets us reclaim our id.
    pub fn token(&self) -> &str {
        &self.inner.token
    }

    /// Whether the link to the server is up right now.
    pub fn is_connected(&self) -> bool {
        self.inner.connected.load(Ordering::SeqCst)
    }

    /// Sends `kind` with `payload` to `dst` through the server.
    ///
    /// Returns once the frame is written to the socket. Fails with
    /// [`ClientError::NotConnected`] during an outage (nothing is queued:
    /// signaling state is stale after an outage, the caller decides what to
    /// resend) and [`ClientError::Closed`] after [`Client::close`].
    pub async fn send(&self, dst: &str, kind: Relay, payload: Value) -> Result<(), ClientError> {
        if !protocol::is_valid_id(dst) {
            return Err(ClientError::InvalidDestination(protocol::truncate(dst, 64)));
        }
        let text = protocol::client::relay(kind, &self.inner.namespace.outer(dst), &payload);
        let (ack, done) = oneshot::channel();
        self.inner
            .cmds
            .send(Command::Send { text, ack })
            .await
            .map_err(|_| ClientError::Closed)?;
        done.await.map_err(|_| ClientError::Closed)?
    }

    /// The connected ids of our cluster (`GET <base><key>/peers`, our namespace's only), us
    /// included.
    pub async fn peers(&self) -> Result<Vec<String>, ClientError> {
        let all = peers_at(&self.inner.endpoint, &self.inner.key).await?;
        Ok(self.inner.namespace.members(&all))
    }

    /// Closes the socket and stops the background task; later sends fail
    /// with [`ClientError::Closed`]. Idempotent.
    pub async fn close(&self) {
        let (ack, done) = oneshot::channel();
        if self.inner.cmds.send(Command::Close { ack }).await.is_ok() {
            let _ = done.await;
        }
    }

    /// Asks the server at `url` for a fresh id in cluster `key`
    /// (`GET <base><key>/id`), without connecting.
    pub async fn fetch_id(url: &str, key: &str) -> Result<String, ClientError> {
        let endpoint = Endpoint::from_url(&parse_base(url)?)?;
        let response = http::get(&endpoint, &format!("{key}/id"), HTTP_TIMEOUT).await?;
        let body = expect_ok(response)?;
        String::from_utf8(body)
            .map(|s| s.trim().to_string())
            .map_err(|_| ClientError::Protocol("id is not UTF-8".into()))
    }

    /// Lists the connected ids of cluster `key` at `url`
    /// (`GET <base><key>/peers`), without connecting.
    pub async fn list_peers(url: &str, key: &str) -> Result<Vec<String>, ClientError> {
        let endpoint = Endpoint::from_url(&parse_base(url)?)?;
        peers_at(&endpoint, key).await
    }
}

async fn peers_at(endpoint: &Endpoint, key: &str) -> Result<Vec<String>, ClientError> {
    if !protocol::is_valid_key(key) {
        return Err(ClientError::InvalidConfig(
            "key must match [A-Za-z0-9_.-]{1,64}".into(),
        ));
    }
    let response = http::get(endpoint, &format!("{key}/peers"), HTTP_TIMEOUT).await?;
    let body = expect_ok(response)?;
    Ok(serde_json::from_slice(&body)?)
}

fn expect_ok(response: http::Response) -> Result<Vec<u8>, ClientError> {
    if response.status == 200 {
        return Ok(response.body);
    }
    let text = String::from_utf8_lossy(&response.body);
    Err(ClientError::Http {
        status: response.status,
        body: protocol::truncate(text.trim(), 200),
    })
}

fn parse_base(url: &str) -> Result<Url, ClientError> {
    Url::parse(url).map_err(|e| ClientError::InvalidUrl(format!("{url}: {e}")))
}

/// `ws://host:port<base>peerjs?key=..&id=..&token=..[&presence=1]`
fn ws_url(
    base: &Url,
    key: &str,
    id: &str,
    token: &str,
    presence: bool,
) -> Result<Url, ClientError> {
    let mut url = base.clone();
    let scheme = match base.scheme() {
        "http" | "ws" => "ws",
        other => {
            return Err(ClientError::InvalidUrl(format!(
                "{base}: unsupported scheme {other}"
            )))
        }
    };
    url.set_scheme(scheme)
        .map_err(|_| ClientError::InvalidUrl(format!("{base}: cannot switch to {scheme}")))?;
    let mut path = base.path().to_string();
    if !path.ends_with('/') {
        path.push('/');
    }
    path.push_str(protocol::WS_PATH_SEGMENT);
    url.set_path(&path);
    url.set_fragment(None);
    url.set_query(None);
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("key", key)
            .append_pair("id", id)
            .append_pair("token", token);
        if presence {
            q.append_pair("presence", "1");
        }
    }
    Ok(url)
}

/// A random token like PeerJS's (`Math.random().toString(36)`), longer.
fn random_token() -> String {
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut rng = rand::rng();
    (0..16)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ws_url_follows_the_peerjs_layout() {
        let base = parse_base("http://127.0.0.1:9000/").ok();
        let url = base
            .as_ref()
            .map(|b| ws_url(b, "c1", "node 1", "tok", true));
        assert_eq!(
            url.and_then(Result::ok).map(|u| u.to_string()),
            Some("ws://127.0.0.1:9000/peerjs?key=c1&id=node+1&token=tok&presence=1".into())
        );
        let prefixed = parse_base("http://h:1/signal").ok();
        let url = prefixed.as_ref().map(|b| ws_url(b, "k", "a", "t", false));
        assert_eq!(
            url.and_then(Result::ok).map(|u| u.to_string()),
            Some("ws://h:1/signal/peerjs?key=k&id=a&token=t".into())
        );
    }

    #[test]
    fn backoff_grows_geometrically_up_to_its_ceiling() {
        let b = Backoff::default();
        assert_eq!(b.delay(0), Duration::from_millis(100));
        assert_eq!(b.delay(1), Duration::from_millis(200));
        assert_eq!(b.delay(3), Duration::from_millis(800));
        assert_eq!(b.delay(10), Duration::from_secs(5));
        assert_eq!(b.delay(u32::MAX), Duration::from_secs(5));
    }

    #[test]
    fn config_validation_names_the_problem() {
        let ok = ClientConfig::new("http://127.0.0.1:1/", "k", "a");
        assert!(ok.validate().is_ok());
        for bad in [
            ClientConfig::new("http://127.0.0.1:1/", "bad key", "a"),
            ClientConfig::new("http://127.0.0.1:1/", "k", ""),
            ClientConfig {
                heartbeat: Duration::from_secs(30),
                ..ok.clone()
            },
            ClientConfig {
                token: Some("has space".into()),
                ..ok.clone()
            },
        ] {
            assert!(matches!(bad.validate(), Err(ClientError::InvalidConfig(_))));
        }
    }

    #[test]
    fn random_tokens_are_valid_and_differ() {
        let t = random_token();
        assert!(protocol::is_valid_token(&t));
        assert_ne!(t, random_token());
    }
}
