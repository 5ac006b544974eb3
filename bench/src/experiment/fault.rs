//! The faults other than a kill: *pause-leader*, *isolate-leader* and *restart-all*.
//!
//! Each starts from an up cluster with a few chat lines acknowledged (their `submit`
//! answered), strikes, and is done when the cluster is whole again with those lines on
//! every node, so a fault that lost an acknowledged line never ends `ok`.
//!
//! - *pause-leader*: SIGSTOP (or `docker pause`) the leader, the papers' throttled
//!   background tab. t0 at the pause; the first time is until the others follow a new
//!   leader of a later term. Then the leader is resumed; the second time (`rejoin`) is
//!   from the resume until every node, the old leader included, follows that leader, the
//!   configuration is whole and every acknowledged line is applied everywhere.
//! - *isolate-leader*: the same with the leader's links cut (`<leader>:down` added to the
//!   run's conditions on every node, so ICE consent really fails) and then healed.
//! - *restart-all*: SIGKILL every node, then restart them all from their data
//!   directories. t0 just before the first restart; done when the cluster is up again
//!   with every acknowledged line.

use std::time::{Duration, Instant};

use node::netem::NetSpec;

use super::session::Session;
use super::RunError;

/// Lines acknowledged before the fault, which must survive it.
const ACKNOWLEDGED_LINES: u32 = 5;

/// How the leader is taken out of the cluster for a while.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LeaderOut {
    /// Frozen: SIGSTOP / `docker pause`.
    Pause,
    /// Cut off: every link of it down.
    Isolate,
}

/// The two times of a leader-out fault.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Recovery {
    /// From the fault until the others follow a new leader.
    pub(crate) elected: Duration,
    /// From lifting the fault until the whole cluster follows it with every acknowledged
    /// line.
    pub(crate) rejoined: Duration,
}

/// Takes the leader out as `how` says, lets the others elect, puts it back.
pub(crate) async fn leader_out(
    session: &mut Session,
    how: LeaderOut,
    net: &NetSpec,
    phase: &dyn Fn(&str),
) -> Result<Recovery, RunError> {
    let target = acknowledge(session, phase).await?;
    let leader = session.tracker.leader().ok_or(RunError::NoLeader)?;
    let term = session.tracker.node(leader).map_or(0, |n| n.term);
    let others: Vec<usize> = session.tracker.live().filter(|&i| i != leader).collect();
    let t0 = Instant::now();
    match how {
        LeaderOut::Pause => {
            phase("pausing");
            session.pause(leader).await?;
        }
        LeaderOut::Isolate => {
            phase("isolating");
            let id = session.ids()[leader].clone();
            session.set_net_all(&isolating(net, &id)?).await?;
        }
    }
    phase("electing");
    let elected = session
        .wait_confirmed(|t| t.new_leader_among(&others, term))
        .await?;
    let t1 = Instant::now();
    match how {
        LeaderOut::Pause => {
            phase("resuming");
            session.resume(leader).await?;
        }
        LeaderOut::Isolate => {
            phase("healing");
            session.set_net_all(net).await?;
        }
    }
    phase("rejoining");
    let everyone: Vec<usize> = session.tracker.live().collect();
    let rejoined = session
        .wait_confirmed(|t| {
            t.new_leader_among(&everyone, term) && t.converged(true) && t.all_applied(target)
        })
        .await?;
    Ok(Recovery {
        elected: elected.saturating_duration_since(t0),
        rejoined: rejoined.saturating_duration_since(t1),
    })
}

/// SIGKILLs every node, restarts all from their data directories; the time from the first
/// restart until the cluster is up with every acknowledged line.
pub(crate) async fn restart_all(
    session: &mut Session,
    phase: &dyn Fn(&str),
) -> Result<Duration, RunError> {
    let target = acknowledge(session, phase).await?;
    phase("killing");
    let all: Vec<usize> = session.tracker.live().collect();
    session.kill(&all).await?;
    phase("restarting");
    let t0 = Instant::now();
    session.restart(&all).await?;
    phase("recovering");
    let done = session
        .wait_confirmed(|t| t.converged(true) && t.all_applied(target))
        .await?;
    Ok(done.saturating_duration_since(t0))
}

/// Submits [`ACKNOWLEDGED_LINES`] at the leader and waits for its answer; the chat length
/// every node must reach again.
async fn acknowledge(session: &mut Session, phase: &dyn Fn(&str)) -> Result<u64, RunError> {
    phase("acknowledging");
    let leader = session.tracker.leader().ok_or(RunError::NoLeader)?;
    let base = session.tracker.node(leader).map_or(0, |n| n.chat_len);
    let lines = (1..=ACKNOWLEDGED_LINES)
        .map(|k| format!("acknowledged {k} of {ACKNOWLEDGED_LINES}"))
        .collect();
    session.submit(leader, lines).await?;
    Ok(base + u64::from(ACKNOWLEDGED_LINES))
}

/// The run's conditions with every link of `id` down.
fn isolating(net: &NetSpec, id: &str) -> Result<NetSpec, RunError> {
    let text = if net.is_none() {
        format!("{id}:down")
    } else {
        format!("{net};{id}:down")
    };
    text.parse()
        .map_err(|e| RunError::Unreachable(format!("cannot isolate {id}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn isolating_adds_a_cut_to_the_runs_own_conditions() {
        let cut = isolating(&NetSpec::none(), "n2").unwrap();
        assert!(cut.conditions("n2", "n0").down && cut.conditions("n1", "n2").down);
        assert!(!cut.conditions("n0", "n1").down);
        let lan: NetSpec = "delay=5ms".parse().unwrap();
        let cut = isolating(&lan, "n2").unwrap();
        assert_eq!(cut.conditions("n0", "n1").delay, Duration::from_millis(5));
        assert!(cut.conditions("n0", "n2").down);
    }
}
