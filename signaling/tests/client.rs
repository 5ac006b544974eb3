//! The Rust client against our server over real sockets: relaying, refusals,
//! presence events, and surviving a server restart.

mod common;

use std::time::Duration;

use common::{next_event, server, Raw, WAIT};
use serde_json::json;
use signaling::{Backoff, Client, ClientConfig, ClientError, ClientEvent, Relay, Server};

fn config(url: &str, key: &str, id: &str) -> ClientConfig {
    ClientConfig::new(url, key, id)
}

#[tokio::test]
async fn two_clients_exchange_offer_answer_and_candidates() {
    let srv = server().await;
    let url = srv.url();
    let (a, mut a_events) = Client::connect(config(&url, "c1", "a")).await.expect("a");
    let (b, mut b_events) = Client::connect(config(&url, "c1", "b")).await.expect("b");

    a.send("b", Relay::Offer, json!({"sdp": "offer"}))
        .await
        .expect("offer");
    assert_eq!(
        next_event(&mut b_events).await,
        ClientEvent::Relayed {
            kind: Relay::Offer,
            src: "a".into(),
            payload: json!({"sdp": "offer"})
        }
    );
    b.send("a", Relay::Answer, json!({"sdp": "answer"}))
        .await
        .expect("answer");
    assert_eq!(
        next_event(&mut a_events).await,
        ClientEvent::Relayed {
            kind: Relay::Answer,
            src: "b".into(),
            payload: json!({"sdp": "answer"})
        }
    );
    for i in 0..3 {
        a.send("b", Relay::Candidate, json!({"candidate": i}))
            .await
            .expect("candidate");
    }
    for i in 0..3 {
        assert_eq!(
            next_event(&mut b_events).await,
            ClientEvent::Relayed {
                kind: Relay::Candidate,
                src: "a".into(),
                payload: json!({"candidate": i})
            }
        );
    }
    b.send("a", Relay::Leave, serde_json::Value::Null)
        .await
        .expect("leave");
    assert_eq!(
        next_event(&mut a_events).await,
        ClientEvent::Relayed {
            kind: Relay::Leave,
            src: "b".into(),
            payload: serde_json::Value::Null
        }
    );
    let mut peers = a.peers().await.expect("peers");
    peers.sort();
    assert_eq!(peers, vec!["a".to_string(), "b".to_string()]);
}

#[tokio::test]
async fn slow_signaling_holds_every_relay_for_the_delay_set() {
    let srv = server().await;
    let url = srv.url();
    let (a, _a_events) = Client::connect(config(&url, "c1", "a")).await.expect("a");
    let (_b, mut b_events) = Client::connect(config(&url, "c1", "b")).await.expect("b");
    let delay = Duration::from_millis(300);
    srv.set_relay_delay(delay);
    let sent = std::time::Instant::now();
    a.send("b", Relay::Offer, json!({"sdp": "late"}))
        .await
        .expect("offer");
    let got = next_event(&mut b_events).await;
    assert!(
        sent.elapsed() >= delay,
        "arrived after {:?}",
        sent.elapsed()
    );
    assert!(
        matches!(
            got,
            ClientEvent::Relayed {
                kind: Relay::Offer,
                ..
            }
        ),
        "{got:?}"
    );
    // That the delay lifts is pinned with paused time in `server/outbound.rs`'s tests.
}

#[tokio::test]
async fn connect_fails_with_id_taken_or_invalid_key() {
    let srv = server().await;
    let url = srv.url();
    let (_a, _events) = Client::connect(config(&url, "c1", "a")).await.expect("a");
    match Client::connect(config(&url, "c1", "a")).await {
        Err(ClientError::IdTaken) => {}
        other => panic!("expected IdTaken, got {:?}", other.map(|_| ())),
    }
    // The client refuses a malformed key itself; the server's answer to one
    // is checked in server_protocol.rs.
    match Client::connect(config(&url, "bad/key", "a")).await {
        Err(ClientError::InvalidConfig(_)) => {}
        other => panic!("expected InvalidConfig, got {:?}", other.map(|_| ())),
    }
}

