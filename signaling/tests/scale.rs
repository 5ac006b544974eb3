//! Many clients on one server: 500 join one cluster, each relays one message
//! to its neighbour, all leave, and the server ends up empty. Bounded in
//! time; no speed is asserted (the benchmark example measures that).

mod common;

use std::time::Duration;

use common::{eventually, server};
use futures_util::future::join_all;
use serde_json::json;
use signaling::{Client, ClientConfig, ClientEvent, Relay, ServerStats};

const CLIENTS: usize = 500;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_clients_join_relay_one_message_each_and_leave() {
    let run = async {
        let srv = server().await;
        let url = srv.url();
        let mut clients = Vec::with_capacity(CLIENTS);
        for chunk in (0..CLIENTS).collect::<Vec<_>>().chunks(50) {
            let joins = chunk
                .iter()
                .map(|i| Client::connect(ClientConfig::new(url.clone(), "big", format!("n{i}"))));
            for joined in join_all(joins).await {
                clients.push(joined.expect("join"));
            }
        }
        assert_eq!(srv.stats().peers, CLIENTS);
        assert_eq!(
            Client::list_peers(&url, "big").await.expect("peers").len(),
            CLIENTS
        );

        let sends = clients.iter().enumerate().map(|(i, (c, _))| {
            let dst = format!("n{}", (i + 1) % CLIENTS);
            async move { c.send(&dst, Relay::Offer, json!({ "from": i })).await }
        });
        for sent in join_all(sends).await {
            sent.expect("send");
        }
        for (i, (_, events)) in clients.iter_mut().enumerate() {
            let from = (i + CLIENTS - 1) % CLIENTS;
            let event = tokio::time::timeout(Duration::from_secs(10), events.recv())
                .await
                .expect("message in time");
            assert_eq!(
                event,
                Some(ClientEvent::Relayed {
                    kind: Relay::Offer,
                    src: format!("n{from}"),
                    payload: json!({ "from": from })
                })
            );
        }

        join_all(clients.iter().map(|(c, _)| c.close())).await;
        eventually("every client gone", || {
            srv.stats() == ServerStats::default()
        })
        .await;
    };
    tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("the whole scenario finishes in bounded time");
}
