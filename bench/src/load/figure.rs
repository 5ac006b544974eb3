//! The figures of a load run: throughput against clients (closed-loop cells) and latency
//! against offered load (open-loop cells), one series per cluster size.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;

use super::row::LoadRow;
use crate::results::plot::model::PALETTE;
use crate::results::plot::{write_figure, Drawing, PlotError};

/// The figures' size in pixels.
const SIZE: (u32, u32) = (1200, 720);

/// One figure: x against y, a line per series, with a legend.
struct Lines {
    title: String,
    x_desc: &'static str,
    y_desc: &'static str,
    /// `(label, points)`, points sorted by x.
    series: Vec<(String, Vec<(f64, f64)>)>,
}

impl Drawing for Lines {
    fn draw_on<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
        root.fill(&WHITE).map_err(e)?;
        let points = self.series.iter().flat_map(|(_, p)| p);
        let (x_max, y_max) = points.fold((1.0f64, 1.0f64), |(x, y), p| (x.max(p.0), y.max(p.1)));
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, ("sans-serif", 22))
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(80)
            .build_cartesian_2d(0.0..x_max * 1.05, 0.0..y_max * 1.1)
            .map_err(e)?;
        chart
            .configure_mesh()
            .x_desc(self.x_desc)
            .y_desc(self.y_desc)
            .draw()
            .map_err(e)?;
        for (k, (label, points)) in self.series.iter().enumerate() {
            let colour = PALETTE[k % PALETTE.len()];
            chart
                .draw_series(LineSeries::new(points.clone(), colour.stroke_width(2)))
                .map_err(e)?
                .label(label.clone())
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], colour));
            chart
                .draw_series(points.iter().map(|&p| Circle::new(p, 4, colour.filled())))
                .map_err(e)?;
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(e)
    }
}

/// The medians over runs of `y` per `(nodes, x)`, as one series per size.
fn series(
    rows: &[&LoadRow],
    x: impl Fn(&LoadRow) -> f64,
    y: impl Fn(&LoadRow) -> Option<f64>,
    label: &str,
) -> Vec<(String, Vec<(f64, f64)>)> {
    let mut by: BTreeMap<usize, BTreeMap<u64, Vec<f64>>> = BTreeMap::new();
    for row in rows.iter().filter(|r| r.outcome == "ok") {
        if let Some(v) = y(row) {
            let key = x(row).to_bits();
            by.entry(row.nodes)
                .or_default()
                .entry(key)
                .or_default()
                .push(v);
        }
    }
    by.into_iter()
        .map(|(nodes, points)| {
            let mut line: Vec<(f64, f64)> = points
                .into_iter()
                .map(|(x, mut ys)| {
                    ys.sort_by(f64::total_cmp);
                    (f64::from_bits(x), ys[ys.len() / 2])
                })
                .collect();
            line.sort_by(|a, b| a.0.total_cmp(&b.0));
            (format!("{nodes} nodes{label}"), line)
        })
        .collect()
}

/// Writes `<stem>-throughput` (closed-loop rows) and `<stem>-latency` (open-loop rows), PNG
/// and SVG, into `dir`, for the kinds of cell `rows` hold; the paths written.
pub fn write(rows: &[LoadRow], dir: &Path, stem: &str) -> Result<Vec<PathBuf>, PlotError> {
    let closed: Vec<&LoadRow> = rows.iter().filter(|r| r.offered_per_s.is_none()).collect();
    let open: Vec<&LoadRow> = rows.iter().filter(|r| r.offered_per_s.is_some()).collect();
    let mut written = Vec::new();
    if !closed.is_empty() {
        let figure = Lines {
            title: "Throughput against clients (closed loop)".into(),
            x_desc: "client workers",
            y_desc: "committed operations a second",
            series: series(&closed, |r| f64::from(r.clients), |r| Some(r.ops_per_s), ""),
        };
        written.extend(write_figure(
            &figure,
            dir,
            &format!("{stem}-throughput"),
            SIZE,
        )?);
    }
    if !open.is_empty() {
        let offered = |r: &LoadRow| r.offered_per_s.unwrap_or(0.0);
        let mut lines = series(&open, offered, |r| r.p50_ms, ", p50");
        lines.extend(series(&open, offered, |r| r.p99_ms, ", p99"));
        let figure = Lines {
            title: "Latency against offered load (open loop, from due times)".into(),
            x_desc: "offered operations a second",
            y_desc: "latency (ms)",
            series: lines,
        };
        written.extend(write_figure(
            &figure,
            dir,
            &format!("{stem}-latency"),
            SIZE,
        )?);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(nodes: usize, clients: u32, offered: Option<f64>, ops_per_s: f64) -> LoadRow {
        LoadRow {
            nodes,
            clients,
            offered_per_s: offered,
            ops_per_s,
            p50_ms: Some(1.0),
            p99_ms: Some(4.0),
            outcome: "ok".into(),
            ..LoadRow::default()
        }
    }

    #[test]
    fn each_size_is_a_series_of_medians_over_runs() {
        let rows = [
            row(3, 1, None, 100.0),
            row(3, 1, None, 300.0),
            row(3, 1, None, 200.0),
            row(3, 4, None, 900.0),
            row(5, 1, None, 80.0),
        ];
        let refs: Vec<&LoadRow> = rows.iter().collect();
        let s = series(&refs, |r| f64::from(r.clients), |r| Some(r.ops_per_s), "");
        assert_eq!(
            s[0],
            ("3 nodes".to_string(), vec![(1.0, 200.0), (4.0, 900.0)])
        );
        assert_eq!(s[1], ("5 nodes".to_string(), vec![(1.0, 80.0)]));
    }

    #[test]
    fn closed_and_open_cells_get_their_own_figure() {
        let dir = tempfile::tempdir().unwrap();
        let rows = [row(3, 1, None, 100.0), row(3, 4, Some(500.0), 480.0)];
        let written = write(&rows, dir.path(), "load").unwrap();
        let names: Vec<String> = written
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            [
                "load-throughput.png",
                "load-throughput.svg",
                "load-latency.png",
                "load-latency.svg"
            ]
        );
    }
}
