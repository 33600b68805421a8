//! Pindex's NDJSON VFS journal: the format, a writer, and a source that replays it exactly once.
//!
//! The format is documented in `docs/formats.md`. In short: one JSON object per line, each ending with
//! `\n`; an optional first line `{"pindex_vfs_journal":1,"journal_id":"…"}` names the journal; every other
//! line is an operation such as
//! `{"ts":1732530000000,"op":"write","mount":"/data","path":"/data/a.bin","cid":"Qm…","size":5,"offset":0,"length":5}`.
//!
//! # Exactly once
//!
//! A chunk is a run of whole lines `[start, end)`. Its batch id is
//! `vfs:<journal id>:<start>-<end>:<sha-256 of the bytes, 16 hex digits>`, so the store recognises a chunk
//! it applied before, and a different journal can never be mistaken for this one. Before a chunk is handed
//! out, its range and id are saved in the checkpoint (the intent); after it is applied, the new offset.
//! After a crash the intent is replayed first, byte for byte the same chunk with the same id: the store
//! either applies it (it never got there) or answers `Duplicate`. Replaying a finished journal again
//! resumes at its end; replaying it from scratch (a lost checkpoint) cuts the same chunks and gets
//! `Duplicate` for each.
//!
//! A last line without its `\n` is torn (still being written): it is never parsed, only waited for (in
//! follow mode) or left for the next replay.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pin_core::{Cid, Timestamp};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::checkpoint::CheckpointStore;
use super::{Chunk, EventSource, blocking};
use crate::error::{Error, Result};
use crate::event::{OpKind, Problem, SourcePos, VfsEvent, VfsOp};

/// The version written in a journal's header line.
pub const JOURNAL_FORMAT: u32 = 1;

/// One line of the journal, as written and read.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Line {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pindex_vfs_journal: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    journal_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ts: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    op: Option<OpKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    mount: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    to: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    offset: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    length: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    latency_us: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ok: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    dir: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    attrs: Option<BTreeMap<String, serde_json::Value>>,
}

/// What one journal line holds.
#[derive(Debug, Clone, PartialEq)]
pub enum JournalLine {
    /// The header, naming the journal.
    Header { journal_id: String },
    /// An operation.
    Event(Box<VfsEvent>),
    /// An empty line (ignored).
    Blank,
}

/// Parses one line (without its `\n`). The error says what is wrong, quoting the input.
pub fn parse_line(bytes: &[u8]) -> Result<JournalLine, String> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(JournalLine::Blank);
    }
    let line: Line = serde_json::from_slice(bytes).map_err(|e| format!("not a journal line: {e}"))?;
    if let Some(version) = line.pindex_vfs_journal {
        if version != JOURNAL_FORMAT {
            return Err(format!(
                "journal format {version} is not supported (only {JOURNAL_FORMAT})"
            ));
        }
        let journal_id = line.journal_id.filter(|id| !id.is_empty() && id.len() <= 200);
        return journal_id
            .map(|journal_id| JournalLine::Header { journal_id })
            .ok_or_else(|| "header without a journal_id of 1 to 200 bytes".to_owned());
    }
    let op = line.op.ok_or("missing \"op\"")?;
    let ts = line.ts.ok_or("missing \"ts\" (milliseconds since the epoch)")?;
    let path = line.path.ok_or("missing \"path\"")?;
    let op = match op {
        OpKind::Create => VfsOp::Create,
        OpKind::Write => VfsOp::Write {
            offset: line.offset,
            length: line.length,
        },
        OpKind::Read => VfsOp::Read {
            offset: line.offset,
            length: line.length,
        },
        OpKind::Truncate => VfsOp::Truncate,
        OpKind::Delete => VfsOp::Delete,
        OpKind::Rename => VfsOp::Rename {
            to: line.to.ok_or("a rename without \"to\"")?,
        },
        OpKind::Mount => VfsOp::Mount,
        OpKind::Unmount => VfsOp::Unmount,
        OpKind::Metadata => VfsOp::Metadata {
            attrs: line
                .attrs
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| match v {
                    serde_json::Value::String(s) => (k, s),
                    other => (k, other.to_string()),
                })
                .collect(),
        },
    };
    let cid = match line.cid {
        Some(c) => Some(Cid::parse(&c).map_err(|e| e.to_string())?),
        None => None,
    };
    let mount = line.mount.unwrap_or_else(|| "/".to_owned());
    let path = if matches!(op, VfsOp::Mount | VfsOp::Unmount) && path.is_empty() {
        mount.clone()
    } else {
        path
    };
    Ok(JournalLine::Event(Box::new(VfsEvent {
        op,
        path,
        mount,
        cid,
        size: line.size,
        ts: Timestamp(ts),
        latency_us: line.latency_us,
        ok: line.ok.unwrap_or(true),
        is_dir: line.dir.unwrap_or(false),
        pos: None,
    })))
}

