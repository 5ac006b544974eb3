//! A chaos run's history: one JSON line per invocation and per completion.
//!
//! ```text
//! {"type":"invoke","id":7,"client":2,"node":"n1","t_ns":1200,"op":{"f":"cas","key":"k3","from":"4","to":"5"}}
//! {"type":"ok","id":7,"t_ns":5300}
//! {"type":"info","id":8,"t_ns":9100,"error":"timed out"}
//! ```
//!
//! A completion is `ok` (it happened, with its result), `fail` (it is known not to have
//! happened: refused before it reached the log, or a compare-and-set whose expected value
//! was not there) or `info` (unknown: it timed out, or its node died). Times are the bench's
//! monotonic clock in nanoseconds. An operation invoked and never completed (the run ended)
//! reads as `info`.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// What an operation asked of the state machine.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "f", rename_all = "snake_case")]
pub enum OpKind {
    /// Write `value` to register `key`.
    Set {
        /// The register.
        key: String,
        /// The value written.
        value: String,
    },
    /// Read register `key` (linearizable: through the log).
    Get {
        /// The register.
        key: String,
    },
    /// Write `to` to register `key` if it holds `from`.
    Cas {
        /// The register.
        key: String,
        /// The value it must hold.
        from: String,
        /// The value written if it does.
        to: String,
    },
    /// Append a chat line (the papers' `seqAppend`).
    Append {
        /// The line, unique in the run.
        line: String,
    },
}

impl OpKind {
    /// The register this operation acts on (`None` for a chat line).
    pub fn key(&self) -> Option<&str> {
        match self {
            OpKind::Set { key, .. } | OpKind::Get { key } | OpKind::Cas { key, .. } => Some(key),
            OpKind::Append { .. } => None,
        }
    }
}

/// One line of the history file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Record {
    /// A client sent an operation.
    Invoke {
        /// Unique in the run.
        id: u64,
        /// The client worker.
        client: u32,
        /// The node it was sent to.
        node: String,
        /// When it was sent.
        t_ns: u64,
        /// What it asked.
        op: OpKind,
    },
    /// It happened; a read carries the value it read (`null`: the register was empty).
    Ok {
        /// The operation.
        id: u64,
        /// When the answer arrived.
        t_ns: u64,
        /// What a `get` read.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        value: Option<String>,
    },
    /// It is known not to have happened.
    Fail {
        /// The operation.
        id: u64,
        /// When that was known.
        t_ns: u64,
        /// Why.
        error: String,
    },
    /// Whether it happened is unknown.
    Info {
        /// The operation.
        id: u64,
        /// When the client gave up on it.
        t_ns: u64,
        /// Why.
        error: String,
    },
}

/// How an operation ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Completion {
    /// It happened; `value` is what a `get` read.
    Ok {
        /// The value read (`None` for an empty register, and for writes).
        value: Option<String>,
    },
    /// It did not happen.
    Fail,
    /// Unknown: it may have happened at any time after its invocation, or never.
    Info,
}

/// One operation, invocation and completion together.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Op {
    /// Unique in the run.
    pub id: u64,
    /// The client worker.
    pub client: u32,
    /// The node it went to.
    pub node: String,
    /// What it asked.
    pub kind: OpKind,
    /// When it was invoked.
    pub invoke_ns: u64,
    /// When it completed (`None` for `info`: it may take effect any time after).
    pub complete_ns: Option<u64>,
    /// How it completed.
    pub completion: Completion,
}

/// A history that cannot be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HistoryError {
    /// A line is not a record.
    #[error("line {line}: {reason}")]
    Malformed {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// Two invocations share an id.
    #[error("line {line}: operation {id} invoked twice")]
    DuplicateId {
        /// 1-based line number.
        line: usize,
        /// The id.
        id: u64,
    },
    /// A completion of nothing invoked, or a second completion.
    #[error("line {line}: completion of operation {id}, which is not awaiting one")]
    StrayCompletion {
        /// 1-based line number.
        line: usize,
        /// The id.
        id: u64,
    },
    /// An operation completed before it was invoked.
    #[error(
        "operation {id} completed at {complete_ns} ns, before its invocation at {invoke_ns} ns"
    )]
    CompletedBeforeInvoked {
        /// The id.
        id: u64,
        /// Its invocation.
        invoke_ns: u64,
        /// Its completion.
        complete_ns: u64,
    },
}

