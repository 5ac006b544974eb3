//! One raftrtc node: everything that wraps the sans-IO Raft core
//! ([`raftrtc_raft`]) into a process.
//!
//! - [`mesh`]: WebRTC data-channel connections to every peer;
//! - [`netem`]: network conditions applied to the mesh's own datagrams;
//! - [`wire`]: the encoding of Raft messages on a data channel;
//! - [`storage`]: durable storage for the core (term, vote, log);
//! - [`control`]: the control socket the bench drives a node through;
//! - [`runtime`]: the node process's event loop tying them together;
//! - [`settings`]: what every node of a cluster shares, with its defaults and presets;
//! - [`clock`]: the monotonic clock events are stamped with.

pub mod clock;
pub mod control;
pub mod mesh;
pub mod netem;
#[cfg(feature = "planted-bugs")]
pub mod planted;
pub mod runtime;
pub mod settings;
pub mod storage;
pub mod wire;
