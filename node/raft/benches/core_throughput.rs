//! The ceiling no transport can beat: commands committed per second through an
//! in-memory 5-node cluster of Raft cores with no network delay.
//!
//! Messages are handed from core to core through a FIFO; storage is
//! [`MemStorage`]. Two workloads:
//! - `pipelined/N`: N proposals at the leader, then deliver until all five
//!   nodes applied them (throughput);
//! - `one_in_flight/N`: the papers' chat client, one command at a time, each
//!   applied on the leader before the next (latency-bound).
//!
//! Run: `cargo bench -p raftrtc-raft --bench core_throughput`.

use std::collections::VecDeque;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use raftrtc_raft::{Command, Config, MemStorage, Raft, Role};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

const NODES: usize = 5;

/// Five cores wired by an instant, lossless, in-order network.
struct Cluster {
    nodes: Vec<Raft<MemStorage>>,
    queue: VecDeque<(usize, usize, raftrtc_raft::Message)>,
    next_request: u64,
}

impl Cluster {
    fn new() -> Self {
        let nodes = (0..NODES)
            .map(|i| {
                let mut cfg = Config::new(format!("n{i}"));
                cfg.bootstrap = i == 0;
                let rng = Box::new(ChaCha8Rng::seed_from_u64(i as u64));
                Raft::new(cfg, MemStorage::default(), rng, Duration::ZERO).expect("valid config")
            })
            .collect();
        let mut c = Self {
            nodes,
            queue: VecDeque::new(),
            next_request: 0,
        };
        for i in 1..NODES {
            c.nodes[0]
                .add_server(&format!("n{i}"))
                .expect("leader adds");
            c.settle();
        }
        assert_eq!(c.nodes[0].role(), Role::Leader);
        c
    }

    fn collect(&mut self, from: usize) {
        for env in self.nodes[from].take_output().messages {
            let to: usize = env.to[1..].parse().expect("node id nN");
            self.queue.push_back((from, to, env.message));
        }
    }

    /// Delivers messages until the network is quiet.
    fn settle(&mut self) {
        self.collect(0);
        while let Some((from, to, msg)) = self.queue.pop_front() {
            let sender = format!("n{from}");
            self.nodes[to]
                .step(Duration::ZERO, &sender, msg)
                .expect("memory storage never fails");
            self.collect(to);
        }
    }

    fn propose(&mut self) {
        self.next_request += 1;
        let command = Command::SeqAppend {
            key: "chat".into(),
            count: self.next_request - 1,
            value: "hello".into(),
        };
        self.nodes[0]
            .propose(self.next_request, command)
            .expect("n0 leads");
    }

    fn all_applied(&self, index: u64) -> bool {
        self.nodes.iter().all(|n| n.last_applied() >= index)
    }
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("core_5_nodes");
    let n = 1_000u64;
    {
        group.throughput(Throughput::Elements(n));
        group.bench_function(format!("pipelined/{n}"), |b| {
            b.iter_batched(
                Cluster::new,
                |mut c| {
                    let target = c.nodes[0].log().last_index() + n;
                    for _ in 0..n {
                        c.propose();
                    }
                    c.settle();
                    assert!(c.all_applied(target));
                },
                BatchSize::SmallInput,
            )
        });
        group.bench_function(format!("one_in_flight/{n}"), |b| {
            b.iter_batched(
                Cluster::new,
                |mut c| {
                    for _ in 0..n {
                        c.propose();
                        c.settle();
                    }
                    let target = c.nodes[0].log().last_index();
                    assert!(c.all_applied(target));
                },
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10).measurement_time(Duration::from_secs(5));
    targets = bench
}
criterion_main!(benches);
