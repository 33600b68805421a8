//! A live directory watcher: a local directory as a mount point.
//!
//! The watch starts before the first pass, so nothing that changes during the pass is missed. The first
//! pass hashes every file there (reporting progress), then file system notifications mark paths dirty;
//! once they settle (no new notification for [`WatchOptions::settle`]), each dirty path is reconciled with
//! what the watcher last recorded for it: a new file is a create, a changed one a write with its new CID,
//! a vanished one a delete, and a rename that the platform reports as one is a rename. Reconciling by path
//! rather than trusting each notification makes lost or coalesced notifications harmless, and a notify
//! error (such as an overflowed queue) simply rescans the whole tree.
//!
//! A file that cannot be read or keeps changing while hashed is reported as a problem and retried at the
//! next change; nothing stops the watcher but [`Stop`](super::Stop) or the caller dropping it.
//!
//! The CID of a file is recorded with the size, modification time and inode the file had, unchanged,
//! before and after the hashing that produced it, so a change that lands just after the hash still differs
//! from what was recorded and is hashed again. Only regular files are indexed: symbolic links (to files or
//! directories) are neither followed nor recorded, so nothing outside the watched directory is read.
//!
//! # Cancel safety and stopping
//!
//! [`next_chunk`](EventSource::next_chunk) changes nothing before its last await point except the record of
//! what was seen, and that change is logged and rolled back if the future is dropped, so a `run` that
//! stops while a burst is being hashed loses nothing. On stop, [`drain`](EventSource::drain) rescans the
//! whole directory against what was recorded: a change made just before the stop is flushed however late
//! its notification is. A stop during the first pass does not finish it (the next start does it again).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use notify::event::{AccessKind, AccessMode, ModifyKind, RenameMode};
use notify::{EventKind, RecursiveMode, Watcher};
use pin_core::{Cid, Clock};
use tokio::sync::mpsc;

use super::{Chunk, EventSource, Reporter, blocking};
use crate::error::{Error, Result};
use crate::event::{Problem, SourcePos, VfsEvent, VfsOp};
use crate::unixfs::{CidVersion, Stamp, cid_of_file_stamped};

/// How a [`DirWatcher`] works.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    /// The VFS mount point the directory appears as (`/` followed by a name).
    pub mount: String,
    /// Which CIDs to compute.
    pub cid_version: CidVersion,
    /// Quiet time after a notification before dirty paths are reconciled.
    pub settle: Duration,
    /// Most files hashed for one chunk of the first pass.
    pub scan_chunk: usize,
}

impl WatchOptions {
    /// Options for mount point `mount`, CIDv0, a 100 ms settle time.
    pub fn new(mount: impl Into<String>) -> Self {
        Self {
            mount: mount.into(),
            cid_version: CidVersion::V0,
            settle: Duration::from_millis(100),
            scan_chunk: 256,
        }
    }
}

/// What the watcher recorded for one file.
#[derive(Debug, Clone)]
struct Known {
    cid: Cid,
    stamp: Stamp,
}

/// What a dirty path turned out to be.
#[derive(Debug)]
enum Found {
    /// A directory, with every regular file below it.
    Dir(Vec<(PathBuf, Stamp)>),
    /// A regular file.
    File(Stamp),
    /// Nothing the watcher indexes any more (gone, or replaced by a link or a special file).
    Gone,
    /// It could not be examined; it is left as recorded.
    Unknown,
}

/// What the file system showed for the dirty paths and rename targets of one reconciliation.
#[derive(Debug, Default)]
struct Probe {
    /// Per rename, in order: whether its target exists.
    targets: Vec<bool>,
    dirty: Vec<(PathBuf, Found)>,
    /// Paths that could not be examined, and why.
    errors: Vec<(PathBuf, String)>,
}

/// Watches a directory (recursively) and reports its files as VFS events under a mount point.
#[derive(Debug)]
pub struct DirWatcher {
    root: PathBuf,
    name: Arc<str>,
    options: WatchOptions,
    clock: Arc<dyn Clock>,
    reporter: Arc<dyn Reporter>,
    known: BTreeMap<PathBuf, Known>,
    /// Changes to `known` of a reconciliation not finished yet, each with the value it replaced: rolled back
    /// if that reconciliation's future was dropped.
    undo: Vec<(PathBuf, Option<Known>)>,
    rx: mpsc::UnboundedReceiver<notify::Result<notify::Event>>,
    _watcher: notify::RecommendedWatcher,
    /// Files of the first pass not hashed yet, last first; `None` before the pass started.
    scan: Option<Vec<PathBuf>>,
    scan_totals: (u64, u64),
    dirty: BTreeSet<PathBuf>,
    renames: Vec<(PathBuf, PathBuf)>,
    /// VFS paths the store already shows under the mount; those the first pass does not find are deleted.
    expected: BTreeSet<String>,
    /// Whether the final rescan of [`drain`](EventSource::drain) was done.
    drained: bool,
}

