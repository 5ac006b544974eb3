//! The control protocol through which the bench drives a node.
//!
//! [`protocol`] is the wire format (JSON lines, documented there);
//! [`server`] accepts connections on a Unix socket (mode 0600) and hands each
//! request to the node's event loop as a [`ControlRequest`]; [`dialback`] carries the same
//! connections over TCP, dialed by the node, where no Unix socket reaches (a swarm);
//! [`events`] fans the node's events out to subscribers and [`subscriber`] bounds what each
//! may hold; [`client`] is the one client, used by the bench and the tests.

pub mod client;
pub mod dialback;
pub mod events;
pub mod protocol;
pub mod server;
pub mod subscriber;

use std::path::PathBuf;

pub use client::{
    subscribe, subscribe_from_launch, ClientError, ControlAddr, ControlClient, Received,
};
pub use dialback::{DialBack, Hub};
pub use events::EventBus;
pub use server::{BindError, ControlRequest, ControlServer, Serving};

/// Where a node takes its control connections from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ControlEndpoint {
    /// A Unix socket at this path (`--control`).
    Socket(PathBuf),
    /// Connections it dials to the bench (`--control-dial`).
    DialBack(DialBack),
}

/// A [`ControlEndpoint`] made ready: the socket bound, or the dial-back remembered.
pub enum Bound {
    /// The bound socket.
    Socket(ControlServer),
    /// Where to dial.
    DialBack(DialBack),
}

impl ControlEndpoint {
    /// Binds the socket (a dial-back has nothing to bind: the node connects out once
    /// serving).
    pub fn bind(&self) -> Result<Bound, BindError> {
        Ok(match self {
            ControlEndpoint::Socket(path) => Bound::Socket(ControlServer::bind(path)?),
            ControlEndpoint::DialBack(dial) => Bound::DialBack(dial.clone()),
        })
    }
}

impl Bound {
    /// Serves control connections in the background until the node loop goes away or the
    /// returned [`Serving`] is dropped.
    pub fn spawn(
        self,
        requests: tokio::sync::mpsc::Sender<ControlRequest>,
        events: EventBus,
    ) -> Serving {
        match self {
            Bound::Socket(server) => server.spawn(requests, events),
            Bound::DialBack(dial) => dialback::spawn_dialer(dial, requests, events),
        }
    }
}
