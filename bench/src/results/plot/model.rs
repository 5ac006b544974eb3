//! What a figure shows, computed from the cells before anything is drawn:
//! one figure per test, one series per election timeout and setup, the
//! papers' means as dashed lines, the axes' extent and the texts.
//!
//! Every run is a point, up to [`POINTS_PER_SIZE`] points per size of a
//! series: past that the points drawn are that many runs evenly spread by
//! rank (the fastest and slowest always among them), and the legend says
//! so. A million runs would otherwise be a million circles, drawn on top of
//! each other and written into an SVG of hundreds of MB; the spread keeps
//! the shape of the distribution and its extremes. Means and failure counts
//! always use every run.

use std::collections::{BTreeMap, BTreeSet};

use plotters::style::RGBColor;

use super::axes::y_range;
use crate::matrix::TestKind;
use crate::results::paper::PaperPoint;
use crate::results::report::{paper_reference, source_label};
use crate::results::row::Start;
use crate::results::stats::{mean, Cell, CellKey, Cells, Setup};

/// Most runs drawn as points per size of a series; see the module docs.
pub(super) const POINTS_PER_SIZE: usize = 200;

/// Tableau 10 without its red, which marks failures.
pub(crate) const PALETTE: [RGBColor; 9] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// The colour of failed runs.
pub(super) const FAILED: RGBColor = RGBColor(214, 39, 40);

/// One of our series: an election timeout under one setup.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Series {
    pub(super) label: String,
    pub(super) color: RGBColor,
    pub(super) election_timeout_ms: u64,
    /// How its clusters started: `up` is compared with the paper that timed it the same way.
    pub(super) start: Start,
    /// The network conditions it ran under; only the machine's own (`none`) gets the papers'.
    pub(super) net: String,
    /// (nodes, ms) of the ok runs drawn (see [`POINTS_PER_SIZE`]).
    pub(super) runs: Vec<(f64, f64)>,
    /// (nodes, mean ms) per size with an ok run, by size.
    pub(super) means: Vec<(f64, f64)>,
    /// (nodes, failed runs) per size with a failure, by size.
    pub(super) failed: Vec<(f64, usize)>,
    /// Whether some size had more ok runs than were drawn.
    pub(super) spread: bool,
}

/// The papers' means for one timeout, as a dashed line.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct PaperLine {
    pub(super) label: String,
    pub(super) color: RGBColor,
    /// (nodes, mean ms), by size; sizes where every run failed are gaps.
    pub(super) segments: Vec<Vec<(f64, f64)>>,
}

/// Everything one figure shows.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Figure {
    pub(super) test: TestKind,
    pub(super) title: String,
    pub(super) subtitle: String,
    pub(super) series: Vec<Series>,
    pub(super) paper: Vec<PaperLine>,
    /// Cluster sizes we ran: the x ticks.
    pub(super) sizes: Vec<usize>,
    pub(super) x_range: (f64, f64),
    pub(super) y_range: (f64, f64),
    /// Failed runs, all series together.
    pub(super) failed: usize,
}

impl Figure {
    /// Whether any series drew fewer points than it has ok runs.
    pub(super) fn spread(&self) -> bool {
        self.series.iter().any(|s| s.spread)
    }
}

/// The cells of one test, in listing order.
type TestCells<'a> = [(&'a CellKey, &'a Cell)];

/// Builds the figures, one per test, in test order.
pub(super) fn figures(cells: &Cells, paper: &[PaperPoint], log_scale: bool) -> Vec<Figure> {
    let cells: Vec<(&CellKey, &Cell)> = cells.iter().collect();
    cells
        .chunk_by(|a, b| a.0.test == b.0.test)
        .map(|cells| figure(cells, paper, log_scale))
        .collect()
}

fn figure(cells: &TestCells<'_>, paper: &[PaperPoint], log_scale: bool) -> Figure {
    let test = cells[0].0.test;
    let setups: BTreeSet<Setup> = cells.iter().map(|(k, _)| k.setup.clone()).collect();
    let series = series(cells, &setups);
    let sizes: Vec<usize> = cells
        .iter()
        .map(|(k, _)| k.nodes)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let (min_n, max_n) = (
        sizes.first().copied().unwrap_or(1) as f64,
        sizes.last().copied().unwrap_or(1) as f64,
    );
    let pad = ((max_n - min_n) * 0.04).max(1.0);
    let x_range = (min_n - pad, max_n + pad);
    let paper_lines = paper_lines(test, &series, paper, x_range);

    let values = series
        .iter()
        .flat_map(|s| s.runs.iter().map(|p| p.1))
        .chain(
            paper_lines
                .iter()
                .flat_map(|l| l.segments.iter().flatten().map(|p| p.1)),
        );
    let y_range = y_range(values, log_scale);
    let runs: usize = cells.iter().map(|(_, c)| c.runs).sum();
    let failed: usize = cells.iter().map(|(_, c)| c.failed()).sum();
    Figure {
        test,
        title: title(test),
        subtitle: subtitle(&setups, runs, failed),
        series,
        paper: paper_lines,
        sizes,
        x_range,
        y_range,
        failed,
    }
}