impl DirWatcher {
    /// Starts watching `dir`. The first pass runs on the first [`next_chunk`](EventSource::next_chunk).
    pub fn new(dir: &Path, options: WatchOptions, clock: Arc<dyn Clock>, reporter: Arc<dyn Reporter>) -> Result<Self> {
        let root = dir.canonicalize().map_err(|e| Error::io(dir, e))?;
        if !root.is_dir() {
            return Err(Error::Watch {
                path: root,
                reason: "not a directory".into(),
            });
        }
        let mount = crate::event::normalize_path(&options.mount).map_err(|reason| Error::Watch {
            path: root.clone(),
            reason: format!("mount point {reason}"),
        })?;
        let (tx, rx) = mpsc::unbounded_channel();
        let mut watcher = notify::recommended_watcher(move |res| {
            // The receiver is gone only when the watcher is being dropped.
            let _ = tx.send(res);
        })
        .map_err(|e| Error::Watch {
            path: root.clone(),
            reason: e.to_string(),
        })?;
        watcher
            .watch(&root, RecursiveMode::Recursive)
            .map_err(|e| Error::Watch {
                path: root.clone(),
                reason: e.to_string(),
            })?;
        Ok(Self {
            name: root.display().to_string().into(),
            root,
            options: WatchOptions { mount, ..options },
            clock,
            reporter,
            known: BTreeMap::new(),
            undo: Vec::new(),
            rx,
            _watcher: watcher,
            scan: None,
            scan_totals: (0, 0),
            dirty: BTreeSet::new(),
            renames: Vec::new(),
            expected: BTreeSet::new(),
            drained: false,
        })
    }

    /// Tells the watcher which VFS paths the store already shows under its mount point (for instance
    /// `adapter.index().paths_of_mount(mount)` after [`Adapter::load_index`](crate::Adapter::load_index)),
    /// so files deleted while nothing watched are deleted at the end of the first pass.
    pub fn expect_paths(&mut self, paths: impl IntoIterator<Item = String>) {
        self.expected.extend(paths);
    }

    /// The directory watched (canonical).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Whether the first pass is over.
    pub fn first_pass_done(&self) -> bool {
        self.scan.as_ref().is_some_and(Vec::is_empty)
    }

    /// The VFS path of a file below the root, or a problem if it has none.
    fn vfs_path(&self, path: &Path) -> Result<String, Problem> {
        let rel = path
            .strip_prefix(&self.root)
            .map_err(|_| self.problem(path, "is outside the watched directory"))?;
        let mut out = self.options.mount.clone();
        for part in rel.components() {
            let s = part
                .as_os_str()
                .to_str()
                .ok_or_else(|| self.problem(path, "has a name that is not UTF-8; skipped"))?;
            if !out.ends_with('/') {
                out.push('/');
            }
            out.push_str(s);
        }
        Ok(out)
    }

    fn problem(&self, path: &Path, message: &str) -> Problem {
        Problem::at(
            Some(SourcePos {
                file: self.name.clone(),
                line: 0,
                offset: 0,
            }),
            format!("{}: {message}", path.display()),
        )
    }

    fn event(&self, op: VfsOp, path: String) -> VfsEvent {
        VfsEvent::new(op, self.options.mount.clone(), path, self.clock.now())
    }

    /// Hashes `paths` off the async threads; each result carries the stamp the file had while hashed.
    async fn hash(&self, paths: Vec<PathBuf>) -> Result<Vec<(PathBuf, Result<(Cid, u64, Stamp)>)>> {
        let version = self.options.cid_version;
        blocking(move || {
            paths
                .into_iter()
                .map(|p| {
                    let r =
                        cid_of_file_stamped(&p, version).and_then(|(id, stamp)| Ok((id.to_pin_cid()?, id.size, stamp)));
                    (p, r)
                })
                .collect()
        })
        .await
    }

