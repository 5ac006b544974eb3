//! The papers' measurements (Raft.js over WebRTC, Sep and Dec 2015), read
//! from their original gnuplot `.dat` files so our runs can be put beside
//! them.
//!
//! The directory is laid out like the project's copy of kanaka/raft.js
//! `research_class/data`: `dec2015-docker/*.dat` and
//! `sep2015-slimerjs/*.dat`, each file a header `nodes time label` (or
//! `node time label`) then one whitespace-separated row per run, times in
//! seconds. Which file holds which test is fixed in [`FILES`]; other files,
//! such as the `*_average(s).dat` means and the empty
//! `start_et500_fail.dat`, are not read (means are recomputed by [`means`];
//! a test checks they agree with the published ones).
//!
//! Quirks of the data, kept on purpose:
//! - Failed runs are rows `N 0.0 <label>_fail` (sep2015). Any row whose
//!   label ends in `_fail` or whose time is 0.0 is a failed run, since a
//!   real run never takes 0 s: `data_kill_half_100.dat` ends with
//!   `21 0.0 kh_average`, the collect script's "average" of a size where no
//!   run came up.
//! - Both papers ran 7 runs per cell but some failed runs left no row at all
//!   (always so in dec2015, sometimes in sep2015). So each (file, size) with
//!   fewer than [`RUNS_PER_CELL`] rows is padded with failed runs up to 7;
//!   that gives the ok/total the papers report (e.g. dec2015 kill half at
//!   N=35, ET 250: 2/7 ok).
//! - The dec2015 `start_et*.dat` files (test `up`) hold some runs twice, a
//!   bug of the papers' collect script. The rows are kept as they are, since
//!   the published means and figures were computed from them; so those
//!   files are not padded (their row counts per size are 14, 21 or 42, not
//!   7), and their ok/total counts rows, not runs.
//! - The sep2015 propagate file names no election timeout: that paper's
//!   page script (`rtc.js`) fixed it at 1000 ms unless edited, and only
//!   up/kill were run at 100/500 ms, so it is read as ET 1000, like dec2015.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::Path;

use super::row::Start;
use crate::matrix::TestKind;
use crate::matrix::TestKind::{KillHalf, KillLeader, Propagate, Up};
use Source::{Dec2015, Sep2015};

/// Runs per (test, timeout, size) cell in both papers.
pub const RUNS_PER_CELL: usize = 7;

/// Which paper a measurement comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    /// One Docker container per node, 8 cores (the Dec 2015 paper).
    Dec2015,
    /// All nodes as pages of one SlimerJS process (the Sep 2015 paper).
    Sep2015,
}

impl Source {
    /// `dec2015` or `sep2015`.
    #[cfg(test)]
    pub fn as_str(&self) -> &'static str {
        match self {
            Source::Dec2015 => "dec2015",
            Source::Sep2015 => "sep2015",
        }
    }

    /// How this paper timed `up`. Dec 2015 (`test/wait_start.js`): the pages loaded paused,
    /// connected to signaling and to each other, then Raft started on all at once, t0 just
    /// after, polled every 100 ms: a warm start. Sep 2015 (`test/test_up.js`): t0 before the
    /// first page opened, nodes joining as they loaded, polled every 500 ms: a cold start.
    pub fn up_start(&self) -> Start {
        match self {
            Source::Dec2015 => Start::Warm,
            Source::Sep2015 => Start::Cold,
        }
    }

    /// The sub-directory holding this paper's files.
    pub fn dir_name(&self) -> &'static str {
        match self {
            Source::Dec2015 => "dec2015-docker",
            Source::Sep2015 => "sep2015-slimerjs",
        }
    }
}

/// One run of the papers' experiments.
#[derive(Debug, Clone, PartialEq)]
pub struct PaperPoint {
    /// Which paper.
    pub source: Source,
    /// The experiment, as ours are named.
    pub test: TestKind,
    /// The election timeout of the run.
    pub election_timeout_ms: u64,
    /// Cluster size.
    pub nodes: usize,
    /// The measured time; `None` for a failed run.
    pub seconds: Option<f64>,
}

