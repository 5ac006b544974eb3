//! [`FileStorage`]: the Raft log and hard state in a directory, fsynced.
//!
//! The formats and the recovery rules are described in the module docs of
//! [`crate::storage`]. This file keeps an in-memory index of record offsets so
//! that a conflict truncation is one `set_len` at a known offset, not a scan.

use std::fmt::Display;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use raftrtc_raft::{Entry, HardState, LogIndex, Storage, StorageError};
use tracing::warn;

/// The largest record payload (one serialized entry) written or accepted.
/// A length above this on disk is corruption, never an allocation.
pub const MAX_RECORD_LEN: usize = 16 << 20;

const LOG_FILE: &str = "raft.log";
const HARD_STATE_FILE: &str = "hardstate";
const HARD_STATE_TMP: &str = "hardstate.tmp";
const LOCK_FILE: &str = "LOCK";

/// Log file header: 7 bytes of magic, then the format version.
const LOG_HEADER: &[u8; 8] = b"RRTCLOG\x01";
/// Hard-state file header: 7 bytes of magic, then the format version.
const HARD_STATE_HEADER: &[u8; 8] = b"RRTCHST\x01";
/// Both headers: how many leading bytes are magic (the rest is the version).
const MAGIC_LEN: usize = 7;
/// `len u32 | crc32(len) u32 | crc32(payload) u32`.
const RECORD_HEADER_LEN: usize = 12;
/// Header, term, vote flag, vote length, checksum: a hard state with no vote.
const MIN_HARD_STATE_LEN: usize = 8 + 8 + 1 + 4 + 4;
/// Node ids are short; anything bigger is not a hard-state file.
const MAX_HARD_STATE_LEN: u64 = 64 * 1024;

/// Raft's durable state in one directory (see [`crate::storage`]).
///
/// Every mutating call returns only once its data is on stable storage. After
/// a failed write or fsync the storage refuses further writes: the page cache
/// may no longer match the disk, so the node must restart and recover.
#[derive(Debug)]
pub struct FileStorage {
    dir: PathBuf,
    /// Kept open to fsync renames and file creations.
    dir_handle: File,
    /// Holds the directory's exclusive lock until dropped.
    _lock: File,
    log: File,
    log_path: PathBuf,
    /// `offsets[i]`: byte offset of the record holding entry `i + 1`.
    offsets: Vec<u64>,
    /// Byte length of the valid log (header and whole records).
    end: u64,
    /// The hard state last made durable.
    hard_state: HardState,
    /// The entries read by [`FileStorage::open`], handed to the first `load`
    /// unless the log changed since.
    recovered: Option<Vec<Entry>>,
    fsyncs: u64,
    /// A write or fsync failed: refuse further writes.
    failed: bool,
}

impl FileStorage {
    /// Opens (creating it and its files if missing) the data directory `dir`,
    /// takes its lock, and recovers the log: a torn last record is cut off
    /// with a warning; anything else unreadable is [`StorageError::Corrupt`].
    pub fn open(dir: &Path) -> Result<Self, StorageError> {
        let fsyncs = create_dir_durably(dir).map_err(at(dir))?;
        let dir_handle = File::open(dir).map_err(at(dir))?;
        let lock_path = dir.join(LOCK_FILE);
        let lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(at(&lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(StorageError::Io(io::Error::new(
                    io::ErrorKind::WouldBlock,
                    format!("{} is already in use by another process", dir.display()),
                )))
            }
            Err(TryLockError::Error(e)) => return Err(at(&lock_path)(e).into()),
        }

        // A leftover temp file is a hard-state write that never got renamed:
        // it was never reported durable, so it is dropped.
        let tmp = dir.join(HARD_STATE_TMP);
        match fs::remove_file(&tmp) {
            Ok(()) => warn!(file = %tmp.display(), "removed an unfinished hard-state write"),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(at(&tmp)(e).into()),
        }
        let hard_state = read_hard_state(&dir.join(HARD_STATE_FILE))?;

        let log_path = dir.join(LOG_FILE);
        let log = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&log_path)
            .map_err(at(&log_path))?;

