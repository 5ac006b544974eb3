//! `raftrtc report`: our runs beside the papers' numbers, as tables a person
//! can read in a terminal or paste into `results/README.md`.
//!
//! The question a reader has is "how does this implementation compare with
//! Raft.js in 2015, cell by cell?". So each test gets one table whose rows
//! are cluster sizes and whose column groups are election timeouts; a group
//! shows our median and ok/total, the paper's mean and ok/total, and the
//! ratio paper/ours (how many times faster we are). Our side uses the
//! median because a few slow outliers in 3 to 7 runs would drag a mean; the
//! paper side uses the mean because that is what the papers published (and
//! all they plotted).
//!
//! Which paper: for `up`, the one that timed it as our runs did. Dec 2015
//! started Raft on pages already connected to each other (a warm start) and
//! Sep 2015 timed from the first page's launch (a cold start; see
//! [`Source::up_start`]), so a cold `up` is compared with Sep 2015 and a warm
//! one with Dec 2015, and a timeout only the other paper ran gets no paper
//! column: no ratio ever divides two definitions. Kill and propagate are
//! timed from the kill or the submit in both papers: the Dec 2015 one (one
//! Docker container per node, like our launchers) wherever it has the test
//! and timeout, the Sep 2015 one for the timeouts Dec never ran (ET 100). The
//! choice is made per test, timeout and start, never per size, so one column
//! never mixes the two setups. [`paper_reference`] makes that choice; `plot`
//! uses it too so figures and tables always agree.
//!
//! Runs that differ in launcher, replication, profile or start (cold or
//! warm) are never averaged together (see `stats::summarize`): each
//! combination gets its own table, whose title names it.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::paper::{self, PaperMean, PaperPoint, Source};
use super::row::{Signaling, Start};
use super::stats::{self, Setup, Summary};
use super::table::{Align, Table};
use crate::matrix::TestKind;

/// The papers' means for one test and election timeout, from one paper.
#[derive(Debug, Clone, PartialEq)]
pub struct PaperReference {
    /// The paper the numbers come from.
    pub source: Source,
    /// One mean per cluster size, ordered by size.
    pub means: Vec<PaperMean>,
}

impl PaperReference {
    /// The mean at `nodes`, if the paper ran that size.
    pub fn at(&self, nodes: usize) -> Option<&PaperMean> {
        self.means.iter().find(|m| m.nodes == nodes)
    }
}

/// How a paper is named in tables and legends: `Dec 2015` or `Sep 2015`.
pub fn source_label(source: Source) -> &'static str {
    match source {
        Source::Dec2015 => "Dec 2015",
        Source::Sep2015 => "Sep 2015",
    }
}

/// The papers' means for `test` at election timeout `et_ms`, for runs that started `start`:
/// for `up`, the paper that timed that start, if it ran that timeout; for the other tests the
/// Dec 2015 paper's if it ran that test and timeout, else the Sep 2015 paper's; else `None`.
pub fn paper_reference(
    paper: &[PaperPoint],
    test: TestKind,
    et_ms: u64,
    start: Start,
) -> Option<PaperReference> {
    let pick = |source: Source| {
        let points: Vec<PaperPoint> = paper
            .iter()
            .filter(|p| p.source == source && p.test == test && p.election_timeout_ms == et_ms)
            .cloned()
            .collect();
        (!points.is_empty()).then(|| PaperReference {
            source,
            means: paper::means(&points),
        })
    };
    if test == TestKind::Up {
        return [Source::Dec2015, Source::Sep2015]
            .into_iter()
            .filter(|s| s.up_start() == start)
            .find_map(pick);
    }
    pick(Source::Dec2015).or_else(|| pick(Source::Sep2015))
}

/// How many times faster we are: the paper's mean over our median. `None`
/// when either is missing or ours is not positive.
pub fn ratio(paper_mean_ms: Option<f64>, our_median_ms: Option<f64>) -> Option<f64> {
    match (paper_mean_ms, our_median_ms) {
        (Some(p), Some(o)) if o > 0.0 && p.is_finite() && o.is_finite() => Some(p / o),
        _ => None,
    }
}

