//! The `synced` file: how far `raft.log` was last made durable, and the end
//! of a log this node once promised and lost.
//!
//! A crash can only tear the append in flight, which was never acknowledged.
//! Anything else that shortens the log (a truncated file, a rotten record)
//! loses entries the node acknowledged, and looks the same to a reader of the
//! log alone. So after every append's fsync, and before the core may send
//! anything depending on it, [`FileStorage`](super::FileStorage) records here
//! the id (term, index) of the last entry synced; on open, a log that ends
//! before that id has lost acknowledged entries.
//!
//! Format: two 52-byte slots, each
//! ```text
//! "RRTCSYN" 0x01 | seq u64 | synced term u64 | synced index u64
//!                | floor term u64 | floor index u64 | crc32 u32 of the preceding bytes
//! ```
//! (little-endian). A write goes to the slot *not* holding the latest
//! sequence number, then is fsynced; the reader takes the valid slot with the
//! highest sequence number. A write torn by a crash therefore leaves the
//! previous mark, which is still true: the mark is raised only after the log
//! entries it names are on disk, and lowered (conflict truncation) before the
//! log is cut.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use raftrtc_raft::{LogIndex, StorageError, Term};

use super::file::{at, corrupt};

/// 7 bytes of magic, then the format version.
const HEADER: &[u8; 8] = b"RRTCSYN\x01";
/// Header, sequence number, four ids, checksum.
const SLOT_LEN: usize = 8 + 8 + 4 * 8 + 4;

/// A log position: the term and index of one entry ((0, 0): before the first).
pub type LogId = (Term, LogIndex);

/// What the `synced` file records.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Mark {
    /// The last entry known to be durable in `raft.log`.
    pub synced: LogId,
    /// The end of a log this node acknowledged and then lost (started with
    /// `--discard-lost-log`); (0, 0) if it never lost one. The core votes as
    /// if its log still reached here.
    pub floor: LogId,
}

/// The open `synced` file and the mark it holds.
#[derive(Debug)]
pub struct SyncedFile {
    file: File,
    path: PathBuf,
    /// Sequence number of the latest slot written.
    seq: u64,
    mark: Mark,
}

impl SyncedFile {
    /// Opens an existing file and reads its mark; `Ok(None)` if there is none.
    pub fn open(path: &Path) -> Result<Option<Self>, StorageError> {
        let mut file = match OpenOptions::new().read(true).write(true).open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(at(path)(e).into()),
        };
        let mut data = Vec::new();
        (&mut file)
            .take(2 * SLOT_LEN as u64 + 1)
            .read_to_end(&mut data)
            .map_err(at(path))?;
        let (seq, mark) = decode(path, &data)?;
        Ok(Some(Self {
            file,
            path: path.to_path_buf(),
            seq,
            mark,
        }))
    }

    /// Creates the file holding an empty mark: written and fsynced under a
    /// temporary name, then renamed, so `path` never exists half-written.
    /// The caller fsyncs the directory.
    pub fn create(path: &Path) -> Result<Self, StorageError> {
        let tmp = path.with_extension("tmp");
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .map_err(at(&tmp))?;
        let mut synced = Self {
            file,
            path: path.to_path_buf(),
            seq: 0,
            mark: Mark::default(),
        };
        synced.write(Mark::default()).map_err(at(&tmp))?;
        std::fs::rename(&tmp, path).map_err(at(path))?;
        Ok(synced)
    }

    /// The mark last made durable.
    pub fn mark(&self) -> Mark {
        self.mark
    }

    /// The file's path, for error messages.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Makes `mark` durable (into the older slot), unless it already is.
    pub fn set(&mut self, mark: Mark) -> io::Result<()> {
        if mark == self.mark {
            return Ok(());
        }
        self.write(mark)
    }

    fn write(&mut self, mark: Mark) -> io::Result<()> {
        let seq = self.seq + 1;
        let slot = encode(seq, mark);
        let offset = (seq % 2) * SLOT_LEN as u64;
        let mut f = &self.file;
        f.seek(SeekFrom::Start(offset))?;
        f.write_all(&slot)?;
        f.sync_data()?;
        self.seq = seq;
        self.mark = mark;
        Ok(())
    }
}

