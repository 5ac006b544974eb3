//! The replicated state machine: the key-value store of the papers' chat.
//!
//! `seqAppend { key, count, value }` is the atomic append the chat used: the
//! client sends the count it last saw, and the value is appended only if nobody
//! appended since, so all nodes end with the same lines in the same order.
//!
//! Each client session (the originating node) remembers its latest request and
//! result, so a retried request is applied once and answered with the original
//! result (Raft dissertation, section 6.3). A session issues one request at a
//! time with increasing ids, as the chat client does.

use std::collections::BTreeMap;
use std::hash::Hash;

use serde::{Deserialize, Serialize};

use crate::hash::stable_hash;
use crate::message::{NodeId, RequestId};

/// A command a client asks the cluster to apply.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Command {
    /// Read a key (through the log, so the read is linearizable).
    Get {
        /// The key.
        key: String,
    },
    /// Store a text value.
    Set {
        /// The key.
        key: String,
        /// The value.
        value: String,
    },
    /// Store `to` at `key` if it holds the text `from` (compare-and-set).
    Cas {
        /// The key.
        key: String,
        /// The text it must hold.
        from: String,
        /// The text stored if it does.
        to: String,
    },
    /// Append `value` to the list at `key` if its count is still `count`.
    SeqAppend {
        /// The key.
        key: String,
        /// The count the client last saw.
        count: u64,
        /// The line to append.
        value: String,
    },
}

impl Command {
    /// The bytes of text it carries: keys and values.
    pub fn payload_bytes(&self) -> usize {
        match self {
            Command::Get { key } => key.len(),
            Command::Set { key, value } | Command::SeqAppend { key, value, .. } => {
                key.len() + value.len()
            }
            Command::Cas { key, from, to } => key.len() + from.len() + to.len(),
        }
    }
}

/// A stored value.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Value {
    /// Written by `set`.
    Text(String),
    /// Built by `seqAppend`: `count` is always `values.len()`.
    Seq {
        /// How many values were appended.
        count: u64,
        /// The values, in append order.
        values: Vec<String>,
    },
}

/// What applying a command returned.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CommandResult {
    /// A `get`: the value, if the key exists.
    Value(Option<Value>),
    /// A `set` was applied.
    Done,
    /// A `cas`: whether the key held `from` and now holds `to`.
    Swapped(bool),
    /// A `seqAppend`: whether it appended, and the stored count afterwards
    /// (the count to send next time).
    SeqAppended {
        /// `true` if `count` matched and the value was appended.
        appended: bool,
        /// The count now stored.
        count: u64,
    },
    /// A `seqAppend` on a key that holds text.
    WrongType,
    /// A request older than the session's latest; it was not applied.
    Stale,
}

/// The per-session memory that makes retries exactly-once.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Session {
    last_request: RequestId,
    last_result: CommandResult,
}

/// The key-value store every node applies committed commands to.
#[derive(Clone, Debug, Default)]
pub struct KvStore {
    data: BTreeMap<String, Value>,
    sessions: BTreeMap<NodeId, Session>,
}

impl KvStore {
    /// Applies `command` for `request` of session `client`, once.
    pub fn apply(&mut self, client: &str, request: RequestId, command: &Command) -> CommandResult {
        if let Some(session) = self.sessions.get(client) {
            if request == session.last_request {
                return session.last_result.clone();
            }
            if request < session.last_request {
                return CommandResult::Stale;
            }
        }
        let result = self.execute(command);
        self.sessions.insert(
            client.to_owned(),
            Session {
                last_request: request,
                last_result: result.clone(),
            },
        );
        result
    }

    fn execute(&mut self, command: &Command) -> CommandResult {
        match command {
            Command::Get { key } => CommandResult::Value(self.data.get(key).cloned()),
            Command::Set { key, value } => {
                self.data.insert(key.clone(), Value::Text(value.clone()));
                CommandResult::Done
            }
            Command::Cas { key, from, to } => match self.data.get_mut(key) {
                Some(Value::Text(held)) if held == from => {
                    to.clone_into(held);
                    CommandResult::Swapped(true)
                }
                _ => CommandResult::Swapped(false),
            },
            Command::SeqAppend { key, count, value } => {
                let slot = self.data.entry(key.clone()).or_insert(Value::Seq {
                    count: 0,
                    values: Vec::new(),
                });
                match slot {
                    Value::Text(_) => CommandResult::WrongType,
                    Value::Seq {
                        count: stored,
                        values,
                    } => {
                        if stored == count {
                            values.push(value.clone());
                            *stored += 1;
                            CommandResult::SeqAppended {
                                appended: true,
                                count: *stored,
                            }
                        } else {
                            CommandResult::SeqAppended {
                                appended: false,
                                count: *stored,
                            }
                        }
                    }
                }
            }
        }
    }

