//! The client of a node's control protocol (JSON lines over a Unix socket, or over a TCP
//! connection the node dialed back, [`super::dialback`]; the format is
//! [`super::protocol`]): the only one, used by the bench and by the tests.
//!
//! Why two kinds of connection: requests (`status`, `start`, `submit`) are
//! answered in order on one connection, while `subscribe` turns its
//! connection into an endless event stream. [`ControlClient`] does requests;
//! [`subscribe`] opens a dedicated connection and hands back a channel of
//! events, each stamped with the caller's monotonic clock the moment its line
//! was read — the timestamps the bench's experiments measure with. A
//! subscriber that fell behind gets a
//! [`NodeEvent::Lagged`](super::protocol::NodeEvent::Lagged) event in the
//! stream, like any other: the caller decides how to recover.
//!
//! A node's output is input like any other: an unparseable or oversized
//! line is an error (for a request) or skipped and logged (for events),
//! never a panic.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::sync::mpsc;

use super::dialback::Hub;

use super::protocol::{
    Command, EventLine, OpResult, ReadMode, RegisterOp, Request, Response, SessionId, Status,
    Submitted,
};
use crate::netem::{NetSpec, NetSpecText};

/// Longest line accepted from a node, in bytes (a status of a large cluster
/// is a few KiB; this only bounds memory against a broken node).
pub const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

/// How often [`ControlClient::connect`] retries while the socket is missing.
const CONNECT_RETRY: Duration = Duration::from_millis(10);

/// Events buffered per subscription before the reader waits for the caller
/// (and the node's queue for this subscriber starts to fill).
const EVENT_BUFFER: usize = 4096;

/// Where a node's control connections come from.
#[derive(Clone, Debug)]
pub enum ControlAddr {
    /// Its Unix socket (the process and Docker launchers).
    Socket(PathBuf),
    /// Connections it dials back to the bench's [`Hub`] (the swarm launcher).
    DialBack {
        /// The bench's listener.
        hub: Hub,
        /// The node's run.
        run: String,
        /// The node.
        node: String,
    },
}

impl std::fmt::Display for ControlAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ControlAddr::Socket(path) => write!(f, "control socket {}", path.display()),
            ControlAddr::DialBack { node, hub, .. } => {
                write!(f, "control of {node} (dialed back to {})", hub.local_addr())
            }
        }
    }
}

impl PartialEq for ControlAddr {
    /// The same socket, or the same node of the same run on the same listener.
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (ControlAddr::Socket(a), ControlAddr::Socket(b)) => a == b,
            (
                ControlAddr::DialBack { hub, run, node },
                ControlAddr::DialBack {
                    hub: hub2,
                    run: run2,
                    node: node2,
                },
            ) => hub.local_addr() == hub2.local_addr() && run == run2 && node == node2,
            _ => false,
        }
    }
}

impl Eq for ControlAddr {}

impl From<&Path> for ControlAddr {
    fn from(path: &Path) -> Self {
        ControlAddr::Socket(path.to_path_buf())
    }
}

impl From<&PathBuf> for ControlAddr {
    fn from(path: &PathBuf) -> Self {
        ControlAddr::Socket(path.clone())
    }
}

impl From<PathBuf> for ControlAddr {
    fn from(path: PathBuf) -> Self {
        ControlAddr::Socket(path)
    }
}

impl From<&ControlAddr> for ControlAddr {
    fn from(addr: &ControlAddr) -> Self {
        addr.clone()
    }
}

/// What can go wrong talking to a node. `to` names the connection ([`ControlAddr`]'s
/// display).
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No connection could be made in time.
    #[error("{to} not ready after {waited:?}: {last}")]
    NotReady {
        /// The connection.
        to: String,
        /// How long we tried.
        waited: Duration,
        /// The last connect error.
        last: String,
    },
    /// Reading or writing failed.
    #[error("{to}: {source}")]
    Io {
        /// The connection.
        to: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The node closed the connection.
    #[error("{0}: the node closed the connection")]
    Closed(String),
    /// A line the client could not understand.
    #[error("{to}: bad line from the node: {why}")]
    BadLine {
        /// The connection.
        to: String,
        /// Why.
        why: String,
    },
    /// The node answered with an error.
    #[error("node refused `{cmd}`: {error}")]
    Refused {
        /// The command.
        cmd: &'static str,
        /// The node's message.
        error: String,
    },
}

