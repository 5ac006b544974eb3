//! The dial-back transport over real TCP on loopback: a node with the run's token is driven
//! as over a Unix socket; anything else is refused, logged, and given nothing.

use tokio::io::{AsyncBufReadExt, AsyncReadExt};

use super::*;
use crate::control::protocol::{Command, Response, Status};
use crate::control::{ControlAddr, ControlClient};

/// A stand-in node loop that answers `status` with its id.
fn node_loop(id: &str) -> mpsc::Sender<ControlRequest> {
    let (tx, mut rx) = mpsc::channel::<ControlRequest>(8);
    let id = id.to_owned();
    tokio::spawn(async move {
        while let Some(request) = rx.recv().await {
            let mut response = Response::ok(None);
            if request.command == Command::Status {
                response.status = Some(Status {
                    id: id.clone(),
                    ..Status::default()
                });
            }
            let _ = request.reply.send(response);
        }
    });
    tx
}

async fn hub() -> Hub {
    Hub::bind("127.0.0.1:0".parse().unwrap()).await.unwrap()
}

fn dial(hub: &Hub, run: &str, node: &str, token: &str) -> DialBack {
    DialBack {
        bench: hub.local_addr().to_string(),
        run: run.into(),
        node: node.into(),
        token: token.into(),
    }
}

fn addr(hub: &Hub, run: &str, node: &str) -> ControlAddr {
    ControlAddr::DialBack {
        hub: hub.clone(),
        run: run.into(),
        node: node.into(),
    }
}

/// Waits (bounded) until the hub has logged `n` refusals.
async fn refusals(hub: &Hub, n: usize) -> Vec<String> {
    for _ in 0..200 {
        let seen = hub.refusals();
        if seen.len() >= n {
            return seen;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    hub.refusals()
}

#[tokio::test]
async fn a_node_with_the_runs_token_is_driven_over_connections_it_dials() {
    let hub = hub().await;
    let token = hub.add_run("r1");
    let _serving = spawn_dialer(
        dial(&hub, "r1", "n3", &token),
        node_loop("n3"),
        EventBus::new(),
    );
    // Several connections at once, each its own control connection.
    let mut a = ControlClient::connect(&addr(&hub, "r1", "n3"), Duration::from_secs(5))
        .await
        .expect("the node dials back");
    let mut b = ControlClient::connect(&addr(&hub, "r1", "n3"), Duration::from_secs(5))
        .await
        .expect("a second connection");
    assert_eq!(a.status().await.unwrap().id, "n3");
    assert_eq!(b.status().await.unwrap().id, "n3");
    assert!(hub.is_home("r1", "n3"));
    assert!(hub.refusals().is_empty(), "{:?}", hub.refusals());
}

#[tokio::test]
async fn a_connection_without_the_runs_token_is_refused_logged_and_told_nothing() {
    let hub = hub().await;
    let token = hub.add_run("r1");
    // A node of the run with a wrong token never becomes reachable.
    let _wrong = spawn_dialer(
        dial(&hub, "r1", "n1", "not-the-token"),
        node_loop("n1"),
        EventBus::new(),
    );
    let e = ControlClient::connect(&addr(&hub, "r1", "n1"), Duration::from_millis(300))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("did not dial back"), "{e}");
    assert!(!hub.is_home("r1", "n1"));
    let logged = refusals(&hub, 1).await;
    assert!(
        logged
            .iter()
            .any(|l| l.contains("wrong token for run \"r1\"")),
        "{logged:?}"
    );
    assert!(
        !logged.iter().any(|l| l.contains(&token)),
        "the log must not leak the token"
    );

    // A raw client: a hello with the wrong token gets the connection closed, unanswered.
    let mut raw = TcpStream::connect(hub.local_addr()).await.unwrap();
    let hello = Hello {
        hello: MAGIC.into(),
        run: "r1".into(),
        node: "n9".into(),
        token: "guess".into(),
        ticket: None,
    };
    raw.write_all(&json_line(&hello)).await.unwrap();
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), raw.read_to_end(&mut rest)).await;
    assert!(
        matches!(read, Ok(Ok(0))),
        "closed without a byte: {read:?} {rest:?}"
    );
    assert!(!hub.is_home("r1", "n9"));
}

#[tokio::test]
async fn strays_unknown_runs_and_unasked_tickets_are_refused() {
    let hub = hub().await;
    let token = hub.add_run("r1");
    let cases: [(&[u8], &str); 3] = [
        (b"GET / HTTP/1.1\r\n", "not a hello"),
        (
            b"{\"hello\":\"other\",\"run\":\"r1\",\"node\":\"n\",\"token\":\"t\"}\n",
            "not a raftrtc control hello",
        ),
        (
            b"{\"hello\":\"raftrtc-control\",\"run\":\"r2\",\"node\":\"n\",\"token\":\"t\"}\n",
            "unknown run",
        ),
    ];
    for (line, _) in cases {
        let mut raw = TcpStream::connect(hub.local_addr()).await.unwrap();
        raw.write_all(line).await.unwrap();
        let mut rest = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), raw.read_to_end(&mut rest)).await;
        assert!(rest.is_empty(), "{rest:?}");
    }
    let mut raw = TcpStream::connect(hub.local_addr()).await.unwrap();
    let hello = Hello {
        hello: MAGIC.into(),
        run: "r1".into(),
        node: "n1".into(),
        token,
        ticket: Some(77),
    };
    raw.write_all(&json_line(&hello)).await.unwrap();
    let logged = refusals(&hub, 4).await;
    for (_, why) in cases {
        assert!(logged.iter().any(|l| l.contains(why)), "{why}: {logged:?}");
    }
    assert!(
        logged
            .iter()
            .any(|l| l.contains("ticket 77 was never asked for")),
        "{logged:?}"
    );
}

#[tokio::test]
async fn a_forgotten_run_is_refused_and_a_dead_node_is_no_longer_home() {
    let hub = hub().await;
    let token = hub.add_run("r1");
    let serving = spawn_dialer(
        dial(&hub, "r1", "n0", &token),
        node_loop("n0"),
        EventBus::new(),
    );
    ControlClient::connect(&addr(&hub, "r1", "n0"), Duration::from_secs(5))
        .await
        .expect("reachable");
    // The node goes away: its home closes, and the hub notices.
    drop(serving);
    let mut home = true;
    for _ in 0..200 {
        home = hub.is_home("r1", "n0");
        if !home {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(!home, "the hub still counts a dead node's home");
    hub.remove_run("r1");
    let e = ControlClient::connect(&addr(&hub, "r1", "n0"), Duration::ZERO)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("not registered"), "{e}");
}

#[tokio::test]
async fn the_home_connection_carries_only_open_requests() {
    // What the node reads on its home: one `open` line per connection asked for.
    let hub = hub().await;
    let token = hub.add_run("r1");
    let mut home = TcpStream::connect(hub.local_addr()).await.unwrap();
    let hello = dial(&hub, "r1", "n5", &token).hello(None);
    home.write_all(&hello).await.unwrap();
    for _ in 0..200 {
        if hub.is_home("r1", "n5") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let asking = {
        let hub = hub.clone();
        tokio::spawn(async move { hub.open("r1", "n5", Duration::from_millis(500)).await })
    };
    let mut lines = BufReader::new(home).lines();
    let line = lines.next_line().await.unwrap().expect("an open line");
    let open: Open = serde_json::from_str(&line).unwrap();
    assert!(open.open > 0);
    // Nobody dials the ticket: the asker gives up within its bound.
    let e = asking.await.unwrap().unwrap_err();
    assert!(matches!(e, OpenError::NotDialed { .. }), "{e}");
}
