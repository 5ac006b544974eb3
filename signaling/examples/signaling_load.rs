//! Load benchmark of the signaling server, for the project's notes.
//!
//! Starts an in-process server on loopback, connects `--clients` clients to
//! one cluster (`--concurrency` connecting at a time), and reports:
//! - join latency (connect → `OPEN`): p50, p99, max;
//! - relayed messages per second over a burst where every client sends
//!   `--messages` OFFERs to its neighbour, measured from the first send until
//!   the last message is received.
//!
//! ```text
//! cargo run --release -p signaling --example signaling_load -- --clients 1000
//! ```

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use serde_json::json;
use signaling::{Client, ClientConfig, ClientEvent, Limits, Relay, Server, ServerConfig};
use tokio::task::JoinSet;

struct Args {
    clients: usize,
    messages: usize,
    concurrency: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        clients: 1000,
        messages: 20,
        concurrency: 32,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = |name: &str| -> Result<usize, String> {
            it.next()
                .ok_or_else(|| format!("{name} needs a value"))?
                .parse::<usize>()
                .map_err(|e| format!("{name}: {e}"))
                .and_then(|v| {
                    if v == 0 {
                        Err(format!("{name} must be positive"))
                    } else {
                        Ok(v)
                    }
                })
        };
        match flag.as_str() {
            "--clients" => args.clients = value("--clients")?,
            "--messages" => args.messages = value("--messages")?,
            "--concurrency" => args.concurrency = value("--concurrency")?,
            "-h" | "--help" => {
                return Err(
                    "usage: signaling_load [--clients N] [--messages M] [--concurrency C]".into(),
                )
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if args.clients < 2 {
        return Err("--clients must be at least 2".into());
    }
    Ok(args)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let limits = Limits {
        max_peers_per_cluster: args.clients,
        max_connections: args.clients,
        outbound_queue: args.messages.max(1024),
        ..Limits::default()
    };
    let server = Server::bind(ServerConfig {
        limits,
        ..ServerConfig::default()
    })
    .await?
    .spawn();
    let url = server.url();
    println!(
        "signaling_load: {} clients, {} messages each, {} concurrent joins, server {url}",
        args.clients, args.messages, args.concurrency
    );
    let clients = join_phase(&args, &url).await?;
    let n = clients.len();
    let received = burst_phase(clients, args.messages).await;
    let stats = server.stats();
    println!(
        "after close: {} peers, {} clusters left",
        stats.peers, stats.clusters
    );
    server.shutdown().await?;
    if received != n * args.messages {
        eprintln!(
            "lost messages: expected {}, received {received}",
            n * args.messages
        );
        std::process::exit(1);
    }
    Ok(())
}

/// A joined client and its events.
type Joined = (Client, tokio::sync::mpsc::Receiver<ClientEvent>);

/// Joins every client, `args.concurrency` at a time, and prints the join latencies.
async fn join_phase(args: &Args, url: &str) -> Result<Vec<Joined>, Box<dyn std::error::Error>> {
    let mut latencies = Vec::with_capacity(args.clients);
    let mut clients = Vec::with_capacity(args.clients);
    let join_start = Instant::now();
    let ids: Vec<usize> = (0..args.clients).collect();
    for chunk in ids.chunks(args.concurrency) {
        let joins = chunk.iter().map(|i| {
            let cfg = ClientConfig {
                event_capacity: args.messages.max(16) + 16,
                ..ClientConfig::new(url.to_owned(), "load", format!("n{i}"))
            };
            async move {
                let t = Instant::now();
                let joined = Client::connect(cfg).await;
                (t.elapsed(), joined)
            }
        });
        for (latency, joined) in join_all(joins).await {
            clients.push(joined?);
            latencies.push(latency);
        }
    }
    let join_total = join_start.elapsed();
    latencies.sort();
    println!(
        "join: {} clients in {} ({:.0} joins/s); connect->OPEN p50 {}  p99 {}  max {}",
        clients.len(),
        ms(join_total),
        clients.len() as f64 / join_total.as_secs_f64(),
        ms(percentile(&latencies, 50.0)),
        ms(percentile(&latencies, 99.0)),
        ms(percentile(&latencies, 100.0)),
    );
    Ok(clients)
}

/// Receivers first, then every client sends `expected` messages to its neighbour; prints the
/// relay rate, closes the clients and returns how many messages arrived.
async fn burst_phase(clients: Vec<Joined>, expected: usize) -> usize {
    let n = clients.len();
    let mut receivers = JoinSet::new();
    let mut handles = Vec::with_capacity(n);
    for (client, mut events) in clients {
        handles.push(client);
        receivers.spawn(async move {
            let mut got = 0usize;
            while got < expected {
                match tokio::time::timeout(Duration::from_secs(30), events.recv()).await {
                    Ok(Some(ClientEvent::Relayed { .. })) => got += 1,
                    Ok(Some(_)) => {}
                    Ok(None) | Err(_) => break,
                }
            }
            got
        });
    }
    let burst_start = Instant::now();
    let sends = handles.iter().enumerate().map(|(i, c)| {
        let dst = format!("n{}", (i + 1) % n);
        async move {
            let mut ok = 0usize;
            for m in 0..expected {
                if c.send(&dst, Relay::Offer, json!({ "seq": m, "sdp": "v=0" }))
                    .await
                    .is_ok()
                {
                    ok += 1;
                }
            }
            ok
        }
    });
    let sent: usize = join_all(sends).await.into_iter().sum();
    let send_done = burst_start.elapsed();
    let mut received = 0usize;
    while let Some(r) = receivers.join_next().await {
        received += r.unwrap_or(0);
    }
    let burst = burst_start.elapsed();
    println!(
        "relay: {sent} sent in {}, {received} received in {} -> {:.0} relayed msgs/s",
        ms(send_done),
        ms(burst),
        received as f64 / burst.as_secs_f64()
    );
    join_all(handles.iter().map(|c| c.close())).await;
    received
}
