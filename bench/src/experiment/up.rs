//! *up*: every node connected to signaling and to all its peers, paused;
//! t0 just before `start` goes to all of them (concurrently); done when
//! there is exactly one leader, no (pre-)candidate, N-1 followers, and every
//! node's applied configuration lists all N nodes.

use std::time::{Duration, Instant};

use super::session::Session;
use super::RunError;

/// Brings the cluster up; returns the up time (t0 to the event that
/// completed the condition, confirmed by a status round).
pub(crate) async fn run(session: &mut Session, phase: &dyn Fn(&str)) -> Result<Duration, RunError> {
    phase("connecting");
    session.connect_all().await?;
    session.wait_ready().await?;
    session.subscribe_all().await?;
    phase("electing");
    let t0 = Instant::now();
    session.start_all().await?;
    let done = session.wait_confirmed(|t| t.converged(true)).await?;
    Ok(done.saturating_duration_since(t0))
}
