//! *kill*: after up, SIGKILL the leader, or the leader and others chosen at
//! random from the run's seed; t0 at the kill; done when the survivors have
//! one leader and every survivor's applied configuration is exactly the
//! survivors.

use std::time::{Duration, Instant};

use rand::seq::SliceRandom;

use super::session::Session;
use super::RunError;

/// Kills `count` nodes (the leader first); returns the recovery time.
pub(crate) async fn run(
    session: &mut Session,
    count: usize,
    phase: &dyn Fn(&str),
) -> Result<Duration, RunError> {
    phase("killing");
    let victims = pick_victims(session, count)?;
    let t0 = Instant::now();
    session.kill(&victims).await?;
    phase("recovering");
    let done = session.wait_confirmed(|t| t.converged(false)).await?;
    Ok(done.saturating_duration_since(t0))
}

/// The leader, then `count - 1` others drawn with the run's RNG.
fn pick_victims(session: &mut Session, count: usize) -> Result<Vec<usize>, RunError> {
    let leader = session.tracker.leader().ok_or(RunError::NoLeader)?;
    let mut others: Vec<usize> = session.tracker.live().filter(|&i| i != leader).collect();
    others.shuffle(&mut session.rng);
    let mut victims = vec![leader];
    victims.extend(others.into_iter().take(count.saturating_sub(1)));
    Ok(victims)
}