    /// The next chunk of the first pass. Nothing changes before its await points finish, so a dropped
    /// future loses nothing.
    async fn scan_step(&mut self) -> Result<Option<Chunk>> {
        let mut chunk = Chunk::default();
        let Some(queue) = self.scan.as_ref() else {
            let root = self.root.clone();
            let (mut files, errors) = blocking(move || {
                let (mut files, mut errors) = (Vec::new(), Vec::new());
                walk(&root, &mut files, &mut errors);
                (files, errors)
            })
            .await?;
            for (path, e) in errors {
                chunk
                    .problems
                    .push(self.problem(&path, &format!("cannot be listed: {e}")));
            }
            let bytes: u64 = files.iter().map(|(_, s)| s.len).sum();
            self.reporter.scan_started(&self.root, files.len() as u64, bytes);
            files.reverse();
            self.scan = Some(files.into_iter().map(|(p, _)| p).collect());
            let mut mount = self.event(VfsOp::Mount, self.options.mount.clone());
            mount.is_dir = true;
            chunk.events.push(mount);
            if self.first_pass_done() {
                self.finish_first_pass(&mut chunk);
            }
            return Ok(Some(chunk));
        };
        if queue.is_empty() {
            return Ok(None);
        }
        let take = self.options.scan_chunk.max(1).min(queue.len());
        let batch: Vec<PathBuf> = queue[queue.len() - take..].iter().rev().cloned().collect();
        let hashed = self.hash(batch).await?;
        if let Some(queue) = self.scan.as_mut() {
            queue.truncate(queue.len() - take);
        }
        for (path, result) in hashed {
            if let Some(e) = self.record(&path, result, &mut chunk.problems) {
                self.scan_totals.0 += 1;
                self.scan_totals.1 += e.size.unwrap_or(0);
                self.reporter.file_indexed(&path, e.size.unwrap_or(0));
                chunk.events.push(e);
            }
        }
        if self.first_pass_done() {
            self.finish_first_pass(&mut chunk);
        }
        Ok(Some(chunk))
    }

    /// The end of the first pass: paths the store expected that the pass did not find are deleted.
    fn finish_first_pass(&mut self, chunk: &mut Chunk) {
        for gone in std::mem::take(&mut self.expected) {
            chunk.events.push(self.event(VfsOp::Delete, gone));
        }
        self.reporter.scan_finished(self.scan_totals.0, self.scan_totals.1);
    }

