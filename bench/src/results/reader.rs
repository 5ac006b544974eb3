//! Reading results CSVs one row at a time, so analysis memory does not grow
//! with the file.
//!
//! Columns are found by header name, so their order may differ and unknown
//! columns are ignored; columns added after a file was written take their
//! default (see [`super::row`]). Blank lines are skipped and CRLF is
//! accepted.
//!
//! A torn last line is one a killed bench left: the file does not end in a
//! newline, and the last record does not parse as a whole row (it has an
//! unclosed quote, the wrong number of fields or a value that does not fit).
//! A last row that is whole but lacks only its newline is a row like any
//! other. [`RowReader`] reports a torn line as [`CsvError::Torn`], the last
//! item; [`read_csvs`] skips it (the file may still be being appended to).

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use csv::{ByteRecord, DeserializeErrorKind, ReaderBuilder};

use super::error::CsvError;
use super::row::{default_record, required_columns, Row};

/// The rows of one CSV, in order; see the module docs.
pub struct RowReader<R> {
    path: String,
    csv: csv::Reader<R>,
    header: ByteRecord,
    record: ByteRecord,
    len: u64,
    ends_with_newline: bool,
    done: bool,
}

impl RowReader<BufReader<File>> {
    /// Opens `path` and reads its header.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, CsvError> {
        let path = path.as_ref();
        let name = path.display().to_string();
        let file = File::open(path).map_err(|source| CsvError::Io {
            path: name.clone(),
            source,
        })?;
        RowReader::new(name, BufReader::new(file))
    }
}

impl<R: Read + Seek> RowReader<R> {
    /// Reads the header of `input`; `name` is the file name used in errors.
    pub fn new(name: String, mut input: R) -> Result<Self, CsvError> {
        let io_err = |source| CsvError::Io {
            path: name.clone(),
            source,
        };
        let (len, ends_with_newline) = measure(&mut input).map_err(io_err)?;
        let csv = ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(input);
        let mut reader = RowReader {
            path: name,
            csv,
            header: ByteRecord::new(),
            record: ByteRecord::new(),
            len,
            ends_with_newline,
            done: false,
        };
        let mut header = ByteRecord::new();
        if !reader.read(&mut header)? {
            reader.done = true;
            return Ok(reader);
        }
        if reader.is_unterminated_last() && !reader.is_whole_header(&header) {
            // A header cut short: nothing after it, so no rows.
            reader.done = true;
            return Ok(reader);
        }
        reader.check_header(&header)?;
        reader.header = header;
        Ok(reader)
    }

    /// Reads the next record into `record`; false at the end.
    fn read(&mut self, record: &mut ByteRecord) -> Result<bool, CsvError> {
        self.csv.read_byte_record(record).map_err(|e| CsvError::Io {
            path: self.path.clone(),
            source: io::Error::other(e),
        })
    }

    /// Whether the record just read ends the file without a newline.
    fn is_unterminated_last(&self) -> bool {
        !self.ends_with_newline && self.csv.position().byte() >= self.len
    }

    fn is_whole_header(&self, header: &ByteRecord) -> bool {
        let present = |c: &String| header.iter().any(|h| h == c.as_bytes());
        required_columns().iter().all(present)
    }

    fn check_header(&self, header: &ByteRecord) -> Result<(), CsvError> {
        let text: Vec<&str> = header
            .iter()
            .map(std::str::from_utf8)
            .collect::<Result<_, _>>()
            .map_err(|_| CsvError::NotUtf8 {
                path: self.path.clone(),
            })?;
        for (i, column) in text.iter().enumerate() {
            if text[..i].contains(column) {
                return Err(CsvError::Syntax {
                    path: self.path.clone(),
                    line: 1,
                    message: format!("column \"{column}\" appears twice in the header"),
                });
            }
        }
        match required_columns()
            .iter()
            .find(|c| !text.contains(&c.as_str()))
        {
            Some(missing) => Err(CsvError::MissingColumn {
                path: self.path.clone(),
                column: missing.clone(),
            }),
            None => Ok(()),
        }
    }

