//! Operations of the virtual filesystem in front of IPFS, as events, and their running totals.
//!
//! A [`VfsOperation`] records what a VFS source saw (a create, a read, a failed rename, ...), with its
//! outcome and latency. It never changes a pin: the VFS adapter turns the same source event into pin events
//! (an upsert for new content, an access for a read) where it has that meaning. Stores keep the operations
//! in an append-only log and their totals per minute for the last day ([`MetricsState`](crate::MetricsState)).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::cid::Cid;
use crate::error::{Error, Result};

/// Longest VFS path or mount point accepted, in bytes (Linux's `PATH_MAX`).
pub const MAX_VFS_PATH_BYTES: usize = 4096;

/// The kind of a VFS operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VfsOpKind {
    /// A file or directory appeared.
    Create,
    /// Bytes were written.
    Write,
    /// Bytes were read.
    Read,
    /// A file was cut or extended.
    Truncate,
    /// A file or directory went away.
    Delete,
    /// A file or directory moved.
    Rename,
    /// A mount point appeared.
    Mount,
    /// A mount point went away.
    Unmount,
    /// Metadata changed.
    Metadata,
}

impl VfsOpKind {
    /// Every kind, in declaration order.
    pub const ALL: &'static [VfsOpKind] = &[
        Self::Create,
        Self::Write,
        Self::Read,
        Self::Truncate,
        Self::Delete,
        Self::Rename,
        Self::Mount,
        Self::Unmount,
        Self::Metadata,
    ];

    /// The lower-case name used in journals, tables and reports.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Write => "write",
            Self::Read => "read",
            Self::Truncate => "truncate",
            Self::Delete => "delete",
            Self::Rename => "rename",
            Self::Mount => "mount",
            Self::Unmount => "unmount",
            Self::Metadata => "metadata",
        }
    }
}

impl fmt::Display for VfsOpKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for VfsOpKind {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .iter()
            .copied()
            .find(|k| k.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| Error::InvalidValue {
                field: "VFS operation",
                input: s.to_owned(),
                expected: "create, write, read, truncate, delete, rename, mount, unmount, metadata",
            })
    }
}

/// One VFS operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VfsOperation {
    /// What was done.
    pub op: VfsOpKind,
    /// The mount point the path lives under (absolute; `/` holds everything).
    pub mount: String,
    /// The path it was done to (absolute; for a mount or unmount, the mount point).
    pub path: String,
    /// Where a rename moved the path to.
    pub new_path: Option<String>,
    /// The content at the path after the operation, where known.
    pub cid: Option<Cid>,
    /// Byte offset of a read or write.
    pub offset: Option<u64>,
    /// Bytes read or written.
    pub length: Option<u64>,
    /// Size of the file after the operation, where known.
    pub size: Option<u64>,
    /// Whether it succeeded.
    pub ok: bool,
    /// How long it took, in microseconds, where known.
    pub latency_us: Option<u64>,
}

impl VfsOperation {
    /// A successful operation of `op` on `path` under `mount`, with nothing else known.
    pub fn new(op: VfsOpKind, mount: impl Into<String>, path: impl Into<String>) -> Self {
        Self {
            op,
            mount: mount.into(),
            path: path.into(),
            new_path: None,
            cid: None,
            offset: None,
            length: None,
            size: None,
            ok: true,
            latency_us: None,
        }
    }

    /// Checks the paths: absolute and at most [`MAX_VFS_PATH_BYTES`].
    pub fn validate(&self) -> Result<()> {
        let paths = [
            ("mount", Some(&self.mount)),
            ("vfs_path", Some(&self.path)),
            ("new_path", self.new_path.as_ref()),
        ];
        for (field, p) in paths {
            let Some(p) = p else { continue };
            let reason = if !p.starts_with('/') {
                format!("{p:?} is not absolute")
            } else if p.len() > MAX_VFS_PATH_BYTES {
                format!("{} bytes, at most {MAX_VFS_PATH_BYTES} allowed", p.len())
            } else {
                continue;
            };
            return Err(Error::Invalid {
                field,
                cid: self.cid.as_ref().map_or_else(|| self.path.clone(), ToString::to_string),
                reason,
            });
        }
        Ok(())
    }
}

/// Counts of one kind of VFS operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct OpCounter {
    /// Operations seen.
    pub count: u64,
    /// Of which failed.
    pub failed: u64,
    /// Sum of the latencies reported, in microseconds.
    pub latency_us_sum: u64,
    /// Operations that reported a latency.
    pub latency_samples: u64,
    /// Largest latency reported.
    pub latency_us_max: u64,
}

impl OpCounter {
    /// Share of operations that succeeded, 1.0 when none were seen.
    pub fn success_rate(&self) -> f64 {
        if self.count == 0 {
            1.0
        } else {
            (self.count - self.failed) as f64 / self.count as f64
        }
    }

    /// Mean latency in microseconds, if any was reported.
    pub fn mean_latency_us(&self) -> Option<f64> {
        (self.latency_samples > 0).then(|| self.latency_us_sum as f64 / self.latency_samples as f64)
    }

