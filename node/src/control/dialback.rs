//! Control over TCP, dialed by the node: how the bench drives nodes it cannot reach by a
//! Unix socket, such as swarm tasks on other hosts.
//!
//! Why the node dials: a task lives on an overlay network the bench's host is not on, but
//! every task already reaches the bench (its signaling server is there). So the bench listens
//! ([`Hub`]) and each node connects out to it ([`spawn_dialer`]).
//!
//! The protocol, JSON lines:
//! 1. The first line of every connection is the node's hello:
//!    `{"hello":"raftrtc-control","run":R,"node":N,"token":T}`, plus `"ticket":K` on a
//!    connection the bench asked for. The run's token is random per run and known only to
//!    the bench and the run's nodes.
//! 2. The first connection without a ticket is the node's *home*. When the bench wants a
//!    control connection it writes `{"open":K}` there; the node dials again with ticket `K`,
//!    and from then on that connection is an ordinary control connection
//!    ([`super::protocol`]): requests, answers, events.
//! 3. A connection whose hello is late, malformed, for an unknown run or with a wrong token
//!    is closed unanswered and logged ([`Hub::refusals`]); nothing else is read from it.
//!
//! The bench stamps events when it reads them, as over a Unix socket; what the network
//! between the hosts adds is in those stamps.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rand::RngCore;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, Notify};
use tokio::task::JoinHandle;

use super::client::read_bounded_line;
use super::events::EventBus;
use super::server::{serve_connection, ControlRequest, Serving};

/// What every hello says first, so a stray client is told apart from a node.
const MAGIC: &str = "raftrtc-control";
/// How long a new connection has to say hello.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest hello line (and `open` line) read.
const MAX_HELLO_BYTES: usize = 1024;
/// How long a node waits before dialing its home again after losing it.
const REDIAL: Duration = Duration::from_millis(200);
/// Refusals kept for [`Hub::refusals`] (the oldest are dropped).
const REFUSALS_KEPT: usize = 64;

/// The first line of a node's connection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Hello {
    hello: String,
    run: String,
    node: String,
    token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ticket: Option<u64>,
}

/// The bench asking, on a node's home connection, for one more control connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Open {
    open: u64,
}

/// Where and as whom a node dials back (`raftrtc node --control-dial`).
#[derive(Clone, PartialEq, Eq)]
pub struct DialBack {
    /// The bench's listener, `host:port`.
    pub bench: String,
    /// The run (the node's cluster name).
    pub run: String,
    /// This node's id.
    pub node: String,
    /// The run's token.
    pub token: String,
}

impl std::fmt::Debug for DialBack {
    /// Without the token: configurations end up in logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DialBack")
            .field("bench", &self.bench)
            .field("run", &self.run)
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

impl DialBack {
    fn hello(&self, ticket: Option<u64>) -> Vec<u8> {
        let hello = Hello {
            hello: MAGIC.to_owned(),
            run: self.run.clone(),
            node: self.node.clone(),
            token: self.token.clone(),
            ticket,
        };
        json_line(&hello)
    }
}

fn json_line(value: &impl Serialize) -> Vec<u8> {
    // Our own structs of strings and integers always serialize.
    let mut line = serde_json::to_vec(value).unwrap_or_default();
    line.push(b'\n');
    line
}

/// Keeps the node's home connection to the bench, dialing again whenever it is lost, and
/// opens a control connection for each `open` the bench sends; stops when the node loop is
/// gone or the returned [`Serving`] is dropped.
pub fn spawn_dialer(
    dial: DialBack,
    requests: mpsc::Sender<ControlRequest>,
    events: EventBus,
) -> Serving {
    Serving::task(tokio::spawn(async move {
        while !requests.is_closed() {
            match home(&dial, &requests, &events).await {
                Ok(()) => tracing::info!(bench = %dial.bench, "the bench closed the control home"),
                Err(e) => tracing::warn!(bench = %dial.bench, "control dial-back: {e}"),
            }
            tokio::time::sleep(REDIAL).await;
        }
    }))
}

/// One home connection, until it ends.
async fn home(
    dial: &DialBack,
    requests: &mpsc::Sender<ControlRequest>,
    events: &EventBus,
) -> std::io::Result<()> {
    let mut stream = TcpStream::connect(&dial.bench).await?;
    stream.set_nodelay(true)?;
    stream.write_all(&dial.hello(None)).await?;
    let mut reader = BufReader::new(stream);
    let mut buf = Vec::new();
    while let Some(line) = read_bounded_line(&mut reader, &mut buf, MAX_HELLO_BYTES).await? {
        match serde_json::from_str::<Open>(line) {
            Ok(Open { open }) => {
                let (dial, requests, events) = (dial.clone(), requests.clone(), events.clone());
                tokio::spawn(async move {
                    if let Err(e) = opened(&dial, open, requests, events).await {
                        tracing::warn!(bench = %dial.bench, "control connection {open}: {e}");
                    }
                });
            }
            Err(e) => tracing::warn!("skipped a line from the bench that is not `open`: {e}"),
        }
    }
    Ok(())
}

/// Dials the connection the bench asked for with `ticket`, then serves it.
async fn opened(
    dial: &DialBack,
    ticket: u64,
    requests: mpsc::Sender<ControlRequest>,
    events: EventBus,
) -> std::io::Result<()> {
    let mut stream = TcpStream::connect(&dial.bench).await?;
    stream.set_nodelay(true)?;
    stream.write_all(&dial.hello(Some(ticket))).await?;
    serve_connection(stream, requests, events).await;
    Ok(())
}

/// Why [`Hub::open`] gave no connection.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The run is not (or no longer) registered with the hub.
    #[error("run {0} is not registered with the control hub")]
    UnknownRun(String),
    /// The node did not dial back in time.
    #[error("node {node} did not dial back within {waited:?}")]
    NotDialed {
        /// The node.
        node: String,
        /// How long we waited.
        waited: Duration,
    },
    /// The node's home connection could not be written.
    #[error("node {0}'s home connection is gone")]
    HomeGone(String),
}

