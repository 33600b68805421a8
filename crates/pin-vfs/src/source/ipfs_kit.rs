//! Imports the filesystem journals of ipfs_kit_py, the Python system Pindex replaces.
//!
//! ipfs_kit_py writes `journal_<epoch>_<hex>.json` files, each a JSON array of entries rewritten whole
//! (write to a temporary file, then rename):
//!
//! ```json
//! [{"entry_id": "9b1c…", "timestamp": 1732530000.25, "operation_type": "write", "path": "/data/a.bin",
//!   "data": {"cid": "Qm…", "size": 5}, "metadata": {}, "status": "completed", "transaction_id": null}]
//! ```
//!
//! Only `completed` entries become events (a `pending` one is picked up by a later import once it
//! completes); `checkpoint` and `dataset` entries are not filesystem changes and are skipped. A `mount`
//! puts `data.cid` at `path` (the mount point); a `write` gives `path` the new `data.cid`; a `rename` moves
//! `path` to `data.new_path`. An entry's mount point is `data.mount_point` when given, else the longest
//! mount point seen so far that holds the path, else the configured default (`/`).
//!
//! Exactly once: the checkpoint of each journal file lists the entry ids consumed. A chunk's batch id is
//! `ipfs-kit:<file name>:<hash of its entry ids>`; its ids are saved as the intent before it is applied,
//! and added to the consumed set after.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use pin_core::{Cid, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::checkpoint::CheckpointStore;
use super::{Chunk, EventSource, blocking};
use crate::error::{Error, Result};
use crate::event::{Problem, SourcePos, VfsEvent, VfsOp, is_under, normalize_path};

/// Size and modification time of a journal file, to notice a rewrite.
type Stamp = (u64, Option<SystemTime>);

/// How an [`IpfsKitSource`] reads.
#[derive(Debug, Clone)]
pub struct IpfsKitOptions {
    /// Keep watching the inputs for new and rewritten journal files, until stopped.
    pub follow: bool,
    /// How often followed inputs are checked.
    pub poll: Duration,
    /// Most entries in one chunk.
    pub max_events: usize,
    /// The mount point of entries that name none and lie under no mount seen.
    pub default_mount: String,
}

