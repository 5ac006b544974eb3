//! The control socket through which the bench drives a node.
//!
//! [`protocol`] is the wire format (JSON lines, documented there);
//! [`server`] accepts connections on a Unix socket (mode 0600) and hands each
//! request to the node's event loop as a [`ControlRequest`]; [`events`] fans
//! the node's events out to subscribers and [`subscriber`] bounds what each
//! may hold; [`client`] is the one client, used by the bench and the tests.

pub mod client;
pub mod events;
pub mod protocol;
pub mod server;
pub mod subscriber;

pub use client::{subscribe, subscribe_from_launch, ClientError, ControlClient, Received};
pub use events::EventBus;
pub use server::{BindError, ControlRequest, ControlServer, Serving};
