//! Helpers shared by the `raftrtc` end-to-end tests: running the binary,
//! showing its output on failure, reading the CSVs it writes.
#![allow(dead_code)] // Each test crate uses its own subset.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// Runs `raftrtc args...` with extra environment variables, to completion.
pub fn run(args: &[&str], envs: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_raftrtc"))
        .args(args)
        .envs(envs.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("the raftrtc binary runs")
}

/// Exit status, stdout and stderr, for assertion messages.
pub fn text(out: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Minimal RFC 4180 reader: records of fields, quotes doubled inside.
pub fn read_csv(path: &Path) -> Vec<Vec<String>> {
    let data = std::fs::read_to_string(path).expect("the CSV exists");
    let mut records = Vec::new();
    let (mut record, mut field) = (Vec::new(), String::new());
    let mut chars = data.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut field)),
            (false, '\n') => {
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            (false, '\r') => {}
            (false, c) => field.push(c),
        }
    }
    assert!(!quoted && field.is_empty() && record.is_empty(), "torn CSV");
    records
}

/// The rows as maps from column name to value.
pub fn rows(path: &Path) -> Vec<BTreeMap<String, String>> {
    let records = read_csv(path);
    let (header, rest) = records.split_first().expect("a header");
    rest.iter()
        .map(|r| {
            assert_eq!(r.len(), header.len(), "every row has every column");
            header.iter().cloned().zip(r.iter().cloned()).collect()
        })
        .collect()
}
