//! Summaries out: an aligned table for the terminal, a GitHub markdown
//! table and JSON, like hyperfine's `--export-markdown`/`--export-json`.
//!
//! All three show the same columns, built once in [`table`]: launcher,
//! replication, profile and start appear only when the summaries differ in them,
//! and an `unsafe` column only when a run violated safety, so the common
//! case stays narrow. Times are milliseconds with one decimal; `-` marks a
//! statistic with no ok run behind it (JSON uses `null`). Files are written
//! to a temporary file beside the target and renamed into place, so a killed
//! bench never leaves a half-written export.

use std::fs;
use std::io::{self, Write};
use std::path::Path;

use serde_json::{json, Value};

use super::stats::{Setup, Summary};
use super::table::{Align, Table};

/// Writing an export file failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The file or its directory could not be written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        source: io::Error,
    },
}

/// A setup column of the summary: its name and its value in a row.
type SetupColumn = (&'static str, fn(&Setup) -> String);

/// The setup columns, in order; each shows only when the summaries differ in it.
const SETUP_COLUMNS: [SetupColumn; 6] = [
    ("launcher", |s| s.launcher.to_string()),
    ("replication", |s| s.replication.to_string()),
    ("profile", |s| s.profile.to_string()),
    ("start", |s| s.start.to_string()),
    ("net", |s| s.net.clone()),
    ("signaling", |s| s.signaling.to_string()),
];

/// The summary's table: see the module docs for which columns show.
fn table(summaries: &[Summary]) -> Table {
    let setups: Vec<Setup> = summaries.iter().map(Summary::setup).collect();
    let shown: Vec<&SetupColumn> = SETUP_COLUMNS
        .iter()
        .filter(|(_, value)| setups.iter().any(|s| value(s) != value(&setups[0])))
        .collect();
    let show_unsafe = summaries.iter().any(|s| s.unsafe_runs > 0);
    let show_rejoin = summaries.iter().any(|s| s.rejoin_median_ms.is_some());

    let mut headers = vec!["test"];
    headers.extend(shown.iter().map(|(name, _)| *name));
    let text_columns = headers.len();
    headers.extend(["nodes", "ET (ms)", "ok"]);
    if show_unsafe {
        headers.push("unsafe");
    }
    headers.extend([
        "mean (ms)",
        "median (ms)",
        "p90 (ms)",
        "min (ms)",
        "max (ms)",
        "elections",
    ]);
    if show_rejoin {
        headers.push("rejoin (ms)");
    }
    let mut aligns = vec![Align::Left; text_columns];
    aligns.resize(headers.len(), Align::Right);

    let ms = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |v| format!("{v:.1}"));
    let rows = summaries
        .iter()
        .map(|s| {
            let mut cells = vec![s.test.name()];
            let setup = s.setup();
            cells.extend(shown.iter().map(|(_, value)| value(&setup)));
            cells.push(s.nodes.to_string());
            cells.push(s.election_timeout_ms.to_string());
            cells.push(format!("{}/{}", s.ok, s.runs));
            if show_unsafe {
                cells.push(s.unsafe_runs.to_string());
            }
            cells.extend(
                [s.mean_ms, s.median_ms, s.p90_ms, s.min_ms, s.max_ms]
                    .into_iter()
                    .map(ms),
            );
            cells.push(ms(s.elections_mean));
            if show_rejoin {
                cells.push(ms(s.rejoin_median_ms));
            }
            cells
        })
        .collect();
    Table {
        headers: headers.into_iter().map(String::from).collect(),
        aligns,
        rows,
    }
}

/// The summary as an aligned plain-text table (two spaces between columns,
/// text left-aligned, numbers right-aligned, no trailing spaces).
pub fn render_table(summaries: &[Summary]) -> String {
    table(summaries).to_text()
}

/// The summary as a GitHub-flavoured markdown table.
pub fn to_markdown(summaries: &[Summary]) -> String {
    table(summaries).to_markdown()
}

/// The summary as JSON: `{"results": [ {summary fields...}, ... ]}`, times
/// in ms, `null` where there was no ok run.
pub fn to_json(summaries: &[Summary]) -> Value {
    json!({ "results": summaries })
}

/// Writes `text` to `path` (atomically, creating directories).
pub fn write_text(path: impl AsRef<Path>, text: &str) -> Result<(), ExportError> {
    write_atomic(path.as_ref(), text.as_bytes())
}

/// Writes `value` as pretty JSON to `path` (atomically, creating directories).
pub fn write_value(path: impl AsRef<Path>, value: &Value) -> Result<(), ExportError> {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
    text.push('\n');
    write_atomic(path.as_ref(), text.as_bytes())
}

/// Writes [`to_markdown`] to `path` (atomically, creating directories).
pub fn write_markdown(path: impl AsRef<Path>, summaries: &[Summary]) -> Result<(), ExportError> {
    write_atomic(path.as_ref(), to_markdown(summaries).as_bytes())
}

