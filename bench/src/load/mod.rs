//! `raftrtc load`: client workers submitting commands to an up cluster through the nodes'
//! control sockets, for a warmup and then a measured window: committed operations a second
//! and the latency each saw.
//!
//! **Closed loop** (the default): each worker keeps one operation in flight and sends the
//! next when the last completes, so the load adapts to the cluster and the figure is its
//! throughput at that many clients.
//!
//! **Open loop** (`--rate R`): operations are due on a fixed schedule, R a second over all
//! workers, and each one's latency runs from when it was *due*, not from when it was sent.
//! A worker still keeps one operation in flight, so when the cluster stalls the due times
//! pile up behind it and their waiting counts, as wrk2 counts it: a closed loop would
//! stop sending during the stall and report only the few slow operations (coordinated
//! omission). At a rate the cluster cannot hold, latency grows through the run, and the
//! operations that came due in the window but were never sent by its end are counted as
//! `unsent`, not forgotten.

pub mod baseline;
pub mod figure;
pub mod latency;
pub mod row;

use std::time::{Duration, Instant};

use node::control::protocol::{ReadMode, RegisterOp, SessionId};
use node::control::{ControlAddr, ControlClient};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use latency::Latencies;

/// How long a worker waits for its node's control socket.
const CONNECT_WAIT: Duration = Duration::from_secs(5);

/// An operation not answered in this long is an error.
const OP_TIMEOUT: Duration = Duration::from_secs(10);

/// Which nodes the workers send to.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// Only followers, which forward to the leader over the data channels (as the papers'
    /// clients submitted at a follower).
    Followers,
    /// Only the leader.
    Leader,
    /// Every node, worker k at node k mod N.
    All,
}

/// What each operation is.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum LoadOp {
    /// `set` of a random key to a unique value, answered once the leader applied it.
    Set,
    /// A chat line, answered once applied on the node it was submitted at.
    Chat,
}

/// How operations are paced.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Pacing {
    /// One operation in flight per worker.
    Closed,
    /// This many operations a second over all workers, latency from the due time.
    Open(f64),
}

/// One cell's load.
#[derive(Clone, Debug)]
pub struct CellPlan {
    /// Client workers.
    pub clients: u32,
    /// Where they send.
    pub at: Target,
    /// What they send.
    pub op: LoadOp,
    /// How they pace it.
    pub pacing: Pacing,
    /// Keys `k0` .. `k{keys-1}` that `set` picks from.
    pub keys: u32,
    /// Load before the measured window, not counted.
    pub warmup: Duration,
    /// The measured window.
    pub duration: Duration,
}

/// What one cell measured: operations due (open loop) or sent (closed) within the window.
#[derive(Debug, Default)]
pub struct CellResult {
    /// Completed.
    pub ops: u64,
    /// Refused, failed or not answered in time.
    pub errors: u64,
    /// Open loop: due within the window but not sent before it ended (the cluster fell
    /// behind the offered rate).
    pub unsent: u64,
    /// Their latencies.
    pub latencies: Latencies,
    /// The first error, for the row.
    pub first_error: Option<String>,
}

impl CellResult {
    fn add(&mut self, other: CellResult) {
        self.ops += other.ops;
        self.errors += other.errors;
        self.unsent += other.unsent;
        self.latencies.merge(&other.latencies);
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }
}

/// The control sockets the workers use: worker k takes `targets[k % len]`.
pub fn targets(controls: &[ControlAddr], leader: usize, at: Target) -> Vec<ControlAddr> {
    let chosen: Vec<ControlAddr> = match at {
        Target::Leader => vec![controls[leader].clone()],
        Target::Followers => (0..controls.len())
            .filter(|&i| i != leader)
            .map(|i| controls[i].clone())
            .collect(),
        Target::All => controls.to_vec(),
    };
    if chosen.is_empty() {
        controls.to_vec()
    } else {
        chosen
    }
}

/// Runs `plan` against the nodes at `targets` and gathers every worker's result.
pub async fn drive(targets: &[ControlAddr], plan: &CellPlan, seed: u64) -> CellResult {
    let start = Instant::now();
    let workers: Vec<_> = (0..plan.clients)
        .map(|k| {
            let control = targets[k as usize % targets.len()].clone();
            let plan = plan.clone();
            tokio::spawn(async move { worker(k, control, plan, start, seed).await })
        })
        .collect();
    let mut total = CellResult::default();
    for w in workers {
        match w.await {
            Ok(result) => total.add(result),
            Err(e) => total.add(CellResult {
                errors: 1,
                first_error: Some(format!("a client worker failed: {e}")),
                ..CellResult::default()
            }),
        }
    }
    total
}

