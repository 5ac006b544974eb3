//! Per-run networks and node containers, and their removal.
//!
//! Why this shape:
//! - One user-defined bridge network per run (`raftrtc-<run>`): the nodes of a run see each
//!   other and nothing else, WebRTC flows between container addresses, and no port is
//!   published. IP masquerading is off — the nodes never need to leave the bridge.
//! - The signaling server stays in the bench and listens on the network's gateway address,
//!   which is the host's side of the bridge: no extra container, and the bench keeps its
//!   in-process server and its counters.
//! - Control sockets go through a bind mount: the run's host directory for node `i` is
//!   mounted at [`CONTAINER_CONTROL_DIR`], so the bench connects to
//!   `<host_dir>/control.sock` exactly as with processes, and the node's events keep their
//!   timestamps (containers share the host's monotonic clock). Containers run as the owner of
//!   that directory, so what they create there stays removable by the bench.
//! - Everything carries the label `raftrtc.run=<run>`, so a run — or every run, after a crash
//!   or Ctrl-C — is removed by label, whatever the bench remembers.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bollard::container::LogOutput;
use bollard::models::{
    ContainerCreateBody, HostConfig, Ipam, Mount, MountType, NetworkCreateRequest,
};
use bollard::query_parameters::{
    CreateContainerOptions, InspectContainerOptions, InspectNetworkOptions, KillContainerOptions,
    ListContainersOptions, ListNetworksOptions, LogsOptions, RemoveContainerOptions,
};
use bollard::Docker;
use futures_util::{StreamExt, TryStreamExt};
use tokio::io::AsyncWriteExt;

use super::{status_of, DockerError, LABEL_NODE, LABEL_RUN};

/// Where a node container sees its host directory; pass
/// `--control /run/raftrtc/control.sock` (and a `--data-dir` below it) to the node.
pub const CONTAINER_CONTROL_DIR: &str = "/run/raftrtc";

/// Longest run id: container names stay readable in `docker ps` and log file names.
const MAX_RUN_ID: usize = 40;

/// Docker's smallest memory limit (6 MiB).
const MIN_MEMORY_BYTES: u64 = 6 * 1024 * 1024;

/// Checks that `run` can be part of container and network names.
pub fn validate_run_id(run: &str) -> Result<(), DockerError> {
    let mut chars = run.chars();
    let ok = run.len() <= MAX_RUN_ID
        && chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if ok {
        Ok(())
    } else {
        Err(DockerError::InvalidRunId(run.to_owned()))
    }
}

/// `raftrtc-<run>`: the run's network.
pub fn network_name(run: &str) -> String {
    format!("raftrtc-{run}")
}

/// `raftrtc-<run>-n<node>`: node `node`'s container.
pub fn container_name(run: &str, node: usize) -> String {
    format!("raftrtc-{run}-n{node}")
}

/// A run's bridge network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunNetwork {
    /// `raftrtc-<run>`.
    pub name: String,
    /// The engine's id.
    pub id: String,
    /// The host's address on the bridge: bind the signaling server here.
    pub gateway: Ipv4Addr,
    /// The network's subnet, e.g. `172.18.0.0/16`.
    pub subnet: String,
}

/// Creates the bridge network of `run` (labelled `raftrtc.run=<run>`) and returns its gateway.
pub async fn create_network(docker: &Docker, run: &str) -> Result<RunNetwork, DockerError> {
    validate_run_id(run)?;
    let name = network_name(run);
    let request = NetworkCreateRequest {
        name: name.clone(),
        driver: Some("bridge".to_owned()),
        ipam: Some(Ipam {
            driver: Some("default".to_owned()),
            ..Default::default()
        }),
        options: Some(HashMap::from([(
            "com.docker.network.bridge.enable_ip_masquerade".to_owned(),
            "false".to_owned(),
        )])),
        labels: Some(HashMap::from([(LABEL_RUN.to_owned(), run.to_owned())])),
        ..Default::default()
    };
    let created = docker
        .create_network(request)
        .await
        .map_err(|e| DockerError::api(format!("create network {name}"), e))?;
    let inspected = docker
        .inspect_network(&created.id, None::<InspectNetworkOptions>)
        .await
        .map_err(|e| DockerError::api(format!("inspect network {name}"), e))?;
    let ipv4 = inspected
        .ipam
        .and_then(|ipam| ipam.config)
        .unwrap_or_default()
        .into_iter()
        .find_map(|cfg| {
            let gateway = cfg.gateway?.parse::<Ipv4Addr>().ok()?;
            Some((gateway, cfg.subnet.unwrap_or_default()))
        });
    match ipv4 {
        Some((gateway, subnet)) => Ok(RunNetwork {
            name,
            id: created.id,
            gateway,
            subnet,
        }),
        None => {
            // Do not leave a network we cannot use behind.
            let _ = docker.remove_network(&created.id).await;
            Err(DockerError::NoGateway(name))
        }
    }
}

