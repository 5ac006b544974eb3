//! A client for the control socket, used by the bench and by tests.
//!
//! One connection answers requests in order. [`ControlClient::subscribe`]
//! turns a connection into an event stream, so a caller keeps one connection
//! for requests and one for events.

use std::path::Path;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::UnixStream;
use tokio::sync::mpsc;

use super::protocol::{Command, EventLine, Request, Response, Status, Submitted};

/// Why a control request failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The socket could not be reached or broke.
    #[error("control socket: {0}")]
    Io(#[from] std::io::Error),
    /// The node closed the connection.
    #[error("the node closed the control connection")]
    Closed,
    /// The node sent something that is not a response.
    #[error("unreadable response {line:?}: {reason}")]
    BadResponse {
        /// The line received.
        line: String,
        /// Why it could not be read.
        reason: String,
    },
    /// The node refused the request.
    #[error("node refused {command}: {error}")]
    Refused {
        /// The request.
        command: &'static str,
        /// The node's message.
        error: String,
    },
    /// The socket did not appear in time.
    #[error("control socket {0} did not appear in time")]
    Timeout(String),
}

/// A connection to one node's control socket.
pub struct ControlClient {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
}

/// A stamped event: when the caller received it, and the node's line.
pub type Received = (Instant, EventLine);

impl ControlClient {
    /// Connects to the socket at `path`.
    pub async fn connect(path: &Path) -> Result<Self, ClientError> {
        let stream = UnixStream::connect(path).await?;
        let (read, writer) = stream.into_split();
        Ok(Self {
            reader: BufReader::new(read),
            writer,
        })
    }

    /// Connects, retrying until the socket exists or `timeout` passes.
    pub async fn connect_within(path: &Path, timeout: Duration) -> Result<Self, ClientError> {
        let deadline = Instant::now() + timeout;
        loop {
            match Self::connect(path).await {
                Ok(c) => return Ok(c),
                Err(_) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(_) => return Err(ClientError::Timeout(path.display().to_string())),
            }
        }
    }

    /// Sends one request and reads its response; a refusal is an error.
    pub async fn request(&mut self, command: Command) -> Result<Response, ClientError> {
        let name = command_name(&command);
        let request = Request { id: None, command };
        let mut line = serde_json::to_string(&request).map_err(|e| ClientError::BadResponse {
            line: String::new(),
            reason: e.to_string(),
        })?;
        line.push('\n');
        self.writer.write_all(line.as_bytes()).await?;
        let response = self.read_response().await?;
        if !response.ok {
            return Err(ClientError::Refused {
                command: name,
                error: response.error.unwrap_or_default(),
            });
        }
        Ok(response)
    }

    /// Sends a raw line (for tests of bad input) and returns the response line.
    pub async fn raw(&mut self, line: &str) -> Result<Response, ClientError> {
        self.writer.write_all(line.as_bytes()).await?;
        self.writer.write_all(b"\n").await?;
        self.read_response().await
    }

    async fn read_response(&mut self) -> Result<Response, ClientError> {
        loop {
            let mut line = String::new();
            if self.reader.read_line(&mut line).await? == 0 {
                return Err(ClientError::Closed);
            }
            let value: serde_json::Value =
                serde_json::from_str(&line).map_err(|e| ClientError::BadResponse {
                    line: line.clone(),
                    reason: e.to_string(),
                })?;
            if value.get("event").is_some() {
                continue; // An event on a subscribed connection.
            }
            return serde_json::from_value(value).map_err(|e| ClientError::BadResponse {
                line,
                reason: e.to_string(),
            });
        }
    }

    /// The node's status.
    pub async fn status(&mut self) -> Result<Status, ClientError> {
        let r = self.request(Command::Status).await?;
        r.status.ok_or(ClientError::BadResponse {
            line: String::new(),
            reason: "status response without status".into(),
        })
    }

    /// Starts Raft on the node.
    pub async fn start(&mut self) -> Result<(), ClientError> {
        self.request(Command::Start).await.map(|_| ())
    }

    /// Submits chat lines; returns once they are applied on that node.
    pub async fn submit(&mut self, lines: Vec<String>) -> Result<Submitted, ClientError> {
        let r = self.request(Command::Submit { lines }).await?;
        r.submitted.ok_or(ClientError::BadResponse {
            line: String::new(),
            reason: "submit response without result".into(),
        })
    }

    /// Asks the node to leave and exit.
    pub async fn shutdown(&mut self) -> Result<(), ClientError> {
        self.request(Command::Shutdown).await.map(|_| ())
    }

    /// Turns this connection into a stream of events, each stamped with the
    /// caller's clock when it was read.
    pub async fn subscribe(mut self) -> Result<mpsc::UnboundedReceiver<Received>, ClientError> {
        self.request(Command::Subscribe).await?;
        let (tx, rx) = mpsc::unbounded_channel();
        let mut reader = self.reader;
        let writer = self.writer;
        tokio::spawn(async move {
            let _keep_open = writer;
            let mut line = String::new();
            loop {
                line.clear();
                match reader.read_line(&mut line).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
                let at = Instant::now();
                if let Ok(event) = serde_json::from_str::<EventLine>(&line) {
                    if tx.send((at, event)).is_err() {
                        return;
                    }
                }
            }
        });
        Ok(rx)
    }
}

fn command_name(command: &Command) -> &'static str {
    match command {
        Command::Status => "status",
        Command::Start => "start",
        Command::Submit { .. } => "submit",
        Command::Subscribe => "subscribe",
        Command::Shutdown => "shutdown",
    }
}
