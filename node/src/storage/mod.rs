//! Durable storage for the Raft core: what `--data-dir` writes.
//!
//! The core ([`raftrtc_raft`]) persists through the [`raftrtc_raft::Storage`]
//! trait *before* it sends anything that depends on the write (a vote, an
//! AppendEntries acknowledgement). [`FileStorage`] makes "persisted" mean "on
//! disk": every call that changes state is fsynced before it returns, so a node
//! killed at any instant never has acknowledged what it then forgets. Without
//! `--data-dir` the node runs on [`raftrtc_raft::MemStorage`], and a restart is a
//! brand-new server.
//!
//! # Files in the data directory
//! - `LOCK`: empty; held with an exclusive advisory lock while a
//!   [`FileStorage`] is open, so two processes never share a directory.
//! - `hardstate`: term and vote. Replaced atomically: written to
//!   `hardstate.tmp`, fsynced, renamed over `hardstate`, then the directory is
//!   fsynced. A reader sees the old or the new state, never a mix.
//! - `raft.log`: the log, append-only; a conflict truncates it at the byte
//!   offset of the first dropped entry.
//!
//! # Formats (all integers little-endian)
//! `hardstate`:
//! ```text
//! "RRTCHST" 0x01 | term u64 | has_vote u8 (0|1) | vote_len u32 | vote (UTF-8)
//!                | crc32 u32 of every preceding byte
//! ```
//! `raft.log`: an 8-byte header `"RRTCLOG" 0x01` (magic, format version), then
//! one record per entry, entry `i` being the `i`-th record:
//! ```text
//! len u32 | crc32(len bytes) u32 | crc32(payload) u32 | payload (len bytes)
//! ```
//! `crc32` is CRC-32/ISO-HDLC (the zlib, PNG and Ethernet checksum), computed
//! with the `crc32fast` crate; files written before it was adopted used a
//! hand-written table for the same function and load unchanged.
//!
//! The payload is the `serde_json` encoding of one [`raftrtc_raft::Entry`]
//! (entries are small; JSON keeps the file inspectable with `strings`), at
//! most [`MAX_RECORD_LEN`] bytes. The length has its own checksum so that a
//! damaged length is caught *before* it is trusted: it can neither make the
//! reader allocate a huge buffer nor pass for a record cut short by a crash.
//!
//! # Recovery ([`FileStorage::open`])
//! A crash can leave at most the last record incomplete (the append that was in
//! flight, never acknowledged). It is cut off with a `warn!`, not reported as an
//! error, when the damage can only be that: the header is incomplete, the
//! payload runs past the end of the file, or the last record's checksum fails
//! (or the file ends in zeros, as some filesystems leave after a crash).
//! Anything else — a checksum mismatch followed by more data, an oversized
//! length, undecodable JSON, entries not numbered 1, 2, 3, ... or a term going
//! down, a bad magic or version — is [`raftrtc_raft::StorageError::Corrupt`]
//! naming the file and byte offset: the node refuses to start rather than
//! silently forget entries it may have acknowledged. Damage confined to the last
//! record is indistinguishable from a torn write and is treated as one.

mod file;

pub use file::{FileStorage, MAX_RECORD_LEN};
