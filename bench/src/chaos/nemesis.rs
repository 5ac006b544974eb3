//! The nemesis: carries out a chaos run's fault schedule on the real cluster, one fault at a
//! time, and records when each struck and was lifted (the timeline's shaded windows and the
//! recovery times).
//!
//! Kills, restarts and pauses go through the launcher ([`Cluster`]); partitions, delay and
//! loss through every reachable node's `set_net` (the run's own spec with the fault's rules
//! laid over it, and the run's spec again to heal); signaling faults through the embedded
//! server's handle; a member leaving through its `shutdown` request.

use std::time::{Duration, Instant};

use node::clock::monotonic_ns;
use node::control::ControlClient;
use node::netem::NetSpec;
use raftrtc_check::FaultWindow;
use signaling::{Server, ServerConfig, ServerHandle};

use super::schedule::{Fault, Planned};
use super::workload::Targets;
use crate::launcher::{Cluster, LaunchError};

/// How long a control request of the nemesis may take.
const REQUEST_BOUND: Duration = Duration::from_secs(2);
/// How long a node asked to leave may take to exit.
const LEAVE_BOUND: Duration = Duration::from_secs(5);

/// What can stop the nemesis.
#[derive(Debug, thiserror::Error)]
pub enum NemesisError {
    /// The launcher failed to kill, pause, resume or restart a node.
    #[error(transparent)]
    Launch(#[from] LaunchError),
    /// The signaling server could not be started again.
    #[error("cannot restart the signaling server: {0}")]
    Signaling(String),
}

/// The embedded signaling server, which the nemesis may stop and start.
pub struct Signaling {
    handle: Option<ServerHandle>,
    config: ServerConfig,
}

impl Signaling {
    /// Takes over a running server.
    pub fn new(handle: ServerHandle) -> Self {
        let config = handle.restart_config();
        Signaling {
            handle: Some(handle),
            config,
        }
    }

    /// Its URL.
    pub fn url(&self) -> String {
        self.handle
            .as_ref()
            .map(ServerHandle::url)
            .unwrap_or_default()
    }

    async fn stop(&mut self) {
        if let Some(h) = self.handle.take() {
            let _ = h.shutdown().await;
        }
    }

    async fn start(&mut self) -> Result<(), NemesisError> {
        if self.handle.is_none() {
            let server = Server::bind(self.config.clone())
                .await
                .map_err(|e| NemesisError::Signaling(e.to_string()))?;
            self.handle = Some(server.spawn());
        }
        Ok(())
    }

    fn delay(&self, d: Duration) {
        if let Some(h) = &self.handle {
            h.set_relay_delay(d);
        }
    }

    /// Stops the server for good.
    pub async fn shutdown(mut self) {
        self.stop().await;
    }
}

/// Carries out faults on one cluster.
pub struct Nemesis<'a> {
    /// The cluster's nodes.
    pub cluster: &'a mut dyn Cluster,
    /// The signaling server.
    pub signaling: &'a mut Signaling,
    /// Node ids and control sockets.
    pub targets: &'a Targets,
    /// The run's own conditions (`--net`), what a heal restores.
    pub base: NetSpec,
}

