//! The signaling server: configuration, binding, running and stopping.
//!
//! [`Server::bind`] opens the listening socket (so the caller learns the port
//! before anything runs), [`Server::run`] / [`Server::run_until`] serve in the
//! current task, and [`Server::spawn`] serves in a background task owned by a
//! [`ServerHandle`] that stops everything — listener, sessions, expiry
//! sweeper — on [`ServerHandle::shutdown`] or when dropped.

mod frame_limit;
mod http;
mod outbound;
mod registry;
mod session;
mod websocket;

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tracing::info;

pub use registry::ServerStats;

use crate::error::ServerError;
use crate::limits::Limits;
use outbound::RelayDelay;
use registry::Registry;

/// How long [`ServerHandle::shutdown`] waits for in-flight HTTP requests.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Where and how the server listens.
///
/// Why `path`: the official server can be mounted under a prefix
/// (`--path /myapp`); ours can too, so the same client configuration works
/// against either.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// Listening address; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Base path of every endpoint (`<path>peerjs`, `<path><key>/id`, ...).
    pub path: String,
    /// Resource limits and timeouts.
    pub limits: Limits,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
            path: String::from("/"),
            limits: Limits::default(),
        }
    }
}

/// State shared by every request and session of one server.
pub(crate) struct Shared {
    pub limits: Limits,
    registry: Mutex<Registry>,
    /// How long every frame to a client waits (slow signaling, a fault); zero normally.
    pub relay_delay: RelayDelay,
}

impl Shared {
    /// Locks the registry. A poisoned lock (a panic elsewhere while holding
    /// it) is recovered rather than propagated: the registry's invariants
    /// are re-established by every operation.
    pub(crate) fn registry(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A bound, not yet running, signaling server.
pub struct Server {
    listener: TcpListener,
    local_addr: SocketAddr,
    base: String,
    shared: Arc<Shared>,
}

impl Server {
    /// Validates `config` and binds the listening socket.
    ///
    /// Why separate from running: the caller (the bench, a test) needs the
    /// actual port before it launches nodes.
    pub async fn bind(config: ServerConfig) -> Result<Server, ServerError> {
        config.limits.validate()?;
        let base = normalize_base(&config.path)?;
        let listener = TcpListener::bind(config.listen).await?;
        let local_addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            registry: Mutex::new(Registry::new(config.limits.clone())),
            limits: config.limits,
            relay_delay: RelayDelay::default(),
        });
        Ok(Server {
            listener,
            local_addr,
            base,
            shared,
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Base HTTP URL (`http://127.0.0.1:9000/`), what clients put in
    /// [`crate::ClientConfig::url`].
    pub fn url(&self) -> String {
        base_url(self.local_addr, &self.base)
    }

    /// Current counters.
    pub fn stats(&self) -> ServerStats {
        self.shared.registry().stats()
    }

    /// Serves until the listener fails.
    pub async fn run(self) -> Result<(), ServerError> {
        self.run_until(std::future::pending()).await
    }

    /// Serves until `shutdown` completes, then closes every WebSocket session
    /// (close code 1001) and finishes in-flight HTTP requests.
    pub async fn run_until<F>(self, shutdown: F) -> Result<(), ServerError>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let (stop_tx, stop_rx) = watch::channel(false);
        let state = http::AppState {
            shared: self.shared.clone(),
            stop: stop_rx.clone(),
        };
        let app = http::router(&self.base, state);
        let sweeper = tokio::spawn(sweep(
            self.shared.clone(),
            self.shared.limits.expire_timeout,
            stop_rx,
        ));
        info!(addr = %self.local_addr, path = %self.base, "signaling server listening");
        let signal = async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        };
        // Signaling frames are small and latency-bound: without TCP_NODELAY a frame written
        // while an earlier one is unacknowledged waits for the peer's delayed ACK (~40 ms on
        // Linux), which was measured on every cold start's links (an OFFER 42 ms late).
        let listener = self.listener.tap_io(|tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!("cannot set TCP_NODELAY: {e}");
            }
        });
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(signal)
            .await;
        sweeper.abort();
        served.map_err(ServerError::Io)
    }

    /// Serves in a background task; the returned handle stops it.
    pub fn spawn(self) -> ServerHandle {
        let (tx, rx) = oneshot::channel::<()>();
        let local_addr = self.local_addr;
        let url = self.url();
        let base = self.base.clone();
        let shared = self.shared.clone();
        let task = tokio::spawn(self.run_until(async move {
            // A dropped sender also means stop.
            let _ = rx.await;
        }));
        ServerHandle {
            local_addr,
            base,
            url,
            shared,
            stop: Some(tx),
            task: Some(task),
        }
    }
}