/// One event as the caller received it.
#[derive(Clone, Debug, PartialEq)]
pub struct Received {
    /// The caller's monotonic clock when the line was read.
    pub at: Instant,
    /// The event, with the node's own timestamp.
    pub line: EventLine,
}

/// The read side of a control connection, whatever carries it.
type ReadHalf = Box<dyn AsyncRead + Send + Unpin>;
/// The write side of a control connection.
type WriteHalf = Box<dyn AsyncWrite + Send + Unpin>;

/// A request connection to one node.
pub struct ControlClient {
    to: String,
    reader: BufReader<ReadHalf>,
    writer: WriteHalf,
    buf: Vec<u8>,
    next_id: u64,
}

impl std::fmt::Debug for ControlClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlClient")
            .field("to", &self.to)
            .finish()
    }
}

impl ControlClient {
    /// Connects, retrying while the socket does not exist or refuses (or the node has not
    /// dialed back yet), for at most `wait`.
    pub async fn connect(to: impl Into<ControlAddr>, wait: Duration) -> Result<Self, ClientError> {
        let to: ControlAddr = to.into();
        let (read, writer): (ReadHalf, WriteHalf) = match &to {
            ControlAddr::Socket(path) => {
                let (read, write) = connect_with_retry(&to, path, wait).await?.into_split();
                (Box::new(read), Box::new(write))
            }
            ControlAddr::DialBack { hub, run, node } => {
                let stream =
                    hub.open(run, node, wait)
                        .await
                        .map_err(|e| ClientError::NotReady {
                            to: to.to_string(),
                            waited: wait,
                            last: e.to_string(),
                        })?;
                let (read, write) = stream.into_split();
                (Box::new(read), Box::new(write))
            }
        };
        Ok(Self {
            to: to.to_string(),
            reader: BufReader::new(read),
            writer,
            buf: Vec::new(),
            next_id: 1,
        })
    }

    /// Sends one request and reads its response. Event lines, and responses
    /// to earlier requests whose caller gave up waiting, are skipped: each
    /// request carries a fresh `id` that its response echoes.
    pub async fn request(&mut self, command: Command) -> Result<Response, ClientError> {
        let id = serde_json::Value::from(self.next_id);
        self.next_id += 1;
        let line = request_line(&Request {
            id: Some(id.clone()),
            command,
        });
        self.send(line.as_bytes()).await?;
        self.response(Some(&id)).await
    }

    /// Sends `line` as it is (plus `\n`) and reads the next response: for
    /// tests of what a node does with bad input.
    pub async fn raw(&mut self, line: &[u8]) -> Result<Response, ClientError> {
        self.send(&[line, b"\n"].concat()).await?;
        self.response(None).await
    }

    async fn send(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        self.writer
            .write_all(bytes)
            .await
            .map_err(|source| self.io(source))
    }

    /// The next response that is `id`'s (or has no id: a request the node
    /// could not read echoes none).
    async fn response(&mut self, id: Option<&serde_json::Value>) -> Result<Response, ClientError> {
        loop {
            let Some(text) =
                read_line(&mut self.reader, &mut self.buf)
                    .await
                    .map_err(|source| ClientError::Io {
                        to: self.to.clone(),
                        source,
                    })?
            else {
                return Err(ClientError::Closed(self.to.clone()));
            };
            match parse_incoming(text) {
                Ok(Incoming::Response(r)) if r.id.is_none() || r.id.as_ref() == id => {
                    return Ok(*r)
                }
                Ok(Incoming::Response(_) | Incoming::Event(_)) => continue,
                Err(why) => {
                    return Err(ClientError::BadLine {
                        to: self.to.clone(),
                        why,
                    })
                }
            }
        }
    }

    /// The node's [`Status`].
    pub async fn status(&mut self) -> Result<Status, ClientError> {
        let r = self.checked(Command::Status, "status").await?;
        r.status.ok_or_else(|| ClientError::BadLine {
            to: self.to.clone(),
            why: "a status response without a status".into(),
        })
    }

    /// Starts Raft on the node.
    pub async fn start(&mut self) -> Result<(), ClientError> {
        self.checked(Command::Start, "start").await.map(drop)
    }

