//! Many chaos runs at a glance: their rows grouped by setting, with what a reader of a
//! campaign of hundreds of runs asks first: how many passed, which checker failed how often,
//! how many operations were checked, how many acknowledged writes were lost, and how long
//! the checkers and the convergence took.
//!
//! `raftrtc chaos --runs N` prints it after the runs; `raftrtc report` prints it for chaos
//! CSVs.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::report::{ChaosRow, UNAPPLIED};
use super::schedule::FaultKind;
use crate::results::stats::median;
use crate::results::table::{Align, Table};

/// The columns that make two runs comparable: rows that share them are tallied together.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Setting {
    /// `process` or `docker`.
    pub launcher: String,
    /// The settings preset.
    pub profile: String,
    /// Cluster size.
    pub nodes: usize,
    /// Election timeout, in ms.
    pub election_timeout_ms: u64,
    /// The fault kinds allowed.
    pub faults: String,
    /// The run's own network conditions.
    pub net: String,
    /// The load's length, in seconds (as text: an `f64` has no order).
    pub duration_s: String,
}

impl Setting {
    fn of(row: &ChaosRow) -> Self {
        Setting {
            launcher: row.launcher.clone(),
            profile: row.profile.clone(),
            nodes: row.nodes,
            election_timeout_ms: row.election_timeout_ms,
            faults: row.faults.clone(),
            net: row.net.clone(),
            duration_s: format!("{}", row.duration_s),
        }
    }
}

/// The tally of one setting's runs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Tally {
    /// Runs.
    pub runs: usize,
    /// Runs every checker passed.
    pub passed: usize,
    /// Runs that could not be carried out (`error`).
    pub errors: usize,
    /// Runs whose register history was not linearizable.
    pub lin_violated: usize,
    /// Runs whose register search ran out of budget.
    pub lin_undecided: usize,
    /// Runs whose chat was wrong (lost, duplicated, unexpected, diverged or reordered).
    pub chat_wrong: usize,
    /// Runs whose nodes did not converge within the bound.
    pub not_converged: usize,
    /// Faults struck, over all runs.
    pub faults_struck: usize,
    /// Operations checked (invoked), over all runs.
    pub ops: usize,
    /// Of which acknowledged `ok`.
    pub ok: usize,
    /// Acknowledged chat lines missing at the end of runs that converged: lost writes.
    pub lost_writes: usize,
    /// Acknowledged chat lines missing at the end of runs that did not converge, which may
    /// be lost or only not applied again (see [`super::report::UNAPPLIED`]).
    pub unapplied_writes: usize,
    /// The checkers' time per history, in ms: median and max.
    pub check_ms: (f64, f64),
    /// From the end of the quiet period to convergence, in ms: median and max.
    pub converge_ms: (f64, f64),
    /// The longest time without a successful operation, in ms: median and max.
    pub longest_gap_ms: (f64, f64),
}

/// Tallies `rows` by [`Setting`].
pub fn tally(rows: &[ChaosRow]) -> BTreeMap<Setting, Tally> {
    let mut groups: BTreeMap<Setting, Vec<&ChaosRow>> = BTreeMap::new();
    for row in rows {
        groups.entry(Setting::of(row)).or_default().push(row);
    }
    groups
        .into_iter()
        .map(|(setting, rows)| (setting, tally_one(&rows)))
        .collect()
}

/// Whether all that was wrong with the chat of `row` is lines missing from a cluster that did
/// not converge. (Rows written before the `unapplied` word said `lost`.)
fn unapplied(row: &ChaosRow) -> bool {
    !row.converged && (row.chat == UNAPPLIED || row.chat == "lost")
}

fn tally_one(rows: &[&ChaosRow]) -> Tally {
    let count = |f: &dyn Fn(&ChaosRow) -> bool| rows.iter().filter(|r| f(r)).count();
    let sum = |f: &dyn Fn(&ChaosRow) -> usize| rows.iter().map(|r| f(r)).sum();
    // An errored run checked nothing: its figures would only drag the medians.
    let checked: Vec<&&ChaosRow> = rows.iter().filter(|r| r.verdict != "error").collect();
    let spread = |f: &dyn Fn(&ChaosRow) -> Option<f64>| {
        let values: Vec<f64> = checked.iter().filter_map(|r| f(r)).collect();
        let max = values.iter().copied().fold(f64::NAN, f64::max);
        (median(&values).unwrap_or(f64::NAN), max)
    };
    Tally {
        runs: rows.len(),
        passed: count(&|r| r.verdict == "pass"),
        errors: count(&|r| r.verdict == "error"),
        lin_violated: count(&|r| r.linearizable == "violated"),
        lin_undecided: count(&|r| r.linearizable == "undecided"),
        chat_wrong: count(&|r| r.verdict != "error" && r.chat != "ok" && !unapplied(r)),
        not_converged: count(&|r| r.verdict != "error" && !r.converged),
        faults_struck: sum(&|r| r.faults_struck),
        ops: sum(&|r| r.ops),
        ok: sum(&|r| r.ok),
        lost_writes: sum(&|r| if r.converged { r.lost_writes } else { 0 }),
        unapplied_writes: sum(&|r| if r.converged { 0 } else { r.lost_writes }),
        check_ms: spread(&|r| Some(r.check_ms)),
        converge_ms: spread(&|r| r.converge_ms),
        longest_gap_ms: spread(&|r| Some(r.longest_gap_ms)),
    }
}

