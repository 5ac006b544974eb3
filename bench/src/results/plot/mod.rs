//! `raftrtc plot`: one figure per test, drawn like the papers' figures 5–7,
//! so a reader can put ours and theirs side by side at a glance.
//!
//! Each figure has the cluster size on x and the measured time in ms on y
//! (optionally log-scaled, since the papers' times are often 10–100 times
//! ours). There is one colour per series: an election timeout, split further
//! by launcher, replication or profile when the input mixes them. The
//! papers' means for the same test and timeout (see
//! `report::paper_reference`) are dashed lines in the series' colour.
//!
//! - input: the rows stream from the CSVs into per-cell aggregates
//!   ([`crate::results::stats::Cells`]), so memory follows the number of
//!   cells and runs' durations, not the rows;
//! - [`model`]: what each figure shows, computed before anything is drawn;
//! - [`axes`]: the time axis' range and ticks, the size axis;
//! - [`render`]: drawing a figure on any plotters backend;
//! - [`font`]: the embedded font (no system fonts needed), and [`png`]:
//!   the PNG backend that draws its glyphs.
//!
//! Every figure is written as PNG and SVG, each to a temporary file in the
//! output directory and then renamed, so a failure never leaves a
//! half-written figure behind.

mod axes;
mod font;
pub(crate) mod model;
mod png;
mod render;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;

use super::error::CsvError;
use super::paper::PaperPoint;
use super::reader::read_csvs;
use super::stats::Cells;
use model::{figures, Figure};

/// Figure size bounds, in pixels: below the minimum labels collide, above
/// the maximum a PNG takes hundreds of MB to draw.
pub const MIN_SIZE: (u32, u32) = (480, 320);
/// See [`MIN_SIZE`].
pub const MAX_SIZE: (u32, u32) = (8000, 8000);

/// How figures are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlotOptions {
    /// Logarithmic time axis (files get a `-log` suffix).
    pub log_scale: bool,
    /// Figure width in pixels (also the SVG's).
    pub width: u32,
    /// Figure height in pixels.
    pub height: u32,
}

impl Default for PlotOptions {
    fn default() -> Self {
        PlotOptions {
            log_scale: false,
            width: 1200,
            height: 720,
        }
    }
}

/// Why no figure (or not every figure) could be made.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// A CSV could not be read (it names the file, line and column), or the
    /// files hold no run.
    #[error(transparent)]
    Csv(#[from] CsvError),
    /// There is nothing to draw.
    #[error("no runs to plot")]
    NoRuns,
    /// The requested size is out of bounds.
    #[error(
        "a figure of {width}x{height} pixels is out of range: width and height must be \
         between {}x{} and {}x{}",
        MIN_SIZE.0, MIN_SIZE.1, MAX_SIZE.0, MAX_SIZE.1
    )]
    Size {
        /// Requested width.
        width: u32,
        /// Requested height.
        height: u32,
    },
    /// The output directory or a figure file could not be written.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: String,
        /// The OS error.
        source: io::Error,
    },
    /// Drawing failed.
    #[error("{path}: could not draw the figure: {message}")]
    Draw {
        /// The figure file.
        path: String,
        /// What plotters reported.
        message: String,
    },
}

/// Draws one PNG and one SVG per test found in `csvs` into `out_dir`
/// (created if needed), with the papers' means overlaid when `paper` is
/// given. Returns the files written, PNG then SVG for each test in test
/// order. Files are named after the test (`up.png`, `kill_leader.svg`, ...;
/// `up-log.png` with [`PlotOptions::log_scale`]).
///
/// The rows are streamed (see the module docs); a torn last line is
/// skipped, anything else malformed is an error.
pub fn plot(
    csvs: &[PathBuf],
    paper: Option<&[PaperPoint]>,
    out_dir: &Path,
    opts: &PlotOptions,
) -> Result<Vec<PathBuf>, PlotError> {
    check_size(opts)?;
    let mut cells = Cells::new();
    read_csvs(csvs, |row| cells.add(&row))?;
    plot_cells(&cells, paper, out_dir, opts)
}

/// [`plot`] for rows already aggregated.
pub fn plot_cells(
    cells: &Cells,
    paper: Option<&[PaperPoint]>,
    out_dir: &Path,
    opts: &PlotOptions,
) -> Result<Vec<PathBuf>, PlotError> {
    check_size(opts)?;
    if cells.is_empty() {
        return Err(PlotError::NoRuns);
    }
    fs::create_dir_all(out_dir).map_err(|source| PlotError::Io {
        path: out_dir.display().to_string(),
        source,
    })?;
    let mut written = Vec::new();
    for figure in figures(cells, paper.unwrap_or(&[]), opts.log_scale) {
        // Test names are letters, digits and `_`: safe as file names.
        let mut stem = figure.test.name();
        if opts.log_scale {
            stem.push_str("-log");
        }
        let size = (opts.width, opts.height);
        written.extend(write_figure(&(&figure, opts), out_dir, &stem, size)?);
    }
    Ok(written)
}