/// What a test measures, for the figure's title.
fn title(test: TestKind) -> String {
    match test {
        TestKind::Up => {
            "up: first launch (cold) or Raft's start on a mesh (warm) → one leader, all N members"
                .into()
        }
        TestKind::KillLeader => "kill leader: the leader killed → survivors recovered".into(),
        TestKind::KillHalf => {
            "kill half: leader + others, floor((N-1)/2) killed → survivors recovered".into()
        }
        TestKind::KillCount(n) => {
            format!(
                "kill {n}: leader + {} others killed → survivors recovered",
                n.saturating_sub(1)
            )
        }
        TestKind::PauseLeader => {
            "pause leader: the leader frozen (SIGSTOP) → the others follow a new leader".into()
        }
        TestKind::IsolateLeader => {
            "isolate leader: the leader's links cut → the others follow a new leader".into()
        }
        TestKind::RestartAll => {
            "restart all: every node killed, restarted from disk → up with every acked line".into()
        }
        TestKind::Propagate(m) => {
            let entries = if m == 1 { "entry" } else { "entries" };
            format!("propagate {m}: {m} {entries} submitted at a follower → applied on all nodes")
        }
    }
}

/// `ET 250 ms`, plus the parts of the setup that differ within the figure
/// (`ET 250 ms, docker, paper profile`).
fn series_label(et: u64, setup: &Setup, setups: &BTreeSet<Setup>) -> String {
    let differ = |f: fn(&Setup) -> String| setups.iter().map(f).collect::<BTreeSet<_>>().len() > 1;
    let mut parts = vec![format!("ET {et} ms")];
    if differ(|s| s.launcher.to_string()) {
        parts.push(setup.launcher.to_string());
    }
    if differ(|s| s.replication.to_string()) {
        parts.push(setup.replication.to_string());
    }
    if differ(|s| s.profile.to_string()) {
        parts.push(format!("{} profile", setup.profile));
    }
    if differ(|s| s.start.to_string()) {
        parts.push(format!("{} start", setup.start));
    }
    if differ(|s| s.net.clone()) {
        parts.push(format!("net {}", setup.net));
    }
    parts.join(", ")
}

/// The series of one test: by timeout, then setup, one colour each.
fn series(cells: &TestCells<'_>, setups: &BTreeSet<Setup>) -> Vec<Series> {
    let mut groups: BTreeMap<(u64, Setup), Vec<(f64, &Cell)>> = BTreeMap::new();
    for (key, cell) in cells {
        groups
            .entry((key.election_timeout_ms, key.setup.clone()))
            .or_default()
            .push((key.nodes as f64, cell));
    }
    groups
        .into_iter()
        .enumerate()
        .map(|(i, ((et, setup), sizes))| Series {
            label: series_label(et, &setup, setups),
            color: PALETTE[i % PALETTE.len()],
            election_timeout_ms: et,
            start: setup.start,
            net: setup.net.clone(),
            runs: sizes
                .iter()
                .flat_map(|&(n, c)| spread(&c.durations).into_iter().map(move |ms| (n, ms)))
                .collect(),
            means: sizes
                .iter()
                .filter_map(|&(n, c)| mean(&c.durations).map(|m| (n, m)))
                .collect(),
            failed: sizes
                .iter()
                .filter(|(_, c)| c.failed() > 0)
                .map(|&(n, c)| (n, c.failed()))
                .collect(),
            spread: sizes
                .iter()
                .any(|(_, c)| c.durations.len() > POINTS_PER_SIZE),
        })
        .collect()
}

