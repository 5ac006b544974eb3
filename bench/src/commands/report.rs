//! `raftrtc report`: our medians beside the papers' means, per test.

use std::process::ExitCode;

use anyhow::Context;

use crate::cli::ReportArgs;
use crate::results::{paper, plot, report};

/// Prints the report; with `--markdown`, also writes it as markdown.
pub fn run(args: ReportArgs) -> anyhow::Result<ExitCode> {
    let rows = plot::read_csvs(&args.csvs)?;
    let paper_dir = args.paper.clone().unwrap_or_else(paper::default_dir);
    let paper = paper::load(&paper_dir).with_context(|| {
        format!(
            "cannot read the papers' data in {} (use --paper DIR)",
            paper_dir.display()
        )
    })?;
    let report = report::report(&rows, &paper);
    println!("{}", report.to_text());
    if let Some(path) = args.markdown {
        std::fs::write(&path, report.to_markdown())
            .with_context(|| format!("cannot write {}", path.display()))?;
        println!("markdown written to {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}