/// Resource limits of one container, to emulate weak devices.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Limits {
    /// CPUs (fractions allowed, e.g. 0.5), as Docker's `--cpus`.
    pub cpus: Option<f64>,
    /// Memory in bytes, swap included (no swap beyond it), as Docker's `--memory`.
    pub memory_bytes: Option<u64>,
}

impl Limits {
    /// Checks the values: `cpus` positive and finite, `memory_bytes` at least 6 MiB.
    pub fn validate(&self) -> Result<(), DockerError> {
        if let Some(cpus) = self.cpus {
            if !cpus.is_finite() || cpus <= 0.0 || cpus > 1024.0 {
                return Err(DockerError::InvalidLimit(format!(
                    "cpus must be in (0, 1024], got {cpus}"
                )));
            }
        }
        if let Some(memory) = self.memory_bytes {
            if memory < MIN_MEMORY_BYTES || i64::try_from(memory).is_err() {
                return Err(DockerError::InvalidLimit(format!(
                    "memory must be at least 6 MiB, got {memory} bytes"
                )));
            }
        }
        Ok(())
    }

    /// `cpus` as Docker's NanoCpus (1e9 per CPU).
    pub(crate) fn nano_cpus(&self) -> Option<i64> {
        self.cpus.map(|c| (c * 1e9).round() as i64)
    }

    pub(crate) fn memory(&self) -> Option<i64> {
        self.memory_bytes.and_then(|m| i64::try_from(m).ok())
    }
}

/// One node container to create and start.
#[derive(Debug, Clone)]
pub struct NodeSpec {
    /// The run id (labels and names).
    pub run: String,
    /// The node's index (`n<node>`).
    pub node: usize,
    /// The image tag, from [`ensure_image`](super::ensure_image).
    pub image: String,
    /// The run's network name.
    pub network: String,
    /// Host directory mounted at [`CONTAINER_CONTROL_DIR`] (absolute, existing).
    pub host_dir: PathBuf,
    /// Arguments after `raftrtc node` (the node flags).
    pub args: Vec<String>,
    /// CPU and memory limits.
    pub limits: Limits,
}

/// A started node container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeContainer {
    /// `raftrtc-<run>-n<i>`.
    pub name: String,
    /// The engine's id.
    pub id: String,
    /// Time from the create request to the start answer.
    pub start_cost: Duration,
}