/// One worker: its own connection and session, operations until the window ends.
async fn worker(
    k: u32,
    control: ControlAddr,
    plan: CellPlan,
    start: Instant,
    seed: u64,
) -> CellResult {
    let mut result = CellResult::default();
    let mut client = match ControlClient::connect(&control, CONNECT_WAIT).await {
        Ok(c) => c,
        Err(e) => {
            result.errors = 1;
            result.first_error = Some(e.to_string());
            return result;
        }
    };
    let session = SessionId::new(&format!("load-{k}")).expect("a valid session name");
    let mut rng = StdRng::seed_from_u64(seed ^ (u64::from(k) << 32));
    let measured_from = start + plan.warmup;
    let end = measured_from + plan.duration;
    // Open loop: worker k's operations are due every `clients / rate`, the workers staggered.
    let every = match plan.pacing {
        Pacing::Open(rate) => Some(Duration::from_secs_f64(f64::from(plan.clients) / rate)),
        Pacing::Closed => None,
    };
    let mut due = start + every.map_or(Duration::ZERO, |e| e * k / plan.clients);
    for request in 1u64.. {
        let sent = match every {
            Some(_) => {
                tokio::time::sleep_until(due.into()).await;
                due
            }
            None => Instant::now(),
        };
        if sent >= end || Instant::now() >= end {
            break;
        }
        let outcome = one_op(&mut client, &session, request, &plan, k, &mut rng).await;
        if sent >= measured_from {
            match outcome {
                Ok(()) => {
                    result.ops += 1;
                    result.latencies.record(sent.elapsed());
                }
                Err(e) => {
                    result.errors += 1;
                    result.first_error.get_or_insert(e);
                }
            }
        }
        if let Some(every) = every {
            due += every;
        }
    }
    if let Some(every) = every {
        result.unsent = due_between(due.max(measured_from), end, every);
    }
    result
}

/// How many operations, one due every `every` from `from`, come due before `end`.
fn due_between(from: Instant, end: Instant, every: Duration) -> u64 {
    let span = end.saturating_duration_since(from).as_secs_f64();
    (span / every.as_secs_f64()).ceil() as u64
}

/// Sends one operation and waits for its answer.
async fn one_op(
    client: &mut ControlClient,
    session: &SessionId,
    request: u64,
    plan: &CellPlan,
    worker: u32,
    rng: &mut StdRng,
) -> Result<(), String> {
    let value = format!("c{worker}-{request}");
    let sent = async {
        match plan.op {
            LoadOp::Set => {
                let key = format!("k{}", rng.random_range(0..plan.keys.max(1)));
                let op = RegisterOp::Set { key, value };
                client
                    .op(session.clone(), request, op, ReadMode::Linearizable)
                    .await
                    .map(|_| ())
            }
            LoadOp::Chat => client.submit(vec![value]).await.map(|_| ()),
        }
    };
    match tokio::time::timeout(OP_TIMEOUT, sent).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer in {OP_TIMEOUT:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(n: usize) -> Vec<ControlAddr> {
        (0..n)
            .map(|i| ControlAddr::Socket(std::path::PathBuf::from(format!("n{i}.sock"))))
            .collect()
    }

    #[test]
    fn operations_due_before_the_end_are_counted_whole() {
        let t = Instant::now();
        let ms = Duration::from_millis;
        assert_eq!(due_between(t, t + ms(10), ms(2)), 5);
        assert_eq!(due_between(t, t + ms(11), ms(2)), 6);
        assert_eq!(due_between(t + ms(20), t + ms(10), ms(2)), 0);
    }

    #[test]
    fn workers_go_to_the_followers_the_leader_or_everyone() {
        let c = paths(3);
        assert_eq!(
            targets(&c, 1, Target::Followers),
            [&c[0], &c[2]].map(Clone::clone)
        );
        assert_eq!(targets(&c, 1, Target::Leader), [c[1].clone()]);
        assert_eq!(targets(&c, 1, Target::All), c);
        // A one-node cluster has no follower: its leader takes the load.
        assert_eq!(targets(&paths(1), 0, Target::Followers), paths(1));
    }
}
