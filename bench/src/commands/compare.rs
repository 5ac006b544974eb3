//! `raftrtc compare BASE.csv NEW.csv`: cell by cell, did NEW get slower? Prints the table,
//! writes the exports, and exits 1 when a cell regressed, 0 otherwise, 2 when the files
//! cannot be read or have no setting in common.

use std::path::Path;
use std::process::ExitCode;

use super::UsageError;
use crate::cli::{CompareArgs, ExportArgs};
use crate::results::compare::{compare, CompareOptions, Comparison};
use crate::results::stats::Cells;
use crate::results::{ci_formats, export, read_csvs};

/// Compares the two files.
pub fn run(args: CompareArgs) -> anyhow::Result<ExitCode> {
    let base = cells_of(&args.base)?;
    let new = cells_of(&args.new)?;
    let options = CompareOptions {
        threshold: args.threshold / 100.0,
        min_runs: args.min_runs as usize,
        ..CompareOptions::default()
    };
    let comparison = compare(&base, &new, &options).map_err(|e| {
        UsageError(format!(
            "{} and {}: {e}",
            args.base.display(),
            args.new.display()
        ))
    })?;
    report(&comparison, &new, &args.exports)?;
    Ok(exit_code(&comparison))
}

/// Prints `comparison` and writes the exports `exports` asks for.
pub fn report(comparison: &Comparison, new: &Cells, exports: &ExportArgs) -> anyhow::Result<()> {
    let table = comparison.table();
    print!("{}", table.to_text());
    for line in comparison.unmatched() {
        println!("{line}");
    }
    if let Some(path) = &exports.export_markdown {
        export::write_text(path, &table.to_markdown())?;
    }
    if let Some(path) = &exports.export_json {
        export::write_value(path, &serde_json::to_value(comparison)?)?;
    }
    let compared = ci_formats::compared_cells(comparison, new);
    if let Some(path) = &exports.export_github_benchmark {
        export::write_value(path, &ci_formats::github_benchmark(&compared))?;
    }
    if let Some(path) = &exports.export_bmf {
        export::write_value(path, &ci_formats::bmf(&compared))?;
    }
    Ok(())
}

/// 1 when a cell regressed, else 0.
pub fn exit_code(comparison: &Comparison) -> ExitCode {
    if comparison.regressed() {
        let n = comparison
            .cells
            .iter()
            .filter(|c| c.verdict == crate::results::compare::Verdict::Regressed)
            .count();
        eprintln!("raftrtc: {n} of {} cells regressed", comparison.cells.len());
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// The cells of one results CSV; an unreadable file is a usage error naming it.
pub fn cells_of(path: &Path) -> anyhow::Result<Cells> {
    if crate::load::row::is_load_csv(path) {
        return Err(UsageError(format!(
            "{} is a `raftrtc load` CSV; compare reads the experiments' CSVs (up, kill, \
             propagate, matrix, smoke)",
            path.display()
        ))
        .into());
    }
    let mut cells = Cells::new();
    read_csvs(&[path.to_path_buf()], |row| cells.add(&row))
        .map_err(|e| UsageError(e.to_string()))?;
    Ok(cells)
}