    /// Submits chat lines; returns once the node applied them all.
    pub async fn submit(&mut self, lines: Vec<String>) -> Result<Submitted, ClientError> {
        let r = self.checked(Command::Submit { lines }, "submit").await?;
        r.submitted.ok_or_else(|| ClientError::BadLine {
            to: self.to.clone(),
            why: "a submit response without `submitted`".into(),
        })
    }

    /// One register operation of client `session`; returns once the leader applied it (a
    /// local read at once). A refusal (`ok: false`) is [`ClientError::Refused`].
    pub async fn op(
        &mut self,
        session: SessionId,
        request: u64,
        op: RegisterOp,
        read: ReadMode,
    ) -> Result<OpResult, ClientError> {
        let command = Command::Op {
            session,
            request,
            op,
            read,
        };
        let r = self.checked(command, "op").await?;
        r.result.ok_or_else(|| ClientError::BadLine {
            to: self.to.clone(),
            why: "an op response without `result`".into(),
        })
    }

    /// The node's chat lines, as applied there.
    pub async fn chat(&mut self) -> Result<Vec<String>, ClientError> {
        let r = self.checked(Command::Chat, "chat").await?;
        r.chat.ok_or_else(|| ClientError::BadLine {
            to: self.to.clone(),
            why: "a chat response without `chat`".into(),
        })
    }

    /// Puts network conditions in force on the node's links (`NetSpec::none()` lifts them).
    pub async fn set_net(&mut self, spec: NetSpec) -> Result<(), ClientError> {
        let command = Command::SetNet {
            spec: NetSpecText(spec),
        };
        self.checked(command, "set_net").await.map(drop)
    }

    /// Asks the node to leave the cluster and exit.
    pub async fn shutdown(&mut self) -> Result<(), ClientError> {
        self.checked(Command::Shutdown, "shutdown").await.map(drop)
    }

    /// Has the node SIGKILL itself; returns once the connection closed (the node is dead),
    /// or with the node's refusal if it did not die.
    pub async fn kill(mut self) -> Result<(), ClientError> {
        match self.request(Command::Kill).await {
            Err(ClientError::Closed(_) | ClientError::Io { .. }) => Ok(()),
            Err(e) => Err(e),
            Ok(r) => Err(ClientError::Refused {
                cmd: "kill",
                error: r
                    .error
                    .unwrap_or_else(|| "the node answered and lives".into()),
            }),
        }
    }

    async fn checked(
        &mut self,
        command: Command,
        name: &'static str,
    ) -> Result<Response, ClientError> {
        let r = self.request(command).await?;
        if r.ok {
            Ok(r)
        } else {
            Err(ClientError::Refused {
                cmd: name,
                error: r.error.unwrap_or_else(|| "no reason given".into()),
            })
        }
    }

    fn io(&self, source: std::io::Error) -> ClientError {
        ClientError::Io {
            to: self.to.clone(),
            source,
        }
    }
}

/// Opens a dedicated connection, subscribes, and returns the node's events.
///
/// The channel closes when the node closes the connection (it exited or was
/// killed). Lines that are not events are skipped (and logged at debug).
pub async fn subscribe(
    to: impl Into<ControlAddr>,
    wait: Duration,
) -> Result<mpsc::Receiver<Received>, ClientError> {
    subscribe_with(to.into(), wait, false).await
}

/// Like [`subscribe`], but the node first replays every event since its launch (their `t_ns`
/// say when they happened; [`Received::at`] is only when the replay arrived).
pub async fn subscribe_from_launch(
    to: impl Into<ControlAddr>,
    wait: Duration,
) -> Result<mpsc::Receiver<Received>, ClientError> {
    subscribe_with(to.into(), wait, true).await
}

