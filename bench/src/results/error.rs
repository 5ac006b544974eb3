//! What can go wrong reading or appending a results CSV.

use std::io;

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
    /// The header is not text.
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
        /// The file's header.
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
    /// The record structure is broken (field count, header).
    #[error("{path} line {line}: {message}")]
    Syntax {
        /// The file.
        path: String,
        /// Physical line where the record starts (1 = header).
        line: u64,
        /// What is wrong.
        message: String,
    },
    /// A value does not fit its column.
    #[error("{path} line {line}, column \"{column}\": {message}")]
    Field {
        /// The file.
        path: String,
        /// Physical line where the record starts.
        line: u64,
        /// The column's name.
        column: String,
        /// What is wrong with the value.
        message: String,
    },
    /// The last line has no newline and is not a whole row: a writer was
    /// stopped mid-row.
    #[error(
        "{path} line {line} is incomplete (no newline at the end of the file): \
         a bench was probably stopped while writing it"
    )]
    Torn {
        /// The file.
        path: String,
        /// Physical line where the torn record starts.
        line: u64,
    },
    /// No file was named.
    #[error("no CSV file given: name at least one results CSV")]
    NoInput,
    /// The files hold no run.
    #[error("{files}: no runs (the files hold a header at most)")]
    NoRows {
        /// The files read, comma-separated.
        files: String,
    },
}
