//! The fault schedule of a chaos run: which fault strikes when, on whom, for how long.
//!
//! Drawn from the run's seed alone, so `--seed S` replays the same schedule (the cluster's
//! timing differs between runs; what the schedule asks does not). One fault at a time: each
//! strikes, holds, and is lifted before the next, with a calm gap between, so every fault's
//! recovery can be measured on its own.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};

/// The kinds of fault `--faults` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FaultKind {
    /// SIGKILL a node, restart it from its data directory when lifted.
    Kill,
    /// SIGSTOP a node, SIGCONT when lifted.
    Pause,
    /// Cut every link of one node.
    Isolate,
    /// Split the cluster into a majority and a minority.
    Split,
    /// Split into two sides with one node seeing both.
    Bridge,
    /// Every link slow: 50–200 ms one way, jitter a quarter of that.
    Delay,
    /// Every link lossy: 5–30 % of datagrams dropped, in bursts.
    Loss,
    /// The signaling server down, restarted on its address when lifted.
    Signaling,
    /// Every frame the signaling server sends held 200–800 ms.
    SlowSignaling,
    /// SIGKILL every node, restart all from their data directories.
    RestartAll,
    /// A node leaves the cluster politely (the leader removes it), and comes back.
    Member,
}

impl FaultKind {
    /// Every kind, in `--faults all` order.
    pub const ALL: [FaultKind; 11] = [
        FaultKind::Kill,
        FaultKind::Pause,
        FaultKind::Isolate,
        FaultKind::Split,
        FaultKind::Bridge,
        FaultKind::Delay,
        FaultKind::Loss,
        FaultKind::Signaling,
        FaultKind::SlowSignaling,
        FaultKind::RestartAll,
        FaultKind::Member,
    ];

    /// Its name in `--faults` and the schedule.
    pub const fn name(self) -> &'static str {
        match self {
            FaultKind::Kill => "kill",
            FaultKind::Pause => "pause",
            FaultKind::Isolate => "isolate",
            FaultKind::Split => "split",
            FaultKind::Bridge => "bridge",
            FaultKind::Delay => "delay",
            FaultKind::Loss => "loss",
            FaultKind::Signaling => "signaling",
            FaultKind::SlowSignaling => "slow-signaling",
            FaultKind::RestartAll => "restart-all",
            FaultKind::Member => "member",
        }
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for FaultKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        FaultKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = FaultKind::ALL.iter().map(|k| k.name()).collect();
                format!(
                    "unknown fault {s:?} (all, none, or any of {})",
                    names.join(", ")
                )
            })
    }
}

/// Parses `--faults`: `all`, `none`, or a comma-separated list of kinds.
pub fn parse_faults(s: &str) -> Result<Vec<FaultKind>, String> {
    match s.trim() {
        "all" => return Ok(FaultKind::ALL.to_vec()),
        "none" => return Ok(Vec::new()),
        _ => {}
    }
    let mut kinds = Vec::new();
    for item in s.split(',') {
        let kind: FaultKind = item.trim().parse()?;
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
    }
    Ok(kinds)
}

/// What one planned fault does, with its targets drawn.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// SIGKILL node `.0`; restart it when lifted.
    Kill(usize),
    /// Pause node `.0`.
    Pause(usize),
    /// Cut node `.0` off.
    Isolate(usize),
    /// Cut every link between the two groups (a node in neither bridges them).
    Split(Vec<usize>, Vec<usize>),
    /// Every link: this one-way delay.
    Delay(Duration),
    /// Every link: bursty loss with this share lost while bad, in percent.
    Loss(u32),
    /// The signaling server down.
    Signaling,
    /// Signaling frames held this long.
    SlowSignaling(Duration),
    /// Every node killed, all restarted when lifted.
    RestartAll,
    /// Node `.0` leaves politely; started again when lifted.
    Leave(usize),
}

