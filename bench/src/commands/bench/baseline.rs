//! `--save-baseline FILE`, `--baseline FILE` and `--reference-binary BINARY`, after an
//! experiment's runs.
//!
//! Saving writes this invocation's first set of rows, and only them, to FILE (replacing it
//! through a temporary file, so a killed bench never leaves half a baseline). Comparing
//! compares the cells with FILE's, or with the reference build's runs made alongside, as
//! `raftrtc compare` does, and prints the table. `--baseline` and `--save-baseline` may be
//! given together: the comparison is with the old baseline, then the new runs replace it.
//!
//! **Confirmation.** A cell that comes out slower is run again, as many times, and the
//! verdict is the second set's: exit status 1 only when both sets are slower beyond the
//! threshold. One invocation's runs share a few seconds of the machine, and on a shared
//! 2-core machine a slow few seconds moves a whole set by more than 5 %; a second set
//! taken later often misses that spell, while a real slowdown shows in both. A spell longer
//! than both sets still looks like a slowdown to a saved baseline; a reference build run
//! alongside meets the same spell (results/ci/). A cell whose runs fail where the base's
//! did not is a regression at once.

use std::path::Path;

use anyhow::Context;

use super::session::Sets;
use crate::cli::{BaselineArgs, ExportArgs};
use crate::commands::compare::{cells_of, report};
use crate::commands::UsageError;
use crate::results::compare::{compare, name, CompareOptions};
use crate::results::stats::{CellKey, Cells};
use crate::results::{CsvRecord, CsvWriter, Row};

/// What this invocation's runs are compared with.
enum Base<'a> {
    /// A saved baseline's rows.
    File(&'a Path),
    /// The reference build's runs, made alongside.
    Reference(&'a Path, &'a [Row]),
}

impl Base<'_> {
    fn describe(&self) -> String {
        match self {
            Base::File(path) => format!("the baseline {}", path.display()),
            Base::Reference(binary, _) => format!("the reference build {}", binary.display()),
        }
    }

    fn cells(&self) -> anyhow::Result<Cells> {
        match self {
            Base::File(path) => cells_of(path),
            Base::Reference(_, rows) => Ok(Cells::of(*rows)),
        }
    }
}

/// Compares with and saves the baseline as `args` asks; `true` when a cell regressed.
/// `reference` holds the reference build's rows; `run_again` makes a fresh set of runs of
/// the cells it is given.
pub(super) fn apply(
    args: &BaselineArgs,
    rows: &[Row],
    cells: &Cells,
    reference: &[Row],
    run_again: impl FnOnce(&[CellKey]) -> anyhow::Result<Sets>,
) -> anyhow::Result<bool> {
    let base = match (&args.baseline, &args.reference_binary) {
        (Some(path), _) => Some(Base::File(path)),
        (None, Some(binary)) => Some(Base::Reference(binary, reference)),
        (None, None) => None,
    };
    let mut regressed = false;
    if let Some(base) = base {
        regressed = check(&base, args.threshold / 100.0, cells, run_again)?;
        if regressed {
            eprintln!("raftrtc: slower than {}", base.describe());
        }
    }
    if let Some(path) = &args.save_baseline {
        save(path, rows)?;
        println!("baseline saved to {}", path.display());
    }
    Ok(regressed)
}

/// Compares `cells` with `base`, confirming any slower cell with `run_again`; `true` when
/// a regression stands.
fn check(
    base: &Base,
    threshold: f64,
    cells: &Cells,
    run_again: impl FnOnce(&[CellKey]) -> anyhow::Result<Sets>,
) -> anyhow::Result<bool> {
    let options = CompareOptions {
        threshold,
        ..CompareOptions::default()
    };
    let described = base.describe();
    let versus = |base: &Cells, cells: &Cells| {
        compare(base, cells, &options)
            .map_err(|e| UsageError(format!("comparing with {described}: {e}")))
    };
    let base_cells = base.cells()?;
    let first = versus(&base_cells, cells)?;
    println!("\ncompared with {described}:");
    report(&first, cells, &ExportArgs::default())?;
    let suspects = first.slower_cells();
    let failing = first.newly_failing();
    if suspects.is_empty() {
        return Ok(failing);
    }
    println!(
        "\n{} slower; running {} again to confirm",
        list(&suspects),
        if suspects.len() == 1 { "it" } else { "them" }
    );
    let again = run_again(&suspects)?;
    // Against a reference, the second set is judged against the reference's second set.
    let second_base = match base {
        Base::File(_) => base_cells,
        Base::Reference(..) => Cells::of(&again.reference),
    };
    let second = versus(&second_base, &Cells::of(&again.rows))?;
    println!("\nthe second set compared with {described}:");
    print!("{}", second.table().to_text());
    Ok(failing || second.regressed())
}

/// `up n=3 et=250ms and kill_leader n=5 et=250ms`.
fn list(keys: &[CellKey]) -> String {
    let names: Vec<String> = keys.iter().map(name).collect();
    names.join(", ")
}

/// Writes `rows` to `path`, replacing it through a temporary file (a killed bench never leaves
/// half a baseline).
pub(crate) fn save<R: CsvRecord>(path: &Path, rows: &[R]) -> anyhow::Result<()> {
    let name = path
        .file_name()
        .map_or_else(|| "baseline".into(), |n| n.to_string_lossy().into_owned());
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let written = (|| -> anyhow::Result<()> {
        let mut csv = CsvWriter::<R>::open_append(&tmp)?;
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
