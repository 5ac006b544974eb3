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

/// Longest chat line accepted (and, with 64 bytes more, longest command): a single entry's
/// AppendEntries must fit in one data-channel message even with every byte escaped.
pub const MAX_CHAT_LINE_BYTES: usize = 2048;

/// Entries per AppendEntries, so catching up an empty server takes few round trips.
pub const MAX_ENTRIES_PER_APPEND: usize = 64;

/// Text per AppendEntries ([`raftrtc_raft::Entry::payload_bytes`]), so that a batch fits in the
/// mesh's default 24 KiB message even if every byte of it is a control character, which JSON
/// writes as six (pinned by the test below). A larger single entry still goes alone. A load
/// run's `set`s (about 20 bytes of text each) still batch 64 at a time.
pub const MAX_APPEND_PAYLOAD_BYTES: usize = 1536;

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use raftrtc_raft::{
        AppendEntries, Change, Command, Entry, EntryKind, MembershipChange, Message,
    };

    use super::*;
    use crate::wire::{self, Frame};

    /// The encoded size of an AppendEntries carrying `entries`, every number at its widest.
    fn encoded_append(entries: Vec<Entry>) -> usize {
        let message = Message::AppendEntries(AppendEntries {
            term: u64::MAX,
            prev_log_index: u64::MAX,
            prev_log_term: u64::MAX,
            entries,
            leader_commit: u64::MAX,
        });
        let frame = Frame::Raft {
            cluster: Some(u64::MAX),
            message,
        };
        wire::encode(&frame).len()
    }

    fn command_entry(client: &str, command: Command) -> Entry {
        Entry {
            term: u64::MAX,
            index: u64::MAX,
            kind: EntryKind::Command {
                client: client.to_owned(),
                request: u64::MAX,
                command,
            },
        }
    }

    #[test]
    fn a_full_batch_of_escaped_text_fits_the_default_message() {
        // The widest entry shape per byte of text: a one-byte client and a `seqAppend` of
        // control characters, 64 of them sharing the whole budget.
        let per_entry = MAX_APPEND_PAYLOAD_BYTES / MAX_ENTRIES_PER_APPEND - 1;
        let entries: Vec<Entry> = (0..MAX_ENTRIES_PER_APPEND)
            .map(|_| {
                let command = Command::SeqAppend {
                    key: String::new(),
                    count: u64::MAX,
                    value: "\u{1}".repeat(per_entry),
                };
                command_entry("n", command)
            })
            .collect();
        let payload: usize = entries.iter().map(Entry::payload_bytes).sum();
        assert!(payload <= MAX_APPEND_PAYLOAD_BYTES);
        let limit = MeshConfig::new("n").max_message_bytes;
        let size = encoded_append(entries);
        assert!(size <= limit, "{size} bytes encoded, limit {limit}");
    }

    #[test]
    fn the_largest_single_entries_fit_the_default_message() {
        let limit = MeshConfig::new("n").max_message_bytes;
        let id = "i".repeat(crate::mesh::MAX_PEER_ID_BYTES);
        let line = Command::SeqAppend {
            key: "\u{1}".repeat(64),
            count: u64::MAX,
            value: "\u{1}".repeat(MAX_CHAT_LINE_BYTES),
        };
        let size = encoded_append(vec![command_entry(&id, line)]);
        assert!(
            size <= limit,
            "a chat line: {size} bytes encoded, limit {limit}"
        );

        // A membership entry of 101 members with the longest ids.
        let members: BTreeSet<String> = (0..101).map(|i| format!("{i:0>128}")).collect();
        let change = Entry {
            term: u64::MAX,
            index: u64::MAX,
            kind: EntryKind::Membership(MembershipChange {
                change: Change::Add(id),
                members,
                cluster: Some(u64::MAX),
            }),
        };
        let size = encoded_append(vec![change]);
        assert!(
            size <= limit,
            "101 members: {size} bytes encoded, limit {limit}"
        );
    }
}
