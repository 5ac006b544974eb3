//! The command line: every subcommand and flag, declared with clap derive.
//!
//! Values are validated here (ranges, formats), so a bad flag is a usage
//! error with a plain message and exit status 2 before anything starts.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use node::settings::{Profile, Settings};
use raftrtc_raft::Replication;

use crate::experiment::Start;
use crate::matrix::{parse_kill, parse_messages, parse_sizes, parse_timeouts_ms, TestKind};

/// Measure Raft over real WebRTC data channels.
#[derive(Debug, Parser)]
#[command(name = "raftrtc", version, about, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Time cluster start-up, from the first node's launch (cold, the default) or from Raft's
    /// start on a formed mesh (--start warm), until one leader and every node lists all N.
    Up(UpArgs),
    /// Time recovery after SIGKILLing the leader (or more nodes).
    Kill(KillArgs),
    /// Time M chat lines submitted at a follower until applied everywhere.
    Propagate(PropagateArgs),
    /// The papers' whole plan: up, kill leader, kill half, propagate 1 and 100.
    Matrix(MatrixArgs),
    /// The CI smoke benchmark: up, kill leader, propagate 1 at 3 and 5 nodes.
    Smoke(SmokeArgs),
    /// Throughput and latency: client workers submitting commands to a cluster for a while,
    /// closed loop or at a fixed rate (open loop).
    Load(LoadArgs),
    /// Clients on a cluster under a seeded fault schedule; checks the history for
    /// linearizability, the chat's order, lost writes, convergence and availability.
    Chaos(ChaosArgs),
    /// Run the PeerJS-compatible signaling server alone.
    Signaling(SignalingArgs),
    /// Run seeded simulated schedules of the Raft core and check safety.
    Sim(SimArgs),
    /// Run one Raft node (what the launchers start).
    Node(NodeArgs),
    /// Draw one figure per test (PNG and SVG) from result CSVs, with the
    /// papers' means overlaid.
    Plot(PlotArgs),
    /// Compare result CSVs with the papers: medians, ok counts, ratios.
    Report(ReportArgs),
    /// Compare two result CSVs cell by cell: did NEW get slower than BASE? Exit 1 if a cell
    /// regressed.
    Compare(CompareArgs),
    /// The Docker node image.
    Docker(DockerArgs),
    /// Remove every container and network raftrtc runs left behind (by label).
    Cleanup,
}

/// `raftrtc docker`.
#[derive(Debug, Args)]
pub struct DockerArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: DockerCommand,
}

/// `raftrtc docker <command>`.
#[derive(Debug, Subcommand)]
pub enum DockerCommand {
    /// Build the node image (FROM scratch: this binary and the libraries it
    /// links); reused when the binary has not changed.
    Build {
        /// Build even if an image of this binary exists.
        #[arg(long)]
        force: bool,
    },
}

/// `raftrtc plot`.
#[derive(Debug, Args)]
pub struct PlotArgs {
    /// Result CSVs written by `up`, `kill`, `propagate`, `matrix`.
    #[arg(required = true)]
    pub csvs: Vec<std::path::PathBuf>,
    /// Directory to write the figures to.
    #[arg(long)]
    pub out: std::path::PathBuf,
    /// Logarithmic time axis (the papers' times are 10-100x ours).
    #[arg(long)]
    pub log: bool,
    /// Figure width in pixels.
    #[arg(long, default_value_t = 1200)]
    pub width: u32,
    /// Figure height in pixels.
    #[arg(long, default_value_t = 720)]
    pub height: u32,
    /// The papers' data (default: results/paper-2015 of the checkout).
    #[arg(long)]
    pub paper: Option<std::path::PathBuf>,
    /// Leave the papers' means out.
    #[arg(long)]
    pub no_paper: bool,
}

/// `raftrtc report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Result CSVs written by `up`, `kill`, `propagate`, `matrix`.
    #[arg(required = true)]
    pub csvs: Vec<std::path::PathBuf>,
    /// Also write the report as markdown to this file.
    #[arg(long)]
    pub markdown: Option<std::path::PathBuf>,
    /// The papers' data (default: results/paper-2015 of the checkout).
    #[arg(long)]
    pub paper: Option<std::path::PathBuf>,
}

