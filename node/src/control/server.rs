//! Serving the control socket: one task per connection, requests forwarded
//! to the node loop, events streamed to subscribers.
//!
//! Requests on one connection are answered in order. A malformed request gets
//! an error line and the connection stays usable; only a line longer than
//! [`MAX_LINE_BYTES`] closes it (after an error line), since the rest of such
//! a line cannot be trusted to be a request boundary.

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{broadcast, mpsc, oneshot};

use super::protocol::{parse_request, Command, EventLine, Response, MAX_LINE_BYTES};

/// A request for the node loop, with where to send the answer.
#[derive(Debug)]
pub struct ControlRequest {
    /// What is asked (never `Subscribe`, which the server handles itself).
    pub command: Command,
    /// The answer goes here.
    pub reply: oneshot::Sender<Response>,
}

/// The listening control socket.
pub struct ControlServer {
    listener: UnixListener,
    path: PathBuf,
}

/// Why the control socket could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// Something other than a stale socket is in the way.
    #[error("{0} exists and is not a socket")]
    PathInUse(PathBuf),
    /// Binding or setting permissions failed.
    #[error("control socket {path}: {source}")]
    Io {
        /// The socket path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

impl ControlServer {
    /// Binds `path` (replacing a stale socket) with mode 0600.
    pub fn bind(path: &Path) -> Result<Self, ControlError> {
        let io = |source| ControlError::Io {
            path: path.to_owned(),
            source,
        };
        if let Ok(meta) = std::fs::symlink_metadata(path) {
            if !meta.file_type().is_socket() {
                return Err(ControlError::PathInUse(path.to_owned()));
            }
            std::fs::remove_file(path).map_err(io)?;
        }
        let listener = UnixListener::bind(path).map_err(io)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
        Ok(Self {
            listener,
            path: path.to_owned(),
        })
    }

    /// Accepts connections until the node loop goes away.
    pub async fn serve(
        self,
        requests: mpsc::Sender<ControlRequest>,
        events: broadcast::Sender<EventLine>,
    ) {
        loop {
            let stream = match self.listener.accept().await {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!("control socket accept failed: {e}");
                    continue;
                }
            };
            if requests.is_closed() {
                return;
            }
            tokio::spawn(connection(stream, requests.clone(), events.clone()));
        }
    }
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

async fn connection(
    stream: UnixStream,
    requests: mpsc::Sender<ControlRequest>,
    events: broadcast::Sender<EventLine>,
) {
    let (read, mut write) = stream.into_split();
    let (out_tx, mut out_rx) = mpsc::unbounded_channel::<String>();
    let writer = tokio::spawn(async move {
        while let Some(mut line) = out_rx.recv().await {
            line.push('\n');
            if write.write_all(line.as_bytes()).await.is_err() {
                return;
            }
        }
    });
    let mut reader = BufReader::new(read);
    let mut subscribed = false;
    loop {
        let mut line = String::new();
        let limit = MAX_LINE_BYTES as u64 + 1;
        match (&mut reader).take(limit).read_line(&mut line).await {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                let _ = out_tx.send(to_line(&Response::error(
                    None,
                    format!("unreadable request: {e}"),
                )));
                break;
            }
        }
        if line.len() > MAX_LINE_BYTES {
            let _ = out_tx.send(to_line(&Response::error(
                None,
                format!("request longer than {MAX_LINE_BYTES} bytes"),
            )));
            break;
        }
        let text = line.trim();
        if text.is_empty() {
            continue;
        }
        let request = match parse_request(text) {
            Ok(r) => r,
            Err(e) => {
                let _ = out_tx.send(to_line(&Response::error(None, e)));
                continue;
            }
        };
        let id = request.id.clone();
        let response = match request.command {
            Command::Subscribe => {
                if !subscribed {
                    subscribed = true;
                    // Subscribe before answering, so no event after the answer is missed.
                    tokio::spawn(forward_events(events.subscribe(), out_tx.clone()));
                }
                Response::ok(id)
            }
            command => {
                let (reply, answer) = oneshot::channel();
                if requests
                    .send(ControlRequest { command, reply })
                    .await
                    .is_err()
                {
                    Response::error(id, "the node is shutting down")
                } else {
                    match answer.await {
                        Ok(mut r) => {
                            r.id = id;
                            r
                        }
                        Err(_) => Response::error(id, "the node is shutting down"),
                    }
                }
            }
        };
        if out_tx.send(to_line(&response)).is_err() {
            break;
        }
    }
    drop(out_tx);
    let _ = writer.await;
}

async fn forward_events(
    mut events: broadcast::Receiver<EventLine>,
    out: mpsc::UnboundedSender<String>,
) {
    loop {
        match events.recv().await {
            Ok(event) => {
                if out.send(to_line(&event)).is_err() {
                    return;
                }
            }
            Err(broadcast::error::RecvError::Lagged(n)) => {
                let msg = Response::error(None, format!("subscriber too slow: {n} events lost"));
                if out.send(to_line(&msg)).is_err() {
                    return;
                }
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

fn to_line<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value)
        .unwrap_or_else(|e| format!(r#"{{"ok":false,"error":"unserializable: {e}"}}"#))
}
