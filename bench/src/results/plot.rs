//! `raftrtc plot`: one figure per test, drawn like the papers' figures 5–7,
//! so a reader can put ours and theirs side by side at a glance.
//!
//! Each figure has the cluster size on x and the measured time in ms on y
//! (optionally log-scaled, since the papers' times are often 10–100 times
//! ours). There is one colour per series: an election timeout, split further
//! by launcher, replication or profile when the input mixes them. Every run
//! is a hollow circle, the mean of a cell's ok runs a solid line, and a
//! failed run (any outcome but `ok`) a red cross on the top edge with its
//! count, so failures can't hide among the points. The papers' means for the
//! same test and timeout (see `report::paper_reference`) are dashed lines in
//! the series' colour. The legend sits in its own panel right of the plot so
//! it never covers data.
//!
//! Every figure is written as PNG and SVG, each to a temporary file in the
//! output directory and then renamed, so a failure never leaves a
//! half-written figure behind.
//!
//! Text is drawn with DejaVu Sans, embedded in the binary
//! (`assets/fonts/DejaVuSans.ttf`, Bitstream Vera licence beside it) and fed
//! to plotters' `ab_glyph` backend: plotting needs no system fonts and no
//! fontconfig, neither on CI nor in the `FROM scratch` node image.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ab_glyph::{Font, FontRef, ScaleFont};
use plotters::coord::ranged1d::{KeyPointHint, NoDefaultFormatting, Ranged, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::FontStyle;
use plotters_backend::{
    BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingErrorKind,
};

use crate::matrix::TestKind;
use crate::results::csv_out::{read_rows, CsvError, Row};
use crate::results::paper::PaperPoint;
use crate::results::report::{paper_reference, source_label};

/// The font every figure's text is drawn with.
static FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

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
    /// No CSV file was named.
    #[error("no CSV file given: name at least one results CSV")]
    NoInput,
    /// The CSV files hold no run.
    #[error("{files}: no runs to plot (the files hold a header at most)")]
    NoRows {
        /// The files read, comma-separated.
        files: String,
    },
    /// A CSV could not be read; names the file, line and column.
    #[error(transparent)]
    Csv(#[from] CsvError),
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

/// Reads and concatenates the rows of every CSV, in order.
///
/// A torn last line (a bench still appending, or killed mid-row) is
/// skipped; anything else malformed is an error naming the file, line and
/// column. Also refuses an empty list of files and files without rows, so
/// `plot` and `report` never silently produce nothing.
pub fn read_csvs(csvs: &[PathBuf]) -> Result<Vec<Row>, PlotError> {
    if csvs.is_empty() {
        return Err(PlotError::NoInput);
    }
    let mut rows = Vec::new();
    for path in csvs {
        rows.extend(read_rows(path, true)?);
    }
    if rows.is_empty() {
        let files: Vec<String> = csvs.iter().map(|p| p.display().to_string()).collect();
        return Err(PlotError::NoRows {
            files: files.join(", "),
        });
    }
    Ok(rows)
}

/// Draws one PNG and one SVG per test found in `csvs` into `out_dir`
/// (created if needed), with the papers' means overlaid when `paper` is
/// given. Returns the files written, PNG then SVG for each test in test
/// order. Files are named after the test (`up.png`, `kill_leader.svg`, ...;
/// `up-log.png` with [`PlotOptions::log_scale`]).
pub fn plot(
    csvs: &[PathBuf],
    paper: Option<&[PaperPoint]>,
    out_dir: &Path,
    opts: &PlotOptions,
) -> Result<Vec<PathBuf>, PlotError> {
    check_size(opts)?;
    let rows = read_csvs(csvs)?;
    plot_rows(&rows, paper, out_dir, opts)
}

/// [`plot`] for rows already read.
pub fn plot_rows(
    rows: &[Row],
    paper: Option<&[PaperPoint]>,
    out_dir: &Path,
    opts: &PlotOptions,
) -> Result<Vec<PathBuf>, PlotError> {
    check_size(opts)?;
    if rows.is_empty() {
        return Err(PlotError::NoRows {
            files: "the input".to_string(),
        });
    }
    fs::create_dir_all(out_dir).map_err(|source| PlotError::Io {
        path: out_dir.display().to_string(),
        source,
    })?;
    let figures = figures(rows, paper.unwrap_or(&[]), opts.log_scale);
    let mut written = Vec::new();
    let mut stems = BTreeSet::new();
    for figure in &figures {
        let mut stem = file_stem(&figure.test);
        if opts.log_scale {
            stem.push_str("-log");
        }
        // Distinct tests whose names sanitize alike still get their own file.
        let base = stem.clone();
        let mut n = 2;
        while !stems.insert(stem.clone()) {
            stem = format!("{base}-{n}");
            n += 1;
        }
        written.push(write_png(figure, out_dir, &stem, opts)?);
        written.push(write_svg(figure, out_dir, &stem, opts)?);
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

/// A file name stem from a test name: ASCII letters, digits, `_` and `-`
/// only, so a CSV can't name a path.
fn file_stem(test: &str) -> String {
    let stem: String = test
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    if stem.is_empty() {
        "test".to_string()
    } else {
        stem
    }
}

// ---------------------------------------------------------------------------
// What a figure shows, computed from the rows before anything is drawn.

/// Tableau 10 without its red, which marks failures.
const PALETTE: [RGBColor; 9] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];
const FAILED: RGBColor = RGBColor(214, 39, 40);

/// One of our series: an election timeout under one setup.
#[derive(Debug, Clone, PartialEq)]
struct Series {
    label: String,
    color: RGBColor,
    /// (nodes, ms) of every ok run with a duration.
    runs: Vec<(f64, f64)>,
    /// (nodes, mean ms) per size with an ok run, by size.
    means: Vec<(f64, f64)>,
    /// (nodes, failed runs) per size with a failure, by size.
    failed: Vec<(f64, usize)>,
}

/// The papers' means for one timeout, as a dashed line.
#[derive(Debug, Clone, PartialEq)]
struct PaperLine {
    label: String,
    color: RGBColor,
    /// (nodes, mean ms), by size; sizes where every run failed are gaps.
    segments: Vec<Vec<(f64, f64)>>,
}

#[derive(Debug, Clone, PartialEq)]
struct Figure {
    test: String,
    title: String,
    subtitle: String,
    series: Vec<Series>,
    paper: Vec<PaperLine>,
    /// Cluster sizes we ran: the x ticks.
    sizes: Vec<usize>,
    x_range: (f64, f64),
    y_range: (f64, f64),
    failed: usize,
}

/// What a test measures, for the figure's title.
fn title(test: &str) -> String {
    match test.parse::<TestKind>() {
        Ok(TestKind::Up) => "up: Raft started on all N nodes → one leader, all N members".into(),
        Ok(TestKind::KillLeader) => "kill leader: the leader killed → survivors recovered".into(),
        Ok(TestKind::KillHalf) => {
            "kill half: leader + others, floor((N-1)/2) killed → survivors recovered".into()
        }
        Ok(TestKind::KillCount(n)) => {
            format!(
                "kill {n}: leader + {} others killed → survivors recovered",
                n.saturating_sub(1)
            )
        }
        Ok(TestKind::Propagate(m)) => {
            let entries = if m == 1 { "entry" } else { "entries" };
            format!("propagate {m}: {m} {entries} submitted at a follower → applied on all nodes")
        }
        Err(_) => test.to_string(),
    }
}

type SetupKey = (String, String, String);

fn setup_of(row: &Row) -> SetupKey {
    (
        row.launcher.clone(),
        row.replication.clone(),
        row.profile.clone(),
    )
}

/// Builds the figures, one per test, in test order.
fn figures(rows: &[Row], paper: &[PaperPoint], log_scale: bool) -> Vec<Figure> {
    // Known tests first, in TestKind order, then others by name.
    let mut by_test: BTreeMap<(bool, Option<TestKind>, String), Vec<&Row>> = BTreeMap::new();
    for row in rows {
        let kind = row.test.parse::<TestKind>().ok();
        by_test
            .entry((kind.is_none(), kind, row.test.clone()))
            .or_default()
            .push(row);
    }
    by_test
        .into_iter()
        .map(|((_, _, test), rows)| figure(&test, &rows, paper, log_scale))
        .collect()
}

fn figure(test: &str, rows: &[&Row], paper: &[PaperPoint], log_scale: bool) -> Figure {
    let setups: BTreeSet<SetupKey> = rows.iter().map(|r| setup_of(r)).collect();
    let (vary_launcher, vary_replication, vary_profile) = {
        let differ =
            |f: fn(&SetupKey) -> &String| setups.iter().map(f).collect::<BTreeSet<_>>().len() > 1;
        (differ(|s| &s.0), differ(|s| &s.1), differ(|s| &s.2))
    };
    let setup_label = |s: &SetupKey| {
        let mut parts = Vec::new();
        if vary_launcher {
            parts.push(s.0.clone());
        }
        if vary_replication {
            parts.push(s.1.clone());
        }
        if vary_profile {
            parts.push(format!("{} profile", s.2));
        }
        parts.retain(|p| !p.trim().is_empty());
        parts.join(", ")
    };

    // Series: by timeout, then setup.
    let mut groups: BTreeMap<(u64, SetupKey), Vec<&Row>> = BTreeMap::new();
    for row in rows {
        groups
            .entry((row.election_timeout_ms, setup_of(row)))
            .or_default()
            .push(row);
    }
    let mut et_color: BTreeMap<u64, RGBColor> = BTreeMap::new();
    let series: Vec<Series> = groups
        .iter()
        .enumerate()
        .map(|(i, ((et, setup), rows))| {
            let color = PALETTE[i % PALETTE.len()];
            et_color.entry(*et).or_insert(color);
            let mut cells: BTreeMap<usize, (Vec<f64>, usize)> = BTreeMap::new();
            for r in rows {
                let cell = cells.entry(r.nodes).or_default();
                if !r.outcome.is_ok() {
                    cell.1 += 1;
                } else if let Some(ms) = r.duration_ms.filter(|v| v.is_finite()) {
                    cell.0.push(ms);
                }
            }
            let label = match setup_label(setup) {
                s if s.is_empty() => format!("ET {et} ms"),
                s => format!("ET {et} ms, {s}"),
            };
            Series {
                label,
                color,
                runs: cells
                    .iter()
                    .flat_map(|(&n, (v, _))| v.iter().map(move |&ms| (n as f64, ms)))
                    .collect(),
                means: cells
                    .iter()
                    .filter_map(|(&n, (v, _))| {
                        crate::results::stats::mean(v).map(|m| (n as f64, m))
                    })
                    .collect(),
                failed: cells
                    .iter()
                    .filter(|(_, (_, f))| *f > 0)
                    .map(|(&n, (_, f))| (n as f64, *f))
                    .collect(),
            }
        })
        .collect();

    let sizes: Vec<usize> = rows
        .iter()
        .map(|r| r.nodes)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let (min_n, max_n) = (
        sizes.first().copied().unwrap_or(1) as f64,
        sizes.last().copied().unwrap_or(1) as f64,
    );
    let pad = ((max_n - min_n) * 0.04).max(1.0);
    let x_range = (min_n - pad, max_n + pad);

    // The papers' means within our range of sizes.
    let paper_lines: Vec<PaperLine> = et_color
        .iter()
        .filter_map(|(&et, &color)| {
            let reference = paper_reference(paper, test, et)?;
            let mut segments: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
            for m in &reference.means {
                let n = m.nodes as f64;
                if n < x_range.0 || n > x_range.1 {
                    continue;
                }
                match m.mean_seconds {
                    Some(s) if s.is_finite() => {
                        if let Some(segment) = segments.last_mut() {
                            segment.push((n, s * 1000.0));
                        }
                    }
                    _ => segments.push(Vec::new()),
                }
            }
            segments.retain(|s| !s.is_empty());
            (!segments.is_empty()).then(|| PaperLine {
                label: format!("paper {} ET {et}", source_label(reference.source)),
                color,
                segments,
            })
        })
        .collect();

    let values = series
        .iter()
        .flat_map(|s| s.runs.iter().map(|p| p.1))
        .chain(
            paper_lines
                .iter()
                .flat_map(|l| l.segments.iter().flatten().map(|p| p.1)),
        );
    let y_range = y_range(values, log_scale);

    let runs = rows.len();
    let failed: usize = series.iter().flat_map(|s| &s.failed).map(|f| f.1).sum();
    let mut subtitle_parts = Vec::new();
    for (what, values) in [
        (
            "launcher",
            setups.iter().map(|s| s.0.as_str()).collect::<BTreeSet<_>>(),
        ),
        ("replication", setups.iter().map(|s| s.1.as_str()).collect()),
        ("profile", setups.iter().map(|s| s.2.as_str()).collect()),
    ] {
        let values: Vec<&str> = values
            .into_iter()
            .filter(|v| !v.trim().is_empty())
            .collect();
        if !values.is_empty() {
            subtitle_parts.push(format!("{} {what}", values.join("/")));
        }
    }
    subtitle_parts.push(match failed {
        0 => format!("{runs} runs, all ok"),
        f => format!("{runs} runs, {f} failed"),
    });

    Figure {
        test: test.to_string(),
        title: title(test),
        subtitle: subtitle_parts.join(" · "),
        series,
        paper: paper_lines,
        sizes,
        x_range,
        y_range,
        failed,
    }
}

/// Largest time an axis reaches, in ms (about 11.6 days; a run's timeout is
/// far shorter).
const AXIS_MAX_MS: f64 = 1e9;

/// Smallest time a log axis reaches, in ms (1 µs).
const AXIS_MIN_LOG_MS: f64 = 1e-3;

/// The time axis' range: from 0 (linear) or below the smallest positive
/// value (log) to a little above the largest, never empty.
fn y_range(values: impl Iterator<Item = f64>, log_scale: bool) -> (f64, f64) {
    // A CSV may hold any finite time; an axis spanning hundreds of decades
    // made plotters spin (1e307 ms hung `plot --log`). Points beyond these
    // bounds are drawn at the axis' edge.
    let values: Vec<f64> = values
        .filter(|v| v.is_finite() && *v >= 0.0)
        .map(|v| v.min(AXIS_MAX_MS))
        .collect();
    let max = values.iter().copied().fold(0.0_f64, f64::max);
    if log_scale {
        let min_pos = values
            .iter()
            .copied()
            .filter(|v| *v > 0.0)
            .fold(f64::INFINITY, f64::min);
        if !min_pos.is_finite() || max <= 0.0 {
            return (1.0, 10.0);
        }
        // Whole decades: the log axis labels its decade lines, so a range
        // inside one decade (35 to 450 ms) would show a single label.
        let decade = |v: f64, round: fn(f64) -> f64| 10f64.powf(round(v.log10()));
        let lo = decade((min_pos / 1.5).max(AXIS_MIN_LOG_MS), f64::floor);
        let hi = decade(max * 1.6, f64::ceil).max(lo * 10.0);
        (lo, hi)
    } else if max > 0.0 {
        (0.0, max * 1.1)
    } else {
        (0.0, 1.0)
    }
}

/// A y tick label: whole ms from 100 up, else at most two decimals with
/// trailing zeros dropped (`0`, `2.5`, `0.25`).
fn format_tick(v: f64) -> String {
    if !v.is_finite() {
        return String::new();
    }
    if v.abs() >= 100.0 {
        return format!("{v:.0}");
    }
    let s = format!("{v:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() || s == "-" {
        "0".to_string()
    } else {
        s.to_string()
    }
}

/// Cluster sizes to label on the x axis: every size run, left to right,
/// skipping any closer than `min_gap_px` to the last one labelled on an
/// axis `width_px` wide, so labels never collide.
fn x_ticks(sizes: &[usize], x_range: (f64, f64), width_px: f64, min_gap_px: f64) -> Vec<f64> {
    let span = (x_range.1 - x_range.0).max(f64::MIN_POSITIVE);
    let mut ticks: Vec<f64> = Vec::new();
    let mut last_px = f64::NEG_INFINITY;
    for &n in sizes {
        let px = (n as f64 - x_range.0) / span * width_px;
        if px - last_px >= min_gap_px {
            ticks.push(n as f64);
            last_px = px;
        }
    }
    ticks
}

// ---------------------------------------------------------------------------
// Drawing.

fn register_font() -> Result<(), String> {
    static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            plotters::style::register_font("sans-serif", FontStyle::Normal, FONT)
                .map_err(|_| "the embedded DejaVu Sans font could not be loaded".to_string())?;
            glyphs().map(|_| ())
        })
        .clone()
}

fn write_png(
    figure: &Figure,
    out_dir: &Path,
    stem: &str,
    opts: &PlotOptions,
) -> Result<PathBuf, PlotError> {
    let path = out_dir.join(format!("{stem}.png"));
    // BitMapBackend picks the format from the extension: keep `.png`.
    let tmp = out_dir.join(format!(".{stem}.tmp.png"));
    let draw_err = |message: String| PlotError::Draw {
        path: path.display().to_string(),
        message,
    };
    let result = (|| {
        register_font()?;
        let root =
            PngBackend(BitMapBackend::new(&tmp, (opts.width, opts.height))).into_drawing_area();
        draw(&root, figure, opts)?;
        root.present().map_err(|e| e.to_string())
    })();
    if let Err(message) = result {
        let _ = fs::remove_file(&tmp);
        return Err(draw_err(message));
    }
    fs::rename(&tmp, &path).map_err(|source| {
        let _ = fs::remove_file(&tmp);
        PlotError::Io {
            path: path.display().to_string(),
            source,
        }
    })?;
    Ok(path)
}

fn write_svg(
    figure: &Figure,
    out_dir: &Path,
    stem: &str,
    opts: &PlotOptions,
) -> Result<PathBuf, PlotError> {
    let path = out_dir.join(format!("{stem}.svg"));
    let mut svg = String::new();
    let result = (|| {
        register_font()?;
        let root = SVGBackend::with_string(&mut svg, (opts.width, opts.height)).into_drawing_area();
        draw(&root, figure, opts)?;
        root.present().map_err(|e| e.to_string())
    })();
    result.map_err(|message| PlotError::Draw {
        path: path.display().to_string(),
        message,
    })?;
    let tmp = out_dir.join(format!(".{stem}.tmp.svg"));
    let io_err = |source| PlotError::Io {
        path: path.display().to_string(),
        source,
    };
    fs::write(&tmp, svg.as_bytes())
        .and_then(|()| fs::rename(&tmp, &path))
        .map_err(|e| {
            let _ = fs::remove_file(&tmp);
            io_err(e)
        })?;
    Ok(path)
}

/// The embedded font, parsed once.
fn glyphs() -> Result<&'static FontRef<'static>, String> {
    static PARSED: OnceLock<Option<FontRef<'static>>> = OnceLock::new();
    PARSED
        .get_or_init(|| FontRef::try_from_slice(FONT).ok())
        .as_ref()
        .ok_or_else(|| "the embedded DejaVu Sans font could not be parsed".to_string())
}

/// The PNG backend: plotters' bitmap backend with text drawn here.
///
/// plotters 0.3.7's `ab_glyph` text drawing drops each glyph's left side
/// bearing, so letters drift ("n odes"). This draws the same layout (the
/// box plotters measured, so anchoring and label areas are unchanged) with
/// every glyph at its proper pixel position; everything else is the bitmap
/// backend's. SVG needs no such fix: text stays text there.
struct PngBackend<'a>(BitMapBackend<'a>);

