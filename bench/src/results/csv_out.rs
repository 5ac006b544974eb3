//! The per-run CSV: one row per run, appended and synced as each run ends.
//!
//! A matrix can run for hours, in pieces, into the same file, and may be
//! killed at any moment. So the writer appends, writes the header only into
//! a new or empty file, refuses a file whose header differs (mixing column
//! layouts would make every later read wrong), and writes each row with one
//! `write_all` followed by `sync_data`. If an earlier bench was killed in the
//! middle of a row, the torn tail (everything after the last complete
//! record) is cut off when the file is opened again, and
//! [`CsvWriter::dropped_torn_line`] says so the caller can warn.
//!
//! Quoting follows RFC 4180, written here rather than pulled in as a crate:
//! a field is quoted when it holds a comma, a double quote, CR or LF, or
//! leading/trailing spaces; quotes inside are doubled. Records end with LF
//! (CRLF is accepted when reading). Readers report errors with the path, the
//! physical line number (1 = the header) and the column name.

use std::collections::HashMap;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::Serialize;

/// Every column, in the order written. The first [`REQUIRED_COLUMNS`] must
/// be present in any file read; the rest may be missing (read as empty).
pub const COLUMNS: [&str; 21] = [
    "test",
    "launcher",
    "nodes",
    "election_timeout_ms",
    "heartbeat_ms",
    "replication",
    "run",
    "seed",
    "killed",
    "messages",
    "outcome",
    "duration_ms",
    "up_ms",
    "elections",
    "final_term",
    "properties",
    "version",
    "started_at",
    "profile",
    "error",
    "logs",
];

/// How many leading entries of [`COLUMNS`] a file must have to be read.
pub const REQUIRED_COLUMNS: usize = 18;

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// The test's condition was reached and the safety check passed.
    Ok,
    /// The per-run timeout expired first.
    Timeout,
    /// The run could not be carried out (launch failure, crash, ...).
    #[default]
    Error,
    /// The safety check found a violated property.
    Unsafe,
}

impl Outcome {
    /// The CSV spelling: `ok`, `timeout`, `error` or `unsafe`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Timeout => "timeout",
            Outcome::Error => "error",
            Outcome::Unsafe => "unsafe",
        }
    }

    /// Whether the run succeeded.
    pub fn is_ok(&self) -> bool {
        *self == Outcome::Ok
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Outcome {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ok" => Ok(Outcome::Ok),
            "timeout" => Ok(Outcome::Timeout),
            "error" => Ok(Outcome::Error),
            "unsafe" => Ok(Outcome::Unsafe),
            _ => Err(format!(
                "\"{s}\" is not an outcome (expected ok, timeout, error or unsafe)"
            )),
        }
    }
}

/// One run: one CSV row. Field order is [`COLUMNS`]' order.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Row {
    /// The test's name, see `matrix::TestKind::name`.
    pub test: String,
    /// `process` or `docker`.
    pub launcher: String,
    /// Cluster size.
    pub nodes: usize,
    /// Election timeout (timers drawn from [ET, 2ET)).
    pub election_timeout_ms: u64,
    /// Heartbeat interval.
    pub heartbeat_ms: u64,
    /// `immediate` or `heartbeat`.
    pub replication: String,
    /// Repetition number within its matrix cell.
    pub run: u32,
    /// The seed the run's randomness came from.
    pub seed: u64,
    /// How many nodes were killed.
    pub killed: usize,
    /// How many messages were submitted.
    pub messages: u32,
    /// How the run ended.
    pub outcome: Outcome,
    /// The time the test measures, in ms (µs precision); `None` if unknown.
    pub duration_ms: Option<f64>,
    /// The cluster's up time in this run, in ms; `None` if it never came up.
    pub up_ms: Option<f64>,
    /// Elections seen during the run.
    pub elections: Option<u64>,
    /// The term at the end of the run.
    pub final_term: Option<u64>,
    /// The safety check's verdict (which properties held or failed).
    pub properties: String,
    /// The raftrtc version that ran it.
    pub version: String,
    /// When the run started (RFC 3339).
    pub started_at: String,
    /// `default` or `paper`.
    pub profile: String,
    /// What went wrong, if anything.
    pub error: String,
    /// Where the run's node logs were kept, if they were.
    pub logs: String,
}

