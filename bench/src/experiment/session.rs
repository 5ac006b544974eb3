//! One run's live cluster as the experiments drive it: the launched nodes,
//! a request connection and an event subscription per node, and the
//! [`Tracker`] and [`Milestones`] fed by those events.
//!
//! Every wait here is bounded by the caller (the run's deadline wraps the
//! whole measurement), and every wait also watches for a node that dies on
//! its own, so a crash is an `error` at once rather than a `timeout` later.
//! Likewise a node that reports lost events (its stream lagged) never leaves
//! a stale view waiting for the deadline: the view is rebuilt from `status`
//! and the wait goes on, or, if the lost events held the very moment being
//! timed, the run is an `error` saying so.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use node::clock::Stamp;
use node::control::protocol::{NodeEvent, Status};
use node::control::{self, ClientError, ControlAddr, ControlClient, Received};
use node::netem::NetSpec;
use rand::rngs::StdRng;
use rand::SeedableRng;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::phases::Milestones;
use super::tracker::Tracker;
use super::RunError;
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
    /// Node `i` pushed an event (on the subscription of its process generation `g`).
    Event(usize, u32, Received),
    /// Node `i`'s event stream of generation `g` ended.
    Ended(usize, u32),
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
    /// When nodes launched, joined signaling and opened links.
    pub(crate) marks: Milestones,
    pub(crate) rng: StdRng,
    /// Nodes the bench killed (their deaths are expected).
    killed: Vec<usize>,
    /// Nodes the bench paused: they answer nothing until resumed, so nobody asks them.
    paused: Vec<usize>,
    /// Per node, how many times it was restarted: the signals of an earlier process's
    /// subscription are stale.
    generation: Vec<u32>,
    pending: Option<JoinHandle<Option<(usize, ControlClient)>>>,
    /// Set by a subscription from launch: events stamped before it were replayed, not
    /// received live, so they are timed by their own stamp on the shared clock.
    replayed_before: Option<Stamp>,
}