/// The bench's side: a TCP listener nodes dial back to, which hands out control
/// connections to them. Cheap to clone; the listener stops when the last clone is dropped.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("addr", &self.inner.addr)
            .finish()
    }
}

struct Inner {
    addr: SocketAddr,
    state: Mutex<State>,
    /// Woken when a home connection arrives.
    homes_changed: Notify,
    accept: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(task) = lock(&self.accept).take() {
            task.abort();
        }
    }
}

#[derive(Default)]
struct State {
    runs: HashMap<String, Run>,
    next_ticket: u64,
    refusals: Vec<String>,
}

/// What the hub knows of one run.
struct Run {
    token: String,
    /// Each node's home connection: where `open` requests go.
    homes: HashMap<String, mpsc::UnboundedSender<u64>>,
    /// Connections asked for and not yet dialed, by ticket.
    waiting: HashMap<u64, oneshot::Sender<TcpStream>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Hub {
    /// Listens on `addr` (port 0: any free port).
    pub async fn bind(addr: SocketAddr) -> std::io::Result<Hub> {
        let listener = TcpListener::bind(addr).await?;
        let inner = Arc::new(Inner {
            addr: listener.local_addr()?,
            state: Mutex::new(State::default()),
            homes_changed: Notify::new(),
            accept: Mutex::new(None),
        });
        let weak = Arc::downgrade(&inner);
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, peer)) = listener.accept().await else {
                    continue;
                };
                let Some(inner) = weak.upgrade() else { return };
                tokio::spawn(greet(inner, stream, peer));
            }
        });
        *lock(&inner.accept) = Some(task);
        Ok(Hub { inner })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.addr
    }

    /// Registers `run` and returns its fresh random token (128 bits, hex), which its nodes
    /// must present.
    pub fn add_run(&self, run: &str) -> String {
        let mut bytes = [0u8; 16];
        rand::rng().fill_bytes(&mut bytes);
        let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let entry = Run {
            token: token.clone(),
            homes: HashMap::new(),
            waiting: HashMap::new(),
        };
        lock(&self.inner.state).runs.insert(run.to_owned(), entry);
        token
    }

    /// Forgets `run`: its nodes' connections are refused from now on.
    pub fn remove_run(&self, run: &str) {
        lock(&self.inner.state).runs.remove(run);
    }

    /// Whether `node` of `run` has a home connection now.
    pub fn is_home(&self, run: &str, node: &str) -> bool {
        lock(&self.inner.state)
            .runs
            .get(run)
            .and_then(|r| r.homes.get(node))
            .is_some_and(|home| !home.is_closed())
    }

    /// Why connections were refused, the latest last (at most the last 64).
    pub fn refusals(&self) -> Vec<String> {
        lock(&self.inner.state).refusals.clone()
    }

    /// A control connection to `node` of `run`: waits up to `wait` for the node to dial home,
    /// asks it for a connection and waits (within the same bound) for it.
    pub async fn open(
        &self,
        run: &str,
        node: &str,
        wait: Duration,
    ) -> Result<TcpStream, OpenError> {
        let started = Instant::now();
        let not_dialed = || OpenError::NotDialed {
            node: node.to_owned(),
            waited: started.elapsed(),
        };
        let stream = loop {
            let notified = self.inner.homes_changed.notified();
            match self.ask(run, node)? {
                Some(stream) => break stream,
                None if started.elapsed() >= wait => return Err(not_dialed()),
                None => {
                    let left = wait.saturating_sub(started.elapsed());
                    let _ = tokio::time::timeout(left, notified).await;
                }
            }
        };
        let left = wait.saturating_sub(started.elapsed()).max(HELLO_TIMEOUT);
        match tokio::time::timeout(left, stream).await {
            Ok(Ok(stream)) => Ok(stream),
            Ok(Err(_)) => Err(OpenError::HomeGone(node.to_owned())),
            Err(_) => Err(not_dialed()),
        }
    }

    /// Sends `open` to the node's home; `None` while it has none.
    #[allow(clippy::type_complexity)]
    fn ask(
        &self,
        run: &str,
        node: &str,
    ) -> Result<Option<oneshot::Receiver<TcpStream>>, OpenError> {
        let mut state = lock(&self.inner.state);
        state.next_ticket += 1;
        let ticket = state.next_ticket;
        let entry = state
            .runs
            .get_mut(run)
            .ok_or_else(|| OpenError::UnknownRun(run.to_owned()))?;
        let Some(home) = entry.homes.get(node) else {
            return Ok(None);
        };
        if home.send(ticket).is_err() {
            entry.homes.remove(node);
            return Ok(None);
        }
        let (tx, rx) = oneshot::channel();
        entry.waiting.insert(ticket, tx);
        Ok(Some(rx))
    }

    fn refuse(&self, peer: SocketAddr, why: &str) {
        let line = format!("refused a control connection from {peer}: {why}");
        tracing::warn!("{line}");
        let mut state = lock(&self.inner.state);
        if state.refusals.len() == REFUSALS_KEPT {
            state.refusals.remove(0);
        }
        state.refusals.push(line);
    }
}