        let mut storage = Self {
            dir: dir.to_path_buf(),
            dir_handle,
            _lock: lock,
            log,
            log_path,
            offsets: Vec::new(),
            end: 0,
            hard_state,
            recovered: None,
            fsyncs,
            failed: false,
        };
        let entries = storage.recover_log()?;
        storage.recovered = Some(entries);
        Ok(storage)
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// How many fsyncs (file or directory) this storage has issued since it
    /// was opened, recovery included.
    pub fn fsync_count(&self) -> u64 {
        self.fsyncs
    }

    /// The index of the last persisted entry (0 when the log is empty).
    pub fn last_index(&self) -> LogIndex {
        self.offsets.len() as LogIndex
    }

    /// Reads the whole log, cuts off a torn tail, and rebuilds the index.
    fn recover_log(&mut self) -> Result<Vec<Entry>, StorageError> {
        let mut data = Vec::new();
        let mut f = &self.log;
        f.seek(SeekFrom::Start(0)).map_err(at(&self.log_path))?;
        f.read_to_end(&mut data).map_err(at(&self.log_path))?;

        let all_zero = data.iter().all(|&b| b == 0);
        if data.len() < LOG_HEADER.len() || all_zero {
            // A new file, or creation crashed before the header was durable:
            // start an empty log, and make the new file's name durable too.
            if !(all_zero || LOG_HEADER.starts_with(&data)) {
                return Err(corrupt(
                    &self.log_path,
                    0,
                    "file is too short to hold the log header",
                ));
            }
            if !data.is_empty() {
                warn!(file = %self.log_path.display(), bytes = data.len(),
                    "log header was never completed; starting an empty log");
            }
            self.log.set_len(0).map_err(at(&self.log_path))?;
            self.write_at(0, LOG_HEADER)?;
            self.dir_handle.sync_all().map_err(at(&self.dir))?;
            self.fsyncs += 1;
            self.offsets.clear();
            self.end = LOG_HEADER.len() as u64;
            return Ok(Vec::new());
        }

        let scan = scan_log(&self.log_path, &data)?;
        if let Some(torn) = &scan.torn {
            warn!(
                file = %self.log_path.display(),
                offset = scan.end,
                dropped_bytes = data.len() as u64 - scan.end,
                reason = %torn,
                "dropping a torn last log record (a write interrupted by a crash)"
            );
            self.log.set_len(scan.end).map_err(at(&self.log_path))?;
            self.log.sync_data().map_err(at(&self.log_path))?;
            self.fsyncs += 1;
        }
        self.offsets = scan.offsets;
        self.end = scan.end;
        Ok(scan.entries)
    }

    /// Writes `bytes` at byte `offset` of the log and fsyncs its data.
    fn write_at(&mut self, offset: u64, bytes: &[u8]) -> Result<(), StorageError> {
        let mut f = &self.log;
        let res = f
            .seek(SeekFrom::Start(offset))
            .and_then(|_| f.write_all(bytes))
            .and_then(|()| f.sync_data());
        self.check(res.map_err(at(&self.log_path)))?;
        self.fsyncs += 1;
        Ok(())
    }

    /// Refuses to write after an earlier write failed.
    fn usable(&self) -> Result<(), StorageError> {
        if self.failed {
            return Err(StorageError::Io(io::Error::other(format!(
                "{}: an earlier write or fsync failed; restart to recover",
                self.dir.display()
            ))));
        }
        Ok(())
    }

    /// Passes `res` through, remembering a failure.
    fn check<T>(&mut self, res: io::Result<T>) -> Result<T, StorageError> {
        res.map_err(|e| {
            self.failed = true;
            StorageError::Io(e)
        })
    }
}

