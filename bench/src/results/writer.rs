//! Appending rows to a results CSV: one row per run, flushed and synced as
//! each run ends.
//!
//! A matrix can run for hours, in pieces, into the same file, and may be
//! killed at any moment. So the writer appends, writes the header only into
//! a new or empty file, refuses a file whose header differs (mixing column
//! layouts would make every later read wrong), and writes each row with one
//! `write_all` followed by `sync_data`.
//!
//! If an earlier bench was killed in the middle of a row, the file ends
//! without a newline. Opening it again cuts that last line off if it is
//! torn (see [`super::reader`]: it does not parse as a whole row) and says
//! so through [`CsvWriter::dropped_torn_line`]; a whole row that only lacks
//! its newline gets the newline and stays. Opening streams through the file
//! once, so a large file costs time, not memory.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use std::marker::PhantomData;

use csv::{ByteRecord, ReaderBuilder, StringRecord, Terminator, WriterBuilder};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::error::CsvError;
use super::reader::is_whole_row;
use super::row::Row;

/// A row type a [`CsvWriter`] appends: written with serde, its header fixed by its fields.
pub trait CsvRecord: Serialize + DeserializeOwned {
    /// The header, every column in the order written.
    fn columns() -> &'static StringRecord;
}

/// Appends rows to a results CSV, one synced line per run.
#[derive(Debug)]
pub struct CsvWriter<R = Row> {
    file: File,
    path: PathBuf,
    dropped_torn_line: Option<u64>,
    row: PhantomData<fn(&R)>,
}

/// What opening found in an existing file: its first record and where its
/// last one starts.
struct Scan {
    header: Option<ByteRecord>,
    last_start: u64,
    last_line: u64,
    last_is_header: bool,
    len: u64,
    ends_with_newline: bool,
}

impl<R: CsvRecord> CsvWriter<R> {
    /// Opens `path` for appending, creating it and its parent directories.
    ///
    /// A new or empty file gets the header. An existing file must start with
    /// exactly the header this version writes. A torn last line left by a
    /// killed bench is cut off (see [`CsvWriter::dropped_torn_line`]).
    pub fn open_append(path: impl AsRef<Path>) -> Result<CsvWriter<R>, CsvError> {
        let path = path.as_ref();
        let io_err = |source| CsvError::Io {
            path: path.display().to_string(),
            source,
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(parent).map_err(io_err)?;
        }
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(io_err)?;
        let scan = scan(&file).map_err(io_err)?;
        let mut writer = CsvWriter {
            file,
            path: path.to_path_buf(),
            dropped_torn_line: None,
            row: PhantomData,
        };
        writer.repair(&scan)?;
        Ok(writer)
    }

    /// Checks the header and mends the end of the file; see the module docs.
    fn repair(&mut self, scan: &Scan) -> Result<(), CsvError> {
        let expected = R::columns().as_byte_record();
        let unterminated = scan.len > 0 && !scan.ends_with_newline;
        match &scan.header {
            None => self.restart(),
            Some(h) if h != expected && unterminated && scan.last_is_header => {
                // Only a header, cut short.
                self.dropped_torn_line = Some(1);
                self.restart()
            }
            Some(h) if h != expected => Err(self.header_mismatch(h)),
            Some(_) if !unterminated => Ok(()),
            Some(h) => {
                let raw =
                    read_from(&self.file, scan.last_start, scan.len).map_err(|e| self.io(e))?;
                if scan.last_is_header || is_whole_row::<R>(&raw, h) {
                    self.write_bytes(b"\n")
                } else {
                    self.dropped_torn_line = Some(scan.last_line);
                    self.file.set_len(scan.last_start).map_err(|e| self.io(e))
                }
            }
        }
    }

    /// Empties the file and writes the header.
    fn restart(&mut self) -> Result<(), CsvError> {
        self.file.set_len(0).map_err(|e| self.io(e))?;
        let line = line(|w| w.write_record(R::columns())).map_err(|e| self.io(e))?;
        self.write_bytes(&line)
    }

    fn header_mismatch(&self, found: &ByteRecord) -> CsvError {
        if found.iter().any(|f| std::str::from_utf8(f).is_err()) {
            return CsvError::NotUtf8 {
                path: self.path.display().to_string(),
            };
        }
        let text = |r: &ByteRecord| {
            let fields: Vec<_> = r.iter().map(String::from_utf8_lossy).collect();
            fields.join(",")
        };
        CsvError::HeaderMismatch {
            path: self.path.display().to_string(),
            expected: text(R::columns().as_byte_record()),
            found: text(found),
        }
    }

    /// Appends one row, then flushes and syncs it to disk.
    pub fn write_row(&mut self, row: &R) -> Result<(), CsvError> {
        let line = line(|w| w.serialize(row)).map_err(|e| self.io(e))?;
        self.write_bytes(&line)
    }

