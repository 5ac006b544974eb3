//! The control server over real Unix sockets: who may bind a path, what a
//! client can make the node hold, and what keeps a connection usable.

use std::path::Path;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

use super::*;
use crate::control::protocol::{EventLine, NodeEvent, Status};
use crate::control::subscriber::DISCONNECT_AFTER_MISSED;

/// A served socket with a stand-in node loop that answers `status`.
fn serve(path: &Path) -> (Serving, EventBus) {
    let (tx, mut rx) = mpsc::channel::<ControlRequest>(8);
    tokio::spawn(async move {
        while let Some(request) = rx.recv().await {
            let mut response = Response::ok(None);
            if request.command == Command::Status {
                response.status = Some(Status {
                    id: "n0".into(),
                    ..Status::default()
                });
            }
            let _ = request.reply.send(response);
        }
    });
    let bus = EventBus::new();
    let serving = ControlServer::bind(path)
        .expect("binds")
        .spawn(tx, bus.clone());
    (serving, bus)
}

/// A raw connection that has subscribed (and read the answer).
async fn subscribed(path: &Path) -> BufReader<UnixStream> {
    let mut stream = UnixStream::connect(path).await.expect("connects");
    stream
        .write_all(b"{\"cmd\":\"subscribe\"}\n")
        .await
        .unwrap();
    let mut reader = BufReader::new(stream);
    let mut answer = String::new();
    reader.read_line(&mut answer).await.unwrap();
    assert_eq!(answer, "{\"ok\":true}\n");
    reader
}

fn applied(k: u64) -> NodeEvent {
    NodeEvent::EntryApplied {
        index: k,
        term: 1,
        chat_len: k,
    }
}

fn index_of(line: &EventLine) -> Option<u64> {
    match line.event {
        NodeEvent::EntryApplied { index, .. } => Some(index),
        _ => None,
    }
}

#[tokio::test]
async fn binding_refuses_a_path_a_live_process_listens_on() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("n0.sock");
    let (_first, _) = serve(&path);
    let e = ControlServer::bind(&path).err().expect("refused");
    assert!(matches!(e, BindError::InUse(_)), "{e}");
    assert!(e.to_string().contains("in use by a running process"), "{e}");
    let mut c = crate::control::ControlClient::connect(&path, std::time::Duration::ZERO)
        .await
        .expect("the first server is still reachable");
    assert_eq!(c.status().await.unwrap().id, "n0");
}

#[tokio::test]
async fn a_stale_socket_file_is_replaced_and_anything_else_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stale.sock");
    // A killed process leaves its socket file behind, with nobody listening.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(path.exists());
    let (_serving, _) = serve(&path);
    UnixStream::connect(&path)
        .await
        .expect("the new server listens");

    let file = dir.path().join("plain");
    std::fs::write(&file, "not a socket").unwrap();
    let e = ControlServer::bind(&file).err().expect("refused");
    assert!(matches!(e, BindError::NotASocket(_)), "{e}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "not a socket");
}

#[tokio::test]
async fn stopping_removes_the_socket_file_only_if_it_is_still_ours() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("n0.sock");
    let (serving, _) = serve(&path);
    drop(serving);
    assert!(!path.exists(), "our own file is removed");

    let (serving, _) = serve(&path);
    std::fs::remove_file(&path).unwrap();
    let _other = std::os::unix::net::UnixListener::bind(&path).unwrap();
    drop(serving);
    assert!(path.exists(), "another process's file is left alone");
}

#[tokio::test]
async fn invalid_utf8_gets_an_error_line_and_the_connection_stays_usable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("n0.sock");
    let (_serving, _) = serve(&path);
    let stream = UnixStream::connect(&path).await.unwrap();
    let mut reader = BufReader::new(stream);
    reader
        .get_mut()
        .write_all(b"{\"cmd\":\"st\xffatus\"}\n\xfe\xfe\n{\"cmd\":\"status\",\"id\":3}\n")
        .await
        .unwrap();
    for _ in 0..2 {
        let mut line = String::new();
        reader.read_line(&mut line).await.unwrap();
        let r: Response = serde_json::from_str(&line).unwrap();
        assert!(!r.ok);
        assert!(r.error.unwrap().contains("not UTF-8"));
    }
    let mut line = String::new();
    reader.read_line(&mut line).await.unwrap();
    let r: Response = serde_json::from_str(&line).expect("a response, not the end");
    assert!(r.ok);
    assert_eq!(r.id, Some(3.into()));
    assert_eq!(r.status.unwrap().id, "n0");
}

#[tokio::test]
async fn a_subscriber_that_falls_behind_is_told_exactly_how_many_events_it_missed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("n0.sock");
    let (_serving, bus) = serve(&path);
    let mut reader = subscribed(&path).await;
    // Publish without reading until the node starts dropping, then a few more.
    let mut published = 0;
    while bus.dropped() == 0 {
        published += 1;
        bus.publish(applied(published));
        tokio::task::yield_now().await;
        assert!(published < 1_000_000, "a full queue never dropped anything");
    }
    for _ in 0..10 {
        published += 1;
        bus.publish(applied(published));
        tokio::task::yield_now().await;
    }
    let mut next = 1;
    let missed = loop {
        let mut line = String::new();
        reader.read_line(&mut line).await.unwrap();
        let event: EventLine = serde_json::from_str(&line).unwrap();
        match event.event {
            NodeEvent::Lagged { missed } => break missed,
            _ => assert_eq!(index_of(&event), Some(next), "no gap before the notice"),
        }
        next += 1;
    };
    assert!(missed >= 11);
    assert_eq!(
        next - 1 + missed,
        published,
        "delivered + missed = published"
    );
    assert_eq!(bus.dropped(), missed);
    bus.publish(applied(published + 1));
    let mut line = String::new();
    reader.read_line(&mut line).await.unwrap();
    let event: EventLine = serde_json::from_str(&line).unwrap();
    assert_eq!(index_of(&event), Some(published + 1), "the stream goes on");
}

#[tokio::test]
async fn a_subscriber_that_never_reads_is_disconnected_and_holds_a_bounded_queue() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("n0.sock");
    let (_serving, bus) = serve(&path);
    let mut reader = subscribed(&path).await;
    let mut published = 0u64;
    while bus.subscribers() > 0 {
        published += 1;
        bus.publish(applied(published));
        tokio::task::yield_now().await;
        assert!(published < 1_000_000, "never disconnected");
    }
    assert_eq!(bus.dropped(), DISCONNECT_AFTER_MISSED);
    // What it can still read is what the node held for it (queue and socket
    // buffer), a contiguous prefix, then the end of the stream.
    let mut rest = Vec::new();
    reader.read_to_end(&mut rest).await.unwrap();
    let complete: Vec<&[u8]> = rest
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let mut delivered = 0;
    for line in complete {
        let Ok(event) = serde_json::from_slice::<EventLine>(line) else {
            break; // the line being written when it was cut off
        };
        delivered += 1;
        assert_eq!(index_of(&event), Some(delivered));
    }
    assert!(delivered > 0);
    // Besides those: one line being written, a full queue (dropped with the
    // connection) and the events it missed. Nothing else was held.
    assert_eq!(
        published,
        delivered + 1 + QUEUE_LINES as u64 + DISCONNECT_AFTER_MISSED
    );
}
