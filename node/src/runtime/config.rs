//! Everything one node process needs to know, gathered from its flags.

use std::path::PathBuf;
use std::time::Duration;

use raftrtc_raft::EntryWeight;

use crate::mesh::{MeshConfig, DEFAULT_MAX_MESSAGE_BYTES};

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

/// An upper bound of an entry's JSON size (`wire.rs`): a byte of command text is at most six
/// (a control character becomes `\u00XX`), a node id is its bytes and its quotes and comma
/// (ids are plain ASCII: `signaling::protocol::is_valid_id`), and the fields and numbers of an
/// entry at most 256 bytes. The tests below pin that it bounds the worst cases.
pub const ENTRY_WEIGHT: EntryWeight = EntryWeight {
    per_text_byte: 6,
    per_id: 3,
    per_entry: 256,
};

/// Room in a message for everything but its entries: version byte, frame, cluster id and the
/// AppendEntries' own fields.
const APPEND_HEADROOM: usize = 1024;

/// The weight ([`ENTRY_WEIGHT`]) of the entries of one AppendEntries, so that it fits in the
/// mesh's default 24 KiB message. A heavier single entry still goes alone. A load run's `set`s
/// (about 350 each) still batch 64 at a time, and a new member of a 101-node cluster catches up
/// on membership entries (about 950 each) some 20 at a time.
pub const MAX_APPEND_WEIGHT: usize = DEFAULT_MAX_MESSAGE_BYTES - APPEND_HEADROOM;

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
            ack_optional: true,
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

    fn membership_entry(members: usize, id_bytes: usize) -> Entry {
        let members: BTreeSet<String> = (0..members).map(|i| format!("{i:0>id_bytes$}")).collect();
        Entry {
            term: u64::MAX,
            index: u64::MAX,
            kind: EntryKind::Membership(MembershipChange {
                change: Change::Add("n".repeat(id_bytes)),
                members,
                cluster: Some(u64::MAX),
            }),
        }
    }

    /// The widest entries of each kind: text of control characters, ids of the longest.
    fn worst_entries() -> Vec<Entry> {
        let id = "i".repeat(crate::mesh::MAX_PEER_ID_BYTES);
        let escaped = |n: usize| "\u{1}".repeat(n);
        vec![
            command_entry(
                &id,
                Command::SeqAppend {
                    key: escaped(64),
                    count: u64::MAX,
                    value: escaped(MAX_CHAT_LINE_BYTES),
                },
            ),
            command_entry(
                "n",
                Command::Cas {
                    key: escaped(1),
                    from: escaped(1),
                    to: String::new(),
                },
            ),
            command_entry("n", Command::Get { key: String::new() }),
            membership_entry(101, crate::mesh::MAX_PEER_ID_BYTES),
            membership_entry(1, 1),
            Entry {
                term: u64::MAX,
                index: u64::MAX,
                kind: EntryKind::Noop,
            },
        ]
    }

    #[test]
    fn the_weight_bounds_each_entrys_encoding() {
        for entry in worst_entries() {
            let alone = encoded_append(vec![entry.clone()]) - encoded_append(Vec::new());
            let weight = ENTRY_WEIGHT.of(&entry);
            assert!(
                alone <= weight,
                "{alone} bytes encoded, weight {weight}: {entry:?}"
            );
        }
    }

    #[test]
    fn a_full_batch_of_the_worst_entries_fits_the_default_message() {
        let limit = MeshConfig::new("n").max_message_bytes;
        // Entries of each worst kind, as many as the weight budget allows.
        for entry in worst_entries() {
            let weight = ENTRY_WEIGHT.of(&entry);
            let count = (MAX_APPEND_WEIGHT / weight).clamp(1, MAX_ENTRIES_PER_APPEND);
            let size = encoded_append(vec![entry; count]);
            assert!(
                size <= limit,
                "{count} entries: {size} bytes encoded, limit {limit}"
            );
        }
        // The heaviest single entries go alone, and fit too.
        for entry in worst_entries() {
            let size = encoded_append(vec![entry]);
            assert!(size <= limit, "alone: {size} bytes encoded, limit {limit}");
        }
    }
}