impl Row {
    /// The fields as written, in [`COLUMNS`] order (unquoted).
    pub fn fields(&self) -> Vec<String> {
        let opt_ms = |v: Option<f64>| match v {
            Some(v) if v.is_finite() => format!("{v:.3}"),
            _ => String::new(),
        };
        let opt_u = |v: Option<u64>| v.map(|v| v.to_string()).unwrap_or_default();
        vec![
            self.test.clone(),
            self.launcher.clone(),
            self.nodes.to_string(),
            self.election_timeout_ms.to_string(),
            self.heartbeat_ms.to_string(),
            self.replication.clone(),
            self.run.to_string(),
            self.seed.to_string(),
            self.killed.to_string(),
            self.messages.to_string(),
            self.outcome.to_string(),
            opt_ms(self.duration_ms),
            opt_ms(self.up_ms),
            opt_u(self.elections),
            opt_u(self.final_term),
            self.properties.clone(),
            self.version.clone(),
            self.started_at.clone(),
            self.profile.clone(),
            self.error.clone(),
            self.logs.clone(),
        ]
    }
}

/// Reading or appending the CSV failed; every message names the file, and
/// where it can, the line and column.
#[derive(Debug, thiserror::Error)]
pub enum CsvError {
    /// The file could not be opened, read, written or synced.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        source: io::Error,
    },
    /// The file is not text.
    #[error("{path} is not UTF-8 text; is it a CSV file?")]
    NotUtf8 {
        /// The file.
        path: String,
    },
    /// The file's header differs from the one this version writes.
    #[error(
        "{path} has a different header than raftrtc writes, so rows cannot be appended to it; \
         use another --out file\n  expected: {expected}\n  found:    {found}"
    )]
    HeaderMismatch {
        /// The file.
        path: String,
        /// The header this version writes.
        expected: String,
        /// The file's first line.
        found: String,
    },
    /// A required column is missing from the header.
    #[error("{path} line 1: the header has no column \"{column}\"")]
    MissingColumn {
        /// The file.
        path: String,
        /// The missing column.
        column: String,
    },
    /// The record structure is broken (quotes, field count, header).
    #[error("{path} line {line}: {message}")]
    Syntax {
        /// The file.
        path: String,
        /// Physical line where the record starts (1 = header).
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A value does not fit its column.
    #[error("{path} line {line}, column \"{column}\": {message}")]
    Field {
        /// The file.
        path: String,
        /// Physical line where the record starts.
        line: usize,
        /// The column's name.
        column: String,
        /// What is wrong with the value.
        message: String,
    },
    /// The last record has no newline: a writer was stopped mid-row.
    #[error(
        "{path} line {line} is incomplete (no newline at the end of the file): \
         a bench was probably stopped while writing it"
    )]
    Torn {
        /// The file.
        path: String,
        /// Physical line where the torn record starts.
        line: usize,
    },
}

/// Appends rows to a results CSV, one synced line per run.
#[derive(Debug)]
pub struct CsvWriter {
    file: File,
    path: PathBuf,
    dropped_torn_line: Option<usize>,
}

