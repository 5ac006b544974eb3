//! `raftrtc plot`: figures from result CSVs, like the papers' figures 5–7.

use std::process::ExitCode;

use super::UsageError;
use crate::cli::PlotArgs;
use crate::results::paper;
use crate::results::plot::{self, PlotError, PlotOptions};

/// Writes one PNG and one SVG per test found in the CSVs.
pub fn run(args: PlotArgs) -> anyhow::Result<ExitCode> {
    let paper_dir = args.paper.clone().unwrap_or_else(paper::default_dir);
    let paper = if args.no_paper {
        None
    } else {
        Some(paper::load(&paper_dir).map_err(|e| {
            UsageError(format!(
                "cannot read the papers' data in {}: {e} (use --paper DIR or --no-paper)",
                paper_dir.display()
            ))
        })?)
    };
    let opts = PlotOptions {
        log_scale: args.log,
        width: args.width,
        height: args.height,
    };
    // Bad input (unreadable or empty CSVs, an impossible size) is a usage error; a figure
    // that cannot be written is a failure.
    let files =
        plot::plot(&args.csvs, paper.as_deref(), &args.out, &opts).map_err(|e| match e {
            e @ (PlotError::Csv(_) | PlotError::NoRuns | PlotError::Size { .. }) => {
                anyhow::Error::new(UsageError(e.to_string()))
            }
            e => anyhow::Error::new(e),
        })?;
    for f in files {
        println!("{}", f.display());
    }
    Ok(ExitCode::SUCCESS)
}