impl Storage for FileStorage {
    fn load(&mut self) -> Result<(HardState, Vec<Entry>), StorageError> {
        let entries = match self.recovered.take() {
            Some(entries) => entries,
            None => self.recover_log()?,
        };
        Ok((self.hard_state.clone(), entries))
    }

    fn save_hard_state(&mut self, state: &HardState) -> Result<(), StorageError> {
        self.usable()?;
        if *state == self.hard_state {
            return Ok(()); // Already durable.
        }
        let bytes = encode_hard_state(state)?;
        let tmp = self.dir.join(HARD_STATE_TMP);
        let dest = self.dir.join(HARD_STATE_FILE);
        let res = (|| {
            let mut f = File::create(&tmp).map_err(at(&tmp))?;
            f.write_all(&bytes).map_err(at(&tmp))?;
            f.sync_all().map_err(at(&tmp))?;
            fs::rename(&tmp, &dest).map_err(at(&dest))?;
            self.dir_handle.sync_all().map_err(at(&self.dir))
        })();
        self.check(res)?;
        self.fsyncs += 2;
        self.hard_state = state.clone();
        Ok(())
    }

    fn append(&mut self, entries: &[Entry]) -> Result<(), StorageError> {
        self.usable()?;
        if entries.is_empty() {
            return Ok(());
        }
        let mut buf = Vec::new();
        let mut offsets = Vec::with_capacity(entries.len());
        let last = self.last_index();
        for (expected, entry) in (last + 1..).zip(entries) {
            if entry.index != expected {
                return Err(StorageError::Corrupt(format!(
                    "append at index {} but the log ends at {}",
                    entry.index,
                    expected - 1
                )));
            }
            offsets.push(self.end + buf.len() as u64);
            encode_record(&mut buf, entry)?;
        }
        self.recovered = None;
        self.write_at(self.end, &buf)?;
        self.end += buf.len() as u64;
        self.offsets.extend(offsets);
        Ok(())
    }

    fn truncate(&mut self, from: LogIndex) -> Result<(), StorageError> {
        self.usable()?;
        let keep = from.max(1) - 1;
        let Some(&new_end) = usize::try_from(keep).ok().and_then(|k| self.offsets.get(k)) else {
            return Ok(()); // Nothing at or after `from`.
        };
        self.recovered = None;
        let res = self
            .log
            .set_len(new_end)
            .and_then(|()| self.log.sync_data());
        self.check(res.map_err(at(&self.log_path)))?;
        self.fsyncs += 1;
        self.offsets.truncate(keep as usize);
        self.end = new_end;
        Ok(())
    }
}

/// Creates `dir` and any missing ancestors, fsyncing the parent of each one
/// created so the new directory entries survive a crash. Returns the fsyncs.
fn create_dir_durably(dir: &Path) -> io::Result<u64> {
    let mut missing = Vec::new();
    let mut p = dir;
    while !p.as_os_str().is_empty() && !p.exists() {
        missing.push(p);
        match p.parent() {
            Some(parent) => p = parent,
            None => break,
        }
    }
    if missing.is_empty() {
        return Ok(0);
    }
    fs::create_dir_all(dir)?;
    for created in missing.iter().rev() {
        let parent = created
            .parent()
            .filter(|q| !q.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        File::open(parent)?.sync_all()?;
    }
    Ok(missing.len() as u64)
}

/// Appends the record of `entry` to `buf`.
fn encode_record(buf: &mut Vec<u8>, entry: &Entry) -> Result<(), StorageError> {
    let payload = serde_json::to_vec(entry).map_err(io::Error::from)?;
    let len = u32::try_from(payload.len())
        .ok()
        .filter(|&l| l as usize <= MAX_RECORD_LEN)
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "entry {} serializes to {} bytes, over the {MAX_RECORD_LEN}-byte record limit",
                    entry.index,
                    payload.len()
                ),
            )
        })?;
    let len_bytes = len.to_le_bytes();
    buf.extend_from_slice(&len_bytes);
    buf.extend_from_slice(&crc32fast::hash(&len_bytes).to_le_bytes());
    buf.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    buf.extend_from_slice(&payload);
    Ok(())
}

