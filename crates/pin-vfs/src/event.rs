//! VFS events: what a source reports, before it becomes pin-core events.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use pin_core::{Cid, Timestamp, VfsOperation};

/// One operation on the virtual filesystem.
#[derive(Debug, Clone, PartialEq)]
pub struct VfsEvent {
    /// What happened.
    pub op: VfsOp,
    /// The path it happened to: absolute, under `mount` (for a mount or unmount, the mount point itself).
    pub path: String,
    /// The mount point the path lives under (an absolute VFS path; `/` holds everything).
    pub mount: String,
    /// The content at `path` after the operation, where the source knows it.
    pub cid: Option<Cid>,
    /// The size of the file after the operation, where known.
    pub size: Option<u64>,
    /// When it happened.
    pub ts: Timestamp,
    /// How long the operation took, in microseconds, where known.
    pub latency_us: Option<u64>,
    /// Whether the operation succeeded. Failed operations are counted, not applied.
    pub ok: bool,
    /// Whether `path` is a directory.
    pub is_dir: bool,
    /// Where the source read it (journal file and line), for idempotency and error messages.
    pub pos: Option<SourcePos>,
}

/// The kinds of VFS operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VfsOp {
    /// A file or directory appeared.
    Create,
    /// Bytes were written (`cid`, when set, is the file's new content).
    Write { offset: Option<u64>, length: Option<u64> },
    /// Bytes were read; no offset and no length means the whole file.
    Read { offset: Option<u64>, length: Option<u64> },
    /// The file was cut (or extended) to `size`.
    Truncate,
    /// The file or directory (with everything below it) went away.
    Delete,
    /// The file or directory moved to `to` (an absolute path; under another known mount point for a move
    /// across mounts).
    Rename { to: String },
    /// A mount point appeared (`cid`, when set, is the content mounted there).
    Mount,
    /// A mount point went away, with every path below it.
    Unmount,
    /// Attributes changed; they are merged into the pin's metadata.
    Metadata { attrs: BTreeMap<String, String> },
}

/// The kind of an operation without its fields, for statistics and the journal format.
pub use pin_core::VfsOpKind as OpKind;

impl VfsOp {
    /// The kind of the operation.
    pub fn kind(&self) -> OpKind {
        match self {
            Self::Create => OpKind::Create,
            Self::Write { .. } => OpKind::Write,
            Self::Read { .. } => OpKind::Read,
            Self::Truncate => OpKind::Truncate,
            Self::Delete => OpKind::Delete,
            Self::Rename { .. } => OpKind::Rename,
            Self::Mount => OpKind::Mount,
            Self::Unmount => OpKind::Unmount,
            Self::Metadata { .. } => OpKind::Metadata,
        }
    }
}

impl VfsEvent {
    /// The operation as the store logs it (`vfs_events`).
    pub fn into_operation(self) -> VfsOperation {
        let (offset, length) = match &self.op {
            VfsOp::Read { offset, length } | VfsOp::Write { offset, length } => (*offset, *length),
            _ => (None, None),
        };
        VfsOperation {
            op: self.op.kind(),
            new_path: match self.op {
                VfsOp::Rename { to } => Some(to),
                _ => None,
            },
            mount: self.mount,
            path: self.path,
            cid: self.cid,
            offset,
            length,
            size: self.size,
            ok: self.ok,
            latency_us: self.latency_us,
        }
    }

    /// A successful event of `op` at `path` under `mount`, with nothing else known.
    pub fn new(op: VfsOp, mount: impl Into<String>, path: impl Into<String>, ts: Timestamp) -> Self {
        Self {
            op,
            path: path.into(),
            mount: mount.into(),
            cid: None,
            size: None,
            ts,
            latency_us: None,
            ok: true,
            is_dir: false,
            pos: None,
        }
    }

    /// Sets the CID.
    pub fn with_cid(mut self, cid: Cid) -> Self {
        self.cid = Some(cid);
        self
    }

    /// Sets the size.
    pub fn with_size(mut self, size: u64) -> Self {
        self.size = Some(size);
        self
    }

    /// Normalizes the mount point and the paths (see [`normalize_path`]) and checks that `path` lies under
    /// the mount point (a rename target may lie under another mount: a move across mounts). The error says
    /// what is wrong, quoting the input.
    pub fn normalize(&mut self) -> Result<(), String> {
        self.mount = normalize_path(&self.mount).map_err(|e| format!("mount point {e}"))?;
        self.path = normalize_path(&self.path).map_err(|e| format!("path {e}"))?;
        if !is_under(&self.path, &self.mount) {
            return Err(format!(
                "path {:?} is outside the mount point {:?}",
                self.path, self.mount
            ));
        }
        if let VfsOp::Rename { to } = &mut self.op {
            // A target outside the mount is a move to another mount; the adapter resolves which.
            *to = normalize_path(to).map_err(|e| format!("rename target {e}"))?;
        }
        Ok(())
    }
}

/// An absolute path with single slashes and no trailing slash (except `/` itself); `.` components are
/// dropped and `..` is refused, so a path cannot climb out of its mount.
pub fn normalize_path(input: &str) -> Result<String, String> {
    if !input.starts_with('/') {
        return Err(format!("{input:?} is not absolute"));
    }
    if input.contains('\0') {
        return Err(format!("{input:?} contains a NUL byte"));
    }
    let mut out = String::with_capacity(input.len());
    for part in input.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(format!("{input:?} contains \"..\"")),
            p => {
                out.push('/');
                out.push_str(p);
            }
        }
    }
    if out.is_empty() {
        out.push('/');
    }
    Ok(out)
}

/// Whether normalized `path` is `dir` or below it.
pub fn is_under(path: &str, dir: &str) -> bool {
    dir == "/" || path == dir || (path.starts_with(dir) && path.as_bytes().get(dir.len()) == Some(&b'/'))
}

/// Where a source read an event.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SourcePos {
    /// The file (or another name for the source, such as a channel's).
    pub file: Arc<str>,
    /// 1-based line number, 0 where the source has no lines.
    pub line: u64,
    /// Byte offset of the start of the record in the file.
    pub offset: u64,
}

impl fmt::Display for SourcePos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(f, "{}:{}", self.file, self.line)
        } else {
            write!(f, "{}@{}", self.file, self.offset)
        }
    }
}

/// A piece of bad input that was skipped: where, and what was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where, when known.
    pub pos: Option<SourcePos>,
    /// What was wrong, quoting the input.
    pub message: String,
}

impl Problem {
    /// A problem at `pos`.
    pub fn at(pos: Option<SourcePos>, message: impl Into<String>) -> Self {
        Self {
            pos,
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.pos {
            Some(pos) => write!(f, "{pos}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_normalize_and_never_climb() {
        assert_eq!(normalize_path("/a//b/./c/").unwrap(), "/a/b/c");
        assert_eq!(normalize_path("/").unwrap(), "/");
        assert!(normalize_path("a/b").unwrap_err().contains("not absolute"));
        assert!(normalize_path("/a/../../etc").unwrap_err().contains(".."));
        assert!(is_under("/m/x", "/m"));
        assert!(is_under("/m", "/m"));
        assert!(!is_under("/mx", "/m"));
        assert!(is_under("/anything", "/"));
    }

    #[test]
    fn a_path_outside_its_mount_is_named() {
        let mut e = VfsEvent::new(VfsOp::Create, "/mnt/a", "/mnt/b/x", Timestamp(0));
        let err = e.normalize().unwrap_err();
        assert!(err.contains("\"/mnt/b/x\"") && err.contains("\"/mnt/a\""), "{err}");
    }
}