/// Our result in one cell.
#[derive(Debug, Clone, PartialEq)]
pub struct Ours {
    /// Median `duration_ms` of the ok runs; `None` if no run was ok.
    pub median_ms: Option<f64>,
    /// Runs with outcome `ok`.
    pub ok: usize,
    /// All runs.
    pub runs: usize,
    /// Elections started per ok run, on average.
    pub elections_mean: Option<f64>,
    /// Median `rejoin_ms` of the ok runs (the leader-out faults).
    pub rejoin_median_ms: Option<f64>,
}

/// The paper's result in one cell.
#[derive(Debug, Clone, PartialEq)]
pub struct Theirs {
    /// Mean of the successful runs, in ms; `None` if none succeeded.
    pub mean_ms: Option<f64>,
    /// Successful runs.
    pub ok: usize,
    /// All runs (rows, for the Dec 2015 `up` files; see `paper`).
    pub runs: usize,
}

/// One (cluster size, election timeout) cell.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    /// Ours, if we ran this size at this timeout.
    pub ours: Option<Ours>,
    /// The paper's, if it ran this size at this timeout.
    pub paper: Option<Theirs>,
    /// Paper mean / our median: how many times faster we are.
    pub ratio: Option<f64>,
}

/// One column group of a table: an election timeout.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// The election timeout.
    pub election_timeout_ms: u64,
    /// The paper compared with, if any ran this test at this timeout.
    pub paper: Option<Source>,
}

/// `up`'s growth per added node at one election timeout, ours beside the
/// paper's: the papers' headline scaling figure (e.g. Dec 2015: ~0.12 s per
/// node at ET 250). Both are least-squares slopes over the same sizes, those
/// where we have a median and the paper a mean, so a paper that also ran
/// larger clusters is not compared over a different range.
#[derive(Debug, Clone, PartialEq)]
pub struct Slope {
    /// The election timeout.
    pub election_timeout_ms: u64,
    /// Smallest and largest size of the fit.
    pub sizes: (usize, usize),
    /// Our slope, in ms per added node.
    pub ours_ms_per_node: f64,
    /// The paper's slope over the same sizes.
    pub paper_ms_per_node: f64,
}

/// One table row: a cluster size, one cell per [`Column`].
#[derive(Debug, Clone, PartialEq)]
pub struct ReportRow {
    /// Cluster size.
    pub nodes: usize,
    /// One cell per column, in column order.
    pub cells: Vec<Cell>,
}

/// One test under one setup (launcher, replication, profile, start, network conditions).
#[derive(Debug, Clone, PartialEq)]
pub struct Section {
    /// The experiment.
    pub test: TestKind,
    /// What it ran with.
    pub setup: Setup,
    /// The election timeouts we ran, ascending.
    pub columns: Vec<Column>,
    /// The cluster sizes we ran, ascending.
    pub rows: Vec<ReportRow>,
    /// For `up` only: per timeout, the slope per added node (needs the
    /// paper and two common sizes).
    pub slopes: Vec<Slope>,
}

impl Section {
    /// `up · cold start, process launcher, immediate replication, default profile`.
    pub fn title(&self) -> String {
        let Setup {
            launcher,
            replication,
            profile,
            start,
            net,
            signaling,
        } = &self.setup;
        let net = if net == "none" {
            String::new()
        } else {
            format!(", net {net}")
        };
        let signaling = match signaling {
            Signaling::Embedded => String::new(),
            other => format!(", {other} signaling"),
        };
        format!(
            "{} · {start} start, {launcher} launcher, {replication} replication, {profile} \
             profile{net}{signaling}",
            self.test
        )
    }
}

/// Every test's comparison table; see the module docs.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// One section per test and setup, in `stats::summarize` order.
    pub sections: Vec<Section>,
}

/// Builds the comparison of our cells' `summaries` (in listing order, as
/// `stats` makes them) with the papers' `paper` points (pass an empty slice
/// to leave the paper columns out).
pub fn report(summaries: &[Summary], paper: &[PaperPoint]) -> Report {
    let sections = summaries
        .chunk_by(|a, b| (a.test, a.setup()) == (b.test, b.setup()))
        .map(|cells| section(cells, paper))
        .collect();
    Report { sections }
}

