//! One run's live cluster as the experiments drive it: the launched nodes,
//! a request connection and an event subscription per node, and the
//! [`Tracker`] fed by those events.
//!
//! Every wait here is bounded by the caller (the run's deadline wraps the
//! whole measurement), and every wait also watches for a node that dies on
//! its own, so a crash is an `error` at once rather than a `timeout` later.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use rand::rngs::StdRng;
use rand::SeedableRng;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::tracker::Tracker;
use super::RunError;
use crate::control_client::{self, ControlClient, Received, Status};
use crate::launcher::Cluster;

/// How often readiness is polled before the start.
const READY_POLL: Duration = Duration::from_millis(20);
/// How often a wait checks for nodes that died on their own.
const EXIT_CHECK: Duration = Duration::from_millis(50);
/// Bound on one status request when no run deadline applies (safety check).
pub(super) const STATUS_BOUND: Duration = Duration::from_secs(2);
/// Events from all nodes waiting to be tracked.
const MERGED_BUFFER: usize = 64 * 1024;

/// What reaches the session's single queue.
#[derive(Debug)]
enum Signal {
    /// Node `i` pushed an event.
    Event(usize, Received),
    /// Node `i`'s event stream ended.
    Ended(usize),
    /// Something running in the background failed.
    Fault(RunError),
}

/// The live cluster of one run.
pub(crate) struct Session {
    cluster: Box<dyn Cluster>,
    ids: Vec<String>,
    /// `None` while lent to a background task (a submit).
    clients: Vec<Option<ControlClient>>,
    tx: mpsc::Sender<Signal>,
    rx: mpsc::Receiver<Signal>,
    pub(crate) tracker: Tracker,
    pub(crate) rng: StdRng,
    /// Nodes the bench killed (their deaths are expected).
    killed: Vec<usize>,
    pending: Option<JoinHandle<Option<(usize, ControlClient)>>>,
}

impl Session {
    /// Wraps a freshly launched cluster; nothing is connected yet.
    pub(crate) fn new(cluster: Box<dyn Cluster>, seed: u64) -> Self {
        let ids: Vec<String> = cluster.members().iter().map(|m| m.id.clone()).collect();
        let (tx, rx) = mpsc::channel(MERGED_BUFFER);
        Self {
            tracker: Tracker::new(&ids),
            clients: ids.iter().map(|_| None).collect(),
            ids,
            cluster,
            tx,
            rx,
            rng: StdRng::seed_from_u64(seed),
            killed: Vec::new(),
            pending: None,
        }
    }

    /// The node ids, in launch order.
    pub(crate) fn ids(&self) -> &[String] {
        &self.ids
    }

    /// The cluster (for its logs).
    pub(crate) fn cluster_mut(&mut self) -> &mut dyn Cluster {
        self.cluster.as_mut()
    }

    /// Ids of the nodes the bench killed.
    pub(crate) fn killed_ids(&self) -> Vec<String> {
        self.killed.iter().map(|&i| self.ids[i].clone()).collect()
    }

    /// Every node's control socket path, in member order.
    fn control_paths(&self) -> Vec<std::path::PathBuf> {
        self.cluster
            .members()
            .iter()
            .map(|m| m.control.clone())
            .collect()
    }

