//! The server's PeerJS protocol over real sockets, driven with raw frames:
//! admission, relaying with server-stamped `src`, holding and `EXPIRE`,
//! the HTTP API, bad input, limits and cleanup of vanished peers.

mod common;

use std::time::Duration;

use common::{eventually, server, server_with, Raw, WAIT};
use serde_json::json;
use signaling::{Client, ClientError, Limits, Server, ServerConfig};

#[tokio::test]
async fn relayed_messages_carry_the_senders_id_even_when_src_is_forged() {
    let srv = server().await;
    let url = srv.url();
    let mut a = Raw::join(&url, "c1", "a").await;
    let mut b = Raw::join(&url, "c1", "b").await;

    a.send_json(
        json!({"type":"OFFER","src":"mallory","dst":"b","payload":{"sdp":"o","connectionId":"x"}}),
    )
    .await;
    assert_eq!(
        b.recv_text().await,
        r#"{"type":"OFFER","src":"a","dst":"b","payload":{"connectionId":"x","sdp":"o"}}"#
    );
    b.send_json(json!({"type":"ANSWER","dst":"a","payload":{"sdp":"r"}}))
        .await;
    assert_eq!(
        a.recv_json().await,
        json!({"type":"ANSWER","src":"b","dst":"a","payload":{"sdp":"r"}})
    );
    a.send_json(json!({"type":"CANDIDATE","src":"b","dst":"b","payload":{"candidate":"c"}}))
        .await;
    assert_eq!(
        b.recv_json().await,
        json!({"type":"CANDIDATE","src":"a","dst":"b","payload":{"candidate":"c"}})
    );
    b.send_json(json!({"type":"LEAVE","dst":"a"})).await;
    assert_eq!(
        a.recv_json().await,
        json!({"type":"LEAVE","src":"b","dst":"a"})
    );
}

#[tokio::test]
async fn an_id_connected_with_another_token_is_taken() {
    let srv = server().await;
    let url = srv.url();
    let _a = Raw::join_with(&url, "key=c1&id=a&token=first").await;
    let mut intruder = Raw::connect(&url, "key=c1&id=a&token=second").await;
    assert_eq!(
        intruder.recv_text().await,
        r#"{"type":"ID-TAKEN","payload":{"msg":"ID is taken"}}"#
    );
    intruder.expect_closed().await;
    // The same id in another cluster is a different peer.
    let _other = Raw::join_with(&url, "key=c2&id=a&token=second").await;
}

#[tokio::test]
async fn the_same_token_takes_over_a_lingering_session() {
    let srv = server().await;
    let url = srv.url();
    let mut old = Raw::join_with(&url, "key=c1&id=a&token=t").await;
    let mut new = Raw::join_with(&url, "key=c1&id=a&token=t").await;
    old.expect_closed().await;
    let mut b = Raw::join(&url, "c1", "b").await;
    b.send_json(json!({"type":"OFFER","dst":"a","payload":{}}))
        .await;
    assert_eq!(new.recv_json().await["src"], "b");
    assert_eq!(
        Client::list_peers(&url, "c1").await.ok(),
        Some(vec!["a".into(), "b".into()])
    );
}

#[tokio::test]
async fn an_invalid_key_gets_invalid_key_and_missing_parameters_get_error() {
    let srv = server().await;
    let url = srv.url();
    let mut bad = Raw::connect(&url, "key=no%2Fslashes&id=a&token=t").await;
    assert_eq!(
        bad.recv_text().await,
        r#"{"type":"INVALID-KEY","payload":{"msg":"Invalid key provided"}}"#
    );
    bad.expect_closed().await;

    let mut missing = Raw::connect(&url, "key=c1&id=a").await;
    assert_eq!(
        missing.expect_error().await,
        "No id, token, or key supplied to websocket server"
    );
    missing.expect_closed().await;

    let mut bad_id = Raw::connect(&url, "key=c1&id=%22quoted%22&token=t").await;
    assert_eq!(bad_id.expect_error().await, "Invalid id provided");

    let err = Client::connect(signaling::ClientConfig::new(url.clone(), "c1", "a"))
        .await
        .map(|_| ());
    assert!(err.is_ok(), "a valid client still gets in: {err:?}");
}

