//! The Docker launcher: every node is a container, as in the papers' second
//! harness.
//!
//! Per run: one user-defined bridge network (`raftrtc-<run>`, labelled with
//! the run), one container per node (`raftrtc-<run>-n<i>`) from the
//! `FROM scratch` node image, no published ports. WebRTC flows between the
//! containers' bridge addresses (`--bind-ip 0.0.0.0` in the container means
//! "every non-loopback interface"). The signaling server is the bench's
//! embedded one, bound on all host addresses; a container reaches it at its
//! network's gateway, so the node's `--signaling-url` names the gateway.
//! Control sockets: each node's host directory `<run dir>/n<i>/` is
//! bind-mounted at `/run/raftrtc`, so the bench connects to
//! `<run dir>/n<i>/control.sock` as with processes.
//!
//! Kill is `docker kill` (SIGKILL) through the API. Every container and the
//! network of a run are removed when the cluster is stopped or dropped, and on
//! an interrupt (see [`super::registered_docker_runs`]); `raftrtc cleanup`
//! sweeps whatever a crashed bench left, by label.
//! Dropping a cluster that was not stopped spawns its removal on the runtime (a
//! destructor cannot wait); the run loop always awaits [`Cluster::stop_all`].

use std::path::Path;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bollard::Docker;
use node::clock::Stamp;
use node::control::ControlAddr;

use super::{
    node_args, register_docker_run, unregister_docker_run, Cluster, ClusterSpec, LaunchError,
    Launcher, Member, RunDir,
};
use crate::docker::{self, DockerError, Limits, NodeSpec, CONTAINER_CONTROL_DIR};

/// Containers started at once (the engine serializes much of a start).
const START_CONCURRENCY: usize = 4;
/// How often [`Cluster::exited`] asks the engine (it is polled often).
const EXIT_CHECK_EVERY: Duration = Duration::from_millis(250);

/// Starts nodes as containers of the node image.
#[derive(Clone)]
pub struct DockerLauncher {
    docker: Docker,
    image: String,
    limits: Limits,
}

impl DockerLauncher {
    /// Connects to the engine (`DOCKER_HOST` honoured) and makes sure the
    /// node image of this very binary exists (built `FROM scratch` if not).
    pub async fn connect(limits: Limits) -> Result<Self, DockerError> {
        limits.validate()?;
        let engine = docker::connect().await?;
        let image = docker::ensure_image(&engine.docker).await?;
        Ok(Self {
            docker: engine.docker,
            image,
            limits,
        })
    }
}

/// The `raftrtc node` flags of node `i` inside its container: its control socket in the
/// bind-mounted directory, WebRTC on every interface of the container.
pub fn container_node_args(spec: &ClusterSpec, i: u32) -> Vec<String> {
    let control = Path::new(CONTAINER_CONTROL_DIR).join("control.sock");
    let mut args = node_args(spec, i, &super::node_id(i), &control);
    args.extend(["--bind-ip".to_string(), "0.0.0.0".to_string()]);
    args
}

/// `http://0.0.0.0:9000/` with the host replaced by `gateway`.
pub(super) fn via_gateway(url: &str, gateway: std::net::Ipv4Addr) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let port = authority.rsplit_once(':').map(|(_, p)| p);
    match port {
        Some(port) => format!("{scheme}://{gateway}:{port}/{path}"),
        None => format!("{scheme}://{gateway}/{path}"),
    }
}

#[async_trait]
impl Launcher for DockerLauncher {
    async fn launch(&self, spec: &ClusterSpec) -> Result<Box<dyn Cluster>, LaunchError> {
        let run = spec.cluster.clone();
        docker::validate_run_id(&run)?;
        let dir = RunDir::new()?;
        let dir_path = dir.path().to_path_buf();
        register_docker_run(&run);
        let mut cluster = DockerCluster {
            docker: self.docker.clone(),
            run: run.clone(),
            members: Vec::new(),
            containers: Vec::new(),
            killed: Vec::new(),
            reported: Vec::new(),
            log_tasks: Vec::new(),
            dir,
            last_exit_check: Instant::now(),
            stopped: false,
            started_at: Stamp::now(),
        };
        let network = docker::create_network(&self.docker, &run).await?;
        let url = via_gateway(&spec.signaling_url, network.gateway);
        let spec = ClusterSpec {
            signaling_url: url,
            ..spec.clone()
        };
        let mut specs = Vec::new();
        for (i, id) in spec.ids().into_iter().enumerate() {
            let host_dir = dir_path.join(&id);
            std::fs::create_dir(&host_dir).map_err(LaunchError::RunDir)?;
            let args = container_node_args(&spec, i as u32);
            specs.push(NodeSpec {
                run: run.clone(),
                node: i,
                image: self.image.clone(),
                network: network.name.clone(),
                host_dir: host_dir.clone(),
                args,
                limits: self.limits,
            });
            cluster.members.push(Member {
                id: id.clone(),
                control: ControlAddr::Socket(host_dir.join("control.sock")),
                log: dir_path.join(format!("{id}.log")),
                spawned_ns: None,
            });
        }
        // Dropping `cluster` on an error removes whatever was created.
        cluster.started_at = Stamp::now();
        let containers = docker::start_nodes(&self.docker, &specs, START_CONCURRENCY).await?;
        for (member, container) in cluster.members.iter().zip(&containers) {
            cluster.log_tasks.push(docker::follow_logs(
                self.docker.clone(),
                container.name.clone(),
                member.log.clone(),
            ));
        }
        cluster.containers = containers.into_iter().map(|c| c.name).collect();
        Ok(Box::new(cluster))
    }
}

