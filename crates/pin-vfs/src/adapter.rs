//! From VFS events to pin-core events, applied in batches to any [`PinStore`].
//!
//! pin-core has no event that adds or removes one VFS path of a pin, so the adapter reads the pin
//! ([`PinStore::get`]), changes its path list and upserts it whole. Every pin a batch touches is read once
//! and upserted once, at the end of the batch, and only if it changed. Reads and writes become
//! [`Access`] events carrying the path and latency.

use std::collections::BTreeMap;
use std::sync::Arc;

use pin_core::{
    Access, AccessOp, ApplyOutcome, Cid, Event, EventBatch, EventKind, Pin, PinQuery, PinStatus, PinStore, Tier,
    Timestamp,
};

use crate::error::Result;
use crate::event::{Problem, VfsEvent, VfsOp, is_under};
use crate::path_index::{PathEntry, PathIndex};

/// How the adapter turns VFS events into pins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdapterConfig {
    /// The primary tier of pins the VFS creates.
    pub tier: Tier,
    /// Unpin a pin when a delete removes its last VFS path (off by default: a delete only removes the path).
    pub unpin_on_delete: bool,
}

impl Default for AdapterConfig {
    fn default() -> Self {
        Self {
            tier: Tier::Ipfs,
            unpin_on_delete: false,
        }
    }
}

pub use pin_core::{MountIo, OpCounter};

/// What the VFS did, as this adapter saw it (the store keeps the same totals for the last day, and every
/// operation in `vfs_events`).
pub type OpStats = pin_core::VfsTotals;

/// What one call of [`Adapter::apply`] did.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ApplyReport {
    /// What the store said; `None` when the events produced nothing to apply.
    pub outcome: Option<ApplyOutcome>,
    /// VFS events received.
    pub vfs_events: usize,
    /// pin-core events handed to the store.
    pub pin_events: usize,
    /// Events that were skipped as bad input.
    pub problems: Vec<Problem>,
    /// Failed operations (counted, not applied).
    pub failed_ops: usize,
    /// Reads and writes whose content was unknown (no CID given and none known for the path).
    pub unattributed: usize,
}

impl ApplyReport {
    /// Whether the store had seen this batch before.
    pub fn is_duplicate(&self) -> bool {
        self.outcome == Some(ApplyOutcome::Duplicate)
    }
}

/// A pin being changed by the current batch.
#[derive(Debug)]
struct Working {
    pin: Pin,
    before: Option<Pin>,
    ts: Timestamp,
    unpin: bool,
}

/// Turns VFS events into pin-core events and applies them to a store.
///
/// It keeps a [`PathIndex`], loaded from the store's pins (their VFS paths) on first use, so a restarted
/// replay knows which content each path shows.
#[derive(Debug)]
pub struct Adapter {
    store: Arc<dyn PinStore>,
    config: AdapterConfig,
    index: PathIndex,
    loaded: bool,
    stats: OpStats,
}

impl Adapter {
    /// An adapter over `store`.
    pub fn new(store: Arc<dyn PinStore>, config: AdapterConfig) -> Self {
        Self {
            store,
            config,
            index: PathIndex::new(),
            loaded: false,
            stats: OpStats::default(),
        }
    }

    /// The store events go to.
    pub fn store(&self) -> &Arc<dyn PinStore> {
        &self.store
    }

    /// The path index as of the last applied batch.
    pub fn index(&self) -> &PathIndex {
        &self.index
    }

    /// Operation counts of every batch applied through this adapter (duplicates not counted).
    pub fn stats(&self) -> &OpStats {
        &self.stats
    }

    /// Rebuilds the path index from the VFS paths of every pin in the store. Called on first use; call it
    /// again after something else changed the store's paths.
    pub async fn load_index(&mut self) -> Result<()> {
        let mut index = PathIndex::new();
        let mut query = PinQuery {
            limit: 1000,
            ..PinQuery::default()
        };
        loop {
            let page = self.store.list(&query).await?;
            for view in &page.pins {
                let pin = &view.pin;
                for path in &pin.vfs_paths {
                    let mount = pin
                        .mount
                        .as_ref()
                        .filter(|m| is_under(path, m))
                        .cloned()
                        .unwrap_or_else(|| "/".to_owned());
                    if index.get(path).is_some_and(|e| e.updated > pin.updated_at) {
                        continue;
                    }
                    index.insert(
                        path.clone(),
                        PathEntry {
                            mount,
                            cid: Some(pin.cid.clone()),
                            size: Some(pin.size_bytes),
                            is_dir: false,
                            updated: pin.updated_at,
                        },
                    );
                }
            }
            match page.next {
                Some(next) => query.after = Some(next),
                None => break,
            }
        }
        self.index = index;
        self.loaded = true;
        Ok(())
    }