#[tokio::test]
async fn a_message_for_an_absent_peer_expires_back_to_its_sender() {
    let srv = server_with(Limits {
        expire_timeout: Duration::from_millis(300),
        ..Limits::default()
    })
    .await;
    let url = srv.url();
    let mut a = Raw::join(&url, "c1", "a").await;
    for _ in 0..3 {
        a.send_json(json!({"type":"OFFER","dst":"ghost","payload":{}}))
            .await;
    }
    // One EXPIRE per (sender, destination), as the official server does.
    assert_eq!(
        a.recv_text().await,
        r#"{"type":"EXPIRE","src":"ghost","dst":"a"}"#
    );
    a.expect_silence(Duration::from_millis(500)).await;
    assert_eq!(srv.stats().pending, 0);
}

#[tokio::test]
async fn a_held_message_is_delivered_when_its_destination_joins() {
    let srv = server().await;
    let url = srv.url();
    let mut a = Raw::join(&url, "c1", "a").await;
    a.send_json(json!({"type":"OFFER","dst":"late","payload":{"n":1}}))
        .await;
    a.send_json(json!({"type":"CANDIDATE","dst":"late","payload":{"n":2}}))
        .await;
    // LEAVE for an absent peer is dropped, not held.
    a.send_json(json!({"type":"LEAVE","dst":"late"})).await;
    eventually("held messages", || srv.stats().pending == 2).await;
    let mut late = Raw::join(&url, "c1", "late").await;
    assert_eq!(
        late.recv_json().await,
        json!({"type":"OFFER","src":"a","dst":"late","payload":{"n":1}})
    );
    assert_eq!(
        late.recv_json().await,
        json!({"type":"CANDIDATE","src":"a","dst":"late","payload":{"n":2}})
    );
    late.expect_silence(Duration::from_millis(200)).await;
    assert_eq!(srv.stats().pending, 0);
}

#[tokio::test]
async fn id_and_peers_endpoints_follow_the_peerjs_layout() {
    let srv = server().await;
    let url = srv.url();
    let id = Client::fetch_id(&url, "c1").await.expect("fresh id");
    assert_eq!(id.len(), 36, "{id}");
    assert_ne!(Client::fetch_id(&url, "c1").await.ok(), Some(id.clone()));
    assert_eq!(Client::list_peers(&url, "c1").await.ok(), Some(vec![]));

    let _b = Raw::join(&url, "c1", "b").await;
    let _a = Raw::join(&url, "c1", &id).await;
    let mut expected = vec![id.clone(), "b".to_string()];
    expected.sort();
    assert_eq!(Client::list_peers(&url, "c1").await.ok(), Some(expected));

    match Client::list_peers(&url, "bad key").await {
        Err(ClientError::InvalidConfig(_)) => {}
        other => panic!("expected a refused key, got {other:?}"),
    }
    match Client::fetch_id(&url, "a%2Fb").await {
        Err(ClientError::Http { status: 400, .. }) => {}
        other => panic!("expected HTTP 400, got {other:?}"),
    }
}

#[tokio::test]
async fn every_endpoint_moves_under_a_configured_base_path() {
    let srv = Server::bind(ServerConfig {
        path: "/signal".into(),
        ..ServerConfig::default()
    })
    .await
    .expect("bind")
    .spawn();
    let url = srv.url();
    assert!(url.ends_with("/signal/"), "{url}");
    let _a = Raw::join(&url, "c1", "a").await;
    assert_eq!(
        Client::list_peers(&url, "c1").await.ok(),
        Some(vec!["a".into()])
    );
    assert!(Client::fetch_id(&url, "c1").await.is_ok());
    let root = url.trim_end_matches("signal/").to_string();
    assert!(Client::list_peers(&root, "c1").await.is_err());
}

#[tokio::test]
async fn peers_and_relays_never_cross_clusters() {
    let srv = server().await;
    let url = srv.url();
    let mut a1 = Raw::join(&url, "one", "a").await;
    let mut b1 = Raw::join(&url, "one", "b").await;
    let mut b2 = Raw::join(&url, "two", "b").await;
    assert_eq!(
        Client::list_peers(&url, "one").await.ok(),
        Some(vec!["a".into(), "b".into()])
    );
    assert_eq!(
        Client::list_peers(&url, "two").await.ok(),
        Some(vec!["b".into()])
    );

    a1.send_json(json!({"type":"OFFER","dst":"b","payload":1}))
        .await;
    assert_eq!(b1.recv_json().await["src"], "a");
    b2.expect_silence(Duration::from_millis(200)).await;
    // "a" does not exist in cluster two: held there, not delivered to one's "a".
    b2.send_json(json!({"type":"OFFER","dst":"a","payload":2}))
        .await;
    a1.expect_silence(Duration::from_millis(200)).await;
    assert_eq!(srv.stats().clusters, 2);
}

