//! The swarm launcher: every node is a one-replica service on a Docker Swarm, so a run can
//! span every host of the swarm.
//!
//! Per run: one attachable overlay network (`raftrtc-<run>`), one service per node
//! (`raftrtc-<run>-n<i>`, restart condition `none`), placed by the swarm under the
//! `--placement` constraints, from the same `FROM scratch` image as the Docker launcher (or
//! `--image`). WebRTC flows between the tasks' addresses (`--bind-ip 0.0.0.0`).
//!
//! Reaching the bench: tasks reach the bench's host at `--bench-address` (default: this host's
//! `docker_gwbridge` or `bridge` gateway, which only tasks on this host reach). The embedded signaling
//! server listens there, and so does the control [`Hub`]: Unix sockets do not cross hosts, so
//! each node dials back to the hub with the run's random token (in its environment), and the
//! bench's control connections to it travel over that ([`node::control::dialback`]).
//!
//! Faults act on the real task: a kill is the node SIGKILLing itself on a control request
//! (no API kills a task on another host); a pause freezes the task's container through this
//! engine, so it needs the task on this host; a restart starts a new task pinned to the old
//! one's host, where the node's data volume is. Everything of a run is removed on success,
//! failure, drop and Ctrl-C ([`super::registered_swarm_runs`]); `raftrtc cleanup` sweeps
//! leftovers by label.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bollard::Docker;
use node::clock::Stamp;
use node::control::{ControlAddr, ControlClient, Hub};

use super::{
    dialing_node_args, node_id, register_swarm_run, unregister_swarm_run, Cluster, ClusterSpec,
    LaunchError, Launcher, Member, RunDir,
};
use crate::docker::swarm::{self, NodeService, Service, TaskView, TASK_DATA_DIR};
use crate::docker::{self, DockerError, Limits};

/// Services created at once.
const CREATE_CONCURRENCY: usize = 4;
/// How often [`Cluster::exited`] asks the swarm (it is polled often).
const EXIT_CHECK_EVERY: Duration = Duration::from_millis(250);
/// How long a kill waits for the node's control connection, and then for its end.
const KILL_BOUND: Duration = Duration::from_secs(5);

/// What `--launcher swarm` is told beyond the Docker launcher's flags.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SwarmOptions {
    /// The node image every swarm host has or can pull (`None`: this binary's, built here).
    pub image: Option<String>,
    /// Placement constraints for every node's task.
    pub placement: Vec<String>,
    /// Where tasks reach the bench (`None`: an address only tasks on this host reach).
    pub bench_address: Option<Ipv4Addr>,
    /// The control hub's port (0: any free one).
    pub control_port: u16,
}

/// Starts nodes as swarm services.
pub struct SwarmLauncher {
    docker: Docker,
    image: String,
    limits: Limits,
    placement: Vec<String>,
    bench_ip: Ipv4Addr,
    hub: Hub,
    /// This engine's swarm node: tasks there can be paused.
    local_node: String,
}

impl SwarmLauncher {
    /// Connects to the engine, which must be a swarm manager, makes sure of the image, and
    /// opens the control hub on the bench address.
    pub async fn connect(options: SwarmOptions, limits: Limits) -> Result<Self, DockerError> {
        limits.validate()?;
        let engine = docker::connect().await?;
        let manager = swarm::require_manager(&engine.docker).await?;
        let image = match options.image {
            Some(image) => image,
            None => docker::ensure_image(&engine.docker).await?,
        };
        let bench_ip = match options.bench_address {
            Some(ip) => ip,
            None => swarm::local_bench_address(&engine.docker).await?,
        };
        let listen = SocketAddr::from((bench_ip, options.control_port));
        let hub = Hub::bind(listen).await.map_err(|source| DockerError::Io {
            path: PathBuf::from(format!("control hub on {listen}")),
            source,
        })?;
        Ok(Self {
            docker: engine.docker,
            image,
            limits,
            placement: options.placement,
            bench_ip,
            hub,
            local_node: manager.node_id,
        })
    }

    /// The address tasks reach the bench at.
    pub fn bench_ip(&self) -> Ipv4Addr {
        self.bench_ip
    }

    /// The control hub (for its refusals).
    pub fn hub(&self) -> &Hub {
        &self.hub
    }

    /// The services of one run, node `i` first to last.
    fn services(&self, spec: &ClusterSpec, network: &str, token: &str) -> Vec<NodeService> {
        let bench = format!("{}:{}", self.bench_ip, self.hub.local_addr().port());
        (0..spec.nodes)
            .map(|i| {
                let id = node_id(i);
                let mut args = dialing_node_args(spec, i, &id, &bench, Path::new(TASK_DATA_DIR));
                args.extend(["--bind-ip".to_string(), "0.0.0.0".to_string()]);
                NodeService {
                    run: spec.cluster.clone(),
                    node: i as usize,
                    image: self.image.clone(),
                    network: network.to_owned(),
                    args,
                    env: vec![format!("RAFTRTC_CONTROL_TOKEN={token}")],
                    limits: self.limits,
                    constraints: self.placement.clone(),
                    data_volume: spec.data_dirs,
                }
            })
            .collect()
    }
}