impl Default for IpfsKitOptions {
    fn default() -> Self {
        Self {
            follow: false,
            poll: Duration::from_millis(500),
            max_events: 8192,
            default_mount: "/".to_owned(),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct KitCheckpoint {
    consumed: BTreeSet<String>,
    pending: Option<KitPending>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct KitPending {
    batch_id: String,
    entry_ids: Vec<String>,
}

/// One entry of a journal file, converted (or refused) and placed.
#[derive(Debug)]
struct Entry {
    id: String,
    /// `None` for entries that are consumed without an event (checkpoint, dataset, bad input).
    event: Option<VfsEvent>,
    problem: Option<Problem>,
    completed: bool,
}

#[derive(Debug)]
struct Current {
    path: PathBuf,
    key: String,
    name: String,
    cp: KitCheckpoint,
    entries: Vec<Entry>,
    in_flight: Option<KitPending>,
}

/// Imports ipfs_kit_py journal files (and directories of them), exactly once, optionally following them.
#[derive(Debug)]
pub struct IpfsKitSource {
    inputs: Vec<PathBuf>,
    options: IpfsKitOptions,
    checkpoints: Arc<dyn CheckpointStore>,
    queue: VecDeque<PathBuf>,
    seen: HashMap<PathBuf, Stamp>,
    mounts: BTreeSet<String>,
    current: Option<Current>,
    scanned: bool,
}

impl IpfsKitSource {
    /// A source over `inputs`: journal files, or directories whose `journal_*.json` files are read in name
    /// (that is, time) order.
    pub fn new(inputs: Vec<PathBuf>, checkpoints: Arc<dyn CheckpointStore>, options: IpfsKitOptions) -> Self {
        Self {
            inputs,
            options,
            checkpoints,
            queue: VecDeque::new(),
            seen: HashMap::new(),
            mounts: BTreeSet::new(),
            current: None,
            scanned: false,
        }
    }

    /// Queues every input file that is new or changed since it was last read. In follow mode a file that
    /// vanishes meanwhile (ipfs_kit rotates and cleans up its journals) is skipped, not an error.
    async fn scan(&mut self) -> Result<()> {
        let (inputs, follow) = (self.inputs.clone(), self.options.follow);
        let files = blocking(move || -> Result<Vec<(PathBuf, Stamp)>> {
            let mut files = Vec::new();
            for input in &inputs {
                if input.is_dir() {
                    let rd = match std::fs::read_dir(input) {
                        Ok(rd) => rd,
                        Err(e) if follow && e.kind() == std::io::ErrorKind::NotFound => continue,
                        Err(e) => return Err(Error::io(input, e)),
                    };
                    for entry in rd {
                        let entry = entry.map_err(|e| Error::io(input, e))?;
                        if is_ipfs_kit_journal(Path::new(&entry.file_name())) {
                            files.push(entry.path());
                        }
                    }
                } else if input.exists() || !follow {
                    files.push(input.clone());
                }
            }
            files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
            let mut out = Vec::with_capacity(files.len());
            for f in files {
                match std::fs::metadata(&f) {
                    Ok(meta) => out.push((f, (meta.len(), meta.modified().ok()))),
                    Err(e) if follow && e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(Error::io(&f, e)),
                }
            }
            Ok(out)
        })
        .await??;
        for (f, stamp) in files {
            if self.seen.get(&f) != Some(&stamp) && !self.queue.contains(&f) {
                self.seen.insert(f.clone(), stamp);
                self.queue.push_back(f);
            }
        }
        Ok(())
    }

    /// Reads one journal file and its checkpoint; `None` if, in follow mode, the file is gone.
    async fn load(&mut self, path: PathBuf) -> Result<Option<Current>> {
        let name = path
            .file_name()
            .map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
        let key = format!("ipfs-kit:{name}");
        let cp = match self.checkpoints.load(&key).await? {
            Some(text) => serde_json::from_str(&text).map_err(|e| Error::CorruptCheckpoint {
                key: key.clone(),
                reason: e.to_string(),
            })?,
            None => KitCheckpoint::default(),
        };
        let (file, follow) = (path.clone(), self.options.follow);
        let bytes = match blocking(move || std::fs::read(&file)).await? {
            Ok(bytes) => bytes,
            Err(e) if follow && e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(&path, e)),
        };
        let file: Arc<str> = path.display().to_string().into();
        let entries = self.entries(&bytes, &file);
        Ok(Some(Current {
            path,
            key,
            name,
            cp,
            entries,
            in_flight: None,
        }))
    }

    /// Converts the entries of one file, in order.
    fn entries(&mut self, bytes: &[u8], file: &Arc<str>) -> Vec<Entry> {
        let newlines: Vec<usize> = bytes
            .iter()
            .enumerate()
            .filter(|(_, b)| **b == b'\n')
            .map(|(i, _)| i)
            .collect();
        let pos = |offset: usize| SourcePos {
            file: file.clone(),
            line: newlines.partition_point(|&nl| nl < offset) as u64 + 1,
            offset: offset as u64,
        };
        let (values, error) = split_array(bytes);
        let mut out = Vec::with_capacity(values.len());
        for (value, offset) in values {
            let at = pos(offset);
            let id = value.get("entry_id").and_then(Value::as_str).map(str::to_owned);
            let Some(id) = id.filter(|s| !s.is_empty()) else {
                // Without an id there is nothing to remember it by; it is reported each time and skipped.
                out.push(Entry {
                    id: format!("@{offset}"),
                    event: None,
                    problem: Some(Problem::at(Some(at), "entry without an \"entry_id\"")),
                    completed: true,
                });
                continue;
            };
            let completed = value.get("status").and_then(Value::as_str) == Some("completed");
            let (event, problem) = match self.convert(&value, at.clone()) {
                Ok(event) => (event, None),
                Err(message) => (None, Some(Problem::at(Some(at), format!("entry {id:?}: {message}")))),
            };
            out.push(Entry {
                id,
                event,
                problem,
                completed,
            });
        }
        if let Some((offset, message)) = error {
            out.push(Entry {
                id: format!("@{offset}"),
                event: None,
                problem: Some(Problem::at(Some(pos(offset)), message)),
                completed: true,
            });
        }
        out
    }

    /// One entry as a VFS event; `None` for entries that are not filesystem changes.
    fn convert(&mut self, v: &Value, pos: SourcePos) -> Result<Option<VfsEvent>, String> {
        let op = v
            .get("operation_type")
            .and_then(Value::as_str)
            .ok_or("missing \"operation_type\"")?;
        let path = v.get("path").and_then(Value::as_str).ok_or("missing \"path\"")?;
        let data = v.get("data").cloned().unwrap_or(Value::Null);
        let secs = v
            .get("timestamp")
            .and_then(Value::as_f64)
            .ok_or("missing \"timestamp\"")?;
        let ts = Timestamp((secs * 1000.0).round() as i64);
        let text = |k: &str| data.get(k).and_then(Value::as_str);
        let number = |k: &str| data.get(k).and_then(Value::as_u64);
        let op = match op {
            "create" => VfsOp::Create,
            "write" => VfsOp::Write {
                offset: number("offset"),
                length: number("length").or_else(|| number("size")),
            },
            "truncate" => VfsOp::Truncate,
            "delete" => VfsOp::Delete,
            "rename" => VfsOp::Rename {
                to: text("new_path").ok_or("a rename without \"data.new_path\"")?.to_owned(),
            },
            "mount" => VfsOp::Mount,
            "unmount" => VfsOp::Unmount,
            "metadata" => {
                let mut attrs = std::collections::BTreeMap::new();
                for source in [v.get("metadata"), v.get("data")] {
                    if let Some(Value::Object(map)) = source {
                        for (k, val) in map {
                            let s = match val {
                                Value::String(s) => s.clone(),
                                Value::Null => continue,
                                other => other.to_string(),
                            };
                            attrs.insert(k.clone(), s);
                        }
                    }
                }
                VfsOp::Metadata { attrs }
            }
            "checkpoint" | "dataset" => return Ok(None),
            other => return Err(format!("unknown operation_type {other:?}")),
        };
        let cid = match text("cid") {
            Some(c) => Some(Cid::parse(c).map_err(|e| e.to_string())?),
            None => None,
        };
        let normalized = normalize_path(path).map_err(|e| format!("path {e}"))?;
        let mount = match (&op, text("mount_point")) {
            (VfsOp::Mount | VfsOp::Unmount, _) => normalized.clone(),
            (_, Some(m)) => m.to_owned(),
            (_, None) => self
                .mounts
                .iter()
                .filter(|m| is_under(&normalized, m))
                .max_by_key(|m| m.len())
                .cloned()
                .unwrap_or_else(|| self.options.default_mount.clone()),
        };
        match op {
            VfsOp::Mount => {
                self.mounts.insert(normalized.clone());
            }
            VfsOp::Unmount => {
                self.mounts.remove(&normalized);
            }
            _ => {}
        }
        Ok(Some(VfsEvent {
            op,
            path: path.to_owned(),
            mount,
            cid,
            size: number("size"),
            ts,
            latency_us: None,
            ok: true,
            is_dir: data.get("is_directory").and_then(Value::as_bool).unwrap_or(false),
            pos: Some(pos),
        }))
    }
}

/// A JSON value and the byte offset it starts at.
type Located = (Value, usize);
/// The byte offset of a syntax error and what it is.
type SyntaxError = (usize, String);

/// The elements of a JSON array with the byte offset of each; on a syntax error, the elements before it
/// and the offset and message of the error.
fn split_array(bytes: &[u8]) -> (Vec<Located>, Option<SyntaxError>) {
    let skip_ws = |mut i: usize| {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        i
    };
    let mut out = Vec::new();
    let mut i = skip_ws(0);
    if bytes.get(i) != Some(&b'[') {
        return (out, Some((i, "not a JSON array of journal entries".to_owned())));
    }
    i = skip_ws(i + 1);
    if bytes.get(i) == Some(&b']') {
        return (out, None);
    }
    loop {
        let mut stream = serde_json::Deserializer::from_slice(&bytes[i..]).into_iter::<Value>();
        match stream.next() {
            Some(Ok(v)) => {
                out.push((v, i));
                i = skip_ws(i + stream.byte_offset());
            }
            Some(Err(e)) => return (out, Some((i, format!("invalid entry: {e}")))),
            None => return (out, Some((i, "the array is not closed".to_owned()))),
        }
        match bytes.get(i) {
            Some(b',') => i = skip_ws(i + 1),
            Some(b']') => return (out, None),
            _ => return (out, Some((i, "expected ',' or ']' after an entry".to_owned()))),
        }
    }
}

fn batch_id(name: &str, ids: &[String]) -> String {
    let mut h = Sha256::new();
    for id in ids {
        h.update(id.as_bytes());
        h.update(b"\n");
    }
    format!("ipfs-kit:{name}:{}", crate::hex16(&h.finalize()))
}

impl IpfsKitSource {
    async fn save(&self, cur: &Current) -> Result<()> {
        let text = serde_json::to_string(&cur.cp).unwrap_or_default();
        self.checkpoints.save(&cur.key, &text).await
    }

    /// The next chunk of the current file, or `None` when it has nothing left.
    fn cut(cur: &Current, max: usize, only: Option<&[String]>) -> Option<(Chunk, Vec<String>)> {
        let mut chunk = Chunk::default();
        let mut ids = Vec::new();
        let wanted: Option<BTreeSet<&str>> = only.map(|ids| ids.iter().map(String::as_str).collect());
        for e in &cur.entries {
            if let Some(w) = &wanted {
                if !w.contains(e.id.as_str()) {
                    continue;
                }
            } else if cur.cp.consumed.contains(&e.id) || !e.completed {
                continue;
            }
            if ids.len() >= max {
                break;
            }
            ids.push(e.id.clone());
            chunk.events.extend(e.event.clone());
            chunk.problems.extend(e.problem.clone());
        }
        (!ids.is_empty()).then_some((chunk, ids))
    }
}

#[async_trait]
impl EventSource for IpfsKitSource {
    async fn next_chunk(&mut self) -> Result<Option<Chunk>> {
        loop {
            if self.current.is_none() {
                if !self.scanned {
                    self.scan().await?;
                    self.scanned = true;
                }
                match self.queue.front().cloned() {
                    Some(path) => {
                        // Popped only once loaded, so a dropped future does not lose the file.
                        let cur = self.load(path).await?;
                        self.queue.pop_front();
                        self.current = cur;
                        continue;
                    }
                    None if self.options.follow => {
                        tokio::time::sleep(self.options.poll).await;
                        self.scan().await?;
                        continue;
                    }
                    None => return Ok(None),
                }
            }
            let Some(cur) = self.current.as_mut() else { continue };
            if let Some(p) = cur.cp.pending.clone() {
                let (chunk, _) = Self::cut(cur, usize::MAX, Some(&p.entry_ids)).unwrap_or_default();
                cur.in_flight = Some(p.clone());
                return Ok(Some(Chunk {
                    batch_id: Some(p.batch_id),
                    ..chunk
                }));
            }
            match Self::cut(cur, self.options.max_events.max(1), None) {
                Some((mut chunk, ids)) => {
                    let pending = KitPending {
                        batch_id: batch_id(&cur.name, &ids),
                        entry_ids: ids,
                    };
                    chunk.batch_id = Some(pending.batch_id.clone());
                    cur.cp.pending = Some(pending.clone());
                    cur.in_flight = Some(pending);
                    let saved = match self.current.as_ref() {
                        Some(cur) => self.save(cur).await,
                        None => Ok(()),
                    };
                    // The intent must be durable before the chunk is handed out; if it is not, forget it.
                    if let Err(e) = saved {
                        if let Some(cur) = self.current.as_mut() {
                            cur.cp.pending = None;
                            cur.in_flight = None;
                        }
                        return Err(e);
                    }
                    return Ok(Some(chunk));
                }
                None => {
                    tracing::debug!(file = %cur.path.display(), "journal file imported");
                    self.current = None;
                }
            }
        }
    }

    async fn ack(&mut self) -> Result<()> {
        let Some(cur) = self.current.as_mut() else {
            return Ok(());
        };
        let Some(p) = cur.in_flight.take() else {
            return Ok(());
        };
        cur.cp.consumed.extend(p.entry_ids);
        cur.cp.pending = None;
        if let Some(cur) = self.current.as_ref() {
            self.save(cur).await?;
        }
        Ok(())
    }
}

/// Whether `path` is named like an ipfs_kit journal file.
pub fn is_ipfs_kit_journal(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with("journal_") && n.ends_with(".json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrays_split_with_offsets() {
        let text = b"[\n  {\"a\": 1},\n  {\"b\": [1,2]}\n]";
        let (values, err) = split_array(text);
        assert!(err.is_none());
        assert_eq!(values.len(), 2);
        assert_eq!(values[1].1, 16);
        let (values, err) = split_array(b"[{\"a\":1}, {\"b\": ]");
        assert_eq!(values.len(), 1);
        assert!(err.unwrap().1.contains("invalid entry"));
    }
}