#[tokio::test]
async fn garbage_gets_an_error_and_the_sender_and_others_keep_being_served() {
    let srv = server().await;
    let url = srv.url();
    let mut bad = Raw::join(&url, "c1", "bad").await;
    let mut a = Raw::join(&url, "c1", "a").await;
    let mut b = Raw::join(&url, "c1", "b").await;

    bad.send_text("this is not json").await;
    assert!(bad.expect_error().await.starts_with("invalid JSON"));
    bad.send_text("[1,2,3]").await;
    assert_eq!(bad.expect_error().await, "frame must be a JSON object");
    bad.send_json(json!({"type":"SHUTDOWN-EVERYTHING"})).await;
    assert_eq!(
        bad.expect_error().await,
        r#"unknown message type "SHUTDOWN-EVERYTHING""#
    );
    bad.send_json(json!({"type":"OFFER","payload":{}})).await;
    assert_eq!(
        bad.expect_error().await,
        r#"OFFER frame is missing field "dst""#
    );
    bad.send_json(json!({"type":"ANSWER","dst":"a"})).await;
    assert_eq!(
        bad.expect_error().await,
        r#"ANSWER frame is missing field "payload""#
    );
    bad.send_json(json!({"type":"CANDIDATE","dst":{"x":1},"payload":{}}))
        .await;
    assert_eq!(
        bad.expect_error().await,
        r#"CANDIDATE frame has an invalid "dst""#
    );
    bad.ws.send_binary_frame(vec![0xff, 0xfe, 0x00]).await;
    assert_eq!(bad.expect_error().await, "binary frame is not UTF-8 JSON");
    let oversized = json!({"type":"OFFER","dst":"a","payload":"x".repeat(100 * 1024)});
    bad.send_json(oversized).await;
    assert!(bad.expect_error().await.starts_with("frame too large"));

    // Others were never disturbed, and the offender still works.
    a.send_json(json!({"type":"OFFER","dst":"b","payload":{}}))
        .await;
    assert_eq!(b.recv_json().await["src"], "a");
    bad.send_json(json!({"type":"OFFER","dst":"a","payload":{}}))
        .await;
    assert_eq!(a.recv_json().await["src"], "bad");
    a.expect_silence(Duration::from_millis(100)).await;
    b.expect_silence(Duration::from_millis(100)).await;
}

#[tokio::test]
async fn an_oversized_frame_gets_an_error_and_the_session_goes_on() {
    let srv = server().await;
    let url = srv.url();
    let mut huge = Raw::join(&url, "c1", "huge").await;
    let mut a = Raw::join(&url, "c1", "a").await;
    let size = 10 * 1024 * 1024;
    huge.send_text("x".repeat(size)).await;
    assert_eq!(
        huge.expect_error().await,
        format!("frame too large: {size} bytes, limit is {}", 64 * 1024)
    );
    // The sender is still connected and served.
    huge.send_json(json!({"type":"OFFER","dst":"a","payload":{}}))
        .await;
    assert_eq!(a.recv_json().await["src"], "huge");
    assert_eq!(srv.stats().peers, 2);
}

#[tokio::test]
async fn a_frame_of_exactly_the_limit_is_relayed_and_one_byte_more_gets_an_error() {
    let limit = 4096;
    let srv = server_with(Limits {
        max_frame_bytes: limit,
        ..Limits::default()
    })
    .await;
    let url = srv.url();
    let mut a = Raw::join(&url, "c1", "a").await;
    let mut b = Raw::join(&url, "c1", "b").await;
    let frame_of = |len: usize| {
        let head = r#"{"type":"OFFER","dst":"b","payload":""#;
        format!("{head}{}\"}}", "x".repeat(len - head.len() - 2))
    };
    a.send_text(frame_of(limit)).await;
    assert_eq!(b.recv_json().await["src"], "a");
    a.send_text(frame_of(limit + 1)).await;
    assert_eq!(
        a.expect_error().await,
        format!("frame too large: {} bytes, limit is {limit}", limit + 1)
    );
    b.expect_silence(Duration::from_millis(100)).await;
}

