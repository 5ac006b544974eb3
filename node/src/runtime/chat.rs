//! The papers' chat client: ordered lines, one `seqAppend` in flight.
//!
//! Each line is sent as `seqAppend { key: "chat", count, value }` with the
//! last count this client saw, to the leader (locally when this node leads,
//! else forwarded over the data channel). A count mismatch means someone
//! else's line got in first: take the returned count and send again (a new
//! request id). `NotLeader` or silence: send the *same* request again to the
//! (hinted) leader, and the state machine's session applies it at most once.
//! A line is done when it is applied on this node; a `submit` completes when
//! all its lines are.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use raftrtc_raft::{
    ClientOutcome, ClientReply, Command, CommandResult, LogIndex, ProposeError, Raft, RequestId,
    Role, Storage,
};
use tokio::sync::oneshot;

use crate::control::protocol::{Response, Submitted};

/// The key the chat appends to.
pub const CHAT_KEY: &str = "chat";

struct Line {
    text: String,
    submit: u64,
}

struct InFlight {
    line: Line,
    request: RequestId,
    count: u64,
    sent: Option<Instant>,
}

struct Submit {
    id: u64,
    remaining: usize,
    lines: usize,
    last_index: LogIndex,
    started: Instant,
    reply: oneshot::Sender<Response>,
}

/// The chat client of one node.
pub struct ChatClient {
    queue: VecDeque<Line>,
    inflight: Option<InFlight>,
    /// Lines committed at an index, waiting to be applied here.
    committed: VecDeque<(LogIndex, u64)>,
    submits: Vec<Submit>,
    next_submit: u64,
    next_request: RequestId,
    last_count: u64,
    retry_after: Duration,
}

impl ChatClient {
    /// A client whose request ids start at `first_request` (unique per
    /// process start, so a restarted node never reuses an old id) and that
    /// resends after `retry_after` of silence.
    pub fn new(first_request: RequestId, retry_after: Duration) -> Self {
        Self {
            queue: VecDeque::new(),
            inflight: None,
            committed: VecDeque::new(),
            submits: Vec::new(),
            next_submit: 0,
            next_request: first_request,
            last_count: 0,
            retry_after,
        }
    }

    /// Queues `lines`; `reply` is answered when all are applied here.
    pub fn submit(&mut self, lines: Vec<String>, reply: oneshot::Sender<Response>) {
        if lines.is_empty() {
            let _ = reply.send(Response::error(None, "submit needs at least one line"));
            return;
        }
        if let Some(long) = lines
            .iter()
            .find(|l| l.len() > super::config::MAX_CHAT_LINE_BYTES)
        {
            let _ = reply.send(Response::error(
                None,
                format!(
                    "a line of {} bytes exceeds the limit of {}",
                    long.len(),
                    super::config::MAX_CHAT_LINE_BYTES
                ),
            ));
            return;
        }
        self.next_submit += 1;
        let id = self.next_submit;
        self.submits.push(Submit {
            id,
            remaining: lines.len(),
            lines: lines.len(),
            last_index: 0,
            started: Instant::now(),
            reply,
        });
        self.queue
            .extend(lines.into_iter().map(|text| Line { text, submit: id }));
    }

    /// When the in-flight request should be resent, if one is waiting.
    pub fn deadline(&self) -> Option<Instant> {
        self.inflight
            .as_ref()
            .and_then(|f| f.sent)
            .map(|s| s + self.retry_after)
    }