impl DrawingBackend for PngBackend<'_> {
    type ErrorType = <BitMapBackend<'static> as DrawingBackend>::ErrorType;

    fn get_size(&self) -> (u32, u32) {
        self.0.get_size()
    }

    fn ensure_prepared(&mut self) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.ensure_prepared()
    }

    fn present(&mut self) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.present()
    }

    fn draw_pixel(
        &mut self,
        point: BackendCoord,
        color: BackendColor,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.draw_pixel(point, color)
    }

    fn draw_line<S: BackendStyle>(
        &mut self,
        from: BackendCoord,
        to: BackendCoord,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.draw_line(from, to, style)
    }

    fn draw_rect<S: BackendStyle>(
        &mut self,
        upper_left: BackendCoord,
        bottom_right: BackendCoord,
        style: &S,
        fill: bool,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.draw_rect(upper_left, bottom_right, style, fill)
    }

    fn draw_path<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        path: I,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.draw_path(path, style)
    }

    fn draw_circle<S: BackendStyle>(
        &mut self,
        center: BackendCoord,
        radius: u32,
        style: &S,
        fill: bool,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.draw_circle(center, radius, style, fill)
    }

    fn fill_polygon<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        vert: I,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.fill_polygon(vert, style)
    }

    fn blit_bitmap(
        &mut self,
        pos: BackendCoord,
        size: (u32, u32),
        src: &[u8],
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.blit_bitmap(pos, size, src)
    }

    fn draw_text<TStyle: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &TStyle,
        pos: BackendCoord,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        let color = style.color();
        if color.alpha == 0.0 {
            return Ok(());
        }
        let font_err = |e: String| DrawingErrorKind::FontError(e.into());
        let ((min_x, min_y), (max_x, max_y)) = style
            .layout_box(text)
            .map_err(|e| DrawingErrorKind::FontError(Box::new(e)))?;
        let (width, height) = (max_x - min_x, max_y - min_y);
        let dx = match style.anchor().h_pos {
            HPos::Left => 0,
            HPos::Right => -width,
            HPos::Center => -width / 2,
        } - min_x;
        let dy = match style.anchor().v_pos {
            VPos::Top => 0,
            VPos::Center => -height / 2,
            VPos::Bottom => -height,
        } - min_y;
        let trans = style.transform();
        let (w, h) = self.get_size();
        let font = glyphs().map_err(font_err)?;
        let scaled = font.as_scaled(style.size() as f32);
        // Capitals centred in the layout box plotters measured.
        let baseline = (style.size() * 0.72) as f32;
        let mut x = 0.0_f32;
        let mut prev = None;
        for c in text.chars() {
            let id = scaled.glyph_id(c);
            if let Some(p) = prev {
                x += scaled.kern(p, id);
            }
            prev = Some(id);
            let glyph = id.with_scale_and_position(scaled.scale(), ab_glyph::point(x, baseline));
            x += scaled.h_advance(id);
            let Some(outline) = font.outline_glyph(glyph) else {
                continue;
            };
            let bounds = outline.px_bounds();
            let mut result = Ok(());
            outline.draw(|gx, gy, coverage| {
                if result.is_err() || coverage <= 0.0 {
                    return;
                }
                let px = bounds.min.x as i32 + gx as i32 + dx;
                let py = bounds.min.y as i32 + gy as i32 + dy;
                let (tx, ty) = trans.transform(px, py);
                let (tx, ty) = (pos.0 + tx, pos.1 + ty);
                if tx >= 0 && ty >= 0 && (tx as u32) < w && (ty as u32) < h {
                    let alpha = color.alpha * f64::from(coverage.min(1.0));
                    result = self.0.draw_pixel(
                        (tx, ty),
                        BackendColor {
                            alpha,
                            rgb: color.rgb,
                        },
                    );
                }
            });
            result?;
        }
        Ok(())
    }
}