#[tokio::test]
async fn a_fragmented_message_over_the_limit_gets_one_error_and_the_session_goes_on() {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
    use tokio_tungstenite::tungstenite::protocol::frame::Frame;
    use tokio_tungstenite::tungstenite::Message;

    let srv = server().await;
    let url = srv.url();
    let mut a = Raw::join(&url, "c1", "a").await;
    let mut b = Raw::join(&url, "c1", "b").await;
    // 40 fragments of 4 KiB: each small, together 160 KiB.
    let fragment = vec![b' '; 4096];
    let mut frames = vec![Frame::message(
        fragment.clone(),
        OpCode::Data(Data::Text),
        false,
    )];
    for i in 1..40 {
        frames.push(Frame::message(
            fragment.clone(),
            OpCode::Data(Data::Continue),
            i == 39,
        ));
    }
    for frame in frames {
        a.ws.send(Message::Frame(frame))
            .await
            .expect("send fragment");
    }
    assert_eq!(
        a.expect_error().await,
        format!(
            "frame too large: {} bytes, limit is {}",
            40 * 4096,
            64 * 1024
        )
    );
    // A fragmented message within the limit is joined and relayed.
    let text = r#"{"type":"OFFER","dst":"b","payload":{"sdp":"fragmented"}}"#;
    let (first, rest) = text.split_at(20);
    a.ws.send(Message::Frame(Frame::message(
        first.as_bytes().to_vec(),
        OpCode::Data(Data::Text),
        false,
    )))
    .await
    .expect("send first fragment");
    a.ws.send(Message::Frame(Frame::message(
        rest.as_bytes().to_vec(),
        OpCode::Data(Data::Continue),
        true,
    )))
    .await
    .expect("send last fragment");
    assert_eq!(
        b.recv_json().await,
        json!({"type":"OFFER","src":"a","dst":"b","payload":{"sdp":"fragmented"}})
    );
    a.expect_silence(Duration::from_millis(100)).await;
}