/// The journal line of `event` (without the `\n`).
pub fn format_line(event: &VfsEvent) -> String {
    let (offset, length, to, attrs) = match &event.op {
        VfsOp::Write { offset, length } | VfsOp::Read { offset, length } => (*offset, *length, None, None),
        VfsOp::Rename { to } => (None, None, Some(to.clone()), None),
        VfsOp::Metadata { attrs } => (
            None,
            None,
            None,
            Some(
                attrs
                    .iter()
                    .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                    .collect(),
            ),
        ),
        _ => (None, None, None, None),
    };
    let line = Line {
        ts: Some(event.ts.0),
        op: Some(event.op.kind()),
        mount: Some(event.mount.clone()),
        path: Some(event.path.clone()),
        to,
        cid: event.cid.as_ref().map(|c| c.as_str().to_owned()),
        size: event.size,
        offset,
        length,
        latency_us: event.latency_us,
        ok: (!event.ok).then_some(false),
        dir: event.is_dir.then_some(true),
        attrs,
        ..Line::default()
    };
    // Serializing a struct of strings, numbers and string maps cannot fail.
    serde_json::to_string(&line).unwrap_or_default()
}

/// Appends operations to a journal, one line each, for programs that record their own VFS operations.
#[derive(Debug)]
pub struct JournalWriter {
    path: PathBuf,
    file: File,
}

impl JournalWriter {
    /// Opens `path` for appending; a new or empty file gets a header naming it `journal_id`.
    ///
    /// A journal whose last line is torn (a writer died in the middle of it) first gets the `\n` that line
    /// lacks: the torn line is then reported as bad input, instead of swallowing the next, valid, line.
    pub fn open(path: impl Into<PathBuf>, journal_id: &str) -> Result<Self> {
        let path = path.into();
        let io = |e| Error::io(&path, e);
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&path)
            .map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        if len == 0 {
            let header = serde_json::json!({ "pindex_vfs_journal": JOURNAL_FORMAT, "journal_id": journal_id });
            writeln!(file, "{header}").map_err(io)?;
        } else {
            let mut last = [0u8];
            read_exact_at(&file, &mut last, len - 1).map_err(io)?;
            if last[0] != b'\n' {
                file.write_all(b"\n").map_err(io)?;
            }
        }
        Ok(Self { path, file })
    }

    /// Appends one operation.
    pub fn append(&mut self, event: &VfsEvent) -> Result<()> {
        let mut line = format_line(event);
        line.push('\n');
        self.file
            .write_all(line.as_bytes())
            .map_err(|e| Error::io(&self.path, e))
    }

    /// Makes everything appended durable.
    pub fn sync(&mut self) -> Result<()> {
        self.file.sync_data().map_err(|e| Error::io(&self.path, e))
    }
}

/// How a [`JournalSource`] reads.
#[derive(Debug, Clone)]
pub struct JournalOptions {
    /// Keep reading as the journal grows, until stopped.
    pub follow: bool,
    /// How often a followed journal is checked for new lines.
    pub poll: Duration,
    /// Most events in one chunk (one store batch).
    pub max_events: usize,
}