/// The papers' result for one cell: our recomputation of their means.
#[derive(Debug, Clone, PartialEq)]
pub struct PaperMean {
    /// Which paper.
    pub source: Source,
    /// The experiment.
    pub test: TestKind,
    /// Election timeout.
    pub election_timeout_ms: u64,
    /// Cluster size.
    pub nodes: usize,
    /// Runs (rows, for dec2015 `up`; see the module docs).
    pub runs: usize,
    /// Runs that succeeded.
    pub ok: usize,
    /// Mean of the successful runs' times; `None` if none succeeded.
    pub mean_seconds: Option<f64>,
}

/// One data file: where it is and what it measured.
#[derive(Debug, Clone, Copy)]
pub struct PaperFile {
    /// Which paper (and so which sub-directory).
    pub source: Source,
    /// The file's name inside the sub-directory.
    pub name: &'static str,
    /// The test it measured.
    pub test: TestKind,
    /// The election timeout it ran with.
    pub election_timeout_ms: u64,
}

const fn file(source: Source, name: &'static str, test: TestKind, et: u64) -> PaperFile {
    PaperFile {
        source,
        name,
        test,
        election_timeout_ms: et,
    }
}

/// Every file [`load`] reads, in the order its points are returned.
pub const FILES: [PaperFile; 21] = [
    file(Dec2015, "start_et250.dat", Up, 250),
    file(Dec2015, "start_et500.dat", Up, 500),
    file(Dec2015, "start_et1000.dat", Up, 1000),
    file(Dec2015, "kill_1_et250.dat", KillLeader, 250),
    file(Dec2015, "kill_1_et500.dat", KillLeader, 500),
    file(Dec2015, "kill_1_et1000.dat", KillLeader, 1000),
    file(Dec2015, "kill_half_et250.dat", KillHalf, 250),
    file(Dec2015, "kill_half_et500.dat", KillHalf, 500),
    file(Dec2015, "kill_half_et1000.dat", KillHalf, 1000),
    file(Dec2015, "propagate_1.dat", Propagate(1), 1000),
    file(Dec2015, "propagate_100.dat", Propagate(100), 1000),
    file(Sep2015, "data_cluster_up_100.dat", Up, 100),
    file(Sep2015, "data_cluster_up_500.dat", Up, 500),
    file(Sep2015, "data_cluster_up_1000.dat", Up, 1000),
    file(Sep2015, "data_kill_leader_100.dat", KillLeader, 100),
    file(Sep2015, "data_kill_leader_500.dat", KillLeader, 500),
    file(Sep2015, "data_kill_leader_1000.dat", KillLeader, 1000),
    file(Sep2015, "data_kill_half_100.dat", KillHalf, 100),
    file(Sep2015, "data_kill_half_500.dat", KillHalf, 500),
    file(Sep2015, "data_kill_half_1000.dat", KillHalf, 1000),
    file(Sep2015, "data_propagate.dat", Propagate(1), 1000),
];

