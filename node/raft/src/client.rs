//! Client requests: proposals on the leader, forwarding, and answers.
//!
//! A proposal is answered when its entry is applied (with the result and the
//! index); a non-leader answers `NotLeader { leader_hint }`. A leader that
//! loses leadership answers its waiting requests `NotLeader` too: the entry may
//! still commit, so clients retry with the *same* request id and the state
//! machine's sessions make the retry apply at most once.
//!
//! A request belongs to a client session: the proposing node's own (the chat client), or
//! one the node serves for a client of its own (`session`), which keeps its request ids and
//! its exactly-once memory whichever node it goes through. Such a session is kept in the
//! state machine as `@<session>`, a name no node id can take (`@` is not allowed in one).

use crate::event::ClientReply;
use crate::{
    ClientOutcome, ClientRequest, ClientResponse, Command, EntryKind, LogIndex, Message, NodeId,
    Raft, RaftError, RequestId, Role, Storage, Waiter,
};

/// The state machine's name of a client session: the node's own id, or `@<session>` for a
/// session it serves.
fn session_client(node: &str, session: Option<&str>) -> String {
    match session {
        Some(s) => format!("@{s}"),
        None => node.to_owned(),
    }
}

/// Why a proposal was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum ProposeError {
    /// Only the leader appends; try the hinted leader.
    #[error("not the leader (leader: {leader_hint:?})")]
    NotLeader {
        /// The leader this node follows, if known.
        leader_hint: Option<NodeId>,
    },
    /// The entry could not be persisted.
    #[error(transparent)]
    Raft(#[from] RaftError),
}

impl<S: Storage> Raft<S> {
    /// Proposes `command` for this node's own client session; the answer comes
    /// as a [`ClientReply`] once applied. Returns the entry's index.
    pub fn propose(
        &mut self,
        request: RequestId,
        command: Command,
    ) -> Result<LogIndex, ProposeError> {
        self.propose_for(None, request, command)
    }

    /// Proposes `command` for client `session` (`None`: this node's own, as
    /// [`Raft::propose`]).
    pub fn propose_for(
        &mut self,
        session: Option<String>,
        request: RequestId,
        command: Command,
    ) -> Result<LogIndex, ProposeError> {
        if self.role != Role::Leader {
            return Err(ProposeError::NotLeader {
                leader_hint: self.leader.clone(),
            });
        }
        let client = session_client(&self.cfg.id, session.as_deref());
        let index = self.append_once(client, request, command)?;
        self.waiters.insert(index, Waiter::Local(session, request));
        self.maybe_commit()?;
        Ok(index)
    }

    /// Sends `command` for this node's client session to `leader`; its answer
    /// arrives as a [`ClientReply`] from that peer. `more`: further requests
    /// are queued behind this one (see [`ClientRequest::more`]).
    pub fn forward(&mut self, leader: &str, request: RequestId, command: Command, more: bool) {
        self.forward_for(leader, None, request, command, more);
    }

    /// Sends `command` for client `session` to `leader` (`None`: as [`Raft::forward`]).
    pub fn forward_for(
        &mut self,
        leader: &str,
        session: Option<String>,
        request: RequestId,
        command: Command,
        more: bool,
    ) {
        self.send(
            leader,
            Message::ClientRequest(ClientRequest {
                session,
                request,
                command,
                more,
            }),
        );
    }

    pub(super) fn on_client_request(
        &mut self,
        from: &str,
        m: ClientRequest,
    ) -> Result<(), RaftError> {
        if self.role != Role::Leader {
            let outcome = ClientOutcome::NotLeader {
                leader_hint: self.leader.clone(),
            };
            self.send(
                from,
                Message::ClientResponse(ClientResponse {
                    session: m.session,
                    request: m.request,
                    outcome,
                }),
            );
            return Ok(());
        }
        let client = session_client(from, m.session.as_deref());
        let index = self.append_once(client, m.request, m.command)?;
        self.waiters.insert(
            index,
            Waiter::Remote(from.to_owned(), m.session, m.request, m.more),
        );
        self.maybe_commit()
    }

    /// Appends `command` for `request` of `client`, unless the log already holds that
    /// request in an entry not yet applied: then a retry waits for that entry. Without
    /// this, a leader that cannot commit for a while (lagging followers under Raft.js's
    /// pacing, a lost majority) appended one copy per retry, and a chaos run's log grew to
    /// fifty times its requests. Copies would still apply once (the sessions see to that);
    /// they only cost log, bandwidth and catch-up time.
    fn append_once(
        &mut self,
        client: String,
        request: RequestId,
        command: Command,
    ) -> Result<LogIndex, RaftError> {
        let copy = (self.last_applied + 1..=self.log.last_index())
            .rev()
            .find(|&i| {
                matches!(
                    self.log.get(i).map(|e| &e.kind),
                    Some(EntryKind::Command { client: c, request: r, .. })
                        if *c == client && *r == request
                )
            });
        match copy {
            Some(index) => Ok(index),
            None => self.append_new(EntryKind::Command {
                client,
                request,
                command,
            }),
        }
    }

    /// Delivers `outcome` to whoever waits for it.
    pub(super) fn answer(&mut self, waiter: Waiter, outcome: ClientOutcome) {
        match waiter {
            Waiter::Local(session, request) => self.out.replies.push(ClientReply {
                from: self.cfg.id.clone(),
                session,
                request,
                outcome,
            }),
            Waiter::Remote(peer, session, request, _) => {
                self.send(
                    &peer,
                    Message::ClientResponse(ClientResponse {
                        session,
                        request,
                        outcome,
                    }),
                );
            }
        }
    }

    /// Answers every waiting request `NotLeader` (on losing leadership).
    pub(super) fn fail_waiters(&mut self) {
        let waiters = std::mem::take(&mut self.waiters);
        for waiter in waiters.into_values() {
            let outcome = ClientOutcome::NotLeader {
                leader_hint: self.leader.clone(),
            };
            self.answer(waiter, outcome);
        }
    }
}