impl Default for JournalOptions {
    fn default() -> Self {
        Self {
            follow: false,
            poll: Duration::from_millis(100),
            max_events: 8192,
        }
    }
}

/// The range of the chunk in flight, saved before it is applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Pending {
    start: u64,
    end: u64,
    start_line: u64,
    end_line: u64,
    batch_id: String,
    /// Length and hash of the chunk's last line, the tail check after the chunk is acknowledged.
    tail_len: u64,
    tail_sha: String,
}

/// What the checkpoint of one journal records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct JournalCheckpoint {
    journal_id: String,
    /// Bytes consumed.
    offset: u64,
    /// Lines consumed.
    line: u64,
    /// Length and hash of the last consumed line, checked on resume so a rewritten journal is noticed.
    tail_len: u64,
    tail_sha: String,
    pending: Option<Pending>,
}

#[derive(Debug)]
struct Open {
    /// Shared with the blocking reads; they read at explicit offsets, never through a shared cursor.
    file: Arc<File>,
    journal_id: Arc<str>,
    key: String,
    cp: JournalCheckpoint,
}

/// Replays a Pindex NDJSON journal from its checkpoint, exactly once, optionally following it.
///
/// The journal is opened once: a followed journal that is renamed away (rotated) is read to its end through
/// the open handle, and the new file at its path is a new journal, to be replayed by a new source.
#[derive(Debug)]
pub struct JournalSource {
    path: PathBuf,
    name: Arc<str>,
    options: JournalOptions,
    checkpoints: Arc<dyn CheckpointStore>,
    open: Option<Open>,
    torn_reported: Option<u64>,
}

impl JournalSource {
    /// A source over the journal at `path`, remembering its progress in `checkpoints`.
    pub fn new(path: impl Into<PathBuf>, checkpoints: Arc<dyn CheckpointStore>, options: JournalOptions) -> Self {
        let path = path.into();
        Self {
            name: path.display().to_string().into(),
            path,
            options,
            checkpoints,
            open: None,
            torn_reported: None,
        }
    }

    /// The journal's id (from its header, or derived from its first line), once it was read.
    pub fn journal_id(&self) -> Option<&str> {
        self.open.as_ref().map(|o| &*o.journal_id)
    }

    /// Bytes of the journal consumed so far.
    pub fn offset(&self) -> u64 {
        self.open.as_ref().map_or(0, |o| o.cp.offset)
    }

    /// Opens the journal once its first line is complete; `false` while it is not.
    async fn try_open(&mut self) -> Result<bool> {
        if self.open.is_some() {
            return Ok(true);
        }
        let (path, follow) = (self.path.clone(), self.options.follow);
        let opened = blocking(move || -> Result<Option<(File, Vec<u8>)>> {
            let mut file = match File::open(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && follow => return Ok(None),
                Err(e) => return Err(Error::io(&path, e)),
            };
            let first = read_first_line(&mut file).map_err(|e| Error::io(&path, e))?;
            Ok(first.map(|first| (file, first)))
        })
        .await??;
        let Some((file, first)) = opened else {
            return Ok(false);
        };
        let journal_id = match parse_line(&first[..first.len() - 1]) {
            Ok(JournalLine::Header { journal_id }) => journal_id,
            _ => format!("sha256-{}", crate::hex16(&Sha256::digest(&first))),
        };
        let key = format!("pindex-journal:{journal_id}");
        let corrupt = |reason: String| Error::CorruptCheckpoint {
            key: key.clone(),
            reason,
        };
        let cp = match self.checkpoints.load(&key).await? {
            Some(text) => {
                let cp = serde_json::from_str::<JournalCheckpoint>(&text).map_err(|e| corrupt(e.to_string()))?;
                if cp.tail_len > cp.offset || cp.pending.as_ref().is_some_and(|p| p.start > p.end) {
                    return Err(corrupt(format!("offsets out of order: {text}")));
                }
                cp
            }
            None => JournalCheckpoint {
                journal_id: journal_id.clone(),
                offset: 0,
                line: 0,
                tail_len: 0,
                tail_sha: String::new(),
                pending: None,
            },
        };
        let file = Arc::new(file);
        let (f, path, resume) = (file.clone(), self.path.clone(), cp.clone());
        blocking(move || check_tail(&f, &path, resume.offset, resume.tail_len, &resume.tail_sha)).await??;
        self.open = Some(Open {
            file,
            journal_id: journal_id.into(),
            key,
            cp,
        });
        Ok(true)
    }

