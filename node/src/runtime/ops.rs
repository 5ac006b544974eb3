//! Register operations for client sessions (`op` on the control socket): what a chaos run's
//! clients do.
//!
//! Each session has at most one operation in flight here. It goes to the leader (proposed
//! locally when this node leads, else forwarded over the data channel) under the session's
//! own name and request number, so the state machine applies it at most once whichever node
//! a retry goes through. `NotLeader` or silence: the same request again, to the (hinted)
//! leader. It is answered when the leader reports it applied; an operation whose caller
//! stopped waiting is dropped (its effect, if any, is the caller's unknown).
//!
//! A `get` with `read: local` is answered at once from this node's applied state, without
//! the log: the read a deposed leader or a lagging follower serves stale.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use raftrtc_raft::{
    ClientOutcome, ClientReply, Command, CommandResult, ProposeError, Raft, RequestId, Role,
    Storage, Value,
};
use tokio::sync::oneshot;

use crate::control::protocol::{OpResult, Response};

struct Pending {
    request: RequestId,
    command: Command,
    sent: Option<Instant>,
    reply: oneshot::Sender<Response>,
}

/// The sessions' operations waiting for the leader.
pub struct OpsClient {
    pending: BTreeMap<String, Pending>,
    retry_after: Duration,
}

impl OpsClient {
    /// A client that resends after `retry_after` of silence.
    pub fn new(retry_after: Duration) -> Self {
        Self {
            pending: BTreeMap::new(),
            retry_after,
        }
    }

    /// Takes operation `request` of `session`; `reply` is answered when it is applied.
    pub fn submit(
        &mut self,
        session: &str,
        request: RequestId,
        command: Command,
        reply: oneshot::Sender<Response>,
    ) {
        if let Some(busy) = self.pending.get(session) {
            if !busy.reply.is_closed() {
                let _ = reply.send(Response::error(
                    None,
                    format!(
                        "session {session} has request {} in flight here",
                        busy.request
                    ),
                ));
                return;
            }
        }
        self.pending.insert(
            session.to_owned(),
            Pending {
                request,
                command,
                sent: None,
                reply,
            },
        );
    }

    /// When the next overdue operation should be resent.
    pub fn deadline(&self) -> Option<Instant> {
        self.pending
            .values()
            .filter_map(|p| p.sent)
            .min()
            .map(|s| s + self.retry_after)
    }

    /// Sends what is unsent or overdue; forgets what nobody waits for. Call after every
    /// change (leader known, reply, timer).
    pub fn pump<S: Storage>(&mut self, raft: &mut Raft<S>, now: Instant) {
        self.pending.retain(|_, p| !p.reply.is_closed());
        let leads = raft.role() == Role::Leader;
        let leader = raft.leader().map(str::to_owned);
        for (session, p) in &mut self.pending {
            if p.sent.is_some_and(|s| now < s + self.retry_after) {
                continue;
            }
            let session = Some(session.clone());
            if leads {
                match raft.propose_for(session, p.request, p.command.clone()) {
                    Ok(_) => p.sent = Some(now),
                    Err(ProposeError::NotLeader { .. }) => p.sent = None,
                    Err(ProposeError::Raft(e)) => {
                        tracing::error!("operation proposal failed: {e}");
                        p.sent = Some(now);
                    }
                }
            } else if let Some(leader) = &leader {
                raft.forward_for(leader, session, p.request, p.command.clone(), false);
                p.sent = Some(now);
            } else {
                p.sent = None;
            }
        }
    }

    /// Takes a reply; those of the node's own session (the chat) are not this client's.
    pub fn on_reply(&mut self, reply: &ClientReply) {
        let Some(session) = &reply.session else {
            return;
        };
        let Some(p) = self.pending.get_mut(session) else {
            return;
        };
        if p.request != reply.request {
            return;
        }
        match &reply.outcome {
            ClientOutcome::NotLeader { .. } => p.sent = None,
            ClientOutcome::Applied { index, result } => {
                if let Some(p) = self.pending.remove(session) {
                    let _ = p.reply.send(applied(*index, result));
                }
            }
        }
    }

    /// Answers every waiting operation `msg` (the node is stopping).
    pub fn fail_all(&mut self, msg: &str) {
        for (_, p) in std::mem::take(&mut self.pending) {
            let _ = p.reply.send(Response::error(None, msg));
        }
    }
}

/// The answer to an operation the leader applied at `index` with `result`.
fn applied(index: u64, result: &CommandResult) -> Response {
    let mut r = OpResult {
        index: Some(index),
        ..OpResult::default()
    };
    match result {
        CommandResult::Value(v) => r.value = text(v.as_ref()),
        CommandResult::Swapped(swapped) => r.swapped = Some(*swapped),
        CommandResult::Done => {}
        CommandResult::Stale => {
            return Response::error(None, "stale: a later request of the session was applied")
        }
        other => return Response::error(None, format!("not a register operation: {other:?}")),
    }
    let mut response = Response::ok(None);
    response.result = Some(r);
    response
}

/// A register's text (a chat list reads as no text).
pub fn text(value: Option<&Value>) -> Option<String> {
    match value {
        Some(Value::Text(t)) => Some(t.clone()),
        _ => None,
    }
}