/// The values to draw: all of them, in the order read, up to
/// [`POINTS_PER_SIZE`]; past that, that many evenly spread by rank from
/// the fastest to the slowest.
fn spread(values: &[f64]) -> Vec<f64> {
    if values.len() <= POINTS_PER_SIZE {
        return values.to_vec();
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let last = (sorted.len() - 1) as f64;
    (0..POINTS_PER_SIZE)
        .map(|i| {
            let rank = (i as f64 * last / (POINTS_PER_SIZE - 1) as f64).round();
            sorted[rank as usize]
        })
        .collect()
}

/// The papers' means for each of our timeouts and starts, in the colour of its first
/// series, within our range of sizes.
fn paper_lines(
    test: TestKind,
    series: &[Series],
    paper: &[PaperPoint],
    x_range: (f64, f64),
) -> Vec<PaperLine> {
    let mut et_color: BTreeMap<(u64, Start), RGBColor> = BTreeMap::new();
    for s in series.iter().filter(|s| s.net == "none") {
        et_color
            .entry((s.election_timeout_ms, s.start))
            .or_insert(s.color);
    }
    et_color
        .iter()
        .filter_map(|(&(et, start), &color)| {
            let reference = paper_reference(paper, test, et, start)?;
            let mut segments: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
            for m in &reference.means {
                let n = m.nodes as f64;
                if n < x_range.0 || n > x_range.1 {
                    continue;
                }
                match m.mean_seconds {
                    Some(s) if s.is_finite() => {
                        if let Some(segment) = segments.last_mut() {
                            segment.push((n, s * 1000.0));
                        }
                    }
                    _ => segments.push(Vec::new()),
                }
            }
            segments.retain(|s| !s.is_empty());
            (!segments.is_empty()).then(|| PaperLine {
                label: format!(
                    "paper {} ET {et} ({})",
                    source_label(reference.source),
                    reference.source.up_start()
                ),
                color,
                segments,
            })
        })
        .collect()
}

/// `process launcher · immediate replication · default profile · warm start · 42 runs,
/// all ok`: each setup part lists every value the figure holds.
fn subtitle(setups: &BTreeSet<Setup>, runs: usize, failed: usize) -> String {
    let values = |f: fn(&Setup) -> String| {
        let values: BTreeSet<String> = setups.iter().map(f).collect();
        values.into_iter().collect::<Vec<_>>().join("/")
    };
    let mut parts = vec![
        format!("{} launcher", values(|s| s.launcher.to_string())),
        format!("{} replication", values(|s| s.replication.to_string())),
        format!("{} profile", values(|s| s.profile.to_string())),
        format!("{} start", values(|s| s.start.to_string())),
    ];
    let nets = values(|s| s.net.clone());
    if nets != "none" {
        parts.push(format!("net {nets}"));
    }
    parts.push(match failed {
        0 => format!("{runs} runs, all ok"),
        f => format!("{runs} runs, {f} failed"),
    });
    parts.join(" · ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::plot::tests::{paper_points, sample_rows};
    use crate::results::row::test_row as row;
    use crate::results::row::{Launcher, Outcome};

    #[test]
    fn figures_hold_means_failures_and_the_paper_in_range() {
        let figs = figures(&Cells::of(&sample_rows()), &paper_points(), false);
        assert_eq!(
            figs.iter().map(|f| f.test).collect::<Vec<_>>(),
            [TestKind::Up, TestKind::KillLeader]
        );
        let up = &figs[0];
        assert_eq!(up.sizes, [3, 5, 7, 9]);
        assert_eq!(up.failed, 2);
        let et250 = &up.series[0];
        assert_eq!(et250.label, "ET 250 ms");
        assert_eq!(et250.runs.len(), 12);
        assert_eq!(et250.means[0], (3.0, 24.0));
        assert_eq!(et250.failed, [(9.0, 2)]);
        assert!(!up.spread());
        // Only the Dec 2015 ET 250 line: these rows are warm starts, as Dec 2015 timed
        // `up` (the cold Sep 2015 paper is not drawn beside them), and 35 nodes is outside
        // our range.
        assert_eq!(up.paper.len(), 1);
        assert_eq!(up.paper[0].label, "paper Dec 2015 ET 250 (warm)");
        assert_eq!(up.paper[0].color, et250.color);
        assert_eq!(up.paper[0].segments[0].len(), 4);
        // The axis fits the paper's 1094 ms.
        assert!(up.y_range.0 == 0.0 && up.y_range.1 > 1094.0);
        assert_eq!(
            up.subtitle,
            "process launcher · immediate replication · default profile · warm start · 26 runs, 2 failed"
        );
    }

    #[test]
    fn mixed_setups_are_separate_series() {
        let mut rows = sample_rows();
        let mut docker = row("up", 3, 250, Outcome::Ok, Some(90.0));
        docker.launcher = Launcher::Docker;
        rows.push(docker);
        let figs = figures(&Cells::of(&rows), &[], false);
        let labels: Vec<&str> = figs[0].series.iter().map(|s| s.label.as_str()).collect();
        assert_eq!(
            labels,
            [
                "ET 250 ms, docker",
                "ET 250 ms, process",
                "ET 1000 ms, process"
            ]
        );
        assert!(figs[0].subtitle.starts_with("docker/process launcher · "));
    }

    #[test]
    fn many_runs_are_spread_by_rank_keeping_the_extremes() {
        let few = [3.0, 1.0, 2.0];
        assert_eq!(spread(&few), few, "all of them, in the order read");
        let many: Vec<f64> = (0..10_000).rev().map(f64::from).collect();
        let drawn = spread(&many);
        assert_eq!(drawn.len(), POINTS_PER_SIZE);
        assert_eq!((drawn[0], drawn[POINTS_PER_SIZE - 1]), (0.0, 9999.0));
        assert!(drawn
            .windows(2)
            .all(|w| w[1] - w[0] > 49.0 && w[1] - w[0] < 52.0));
    }

    #[test]
    fn means_and_failures_count_every_run_even_when_points_are_spread() {
        let mut rows: Vec<_> = (0..1000)
            .map(|i| row("up", 3, 250, Outcome::Ok, Some(f64::from(i))))
            .collect();
        rows.push(row("up", 3, 250, Outcome::Timeout, None));
        let figs = figures(&Cells::of(&rows), &[], false);
        let s = &figs[0].series[0];
        assert!(s.spread && figs[0].spread());
        assert_eq!(s.runs.len(), POINTS_PER_SIZE);
        assert_eq!(s.means, [(3.0, 499.5)]);
        assert_eq!(s.failed, [(3.0, 1)]);
        assert!(figs[0].subtitle.ends_with("1001 runs, 1 failed"));
    }
}