#[tokio::test]
async fn an_unreachable_destination_comes_back_as_expired() {
    let srv = common::server_with(signaling::Limits {
        expire_timeout: Duration::from_millis(200),
        ..signaling::Limits::default()
    })
    .await;
    let (a, mut events) = Client::connect(config(&srv.url(), "c1", "a"))
        .await
        .expect("a");
    a.send("ghost", Relay::Offer, json!({}))
        .await
        .expect("send");
    assert_eq!(
        next_event(&mut events).await,
        ClientEvent::Expired {
            dst: "ghost".into()
        }
    );
    match a.send("bad\nid", Relay::Offer, json!({})).await {
        Err(ClientError::InvalidDestination(_)) => {}
        other => panic!("expected InvalidDestination, got {other:?}"),
    }
}

#[tokio::test]
async fn presence_clients_get_a_snapshot_then_joins_and_leaves() {
    let srv = server().await;
    let url = srv.url();
    let (_a, _) = Client::connect(config(&url, "c1", "a")).await.expect("a");
    let (_x, _) = Client::connect(config(&url, "other", "x"))
        .await
        .expect("x");
    let watch_cfg = ClientConfig {
        presence: signaling::Presence::Pushed,
        ..config(&url, "c1", "w")
    };
    let (_w, mut events) = Client::connect(watch_cfg).await.expect("w");
    assert_eq!(
        next_event(&mut events).await,
        ClientEvent::Peers(vec!["a".into()])
    );

    let (b, _) = Client::connect(config(&url, "c1", "b")).await.expect("b");
    assert_eq!(
        next_event(&mut events).await,
        ClientEvent::PeerJoined("b".into())
    );
    // A join in another cluster is not announced here.
    let (_y, _) = Client::connect(config(&url, "other", "y"))
        .await
        .expect("y");
    b.close().await;
    assert_eq!(
        next_event(&mut events).await,
        ClientEvent::PeerLeft("b".into())
    );
    assert!(b.send("a", Relay::Offer, json!({})).await.is_err());
}

/// A client of cluster `ns` on the shared key `shared`, polling the peer list.
fn namespaced(url: &str, ns: &str, id: &str) -> ClientConfig {
    ClientConfig {
        namespace: signaling::Namespace::new(ns),
        presence: signaling::Presence::Polled(Duration::from_millis(20)),
        ..config(url, "shared", id)
    }
}

#[tokio::test]
async fn on_a_shared_key_clusters_see_and_reach_only_their_own_plain_ids() {
    let srv = server().await;
    let url = srv.url();
    let (_a, mut a_events) = Client::connect(namespaced(&url, "run1", "n1"))
        .await
        .expect("run1's n1");
    // The same plain id in another cluster is another id on the server.
    let (other, mut other_events) = Client::connect(namespaced(&url, "run2", "n1"))
        .await
        .expect("run2's n1");
    let (w, mut events) = Client::connect(namespaced(&url, "run1", "n0"))
        .await
        .expect("run1's n0");
    assert_eq!(
        next_event(&mut events).await,
        ClientEvent::Peers(vec!["n1".into()])
    );
    assert_eq!(
        next_event(&mut other_events).await,
        ClientEvent::Peers(vec![])
    );
    let (b, _) = Client::connect(namespaced(&url, "run1", "n2"))
        .await
        .expect("run1's n2");
    assert_eq!(
        next_event(&mut events).await,
        ClientEvent::PeerJoined("n2".into())
    );
    b.close().await;
    assert_eq!(
        next_event(&mut events).await,
        ClientEvent::PeerLeft("n2".into())
    );
    // A relay to a plain id goes to this cluster's node of that id, never the other's.
    w.send("n1", Relay::Offer, json!({"sdp": "offer"}))
        .await
        .expect("offer");
    other
        .send("n0", Relay::Offer, json!({"sdp": "stray"}))
        .await
        .expect("stray offer");
    let relayed = tokio::time::timeout(WAIT, async {
        loop {
            if let Some(event @ ClientEvent::Relayed { .. }) = a_events.recv().await {
                return event;
            }
        }
    })
    .await
    .expect("run1's n1 gets the offer");
    assert_eq!(
        relayed,
        ClientEvent::Relayed {
            kind: Relay::Offer,
            src: "n0".into(),
            payload: json!({"sdp": "offer"})
        }
    );
    let mut peers = w.peers().await.expect("peers");
    peers.sort();
    assert_eq!(peers, ["n0", "n1"]);
    // run2's offer went to `run2.n0`, which is nobody: it never reaches run1's n0.
    assert!(
        tokio::time::timeout(Duration::from_millis(300), async {
            loop {
                if let Some(ClientEvent::Relayed { .. }) = events.recv().await {
                    return;
                }
            }
        })
        .await
        .is_err(),
        "run1's n0 received a relay meant for another cluster"
    );
}