    /// The value at `key`, read locally (not linearizable).
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.data.get(key)
    }

    /// The lines appended at `key` (empty if none).
    pub fn seq(&self, key: &str) -> &[String] {
        match self.data.get(key) {
            Some(Value::Seq { values, .. }) => values,
            _ => &[],
        }
    }

    /// A deterministic hash of the data and sessions: equal on two nodes
    /// exactly when they applied the same commands.
    pub fn hash(&self) -> u64 {
        let data = self
            .data
            .iter()
            .fold(0, |h, (k, v)| stable_hash(h, &(k, v)));
        self.sessions
            .iter()
            .fold(data, |h, (k, s)| stable_hash(h, &(k, s)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seq_append(key: &str, count: u64, value: &str) -> Command {
        Command::SeqAppend {
            key: key.into(),
            count,
            value: value.into(),
        }
    }

    #[test]
    fn compare_and_set_swaps_only_from_the_text_held() {
        let mut kv = KvStore::default();
        let cas = |from: &str, to: &str| Command::Cas {
            key: "k".into(),
            from: from.into(),
            to: to.into(),
        };
        assert_eq!(
            kv.apply("a", 1, &cas("x", "y")),
            CommandResult::Swapped(false)
        );
        kv.apply(
            "a",
            2,
            &Command::Set {
                key: "k".into(),
                value: "x".into(),
            },
        );
        assert_eq!(
            kv.apply("a", 3, &cas("z", "y")),
            CommandResult::Swapped(false)
        );
        assert_eq!(
            kv.apply("a", 4, &cas("x", "y")),
            CommandResult::Swapped(true)
        );
        assert_eq!(kv.get("k"), Some(&Value::Text("y".into())));
        kv.apply("a", 5, &seq_append("list", 0, "l"));
        assert_eq!(
            kv.apply(
                "a",
                6,
                &Command::Cas {
                    key: "list".into(),
                    from: "l".into(),
                    to: "m".into()
                }
            ),
            CommandResult::Swapped(false)
        );
    }

    #[test]
    fn seq_append_creates_a_missing_key_at_count_zero() {
        let mut kv = KvStore::default();
        let r = kv.apply("a", 1, &seq_append("chat", 0, "hello"));
        assert_eq!(
            r,
            CommandResult::SeqAppended {
                appended: true,
                count: 1
            }
        );
        assert_eq!(kv.seq("chat"), ["hello"]);
    }

    #[test]
    fn seq_append_with_a_stale_count_changes_nothing_and_reports_the_count() {
        let mut kv = KvStore::default();
        kv.apply("a", 1, &seq_append("chat", 0, "one"));
        let r = kv.apply("b", 1, &seq_append("chat", 0, "two"));
        assert_eq!(
            r,
            CommandResult::SeqAppended {
                appended: false,
                count: 1
            }
        );
        assert_eq!(kv.seq("chat"), ["one"]);
        let r = kv.apply("b", 2, &seq_append("chat", 1, "two"));
        assert_eq!(
            r,
            CommandResult::SeqAppended {
                appended: true,
                count: 2
            }
        );
        assert_eq!(kv.seq("chat"), ["one", "two"]);
    }

    #[test]
    fn seq_append_on_missing_key_with_nonzero_count_fails_but_creates_it() {
        let mut kv = KvStore::default();
        let r = kv.apply("a", 1, &seq_append("k", 3, "x"));
        assert_eq!(
            r,
            CommandResult::SeqAppended {
                appended: false,
                count: 0
            }
        );
        assert_eq!(
            kv.get("k"),
            Some(&Value::Seq {
                count: 0,
                values: vec![]
            })
        );
    }

    #[test]
    fn seq_append_on_text_is_wrong_type() {
        let mut kv = KvStore::default();
        kv.apply(
            "a",
            1,
            &Command::Set {
                key: "k".into(),
                value: "v".into(),
            },
        );
        assert_eq!(
            kv.apply("a", 2, &seq_append("k", 0, "x")),
            CommandResult::WrongType
        );
    }

    #[test]
    fn a_retried_request_applies_once_and_returns_the_first_result() {
        let mut kv = KvStore::default();
        let first = kv.apply("a", 7, &seq_append("chat", 0, "hi"));
        let retry = kv.apply("a", 7, &seq_append("chat", 0, "hi"));
        assert_eq!(first, retry);
        assert_eq!(kv.seq("chat"), ["hi"]);
        assert_eq!(
            kv.apply("a", 6, &seq_append("chat", 1, "old")),
            CommandResult::Stale
        );
        assert_eq!(kv.seq("chat"), ["hi"]);
    }

    #[test]
    fn get_and_set_round_trip() {
        let mut kv = KvStore::default();
        assert_eq!(
            kv.apply("a", 1, &Command::Get { key: "k".into() }),
            CommandResult::Value(None)
        );
        kv.apply(
            "a",
            2,
            &Command::Set {
                key: "k".into(),
                value: "v".into(),
            },
        );
        assert_eq!(
            kv.apply("a", 3, &Command::Get { key: "k".into() }),
            CommandResult::Value(Some(Value::Text("v".into())))
        );
    }

    #[test]
    fn state_hash_is_equal_for_equal_histories_and_differs_otherwise() {
        let mut a = KvStore::default();
        let mut b = KvStore::default();
        for kv in [&mut a, &mut b] {
            kv.apply("n", 1, &seq_append("chat", 0, "x"));
        }
        assert_eq!(a.hash(), b.hash());
        b.apply("n", 2, &seq_append("chat", 1, "y"));
        assert_ne!(a.hash(), b.hash());
    }
}