    async fn save(&self) -> Result<()> {
        if let Some(o) = &self.open {
            let text = serde_json::to_string(&o.cp).unwrap_or_default();
            self.checkpoints.save(&o.key, &text).await?;
        }
        Ok(())
    }

    /// Reads and cuts a chunk on a blocking thread (see [`cut_chunk`]).
    async fn read_chunk(&self, start: u64, start_line: u64, end: Option<u64>) -> Result<Option<(Chunk, Pending)>> {
        let Some(open) = self.open.as_ref() else {
            return Ok(None);
        };
        let cut = Cut {
            file: open.file.clone(),
            path: self.path.clone(),
            name: self.name.clone(),
            journal_id: open.journal_id.clone(),
            max_events: self.options.max_events.max(1),
        };
        blocking(move || cut.chunk(start, start_line, end)).await?
    }
}

/// Refuses to resume when the bytes before the checkpoint are not what was consumed.
fn check_tail(file: &File, path: &Path, offset: u64, tail_len: u64, tail_sha: &str) -> Result<()> {
    if offset == 0 {
        return Ok(());
    }
    let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    let changed = |reason: String| Error::JournalChanged {
        path: path.to_path_buf(),
        reason,
    };
    if len < offset {
        return Err(changed(format!(
            "the journal is {len} bytes but {offset} were already replayed: it was truncated or replaced"
        )));
    }
    let mut tail = vec![0; usize::try_from(tail_len).unwrap_or(0)];
    read_exact_at(file, &mut tail, offset.saturating_sub(tail_len)).map_err(|e| Error::io(path, e))?;
    if crate::hex16(&Sha256::digest(&tail)) != tail_sha {
        return Err(changed(format!(
            "the line ending at byte {offset} differs from the one replayed: the journal was rewritten"
        )));
    }
    Ok(())
}

/// Reads `buf.len()` bytes at `offset`, without moving a cursor another read could share.
fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
    }
    #[cfg(not(unix))]
    {
        let mut f = file;
        f.seek(SeekFrom::Start(offset))?;
        f.read_exact(buf)
    }
}

/// What a blocking read needs to cut a chunk.
struct Cut {
    file: Arc<File>,
    path: PathBuf,
    name: Arc<str>,
    journal_id: Arc<str>,
    max_events: usize,
}

