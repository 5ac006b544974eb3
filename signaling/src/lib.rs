//! PeerJS-compatible signaling for raftrtc: a server that brokers WebRTC
//! offers, answers and ICE candidates between the nodes of many clusters,
//! and the client the nodes use to talk to it (or to the official `peer`
//! server from npm).
//!
//! # Protocol
//!
//! The PeerJS server protocol, frame for frame (see [`protocol`]):
//! a WebSocket at `<base>peerjs?key=<key>&id=<id>&token=<token>` greeted with
//! `{"type":"OPEN"}`; `OFFER`, `ANSWER`, `CANDIDATE` and `LEAVE` relayed by
//! `dst` with `src` stamped by the server; messages for a peer that is not
//! connected held for [`Limits::expire_timeout`] and then answered with
//! `EXPIRE`; `HEARTBEAT` keeps a socket alive, silence beyond
//! [`Limits::alive_timeout`] drops it; HTTP `GET <base><key>/id` and
//! `GET <base><key>/peers`. `<base>` is [`ServerConfig::path`], `/` by
//! default.
//!
//! # Clusters: one PeerJS key per cluster
//!
//! Every key matching `[A-Za-z0-9_.-]{1,64}` names a cluster. A cluster is
//! created when its first peer connects and dropped when it has neither peers
//! nor held messages. Peers, `/peers` listings, relays, joins and leaves
//! never cross keys: `node-1` in cluster `a` and `node-1` in cluster `b` are
//! two different peers. Against the official server, which accepts a single
//! configured key, a cluster is simply that server's `--key`.
//!
//! # Presence extension
//!
//! A client that adds `presence=1` to the WebSocket URL gets, right after
//! `OPEN`, `{"type":"PEERS","payload":[...]}` (the other members), then
//! `{"type":"PEER-JOINED","src":"<id>"}` and `{"type":"PEER-LEFT","src":"<id>"}`
//! for the other members of its cluster, so nodes need not poll. Clients
//! without it (the official PeerJS client) never see these types.
//!
//! # Bad input and limits
//!
//! Every bound is a [`Limits`] field. A bad frame (invalid JSON, unknown
//! type, missing field) gets an `{"type":"ERROR","payload":{"msg":"..."}}` on
//! that socket only; the session and everyone else carry on. Disconnects,
//! clean or not, remove the peer and notify presence members.
//!
//! A message over [`Limits::max_frame_bytes`] gets the same treatment at any
//! size — `ERROR` with `frame too large: <size> bytes, limit is <limit>`,
//! then the session reads on — because the server reads client frames
//! through a limiter below the WebSocket codec that discards an oversized
//! message as it streams in (fragments of one message count together) and
//! never holds more than the limit. A 10 MB frame costs the server 10 MB of
//! reading, not of memory. Only frames that break WebSocket framing itself
//! (reserved bits or opcodes, unmasked client frames, a continuation with
//! nothing to continue, control frames over 125 bytes) end the session: an
//! `ERROR` naming the problem, then close code 1002.
//!
//! Everything a remote client can make the server queue is bounded:
//!
//! | queue | bound | when full |
//! |---|---|---|
//! | frames waiting to be written to one client | [`Limits::outbound_queue`] frames and [`Limits::outbound_queue_bytes`] bytes | the client is disconnected as too slow (`PEER-LEFT` to presence members, `LEAVE` to the sender whose frame did not fit) |
//! | pong replies to a client that pings but does not read | the socket's write buffer, a little over the largest frame the server writes | only the latest pong is kept; a frame that no longer fits ends the session |
//! | messages held for an absent peer | [`Limits::max_pending_per_peer`], [`Limits::max_pending_total`], [`Limits::max_pending_bytes`] | the sender gets `EXPIRE` at once |
//! | one incoming message | [`Limits::max_frame_bytes`] | `ERROR`, message discarded |
//!
//! The hold limits are shared by all clusters: a client that keeps them full
//! makes other clusters' messages for absent peers expire at once, for at
//! most [`Limits::expire_timeout`] after it stops.
//!
//! # Example
//!
//! ```no_run
//! use signaling::{Client, ClientConfig, ClientEvent, Relay, Server, ServerConfig};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let server = Server::bind(ServerConfig::default()).await?.spawn();
//! let (a, _a_events) = Client::connect(ClientConfig::new(server.url(), "cluster-1", "a")).await?;
//! let (_b, mut b_events) = Client::connect(ClientConfig::new(server.url(), "cluster-1", "b")).await?;
//! a.send("b", Relay::Offer, serde_json::json!({"sdp": "..."})).await?;
//! if let Some(ClientEvent::Relayed { src, .. }) = b_events.recv().await {
//!     assert_eq!(src, "a");
//! }
//! server.shutdown().await?;
//! # Ok(())
//! # }
//! ```

mod client;
mod error;
mod limits;
pub mod protocol;
mod server;

pub use client::{
    probe, Backoff, Client, ClientConfig, ClientEvent, Namespace, Presence, ProbeError, ServerKind,
};
pub use error::{ClientError, FrameError, ServerError};
pub use limits::Limits;
pub use protocol::Relay;
pub use server::{Server, ServerConfig, ServerHandle, ServerStats};
