//! What a chaos run concluded: the checkers' verdicts, its CSV row and its summary.

use std::path::Path;
use std::time::Duration;

use raftrtc_check::{
    availability, check_chat, check_registers, Availability, ChatVerdict, FaultWindow, History,
    LinVerdict,
};
use serde::{Deserialize, Serialize};

use crate::results::error::CsvError;

/// Every checker's verdict on one run.
#[derive(Clone, Debug)]
pub struct Verdicts {
    /// The registers.
    pub lin: LinVerdict,
    /// The chat (and its lost lines: durability).
    pub chat: ChatVerdict,
    /// How long after the quiet period every node held the same log and state, or, when
    /// they did not within the bound, what each node last reported.
    pub converged: Result<Duration, Vec<String>>,
    /// What the clients saw.
    pub availability: Availability,
    /// How long the checkers took.
    pub check_time: Duration,
}

impl Verdicts {
    /// Whether every checker passed.
    pub fn ok(&self) -> bool {
        self.lin.ok() && self.chat.ok() && self.converged.is_ok()
    }
}

/// Runs the history checkers; `chats` are the nodes' final chats.
pub fn check(
    history: &History,
    chats: &std::collections::BTreeMap<String, Vec<String>>,
    faults: &[FaultWindow],
    span: (u64, u64),
    converged: Result<Duration, Vec<String>>,
    lin_budget: u64,
) -> Verdicts {
    let started = std::time::Instant::now();
    let lin = check_registers(history, lin_budget);
    let chat = check_chat(history, chats);
    let availability = availability(history, faults, span.0, span.1);
    Verdicts {
        lin,
        chat,
        converged,
        availability,
        check_time: started.elapsed(),
    }
}

/// One chaos run: one CSV row.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ChaosRow {
    /// When the run started (RFC 3339).
    pub started_at: String,
    /// The seed the schedule and the clients were drawn from.
    pub seed: u64,
    /// `process` or `docker`.
    pub launcher: String,
    /// The settings preset.
    pub profile: String,
    /// Cluster size.
    pub nodes: usize,
    /// Election timeout.
    pub election_timeout_ms: u64,
    /// Client workers.
    pub clients: u32,
    /// Operations a second offered.
    pub rate: f64,
    /// The load's length, in seconds.
    pub duration_s: f64,
    /// The fault kinds allowed (`+`-joined).
    pub faults: String,
    /// Faults struck.
    pub faults_struck: usize,
    /// The run's own network conditions.
    pub net: String,
    /// Operations invoked.
    pub ops: usize,
    /// Completed `ok`.
    pub ok: usize,
    /// Known not to have happened.
    pub fail: usize,
    /// Unknown.
    pub info: usize,
    /// Registers: `ok`, `violated` or `undecided`.
    pub linearizable: String,
    /// The chat: `ok` or what was wrong.
    pub chat: String,
    /// Acknowledged chat lines missing at the end.
    pub lost_writes: usize,
    /// Whether every node ended with one log and state.
    pub converged: bool,
    /// From the end of the quiet period until they had (empty if never).
    pub converge_ms: Option<f64>,
    /// Share of operations that succeeded.
    pub ok_share: f64,
    /// Longest time without a successful operation, in ms.
    pub longest_gap_ms: f64,
    /// The slowest recovery after a lifted fault, in ms (empty: none recovered).
    pub max_recovery_ms: Option<f64>,
    /// How long the checkers took, in ms.
    pub check_ms: f64,
    /// `pass`, `fail` (a checker failed) or `error` (the run could not be carried out).
    pub verdict: String,
    /// Why a run failed or could not be carried out.
    pub error: String,
    /// The history file.
    pub history: String,
    /// Where the node logs were kept, if they were.
    pub logs: String,
}

impl crate::results::CsvRecord for ChaosRow {
    fn columns() -> &'static csv::StringRecord {
        static HEADER: std::sync::OnceLock<csv::StringRecord> = std::sync::OnceLock::new();
        HEADER.get_or_init(|| crate::results::record_of::<ChaosRow>().0)
    }
}

/// The chat column's word for acknowledged lines missing where the cluster did not converge.
pub const UNAPPLIED: &str = "unapplied";