impl CsvWriter {
    /// Opens `path` for appending, creating it and its parent directories.
    ///
    /// A new or empty file gets the header. An existing file must start with
    /// exactly the header this version writes. A torn last record left by a
    /// killed bench is cut off (see [`CsvWriter::dropped_torn_line`]).
    pub fn open_append(path: impl AsRef<Path>) -> Result<CsvWriter, CsvError> {
        let path = path.as_ref();
        let name = path.display().to_string();
        let io_err = |source| CsvError::Io {
            path: name.clone(),
            source,
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(parent).map_err(io_err)?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(io_err)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io_err)?;
        let text =
            String::from_utf8(bytes).map_err(|_| CsvError::NotUtf8 { path: name.clone() })?;

        let records = tokenize(&name, &text)?;
        let mut dropped_torn_line = None;
        let mut complete = records.as_slice();
        if let Some(last) = records.last().filter(|r| !r.complete) {
            dropped_torn_line = Some(last.line);
            complete = &records[..records.len() - 1];
            let keep = complete.last().map_or(0, |r| r.end);
            file.set_len(keep as u64).map_err(io_err)?;
        }
        let mut writer = CsvWriter {
            file,
            path: path.to_path_buf(),
            dropped_torn_line,
        };
        match complete.iter().find(|r| !r.is_blank()) {
            None => {
                // Blank lines only (or nothing): start over with the header.
                writer.file.set_len(0).map_err(io_err)?;
                writer.write_line(&header_line())?;
            }
            Some(first) if first.fields != COLUMNS => {
                return Err(CsvError::HeaderMismatch {
                    path: name,
                    expected: header_line().trim_end().to_string(),
                    found: text.lines().nth(first.line - 1).unwrap_or("").to_string(),
                });
            }
            Some(_) => {}
        }
        Ok(writer)
    }

    /// Appends one row, then flushes and syncs it to disk.
    pub fn write_row(&mut self, row: &Row) -> Result<(), CsvError> {
        let fields = row.fields();
        self.write_line(&format_line(fields.iter().map(String::as_str)))
    }

    /// The file being appended to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The line number of a torn last record that opening cut off, if any.
    pub fn dropped_torn_line(&self) -> Option<usize> {
        self.dropped_torn_line
    }

    fn write_line(&mut self, line: &str) -> Result<(), CsvError> {
        let result = self
            .file
            .write_all(line.as_bytes())
            .and_then(|()| self.file.flush())
            .and_then(|()| self.file.sync_data());
        result.map_err(|source| CsvError::Io {
            path: self.path.display().to_string(),
            source,
        })
    }
}

/// The header line, newline included.
fn header_line() -> String {
    format_line(COLUMNS.iter().copied())
}

/// Joins fields into one record line, quoting per RFC 4180, ending in LF.
fn format_line<'a>(fields: impl Iterator<Item = &'a str>) -> String {
    let mut line = String::new();
    for (i, field) in fields.enumerate() {
        if i > 0 {
            line.push(',');
        }
        push_field(&mut line, field);
    }
    line.push('\n');
    line
}

