//! `--launcher swarm` end to end on a one-node swarm (`.ci/docker-up.sh` makes one): a
//! 3-node cluster of services comes up, survives a leader kill, a paused leader and a restart
//! of every node from its data volume, and propagates a chat line, all over control
//! connections the nodes dial back; a task that cannot start ends its run `error` with the
//! engine's reason; and nothing of any run is left behind. Without a swarm manager the tests
//! are skipped with a message, except under `CI=true`, where they fail.

use std::collections::HashMap;

use bench::results::{read_rows, Launcher, Outcome};
use bollard::models::LocalNodeState;
use bollard::query_parameters::{ListNetworksOptions, ListServicesOptions, ListVolumesOptions};
use bollard::Docker;

mod common;
use common::{run as raftrtc, text};

/// Swarm tests take turns: elections on a 2-core machine are timing-sensitive.
static SWARM: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().expect("runtime")
}

/// Whether this engine is a swarm manager (building the node image on the way).
fn swarm_ready() -> bool {
    let ci = std::env::var("CI").as_deref() == Ok("true");
    let out = raftrtc(&["docker", "build"], &[]);
    if !out.status.success() {
        assert!(!ci, "CI=true and no Docker engine: {}", text(&out));
        eprintln!("no Docker engine: the swarm launcher tests are skipped");
        return false;
    }
    let state = runtime().block_on(async {
        let docker = Docker::connect_with_defaults().expect("engine");
        let info = docker.info().await.expect("engine info");
        info.swarm.and_then(|s| s.local_node_state)
    });
    if state == Some(LocalNodeState::ACTIVE) {
        return true;
    }
    assert!(!ci, "CI=true and the engine is not in a swarm ({state:?})");
    eprintln!("not a swarm manager: the swarm launcher tests are skipped (docker swarm init)");
    false
}

/// Services, networks and volumes labelled with a run.
fn leftovers() -> Vec<String> {
    runtime().block_on(async {
        let docker = Docker::connect_with_defaults().expect("engine");
        let filters = HashMap::from([("label".to_string(), vec!["raftrtc.run".to_string()])]);
        let services = docker
            .list_services(Some(ListServicesOptions {
                filters: Some(filters.clone()),
                ..Default::default()
            }))
            .await
            .expect("list services");
        let networks = docker
            .list_networks(Some(ListNetworksOptions {
                filters: Some(filters.clone()),
            }))
            .await
            .expect("list networks");
        let volumes = docker
            .list_volumes(Some(ListVolumesOptions {
                filters: Some(filters),
            }))
            .await
            .expect("list volumes");
        services
            .into_iter()
            .filter_map(|s| s.spec.and_then(|spec| spec.name))
            .chain(networks.into_iter().filter_map(|n| n.name))
            .chain(
                volumes
                    .volumes
                    .unwrap_or_default()
                    .into_iter()
                    .map(|v| v.name),
            )
            .collect()
    })
}

#[test]
fn a_swarm_cluster_comes_up_survives_kills_a_pause_and_a_restart_and_propagates() {
    let _turn = SWARM.lock().unwrap_or_else(|e| e.into_inner());
    if !swarm_ready() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let csv = dir.path().join("swarm.csv");
    let csv = csv.to_str().expect("utf-8 path");
    common::run_each_at_three_nodes(&common::LAUNCHER_SUITE, "swarm", csv);
    let rows = read_rows(csv).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(rows.len(), common::LAUNCHER_SUITE.len(), "{rows:?}");
    for row in &rows {
        assert_eq!(row.launcher, Launcher::Swarm, "{row:?}");
        assert_eq!(row.outcome, Outcome::Ok, "{row:?}");
    }
    let left = leftovers();
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// An `up` on the swarm with `extra` flags: exit 1, one `error` row, nothing left.
fn failed_up(extra: &[&str]) -> String {
    let dir = tempfile::tempdir().expect("temp dir");
    let csv = dir.path().join("failed.csv");
    let csv = csv.to_str().expect("utf-8 path");
    let mut args = vec!["up", "--launcher", "swarm", "--nodes", "3", "--runs", "1"];
    args.extend(extra);
    args.extend(["--out", csv]);
    let out = raftrtc(&args, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let rows = read_rows(csv).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].outcome, Outcome::Error, "{:?}", rows[0]);
    let left = leftovers();
    assert!(left.is_empty(), "left behind: {left:?}");
    rows[0].error.clone()
}

#[test]
fn a_task_that_cannot_start_ends_the_run_with_the_engines_reason_and_leaves_nothing() {
    let _turn = SWARM.lock().unwrap_or_else(|e| e.into_inner());
    if !swarm_ready() {
        return;
    }
    // An image no host has (and no registry is reachable): the swarm rejects the tasks.
    let error = failed_up(&["--image", "raftrtc-node:not-built-anywhere"]);
    assert!(
        error.contains("No such image"),
        "the engine's reason: {error}"
    );
    // No host meets the constraint: the swarm keeps the tasks pending and says why.
    let error = failed_up(&["--placement", "node.labels.raftrtc-test==nowhere"]);
    assert!(
        error.contains("no suitable node"),
        "the engine's reason: {error}"
    );
}

#[test]
fn the_swarm_flags_are_refused_with_another_launcher() {
    let out = raftrtc(
        &[
            "up",
            "--nodes",
            "3",
            "--runs",
            "1",
            "--image",
            "raftrtc-node:x",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("for --launcher swarm"),
        "{}",
        text(&out)
    );
}