/// The containers of one run.
struct DockerCluster {
    docker: Docker,
    run: String,
    members: Vec<Member>,
    /// Container names, in member order.
    containers: Vec<String>,
    killed: Vec<String>,
    reported: Vec<String>,
    log_tasks: Vec<tokio::task::JoinHandle<Result<(), DockerError>>>,
    dir: RunDir,
    last_exit_check: Instant,
    stopped: bool,
    /// Just before the first container was created.
    started_at: Stamp,
}

impl DockerCluster {
    /// The container of node `id`; an unknown id is an error.
    fn container_of(&self, id: &str) -> Result<String, LaunchError> {
        self.members
            .iter()
            .position(|m| m.id == id)
            .and_then(|i| self.containers.get(i))
            .cloned()
            .ok_or_else(|| LaunchError::UnknownNode(id.to_owned()))
    }
}

#[async_trait]
impl Cluster for DockerCluster {
    fn members(&self) -> &[Member] {
        &self.members
    }

    fn started_at(&self) -> Stamp {
        self.started_at
    }

    async fn kill(&mut self, id: &str) -> Result<(), LaunchError> {
        let name = self.container_of(id)?;
        self.killed.push(name.clone());
        docker::kill(&self.docker, &name).await?;
        Ok(())
    }

    async fn restart(&mut self, id: &str) -> Result<(), LaunchError> {
        let name = self.container_of(id)?;
        if !self.killed.contains(&name) && !self.reported.contains(&name) {
            return Err(LaunchError::StillRunning(id.to_owned()));
        }
        docker::restart(&self.docker, &name).await?;
        self.killed.retain(|k| *k != name);
        self.reported.retain(|k| *k != name);
        // The engine keeps a container's output across starts: the log is rewritten whole.
        let log = self
            .members
            .iter()
            .find(|m| m.id == id)
            .map(|m| m.log.clone())
            .ok_or_else(|| LaunchError::UnknownNode(id.to_owned()))?;
        self.log_tasks
            .push(docker::follow_logs(self.docker.clone(), name, log));
        Ok(())
    }

    async fn pause(&mut self, id: &str) -> Result<(), LaunchError> {
        let name = self.container_of(id)?;
        docker::pause(&self.docker, &name).await?;
        Ok(())
    }

    async fn resume(&mut self, id: &str) -> Result<(), LaunchError> {
        let name = self.container_of(id)?;
        docker::unpause(&self.docker, &name).await?;
        Ok(())
    }

    async fn exited(&mut self) -> Vec<(String, String)> {
        if self.stopped || self.last_exit_check.elapsed() < EXIT_CHECK_EVERY {
            return Vec::new();
        }
        self.last_exit_check = Instant::now();
        let Ok(stopped) = docker::stopped_containers(&self.docker, &self.run).await else {
            return Vec::new();
        };
        let mut gone = Vec::new();
        for name in stopped {
            if self.killed.contains(&name) || self.reported.contains(&name) {
                continue;
            }
            if let Some(i) = self.containers.iter().position(|c| *c == name) {
                self.reported.push(name);
                gone.push((
                    self.members[i].id.clone(),
                    "its container stopped".to_string(),
                ));
            }
        }
        gone
    }

    async fn stop_all(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        if let Err(e) = docker::remove_run(&self.docker, &self.run).await {
            eprintln!("raftrtc: could not remove docker run {}: {e}", self.run);
        }
        for task in self.log_tasks.drain(..) {
            task.abort();
        }
        unregister_docker_run(&self.run);
    }

    fn logs_dir(&self) -> &Path {
        self.dir.path()
    }

    fn keep_logs(&mut self) {
        self.dir.keep();
    }
}

impl Drop for DockerCluster {
    /// A cluster dropped without [`Cluster::stop_all`] (an error on the way) is removed in the
    /// background; the interrupt handler and `raftrtc cleanup` cover a runtime that is gone.
    fn drop(&mut self) {
        for task in self.log_tasks.drain(..) {
            task.abort();
        }
        if !self.stopped {
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                let (docker, run) = (self.docker.clone(), self.run.clone());
                runtime.spawn(async move {
                    if let Err(e) = docker::remove_run(&docker, &run).await {
                        eprintln!("raftrtc: could not remove docker run {run}: {e}");
                    }
                    unregister_docker_run(&run);
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signaling_url_is_rewritten_to_the_gateway() {
        let gw = std::net::Ipv4Addr::new(172, 18, 0, 1);
        assert_eq!(
            via_gateway("http://0.0.0.0:9000/", gw),
            "http://172.18.0.1:9000/"
        );
        assert_eq!(
            via_gateway("http://127.0.0.1:41234/signal/", gw),
            "http://172.18.0.1:41234/signal/"
        );
        assert_eq!(via_gateway("nonsense", gw), "nonsense");
    }
}