impl Fault {
    /// The rules this fault adds to the nodes' network spec (`None`: it is not a network
    /// condition).
    pub fn net_rules(&self, ids: &[String]) -> Option<String> {
        let group = |g: &[usize]| group(ids, g);
        match self {
            Fault::Isolate(i) => Some(format!("{}:down", ids[*i])),
            Fault::Split(a, b) => Some(format!("{}|{}:down", group(a), group(b))),
            Fault::Delay(d) => Some(format!(
                "delay={}ms,jitter={}ms",
                d.as_millis(),
                d.as_millis() / 4
            )),
            Fault::Loss(p) => Some(format!("burst=10%/30%/{p}%")),
            _ => None,
        }
    }

    /// The nodes this fault stops (killed, paused, gone) while it holds.
    pub fn stopped(&self, nodes: usize) -> Vec<usize> {
        match self {
            Fault::Kill(i) | Fault::Pause(i) | Fault::Leave(i) => vec![*i],
            Fault::RestartAll => (0..nodes).collect(),
            _ => Vec::new(),
        }
    }

    /// How it reads in the schedule and the timeline (`pause n2`, `split n0+n1|n2+n3+n4`).
    pub fn describe(&self, ids: &[String]) -> String {
        let group = |g: &[usize]| group(ids, g);
        match self {
            Fault::Kill(i) => format!("kill {}", ids[*i]),
            Fault::Pause(i) => format!("pause {}", ids[*i]),
            Fault::Isolate(i) => format!("isolate {}", ids[*i]),
            Fault::Split(a, b) => format!("split {}|{}", group(a), group(b)),
            Fault::Delay(d) => format!("delay {} ms", d.as_millis()),
            Fault::Loss(p) => format!("loss bursts {p}%"),
            Fault::Signaling => "signaling down".to_owned(),
            Fault::SlowSignaling(d) => format!("slow signaling {} ms", d.as_millis()),
            Fault::RestartAll => "restart all".to_owned(),
            Fault::Leave(i) => format!("{} leaves", ids[*i]),
        }
    }
}

/// The ids of the nodes `g`, joined by `+` (a spec's group).
fn group(ids: &[String], g: &[usize]) -> String {
    g.iter()
        .map(|&i| ids[i].as_str())
        .collect::<Vec<_>>()
        .join("+")
}

/// One fault of the schedule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Planned {
    /// When it strikes, from the start of the clients' load.
    pub at: Duration,
    /// How long it holds before it is lifted.
    pub hold: Duration,
    /// What it does.
    pub fault: Fault,
}

/// Draws the schedule of a run of `duration` on `nodes` nodes: from `kinds`, one fault every
/// `interval` on average, each held for a third to two thirds of the interval.
pub fn plan(
    kinds: &[FaultKind],
    nodes: usize,
    duration: Duration,
    interval: Duration,
    seed: u64,
) -> Vec<Planned> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut out = Vec::new();
    if kinds.is_empty() || nodes == 0 || interval.is_zero() {
        return out;
    }
    let mut at = interval / 2;
    while at + interval / 3 < duration {
        let third = interval.as_millis() as u64 / 3;
        let hold = Duration::from_millis(rng.random_range(third..=2 * third.max(1)));
        let kind = *kinds.choose(&mut rng).unwrap_or(&FaultKind::Pause);
        let fault = draw(kind, nodes, &mut rng);
        out.push(Planned { at, hold, fault });
        let gap = rng.random_range(
            interval.as_millis() as u64 * 3 / 4..=interval.as_millis() as u64 * 5 / 4,
        );
        // At least a millisecond on, however short the interval: the schedule always ends.
        at += hold
            .max(Duration::from_millis(gap))
            .max(Duration::from_millis(1));
    }
    out
}

