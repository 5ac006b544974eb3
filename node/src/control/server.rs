//! Serving the control socket: one task per connection, requests forwarded
//! to the node loop, events streamed to subscribers.
//!
//! Requests on one connection are answered in order. A malformed request,
//! invalid UTF-8 included, gets an error line and the connection stays
//! usable; only a line longer than [`MAX_LINE_BYTES`] closes it (after an
//! error line), since the rest of such a line cannot be trusted to be a
//! request boundary.
//!
//! Everything a client can make the node hold is bounded: each connection
//! has one queue of [`QUEUE_LINES`] lines to write (responses and events), a
//! client that does not read its responses only stops its own requests, and
//! a subscriber that does not read its events loses them, is told, and is
//! eventually disconnected ([`super::subscriber`]).
//!
//! The socket path belongs to one live node: binding refuses a path another
//! process is listening on and replaces only a stale socket file, and the
//! file is removed when serving stops, if it is still the one bound here.

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::UnixListener;
use tokio::sync::{mpsc, oneshot, Notify};
use tokio::task::{AbortHandle, JoinHandle};

use super::events::{json_line, EventBus};
use super::protocol::{
    parse_request, Command, EventLine, NodeEvent, Request, Response, MAX_LINE_BYTES,
};
use super::subscriber;

/// Lines waiting to be written to one connection. Shared references to
/// event lines, so a full queue costs ~32 KiB plus the events it holds; a
/// client that reads keeps it near empty.
pub const QUEUE_LINES: usize = 1024;

/// What a request is told when the node loop is gone.
const SHUTTING_DOWN: &str = "the node is shutting down";

/// A request for the node loop, with where to send the answer.
#[derive(Debug)]
pub struct ControlRequest {
    /// What is asked (never `Subscribe`, which the server handles itself).
    pub command: Command,
    /// The answer goes here.
    pub reply: oneshot::Sender<Response>,
}

/// Why the control socket could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// Something other than a socket is at the path.
    #[error("{0} exists and is not a socket")]
    NotASocket(PathBuf),
    /// A live process accepts connections on it: taking the path over would
    /// leave that process unreachable.
    #[error("control socket {0} is in use by a running process")]
    InUse(PathBuf),
    /// Binding, probing or setting permissions failed.
    #[error("control socket {path}: {source}")]
    Io {
        /// The socket path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// The bound, not yet served, control socket.
pub struct ControlServer {
    listener: UnixListener,
    file: SocketFile,
}

/// The control socket being served. Dropping it stops accepting and removes
/// the socket file.
pub struct Serving {
    task: JoinHandle<()>,
    /// The socket file, for a Unix socket; none for a dial-back ([`super::dialback`]).
    _file: Option<SocketFile>,
}

impl Serving {
    /// Serving by `task`, with no socket file (the node dials out).
    pub(super) fn task(task: JoinHandle<()>) -> Self {
        Self { task, _file: None }
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ControlServer {
    /// Binds `path` with mode 0600. A socket file nobody listens on (left by
    /// a killed process) is replaced; one a live process listens on is
    /// refused with [`BindError::InUse`].
    pub fn bind(path: &Path) -> Result<Self, BindError> {
        let io = |source| BindError::Io {
            path: path.to_owned(),
            source,
        };
        if let Ok(meta) = std::fs::symlink_metadata(path) {
            if !meta.file_type().is_socket() {
                return Err(BindError::NotASocket(path.to_owned()));
            }
            match std::os::unix::net::UnixStream::connect(path) {
                Ok(_) => return Err(BindError::InUse(path.to_owned())),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                    std::fs::remove_file(path).map_err(io)?;
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io(e)),
            }
        }
        let listener = UnixListener::bind(path).map_err(io)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
        let file = SocketFile::new(path).map_err(io)?;
        Ok(Self { listener, file })
    }

    /// Accepts connections in the background until the node loop goes away
    /// or the returned [`Serving`] is dropped.
    pub fn spawn(self, requests: mpsc::Sender<ControlRequest>, events: EventBus) -> Serving {
        let listener = self.listener;
        let task = tokio::spawn(async move {
            loop {
                let stream = match listener.accept().await {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        tracing::warn!("control socket accept failed: {e}");
                        continue;
                    }
                };
                if requests.is_closed() {
                    return;
                }
                tokio::spawn(serve_connection(stream, requests.clone(), events.clone()));
            }
        });
        Serving {
            task,
            _file: Some(self.file),
        }
    }
}

/// The socket file this process bound, removed on drop only if it is still
/// that file (same device and inode), so a node never deletes another's.
struct SocketFile {
    path: PathBuf,
    id: (u64, u64),
}

impl SocketFile {
    fn new(path: &Path) -> std::io::Result<Self> {
        let meta = std::fs::symlink_metadata(path)?;
        Ok(Self {
            path: path.to_owned(),
            id: (meta.dev(), meta.ino()),
        })
    }
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        if let Ok(meta) = std::fs::symlink_metadata(&self.path) {
            if (meta.dev(), meta.ino()) == self.id {
                let _ = std::fs::remove_file(&self.path);
            }
        }
    }
}