impl Cut {
    /// Reads the whole lines in `[start, end)` (or as many as fit `max_events` from `start`, when `end` is
    /// `None`) and builds the chunk. `None` when no whole line is there yet.
    fn chunk(&self, start: u64, start_line: u64, end: Option<u64>) -> Result<Option<(Chunk, Pending)>> {
        let io = |e| Error::io(&self.path, e);
        let changed = |reason: String| Error::JournalChanged {
            path: self.path.clone(),
            reason,
        };
        let file_len = self.file.metadata().map_err(io)?.len();
        let needed = end.unwrap_or(start);
        if file_len < needed {
            return Err(changed(format!(
                "the journal shrank to {file_len} bytes, below the replayed offset {needed}"
            )));
        }
        // Read a window big enough for a chunk; a line longer than the window doubles it.
        let available = file_len - start;
        let mut want = match end {
            Some(end) => end - start,
            None => available.min(4 << 20),
        };
        let buf = loop {
            let mut buf = vec![0; usize::try_from(want).unwrap_or(usize::MAX)];
            read_exact_at(&self.file, &mut buf, start).map_err(io)?;
            if end.is_some() || want == available || buf.contains(&b'\n') {
                break buf;
            }
            want = available.min(want.saturating_mul(2));
        };
        if end.is_some() && buf.last() != Some(&b'\n') {
            return Err(changed(format!(
                "the chunk at bytes {start}..{} no longer ends a line",
                start + want
            )));
        }
        let mut chunk = Chunk::default();
        let mut at = 0usize;
        let mut line_no = start_line;
        let mut tail = (0usize, 0usize);
        while let Some(nl) = buf[at..].iter().position(|&b| b == b'\n') {
            if end.is_none() && chunk.events.len() >= self.max_events {
                break;
            }
            let line = &buf[at..at + nl];
            line_no += 1;
            let pos = SourcePos {
                file: self.name.clone(),
                line: line_no,
                offset: start + at as u64,
            };
            match parse_line(line) {
                Ok(JournalLine::Event(mut e)) => {
                    e.pos = Some(pos);
                    chunk.events.push(*e);
                }
                Ok(JournalLine::Header { .. } | JournalLine::Blank) => {}
                Err(message) => chunk.problems.push(Problem::at(Some(pos), message)),
            }
            tail = (at, at + nl + 1);
            at += nl + 1;
        }
        if at == 0 {
            return Ok(None);
        }
        let bytes = &buf[..at];
        let chunk_end = start + at as u64;
        let batch_id = format!(
            "vfs:{}:{start}-{chunk_end}:{}",
            self.journal_id,
            crate::hex16(&Sha256::digest(bytes))
        );
        chunk.batch_id = Some(batch_id.clone());
        let pending = Pending {
            start,
            end: chunk_end,
            start_line,
            end_line: line_no,
            batch_id,
            tail_len: (tail.1 - tail.0) as u64,
            tail_sha: crate::hex16(&Sha256::digest(&buf[tail.0..tail.1])),
        };
        Ok(Some((chunk, pending)))
    }
}

/// The first line of `file` with its `\n`, or `None` while it has none.
fn read_first_line(file: &mut File) -> std::io::Result<Option<Vec<u8>>> {
    file.seek(SeekFrom::Start(0))?;
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(None);
        }
        if let Some(nl) = buf[..n].iter().position(|&b| b == b'\n') {
            out.extend_from_slice(&buf[..=nl]);
            return Ok(Some(out));
        }
        out.extend_from_slice(&buf[..n]);
    }
}

#[async_trait]
impl EventSource for JournalSource {
    async fn next_chunk(&mut self) -> Result<Option<Chunk>> {
        loop {
            if self.try_open().await? {
                let Some(open) = self.open.as_ref() else {
                    return Ok(None);
                };
                // A chunk whose intent was saved but not acknowledged: the very same chunk again, checked
                // byte for byte against the id it was given.
                if let Some(p) = open.cp.pending.clone() {
                    let gone = || Error::JournalChanged {
                        path: self.path.clone(),
                        reason: format!("the pending chunk at bytes {}..{} is gone", p.start, p.end),
                    };
                    let (chunk, again) = self
                        .read_chunk(p.start, p.start_line, Some(p.end))
                        .await?
                        .ok_or_else(gone)?;
                    if again.batch_id != p.batch_id {
                        return Err(Error::JournalChanged {
                            path: self.path.clone(),
                            reason: format!(
                                "lines {}..={} (bytes {}..{}) differ from the chunk in flight before the restart \
                                 (batch {}): the journal was rewritten",
                                p.start_line + 1,
                                p.end_line,
                                p.start,
                                p.end,
                                p.batch_id
                            ),
                        });
                    }
                    return Ok(Some(chunk));
                }
                let (offset, line) = (open.cp.offset, open.cp.line);
                if let Some((chunk, pending)) = self.read_chunk(offset, line, None).await? {
                    if let Some(open) = self.open.as_mut() {
                        open.cp.pending = Some(pending);
                    }
                    // The intent must be durable before the chunk is handed out: if it is not, forget it, so
                    // a retry cuts afresh instead of applying a chunk no checkpoint knows of.
                    if let Err(e) = self.save().await {
                        if let Some(open) = self.open.as_mut() {
                            open.cp.pending = None;
                        }
                        return Err(e);
                    }
                    return Ok(Some(chunk));
                }
                self.report_torn(offset, line).await?;
            }
            if !self.options.follow {
                return Ok(None);
            }
            tokio::time::sleep(self.options.poll).await;
        }
    }