/// Font sizes scaled with the figure, so a larger figure isn't just
/// emptier.
struct Fonts {
    title: f64,
    subtitle: f64,
    axis: f64,
    tick: f64,
    legend: f64,
}

impl Fonts {
    fn for_size(width: u32, height: u32) -> Fonts {
        // Shrink text more slowly than the figure, so small figures stay
        // legible.
        let scale = (f64::from(width) / 1200.0)
            .min(f64::from(height) / 720.0)
            .powf(0.6)
            .max(0.65);
        Fonts {
            title: 26.0 * scale,
            subtitle: 18.0 * scale,
            axis: 21.0 * scale,
            tick: 17.0 * scale,
            legend: 17.0 * scale,
        }
    }
}

enum Sample {
    Ours(RGBColor),
    Paper(RGBColor),
    Failed,
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    figure: &Figure,
    opts: &PlotOptions,
) -> Result<(), String> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    root.fill(&WHITE).map_err(err)?;
    let fonts = Fonts::for_size(opts.width, opts.height);

    let (w, h) = root.dim_in_pixel();
    // Shrink the title and subtitle until they fit the width.
    let fit = |text: &str, size: f64| {
        let mut size = size;
        while size > 6.0 {
            let style = TextStyle::from(("sans-serif", size).into_font());
            match root.estimate_text_size(text, &style) {
                Ok((tw, _)) if f64::from(tw) > f64::from(w) * 0.96 => size *= 0.92,
                _ => break,
            }
        }
        size
    };
    let title_size = fit(&figure.title, fonts.title);
    let subtitle_size = fit(&figure.subtitle, fonts.subtitle);
    let title_h = (fonts.title * 1.5 + fonts.subtitle * 1.6) as u32;
    let (header, body) = root.split_vertically(title_h.min(h / 3));
    header
        .draw(&Text::new(
            figure.title.clone(),
            ((w / 2) as i32, (fonts.title * 0.5) as i32),
            ("sans-serif", title_size)
                .into_font()
                .color(&BLACK)
                .pos(Pos::new(HPos::Center, VPos::Top)),
        ))
        .map_err(err)?;
    header
        .draw(&Text::new(
            figure.subtitle.clone(),
            ((w / 2) as i32, (fonts.title * 1.6) as i32),
            ("sans-serif", subtitle_size)
                .into_font()
                .color(&RGBColor(90, 90, 90))
                .pos(Pos::new(HPos::Center, VPos::Top)),
        ))
        .map_err(err)?;

    // The legend panel: as wide as its longest label needs.
    let mut entries: Vec<(String, Sample)> = figure
        .series
        .iter()
        .map(|s| (s.label.clone(), Sample::Ours(s.color)))
        .collect();
    entries.extend(
        figure
            .paper
            .iter()
            .map(|p| (p.label.clone(), Sample::Paper(p.color))),
    );
    if figure.failed > 0 {
        entries.push((
            format!("failed run, on the top edge ({})", figure.failed),
            Sample::Failed,
        ));
    }
    let notes = ["○ one run   — mean of the ok runs"];
    let legend_font = ("sans-serif", fonts.legend).into_font();
    let legend_style = TextStyle::from(legend_font.clone());
    let text_w = entries
        .iter()
        .map(|(l, _)| l.as_str())
        .chain(notes)
        .map(|l| {
            root.estimate_text_size(l, &legend_style)
                .map(|(tw, _)| tw)
                .unwrap_or(0)
        })
        .max()
        .unwrap_or(0);
    let sample_w = (fonts.legend * 2.6) as u32;
    let legend_w = (text_w + sample_w + (fonts.legend * 2.5) as u32).clamp(w / 6, w * 2 / 5);
    let (plot_area, legend_area) = body.split_horizontally(w.saturating_sub(legend_w));

    let y_label_area = (fonts.tick * 4.0 + fonts.axis * 1.8) as u32;
    let axis_px = f64::from(w.saturating_sub(legend_w + y_label_area)).max(1.0);
    let widest = figure.sizes.last().map_or(1, |n| n.to_string().len()) as f64;
    let x_spec = SizeAxis {
        inner: (figure.x_range.0..figure.x_range.1).into(),
        ticks: x_ticks(
            &figure.sizes,
            figure.x_range,
            axis_px,
            // plotters draws a font of size s at s / 1.24 pixels.
            fonts.tick / 1.24 * (0.6 * widest + 0.8),
        ),
    };
    let y_desc = if opts.log_scale {
        "time (ms, log scale)"
    } else {
        "time (ms)"
    };
    let mut builder = ChartBuilder::on(&plot_area);
    builder
        .margin_left((fonts.axis * 0.5) as u32)
        .margin_right((fonts.axis * 0.8) as u32)
        .margin_top((fonts.axis * 0.8) as u32)
        .margin_bottom((fonts.axis * 0.5) as u32)
        .x_label_area_size((fonts.tick * 1.5 + fonts.axis * 1.8) as u32)
        .y_label_area_size(y_label_area);
    let (y0, y1) = figure.y_range;
    if opts.log_scale {
        let chart = builder
            .build_cartesian_2d(x_spec, (y0..y1).log_scale())
            .map_err(err)?;
        draw_chart(chart, figure, &fonts, y_desc)?;
    } else {
        let chart = builder.build_cartesian_2d(x_spec, y0..y1).map_err(err)?;
        draw_chart(chart, figure, &fonts, y_desc)?;
    }

    // Legend.
    let line_h = (fonts.legend * 1.6) as i32;
    let x0 = (fonts.legend * 0.5) as i32;
    let mut y = (fonts.axis * 0.8) as i32 + line_h / 2;
    let box_h = line_h * (entries.len() as i32 + notes.len() as i32) + line_h / 2;
    legend_area
        .draw(&Rectangle::new(
            [
                (x0 - 6, y - line_h / 2 - 4),
                (legend_w as i32 - 8, y - line_h / 2 + box_h),
            ],
            ShapeStyle::from(&RGBColor(180, 180, 180)).stroke_width(1),
        ))
        .map_err(err)?;
    let stroke = (fonts.legend / 7.0).round().max(1.0) as u32;
    let sx0 = x0 + 4;
    let sx1 = x0 + sample_w as i32 - 6;
    for (label, sample) in &entries {
        match sample {
            Sample::Ours(c) => {
                legend_area
                    .draw(&PathElement::new(
                        vec![(sx0, y), (sx1, y)],
                        ShapeStyle::from(c).stroke_width(stroke + 1),
                    ))
                    .map_err(err)?;
                legend_area
                    .draw(&Circle::new(
                        ((sx0 + sx1) / 2, y),
                        (fonts.legend / 4.0) as i32,
                        ShapeStyle::from(c).stroke_width(stroke),
                    ))
                    .map_err(err)?;
            }
            Sample::Paper(c) => {
                legend_area
                    .draw(&DashedPathElement::new(
                        vec![(sx0, y), (sx1, y)],
                        (fonts.legend / 2.5) as i32,
                        (fonts.legend / 4.0) as i32,
                        ShapeStyle::from(c).stroke_width(stroke + 1),
                    ))
                    .map_err(err)?;
            }
            Sample::Failed => {
                legend_area
                    .draw(&Cross::new(
                        ((sx0 + sx1) / 2, y),
                        (fonts.legend / 3.0) as i32,
                        ShapeStyle::from(&FAILED).stroke_width(stroke + 1),
                    ))
                    .map_err(err)?;
            }
        }
        legend_area
            .draw(&Text::new(
                label.clone(),
                (x0 + sample_w as i32, y),
                legend_font
                    .clone()
                    .color(&BLACK)
                    .pos(Pos::new(HPos::Left, VPos::Center)),
            ))
            .map_err(err)?;
        y += line_h;
    }
    for note in notes {
        legend_area
            .draw(&Text::new(
                note,
                (x0 + 4, y),
                ("sans-serif", fonts.legend * 0.85)
                    .into_font()
                    .color(&RGBColor(90, 90, 90))
                    .pos(Pos::new(HPos::Left, VPos::Center)),
            ))
            .map_err(err)?;
        y += line_h;
    }
    Ok(())
}