/// One test and setup's section; `cells` are its summaries.
fn section(cells: &[Summary], paper: &[PaperPoint]) -> Section {
    let (test, setup) = (cells[0].test, cells[0].setup());
    // The papers ran on one host's own network: runs under other conditions get no paper.
    let paper = if setup.net == "none" { paper } else { &[] };
    let timeouts: BTreeSet<u64> = cells.iter().map(|s| s.election_timeout_ms).collect();
    let sizes: BTreeSet<usize> = cells.iter().map(|s| s.nodes).collect();
    let references: Vec<Option<PaperReference>> = timeouts
        .iter()
        .map(|&et| paper_reference(paper, test, et, setup.start))
        .collect();
    let columns = timeouts
        .iter()
        .zip(&references)
        .map(|(&et, r)| Column {
            election_timeout_ms: et,
            paper: r.as_ref().map(|r| r.source),
        })
        .collect();
    let rows: Vec<ReportRow> = sizes
        .iter()
        .map(|&nodes| ReportRow {
            nodes,
            cells: timeouts
                .iter()
                .zip(&references)
                .map(|(&et, reference)| {
                    let ours = cells
                        .iter()
                        .find(|s| s.nodes == nodes && s.election_timeout_ms == et)
                        .map(|s| Ours {
                            median_ms: s.median_ms,
                            ok: s.ok,
                            runs: s.runs,
                            elections_mean: s.elections_mean,
                            rejoin_median_ms: s.rejoin_median_ms,
                        });
                    let theirs = reference
                        .as_ref()
                        .and_then(|r| r.at(nodes))
                        .map(|m| Theirs {
                            mean_ms: m.mean_seconds.map(|s| s * 1000.0),
                            ok: m.ok,
                            runs: m.runs,
                        });
                    let ratio = ratio(
                        theirs.as_ref().and_then(|t| t.mean_ms),
                        ours.as_ref().and_then(|o| o.median_ms),
                    );
                    Cell {
                        ours,
                        paper: theirs,
                        ratio,
                    }
                })
                .collect(),
        })
        .collect();
    let slopes = if test == TestKind::Up {
        slopes(&timeouts, &rows)
    } else {
        Vec::new()
    };
    Section {
        test,
        setup,
        columns,
        rows,
        slopes,
    }
}

/// The [`Slope`] of every timeout column that has two sizes in common with
/// its paper.
fn slopes(timeouts: &BTreeSet<u64>, rows: &[ReportRow]) -> Vec<Slope> {
    timeouts
        .iter()
        .enumerate()
        .filter_map(|(i, &et)| {
            let common: Vec<(usize, f64, f64)> = rows
                .iter()
                .filter_map(|r| {
                    let cell = &r.cells[i];
                    let ours = cell.ours.as_ref()?.median_ms?;
                    let theirs = cell.paper.as_ref()?.mean_ms?;
                    Some((r.nodes, ours, theirs))
                })
                .collect();
            let fit = |pick: fn(&(usize, f64, f64)) -> f64| {
                let points: Vec<(f64, f64)> =
                    common.iter().map(|c| (c.0 as f64, pick(c))).collect();
                stats::slope(&points)
            };
            Some(Slope {
                election_timeout_ms: et,
                sizes: (common.first()?.0, common.last()?.0),
                ours_ms_per_node: fit(|c| c.1)?,
                paper_ms_per_node: fit(|c| c.2)?,
            })
        })
        .collect()
}

impl Slope {
    /// `ET 250: 0.130 s per added node, paper 0.117 s (ours/paper 1.11), sizes 3–21`.
    fn describe(&self) -> String {
        let (et, ours, paper) = (
            self.election_timeout_ms,
            self.ours_ms_per_node / 1000.0,
            self.paper_ms_per_node / 1000.0,
        );
        let (from, to) = self.sizes;
        let ratio = ours / paper;
        format!(
            "ET {et}: {ours:.3} s per added node, paper {paper:.3} s (ours/paper \
             {ratio:.2}), sizes {from}–{to}"
        )
    }
}

/// A time in ms with precision that suits its size: `4.27`, `41.3`, `2434`.
pub fn format_ms(ms: f64) -> String {
    if !ms.is_finite() {
        "-".to_string()
    } else if ms < 10.0 {
        format!("{ms:.2}")
    } else if ms < 1000.0 {
        format!("{ms:.1}")
    } else {
        format!("{ms:.0}")
    }
}

/// A ratio as `59.1×` (`0.52×` below 1, `1234×` from 1000).
pub fn format_ratio(r: f64) -> String {
    if !r.is_finite() {
        "-".to_string()
    } else if r < 1.0 {
        format!("{r:.2}×")
    } else if r < 1000.0 {
        format!("{r:.1}×")
    } else {
        format!("{r:.0}×")
    }
}

