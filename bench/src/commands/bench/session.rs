//! One invocation's runs: what they share (the launcher, the signaling server, the settings)
//! and the loop that makes them, a CSV row appended as each ends.
//!
//! With `--reference-binary` every run is made twice on the same seed, once with this
//! build's nodes and once with the reference build's, the order alternating from round to
//! round; only this build's rows go to the CSV, the reference's are kept for the comparison.

use std::time::SystemTime;

use anyhow::Context;
use signaling::{Server, ServerHandle, ServerKind};

use super::options::ExternalSignaling;
use super::{row, Options};
use crate::commands::UsageError;
use crate::experiment::{self, RunReport, RunSettings};
use crate::launcher::process::ProcessLauncher;
use crate::launcher::Launcher;
use crate::matrix::{RunSpec, TestKind};
use crate::progress::Progress;
use crate::results::{CsvWriter, Row, Signaling};

use super::run::{make_launcher, signaling_config, Breakdowns};

/// The rows of one pass over some specs.
#[derive(Debug, Default)]
pub(super) struct Sets {
    /// This build's, in the order made (also in the CSV).
    pub rows: Vec<Row>,
    /// The reference build's, when there is one.
    pub reference: Vec<Row>,
}

/// What the runs of one invocation share: the launchers, the signaling server (unless
/// external) and the settings every run gets.
pub(super) struct Session<'a> {
    options: &'a Options,
    launcher: Box<dyn Launcher>,
    /// `--reference-binary`'s nodes.
    reference: Option<ProcessLauncher>,
    server: Option<ServerHandle>,
    settings: RunSettings,
}