/// Owner of a spawned server.
///
/// Why a handle that stops on drop: a test or a bench run that ends early
/// (error, panic) must not leave a server holding its port and sessions.
pub struct ServerHandle {
    local_addr: SocketAddr,
    base: String,
    url: String,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), ServerError>>>,
}

impl ServerHandle {
    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Base HTTP URL, for [`crate::ClientConfig::url`].
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// Current counters.
    pub fn stats(&self) -> ServerStats {
        self.shared.registry().stats()
    }

    /// Slow signaling: from now on every frame the server sends (relayed offers, answers
    /// and candidates, presence news) leaves `delay` after it was queued, in order.
    /// `Duration::ZERO` lifts it.
    pub fn set_relay_delay(&self, delay: Duration) {
        self.shared.relay_delay.set(delay);
    }

    /// The configuration that binds a new server where this one listens, for a restart
    /// after [`ServerHandle::shutdown`] (a signaling outage): same address, path and limits.
    pub fn restart_config(&self) -> ServerConfig {
        ServerConfig {
            listen: self.local_addr,
            path: self.base.clone(),
            limits: self.shared.limits.clone(),
        }
    }

    /// Stops accepting, closes every session, and waits (up to a few
    /// seconds) for the server task to finish.
    pub async fn shutdown(mut self) -> Result<(), ServerError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let Some(mut task) = self.task.take() else {
            return Ok(());
        };
        match tokio::time::timeout(SHUTDOWN_GRACE, &mut task).await {
            Ok(Ok(result)) => result,
            Ok(Err(e)) => Err(ServerError::Task(e.to_string())),
            Err(_) => {
                task.abort();
                Ok(())
            }
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            // Aborting drops the session stop signal's sender, which makes
            // every session close its socket.
            task.abort();
        }
    }
}

/// Periodically expires held messages; ends with the server.
async fn sweep(shared: Arc<Shared>, expire_timeout: Duration, mut stop: watch::Receiver<bool>) {
    let period = (expire_timeout / 5).clamp(Duration::from_millis(10), Duration::from_secs(1));
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = tick.tick() => shared.registry().expire(std::time::Instant::now()),
        }
    }
}

/// Turns `""`, `"x"`, `"/x"`, `"/x/"` into `"/"` or `"/x/"`; refuses
/// characters that would break routing.
fn normalize_base(path: &str) -> Result<String, ServerError> {
    let trimmed = path.trim_matches('/');
    if trimmed.is_empty() {
        return Ok(String::from("/"));
    }
    let ok = trimmed.split('/').all(|seg| {
        !seg.is_empty()
            && seg
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~'))
    });
    if !ok {
        return Err(ServerError::InvalidConfig(format!(
            "invalid base path {path:?}"
        )));
    }
    Ok(format!("/{trimmed}/"))
}

/// `http://<addr><base>`, with an unspecified address replaced by loopback
/// so the URL is usable as-is by local clients.
fn base_url(addr: SocketAddr, base: &str) -> String {
    let ip = match addr.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}{}", SocketAddr::new(ip, addr.port()), base)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_paths_are_normalized() {
        assert_eq!(normalize_base("/").ok().as_deref(), Some("/"));
        assert_eq!(normalize_base("").ok().as_deref(), Some("/"));
        assert_eq!(normalize_base("signal").ok().as_deref(), Some("/signal/"));
        assert_eq!(normalize_base("/a/b/").ok().as_deref(), Some("/a/b/"));
        assert!(normalize_base("/a//b").is_err());
        assert!(normalize_base("/{key}").is_err());
    }

    #[test]
    fn url_of_a_wildcard_listener_points_at_loopback() {
        let addr: SocketAddr = "0.0.0.0:9000"
            .parse()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 9000)));
        assert_eq!(base_url(addr, "/"), "http://127.0.0.1:9000/");
    }
}
