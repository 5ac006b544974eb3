//! Applying committed entries, in order, to the state machine.

use crate::{ClientOutcome, EntryKind, Event, Raft, RaftError, Role, Storage};

impl<S: Storage> Raft<S> {
    /// Applies every committed entry not applied yet, emitting events and
    /// answering the clients waiting on them.
    pub(super) fn apply_committed(&mut self) -> Result<(), RaftError> {
        while self.last_applied < self.commit_index {
            let index = self.last_applied + 1;
            let Some(entry) = self.log.get(index).cloned() else {
                break;
            };
            self.last_applied = index;
            let result = match &entry.kind {
                EntryKind::Noop => None,
                EntryKind::Command {
                    client,
                    request,
                    command,
                } => Some(self.state.apply(client, *request, command)),
                EntryKind::Membership(change) => {
                    self.applied_members = change.members.clone();
                    self.emit(Event::ConfigurationApplied {
                        index,
                        members: change.members.iter().cloned().collect(),
                    });
                    None
                }
            };
            self.emit(Event::EntryApplied {
                index,
                term: entry.term,
                result: result.clone(),
            });
            if let Some(waiter) = self.waiters.remove(&index) {
                if let Some(result) = result {
                    self.answer(waiter, ClientOutcome::Applied { index, result });
                }
            }
            if let EntryKind::Membership(change) = &entry.kind {
                if self.role == Role::Leader && !change.members.contains(&self.cfg.id) {
                    let term = self.term;
                    self.become_follower(term, None)?;
                }
            }
        }
        Ok(())
    }
}