#[tokio::test]
async fn broken_websocket_framing_gets_an_error_then_a_protocol_close() {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
    use tokio_tungstenite::tungstenite::protocol::frame::Frame;
    use tokio_tungstenite::tungstenite::Message;

    let srv = server().await;
    let url = srv.url();
    let mut bad = Raw::join(&url, "c1", "bad").await;
    let reserved = Frame::message(b"{}".to_vec(), OpCode::Data(Data::Reserved(3)), true);
    bad.ws.send(Message::Frame(reserved)).await.expect("send");
    let texts = bad.expect_closed().await;
    assert_eq!(texts.len(), 1, "{texts:?}");
    assert!(
        texts[0].contains(r#""type":"ERROR""#) && texts[0].contains("reserved opcode"),
        "{texts:?}"
    );
    eventually("bad removed", || srv.stats().peers == 0).await;
}

#[tokio::test]
async fn a_client_that_stops_reading_is_dropped_once_its_queue_holds_too_many_bytes() {
    let srv = server_with(Limits {
        outbound_queue_bytes: 256 * 1024,
        ..Limits::default()
    })
    .await;
    let url = srv.url();
    let mut watcher = Raw::join_with(&url, "key=c1&id=w&token=t&presence=1").await;
    assert_eq!(
        watcher.recv_text().await,
        r#"{"type":"PEERS","payload":[]}"#
    );
    let mut a = Raw::join(&url, "c1", "a").await;
    let _deaf = Raw::join(&url, "c1", "deaf").await;
    assert_eq!(watcher.recv_json().await["type"], "PEER-JOINED");
    assert_eq!(watcher.recv_json().await["type"], "PEER-JOINED");
    // 60 KB frames to a peer that never reads: the socket buffers fill, then
    // the queue's byte bound (a few frames), long before its frame bound
    // (1024 frames, 60 MB) would.
    let offer = json!({"type":"OFFER","dst":"deaf","payload":"x".repeat(60_000)}).to_string();
    let mut sent = 0;
    let left = loop {
        assert!(sent < 500, "no LEAVE after {sent} frames");
        a.send_text(offer.clone()).await;
        sent += 1;
        let reply = tokio::time::timeout(Duration::ZERO, a.recv_json()).await;
        if let Ok(reply) = reply {
            break reply;
        }
    };
    assert_eq!(left, json!({"type":"LEAVE","src":"deaf","dst":"a"}));
    assert_eq!(
        watcher.recv_text().await,
        r#"{"type":"PEER-LEFT","src":"deaf"}"#
    );
    assert_eq!(
        Client::list_peers(&url, "c1").await.ok(),
        Some(vec!["a".into(), "w".into()])
    );
}

#[tokio::test]
async fn an_abrupt_disconnect_is_cleaned_up_and_announced() {
    let srv = server().await;
    let url = srv.url();
    let mut watcher = Raw::join_with(&url, "key=c1&id=w&token=t&presence=1").await;
    assert_eq!(
        watcher.recv_text().await,
        r#"{"type":"PEERS","payload":[]}"#
    );
    let gone = Raw::join(&url, "c1", "gone").await;
    assert_eq!(
        watcher.recv_text().await,
        r#"{"type":"PEER-JOINED","src":"gone"}"#
    );
    // Drop the TCP stream without a close handshake.
    drop(gone);
    assert_eq!(
        watcher.recv_text().await,
        r#"{"type":"PEER-LEFT","src":"gone"}"#
    );
    assert_eq!(
        Client::list_peers(&url, "c1").await.ok(),
        Some(vec!["w".into()])
    );
    drop(watcher);
    eventually("empty server", || {
        srv.stats() == signaling::ServerStats::default()
    })
    .await;
}

#[tokio::test]
async fn leave_without_destination_disconnects_the_sender() {
    let srv = server().await;
    let url = srv.url();
    let mut a = Raw::join(&url, "c1", "a").await;
    a.send_json(json!({"type":"LEAVE"})).await;
    a.expect_closed().await;
    eventually("a removed", || srv.stats().peers == 0).await;
}

#[tokio::test]
async fn a_silent_socket_is_dropped_and_heartbeats_keep_one_alive() {
    let srv = server_with(Limits {
        alive_timeout: Duration::from_millis(400),
        ..Limits::default()
    })
    .await;
    let url = srv.url();
    let mut silent = Raw::join(&url, "c1", "silent").await;
    let mut chatty = Raw::join(&url, "c1", "chatty").await;
    let start = tokio::time::Instant::now();
    while start.elapsed() < Duration::from_millis(1000) {
        chatty.send_json(json!({"type":"HEARTBEAT"})).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    silent.expect_closed().await;
    assert_eq!(
        Client::list_peers(&url, "c1").await.ok(),
        Some(vec!["chatty".into()])
    );
}

#[tokio::test]
async fn cluster_and_peer_limits_refuse_with_an_error() {
    let srv = server_with(Limits {
        max_clusters: 1,
        max_peers_per_cluster: 2,
        ..Limits::default()
    })
    .await;
    let url = srv.url();
    let _a = Raw::join(&url, "c1", "a").await;
    let _b = Raw::join(&url, "c1", "b").await;
    let mut c = Raw::connect(&url, "key=c1&id=c&token=t").await;
    assert_eq!(c.expect_error().await, "Cluster has reached its peer limit");
    c.expect_closed().await;
    let mut other = Raw::connect(&url, "key=c2&id=a&token=t").await;
    assert_eq!(
        other.expect_error().await,
        "Server has reached its cluster limit"
    );
    other.expect_closed().await;
}

#[tokio::test]
async fn the_hold_limit_answers_expire_at_once() {
    let srv = server_with(Limits {
        max_pending_per_peer: 2,
        ..Limits::default()
    })
    .await;
    let url = srv.url();
    let mut a = Raw::join(&url, "c1", "a").await;
    for _ in 0..3 {
        a.send_json(json!({"type":"CANDIDATE","dst":"ghost","payload":{}}))
            .await;
    }
    let reply = tokio::time::timeout(WAIT, a.recv_json())
        .await
        .expect("reply");
    assert_eq!(reply, json!({"type":"EXPIRE","src":"ghost","dst":"a"}));
}

#[tokio::test]
async fn shutdown_closes_every_session() {
    let srv = server().await;
    let url = srv.url();
    let mut a = Raw::join(&url, "c1", "a").await;
    srv.shutdown().await.expect("clean shutdown");
    a.expect_closed().await;
}

/// Sends a binary frame (the PeerJS server accepts JSON in binary frames too).
trait SendBinary {
    async fn send_binary_frame(&mut self, data: Vec<u8>);
}

impl SendBinary
    for tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>
{
    async fn send_binary_frame(&mut self, data: Vec<u8>) {
        use futures_util::SinkExt;
        self.send(tokio_tungstenite::tungstenite::Message::binary(data))
            .await
            .expect("send binary");
    }
}