/// Writes [`to_json`], pretty-printed, to `path` (atomically, creating
/// directories).
pub fn write_json(path: impl AsRef<Path>, summaries: &[Summary]) -> Result<(), ExportError> {
    write_value(path, &to_json(summaries))
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ExportError> {
    let io_err = |source| ExportError::Io {
        path: path.display().to_string(),
        source,
    };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    fs::create_dir_all(dir).map_err(io_err)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io_err)?;
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_data())
        .map_err(io_err)?;
    tmp.persist(path).map_err(|e| io_err(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::results::row::{Launcher, Profile, Replication, Signaling, Start};

    fn summary(test: &str, nodes: usize, ok: usize, runs: usize, mean: Option<f64>) -> Summary {
        Summary {
            test: test.parse().unwrap(),
            launcher: Launcher::Process,
            replication: Replication::Immediate,
            profile: Profile::Default,
            start: Start::Cold,
            net: "none".to_owned(),
            signaling: Signaling::Embedded,
            nodes,
            election_timeout_ms: 250,
            runs,
            ok,
            failed: runs - ok,
            unsafe_runs: 0,
            mean_ms: mean,
            median_ms: mean,
            p90_ms: mean.map(|m| m + 10.0),
            min_ms: mean.map(|m| m - 10.0),
            max_ms: mean.map(|m| m + 20.0),
            elections_mean: mean.map(|_| 1.5),
            rejoin_median_ms: None,
        }
    }

    fn sample() -> Vec<Summary> {
        vec![
            summary("up", 3, 7, 7, Some(333.31)),
            summary("kill_leader", 21, 6, 7, Some(2434.0)),
            summary("propagate_100", 9, 0, 3, None),
        ]
    }

    #[test]
    fn the_terminal_table_aligns_columns_and_hides_uniform_setup() {
        let want = "\
test           nodes  ET (ms)   ok  mean (ms)  median (ms)  p90 (ms)  min (ms)  max (ms)  elections
up                 3      250  7/7      333.3        333.3     343.3     323.3     353.3        1.5
kill_leader       21      250  6/7     2434.0       2434.0    2444.0    2424.0    2454.0        1.5
propagate_100      9      250  0/3          -            -         -         -         -          -
";
        assert_eq!(render_table(&sample()), want);
    }

    #[test]
    fn setup_columns_and_unsafe_appear_when_they_differ() {
        let mut s = sample();
        s[1].launcher = Launcher::Docker;
        s[2].unsafe_runs = 1;
        s[2].start = Start::Warm;
        let want = "\
test           launcher  start  nodes  ET (ms)   ok  unsafe  mean (ms)  median (ms)  p90 (ms)  min (ms)  max (ms)  elections
up             process   cold       3      250  7/7       0      333.3        333.3     343.3     323.3     353.3        1.5
kill_leader    docker    cold      21      250  6/7       0     2434.0       2434.0    2444.0    2424.0    2454.0        1.5
propagate_100  process   warm       9      250  0/3       1          -            -         -         -         -          -
";
        assert_eq!(render_table(&s), want);
    }

    #[test]
    fn an_empty_summary_renders_just_the_header() {
        assert_eq!(
            render_table(&[]),
            "test  nodes  ET (ms)  ok  mean (ms)  median (ms)  p90 (ms)  min (ms)  max (ms)  elections\n"
        );
    }

    #[test]
    fn markdown_is_a_github_table() {
        let mut s = sample();
        s.truncate(2);
        let want = "\
| test | nodes | ET (ms) | ok | mean (ms) | median (ms) | p90 (ms) | min (ms) | max (ms) | elections |
| :--- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
| up | 3 | 250 | 7/7 | 333.3 | 333.3 | 343.3 | 323.3 | 353.3 | 1.5 |
| kill_leader | 21 | 250 | 6/7 | 2434.0 | 2434.0 | 2444.0 | 2424.0 | 2454.0 | 1.5 |
";
        assert_eq!(to_markdown(&s), want);
    }

    #[test]
    fn json_lists_every_field_with_null_for_missing_statistics() {
        let v = to_json(&sample()[2..]);
        assert_eq!(
            v,
            json!({"results": [{
                "test": "propagate_100",
                "launcher": "process",
                "replication": "immediate",
                "profile": "default",
                "start": "cold",
                "net": "none",
                "signaling": "embedded",
                "nodes": 9,
                "election_timeout_ms": 250,
                "runs": 3,
                "ok": 0,
                "failed": 3,
                "unsafe_runs": 0,
                "mean_ms": null,
                "median_ms": null,
                "p90_ms": null,
                "min_ms": null,
                "max_ms": null,
                "elections_mean": null,
                "rejoin_median_ms": null
            }]})
        );
    }

    #[test]
    fn exports_are_written_into_new_directories() {
        let dir = tempfile::tempdir().unwrap();
        let md = dir.path().join("out/summary.md");
        let js = dir.path().join("out/summary.json");
        write_markdown(&md, &sample()).unwrap();
        write_json(&js, &sample()).unwrap();
        assert_eq!(fs::read_to_string(&md).unwrap(), to_markdown(&sample()));
        let back: Value = serde_json::from_str(&fs::read_to_string(&js).unwrap()).unwrap();
        assert_eq!(back, to_json(&sample()));
        // Only the two files: no temporary file left behind.
        assert_eq!(fs::read_dir(dir.path().join("out")).unwrap().count(), 2);
    }

    #[test]
    fn an_unwritable_export_path_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        fs::write(&file, "x").unwrap();
        let e = write_json(file.join("sub/out.json"), &sample()).unwrap_err();
        assert!(e.to_string().contains("sub/out.json"), "{e}");
    }
}