    /// The file being appended to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The line number of a torn last line that opening cut off, if any.
    pub fn dropped_torn_line(&self) -> Option<u64> {
        self.dropped_torn_line
    }

    fn write_bytes(&mut self, bytes: &[u8]) -> Result<(), CsvError> {
        let result = self
            .file
            .write_all(bytes)
            .and_then(|()| self.file.flush())
            .and_then(|()| self.file.sync_data());
        result.map_err(|e| self.io(e))
    }

    fn io(&self, source: io::Error) -> CsvError {
        CsvError::Io {
            path: self.path.display().to_string(),
            source,
        }
    }
}

/// One record as written: RFC 4180 quoting where needed, LF at the end.
fn line(write: impl FnOnce(&mut csv::Writer<Vec<u8>>) -> csv::Result<()>) -> io::Result<Vec<u8>> {
    let mut writer = WriterBuilder::new()
        .has_headers(false)
        .terminator(Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    write(&mut writer).map_err(io::Error::other)?;
    writer
        .into_inner()
        .map_err(|e| io::Error::other(e.to_string()))
}

/// Streams through `file` once, keeping only its first record and where
/// the last one starts.
fn scan(file: &File) -> io::Result<Scan> {
    let len = file.metadata()?.len();
    let mut csv = ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(file);
    let mut record = ByteRecord::new();
    let mut scan = Scan {
        header: None,
        last_start: 0,
        last_line: 1,
        last_is_header: false,
        len,
        ends_with_newline: read_from(file, len.saturating_sub(1), len)? == b"\n",
    };
    while csv
        .read_byte_record(&mut record)
        .map_err(io::Error::other)?
    {
        let start = record.position().map_or((0, 1), |p| (p.byte(), p.line()));
        (scan.last_start, scan.last_line) = start;
        scan.last_is_header = scan.header.is_none();
        if scan.header.is_none() {
            scan.header = Some(record.clone());
        }
    }
    Ok(scan)
}

/// The bytes of `file` in `start..end`.
fn read_from(file: &File, start: u64, end: u64) -> io::Result<Vec<u8>> {
    let mut bytes = vec![0; end.saturating_sub(start) as usize];
    file.read_exact_at(&mut bytes, start)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;
    use crate::results::reader::read_rows;
    use crate::results::row::{Launcher, Outcome, Profile, Replication, Signaling, Start};

    fn row(nodes: usize, run: u32, duration_ms: Option<f64>) -> Row {
        Row {
            test: crate::matrix::TestKind::Up,
            launcher: Launcher::Process,
            nodes,
            election_timeout_ms: 250,
            heartbeat_ms: 50,
            replication: Replication::Immediate,
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
            launched_ms: duration_ms.map(|_| 1.5),
            signaling_ms: duration_ms.map(|_| 2.25),
            mesh_ms: None,
            raft_ms: duration_ms,
            rejoin_ms: None,
            elections: Some(1),
            final_term: Some(2),
            properties: "ok".to_string(),
            version: "0.1.0".to_string(),
            started_at: "2025-01-01T00:00:00Z".to_string(),
            profile: Profile::Default,
            start: Start::Cold,
            net: "delay=5ms,loss=1%".to_owned(),
            signaling: Signaling::Peerjs,
            error: String::new(),
            logs: String::new(),
        }
    }

    const HEADER: &str = "test,launcher,nodes,election_timeout_ms,heartbeat_ms,replication,run,\
                          seed,killed,messages,outcome,duration_ms,up_ms,launched_ms,\
                          signaling_ms,mesh_ms,raft_ms,rejoin_ms,elections,final_term,properties,version,\
                          started_at,profile,start,net,signaling,error,logs\n";

    /// Appends `rows` to a new file at `path` and closes it.
    fn write(path: &Path, rows: &[Row]) {
        let mut w = CsvWriter::<Row>::open_append(path).unwrap();
        for r in rows {
            w.write_row(r).unwrap();
        }
    }

    #[test]
    fn the_header_is_written_once_and_rows_append_across_opens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("results.csv");
        write(&path, &[row(3, 1, Some(12.5))]);
        let mut w = CsvWriter::<Row>::open_append(&path).unwrap();
        assert_eq!(w.dropped_torn_line(), None);
        w.write_row(&row(3, 2, None)).unwrap();

        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            format!(
                "{HEADER}\
                 up,process,3,250,50,immediate,1,42,0,0,ok,12.500,12.500,1.500,2.250,,12.500,,\
                 1,2,ok,0.1.0,2025-01-01T00:00:00Z,default,cold,\"delay=5ms,loss=1%\",peerjs,,\n\
                 up,process,3,250,50,immediate,2,42,0,0,timeout,,,,,,,,1,2,ok,0.1.0,\
                 2025-01-01T00:00:00Z,default,cold,\"delay=5ms,loss=1%\",peerjs,,\n"
            )
        );
        let rows = read_rows(&path).unwrap();
        assert_eq!(rows, vec![row(3, 1, Some(12.5)), row(3, 2, None)]);
    }

    #[test]
    fn open_append_creates_parent_directories() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/results.csv");
        let w = CsvWriter::<Row>::open_append(&path).unwrap();
        assert_eq!(w.path(), path);
        assert_eq!(fs::read_to_string(&path).unwrap(), HEADER);
    }

    #[test]
    fn an_empty_existing_file_gets_the_header() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("results.csv");
        fs::write(&path, "\n\n").unwrap();
        CsvWriter::<Row>::open_append(&path).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), HEADER);
    }

    #[test]
    fn a_file_with_another_header_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("other.csv");
        fs::write(&path, "a,b,c\n1,2,3\n").unwrap();
        let e = CsvWriter::<Row>::open_append(&path).unwrap_err();
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
        write(&path, &[row(3, 1, Some(1.0))]);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"up,process,3,25").unwrap();
        drop(f);

        let mut w = CsvWriter::<Row>::open_append(&path).unwrap();
        assert_eq!(w.dropped_torn_line(), Some(3));
        w.write_row(&row(3, 2, Some(2.0))).unwrap();
        let runs: Vec<u32> = read_rows(&path).unwrap().iter().map(|r| r.run).collect();
        assert_eq!(runs, [1, 2]);
    }

    #[test]
    fn a_whole_last_row_without_its_newline_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("results.csv");
        write(&path, &[row(3, 1, Some(1.0)), row(3, 2, Some(2.0))]);
        let text = fs::read_to_string(&path).unwrap();
        fs::write(&path, text.trim_end_matches('\n')).unwrap();

        let mut w = CsvWriter::<Row>::open_append(&path).unwrap();
        assert_eq!(w.dropped_torn_line(), None);
        w.write_row(&row(3, 3, Some(3.0))).unwrap();
        let runs: Vec<u32> = read_rows(&path).unwrap().iter().map(|r| r.run).collect();
        assert_eq!(runs, [1, 2, 3]);
    }

    #[test]
    fn a_last_row_missing_columns_or_cut_inside_quotes_is_torn() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("results.csv");
        let mut quoted = row(3, 2, None);
        quoted.logs = "/tmp/a, b".to_string();
        write(&path, &[row(3, 1, Some(1.0)), quoted]);
        let whole = fs::read_to_string(&path).unwrap();
        // Cut inside the quoted last field: every column is there, but the
        // quote is open.
        let cut_in_quotes = &whole[..whole.len() - 4];
        // Cut before the last column: one field short.
        let second = whole[..whole.len() - 1].rfind('\n').unwrap() + 1;
        let one_short = &whole[..whole[second..].rfind(',').unwrap() + second];
        for text in [cut_in_quotes, one_short] {
            fs::write(&path, text).unwrap();
            let w = CsvWriter::<Row>::open_append(&path).unwrap();
            assert_eq!(w.dropped_torn_line(), Some(3), "{text}");
            assert_eq!(fs::read_to_string(&path).unwrap(), whole[..second]);
        }
    }

    #[test]
    fn a_torn_header_is_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("results.csv");
        fs::write(&path, "test,laun").unwrap();
        let w = CsvWriter::<Row>::open_append(&path).unwrap();
        assert_eq!(w.dropped_torn_line(), Some(1));
        assert_eq!(fs::read_to_string(&path).unwrap(), HEADER);
    }

    #[test]
    fn fields_with_commas_quotes_and_newlines_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("results.csv");
        let mut r = row(5, 1, None);
        r.outcome = Outcome::Error;
        r.error = "spawn failed: \"node\" exited, status 1\nsecond line".to_string();
        r.logs = " /tmp/run dir ".to_string();
        write(&path, &[r.clone(), row(3, 1, Some(0.25))]);
        let text = fs::read_to_string(&path).unwrap();
        assert!(
            text.contains(",\"spawn failed: \"\"node\"\" exited, status 1\nsecond line\","),
            "{text}"
        );
        assert_eq!(read_rows(&path).unwrap(), vec![r, row(3, 1, Some(0.25))]);
    }

    #[test]
    fn binary_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        fs::write(&path, [0xff, 0xfe, 0x00, b'\n']).unwrap();
        assert!(matches!(
            CsvWriter::<Row>::open_append(&path),
            Err(CsvError::NotUtf8 { .. })
        ));
    }
}