fn value_and_count(value: Option<f64>, ok: usize, runs: usize) -> String {
    let v = value.map_or_else(|| "-".to_string(), format_ms);
    format!("{v} ({ok}/{runs})")
}

const EXPLANATION: &str = "Times in ms: our median and the paper's mean, each with ok/total \
runs; elections: how many our ok runs started, on average (above 1: some failed); rejoin \
(pause and isolate of the leader): our median from lifting the fault until the whole cluster \
followed the new leader; paper/ours is how many times faster raftrtc is. `-`: no successful \
run.";

const COLD_UP_NOTE: &str = "Cold start: timed from the first node's launch, as the Sep 2015 \
paper timed `up` (t0 before the first page opened, polled every 500 ms); the Dec 2015 paper \
started Raft on a formed mesh, so it stands beside our warm start instead.";

const WARM_UP_NOTE: &str = "Warm start: timed from Raft's start on a formed mesh, as the Dec \
2015 paper timed `up` (pages connected and paused, Raft started on all at once, polled every \
100 ms); the Sep 2015 paper timed from the first page's launch, so it stands beside our cold \
start instead.";

/// How `up` was timed in a section and by the paper beside it, if it is `up`.
fn up_note(test: TestKind, start: Start) -> Option<&'static str> {
    match (test, start) {
        (TestKind::Up, Start::Cold) => Some(COLD_UP_NOTE),
        (TestKind::Up, Start::Warm) => Some(WARM_UP_NOTE),
        _ => None,
    }
}

const DUPLICATES_NOTE: &str = "The Dec 2015 `up` data hold some runs twice (a bug of the \
papers' collect script), so its ok/total counts rows, not runs.";

impl Section {
    /// The section's table: every column right-aligned.
    fn table(&self) -> Table {
        let rejoins = self.rows.iter().any(|r| {
            r.cells.iter().any(|c| {
                c.ours
                    .as_ref()
                    .is_some_and(|o| o.rejoin_median_ms.is_some())
            })
        });
        let mut headers = vec!["nodes".to_string()];
        for c in &self.columns {
            headers.push(format!("ET {}: ours", c.election_timeout_ms));
            headers.push(format!("ET {}: elections", c.election_timeout_ms));
            if rejoins {
                headers.push(format!("ET {}: rejoin", c.election_timeout_ms));
            }
            if let Some(source) = c.paper {
                headers.push(format!(
                    "ET {}: paper {}",
                    c.election_timeout_ms,
                    source_label(source)
                ));
                headers.push(format!("ET {}: paper/ours", c.election_timeout_ms));
            }
        }
        let rows =
            self.rows
                .iter()
                .map(|row| {
                    let mut out = vec![row.nodes.to_string()];
                    for (c, cell) in self.columns.iter().zip(&row.cells) {
                        out.push(cell.ours.as_ref().map_or_else(String::new, |o| {
                            value_and_count(o.median_ms, o.ok, o.runs)
                        }));
                        out.push(
                            cell.ours
                                .as_ref()
                                .and_then(|o| o.elections_mean)
                                .map_or_else(|| "-".to_string(), |e| format!("{e:.1}")),
                        );
                        if rejoins {
                            out.push(
                                cell.ours
                                    .as_ref()
                                    .and_then(|o| o.rejoin_median_ms)
                                    .map_or_else(|| "-".to_string(), format_ms),
                            );
                        }
                        if c.paper.is_some() {
                            out.push(cell.paper.as_ref().map_or_else(
                                || "-".to_string(),
                                |t| value_and_count(t.mean_ms, t.ok, t.runs),
                            ));
                            out.push(cell.ratio.map_or_else(|| "-".to_string(), format_ratio));
                        }
                    }
                    out
                })
                .collect();
        Table {
            aligns: vec![Align::Right; headers.len()],
            headers,
            rows,
        }
    }

    fn uses_duplicated_up_rows(&self) -> bool {
        self.test == TestKind::Up
            && self
                .columns
                .iter()
                .any(|c| c.paper == Some(Source::Dec2015))
    }
}

