//! `raftrtc report`: our medians beside the papers' means, per test.

use std::process::ExitCode;

use anyhow::Context;

use super::UsageError;
use crate::cli::ReportArgs;
use crate::results::stats::Cells;
use crate::results::{paper, read_csvs, report};

/// Prints the report; with `--markdown`, also writes it as markdown.
pub fn run(args: ReportArgs) -> anyhow::Result<ExitCode> {
    // Rows stream into per-cell aggregates: memory follows the cells, not
    // the rows.
    let mut cells = Cells::new();
    read_csvs(&args.csvs, |row| cells.add(&row)).map_err(|e| UsageError(e.to_string()))?;
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
