//! Can the server at a URL host clusters on one shared key? Asked before anything starts.
//!
//! Clusters on a stock PeerJS server need three things from it: its HTTP API at the URL's
//! path, a peer list (`GET /<key>/peers`, which the official server serves only when started
//! with `--allow_discovery`), and a WebSocket that accepts the key. [`probe`] checks all
//! three in that order and says which one failed, in words a user can act on.

use std::time::Duration;

use serde_json::Value;

use super::http::{self, Endpoint};
use super::{parse_base, random_token, Client, ClientConfig, Presence};
use crate::error::ClientError;
use crate::protocol;

/// How long each step of the probe may take.
const STEP_TIMEOUT: Duration = Duration::from_secs(5);

/// Which PeerJS server answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerKind {
    /// `raftrtc signaling` (its description says so).
    Raftrtc,
    /// Any other PeerJS server: the official `peer`, as far as anyone can tell.
    PeerJs,
}

/// Why a server cannot host clusters on a shared key.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// The URL is not usable at all.
    #[error("{0}")]
    InvalidUrl(String),
    /// Nothing answers at the URL's host and port.
    #[error("cannot reach the signaling server at {url}: {reason}")]
    Unreachable {
        /// The URL.
        url: String,
        /// What failed.
        reason: String,
    },
    /// Something answers, but not a PeerJS server at this path.
    #[error(
        "no PeerJS server at {url}: GET {url} answered {answer} (is the path right? the official \
         server's is set by its --path)"
    )]
    NotPeerJs {
        /// The URL.
        url: String,
        /// The status or body that answered.
        answer: String,
    },
    /// The server does not list its peers: discovery is off.
    #[error(
        "the signaling server at {url} does not list its peers (GET {key}/peers answered 401): \
         discovery is off; start it with --allow_discovery"
    )]
    DiscoveryOff {
        /// The URL.
        url: String,
        /// The key.
        key: String,
    },
    /// The peer list is there but unreadable.
    #[error("the signaling server at {url} answered GET {key}/peers with {reason}")]
    BadPeerList {
        /// The URL.
        url: String,
        /// The key.
        key: String,
        /// What was wrong.
        reason: String,
    },
    /// The WebSocket refused the key.
    #[error(
        "the signaling server at {url} refused the key `{key}` ({reason}); give the server's key \
         with --signaling-key"
    )]
    KeyRefused {
        /// The URL.
        url: String,
        /// The key.
        key: String,
        /// The server's words.
        reason: String,
    },
    /// The WebSocket could not be opened for another reason.
    #[error("cannot join the signaling server at {url}: {source}")]
    Join {
        /// The URL.
        url: String,
        /// Why.
        source: ClientError,
    },
}

/// Checks that the server at `url` can host clusters on the shared `key`; see the module docs.
pub async fn probe(url: &str, key: &str) -> Result<ServerKind, ProbeError> {
    let endpoint = parse_base(url)
        .and_then(|base| Endpoint::from_url(&base))
        .map_err(|e| ProbeError::InvalidUrl(e.to_string()))?;
    let kind = describe(url, &endpoint).await?;
    peer_list(url, key, &endpoint).await?;
    join(url, key).await?;
    Ok(kind)
}

/// `GET <base>`: the server's description names PeerJS.
async fn describe(url: &str, endpoint: &Endpoint) -> Result<ServerKind, ProbeError> {
    let response =
        http::get(endpoint, "", STEP_TIMEOUT)
            .await
            .map_err(|e| ProbeError::Unreachable {
                url: url.to_string(),
                reason: e.to_string(),
            })?;
    let not_peerjs = |answer: String| ProbeError::NotPeerJs {
        url: url.to_string(),
        answer,
    };
    if response.status != 200 {
        return Err(not_peerjs(format!("HTTP {}", response.status)));
    }
    let body: Value = serde_json::from_slice(&response.body)
        .map_err(|_| not_peerjs("a body that is not JSON".into()))?;
    if body.get("name").and_then(Value::as_str) != Some("PeerJS Server") {
        return Err(not_peerjs(
            "a JSON body without the name \"PeerJS Server\"".into(),
        ));
    }
    Ok(match body.get("implementation").and_then(Value::as_str) {
        Some(protocol::IMPLEMENTATION) => ServerKind::Raftrtc,
        _ => ServerKind::PeerJs,
    })
}

/// `GET <base><key>/peers`: a JSON list of ids.
async fn peer_list(url: &str, key: &str, endpoint: &Endpoint) -> Result<(), ProbeError> {
    let bad = |reason: String| ProbeError::BadPeerList {
        url: url.to_string(),
        key: key.to_string(),
        reason,
    };
    let response = http::get(endpoint, &format!("{key}/peers"), STEP_TIMEOUT)
        .await
        .map_err(|e| bad(e.to_string()))?;
    match response.status {
        200 => serde_json::from_slice::<Vec<String>>(&response.body)
            .map(|_| ())
            .map_err(|_| bad("a body that is not a JSON list of ids".into())),
        401 => Err(ProbeError::DiscoveryOff {
            url: url.to_string(),
            key: key.to_string(),
        }),
        status => Err(bad(format!("HTTP {status}"))),
    }
}

/// Opens a WebSocket on `key` under a throwaway id, and closes it.
async fn join(url: &str, key: &str) -> Result<(), ProbeError> {
    let mut config = ClientConfig::new(url, key, format!("raftrtc-probe-{}", random_token()));
    config.presence = Presence::Off;
    config.connect_timeout = STEP_TIMEOUT;
    match Client::connect(config).await {
        Ok((client, _events)) => {
            client.close().await;
            Ok(())
        }
        Err(ClientError::InvalidKey) => Err(ProbeError::KeyRefused {
            url: url.to_string(),
            key: key.to_string(),
            reason: "invalid key".into(),
        }),
        Err(ClientError::Rejected(reason)) if reason.to_ascii_lowercase().contains("key") => {
            Err(ProbeError::KeyRefused {
                url: url.to_string(),
                key: key.to_string(),
                reason,
            })
        }
        Err(e) => Err(ProbeError::Join {
            url: url.to_string(),
            source: e,
        }),
    }
}
