//! `--save-baseline FILE` and `--baseline FILE`, after an experiment's runs.
//!
//! Saving writes this invocation's rows, and only them, to FILE (replacing it through a
//! temporary file, so a killed bench never leaves half a baseline). Comparing reads FILE,
//! compares its cells with this invocation's as `raftrtc compare` does, prints the table,
//! and turns a regression into exit status 1. Both may be given: the comparison is with
//! the old baseline, then the new runs replace it.

use std::path::Path;

use anyhow::Context;

use crate::cli::{BaselineArgs, ExportArgs};
use crate::commands::compare::{cells_of, report};
use crate::commands::UsageError;
use crate::results::compare::{compare, CompareOptions};
use crate::results::stats::Cells;
use crate::results::{CsvWriter, Row};

/// Compares with and saves the baseline as `args` asks; `true` when a cell regressed.
pub fn apply(args: &BaselineArgs, rows: &[Row], cells: &Cells) -> anyhow::Result<bool> {
    let mut regressed = false;
    if let Some(path) = &args.baseline {
        let base = cells_of(path)?;
        let options = CompareOptions {
            threshold: args.threshold / 100.0,
            ..CompareOptions::default()
        };
        let comparison = compare(&base, cells, &options)
            .map_err(|e| UsageError(format!("--baseline {}: {e}", path.display())))?;
        println!("\ncompared with the baseline {}:", path.display());
        report(&comparison, cells, &ExportArgs::default())?;
        regressed = comparison.regressed();
        if regressed {
            eprintln!("raftrtc: slower than the baseline {}", path.display());
        }
    }
    if let Some(path) = &args.save_baseline {
        save(path, rows)?;
        println!("baseline saved to {}", path.display());
    }
    Ok(regressed)
}

/// Writes `rows` to `path`, replacing it whole.
fn save(path: &Path, rows: &[Row]) -> anyhow::Result<()> {
    let name = path
        .file_name()
        .map_or_else(|| "baseline".into(), |n| n.to_string_lossy().into_owned());
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let written = (|| -> anyhow::Result<()> {
        let mut csv = CsvWriter::<Row>::open_append(&tmp)?;
        for row in rows {
            csv.write_row(row)?;
        }
        Ok(())
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e.context(format!("cannot write the baseline {}", path.display())));
    }
    std::fs::rename(&tmp, path)
        .with_context(|| format!("cannot write the baseline {}", path.display()))?;
    Ok(())
}