impl Session {
    /// Wraps a freshly launched cluster; nothing is connected yet.
    pub(crate) fn new(cluster: Box<dyn Cluster>, seed: u64) -> Self {
        let ids: Vec<String> = cluster.members().iter().map(|m| m.id.clone()).collect();
        let n = ids.len();
        let (tx, rx) = mpsc::channel(MERGED_BUFFER);
        Self {
            tracker: Tracker::new(&ids),
            marks: Milestones::new(&ids),
            clients: ids.iter().map(|_| None).collect(),
            ids,
            cluster,
            tx,
            rx,
            rng: StdRng::seed_from_u64(seed),
            killed: Vec::new(),
            paused: Vec::new(),
            generation: vec![0; n],
            pending: None,
            replayed_before: None,
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

    /// Ends the session, keeping the cluster: the request connections close, and the event
    /// subscriptions with them.
    pub(crate) fn into_cluster(mut self) -> Box<dyn Cluster> {
        if let Some(task) = self.pending.take() {
            task.abort();
        }
        self.cluster
    }

    /// Ids of the nodes the bench killed.
    pub(crate) fn killed_ids(&self) -> Vec<String> {
        self.killed.iter().map(|&i| self.ids[i].clone()).collect()
    }

    /// Every node's control address, in member order.
    fn control_paths(&self) -> Vec<ControlAddr> {
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
        self.subscribe_each(&live, false).await?;
        self.resync().await
    }

    /// Subscribes to every live node's events since its launch (a cold start, where the
    /// bench can only connect once a node is already running): the tracker is built from
    /// the replayed events, with nothing missed.
    pub(crate) async fn subscribe_all_from_launch(&mut self) -> Result<(), RunError> {
        self.replayed_before = Some(Stamp::now());
        let live: Vec<usize> = self.tracker.live().collect();
        self.subscribe_each(&live, true).await
    }

    async fn subscribe_each(&mut self, nodes: &[usize], from_launch: bool) -> Result<(), RunError> {
        let paths = self.control_paths();
        let subscriptions = join_all(nodes.iter().map(|&i| {
            let path = paths[i].clone();
            async move {
                let sub = if from_launch {
                    control::subscribe_from_launch(&path, STATUS_BOUND).await
                } else {
                    control::subscribe(&path, STATUS_BOUND).await
                };
                (i, sub)
            }
        }))
        .await;
        for (i, sub) in subscriptions {
            let mut events = sub.map_err(|e| self.control_error(i, e))?;
            let tx = self.tx.clone();
            let g = self.generation[i];
            tokio::spawn(async move {
                while let Some(ev) = events.recv().await {
                    if tx.send(Signal::Event(i, g, ev)).await.is_err() {
                        return;
                    }
                }
                let _ = tx.send(Signal::Ended(i, g)).await;
            });
        }
        Ok(())
    }

    /// When an event happened on the bench's clock: its receipt, or for an event replayed
    /// from before the subscription, its node's stamp (bench and nodes share one host's
    /// `CLOCK_MONOTONIC`).
    fn event_time(&self, ev: &Received) -> Instant {
        match self.replayed_before {
            Some(sub) if ev.line.t_ns < sub.ns => sub.at_ns(ev.line.t_ns),
            _ => ev.at,
        }
    }

    /// Status of every live node, concurrently (except a node whose
    /// connection is busy with a background submit).
    pub(crate) async fn statuses(&mut self) -> Result<Vec<(usize, Status)>, RunError> {
        let live: Vec<usize> = self.answering();
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

    /// Re-anchors the tracker and milestones on a fresh status of every live node.
    pub(crate) async fn resync(&mut self) -> Result<(), RunError> {
        for (i, s) in self.statuses().await? {
            self.tracker.resync(i, &s);
            self.marks.resync(i, &s);
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

    /// The live nodes that are not paused: those that can answer.
    pub(crate) fn answering(&self) -> Vec<usize> {
        self.tracker
            .live()
            .filter(|i| !self.paused.contains(i))
            .collect()
    }

    /// Freezes node `i` (SIGSTOP / `docker pause`); it is asked nothing until resumed.
    pub(crate) async fn pause(&mut self, i: usize) -> Result<(), RunError> {
        self.paused.push(i);
        self.cluster.pause(&self.ids[i]).await?;
        Ok(())
    }

    /// Thaws node `i`.
    pub(crate) async fn resume(&mut self, i: usize) -> Result<(), RunError> {
        self.cluster.resume(&self.ids[i]).await?;
        self.paused.retain(|&p| p != i);
        Ok(())
    }

    /// Puts `spec` in force on every node that answers (a partition, its heal, a burst of
    /// loss): each node applies the rules that cover its own links.
    pub(crate) async fn set_net_all(&mut self, spec: &NetSpec) -> Result<(), RunError> {
        let answering = self.answering();
        let asked = join_all(
            self.clients
                .iter_mut()
                .enumerate()
                .filter(|(i, _)| answering.contains(i))
                .filter_map(|(i, c)| c.as_mut().map(|c| (i, c)))
                .map(|(i, c)| async move { (i, c.set_net(spec.clone()).await) }),
        )
        .await;
        for (i, r) in asked {
            r.map_err(|e| self.control_error(i, e))?;
        }
        Ok(())
    }

    /// Submits `lines` at node `i` and waits for its answer: they are acknowledged (applied
    /// there) when this returns `Ok`.
    pub(crate) async fn submit(&mut self, i: usize, lines: Vec<String>) -> Result<(), RunError> {
        let client = self.clients[i]
            .as_mut()
            .ok_or_else(|| RunError::Unreachable(self.ids[i].clone()))?;
        match client.submit(lines).await {
            Ok(_) => Ok(()),
            Err(e) => Err(self.control_error(i, e)),
        }
    }

    /// Starts the killed nodes `nodes` again from their data directories, connects to
    /// them and follows their events from their launch.
    pub(crate) async fn restart(&mut self, nodes: &[usize]) -> Result<(), RunError> {
        for &i in nodes {
            self.cluster.restart(&self.ids[i]).await?;
            self.generation[i] += 1;
            self.killed.retain(|&k| k != i);
            self.tracker.revive(i);
        }
        self.connect_all().await?;
        self.replayed_before = Some(Stamp::now());
        self.subscribe_each(nodes, true).await
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
                    Some(Signal::Event(i, g, _) | Signal::Ended(i, g)) if g != self.generation[i] => {}
                    Some(Signal::Event(i, _, ev)) => {
                        if let NodeEvent::Lagged { missed } = ev.line.event {
                            self.recover_lag(i, missed, &done).await?;
                            continue;
                        }
                        self.tracker.apply(i, ev.line.t_ns, &ev.line.event);
                        self.marks.apply(i, ev.line.t_ns, &ev.line.event);
                        if done(&self.tracker) {
                            return Ok(self.event_time(&ev));
                        }
                    }
                    Some(Signal::Ended(i, _)) => {
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

    /// Node `i` lost `missed` events: re-anchors its view on a fresh status.
    /// `done` was false before, so if it holds now, the change that made it
    /// true was among the lost events and cannot be timed.
    async fn recover_lag(
        &mut self,
        i: usize,
        missed: u64,
        done: &impl Fn(&Tracker) -> bool,
    ) -> Result<(), RunError> {
        tracing::warn!(node = %self.ids[i], missed, "event stream lagged; resyncing from status");
        let status = self.status_of(i).await?;
        self.tracker.resync(i, &status);
        self.marks.resync(i, &status);
        if done(&self.tracker) {
            return Err(RunError::EventsLost {
                node: self.ids[i].clone(),
                missed,
            });
        }
        Ok(())
    }

    /// Node `i`'s status, on a connection of its own if its client is lent
    /// to a background submit.
    async fn status_of(&mut self, i: usize) -> Result<Status, RunError> {
        let asked = match self.clients[i].as_mut() {
            Some(client) => client.status().await,
            None => {
                let path = self.control_paths()[i].clone();
                match ControlClient::connect(&path, STATUS_BOUND).await {
                    Ok(mut client) => client.status().await,
                    Err(e) => Err(e),
                }
            }
        };
        asked.map_err(|e| self.control_error(i, e))
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

    fn control_error(&self, i: usize, source: ClientError) -> RunError {
        RunError::Control {
            node: self.ids[i].clone(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};
    use std::sync::{Arc, Mutex};

    use node::clock::monotonic_ns;
    use node::control::protocol::{Command, Response};
    use node::control::{ControlRequest, ControlServer, EventBus, Serving};
    use raftrtc_raft::{Event, Role};

    use super::*;
    use crate::launcher::{LaunchError, Member};

    /// A node stand-in: a real control socket, a status the test sets, and
    /// a note each time the status is asked for.
    struct FakeNode {
        bus: EventBus,
        status: Arc<Mutex<Status>>,
        asked: mpsc::UnboundedReceiver<()>,
        _serving: Serving,
    }

    impl FakeNode {
        fn new(path: &Path, id: &str) -> Self {
            let (tx, mut rx) = mpsc::channel::<ControlRequest>(8);
            let (asked_tx, asked) = mpsc::unbounded_channel();
            let status = Arc::new(Mutex::new(Status {
                id: id.into(),
                ..Status::default()
            }));
            let current = status.clone();
            tokio::spawn(async move {
                while let Some(request) = rx.recv().await {
                    let mut response = Response::ok(None);
                    if request.command == Command::Status {
                        let mut status = current.lock().unwrap().clone();
                        status.t_ns = monotonic_ns();
                        response.status = Some(status);
                        let _ = asked_tx.send(());
                    }
                    let _ = request.reply.send(response);
                }
            });
            let bus = EventBus::new();
            let serving = ControlServer::bind(path).unwrap().spawn(tx, bus.clone());
            Self {
                bus,
                status,
                asked,
                _serving: serving,
            }
        }

        /// Sets the status to "follows n0 and applied all three".
        fn settle(&self, role: Role) {
            let mut s = self.status.lock().unwrap();
            s.role = Some(role);
            s.term = 1;
            s.leader = Some("n0".into());
            s.applied_members = ids();
        }

        /// Publishes the events that would have led to [`FakeNode::settle`].
        fn announce(&self, role: Role) {
            self.bus
                .publish(NodeEvent::Core(Event::RoleChanged { role, term: 1 }));
            self.bus
                .publish(NodeEvent::Core(Event::ConfigurationApplied {
                    index: 2,
                    members: ids(),
                }));
        }
    }

    fn ids() -> Vec<String> {
        vec!["n0".into(), "n1".into(), "n2".into()]
    }

    struct FakeCluster {
        members: Vec<Member>,
        dir: PathBuf,
    }

    #[async_trait::async_trait]
    impl Cluster for FakeCluster {
        fn members(&self) -> &[Member] {
            &self.members
        }
        fn started_at(&self) -> node::clock::Stamp {
            node::clock::Stamp::now()
        }
        async fn kill(&mut self, _id: &str) -> Result<(), LaunchError> {
            Ok(())
        }
        async fn restart(&mut self, _id: &str) -> Result<(), LaunchError> {
            Ok(())
        }
        async fn pause(&mut self, _id: &str) -> Result<(), LaunchError> {
            Ok(())
        }
        async fn resume(&mut self, _id: &str) -> Result<(), LaunchError> {
            Ok(())
        }
        async fn exited(&mut self) -> Vec<(String, String)> {
            Vec::new()
        }
        async fn stop_all(&mut self) {}
        fn logs_dir(&self) -> &Path {
            &self.dir
        }
        fn keep_logs(&mut self) {}
    }

    /// Three fake nodes and a session subscribed to them.
    async fn session(dir: &Path) -> (Session, Vec<FakeNode>) {
        let members: Vec<Member> = ids()
            .into_iter()
            .map(|id| Member {
                control: ControlAddr::Socket(dir.join(format!("{id}.sock"))),
                log: dir.join(format!("{id}.log")),
                spawned_ns: None,
                id,
            })
            .collect();
        let nodes = members
            .iter()
            .map(|m| FakeNode::new(&dir.join(format!("{}.sock", m.id)), &m.id))
            .collect();
        let cluster = FakeCluster {
            members,
            dir: dir.to_owned(),
        };
        let mut session = Session::new(Box::new(cluster), 1);
        session.connect_all().await.unwrap();
        session.subscribe_all().await.unwrap();
        (session, nodes)
    }

    /// Bounds a wait that, without lag handling, would only end at the run's
    /// deadline.
    async fn within<T>(wait: impl std::future::Future<Output = T>) -> T {
        tokio::time::timeout(Duration::from_secs(20), wait)
            .await
            .expect("a lag must never end as a timeout")
    }

    #[tokio::test]
    async fn a_lagged_stream_is_rebuilt_from_status_and_the_wait_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let (mut session, mut nodes) = session(dir.path()).await;
        nodes[0].announce(Role::Leader);
        // n1's events are lost: only the notice and its status say where it is.
        nodes[1].settle(Role::Follower);
        while nodes[1].asked.try_recv().is_ok() {}
        nodes[1].bus.publish(NodeEvent::Lagged { missed: 2 });
        let [_, n1, n2] = &mut nodes[..] else {
            unreachable!("three nodes")
        };
        let late = async {
            n1.asked.recv().await;
            n2.announce(Role::Follower);
            Instant::now()
        };
        let (done, announced) =
            within(async { tokio::join!(session.wait_until(|t| t.converged(true)), late) }).await;
        let done = done.expect("the wait goes on after the resync");
        assert!(done >= announced, "ended by n2's events, after the resync");
        assert_eq!(session.tracker.node(1).unwrap().role, Some(Role::Follower));
    }

    #[tokio::test]
    async fn a_lag_that_hid_the_moment_being_timed_is_an_error_saying_so() {
        let dir = tempfile::tempdir().unwrap();
        let (mut session, nodes) = session(dir.path()).await;
        nodes[0].announce(Role::Leader);
        nodes[1].announce(Role::Follower);
        nodes[2].settle(Role::Follower);
        nodes[2].bus.publish(NodeEvent::Lagged { missed: 3 });
        let e = within(session.wait_until(|t| t.converged(true)))
            .await
            .expect_err("the end time is unknown");
        assert!(
            matches!(&e, RunError::EventsLost { node, missed: 3 } if node == "n2"),
            "{e}"
        );
        assert!(e.to_string().contains("lagged"), "{e}");
    }
}
