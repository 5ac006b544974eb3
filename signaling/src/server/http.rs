//! The plain-HTTP part of the PeerJS server API: `GET <base>` (server
//! description), `GET <base><key>/id` (a fresh id) and `GET <base><key>/peers`
//! (the cluster's connected ids), plus the WebSocket upgrade endpoint
//! `GET <base>peerjs`.
//!
//! Responses carry `Access-Control-Allow-Origin: *` like the official server's
//! permissive CORS setup, so a browser PeerJS client on another origin can
//! fetch an id.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use rand::Rng;
use tokio::sync::watch;

use super::session::{self, Params};
use super::{websocket, Shared};
use crate::protocol;

/// Everything a request handler needs.
#[derive(Clone)]
pub(crate) struct AppState {
    pub shared: Arc<Shared>,
    pub stop: watch::Receiver<bool>,
}

/// Builds the router for base path `base` (always starts and ends with `/`).
pub(crate) fn router(base: &str, state: AppState) -> Router {
    let mut router = Router::new()
        .route(base, get(describe))
        .route(
            &format!("{base}{}", protocol::WS_PATH_SEGMENT),
            get(upgrade),
        )
        .route(&format!("{base}{{key}}/id"), get(fresh_id))
        .route(&format!("{base}{{key}}/peers"), get(list_peers));
    if base.len() > 1 {
        // `/signal` as well as `/signal/`.
        router = router.route(base.trim_end_matches('/'), get(describe));
    }
    router.with_state(state)
}

fn cors(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    response
}

fn bad_key() -> Response {
    cors((StatusCode::BAD_REQUEST, protocol::msg::INVALID_KEY).into_response())
}

/// Same body as the official server, so probes written for it work here, and one more
/// field that tells the two apart.
async fn describe() -> Response {
    let body = serde_json::json!({
        "name": "PeerJS Server",
        "description": "A server side element to broker connections between PeerJS clients.",
        "website": "https://peerjs.com/",
        "implementation": protocol::IMPLEMENTATION,
    });
    cors(axum::Json(body).into_response())
}

async fn fresh_id(State(state): State<AppState>, Path(key): Path<String>) -> Response {
    if !protocol::is_valid_key(&key) {
        return bad_key();
    }
    let mut id = uuid_v4();
    // A collision with a connected id is astronomically unlikely; the bound
    // only keeps the loop finite.
    for _ in 0..8 {
        if !state.shared.registry().contains(&key, &id) {
            break;
        }
        id = uuid_v4();
    }
    cors(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], id).into_response())
}

async fn list_peers(State(state): State<AppState>, Path(key): Path<String>) -> Response {
    if !protocol::is_valid_key(&key) {
        return bad_key();
    }
    let ids = state.shared.registry().peers(&key);
    cors(axum::Json(ids).into_response())
}

async fn upgrade(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    request: Request,
) -> Response {
    let params = Params::from_query(query.as_deref());
    let AppState { shared, stop } = state;
    let limits = shared.limits.clone();
    websocket::accept(request, &limits, move |socket, marker| {
        session::run(socket, marker, shared, params, stop)
    })
}

/// A random (version 4) UUID, the id format the official server hands out.
pub(crate) fn uuid_v4() -> String {
    let mut b: [u8; 16] = rand::rng().random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_ids_are_version_4_uuids_and_valid_peer_ids() {
        let id = uuid_v4();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert!(protocol::is_valid_id(&id));
        assert_ne!(id, uuid_v4());
    }
}