impl Nemesis<'_> {
    /// Runs `schedule` from `t0`, each fault struck, held and lifted before the next;
    /// returns each fault's window.
    pub async fn run(
        &mut self,
        schedule: &[Planned],
        t0: Instant,
        log: &dyn Fn(&str),
    ) -> Result<Vec<FaultWindow>, NemesisError> {
        let mut windows = Vec::with_capacity(schedule.len());
        for planned in schedule {
            tokio::time::sleep_until((t0 + planned.at).into()).await;
            let name = planned.fault.describe(&self.targets.ids);
            log(&format!("{:>7.2} s  {name}", planned.at.as_secs_f64()));
            let start_ns = monotonic_ns();
            self.strike(&planned.fault).await?;
            tokio::time::sleep(planned.hold).await;
            self.lift(&planned.fault).await?;
            windows.push(FaultWindow {
                name,
                start_ns,
                end_ns: monotonic_ns(),
            });
        }
        Ok(windows)
    }

    async fn strike(&mut self, fault: &Fault) -> Result<(), NemesisError> {
        let id = |i: usize| self.targets.ids[i].clone();
        match fault {
            Fault::Kill(i) => self.cluster.kill(&id(*i)).await?,
            Fault::Pause(i) => self.cluster.pause(&id(*i)).await?,
            Fault::RestartAll => {
                for i in 0..self.targets.ids.len() {
                    self.cluster.kill(&id(i)).await?;
                }
            }
            Fault::Leave(i) => self.leave(*i).await?,
            Fault::Signaling => self.signaling.stop().await,
            Fault::SlowSignaling(d) => self.signaling.delay(*d),
            Fault::Isolate(_) | Fault::Split(..) | Fault::Delay(_) | Fault::Loss(_) => {
                let rules = fault.net_rules(&self.targets.ids).unwrap_or_default();
                let spec = over(&self.base, &rules);
                self.set_net_all(&spec, &fault.stopped(self.targets.ids.len()))
                    .await;
            }
        }
        Ok(())
    }

    async fn lift(&mut self, fault: &Fault) -> Result<(), NemesisError> {
        let id = |i: usize| self.targets.ids[i].clone();
        match fault {
            Fault::Kill(i) | Fault::Leave(i) => self.cluster.restart(&id(*i)).await?,
            Fault::Pause(i) => self.cluster.resume(&id(*i)).await?,
            Fault::RestartAll => {
                for i in 0..self.targets.ids.len() {
                    self.cluster.restart(&id(i)).await?;
                }
            }
            Fault::Signaling => self.signaling.start().await?,
            Fault::SlowSignaling(_) => self.signaling.delay(Duration::ZERO),
            Fault::Isolate(_) | Fault::Split(..) | Fault::Delay(_) | Fault::Loss(_) => {
                let base = self.base.clone();
                self.set_net_all(&base, &[]).await;
            }
        }
        Ok(())
    }

    /// Asks node `i` to leave the cluster politely and waits for it to exit (then it is a
    /// stopped node the lift restarts).
    async fn leave(&mut self, i: usize) -> Result<(), NemesisError> {
        let id = self.targets.ids[i].clone();
        if let Ok(Ok(mut c)) = tokio::time::timeout(
            REQUEST_BOUND,
            ControlClient::connect(&self.targets.controls[i], REQUEST_BOUND),
        )
        .await
        {
            let _ = tokio::time::timeout(REQUEST_BOUND, c.shutdown()).await;
        }
        let until = Instant::now() + LEAVE_BOUND;
        while Instant::now() < until {
            if self
                .cluster
                .exited()
                .await
                .iter()
                .any(|(gone, _)| *gone == id)
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Still there: kill it, so the lift can restart it.
        self.cluster.kill(&id).await?;
        Ok(())
    }

    /// `set_net` on every node but `skip` (stopped ones cannot answer); a node that does not
    /// answer in time is left as it is (it is restarting, and starts with the run's spec).
    async fn set_net_all(&self, spec: &NetSpec, skip: &[usize]) {
        for (i, path) in self.targets.controls.iter().enumerate() {
            if skip.contains(&i) {
                continue;
            }
            let asked = async {
                let mut c = ControlClient::connect(path, Duration::ZERO).await?;
                c.set_net(spec.clone()).await
            };
            match tokio::time::timeout(REQUEST_BOUND, asked).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::debug!(node = %self.targets.ids[i], "set_net: {e}"),
                Err(_) => tracing::debug!(node = %self.targets.ids[i], "set_net not answered"),
            }
        }
    }
}

/// `base` with `rules` laid over it.
fn over(base: &NetSpec, rules: &str) -> NetSpec {
    let text = if base.is_none() {
        rules.to_owned()
    } else {
        format!("{base};{rules}")
    };
    text.parse().unwrap_or_else(|_| base.clone())
}
