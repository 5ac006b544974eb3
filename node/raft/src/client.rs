//! Client requests: proposals on the leader, forwarding, and answers.
//!
//! A proposal is answered when its entry is applied (with the result and the
//! index); a non-leader answers `NotLeader { leader_hint }`. A leader that
//! loses leadership answers its waiting requests `NotLeader` too: the entry may
//! still commit, so clients retry with the *same* request id and the state
//! machine's sessions make the retry apply at most once.

use crate::event::ClientReply;
use crate::{
    ClientOutcome, ClientRequest, ClientResponse, Command, EntryKind, LogIndex, Message, NodeId,
    Raft, RaftError, RequestId, Role, Storage, Waiter,
};

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
        if self.role != Role::Leader {
            return Err(ProposeError::NotLeader {
                leader_hint: self.leader.clone(),
            });
        }
        let client = self.cfg.id.clone();
        let index = self.append_new(EntryKind::Command {
            client,
            request,
            command,
        })?;
        self.waiters.insert(index, Waiter::Local(request));
        self.maybe_commit()?;
        Ok(index)
    }

    /// Sends `command` for this node's client session to `leader`; its answer
    /// arrives as a [`ClientReply`] from that peer. `more`: further requests
    /// are queued behind this one (see [`ClientRequest::more`]).
    pub fn forward(&mut self, leader: &str, request: RequestId, command: Command, more: bool) {
        self.send(
            leader,
            Message::ClientRequest(ClientRequest {
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
                    request: m.request,
                    outcome,
                }),
            );
            return Ok(());
        }
        let index = self.append_new(EntryKind::Command {
            client: from.to_owned(),
            request: m.request,
            command: m.command,
        })?;
        self.waiters
            .insert(index, Waiter::Remote(from.to_owned(), m.request, m.more));
        self.maybe_commit()
    }

    /// Delivers `outcome` to whoever waits for it.
    pub(super) fn answer(&mut self, waiter: Waiter, outcome: ClientOutcome) {
        match waiter {
            Waiter::Local(request) => self.out.replies.push(ClientReply {
                from: self.cfg.id.clone(),
                request,
                outcome,
            }),
            Waiter::Remote(peer, request, _) => {
                self.send(
                    &peer,
                    Message::ClientResponse(ClientResponse { request, outcome }),
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
