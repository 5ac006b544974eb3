//! Swarm building blocks for `--launcher swarm`: one service per Raft node on a per-run
//! overlay network, and their removal.
//!
//! Why services and not containers: a swarm manager's API places work on any host of the
//! swarm, and a service is the unit it places. One service per node, one replica each, so
//! that every node can be addressed, killed and restarted on its own; restart condition
//! `none`, so that a killed node stays dead until the experiment restarts it.
//!
//! Everything carries the label `raftrtc.run=<run>` (services, the network, data volumes),
//! so a run, or every run, is removed by label whatever the bench remembers. Removal goes
//! services first: the network and the volumes are only free once their tasks are gone.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use bollard::models::{
    LocalNodeState, Mount, MountType, MountVolumeOptions, NetworkAttachmentConfig,
    NetworkCreateRequest, ServiceSpec, ServiceSpecMode, ServiceSpecModeReplicated, TaskSpec,
    TaskSpecContainerSpec, TaskSpecContainerSpecPrivileges, TaskSpecPlacement, TaskSpecResources,
    TaskSpecRestartPolicy, TaskSpecRestartPolicyConditionEnum, TaskState,
};
use bollard::query_parameters::{
    InspectNetworkOptions, InspectServiceOptions, ListServicesOptions, ListTasksOptions,
    ListVolumesOptions, RemoveVolumeOptions, UpdateServiceOptions,
};
use bollard::Docker;
use futures_util::{StreamExt, TryStreamExt};

use super::cluster::{
    container_name, label_filter, logs_options, network_name, validate_run_id, write_log_stream,
    Limits,
};
use super::{status_of, DockerError, LABEL_NODE, LABEL_RUN};

/// Where a node's data volume is mounted in its task (`--data-dir` below it).
pub const TASK_DATA_DIR: &str = "/data";
/// The network through which swarm tasks reach their host (and the bench on it).
pub const GWBRIDGE: &str = "docker_gwbridge";
/// How long removal waits for a run's tasks to let go of its network and volumes.
const RELEASE_BOUND: Duration = Duration::from_secs(30);

/// This engine's place in the swarm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manager {
    /// The engine's swarm node id (tasks on it can be paused through this engine).
    pub node_id: String,
    /// How many nodes the swarm has.
    pub nodes: i64,
}

/// The engine's swarm role, which must be an active manager: only a manager creates
/// services.
pub async fn require_manager(docker: &Docker) -> Result<Manager, DockerError> {
    let info = docker
        .info()
        .await
        .map_err(|e| DockerError::api("engine info", e))?;
    let swarm = info.swarm.unwrap_or_default();
    let state = swarm.local_node_state.unwrap_or(LocalNodeState::INACTIVE);
    if state != LocalNodeState::ACTIVE || swarm.control_available != Some(true) {
        let why = match state {
            LocalNodeState::ACTIVE => "this engine is a swarm worker, not a manager".to_owned(),
            other => format!("this engine's swarm state is `{other}`"),
        };
        return Err(DockerError::NotASwarmManager(why));
    }
    Ok(Manager {
        node_id: swarm.node_id.unwrap_or_default(),
        nodes: swarm.nodes.unwrap_or(1),
    })
}

/// An address of this host that its swarm tasks reach: its `docker_gwbridge` gateway, or,
/// before the engine made that bridge (it does so for the first task), the default `bridge`
/// network's gateway, which tasks reach through their gateway as any address of the host.
pub async fn local_bench_address(docker: &Docker) -> Result<Ipv4Addr, DockerError> {
    for network in [GWBRIDGE, "bridge"] {
        if let Ok(Some(gateway)) = network_gateway(docker, network).await {
            return Ok(gateway);
        }
    }
    Err(DockerError::NoGateway(format!(
        "{GWBRIDGE} or bridge (give the bench's address with --bench-address)"
    )))
}

async fn network_gateway(docker: &Docker, name: &str) -> Result<Option<Ipv4Addr>, DockerError> {
    let inspected = docker
        .inspect_network(name, None::<InspectNetworkOptions>)
        .await
        .map_err(|e| DockerError::api(format!("inspect network {name}"), e))?;
    Ok(inspected
        .ipam
        .and_then(|ipam| ipam.config)
        .unwrap_or_default()
        .into_iter()
        .find_map(|cfg| cfg.gateway?.parse().ok()))
}