impl Report {
    /// GitHub markdown: one `###` heading and table per section.
    pub fn to_markdown(&self) -> String {
        if self.sections.is_empty() {
            return "No runs to report.\n".to_string();
        }
        let mut out = String::new();
        let _ = writeln!(out, "{EXPLANATION}\n");
        for section in &self.sections {
            let _ = writeln!(out, "### {}\n", section.title());
            out.push_str(&section.table().to_markdown());
            if !section.slopes.is_empty() {
                let _ = writeln!(out, "\nSlope (least squares):\n");
                for slope in &section.slopes {
                    let _ = writeln!(out, "- {}", slope.describe());
                }
            }
            if section.uses_duplicated_up_rows() {
                let _ = writeln!(out, "\n{DUPLICATES_NOTE}");
            }
            if let Some(note) = up_note(section.test, section.setup.start) {
                let _ = writeln!(out, "\n{note}");
            }
            out.push('\n');
        }
        out
    }

    /// Plain text for a terminal: each section's title, then an aligned
    /// table.
    pub fn to_text(&self) -> String {
        if self.sections.is_empty() {
            return "No runs to report.\n".to_string();
        }
        let mut out = String::new();
        let _ = writeln!(out, "{}\n", EXPLANATION.replace('`', ""));
        for section in &self.sections {
            let _ = writeln!(out, "{}", section.title());
            for line in section.table().to_text().lines() {
                let _ = writeln!(out, "  {line}");
            }
            for slope in &section.slopes {
                let _ = writeln!(out, "  slope {}", slope.describe());
            }
            if section.uses_duplicated_up_rows() {
                let _ = writeln!(out, "  ({})", DUPLICATES_NOTE.replace('`', ""));
            }
            if let Some(note) = up_note(section.test, section.setup.start) {
                let _ = writeln!(out, "  ({})", note.replace('`', ""));
            }
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::row::test_row as row;
    use crate::results::row::{Launcher, Outcome, Row};
    use std::path::{Path, PathBuf};

    /// A row of a cold start (rows are warm by default, as CSVs from before the column).
    fn cold(mut r: Row) -> Row {
        r.start = Start::Cold;
        r
    }

    /// The report of rows, through the cells `report` is made from.
    fn report_of(rows: &[Row], paper: &[PaperPoint]) -> Report {
        report(&stats::summarize(rows), paper)
    }

    fn point(source: Source, test: &str, et: u64, nodes: usize, s: Option<f64>) -> PaperPoint {
        PaperPoint {
            source,
            test: test.parse().unwrap(),
            election_timeout_ms: et,
            nodes,
            seconds: s,
        }
    }

    fn data_dir() -> PathBuf {
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
        let in_repo = manifest.join("../results/paper-2015");
        if in_repo.join("dec2015-docker").is_dir() {
            in_repo
        } else {
            manifest.join("../../shared/paper-data")
        }
    }

    #[test]
    fn median_ok_counts_and_ratio() {
        let rows: Vec<Row> = vec![
            row("up", 3, 250, Outcome::Ok, Some(30.0)),
            row("up", 3, 250, Outcome::Ok, Some(10.0)),
            row("up", 3, 250, Outcome::Ok, Some(20.0)),
            row("up", 3, 250, Outcome::Ok, Some(1000.0)),
            row("up", 3, 250, Outcome::Timeout, None),
            // A failed run's duration never enters the median.
            row("up", 3, 250, Outcome::Unsafe, Some(1.0)),
        ];
        let paper = vec![
            point(Source::Dec2015, "up", 250, 3, Some(0.3)),
            point(Source::Dec2015, "up", 250, 3, Some(0.5)),
            point(Source::Dec2015, "up", 250, 3, None),
        ];
        let r = report_of(&rows, &paper);
        assert_eq!(r.sections.len(), 1);
        let s = &r.sections[0];
        assert_eq!(s.columns[0].paper, Some(Source::Dec2015));
        let cell = &s.rows[0].cells[0];
        let ours = cell.ours.as_ref().unwrap();
        // Median of 10, 20, 30, 1000: between 20 and 30.
        assert_eq!(ours.median_ms, Some(25.0));
        assert_eq!((ours.ok, ours.runs), (4, 6));
        let theirs = cell.paper.as_ref().unwrap();
        assert!((theirs.mean_ms.unwrap() - 400.0).abs() < 1e-9);
        assert_eq!((theirs.ok, theirs.runs), (2, 3));
        assert!((cell.ratio.unwrap() - 16.0).abs() < 1e-9);
    }

    #[test]
    fn ratio_needs_both_sides_and_a_positive_median() {
        assert_eq!(ratio(Some(100.0), Some(4.0)), Some(25.0));
        assert_eq!(ratio(None, Some(4.0)), None);
        assert_eq!(ratio(Some(100.0), None), None);
        assert_eq!(ratio(Some(100.0), Some(0.0)), None);
        assert_eq!(ratio(Some(f64::NAN), Some(1.0)), None);
    }

    #[test]
    fn dec2015_is_preferred_and_sep2015_fills_in_other_timeouts() {
        let paper = vec![
            point(Source::Sep2015, "kill_leader", 500, 3, Some(9.0)),
            point(Source::Dec2015, "kill_leader", 500, 3, Some(0.6)),
            point(Source::Sep2015, "kill_leader", 100, 3, Some(2.0)),
        ];
        let kill = |et, start| paper_reference(&paper, TestKind::KillLeader, et, start);
        let r = kill(500, Start::Cold).unwrap();
        assert_eq!(r.source, Source::Dec2015);
        assert_eq!(r.at(3).unwrap().mean_seconds, Some(0.6));
        assert_eq!(kill(500, Start::Warm).unwrap().source, Source::Dec2015);
        assert_eq!(kill(100, Start::Cold).unwrap().source, Source::Sep2015);
        assert!(kill(250, Start::Cold).is_none());
        assert!(paper_reference(&paper, TestKind::KillCount(3), 500, Start::Cold).is_none());
    }

    #[test]
    fn up_is_compared_only_with_the_paper_that_timed_the_same_start() {
        let paper = vec![
            point(Source::Sep2015, "up", 500, 3, Some(9.0)),
            point(Source::Dec2015, "up", 500, 3, Some(0.6)),
            point(Source::Sep2015, "up", 100, 3, Some(2.0)),
            point(Source::Dec2015, "up", 250, 3, Some(0.3)),
        ];
        let up = |et, start| paper_reference(&paper, TestKind::Up, et, start).map(|r| r.source);
        assert_eq!(up(500, Start::Cold), Some(Source::Sep2015));
        assert_eq!(up(500, Start::Warm), Some(Source::Dec2015));
        assert_eq!(up(100, Start::Cold), Some(Source::Sep2015));
        // Only the other paper ran these: no column rather than a ratio of two definitions.
        assert_eq!(up(100, Start::Warm), None);
        assert_eq!(up(250, Start::Cold), None);
    }

    #[test]
    fn the_real_papers_files_give_the_headline_numbers() {
        let paper = paper::load(data_dir()).unwrap();
        let rows = vec![
            row("up", 21, 250, Outcome::Ok, Some(243.4)),
            cold(row("up", 21, 100, Outcome::Ok, Some(100.0))),
            row("kill_half", 21, 100, Outcome::Ok, Some(50.0)),
            row("propagate_100", 21, 1000, Outcome::Ok, Some(375.1)),
        ];
        let r = report_of(&rows, &paper);
        let find_started = |test: &str, start: Start| {
            let test: TestKind = test.parse().unwrap();
            r.sections
                .iter()
                .find(|s| s.test == test && s.setup.start == start)
                .unwrap()
        };
        let find = |test: &str| find_started(test, Start::Warm);

        // Dec 2015 timed a warm up: our warm run beside it.
        let up = find("up");
        let et = |s: &Section, et: u64| {
            s.columns
                .iter()
                .position(|c| c.election_timeout_ms == et)
                .unwrap()
        };
        let c = &up.rows[0].cells[et(up, 250)];
        assert_eq!(up.columns[et(up, 250)].paper, Some(Source::Dec2015));
        assert!((c.paper.as_ref().unwrap().mean_ms.unwrap() - 2434.0).abs() < 0.5);
        assert!((c.ratio.unwrap() - 10.0).abs() < 0.01);
        // Sep 2015 timed a cold up (ET 100 only there): 0/7 up at 21 nodes.
        let up = find_started("up", Start::Cold);
        assert_eq!(up.columns[et(up, 100)].paper, Some(Source::Sep2015));
        let c = &up.rows[0].cells[et(up, 100)];
        let t = c.paper.as_ref().unwrap();
        assert_eq!((t.mean_ms, t.ok, t.runs), (None, 0, 7));
        assert_eq!(c.ratio, None);

        let kh = find("kill_half");
        let t = kh.rows[0].cells[0].paper.as_ref().unwrap();
        assert_eq!((t.ok, t.runs), (0, 7));

        let p = find("propagate_100");
        let c = &p.rows[0].cells[0];
        assert!((c.ratio.unwrap() - 10.0).abs() < 0.01, "{c:?}");
    }

    #[test]
    fn a_cold_up_is_never_divided_by_the_papers_warm_one() {
        let paper = vec![point(Source::Dec2015, "up", 250, 3, Some(0.333))];
        let cold_up = vec![cold(row("up", 3, 250, Outcome::Ok, Some(12.5)))];
        let r = report_of(&cold_up, &paper);
        assert_eq!(r.sections[0].columns[0].paper, None);
        assert_eq!(r.sections[0].rows[0].cells[0].ratio, None);
        let md = r.to_markdown();
        assert!(md.contains("| 3 | 12.5 (1/1) | - |\n"), "{md}");
        assert!(md.contains("as the Sep 2015 paper timed `up`"), "{md}");
        assert!(r.to_text().contains("as the Sep 2015 paper timed up"));
        // Kill and propagate are timed from the kill or the submit, as the papers did.
        let kill = vec![cold(row("kill_leader", 3, 250, Outcome::Ok, Some(10.0)))];
        let paper = vec![point(Source::Dec2015, "kill_leader", 250, 3, Some(0.1))];
        let r = report_of(&kill, &paper);
        assert!((r.sections[0].rows[0].cells[0].ratio.unwrap() - 10.0).abs() < 1e-9);
    }

    #[test]
    fn markdown_and_text_show_every_number() {
        let rows = vec![
            row("up", 3, 250, Outcome::Ok, Some(12.5)),
            row("up", 3, 250, Outcome::Timeout, None),
            row("kill_3", 9, 250, Outcome::Ok, Some(80.0)),
        ];
        let paper = vec![point(Source::Dec2015, "up", 250, 3, Some(0.333))];
        let r = report_of(&rows, &paper);
        let md = r.to_markdown();
        assert!(md.contains(
            "### up · warm start, process launcher, immediate replication, default profile"
        ));
        assert!(md.contains("as the Dec 2015 paper timed `up`"), "{md}");
        assert!(md.contains(
            "| nodes | ET 250: ours | ET 250: elections | ET 250: paper Dec 2015 | ET 250: paper/ours |"
        ));
        assert!(
            md.contains("| 3 | 12.5 (1/2) | - | 333.0 (1/1) | 26.6× |"),
            "{md}"
        );
        // No paper for kill_3: only our columns.
        assert!(
            md.contains(
                "| nodes | ET 250: ours | ET 250: elections |\n| ---: | ---: | ---: |\n| 9 | 80.0 (1/1) | - |"
            ),
            "{md}"
        );
        assert!(md.contains("counts rows, not runs"));
        let text = r.to_text();
        assert!(
            text.contains("12.5 (1/2)") && text.contains("26.6×"),
            "{text}"
        );
        assert!(
            text.contains("kill_3 · warm start, process launcher"),
            "{text}"
        );
    }

    #[test]
    fn setups_get_their_own_sections_and_nothing_is_empty() {
        let mut docker = row("up", 3, 250, Outcome::Ok, Some(50.0));
        docker.launcher = Launcher::Docker;
        let rows = vec![row("up", 3, 250, Outcome::Ok, Some(10.0)), docker];
        let r = report_of(&rows, &[]);
        assert_eq!(r.sections.len(), 2);
        assert_ne!(r.sections[0].setup, r.sections[1].setup);
        assert!(r.sections.iter().all(|s| s.columns[0].paper.is_none()));

        let empty = report(&[], &[]);
        assert!(empty.sections.is_empty());
        assert_eq!(empty.to_markdown(), "No runs to report.\n");
        assert_eq!(empty.to_text(), "No runs to report.\n");
    }

    #[test]
    fn cold_and_warm_starts_never_share_a_cell_and_titles_say_which() {
        let mut cold = row("up", 3, 250, Outcome::Ok, Some(90.0));
        cold.start = crate::results::Start::Cold;
        let rows = vec![row("up", 3, 250, Outcome::Ok, Some(4.0)), cold];
        let r = report_of(&rows, &[]);
        assert_eq!(r.sections.len(), 2);
        let text = r.to_text();
        assert!(text.contains("up · cold start, process launcher"), "{text}");
        assert!(text.contains("up · warm start, process launcher"), "{text}");
        assert!(
            text.contains("90.0 (1/1)") && text.contains("4.00 (1/1)"),
            "{text}"
        );
    }

    #[test]
    fn a_leader_out_fault_shows_its_rejoin_time_and_other_tests_do_not() {
        let mut pause = row("pause_leader", 5, 250, Outcome::Ok, Some(300.0));
        pause.rejoin_ms = Some(12.5);
        let kill = row("kill_leader", 5, 250, Outcome::Ok, Some(20.0));
        let md = report_of(&[pause, kill], &[]).to_markdown();
        assert!(md.contains("| 5 | 300.0 (1/1) | - | 12.5 |"), "{md}");
        assert_eq!(md.matches("ET 250: rejoin").count(), 1, "{md}");
    }

    #[test]
    fn a_cell_without_an_ok_run_shows_a_dash() {
        let rows = vec![
            row("up", 5, 250, Outcome::Timeout, None),
            row("up", 3, 500, Outcome::Ok, Some(1.234)),
        ];
        let md = report_of(&rows, &[]).to_markdown();
        assert!(md.contains("| 3 |  | - | 1.23 (1/1) | - |"), "{md}");
        assert!(md.contains("| 5 | - (0/1) | - |  | - |"), "{md}");
    }

    #[test]
    fn up_gets_a_slope_per_timeout_over_the_sizes_both_ran() {
        let rows = vec![
            row("up", 3, 250, Outcome::Ok, Some(400.0)),
            row("up", 9, 250, Outcome::Ok, Some(1000.0)),
            // No paper mean at 51: left out of both fits.
            row("up", 51, 250, Outcome::Ok, Some(90_000.0)),
            row("kill_leader", 3, 250, Outcome::Ok, Some(300.0)),
        ];
        let paper = vec![
            point(Source::Dec2015, "up", 250, 3, Some(0.3)),
            point(Source::Dec2015, "up", 250, 9, Some(1.5)),
            point(Source::Dec2015, "kill_leader", 250, 3, Some(0.4)),
        ];
        let r = report_of(&rows, &paper);
        let up = &r.sections[0];
        assert_eq!(up.slopes.len(), 1);
        let s = &up.slopes[0];
        assert_eq!(s.sizes, (3, 9));
        assert!((s.ours_ms_per_node - 100.0).abs() < 1e-9, "{s:?}");
        assert!((s.paper_ms_per_node - 200.0).abs() < 1e-9, "{s:?}");
        assert!(r.sections[1].slopes.is_empty(), "kill has no slope");
        assert!(r.to_markdown().contains(
            "- ET 250: 0.100 s per added node, paper 0.200 s (ours/paper 0.50), sizes 3–9"
        ));
        assert!(r.to_text().contains("slope ET 250: 0.100 s per added node"));
    }

    #[test]
    fn a_cold_slope_is_fitted_against_the_cold_paper_only() {
        let rows = vec![
            cold(row("up", 3, 500, Outcome::Ok, Some(400.0))),
            cold(row("up", 9, 500, Outcome::Ok, Some(1000.0))),
        ];
        let paper = vec![
            point(Source::Dec2015, "up", 500, 3, Some(0.1)),
            point(Source::Dec2015, "up", 500, 9, Some(0.2)),
            point(Source::Sep2015, "up", 500, 3, Some(0.3)),
            point(Source::Sep2015, "up", 500, 9, Some(1.5)),
        ];
        let md = report_of(&rows, &paper).to_markdown();
        assert!(
            md.contains(
                "- ET 500: 0.100 s per added node, paper 0.200 s (ours/paper 0.50), sizes 3–9"
            ),
            "{md}"
        );
    }

    #[test]
    fn formats() {
        assert_eq!(format_ms(4.266), "4.27");
        assert_eq!(format_ms(41.26), "41.3");
        assert_eq!(format_ms(2434.4), "2434");
        assert_eq!(format_ms(f64::INFINITY), "-");
        assert_eq!(format_ratio(0.517), "0.52×");
        assert_eq!(format_ratio(59.14), "59.1×");
        assert_eq!(format_ratio(1234.4), "1234×");
    }
}
