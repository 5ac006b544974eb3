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

use super::breakdown::{Breakdown, NodeStamps};
use super::phases::Phases;
use super::session::Session;
use super::{RunError, Start};

/// What bringing a cluster up measured.
#[derive(Clone, Debug, Default)]
pub(crate) struct UpTimes {
    /// The phases, `raft` being the up time.
    pub phases: Phases,
    /// Where the time went, step by step.
    pub breakdown: Breakdown,
}

/// Brings the cluster up; returns its phases, `raft` being the up time (t0
/// to the event that completed the condition, confirmed by a status round),
/// and the breakdown of that start from the confirming round's statuses.
/// `launched` is the cluster's launch, the t0 of a cold start.
pub(crate) async fn run(
    session: &mut Session,
    start: Start,
    launched: Stamp,
    phase: &dyn Fn(&str),
) -> Result<UpTimes, RunError> {
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
    Ok(UpTimes {
        phases: Phases::between(t0, done, &session.marks),
        breakdown: breakdown(session, t0, t0.ns_of(done)),
    })
}

/// The breakdown of the start from the nodes' last statuses and the launcher's spawn stamps.
fn breakdown(session: &mut Session, t0: Stamp, done_ns: u64) -> Breakdown {
    let spawned: Vec<Option<u64>> = session
        .cluster_mut()
        .members()
        .iter()
        .map(|m| m.spawned_ns)
        .collect();
    let nodes: Vec<NodeStamps<'_>> = session
        .marks
        .statuses()
        .zip(spawned)
        .filter_map(|(status, spawned_ns)| {
            Some(NodeStamps {
                spawned_ns,
                status: status?,
            })
        })
        .collect();
    Breakdown::of_run(t0, done_ns, &nodes)
}