impl<'a> Session<'a> {
    /// Connects the launcher and starts the embedded signaling server unless `options`
    /// name an external one, which is probed first.
    pub(super) async fn start(options: &'a Options) -> anyhow::Result<Session<'a>> {
        let launcher = make_launcher(options.launcher, options.limits, &options.swarm).await?;
        let (server, signaling_url, signaling) = match &options.external_signaling {
            Some(external) => (None, external.url.clone(), probe(external).await?),
            None => {
                let server = Server::bind(signaling_config(options.launcher))
                    .await
                    .context("cannot start the embedded signaling server")?
                    .spawn();
                let url = server.url();
                (Some(server), url, Signaling::Embedded)
            }
        };
        let settings = RunSettings {
            node: options.node.clone(),
            node_log_level: options.node_log_level.clone(),
            signaling_url,
            shared_key: options
                .external_signaling
                .as_ref()
                .map(|e| e.shared_key.clone()),
            signaling,
            timeout: options.timeout,
            keep_logs: options.keep_logs,
            start: options.start,
        };
        let reference = options
            .baseline
            .reference_binary
            .clone()
            .map(ProcessLauncher::with_program);
        Ok(Session {
            options,
            launcher,
            reference,
            server,
            settings,
        })
    }

    /// Runs `specs` in order, run `k` on seed `--seed + first_seed + k`, appending each of
    /// this build's rows to `csv` as it ends.
    pub(super) async fn run(
        &self,
        specs: &[RunSpec],
        first_seed: u64,
        csv: &mut CsvWriter,
        breakdowns: &mut Breakdowns,
    ) -> anyhow::Result<Sets> {
        let sides = if self.reference.is_some() { 2 } else { 1 };
        let progress = Progress::new(specs.len() * sides);
        let mut sets = Sets::default();
        for (k, spec) in specs.iter().enumerate() {
            let seed = self.options.seed.wrapping_add(first_seed + k as u64);
            if spec.run == 1 {
                self.warm_up(self.launcher.as_ref(), spec, seed, &progress)
                    .await;
                if let Some(reference) = &self.reference {
                    self.warm_up(reference, spec, seed, &progress).await;
                }
            }
            // Alternate which build goes first, so neither always follows the other.
            let reference_first = spec.run % 2 == 0;
            if reference_first {
                self.run_reference(spec, seed, &progress, &mut sets).await;
            }
            let label = label(spec, self.options.plan.runs);
            let (row, report) = self
                .measure(self.launcher.as_ref(), spec, seed, &label, &progress)
                .await;
            csv.write_row(&row)?;
            progress.finish_run(
                sets.rows.len() + sets.reference.len(),
                &describe(&label, &row, &report),
            );
            if let Some(dir) = &report.logs {
                progress.println(&format!("    logs: {}", dir.display()));
            }
            if row.outcome.is_ok() {
                breakdowns
                    .entry((spec.nodes, spec.election_timeout_ms))
                    .or_default()
                    .merge(&report.breakdown);
            }
            sets.rows.push(row);
            if !reference_first {
                self.run_reference(spec, seed, &progress, &mut sets).await;
            }
        }
        progress.finish();
        Ok(sets)
    }

    /// The reference build's run of `spec`, if there is a reference.
    async fn run_reference(&self, spec: &RunSpec, seed: u64, progress: &Progress, sets: &mut Sets) {
        let Some(reference) = &self.reference else {
            return;
        };
        let label = format!("{} (reference)", label(spec, self.options.plan.runs));
        let (row, report) = self.measure(reference, spec, seed, &label, progress).await;
        progress.finish_run(
            sets.rows.len() + sets.reference.len(),
            &describe(&label, &row, &report),
        );
        sets.reference.push(row);
    }

    /// One run of `spec` by `launcher`'s nodes, and its row.
    async fn measure(
        &self,
        launcher: &dyn Launcher,
        spec: &RunSpec,
        seed: u64,
        label: &str,
        progress: &Progress,
    ) -> (Row, RunReport) {
        let started_at = SystemTime::now();
        let report = experiment::run_one(launcher, spec, seed, &self.settings, &|phase| {
            progress.phase(label, phase);
        })
        .await;
        let row = row::to_row(
            self.options,
            spec,
            seed,
            started_at,
            &report,
            &self.settings,
        );
        (row, report)
    }

    /// `--warmup`: runs of the cell of `spec` made before its first recorded one, each on a
    /// seed of its own, reported on the terminal but written nowhere.
    async fn warm_up(
        &self,
        launcher: &dyn Launcher,
        spec: &RunSpec,
        seed: u64,
        progress: &Progress,
    ) {
        let warmup = self.options.warmup;
        for w in 1..=warmup {
            let label = format!(
                "{} n={} et={}ms warmup {w}/{warmup}",
                spec.test, spec.nodes, spec.election_timeout_ms
            );
            // Far from every recorded run's seed (seed + k), so no warmup repeats one.
            let seed = seed ^ (0x5741_524d_u64 << 32) ^ u64::from(w);
            let report = experiment::run_one(launcher, spec, seed, &self.settings, &|phase| {
                progress.phase(&label, phase);
            })
            .await;
            progress.println(&format!("{label}: {} (not recorded)", report.outcome));
        }
    }

    /// Stops the embedded signaling server.
    pub(super) async fn finish(self) {
        if let Some(server) = self.server {
            let _ = server.shutdown().await;
        }
    }
}

/// Checks, before any node is launched, that the external server can host clusters on its
/// one key; a server that cannot is a usage error (exit 2) saying why.
async fn probe(external: &ExternalSignaling) -> anyhow::Result<Signaling> {
    let kind = signaling::probe(&external.url, &external.shared_key.key)
        .await
        .map_err(|e| UsageError(format!("--signaling-url: {e}")))?;
    Ok(match kind {
        ServerKind::PeerJs => Signaling::Peerjs,
        ServerKind::Raftrtc => Signaling::Raftrtc,
    })
}

fn label(spec: &RunSpec, runs: u32) -> String {
    format!(
        "{} n={} et={}ms run {}/{}",
        spec.test, spec.nodes, spec.election_timeout_ms, spec.run, runs
    )
}

fn describe(label: &str, row: &Row, report: &RunReport) -> String {
    let ms = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1} ms"));
    let mut line = format!("{label}: {} {}", row.outcome, ms(row.duration_ms));
    if row.test != TestKind::Up {
        line.push_str(&format!(" (up {})", ms(row.up_ms)));
    }
    if !report.killed.is_empty() {
        line.push_str(&format!(" killed {}", report.killed.join(",")));
    }
    if let Some(v) = &report.verdict {
        line.push_str(&format!(
            ", {} elections, term {}, {} rpcs",
            v.elections, v.final_term, v.rpc_sent
        ));
    }
    if !row.error.is_empty() {
        line.push_str(&format!(": {}", row.error));
    } else if row.properties != "ok" {
        line.push_str(&format!(": properties {}", row.properties));
    }
    line
}
