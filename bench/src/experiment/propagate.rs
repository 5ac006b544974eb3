//! *propagate*: after up, M chat lines are submitted at a follower in one
//! `submit` (the node's chat client runs the papers' seqAppend loop); t0 at
//! the submit; done when every node applied all M lines.

use std::time::{Duration, Instant};

use rand::seq::IndexedRandom;

use super::session::Session;
use super::RunError;

/// Submits `messages` lines at a follower; returns the time until every node
/// applied them.
pub(crate) async fn run(
    session: &mut Session,
    messages: u32,
    phase: &dyn Fn(&str),
) -> Result<Duration, RunError> {
    phase("submitting");
    let followers = session.tracker.followers();
    let at = *followers
        .choose(&mut session.rng)
        .ok_or(RunError::NoFollower)?;
    let base = session
        .tracker
        .live()
        .filter_map(|i| session.tracker.node(i).map(|n| n.chat_len))
        .min()
        .unwrap_or(0);
    let target = base + u64::from(messages);
    let lines = (1..=messages)
        .map(|k| format!("line {k} of {messages}"))
        .collect();
    let t0 = Instant::now();
    session.submit_in_background(at, lines);
    phase("propagating");
    let done = session.wait_confirmed(|t| t.all_applied(target)).await?;
    session.finish_submit().await?;
    Ok(done.saturating_duration_since(t0))
}
