//! One simulated schedule: nodes, clients, faults, and the step loop.
//!
//! Time is virtual and jumps from event to event (a message arrival, a node
//! timer, the next scripted action), so a schedule of seconds runs in
//! milliseconds. Everything random comes from one seeded RNG, so a seed
//! replays the same schedule exactly.

use std::collections::HashMap;
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::{
    Change, ClientOutcome, Command, CommandResult, Config, EntryKind, Event, LogIndex,
    MembershipChange, NodeId, ProposeError, Raft, Replication, RequestId, Role, Term,
};

use super::checker::{Breach, Checker, Property};
use super::network::{Faults, Network};
use super::storage::{Disk, SimStorage};
use super::{ScheduleReport, SimOptions};

/// Where in a step a node crashes ([`Cluster::crash_point`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CrashPoint {
    /// Its state persisted, its messages and replies not sent.
    BeforeSending,
    /// Everything sent.
    AfterSending,
}

/// A client bound to one node (its session), one request in flight.
#[derive(Default)]
struct SimClient {
    next_request: RequestId,
    inflight: Option<(RequestId, Command, Duration)>,
    last_count: u64,
}

struct SimNode {
    id: NodeId,
    raft: Option<Raft<SimStorage>>,
    disk: SimStorage,
    started: bool,
    decommissioned: bool,
    restarts: u64,
    /// Commit index after the node's last checked step.
    commit: LogIndex,
    client: SimClient,
}

/// The state of one schedule.
pub(super) struct Cluster {
    seed: u64,
    opts: SimOptions,
    rng: ChaCha8Rng,
    now: Duration,
    nodes: Vec<SimNode>,
    index_of: HashMap<NodeId, usize>,
    net: Network,
    checker: Checker,
    cfg: Config,
    steps: u64,
    /// Servers being removed: decommissioned once a node applies the removal.
    removing: Vec<usize>,
    /// Liveness was not asserted ([`Cluster::disruptor_without_defence`]).
    unchecked_liveness: bool,
    /// Probability that a node crashes right after a step.
    crash_after_step: f64,
}

fn node_id(i: usize) -> NodeId {
    format!("n{i}")
}

