//! What one run produced, mapped to its CSV row.

use std::time::{Duration, SystemTime};

use chrono::{DateTime, SecondsFormat, Utc};

use node::settings::Profile;
use raftrtc_raft::Replication;

use super::Options;
use crate::cli::LauncherArg;
use crate::experiment::{RunReport, RunSettings, Start};
use crate::matrix::RunSpec;
use crate::results::{self, Outcome, Row};

pub(super) fn to_row(
    options: &Options,
    spec: &RunSpec,
    seed: u64,
    started_at: SystemTime,
    report: &RunReport,
    settings: &RunSettings,
) -> Row {
    let ms = |d: Option<Duration>| d.map(|d| d.as_secs_f64() * 1000.0);
    let error = match report.outcome {
        Outcome::Timeout => format!(
            "timed out after {:?} while {}",
            settings.timeout_for(spec.nodes),
            report.ended_in
        ),
        _ => report.error.clone().unwrap_or_default(),
    };
    Row {
        test: spec.test,
        launcher: match options.launcher {
            LauncherArg::Process => results::Launcher::Process,
            LauncherArg::Docker => results::Launcher::Docker,
            LauncherArg::Swarm => results::Launcher::Swarm,
        },
        nodes: spec.nodes,
        election_timeout_ms: spec.election_timeout_ms,
        heartbeat_ms: spec.election_timeout_ms / u64::from(options.node.heartbeat_ratio.max(1)),
        replication: match options.node.replication {
            Replication::Immediate => results::Replication::Immediate,
            Replication::Heartbeat => results::Replication::Heartbeat,
        },
        run: spec.run,
        seed,
        killed: spec.test.killed(spec.nodes),
        messages: spec.test.messages(),
        outcome: report.outcome,
        duration_ms: ms(report.duration),
        up_ms: ms(report.up),
        launched_ms: ms(report.phases.launched),
        signaling_ms: ms(report.phases.signaling),
        mesh_ms: ms(report.phases.mesh),
        raft_ms: ms(report.phases.raft),
        rejoin_ms: ms(report.rejoin),
        elections: report.verdict.as_ref().map(|v| v.elections),
        final_term: report.verdict.as_ref().map(|v| v.final_term),
        properties: report
            .verdict
            .as_ref()
            .map_or_else(|| "unchecked".to_string(), |v| v.properties()),
        version: env!("CARGO_PKG_VERSION").to_string(),
        started_at: rfc3339(started_at),
        profile: match options.profile {
            Profile::Default => results::Profile::Default,
            Profile::Paper => results::Profile::Paper,
        },
        start: match options.start {
            Start::Cold => results::Start::Cold,
            Start::Warm => results::Start::Warm,
        },
        net: options.node.net.clone(),
        signaling: settings.signaling,
        error,
        logs: report
            .logs
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
    }
}

/// `2025-01-31T12:34:56.789Z` (UTC), the `started_at` column.
fn rfc3339(t: SystemTime) -> String {
    DateTime::<Utc>::from(t).to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc_to_the_millisecond() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = UNIX_EPOCH + Duration::from_millis(1_709_210_096_250);
        assert_eq!(rfc3339(t), "2024-02-29T12:34:56.250Z");
        let t = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(rfc3339(t), "2000-02-29T00:00:00.000Z");
    }
}