async fn subscribe_with(
    to: ControlAddr,
    wait: Duration,
    from_launch: bool,
) -> Result<mpsc::Receiver<Received>, ClientError> {
    let mut client = ControlClient::connect(to, wait).await?;
    client
        .checked(Command::Subscribe { from_launch }, "subscribe")
        .await?;
    let (tx, rx) = mpsc::channel(EVENT_BUFFER);
    let ControlClient {
        to,
        mut reader,
        writer,
        mut buf,
        ..
    } = client;
    tokio::spawn(async move {
        // Keep the write half: dropping it would half-close the connection.
        let _writer = writer;
        loop {
            let text = match read_line(&mut reader, &mut buf).await {
                Ok(Some(text)) => text,
                Ok(None) => break,
                Err(e) => {
                    tracing::debug!("{to}: event stream ended: {e}");
                    break;
                }
            };
            let at = Instant::now();
            match parse_incoming(text) {
                Ok(Incoming::Event(line)) => {
                    if tx.send(Received { at, line }).await.is_err() {
                        break;
                    }
                }
                Ok(Incoming::Response(_)) => {}
                Err(why) => tracing::debug!("{to}: skipped a bad line: {why}"),
            }
        }
    });
    Ok(rx)
}

async fn connect_with_retry(
    to: &ControlAddr,
    path: &Path,
    wait: Duration,
) -> Result<UnixStream, ClientError> {
    let started = Instant::now();
    loop {
        match UnixStream::connect(path).await {
            Ok(s) => return Ok(s),
            Err(e) if started.elapsed() >= wait => {
                return Err(ClientError::NotReady {
                    to: to.to_string(),
                    waited: started.elapsed(),
                    last: e.to_string(),
                })
            }
            Err(_) => tokio::time::sleep(CONNECT_RETRY).await,
        }
    }
}

fn request_line(request: &Request) -> String {
    // Serializing our own enum of strings cannot fail.
    let mut line = serde_json::to_string(request).unwrap_or_default();
    line.push('\n');
    line
}

/// Reads one `\n`-terminated line of at most [`MAX_RESPONSE_BYTES`]; `None` at
/// end of stream.
async fn read_line<'a, R>(reader: &mut R, buf: &'a mut Vec<u8>) -> std::io::Result<Option<&'a str>>
where
    R: tokio::io::AsyncBufRead + AsyncRead + Unpin,
{
    read_bounded_line(reader, buf, MAX_RESPONSE_BYTES).await
}

/// Reads one `\n`-terminated UTF-8 line of at most `max` bytes; `None` at end of stream.
pub(super) async fn read_bounded_line<'a, R>(
    reader: &mut R,
    buf: &'a mut Vec<u8>,
    max: usize,
) -> std::io::Result<Option<&'a str>>
where
    R: tokio::io::AsyncBufRead + AsyncRead + Unpin,
{
    buf.clear();
    let n = reader.take(max as u64 + 1).read_until(b'\n', buf).await?;
    if n == 0 {
        return Ok(None);
    }
    if buf.last() != Some(&b'\n') {
        let why = if buf.len() > max {
            format!("a line longer than {max} bytes")
        } else {
            "the connection ended in the middle of a line".to_string()
        };
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, why));
    }
    buf.pop();
    if buf.last() == Some(&b'\r') {
        buf.pop();
    }
    std::str::from_utf8(buf).map(Some).map_err(|_| {
        std::io::Error::new(std::io::ErrorKind::InvalidData, "a line that is not UTF-8")
    })
}

/// A line from a node: a response to a request, or a pushed event.
#[derive(Debug)]
enum Incoming {
    Response(Box<Response>),
    Event(EventLine),
}

fn parse_incoming(text: &str) -> Result<Incoming, String> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("not JSON ({e}): {}", excerpt(text)))?;
    if value.get("ok").is_some() {
        serde_json::from_value(value)
            .map(|r| Incoming::Response(Box::new(r)))
            .map_err(|e| format!("not a response ({e}): {}", excerpt(text)))
    } else if value.get("event").is_some() {
        serde_json::from_value(value)
            .map(Incoming::Event)
            .map_err(|e| format!("not an event ({e}): {}", excerpt(text)))
    } else {
        Err(format!(
            "neither a response nor an event: {}",
            excerpt(text)
        ))
    }
}