/// Creates the run's attachable overlay network, `raftrtc-<run>`.
pub async fn create_overlay(docker: &Docker, run: &str) -> Result<String, DockerError> {
    validate_run_id(run)?;
    let name = network_name(run);
    let request = NetworkCreateRequest {
        name: name.clone(),
        driver: Some("overlay".to_owned()),
        attachable: Some(true),
        labels: Some(HashMap::from([(LABEL_RUN.to_owned(), run.to_owned())])),
        ..Default::default()
    };
    docker
        .create_network(request)
        .await
        .map_err(|e| DockerError::api(format!("create network {name}"), e))?;
    Ok(name)
}

/// One node service to create.
#[derive(Debug, Clone)]
pub struct NodeService {
    /// The run id (labels and names).
    pub run: String,
    /// The node's index (`n<node>`).
    pub node: usize,
    /// The image, local to every swarm host or in a registry they reach.
    pub image: String,
    /// The run's overlay network.
    pub network: String,
    /// Arguments after `raftrtc node`.
    pub args: Vec<String>,
    /// `NAME=value` environment (the control token).
    pub env: Vec<String>,
    /// CPU and memory limits.
    pub limits: Limits,
    /// Placement constraints (`node.labels.zone==a`), as `docker service create --constraint`.
    pub constraints: Vec<String>,
    /// A named volume `raftrtc-<run>-n<i>` at [`TASK_DATA_DIR`], for a node that keeps its
    /// data across restarts.
    pub data_volume: bool,
}