    async fn ack(&mut self) -> Result<()> {
        let Some(open) = self.open.as_mut() else {
            return Ok(());
        };
        let Some(p) = open.cp.pending.take() else {
            return Ok(());
        };
        open.cp.offset = p.end;
        open.cp.line = p.end_line;
        open.cp.tail_len = p.tail_len;
        open.cp.tail_sha = p.tail_sha;
        self.save().await
    }
}

impl JournalSource {
    /// Logs (once per offset) that the journal ends in a torn line, in one-shot mode.
    async fn report_torn(&mut self, offset: u64, line: u64) -> Result<()> {
        if self.options.follow || self.torn_reported == Some(offset) {
            return Ok(());
        }
        let Some(open) = self.open.as_ref() else {
            return Ok(());
        };
        let (file, path) = (open.file.clone(), self.path.clone());
        let len = blocking(move || file.metadata().map_err(|e| Error::io(&path, e)))
            .await??
            .len();
        if len > offset {
            self.torn_reported = Some(offset);
            tracing::warn!(
                "{}:{}: the last line has no newline yet; it was not replayed and will be once it is complete",
                self.name,
                line + 1
            );
        }
        Ok(())
    }
}

/// Whether `path` looks like a Pindex journal rather than an ipfs_kit one (by its first bytes).
pub fn looks_like_ndjson(path: &Path) -> bool {
    let mut buf = [0u8; 64];
    let Ok(mut f) = File::open(path) else { return false };
    let n = f.read(&mut buf).unwrap_or(0);
    buf[..n]
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|&b| b == b'{')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip() {
        let cid = Cid::parse("QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH").unwrap();
        let mut attrs = BTreeMap::new();
        attrs.insert("owner".to_owned(), "ana".to_owned());
        for op in [
            VfsOp::Create,
            VfsOp::Write {
                offset: Some(3),
                length: Some(4),
            },
            VfsOp::Read {
                offset: None,
                length: None,
            },
            VfsOp::Truncate,
            VfsOp::Delete,
            VfsOp::Rename { to: "/m/b".into() },
            VfsOp::Mount,
            VfsOp::Unmount,
            VfsOp::Metadata { attrs: attrs.clone() },
        ] {
            let mut e = VfsEvent::new(op, "/m", "/m/a", Timestamp(17)).with_cid(cid.clone());
            e.size = Some(9);
            e.latency_us = Some(12);
            e.ok = false;
            let line = format_line(&e);
            assert_eq!(
                parse_line(line.as_bytes()).unwrap(),
                JournalLine::Event(Box::new(e)),
                "{line}"
            );
        }
    }

    #[test]
    fn bad_lines_say_why() {
        assert!(
            parse_line(b"{\"op\":\"write\"")
                .unwrap_err()
                .contains("not a journal line")
        );
        assert!(
            parse_line(b"{\"op\":\"write\",\"path\":\"/a\"}")
                .unwrap_err()
                .contains("ts")
        );
        assert!(parse_line(b"{\"op\":\"fly\",\"ts\":1,\"path\":\"/a\"}").is_err());
        let err = parse_line(b"{\"op\":\"write\",\"ts\":1,\"path\":\"/a\",\"cid\":\"Qmfoo\"}").unwrap_err();
        assert!(err.contains("\"Qmfoo\""), "{err}");
        assert_eq!(parse_line(b"  ").unwrap(), JournalLine::Blank);
    }
}
