//! Where a start's time goes: every node's and every link's start-up split into its steps.
//!
//! The nodes stamp each step on `CLOCK_MONOTONIC` (which the bench shares) and report the
//! stamps in `status`: when the node's command began (`main_ns`), when its control socket
//! listened, when its mesh (with the DTLS certificate) was ready, when it joined signaling, and
//! for every link when it started and when ICE, DTLS and SCTP finished ([`LinkPhases`]). The
//! launcher adds when it spawned each process. The bench takes the statuses of the round that
//! confirmed the cluster up, so every figure is a measured interval between two stamps, never
//! an estimate; the nodes' CPU time at that moment, against the cores and the wall time, says
//! whether the machine, rather than a protocol's waiting, bounds the start.

use node::clock::Stamp;
use node::control::protocol::Status;
use node::mesh::LinkPhases;

use crate::results::stats::{median, quantile};

/// One step of a start, in the order a node goes through them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// t0 to the bench spawning the node: the launch loop, one node after another.
    LaunchLoop,
    /// Spawn (or t0, for containers) to the node's command beginning: fork, exec, loading.
    ProcessStart,
    /// Command began to control socket listening: logging, runtime, storage, socket.
    NodeInit,
    /// Control socket listening to the mesh ready: mostly the DTLS certificate.
    Certificate,
    /// Mesh ready to joined: the WebSocket dial, upgrade and PeerJS `OPEN`.
    Signaling,
    /// The later of a link's two ends joining signaling to the offerer starting the link:
    /// presence reaching the offerer, and the offerer getting to it.
    Presence,
    /// Link start to the answer back at the offerer: SDP made and relayed both ways.
    OfferAnswer,
    /// Answer received to ICE connected at the offerer: candidates relayed, checks.
    Ice,
    /// ICE connected to the peer connection connected: the DTLS handshake.
    Dtls,
    /// DTLS done to the data channel open: the SCTP association and channel.
    Sctp,
    /// A whole link, start to open, at the offerer.
    Link,
    /// The leader's last link opened to the cluster up: the membership changes it still had
    /// to commit.
    Membership,
}

impl Step {
    /// Every step, in order.
    pub const ALL: [Step; 12] = [
        Step::LaunchLoop,
        Step::ProcessStart,
        Step::NodeInit,
        Step::Certificate,
        Step::Signaling,
        Step::Presence,
        Step::OfferAnswer,
        Step::Ice,
        Step::Dtls,
        Step::Sctp,
        Step::Link,
        Step::Membership,
    ];

    /// Its name in the table.
    pub const fn name(self) -> &'static str {
        match self {
            Step::LaunchLoop => "launch loop",
            Step::ProcessStart => "process start",
            Step::NodeInit => "node init",
            Step::Certificate => "certificate",
            Step::Signaling => "signaling",
            Step::Presence => "presence",
            Step::OfferAnswer => "offer/answer",
            Step::Ice => "ICE",
            Step::Dtls => "DTLS",
            Step::Sctp => "SCTP",
            Step::Link => "link (whole)",
            Step::Membership => "membership",
        }
    }

    /// What one sample is taken over.
    pub const fn per(self) -> &'static str {
        match self {
            Step::LaunchLoop
            | Step::ProcessStart
            | Step::NodeInit
            | Step::Certificate
            | Step::Signaling => "node",
            Step::Membership => "run",
            _ => "link",
        }
    }
}

/// One step's intervals in one or more runs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StepSamples {
    /// Each node's, link's or run's interval, ms.
    pub durations_ms: Vec<f64>,
    /// Per run, when the last of them ended, ms after t0.
    pub ends_ms: Vec<f64>,
}

/// The breakdown of one start, or of several merged.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Breakdown {
    /// Samples per step, in [`Step::ALL`]'s order.
    pub steps: Vec<StepSamples>,
    /// Per run, the nodes' CPU time (user + system) by their statuses of the confirming
    /// round, ms.
    pub cpu_ms: Vec<f64>,
    /// Per run, t0 to the last of those statuses, ms: the wall time that CPU time was spent in.
    pub cpu_wall_ms: Vec<f64>,
    /// Per run, t0 to up, ms.
    pub wall_ms: Vec<f64>,
}

/// Adds intervals `from → to` (monotonic ns) to a step, measuring its end from `t0_ns`.
struct Collector {
    t0_ns: u64,
    samples: StepSamples,
    last_end_ns: Option<u64>,
}

impl Collector {
    fn new(t0_ns: u64) -> Self {
        Self {
            t0_ns,
            samples: StepSamples::default(),
            last_end_ns: None,
        }
    }

    fn add(&mut self, from: Option<u64>, to: Option<u64>) {
        let (Some(from), Some(to)) = (from, to) else {
            return;
        };
        if from == 0 || to < from {
            return;
        }
        self.samples.durations_ms.push(ms(to - from));
        self.last_end_ns = Some(self.last_end_ns.map_or(to, |e| e.max(to)));
    }