    /// Records a hashed file; the event to emit if its content is new or changed.
    fn record(
        &mut self,
        path: &Path,
        result: Result<(Cid, u64, Stamp)>,
        problems: &mut Vec<Problem>,
    ) -> Option<VfsEvent> {
        let (cid, size, stamp) = match result {
            Ok(r) => r,
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                // Gone before it was hashed: its removal is reconciled on its own (and, in the first pass, a
                // path the store expected stays expected, so it is deleted at the end of the pass).
                self.dirty.insert(path.to_path_buf());
                return None;
            }
            Err(e) => {
                if let Ok(v) = self.vfs_path(path) {
                    self.expected.remove(&v);
                }
                problems.push(self.problem(path, &format!("not indexed: {e}")));
                return None;
            }
        };
        let vfs = match self.vfs_path(path) {
            Ok(v) => v,
            Err(p) => {
                problems.push(p);
                return None;
            }
        };
        self.expected.remove(&vfs);
        let previous = self.known.insert(
            path.to_path_buf(),
            Known {
                cid: cid.clone(),
                stamp,
            },
        );
        let op = match previous {
            Some(k) if k.cid == cid => return None,
            Some(_) => VfsOp::Write {
                offset: Some(0),
                length: Some(size),
            },
            None => VfsOp::Create,
        };
        Some(self.event(op, vfs).with_cid(cid).with_size(size))
    }

    /// Takes a notification into the dirty set.
    fn note(&mut self, res: notify::Result<notify::Event>) {
        let event = match res {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(root = %self.root.display(), "watch error, rescanning: {e}");
                self.dirty.insert(self.root.clone());
                return;
            }
        };
        if event.need_rescan() {
            self.dirty.insert(self.root.clone());
        }
        match event.kind {
            EventKind::Access(AccessKind::Close(AccessMode::Write)) => {}
            EventKind::Access(_) => return,
            EventKind::Modify(ModifyKind::Name(RenameMode::Both)) if event.paths.len() == 2 => {
                self.renames.push((event.paths[0].clone(), event.paths[1].clone()));
            }
            _ => {}
        }
        self.dirty.extend(event.paths);
    }

    /// Changes what is recorded at `path`, logging the old value so [`rollback`](Self::rollback) can undo it.
    fn set_known(&mut self, path: PathBuf, value: Option<Known>) -> Option<Known> {
        let old = match value {
            Some(k) => self.known.insert(path.clone(), k),
            None => self.known.remove(&path),
        };
        self.undo.push((path, old.clone()));
        old
    }

    /// Undoes the changes of a reconciliation whose future was dropped before it finished.
    fn rollback(&mut self) {
        while let Some((path, old)) = self.undo.pop() {
            match old {
                Some(k) => self.known.insert(path, k),
                None => self.known.remove(&path),
            };
        }
    }

    /// Every recorded path at or below `dir`.
    fn known_under(&self, dir: &Path) -> Vec<PathBuf> {
        self.known
            .range(dir.to_path_buf()..)
            .map(|(p, _)| p.clone())
            .take_while(|p| p.starts_with(dir))
            .collect()
    }

    /// Reconciles renames and dirty paths into events.
    ///
    /// Cancel safe: the dirty set and the renames are cleared only at the end, and changes to what is
    /// recorded are logged in `undo` until then.
    async fn reconcile(&mut self) -> Result<Chunk> {
        self.rollback();
        // A dirty directory is walked whole: paths below another dirty path need no probe of their own.
        let mut dirty: Vec<PathBuf> = Vec::new();
        for path in &self.dirty {
            if dirty.last().is_none_or(|last| !path.starts_with(last)) {
                dirty.push(path.clone());
            }
        }
        let targets: Vec<PathBuf> = self.renames.iter().map(|(_, to)| to.clone()).collect();
        let probe = blocking(move || probe(dirty, targets)).await?;

        let mut chunk = Chunk::default();
        for (path, e) in probe.errors {
            chunk
                .problems
                .push(self.problem(&path, &format!("cannot be examined: {e}")));
        }
        for ((from, to), to_exists) in self.renames.clone().into_iter().zip(probe.targets) {
            let moved = self.known_under(&from);
            if moved.is_empty() || !to_exists {
                continue;
            }
            let (Ok(vf), Ok(vt)) = (self.vfs_path(&from), self.vfs_path(&to)) else {
                continue;
            };
            // A single file carries its CID, so the rename lands even where the store did not know `from`.
            let file_cid = (moved.len() == 1 && moved[0] == from)
                .then(|| self.known.get(&from).map(|k| k.cid.clone()))
                .flatten();
            for p in moved {
                let rest = p.strip_prefix(&from).map(Path::to_path_buf).unwrap_or_default();
                let target = if rest.as_os_str().is_empty() {
                    to.clone()
                } else {
                    to.join(rest)
                };
                if let Some(k) = self.set_known(p, None) {
                    self.set_known(target, Some(k));
                }
            }
            let mut rename = self.event(VfsOp::Rename { to: vt }, vf);
            rename.cid = file_cid;
            chunk.events.push(rename);
        }
        let changed = |known: &BTreeMap<PathBuf, Known>, path: &Path, stamp: &Stamp| {
            known.get(path).is_none_or(|k| k.stamp != *stamp)
        };
        let mut to_hash = Vec::new();
        for (path, found) in probe.dirty {
            match found {
                Found::Dir(files) => {
                    let present: BTreeSet<&PathBuf> = files.iter().map(|(p, _)| p).collect();
                    for gone in self.known_under(&path) {
                        if !present.contains(&gone) {
                            self.forget(&gone, &mut chunk);
                        }
                    }
                    to_hash.extend(
                        files
                            .iter()
                            .filter(|(p, s)| changed(&self.known, p, s))
                            .map(|(p, _)| p.clone()),
                    );
                }
                Found::File(stamp) => {
                    if changed(&self.known, &path, &stamp) {
                        to_hash.push(path);
                    }
                }
                Found::Gone => self.forget(&path, &mut chunk),
                Found::Unknown => {}
            }
        }
        to_hash.sort();
        to_hash.dedup();
        let hashed = self.hash(to_hash).await?;

        // Nothing below awaits: commit.
        self.undo.clear();
        self.dirty.clear();
        self.renames.clear();
        for (path, result) in hashed {
            if let Some(e) = self.record(&path, result, &mut chunk.problems) {
                chunk.events.push(e);
            }
        }
        Ok(chunk)
    }

    /// A path that no longer holds a regular file: a delete for it (and for everything recorded below it).
    fn forget(&mut self, path: &Path, chunk: &mut Chunk) {
        let below = self.known_under(path);
        if below.is_empty() {
            return;
        }
        for p in below {
            self.set_known(p, None);
        }
        if let Ok(v) = self.vfs_path(path) {
            chunk.events.push(self.event(VfsOp::Delete, v));
        }
    }
}