fn push_field(out: &mut String, field: &str) {
    let needs_quotes =
        field.contains([',', '"', '\r', '\n']) || field.starts_with(' ') || field.ends_with(' ');
    if needs_quotes {
        out.push('"');
        out.push_str(&field.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(field);
    }
}

/// Reads every row of a results CSV.
///
/// A torn last record (no newline at the end of the file) is an error unless
/// `lenient`, which skips it. Blank lines are skipped. Columns are found by
/// header name, so their order may differ; unknown columns are ignored.
pub fn read_rows(path: impl AsRef<Path>, lenient: bool) -> Result<Vec<Row>, CsvError> {
    let path = path.as_ref();
    let name = path.display().to_string();
    let bytes = fs::read(path).map_err(|source| CsvError::Io {
        path: name.clone(),
        source,
    })?;
    let text = String::from_utf8(bytes).map_err(|_| CsvError::NotUtf8 { path: name.clone() })?;
    parse_rows(&name, &text, lenient)
}

/// Parses rows from CSV text; `name` is the file name used in errors.
/// See [`read_rows`].
pub fn parse_rows(name: &str, text: &str, lenient: bool) -> Result<Vec<Row>, CsvError> {
    let mut records = tokenize(name, text)?;
    if let Some(last) = records.last().filter(|r| !r.complete) {
        if !lenient {
            return Err(CsvError::Torn {
                path: name.to_string(),
                line: last.line,
            });
        }
        records.pop();
    }
    let mut records = records.into_iter().filter(|r| !r.is_blank());
    let Some(header) = records.next() else {
        return Ok(Vec::new());
    };
    let mut index: HashMap<&str, usize> = HashMap::new();
    for (i, column) in header.fields.iter().enumerate() {
        if index.insert(column.as_str(), i).is_some() {
            return Err(CsvError::Syntax {
                path: name.to_string(),
                line: header.line,
                message: format!("column \"{column}\" appears twice in the header"),
            });
        }
    }
    let mut positions = [None; COLUMNS.len()];
    for (slot, column) in positions.iter_mut().zip(COLUMNS) {
        *slot = index.get(column).copied();
    }
    if let Some(missing) = positions[..REQUIRED_COLUMNS]
        .iter()
        .zip(COLUMNS)
        .find_map(|(p, c)| p.is_none().then_some(c))
    {
        return Err(CsvError::MissingColumn {
            path: name.to_string(),
            column: missing.to_string(),
        });
    }
    records
        .map(|record| {
            if record.fields.len() != header.fields.len() {
                return Err(CsvError::Syntax {
                    path: name.to_string(),
                    line: record.line,
                    message: format!(
                        "{} fields, but the header has {}",
                        record.fields.len(),
                        header.fields.len()
                    ),
                });
            }
            row_from_record(name, &record, &positions)
        })
        .collect()
}

/// Builds a [`Row`] from a record, `positions[i]` being where
/// `COLUMNS[i]` sits in the record (`None`: absent, read as empty).
fn row_from_record(
    name: &str,
    record: &Record,
    positions: &[Option<usize>; COLUMNS.len()],
) -> Result<Row, CsvError> {
    let get = |i: usize| positions[i].map_or("", |p| record.fields[p].as_str());
    let err = |i: usize, message: String| CsvError::Field {
        path: name.to_string(),
        line: record.line,
        column: COLUMNS[i].to_string(),
        message,
    };
    let whole = |i: usize| -> Result<u64, CsvError> {
        let v = get(i).trim();
        if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err(i, format!("\"{v}\" is not a whole number")));
        }
        v.parse()
            .map_err(|_| err(i, format!("\"{v}\" is too large")))
    };
    let opt_whole = |i: usize| -> Result<Option<u64>, CsvError> {
        if get(i).trim().is_empty() {
            Ok(None)
        } else {
            whole(i).map(Some)
        }
    };
    let narrow = |i: usize, v: u64| -> Result<u32, CsvError> {
        u32::try_from(v).map_err(|_| err(i, format!("\"{v}\" is too large")))
    };
    let opt_ms = |i: usize| -> Result<Option<f64>, CsvError> {
        let v = get(i).trim();
        if v.is_empty() {
            return Ok(None);
        }
        match v.parse::<f64>() {
            Ok(ms) if ms.is_finite() && ms >= 0.0 => Ok(Some(ms)),
            _ => Err(err(i, format!("\"{v}\" is not a number of milliseconds"))),
        }
    };
    let text = |i: usize| get(i).to_string();

    let test = text(0);
    if test.trim().is_empty() {
        return Err(err(0, "the test name is empty".to_string()));
    }
    let nodes = usize::try_from(whole(2)?).map_err(|_| err(2, "too large".to_string()))?;
    let killed = usize::try_from(whole(8)?).map_err(|_| err(8, "too large".to_string()))?;
    Ok(Row {
        test,
        launcher: text(1),
        nodes,
        election_timeout_ms: whole(3)?,
        heartbeat_ms: whole(4)?,
        replication: text(5),
        run: narrow(6, whole(6)?)?,
        seed: whole(7)?,
        killed,
        messages: narrow(9, whole(9)?)?,
        outcome: get(10).trim().parse().map_err(|m| err(10, m))?,
        duration_ms: opt_ms(11)?,
        up_ms: opt_ms(12)?,
        elections: opt_whole(13)?,
        final_term: opt_whole(14)?,
        properties: text(15),
        version: text(16),
        started_at: text(17),
        profile: text(18),
        error: text(19),
        logs: text(20),
    })
}