    /// The next row, [`CsvError::Torn`] for a torn last line, or `None`.
    fn next_row(&mut self) -> Option<Result<Row, CsvError>> {
        if self.done {
            return None;
        }
        let mut record = std::mem::take(&mut self.record);
        let row = match self.read(&mut record) {
            Ok(true) => Some(self.parse_or_torn(&record)),
            Ok(false) => None,
            Err(e) => Some(Err(e)),
        };
        self.record = record;
        self.done = !matches!(row, Some(Ok(_)));
        row
    }

    fn parse_or_torn(&mut self, record: &ByteRecord) -> Result<Row, CsvError> {
        let line = record.position().map_or(0, |p| p.line());
        if !self.is_unterminated_last() {
            return self.parse(record, line);
        }
        let start = record.position().map_or(0, |p| p.byte());
        let whole = match self.tail(start) {
            Ok(raw) => is_whole_row::<Row>(&raw, &self.header),
            Err(source) => {
                return Err(CsvError::Io {
                    path: self.path.clone(),
                    source,
                })
            }
        };
        if whole {
            self.parse(record, line)
        } else {
            Err(CsvError::Torn {
                path: self.path.clone(),
                line,
            })
        }
    }

    /// The file's bytes from `start` to the end (the last record).
    fn tail(&mut self, start: u64) -> io::Result<Vec<u8>> {
        let input = self.csv.get_mut();
        input.seek(SeekFrom::Start(start))?;
        let mut raw = Vec::new();
        input.read_to_end(&mut raw)?;
        Ok(raw)
    }

    fn parse(&self, record: &ByteRecord, line: u64) -> Result<Row, CsvError> {
        if record.len() != self.header.len() {
            return Err(CsvError::Syntax {
                path: self.path.clone(),
                line,
                message: format!(
                    "{} fields, but the header has {}",
                    record.len(),
                    self.header.len()
                ),
            });
        }
        record
            .deserialize::<Row>(Some(&self.header))
            .map_err(|e| self.field_error(record, line, &e))
    }

    fn field_error(&self, record: &ByteRecord, line: u64, error: &csv::Error) -> CsvError {
        let csv::ErrorKind::Deserialize { err, .. } = error.kind() else {
            return CsvError::Syntax {
                path: self.path.clone(),
                line,
                message: error.to_string(),
            };
        };
        let index = err
            .field()
            .map(|i| i as usize)
            .or_else(|| self.failing_column(record))
            .unwrap_or(0);
        let text =
            |r: &ByteRecord| String::from_utf8_lossy(r.get(index).unwrap_or_default()).into_owned();
        let message = match err.kind() {
            // Our own messages and serde's name the value already.
            DeserializeErrorKind::Message(m) => m.clone(),
            other => format!("\"{}\": {other}", text(record)),
        };
        CsvError::Field {
            path: self.path.clone(),
            line,
            column: text(&self.header),
            message,
        }
    }

    /// The first column whose value does not fit, found by putting each of
    /// `record`'s values into an otherwise valid row (csv names the column
    /// of a parse error, but not of an error serde raised).
    fn failing_column(&self, record: &ByteRecord) -> Option<usize> {
        let (names, defaults) = default_record();
        let base: Vec<&[u8]> = self
            .header
            .iter()
            .map(|h| {
                let i = names.iter().position(|n| n.as_bytes() == h);
                i.map_or(&b""[..], |i| defaults[i].as_bytes())
            })
            .collect();
        (0..record.len()).find(|&i| {
            let mut probe = base.clone();
            probe[i] = &record[i];
            ByteRecord::from(probe)
                .deserialize::<Row>(Some(&self.header))
                .is_err()
        })
    }
}

impl<R: Read + Seek> Iterator for RowReader<R> {
    type Item = Result<Row, CsvError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_row()
    }
}

/// The input's length and whether it ends with a newline; leaves it at the
/// start.
fn measure<R: Read + Seek>(input: &mut R) -> io::Result<(u64, bool)> {
    let len = input.seek(SeekFrom::End(0))?;
    let mut last = [0u8];
    if len > 0 {
        input.seek(SeekFrom::End(-1))?;
        input.read_exact(&mut last)?;
    }
    input.seek(SeekFrom::Start(0))?;
    Ok((len, last[0] == b'\n'))
}