fn excerpt(text: &str) -> String {
    const MAX: usize = 120;
    if text.len() <= MAX {
        return text.to_string();
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::protocol::NodeEvent;
    use tokio::net::UnixListener;

    /// A fake node: answers each request line with the next canned reply.
    async fn fake_node(path: PathBuf, replies: Vec<&str>) {
        let replies: Vec<String> = replies.into_iter().map(String::from).collect();
        let listener = UnixListener::bind(&path).unwrap();
        tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let (read, mut write) = stream.into_split();
            let mut lines = BufReader::new(read).lines();
            // Answer each request line; hang up after the last reply.
            for reply in replies {
                if !matches!(lines.next_line().await, Ok(Some(_))) {
                    break;
                }
                write.write_all(reply.as_bytes()).await.unwrap();
            }
        });
    }

    #[tokio::test]
    async fn connect_waits_for_the_socket_then_requests_work() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("n0.sock");
        let p = path.clone();
        let mut response = Response::ok(Some(2.into()));
        response.status = Some(Status {
            id: "n0".into(),
            term: 3,
            applied_members: vec!["n0".into()],
            ..Status::default()
        });
        let mut status = serde_json::to_string(&response).unwrap();
        status.push('\n');
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            fake_node(
                p,
                vec![
                    "{\"ok\":false,\"id\":99}\n{\"t_ns\":1,\"event\":\"started\"}\n{\"ok\":true,\"id\":1}\n",
                    &status,
                    "{\"ok\":false,\"error\":\"not now\"}\n",
                    "garbage\n",
                ],
            )
            .await;
        });
        let mut c = ControlClient::connect(&path, Duration::from_secs(5))
            .await
            .unwrap();
        c.start().await.unwrap();
        let s = c.status().await.unwrap();
        assert_eq!(s.term, 3);
        assert_eq!(s.applied_members, vec!["n0".to_string()]);
        let e = c.submit(vec!["x".into()]).await.unwrap_err();
        assert!(e.to_string().contains("not now"), "{e}");
        let e = c.status().await.unwrap_err();
        assert!(e.to_string().contains("not JSON"), "{e}");
        let e = c.status().await.unwrap_err();
        // The fake node hung up: either the write or the read notices.
        assert!(
            matches!(e, ClientError::Closed(_) | ClientError::Io { .. }),
            "{e}"
        );
    }

    #[tokio::test]
    async fn connect_gives_up_after_its_bound() {
        let dir = tempfile::tempdir().unwrap();
        let e = ControlClient::connect(&dir.path().join("none.sock"), Duration::from_millis(30))
            .await
            .unwrap_err();
        assert!(matches!(e, ClientError::NotReady { .. }), "{e}");
    }

    #[tokio::test]
    async fn subscriptions_stamp_events_and_skip_bad_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("n1.sock");
        fake_node(
            path.clone(),
            vec![concat!(
                "{\"ok\":true}\n",
                "{\"t_ns\":5,\"event\":\"role_changed\",\"role\":\"leader\",\"term\":2}\n",
                "{\"t_ns\":6,\"event\":\"bogus\"}\n",
                "nonsense\n",
                "{\"t_ns\":7,\"event\":\"entry_applied\",\"index\":3,\"term\":2,\"chat_len\":1}\n",
            )],
        )
        .await;
        let before = Instant::now();
        let mut rx = subscribe(&path, Duration::from_secs(5)).await.unwrap();
        let a = rx.recv().await.unwrap();
        assert!(a.at >= before);
        assert_eq!(a.line.t_ns, 5);
        let b = rx.recv().await.unwrap();
        assert!(matches!(
            b.line.event,
            NodeEvent::EntryApplied { chat_len: 1, .. }
        ));
        assert!(rx.recv().await.is_none(), "the stream ends with the node");
    }

    #[tokio::test]
    async fn oversized_lines_are_refused() {
        let (a, mut b) = tokio::io::duplex(64 * 1024);
        let mut reader = BufReader::new(a);
        tokio::spawn(async move {
            let big = vec![b'x'; MAX_RESPONSE_BYTES + 10];
            let _ = b.write_all(&big).await;
        });
        let mut buf = Vec::new();
        let e = read_line(&mut reader, &mut buf).await.unwrap_err();
        assert!(e.to_string().contains("longer than"), "{e}");
    }

    #[test]
    fn requests_are_one_json_line() {
        let line = request_line(&Request {
            id: None,
            command: Command::Submit {
                lines: vec!["a".into()],
            },
        });
        assert_eq!(line, "{\"cmd\":\"submit\",\"lines\":[\"a\"]}\n");
        let line = request_line(&Request {
            id: Some(7.into()),
            command: Command::Status,
        });
        assert_eq!(line, "{\"id\":7,\"cmd\":\"status\"}\n");
    }
}
