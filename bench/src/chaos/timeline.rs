//! The timeline figure of a chaos run, as Jepsen draws one: time across, one row per client,
//! each operation a bar from its invocation to its completion, coloured by how it ended
//! (`ok` green, `fail` blue, `info` orange), with the faults' windows shaded and named.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;
use raftrtc_check::{FaultWindow, Record};

use crate::results::plot::{write_figure, Drawing, PlotError};

/// The figure's size in pixels.
const SIZE: (u32, u32) = (1600, 700);

/// How an operation ended, for its colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ended {
    Ok,
    Fail,
    Info,
}

/// What the timeline shows, in seconds from the load's start.
pub struct Timeline {
    title: String,
    clients: u32,
    span_s: f64,
    /// `(client, from, to, how)`.
    ops: Vec<(u32, f64, f64, Ended)>,
    /// `(name, from, to)`.
    faults: Vec<(String, f64, f64)>,
}

impl Timeline {
    /// Builds the figure of `records` and `faults` over the load `span` (ns).
    pub fn new(
        title: String,
        records: &[Record],
        faults: &[FaultWindow],
        span: (u64, u64),
    ) -> Self {
        let s = |t: u64| t.saturating_sub(span.0) as f64 / 1e9;
        let mut open: HashMap<u64, (u32, f64)> = HashMap::new();
        let mut ops = Vec::new();
        let mut clients = 1;
        for r in records {
            let (id, t, how) = match r {
                Record::Invoke {
                    id, client, t_ns, ..
                } => {
                    clients = clients.max(client + 1);
                    open.insert(*id, (*client, s(*t_ns)));
                    continue;
                }
                Record::Ok { id, t_ns, .. } => (id, t_ns, Ended::Ok),
                Record::Fail { id, t_ns, .. } => (id, t_ns, Ended::Fail),
                Record::Info { id, t_ns, .. } => (id, t_ns, Ended::Info),
            };
            if let Some((client, from)) = open.remove(id) {
                ops.push((client, from, s(*t).max(from), how));
            }
        }
        let faults = faults
            .iter()
            .map(|f| (f.name.clone(), s(f.start_ns), s(f.end_ns)))
            .collect();
        Timeline {
            title,
            clients,
            span_s: s(span.1).max(0.001),
            ops,
            faults,
        }
    }

    /// Writes `<stem>.png` and `<stem>.svg` into `dir`.
    pub fn write(&self, dir: &Path, stem: &str) -> Result<[PathBuf; 2], PlotError> {
        write_figure(self, dir, stem, SIZE)
    }
}

impl Drawing for Timeline {
    fn draw_on<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
        root.fill(&WHITE).map_err(e)?;
        let top = f64::from(self.clients) - 0.5;
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..self.span_s, -0.5..top + 1.0)
            .map_err(e)?;
        chart
            .configure_mesh()
            .x_desc("seconds since the load started")
            .y_desc("client")
            .y_labels(self.clients as usize + 1)
            .y_label_formatter(&|y| format!("{y:.0}"))
            .disable_y_mesh()
            .draw()
            .map_err(e)?;
        let shade = RGBColor(200, 200, 200).mix(0.45);
        for (name, from, to) in &self.faults {
            chart
                .draw_series([Rectangle::new([(*from, -0.5), (*to, top)], shade.filled())])
                .map_err(e)?;
            chart
                .draw_series([Text::new(
                    name.clone(),
                    (*from, top + 0.6),
                    ("sans-serif", 13).into_font(),
                )])
                .map_err(e)?;
        }
        for (client, from, to, how) in &self.ops {
            let colour = match how {
                Ended::Ok => RGBColor(46, 139, 87),
                Ended::Fail => RGBColor(65, 105, 225),
                Ended::Info => RGBColor(255, 140, 0),
            };
            let y = f64::from(*client);
            chart
                .draw_series([Rectangle::new(
                    [
                        (*from, y - 0.3),
                        (to.max(from + self.span_s / 4000.0), y + 0.3),
                    ],
                    colour.filled(),
                )])
                .map_err(e)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use raftrtc_check::OpKind;

    #[test]
    fn the_timeline_pairs_operations_and_writes_both_formats() {
        let get = OpKind::Get { key: "k".into() };
        let invoke = |id, client, t_ns| Record::Invoke {
            id,
            client,
            node: "n0".into(),
            t_ns,
            op: get.clone(),
        };
        let records = vec![
            invoke(1, 0, 1_000_000_000),
            invoke(2, 3, 1_100_000_000),
            Record::Ok {
                id: 1,
                t_ns: 1_200_000_000,
                value: None,
            },
            Record::Info {
                id: 2,
                t_ns: 2_100_000_000,
                error: "timed out".into(),
            },
        ];
        let faults = [FaultWindow {
            name: "pause n1".into(),
            start_ns: 1_500_000_000,
            end_ns: 1_900_000_000,
        }];
        let t = Timeline::new(
            "chaos".into(),
            &records,
            &faults,
            (1_000_000_000, 3_000_000_000),
        );
        assert_eq!(t.clients, 4);
        assert_eq!(t.ops.len(), 2);
        assert_eq!(t.ops[1].3, Ended::Info);
        assert!((t.faults[0].1 - 0.5).abs() < 1e-9);
        let dir = tempfile::tempdir().unwrap();
        let [png, svg] = t.write(dir.path(), "timeline").unwrap();
        assert!(std::fs::metadata(png).unwrap().len() > 1000);
        let svg = std::fs::read_to_string(svg).unwrap();
        assert!(svg.contains("pause n1"), "the fault is named");
    }
}