impl Cluster {
    pub(super) fn new(seed: u64, opts: SimOptions) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut cfg = Config::new("template");
        cfg.election_timeout = opts.election_timeout;
        cfg.pre_vote = rng.random_bool(0.5);
        cfg.check_quorum = rng.random_bool(0.5);
        cfg.replication = if rng.random_bool(0.5) {
            Replication::Immediate
        } else {
            Replication::Heartbeat
        };
        // Small batches half the time: logs are short, and only batches
        // shorter than a follower's gap exercise catch-up over many rounds.
        cfg.max_entries_per_append = if rng.random_bool(0.5) {
            rng.random_range(1..=3)
        } else {
            rng.random_range(1..=64)
        };
        // And a weight budget that cuts batches short half the time (0: one entry each).
        cfg.max_append_weight = if rng.random_bool(0.5) {
            rng.random_range(0..=48)
        } else {
            usize::MAX
        };
        // Election backoff half the time, at any cap.
        cfg.election_backoff = if rng.random_bool(0.5) {
            rng.random_range(1..=crate::MAX_ELECTION_BACKOFF)
        } else {
            0
        };
        // Lean heartbeats half the time (they matter only with check-quorum), and heartbeat
        // ratios from 3 to 10.
        cfg.lean_heartbeats = rng.random_bool(0.5);
        cfg.heartbeat_ratio = rng.random_range(3..=10);
        #[cfg(feature = "planted-bugs")]
        {
            cfg.planted_bug = opts.planted_bug;
        }
        let faults = Faults {
            drop: rng.random_range(0.0..0.15),
            duplicate: rng.random_range(0.0..0.05),
            max_delay: Duration::from_millis(rng.random_range(1..=40)),
        };
        let crash_after_step = rng.random_range(0.0..0.05);
        let pool = opts.max_nodes;
        let nodes = (0..pool)
            .map(|i| SimNode {
                id: node_id(i),
                raft: None,
                disk: SimStorage::default(),
                started: false,
                decommissioned: false,
                restarts: 0,
                commit: 0,
                client: SimClient::default(),
            })
            .collect();
        let index_of = (0..pool).map(|i| (node_id(i), i)).collect();
        Self {
            seed,
            opts,
            rng,
            now: Duration::ZERO,
            nodes,
            index_of,
            net: Network::new(pool, faults),
            checker: Checker::default(),
            cfg,
            steps: 0,
            removing: Vec::new(),
            unchecked_liveness: false,
            crash_after_step,
        }
    }

    fn breach(&self, b: Breach) -> super::Violation {
        super::Violation {
            seed: self.seed,
            step: self.steps,
            time: self.now,
            property: b.property,
            detail: b.detail,
            replay: self.opts.replay_command(self.seed),
        }
    }

    /// Runs the schedule: formation, faults, then a healed calm phase.
    pub(super) fn run(mut self) -> Result<ScheduleReport, super::Violation> {
        let run = |sim: &mut Self| -> Result<Duration, Breach> {
            sim.fault_phase()?;
            let calm_start = sim.now;
            sim.calm_phase(calm_start)?;
            sim.acknowledged_writes_on_every_member()?;
            Ok(calm_start)
        };
        let calm_start = run(&mut self).map_err(|b| self.breach(b))?;
        Ok(ScheduleReport {
            steps: self.steps,
            messages: self.net.sent,
            committed: self.checker.committed_len() as u64,
            acknowledged: self.checker.acknowledged_count() as u64,
            leader_terms: self.checker.leader_terms() as u64,
            recovery: self.now - calm_start,
            end: self.now,
            liveness_unchecked: self.unchecked_liveness,
        })
    }

    /// Formation and faults: the cluster grows towards a random size while the schedule's
    /// actions strike, until the fault phase ends.
    fn fault_phase(&mut self) -> Result<(), Breach> {
        let target = self
            .rng
            .random_range(self.opts.min_nodes..=self.opts.max_nodes);
        self.start_node(0)?;
        let fault_end = self.opts.fault_phase;
        let mut next_action = Duration::ZERO;
        while self.now < fault_end {
            self.within_budget()?;
            let action_due = next_action <= self.next_event_time().unwrap_or(next_action);
            if action_due {
                self.now = self.now.max(next_action);
                self.act(target)?;
                next_action = self.now + Duration::from_millis(self.rng.random_range(5..=60));
                if self.opts.trace {
                    println!("t={:?} {}", self.now, self.describe_state());
                }
            } else {
                self.step_once()?;
            }
        }
        Ok(())
    }

    /// Healed: a stable leader and convergence must follow within the calm limit.
    fn calm_phase(&mut self, calm_start: Duration) -> Result<(), Breach> {
        self.calm_down()?;
        let deadline = calm_start
            + self.opts.election_timeout * self.opts.calm_limit_ets
            + self.catch_up_allowance()
            + self.backoff_allowance();
        let mut next_retry = self.now;
        while !self.converged() {
            self.within_budget()?;
            if self.now >= deadline && self.disruptor_without_defence() {
                // Known, not a bug: see `disruptor_without_defence`.
                self.unchecked_liveness = true;
                break;
            }
            if self.now >= deadline {
                return Err(Breach {
                    property: Property::Liveness,
                    detail: format!(
                        "no stable leader and convergence within {} ETs after healing: {}",
                        self.opts.calm_limit_ets,
                        self.describe_state()
                    ),
                });
            }
            if next_retry <= self.next_event_time().unwrap_or(next_retry) {
                self.now = self.now.max(next_retry);
                if self.opts.trace {
                    println!("t={:?} {}", self.now, self.describe_state());
                }
                self.retry_clients();
                self.add_live_non_members()?;
                next_retry = self.now + self.opts.election_timeout / 2;
            } else {
                self.step_once()?;
            }
        }
        Ok(())
    }

    /// Only a converged cluster must hold every acknowledged write on every member; an
    /// unchecked one was still catching members up (the per-step checks covered its safety).
    fn acknowledged_writes_on_every_member(&self) -> Result<(), Breach> {
        if self.unchecked_liveness {
            return Ok(());
        }
        let members = self
            .leader()
            .and_then(|l| self.nodes[l].raft.as_ref())
            .map(|r| r.members().clone())
            .unwrap_or_default();
        for node in &self.nodes {
            if let Some(raft) = &node.raft {
                if members.contains(&node.id) {
                    let disk = node.disk.0.borrow();
                    self.checker.acknowledged_writes_survive(
                        &node.id,
                        &disk,
                        raft.last_applied(),
                    )?;
                }
            }
        }
        Ok(())
    }

    /// Fails the schedule once it has taken more steps or virtual time than
    /// [`SimOptions`] allows: a schedule that would never end (a core whose
    /// timer stays due, so time stands still while steps go on) is reported
    /// with its seed instead of hanging the run.
    fn within_budget(&self) -> Result<(), Breach> {
        let (property, spent, budget) = if self.steps > self.opts.max_steps {
            (
                Property::StepBudget,
                format!("{} steps", self.steps),
                format!("{} steps", self.opts.max_steps),
            )
        } else if self.now > self.opts.max_virtual_time {
            (
                Property::TimeBudget,
                format!("{:?} of virtual time", self.now),
                format!("{:?}", self.opts.max_virtual_time),
            )
        } else {
            return Ok(());
        };
        Err(Breach {
            property,
            detail: format!(
                "unfinished after {spent} (budget {budget}): {}",
                self.describe_state()
            ),
        })
    }

    fn next_event_time(&self) -> Option<Duration> {
        let timers = self
            .nodes
            .iter()
            .filter_map(|n| n.raft.as_ref().and_then(|r| r.next_deadline()));
        timers.chain(self.net.next_arrival()).min()
    }

    /// Processes the earliest message arrival or timer.
    fn step_once(&mut self) -> Result<(), Breach> {
        let Some(at) = self.next_event_time() else {
            // Nothing pending at all: let time pass to the next action.
            self.now += self.opts.election_timeout;
            return Ok(());
        };
        self.now = self.now.max(at);
        if self.net.next_arrival() == Some(at) {
            let Some(delivery) = self.net.pop() else {
                return Ok(());
            };
            let Some(m) = delivery else {
                return Ok(());
            };
            let from = self.nodes[m.from].id.clone();
            let now = self.now;
            if let Some(raft) = self.nodes[m.to].raft.as_mut() {
                raft.step(now, &from, m.message)
                    .map_err(|e| internal(format!("step failed: {e}")))?;
                self.after_step(m.to)?;
            } else {
                self.net.lost += 1;
            }
            return Ok(());
        }
        let due: Vec<usize> = (0..self.nodes.len())
            .filter(|i| {
                self.nodes[*i]
                    .raft
                    .as_ref()
                    .and_then(|r| r.next_deadline())
                    .is_some_and(|d| d <= at)
            })
            .collect();
        for i in due {
            let now = self.now;
            if let Some(raft) = self.nodes[i].raft.as_mut() {
                raft.tick(now)
                    .map_err(|e| internal(format!("tick failed: {e}")))?;
                self.after_step(i)?;
            }
        }
        Ok(())
    }

    /// Checks every property touched by node `i`'s step, then routes its
    /// output; maybe crashes it there ([`Cluster::crash_point`]).
    fn after_step(&mut self, i: usize) -> Result<(), Breach> {
        self.steps += 1;
        let Some(raft) = self.nodes[i].raft.as_mut() else {
            return Ok(());
        };
        let out = raft.take_output();
        let (commit, term) = (raft.commit_index(), raft.term());
        let is_leader = raft.role() == Role::Leader;
        let before = self.nodes[i].commit;
        self.check_step(i, &out.events, before, commit, term)?;
        if commit > before && is_leader {
            self.commit_survives_elections(i, commit)?;
        }
        self.nodes[i].commit = commit;
        let crash = self.crash_point();
        if crash != Some(CrashPoint::BeforeSending) {
            for reply in out.replies {
                self.client_reply(i, reply.request, reply.outcome)?;
            }
            for env in out.messages {
                if let Some(&to) = self.index_of.get(&env.to) {
                    let now = self.now;
                    self.net.send(&mut self.rng, now, i, to, env.message);
                }
            }
        }
        // A decommissioned server is shut down for good.
        for n in &mut self.nodes {
            if n.decommissioned {
                n.raft = None;
            }
        }
        if crash.is_some() {
            self.crash_after_step(i)?;
        }
        Ok(())
    }

    /// The per-step checks: logs, commits, new leaders, applied entries;
    /// marks servers whose removal applied as decommissioned.
    fn check_step(
        &mut self,
        i: usize,
        events: &[Event],
        before: LogIndex,
        commit: LogIndex,
        term: Term,
    ) -> Result<(), Breach> {
        let id = self.nodes[i].id.clone();
        let disk_handle = self.nodes[i].disk.clone();
        self.checker
            .log_changed(&id, &mut disk_handle.0.borrow_mut(), before)?;
        let disk = disk_handle.0.borrow();
        if commit > before {
            self.checker.committed(&id, &disk, before, commit)?;
        }
        for event in events {
            match event {
                Event::RoleChanged {
                    role: Role::Leader, ..
                } => self.checker.leader_elected(&id, term, &disk)?,
                Event::EntryApplied { index, .. } => self.checker.applied(&id, &disk, *index)?,
                Event::ConfigurationApplied { index, .. } => {
                    // Only the applied *removal* of a server retires it:
                    // a restarted node replays older configurations too.
                    let entry = disk.entries.get((*index).max(1) as usize - 1);
                    if let Some(EntryKind::Membership(MembershipChange {
                        change: Change::Remove(victim),
                        ..
                    })) = entry.map(|e| &e.kind)
                    {
                        if let Some(&v) = self.index_of.get(victim) {
                            if self.removing.contains(&v) {
                                self.removing.retain(|r| *r != v);
                                self.nodes[v].decommissioned = true;
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Whether the node that just stepped crashes now (with the per-seed
    /// probability), and whether its messages and replies left first.
    fn crash_point(&mut self) -> Option<CrashPoint> {
        if !self.rng.random_bool(self.crash_after_step) || self.live().len() <= 1 {
            return None;
        }
        Some(if self.rng.random_bool(0.5) {
            CrashPoint::BeforeSending
        } else {
            CrashPoint::AfterSending
        })
    }

    /// Crashes node `i` right after a step: the moment a vote, an
    /// acknowledgement or an entry not made durable gets lost, and (crashed
    /// before sending) the moment a new leader's first entry or a client's
    /// write is stranded on one server. Half the time it reboots at once,
    /// before its peers move on; otherwise it stays down until a restart.
    fn crash_after_step(&mut self, i: usize) -> Result<(), Breach> {
        if self.nodes[i].raft.is_none() {
            return Ok(());
        }
        self.crash_node(i);
        if self.rng.random_bool(0.5) {
            self.start_node(i)?;
        }
        Ok(())
    }

    /// Leader `l` just committed `index`: no server that lacks it may be
    /// able to win an election among `l`'s members (see
    /// [`Checker::commit_survives_elections`]). Every server whose disk can
    /// come back counts, crashed ones too.
    fn commit_survives_elections(&self, l: usize, index: LogIndex) -> Result<(), Breach> {
        let Some(leader) = self.nodes[l].raft.as_ref() else {
            return Ok(());
        };
        let disks: Vec<_> = self
            .nodes
            .iter()
            .filter(|n| n.started && !n.decommissioned)
            .map(|n| (n.id.as_str(), n.disk.0.borrow()))
            .collect();
        let servers: Vec<(&str, &Disk)> = disks.iter().map(|(id, d)| (*id, &**d)).collect();
        self.checker
            .commit_survives_elections(index, leader.members(), &servers)
    }

    fn client_reply(
        &mut self,
        i: usize,
        request: RequestId,
        outcome: ClientOutcome,
    ) -> Result<(), Breach> {
        let client = &mut self.nodes[i].client;
        let Some((inflight, _, _)) = &client.inflight else {
            return Ok(());
        };
        if *inflight != request {
            return Ok(());
        }
        match outcome {
            ClientOutcome::Applied { index, result } => {
                if let CommandResult::SeqAppended { count, .. } = result {
                    client.last_count = count;
                }
                client.inflight = None;
                let id = self.nodes[i].id.clone();
                self.checker.acknowledged(&id, request, index)
            }
            ClientOutcome::NotLeader { .. } => {
                // Retried on the next client round.
                if let Some(f) = client.inflight.as_mut() {
                    f.2 = Duration::ZERO;
                }
                Ok(())
            }
        }
    }

    fn start_node(&mut self, i: usize) -> Result<(), Breach> {
        let n = &mut self.nodes[i];
        let mut cfg = self.cfg.clone();
        cfg.id = n.id.clone();
        cfg.bootstrap = i == 0;
        let rng_seed = self.seed ^ ((i as u64 + 1) << 32) ^ (n.restarts << 48);
        let rng = Box::new(ChaCha8Rng::seed_from_u64(rng_seed));
        let raft = Raft::new(cfg, n.disk.clone(), rng, self.now)
            .map_err(|e| internal(format!("restart of {} failed: {e}", n.id)))?;
        n.raft = Some(raft);
        n.started = true;
        n.restarts += 1;
        n.commit = 0;
        self.after_step(i)
    }

    /// The live leader with the highest term, if any.
    fn leader(&self) -> Option<usize> {
        (0..self.nodes.len())
            .filter(|i| {
                self.nodes[*i]
                    .raft
                    .as_ref()
                    .is_some_and(|r| r.role() == Role::Leader)
            })
            .max_by_key(|i| self.nodes[*i].raft.as_ref().map_or(0, |r| r.term()))
    }

    fn live(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|i| self.nodes[*i].raft.is_some())
            .collect()
    }

    /// One scripted action of the fault phase.
    fn act(&mut self, target: usize) -> Result<(), Breach> {
        self.retry_clients();
        let members = self
            .leader()
            .and_then(|l| self.nodes[l].raft.as_ref())
            .map_or(0, |r| r.members().len());
        let roll: u32 = self.rng.random_range(0..100);
        match roll {
            0..=29 => self.client_submit(),
            30..=39 => self.add_server(members < target)?,
            40..=47 => self.crash(),
            48..=57 => self.restart()?,
            58..=63 => self.partition(),
            64..=71 => self.net.heal(),
            72..=75 => self.remove_server(),
            76..=78 => self.false_departure()?,
            _ => {}
        }
        Ok(())
    }

    fn client_submit(&mut self) {
        let live = self.live();
        if live.is_empty() {
            return;
        }
        let i = live[self.rng.random_range(0..live.len())];
        if self.nodes[i].client.inflight.is_some() {
            return;
        }
        let client = &mut self.nodes[i].client;
        client.next_request += 1;
        let request = client.next_request;
        let command = match self.rng.random_range(0..4) {
            0 => Command::Set {
                key: format!("k{}", request % 4),
                value: format!("{}-{request}", self.nodes[i].id),
            },
            1 => Command::Get {
                key: format!("k{}", request % 4),
            },
            2 => Command::Cas {
                key: format!("k{}", request % 4),
                from: format!("{}-{}", self.nodes[i].id, request.saturating_sub(4)),
                to: format!("{}-{request}", self.nodes[i].id),
            },
            _ => Command::SeqAppend {
                key: "chat".into(),
                count: client.last_count,
                value: format!("{}-{request}", self.nodes[i].id),
            },
        };
        self.nodes[i].client.inflight = Some((request, command, Duration::ZERO));
        self.submit(i);
    }

    /// Sends (or re-sends) node `i`'s in-flight request.
    fn submit(&mut self, i: usize) {
        let now = self.now;
        let node = &mut self.nodes[i];
        let Some((request, command, sent)) = node.client.inflight.as_mut() else {
            return;
        };
        let Some(raft) = node.raft.as_mut() else {
            return;
        };
        *sent = now;
        let (request, command) = (*request, command.clone());
        match raft.propose(request, command.clone()) {
            Ok(_) => {}
            Err(ProposeError::NotLeader {
                leader_hint: Some(leader),
            }) => {
                // Exercise both commit-push paths.
                let more = request % 2 == 0;
                raft.forward(&leader, request, command, more)
            }
            Err(_) => {}
        }
        // Proposals may commit at once (single-member cluster): route output.
        let _ = self.after_step(i);
    }

    fn retry_clients(&mut self) {
        let patience = self.opts.election_timeout * 3;
        for i in 0..self.nodes.len() {
            let stale = self.nodes[i]
                .client
                .inflight
                .as_ref()
                .is_some_and(|(_, _, sent)| *sent + patience <= self.now || sent.is_zero());
            if stale && self.nodes[i].raft.is_some() {
                self.submit(i);
            }
        }
    }

    fn add_server(&mut self, grow: bool) -> Result<(), Breach> {
        let Some(l) = self.leader() else {
            return Ok(());
        };
        let members = self.nodes[l]
            .raft
            .as_ref()
            .map(|r| r.members().clone())
            .unwrap_or_default();
        let candidates: Vec<usize> = (0..self.nodes.len())
            .filter(|i| !self.nodes[*i].decommissioned && !members.contains(&self.nodes[*i].id))
            .collect();
        if candidates.is_empty() || (!grow && self.rng.random_bool(0.7)) {
            return Ok(());
        }
        let c = candidates[self.rng.random_range(0..candidates.len())];
        if !self.nodes[c].started {
            self.start_node(c)?;
        }
        let id = self.nodes[c].id.clone();
        if let Some(raft) = self.nodes[l].raft.as_mut() {
            // PendingConfigChange and friends: simply try again later.
            let _ = raft.add_server(&id);
        }
        self.after_step(l)
    }

    /// What the node's presence-driven membership does: the leader adds
    /// every live server it does not have yet, one at a time. This also
    /// absorbs a server left with a stale configuration (an addition that
    /// was truncated), which would otherwise keep disrupting elections when
    /// pre-vote and check-quorum are off (dissertation §4.2.3).
    fn add_live_non_members(&mut self) -> Result<(), Breach> {
        let Some(l) = self.leader() else {
            return Ok(());
        };
        let Some(members) = self.nodes[l].raft.as_ref().map(|r| r.members().clone()) else {
            return Ok(());
        };
        let missing = self
            .nodes
            .iter()
            .find(|n| n.raft.is_some() && !n.decommissioned && !members.contains(&n.id))
            .map(|n| n.id.clone());
        if let (Some(id), Some(raft)) = (missing, self.nodes[l].raft.as_mut()) {
            // PendingConfigChange: tried again on the next round.
            let _ = raft.add_server(&id);
            self.after_step(l)?;
        }
        Ok(())
    }

    fn remove_server(&mut self) {
        let Some(l) = self.leader() else {
            return;
        };
        let Some(raft) = self.nodes[l].raft.as_mut() else {
            return;
        };
        let members: Vec<NodeId> = raft.members().iter().cloned().collect();
        if members.len() <= 2 {
            return;
        }
        let victim = members[self.rng.random_range(0..members.len())].clone();
        if raft.remove_server(&victim).is_ok() {
            if let Some(&v) = self.index_of.get(&victim) {
                self.removing.push(v);
            }
        }
        let _ = self.after_step(l);
    }

    fn crash(&mut self) {
        let live = self.live();
        if live.len() <= 1 {
            return;
        }
        let i = live[self.rng.random_range(0..live.len())];
        self.crash_node(i);
    }

    fn crash_node(&mut self, i: usize) {
        self.nodes[i].raft = None;
        // A failure detector like signaling presence tells the others, but
        // may be late or silent: each survivor hears of it with p = 1/2.
        let id = self.nodes[i].id.clone();
        for j in self.live() {
            if self.rng.random_bool(0.5) {
                let now = self.now;
                if let Some(raft) = self.nodes[j].raft.as_mut() {
                    raft.peer_departed(now, &id);
                }
            }
        }
    }

    /// A failure detector that is wrong: a live server is reported gone to
    /// another (as a signaling glitch would). Only liveness may suffer.
    fn false_departure(&mut self) -> Result<(), Breach> {
        let live = self.live();
        if live.len() < 2 {
            return Ok(());
        }
        let told = live[self.rng.random_range(0..live.len())];
        let gone = self.nodes[live[self.rng.random_range(0..live.len())]]
            .id
            .clone();
        let now = self.now;
        if let Some(raft) = self.nodes[told].raft.as_mut() {
            raft.peer_departed(now, &gone);
        }
        self.after_step(told)
    }

    fn restart(&mut self) -> Result<(), Breach> {
        let down: Vec<usize> = (0..self.nodes.len())
            .filter(|i| {
                self.nodes[*i].started
                    && !self.nodes[*i].decommissioned
                    && self.nodes[*i].raft.is_none()
            })
            .collect();
        if down.is_empty() {
            return Ok(());
        }
        let i = down[self.rng.random_range(0..down.len())];
        self.start_node(i)
    }

    fn partition(&mut self) {
        let n = self.nodes.len();
        let groups = (0..n).map(|_| self.rng.random_range(0..2u8)).collect();
        self.net.partition(groups);
    }

    /// Extra time election backoff may take by design: servers that failed
    /// campaigns during the faults may start the calm with timers and leader
    /// stickiness stretched to `ET · 2^cap`; the stickiness runs out within
    /// one stretch, and each clean split halves the timers' stretch, so the
    /// waits after healing sum to less than `ET · 2^(cap + 2)`.
    fn backoff_allowance(&self) -> Duration {
        match self.cfg.election_backoff {
            0 => Duration::ZERO,
            cap => self.opts.election_timeout * (1 << (cap + 2)),
        }
    }

    /// Extra time the papers' pacing needs by design: with
    /// [`Replication::Heartbeat`] a follower that lost its log walks back one
    /// entry per heartbeat and forward one batch per heartbeat, so catching
    /// up the longest log takes up to twice its length in heartbeats (plus
    /// the entries client retries add meanwhile), each step a heartbeat or a
    /// round trip, whichever is longer.
    fn catch_up_allowance(&self) -> Duration {
        if self.cfg.replication != Replication::Heartbeat {
            return Duration::ZERO;
        }
        let step = self.cfg.heartbeat_interval() + 2 * self.net.faults.max_delay;
        let longest = self
            .nodes
            .iter()
            .filter_map(|n| n.raft.as_ref())
            .map(|r| r.log().last_index())
            .max()
            .unwrap_or(0);
        step * (2 * (longest as u32 + 32))
    }

    /// The papers' exact settings (heartbeat pacing, neither pre-vote nor
    /// check-quorum) with a live server outside the configuration of the most
    /// up-to-date log: a removed server that never learned of its removal.
    /// It campaigns with a stale log, and without pre-vote or leader
    /// stickiness every such election deposes the leader (dissertation
    /// §4.2.3), whose one-entry-per-heartbeat catch-up of empty members then
    /// starts over, for longer than an election timeout. Raft.js has this
    /// weakness; the profile reproduces it on purpose, so liveness is not
    /// asserted there (safety still is, at every step).
    fn disruptor_without_defence(&self) -> bool {
        if self.cfg.replication != Replication::Heartbeat
            || self.cfg.pre_vote
            || self.cfg.check_quorum
        {
            return false;
        }
        let Some(best) = self
            .nodes
            .iter()
            .filter_map(|n| n.raft.as_ref())
            .max_by_key(|r| (r.log().last_term(), r.log().last_index()))
        else {
            return false;
        };
        self.nodes.iter().filter(|n| n.raft.is_some()).any(|n| {
            !best.members().contains(&n.id)
                && n.raft.as_ref().is_some_and(|r| r.members().contains(&n.id))
        })
    }

    /// Heals the network and restarts every crashed server that is not
    /// decommissioned; faults stop.
    fn calm_down(&mut self) -> Result<(), Breach> {
        self.net.heal();
        self.net.faults.drop = 0.0;
        self.net.faults.duplicate = 0.0;
        self.crash_after_step = 0.0;
        for i in 0..self.nodes.len() {
            let n = &self.nodes[i];
            if n.started && !n.decommissioned && n.raft.is_none() {
                self.start_node(i)?;
            }
        }
        Ok(())
    }

    /// One leader of the highest term; every live member agrees with it on
    /// term, log, commit and state; no client request is left unanswered.
    fn converged(&self) -> bool {
        let Some(l) = self.leader() else {
            return false;
        };
        let Some(leader) = self.nodes[l].raft.as_ref() else {
            return false;
        };
        let leaders = self
            .live()
            .iter()
            .filter(|i| {
                self.nodes[**i]
                    .raft
                    .as_ref()
                    .is_some_and(|r| r.role() == Role::Leader)
            })
            .count();
        if leaders != 1 || leader.commit_index() != leader.log().last_index() {
            return false;
        }
        let members = leader.members();
        for i in self.live() {
            let n = &self.nodes[i];
            let Some(r) = n.raft.as_ref() else { continue };
            if !members.contains(&n.id) {
                // Every live server gets added after healing.
                return false;
            }
            if n.client.inflight.is_some() {
                return false;
            }
            if r.term() != leader.term()
                || r.commit_index() != leader.commit_index()
                || r.last_applied() != r.commit_index()
                || r.log().last_index() != leader.log().last_index()
                || r.applied_members() != leader.applied_members()
            {
                return false;
            }
        }
        let hash = leader.log().hash();
        let state = leader.state().hash();
        self.live().iter().all(|i| {
            let n = &self.nodes[*i];
            n.raft.as_ref().is_none_or(|r| {
                !members.contains(&n.id) || (r.log().hash() == hash && r.state().hash() == state)
            })
        })
    }

    fn describe_state(&self) -> String {
        self.nodes
            .iter()
            .filter(|n| n.started)
            .map(|n| match &n.raft {
                Some(r) => format!(
                    "{}:{:?}/t{}/c{}/l{}/m[{}]",
                    n.id,
                    r.role(),
                    r.term(),
                    r.commit_index(),
                    r.log().last_index(),
                    r.members().iter().cloned().collect::<Vec<_>>().join(",")
                ),
                None if n.decommissioned => format!("{}:removed", n.id),
                None => format!("{}:down", n.id),
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// The core returned an error it never should with a healthy disk.
fn internal(detail: String) -> Breach {
    Breach {
        property: Property::CoreError,
        detail,
    }
}