    /// Sends the next line, or resends the in-flight one if it is unsent or
    /// overdue. Call after every change (leader known, reply, timer).
    pub fn pump<S: Storage>(&mut self, raft: &mut Raft<S>, now: Instant) {
        if self.inflight.is_none() {
            let Some(line) = self.queue.pop_front() else {
                return;
            };
            self.next_request += 1;
            self.inflight = Some(InFlight {
                line,
                request: self.next_request,
                count: self.last_count,
                sent: None,
            });
        }
        let Some(f) = self.inflight.as_mut() else {
            return;
        };
        if f.sent.is_some_and(|s| now < s + self.retry_after) {
            return;
        }
        let command = Command::SeqAppend {
            key: CHAT_KEY.into(),
            count: f.count,
            value: f.line.text.clone(),
        };
        if raft.role() == Role::Leader {
            match raft.propose(f.request, command) {
                Ok(_) => f.sent = Some(now),
                Err(ProposeError::NotLeader { .. }) => f.sent = None,
                Err(ProposeError::Raft(e)) => {
                    tracing::error!("chat proposal failed: {e}");
                    f.sent = Some(now);
                }
            }
        } else if let Some(leader) = raft.leader().map(str::to_owned) {
            let more = !self.queue.is_empty();
            raft.forward(&leader, f.request, command, more);
            f.sent = Some(now);
        } else {
            // No leader known: wait for one (pump runs on leader changes).
            f.sent = None;
        }
    }

    /// Takes a reply to one of this client's requests.
    pub fn on_reply(&mut self, reply: &ClientReply) {
        // Replies for the sessions the node serves are the ops client's.
        if reply.session.is_some() {
            return;
        }
        let Some(f) = self.inflight.as_mut() else {
            return;
        };
        if f.request != reply.request {
            return;
        }
        match &reply.outcome {
            ClientOutcome::Applied { index, result } => match result {
                CommandResult::SeqAppended {
                    appended: true,
                    count,
                } => {
                    self.last_count = *count;
                    if let Some(f) = self.inflight.take() {
                        self.committed.push_back((*index, f.line.submit));
                    }
                }
                CommandResult::SeqAppended {
                    appended: false,
                    count,
                } => {
                    // Someone else appended first: retry with their count.
                    self.last_count = *count;
                    self.next_request += 1;
                    f.request = self.next_request;
                    f.count = *count;
                    f.sent = None;
                }
                other => {
                    let msg = format!("chat append failed: {other:?}");
                    if let Some(f) = self.inflight.take() {
                        self.fail_submit(f.line.submit, msg);
                    }
                }
            },
            ClientOutcome::NotLeader { .. } => f.sent = None,
        }
    }

    /// Completes lines applied up to `last_applied` (and their submits).
    pub fn on_applied(&mut self, last_applied: LogIndex) {
        while let Some(&(index, submit)) = self.committed.front() {
            if index > last_applied {
                break;
            }
            self.committed.pop_front();
            if let Some(pos) = self.submits.iter().position(|s| s.id == submit) {
                let s = &mut self.submits[pos];
                s.remaining -= 1;
                s.last_index = s.last_index.max(index);
                if s.remaining == 0 {
                    let s = self.submits.remove(pos);
                    let mut response = Response::ok(None);
                    response.submitted = Some(Submitted {
                        lines: s.lines,
                        last_index: s.last_index,
                        elapsed_ms: s.started.elapsed().as_secs_f64() * 1000.0,
                    });
                    let _ = s.reply.send(response);
                }
            }
        }
    }

    /// Answers every pending submit with `msg` (the node is stopping) and
    /// forgets their lines.
    pub fn fail_all(&mut self, msg: &str) {
        self.queue.clear();
        self.inflight = None;
        self.committed.clear();
        for s in self.submits.drain(..) {
            let _ = s.reply.send(Response::error(None, msg));
        }
    }

    fn fail_submit(&mut self, submit: u64, msg: String) {
        self.queue.retain(|l| l.submit != submit);
        if let Some(pos) = self.submits.iter().position(|s| s.id == submit) {
            let s = self.submits.remove(pos);
            let _ = s.reply.send(Response::error(None, msg));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stopping_node_answers_pending_submits_with_its_reason() {
        let mut chat = ChatClient::new(1, Duration::from_millis(100));
        let (reply, mut answer) = oneshot::channel();
        chat.submit(vec!["a".into(), "b".into()], reply);
        chat.fail_all("the node stopped: storage: disk full");
        let response = answer.try_recv().expect("answered at once");
        assert!(!response.ok);
        assert_eq!(
            response.error.as_deref(),
            Some("the node stopped: storage: disk full")
        );
        assert_eq!(chat.deadline(), None, "nothing left in flight");
    }
}