/// One CSV record as found in the text.
#[derive(Debug)]
struct Record {
    /// Physical line (1-based) the record starts on.
    line: usize,
    fields: Vec<String>,
    /// Byte offset just past the record's newline.
    end: usize,
    /// False when the text ended before the record's newline.
    complete: bool,
}

impl Record {
    fn is_blank(&self) -> bool {
        self.fields.len() == 1 && self.fields[0].is_empty()
    }
}

/// Splits text into RFC 4180 records. Malformed quoting is an error; a
/// record cut off by the end of the text is returned with `complete: false`.
fn tokenize(name: &str, text: &str) -> Result<Vec<Record>, CsvError> {
    let bytes = text.as_bytes();
    let mut records = Vec::new();
    let mut line = 1;
    let mut i = 0;
    while i < bytes.len() {
        let start_line = line;
        let mut fields = Vec::new();
        let mut field = Vec::new();
        let complete = loop {
            // At the start of a field.
            if bytes.get(i) == Some(&b'"') {
                i += 1;
                let closed = loop {
                    match bytes.get(i) {
                        None => break false,
                        Some(b'"') if bytes.get(i + 1) == Some(&b'"') => {
                            field.push(b'"');
                            i += 2;
                        }
                        Some(b'"') => {
                            i += 1;
                            break true;
                        }
                        Some(&b) => {
                            if b == b'\n' {
                                line += 1;
                            }
                            field.push(b);
                            i += 1;
                        }
                    }
                };
                if !closed {
                    break false;
                }
                match bytes.get(i) {
                    None | Some(b',') | Some(b'\n') => {}
                    Some(b'\r') if bytes.get(i + 1) == Some(&b'\n') => {}
                    Some(_) => {
                        return Err(CsvError::Syntax {
                            path: name.to_string(),
                            line,
                            message: "text after a closing quote (quotes inside a field must be \
                                      doubled)"
                                .to_string(),
                        })
                    }
                }
            } else {
                while let Some(&b) = bytes.get(i) {
                    if b == b',' || b == b'\n' || (b == b'\r' && bytes.get(i + 1) == Some(&b'\n')) {
                        break;
                    }
                    if b == b'"' {
                        return Err(CsvError::Syntax {
                            path: name.to_string(),
                            line,
                            message: "a quote inside an unquoted field".to_string(),
                        });
                    }
                    field.push(b);
                    i += 1;
                }
            }
            // Field boundaries are ASCII, so the bytes are whole UTF-8.
            fields.push(String::from_utf8_lossy(&field).into_owned());
            field.clear();
            match bytes.get(i) {
                None => break false,
                Some(b',') => i += 1,
                Some(b'\r') => {
                    i += 2;
                    line += 1;
                    break true;
                }
                Some(_) => {
                    i += 1;
                    line += 1;
                    break true;
                }
            }
        };
        if !complete {
            // Keep what was read so the caller can tell where it starts.
            if !field.is_empty() || fields.is_empty() {
                fields.push(String::from_utf8_lossy(&field).into_owned());
            }
            records.push(Record {
                line: start_line,
                fields,
                end: bytes.len(),
                complete: false,
            });
            break;
        }
        records.push(Record {
            line: start_line,
            fields,
            end: i,
            complete: true,
        });
    }
    Ok(records)
}

