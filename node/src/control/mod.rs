//! The control socket through which the bench drives a node.
//!
//! [`protocol`] is the wire format (JSON lines, documented there);
//! [`server`] accepts connections on a Unix socket (mode 0600) and hands each
//! request to the node's event loop as a [`ControlRequest`].

pub mod client;
pub mod protocol;
pub mod server;

pub use client::ControlClient;
pub use server::{ControlRequest, ControlServer};