/// `raftrtc compare`.
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The runs before the change.
    pub base: PathBuf,
    /// The runs after it.
    pub new: PathBuf,
    /// A change within this many percent is no change.
    #[arg(long, default_value_t = 5.0, value_parser = parse_percent)]
    pub threshold: f64,
    /// Fewest ok runs a side needs for a verdict.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub min_runs: u32,
    #[command(flatten)]
    pub exports: ExportArgs,
}

/// `--threshold`: a percentage from 0 to 100.
fn parse_percent(s: &str) -> Result<f64, String> {
    match s.trim().trim_end_matches('%').parse::<f64>() {
        Ok(p) if p.is_finite() && (0.0..=100.0).contains(&p) => Ok(p),
        _ => Err(format!("`{s}` is not a percentage from 0 to 100")),
    }
}

/// How nodes are started.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LauncherArg {
    /// Each node is a child process of the bench.
    Process,
    /// Each node is a Docker container on a per-run bridge network.
    Docker,
    /// Each node is a one-replica service on a Docker Swarm (this engine must be a manager),
    /// on a per-run overlay network: one run can span several hosts.
    Swarm,
}

impl LauncherArg {
    /// As the flag and the CSVs spell it.
    pub fn name(self) -> &'static str {
        match self {
            LauncherArg::Process => "process",
            LauncherArg::Docker => "docker",
            LauncherArg::Swarm => "swarm",
        }
    }
}

/// Flags shared by every benchmark (`up`, `kill`, `propagate`, `matrix`).
///
/// The matrix flags are optional here because their defaults differ per
/// subcommand (`matrix` defaults to the papers' plan).
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Cluster sizes: `3,5,7`, `3..21:2` or a mix [default: 3,5; matrix: 3..35:2].
    #[arg(long, value_name = "LIST", value_parser = parse_sizes, allow_hyphen_values = true)]
    pub nodes: Option<std::vec::Vec<usize>>,
    /// Election timeouts in ms, as a list like --nodes [default: 250; matrix: 250,500,1000].
    #[arg(long, value_name = "MS", value_parser = parse_timeouts_ms, allow_hyphen_values = true)]
    pub election_timeout: Option<std::vec::Vec<u64>>,
    /// Runs of each size x timeout [default: 3; matrix: 7].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub runs: Option<u32>,
    /// Heartbeat interval = ET / ratio [default: the profile's, 5].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub heartbeat_ratio: Option<u32>,
    /// Entry pacing: immediate or heartbeat [default: the profile's; paper: heartbeat].
    #[arg(long)]
    pub replication: Option<Replication>,
    /// Settings preset: `paper` = heartbeat pacing, 100 ms membership poll,
    /// pre-vote, check-quorum, election backoff and PEER-LEFT failover off.
    #[arg(long, value_enum, default_value_t = Profile::Default)]
    pub profile: Profile,
    #[command(flatten)]
    pub common: CommonArgs,
    /// The nodes' log filter (their logs go to the run directory).
    #[arg(long, default_value = "info", value_name = "FILTER")]
    pub node_log_level: String,
}

/// Where a summary (or a comparison) is written besides the terminal.
#[derive(Clone, Debug, Default, Args)]
pub struct ExportArgs {
    /// Also write it as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub export_json: Option<PathBuf>,
    /// Also write it as a markdown table to FILE.
    #[arg(long, value_name = "FILE")]
    pub export_markdown: Option<PathBuf>,
    /// Also write the medians as github-action-benchmark's `customSmallerIsBetter` JSON.
    #[arg(long, value_name = "FILE")]
    pub export_github_benchmark: Option<PathBuf>,
    /// Also write the medians in Bencher Metric Format (latency, in nanoseconds).
    #[arg(long, value_name = "FILE")]
    pub export_bmf: Option<PathBuf>,
}