/// Serves one connection, a Unix socket's or a dial-back's: its requests, then (after the
/// client's end of input) its event stream until either side goes away.
pub(super) async fn serve_connection<S>(
    stream: S,
    requests: mpsc::Sender<ControlRequest>,
    events: EventBus,
) where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (read, write) = tokio::io::split(stream);
    let (out, lines) = mpsc::channel::<Bytes>(QUEUE_LINES);
    let writer = tokio::spawn(write_lines(write, lines));
    let cut_off = Arc::new(Notify::new());
    let session = Session {
        out,
        requests,
        events,
        writer: writer.abort_handle(),
        cut_off: cut_off.clone(),
        subscribed: false,
    };
    tokio::select! {
        () = session.serve(read) => {}
        () = cut_off.notified() => return,
    }
    let _ = writer.await;
}

async fn write_lines(mut write: impl AsyncWrite + Unpin, mut lines: mpsc::Receiver<Bytes>) {
    while let Some(line) = lines.recv().await {
        if write.write_all(&line).await.is_err() {
            return;
        }
    }
}

/// One connection's request side.
struct Session {
    out: mpsc::Sender<Bytes>,
    requests: mpsc::Sender<ControlRequest>,
    events: EventBus,
    /// Aborted, with `cut_off` notified, when a subscriber is disconnected.
    writer: AbortHandle,
    cut_off: Arc<Notify>,
    subscribed: bool,
}

impl Session {
    /// Answers requests until the client ends its input or cannot be written to.
    async fn serve(mut self, read: impl AsyncRead + Unpin) {
        let mut reader = BufReader::new(read);
        let mut line = Vec::new();
        loop {
            line.clear();
            let limit = MAX_LINE_BYTES as u64 + 1;
            match (&mut reader).take(limit).read_until(b'\n', &mut line).await {
                Ok(0) => return,
                Ok(_) => {}
                Err(e) => {
                    self.reply(Response::error(None, format!("unreadable request: {e}")))
                        .await;
                    return;
                }
            }
            if line.last() == Some(&b'\n') {
                line.pop();
            }
            if line.len() > MAX_LINE_BYTES {
                let e = format!("request longer than {MAX_LINE_BYTES} bytes");
                self.reply(Response::error(None, e)).await;
                return;
            }
            let request = match std::str::from_utf8(&line) {
                Ok(text) if text.trim().is_empty() => continue,
                Ok(text) => parse_request(text.trim()),
                Err(e) => Err(format!("request is not UTF-8: {e}")),
            };
            let delivered = match request {
                Ok(request) => self.handle(request).await,
                Err(e) => self.reply(Response::error(None, e)).await,
            };
            if !delivered {
                return;
            }
        }
    }

    /// Answers one request; `false` if the connection can no longer be written.
    async fn handle(&mut self, request: Request) -> bool {
        let id = request.id;
        match request.command {
            Command::Subscribe { .. } if self.subscribed => self.reply(Response::ok(id)).await,
            Command::Subscribe { from_launch } => {
                // Subscribe before answering, so no event after the answer is
                // missed; forward only after it, so none comes before it.
                let (history, not_kept, events) = if from_launch {
                    self.events.subscribe_from_launch()
                } else {
                    (Vec::new(), 0, self.events.subscribe())
                };
                if !self.reply(Response::ok(id)).await {
                    return false;
                }
                self.subscribed = true;
                if !self.replay(history, not_kept).await {
                    return false;
                }
                let (out, bus) = (self.out.clone(), self.events.clone());
                let (writer, cut_off) = (self.writer.clone(), self.cut_off.clone());
                tokio::spawn(async move {
                    if subscriber::forward(events, out, bus).await {
                        tracing::warn!(
                            "disconnected a control subscriber {} events behind",
                            subscriber::DISCONNECT_AFTER_MISSED
                        );
                        writer.abort();
                        cut_off.notify_one();
                    }
                });
                true
            }
            Command::Kill => kill_self(),
            command => {
                let response = self.ask_node(command).await;
                self.reply(Response { id, ..response }).await
            }
        }
    }

    /// Queues the events since launch (and a `lagged` line for those not kept) ahead of the
    /// live ones; `false` if the connection is gone.
    async fn replay(&self, history: Vec<Bytes>, not_kept: u64) -> bool {
        for line in history {
            if self.out.send(line).await.is_err() {
                return false;
            }
        }
        if not_kept > 0 {
            let lagged = EventLine {
                t_ns: crate::clock::monotonic_ns(),
                event: NodeEvent::Lagged { missed: not_kept },
            };
            return self.out.send(json_line(&lagged)).await.is_ok();
        }
        true
    }

    async fn ask_node(&self, command: Command) -> Response {
        let (reply, answer) = oneshot::channel();
        if self
            .requests
            .send(ControlRequest { command, reply })
            .await
            .is_err()
        {
            return Response::error(None, SHUTTING_DOWN);
        }
        answer
            .await
            .unwrap_or_else(|_| Response::error(None, SHUTTING_DOWN))
    }

    /// Queues a response, waiting for room: a client that does not read its
    /// answers only holds up its own requests.
    async fn reply(&self, response: Response) -> bool {
        self.out.send(json_line(&response)).await.is_ok()
    }
}

/// SIGKILLs this process: no destructor, no goodbye to the peers, exactly as a kill from
/// outside.
fn kill_self() -> ! {
    tracing::warn!("killed on request (SIGKILL)");
    // SAFETY: kill(2) on our own pid with a constant signal; no memory is involved.
    unsafe {
        libc::kill(libc::getpid(), libc::SIGKILL);
    }
    // SIGKILL cannot be caught or ignored; this line is never reached.
    std::process::abort()
}

#[cfg(test)]
mod tests;
