//! One raftrtc node: the sans-IO Raft core and everything that wraps it.
//!
//! - [`mesh`]: WebRTC data-channel connections to every peer;
//! - [`raft`]: the deterministic Raft core (no I/O, no async, no clock);
//! - [`sim`]: a seeded simulator that drives several cores through a faulty
//!   network and checks Raft's safety properties after every step.

pub mod mesh;
pub mod raft;
pub mod sim;
