//! `raftrtc plot`: figures from result CSVs, like the papers' figures 5–7.

use std::process::ExitCode;

use anyhow::Context;

use crate::cli::PlotArgs;
use crate::results::paper;
use crate::results::plot::{self, PlotOptions};

/// Writes one PNG and one SVG per test found in the CSVs.
pub fn run(args: PlotArgs) -> anyhow::Result<ExitCode> {
    let paper_dir = args.paper.clone().unwrap_or_else(paper::default_dir);
    let paper = if args.no_paper {
        None
    } else {
        Some(paper::load(&paper_dir).with_context(|| {
            format!(
                "cannot read the papers' data in {} (use --paper DIR or --no-paper)",
                paper_dir.display()
            )
        })?)
    };
    let opts = PlotOptions {
        log_scale: args.log,
        width: args.width,
        height: args.height,
    };
    let files = plot::plot(&args.csvs, paper.as_deref(), &args.out, &opts)?;
    for f in files {
        println!("{}", f.display());
    }
    Ok(ExitCode::SUCCESS)
}