#[tokio::test]
async fn clients_without_presence_never_see_extension_frames() {
    let srv = server().await;
    let url = srv.url();
    let mut plain = Raw::join(&url, "c1", "plain").await;
    let (other, _) = Client::connect(config(&url, "c1", "other"))
        .await
        .expect("other");
    other.close().await;
    plain.expect_silence(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn the_client_reconnects_after_the_server_restarts_on_the_same_port() {
    let srv = server().await;
    let url = srv.url();
    let addr = srv.local_addr();
    let fast = ClientConfig {
        heartbeat: Duration::from_millis(200),
        server_timeout: Duration::from_secs(2),
        reconnect: Backoff {
            initial: Duration::from_millis(50),
            max: Duration::from_millis(300),
            ..Backoff::default()
        },
        presence: signaling::Presence::Pushed,
        ..config(&url, "c1", "a")
    };
    let (a, mut events) = Client::connect(fast).await.expect("a");
    assert_eq!(next_event(&mut events).await, ClientEvent::Peers(vec![]));

    let restart = srv.restart_config();
    assert_eq!(restart.listen, addr);
    srv.shutdown().await.expect("shutdown");
    assert_eq!(next_event(&mut events).await, ClientEvent::Disconnected);
    assert!(!a.is_connected());
    match a.send("b", Relay::Offer, json!({})).await {
        Err(ClientError::NotConnected) => {}
        other => panic!("expected NotConnected, got {other:?}"),
    }

    let srv = Server::bind(restart)
        .await
        .expect("rebind the same port")
        .spawn();
    assert_eq!(next_event(&mut events).await, ClientEvent::Reconnected);
    assert_eq!(next_event(&mut events).await, ClientEvent::Peers(vec![]));
    assert!(a.is_connected());

    let (b, mut b_events) = Client::connect(config(&srv.url(), "c1", "b"))
        .await
        .expect("b");
    assert_eq!(
        next_event(&mut events).await,
        ClientEvent::PeerJoined("b".into())
    );
    a.send("b", Relay::Offer, json!({"again": true}))
        .await
        .expect("send after reconnect");
    assert_eq!(
        next_event(&mut b_events).await,
        ClientEvent::Relayed {
            kind: Relay::Offer,
            src: "a".into(),
            payload: json!({"again": true})
        }
    );
    b.close().await;
    a.close().await;
}

#[tokio::test]
async fn a_client_that_runs_out_of_attempts_reports_and_closes() {
    let srv = server().await;
    let cfg = ClientConfig {
        reconnect: Backoff {
            initial: Duration::from_millis(20),
            max: Duration::from_millis(40),
            max_attempts: Some(2),
            ..Backoff::default()
        },
        ..config(&srv.url(), "c1", "a")
    };
    let (a, mut events) = Client::connect(cfg).await.expect("a");
    drop(srv);
    assert_eq!(next_event(&mut events).await, ClientEvent::Disconnected);
    match next_event(&mut events).await {
        ClientEvent::ServerError(m) => assert!(m.contains("gave up"), "{m}"),
        other => panic!("expected ServerError, got {other:?}"),
    }
    let closed = tokio::time::timeout(WAIT, events.recv())
        .await
        .expect("channel ends");
    assert_eq!(closed, None);
    match a.send("b", Relay::Offer, json!({})).await {
        Err(ClientError::Closed) => {}
        other => panic!("expected Closed, got {other:?}"),
    }
}
