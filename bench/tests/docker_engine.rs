//! The Docker building blocks against a real engine: the node image built from the cargo-built
//! `raftrtc`, a run's bridge network, node containers reaching a signaling server bound on the
//! network's gateway, control over bind-mounted sockets, real WebRTC between container
//! addresses, SIGKILL, and removal of everything the run created.
//!
//! Without an engine the tests print why and pass, except with `CI=true`, where a missing
//! engine fails them (`.ci/docker-up.sh` starts one).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bench::docker;
use bench::launcher::docker::container_node_args;
use bench::launcher::ClusterSpec;
use bollard::query_parameters::InspectContainerOptions;
use node::control::ControlClient;
use node::settings::Settings;
use raftrtc_raft::Role;

/// Cluster tests take turns: elections on a 2-core machine are timing-sensitive.
static CLUSTERS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// One image build for all tests of this file (the binary is the same).
static IMAGE: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();

/// The engine, or `None` (after saying so) when there is none and this is not CI.
async fn engine_or_skip(test: &str) -> Option<docker::Engine> {
    match docker::connect().await {
        Ok(engine) => Some(engine),
        Err(e) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("CI=true and no Docker engine: {e}")
        }
        Err(e) => {
            eprintln!("SKIPPED {test}: {e} (start one with .ci/docker-up.sh)");
            None
        }
    }
}

async fn image(engine: &docker::Engine) -> String {
    IMAGE
        .get_or_init(|| async {
            let binary = Path::new(env!("CARGO_BIN_EXE_raftrtc"));
            let started = Instant::now();
            let image = docker::build_image_from(&engine.docker, binary, false)
                .await
                .expect("the node image builds");
            eprintln!(
                "image {} ({} MB, {}) in {:?}",
                image.tag,
                image.size_bytes.unwrap_or(0) / 1_000_000,
                if image.reused { "reused" } else { "built" },
                started.elapsed()
            );
            image.tag
        })
        .await
        .clone()
}

fn run_id(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("t{}-{name}-{nanos}", std::process::id())
}

/// The flags of node `i` in a container, as the Docker launcher gives them.
fn node_args(i: usize, signaling: SocketAddr, cluster: &str) -> Vec<String> {
    let spec = ClusterSpec {
        nodes: 1 + i as u32,
        cluster: cluster.to_owned(),
        signaling_url: format!("http://{signaling}/"),
        settings: Settings::default(),
        log_level: "info".to_owned(),
        seed: 1,
        start_at_launch: false,
        data_dirs: false,
        shared_key: None,
    };
    container_node_args(&spec, i as u32)
}

/// Removes the run and checks that nothing with its label is left.
async fn remove_and_check(engine: &docker::Engine, run: &str) {
    docker::remove_run(&engine.docker, run)
        .await
        .expect("the run is removed");
    let left = docker::leftovers(&engine.docker, Some(run))
        .await
        .expect("listing works");
    assert!(left.is_empty(), "left behind: {left:?}");
}

async fn running(engine: &docker::Engine, name: &str) -> bool {
    engine
        .docker
        .inspect_container(name, None::<InspectContainerOptions>)
        .await
        .ok()
        .and_then(|c| c.state)
        .and_then(|s| s.running)
        .unwrap_or(false)
}

/// Starts a signaling server on the run's gateway; returns its address.
async fn signaling_on(gateway: std::net::Ipv4Addr) -> SocketAddr {
    let server = signaling::Server::bind(signaling::ServerConfig {
        listen: SocketAddr::new(gateway.into(), 0),
        ..Default::default()
    })
    .await
    .expect("signaling binds on the bridge gateway");
    let addr = server.local_addr();
    tokio::spawn(server.run());
    addr
}

struct Node {
    name: String,
    control: PathBuf,
    logs: PathBuf,
}

/// What a test run has set up before its nodes.
struct Run<'a> {
    engine: &'a docker::Engine,
    id: &'a str,
    net: &'a docker::RunNetwork,
    image: &'a str,
    signaling: SocketAddr,
    dir: &'a Path,
}

/// Starts `n` node containers with `limits`; returns them with the create+start cost of each.
async fn launch(r: &Run<'_>, n: usize, limits: docker::Limits) -> (Vec<Node>, Vec<Duration>) {
    let Run {
        engine,
        id: run,
        net,
        image,
        signaling,
        dir,
    } = *r;
    let mut nodes = Vec::new();
    let mut costs = Vec::new();
    for i in 0..n {
        let host_dir = dir.join(format!("n{i}"));
        std::fs::create_dir_all(&host_dir).expect("node dir");
        let spec = docker::NodeSpec {
            run: run.to_owned(),
            node: i,
            image: image.to_owned(),
            network: net.name.clone(),
            host_dir: host_dir.clone(),
            args: node_args(i, signaling, run),
            limits,
        };
        let started = docker::start_node(&engine.docker, &spec)
            .await
            .expect("the node container starts");
        costs.push(started.start_cost);
        nodes.push(Node {
            name: started.name,
            control: host_dir.join("control.sock"),
            logs: dir.join(format!("n{i}.log")),
        });
    }
    (nodes, costs)
}

