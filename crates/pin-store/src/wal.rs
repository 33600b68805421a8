//! The write-ahead log: local, append-only, one record per batch.
//!
//! A record is `len: u32 LE | crc32c(payload): u32 LE | payload`, the payload a postcard-encoded
//! [`WalRecord`]. Files are named by the sequence number of their first event (`<20 digits>.wal`); a file
//! is deleted only after a manifest that covers all its events is committed. On open, a writer cuts each
//! file at its last whole record (a torn or corrupted tail is a write that was never acknowledged);
//! a reader stops there without touching the file.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use pin_core::{Event, MetricsDelta};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// One acknowledged batch.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct WalRecord {
    /// Sequence number of the first event; the batch's events are numbered consecutively from it.
    pub(crate) first_seq: u64,
    /// The batch's idempotency id.
    pub(crate) batch_id: Option<String>,
    /// The events.
    pub(crate) events: Vec<Event>,
    /// What the batch did to the totals, computed by the writer from the state before it.
    pub(crate) delta: MetricsDelta,
}

impl WalRecord {
    pub(crate) fn last_seq(&self) -> u64 {
        self.first_seq + self.events.len() as u64 - 1
    }
}

const HEADER: usize = 8;
/// Largest record accepted on replay; anything longer is a corrupted length.
const MAX_RECORD: usize = 1 << 30;

pub(crate) fn encode(record: &WalRecord) -> Result<Vec<u8>> {
    let payload = postcard::to_stdvec(record).map_err(|e| Error::Config(format!("encoding a WAL record: {e}")))?;
    let len = u32::try_from(payload.len()).map_err(|_| Error::Config("a batch over 4 GiB".into()))?;
    let mut out = Vec::with_capacity(HEADER + payload.len());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&crc32c::crc32c(&payload).to_le_bytes());
    out.extend_from_slice(&payload);
    Ok(out)
}

/// The WAL files of `dir`, oldest first, with the first sequence number each holds.
pub(crate) fn files(dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(Error::io("read directory", dir, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("read directory", dir, e))?;
        let name = entry.file_name();
        let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".wal")) else {
            continue;
        };
        if let Ok(first) = stem.parse::<u64>() {
            out.push((first, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// What replaying one file found.
#[derive(Debug)]
pub(crate) struct Replay {
    pub(crate) records: Vec<WalRecord>,
    /// Length of the whole records; anything after is damage.
    pub(crate) valid_len: u64,
    /// Why replay stopped early, if it did.
    pub(crate) damage: Option<String>,
}

/// Reads every whole record of `path`.
pub(crate) fn replay(path: &Path) -> Result<Replay> {
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(|e| Error::io("read", path, e))?;
    let mut records = Vec::new();
    let mut pos = 0usize;
    let damage = loop {
        if pos == bytes.len() {
            break None;
        }
        if bytes.len() - pos < HEADER {
            break Some(format!("torn record header at byte {pos}"));
        }
        let len = u32::from_le_bytes([bytes[pos], bytes[pos + 1], bytes[pos + 2], bytes[pos + 3]]) as usize;
        let crc = u32::from_le_bytes([bytes[pos + 4], bytes[pos + 5], bytes[pos + 6], bytes[pos + 7]]);
        if len > MAX_RECORD || bytes.len() - pos - HEADER < len {
            break Some(format!("torn record at byte {pos} ({len} bytes announced)"));
        }
        let payload = &bytes[pos + HEADER..pos + HEADER + len];
        if crc32c::crc32c(payload) != crc {
            if whole_record_at(&bytes, pos + HEADER + len) {
                // A whole, valid record follows: this is not a write cut short but damage to data that
                // was acknowledged. Cutting here would lose what follows; refuse instead.
                return Err(Error::Corrupt {
                    path: path.display().to_string(),
                    reason: format!("checksum mismatch in the record at byte {pos}, with valid records after it"),
                });
            }
            break Some(format!("checksum mismatch in the record at byte {pos}"));
        }
        match postcard::from_bytes::<WalRecord>(payload) {
            // A record without events is written only for an empty batch with an id (to remember the id).
            Ok(r) if !r.events.is_empty() || r.batch_id.is_some() => records.push(r),
            Ok(_) => break Some(format!("empty record at byte {pos}")),
            Err(e) => break Some(format!("undecodable record at byte {pos}: {e}")),
        }
        pos += HEADER + len;
    };
    Ok(Replay {
        records,
        valid_len: pos as u64,
        damage,
    })
}

/// Whether a record with a valid checksum starts at `pos`.
fn whole_record_at(bytes: &[u8], pos: usize) -> bool {
    let Some(header) = bytes.get(pos..pos + HEADER) else {
        return false;
    };
    let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
    let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    bytes
        .get(pos + HEADER..pos + HEADER + len)
        .is_some_and(|p| len > 0 && crc32c::crc32c(p) == crc)
}

/// Cuts `path` at `len` bytes and makes the cut durable.
pub(crate) fn truncate(path: &Path, len: u64) -> Result<()> {
    let f = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| Error::io("open", path, e))?;
    f.set_len(len).map_err(|e| Error::io("truncate", path, e))?;
    f.sync_all().map_err(|e| Error::io("fsync", path, e))
}

/// The file being appended to.
#[derive(Debug)]
pub(crate) struct WalFile {
    out: BufWriter<File>,
    path: PathBuf,
    pub(crate) bytes: u64,
}

impl WalFile {
    /// Creates `<dir>/<first_seq>.wal` (or appends to it if it exists) and syncs the directory entry.
    pub(crate) fn open(dir: &Path, first_seq: u64) -> Result<Self> {
        let path = dir.join(format!("{first_seq:020}.wal"));
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| Error::io("create", &path, e))?;
        let bytes = file.metadata().map_err(|e| Error::io("stat", &path, e))?.len();
        sync_dir(dir)?;
        Ok(Self {
            out: BufWriter::with_capacity(1 << 20, file),
            path,
            bytes,
        })
    }

    pub(crate) fn append(&mut self, record: &[u8]) -> Result<()> {
        self.out
            .write_all(record)
            .map_err(|e| Error::io("append", &self.path, e))?;
        self.bytes += record.len() as u64;
        Ok(())
    }

    /// Flushes and fsyncs: after this returns, every appended record survives a power cut.
    pub(crate) fn sync(&mut self) -> Result<()> {
        self.out.flush().map_err(|e| Error::io("write", &self.path, e))?;
        self.out
            .get_ref()
            .sync_data()
            .map_err(|e| Error::io("fsync", &self.path, e))
    }
}

/// Makes a directory's entries (created or removed files) durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io("fsync directory", dir, e))
}
