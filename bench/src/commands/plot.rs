//! `raftrtc plot`: figures from result CSVs, like the papers' figures 5–7.

use std::process::ExitCode;

use super::UsageError;
use crate::cli::PlotArgs;
use crate::load;
use crate::results::paper;
use crate::results::plot::{self, PlotError, PlotOptions};

/// Writes one PNG and one SVG per test found in the CSVs (for load CSVs, the throughput and
/// latency figures).
pub fn run(args: PlotArgs) -> anyhow::Result<ExitCode> {
    if !args.csvs.is_empty() && args.csvs.iter().all(|c| load::row::is_load_csv(c)) {
        return plot_load(&args);
    }
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

/// `raftrtc load` CSVs: their rows together, as `<first CSV's name>-throughput` and
/// `-latency` in `--out`.
fn plot_load(args: &PlotArgs) -> anyhow::Result<ExitCode> {
    let mut rows = Vec::new();
    for csv in &args.csvs {
        rows.extend(load::row::read_rows(csv).map_err(UsageError)?);
    }
    let stem = args.csvs[0]
        .file_stem()
        .map_or_else(|| "load".into(), |s| s.to_string_lossy().into_owned());
    std::fs::create_dir_all(&args.out)?;
    for f in load::figure::write(&rows, &args.out, &stem)? {
        println!("{}", f.display());
    }
    Ok(ExitCode::SUCCESS)
}