/// Every regular file below `dir` (symbolic links are not followed), sorted, with the directories that
/// could not be listed.
fn walk(dir: &Path, files: &mut Vec<(PathBuf, Stamp)>, errors: &mut Vec<(PathBuf, String)>) {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let rd = match std::fs::read_dir(&d) {
            Ok(rd) => rd,
            Err(e) => {
                if e.kind() != std::io::ErrorKind::NotFound {
                    errors.push((d, e.to_string()));
                }
                continue;
            }
        };
        for entry in rd.flatten() {
            match entry.file_type() {
                Ok(t) if t.is_dir() => stack.push(entry.path()),
                Ok(t) if t.is_file() => {
                    // `DirEntry::metadata` does not follow links; a file gone meanwhile is simply not listed.
                    if let Ok(m) = entry.metadata() {
                        files.push((entry.path(), Stamp::from_metadata(&m)));
                    }
                }
                _ => {}
            }
        }
    }
    files.sort_by(|a, b| a.0.cmp(&b.0));
}

/// Examines dirty paths and rename targets, without following symbolic links.
fn probe(dirty: Vec<PathBuf>, targets: Vec<PathBuf>) -> Probe {
    let mut out = Probe {
        targets: targets.iter().map(|t| std::fs::symlink_metadata(t).is_ok()).collect(),
        ..Probe::default()
    };
    for path in dirty {
        let found = match std::fs::symlink_metadata(&path) {
            Ok(m) if m.is_dir() => {
                let mut files = Vec::new();
                walk(&path, &mut files, &mut out.errors);
                Found::Dir(files)
            }
            Ok(m) if m.is_file() => Found::File(Stamp::from_metadata(&m)),
            Ok(_) => Found::Gone,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Found::Gone,
            Err(e) => {
                out.errors.push((path.clone(), e.to_string()));
                Found::Unknown
            }
        };
        out.dirty.push((path, found));
    }
    out
}

#[async_trait]
impl EventSource for DirWatcher {
    async fn next_chunk(&mut self) -> Result<Option<Chunk>> {
        self.rollback();
        if !self.first_pass_done()
            && let Some(chunk) = self.scan_step().await?
        {
            return Ok(Some(chunk));
        }
        loop {
            if self.dirty.is_empty() && self.renames.is_empty() {
                match self.rx.recv().await {
                    Some(res) => self.note(res),
                    None => return Ok(None),
                }
            }
            // Let the burst settle: keep taking notifications until none came for `settle`, but no longer
            // than eight settle times, so a file written without pause is still indexed.
            let deadline = tokio::time::Instant::now() + self.options.settle * 8;
            while let Ok(Some(res)) = tokio::time::timeout(self.options.settle, self.rx.recv()).await {
                self.note(res);
                if tokio::time::Instant::now() >= deadline {
                    break;
                }
            }
            let chunk = self.reconcile().await?;
            if !chunk.events.is_empty() || !chunk.problems.is_empty() {
                return Ok(Some(chunk));
            }
        }
    }

    async fn ack(&mut self) -> Result<()> {
        Ok(())
    }

    /// Rescans the whole directory (once) against what was recorded, so every change made before the stop
    /// is flushed however late its notification would come. A first pass that was not finished is left to
    /// the next start, which does it again.
    async fn drain(&mut self) -> Result<Option<Chunk>> {
        self.rollback();
        if !self.first_pass_done() || self.drained {
            return Ok(None);
        }
        while let Ok(res) = self.rx.try_recv() {
            self.note(res);
        }
        self.dirty.insert(self.root.clone());
        let chunk = self.reconcile().await?;
        // Once: a file written without pause would otherwise keep the caller's drain loop going.
        self.drained = true;
        Ok((!chunk.events.is_empty() || !chunk.problems.is_empty()).then_some(chunk))
    }
}
