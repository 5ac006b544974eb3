//! Control over TCP dialed by a real `raftrtc node` process (what the swarm launcher uses):
//! a node with its run's token is driven and killed through its dial-back; a node with a
//! wrong token is refused, logged and never reachable.

use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::time::Duration;

use node::control::{ControlAddr, ControlClient, Hub};
use signaling::{Server, ServerConfig, ServerHandle};
use tokio::process::{Child, Command};

async fn signaling() -> ServerHandle {
    Server::bind(ServerConfig::default())
        .await
        .expect("the signaling server binds")
        .spawn()
}

/// `raftrtc node` `id` of `run`, dialing `hub` with `token`.
fn node(hub: &Hub, signaling: &ServerHandle, run: &str, id: &str, token: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_raftrtc"))
        .args(["node", "--id", id, "--cluster", run, "--first"])
        .args(["--signaling-url", &signaling.url()])
        .args(["--control-dial", &hub.local_addr().to_string()])
        .env("RAFTRTC_CONTROL_TOKEN", token)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the node starts")
}

fn addr(hub: &Hub, run: &str, id: &str) -> ControlAddr {
    ControlAddr::DialBack {
        hub: hub.clone(),
        run: run.into(),
        node: id.into(),
    }
}

#[tokio::test]
async fn a_node_with_its_runs_token_is_driven_and_killed_over_its_dial_back() {
    let server = signaling().await;
    let hub = Hub::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let token = hub.add_run("run-a");
    let mut child = node(&hub, &server, "run-a", "n0", &token);
    let mut client = ControlClient::connect(&addr(&hub, "run-a", "n0"), Duration::from_secs(20))
        .await
        .expect("the node dials back");
    let status = client.status().await.expect("a status");
    assert_eq!(status.id, "n0");
    client.start().await.expect("Raft starts");

    let killer = ControlClient::connect(&addr(&hub, "run-a", "n0"), Duration::from_secs(5))
        .await
        .expect("a second connection");
    killer.kill().await.expect("the node dies on request");
    let exit = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("the node ends")
        .expect("its status");
    assert_eq!(exit.signal(), Some(libc::SIGKILL), "{exit:?}");
    assert!(hub.refusals().is_empty(), "{:?}", hub.refusals());
    let _ = server.shutdown().await;
}

#[tokio::test]
async fn a_node_without_its_runs_token_is_refused_and_logged() {
    let server = signaling().await;
    let hub = Hub::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let _token = hub.add_run("run-b");
    let _child = node(&hub, &server, "run-b", "n0", "a-stolen-guess");
    let e = ControlClient::connect(&addr(&hub, "run-b", "n0"), Duration::from_secs(3))
        .await
        .expect_err("never reachable");
    assert!(e.to_string().contains("did not dial back"), "{e}");
    let refusals = hub.refusals();
    assert!(
        refusals
            .iter()
            .any(|r| r.contains("wrong token for run \"run-b\" (node \"n0\")")),
        "{refusals:?}"
    );
    let _ = server.shutdown().await;
}

#[test]
fn the_node_refuses_a_dial_back_without_a_token() {
    let out = dialing_node("127.0.0.1:1")
        .env_remove("RAFTRTC_CONTROL_TOKEN")
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--control-token"), "{stderr}");
}

#[test]
fn a_malformed_dial_back_address_is_a_usage_error() {
    for bad in [
        "nowhere",
        "127.0.0.1:",
        "127.0.0.1:0",
        "127.0.0.1:99999",
        ":7100",
        "a b:1",
    ] {
        let out = dialing_node(bad)
            .env("RAFTRTC_CONTROL_TOKEN", "t")
            .output()
            .expect("runs");
        assert_eq!(out.status.code(), Some(2), "{bad}: {out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("is not HOST:PORT"), "{bad}: {stderr}");
    }
}

/// `raftrtc node` told to dial back to `address` (its signaling unreachable: these tests end
/// before it is needed).
fn dialing_node(address: &str) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_raftrtc"));
    command
        .args([
            "node",
            "--id",
            "n0",
            "--signaling-url",
            "http://127.0.0.1:1/",
        ])
        .args(["--control-dial", address]);
    command
}