    /// Translates `events` and applies them as one batch (with `batch_id`, if given, so a re-delivered
    /// batch is recognised and not applied twice). Bad events are skipped and listed in the report.
    pub async fn apply(&mut self, batch_id: Option<String>, events: Vec<VfsEvent>) -> Result<ApplyReport> {
        if !self.loaded {
            self.load_index().await?;
        }
        let mut report = ApplyReport {
            vfs_events: events.len(),
            ..ApplyReport::default()
        };
        let mut tx = Translation {
            store: &*self.store,
            config: &self.config,
            index: &mut self.index,
            pins: BTreeMap::new(),
            out: Vec::new(),
            problems: Vec::new(),
            stats: OpStats::default(),
        };
        for mut event in events {
            if let Err(message) = event.normalize() {
                report.problems.push(Problem::at(event.pos.clone(), message));
                continue;
            }
            // Only successful operations change pins; every operation is logged, failed ones too.
            if event.ok {
                match tx.event(&event).await {
                    Ok(attributed) => report.unattributed += usize::from(!attributed),
                    Err(e) => {
                        // The index may now be ahead of the store: rebuild it before the next batch.
                        self.loaded = false;
                        return Err(e);
                    }
                }
            } else {
                report.failed_ops += 1;
            }
            let ts = event.ts;
            let op = event.into_operation();
            tx.stats.record(&op);
            tx.out.push(Event {
                ts,
                kind: EventKind::Vfs(Box::new(op)),
            });
        }
        let (pin_events, problems, stats) = tx.finish();
        report.problems.extend(problems);
        report.pin_events = pin_events.len();
        if pin_events.is_empty() {
            self.stats.merge(&stats);
            return Ok(report);
        }
        let batch = match batch_id {
            Some(id) => EventBatch::with_id(id, pin_events),
            None => EventBatch::new(pin_events),
        };
        match self.store.apply(batch).await {
            Ok(outcome) => {
                if outcome == ApplyOutcome::Duplicate {
                    // The store held this batch's effects already, and the index did too (it was loaded from
                    // the store): translating the batch again moved the index away from the store (replaying
                    // `mv a b; mv c a` on its own result loses `a`). Rebuild it before the next batch.
                    report.pin_events = 0;
                    self.loaded = false;
                } else {
                    self.stats.merge(&stats);
                }
                report.outcome = Some(outcome);
                Ok(report)
            }
            Err(e) => {
                self.loaded = false;
                Err(e.into())
            }
        }
    }
}

/// The state of one batch being translated.
struct Translation<'a> {
    store: &'a dyn PinStore,
    config: &'a AdapterConfig,
    index: &'a mut PathIndex,
    pins: BTreeMap<Cid, Working>,
    out: Vec<Event>,
    problems: Vec<Problem>,
    stats: OpStats,
}

