//! Drawing a [`Figure`] on any plotters backend: the title, the chart and
//! the legend panel right of it (so it never covers data).
//!
//! Every run drawn is a hollow circle, the mean of a size's ok runs a solid
//! line, and failed runs a red cross on the top edge with their count, so
//! failures can't hide among the points. The papers' means are dashed
//! lines in their timeout's colour.

use std::collections::BTreeMap;

use plotters::coord::ranged1d::ValueFormatter;
use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::axes::{format_tick, x_ticks, SizeAxis};
use super::model::{Figure, FAILED, POINTS_PER_SIZE};
use super::PlotOptions;

/// A drawing error, as text.
type Drawn = Result<(), String>;

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

/// What a legend line shows before its label.
enum Sample {
    Ours(RGBColor),
    Paper(RGBColor),
    Failed,
}

/// The legend's lines and grey notes.
struct Legend {
    entries: Vec<(String, Sample)>,
    notes: Vec<String>,
}

impl Legend {
    fn of(figure: &Figure) -> Legend {
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
        let mut notes = vec!["○ one run   — mean of the ok runs".to_string()];
        if figure.spread() {
            // As short as the first note, so the panel keeps its width.
            notes.push(format!("○ ≤ {POINTS_PER_SIZE} per size, spread by rank"));
        }
        Legend { entries, notes }
    }

    /// The panel's width: as wide as its longest label needs, within
    /// a sixth and two fifths of the figure.
    fn width<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>, fonts: &Fonts) -> u32 {
        let w = root.dim_in_pixel().0;
        let style = TextStyle::from(("sans-serif", fonts.legend).into_font());
        let text_w = self
            .entries
            .iter()
            .map(|(l, _)| l.as_str())
            .chain(self.notes.iter().map(String::as_str))
            .map(|l| root.estimate_text_size(l, &style).map_or(0, |(tw, _)| tw))
            .max()
            .unwrap_or(0);
        (text_w + sample_width(fonts) + (fonts.legend * 2.5) as u32).clamp(w / 6, w * 2 / 5)
    }
}

fn sample_width(fonts: &Fonts) -> u32 {
    (fonts.legend * 2.6) as u32
}

fn err<E: std::error::Error + Send + Sync>(e: DrawingAreaErrorKind<E>) -> String {
    e.to_string()
}

/// Draws `figure` on `root`, filling it.
pub(super) fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    figure: &Figure,
    opts: &PlotOptions,
) -> Drawn {
    root.fill(&WHITE).map_err(err)?;
    let fonts = Fonts::for_size(opts.width, opts.height);
    let body = draw_header(root, figure, &fonts)?;
    let legend = Legend::of(figure);
    let legend_w = legend.width(root, &fonts);
    let w = root.dim_in_pixel().0;
    let (plot_area, legend_area) = body.split_horizontally(w.saturating_sub(legend_w));
    draw_plot(&plot_area, figure, &fonts, opts, w.saturating_sub(legend_w))?;
    draw_legend(&legend_area, &legend, &fonts, legend_w)
}

/// The title and subtitle, each shrunk until it fits the width; returns
/// the area below them.
fn draw_header<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    figure: &Figure,
    fonts: &Fonts,
) -> Result<DrawingArea<DB, Shift>, String> {
    let (w, h) = root.dim_in_pixel();
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
    let centred = |text: &str, y: f64, size: f64, color: RGBColor| {
        Text::new(
            text.to_string(),
            ((w / 2) as i32, y as i32),
            ("sans-serif", size)
                .into_font()
                .color(&color)
                .pos(Pos::new(HPos::Center, VPos::Top)),
        )
    };
    header
        .draw(&centred(
            &figure.title,
            fonts.title * 0.5,
            title_size,
            BLACK,
        ))
        .map_err(err)?;
    header
        .draw(&centred(
            &figure.subtitle,
            fonts.title * 1.6,
            subtitle_size,
            RGBColor(90, 90, 90),
        ))
        .map_err(err)?;
    Ok(body)
}

/// The chart: axes, then the papers' lines, our runs and means, failures.
fn draw_plot<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    figure: &Figure,
    fonts: &Fonts,
    opts: &PlotOptions,
    plot_w: u32,
) -> Drawn {
    let y_label_area = (fonts.tick * 4.0 + fonts.axis * 1.8) as u32;
    let axis_px = f64::from(plot_w.saturating_sub(y_label_area)).max(1.0);
    let widest = figure.sizes.last().map_or(1, |n| n.to_string().len()) as f64;
    let x_spec = SizeAxis::new(
        figure.x_range,
        x_ticks(
            &figure.sizes,
            figure.x_range,
            axis_px,
            // plotters draws a font of size s at s / 1.24 pixels.
            fonts.tick / 1.24 * (0.6 * widest + 0.8),
        ),
    );
    let y_desc = if opts.log_scale {
        "time (ms, log scale)"
    } else {
        "time (ms)"
    };
    let mut builder = ChartBuilder::on(area);
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
        draw_chart(chart, figure, fonts, y_desc)
    } else {
        let chart = builder.build_cartesian_2d(x_spec, y0..y1).map_err(err)?;
        draw_chart(chart, figure, fonts, y_desc)
    }
}

/// A chart with the size axis and either time axis.
type Chart<'a, DB, Y> = ChartContext<'a, DB, Cartesian2d<SizeAxis, Y>>;

fn draw_chart<DB, Y>(
    mut chart: Chart<'_, DB, Y>,
    figure: &Figure,
    fonts: &Fonts,
    y_desc: &str,
) -> Drawn
where
    DB: DrawingBackend,
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
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
    draw_paper(&mut chart, figure, fonts)?;
    draw_series(&mut chart, figure, fonts)?;
    draw_failures(&mut chart, figure, fonts)
}