/// Saving this invocation's runs as a baseline, or comparing them with one.
#[derive(Clone, Debug, Default, Args)]
pub struct BaselineArgs {
    /// After the runs, write this invocation's rows to FILE (replacing it), as the
    /// baseline later runs compare with.
    #[arg(long, value_name = "FILE.csv")]
    pub save_baseline: Option<PathBuf>,
    /// After the runs, compare them with the rows of FILE (see `raftrtc compare`) and exit
    /// by the comparison: 1 when a cell regressed.
    #[arg(long, value_name = "FILE.csv")]
    pub baseline: Option<PathBuf>,
    /// Compare with another raftrtc build measured now, not with a file: every run is also
    /// made with this binary's nodes (`BINARY node ...`), on the same seed, alternating with
    /// this build's, and this build's runs are compared with those as with --baseline. Both
    /// builds then meet the same slow spells of the machine.
    #[arg(long, value_name = "BINARY", conflicts_with = "baseline")]
    pub reference_binary: Option<PathBuf>,
    /// With --baseline or --reference-binary: a change within this many percent is no
    /// change.
    #[arg(long, default_value_t = 5.0, value_parser = parse_percent)]
    pub threshold: f64,
}

impl BaselineArgs {
    /// Whether a baseline is saved or compared with, or a reference build measured: the
    /// runs are then made in rounds, and `smoke` makes enough of them to compare.
    pub fn in_use(&self) -> bool {
        self.save_baseline.is_some() || self.baseline.is_some() || self.reference_binary.is_some()
    }
}

/// The flags of `--launcher swarm` (see README, "Across several hosts").
#[derive(Clone, Debug, Default, PartialEq, Eq, Args)]
pub struct SwarmArgs {
    /// Swarm launcher: the node image, which every swarm host has or can pull [default: this
    /// binary's image, built on this host; see `raftrtc docker build`].
    #[arg(long, value_name = "IMAGE")]
    pub image: Option<String>,
    /// Swarm launcher: a placement constraint on every node's task, as `docker service
    /// create --constraint` takes it, e.g. `node.labels.raftrtc==yes` (repeatable).
    #[arg(long, value_name = "CONSTRAINT")]
    pub placement: Vec<String>,
    /// Swarm launcher: the IPv4 address at which every swarm host reaches this bench, for
    /// signaling and control [default: this host's docker_gwbridge or bridge gateway, which only tasks
    /// on this host reach].
    #[arg(long, value_name = "IP")]
    pub bench_address: Option<std::net::Ipv4Addr>,
    /// Swarm launcher: the TCP port nodes dial back to for control [default: any free port].
    #[arg(long, value_name = "PORT", default_value_t = 0)]
    pub control_port: u16,
}

impl SwarmArgs {
    /// What the swarm launcher is given.
    pub fn options(&self) -> crate::launcher::swarm::SwarmOptions {
        crate::launcher::swarm::SwarmOptions {
            image: self.image.clone(),
            placement: self.placement.clone(),
            bench_address: self.bench_address,
            control_port: self.control_port,
        }
    }
}