/// `url` as tasks reach it: a loopback or unspecified host (the embedded server's) becomes
/// the bench address; any other host is already reachable, or not ours to change.
pub fn reachable_url(url: &str, bench: Ipv4Addr) -> String {
    let host = url
        .split_once("://")
        .map(|(_, rest)| rest.split(['/', ':']).next().unwrap_or(""))
        .unwrap_or("");
    let local = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback() || ip.is_unspecified());
    if local {
        super::docker::via_gateway(url, bench)
    } else {
        url.to_owned()
    }
}

#[async_trait]
impl Launcher for SwarmLauncher {
    async fn launch(&self, spec: &ClusterSpec) -> Result<Box<dyn Cluster>, LaunchError> {
        let run = spec.cluster.clone();
        docker::validate_run_id(&run)?;
        let dir = RunDir::new()?;
        let dir_path = dir.path().to_path_buf();
        register_swarm_run(&run);
        let token = self.hub.add_run(&run);
        let mut cluster = SwarmCluster {
            docker: self.docker.clone(),
            hub: self.hub.clone(),
            run: run.clone(),
            members: Vec::new(),
            services: Vec::new(),
            killed: Vec::new(),
            reported: Vec::new(),
            stale_tasks: Vec::new(),
            log_tasks: Vec::new(),
            dir,
            last_exit_check: Instant::now(),
            stopped: false,
            started_at: Stamp::now(),
            local_node: self.local_node.clone(),
        };
        // Dropping `cluster` on an error removes whatever was created.
        let network = swarm::create_overlay(&self.docker, &run).await?;
        let spec = ClusterSpec {
            signaling_url: reachable_url(&spec.signaling_url, self.bench_ip),
            ..spec.clone()
        };
        let services = self.services(&spec, &network, &token);
        for id in spec.ids() {
            cluster.members.push(Member {
                control: ControlAddr::DialBack {
                    hub: self.hub.clone(),
                    run: run.clone(),
                    node: id.clone(),
                },
                log: dir_path.join(format!("{id}.log")),
                spawned_ns: None,
                id,
            });
        }
        cluster.started_at = Stamp::now();
        cluster.services =
            swarm::create_services(&self.docker, &services, CREATE_CONCURRENCY).await?;
        for i in 0..cluster.services.len() {
            cluster.follow_logs(i);
        }
        Ok(Box::new(cluster))
    }
}

/// The services of one run.
struct SwarmCluster {
    docker: Docker,
    hub: Hub,
    run: String,
    members: Vec<Member>,
    /// In member order.
    services: Vec<Service>,
    killed: Vec<usize>,
    reported: Vec<usize>,
    /// `(node, task)`: a restarted node's old task, which is not its state any more.
    stale_tasks: Vec<(usize, String)>,
    log_tasks: Vec<(usize, tokio::task::JoinHandle<Result<(), DockerError>>)>,
    dir: RunDir,
    last_exit_check: Instant,
    stopped: bool,
    started_at: Stamp,
    local_node: String,
}

impl SwarmCluster {
    fn index_of(&self, id: &str) -> Result<usize, LaunchError> {
        self.members
            .iter()
            .position(|m| m.id == id)
            .filter(|&i| i < self.services.len())
            .ok_or_else(|| LaunchError::UnknownNode(id.to_owned()))
    }

    /// The newest task of node `i`'s service.
    async fn task_of(&self, i: usize) -> Result<TaskView, LaunchError> {
        let service = &self.services[i];
        let mut tasks =
            swarm::newest_tasks(&self.docker, std::slice::from_ref(&service.id)).await?;
        tasks.remove(&service.id).ok_or_else(|| {
            LaunchError::Docker(DockerError::Swarm(format!(
                "service {} has no task",
                service.name
            )))
        })
    }

    /// Node `i`'s container, which must be on this engine's host.
    async fn local_container(&self, i: usize, what: &str) -> Result<String, LaunchError> {
        let task = self.task_of(i).await?;
        let on_this_host = task.node_id == self.local_node;
        match task.container_id {
            Some(container) if on_this_host => Ok(container),
            _ => Err(LaunchError::Docker(DockerError::Swarm(format!(
                "cannot {what} {}: its task runs on swarm node {}, and only tasks on this \
                 engine's host can be reached (run the bench on that host's manager)",
                self.members[i].id, task.node_id
            )))),
        }
    }

    fn follow_logs(&mut self, i: usize) {
        let task = swarm::follow_service_logs(
            self.docker.clone(),
            self.services[i].name.clone(),
            self.members[i].log.clone(),
        );
        self.log_tasks.push((i, task));
    }
}

#[async_trait]
impl Cluster for SwarmCluster {
    fn members(&self) -> &[Member] {
        &self.members
    }

    fn started_at(&self) -> Stamp {
        self.started_at
    }

