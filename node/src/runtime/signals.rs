//! SIGTERM and SIGINT as a request to leave, like the control socket's
//! `shutdown`.
//!
//! Why handle them: killed by the default action, a node leaves its control
//! socket file behind and its peers find out only when ICE times out. Caught,
//! the node closes its links, leaves signaling, removes its socket file and
//! exits 0. SIGKILL, which the bench uses to simulate crashes, stays abrupt.

use tokio::signal::unix::{signal, Signal, SignalKind};

/// The signals that stop a node.
pub(crate) struct StopSignals {
    term: Signal,
    interrupt: Signal,
}

impl StopSignals {
    /// Takes over SIGTERM and SIGINT from now on.
    pub(crate) fn install() -> std::io::Result<Self> {
        Ok(Self {
            term: signal(SignalKind::terminate())?,
            interrupt: signal(SignalKind::interrupt())?,
        })
    }

    /// Waits for either; returns its name.
    pub(crate) async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.interrupt.recv() => "SIGINT",
        }
    }
}