/// Every operation of a run, in invocation order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct History {
    /// The operations.
    pub ops: Vec<Op>,
}

impl History {
    /// Builds the history from its records, in file order.
    pub fn from_records(records: impl IntoIterator<Item = Record>) -> Result<Self, HistoryError> {
        let mut ops: Vec<Op> = Vec::new();
        let mut open: BTreeMap<u64, usize> = BTreeMap::new();
        let mut seen: BTreeSet<u64> = BTreeSet::new();
        for (n, record) in records.into_iter().enumerate() {
            let line = n + 1;
            let (id, t_ns, completion) = match record {
                Record::Invoke {
                    id,
                    client,
                    node,
                    t_ns,
                    op,
                } => {
                    if !seen.insert(id) {
                        return Err(HistoryError::DuplicateId { line, id });
                    }
                    open.insert(id, ops.len());
                    ops.push(Op {
                        id,
                        client,
                        node,
                        kind: op,
                        invoke_ns: t_ns,
                        complete_ns: None,
                        completion: Completion::Info,
                    });
                    continue;
                }
                Record::Ok { id, t_ns, value } => (id, t_ns, Completion::Ok { value }),
                Record::Fail { id, t_ns, .. } => (id, t_ns, Completion::Fail),
                Record::Info { id, t_ns, .. } => (id, t_ns, Completion::Info),
            };
            let at = open
                .remove(&id)
                .ok_or(HistoryError::StrayCompletion { line, id })?;
            let op = &mut ops[at];
            if t_ns < op.invoke_ns {
                return Err(HistoryError::CompletedBeforeInvoked {
                    id,
                    invoke_ns: op.invoke_ns,
                    complete_ns: t_ns,
                });
            }
            if completion != Completion::Info {
                op.complete_ns = Some(t_ns);
            }
            op.completion = completion;
        }
        Ok(History { ops })
    }

    /// Parses a history file's text: one JSON record per line (blank lines are skipped).
    pub fn parse(text: &str) -> Result<Self, HistoryError> {
        let mut records = Vec::new();
        for (n, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let record = serde_json::from_str(line).map_err(|e| HistoryError::Malformed {
                line: n + 1,
                reason: e.to_string(),
            })?;
            records.push(record);
        }
        Self::from_records(records)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_pair_into_operations_and_unfinished_ones_are_info() {
        let text = r#"
{"type":"invoke","id":1,"client":0,"node":"n0","t_ns":10,"op":{"f":"set","key":"k","value":"a"}}
{"type":"invoke","id":2,"client":1,"node":"n1","t_ns":11,"op":{"f":"get","key":"k"}}
{"type":"ok","id":1,"t_ns":20}
{"type":"ok","id":2,"t_ns":25,"value":"a"}
{"type":"invoke","id":3,"client":0,"node":"n0","t_ns":30,"op":{"f":"cas","key":"k","from":"a","to":"b"}}
"#;
        let h = History::parse(text).unwrap();
        assert_eq!(h.ops.len(), 3);
        assert_eq!(
            h.ops[1].completion,
            Completion::Ok {
                value: Some("a".into())
            }
        );
        assert_eq!(h.ops[1].complete_ns, Some(25));
        assert_eq!(h.ops[2].completion, Completion::Info);
        assert_eq!(h.ops[2].complete_ns, None);
    }

    #[test]
    fn bad_histories_are_refused_with_the_line() {
        let invoke = |id| Record::Invoke {
            id,
            client: 0,
            node: "n0".into(),
            t_ns: 5,
            op: OpKind::Get { key: "k".into() },
        };
        let ok = |id, t_ns| Record::Ok {
            id,
            t_ns,
            value: None,
        };
        assert_eq!(
            History::from_records([invoke(1), invoke(1)]),
            Err(HistoryError::DuplicateId { line: 2, id: 1 })
        );
        assert_eq!(
            History::from_records([invoke(1), ok(1, 6), ok(1, 7)]),
            Err(HistoryError::StrayCompletion { line: 3, id: 1 })
        );
        assert!(matches!(
            History::from_records([invoke(1), ok(1, 4)]),
            Err(HistoryError::CompletedBeforeInvoked { id: 1, .. })
        ));
        let e = History::parse("{\"type\":\"ok\"}\n").unwrap_err();
        assert!(matches!(e, HistoryError::Malformed { line: 1, .. }), "{e}");
    }
}