/// Flags every benchmark, `smoke` included, takes.
#[derive(Debug, Args)]
pub struct CommonArgs {
    /// Runs per cell made first and not recorded (caches, the page cache, the CPU's clock).
    #[arg(long, default_value_t = 0, value_name = "N", value_parser = clap::value_parser!(u32).range(0..=1000))]
    pub warmup: u32,
    #[command(flatten)]
    pub exports: ExportArgs,
    #[command(flatten)]
    pub baseline: BaselineArgs,
    /// How nodes are started.
    #[arg(long, value_enum, default_value_t = LauncherArg::Process)]
    pub launcher: LauncherArg,
    #[command(flatten)]
    pub swarm: SwarmArgs,
    /// How the cluster comes up: `cold` times from the first node's launch, nodes running
    /// Raft from launch; `warm` forms the mesh first and times from Raft's start on all.
    #[arg(long, value_enum, default_value_t = Start::Cold)]
    pub start: Start,
    /// Append one row per run to this CSV file (created with a header) [default: a new
    /// raftrtc-results/<test>-<UTC time>.csv in the working directory].
    #[arg(long, value_name = "FILE.csv")]
    pub out: Option<PathBuf>,
    /// Per-run timeout in seconds, fractions allowed [default: 10 + 0.5 x nodes].
    #[arg(long, value_name = "SECS", value_parser = parse_seconds, allow_hyphen_values = true)]
    pub timeout: Option<Duration>,
    /// Seed of the first run (run k uses seed + k); default from the clock.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Keep every run's directory (node logs), not only failed runs'.
    #[arg(long)]
    pub keep_logs: bool,
    /// After the summary, print where each cell's start-up time went: per step (process
    /// start, certificate, signaling, ICE, DTLS, SCTP, membership) the nodes' own stamps.
    #[arg(long)]
    pub breakdown: bool,
    /// Use this PeerJS server (the official `peer`, started with --allow_discovery, or
    /// `raftrtc signaling`) instead of starting one inside the bench. Every run shares its
    /// one key; each run's node ids are namespaced by the run's cluster name.
    #[arg(long, value_name = "URL")]
    pub signaling_url: Option<String>,
    /// With --signaling-url: the server's key.
    #[arg(
        long,
        value_name = "KEY",
        default_value = "peerjs",
        requires = "signaling_url"
    )]
    pub signaling_key: String,
    /// With --signaling-url: how often each node polls the server's peer list
    /// (`GET /<key>/peers`) to see nodes join and leave.
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "100ms",
        value_parser = parse_seconds,
        requires = "signaling_url"
    )]
    pub peers_poll: Duration,
    /// Network conditions on every node's WebRTC datagrams, e.g. `delay=40ms,jitter=10ms,
    /// loss=1%`, per node `n3:down` or per link `n0-n1:loss=100%`, rules joined by `;`
    /// (see README, "Network conditions").
    #[arg(
        long,
        value_name = "SPEC",
        default_value = "none",
        value_parser = node::settings::parse_net,
        allow_hyphen_values = true
    )]
    pub net: String,
    /// Docker launcher: CPUs per node container (fractions allowed, e.g. 0.5).
    #[arg(long, value_parser = parse_cpus)]
    pub cpus: Option<f64>,
    /// Docker launcher: memory per node container, e.g. 64m or 1g (bytes without a unit).
    #[arg(long, value_parser = parse_memory)]
    pub memory: Option<u64>,
}

/// `raftrtc up`.
#[derive(Debug, Args)]
pub struct UpArgs {
    #[command(flatten)]
    pub bench: BenchArgs,
}

/// `raftrtc kill`.
#[derive(Debug, Args)]
pub struct KillArgs {
    /// The fault: `leader`, `half` (the leader and others, floor((N-1)/2) in all) or a
    /// count (the leader first) are SIGKILLed; `pause-leader` freezes the leader and
    /// `isolate-leader` cuts its links, until the others follow a new leader, then
    /// lifts the fault; `restart-all` SIGKILLs every node and restarts all from their
    /// data directories.
    #[arg(long, default_value = "leader", value_parser = parse_kill, allow_hyphen_values = true)]
    pub kill: TestKind,
    #[command(flatten)]
    pub bench: BenchArgs,
}

/// `raftrtc chaos`.
#[derive(Debug, Args)]
pub struct ChaosArgs {
    /// Cluster size.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(3..=256))]
    pub nodes: u32,
    /// Client workers, each its own session, spread over the nodes.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub clients: u32,
    /// The load's length in seconds (faults strike within it).
    #[arg(long, default_value = "30", value_name = "SECS", value_parser = parse_seconds)]
    pub duration: Duration,
    /// Operations a second offered by all clients together.
    #[arg(long, default_value_t = 100.0, value_parser = parse_rate)]
    pub rate: f64,
    /// Fault kinds: `all`, `none`, or a list of kill, pause, isolate, split, bridge, delay,
    /// loss, signaling, slow-signaling, restart-all, member.
    #[arg(long, default_value = "all", value_parser = crate::chaos::schedule::parse_faults)]
    pub faults: std::vec::Vec<crate::chaos::schedule::FaultKind>,
    /// Mean time between faults, in seconds; each holds a third to two thirds of it.
    #[arg(long, default_value = "3", value_name = "SECS", value_parser = parse_seconds)]
    pub interval: Duration,
    /// After the load, seconds of load with nothing struck before the clients stop.
    #[arg(long, default_value = "3", value_name = "SECS", value_parser = parse_seconds)]
    pub quiet: Duration,
    /// Election timeout in ms.
    #[arg(long, default_value_t = 250, value_parser = clap::value_parser!(u64).range(10..=600_000))]
    pub election_timeout: u64,
    /// Settings preset (see `up --help`).
    #[arg(long, value_enum, default_value_t = Profile::Default)]
    pub profile: Profile,
    /// Runs, with seeds S, S+1, ...
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub runs: u32,
    /// Seed of the first run's schedule and clients; default from the clock. The schedule
    /// replays from it.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Append one row per run to this CSV (histories and timelines go beside it)
    /// [default: a new raftrtc-results/chaos-<UTC time>.csv].
    #[arg(long, value_name = "FILE.csv")]
    pub out: Option<PathBuf>,
    /// How nodes are started.
    #[arg(long, value_enum, default_value_t = LauncherArg::Process)]
    pub launcher: LauncherArg,
    #[command(flatten)]
    pub swarm: SwarmArgs,
    /// The run's own network conditions, as --net of the other experiments.
    #[arg(long, value_name = "SPEC", default_value = "none", value_parser = node::settings::parse_net, allow_hyphen_values = true)]
    pub net: String,
    /// Keep every run's node logs, not only failed runs'.
    #[arg(long)]
    pub keep_logs: bool,
    /// The nodes' log filter.
    #[arg(long, default_value = "info", value_name = "FILTER")]
    pub node_log_level: String,
}