/// One run's row, for the unit tests of the modules that read rows
/// (stats, report, plot): `test` at `nodes` x `et`, with `ms` as both the
/// measured and the up time.
#[cfg(test)]
pub fn test_row(test: &str, nodes: usize, et: u64, outcome: Outcome, ms: Option<f64>) -> Row {
    Row {
        test: test.to_string(),
        launcher: "process".to_string(),
        nodes,
        election_timeout_ms: et,
        heartbeat_ms: et / 5,
        replication: "immediate".to_string(),
        outcome,
        duration_ms: ms,
        up_ms: ms,
        profile: "default".to_string(),
        version: "0.1.0".to_string(),
        started_at: "2026-01-01T00:00:00Z".to_string(),
        ..Row::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(test: &str, nodes: usize, run: u32, duration_ms: Option<f64>) -> Row {
        Row {
            test: test.to_string(),
            launcher: "process".to_string(),
            nodes,
            election_timeout_ms: 250,
            heartbeat_ms: 50,
            replication: "immediate".to_string(),
            run,
            seed: 42,
            killed: 0,
            messages: 0,
            outcome: if duration_ms.is_some() {
                Outcome::Ok
            } else {
                Outcome::Timeout
            },
            duration_ms,
            up_ms: duration_ms,
            elections: Some(1),
            final_term: Some(2),
            properties: "ok".to_string(),
            version: "0.1.0".to_string(),
            started_at: "2025-01-01T00:00:00Z".to_string(),
            profile: "default".to_string(),
            error: String::new(),
            logs: String::new(),
        }
    }

    const HEADER: &str = "test,launcher,nodes,election_timeout_ms,heartbeat_ms,replication,run,\
                          seed,killed,messages,outcome,duration_ms,up_ms,elections,final_term,\
                          properties,version,started_at,profile,error,logs\n";

    #[test]
    fn the_header_is_written_once_and_rows_append_across_opens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("results.csv");
        let mut w = CsvWriter::open_append(&path).unwrap();
        w.write_row(&row("up", 3, 1, Some(12.5))).unwrap();
        drop(w);
        let mut w = CsvWriter::open_append(&path).unwrap();
        assert_eq!(w.dropped_torn_line(), None);
        w.write_row(&row("up", 3, 2, None)).unwrap();

        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            format!(
                "{HEADER}\
                 up,process,3,250,50,immediate,1,42,0,0,ok,12.500,12.500,1,2,ok,0.1.0,\
                 2025-01-01T00:00:00Z,default,,\n\
                 up,process,3,250,50,immediate,2,42,0,0,timeout,,,1,2,ok,0.1.0,\
                 2025-01-01T00:00:00Z,default,,\n"
            )
        );
        let rows = read_rows(&path, false).unwrap();
        assert_eq!(
            rows,
            vec![row("up", 3, 1, Some(12.5)), row("up", 3, 2, None)]
        );
    }

    #[test]
    fn open_append_creates_parent_directories() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/results.csv");
        let w = CsvWriter::open_append(&path).unwrap();
        assert_eq!(w.path(), path);
        assert_eq!(fs::read_to_string(&path).unwrap(), HEADER);
    }

    #[test]
    fn an_empty_existing_file_gets_the_header() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("results.csv");
        fs::write(&path, "").unwrap();
        CsvWriter::open_append(&path).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), HEADER);
    }

    #[test]
    fn a_file_with_another_header_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("other.csv");
        fs::write(&path, "a,b,c\n1,2,3\n").unwrap();
        let e = CsvWriter::open_append(&path).unwrap_err();
        assert!(matches!(e, CsvError::HeaderMismatch { .. }), "{e}");
        let msg = e.to_string();
        assert!(msg.contains("different header"), "{msg}");
        assert!(msg.contains("found:    a,b,c"), "{msg}");
        // Nothing was written to it.
        assert_eq!(fs::read_to_string(&path).unwrap(), "a,b,c\n1,2,3\n");
    }

    #[test]
    fn reopening_cuts_off_a_torn_last_row_and_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("results.csv");
        let mut w = CsvWriter::open_append(&path).unwrap();
        w.write_row(&row("up", 3, 1, Some(1.0))).unwrap();
        drop(w);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"up,process,3,25").unwrap();
        drop(f);

        let mut w = CsvWriter::open_append(&path).unwrap();
        assert_eq!(w.dropped_torn_line(), Some(3));
        w.write_row(&row("up", 3, 2, Some(2.0))).unwrap();
        let rows = read_rows(&path, false).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1].run, 2);
    }

    #[test]
    fn a_torn_header_is_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("results.csv");
        fs::write(&path, "test,laun").unwrap();
        let w = CsvWriter::open_append(&path).unwrap();
        assert_eq!(w.dropped_torn_line(), Some(1));
        assert_eq!(fs::read_to_string(&path).unwrap(), HEADER);
    }

    #[test]
    fn fields_with_commas_quotes_and_newlines_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("results.csv");
        let mut r = row("kill_leader", 5, 1, None);
        r.outcome = Outcome::Error;
        r.error = "spawn failed: \"node\" exited, status 1\nsecond line".to_string();
        r.logs = " /tmp/run dir ".to_string();
        let mut w = CsvWriter::open_append(&path).unwrap();
        w.write_row(&r).unwrap();
        w.write_row(&row("up", 3, 1, Some(0.25))).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.contains(
            ",\"spawn failed: \"\"node\"\" exited, status 1\nsecond line\",\" /tmp/run dir \"\n"
        ));
        let rows = read_rows(&path, false).unwrap();
        assert_eq!(rows, vec![r, row("up", 3, 1, Some(0.25))]);
    }

    #[test]
    fn a_torn_last_line_is_an_error_unless_lenient() {
        let text = format!(
            "{HEADER}up,process,3,250,50,immediate,1,42,0,0,ok,1.0,1.0,1,2,ok,v,t,,,\nup,proc"
        );
        let e = parse_rows("results.csv", &text, false).unwrap_err();
        assert_eq!(
            e.to_string(),
            "results.csv line 3 is incomplete (no newline at the end of the file): \
             a bench was probably stopped while writing it"
        );
        let rows = parse_rows("results.csv", &text, true).unwrap();
        assert_eq!(rows.len(), 1);
    }

    #[test]
    fn an_unclosed_quote_at_the_end_is_a_torn_line() {
        let text = format!("{HEADER}up,process,3,250,50,immediate,1,42,0,0,error,,,,,\"broken");
        assert!(matches!(
            parse_rows("r.csv", &text, false),
            Err(CsvError::Torn { line: 2, .. })
        ));
        assert_eq!(parse_rows("r.csv", &text, true).unwrap(), vec![]);
    }

    #[test]
    fn a_bad_value_names_the_line_and_column() {
        let good = "up,process,3,250,50,immediate,1,42,0,0,ok,1,1,1,2,ok,v,t,,,\n";
        let text = format!("{HEADER}{good}{}", good.replace(",3,", ",x,"));
        let e = parse_rows("results.csv", &text, false).unwrap_err();
        assert_eq!(
            e.to_string(),
            "results.csv line 3, column \"nodes\": \"x\" is not a whole number"
        );
        let text = format!("{HEADER}{}", good.replace(",ok,1,", ",maybe,1,"));
        let e = parse_rows("r.csv", &text, false).unwrap_err();
        assert_eq!(
            e.to_string(),
            "r.csv line 2, column \"outcome\": \"maybe\" is not an outcome \
             (expected ok, timeout, error or unsafe)"
        );
        let text = format!("{HEADER}{}", good.replace(",ok,1,1,", ",ok,-1,1,"));
        let e = parse_rows("r.csv", &text, false).unwrap_err();
        assert_eq!(
            e.to_string(),
            "r.csv line 2, column \"duration_ms\": \"-1\" is not a number of milliseconds"
        );
        let text = format!("{HEADER}{}", good.replace(",ok,1,1,", ",ok,NaN,1,"));
        assert!(parse_rows("r.csv", &text, false).is_err());
    }

    #[test]
    fn a_row_with_the_wrong_number_of_fields_is_refused() {
        let text = format!("{HEADER}up,process,3\n");
        let e = parse_rows("r.csv", &text, false).unwrap_err();
        assert_eq!(
            e.to_string(),
            "r.csv line 2: 3 fields, but the header has 21"
        );
    }

    #[test]
    fn a_missing_required_column_is_named() {
        let e = parse_rows("r.csv", "test,launcher\nup,process\n", false).unwrap_err();
        assert_eq!(
            e.to_string(),
            "r.csv line 1: the header has no column \"nodes\""
        );
    }

    #[test]
    fn a_repeated_column_is_refused() {
        let text = HEADER.replace("logs", "test");
        let e = parse_rows("r.csv", &text, false).unwrap_err();
        assert!(e.to_string().contains("\"test\" appears twice"), "{e}");
    }

    #[test]
    fn optional_columns_may_be_missing_and_columns_reordered() {
        let text = "nodes,test,launcher,election_timeout_ms,heartbeat_ms,replication,run,seed,\
                    killed,messages,outcome,duration_ms,up_ms,elections,final_term,properties,\
                    version,started_at,extra\r\n\
                    5,up,docker,250,50,heartbeat,3,7,0,0,ok,2434.5,2434.5,,,ok,0.1.0,now,x\r\n";
        let rows = parse_rows("r.csv", text, false).unwrap();
        assert_eq!(rows.len(), 1);
        let r = &rows[0];
        assert_eq!((r.test.as_str(), r.nodes, r.run), ("up", 5, 3));
        assert_eq!(r.launcher, "docker");
        assert_eq!(r.duration_ms, Some(2434.5));
        assert_eq!(r.elections, None);
        assert_eq!(r.profile, "");
    }

    #[test]
    fn blank_lines_and_empty_files_read_as_nothing() {
        assert_eq!(parse_rows("r.csv", "", false).unwrap(), vec![]);
        assert_eq!(parse_rows("r.csv", HEADER, false).unwrap(), vec![]);
        let text =
            format!("{HEADER}\nup,process,3,250,50,immediate,1,42,0,0,ok,1,1,1,2,ok,v,t,,,\n\n");
        assert_eq!(parse_rows("r.csv", &text, false).unwrap().len(), 1);
    }

    #[test]
    fn malformed_quotes_are_refused_with_their_line() {
        let text = format!("{HEADER}up,pro\"cess,3\n");
        let e = parse_rows("r.csv", &text, false).unwrap_err();
        assert_eq!(
            e.to_string(),
            "r.csv line 2: a quote inside an unquoted field"
        );
        let text = format!("{HEADER}\"up\"x,process\n");
        let e = parse_rows("r.csv", &text, false).unwrap_err();
        assert!(e.to_string().contains("after a closing quote"), "{e}");
    }

    #[test]
    fn binary_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        fs::write(&path, [0xff, 0xfe, 0x00]).unwrap();
        assert!(matches!(
            read_rows(&path, true),
            Err(CsvError::NotUtf8 { .. })
        ));
        assert!(matches!(
            CsvWriter::open_append(&path),
            Err(CsvError::NotUtf8 { .. })
        ));
    }

    #[test]
    fn a_missing_file_is_an_io_error_naming_it() {
        let e = read_rows("/nonexistent/dir/r.csv", false).unwrap_err();
        assert!(e.to_string().starts_with("/nonexistent/dir/r.csv: "), "{e}");
    }

    #[test]
    fn outcomes_spell_as_in_the_csv() {
        for o in [
            Outcome::Ok,
            Outcome::Timeout,
            Outcome::Error,
            Outcome::Unsafe,
        ] {
            assert_eq!(o.as_str().parse::<Outcome>(), Ok(o));
        }
        assert!(Outcome::Ok.is_ok());
        assert!(!Outcome::Unsafe.is_ok());
    }
}
