//! Availability: what the clients saw of the cluster while faults struck.
//!
//! - the share of operations that succeeded (`ok` among all completed or given up);
//! - the longest stretch of the run with no `ok` completion at all;
//! - for each fault, once lifted, how long until the next `ok`: the recovery time.

use crate::history::{Completion, History};

/// One fault of the schedule, on the history's clock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaultWindow {
    /// What it was (`pause n2`, `partition n0+n1|n2+n3+n4`, ...).
    pub name: String,
    /// When it struck.
    pub start_ns: u64,
    /// When it was lifted (healed, resumed, restarted).
    pub end_ns: u64,
}

/// The availability figures of a run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Availability {
    /// Operations that succeeded.
    pub ok: usize,
    /// Operations known not to have happened.
    pub failed: usize,
    /// Operations whose outcome is unknown.
    pub unknown: usize,
    /// `ok / (ok + failed + unknown)`; 1 for an empty history.
    pub ok_share: f64,
    /// The longest stretch, within `[start_ns, end_ns]`, with no `ok` completion.
    pub longest_gap_ns: u64,
    /// Per fault, from its lifting to the first `ok` completion after it (`None`: none came).
    pub recoveries: Vec<(String, Option<u64>)>,
}

/// Computes the figures of `history` over the run `[start_ns, end_ns]` with its `faults`.
pub fn availability(
    history: &History,
    faults: &[FaultWindow],
    start_ns: u64,
    end_ns: u64,
) -> Availability {
    let mut a = Availability::default();
    let mut oks: Vec<u64> = Vec::new();
    for op in &history.ops {
        match (&op.completion, op.complete_ns) {
            (Completion::Ok { .. }, Some(t)) => {
                a.ok += 1;
                oks.push(t);
            }
            (Completion::Ok { .. }, None) | (Completion::Info, _) => a.unknown += 1,
            (Completion::Fail, _) => a.failed += 1,
        }
    }
    let all = a.ok + a.failed + a.unknown;
    a.ok_share = if all == 0 {
        1.0
    } else {
        a.ok as f64 / all as f64
    };
    oks.sort_unstable();
    let mut last = start_ns;
    for &t in oks.iter().filter(|&&t| t >= start_ns && t <= end_ns) {
        a.longest_gap_ns = a.longest_gap_ns.max(t - last);
        last = t;
    }
    a.longest_gap_ns = a.longest_gap_ns.max(end_ns.saturating_sub(last));
    a.recoveries = faults
        .iter()
        .map(|f| {
            let first = oks.partition_point(|&t| t < f.end_ns);
            (f.name.clone(), oks.get(first).map(|&t| t - f.end_ns))
        })
        .collect();
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Op, OpKind};

    fn op(id: u64, completion: Completion, done: Option<u64>) -> Op {
        Op {
            id,
            client: 0,
            node: "n0".into(),
            kind: OpKind::Get { key: "k".into() },
            invoke_ns: done.unwrap_or(0).saturating_sub(1),
            complete_ns: done,
            completion,
        }
    }

    #[test]
    fn shares_gaps_and_recoveries_come_from_the_ok_completions() {
        let ok = || Completion::Ok { value: None };
        let history = History {
            ops: vec![
                op(0, ok(), Some(100)),
                op(1, Completion::Info, None),
                op(2, Completion::Fail, Some(150)),
                op(3, ok(), Some(900)),
            ],
        };
        let faults = [
            FaultWindow {
                name: "pause n0".into(),
                start_ns: 200,
                end_ns: 600,
            },
            FaultWindow {
                name: "late".into(),
                start_ns: 950,
                end_ns: 990,
            },
        ];
        let a = availability(&history, &faults, 0, 1000);
        assert_eq!((a.ok, a.failed, a.unknown), (2, 1, 1));
        assert!((a.ok_share - 0.5).abs() < 1e-9);
        assert_eq!(a.longest_gap_ns, 800, "from 100 to 900");
        assert_eq!(
            a.recoveries,
            vec![
                ("pause n0".to_string(), Some(300)),
                ("late".to_string(), None)
            ]
        );
    }
}