/// Whether `path` is a chaos CSV (its header is [`ChaosRow`]'s), not an experiment's.
pub fn is_chaos_csv(path: &Path) -> bool {
    csv::Reader::from_path(path)
        .and_then(|mut r| r.headers().cloned())
        .is_ok_and(|h| h.iter().any(|c| c == "linearizable"))
}

/// Every row of a chaos CSV. A last line without its newline that does not parse is one a
/// killed run left half-written and is skipped; anything else malformed is an error naming
/// the file and line.
pub fn read_rows(path: &Path) -> Result<Vec<ChaosRow>, CsvError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| CsvError::Io {
        path: name.clone(),
        source,
    })?;
    let mut rows = Vec::new();
    let mut records = csv::Reader::from_reader(text.as_bytes()).into_deserialize::<ChaosRow>();
    while let Some(record) = records.next() {
        match record {
            Ok(row) => rows.push(row),
            Err(_) if records.next().is_none() && !text.ends_with('\n') => break,
            Err(e) => {
                return Err(CsvError::Syntax {
                    path: name,
                    line: e.position().map_or(0, |p| p.line()),
                    message: e.to_string(),
                })
            }
        }
    }
    Ok(rows)
}

/// Fills the verdict columns of `row` from `v`.
pub fn fill(row: &mut ChaosRow, v: &Verdicts) {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    row.linearizable = if !v.lin.violations.is_empty() {
        "violated".into()
    } else if !v.lin.undecided.is_empty() {
        "undecided".into()
    } else {
        "ok".into()
    };
    row.chat = chat_word(&v.chat, v.converged.is_ok());
    row.lost_writes = v.chat.lost.len();
    row.converged = v.converged.is_ok();
    row.converge_ms = v.converged.as_ref().ok().map(|d| ms(*d));
    let a = &v.availability;
    (row.ok, row.fail, row.info) = (a.ok, a.failed, a.unknown);
    row.ops = a.ok + a.failed + a.unknown;
    row.ok_share = a.ok_share;
    row.longest_gap_ms = a.longest_gap_ns as f64 / 1e6;
    row.max_recovery_ms = a
        .recoveries
        .iter()
        .filter_map(|(_, r)| *r)
        .max()
        .map(|ns| ns as f64 / 1e6);
    row.check_ms = ms(v.check_time);
    row.verdict = if v.ok() { "pass" } else { "fail" }.into();
}

/// The chat column: `ok`, or what was wrong. Acknowledged lines missing from the final chats
/// of a cluster that did not converge are `unapplied`, not `lost`: they may sit in the logs,
/// committed once but not applied again after a restart, and which it is cannot be told.
fn chat_word(c: &ChatVerdict, converged: bool) -> String {
    let mut wrong = Vec::new();
    if !c.lost.is_empty() {
        wrong.push(if converged { "lost" } else { UNAPPLIED });
    }
    if !c.duplicated.is_empty() {
        wrong.push("duplicated");
    }
    if !c.unexpected.is_empty() {
        wrong.push("unexpected");
    }
    if c.diverged.is_some() {
        wrong.push("diverged");
    }
    if !c.reordered.is_empty() {
        wrong.push("reordered");
    }
    if wrong.is_empty() {
        "ok".into()
    } else {
        wrong.join("+")
    }
}