const HEADER: [&str; 17] = [
    "profile",
    "nodes",
    "faults",
    "runs",
    "faults struck",
    "passed",
    "errors",
    "lin violated",
    "undecided",
    "chat wrong",
    "not converged",
    "ops checked",
    "acked lost",
    "acked unapplied",
    "check ms (med/max)",
    "converge ms (med/max)",
    "longest gap ms (med/max)",
];

fn cells(s: &Setting, t: &Tally) -> [String; 17] {
    let pair = |(a, b): (f64, f64)| format!("{a:.1} / {b:.1}");
    let pair0 = |(a, b): (f64, f64)| format!("{a:.0} / {b:.0}");
    let every: Vec<&str> = FaultKind::ALL.iter().map(|k| k.name()).collect();
    let mut faults = if s.faults == every.join("+") {
        "all".to_owned()
    } else {
        s.faults.clone()
    };
    if s.net != "none" {
        let _ = write!(faults, " (net {})", s.net);
    }
    [
        s.profile.clone(),
        s.nodes.to_string(),
        faults,
        t.runs.to_string(),
        t.faults_struck.to_string(),
        t.passed.to_string(),
        t.errors.to_string(),
        t.lin_violated.to_string(),
        t.lin_undecided.to_string(),
        t.chat_wrong.to_string(),
        t.not_converged.to_string(),
        format!("{} ({} ok)", t.ops, t.ok),
        t.lost_writes.to_string(),
        t.unapplied_writes.to_string(),
        pair(t.check_ms),
        pair0(t.converge_ms),
        pair0(t.longest_gap_ms),
    ]
}

/// The tally as a table, one line per setting (text or markdown through [`Table`]).
pub fn table(tallies: &BTreeMap<Setting, Tally>) -> Table {
    let left = [0, 2];
    Table {
        headers: HEADER.iter().map(|h| (*h).to_owned()).collect(),
        aligns: (0..HEADER.len())
            .map(|i| {
                if left.contains(&i) {
                    Align::Left
                } else {
                    Align::Right
                }
            })
            .collect(),
        rows: tallies.iter().map(|(s, t)| cells(s, t).to_vec()).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(profile: &str, verdict: &str, lin: &str, chat: &str, lost: usize) -> ChaosRow {
        ChaosRow {
            profile: profile.into(),
            nodes: 5,
            faults: "kill+pause".into(),
            net: "none".into(),
            ops: 100,
            ok: 80,
            linearizable: lin.into(),
            chat: chat.into(),
            lost_writes: lost,
            converged: verdict != "error",
            converge_ms: Some(10.0),
            check_ms: 2.0,
            verdict: verdict.into(),
            ..ChaosRow::default()
        }
    }

    #[test]
    fn runs_are_tallied_per_setting_with_each_checker_counted() {
        let rows = [
            row("default", "pass", "ok", "ok", 0),
            row("default", "fail", "violated", "lost", 3),
            row("paper", "pass", "ok", "ok", 0),
            row("default", "error", "", "", 0),
        ];
        let t = tally(&rows);
        assert_eq!(t.len(), 2, "{t:?}");
        let default = t.values().next().unwrap();
        assert_eq!((default.runs, default.passed, default.errors), (3, 1, 1));
        assert_eq!((default.lin_violated, default.chat_wrong), (1, 1));
        assert_eq!(
            (default.ops, default.ok, default.lost_writes),
            (300, 240, 3)
        );
        assert_eq!(
            default.not_converged, 0,
            "an errored run is not a checker's failure"
        );
        assert_eq!(default.check_ms, (2.0, 2.0));
    }

    #[test]
    fn lines_missing_where_the_cluster_did_not_converge_are_unapplied_not_lost() {
        let mut stuck = row("paper", "fail", "ok", "lost", 55);
        stuck.converged = false;
        stuck.converge_ms = None;
        let mut stuck_now = stuck.clone();
        stuck_now.chat = UNAPPLIED.into();
        let t = tally(&[stuck, stuck_now, row("paper", "fail", "ok", "lost", 2)]);
        let paper = t.values().next().unwrap();
        assert_eq!((paper.lost_writes, paper.unapplied_writes), (2, 110));
        assert_eq!((paper.not_converged, paper.chat_wrong), (2, 1));
    }

    #[test]
    fn the_tables_carry_one_line_per_setting() {
        let rows = [
            row("default", "pass", "ok", "ok", 0),
            row("paper", "pass", "ok", "ok", 0),
        ];
        let t = table(&tally(&rows));
        let text = t.to_text();
        assert_eq!(text.lines().count(), 3, "{text}");
        assert!(text.lines().nth(2).unwrap().starts_with("paper"), "{text}");
        let md = t.to_markdown();
        assert_eq!(md.lines().count(), 4, "{md}");
        assert!(md.lines().all(|l| l.starts_with('|')), "{md}");
    }
}
