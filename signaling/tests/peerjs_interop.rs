//! Interop with the official PeerJS server (npm package `peer`): our client
//! joins it, completes an OFFER/ANSWER/CANDIDATE exchange through it, lists
//! peers over its HTTP API, and understands its refusals and expiries.
//!
//! Needs `PEERJS_SERVER_BIN`, the path of the server's CLI:
//!
//! ```text
//! export PEERJS_SERVER_BIN="$(.ci/install-peerjs.sh)"
//! cargo test -p signaling --test peerjs_interop
//! ```
//!
//! Without it the test is skipped with a message, except when `CI=true`,
//! where a missing server is a failure.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::next_event;
use serde_json::json;
use signaling::{Client, ClientConfig, ClientError, ClientEvent, Relay};
use tokio::process::{Child, Command};

const KEY: &str = "raftrtc-interop";

/// Starts the official server on a free loopback port and waits until it
/// answers `GET /<key>/id`. The process dies with the returned handle.
async fn start_official_server(bin: &str) -> (Child, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let child = Command::new(bin)
        .args(["--port", &port.to_string(), "--host", "127.0.0.1"])
        .args(["--key", KEY, "--path", "/", "--allow_discovery"])
        .args(["--expire_timeout", "300"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {bin}: {e}"));
    let url = format!("http://127.0.0.1:{port}/");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        if Client::fetch_id(&url, KEY).await.is_ok() {
            return (child, url);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "official PeerJS server did not answer on {url}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn server_bin() -> Option<String> {
    match std::env::var("PEERJS_SERVER_BIN") {
        Ok(bin) if !bin.trim().is_empty() => Some(bin),
        _ => {
            let ci = std::env::var("CI").is_ok_and(|v| v == "true");
            assert!(
                !ci,
                "CI=true but PEERJS_SERVER_BIN is not set; run: export PEERJS_SERVER_BIN=\"$(.ci/install-peerjs.sh)\""
            );
            println!(
                "skipping PeerJS interop: set PEERJS_SERVER_BIN (export PEERJS_SERVER_BIN=\"$(.ci/install-peerjs.sh)\")"
            );
            None
        }
    }
}

#[tokio::test]
async fn our_client_negotiates_and_lists_peers_through_the_official_peerjs_server() {
    let Some(bin) = server_bin() else { return };
    let (mut child, url) = start_official_server(&bin).await;

    // Ids from the official /id endpoint are accepted by our client.
    let id_a = Client::fetch_id(&url, KEY)
        .await
        .expect("id from the official server");
    let (a, mut a_events) = Client::connect(ClientConfig::new(&url, KEY, &id_a))
        .await
        .expect("a joins");
    let (b, mut b_events) = Client::connect(ClientConfig::new(&url, KEY, "node-b"))
        .await
        .expect("b joins");

    a.send(
        "node-b",
        Relay::Offer,
        json!({"sdp": "v=0 offer", "type": "data", "connectionId": "dc_1"}),
    )
    .await
    .expect("offer");
    assert_eq!(
        next_event(&mut b_events).await,
        ClientEvent::Relayed {
            kind: Relay::Offer,
            src: id_a.clone(),
            payload: json!({"sdp": "v=0 offer", "type": "data", "connectionId": "dc_1"})
        }
    );
    b.send(
        &id_a,
        Relay::Answer,
        json!({"sdp": "v=0 answer", "connectionId": "dc_1"}),
    )
    .await
    .expect("answer");
    assert_eq!(
        next_event(&mut a_events).await,
        ClientEvent::Relayed {
            kind: Relay::Answer,
            src: "node-b".into(),
            payload: json!({"sdp": "v=0 answer", "connectionId": "dc_1"})
        }
    );
    b.send(
        &id_a,
        Relay::Candidate,
        json!({"candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host"}),
    )
    .await
    .expect("candidate");
    assert!(matches!(
        next_event(&mut a_events).await,
        ClientEvent::Relayed { kind: Relay::Candidate, ref src, .. } if src == "node-b"
    ));

    let mut peers = a.peers().await.expect("/peers on the official server");
    peers.sort();
    let mut expected = vec![id_a.clone(), "node-b".to_string()];
    expected.sort();
    assert_eq!(peers, expected);

    // Its refusals map to our errors.
    match Client::connect(ClientConfig::new(&url, KEY, "node-b")).await {
        Err(ClientError::IdTaken) => {}
        other => panic!("expected IdTaken, got {:?}", other.map(|_| ())),
    }
    match Client::connect(ClientConfig::new(&url, "some-other-key", "node-c")).await {
        Err(ClientError::InvalidKey) => {}
        other => panic!("expected InvalidKey, got {:?}", other.map(|_| ())),
    }

    // And its expiry reaches us as Expired.
    a.send("nobody", Relay::Offer, json!({"connectionId": "dc_2"}))
        .await
        .expect("offer to nobody");
    assert_eq!(
        next_event(&mut a_events).await,
        ClientEvent::Expired {
            dst: "nobody".into()
        }
    );

    a.close().await;
    b.close().await;
    let _ = child.kill().await;
}
