//! Linearizability of the registers: could every key's operations have taken effect one at
//! a time, each at some instant between its invocation and its completion, on one register?
//!
//! The search is Wing and Gong's, with Lowe's just-in-time linearization: walk the
//! invocation and completion events in time order; at an invocation, try to let that
//! operation take effect now (the register's rules must allow its result), and go on; on
//! reaching the completion of an operation that has not taken effect, undo the latest
//! choice and try the next candidate. Memoising every (set of operations taken effect,
//! register value) reached prunes the search to what is new. As Porcupine does, the history
//! is split per key first (P-compositionality: a history is linearizable exactly when each
//! key's is), so each search is small.
//!
//! Failed operations (known not to have happened) are left out. An operation whose outcome
//! is unknown (`info`) has no completion: it may take effect at any time after its
//! invocation, or, by taking effect after everything else, in effect never.

use std::collections::{BTreeMap, HashSet};

use crate::history::{Completion, History, Op, OpKind};

/// Steps one key's search may take before it is given up as undecided.
pub const DEFAULT_BUDGET: u64 = 5_000_000;

/// Why one key's history is not linearizable: the furthest the search got.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The register.
    pub key: String,
    /// How many of its operations could be ordered, at best.
    pub linearized: usize,
    /// How many it has (failed ones left out).
    pub of: usize,
    /// The register's value after those.
    pub value: Option<String>,
    /// The operation that could not take effect before its completion from there.
    pub stuck: Op,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let op = &self.stuck;
        write!(
            f,
            "key {:?}: {} of {} operations ordered, the register then holding {:?}; operation {} \
             (client {}, at {}, {:?} → {:?}, invoked {} ns, completed {:?} ns) cannot take effect",
            self.key,
            self.linearized,
            self.of,
            self.value,
            op.id,
            op.client,
            op.node,
            op.kind,
            op.completion,
            op.invoke_ns,
            op.complete_ns
        )
    }
}

/// The verdict on every register of a history.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LinVerdict {
    /// Registers checked.
    pub keys: usize,
    /// Operations checked (failed ones left out).
    pub ops: usize,
    /// Registers whose history is not linearizable, with the evidence.
    pub violations: Vec<Violation>,
    /// Registers whose search ran out of budget: neither proven nor refuted.
    pub undecided: Vec<String>,
}

impl LinVerdict {
    /// Whether every register was proven linearizable.
    pub fn ok(&self) -> bool {
        self.violations.is_empty() && self.undecided.is_empty()
    }
}

/// Checks every register of `history`, each with at most `budget` search steps.
pub fn check_registers(history: &History, budget: u64) -> LinVerdict {
    let mut by_key: BTreeMap<&str, Vec<&Op>> = BTreeMap::new();
    for op in &history.ops {
        if op.completion == Completion::Fail {
            continue;
        }
        if let Some(key) = op.kind.key() {
            by_key.entry(key).or_default().push(op);
        }
    }
    let mut verdict = LinVerdict {
        keys: by_key.len(),
        ..LinVerdict::default()
    };
    for (key, ops) in by_key {
        verdict.ops += ops.len();
        match Search::new(&ops).run(budget) {
            Outcome::Linearizable => {}
            Outcome::Undecided => verdict.undecided.push(key.to_owned()),
            Outcome::Violated {
                linearized,
                value,
                stuck,
            } => verdict.violations.push(Violation {
                key: key.to_owned(),
                linearized,
                of: ops.len(),
                value,
                stuck: ops[stuck].clone(),
            }),
        }
    }
    verdict
}

/// The register's rule: the value after `op` takes effect on `value`, or `None` if its
/// recorded result is impossible there.
fn step(value: &Option<String>, op: &Op) -> Option<Option<String>> {
    let unknown = op.completion == Completion::Info;
    match &op.kind {
        OpKind::Set { value: v, .. } => Some(Some(v.clone())),
        OpKind::Get { .. } => match &op.completion {
            Completion::Ok { value: read } if read != value => None,
            _ => Some(value.clone()),
        },
        OpKind::Cas { from, to, .. } => {
            if value.as_deref() == Some(from.as_str()) {
                Some(Some(to.clone()))
            } else if unknown {
                // Took effect where it could not swap: changed nothing.
                Some(value.clone())
            } else {
                None
            }
        }
        // Chat lines are not registers; `check_registers` never passes one.
        OpKind::Append { .. } => None,
    }
}

enum Outcome {
    Linearizable,
    Undecided,
    Violated {
        linearized: usize,
        value: Option<String>,
        stuck: usize,
    },
}

/// One event of the walk: an invocation or a completion of operation `op`.
#[derive(Clone, Copy)]
struct Event {
    op: usize,
    call: bool,
    /// For an invocation, the index of its completion event.
    partner: usize,
}

/// The search over one key's operations. Events form a doubly linked list (index 0 is the
/// head) from which an operation's two events are lifted when it takes effect and put back
/// when that choice is undone.
struct Search<'a> {
    ops: &'a [&'a Op],
    events: Vec<Event>,
    next: Vec<usize>,
    prev: Vec<usize>,
}