/// Whether `raw`, a file's last record without its newline, is a whole row
/// under `header`: no unclosed quote (an odd number of `"`), every column
/// there, every value fitting its column. The writer cuts the line when it
/// is not; readers skip it.
pub(super) fn is_whole_row<R: serde::de::DeserializeOwned>(
    raw: &[u8],
    header: &ByteRecord,
) -> bool {
    if raw.iter().filter(|&&b| b == b'"').count() % 2 == 1 {
        return false;
    }
    let mut csv = ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(raw);
    let mut record = ByteRecord::new();
    matches!(csv.read_byte_record(&mut record), Ok(true))
        && record.len() == header.len()
        && record.deserialize::<R>(Some(header)).is_ok()
}

/// Every CSV file under `dir`, at any depth (for the tests that read all of `results/`).
#[cfg(test)]
pub(crate) fn csv_files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "csv") {
                files.push(path);
            }
        }
    }
    files
}

/// Every row of a CSV; a torn last line is an error.
pub fn read_rows(path: impl AsRef<Path>) -> Result<Vec<Row>, CsvError> {
    RowReader::open(path)?.collect()
}

/// Streams the rows of every CSV, in order, to `each`.
///
/// A torn last line (a bench still appending, or killed mid-row) is
/// skipped; anything else malformed is an error naming the file, line and
/// column. Refuses an empty list of files and files without rows, so
/// `plot` and `report` never silently produce nothing.
pub fn read_csvs(paths: &[PathBuf], mut each: impl FnMut(Row)) -> Result<(), CsvError> {
    if paths.is_empty() {
        return Err(CsvError::NoInput);
    }
    let mut rows = 0usize;
    for path in paths {
        for row in RowReader::open(path)? {
            match row {
                Ok(row) => {
                    rows += 1;
                    each(row);
                }
                Err(CsvError::Torn { .. }) => {}
                Err(e) => return Err(e),
            }
        }
    }
    if rows == 0 {
        let files: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        return Err(CsvError::NoRows {
            files: files.join(", "),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;
    use crate::matrix::TestKind;
    use crate::results::row::{Launcher, Outcome, Profile, Replication, Start};

    const HEADER: &str = "test,launcher,nodes,election_timeout_ms,heartbeat_ms,replication,run,\
                          seed,killed,messages,outcome,duration_ms,up_ms,elections,final_term,\
                          properties,version,started_at,profile,error,logs\n";
    const GOOD: &str = "up,process,3,250,50,immediate,1,42,0,0,ok,1.0,1.0,1,2,ok,v,t,,,\n";

    fn rows_of(text: &str) -> impl Iterator<Item = Result<Row, CsvError>> {
        let input = Cursor::new(text.as_bytes().to_vec());
        let reader = RowReader::new("r.csv".to_string(), input);
        reader.into_iter().flatten()
    }

    /// Every row, or the first error.
    fn parse(text: &str) -> Result<Vec<Row>, CsvError> {
        RowReader::new("r.csv".to_string(), Cursor::new(text.as_bytes().to_vec()))?.collect()
    }

    #[test]
    fn a_row_reads_into_its_typed_columns() {
        let rows = parse(&format!("{HEADER}{GOOD}")).unwrap();
        let r = &rows[0];
        assert_eq!(
            (r.test, r.launcher, r.nodes),
            (TestKind::Up, Launcher::Process, 3)
        );
        assert_eq!((r.outcome, r.duration_ms), (Outcome::Ok, Some(1.0)));
        assert_eq!((r.elections, r.final_term), (Some(1), Some(2)));
        assert_eq!(
            (r.replication, r.profile),
            (Replication::Immediate, Profile::Default)
        );
    }

    #[test]
    fn a_torn_last_line_is_the_readers_last_item() {
        let text = format!("{HEADER}{GOOD}up,proc");
        let items: Vec<_> = rows_of(&text).collect();
        assert_eq!(items.len(), 2);
        assert!(items[0].is_ok());
        assert_eq!(
            items[1].as_ref().unwrap_err().to_string(),
            "r.csv line 3 is incomplete (no newline at the end of the file): \
             a bench was probably stopped while writing it"
        );
    }

    #[test]
    fn a_whole_last_row_without_its_newline_is_read() {
        let text = format!("{HEADER}{GOOD}{}", GOOD.trim_end());
        assert_eq!(parse(&text).unwrap().len(), 2);
        assert_eq!(parse(HEADER.trim_end()).unwrap(), vec![]);
    }

    #[test]
    fn an_unclosed_quote_at_the_end_is_a_torn_line() {
        let text = format!("{HEADER}up,process,3,250,50,immediate,1,42,0,0,error,,,,,\"broken");
        assert!(matches!(parse(&text), Err(CsvError::Torn { line: 2, .. })));
    }

    #[test]
    fn a_bad_value_names_the_line_and_column() {
        let text = format!("{HEADER}{GOOD}{}", GOOD.replace(",3,", ",x,"));
        let e = parse(&text).unwrap_err();
        assert_eq!(
            e.to_string(),
            "r.csv line 3, column \"nodes\": \"x\": invalid digit found in string"
        );
        let text = format!("{HEADER}{}", GOOD.replace(",ok,1.0,", ",maybe,1.0,"));
        let e = parse(&text).unwrap_err().to_string();
        assert!(
            e.starts_with("r.csv line 2, column \"outcome\": unknown variant `maybe`"),
            "{e}"
        );
        let text = format!("{HEADER}{}", GOOD.replace(",ok,1.0,", ",ok,-1,"));
        let e = parse(&text).unwrap_err();
        assert_eq!(
            e.to_string(),
            "r.csv line 2, column \"duration_ms\": \"-1\" is not a number of milliseconds"
        );
        let text = format!("{HEADER}{}", GOOD.replace(",ok,1.0,", ",ok,NaN,"));
        assert!(parse(&text).is_err());
        let text = format!("{HEADER}{}", GOOD.replace("up,", "sideways,"));
        let e = parse(&text).unwrap_err().to_string();
        assert!(
            e.contains("column \"test\": `sideways` is not a test"),
            "{e}"
        );
    }

    #[test]
    fn a_row_with_the_wrong_number_of_fields_is_refused() {
        let e = parse(&format!("{HEADER}up,process,3\n{GOOD}")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "r.csv line 2: 3 fields, but the header has 21"
        );
    }

    #[test]
    fn a_missing_required_column_is_named() {
        let e = parse("test,launcher\nup,process\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "r.csv line 1: the header has no column \"nodes\""
        );
    }

    #[test]
    fn a_repeated_column_is_refused() {
        let e = parse(&HEADER.replace("logs", "test")).unwrap_err();
        assert!(e.to_string().contains("\"test\" appears twice"), "{e}");
    }

    #[test]
    fn columns_added_later_default_when_missing_and_order_is_free() {
        let text = "nodes,test,launcher,election_timeout_ms,heartbeat_ms,replication,run,seed,\
                    killed,messages,outcome,duration_ms,up_ms,elections,final_term,properties,\
                    version,started_at,extra\r\n\
                    5,up,docker,250,50,heartbeat,3,7,0,0,ok,2434.5,2434.5,,,ok,0.1.0,now,x\r\n";
        let rows = parse(text).unwrap();
        assert_eq!(rows.len(), 1);
        let r = &rows[0];
        assert_eq!((r.test, r.nodes, r.run), (TestKind::Up, 5, 3));
        assert_eq!(r.launcher, Launcher::Docker);
        assert_eq!(r.duration_ms, Some(2434.5));
        assert_eq!(r.elections, None);
        assert_eq!((r.profile, r.error.as_str()), (Profile::Default, ""));
        assert_eq!(
            r.start,
            Start::Warm,
            "rows from before the start column were warm"
        );
        assert_eq!((r.launched_ms, r.signaling_ms), (None, None));
        assert_eq!((r.mesh_ms, r.raft_ms), (None, None));
    }

    #[test]
    fn the_start_and_the_phases_read_back() {
        let text = "test,launcher,nodes,election_timeout_ms,heartbeat_ms,replication,run,seed,\
                    killed,messages,outcome,duration_ms,up_ms,launched_ms,signaling_ms,mesh_ms,\
                    raft_ms,properties,version,started_at,start\n\
                    up,process,3,250,50,immediate,1,7,0,0,ok,90.5,90.5,12.25,20.0,,90.5,ok,v,t,\
                    cold\n";
        let r = &parse(text).unwrap()[0];
        assert_eq!(r.start, Start::Cold);
        assert_eq!((r.launched_ms, r.signaling_ms), (Some(12.25), Some(20.0)));
        assert_eq!((r.mesh_ms, r.raft_ms), (None, Some(90.5)));
        let bad = text.replace(",cold", ",lukewarm");
        assert!(parse(&bad).is_err(), "an unknown start is refused");
    }

    #[test]
    fn blank_lines_and_empty_files_read_as_nothing() {
        assert_eq!(parse("").unwrap(), vec![]);
        assert_eq!(parse(HEADER).unwrap(), vec![]);
        assert_eq!(parse(&format!("{HEADER}\n{GOOD}\n\n")).unwrap().len(), 1);
    }

    #[test]
    fn binary_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        std::fs::write(&path, [0xff, 0xfe, 0x00, b'\n']).unwrap();
        assert!(matches!(read_rows(&path), Err(CsvError::NotUtf8 { .. })));
    }

    #[test]
    fn a_missing_file_is_an_io_error_naming_it() {
        let e = read_rows("/nonexistent/dir/r.csv").unwrap_err();
        assert!(e.to_string().starts_with("/nonexistent/dir/r.csv: "), "{e}");
    }

    #[test]
    fn read_csvs_streams_every_file_skips_torn_tails_and_refuses_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.csv");
        let b = dir.path().join("b.csv");
        std::fs::write(&a, format!("{HEADER}{GOOD}{GOOD}up,pro")).unwrap();
        std::fs::write(&b, format!("{HEADER}{GOOD}")).unwrap();
        let mut seen = 0;
        read_csvs(&[a, b.clone()], |_| seen += 1).unwrap();
        assert_eq!(seen, 3);

        let e = read_csvs(&[], |_| {}).unwrap_err();
        assert_eq!(
            e.to_string(),
            "no CSV file given: name at least one results CSV"
        );
        let empty = dir.path().join("empty.csv");
        std::fs::write(&empty, HEADER).unwrap();
        let e = read_csvs(&[empty], |_| {}).unwrap_err().to_string();
        assert!(
            e.ends_with("empty.csv: no runs (the files hold a header at most)"),
            "{e}"
        );
    }

    #[test]
    fn every_csv_committed_under_results_reads() {
        let results = Path::new(env!("CARGO_MANIFEST_DIR")).join("../results");
        let (load, files): (Vec<PathBuf>, Vec<PathBuf>) = csv_files_under(&results)
            .into_iter()
            .filter(|path| !crate::chaos::report::is_chaos_csv(path))
            .partition(|path| crate::load::row::is_load_csv(path));
        for file in load {
            let rows = crate::load::row::read_rows(&file).unwrap_or_else(|e| panic!("{e}"));
            assert!(rows.iter().all(|r| r.outcome == "ok"), "{}", file.display());
        }
        assert!(files.len() >= 10, "{files:?}");
        for file in files {
            let rows = read_rows(&file).unwrap_or_else(|e| panic!("{e}"));
            assert!(!rows.is_empty(), "{}", file.display());
            // Earlier runs (archive/) and warm/ are warm starts; everything else is cold.
            let path = file.display().to_string();
            let warm = path.contains("/archive/") || path.contains("/warm/");
            let start = if warm { Start::Warm } else { Start::Cold };
            // Runs under network conditions live in net/lan, net/wan and faults/up-wan.csv.
            let net = if path.contains("/net/lan/") {
                "delay=5ms,jitter=2ms"
            } else if path.contains("/net/wan/") || path.ends_with("up-wan.csv") {
                "delay=40ms,jitter=10ms,loss=1%"
            } else {
                "none"
            };
            assert!(
                rows.iter().all(|r| r.start == start && r.net == net),
                "{path}: every row should be a {start} start under net {net}"
            );
        }
    }
}