/// Reading the papers' data failed.
#[derive(Debug, thiserror::Error)]
pub enum PaperError {
    /// A file could not be read (missing directory or file included).
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        source: io::Error,
    },
    /// A line does not have the expected form.
    #[error("{path} line {line}: {message}")]
    Parse {
        /// The file.
        path: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

/// Reads every file of [`FILES`] under `dir`; see the module docs for how
/// failed, missing and duplicated runs are treated.
pub fn load(dir: impl AsRef<Path>) -> Result<Vec<PaperPoint>, PaperError> {
    let dir = dir.as_ref();
    let mut points = Vec::new();
    for f in &FILES {
        let path = dir.join(f.source.dir_name()).join(f.name);
        let name = path.display().to_string();
        let bytes = fs::read(&path).map_err(|source| PaperError::Io {
            path: name.clone(),
            source,
        })?;
        let text = String::from_utf8_lossy(&bytes);
        let mut runs = parse_dat(&name, &text)?;
        let has_duplicates = f.source == Source::Dec2015 && f.test == TestKind::Up;
        if !has_duplicates {
            pad_missing_runs(&mut runs);
        }
        points.extend(runs.into_iter().map(|(nodes, seconds)| PaperPoint {
            source: f.source,
            test: f.test,
            election_timeout_ms: f.election_timeout_ms,
            nodes,
            seconds,
        }));
    }
    Ok(points)
}

/// Parses one `.dat` file into (nodes, seconds) rows, `None` for a failed
/// run. `name` is used in errors.
pub fn parse_dat(name: &str, text: &str) -> Result<Vec<(usize, Option<f64>)>, PaperError> {
    let err = |line: usize, message: String| PaperError::Parse {
        path: name.to_string(),
        line,
        message,
    };
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'));
    match lines.next() {
        Some((_, header))
            if matches!(
                header.split_whitespace().collect::<Vec<_>>()[..],
                ["nodes" | "node", "time", "label"]
            ) => {}
        Some((line, header)) => {
            return Err(err(
                line,
                format!("expected the header `nodes time label`, found `{header}`"),
            ))
        }
        None => return Err(err(1, "the file is empty (no header)".to_string())),
    }
    lines
        .map(|(line, text)| {
            let fields: Vec<&str> = text.split_whitespace().collect();
            let [nodes, time, label] = fields[..] else {
                return Err(err(
                    line,
                    format!(
                        "expected 3 fields (nodes time label), found {}",
                        fields.len()
                    ),
                ));
            };
            let nodes = match nodes.parse::<usize>() {
                Ok(n) if n >= 1 && nodes.bytes().all(|b| b.is_ascii_digit()) => n,
                _ => return Err(err(line, format!("\"{nodes}\" is not a cluster size"))),
            };
            let seconds = match time.parse::<f64>() {
                Ok(s) if s.is_finite() && s >= 0.0 => s,
                _ => return Err(err(line, format!("\"{time}\" is not a time in seconds"))),
            };
            let failed = label.ends_with("_fail") || seconds == 0.0;
            Ok((nodes, (!failed).then_some(seconds)))
        })
        .collect()
}

/// Appends failed runs for each size with fewer than [`RUNS_PER_CELL`] rows.
fn pad_missing_runs(runs: &mut Vec<(usize, Option<f64>)>) {
    let mut counts: BTreeMap<usize, usize> = BTreeMap::new();
    for (nodes, _) in runs.iter() {
        *counts.entry(*nodes).or_default() += 1;
    }
    for (nodes, count) in counts {
        for _ in count..RUNS_PER_CELL {
            runs.push((nodes, None));
        }
    }
}

/// The papers' mean per (source, test, timeout, size) over successful
/// runs, with ok/total counts; ordered by source, test, timeout, size.
pub fn means(points: &[PaperPoint]) -> Vec<PaperMean> {
    type Key = (Source, TestKind, u64, usize);
    let mut groups: BTreeMap<Key, (usize, Vec<f64>)> = BTreeMap::new();
    for p in points {
        let key = (p.source, p.test, p.election_timeout_ms, p.nodes);
        let (runs, ok) = groups.entry(key).or_default();
        *runs += 1;
        ok.extend(p.seconds);
    }
    groups
        .into_iter()
        .map(
            |((source, test, election_timeout_ms, nodes), (runs, ok))| PaperMean {
                source,
                test,
                election_timeout_ms,
                nodes,
                runs,
                ok: ok.len(),
                mean_seconds: super::stats::mean(&ok),
            },
        )
        .collect()
}

/// Where the papers' data is when no `--paper` is given: `results/paper-2015`
/// under the current directory (a checkout's root), else the copy in the
/// checkout this binary was built from.
pub fn default_dir() -> std::path::PathBuf {
    let here = Path::new("results/paper-2015");
    if here.join("dec2015-docker").is_dir() {
        return here.to_owned();
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../results/paper-2015")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn data_dir() -> PathBuf {
        default_dir()
    }

    fn mean_of<'a>(
        means: &'a [PaperMean],
        source: Source,
        test: &str,
        et: u64,
        nodes: usize,
    ) -> &'a PaperMean {
        means
            .iter()
            .find(|m| {
                m.source == source
                    && m.test.name() == test
                    && m.election_timeout_ms == et
                    && m.nodes == nodes
            })
            .unwrap_or_else(|| panic!("no mean for {source:?} {test} ET {et} N {nodes}"))
    }

    fn close(a: Option<f64>, b: f64, tolerance: f64) -> bool {
        a.is_some_and(|a| (a - b).abs() < tolerance)
    }

    #[test]
    fn the_papers_headline_means_are_reproduced() {
        let means = means(&load(data_dir()).unwrap());
        let m = mean_of(&means, Dec2015, "up", 250, 21);
        assert!(close(m.mean_seconds, 2.434, 5e-4), "{m:?}");
        for (test, et, nodes, want) in [
            ("up", 1000, 21, 6.916),
            ("kill_leader", 250, 21, 0.359),
            ("kill_half", 250, 21, 0.980),
            ("propagate_1", 1000, 21, 0.332),
            ("propagate_100", 1000, 21, 3.751),
        ] {
            let m = mean_of(&means, Dec2015, test, et, nodes);
            assert!(close(m.mean_seconds, want, 5e-4), "{m:?}");
        }
    }

    #[test]
    fn missing_and_failed_runs_give_the_papers_ok_counts() {
        let means = means(&load(data_dir()).unwrap());
        let ok = |source, test, et, nodes| {
            let m = mean_of(&means, source, test, et, nodes);
            (m.ok, m.runs)
        };
        assert_eq!(ok(Dec2015, "kill_half", 250, 35), (2, 7));
        assert_eq!(ok(Dec2015, "propagate_1", 1000, 41), (2, 7));
        assert_eq!(ok(Dec2015, "propagate_100", 1000, 41), (3, 7));
        assert_eq!(ok(Dec2015, "kill_leader", 250, 3), (7, 7));
        assert_eq!(ok(Sep2015, "up", 100, 21), (0, 7));
        assert_eq!(ok(Sep2015, "up", 100, 17), (6, 7));
        assert_eq!(ok(Sep2015, "kill_leader", 100, 17), (0, 7));
        assert_eq!(ok(Sep2015, "kill_half", 100, 21), (0, 7));
        let m = mean_of(&means, Sep2015, "kill_half", 100, 21);
        assert_eq!(m.mean_seconds, None);
        // Duplicated dec2015 start rows are kept: 21 rows at N=21.
        assert_eq!(ok(Dec2015, "up", 250, 21), (21, 21));
    }

    #[test]
    fn recomputed_means_match_every_published_average() {
        let dir = data_dir();
        let means = means(&load(&dir).unwrap());
        let averages = [
            (Dec2015, "start_et250_average.dat", "up", 250),
            (Dec2015, "start_et500_average.dat", "up", 500),
            (Dec2015, "start_et1000_average.dat", "up", 1000),
            (Dec2015, "kill_1_et250_average.dat", "kill_leader", 250),
            (Dec2015, "kill_1_et500_average.dat", "kill_leader", 500),
            (Dec2015, "kill_1_et1000_average.dat", "kill_leader", 1000),
            (Dec2015, "kill_half_et250_average.dat", "kill_half", 250),
            (Dec2015, "kill_half_et500_average.dat", "kill_half", 500),
            (Dec2015, "kill_half_et1000_average.dat", "kill_half", 1000),
            (Dec2015, "propagate_1_average.dat", "propagate_1", 1000),
            (Dec2015, "propagate_100_average.dat", "propagate_100", 1000),
            (Sep2015, "data_cluster_up_100_averages.dat", "up", 100),
            (Sep2015, "data_cluster_up_500_averages.dat", "up", 500),
            (Sep2015, "data_cluster_up_1000_averages.dat", "up", 1000),
            (
                Sep2015,
                "data_kill_leader_100_averages.dat",
                "kill_leader",
                100,
            ),
            (
                Sep2015,
                "data_kill_leader_500_averages.dat",
                "kill_leader",
                500,
            ),
            (
                Sep2015,
                "data_kill_leader_1000_averages.dat",
                "kill_leader",
                1000,
            ),
            (Sep2015, "data_kill_half_100_averages.dat", "kill_half", 100),
            (Sep2015, "data_kill_half_500_averages.dat", "kill_half", 500),
            (
                Sep2015,
                "data_kill_half_1000_averages.dat",
                "kill_half",
                1000,
            ),
            (Sep2015, "data_propagate_averages.dat", "propagate_1", 1000),
        ];
        let mut checked = 0;
        for (source, name, test, et) in averages {
            let path = dir.join(source.dir_name()).join(name);
            let text = fs::read_to_string(&path).unwrap();
            let rows = parse_dat(name, &text).unwrap();
            assert!(!rows.is_empty(), "{name}");
            for (nodes, published) in rows {
                let published = published.unwrap();
                let m = mean_of(&means, source, test, et, nodes);
                // sep2015 averages are truncated to 3 decimals.
                assert!(
                    close(m.mean_seconds, published, 1e-3),
                    "{name} N={nodes}: published {published}, recomputed {:?}",
                    m.mean_seconds
                );
                checked += 1;
            }
            // And every size we have a mean for is published.
            let published_sizes = parse_dat(name, &text).unwrap().len();
            let ours = means
                .iter()
                .filter(|m| {
                    m.source == source && m.test.name() == test && m.election_timeout_ms == et
                })
                .filter(|m| m.mean_seconds.is_some())
                .count();
            assert_eq!(ours, published_sizes, "{name}");
        }
        assert!(checked > 200, "{checked}");
    }

    #[test]
    fn every_file_maps_to_a_test_and_timeout() {
        let points = load(data_dir()).unwrap();
        for f in &FILES {
            assert!(
                points.iter().any(|p| p.source == f.source
                    && p.test == f.test
                    && p.election_timeout_ms == f.election_timeout_ms),
                "{}",
                f.name
            );
        }
        assert!(points.iter().all(|p| p.seconds.is_none_or(|s| s > 0.0)));
        assert_eq!(Dec2015.as_str(), "dec2015");
        assert_eq!(Sep2015.as_str(), "sep2015");
    }

    fn fake_dir(file: &str, text: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for f in &FILES {
            let sub = dir.path().join(f.source.dir_name());
            fs::create_dir_all(&sub).unwrap();
            fs::write(sub.join(f.name), "nodes time label\n3 0.5 x\n").unwrap();
        }
        fs::write(dir.path().join("dec2015-docker").join(file), text).unwrap();
        dir
    }

    #[test]
    fn a_bad_row_is_reported_with_its_file_and_line() {
        let dir = fake_dir("kill_1_et500.dat", "nodes time label\n3 0.5 x\n\n5 abc x\n");
        let e = load(dir.path()).unwrap_err().to_string();
        assert!(
            e.ends_with("kill_1_et500.dat line 4: \"abc\" is not a time in seconds"),
            "{e}"
        );

        let dir = fake_dir("kill_1_et500.dat", "nodes time label\nx 0.5 x\n");
        let e = load(dir.path()).unwrap_err().to_string();
        assert!(e.ends_with("line 2: \"x\" is not a cluster size"), "{e}");

        let dir = fake_dir("kill_1_et500.dat", "nodes time label\n3 0.5\n");
        let e = load(dir.path()).unwrap_err().to_string();
        assert!(
            e.ends_with("line 2: expected 3 fields (nodes time label), found 2"),
            "{e}"
        );

        let dir = fake_dir("kill_1_et500.dat", "a b c\n");
        let e = load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("line 1: expected the header"), "{e}");

        let dir = fake_dir("kill_1_et500.dat", "\n\n");
        let e = load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("the file is empty"), "{e}");

        let dir = fake_dir("kill_1_et500.dat", "nodes time label\n3 -1 x\n");
        assert!(load(dir.path()).is_err());
    }

    #[test]
    fn a_missing_file_is_named() {
        let dir = fake_dir("kill_1_et500.dat", "nodes time label\n");
        fs::remove_file(dir.path().join("sep2015-slimerjs/data_propagate.dat")).unwrap();
        let e = load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("sep2015-slimerjs/data_propagate.dat: "), "{e}");
    }

    #[test]
    fn fail_labels_and_zero_times_are_failed_runs() {
        let rows = parse_dat(
            "f",
            "node time label\r\n3 0.0 et100_fail\n3 1.5 et100_fail\n3 0.0 kh_average\n3 2.5 et100\n",
        )
        .unwrap();
        assert_eq!(rows, vec![(3, None), (3, None), (3, None), (3, Some(2.5))]);
    }

    #[test]
    fn sizes_short_of_seven_runs_are_padded_with_failures() {
        let dir = fake_dir(
            "kill_1_et500.dat",
            "nodes time label\n3 0.5 x\n5 1.0 x\n5 1.0 x\n",
        );
        let points = load(dir.path()).unwrap();
        let kl500: Vec<_> = points
            .iter()
            .filter(|p| p.source == Dec2015 && p.test == KillLeader && p.election_timeout_ms == 500)
            .collect();
        assert_eq!(kl500.len(), 14);
        assert_eq!(kl500.iter().filter(|p| p.seconds.is_some()).count(), 3);
        // dec2015 start files (duplicated rows) are not padded.
        let up250 = points
            .iter()
            .filter(|p| p.source == Dec2015 && p.test == Up && p.election_timeout_ms == 250)
            .count();
        assert_eq!(up250, 1);
    }
}