const END: usize = usize::MAX;

impl<'a> Search<'a> {
    fn new(ops: &'a [&'a Op]) -> Self {
        // (time, completions after invocations at the same instant: equal times overlap).
        let mut order: Vec<(u64, bool, usize)> = Vec::with_capacity(ops.len() * 2);
        for (i, op) in ops.iter().enumerate() {
            order.push((op.invoke_ns, false, i));
            order.push((op.complete_ns.unwrap_or(u64::MAX), true, i));
        }
        order.sort_unstable();
        let mut events = vec![Event {
            op: 0,
            call: false,
            partner: 0,
        }];
        let mut call_at = vec![0; ops.len()];
        for &(_, is_return, i) in &order {
            let at = events.len();
            events.push(Event {
                op: i,
                call: !is_return,
                partner: 0,
            });
            if is_return {
                events[call_at[i]].partner = at;
            } else {
                call_at[i] = at;
            }
        }
        let n = events.len();
        let next = (0..n)
            .map(|i| if i + 1 < n { i + 1 } else { END })
            .collect();
        let prev = (0..n).map(|i| i.wrapping_sub(1)).collect();
        Search {
            ops,
            events,
            next,
            prev,
        }
    }

    fn unlink(&mut self, e: usize) {
        let (p, n) = (self.prev[e], self.next[e]);
        self.next[p] = n;
        if n != END {
            self.prev[n] = p;
        }
    }

    fn relink(&mut self, e: usize) {
        let (p, n) = (self.prev[e], self.next[e]);
        self.next[p] = e;
        if n != END {
            self.prev[n] = e;
        }
    }

    fn run(mut self, budget: u64) -> Outcome {
        let words = self.ops.len().div_ceil(64);
        let mut taken = vec![0u64; words];
        let mut value: Option<String> = None;
        let mut seen: HashSet<(Vec<u64>, Option<String>)> = HashSet::new();
        let mut stack: Vec<(usize, Option<String>)> = Vec::new();
        let mut best: Option<(usize, Option<String>, usize)> = None;
        let mut entry = self.next[0];
        let mut steps = 0u64;
        while self.next[0] != END {
            steps += 1;
            if steps > budget {
                return Outcome::Undecided;
            }
            if entry == END {
                // Only completions of `info` operations can be left at the end; they were
                // skipped because their effect was a repeat: undo and look on.
                let Some((e, before)) = stack.pop() else {
                    break;
                };
                entry = self.undo(e, &mut taken, &mut value, before);
                continue;
            }
            let ev = self.events[entry];
            if ev.call {
                let op = self.ops[ev.op];
                if let Some(after) = step(&value, op) {
                    let mut with = taken.clone();
                    with[ev.op / 64] |= 1 << (ev.op % 64);
                    if seen.insert((with.clone(), after.clone())) {
                        stack.push((entry, std::mem::replace(&mut value, after)));
                        taken = with;
                        self.unlink(entry);
                        self.unlink(ev.partner);
                        entry = self.next[0];
                        continue;
                    }
                }
                entry = self.next[entry];
            } else {
                if best.as_ref().is_none_or(|(n, _, _)| stack.len() > *n) {
                    best = Some((stack.len(), value.clone(), ev.op));
                }
                let Some((e, before)) = stack.pop() else {
                    break;
                };
                entry = self.undo(e, &mut taken, &mut value, before);
            }
        }
        if self.next[0] == END {
            return Outcome::Linearizable;
        }
        let (linearized, value, stuck) = best.unwrap_or((0, None, 0));
        Outcome::Violated {
            linearized,
            value,
            stuck,
        }
    }

    /// Undoes the choice of the invocation at `e`: its events go back, the register gets
    /// `before` back; returns where the walk resumes (after `e`).
    fn undo(
        &mut self,
        e: usize,
        taken: &mut [u64],
        value: &mut Option<String>,
        before: Option<String>,
    ) -> usize {
        let ev = self.events[e];
        self.relink(ev.partner);
        self.relink(e);
        taken[ev.op / 64] &= !(1 << (ev.op % 64));
        *value = before;
        self.next[e]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A history written as `(client, op, result, invoke, complete)`; `complete` `None` is
    /// `info`.
    fn history(ops: &[(u32, OpKind, Completion, u64, Option<u64>)]) -> History {
        History {
            ops: ops
                .iter()
                .enumerate()
                .map(
                    |(i, (client, kind, completion, invoke_ns, complete_ns))| Op {
                        id: i as u64,
                        client: *client,
                        node: "n0".into(),
                        kind: kind.clone(),
                        invoke_ns: *invoke_ns,
                        complete_ns: *complete_ns,
                        completion: completion.clone(),
                    },
                )
                .collect(),
        }
    }

    fn set(v: &str) -> OpKind {
        OpKind::Set {
            key: "k".into(),
            value: v.into(),
        }
    }
    fn get() -> OpKind {
        OpKind::Get { key: "k".into() }
    }
    fn cas(from: &str, to: &str) -> OpKind {
        OpKind::Cas {
            key: "k".into(),
            from: from.into(),
            to: to.into(),
        }
    }
    fn ok() -> Completion {
        Completion::Ok { value: None }
    }
    fn read(v: Option<&str>) -> Completion {
        Completion::Ok {
            value: v.map(str::to_owned),
        }
    }

    fn verdict(ops: &[(u32, OpKind, Completion, u64, Option<u64>)]) -> LinVerdict {
        check_registers(&history(ops), DEFAULT_BUDGET)
    }

    #[test]
    fn a_read_concurrent_with_a_write_may_see_either_value() {
        for seen in [None, Some("1")] {
            let v = verdict(&[
                (0, set("1"), ok(), 0, Some(10)),
                (1, get(), read(seen), 5, Some(8)),
            ]);
            assert!(v.ok(), "{seen:?}: {v:?}");
        }
    }

    #[test]
    fn a_stale_read_after_a_completed_write_is_a_violation_with_evidence() {
        let v = verdict(&[
            (0, set("1"), ok(), 0, Some(10)),
            (0, set("2"), ok(), 20, Some(30)),
            (1, get(), read(Some("1")), 40, Some(50)),
        ]);
        assert_eq!(v.violations.len(), 1, "{v:?}");
        let evidence = &v.violations[0];
        assert_eq!(evidence.stuck.id, 2, "the read is what cannot be placed");
        assert_eq!(evidence.value.as_deref(), Some("2"));
        assert!(evidence.to_string().contains("cannot take effect"));
    }

    #[test]
    fn porcupines_register_examples_hold_and_fail_as_published() {
        // C0 put 100 over [0,100]; C1 get → 100 over [25,75]; C2 get → 0 (empty) over
        // [30,60]: the empty read comes first, then the write, then the other read.
        let good = verdict(&[
            (0, set("100"), ok(), 0, Some(100)),
            (1, get(), read(Some("100")), 25, Some(75)),
            (2, get(), read(None), 30, Some(60)),
        ]);
        assert!(good.ok(), "{good:?}");
        // The same with the empty read after the other completed: impossible.
        let bad = verdict(&[
            (0, set("100"), ok(), 0, Some(100)),
            (1, get(), read(Some("100")), 25, Some(75)),
            (2, get(), read(None), 80, Some(90)),
        ]);
        assert!(!bad.ok());
    }

    #[test]
    fn compare_and_set_swaps_only_from_the_value_held() {
        let good = verdict(&[
            (0, set("a"), ok(), 0, Some(1)),
            (1, cas("a", "b"), ok(), 2, Some(3)),
            (0, get(), read(Some("b")), 4, Some(5)),
        ]);
        assert!(good.ok(), "{good:?}");
        let two_winners = verdict(&[
            (0, set("a"), ok(), 0, Some(1)),
            (1, cas("a", "b"), ok(), 2, Some(10)),
            (2, cas("a", "c"), ok(), 2, Some(10)),
        ]);
        assert!(!two_winners.ok(), "both swapped from a: {two_winners:?}");
    }

    #[test]
    fn an_unknown_write_may_have_happened_or_not() {
        for seen in [Some("a"), Some("b")] {
            let v = verdict(&[
                (0, set("a"), ok(), 0, Some(1)),
                (1, set("b"), Completion::Info, 2, None),
                (0, get(), read(seen), 10, Some(11)),
            ]);
            assert!(v.ok(), "{seen:?}: {v:?}");
        }
        // But not before it was invoked.
        let v = verdict(&[
            (0, set("a"), ok(), 0, Some(1)),
            (0, get(), read(Some("b")), 2, Some(3)),
            (1, set("b"), Completion::Info, 10, None),
        ]);
        assert!(!v.ok());
    }

    #[test]
    fn failed_operations_are_left_out_and_keys_are_checked_apart() {
        let other = OpKind::Set {
            key: "j".into(),
            value: "x".into(),
        };
        let v = verdict(&[
            (0, set("a"), ok(), 0, Some(1)),
            (1, set("z"), Completion::Fail, 2, Some(3)),
            (2, other, ok(), 2, Some(3)),
            (0, get(), read(Some("a")), 4, Some(5)),
        ]);
        assert!(v.ok(), "{v:?}");
        assert_eq!((v.keys, v.ops), (2, 3));
    }

    #[test]
    fn a_long_sequential_history_is_checked_quickly_and_a_tiny_budget_says_undecided() {
        let mut ops = Vec::new();
        for i in 0..2000u64 {
            let v = i.to_string();
            ops.push((0, set(&v), ok(), i * 10, Some(i * 10 + 3)));
            ops.push((1, get(), read(Some(&v)), i * 10 + 4, Some(i * 10 + 6)));
        }
        assert!(verdict(&ops).ok());
        let v = check_registers(&history(&ops), 10);
        assert_eq!(v.undecided, vec!["k".to_string()]);
        assert!(!v.ok());
    }
}
