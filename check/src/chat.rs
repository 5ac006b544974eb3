//! The chat's checker: every acknowledged line present exactly once, in one order on every
//! node, that order consistent with real time for acknowledged lines, and no line that was
//! never submitted (or that is known not to have been appended).
//!
//! It reads the history's `append` operations and each node's final chat, as read from the
//! node itself after the run. Nodes may lag (a restarted node still catching up), so one
//! node's chat must be a prefix of another's, not equal to it; whether every node caught up
//! is the convergence check's question. An acknowledged line missing from the longest chat
//! is a lost write: the durability figure.

use std::collections::{BTreeMap, HashMap};

use crate::history::{Completion, History, OpKind};

/// What the chat checker found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChatVerdict {
    /// Lines acknowledged to their clients.
    pub acknowledged: usize,
    /// Acknowledged lines missing from the longest chat: lost writes.
    pub lost: Vec<String>,
    /// Lines present more than once in some node's chat, with the node.
    pub duplicated: Vec<(String, String)>,
    /// Lines in some chat that no client submitted, or whose append is known to have failed.
    pub unexpected: Vec<(String, String)>,
    /// Two nodes whose chats differ at an index both have: `(node, node, index)`.
    pub diverged: Option<(String, String, usize)>,
    /// Acknowledged lines in the wrong order for real time: `(earlier, later)` where
    /// `earlier` completed before `later` was invoked, yet `later` comes first.
    pub reordered: Vec<(String, String)>,
}

impl ChatVerdict {
    /// Whether nothing was found.
    pub fn ok(&self) -> bool {
        self.lost.is_empty()
            && self.duplicated.is_empty()
            && self.unexpected.is_empty()
            && self.diverged.is_none()
            && self.reordered.is_empty()
    }
}

/// Checks the chats `chats` (node → its lines in order) against `history`.
pub fn check_chat(history: &History, chats: &BTreeMap<String, Vec<String>>) -> ChatVerdict {
    let mut verdict = ChatVerdict::default();
    // Line → (completion, invoke, complete).
    let mut submitted: HashMap<&str, (&Completion, u64, Option<u64>)> = HashMap::new();
    for op in &history.ops {
        if let OpKind::Append { line } = &op.kind {
            submitted.insert(line, (&op.completion, op.invoke_ns, op.complete_ns));
        }
    }
    for (node, chat) in chats {
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for line in chat {
            *seen.entry(line).or_default() += 1;
            let known = submitted
                .get(line.as_str())
                .is_some_and(|(c, _, _)| **c != Completion::Fail);
            if !known {
                verdict.unexpected.push((node.clone(), line.clone()));
            }
        }
        for (line, n) in seen {
            if n > 1 {
                verdict.duplicated.push((node.clone(), line.to_owned()));
            }
        }
    }
    verdict.diverged = divergence(chats);
    let longest = chats
        .values()
        .max_by_key(|c| c.len())
        .cloned()
        .unwrap_or_default();
    let position: HashMap<&str, usize> = longest
        .iter()
        .enumerate()
        .map(|(i, l)| (l.as_str(), i))
        .collect();
    let mut acked: Vec<(&str, u64, u64)> = Vec::new();
    for (line, (completion, invoke, complete)) in &submitted {
        if let (Completion::Ok { .. }, Some(done)) = (completion, complete) {
            verdict.acknowledged += 1;
            if position.contains_key(line) {
                acked.push((*line, *invoke, *done));
            } else {
                verdict.lost.push((*line).to_owned());
            }
        }
    }
    verdict.lost.sort();
    verdict.reordered = real_time_inversions(&mut acked, &position);
    verdict
}

/// The first pair of nodes whose chats differ where both have a line.
fn divergence(chats: &BTreeMap<String, Vec<String>>) -> Option<(String, String, usize)> {
    let nodes: Vec<(&String, &Vec<String>)> = chats.iter().collect();
    for (i, (a, ca)) in nodes.iter().enumerate() {
        for (b, cb) in &nodes[i + 1..] {
            if let Some(at) = ca.iter().zip(cb.iter()).position(|(x, y)| x != y) {
                return Some(((*a).clone(), (*b).clone(), at));
            }
        }
    }
    None
}

