//! [`FileStorage`]: the Raft log and hard state in a directory, fsynced.
//!
//! The formats and the recovery rules are described in the module docs of
//! [`crate::storage`]. This file keeps an in-memory index of record offsets (and terms) so
//! that a conflict truncation is one `set_len` at a known offset, not a scan.

use std::fmt::Display;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use raftrtc_raft::{Entry, HardState, LogIndex, Storage, StorageError, Term};
use tracing::warn;

use super::synced::{LogId, Mark, SyncedFile};

/// The largest record payload (one serialized entry) written or accepted.
/// A length above this on disk is corruption, never an allocation.
pub const MAX_RECORD_LEN: usize = 16 << 20;

const LOG_FILE: &str = "raft.log";
const HARD_STATE_FILE: &str = "hardstate";
const HARD_STATE_TMP: &str = "hardstate.tmp";
const LOCK_FILE: &str = "LOCK";
const SYNCED_FILE: &str = "synced";

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
    /// How far the log is synced, and what a discarded loss had promised.
    synced: SyncedFile,
    /// Start from the intact entries when the log lost synced ones.
    discard_lost: bool,
    dir: PathBuf,
    /// Kept open to fsync renames and file creations.
    dir_handle: File,
    /// Holds the directory's exclusive lock until dropped.
    _lock: File,
    log: File,
    log_path: PathBuf,
    /// `records[i]`: where entry `i + 1` is, and its term.
    records: Vec<Record>,
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

/// One record of the log file, as the in-memory index keeps it.
#[derive(Clone, Copy, Debug)]
struct Record {
    /// Byte offset of the record in the file.
    offset: u64,
    /// The term of its entry.
    term: Term,
}

impl FileStorage {
    /// Opens (creating it and its files if missing) the data directory `dir`,
    /// takes its lock, and recovers the log: a torn tail past the synced mark
    /// is cut off with a warning; a log that lost synced entries, or is
    /// otherwise unreadable, is [`StorageError::Corrupt`] naming the file.
    pub fn open(dir: &Path) -> Result<Self, StorageError> {
        Self::open_with(dir, false)
    }

    /// Like [`FileStorage::open`], but a log that lost synced entries is cut
    /// back to its intact entries (with a warning) instead of refused. The
    /// lost end is kept as the floor [`Storage::lost_log_end`] reports, so the
    /// core never votes or campaigns on a log shorter than it once promised.
    pub fn open_discarding_lost(dir: &Path) -> Result<Self, StorageError> {
        Self::open_with(dir, true)
    }

    fn open_with(dir: &Path, discard_lost: bool) -> Result<Self, StorageError> {
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
        let synced = open_synced(dir, &dir_handle, &log_path)?;
        let log = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&log_path)
            .map_err(at(&log_path))?;

        let mut storage = Self {
            synced,
            discard_lost,
            dir: dir.to_path_buf(),
            dir_handle,
            _lock: lock,
            log,
            log_path,
            records: Vec::new(),
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
        self.records.len() as LogIndex
    }

    /// The id (term, index) of the entry at `index` ((0, 0) for index 0).
    fn id_at(&self, index: LogIndex) -> LogId {
        let term = index
            .checked_sub(1)
            .and_then(|i| self.records.get(usize::try_from(i).ok()?))
            .map_or(0, |r| r.term);
        (term, index)
    }