    fn finish(mut self) -> StepSamples {
        if let Some(end) = self.last_end_ns {
            self.samples
                .ends_ms
                .push(ms(end.saturating_sub(self.t0_ns)));
        }
        self.samples
    }
}

fn ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

/// A node's stamps, as its status and the launcher gave them.
pub struct NodeStamps<'a> {
    /// When the bench spawned it (monotonic ns), if the launcher knows.
    pub spawned_ns: Option<u64>,
    /// Its status from the round that confirmed the cluster up.
    pub status: &'a Status,
}

impl Breakdown {
    /// The breakdown of one start timed from `t0` and up at `done_ns`.
    pub fn of_run(t0: Stamp, done_ns: u64, nodes: &[NodeStamps<'_>]) -> Self {
        let mut steps: Vec<Collector> = Step::ALL.iter().map(|_| Collector::new(t0.ns)).collect();
        let at = |s: Step| Step::ALL.iter().position(|x| *x == s).unwrap_or(0);
        let signaling_of = |id: &str| {
            nodes
                .iter()
                .find(|n| n.status.id == id)
                .and_then(|n| n.status.signaling_ns)
        };
        for n in nodes {
            let s = n.status;
            let process_from = n.spawned_ns.or(Some(t0.ns));
            steps[at(Step::LaunchLoop)].add(Some(t0.ns), n.spawned_ns);
            steps[at(Step::ProcessStart)].add(process_from, Some(s.main_ns));
            steps[at(Step::NodeInit)].add(Some(s.main_ns), Some(s.launched_ns));
            steps[at(Step::Certificate)].add(Some(s.launched_ns), Some(s.mesh_ready_ns));
            steps[at(Step::Signaling)].add(Some(s.mesh_ready_ns), s.signaling_ns);
            for (peer, link) in s.link_phases.iter().filter(|(_, l)| l.offerer) {
                let both_joined = s.signaling_ns.max(signaling_of(peer));
                steps[at(Step::Presence)].add(both_joined, Some(link.started_ns));
                add_link(&mut steps, &at, link);
            }
        }
        if let Some(leader) = leader_links_done(nodes) {
            steps[at(Step::Membership)].add(Some(leader), Some(done_ns));
        }
        Self {
            steps: steps.into_iter().map(Collector::finish).collect(),
            cpu_ms: vec![nodes.iter().map(|n| n.status.cpu_ms).sum()],
            cpu_wall_ms: vec![ms(nodes
                .iter()
                .map(|n| n.status.t_ns)
                .max()
                .unwrap_or(done_ns)
                .saturating_sub(t0.ns))],
            wall_ms: vec![ms(done_ns.saturating_sub(t0.ns))],
        }
    }

    /// Adds another run's samples to these.
    pub fn merge(&mut self, other: &Breakdown) {
        if self.steps.is_empty() {
            self.steps = vec![StepSamples::default(); Step::ALL.len()];
        }
        for (mine, theirs) in self.steps.iter_mut().zip(&other.steps) {
            mine.durations_ms.extend(&theirs.durations_ms);
            mine.ends_ms.extend(&theirs.ends_ms);
        }
        self.cpu_ms.extend(&other.cpu_ms);
        self.cpu_wall_ms.extend(&other.cpu_wall_ms);
        self.wall_ms.extend(&other.wall_ms);
    }

    /// The samples of `step`.
    pub fn step(&self, step: Step) -> Option<&StepSamples> {
        let i = Step::ALL.iter().position(|s| *s == step)?;
        self.steps.get(i)
    }

    /// A markdown table: per step its median, p90 and max interval, and the median over runs
    /// of when its last instance ended; then the CPU the nodes used against the cores.
    pub fn render(&self, title: &str, cores: usize) -> String {
        let mut out = format!(
            "{title}\n\n| step | per | samples | median (ms) | p90 (ms) | max (ms) | last ends (ms after t0, median) |\n|---|---|---:|---:|---:|---:|---:|\n"
        );
        for step in Step::ALL {
            let Some(s) = self.step(step) else { continue };
            let f = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.1}"));
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} |\n",
                step.name(),
                step.per(),
                s.durations_ms.len(),
                f(median(&s.durations_ms)),
                f(quantile(&s.durations_ms, 0.9)),
                f(quantile(&s.durations_ms, 1.0)),
                f(median(&s.ends_ms)),
            ));
        }
        let cpu = median(&self.cpu_ms).unwrap_or(0.0);
        let wall = median(&self.cpu_wall_ms).unwrap_or(0.0);
        let busy = if wall > 0.0 { cpu / wall } else { 0.0 };
        out.push_str(&format!(
            "\nnodes' CPU time from launch to the status confirming up: {cpu:.0} ms (median) in {wall:.1} ms of wall time: {busy:.2} of {cores} cores busy on average\n"
        ));
        out
    }
}