/// `--rate`: a positive number of operations a second.
fn parse_rate(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 && r <= 1e6 => Ok(r),
        _ => Err(format!(
            "`{s}` is not a rate from above 0 to 1000000 operations a second"
        )),
    }
}

/// `raftrtc load`.
#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Cluster sizes, e.g. 5 or 3,5,9.
    #[arg(long, default_value = "5", value_parser = parse_sizes)]
    pub nodes: std::vec::Vec<usize>,
    /// Client workers, each its own connection and session; a list makes a matrix.
    #[arg(long, default_value = "1,4,16,64", value_delimiter = ',', value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub clients: Vec<u32>,
    /// Where the workers send: followers (forwarded to the leader), the leader, or all nodes.
    #[arg(long, value_enum, default_value_t = crate::load::Target::Followers)]
    pub at: crate::load::Target,
    /// What each operation is: `set` of a random key, or a chat line.
    #[arg(long, value_enum, default_value_t = crate::load::LoadOp::Set)]
    pub op: crate::load::LoadOp,
    /// Open loop: operations a second offered by all workers together, latency measured from
    /// each operation's due time; a list makes a matrix. Without it: closed loop.
    #[arg(long, value_delimiter = ',', value_parser = parse_rate, allow_hyphen_values = true)]
    pub rate: Vec<f64>,
    /// The measured window of each cell.
    #[arg(long, default_value = "10s", value_name = "DURATION", value_parser = parse_seconds)]
    pub duration: Duration,
    /// Load before the measured window, not counted.
    #[arg(long, default_value = "2s", value_name = "DURATION", value_parser = parse_duration_or_zero)]
    pub warmup: Duration,
    /// Keys that `set` picks from at random.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    pub keys: u32,
    /// Election timeout, in ms.
    #[arg(long, default_value_t = 250, value_parser = clap::value_parser!(u64).range(10..=600_000))]
    pub election_timeout: u64,
    /// Settings preset of the nodes.
    #[arg(long, value_enum, default_value_t = Profile::Default)]
    pub profile: Profile,
    /// Repetitions of each cell.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub runs: u32,
    /// Seed of the first cell; default from the clock.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Append one row per cell to this CSV [default: a new raftrtc-results/load-<UTC time>.csv].
    #[arg(long, value_name = "FILE.csv")]
    pub out: Option<PathBuf>,
    /// How nodes are started.
    #[arg(long, value_enum, default_value_t = LauncherArg::Process)]
    pub launcher: LauncherArg,
    #[command(flatten)]
    pub swarm: SwarmArgs,
    /// Network conditions on every node's WebRTC datagrams (see `up --net`).
    #[arg(long, value_name = "SPEC", default_value = "none", value_parser = node::settings::parse_net, allow_hyphen_values = true)]
    pub net: String,
    /// Keep every cell's node logs.
    #[arg(long)]
    pub keep_logs: bool,
    /// `--save-baseline`, `--baseline` and `--threshold` compare the cells' throughput
    /// (`--reference-binary` is for the experiments only).
    #[command(flatten)]
    pub baseline: BaselineArgs,
}