    fn merge(&mut self, o: &OpCounter) {
        self.count += o.count;
        self.failed += o.failed;
        self.latency_us_sum = self.latency_us_sum.saturating_add(o.latency_us_sum);
        self.latency_samples += o.latency_samples;
        self.latency_us_max = self.latency_us_max.max(o.latency_us_max);
    }
}

/// Bytes moved through one mount point by successful reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MountIo {
    /// Reads.
    pub reads: u64,
    /// Bytes read (reads without a length count 0).
    pub bytes_read: u64,
    /// Writes.
    pub writes: u64,
    /// Bytes written (the length, else the file's size after the write).
    pub bytes_written: u64,
}

impl MountIo {
    fn merge(&mut self, o: &MountIo) {
        self.reads += o.reads;
        self.bytes_read = self.bytes_read.saturating_add(o.bytes_read);
        self.writes += o.writes;
        self.bytes_written = self.bytes_written.saturating_add(o.bytes_written);
    }
}

/// Totals of VFS operations: per kind, and bytes per mount point.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct VfsTotals {
    /// Per kind of operation.
    pub by_op: BTreeMap<VfsOpKind, OpCounter>,
    /// Per mount point.
    pub by_mount: BTreeMap<String, MountIo>,
}

impl VfsTotals {
    /// Counts one operation.
    pub fn record(&mut self, op: &VfsOperation) {
        let c = self.by_op.entry(op.op).or_default();
        c.count += 1;
        if !op.ok {
            c.failed += 1;
        }
        if let Some(l) = op.latency_us {
            c.latency_us_sum = c.latency_us_sum.saturating_add(l);
            c.latency_samples += 1;
            c.latency_us_max = c.latency_us_max.max(l);
        }
        if !op.ok {
            return;
        }
        match op.op {
            VfsOpKind::Read => self.mount_io(&op.mount, |m| {
                m.reads += 1;
                m.bytes_read = m.bytes_read.saturating_add(op.length.unwrap_or(0));
            }),
            VfsOpKind::Write => self.mount_io(&op.mount, |m| {
                m.writes += 1;
                m.bytes_written = m.bytes_written.saturating_add(op.length.or(op.size).unwrap_or(0));
            }),
            _ => {}
        }
    }

    /// Updates the totals of `mount`, copying its name only the first time it is seen.
    fn mount_io(&mut self, mount: &str, update: impl FnOnce(&mut MountIo)) {
        match self.by_mount.get_mut(mount) {
            Some(m) => update(m),
            None => update(self.by_mount.entry(mount.to_owned()).or_default()),
        }
    }

    /// Adds `other` to these totals.
    pub fn merge(&mut self, other: &VfsTotals) {
        for (k, c) in &other.by_op {
            self.by_op.entry(*k).or_default().merge(c);
        }
        for (k, m) in &other.by_mount {
            self.by_mount.entry(k.clone()).or_default().merge(m);
        }
    }

    /// Whether nothing was counted.
    pub fn is_empty(&self) -> bool {
        self.by_op.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_count_failures_latency_and_bytes_per_mount() {
        let mut t = VfsTotals::default();
        let mut read = VfsOperation::new(VfsOpKind::Read, "/m", "/m/a");
        read.length = Some(100);
        read.latency_us = Some(10);
        t.record(&read);
        read.latency_us = Some(30);
        t.record(&read);
        let mut failed = read.clone();
        failed.ok = false;
        t.record(&failed);
        let mut write = VfsOperation::new(VfsOpKind::Write, "/n", "/n/b");
        write.size = Some(7);
        t.record(&write);
        let r = t.by_op[&VfsOpKind::Read];
        assert_eq!((r.count, r.failed, r.latency_samples, r.latency_us_max), (3, 1, 3, 30));
        assert!((r.success_rate() - 2.0 / 3.0).abs() < 1e-9);
        assert_eq!(r.mean_latency_us(), Some(70.0 / 3.0));
        assert_eq!(t.by_mount["/m"].bytes_read, 200, "a failed read moves no bytes");
        assert_eq!(
            t.by_mount["/n"].bytes_written, 7,
            "a write without a length counts the size"
        );
        let mut twice = t.clone();
        twice.merge(&t);
        assert_eq!(twice.by_op[&VfsOpKind::Read].count, 6);
        assert_eq!(twice.by_mount["/m"].bytes_read, 400);
    }

    #[test]
    fn relative_and_overlong_paths_are_refused_by_name() {
        let op = VfsOperation::new(VfsOpKind::Create, "/m", "m/a");
        let e = op.validate().unwrap_err().to_string();
        assert!(e.contains("vfs_path") && e.contains("\"m/a\" is not absolute"), "{e}");
        let mut op = VfsOperation::new(VfsOpKind::Rename, "/m", "/m/a");
        op.new_path = Some(format!("/{}", "x".repeat(MAX_VFS_PATH_BYTES)));
        let e = op.validate().unwrap_err().to_string();
        assert!(e.contains("new_path") && e.contains("at most 4096"), "{e}");
        assert_eq!("READ".parse::<VfsOpKind>().unwrap(), VfsOpKind::Read);
        assert!("copy".parse::<VfsOpKind>().unwrap_err().to_string().contains("copy"));
    }
}