    /// Reads the whole log, checks it against the synced mark, cuts off a
    /// torn tail (or, when told to, lost entries) and rebuilds the index.
    fn recover_log(&mut self) -> Result<Vec<Entry>, StorageError> {
        let mut data = Vec::new();
        let mut f = &self.log;
        f.seek(SeekFrom::Start(0)).map_err(at(&self.log_path))?;
        f.read_to_end(&mut data).map_err(at(&self.log_path))?;
        let mut scan = scan_log_file(&self.log_path, &data)?;

        let mark = self.synced.mark();
        let mut floor = mark.floor;
        if let Some(loss) = lost_entries(&scan, mark.synced) {
            let what = format!(
                "{}: {}; entries synced through index {} (term {}, per {}) may have been acknowledged",
                self.log_path.display(),
                loss.what,
                mark.synced.1,
                mark.synced.0,
                self.synced.path().display()
            );
            if !self.discard_lost {
                return Err(StorageError::Corrupt(format!(
                    "{what}; refusing to start (--discard-lost-log starts from the {} intact entries instead)",
                    loss.keep
                )));
            }
            warn!(
                "{what}; discarding everything after entry {} as asked",
                loss.keep
            );
            scan.keep(loss.keep);
            if (loss.keep as LogIndex) < mark.synced.1 {
                floor = floor.max(mark.synced);
            }
        } else if let Some(torn) = &scan.damage {
            warn!(
                file = %self.log_path.display(),
                offset = torn.offset,
                dropped_bytes = data.len() as u64 - scan.end,
                reason = %torn.reason,
                "dropping a torn log tail past the synced mark (an append cut short by a crash, never acknowledged)"
            );
        }
        self.install(&scan, data.len() as u64)?;
        let synced = scan.entries.last().map_or((0, 0), |e| (e.term, e.index));
        let new_mark = Mark { synced, floor };
        if new_mark != mark {
            // What the mark is raised to must be on disk first (the entries
            // may be in the page cache only, after a crash of the process).
            let res = self.log.sync_data().map_err(at(&self.log_path));
            self.check(res)?;
            let res = self.synced.set(new_mark).map_err(at(self.synced.path()));
            self.check(res)?;
            self.fsyncs += 2;
        }
        Ok(scan.entries)
    }

    /// Makes the file hold exactly what `scan` kept, and indexes it.
    fn install(&mut self, scan: &Scan, file_len: u64) -> Result<(), StorageError> {
        if scan.needs_header {
            // A new file, or creation crashed before the header was durable:
            // start an empty log, and make the new file's name durable too.
            self.log.set_len(0).map_err(at(&self.log_path))?;
            self.write_at(0, LOG_HEADER)?;
            self.dir_handle.sync_all().map_err(at(&self.dir))?;
            self.fsyncs += 1;
            self.end = LOG_HEADER.len() as u64;
        } else {
            if scan.end < file_len {
                self.log.set_len(scan.end).map_err(at(&self.log_path))?;
                self.log.sync_data().map_err(at(&self.log_path))?;
                self.fsyncs += 1;
            }
            self.end = scan.end;
        }
        self.records = scan
            .offsets
            .iter()
            .zip(&scan.entries)
            .map(|(&offset, e)| Record {
                offset,
                term: e.term,
            })
            .collect();
        Ok(())
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

    /// Records durably that the log is synced through `synced`.
    fn set_synced(&mut self, synced: LogId) -> Result<(), StorageError> {
        let mark = Mark {
            synced,
            ..self.synced.mark()
        };
        let res = self.synced.set(mark).map_err(at(self.synced.path()));
        self.check(res)?;
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
    fn lost_log_end(&self) -> Option<(Term, LogIndex)> {
        let floor = self.synced.mark().floor;
        (floor.1 > 0).then_some(floor)
    }

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
            offsets.push(Record {
                offset: self.end + buf.len() as u64,
                term: entry.term,
            });
            encode_record(&mut buf, entry)?;
        }
        self.recovered = None;
        self.write_at(self.end, &buf)?;
        self.end += buf.len() as u64;
        self.records.extend(offsets);
        // Only now may the core acknowledge these entries: record that they
        // are synced, so that losing them later is detected, not forgotten.
        let synced = self.id_at(self.last_index());
        self.set_synced(synced)
    }