/// The x axis: cluster sizes, ticked at the sizes that were run (as the
/// papers' figures are) rather than at round numbers.
struct SizeAxis {
    inner: RangedCoordf64,
    ticks: Vec<f64>,
}

impl Ranged for SizeAxis {
    type ValueType = f64;
    type FormatOption = NoDefaultFormatting;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.inner.map(value, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, _hint: Hint) -> Vec<f64> {
        self.ticks.clone()
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.inner.range()
    }
}

impl ValueFormatter<f64> for SizeAxis {
    fn format(value: &f64) -> String {
        format!("{value:.0}")
    }
}

fn draw_chart<DB, Y>(
    mut chart: ChartContext<'_, DB, Cartesian2d<SizeAxis, Y>>,
    figure: &Figure,
    fonts: &Fonts,
    y_desc: &str,
) -> Result<(), String>
where
    DB: DrawingBackend,
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    let (y0, y1) = figure.y_range;
    let y_format = |v: &f64| format_tick(*v);
    chart
        .configure_mesh()
        .x_desc("cluster size (nodes)")
        .y_desc(y_desc)
        .axis_desc_style(("sans-serif", fonts.axis))
        .label_style(("sans-serif", fonts.tick))
        .y_label_formatter(&y_format)
        .y_labels(10)
        .y_max_light_lines(1)
        .x_max_light_lines(0)
        .light_line_style(RGBColor(240, 240, 240))
        .bold_line_style(RGBColor(215, 215, 215))
        .draw()
        .map_err(err)?;

    let stroke = (fonts.tick / 7.0).round().max(1.0) as u32;
    let radius = (fonts.tick / 4.5).round().max(2.0) as i32;
    let clamp = |v: f64| v.clamp(y0, y1);

    for line in &figure.paper {
        for segment in &line.segments {
            let style = ShapeStyle::from(&line.color).stroke_width(stroke + 1);
            let points = segment.iter().map(|&(x, y)| (x, clamp(y)));
            if segment.len() == 1 {
                // A lone size: a short dashed tick so it still shows.
                let (x, y) = segment[0];
                chart
                    .draw_series(DashedLineSeries::new(
                        [(x - 0.4, clamp(y)), (x + 0.4, clamp(y))],
                        (fonts.tick / 2.0) as i32,
                        (fonts.tick / 3.0) as i32,
                        style,
                    ))
                    .map_err(err)?;
            } else {
                chart
                    .draw_series(DashedLineSeries::new(
                        points.collect::<Vec<_>>(),
                        (fonts.tick / 1.5) as i32,
                        (fonts.tick / 2.5) as i32,
                        style,
                    ))
                    .map_err(err)?;
            }
        }
    }
    for s in &figure.series {
        chart
            .draw_series(s.runs.iter().map(|&(x, y)| {
                Circle::new(
                    (x, clamp(y)),
                    radius,
                    Color::stroke_width(&s.color.mix(0.75), stroke),
                )
            }))
            .map_err(err)?;
        chart
            .draw_series(LineSeries::new(
                s.means.iter().map(|&(x, y)| (x, clamp(y))),
                Color::stroke_width(&s.color, stroke + 1),
            ))
            .map_err(err)?;
    }
    // Failed runs: red crosses on the top edge, with a count when > 1.
    let mut failed: BTreeMap<u64, usize> = BTreeMap::new();
    for s in &figure.series {
        for &(n, count) in &s.failed {
            *failed.entry(n.to_bits()).or_default() += count;
        }
    }
    let cross = (fonts.tick / 2.6) as i32;
    for (bits, count) in failed {
        let x = f64::from_bits(bits);
        chart
            .draw_series(std::iter::once(Cross::new(
                (x, y1),
                cross,
                ShapeStyle::from(&FAILED).stroke_width(stroke + 1),
            )))
            .map_err(err)?;
        if count > 1 {
            chart
                .draw_series(std::iter::once(
                    EmptyElement::at((x, y1))
                        + Text::new(
                            format!("{count}"),
                            (cross + 2, 2),
                            ("sans-serif", fonts.tick * 0.85)
                                .into_font()
                                .color(&FAILED)
                                .pos(Pos::new(HPos::Left, VPos::Top)),
                        ),
                ))
                .map_err(err)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::csv_out::test_row as row;
    use crate::results::csv_out::{CsvWriter, Outcome};
    use crate::results::paper::Source;

    /// A small but complete matrix: two tests, two timeouts, a failure.
    fn sample_rows() -> Vec<Row> {
        let mut rows = Vec::new();
        for (i, nodes) in [3usize, 5, 7, 9].into_iter().enumerate() {
            for run in 0..3u32 {
                let jitter = f64::from(run) * 4.0;
                let mut up = row(
                    "up",
                    nodes,
                    250,
                    Outcome::Ok,
                    Some(20.0 + 9.0 * i as f64 + jitter),
                );
                up.run = run;
                rows.push(up);
                rows.push(row(
                    "up",
                    nodes,
                    1000,
                    Outcome::Ok,
                    Some(60.0 + 20.0 * i as f64 + jitter),
                ));
                rows.push(row(
                    "kill_leader",
                    nodes,
                    250,
                    Outcome::Ok,
                    Some(300.0 + jitter * 10.0),
                ));
            }
        }
        rows.push(row("up", 9, 250, Outcome::Timeout, None));
        rows.push(row("up", 9, 250, Outcome::Error, None));
        rows
    }

    fn paper_points() -> Vec<PaperPoint> {
        let mut points = Vec::new();
        for (nodes, s) in [(3, 0.333), (5, 0.6), (7, 0.8), (9, 1.094), (35, 4.4)] {
            points.push(PaperPoint {
                source: Source::Dec2015,
                test: "up".into(),
                election_timeout_ms: 250,
                nodes,
                seconds: Some(s),
            });
        }
        points.push(PaperPoint {
            source: Source::Sep2015,
            test: "up".into(),
            election_timeout_ms: 1000,
            nodes: 5,
            seconds: None,
        });
        points
    }

    fn write_csv(dir: &Path, name: &str, rows: &[Row]) -> PathBuf {
        let path = dir.join(name);
        let mut w = CsvWriter::open_append(&path).unwrap();
        for r in rows {
            w.write_row(r).unwrap();
        }
        path
    }

    #[test]
    fn figures_hold_means_failures_and_the_paper_in_range() {
        let figs = figures(&sample_rows(), &paper_points(), false);
        assert_eq!(
            figs.iter().map(|f| f.test.as_str()).collect::<Vec<_>>(),
            ["up", "kill_leader"]
        );
        let up = &figs[0];
        assert_eq!(up.sizes, [3, 5, 7, 9]);
        assert_eq!(up.failed, 2);
        let et250 = &up.series[0];
        assert_eq!(et250.label, "ET 250 ms");
        assert_eq!(et250.runs.len(), 12);
        assert_eq!(et250.means[0], (3.0, 24.0));
        assert_eq!(et250.failed, [(9.0, 2)]);
        // Only the Dec 2015 ET 250 line; 35 nodes is outside our range, and
        // the Sep 2015 ET 1000 paper has no ok run in range.
        assert_eq!(up.paper.len(), 1);
        assert_eq!(up.paper[0].label, "paper Dec 2015 ET 250");
        assert_eq!(up.paper[0].color, et250.color);
        assert_eq!(up.paper[0].segments[0].len(), 4);
        // The axis fits the paper's 1094 ms.
        assert!(up.y_range.0 == 0.0 && up.y_range.1 > 1094.0);
        assert!(up.subtitle.contains("process launcher") && up.subtitle.contains("2 failed"));
    }

    #[test]
    fn mixed_setups_are_separate_series() {
        let mut rows = sample_rows();
        let mut docker = row("up", 3, 250, Outcome::Ok, Some(90.0));
        docker.launcher = "docker".into();
        rows.push(docker);
        let figs = figures(&rows, &[], false);
        let labels: Vec<&str> = figs[0].series.iter().map(|s| s.label.as_str()).collect();
        assert_eq!(
            labels,
            [
                "ET 250 ms, docker",
                "ET 250 ms, process",
                "ET 1000 ms, process"
            ]
        );
    }

    #[test]
    fn y_ranges_are_never_empty() {
        assert_eq!(y_range([].into_iter(), false), (0.0, 1.0));
        assert_eq!(y_range([0.0].into_iter(), true), (1.0, 10.0));
        let (lo, hi) = y_range([0.0, 5.0, 500.0].into_iter(), true);
        assert!(lo > 0.0 && lo < 5.0 && hi > 500.0);
    }

    #[test]
    fn log_ranges_span_whole_decades_so_the_axis_has_labels() {
        assert_eq!(y_range([35.0, 450.0].into_iter(), true), (10.0, 1000.0));
        assert_eq!(y_range([2.0, 9000.0].into_iter(), true), (1.0, 100_000.0));
        assert_eq!(y_range([120.0].into_iter(), true), (10.0, 1000.0));
    }

    #[test]
    fn absurd_times_give_a_bounded_axis() {
        assert_eq!(y_range([1e-300, 1e307].into_iter(), true), (1e-3, 1e10));
        let (lo, hi) = y_range([1e307].into_iter(), false);
        assert!(lo == 0.0 && (hi - 1.1e9).abs() < 1.0, "{hi}");
        assert_eq!(y_range([10.0, f64::NAN].into_iter(), false), (0.0, 11.0));
    }

    #[test]
    fn x_ticks_never_collide() {
        let sizes: Vec<usize> = (3..=21).step_by(2).chain([25, 29, 33]).collect();
        // Roomy: every size.
        assert_eq!(x_ticks(&sizes, (2.0, 34.0), 800.0, 20.0).len(), sizes.len());
        // Cramped: sizes 2 apart are 20 px apart, so every other one.
        let ticks = x_ticks(&sizes, (2.0, 34.0), 320.0, 25.0);
        assert_eq!(ticks[..4], [3.0, 7.0, 11.0, 15.0]);
        assert!(ticks.windows(2).all(|w| (w[1] - w[0]) * 10.0 >= 25.0));
        assert!(x_ticks(&[], (0.0, 1.0), 100.0, 10.0).is_empty());
    }

    #[test]
    fn tick_labels_are_short() {
        assert_eq!(format_tick(0.0), "0");
        assert_eq!(format_tick(500.0), "500");
        assert_eq!(format_tick(2.5), "2.5");
        assert_eq!(format_tick(0.25), "0.25");
        assert_eq!(format_tick(20.0), "20");
        assert_eq!(format_tick(f64::NAN), "");
    }

    #[test]
    fn file_stems_cannot_escape_the_directory() {
        assert_eq!(file_stem("kill_leader"), "kill_leader");
        assert_eq!(file_stem("../../etc/x"), "______etc_x");
        assert_eq!(file_stem(""), "test");
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
        assert!(up_svg.contains("paper Dec 2015 ET 250"));
        assert!(up_svg.contains("failed run, on the top edge (2)"));
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
        // A zero time, a lone size far off, and a test name that is no test.
        rows.push(row("up", 51, 250, Outcome::Ok, Some(0.0)));
        rows.push(row("../weird name", 3, 100, Outcome::Unsafe, None));
        let opts = PlotOptions {
            log_scale: true,
            width: MIN_SIZE.0,
            height: MIN_SIZE.1,
        };
        let files = plot_rows(&rows, None, dir.path(), &opts).unwrap();
        assert_eq!(files.len(), 6);
        assert!(files[0].ends_with("up-log.png") && is_png(&files[0]));
        assert!(files[4].ends_with("___weird_name-log.png"));
        let svg = fs::read_to_string(dir.path().join("up-log.svg")).unwrap();
        assert!(svg.contains("time (ms, log scale)"));
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
        assert!(e.contains("empty.csv: no runs to plot"), "{e}");

        let missing = dir.path().join("missing.csv");
        let e = plot(&[missing], None, dir.path(), &opts)
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing.csv"), "{e}");

        let tiny = PlotOptions { width: 10, ..opts };
        let e = plot_rows(&sample_rows(), None, dir.path(), &tiny)
            .unwrap_err()
            .to_string();
        assert!(e.contains("10x720 pixels is out of range"), "{e}");
    }
}