/// Parses a duration that may be zero (`0`, `0s`), else as [`parse_seconds`].
fn parse_duration_or_zero(s: &str) -> Result<Duration, String> {
    match s.trim() {
        "0" | "0s" | "0ms" => Ok(Duration::ZERO),
        _ => parse_seconds(s),
    }
}

/// `raftrtc propagate`.
#[derive(Debug, Args)]
pub struct PropagateArgs {
    /// Chat lines submitted per run, as a list: `1,100`.
    #[arg(long, default_value = "1", value_parser = parse_messages, allow_hyphen_values = true)]
    pub messages: std::vec::Vec<u32>,
    #[command(flatten)]
    pub bench: BenchArgs,
}

/// `raftrtc matrix`.
#[derive(Debug, Args)]
pub struct MatrixArgs {
    #[command(flatten)]
    pub bench: BenchArgs,
}

/// `raftrtc smoke`.
#[derive(Debug, Args)]
pub struct SmokeArgs {
    #[command(flatten)]
    pub common: CommonArgs,
}

/// `raftrtc node`.
#[derive(Debug, Args)]
pub struct NodeArgs {
    /// This node's id (its signaling id).
    #[arg(long)]
    pub id: String,
    /// Base URL of the PeerJS signaling server, e.g. http://127.0.0.1:9000/.
    #[arg(long)]
    pub signaling_url: String,
    /// The cluster to join: the PeerJS key, unless --signaling-key names a shared one.
    #[arg(long, default_value = "raftrtc")]
    pub cluster: String,
    /// The PeerJS key to use when it is shared with other clusters (a stock PeerJS server
    /// has one): the node's id on the server is then `<cluster>.<id>`, and only ids of its
    /// own cluster count.
    #[arg(long, value_name = "KEY")]
    pub signaling_key: Option<String>,
    /// Learn who is in the cluster by polling the server's `GET /<key>/peers` at this
    /// interval (`100ms`), instead of raftrtc's presence events, which a stock PeerJS
    /// server does not send (it must be started with --allow_discovery).
    #[arg(long, value_name = "DURATION", value_parser = parse_seconds)]
    pub peers_poll: Option<Duration>,
    /// Bootstrap a one-member cluster and lead it (the first server). Refused where a peer
    /// on the signaling key already belongs to a cluster, unless --force-bootstrap.
    #[arg(long)]
    pub first: bool,
    /// With --first: bootstrap a new, separate cluster even beside a running one.
    #[arg(long, requires = "first")]
    pub force_bootstrap: bool,
    /// Run Raft at launch (once joined to signaling) instead of waiting for the control
    /// socket's `start` request.
    #[arg(long)]
    pub start: bool,
    /// What every node of the cluster shares.
    #[command(flatten)]
    pub settings: Settings,
    /// Path of the control socket (Unix, mode 0600).
    #[arg(
        long,
        required_unless_present = "control_dial",
        conflicts_with = "control_dial"
    )]
    pub control: Option<std::path::PathBuf>,
    /// Instead of a socket, dial the bench's control listener at HOST:PORT and take control
    /// connections over it (the swarm launcher: a bench on another host), presenting
    /// the run's token from `RAFTRTC_CONTROL_TOKEN`.
    #[arg(long, value_name = "HOST:PORT", requires = "control_token", value_parser = parse_host_port)]
    pub control_dial: Option<String>,
    /// With --control-dial: the run's token (kept out of the command line, which `ps` shows).
    #[arg(
        long,
        env = "RAFTRTC_CONTROL_TOKEN",
        hide_env_values = true,
        requires = "control_dial"
    )]
    pub control_token: Option<String>,
    /// Keep term, vote and log here, durably (default: in memory).
    #[arg(long)]
    pub data_dir: Option<std::path::PathBuf>,
    /// Start even if the log in --data-dir lost entries it had synced (a
    /// truncated or damaged raft.log): keep the intact entries; never vote for
    /// a log shorter than the lost one, nor campaign before being refilled.
    #[arg(long, requires = "data_dir")]
    pub discard_lost_log: bool,
    /// Address to bind WebRTC (UDP) to.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind_ip: std::net::IpAddr,
    /// STUN/TURN server URLs for real networks (repeatable).
    #[arg(long)]
    pub ice_server: Vec<String>,
    /// Log filter: error, warn, info, debug, trace (or a tracing filter).
    #[arg(long, default_value = "info")]
    pub log_level: String,
    /// Seed of the node's RNG (election timers); default from the clock.
    #[arg(long)]
    pub seed: Option<u64>,
}