/// The service of `spec` (pure, so it can be checked without an engine).
pub fn service_spec(spec: &NodeService) -> ServiceSpec {
    let name = container_name(&spec.run, spec.node);
    let labels = HashMap::from([
        (LABEL_RUN.to_owned(), spec.run.clone()),
        (LABEL_NODE.to_owned(), spec.node.to_string()),
    ]);
    let mounts = spec.data_volume.then(|| {
        vec![Mount {
            target: Some(TASK_DATA_DIR.to_owned()),
            source: Some(name.clone()),
            typ: Some(MountType::VOLUME),
            volume_options: Some(MountVolumeOptions {
                labels: Some(labels.clone()),
                ..Default::default()
            }),
            ..Default::default()
        }]
    });
    let container = TaskSpecContainerSpec {
        image: Some(spec.image.clone()),
        args: Some(spec.args.clone()),
        env: Some(spec.env.clone()),
        read_only: Some(true),
        mounts,
        capability_drop: Some(vec!["ALL".to_owned()]),
        privileges: Some(TaskSpecContainerSpecPrivileges {
            no_new_privileges: Some(true),
            ..Default::default()
        }),
        // Removal is a kill: nothing of a node is worth a grace period.
        stop_signal: Some("SIGKILL".to_owned()),
        ..Default::default()
    };
    let limits = bollard::models::Limit {
        nano_cpus: spec.limits.nano_cpus(),
        memory_bytes: spec.limits.memory(),
        pids: None,
    };
    ServiceSpec {
        name: Some(name),
        labels: Some(labels),
        mode: Some(ServiceSpecMode {
            replicated: Some(ServiceSpecModeReplicated { replicas: Some(1) }),
            ..Default::default()
        }),
        task_template: Some(TaskSpec {
            container_spec: Some(container),
            resources: Some(TaskSpecResources {
                limits: Some(limits),
                ..Default::default()
            }),
            restart_policy: Some(TaskSpecRestartPolicy {
                condition: Some(TaskSpecRestartPolicyConditionEnum::NONE),
                ..Default::default()
            }),
            placement: Some(TaskSpecPlacement {
                constraints: (!spec.constraints.is_empty()).then(|| spec.constraints.clone()),
                ..Default::default()
            }),
            networks: Some(vec![NetworkAttachmentConfig {
                target: Some(spec.network.clone()),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A created node service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    /// `raftrtc-<run>-n<i>`.
    pub name: String,
    /// The engine's id.
    pub id: String,
}

/// Creates every service of `specs`, at most `concurrency` requests in flight, in `specs`
/// order. On a failure the others are abandoned: remove the run to clear what was made.
pub async fn create_services(
    docker: &Docker,
    specs: &[NodeService],
    concurrency: usize,
) -> Result<Vec<Service>, DockerError> {
    futures_util::stream::iter(0..specs.len())
        .map(|i| async move {
            validate_run_id(&specs[i].run)?;
            specs[i].limits.validate()?;
            let spec = service_spec(&specs[i]);
            let name = spec.name.clone().unwrap_or_default();
            let created = docker
                .create_service(spec, None)
                .await
                .map_err(|e| DockerError::api(format!("create service {name}"), e))?;
            Ok(Service {
                name,
                id: created.id.unwrap_or_default(),
            })
        })
        .buffered(concurrency.max(1))
        .try_collect()
        .await
}

/// What the swarm says of a service's newest task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskView {
    /// The task's id.
    pub id: String,
    /// The task's service id.
    pub service_id: String,
    /// The swarm node it was placed on (empty until placed).
    pub node_id: String,
    /// Its state.
    pub state: TaskState,
    /// The engine's reason for a failure or a wait (`No such image: ...`,
    /// `no suitable node ...`), or its status message.
    pub reason: String,
    /// Its container, once created (on the host of `node_id`).
    pub container_id: Option<String>,
}

impl TaskView {
    /// Whether the task ended or will never start: its node is gone.
    pub fn is_over(&self) -> bool {
        matches!(
            self.state,
            TaskState::COMPLETE
                | TaskState::SHUTDOWN
                | TaskState::FAILED
                | TaskState::REJECTED
                | TaskState::REMOVE
                | TaskState::ORPHANED
        )
    }

    /// Whether the scheduler cannot place it (it stays pending with an error, for example
    /// when no node meets the constraints).
    pub fn is_unplaceable(&self) -> bool {
        self.state == TaskState::PENDING && !self.reason.is_empty()
    }
}

/// The newest task of each of `service_ids` (one call, whatever their number).
pub async fn newest_tasks(
    docker: &Docker,
    service_ids: &[String],
) -> Result<HashMap<String, TaskView>, DockerError> {
    let tasks = docker
        .list_tasks(None::<ListTasksOptions>)
        .await
        .map_err(|e| DockerError::api("list tasks", e))?;
    let mut newest: HashMap<String, (u64, TaskView)> = HashMap::new();
    for task in tasks {
        let Some(service_id) = task.service_id.clone() else {
            continue;
        };
        if !service_ids.contains(&service_id) {
            continue;
        }
        let version = task.version.and_then(|v| v.index).unwrap_or(0);
        let status = task.status.unwrap_or_default();
        let view = TaskView {
            id: task.id.unwrap_or_default(),
            service_id: service_id.clone(),
            node_id: task.node_id.unwrap_or_default(),
            state: status.state.unwrap_or(TaskState::NEW),
            reason: status.err.filter(|e| !e.is_empty()).unwrap_or_default(),
            container_id: status.container_status.and_then(|c| c.container_id),
        };
        match newest.get(&service_id) {
            Some((seen, _)) if *seen >= version => {}
            _ => {
                newest.insert(service_id, (version, view));
            }
        }
    }
    Ok(newest
        .into_iter()
        .map(|(id, (_, view))| (id, view))
        .collect())
}

/// Streams the output of every task of service `name` to `path` until it is removed, in the
/// background.
pub fn follow_service_logs(
    docker: Docker,
    name: String,
    path: std::path::PathBuf,
) -> tokio::task::JoinHandle<Result<(), DockerError>> {
    tokio::spawn(async move {
        let stream = docker.service_logs(&name, Some(logs_options(true)));
        write_log_stream(stream, &path, &name, true).await
    })
}

/// Starts a service's node again: a new task, pinned to the swarm node of its last one (the
/// node's data volume is there).
pub async fn restart_service(
    docker: &Docker,
    name: &str,
    on_node: &str,
) -> Result<(), DockerError> {
    let what = || format!("restart service {name}");
    let service = docker
        .inspect_service(name, None::<InspectServiceOptions>)
        .await
        .map_err(|e| DockerError::api(what(), e))?;
    let version = service
        .version
        .and_then(|v| v.index)
        .ok_or_else(|| DockerError::Swarm(format!("service {name} has no version")))?;
    let mut spec = service.spec.unwrap_or_default();
    let task = spec.task_template.get_or_insert_with(Default::default);
    task.force_update = Some(task.force_update.unwrap_or(0) + 1);
    if !on_node.is_empty() {
        let pin = format!("node.id=={on_node}");
        let placement = task.placement.get_or_insert_with(Default::default);
        let constraints = placement.constraints.get_or_insert_with(Vec::new);
        if !constraints.contains(&pin) {
            constraints.push(pin);
        }
    }
    let options = UpdateServiceOptions {
        version: i32::try_from(version).unwrap_or(i32::MAX),
        ..Default::default()
    };
    docker
        .update_service(name, spec, options, None)
        .await
        .map_err(|e| DockerError::api(what(), e))?;
    Ok(())
}

/// Services, networks and volumes still carrying a run label.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SwarmLeftovers {
    /// Service names.
    pub services: Vec<String>,
    /// Network names (overlay and bridge: the label is the same).
    pub networks: Vec<String>,
    /// Volume names.
    pub volumes: Vec<String>,
}

impl SwarmLeftovers {
    /// Whether nothing is left.
    pub fn is_empty(&self) -> bool {
        self.services.is_empty() && self.networks.is_empty() && self.volumes.is_empty()
    }
}

/// What carries the label of `run` (of any run when `None`).
pub async fn swarm_leftovers(
    docker: &Docker,
    run: Option<&str>,
) -> Result<SwarmLeftovers, DockerError> {
    let services = docker
        .list_services(Some(ListServicesOptions {
            filters: Some(label_filter(run)),
            ..Default::default()
        }))
        .await
        .map_err(|e| DockerError::api("list services", e))?;
    let networks = super::leftovers(docker, run).await?.networks;
    let volumes = docker
        .list_volumes(Some(ListVolumesOptions {
            filters: Some(label_filter(run)),
        }))
        .await
        .map_err(|e| DockerError::api("list volumes", e))?;
    Ok(SwarmLeftovers {
        services: services
            .into_iter()
            .filter_map(|s| s.spec.and_then(|spec| spec.name).or(s.id))
            .collect(),
        networks,
        volumes: volumes
            .volumes
            .unwrap_or_default()
            .into_iter()
            .map(|v| v.name)
            .collect(),
    })
}

/// What a swarm removal removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SwarmRemoved {
    /// Services removed.
    pub services: usize,
    /// Networks removed.
    pub networks: usize,
    /// Volumes removed.
    pub volumes: usize,
}

/// Removes the services of `run` (of every run when `None`), then, once their tasks let go,
/// its networks and volumes, until nothing labelled is listed. Objects already gone are not
/// errors.
pub async fn remove_swarm_run(
    docker: &Docker,
    run: Option<&str>,
) -> Result<SwarmRemoved, DockerError> {
    if let Some(run) = run {
        validate_run_id(run)?;
    }
    let started = Instant::now();
    let mut removed = SwarmRemoved::default();
    loop {
        let found = swarm_leftovers(docker, run).await?;
        if found.is_empty() {
            return Ok(removed);
        }
        if started.elapsed() > RELEASE_BOUND {
            let left = [found.services, found.networks, found.volumes].concat();
            return Err(DockerError::Cleanup {
                count: left.len(),
                first: Box::new(DockerError::Swarm(format!(
                    "still there after {} s: {}",
                    RELEASE_BOUND.as_secs(),
                    left.join(", ")
                ))),
            });
        }
        for name in &found.services {
            match docker.delete_service(name).await {
                Ok(()) => removed.services += 1,
                Err(e) if status_of(&e) == Some(404) => {}
                Err(e) => return Err(DockerError::api(format!("remove service {name}"), e)),
            }
        }
        // A network or a volume in use is refused until the tasks' containers are gone, and
        // a removed overlay network stays listed a moment: both are tried again.
        removed.networks += count_removed(&found.networks, |name| async move {
            docker.remove_network(&name).await
        })
        .await;
        removed.volumes += count_removed(&found.volumes, |name| async move {
            let options = RemoveVolumeOptions { force: false };
            docker.remove_volume(&name, Some(options)).await
        })
        .await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Tries `remove` on each name; how many it removed (refusals are tried again later).
async fn count_removed<F, Fut>(names: &[String], remove: F) -> usize
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = Result<(), bollard::errors::Error>>,
{
    let mut removed = 0;
    for name in names {
        if remove(name.clone()).await.is_ok() {
            removed += 1;
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(data_volume: bool) -> NodeService {
        NodeService {
            run: "r7".to_owned(),
            node: 2,
            image: "raftrtc-node:0123456789ab".to_owned(),
            network: "raftrtc-r7".to_owned(),
            args: vec!["--id".to_owned(), "n2".to_owned()],
            env: vec!["RAFTRTC_CONTROL_TOKEN=t".to_owned()],
            limits: Limits {
                cpus: Some(0.5),
                memory_bytes: None,
            },
            constraints: vec!["node.labels.zone==a".to_owned()],
            data_volume,
        }
    }

    #[test]
    fn a_node_service_is_one_labelled_replica_that_is_never_restarted_by_the_swarm() {
        let s = service_spec(&spec(false));
        assert_eq!(s.name.as_deref(), Some("raftrtc-r7-n2"));
        let labels = s.labels.as_ref().expect("labels");
        assert_eq!(labels["raftrtc.run"], "r7");
        assert_eq!(labels["raftrtc.node"], "2");
        let replicas = s.mode.and_then(|m| m.replicated).and_then(|r| r.replicas);
        assert_eq!(replicas, Some(1));
        let task = s.task_template.expect("a task template");
        assert_eq!(
            task.restart_policy.and_then(|r| r.condition),
            Some(TaskSpecRestartPolicyConditionEnum::NONE),
            "a killed node must stay dead until the experiment restarts it"
        );
        let constraints = task.placement.and_then(|p| p.constraints);
        assert_eq!(constraints, Some(vec!["node.labels.zone==a".to_owned()]));
        let networks = task.networks.expect("networks");
        assert_eq!(networks[0].target.as_deref(), Some("raftrtc-r7"));
        let limits = task.resources.and_then(|r| r.limits).expect("limits");
        assert_eq!(limits.nano_cpus, Some(500_000_000));
        let container = task.container_spec.expect("a container");
        assert_eq!(container.args.as_deref(), Some(&spec(false).args[..]));
        assert_eq!(
            container.env,
            Some(vec!["RAFTRTC_CONTROL_TOKEN=t".to_owned()])
        );
        assert_eq!(container.read_only, Some(true));
        assert!(container.mounts.is_none());
    }

    #[test]
    fn a_node_that_keeps_data_gets_a_labelled_volume_of_its_own() {
        let s = service_spec(&spec(true));
        let container = s.task_template.and_then(|t| t.container_spec).unwrap();
        let mount = &container.mounts.expect("a mount")[0];
        assert_eq!(mount.typ, Some(MountType::VOLUME));
        assert_eq!(mount.source.as_deref(), Some("raftrtc-r7-n2"));
        assert_eq!(mount.target.as_deref(), Some(TASK_DATA_DIR));
        let labels = mount
            .volume_options
            .as_ref()
            .and_then(|o| o.labels.as_ref());
        assert_eq!(labels.map(|l| l["raftrtc.run"].as_str()), Some("r7"));
    }

    #[test]
    fn failed_rejected_and_unplaceable_tasks_are_told_apart_from_starting_ones() {
        let view = |state, reason: &str| TaskView {
            id: "t".into(),
            service_id: "s".into(),
            node_id: String::new(),
            state,
            reason: reason.into(),
            container_id: None,
        };
        assert!(view(TaskState::REJECTED, "No such image: x").is_over());
        assert!(view(TaskState::FAILED, "exit 137").is_over());
        assert!(!view(TaskState::RUNNING, "").is_over());
        assert!(!view(TaskState::PREPARING, "").is_over());
        assert!(view(TaskState::PENDING, "no suitable node").is_unplaceable());
        assert!(!view(TaskState::PENDING, "").is_unplaceable());
    }
}