/// What a scan of the log file found.
#[derive(Debug)]
struct Scan {
    entries: Vec<Entry>,
    offsets: Vec<u64>,
    /// Where the last whole, valid record ends.
    end: u64,
    /// Why the bytes after `end` were judged a torn write, if there are any.
    torn: Option<String>,
}

/// Parses a whole log file (header included). Never panics, whatever `data`.
fn scan_log(path: &Path, data: &[u8]) -> Result<Scan, StorageError> {
    check_header(path, data, LOG_HEADER)?;
    let mut scan = Scan {
        entries: Vec::new(),
        offsets: Vec::new(),
        end: 0,
        torn: None,
    };
    let mut pos = LOG_HEADER.len();
    while pos < data.len() {
        let rest = &data[pos..];
        let is_tail = |from: usize| rest.get(from..).is_none_or(|t| t.iter().all(|&b| b == 0));
        let (Some(len), Some(len_crc), Some(crc)) =
            (le_u32(rest, 0), le_u32(rest, 4), le_u32(rest, 8))
        else {
            scan.torn = Some(format!("incomplete record header ({} bytes)", rest.len()));
            break;
        };
        if crc32fast::hash(&len.to_le_bytes()) != len_crc {
            if is_tail(0) {
                scan.torn = Some("the file ends in zeros".into());
                break;
            }
            return Err(corrupt(path, pos, "record length checksum mismatch"));
        }
        let len = len as usize;
        if len > MAX_RECORD_LEN {
            return Err(corrupt(
                path,
                pos,
                format!("record length {len} exceeds the {MAX_RECORD_LEN}-byte limit"),
            ));
        }
        let Some(payload) = rest.get(RECORD_HEADER_LEN..RECORD_HEADER_LEN + len) else {
            scan.torn = Some(format!(
                "record of {len} bytes has only {} on disk",
                rest.len() - RECORD_HEADER_LEN
            ));
            break;
        };
        if crc32fast::hash(payload) != crc {
            if is_tail(RECORD_HEADER_LEN + len) {
                scan.torn = Some("checksum mismatch in the last record".into());
                break;
            }
            return Err(corrupt(path, pos, "record checksum mismatch"));
        }
        let entry: Entry = serde_json::from_slice(payload).map_err(|e| {
            corrupt(
                path,
                pos,
                format!("record does not decode as an entry: {e}"),
            )
        })?;
        let expected = scan.entries.len() as LogIndex + 1;
        if entry.index != expected {
            return Err(corrupt(
                path,
                pos,
                format!("entry index {} where {expected} was expected", entry.index),
            ));
        }
        if let Some(prev) = scan.entries.last() {
            if entry.term < prev.term {
                return Err(corrupt(
                    path,
                    pos,
                    format!(
                        "entry {} has term {}, below the previous entry's {}",
                        entry.index, entry.term, prev.term
                    ),
                ));
            }
        }
        scan.offsets.push(pos as u64);
        scan.entries.push(entry);
        pos += RECORD_HEADER_LEN + len;
    }
    scan.end = pos as u64;
    Ok(scan)
}

/// Checks the magic and version of a file against `header`.
fn check_header(path: &Path, data: &[u8], header: &[u8; 8]) -> Result<(), StorageError> {
    if data.get(..MAGIC_LEN) != Some(&header[..MAGIC_LEN]) {
        return Err(corrupt(path, 0, "bad magic: not a raftrtc storage file"));
    }
    match data.get(MAGIC_LEN) {
        Some(v) if *v == header[MAGIC_LEN] => Ok(()),
        Some(v) => Err(corrupt(
            path,
            MAGIC_LEN,
            format!(
                "unsupported format version {v} (this build reads {})",
                header[MAGIC_LEN]
            ),
        )),
        None => Err(corrupt(path, MAGIC_LEN, "missing format version")),
    }
}