/// The signaling server's limits when no flag changes them: the flags' defaults.
const LIMITS: signaling::Limits = signaling::Limits::DEFAULT;

/// `raftrtc signaling`.
#[derive(Debug, Args)]
pub struct SignalingArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9000")]
    pub listen: SocketAddr,
    /// URL path prefix of the PeerJS endpoints.
    #[arg(long, default_value = "/")]
    pub path: String,
    /// Largest accepted WebSocket frame, in bytes.
    #[arg(long, default_value_t = LIMITS.max_frame_bytes as u32, value_parser = clap::value_parser!(u32).range(1024..))]
    pub max_frame_bytes: u32,
    /// Most peers in one cluster (PeerJS key).
    #[arg(long, default_value_t = LIMITS.max_peers_per_cluster as u32, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_peers_per_cluster: u32,
    /// Most clusters at once.
    #[arg(long, default_value_t = LIMITS.max_clusters as u32, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_clusters: u32,
    /// Most WebSocket connections at once.
    #[arg(long, default_value_t = LIMITS.max_connections as u32, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,
    /// Most messages held for one absent peer.
    #[arg(long, default_value_t = LIMITS.max_pending_per_peer as u32, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_pending_per_peer: u32,
    /// Most frames queued for one client that does not read; past it the client is dropped.
    #[arg(long, default_value_t = LIMITS.outbound_queue as u32, value_parser = clap::value_parser!(u32).range(1..))]
    pub outbound_queue: u32,
    /// Most bytes queued for one client that does not read; past it the client is dropped.
    #[arg(long, default_value_t = LIMITS.outbound_queue_bytes as u32, value_parser = clap::value_parser!(u32).range(1024..))]
    pub outbound_queue_bytes: u32,
    /// Seconds a message for an absent peer is held before EXPIRE.
    #[arg(long, default_value = "5", value_parser = parse_seconds)]
    pub expire_timeout: Duration,
    /// Seconds of silence after which a socket is dropped.
    #[arg(long, default_value = "60", value_parser = parse_seconds)]
    pub alive_timeout: Duration,
}

/// `raftrtc sim`.
#[derive(Debug, Args)]
pub struct SimArgs {
    /// How many schedules (seeds) to run.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub schedules: u64,
    /// The first seed; with `--schedules 1`, replays exactly that seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Print the cluster's state as the schedule runs (use with one seed).
    #[arg(long)]
    pub trace: bool,
    /// Worker threads (default: all cores).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub threads: Option<u32>,
}

/// Parses a CPU count for a container (`0.5`, `2`).
pub fn parse_cpus(s: &str) -> Result<f64, String> {
    let cpus: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a number of CPUs"))?;
    if !cpus.is_finite() || !(0.01..=1024.0).contains(&cpus) {
        return Err(format!("`{s}` CPUs is out of range (0.01 to 1024)"));
    }
    Ok(cpus)
}

/// Parses a memory size: bytes, or a number with `k`, `m` or `g` (powers of 1024).
pub fn parse_memory(s: &str) -> Result<u64, String> {
    let t = s.trim().to_ascii_lowercase();
    let (digits, unit) = match t.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => t.split_at(i),
        None => (t.as_str(), ""),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("`{s}` is not a memory size (e.g. 64m, 1g)"))?;
    let mult: u64 = match unit.trim_end_matches('b') {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        _ => return Err(format!("`{s}` has an unknown unit (use k, m or g)")),
    };
    n.checked_mul(mult)
        .filter(|b| *b >= 6 << 20)
        .ok_or_else(|| format!("`{s}` is not a usable memory limit (at least 6m)"))
}

