//! The clients of a chaos run: K workers, each a client session of its own, issuing
//! register operations and chat lines at the nodes' control sockets, and the recorder that
//! writes every invocation and completion to the history.
//!
//! Each worker prefers one node (worker k, node k mod N) and keeps one operation in flight,
//! paced so that all together offer `--rate` operations a second (a worker that falls behind
//! does not burst to catch up). An operation that times out, or whose node stops answering,
//! is `info` (it may yet take effect), and the worker moves on to the next node. Values are
//! unique per write (`c<k>-<request>`), so a read names the write it saw; a compare-and-set
//! expects the value its worker last saw, so some succeed and some do not.

use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use node::clock::monotonic_ns;
use node::control::protocol::{ReadMode, RegisterOp, SessionId};
use node::control::{ClientError, ControlAddr, ControlClient};
use raftrtc_check::{OpKind, Record};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// What the clients do.
#[derive(Clone, Debug)]
pub struct Workload {
    /// Client workers.
    pub clients: u32,
    /// Operations a second, offered by all workers together.
    pub rate: f64,
    /// Registers `k0` .. `k{keys-1}`.
    pub keys: u32,
    /// How long a worker waits for an answer before calling it unknown.
    pub op_timeout: Duration,
}

/// The nodes the workers talk to: ids and control sockets, in member order.
#[derive(Clone, Debug)]
pub struct Targets {
    /// Node ids.
    pub ids: Vec<String>,
    /// Their control sockets (a restarted node binds the same path).
    pub controls: Vec<ControlAddr>,
}

/// Hands out operation ids and sends records to the history writer.
#[derive(Clone)]
struct Recorder {
    tx: mpsc::UnboundedSender<Record>,
    next: Arc<AtomicU64>,
}

impl Recorder {
    fn invoke(&self, client: u32, node: &str, op: OpKind) -> u64 {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let _ = self.tx.send(Record::Invoke {
            id,
            client,
            node: node.to_owned(),
            t_ns: monotonic_ns(),
            op,
        });
        id
    }

    fn complete(&self, record: Record) {
        let _ = self.tx.send(record);
    }
}

/// The running clients and their history writer.
pub struct Running {
    stop: watch::Sender<bool>,
    workers: Vec<JoinHandle<()>>,
    writer: JoinHandle<std::io::Result<Vec<Record>>>,
}

/// Starts the workers; the history goes, line by line, to `history`.
pub fn start(workload: &Workload, targets: Targets, history: std::fs::File, seed: u64) -> Running {
    let (tx, rx) = mpsc::unbounded_channel();
    let recorder = Recorder {
        tx,
        next: Arc::new(AtomicU64::new(1)),
    };
    let (stop, stopped) = watch::channel(false);
    let targets = Arc::new(targets);
    let workers = (0..workload.clients)
        .map(|k| {
            let worker = Worker::new(k, workload, targets.clone(), seed);
            tokio::spawn(worker.run(recorder.clone(), stopped.clone()))
        })
        .collect();
    drop(recorder);
    let writer = tokio::task::spawn_blocking(move || write_history(rx, history));
    Running {
        stop,
        workers,
        writer,
    }
}

impl Running {
    /// Stops the workers (an operation in flight is given up as `info`) and returns every
    /// record, in the order written.
    pub async fn stop(self) -> std::io::Result<Vec<Record>> {
        let _ = self.stop.send(true);
        for w in self.workers {
            let _ = w.await;
        }
        self.writer
            .await
            .map_err(|e| std::io::Error::other(format!("history writer: {e}")))?
    }
}

/// Writes each record as a JSON line, flushed, so a killed bench leaves whole lines.
fn write_history(
    mut rx: mpsc::UnboundedReceiver<Record>,
    file: std::fs::File,
) -> std::io::Result<Vec<Record>> {
    let mut out = std::io::BufWriter::new(file);
    let mut all = Vec::new();
    while let Some(record) = rx.blocking_recv() {
        serde_json::to_writer(&mut out, &record)?;
        out.write_all(b"\n")?;
        out.flush()?;
        all.push(record);
    }
    Ok(all)
}

/// One client worker.
struct Worker {
    k: u32,
    session: SessionId,
    targets: Arc<Targets>,
    node: usize,
    conn: Option<ControlClient>,
    request: u64,
    rng: StdRng,
    /// The value this worker last saw in each register.
    seen: HashMap<String, String>,
    period: Duration,
    keys: u32,
    op_timeout: Duration,
}

impl Worker {
    fn new(k: u32, w: &Workload, targets: Arc<Targets>, seed: u64) -> Self {
        let nodes = targets.ids.len().max(1);
        let per_client = (w.rate / f64::from(w.clients.max(1))).max(1e-3);
        Worker {
            k,
            // `c<k>` is always a valid session name.
            session: SessionId::new(&format!("c{k}")).unwrap_or_else(|_| unreachable!()),
            targets,
            node: k as usize % nodes,
            conn: None,
            request: 0,
            rng: StdRng::seed_from_u64(seed ^ (u64::from(k) << 32)),
            seen: HashMap::new(),
            period: Duration::from_secs_f64(1.0 / per_client),
            keys: w.keys.max(1),
            op_timeout: w.op_timeout,
        }
    }