    async fn kill(&mut self, id: &str) -> Result<(), LaunchError> {
        let i = self.index_of(id)?;
        self.killed.push(i);
        let failed = |e: node::control::ClientError| LaunchError::Kill {
            id: id.to_owned(),
            source: std::io::Error::other(e.to_string()),
        };
        let client = ControlClient::connect(&self.members[i].control, KILL_BOUND)
            .await
            .map_err(failed)?;
        // A frozen node cannot act on the request: give up rather than wait forever.
        match tokio::time::timeout(KILL_BOUND, client.kill()).await {
            Ok(result) => result.map_err(failed),
            Err(_) => Err(LaunchError::Kill {
                id: id.to_owned(),
                source: std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "the node did not act on the kill request (is it paused?)",
                ),
            }),
        }
    }

    async fn restart(&mut self, id: &str) -> Result<(), LaunchError> {
        let i = self.index_of(id)?;
        if !self.killed.contains(&i) && !self.reported.contains(&i) {
            return Err(LaunchError::StillRunning(id.to_owned()));
        }
        let old = self.task_of(i).await?;
        swarm::restart_service(&self.docker, &self.services[i].name, &old.node_id).await?;
        self.stale_tasks.push((i, old.id));
        self.killed.retain(|&k| k != i);
        self.reported.retain(|&k| k != i);
        // Service logs hold every task's output: the log is rewritten whole.
        self.log_tasks.retain(|(node, task)| {
            if *node == i {
                task.abort();
            }
            *node != i
        });
        self.follow_logs(i);
        Ok(())
    }

    async fn pause(&mut self, id: &str) -> Result<(), LaunchError> {
        let i = self.index_of(id)?;
        let container = self.local_container(i, "pause").await?;
        docker::pause(&self.docker, &container).await?;
        Ok(())
    }

    async fn resume(&mut self, id: &str) -> Result<(), LaunchError> {
        let i = self.index_of(id)?;
        let container = self.local_container(i, "resume").await?;
        docker::unpause(&self.docker, &container).await?;
        Ok(())
    }

    async fn exited(&mut self) -> Vec<(String, String)> {
        if self.stopped || self.last_exit_check.elapsed() < EXIT_CHECK_EVERY {
            return Vec::new();
        }
        self.last_exit_check = Instant::now();
        let ids: Vec<String> = self.services.iter().map(|s| s.id.clone()).collect();
        let Ok(tasks) = swarm::newest_tasks(&self.docker, &ids).await else {
            return Vec::new();
        };
        let mut gone = Vec::new();
        for (i, service) in self.services.iter().enumerate() {
            if self.killed.contains(&i) || self.reported.contains(&i) {
                continue;
            }
            let Some(task) = tasks.get(&service.id) else {
                continue;
            };
            let stale = self.stale_tasks.contains(&(i, task.id.clone()));
            if stale || !(task.is_over() || task.is_unplaceable()) {
                continue;
            }
            self.reported.push(i);
            let reason = if task.reason.is_empty() {
                String::new()
            } else {
                format!(": {}", task.reason)
            };
            gone.push((
                self.members[i].id.clone(),
                format!("its swarm task is {}{reason}", task.state),
            ));
        }
        gone
    }

    async fn stop_all(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        self.hub.remove_run(&self.run);
        if let Err(e) = swarm::remove_swarm_run(&self.docker, Some(&self.run)).await {
            eprintln!("raftrtc: could not remove swarm run {}: {e}", self.run);
        }
        for (_, task) in self.log_tasks.drain(..) {
            task.abort();
        }
        unregister_swarm_run(&self.run);
    }

    fn logs_dir(&self) -> &Path {
        self.dir.path()
    }

    fn keep_logs(&mut self) {
        self.dir.keep();
    }
}

impl Drop for SwarmCluster {
    /// A cluster dropped without [`Cluster::stop_all`] (an error on the way) is removed in the
    /// background; the interrupt handler and `raftrtc cleanup` cover a runtime that is gone.
    fn drop(&mut self) {
        for (_, task) in self.log_tasks.drain(..) {
            task.abort();
        }
        self.hub.remove_run(&self.run);
        if !self.stopped {
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                let (docker, run) = (self.docker.clone(), self.run.clone());
                runtime.spawn(async move {
                    if let Err(e) = swarm::remove_swarm_run(&docker, Some(&run)).await {
                        eprintln!("raftrtc: could not remove swarm run {run}: {e}");
                    }
                    unregister_swarm_run(&run);
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_local_signaling_url_is_pointed_at_the_bench_address() {
        let bench = Ipv4Addr::new(10, 0, 0, 5);
        assert_eq!(
            reachable_url("http://0.0.0.0:9000/", bench),
            "http://10.0.0.5:9000/"
        );
        assert_eq!(
            reachable_url("http://127.0.0.1:41234/signal/", bench),
            "http://10.0.0.5:41234/signal/"
        );
        assert_eq!(
            reachable_url("http://localhost:9000/", bench),
            "http://10.0.0.5:9000/"
        );
        assert_eq!(
            reachable_url("http://192.168.1.20:9000/", bench),
            "http://192.168.1.20:9000/"
        );
        assert_eq!(
            reachable_url("https://peer.example.org/", bench),
            "https://peer.example.org/"
        );
    }
}