impl Translation<'_> {
    /// Applies one event to the index and the working pins; returns whether a read or write could be
    /// attributed to content.
    async fn event(&mut self, e: &VfsEvent) -> Result<bool> {
        match &e.op {
            VfsOp::Create => {
                if e.is_dir && e.cid.is_none() {
                    if self.index.get(&e.path).is_none() {
                        self.index.insert(e.path.clone(), self.entry(e, None));
                    }
                } else {
                    self.set_path(e, &e.path, e.cid.clone()).await?;
                }
            }
            VfsOp::Write { offset, length } => {
                if e.cid.is_some() {
                    self.set_path(e, &e.path, e.cid.clone()).await?;
                }
                return Ok(self.access(e, AccessOp::Write, *offset, length.or(e.size)));
            }
            VfsOp::Read { offset, length } => return Ok(self.access(e, AccessOp::Read, *offset, *length)),
            VfsOp::Truncate => {
                if e.cid.is_some() {
                    self.set_path(e, &e.path, e.cid.clone()).await?;
                }
                return Ok(self.access(e, AccessOp::Write, e.size, Some(0)));
            }
            VfsOp::Delete => {
                let removed = self.index.remove_tree(&e.path);
                if removed.is_empty()
                    && let Some(cid) = &e.cid
                {
                    self.remove_path(e, cid, &e.path, true).await?;
                }
                for (path, entry) in removed {
                    if let Some(cid) = entry.cid {
                        self.remove_path(e, &cid, &path, true).await?;
                    }
                }
            }
            VfsOp::Rename { to } => {
                if to == &e.path {
                    return Ok(true);
                }
                if is_under(to, &e.path) {
                    self.problems.push(Problem::at(
                        e.pos.clone(),
                        format!("cannot rename {:?} into itself ({to:?})", e.path),
                    ));
                    return Ok(true);
                }
                // The target's mount point: the most specific mount known to hold it, if that is the
                // event's mount or one below it (a move into a nested mount), or any known mount when the
                // target lies outside the event's mount (a move across mounts).
                let inside = is_under(to, &e.mount);
                let to_mount = match self.index.mount_of(to) {
                    Some(m) if !inside || is_under(m, &e.mount) => m.to_owned(),
                    _ if inside => e.mount.clone(),
                    _ => {
                        self.problems.push(Problem::at(
                            e.pos.clone(),
                            format!(
                                "rename target {to:?} is outside the mount point {:?} and under no other known mount point",
                                e.mount
                            ),
                        ));
                        return Ok(true);
                    }
                };
                let (moved, replaced) = self.index.rename(&e.path, to, &to_mount, e.ts);
                for (path, entry) in replaced {
                    if let Some(cid) = entry.cid {
                        self.remove_path(e, &cid, &path, false).await?;
                    }
                }
                if moved.is_empty() {
                    if e.cid.is_some() {
                        let mut at_target = e.clone();
                        at_target.mount = to_mount;
                        self.set_path(&at_target, to, e.cid.clone()).await?;
                    }
                    return Ok(true);
                }
                for (old, new, entry) in moved {
                    if let Some(cid) = entry.cid {
                        self.remove_path(e, &cid, &old, false).await?;
                        self.add_path(e, &cid, &new, &to_mount, entry.size).await?;
                    }
                }
            }
            VfsOp::Mount => {
                self.index.mount(&e.path, e.cid.clone());
                if e.cid.is_some() {
                    self.set_path(e, &e.path, e.cid.clone()).await?;
                }
            }
            VfsOp::Unmount => {
                for (path, entry) in self.index.unmount(&e.path) {
                    if let Some(cid) = entry.cid {
                        self.remove_path(e, &cid, &path, false).await?;
                    }
                }
            }
            VfsOp::Metadata { attrs } => {
                let Some(cid) = e.cid.clone().or_else(|| self.index.cid(&e.path).cloned()) else {
                    return Ok(false);
                };
                if e.cid.is_some() && self.index.cid(&e.path) != Some(&cid) {
                    self.set_path(e, &e.path, Some(cid.clone())).await?;
                }
                // Checked here, not when the pin is upserted at the end of the batch: refusing this one
                // event keeps the batch's other changes to the pin.
                let mut refused = None;
                if let Some(w) = self.working(&cid, e, true).await? {
                    let mut meta = w.pin.meta.clone();
                    meta.extend(
                        attrs
                            .iter()
                            .filter(|(k, _)| !k.is_empty())
                            .map(|(k, v)| (k.clone(), v.clone())),
                    );
                    if meta.len() > pin_core::MAX_META_KEYS {
                        refused = Some(meta.len());
                    } else {
                        w.pin.meta = meta;
                        w.ts = w.ts.max(e.ts);
                    }
                }
                if let Some(keys) = refused {
                    self.problems.push(Problem::at(
                        e.pos.clone(),
                        format!(
                            "metadata of {:?} not applied: the pin of {cid} would have {keys} keys, at most {} allowed",
                            e.path,
                            pin_core::MAX_META_KEYS
                        ),
                    ));
                }
            }
        }
        Ok(true)
    }

    fn entry(&self, e: &VfsEvent, cid: Option<Cid>) -> PathEntry {
        PathEntry {
            mount: e.mount.clone(),
            cid,
            size: e.size,
            is_dir: e.is_dir,
            updated: e.ts,
        }
    }

    /// Makes `path` show `cid` (or nothing), moving the path from the pin it showed before.
    async fn set_path(&mut self, e: &VfsEvent, path: &str, cid: Option<Cid>) -> Result<()> {
        let old = self.index.cid(path).cloned();
        let mut entry = self.entry(e, cid.clone());
        if let Some(prev) = self.index.get(path) {
            entry.is_dir = entry.is_dir || prev.is_dir;
        }
        self.index.insert(path.to_owned(), entry);
        if old == cid {
            if let Some(cid) = &cid
                && let Some(size) = e.size
                && let Some(w) = self.working(cid, e, false).await?
                && w.pin.size_bytes != size
            {
                w.pin.size_bytes = size;
                w.ts = w.ts.max(e.ts);
            }
            return Ok(());
        }
        if let Some(old) = old {
            // An overwrite: the old content keeps its pin and history, minus this path.
            self.remove_path(e, &old, path, false).await?;
        }
        if let Some(cid) = cid {
            self.add_path(e, &cid, path, &e.mount, e.size).await?;
        }
        Ok(())
    }

    async fn add_path(&mut self, e: &VfsEvent, cid: &Cid, path: &str, mount: &str, size: Option<u64>) -> Result<()> {
        if let Some(w) = self.working(cid, e, true).await? {
            w.pin.vfs_paths.insert(path.to_owned());
            w.pin.mount = Some(mount.to_owned());
            // A path deleted earlier in the batch and shown again: the pin is in use after all.
            w.unpin = false;
            if let Some(size) = size {
                w.pin.size_bytes = size;
            }
            w.ts = w.ts.max(e.ts);
        }
        Ok(())
    }

    async fn remove_path(&mut self, e: &VfsEvent, cid: &Cid, path: &str, deleted: bool) -> Result<()> {
        let unpin_on_delete = self.config.unpin_on_delete;
        if let Some(w) = self.working(cid, e, false).await?
            && w.pin.vfs_paths.remove(path)
        {
            if w.pin.vfs_paths.is_empty() {
                w.pin.mount = None;
                if deleted && unpin_on_delete {
                    w.unpin = true;
                }
            }
            w.ts = w.ts.max(e.ts);
        }
        Ok(())
    }

    /// The working copy of the pin of `cid`, read from the store on first use; created if `create`.
    async fn working(&mut self, cid: &Cid, e: &VfsEvent, create: bool) -> Result<Option<&mut Working>> {
        if !self.pins.contains_key(cid) {
            let before = self.store.get(cid).await?.map(|v| v.pin);
            let pin = match &before {
                Some(p) => p.clone(),
                None if create => {
                    let mut p = Pin::new(cid.clone(), self.config.tier, e.ts);
                    p.size_bytes = e.size.unwrap_or(0);
                    p
                }
                None => return Ok(None),
            };
            self.pins.insert(
                cid.clone(),
                Working {
                    pin,
                    before,
                    ts: e.ts,
                    unpin: false,
                },
            );
        }
        Ok(self.pins.get_mut(cid))
    }

    /// Records a read or write; returns false when no content is known for the path.
    fn access(&mut self, e: &VfsEvent, op: AccessOp, offset: Option<u64>, length: Option<u64>) -> bool {
        let Some(cid) = e.cid.clone().or_else(|| self.index.cid(&e.path).cloned()) else {
            return false;
        };
        self.out.push(Event {
            ts: e.ts,
            kind: EventKind::Access(Access {
                cid,
                op,
                offset,
                length,
                tier: None,
                vfs_path: Some(e.path.clone()),
                latency_us: e.latency_us,
            }),
        });
        true
    }

    /// The pin-core events of the batch: accesses in order, then one upsert per changed pin (and an unpin
    /// where a delete asked for one). Events the model refuses are dropped and reported.
    fn finish(self) -> (Vec<Event>, Vec<Problem>, OpStats) {
        let mut problems = self.problems;
        let mut out: Vec<Event> = self
            .out
            .into_iter()
            .filter(|ev| match ev.validate() {
                Ok(()) => true,
                Err(err) => {
                    problems.push(Problem::at(None, format!("event skipped: {err}")));
                    false
                }
            })
            .collect();
        let mut unpins = Vec::new();
        for (cid, w) in self.pins {
            let changed = w.before.as_ref() != Some(&w.pin);
            if changed {
                let mut pin = w.pin;
                pin.updated_at = w.ts;
                let event = Event {
                    ts: w.ts,
                    kind: EventKind::Upsert(Box::new(pin)),
                };
                match event.validate() {
                    Ok(()) => out.push(event),
                    Err(err) => problems.push(Problem::at(None, format!("pin {cid} not updated: {err}"))),
                }
            }
            let pinned = w.before.as_ref().is_none_or(|p| p.status != PinStatus::Unpinned);
            if w.unpin && pinned {
                unpins.push(Event {
                    ts: w.ts,
                    kind: EventKind::Unpin { cid },
                });
            }
        }
        out.extend(unpins);
        (out, problems, self.stats)
    }
}