/// The summary printed after a run: each checker's verdict, and the evidence of a failure.
pub fn summary(row: &ChaosRow, v: &Verdicts) -> String {
    let mut s = format!(
        "operations: {} ({} ok, {} fail, {} info); ok share {:.1} %, longest gap {:.0} ms\n",
        row.ops,
        row.ok,
        row.fail,
        row.info,
        row.ok_share * 100.0,
        row.longest_gap_ms
    );
    s += &format!(
        "linearizable: {} ({} registers, {} operations); chat: {} ({} acknowledged, {} lost)\n",
        row.linearizable, v.lin.keys, v.lin.ops, row.chat, v.chat.acknowledged, row.lost_writes
    );
    match &v.converged {
        Ok(d) => {
            s += &format!(
                "converged: yes, {:.0} ms after the quiet period\n",
                d.as_secs_f64() * 1e3
            );
        }
        Err(nodes) => {
            s += "converged: NO, the nodes' logs or states still differ:\n";
            for n in nodes {
                s += &format!("  {n}\n");
            }
        }
    }
    for (name, r) in &v.availability.recoveries {
        match r {
            Some(ns) => s += &format!("  recovered from {name} in {:.0} ms\n", *ns as f64 / 1e6),
            None => s += &format!("  no successful operation after {name}\n"),
        }
    }
    for violation in &v.lin.violations {
        s += &format!("VIOLATION {violation}\n");
    }
    for key in &v.lin.undecided {
        s += &format!("UNDECIDED key {key:?}: the search ran out of budget\n");
    }
    evidence(&mut s, &v.chat, v.converged.is_ok());
    s += &format!("checkers took {:.1} ms\n", row.check_ms);
    s
}

fn evidence(s: &mut String, c: &ChatVerdict, converged: bool) {
    if !c.lost.is_empty() && converged {
        *s += &format!("LOST acknowledged chat lines: {:?}\n", c.lost);
    } else if !c.lost.is_empty() {
        *s += &format!(
            "UNAPPLIED acknowledged chat lines (the cluster did not converge: lost, or only not \
             applied again, cannot be told): {:?}\n",
            c.lost
        );
    }
    for (node, line) in &c.duplicated {
        *s += &format!("DUPLICATED on {node}: {line:?}\n");
    }
    for (node, line) in &c.unexpected {
        *s += &format!("UNEXPECTED on {node}: {line:?} (never submitted, or known failed)\n");
    }
    if let Some((a, b, at)) = &c.diverged {
        *s += &format!("DIVERGED: {a} and {b} differ at line {at}\n");
    }
    for (earlier, later) in &c.reordered {
        *s += &format!(
            "REORDERED: {later:?} before {earlier:?}, which completed before it was sent\n"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::CsvWriter;

    fn written(rows: usize) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chaos.csv");
        let mut csv = CsvWriter::<ChaosRow>::open_append(&path).unwrap();
        for seed in 0..rows as u64 {
            let row = ChaosRow {
                seed,
                verdict: "pass".into(),
                ..ChaosRow::default()
            };
            csv.write_row(&row).unwrap();
        }
        (dir, path)
    }

    #[test]
    fn a_chaos_csv_reads_back_row_by_row_and_is_told_from_an_experiments() {
        let (_dir, path) = written(3);
        assert!(is_chaos_csv(&path));
        let rows = read_rows(&path).unwrap();
        assert_eq!(rows.iter().map(|r| r.seed).collect::<Vec<_>>(), [0, 1, 2]);
        let experiment = path.with_file_name("up.csv");
        std::fs::write(&experiment, "test,nodes,run,ok\nup,3,1,true\n").unwrap();
        assert!(!is_chaos_csv(&experiment));
    }

    #[test]
    fn every_chaos_csv_committed_under_results_reads_with_a_verdict_per_run() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../results/chaos");
        let files = crate::results::reader::csv_files_under(&dir);
        assert!(!files.is_empty());
        for file in files {
            assert!(is_chaos_csv(&file), "{}", file.display());
            let rows = read_rows(&file).unwrap_or_else(|e| panic!("{e}"));
            assert!(!rows.is_empty(), "{}", file.display());
            for row in rows {
                assert!(
                    ["pass", "fail", "error"].contains(&row.verdict.as_str()),
                    "{}: seed {} has verdict {:?}",
                    file.display(),
                    row.seed,
                    row.verdict
                );
            }
        }
    }

    #[test]
    fn a_torn_last_row_is_skipped_but_a_broken_middle_row_is_an_error_naming_the_line() {
        let (_dir, path) = written(2);
        let whole = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, format!("{whole}2026-11-30T00:00:00Z,7,proc")).unwrap();
        assert_eq!(read_rows(&path).unwrap().len(), 2);
        let mut lines: Vec<&str> = whole.lines().collect();
        lines.insert(2, "not,a,row");
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        let err = read_rows(&path).unwrap_err().to_string();
        assert!(err.contains("line 3"), "{err}");
    }
}