/// Draws the targets of one fault of `kind`.
fn draw(kind: FaultKind, nodes: usize, rng: &mut StdRng) -> Fault {
    let one = rng.random_range(0..nodes);
    let mut order: Vec<usize> = (0..nodes).collect();
    order.shuffle(rng);
    let minority = (nodes - 1) / 2;
    match kind {
        FaultKind::Kill => Fault::Kill(one),
        FaultKind::Pause => Fault::Pause(one),
        FaultKind::Isolate => Fault::Isolate(one),
        FaultKind::Split => {
            let (small, big) = order.split_at(minority.max(1).min(nodes - 1));
            Fault::Split(sorted(big), sorted(small))
        }
        FaultKind::Bridge => {
            // One node in neither group; the rest in two near halves.
            let (bridge, rest) = order.split_at(1);
            let _ = bridge;
            let (a, b) = rest.split_at(rest.len() / 2);
            Fault::Split(sorted(a), sorted(b))
        }
        FaultKind::Delay => Fault::Delay(Duration::from_millis(rng.random_range(50..=200))),
        FaultKind::Loss => Fault::Loss(rng.random_range(5..=30)),
        FaultKind::Signaling => Fault::Signaling,
        FaultKind::SlowSignaling => {
            Fault::SlowSignaling(Duration::from_millis(rng.random_range(200..=800)))
        }
        FaultKind::RestartAll => Fault::RestartAll,
        FaultKind::Member => Fault::Leave(one),
    }
}

fn sorted(g: &[usize]) -> Vec<usize> {
    let mut g = g.to_vec();
    g.sort_unstable();
    g
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_draws_the_same_schedule_and_another_seed_another() {
        let a = plan(
            &FaultKind::ALL,
            5,
            Duration::from_secs(30),
            Duration::from_secs(3),
            7,
        );
        let b = plan(
            &FaultKind::ALL,
            5,
            Duration::from_secs(30),
            Duration::from_secs(3),
            7,
        );
        let c = plan(
            &FaultKind::ALL,
            5,
            Duration::from_secs(30),
            Duration::from_secs(3),
            8,
        );
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(a.len() >= 6, "{a:?}");
    }

    #[test]
    fn faults_do_not_overlap_and_end_before_the_run_does() {
        let d = Duration::from_secs(20);
        let p = plan(&FaultKind::ALL, 5, d, Duration::from_secs(2), 1);
        for w in p.windows(2) {
            assert!(w[0].at + w[0].hold <= w[1].at, "{w:?}");
        }
        let last = p.last().unwrap();
        assert!(last.at + last.hold <= d + Duration::from_secs(2));
    }

    #[test]
    fn a_split_keeps_a_majority_on_one_side_and_a_bridge_leaves_one_node_out() {
        let mut rng = StdRng::seed_from_u64(3);
        for _ in 0..50 {
            let Fault::Split(big, small) = draw(FaultKind::Split, 5, &mut rng) else {
                panic!("a split")
            };
            assert_eq!((big.len(), small.len()), (3, 2));
            let Fault::Split(a, b) = draw(FaultKind::Bridge, 5, &mut rng) else {
                panic!("a bridge")
            };
            assert_eq!(a.len() + b.len(), 4);
            assert!(a.iter().all(|i| !b.contains(i)));
        }
    }

    #[test]
    fn a_tiny_interval_still_gives_a_finite_schedule() {
        let p = plan(
            &FaultKind::ALL,
            5,
            Duration::from_secs(1),
            Duration::from_micros(10),
            2,
        );
        assert!(!p.is_empty() && p.len() <= 1000, "{}", p.len());
    }

    #[test]
    fn fault_lists_parse_and_unknown_kinds_are_named() {
        assert_eq!(parse_faults("all").unwrap().len(), FaultKind::ALL.len());
        assert!(parse_faults("none").unwrap().is_empty());
        assert_eq!(
            parse_faults("pause, kill,pause").unwrap(),
            vec![FaultKind::Pause, FaultKind::Kill]
        );
        let e = parse_faults("pause,explode").unwrap_err();
        assert!(e.contains("\"explode\""), "{e}");
    }

    #[test]
    fn network_faults_are_specs_the_nodes_parse() {
        let ids: Vec<String> = (0..5).map(|i| format!("n{i}")).collect();
        for f in [
            Fault::Isolate(2),
            Fault::Split(vec![0, 1, 2], vec![3, 4]),
            Fault::Delay(Duration::from_millis(120)),
            Fault::Loss(20),
        ] {
            let rules = f.net_rules(&ids).unwrap();
            rules
                .parse::<node::netem::NetSpec>()
                .unwrap_or_else(|e| panic!("{rules}: {e}"));
        }
        assert_eq!(Fault::Pause(1).net_rules(&ids), None);
        assert_eq!(Fault::RestartAll.stopped(3), vec![0, 1, 2]);
    }
}
