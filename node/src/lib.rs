//! One raftrtc node: the sans-IO Raft core and everything that wraps it.
//!
//! - [`raft`]: the deterministic Raft core (no I/O, no async, no clock);
//! - [`sim`]: a seeded simulator that drives several cores through a faulty
//!   network and checks Raft's safety properties after every step;
//! - [`mesh`]: WebRTC data-channel connections to every peer;
//! - [`wire`]: the encoding of Raft messages on a data channel;
//! - [`storage`]: durable storage for the core (term, vote, log);
//! - [`control`]: the control socket the bench drives a node through;
//! - [`runtime`]: the node process's event loop tying them together;
//! - [`settings`]: what every node of a cluster shares, with its defaults and presets;
//! - [`clock`]: the monotonic clock events are stamped with.

pub mod clock;
pub mod control;
pub mod mesh;
pub mod raft;
pub mod runtime;
pub mod settings;
pub mod sim;
pub mod storage;
pub mod wire;