/// Pairs of acknowledged lines whose log order contradicts real time. Sorted by completion,
/// the latest position among lines completed before each invocation must precede it.
fn real_time_inversions(
    acked: &mut [(&str, u64, u64)],
    position: &HashMap<&str, usize>,
) -> Vec<(String, String)> {
    let mut by_completion: Vec<(&str, u64, u64)> = acked.to_vec();
    by_completion.sort_by_key(|&(_, _, done)| done);
    acked.sort_by_key(|&(_, invoke, _)| invoke);
    let mut out = Vec::new();
    // The line placed latest among those completed so far.
    let mut latest: Option<(&str, usize)> = None;
    let mut k = 0;
    for &(line, invoke, _) in acked.iter() {
        while k < by_completion.len() && by_completion[k].2 < invoke {
            let (done_line, _, _) = by_completion[k];
            let p = position[done_line];
            if latest.is_none_or(|(_, q)| p > q) {
                latest = Some((done_line, p));
            }
            k += 1;
        }
        if let Some((earlier, p)) = latest {
            if position[line] < p {
                out.push((earlier.to_owned(), line.to_owned()));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Op;

    fn append(id: u64, line: &str, completion: Completion, at: (u64, Option<u64>)) -> Op {
        Op {
            id,
            client: id as u32,
            node: "n0".into(),
            kind: OpKind::Append { line: line.into() },
            invoke_ns: at.0,
            complete_ns: at.1,
            completion,
        }
    }

    fn ok() -> Completion {
        Completion::Ok { value: None }
    }

    fn chats(of: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
        of.iter()
            .map(|(n, lines)| (n.to_string(), lines.iter().map(|l| l.to_string()).collect()))
            .collect()
    }

    fn history() -> History {
        History {
            ops: vec![
                append(0, "a", ok(), (0, Some(10))),
                append(1, "b", ok(), (20, Some(30))),
                append(2, "c", Completion::Info, (25, None)),
                append(3, "d", Completion::Fail, (26, Some(27))),
            ],
        }
    }

    #[test]
    fn one_order_everywhere_with_a_lagging_node_passes() {
        let v = check_chat(
            &history(),
            &chats(&[("n0", &["a", "b", "c"]), ("n1", &["a", "b"])]),
        );
        assert!(v.ok(), "{v:?}");
        assert_eq!(v.acknowledged, 2);
    }

    #[test]
    fn a_lost_acknowledged_line_is_a_lost_write() {
        let v = check_chat(&history(), &chats(&[("n0", &["a"]), ("n1", &["a"])]));
        assert_eq!(v.lost, vec!["b".to_string()]);
        assert!(!v.ok());
    }

    #[test]
    fn duplicates_strangers_failed_lines_and_divergence_are_each_reported() {
        let v = check_chat(&history(), &chats(&[("n0", &["a", "a", "b"])]));
        assert_eq!(v.duplicated, vec![("n0".to_string(), "a".to_string())]);
        let v = check_chat(&history(), &chats(&[("n0", &["a", "b", "zzz", "d"])]));
        assert_eq!(
            v.unexpected.len(),
            2,
            "never submitted, and known failed: {v:?}"
        );
        let v = check_chat(
            &history(),
            &chats(&[("n0", &["a", "b"]), ("n1", &["b", "a"])]),
        );
        assert_eq!(v.diverged, Some(("n0".into(), "n1".into(), 0)));
    }

    #[test]
    fn an_order_against_real_time_is_reported() {
        // a completed at 10, b was invoked at 20: b before a contradicts real time.
        let v = check_chat(&history(), &chats(&[("n0", &["b", "a"])]));
        assert_eq!(v.reordered, vec![("a".to_string(), "b".to_string())]);
    }
}