/// The container configuration for `spec` (pure, so it can be checked without an engine).
fn container_body(spec: &NodeSpec, user: Option<String>) -> ContainerCreateBody {
    ContainerCreateBody {
        image: Some(spec.image.clone()),
        cmd: Some(spec.args.clone()),
        user,
        labels: Some(HashMap::from([
            (LABEL_RUN.to_owned(), spec.run.clone()),
            (LABEL_NODE.to_owned(), spec.node.to_string()),
        ])),
        attach_stdout: Some(false),
        attach_stderr: Some(false),
        tty: Some(false),
        host_config: Some(HostConfig {
            network_mode: Some(spec.network.clone()),
            mounts: Some(vec![Mount {
                target: Some(CONTAINER_CONTROL_DIR.to_owned()),
                source: Some(spec.host_dir.display().to_string()),
                typ: Some(MountType::BIND),
                read_only: Some(false),
                ..Default::default()
            }]),
            nano_cpus: spec.limits.nano_cpus(),
            memory: spec.limits.memory(),
            memory_swap: spec.limits.memory(),
            readonly_rootfs: Some(true),
            cap_drop: Some(vec!["ALL".to_owned()]),
            security_opt: Some(vec!["no-new-privileges".to_owned()]),
            auto_remove: Some(false),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Creates and starts node `spec.node` of `spec.run`; no port is published.
pub async fn start_node(docker: &Docker, spec: &NodeSpec) -> Result<NodeContainer, DockerError> {
    validate_run_id(&spec.run)?;
    spec.limits.validate()?;
    let meta = match std::fs::metadata(&spec.host_dir) {
        Ok(meta) if meta.is_dir() && spec.host_dir.is_absolute() => meta,
        _ => return Err(DockerError::InvalidHostDir(spec.host_dir.clone())),
    };
    // Run as the directory's owner: the control socket and data files it creates there stay
    // the bench user's (numeric ids need no /etc/passwd in a scratch image).
    let user = Some(format!("{}:{}", meta.uid(), meta.gid()));
    let name = container_name(&spec.run, spec.node);
    let started = Instant::now();
    let created = docker
        .create_container(
            Some(CreateContainerOptions {
                name: Some(name.clone()),
                ..Default::default()
            }),
            container_body(spec, user),
        )
        .await
        .map_err(|e| DockerError::api(format!("create container {name}"), e))?;
    docker
        .start_container(&created.id, None)
        .await
        .map_err(|e| DockerError::api(format!("start container {name}"), e))?;
    Ok(NodeContainer {
        name,
        id: created.id,
        start_cost: started.elapsed(),
    })
}

/// Starts every node of `specs` with at most `concurrency` create+start requests in flight
/// (at least 1), returning the containers in `specs` order. On the first failure the others
/// still in flight are abandoned: call [`remove_run`] to clear what was created.
///
/// The engine serializes much of a start, so a little concurrency pays (see docker/README.md).
pub async fn start_nodes(
    docker: &Docker,
    specs: &[NodeSpec],
    concurrency: usize,
) -> Result<Vec<NodeContainer>, DockerError> {
    // By index: a closure over `&NodeSpec` makes the future's lifetime higher-ranked, which
    // the `Send` future of an async-trait launcher cannot prove.
    futures_util::stream::iter(0..specs.len())
        .map(|i| start_node(docker, &specs[i]))
        .buffered(concurrency.max(1))
        .try_collect()
        .await
}

/// The container's IPv4 address on `network`, once it is running.
pub async fn container_ip(
    docker: &Docker,
    container: &str,
    network: &str,
) -> Result<Option<Ipv4Addr>, DockerError> {
    let inspected = docker
        .inspect_container(container, None::<InspectContainerOptions>)
        .await
        .map_err(|e| DockerError::api(format!("inspect container {container}"), e))?;
    Ok(inspected
        .network_settings
        .and_then(|s| s.networks)
        .and_then(|mut n| n.remove(network))
        .and_then(|endpoint| endpoint.ip_address)
        .and_then(|ip| ip.parse().ok()))
}

/// Sends SIGKILL to `container` (the experiments' kill). A container that is already stopped
/// counts as killed; one that does not exist is an error.
pub async fn kill(docker: &Docker, container: &str) -> Result<(), DockerError> {
    let options = KillContainerOptions {
        signal: "SIGKILL".to_owned(),
    };
    match docker.kill_container(container, Some(options)).await {
        Ok(()) => Ok(()),
        Err(e) if status_of(&e) == Some(409) => Ok(()),
        Err(e) => Err(DockerError::api(format!("kill container {container}"), e)),
    }
}

/// Starts a stopped (killed) `container` again: same command, same bind mount, so a node
/// comes back with its data directory.
pub async fn restart(docker: &Docker, container: &str) -> Result<(), DockerError> {
    docker
        .start_container(container, None)
        .await
        .map_err(|e| DockerError::api(format!("start container {container}"), e))
}

/// Freezes every process of `container` (the engine's cgroup freezer).
pub async fn pause(docker: &Docker, container: &str) -> Result<(), DockerError> {
    docker
        .pause_container(container)
        .await
        .map_err(|e| DockerError::api(format!("pause container {container}"), e))
}

/// Thaws what [`pause`] froze.
pub async fn unpause(docker: &Docker, container: &str) -> Result<(), DockerError> {
    docker
        .unpause_container(container)
        .await
        .map_err(|e| DockerError::api(format!("unpause container {container}"), e))
}

pub(crate) fn logs_options(follow: bool) -> LogsOptions {
    LogsOptions {
        follow,
        stdout: true,
        stderr: true,
        tail: "all".to_owned(),
        ..Default::default()
    }
}

/// Writes everything `container` printed so far (stdout and stderr, interleaved) to `path`.
pub async fn save_logs(docker: &Docker, container: &str, path: &Path) -> Result<(), DockerError> {
    write_logs(docker, container, path, false).await
}

/// Streams `container`'s output to `path` until the container stops (or is removed), in the
/// background; the task's result says whether the stream ended cleanly.
pub fn follow_logs(
    docker: Docker,
    container: String,
    path: PathBuf,
) -> tokio::task::JoinHandle<Result<(), DockerError>> {
    tokio::spawn(async move { write_logs(&docker, &container, &path, true).await })
}

async fn write_logs(
    docker: &Docker,
    container: &str,
    path: &Path,
    follow: bool,
) -> Result<(), DockerError> {
    let stream = docker.logs(container, Some(logs_options(follow)));
    write_log_stream(stream, path, container, follow).await
}

/// Writes a log stream of the engine (a container's or a service's) to `path`, replacing it.
pub(crate) async fn write_log_stream(
    stream: impl futures_util::Stream<Item = Result<LogOutput, bollard::errors::Error>>,
    path: &Path,
    of: &str,
    follow: bool,
) -> Result<(), DockerError> {
    let io = |source| DockerError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = tokio::fs::File::create(path).await.map_err(io)?;
    let mut stream = std::pin::pin!(stream);
    while let Some(item) = stream.next().await {
        match item {
            Ok(
                LogOutput::StdOut { message }
                | LogOutput::StdErr { message }
                | LogOutput::Console { message }
                | LogOutput::StdIn { message },
            ) => file.write_all(&message).await.map_err(io)?,
            // Removed while following: the logs end here.
            Err(e) if follow && status_of(&e) == Some(404) => break,
            Err(e) => return Err(DockerError::api(format!("logs of {of}"), e)),
        }
    }
    file.flush().await.map_err(io)
}

/// What a removal removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Removed {
    /// Containers removed.
    pub containers: usize,
    /// Networks removed.
    pub networks: usize,
}

/// Names of the containers and networks still carrying a run label.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Leftovers {
    /// Container names (any state).
    pub containers: Vec<String>,
    /// Network names.
    pub networks: Vec<String>,
}

impl Leftovers {
    /// Whether nothing is left.
    pub fn is_empty(&self) -> bool {
        self.containers.is_empty() && self.networks.is_empty()
    }
}

/// The label filter for one run, or for every run.
pub(crate) fn label_filter(run: Option<&str>) -> HashMap<String, Vec<String>> {
    let label = match run {
        Some(run) => format!("{LABEL_RUN}={run}"),
        None => LABEL_RUN.to_owned(),
    };
    HashMap::from([("label".to_owned(), vec![label])])
}

/// Names of the run's containers that have stopped (killed or crashed).
pub async fn stopped_containers(docker: &Docker, run: &str) -> Result<Vec<String>, DockerError> {
    let mut filters = label_filter(Some(run));
    filters.insert(
        "status".to_owned(),
        vec!["exited".to_owned(), "dead".to_owned()],
    );
    let containers = docker
        .list_containers(Some(ListContainersOptions {
            all: true,
            filters: Some(filters),
            ..Default::default()
        }))
        .await
        .map_err(|e| DockerError::api("list containers", e))?;
    Ok(containers
        .into_iter()
        .filter_map(|c| c.names.and_then(|n| n.into_iter().next()))
        .map(|n| n.trim_start_matches('/').to_owned())
        .collect())
}

/// Containers and networks labelled with `run` (or with any run when `None`).
pub async fn leftovers(docker: &Docker, run: Option<&str>) -> Result<Leftovers, DockerError> {
    let containers = docker
        .list_containers(Some(ListContainersOptions {
            all: true,
            filters: Some(label_filter(run)),
            ..Default::default()
        }))
        .await
        .map_err(|e| DockerError::api("list containers", e))?;
    let networks = docker
        .list_networks(Some(ListNetworksOptions {
            filters: Some(label_filter(run)),
        }))
        .await
        .map_err(|e| DockerError::api("list networks", e))?;
    Ok(Leftovers {
        containers: containers
            .into_iter()
            .filter_map(|c| {
                c.names
                    .and_then(|n| n.into_iter().next())
                    .map(|n| n.trim_start_matches('/').to_owned())
                    .or(c.id)
            })
            .collect(),
        networks: networks
            .into_iter()
            .filter_map(|n| n.name.or(n.id))
            .collect(),
    })
}

/// Removes every container (forced: running ones are killed) and then the network of `run`.
/// Objects already gone are not errors; other failures do not stop the sweep and are reported
/// together at the end.
pub async fn remove_run(docker: &Docker, run: &str) -> Result<Removed, DockerError> {
    validate_run_id(run)?;
    remove_labelled(docker, Some(run)).await
}

/// Removes every container and network carrying a `raftrtc.run` label, from any run
/// (`raftrtc cleanup`). Images are kept: they are reused by content hash.
pub async fn cleanup_all(docker: &Docker) -> Result<Removed, DockerError> {
    remove_labelled(docker, None).await
}

async fn remove_labelled(docker: &Docker, run: Option<&str>) -> Result<Removed, DockerError> {
    let found = leftovers(docker, run).await?;
    let mut errors: Vec<DockerError> = Vec::new();
    let mut removed = Removed::default();

    let removals = found.containers.iter().map(|name| async move {
        let options = RemoveContainerOptions {
            force: true,
            v: true,
            ..Default::default()
        };
        match docker.remove_container(name, Some(options)).await {
            Ok(()) => Ok(true),
            Err(e) if status_of(&e) == Some(404) => Ok(false),
            // 409: removal already in progress (another cleanup); it will be gone.
            Err(e) if status_of(&e) == Some(409) => Ok(false),
            Err(e) => Err(DockerError::api(format!("remove container {name}"), e)),
        }
    });
    for result in futures_util::future::join_all(removals).await {
        match result {
            Ok(true) => removed.containers += 1,
            Ok(false) => {}
            Err(e) => errors.push(e),
        }
    }
    for name in &found.networks {
        match docker.remove_network(name).await {
            Ok(()) => removed.networks += 1,
            Err(e) if status_of(&e) == Some(404) => {}
            Err(e) => errors.push(DockerError::api(format!("remove network {name}"), e)),
        }
    }
    let count = errors.len();
    match errors.into_iter().next() {
        None => Ok(removed),
        Some(first) => Err(DockerError::Cleanup {
            count,
            first: Box::new(first),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_make_valid_docker_names() {
        for ok in ["r1", "1700000000-3", "up_n3.et250", "a"] {
            assert!(validate_run_id(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-r", ".r", "r/1", "r 1", "r:1", "é", &"x".repeat(41)] {
            assert!(
                matches!(validate_run_id(bad), Err(DockerError::InvalidRunId(_))),
                "{bad:?}"
            );
        }
        assert_eq!(network_name("r7"), "raftrtc-r7");
        assert_eq!(container_name("r7", 3), "raftrtc-r7-n3");
    }

    #[test]
    fn label_filters_select_one_run_or_all() {
        assert_eq!(
            label_filter(Some("r7"))["label"],
            vec!["raftrtc.run=r7".to_owned()]
        );
        assert_eq!(label_filter(None)["label"], vec!["raftrtc.run".to_owned()]);
    }

    #[test]
    fn limits_are_checked_and_converted() {
        assert!(Limits::default().validate().is_ok());
        let half = Limits {
            cpus: Some(0.5),
            memory_bytes: Some(64 << 20),
        };
        assert!(half.validate().is_ok());
        assert_eq!(half.nano_cpus(), Some(500_000_000));
        assert_eq!(half.memory(), Some(64 << 20));
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let l = Limits {
                cpus: Some(bad),
                memory_bytes: None,
            };
            assert!(l.validate().is_err(), "{bad}");
        }
        let tiny = Limits {
            cpus: None,
            memory_bytes: Some(1024),
        };
        assert!(matches!(tiny.validate(), Err(DockerError::InvalidLimit(_))));
    }

    #[test]
    fn the_container_is_labelled_mounted_and_unpublished() {
        let spec = NodeSpec {
            run: "r7".to_owned(),
            node: 2,
            image: "raftrtc-node:0123456789ab".to_owned(),
            network: "raftrtc-r7".to_owned(),
            host_dir: PathBuf::from("/tmp/run/n2"),
            args: vec!["--id".to_owned(), "n2".to_owned()],
            limits: Limits {
                cpus: Some(0.25),
                memory_bytes: Some(32 << 20),
            },
        };
        let body = container_body(&spec, Some("1000:1000".to_owned()));
        let labels = body.labels.as_ref().expect("labels");
        assert_eq!(labels["raftrtc.run"], "r7");
        assert_eq!(labels["raftrtc.node"], "2");
        assert_eq!(body.cmd.as_deref(), Some(&spec.args[..]));
        assert_eq!(body.user.as_deref(), Some("1000:1000"));
        assert!(body.exposed_ports.is_none());
        let host = body.host_config.as_ref().expect("host config");
        assert!(host.port_bindings.is_none());
        assert_eq!(host.publish_all_ports, None);
        assert_eq!(host.network_mode.as_deref(), Some("raftrtc-r7"));
        assert_eq!(host.nano_cpus, Some(250_000_000));
        assert_eq!(host.memory, Some(32 << 20));
        let mount = &host.mounts.as_ref().expect("mounts")[0];
        assert_eq!(mount.source.as_deref(), Some("/tmp/run/n2"));
        assert_eq!(mount.target.as_deref(), Some(CONTAINER_CONTROL_DIR));
        assert_eq!(mount.typ, Some(MountType::BIND));
    }
}