fn encode(seq: u64, mark: Mark) -> Vec<u8> {
    let mut b = Vec::with_capacity(SLOT_LEN);
    b.extend_from_slice(HEADER);
    for v in [
        seq,
        mark.synced.0,
        mark.synced.1,
        mark.floor.0,
        mark.floor.1,
    ] {
        b.extend_from_slice(&v.to_le_bytes());
    }
    let crc = crc32fast::hash(&b);
    b.extend_from_slice(&crc.to_le_bytes());
    b
}

/// The valid slot with the highest sequence number. Never panics.
fn decode(path: &Path, data: &[u8]) -> Result<(u64, Mark), StorageError> {
    if data.len() > 2 * SLOT_LEN {
        return Err(corrupt(path, 2 * SLOT_LEN, "file is too long"));
    }
    data.chunks(SLOT_LEN)
        .filter_map(decode_slot)
        .max_by_key(|(seq, _)| *seq)
        .ok_or_else(|| corrupt(path, 0, "no slot holds a valid synced mark"))
}

fn decode_slot(slot: &[u8]) -> Option<(u64, Mark)> {
    if slot.len() != SLOT_LEN || !slot.starts_with(HEADER) {
        return None;
    }
    let (body, crc) = slot.split_at(SLOT_LEN - 4);
    if crc32fast::hash(body).to_le_bytes() != crc {
        return None;
    }
    let v = |i: usize| {
        let at = HEADER.len() + 8 * i;
        u64::from_le_bytes(body[at..at + 8].try_into().unwrap_or_default())
    };
    Some((
        v(0),
        Mark {
            synced: (v(1), v(2)),
            floor: (v(3), v(4)),
        },
    ))
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    #[test]
    fn the_latest_mark_survives_reopen() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("synced");
        assert!(SyncedFile::open(&path).unwrap().is_none());
        let mut s = SyncedFile::create(&path).unwrap();
        for i in 1..=5 {
            s.set(Mark {
                synced: (2, i),
                floor: (1, 9),
            })
            .unwrap();
        }
        let back = SyncedFile::open(&path).unwrap().unwrap();
        assert_eq!(back.mark().synced, (2, 5));
        assert_eq!(back.mark().floor, (1, 9));
    }

    #[test]
    fn a_torn_slot_write_leaves_the_previous_mark() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("synced");
        let mut s = SyncedFile::create(&path).unwrap();
        s.set(Mark {
            synced: (1, 3),
            floor: (0, 0),
        })
        .unwrap();
        s.set(Mark {
            synced: (1, 4),
            floor: (0, 0),
        })
        .unwrap();
        // Damage the newest slot (sequence 3, slot 1), as a torn write would.
        let mut bytes = fs::read(&path).unwrap();
        bytes[SLOT_LEN + 20] ^= 0xFF;
        fs::write(&path, &bytes).unwrap();
        let back = SyncedFile::open(&path).unwrap().unwrap();
        assert_eq!(back.mark().synced, (1, 3));
    }

    #[test]
    fn a_file_with_no_valid_slot_is_corrupt_and_named() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("synced");
        SyncedFile::create(&path).unwrap();
        for bad in [vec![], vec![0u8; 10], vec![7u8; SLOT_LEN * 2]] {
            fs::write(&path, &bad).unwrap();
            match SyncedFile::open(&path) {
                Err(StorageError::Corrupt(msg)) => {
                    assert!(msg.contains(&*path.to_string_lossy()), "{msg}")
                }
                other => panic!("expected Corrupt, got {other:?}"),
            }
        }
    }
}