fn check_size(opts: &PlotOptions) -> Result<(), PlotError> {
    let ok = (MIN_SIZE.0..=MAX_SIZE.0).contains(&opts.width)
        && (MIN_SIZE.1..=MAX_SIZE.1).contains(&opts.height);
    if ok {
        Ok(())
    } else {
        Err(PlotError::Size {
            width: opts.width,
            height: opts.height,
        })
    }
}

/// Something drawn as a figure: the plots here, the chaos timeline.
pub trait Drawing {
    /// Draws itself on `root`, filling it.
    fn draw_on<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String>;
}

impl Drawing for (&Figure, &PlotOptions) {
    fn draw_on<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        render::draw(root, self.0, self.1)
    }
}

/// Writes `drawing` as `<stem>.png` and `<stem>.svg` of `size` in `out_dir`, each through a
/// temporary file renamed into place; returns both paths.
pub fn write_figure(
    drawing: &impl Drawing,
    out_dir: &Path,
    stem: &str,
    size: (u32, u32),
) -> Result<[PathBuf; 2], PlotError> {
    Ok([
        write_png(drawing, out_dir, stem, size)?,
        write_svg(drawing, out_dir, stem, size)?,
    ])
}

fn write_png(
    drawing: &impl Drawing,
    out_dir: &Path,
    stem: &str,
    size: (u32, u32),
) -> Result<PathBuf, PlotError> {
    let path = out_dir.join(format!("{stem}.png"));
    // BitMapBackend picks the format from the extension: keep `.png`.
    let tmp = out_dir.join(format!(".{stem}.tmp.png"));
    let result = (|| {
        font::register_font()?;
        let root = png::PngBackend::new(&tmp, size).into_drawing_area();
        drawing.draw_on(&root)?;
        root.present().map_err(|e| e.to_string())
    })();
    if let Err(message) = result {
        let _ = fs::remove_file(&tmp);
        return Err(PlotError::Draw {
            path: path.display().to_string(),
            message,
        });
    }
    move_into_place(&tmp, path)
}

fn write_svg(
    drawing: &impl Drawing,
    out_dir: &Path,
    stem: &str,
    size: (u32, u32),
) -> Result<PathBuf, PlotError> {
    let path = out_dir.join(format!("{stem}.svg"));
    let mut svg = String::new();
    let result = (|| {
        font::register_font()?;
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        drawing.draw_on(&root)?;
        root.present().map_err(|e| e.to_string())
    })();
    result.map_err(|message| PlotError::Draw {
        path: path.display().to_string(),
        message,
    })?;
    let tmp = out_dir.join(format!(".{stem}.tmp.svg"));
    fs::write(&tmp, svg.as_bytes()).map_err(|source| {
        let _ = fs::remove_file(&tmp);
        PlotError::Io {
            path: tmp.display().to_string(),
            source,
        }
    })?;
    move_into_place(&tmp, path)
}