fn encode_hard_state(state: &HardState) -> Result<Vec<u8>, StorageError> {
    let vote = state.voted_for.as_deref().unwrap_or("");
    let vote_len = u32::try_from(vote.len())
        .ok()
        .filter(|&l| u64::from(l) + (MIN_HARD_STATE_LEN as u64) <= MAX_HARD_STATE_LEN)
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("voted-for id of {} bytes is too long", vote.len()),
            )
        })?;
    let mut b = Vec::with_capacity(MIN_HARD_STATE_LEN + vote.len());
    b.extend_from_slice(HARD_STATE_HEADER);
    b.extend_from_slice(&state.term.to_le_bytes());
    b.push(u8::from(state.voted_for.is_some()));
    b.extend_from_slice(&vote_len.to_le_bytes());
    b.extend_from_slice(vote.as_bytes());
    let crc = crc32fast::hash(&b);
    b.extend_from_slice(&crc.to_le_bytes());
    Ok(b)
}

/// Reads the hard-state file; a missing file is the initial state.
fn read_hard_state(path: &Path) -> Result<HardState, StorageError> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(HardState::default()),
        Err(e) => return Err(at(path)(e).into()),
    };
    let mut data = Vec::new();
    file.take(MAX_HARD_STATE_LEN + 1)
        .read_to_end(&mut data)
        .map_err(at(path))?;
    decode_hard_state(path, &data)
}

/// Parses a hard-state file. Never panics, whatever `data`.
fn decode_hard_state(path: &Path, data: &[u8]) -> Result<HardState, StorageError> {
    check_header(path, data, HARD_STATE_HEADER)?;
    if data.len() as u64 > MAX_HARD_STATE_LEN {
        return Err(corrupt(path, 0, "file is too large for a hard state"));
    }
    if data.len() < MIN_HARD_STATE_LEN {
        return Err(corrupt(path, data.len(), "file is truncated"));
    }
    let (body, tail) = data.split_at(data.len() - 4);
    if le_u32(tail, 0) != Some(crc32fast::hash(body)) {
        return Err(corrupt(path, body.len(), "checksum mismatch"));
    }
    let (Some(term), Some(&has_vote), Some(vote_len)) =
        (le_u64(body, 8), body.get(16), le_u32(body, 17))
    else {
        return Err(corrupt(path, 8, "file is truncated"));
    };
    let vote = body.get(21..).unwrap_or_default();
    if vote.len() as u64 != u64::from(vote_len) {
        return Err(corrupt(path, 17, "vote length does not match the file"));
    }
    let voted_for = match has_vote {
        0 if vote.is_empty() => None,
        1 => Some(
            String::from_utf8(vote.to_vec()).map_err(|_| corrupt(path, 21, "vote is not UTF-8"))?,
        ),
        _ => return Err(corrupt(path, 16, "bad vote flag")),
    };
    Ok(HardState { term, voted_for })
}

fn le_u32(b: &[u8], at: usize) -> Option<u32> {
    let bytes: [u8; 4] = b.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_le_bytes(bytes))
}

fn le_u64(b: &[u8], at: usize) -> Option<u64> {
    let bytes: [u8; 8] = b.get(at..at.checked_add(8)?)?.try_into().ok()?;
    Some(u64::from_le_bytes(bytes))
}

fn corrupt(path: &Path, offset: usize, what: impl Display) -> StorageError {
    StorageError::Corrupt(format!(
        "{}: {what} at byte offset {offset}",
        path.display()
    ))
}

/// Adds `path` to an I/O error's message.
fn at(path: &Path) -> impl Fn(io::Error) -> io::Error + '_ {
    move |e| io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests;