    /// Connects a request client to every live node, retrying while their
    /// sockets appear (forever: the caller's deadline bounds it).
    pub(crate) async fn connect_all(&mut self) -> Result<(), RunError> {
        let paths = self.control_paths();
        let live: Vec<usize> = self.tracker.live().collect();
        loop {
            for &i in &live {
                if self.clients[i].is_none() {
                    if let Ok(c) = ControlClient::connect(&paths[i], Duration::ZERO).await {
                        self.clients[i] = Some(c);
                    }
                }
            }
            if live.iter().all(|&i| self.clients[i].is_some()) {
                return Ok(());
            }
            self.check_exits().await?;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Drops every request connection and opens new ones (after a cancelled
    /// request, a connection may hold half a line).
    pub(crate) async fn reconnect_all(&mut self, wait: Duration) -> Result<(), RunError> {
        if let Some(task) = self.pending.take() {
            task.abort();
        }
        self.clients.iter_mut().for_each(|c| *c = None);
        tokio::time::timeout(wait, self.connect_all())
            .await
            .map_err(|_| RunError::Unreachable("control sockets".into()))?
    }

    /// Waits until every node is connected to signaling and to all its peers.
    pub(crate) async fn wait_ready(&mut self) -> Result<(), RunError> {
        let ids = self.ids.clone();
        loop {
            let statuses = self.statuses().await?;
            let ready = statuses.iter().all(|(i, s)| {
                s.signaling_connected
                    && ids
                        .iter()
                        .enumerate()
                        .all(|(j, id)| j == *i || s.peers.contains(id))
            });
            if ready {
                return Ok(());
            }
            self.check_exits().await?;
            tokio::time::sleep(READY_POLL).await;
        }
    }

    /// Subscribes to every live node's events and anchors the tracker on a
    /// status taken after subscribing.
    pub(crate) async fn subscribe_all(&mut self) -> Result<(), RunError> {
        let live: Vec<usize> = self.tracker.live().collect();
        let paths = self.control_paths();
        let subscriptions = join_all(live.iter().map(|&i| {
            let path = paths[i].clone();
            async move { (i, control_client::subscribe(&path, STATUS_BOUND).await) }
        }))
        .await;
        for (i, sub) in subscriptions {
            let mut events = sub.map_err(|e| self.control_error(i, e))?;
            let tx = self.tx.clone();
            tokio::spawn(async move {
                while let Some(ev) = events.recv().await {
                    if tx.send(Signal::Event(i, ev)).await.is_err() {
                        return;
                    }
                }
                let _ = tx.send(Signal::Ended(i)).await;
            });
        }
        self.resync().await
    }

    /// Status of every live node, concurrently (except a node whose
    /// connection is busy with a background submit).
    pub(crate) async fn statuses(&mut self) -> Result<Vec<(usize, Status)>, RunError> {
        let live: Vec<usize> = self.tracker.live().collect();
        let asked = join_all(
            self.clients
                .iter_mut()
                .enumerate()
                .filter(|(i, _)| live.contains(i))
                .filter_map(|(i, c)| c.as_mut().map(|c| (i, c)))
                .map(|(i, c)| async move { (i, c.status().await) }),
        )
        .await;
        let mut out = Vec::with_capacity(asked.len());
        for (i, r) in asked {
            out.push((i, r.map_err(|e| self.control_error(i, e))?));
        }
        Ok(out)
    }

    /// Re-anchors the tracker on a fresh status of every live node.
    pub(crate) async fn resync(&mut self) -> Result<(), RunError> {
        for (i, s) in self.statuses().await? {
            self.tracker.resync(i, &s);
        }
        Ok(())
    }

    /// Sends `start` to every live node at once.
    pub(crate) async fn start_all(&mut self) -> Result<(), RunError> {
        let started = join_all(
            self.clients
                .iter_mut()
                .enumerate()
                .map(|(i, c)| async move {
                    match c {
                        Some(c) => (i, c.start().await),
                        None => (i, Ok(())),
                    }
                }),
        )
        .await;
        for (i, r) in started {
            r.map_err(|e| self.control_error(i, e))?;
        }
        Ok(())
    }

    /// SIGKILLs these nodes (immediately, one after the other) and stops
    /// tracking them.
    pub(crate) async fn kill(&mut self, victims: &[usize]) -> Result<(), RunError> {
        for &i in victims {
            self.tracker.mark_dead(i);
            self.killed.push(i);
            self.clients[i] = None;
            self.cluster.kill(&self.ids[i]).await?;
        }
        Ok(())
    }

    /// Submits `lines` at node `i` in the background; a failure reaches the
    /// next wait as an error. [`Session::finish_submit`] collects it.
    pub(crate) fn submit_in_background(&mut self, i: usize, lines: Vec<String>) {
        let Some(mut client) = self.clients.get_mut(i).and_then(Option::take) else {
            return;
        };
        let tx = self.tx.clone();
        let id = self.ids[i].clone();
        self.pending = Some(tokio::spawn(async move {
            match client.submit(lines).await {
                Ok(_) => Some((i, client)),
                Err(source) => {
                    let _ = tx
                        .send(Signal::Fault(RunError::Control { node: id, source }))
                        .await;
                    None
                }
            }
        }));
    }

    /// Waits for the background submit to answer and takes its client back.
    pub(crate) async fn finish_submit(&mut self) -> Result<(), RunError> {
        if let Some(task) = self.pending.take() {
            match task.await {
                Ok(Some((i, client))) => self.clients[i] = Some(client),
                Ok(None) => return Err(self.next_fault()),
                Err(e) => return Err(RunError::Unreachable(format!("submit task: {e}"))),
            }
        }
        Ok(())
    }

    fn next_fault(&mut self) -> RunError {
        while let Ok(signal) = self.rx.try_recv() {
            if let Signal::Fault(e) = signal {
                return e;
            }
        }
        RunError::Unreachable("the submit failed".into())
    }

    /// Processes events until `done` holds; returns when the event that made
    /// it true was received (or now, if it already holds).
    pub(crate) async fn wait_until(
        &mut self,
        done: impl Fn(&Tracker) -> bool,
    ) -> Result<Instant, RunError> {
        if done(&self.tracker) {
            return Ok(Instant::now());
        }
        let mut exits = tokio::time::interval(EXIT_CHECK);
        loop {
            tokio::select! {
                signal = self.rx.recv() => match signal {
                    Some(Signal::Event(i, ev)) => {
                        self.tracker.apply(i, ev.line.t_ns, &ev.line.event);
                        if done(&self.tracker) {
                            return Ok(ev.at);
                        }
                    }
                    Some(Signal::Ended(i)) => {
                        if !self.killed.contains(&i) {
                            self.check_exits().await?;
                            return Err(RunError::StreamEnded(self.ids[i].clone()));
                        }
                    }
                    Some(Signal::Fault(e)) => return Err(e),
                    // The session holds a sender, so the queue never closes.
                    None => return Err(RunError::Unreachable("event queue".into())),
                },
                _ = exits.tick() => self.check_exits().await?,
            }
        }
    }

    /// Like [`Session::wait_until`], then confirms with one status round;
    /// if the snapshot disagrees, waits on (the time is the last event's).
    pub(crate) async fn wait_confirmed(
        &mut self,
        done: impl Fn(&Tracker) -> bool,
    ) -> Result<Instant, RunError> {
        loop {
            let at = self.wait_until(&done).await?;
            self.resync().await?;
            if done(&self.tracker) {
                return Ok(at);
            }
        }
    }

    /// An error if a node the bench did not kill has ended.
    pub(crate) async fn check_exits(&mut self) -> Result<(), RunError> {
        match self.cluster.exited().await.into_iter().next() {
            Some((id, how)) => Err(RunError::NodeExited { id, how }),
            None => Ok(()),
        }
    }

    fn control_error(&self, i: usize, source: control_client::ControlError) -> RunError {
        RunError::Control {
            node: self.ids[i].clone(),
            source,
        }
    }
}