    async fn run(mut self, rec: Recorder, mut stop: watch::Receiver<bool>) {
        let mut next = Instant::now() + self.period.mul_f64(self.rng.random::<f64>());
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(next.into()) => {}
                _ = stop.changed() => return,
            }
            if *stop.borrow() {
                return;
            }
            next = (next + self.period).max(Instant::now());
            if self.conn.is_none() && !self.connect().await {
                continue;
            }
            let op = self.choose();
            let node = self.targets.ids[self.node].clone();
            let id = rec.invoke(self.k, &node, op.clone());
            let record = tokio::select! {
                r = tokio::time::timeout(self.op_timeout, self.perform(&op)) => match r {
                    Ok(done) => done,
                    Err(_) => Err("timed out".to_owned()),
                },
                _ = stop.changed() => Err("the run ended".to_owned()),
            };
            rec.complete(self.settle(id, &op, record));
        }
    }

    /// Connects to the preferred node, or moves the preference on.
    async fn connect(&mut self) -> bool {
        let path = &self.targets.controls[self.node];
        match ControlClient::connect(path, Duration::ZERO).await {
            Ok(c) => {
                self.conn = Some(c);
                true
            }
            Err(_) => {
                self.node = (self.node + 1) % self.targets.ids.len();
                false
            }
        }
    }

    fn choose(&mut self) -> OpKind {
        self.request += 1;
        let key = format!("k{}", self.rng.random_range(0..self.keys));
        let value = format!("c{}-{}", self.k, self.request);
        match self.rng.random_range(0..100) {
            0..35 => OpKind::Get { key },
            35..65 => OpKind::Set { key, value },
            65..85 => {
                let from = self.seen.get(&key).cloned().unwrap_or_default();
                OpKind::Cas {
                    key,
                    from,
                    to: value,
                }
            }
            _ => OpKind::Append { line: value },
        }
    }

    /// Sends `op`; `Ok(Some(value))` for a read's value, `Err` with the reason otherwise.
    async fn perform(&mut self, op: &OpKind) -> Result<Outcome, String> {
        let Some(conn) = self.conn.as_mut() else {
            return Err("not connected".into());
        };
        let register = |op: RegisterOp| (op, ReadMode::Linearizable);
        let (op, read) = match op.clone() {
            OpKind::Append { line } => {
                return conn
                    .submit(vec![line])
                    .await
                    .map(|_| Outcome::Done)
                    .map_err(refusal);
            }
            OpKind::Set { key, value } => register(RegisterOp::Set { key, value }),
            OpKind::Get { key } => register(RegisterOp::Get { key }),
            OpKind::Cas { key, from, to } => register(RegisterOp::Cas { key, from, to }),
        };
        let r = conn
            .op(self.session.clone(), self.request, op, read)
            .await
            .map_err(refusal)?;
        Ok(match r.swapped {
            Some(false) => Outcome::NotSwapped,
            _ => Outcome::Read(r.value),
        })
    }

    /// The completion record of operation `id`, and what the worker learns from it.
    fn settle(&mut self, id: u64, op: &OpKind, result: Result<Outcome, String>) -> Record {
        let t_ns = monotonic_ns();
        match result {
            Ok(Outcome::NotSwapped) => Record::Fail {
                id,
                t_ns,
                error: "cas: the register did not hold the expected value".into(),
            },
            Ok(outcome) => {
                let value = match outcome {
                    Outcome::Read(v) => v,
                    _ => None,
                };
                self.learn(op, value.as_deref());
                Record::Ok { id, t_ns, value }
            }
            Err(error) if error.starts_with(KNOWN_NOT_DONE) => Record::Fail { id, t_ns, error },
            Err(error) => {
                // The connection may hold half an answer: start afresh, elsewhere.
                self.conn = None;
                self.node = (self.node + 1) % self.targets.ids.len();
                Record::Info { id, t_ns, error }
            }
        }
    }

    fn learn(&mut self, op: &OpKind, read: Option<&str>) {
        match op {
            OpKind::Get { key } => match read {
                Some(v) => self.seen.insert(key.clone(), v.to_owned()),
                None => self.seen.remove(key),
            },
            OpKind::Set { key, value } => self.seen.insert(key.clone(), value.clone()),
            OpKind::Cas { key, to, .. } => self.seen.insert(key.clone(), to.clone()),
            OpKind::Append { .. } => None,
        };
    }
}

/// How an operation that was answered went.
enum Outcome {
    /// A write or chat line applied.
    Done,
    /// A register operation applied; a read's value.
    Read(Option<String>),
    /// A compare-and-set that found another value.
    NotSwapped,
}

/// Refusals that mean the operation never reached the log.
const KNOWN_NOT_DONE: &str = "refused before the log: ";

/// The reason a request failed; refusals made before anything was proposed say so.
fn refusal(e: ClientError) -> String {
    match &e {
        ClientError::Refused { error, .. }
            if error.contains("raft is not started") || error.contains("in flight here") =>
        {
            format!("{KNOWN_NOT_DONE}{error}")
        }
        _ => e.to_string(),
    }
}