    fn truncate(&mut self, from: LogIndex) -> Result<(), StorageError> {
        self.usable()?;
        let keep = from.max(1) - 1;
        let Some(new_end) = usize::try_from(keep)
            .ok()
            .and_then(|k| self.records.get(k))
            .map(|r| r.offset)
        else {
            return Ok(()); // Nothing at or after `from`.
        };
        self.recovered = None;
        // Lower the mark before cutting: a crash in between leaves a log
        // longer than its mark (fine), never shorter (a false loss).
        if self.synced.mark().synced.1 > keep {
            self.set_synced(self.id_at(keep))?;
        }
        let res = self
            .log
            .set_len(new_end)
            .and_then(|()| self.log.sync_data());
        self.check(res.map_err(at(&self.log_path)))?;
        self.fsyncs += 1;
        self.records.truncate(keep as usize);
        self.end = new_end;
        Ok(())
    }
}

/// Opens the `synced` file, creating it beside a log that holds no entry.
/// A log with entries but no mark cannot be checked for lost entries, so that
/// is an error (a directory written before the mark existed, or damaged).
fn open_synced(dir: &Path, dir_handle: &File, log_path: &Path) -> Result<SyncedFile, StorageError> {
    let path = dir.join(SYNCED_FILE);
    if let Some(synced) = SyncedFile::open(&path)? {
        return Ok(synced);
    }
    let data = match fs::read(log_path) {
        Ok(data) => data,
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(at(log_path)(e).into()),
    };
    if !scan_log_file(log_path, &data)?.entries.is_empty() {
        return Err(StorageError::Corrupt(format!(
            "{} is missing, so whether {} lost acknowledged entries cannot be told; \
             remove the data directory to start this node as a new server",
            path.display(),
            log_path.display()
        )));
    }
    let synced = SyncedFile::create(&path)?;
    dir_handle.sync_all().map_err(at(dir))?;
    Ok(synced)
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
#[derive(Debug, Default)]
struct Scan {
    /// The intact entries, from index 1 on.
    entries: Vec<Entry>,
    /// `offsets[i]`: byte offset of the record of `entries[i]`.
    offsets: Vec<u64>,
    /// Where the last intact record ends.
    end: u64,
    /// The file has no complete header: it is new, or its creation crashed.
    needs_header: bool,
    /// Why the bytes after `end` are not a record, if there are any.
    damage: Option<Damage>,
}

impl Scan {
    /// Keeps only the first `n` entries.
    fn keep(&mut self, n: usize) {
        if let Some(&offset) = self.offsets.get(n) {
            self.end = offset;
        }
        self.entries.truncate(n);
        self.offsets.truncate(n);
    }
}

/// Bytes of the log that are not a valid record.
#[derive(Debug)]
struct Damage {
    /// Where they start.
    offset: u64,
    /// What is wrong with them.
    reason: String,
    /// They could be a write cut short by a crash: nothing valid follows.
    tail: bool,
}

/// Synced entries the log no longer holds.
#[derive(Debug)]
struct Loss {
    /// What is wrong, for the error message.
    what: String,
    /// How many leading entries are intact.
    keep: usize,
}

/// Whether the log of `scan` lost entries synced through `synced` (or is
/// damaged other than by a torn write), and how much of it is intact.
fn lost_entries(scan: &Scan, (term, index): LogId) -> Option<Loss> {
    let have = scan.entries.len();
    let damage = scan.damage.as_ref();
    if (have as LogIndex) < index {
        let why = damage.map_or_else(
            || "the file ends there".to_owned(),
            |d| format!("{} at byte offset {}", d.reason, d.offset),
        );
        return Some(Loss {
            what: format!("holds entries 1..={have} only ({why})"),
            keep: have,
        });
    }
    let at_mark = index
        .checked_sub(1)
        .and_then(|i| scan.entries.get(usize::try_from(i).ok()?));
    if let Some(e) = at_mark.filter(|e| e.term != term) {
        return Some(Loss {
            what: format!("entry {index} has term {}, not the synced {term}", e.term),
            keep: index as usize - 1,
        });
    }
    damage.filter(|d| !d.tail).map(|d| Loss {
        what: format!(
            "{} at byte offset {}, with more data after it (damage, not a torn write)",
            d.reason, d.offset
        ),
        keep: have,
    })
}

/// Parses a whole log file: an empty or header-less one (a new log), or a
/// header and records. Never panics, whatever `data`.
fn scan_log_file(path: &Path, data: &[u8]) -> Result<Scan, StorageError> {
    let all_zero = data.iter().all(|&b| b == 0);
    if data.len() >= LOG_HEADER.len() && !all_zero {
        return scan_log(path, data);
    }
    if !(all_zero || LOG_HEADER.starts_with(data)) {
        return Err(corrupt(path, 0, "file is too short to hold the log header"));
    }
    Ok(Scan {
        needs_header: true,
        damage: (!data.is_empty()).then(|| Damage {
            offset: 0,
            reason: format!("log header never completed ({} bytes)", data.len()),
            tail: true,
        }),
        ..Scan::default()
    })
}

/// Parses a log file with a header, up to its first invalid record.
fn scan_log(path: &Path, data: &[u8]) -> Result<Scan, StorageError> {
    check_header(path, data, LOG_HEADER)?;
    let mut scan = Scan::default();
    let mut pos = LOG_HEADER.len();
    while pos < data.len() {
        match read_record(&data[pos..], scan.entries.last()) {
            Ok((entry, len)) => {
                scan.offsets.push(pos as u64);
                scan.entries.push(entry);
                pos += len;
            }
            Err((reason, tail)) => {
                scan.damage = Some(Damage {
                    offset: pos as u64,
                    reason,
                    tail,
                });
                break;
            }
        }
    }
    scan.end = pos as u64;
    Ok(scan)
}

/// Reads the record at the start of `rest`, which must follow `prev`: the
/// entry and the record's length, or why it is not one and whether that can
/// be a write torn by a crash (nothing but zeros after it).
fn read_record(rest: &[u8], prev: Option<&Entry>) -> Result<(Entry, usize), (String, bool)> {
    let is_tail = |from: usize| rest.get(from..).is_none_or(|t| t.iter().all(|&b| b == 0));
    let (Some(len), Some(len_crc), Some(crc)) = (le_u32(rest, 0), le_u32(rest, 4), le_u32(rest, 8))
    else {
        let what = format!("incomplete record header ({} bytes)", rest.len());
        return Err((what, true));
    };
    if crc32fast::hash(&len.to_le_bytes()) != len_crc {
        return Err(if is_tail(0) {
            ("the file ends in zeros".into(), true)
        } else {
            ("record length checksum mismatch".into(), false)
        });
    }
    let len = len as usize;
    if len > MAX_RECORD_LEN {
        let what = format!("record length {len} exceeds the {MAX_RECORD_LEN}-byte limit");
        return Err((what, false));
    }
    let Some(payload) = rest.get(RECORD_HEADER_LEN..RECORD_HEADER_LEN + len) else {
        let on_disk = rest.len() - RECORD_HEADER_LEN;
        return Err((
            format!("record of {len} bytes has only {on_disk} on disk"),
            true,
        ));
    };
    if crc32fast::hash(payload) != crc {
        let tail = is_tail(RECORD_HEADER_LEN + len);
        return Err(("record checksum mismatch".into(), tail));
    }
    let entry: Entry = serde_json::from_slice(payload)
        .map_err(|e| (format!("record does not decode as an entry: {e}"), false))?;
    let expected = prev.map_or(1, |p| p.index + 1);
    if entry.index != expected {
        let what = format!("entry index {} where {expected} was expected", entry.index);
        return Err((what, false));
    }
    if let Some(p) = prev.filter(|p| entry.term < p.term) {
        let what = format!(
            "entry {} has term {}, below the previous entry's {}",
            entry.index, entry.term, p.term
        );
        return Err((what, false));
    }
    Ok((entry, RECORD_HEADER_LEN + len))
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

pub(super) fn corrupt(path: &Path, offset: usize, what: impl Display) -> StorageError {
    StorageError::Corrupt(format!(
        "{}: {what} at byte offset {offset}",
        path.display()
    ))
}

/// Adds `path` to an I/O error's message.
pub(super) fn at(path: &Path) -> impl Fn(io::Error) -> io::Error + '_ {
    move |e| io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests;
