//! `raftrtc report`: our medians beside the papers' means, per test; for chaos CSVs, the
//! tally of their runs.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;

use super::UsageError;
use crate::chaos::report::{self as chaos_report, is_chaos_csv};
use crate::chaos::tally;
use crate::cli::ReportArgs;
use crate::load;
use crate::results::stats::Cells;
use crate::results::table::Table;
use crate::results::{paper, read_csvs, report};

/// Prints the report; with `--markdown`, also writes it as markdown. Load CSVs get their
/// summary table (beside other CSVs' report, `<name>.load.md`). Chaos CSVs get their
/// tally instead (with `--markdown`, written there, or beside the experiments' report as
/// `<name>.chaos.md` when both kinds are given).
pub fn run(args: ReportArgs) -> anyhow::Result<ExitCode> {
    // Rows stream into per-cell aggregates: memory follows the cells, not
    // the rows.
    let (load, others): (Vec<PathBuf>, Vec<PathBuf>) = args
        .csvs
        .iter()
        .cloned()
        .partition(|p| load::row::is_load_csv(p));
    if !load.is_empty() {
        let markdown = match others.is_empty() {
            true => args.markdown.clone(),
            false => args.markdown.as_ref().map(|p| p.with_extension("load.md")),
        };
        print_load(&load, markdown.as_deref())?;
        if others.is_empty() {
            return Ok(ExitCode::SUCCESS);
        }
    }
    let (chaos, experiments): (Vec<PathBuf>, Vec<PathBuf>) =
        others.into_iter().partition(|p| is_chaos_csv(p));
    if !chaos.is_empty() {
        // Alone, the tally is the report; beside an experiments' report, it goes next to it.
        let markdown = match experiments.is_empty() {
            true => args.markdown.clone(),
            false => args.markdown.as_ref().map(|p| p.with_extension("chaos.md")),
        };
        print_chaos(&chaos, markdown.as_deref())?;
        if experiments.is_empty() {
            return Ok(ExitCode::SUCCESS);
        }
    }
    let mut cells = Cells::new();
    read_csvs(&experiments, |row| cells.add(&row)).map_err(|e| UsageError(e.to_string()))?;
    let paper_dir = args.paper.clone().unwrap_or_else(paper::default_dir);
    let paper = paper::load(&paper_dir).map_err(|e| {
        UsageError(format!(
            "cannot read the papers' data in {}: {e} (use --paper DIR)",
            paper_dir.display()
        ))
    })?;
    let report = report::report(&cells.summaries(), &paper);
    println!("{}", report.to_text());
    if let Some(path) = args.markdown {
        std::fs::write(&path, report.to_markdown())
            .with_context(|| format!("cannot write {}", path.display()))?;
        println!("markdown written to {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints the summary table of the `raftrtc load` CSVs `paths`, a line per cell.
fn print_load(paths: &[PathBuf], markdown: Option<&Path>) -> anyhow::Result<()> {
    let mut rows = Vec::new();
    for path in paths {
        rows.extend(load::row::read_rows(path).map_err(UsageError)?);
    }
    print_table(&load::row::table(&rows), markdown)
}

/// Prints `table`, and writes it as markdown to `markdown` if given.
fn print_table(table: &Table, markdown: Option<&Path>) -> anyhow::Result<()> {
    println!("{}", table.to_text());
    if let Some(path) = markdown {
        std::fs::write(path, table.to_markdown())
            .with_context(|| format!("cannot write {}", path.display()))?;
        println!("markdown written to {}", path.display());
    }
    Ok(())
}

/// Prints the tally of the chaos CSVs `paths`.
fn print_chaos(paths: &[PathBuf], markdown: Option<&Path>) -> anyhow::Result<()> {
    let mut rows = Vec::new();
    for path in paths {
        rows.extend(chaos_report::read_rows(path).map_err(|e| UsageError(e.to_string()))?);
    }
    print_table(&tally::table(&tally::tally(&rows)), markdown)
}
