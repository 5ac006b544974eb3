//! *up*: done when there is exactly one leader, no (pre-)candidate, N-1
//! followers, and every node's applied configuration lists all N nodes.
//!
//! Two starts ([`Start`]). *Cold* (the default, as the papers timed it): t0
//! just before the first node is launched; every node runs Raft from launch
//! (the first bootstraps and leads, the leader adds the others as it can
//! reach them), so the up time covers launching, signaling, the links and
//! Raft. *Warm*: every node connected to signaling and to all its peers,
//! paused; t0 just before `start` goes to all of them (concurrently), which
//! isolates Raft from WebRTC.

use node::clock::Stamp;

use super::phases::Phases;
use super::session::Session;
use super::{RunError, Start};

/// Brings the cluster up; returns its phases, `raft` being the up time (t0
/// to the event that completed the condition, confirmed by a status round).
/// `launched` is the cluster's launch, the t0 of a cold start.
pub(crate) async fn run(
    session: &mut Session,
    start: Start,
    launched: Stamp,
    phase: &dyn Fn(&str),
) -> Result<Phases, RunError> {
    phase("connecting");
    session.connect_all().await?;
    let t0 = match start {
        Start::Cold => {
            // The nodes run before the bench can connect: their events since launch are
            // replayed, so an up faster than the bench's first connection is still timed.
            session.subscribe_all_from_launch().await?;
            launched
        }
        Start::Warm => {
            session.wait_ready().await?;
            session.subscribe_all().await?;
            let t0 = Stamp::now();
            session.start_all().await?;
            t0
        }
    };
    phase("electing");
    let done = session.wait_confirmed(|t| t.converged(true)).await?;
    Ok(Phases::between(t0, done, &session.marks))
}