/// Renames a finished figure over `path`, so a reader never sees half a file; the temporary
/// file goes on failure.
fn move_into_place(tmp: &Path, path: PathBuf) -> Result<PathBuf, PlotError> {
    fs::rename(tmp, &path).map_err(|source| {
        let _ = fs::remove_file(tmp);
        PlotError::Io {
            path: path.display().to_string(),
            source,
        }
    })?;
    Ok(path)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::results::paper::Source;
    use crate::results::row::test_row as row;
    use crate::results::row::{Outcome, Row};
    use crate::results::writer::CsvWriter;

    /// A small but complete matrix: two tests, two timeouts, a failure.
    pub(in crate::results::plot) fn sample_rows() -> Vec<Row> {
        let mut rows = Vec::new();
        for (i, nodes) in [3usize, 5, 7, 9].into_iter().enumerate() {
            for run in 0..3u32 {
                let jitter = f64::from(run) * 4.0;
                let ms = 20.0 + 9.0 * i as f64 + jitter;
                let mut up = row("up", nodes, 250, Outcome::Ok, Some(ms));
                up.run = run;
                rows.push(up);
                let ms = 60.0 + 20.0 * i as f64 + jitter;
                rows.push(row("up", nodes, 1000, Outcome::Ok, Some(ms)));
                let ms = 300.0 + jitter * 10.0;
                rows.push(row("kill_leader", nodes, 250, Outcome::Ok, Some(ms)));
            }
        }
        rows.push(row("up", 9, 250, Outcome::Timeout, None));
        rows.push(row("up", 9, 250, Outcome::Error, None));
        rows
    }

    pub(in crate::results::plot) fn paper_points() -> Vec<PaperPoint> {
        let point = |source, et, nodes, seconds| PaperPoint {
            source,
            test: crate::matrix::TestKind::Up,
            election_timeout_ms: et,
            nodes,
            seconds,
        };
        let mut points: Vec<PaperPoint> = [(3, 0.333), (5, 0.6), (7, 0.8), (9, 1.094), (35, 4.4)]
            .into_iter()
            .map(|(nodes, s)| point(Source::Dec2015, 250, nodes, Some(s)))
            .collect();
        points.push(point(Source::Sep2015, 1000, 5, None));
        points
    }

    fn write_csv(dir: &Path, name: &str, rows: &[Row]) -> PathBuf {
        let path = dir.join(name);
        let mut w = CsvWriter::<Row>::open_append(&path).unwrap();
        for r in rows {
            w.write_row(r).unwrap();
        }
        path
    }

    fn is_png(path: &Path) -> bool {
        let bytes = fs::read(path).unwrap();
        bytes.len() > 10_000 && bytes.starts_with(b"\x89PNG\r\n\x1a\n")
    }

    #[test]
    fn plot_writes_png_and_svg_for_each_test() {
        let dir = tempfile::tempdir().unwrap();
        let csv = write_csv(dir.path(), "runs.csv", &sample_rows());
        let out = dir.path().join("figs");
        let paper = paper_points();
        let files = plot(&[csv], Some(&paper), &out, &PlotOptions::default()).unwrap();
        let names: Vec<String> = files
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            ["up.png", "up.svg", "kill_leader.png", "kill_leader.svg"]
        );
        for f in &files {
            if f.extension().unwrap() == "png" {
                assert!(is_png(f), "{}", f.display());
            } else {
                let svg = fs::read_to_string(f).unwrap();
                assert!(
                    svg.starts_with("<svg") || svg.starts_with("<?xml"),
                    "{svg:.100}"
                );
                assert!(svg.contains("cluster size (nodes)") && svg.contains("time (ms)"));
                assert!(svg.trim_end().ends_with("</svg>"));
            }
        }
        let up_svg = fs::read_to_string(out.join("up.svg")).unwrap();
        assert!(up_svg.contains("paper Dec 2015 ET 250 (warm)"));
        assert!(up_svg.contains("failed run, on the top edge (2)"));
        assert!(!up_svg.contains("spread by rank"));
        // No temporary file is left behind.
        let leftovers: Vec<_> = fs::read_dir(&out)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
            .collect();
        assert!(leftovers.is_empty());
    }

    #[test]
    fn log_scale_and_odd_sizes_draw_too() {
        let dir = tempfile::tempdir().unwrap();
        let mut rows = sample_rows();
        // A zero time, a lone size far off, a test with only a failure.
        rows.push(row("up", 51, 250, Outcome::Ok, Some(0.0)));
        rows.push(row("kill_3", 7, 100, Outcome::Unsafe, None));
        let opts = PlotOptions {
            log_scale: true,
            width: MIN_SIZE.0,
            height: MIN_SIZE.1,
        };
        let files = plot_cells(&Cells::of(&rows), None, dir.path(), &opts).unwrap();
        assert_eq!(files.len(), 6);
        assert!(files[0].ends_with("up-log.png") && is_png(&files[0]));
        assert!(files[4].ends_with("kill_3-log.png"));
        let svg = fs::read_to_string(dir.path().join("up-log.svg")).unwrap();
        assert!(svg.contains("time (ms, log scale)"));
    }

    #[test]
    fn a_cell_of_many_runs_draws_a_bounded_spread_and_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let rows: Vec<Row> = (0..5000u32)
            .map(|i| {
                row(
                    "up",
                    3 + 2 * (i as usize % 2),
                    250,
                    Outcome::Ok,
                    Some(f64::from(i)),
                )
            })
            .collect();
        let opts = PlotOptions::default();
        plot_cells(&Cells::of(&rows), None, dir.path(), &opts).unwrap();
        let svg = fs::read_to_string(dir.path().join("up.svg")).unwrap();
        assert_eq!(
            svg.matches("<circle").count(),
            2 * model::POINTS_PER_SIZE + 1
        );
        assert!(svg.contains("spread by rank"), "the legend says so");
        assert!(svg.contains("5000 runs, all ok"));
    }

    #[test]
    fn a_malformed_csv_is_refused_with_its_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let csv = write_csv(dir.path(), "bad.csv", &sample_rows());
        let mut text = fs::read_to_string(&csv).unwrap();
        text = text.replacen(",ok,", ",fine,", 1);
        fs::write(&csv, text).unwrap();
        let e = plot(&[csv], None, &dir.path().join("o"), &PlotOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("bad.csv line 2, column \"outcome\""), "{e}");
        assert!(!dir.path().join("o").exists());
    }

    #[test]
    fn empty_input_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let opts = PlotOptions::default();
        let e = plot(&[], None, dir.path(), &opts).unwrap_err();
        assert!(e.to_string().contains("no CSV file given"), "{e}");

        let header_only = write_csv(dir.path(), "empty.csv", &[]);
        let e = plot(&[header_only], None, dir.path(), &opts)
            .unwrap_err()
            .to_string();
        assert!(e.contains("empty.csv: no runs"), "{e}");

        let missing = dir.path().join("missing.csv");
        let e = plot(&[missing], None, dir.path(), &opts)
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing.csv"), "{e}");

        let e = plot_cells(&Cells::new(), None, dir.path(), &opts).unwrap_err();
        assert!(matches!(e, PlotError::NoRuns), "{e}");

        let tiny = PlotOptions { width: 10, ..opts };
        let e = plot_cells(&Cells::of(&sample_rows()), None, dir.path(), &tiny)
            .unwrap_err()
            .to_string();
        assert!(e.contains("10x720 pixels is out of range"), "{e}");
    }
}
