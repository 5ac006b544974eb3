//! `--launcher docker` end to end: a 3-node cluster of containers comes up,
//! survives a leader kill, a paused leader (`docker pause`) and a restart of every
//! container from its data directory, and propagates a chat line, and nothing of its
//! runs is left behind. Without an engine the test is skipped with a message,
//! except under `CI=true`, where it fails.

use std::collections::HashMap;

use bollard::query_parameters::{ListContainersOptions, ListNetworksOptions};
use bollard::Docker;

mod common;
use common::{run as raftrtc, text};

/// Whether an engine answers (building the node image on the way).
fn engine_ready() -> bool {
    let out = raftrtc(&["docker", "build"], &[]);
    if out.status.success() {
        return true;
    }
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let why = "no Docker engine: the docker launcher test is skipped";
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{why} (CI=true)"
    );
    eprintln!("{why}");
    false
}

/// Containers and networks of runs whose name starts with `prefix`.
fn leftovers(prefix: &str) -> Vec<String> {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let docker = Docker::connect_with_defaults().expect("engine");
        let filters = HashMap::from([("label".to_string(), vec!["raftrtc.run".to_string()])]);
        let containers = docker
            .list_containers(Some(ListContainersOptions {
                all: true,
                filters: Some(filters.clone()),
                ..Default::default()
            }))
            .await
            .expect("list containers");
        let networks = docker
            .list_networks(Some(ListNetworksOptions {
                filters: Some(filters),
            }))
            .await
            .expect("list networks");
        containers
            .into_iter()
            .flat_map(|c| c.names.unwrap_or_default())
            .chain(networks.into_iter().filter_map(|n| n.name))
            .filter(|name| name.trim_start_matches('/').contains(prefix))
            .collect()
    })
}

#[test]
fn a_docker_cluster_comes_up_survives_a_leader_kill_a_pause_and_a_restart_and_propagates() {
    if !engine_ready() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let csv = dir.path().join("docker.csv");
    let csv = csv.to_str().expect("utf-8 path");
    common::run_each_at_three_nodes(&common::LAUNCHER_SUITE, "docker", csv);
    let rows = bench::results::read_rows(csv).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(rows.len(), common::LAUNCHER_SUITE.len(), "{rows:?}");
    for row in &rows {
        assert_eq!(row.launcher, bench::results::Launcher::Docker, "{row:?}");
        assert_eq!(row.outcome, bench::results::Outcome::Ok, "{row:?}");
    }
    // Every run's containers and network are gone (runs are named after
    // the bench's pid; any of ours would contain "raftrtc-").
    let left = leftovers("raftrtc-");
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn no_reachable_engine_is_a_usage_error() {
    let out = raftrtc(
        &["up", "--launcher", "docker", "--nodes", "3", "--runs", "1"],
        &[("DOCKER_HOST", "unix:///nonexistent/docker.sock")],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no Docker engine reachable"),
        "{}",
        text(&out)
    );
}