/// Reads a new connection's hello and files the connection: as a home, as an asked-for
/// control connection, or refused.
async fn greet(inner: Arc<Inner>, stream: TcpStream, peer: SocketAddr) {
    let hub = Hub { inner };
    let _ = stream.set_nodelay(true);
    let mut reader = BufReader::new(stream);
    let hello = match tokio::time::timeout(HELLO_TIMEOUT, read_hello(&mut reader)).await {
        Ok(Ok(hello)) => hello,
        Ok(Err(why)) => return hub.refuse(peer, &why),
        Err(_) => return hub.refuse(peer, "no hello within 5 s"),
    };
    // The hello is one line and the node writes nothing more before it is asked: nothing is
    // left in the reader's buffer.
    let stream = reader.into_inner();
    let filed = {
        let mut state = lock(&hub.inner.state);
        file(&mut state, &hello, stream)
    };
    match filed {
        Ok(Some((home, opens))) => {
            hub.inner.homes_changed.notify_waiters();
            tokio::spawn(forward_opens(home, opens));
        }
        Ok(None) => {}
        Err(why) => hub.refuse(peer, &why),
    }
}

/// A node's home connection, held by the hub.
struct Home {
    stream: TcpStream,
}

/// Writes the tickets the bench asks for to the home, one line each, until the node hangs
/// up (it writes nothing after its hello, so any read ends it); dropping `opens` then tells
/// [`Hub::is_home`] and [`Hub::open`] the node is gone.
async fn forward_opens(home: Home, mut opens: mpsc::UnboundedReceiver<u64>) {
    let (mut read, mut write) = home.stream.into_split();
    let mut scratch = [0u8; 64];
    loop {
        tokio::select! {
            open = opens.recv() => {
                let Some(open) = open else { return };
                if write.write_all(&json_line(&Open { open })).await.is_err() {
                    return;
                }
            }
            _ = read.read(&mut scratch) => return,
        }
    }
}

/// Files a greeted connection under its run; `Some` with the home's open queue for a home.
#[allow(clippy::type_complexity)]
fn file(
    state: &mut State,
    hello: &Hello,
    stream: TcpStream,
) -> Result<Option<(Home, mpsc::UnboundedReceiver<u64>)>, String> {
    let run = state
        .runs
        .get_mut(&hello.run)
        .ok_or_else(|| format!("unknown run {:?}", hello.run))?;
    if !same_token(&run.token, &hello.token) {
        return Err(format!(
            "wrong token for run {:?} (node {:?})",
            hello.run, hello.node
        ));
    }
    match hello.ticket {
        Some(ticket) => {
            let waiting = run
                .waiting
                .remove(&ticket)
                .ok_or_else(|| format!("ticket {ticket} was never asked for"))?;
            // The asker may have given up: the connection then just closes.
            let _ = waiting.send(stream);
            Ok(None)
        }
        None => {
            let (tx, rx) = mpsc::unbounded_channel();
            run.homes.insert(hello.node.clone(), tx);
            Ok(Some((Home { stream }, rx)))
        }
    }
}

/// Compares tokens in time independent of where they differ.
fn same_token(expected: &str, given: &str) -> bool {
    let (a, b) = (expected.as_bytes(), given.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn read_hello<R>(reader: &mut R) -> Result<Hello, String>
where
    R: tokio::io::AsyncBufRead + AsyncRead + Unpin,
{
    let mut buf = Vec::new();
    let line = read_bounded_line(reader, &mut buf, MAX_HELLO_BYTES)
        .await
        .map_err(|e| format!("unreadable hello: {e}"))?
        .ok_or("closed before its hello")?;
    let hello: Hello = serde_json::from_str(line).map_err(|e| format!("not a hello ({e})"))?;
    if hello.hello != MAGIC {
        return Err(format!("not a raftrtc control hello: {:?}", hello.hello));
    }
    Ok(hello)
}

#[cfg(test)]
mod tests;
