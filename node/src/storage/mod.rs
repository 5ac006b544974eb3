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
//! - `synced`: the id (term, index) of the last log entry made durable, and
//!   the end of a log lost and discarded (see *Recovery*). Two checksummed
//!   slots overwritten in turn (format in `synced.rs`), so a torn write of it
//!   leaves the previous, still true, mark.
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
//! A crash can tear only the append in flight, which was never acknowledged;
//! a truncated file or a rotten record can lose entries that were. The log
//! alone cannot tell them apart (a file cut at a record boundary even looks
//! whole), so every append is followed by a durable **synced mark**:
//!
//! 1. the records are written and fsynced;
//! 2. `synced` is set to the last entry's (term, index) and fsynced;
//! 3. only then does `append` return, and the core may acknowledge.
//!
//! A conflict truncation lowers the mark *before* cutting the log. So after a
//! crash at any point the log reaches at least the mark. On open:
//! - the log holds the marked entry (same term) and any damage after it is a
//!   torn tail (an incomplete record, a checksum failure with nothing but
//!   zeros after it, a zero tail): the tail is cut off with a `warn!`. Entries
//!   past the mark that are intact are kept, fsynced, and the mark raised;
//! - the log ends before the mark (cut short, removed, a damaged record
//!   within it), or holds another term there, or is damaged with valid data
//!   after the damage: [`raftrtc_raft::StorageError::Corrupt`] naming
//!   `raft.log`, the byte offset and the mark. The node refuses to start
//!   rather than vote and acknowledge on a log shorter than it promised.
//!   [`FileStorage::open_discarding_lost`] (`--discard-lost-log`) instead
//!   keeps the intact entries and records the lost end in `synced`; the
//!   storage reports it ([`raftrtc_raft::Storage::lost_log_end`]) on every
//!   open from then on, and the core grants votes only to logs at least that
//!   up to date and does not campaign until a leader has refilled it. Its
//!   acknowledgements stay honest (they name entries it now holds); its
//!   votes keep Raft's election rule as if the entries were still there.
//! - a missing `synced` beside a log with entries is an error too: how much
//!   was acknowledged cannot be known (data directories written before the
//!   mark existed are in this case; remove them to start afresh).
//!
//! The price is a second fsync per append (a small in-place write). A mark in
//! the log file itself would be lost with the file's tail, and one in
//! `hardstate` would cost an atomic replace (two fsyncs) per append.
//! Bad magic or version in a header is always an error.

mod file;
mod synced;

pub use file::{FileStorage, MAX_RECORD_LEN};