/// Checks `HOST:PORT` (a name or an IPv4 address, and a port from 1): a malformed address
/// would otherwise only show as a node that redials forever.
fn parse_host_port(s: &str) -> Result<String, String> {
    let bad = || format!("`{s}` is not HOST:PORT (e.g. 172.18.0.1:7100)");
    let (host, port) = s.rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    let host_ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if port == 0 || !host_ok {
        return Err(bad());
    }
    Ok(s.to_owned())
}

/// Parses a duration: seconds as a number, fractions allowed (`0.5`), or with units as the
/// `humantime` crate reads them (`20s`, `500ms`, `1m 30s`).
pub fn parse_seconds(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let secs = match t.parse::<f64>() {
        Ok(secs) => secs,
        Err(_) => humantime::parse_duration(t)
            .map_err(|_| {
                format!("`{s}` is not a duration: seconds (`30`, `0.5`) or with a unit (`20s`, `500ms`)")
            })?
            .as_secs_f64(),
    };
    if !secs.is_finite() || secs <= 0.0 {
        return Err(format!("`{s}` must be a positive number of seconds"));
    }
    if secs > 86_400.0 {
        return Err(format!("`{s}` seconds is more than a day"));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_accept_fractions_and_refuse_nonsense() {
        assert_eq!(parse_seconds("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_seconds("3"), Ok(Duration::from_secs(3)));
        assert!(parse_seconds("-1").is_err());
        assert!(parse_seconds("0").is_err());
        assert!(parse_seconds("abc").is_err());
        assert!(parse_seconds("NaN").is_err());
        assert_eq!(parse_seconds("20s"), Ok(Duration::from_secs(20)));
        assert_eq!(parse_seconds("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_seconds("1m 30s"), Ok(Duration::from_secs(90)));
        assert!(parse_seconds("0s").is_err());
        assert!(parse_seconds("2 days").is_err());
    }

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("raftrtc").chain(args.iter().copied()))
    }

    #[test]
    fn bench_flags_parse_into_lists() {
        let cli = parse(&[
            "kill",
            "--kill",
            "half",
            "--nodes",
            "3..7:2",
            "--election-timeout",
            "100,250",
            "--runs",
            "2",
            "--profile",
            "paper",
            "--timeout",
            "0.5",
            "--out",
            "x.csv",
        ])
        .unwrap();
        let Command::Kill(k) = cli.command else {
            panic!("not kill");
        };
        assert_eq!(k.kill, TestKind::KillHalf);
        assert_eq!(k.bench.nodes, Some(vec![3, 5, 7]));
        assert_eq!(k.bench.election_timeout, Some(vec![100, 250]));
        assert_eq!(k.bench.runs, Some(2));
        assert_eq!(k.bench.profile, Profile::Paper);
        assert_eq!(k.bench.common.timeout, Some(Duration::from_millis(500)));
        let cli = parse(&["propagate", "--messages", "1,100"]).unwrap();
        let Command::Propagate(p) = cli.command else {
            panic!("not propagate");
        };
        assert_eq!(p.messages, vec![1, 100]);
        assert_eq!(p.bench.nodes, None);
    }

    #[test]
    fn bad_bench_flags_are_usage_errors_with_plain_messages() {
        for (args, says) in [
            (&["up", "--nodes", "0"][..], "at least 1"),
            (&["up", "--nodes", "abc"][..], "not a cluster size"),
            (&["up", "--election-timeout", "-5"][..], "negative"),
            (&["up", "--timeout", "-1"][..], "positive"),
            (&["kill", "--kill", "everyone"][..], "everyone"),
            (&["up", "--launcher", "ssh"][..], "ssh"),
        ] {
            let e = parse(args).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{args:?}");
            assert!(e.to_string().contains(says), "{args:?}: {e}");
        }
    }

    #[test]
    fn container_limits_parse_and_refuse_nonsense() {
        assert_eq!(parse_cpus("0.5"), Ok(0.5));
        assert!(parse_cpus("0").is_err() && parse_cpus("x").is_err());
        assert_eq!(parse_memory("64m"), Ok(64 << 20));
        assert_eq!(parse_memory("1G"), Ok(1 << 30));
        assert!(parse_memory("1k").is_err(), "below Docker's minimum");
        assert!(parse_memory("12q").is_err() && parse_memory("-5m").is_err());
    }

    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