async fn connect(node: &Node) -> ControlClient {
    ControlClient::connect(&node.control, Duration::from_secs(15))
        .await
        .expect("the control socket appears in the mounted directory")
}

/// A weak device: half a CPU, 64 MiB.
const WEAK: docker::Limits = docker::Limits {
    cpus: Some(0.5),
    memory_bytes: Some(64 << 20),
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_node_container_runs_against_signaling_on_the_gateway() {
    let Some(engine) = engine_or_skip("one_node_container").await else {
        return;
    };
    let _turn = CLUSTERS.lock().await;
    let image = image(&engine).await;
    let run = run_id("one");
    let dir = tempfile::tempdir().expect("run dir");
    let result = async {
        let net = docker::create_network(&engine.docker, &run)
            .await
            .expect("the network is created");
        let signaling = signaling_on(net.gateway).await;
        let (nodes, costs) = launch(
            &Run {
                engine: &engine,
                id: &run,
                net: &net,
                image: &image,
                signaling,
                dir: dir.path(),
            },
            1,
            WEAK,
        )
        .await;
        eprintln!("create+start: {costs:?}");
        let node = &nodes[0];
        let host = engine
            .docker
            .inspect_container(&node.name, None::<InspectContainerOptions>)
            .await
            .expect("inspect")
            .host_config
            .expect("host config");
        assert_eq!(host.nano_cpus, Some(500_000_000));
        assert_eq!(host.memory, Some(64 << 20));
        let ip = docker::container_ip(&engine.docker, &node.name, &net.name)
            .await
            .expect("inspect works");
        eprintln!(
            "gateway {} subnet {} node ip {ip:?}",
            net.gateway, net.subnet
        );
        let mut control = connect(node).await;
        let deadline = Instant::now() + Duration::from_secs(15);
        while !control.status().await.expect("status").signaling_connected {
            assert!(
                Instant::now() < deadline,
                "the node never reached signaling"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        control.start().await.expect("start");
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let status = control.status().await.expect("status");
            if status.role == Some(Role::Leader) && status.applied_members == ["n0"] {
                break;
            }
            assert!(Instant::now() < deadline, "no leader: {status:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let killed = Instant::now();
        docker::kill(&engine.docker, &node.name)
            .await
            .expect("kill");
        eprintln!("kill answered in {:?}", killed.elapsed());
        assert!(
            !running(&engine, &node.name).await,
            "still running after SIGKILL"
        );
        // Killing a dead container again is fine.
        docker::kill(&engine.docker, &node.name)
            .await
            .expect("second kill");
        docker::save_logs(&engine.docker, &node.name, &node.logs)
            .await
            .expect("logs are saved");
        let logs = std::fs::read_to_string(&node.logs).expect("log file");
        assert!(!logs.is_empty(), "the node logged nothing");
    };
    // Remove the run whatever happened, then report the first failure.
    let outcome = futures_util::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(result)).await;
    remove_and_check(&engine, &run).await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_node_containers_form_a_cluster_over_webrtc() {
    let Some(engine) = engine_or_skip("three_node_containers").await else {
        return;
    };
    let _turn = CLUSTERS.lock().await;
    let image = image(&engine).await;
    let run = run_id("three");
    let dir = tempfile::tempdir().expect("run dir");
    let result = async {
        let net = docker::create_network(&engine.docker, &run)
            .await
            .expect("the network is created");
        let signaling = signaling_on(net.gateway).await;
        let (nodes, costs) = launch(
            &Run {
                engine: &engine,
                id: &run,
                net: &net,
                image: &image,
                signaling,
                dir: dir.path(),
            },
            3,
            docker::Limits::default(),
        )
        .await;
        eprintln!("create+start per container: {costs:?}");
        let mut clients = Vec::new();
        for node in &nodes {
            clients.push(connect(node).await);
        }
        // Wait until every node is on signaling, then start Raft on all.
        let deadline = Instant::now() + Duration::from_secs(20);
        for c in &mut clients {
            while !c.status().await.expect("status").signaling_connected {
                assert!(Instant::now() < deadline, "a node never reached signaling");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        let t0 = Instant::now();
        for c in &mut clients {
            c.start().await.expect("start");
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        let statuses = loop {
            let mut statuses = Vec::new();
            for c in &mut clients {
                statuses.push(c.status().await.expect("status"));
            }
            let leaders = statuses
                .iter()
                .filter(|s| s.role == Some(Role::Leader))
                .count();
            let all_in = statuses.iter().all(|s| s.applied_members.len() == 3);
            if leaders == 1 && all_in {
                break statuses;
            }
            assert!(
                Instant::now() < deadline,
                "no 3-node cluster: {statuses:#?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        eprintln!("cluster of 3 up {:?} after start", t0.elapsed());
        for s in &statuses {
            eprintln!(
                "{} {:?} peers {:?} link_open_ms {:?}",
                s.id, s.role, s.peers, s.link_open_ms
            );
            assert_eq!(s.peers.len(), 2, "{} is not linked to both others", s.id);
        }
        // Kill the leader: the two survivors elect a new one over their WebRTC link.
        let leader = statuses
            .iter()
            .position(|s| s.role == Some(Role::Leader))
            .expect("a leader");
        let killed = Instant::now();
        docker::kill(&engine.docker, &nodes[leader].name)
            .await
            .expect("kill");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let mut new_leader = None;
            for (i, c) in clients.iter_mut().enumerate() {
                if i == leader {
                    continue;
                }
                let s = c.status().await.expect("status");
                if s.role == Some(Role::Leader) {
                    new_leader = Some(s.id);
                }
            }
            if let Some(id) = new_leader {
                eprintln!("new leader {id} {:?} after the kill", killed.elapsed());
                break;
            }
            assert!(Instant::now() < deadline, "no new leader after the kill");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        for node in &nodes {
            docker::save_logs(&engine.docker, &node.name, &node.logs)
                .await
                .expect("logs are saved");
        }
    };
    let outcome = futures_util::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(result)).await;
    remove_and_check(&engine, &run).await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// Measures the per-container start cost at several sizes and concurrency levels
/// (`RAFTRTC_DOCKER_SIZES`, default `3,9,21`; `RAFTRTC_DOCKER_CONCURRENCY`, default `1,4`).
/// Not a check: run it with `--ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement; run with --ignored --nocapture"]
async fn start_cost() {
    let Some(engine) = engine_or_skip("start_cost").await else {
        return;
    };
    let _turn = CLUSTERS.lock().await;
    let image = image(&engine).await;
    let list = |var: &str, default: &str| -> Vec<usize> {
        std::env::var(var)
            .unwrap_or_else(|_| default.to_owned())
            .split(',')
            .filter_map(|s| s.trim().parse().ok())
            .collect()
    };
    for n in list("RAFTRTC_DOCKER_SIZES", "3,9,21") {
        for concurrency in list("RAFTRTC_DOCKER_CONCURRENCY", "1,4") {
            let run = run_id(&format!("cost{n}"));
            let dir = tempfile::tempdir().expect("run dir");
            let result = async {
                let t_net = Instant::now();
                let net = docker::create_network(&engine.docker, &run)
                    .await
                    .expect("network");
                let net_cost = t_net.elapsed();
                let signaling = signaling_on(net.gateway).await;
                let specs: Vec<docker::NodeSpec> = (0..n)
                    .map(|i| {
                        let host_dir = dir.path().join(format!("n{i}"));
                        std::fs::create_dir_all(&host_dir).expect("node dir");
                        docker::NodeSpec {
                            run: run.clone(),
                            node: i,
                            image: image.clone(),
                            network: net.name.clone(),
                            host_dir,
                            args: node_args(i, signaling, &run),
                            limits: docker::Limits::default(),
                        }
                    })
                    .collect();
                let t0 = Instant::now();
                let started = docker::start_nodes(&engine.docker, &specs, concurrency)
                    .await
                    .expect("the containers start");
                let all_started = t0.elapsed();
                for spec in &specs {
                    let node = Node {
                        name: String::new(),
                        control: spec.host_dir.join("control.sock"),
                        logs: PathBuf::new(),
                    };
                    let mut c = connect(&node).await;
                    let deadline = Instant::now() + Duration::from_secs(60);
                    while !c.status().await.expect("status").signaling_connected {
                        assert!(Instant::now() < deadline, "a node never reached signaling");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
                let ready = t0.elapsed();
                let costs: Vec<Duration> = started.iter().map(|c| c.start_cost).collect();
                let mean = costs.iter().sum::<Duration>() / n as u32;
                let max = costs.iter().max().copied().unwrap_or_default();
                eprintln!(
                    "n={n:2} concurrency {concurrency:2}: network {net_cost:.0?}; create+start \
                     mean {mean:.0?} max {max:.0?}; all started {all_started:.2?}; \
                     all on signaling {ready:.2?}"
                );
                let t_rm = Instant::now();
                docker::remove_run(&engine.docker, &run)
                    .await
                    .expect("remove");
                eprintln!("      remove_run {:.2?}", t_rm.elapsed());
            };
            let outcome =
                futures_util::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(result)).await;
            remove_and_check(&engine, &run).await;
            if let Err(panic) = outcome {
                std::panic::resume_unwind(panic);
            }
        }
    }
}