/// Line widths for a figure's tick font size.
fn stroke(fonts: &Fonts) -> u32 {
    (fonts.tick / 7.0).round().max(1.0) as u32
}

/// The papers' means: dashed lines, a short dashed tick for a lone size.
fn draw_paper<DB, Y>(chart: &mut Chart<'_, DB, Y>, figure: &Figure, fonts: &Fonts) -> Drawn
where
    DB: DrawingBackend,
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let (y0, y1) = figure.y_range;
    let clamp = |v: f64| v.clamp(y0, y1);
    for line in &figure.paper {
        let style = ShapeStyle::from(&line.color).stroke_width(stroke(fonts) + 1);
        for segment in &line.segments {
            let (points, dash, gap) = if let [(x, y)] = segment[..] {
                let tick = vec![(x - 0.4, clamp(y)), (x + 0.4, clamp(y))];
                (tick, fonts.tick / 2.0, fonts.tick / 3.0)
            } else {
                let points = segment.iter().map(|&(x, y)| (x, clamp(y))).collect();
                (points, fonts.tick / 1.5, fonts.tick / 2.5)
            };
            chart
                .draw_series(DashedLineSeries::new(
                    points,
                    dash as i32,
                    gap as i32,
                    style,
                ))
                .map_err(err)?;
        }
    }
    Ok(())
}

/// Our runs as hollow circles and each series' means as a line.
fn draw_series<DB, Y>(chart: &mut Chart<'_, DB, Y>, figure: &Figure, fonts: &Fonts) -> Drawn
where
    DB: DrawingBackend,
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let (y0, y1) = figure.y_range;
    let clamp = |v: f64| v.clamp(y0, y1);
    let stroke = stroke(fonts);
    let radius = (fonts.tick / 4.5).round().max(2.0) as i32;
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
    Ok(())
}

/// Failed runs: red crosses on the top edge, with a count when > 1.
fn draw_failures<DB, Y>(chart: &mut Chart<'_, DB, Y>, figure: &Figure, fonts: &Fonts) -> Drawn
where
    DB: DrawingBackend,
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let mut failed: BTreeMap<u64, usize> = BTreeMap::new();
    for s in &figure.series {
        for &(n, count) in &s.failed {
            *failed.entry(n.to_bits()).or_default() += count;
        }
    }
    let y1 = figure.y_range.1;
    let cross = (fonts.tick / 2.6) as i32;
    for (bits, count) in failed {
        let x = f64::from_bits(bits);
        chart
            .draw_series(std::iter::once(Cross::new(
                (x, y1),
                cross,
                ShapeStyle::from(&FAILED).stroke_width(stroke(fonts) + 1),
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

/// The legend panel: a box, one line per entry, then the notes.
fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    legend: &Legend,
    fonts: &Fonts,
    legend_w: u32,
) -> Drawn {
    let line_h = (fonts.legend * 1.6) as i32;
    let x0 = (fonts.legend * 0.5) as i32;
    let mut y = (fonts.axis * 0.8) as i32 + line_h / 2;
    let lines = (legend.entries.len() + legend.notes.len()) as i32;
    let box_h = line_h * lines + line_h / 2;
    area.draw(&Rectangle::new(
        [
            (x0 - 6, y - line_h / 2 - 4),
            (legend_w as i32 - 8, y - line_h / 2 + box_h),
        ],
        ShapeStyle::from(&RGBColor(180, 180, 180)).stroke_width(1),
    ))
    .map_err(err)?;
    let font = ("sans-serif", fonts.legend).into_font();
    for (label, sample) in &legend.entries {
        draw_sample(area, sample, (x0, y), fonts)?;
        area.draw(&Text::new(
            label.clone(),
            (x0 + sample_width(fonts) as i32, y),
            font.clone()
                .color(&BLACK)
                .pos(Pos::new(HPos::Left, VPos::Center)),
        ))
        .map_err(err)?;
        y += line_h;
    }
    for note in &legend.notes {
        area.draw(&Text::new(
            note.clone(),
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

/// A legend line's sample: line and circle, dashed line or cross.
fn draw_sample<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    sample: &Sample,
    (x0, y): (i32, i32),
    fonts: &Fonts,
) -> Drawn {
    let stroke = (fonts.legend / 7.0).round().max(1.0) as u32;
    let sx0 = x0 + 4;
    let sx1 = x0 + sample_width(fonts) as i32 - 6;
    let mid = ((sx0 + sx1) / 2, y);
    match sample {
        Sample::Ours(c) => {
            area.draw(&PathElement::new(
                vec![(sx0, y), (sx1, y)],
                ShapeStyle::from(c).stroke_width(stroke + 1),
            ))
            .map_err(err)?;
            area.draw(&Circle::new(
                mid,
                (fonts.legend / 4.0) as i32,
                ShapeStyle::from(c).stroke_width(stroke),
            ))
            .map_err(err)
        }
        Sample::Paper(c) => area
            .draw(&DashedPathElement::new(
                vec![(sx0, y), (sx1, y)],
                (fonts.legend / 2.5) as i32,
                (fonts.legend / 4.0) as i32,
                ShapeStyle::from(c).stroke_width(stroke + 1),
            ))
            .map_err(err),
        Sample::Failed => area
            .draw(&Cross::new(
                mid,
                (fonts.legend / 3.0) as i32,
                ShapeStyle::from(&FAILED).stroke_width(stroke + 1),
            ))
            .map_err(err),
    }
}
