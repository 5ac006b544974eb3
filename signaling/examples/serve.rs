//! A standalone signaling server for manual testing, e.g. with the official
//! PeerJS client in a browser (`new Peer(id, {host, port, path: "/", key})`).
//! The real command is `raftrtc signaling`; this one needs no other crate.
//!
//! ```text
//! cargo run -p signaling --example serve -- --listen 127.0.0.1:9000 --path /
//! ```

use std::net::SocketAddr;

use signaling::{Server, ServerConfig};

fn parse_args() -> Result<ServerConfig, String> {
    let mut config = ServerConfig::default();
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--listen" => {
                config.listen = value
                    .parse::<SocketAddr>()
                    .map_err(|e| format!("--listen {value}: {e}"))?
            }
            "--path" => config.path = value,
            other => {
                return Err(format!(
                    "unknown argument {other}; usage: serve [--listen ADDR] [--path /]"
                ))
            }
        }
    }
    Ok(config)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = match parse_args() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let server = Server::bind(config).await?;
    println!("signaling server at {}", server.url());
    server
        .run_until(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