/// Adds one offerer-side link's negotiation steps.
fn add_link(steps: &mut [Collector], at: &dyn Fn(Step) -> usize, link: &LinkPhases) {
    let start = Some(link.started_ns);
    steps[at(Step::OfferAnswer)].add(start, link.answer_received_ns);
    steps[at(Step::Ice)].add(link.answer_received_ns, link.ice_connected_ns);
    steps[at(Step::Dtls)].add(link.ice_connected_ns, link.connected_ns);
    steps[at(Step::Sctp)].add(link.connected_ns, link.channel_open_ns);
    steps[at(Step::Link)].add(start, link.channel_open_ns);
}

/// When the leader's last link to a member opened, by the leader's own stamps.
fn leader_links_done(nodes: &[NodeStamps<'_>]) -> Option<u64> {
    let leader = nodes
        .iter()
        .find(|n| n.status.leader.as_deref() == Some(n.status.id.as_str()))?;
    let others = nodes.iter().filter(|n| n.status.id != leader.status.id);
    let mut last = 0;
    for n in others {
        last = last.max(*leader.status.link_up_ns.get(&n.status.id)?);
    }
    Some(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: &str, base: u64) -> Status {
        Status {
            id: id.to_owned(),
            main_ns: base + 10,
            launched_ns: base + 20,
            mesh_ready_ns: base + 30,
            signaling_ns: Some(base + 40),
            cpu_ms: 5.0,
            ..Status::default()
        }
    }

    #[test]
    fn each_step_is_the_interval_between_its_two_stamps() {
        let t0 = Stamp::now();
        let mut a = node("a", t0.ns);
        let b = node("b", t0.ns + 5);
        a.leader = Some("a".into());
        a.link_up_ns.insert("b".into(), t0.ns + 200);
        a.link_phases.insert(
            "b".into(),
            LinkPhases {
                offerer: true,
                started_ns: t0.ns + 50,
                answer_received_ns: Some(t0.ns + 60),
                ice_connected_ns: Some(t0.ns + 100),
                connected_ns: Some(t0.ns + 150),
                channel_open_ns: Some(t0.ns + 190),
                ..LinkPhases::default()
            },
        );
        let nodes = [
            NodeStamps {
                spawned_ns: Some(t0.ns + 1),
                status: &a,
            },
            NodeStamps {
                spawned_ns: None,
                status: &b,
            },
        ];
        let d = Breakdown::of_run(t0, t0.ns + 1_000_000, &nodes);
        let got = |s| d.step(s).unwrap().durations_ms.clone();
        assert_eq!(got(Step::LaunchLoop), vec![1e-6]);
        // Without a spawn stamp the process start is measured from t0.
        assert_eq!(got(Step::ProcessStart), vec![9e-6, 15e-6]);
        assert_eq!(got(Step::Presence), vec![5e-6]);
        assert_eq!(got(Step::Ice), vec![40e-6]);
        assert_eq!(got(Step::Dtls), vec![50e-6]);
        assert_eq!(got(Step::Sctp), vec![40e-6]);
        assert_eq!(got(Step::Link), vec![140e-6]);
        let membership = &d.step(Step::Membership).unwrap().durations_ms;
        assert!((membership[0] - (1_000_000.0 - 200.0) / 1e6).abs() < 1e-9);
        assert_eq!(d.cpu_ms, vec![10.0]);
    }

    #[test]
    fn a_missing_stamp_leaves_its_step_out_instead_of_inventing_it() {
        let t0 = Stamp::now();
        let mut a = node("a", t0.ns);
        a.signaling_ns = None;
        a.leader = Some("a".into());
        let nodes = [NodeStamps {
            spawned_ns: None,
            status: &a,
        }];
        let d = Breakdown::of_run(t0, t0.ns + 100, &nodes);
        assert!(d.step(Step::Signaling).unwrap().durations_ms.is_empty());
        assert!(d.step(Step::Signaling).unwrap().ends_ms.is_empty());
    }

    #[test]
    fn merged_runs_keep_every_sample_and_render_a_row_per_step() {
        let t0 = Stamp::now();
        let a = node("a", t0.ns);
        let one = Breakdown::of_run(
            t0,
            t0.ns + 100,
            &[NodeStamps {
                spawned_ns: None,
                status: &a,
            }],
        );
        let mut all = Breakdown::default();
        all.merge(&one);
        all.merge(&one);
        assert_eq!(all.step(Step::NodeInit).unwrap().durations_ms.len(), 2);
        assert_eq!(all.wall_ms.len(), 2);
        let table = all.render("3 nodes", 2);
        assert_eq!(table.matches("\n| ").count(), Step::ALL.len() + 1);
        assert!(table.contains("| certificate | node | 2 |"));
    }
}
