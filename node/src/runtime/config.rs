//! Everything one node process needs to know, gathered from its flags.

use std::path::PathBuf;
use std::time::Duration;

use crate::mesh::MeshConfig;

/// The configuration of one node process.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// The Raft core's knobs (its `id` is the node's id).
    pub raft: raftrtc_raft::Config,
    /// Base URL of the PeerJS signaling server.
    pub signaling_url: String,
    /// The cluster: the PeerJS key, unless `signaling_key` is set.
    pub cluster: String,
    /// A PeerJS key shared with other clusters (a stock server's one key): ids on the
    /// server are then namespaced by `cluster`.
    pub signaling_key: Option<String>,
    /// Presence by polling the server's peer list at this interval, instead of raftrtc's
    /// presence events.
    pub peers_poll: Option<Duration>,
    /// How often the leader checks presence against the configuration.
    /// `None`: on every presence or configuration change (plus a slow safety
    /// tick). `Some(p)`: only every `p`, and every `p / 2` while a change is
    /// pending, as Raft.js polled the peer list.
    pub membership_poll: Option<Duration>,
    /// Treat a PEER-LEFT from signaling as a failure detector: followers whose
    /// leader left campaign in member order, each after `(rank + 1) · ET/25`
    /// (`rank`: its place among the members not reported gone), instead of
    /// after an election timeout of silence
    /// ([`raftrtc_raft::Raft::peer_departed`]). Off reproduces Raft.js, which
    /// noticed a dead leader by its timers only.
    pub presence_failover: bool,
    /// Where the bench's control connections come from.
    pub control: crate::control::ControlEndpoint,
    /// Where to keep term, vote and log durably (`None`: in memory).
    pub data_dir: Option<PathBuf>,
    /// Start even if the log in `data_dir` lost entries it had synced, from
    /// the intact ones; the core then neither votes for a shorter log nor
    /// campaigns until refilled ([`crate::storage::FileStorage::open_discarding_lost`]).
    pub discard_lost_log: bool,
    /// Bootstrap (with `raft.bootstrap`) even where a peer on the signaling key already
    /// belongs to a cluster; the new cluster gets its own identity and never mixes with it.
    pub force_bootstrap: bool,
    /// Run Raft from launch (as soon as the node joined signaling) instead of waiting for
    /// the control socket's `start`: the cold start the bench times by default.
    pub start_at_launch: bool,
    /// WebRTC settings.
    pub mesh: MeshConfig,
    /// Seed of the core's RNG.
    pub seed: u64,
}

/// Longest chat line accepted, so AppendEntries batches fit in one
/// data-channel message.
pub const MAX_CHAT_LINE_BYTES: usize = 2048;

/// Entries per AppendEntries: with lines of at most 2 KiB this stays well
/// under the data channel's 256 KiB message limit.
pub const MAX_ENTRIES_PER_APPEND: usize = 64;
