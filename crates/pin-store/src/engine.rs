//! [`ParquetPinStore`]: the durable [`PinStore`] backend.
//!
//! Layers, newest last: the base (full state, in key-sorted runs whose keys are disjoint), the delta
//! segment (fragments of pins the base holds, or may hold, changed since; rewritten by each flush, held in
//! memory as `flushed`), and the memtable (`mem`, fragments applied since the last flush, rebuilt from the
//! WAL on open). A pin's state is the fold of its fragments across the three (see `pin_core::fold`).
//!
//! A flush writes the memtable's pins that no layer holds (no run's bloom filter admits the key and the
//! delta lacks it) as a new run, and the rest into the delta; runs of one size class are merged once there
//! are [`RUN_FANOUT`](crate::merge::RUN_FANOUT) of them, and compaction folds the delta and every run into a
//! single run. Loading `n` new pins therefore writes each about `log_F(n)` times, not once per compaction as
//! a single base would.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;

use async_trait::async_trait;
use datafusion::execution::runtime_env::RuntimeEnv;
use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use parking_lot::RwLock;
use pin_core::metrics::RECENT_RETENTION_SECS;
use pin_core::{
    AccessRecord, ApplyOutcome, Cid, Clock, Cursor, EventBatch, EventKind, Fragment, HistoryEntry, ListOrder, Metrics,
    MetricsDelta, MetricsState, PinPage, PinQuery, PinStore, PinSummary, PinView, RecentAccesses, SystemClock,
    Timestamp,
};
use tokio::sync::oneshot;

use crate::codec::{self, PinRows};
use crate::error::{Error, Result};
use crate::lock::WriterLock;
use crate::manifest::{self, Manifest, SegmentMeta};
pub(crate) use crate::merge::MergeIter;
use crate::merge::RunWriter;
use crate::segment::{self, Base, BaseSegment, SegmentWriter, Table};
use crate::wal::{self, WalFile, WalRecord};

pub(crate) mod bulk;

pub(crate) type Key = Arc<[u8]>;
/// A delta layer: fragments by key. A persistent map, so cloning a snapshot for a reader is O(1) and the
/// writer's next change copies only the nodes on its path, never the whole layer. Fragments are behind an
/// `Arc` so that nodes stay small (a fragment is over 500 bytes) and a shared node copies pointers.
pub(crate) type Layer = imbl::OrdMap<Key, Arc<Fragment>>;
/// Rows of an append-only table not flushed yet; persistent for the same reason as [`Layer`].
pub(crate) type Rows<T> = imbl::Vector<T>;

/// How a store is opened.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// The local data directory: lock file, WAL and (unless `object_store_url` says otherwise) the segments.
    pub data_dir: PathBuf,
    /// Where segments and manifests live: `None` for `<data_dir>/store`, else an object_store URL
    /// (`file:///…`, `memory://`, and `s3://…` and friends when built with their feature).
    pub object_store_url: Option<String>,
    /// Flush the memtable to segments after this many events.
    pub flush_events: usize,
    /// Flush once the memtable holds this many pins (bounds its memory).
    pub flush_pins: usize,
    /// Flush once the WAL holds this many bytes.
    pub flush_wal_bytes: u64,
    /// Compact (merge the delta and every base run into one run) once the delta holds this many pins.
    pub compact_delta_keys: usize,
    /// A flush writes the pins new to the store as a base run of their own when there are at least this
    /// many (fewer go to the delta, so small flushes leave no small runs behind).
    pub run_min_pins: usize,
    /// Vacuum keeps unreferenced files younger than this (milliseconds), so running readers finish.
    pub vacuum_grace_ms: i64,
    /// Make each batch durable with fsync before acknowledging it (turn off only for throwaway stores).
    pub sync: bool,
}

impl StoreConfig {
    /// Defaults for a data directory.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            object_store_url: None,
            flush_events: 2_000_000,
            flush_pins: 100_000,
            flush_wal_bytes: 256 << 20,
            compact_delta_keys: 400_000,
            run_min_pins: 4096,
            vacuum_grace_ms: 3_600_000,
            sync: true,
        }
    }
}

/// Everything a reader needs, as of one applied sequence number.
#[derive(Debug, Clone, Default)]
pub(crate) struct Snapshot {
    pub(crate) manifest: Arc<Manifest>,
    pub(crate) base: Arc<Base>,
    pub(crate) flushed: Layer,
    pub(crate) mem: Layer,
    pub(crate) mem_access: Rows<codec::KeyedRow<AccessRecord>>,
    pub(crate) mem_history: Rows<codec::KeyedRow<HistoryEntry>>,
    pub(crate) mem_vfs: Rows<codec::VfsRow>,
    /// `(created_at, key)` of every pin the delta layers hold whole, newest first: an upper bound of the
    /// pin's creation time (an older one in the base wins when they merge). Stale entries (a key whose
    /// creation moved earlier) stay; newest-first listings skip keys they have seen.
    pub(crate) newest: crate::newest::NewestIndex,
    pub(crate) metrics: MetricsState,
    pub(crate) batch_ids: HashSet<String>,
    pub(crate) seq: u64,
    pub(crate) mem_events: usize,
}

impl Snapshot {
    fn apply_record(&mut self, rec: &WalRecord) {
        let mem = &mut self.mem;
        let access = &mut self.mem_access;
        let history = &mut self.mem_history;
        for (i, event) in rec.events.iter().enumerate() {
            let seq = rec.first_seq + i as u64;
            let Some(cid) = event.cid() else {
                if let EventKind::Vfs(op) = &event.kind {
                    self.metrics.record_vfs(event.ts, op);
                    self.mem_vfs.push_back((event.ts, seq, op.clone()));
                }
                continue;
            };
            let key: Key = match mem.get_key_value(cid.key()) {
                Some((k, _)) => k.clone(),
                None => cid.shared_key().clone(),
            };
            let fragment = Arc::make_mut(mem.entry(key.clone()).or_default());
            fragment.apply(event, seq);
            if let (EventKind::Upsert(_), Some(pin)) = (&event.kind, &fragment.pin) {
                self.newest.insert((std::cmp::Reverse(pin.created_at.0), key.clone()));
            }
            if let Some(h) = HistoryEntry::from_event(event, seq) {
                history.push_back((key.clone(), cid.clone(), h));
            }
            if let EventKind::Access(a) = &event.kind {
                access.push_back((key, cid.clone(), AccessRecord::from_access(a, event.ts, seq)));
            }
        }
        self.metrics.apply(&rec.delta);
        if let Some(id) = &rec.batch_id {
            self.batch_ids.insert(id.clone());
        }
        self.seq = rec.last_seq();
        self.mem_events += rec.events.len();
    }

    /// The delta layers' fragments of `key`, folded (flushed, then mem).
    fn delta_of(&self, key: &[u8]) -> Option<Fragment> {
        match (self.flushed.get(key), self.mem.get(key)) {
            (None, None) => None,
            (Some(f), None) => Some(Fragment::clone(f)),
            (None, Some(m)) => Some(Fragment::clone(m)),
            (Some(f), Some(m)) => {
                let mut out = Fragment::clone(f);
                out.merge(m);
                Some(out)
            }
        }
    }
}

enum Job {
    Append {
        bytes: Vec<u8>,
        record: Arc<WalRecord>,
        ack: oneshot::Sender<Result<()>>,
    },
    Rotate {
        first_seq: u64,
        ack: oneshot::Sender<Result<u64>>,
    },
    Stop,
}

/// The writer's private state, behind the apply mutex.
#[derive(Debug)]
struct WriterState {
    next_seq: u64,
    recent: RecentAccesses,
    /// Latest summaries of pins changed by batches that may not be applied to the snapshot yet.
    pending: HashMap<Key, Option<PinSummary>>,
    /// Ids of batches that may not be applied to the snapshot yet.
    pending_ids: HashSet<String>,
    wal_bytes: u64,
    poisoned: Option<String>,
}

struct Writer {
    _lock: WriterLock,
    state: tokio::sync::Mutex<WriterState>,
    jobs: mpsc::Sender<Job>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer").finish_non_exhaustive()
    }
}

/// A [`PinStore`] on a local WAL and Parquet segments in an object store, queryable with SQL.
#[derive(Debug)]
pub struct ParquetPinStore {
    cfg: StoreConfig,
    pub(crate) store: Arc<dyn ObjectStore>,
    clock: Arc<dyn Clock>,
    pub(crate) shared: Arc<RwLock<Snapshot>>,
    /// DataFusion's runtime shared by every session on this store (see `query.rs`).
    pub(crate) runtime: Arc<RuntimeEnv>,
    writer: Option<Writer>,
}

/// What `status` reports.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StoreStatus {
    /// The data directory.
    pub data_dir: PathBuf,
    /// Where segments live.
    pub object_store: String,
    /// Manifest version.
    pub version: u64,
    /// Live segments (objects the manifest references).
    pub segments: usize,
    /// Bytes of live segments.
    pub segment_bytes: u64,
    /// Rows in the base (one per pin, or per CID accessed but never pinned).
    pub base_rows: u64,
    /// Segments the base is made of (see `Manifest::base_runs`).
    pub base_runs: usize,
    /// Pins with changes newer than the base (flushed and in memory).
    pub delta_pins: usize,
    /// Bytes of WAL files.
    pub wal_bytes: u64,
    /// Events applied since the last flush.
    pub unflushed_events: usize,
    /// Last applied sequence number.
    pub seq: u64,
    /// When compaction last ran.
    pub last_compaction: Option<Timestamp>,
    /// Who holds the writer lock, if anyone.
    pub writer: Option<String>,
}

/// What a vacuum removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct VacuumReport {
    /// Objects deleted.
    pub deleted: usize,
    /// Their bytes.
    pub bytes: u64,
    /// Unreferenced objects kept because they are younger than the grace period.
    pub kept_young: usize,
}

/// Receives the progress of long operations, for a caller to draw (the CLI uses a progress bar).
///
/// Calls come from the task running the operation; implementations must be cheap and must not block.
pub trait Reporter: Send + Sync {
    /// A phase starts; `total` is its amount of work (rows, objects) when known.
    fn start(&self, phase: &str, total: Option<u64>);
    /// `n` more units of the current phase are done.
    fn advance(&self, n: u64);
    /// The current phase is over.
    fn finish(&self);
}

/// A [`Reporter`] that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoReporter;

impl Reporter for NoReporter {
    fn start(&self, _: &str, _: Option<u64>) {}
    fn advance(&self, _: u64) {}
    fn finish(&self) {}
}

fn open_object_store(cfg: &StoreConfig) -> Result<Arc<dyn ObjectStore>> {
    match &cfg.object_store_url {
        None => {
            let root = cfg.data_dir.join("store");
            std::fs::create_dir_all(&root).map_err(|e| Error::io("create", &root, e))?;
            Ok(Arc::new(LocalFileSystem::new_with_prefix(&root)?))
        }
        Some(url) => {
            let parsed = url::Url::parse(url).map_err(|e| Error::Config(format!("object store URL {url:?}: {e}")))?;
            // Credentials and endpoints come from the environment (`AWS_ACCESS_KEY_ID`, `AWS_ENDPOINT`,
            // `GOOGLE_SERVICE_ACCOUNT`, `AZURE_STORAGE_ACCOUNT_NAME`, ...), never from the URL or the command line;
            // the builder of the URL's scheme ignores the variables it does not know.
            let env = std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)));
            let (store, prefix) = object_store::parse_url_opts(&parsed, env).map_err(|e| {
                Error::Config(format!(
                    "object store URL {url:?}: {e} (is pindex built with the feature for this scheme?)"
                ))
            })?;
            let store: Arc<dyn ObjectStore> = Arc::from(store);
            if prefix.as_ref().is_empty() {
                Ok(store)
            } else {
                Ok(Arc::new(object_store::prefix::PrefixStore::new(store, prefix)))
            }
        }
    }
}

impl ParquetPinStore {
    /// Opens the data directory for writing (creating it), taking the writer lock.
    pub async fn open(cfg: StoreConfig) -> Result<Self> {
        Self::open_with_clock(cfg, Arc::new(SystemClock)).await
    }

    /// Opens for writing with a given clock.
    pub async fn open_with_clock(cfg: StoreConfig, clock: Arc<dyn Clock>) -> Result<Self> {
        let wal_dir = cfg.data_dir.join("wal");
        std::fs::create_dir_all(&wal_dir).map_err(|e| Error::io("create", &wal_dir, e))?;
        let lock = WriterLock::acquire(&cfg.data_dir)?;
        let store = open_object_store(&cfg)?;
        let (snapshot, recent) = load(&store, &wal_dir, true).await?;
        let next_seq = snapshot.seq + 1;
        let file = match wal::files(&wal_dir)?.last() {
            Some((first, _)) => WalFile::open(&wal_dir, *first)?,
            None => WalFile::open(&wal_dir, next_seq)?,
        };
        let wal_bytes = wal::files(&wal_dir)?
            .iter()
            .filter_map(|(_, p)| std::fs::metadata(p).ok())
            .map(|m| m.len())
            .sum();
        let shared = Arc::new(RwLock::new(snapshot));
        let (jobs, rx) = mpsc::channel();
        let thread = {
            let shared = shared.clone();
            let dir = wal_dir.clone();
            let sync = cfg.sync;
            std::thread::Builder::new()
                .name("pindex-wal".into())
                .spawn(move || wal_thread(rx, file, dir, shared, sync))
                .map_err(|e| Error::io("spawn WAL thread for", &wal_dir, e))?
        };
        let state = WriterState {
            next_seq,
            recent,
            pending: HashMap::new(),
            pending_ids: HashSet::new(),
            wal_bytes,
            poisoned: None,
        };
        Ok(Self {
            cfg,
            store,
            clock,
            shared,
            runtime: Arc::new(RuntimeEnv::default()),
            writer: Some(Writer {
                _lock: lock,
                state: tokio::sync::Mutex::new(state),
                jobs,
                thread: Some(thread),
            }),
        })
    }

    /// Opens read-only: never blocked by a writer, sees every batch acknowledged before the open.
    pub async fn open_read_only(cfg: StoreConfig) -> Result<Self> {
        Self::open_read_only_with_clock(cfg, Arc::new(SystemClock)).await
    }

    /// Opens read-only with a given clock.
    pub async fn open_read_only_with_clock(cfg: StoreConfig, clock: Arc<dyn Clock>) -> Result<Self> {
        if !cfg.data_dir.exists() {
            return Err(Error::Config(format!(
                "data directory {} does not exist",
                cfg.data_dir.display()
            )));
        }
        let store = open_object_store(&cfg)?;
        let wal_dir = cfg.data_dir.join("wal");
        // A writer may flush (and delete WAL files) while we read; start over from the newer manifest.
        // It may also read manifest N, then find the WAL already cut down to what manifest N+1 covers.
        // Either way the newest manifest has moved on: start over from it.
        let mut attempt = 0;
        let (snapshot, _) = loop {
            let loaded = load(&store, &wal_dir, false).await;
            let newest = manifest::versions(&*store).await?.last().copied().unwrap_or(0);
            match loaded {
                Ok((snap, recent)) if snap.manifest.version == newest => break (snap, recent),
                Err(e) if attempt >= 5 => return Err(e),
                Ok(_) if attempt >= 5 => return Err(Error::Conflict { version: newest }),
                _ => attempt += 1,
            }
        };
        Ok(Self {
            cfg,
            store,
            clock,
            shared: Arc::new(RwLock::new(snapshot)),
            runtime: Arc::new(RuntimeEnv::default()),
            writer: None,
        })
    }

    /// The configuration this store was opened with.
    pub fn config(&self) -> &StoreConfig {
        &self.cfg
    }

    /// Whether this handle can write.
    pub fn is_writer(&self) -> bool {
        self.writer.is_some()
    }

    pub(crate) fn snapshot(&self) -> Snapshot {
        self.shared.read().clone()
    }

    fn writer(&self) -> Result<&Writer> {
        self.writer.as_ref().ok_or(Error::ReadOnly)
    }

    /// The state of one pin before the batches not yet applied, for metrics.
    async fn prior_summaries(&self, state: &WriterState, keys: &[Key]) -> Result<HashMap<Key, Option<PinSummary>>> {
        let mut out = HashMap::with_capacity(keys.len());
        let mut need_base: Vec<&[u8]> = Vec::with_capacity(keys.len());
        let mut deltas = HashMap::with_capacity(keys.len());
        // Only the layers' fragments of these keys are needed; cloning the snapshot would copy the
        // memtable on the WAL thread's next write.
        let base_segment = {
            let snap = self.shared.read();
            for key in keys {
                if out.contains_key(key) {
                    continue;
                }
                if let Some(s) = state.pending.get(key) {
                    out.insert(key.clone(), *s);
                    continue;
                }
                let delta = snap.delta_of(key);
                if delta.as_ref().is_some_and(|d| d.pin.is_some()) {
                    out.insert(key.clone(), delta.and_then(|d| d.summary()));
                    continue;
                }
                need_base.push(key);
                deltas.insert(key.clone(), delta);
            }
            snap.base.clone()
        };
        let base = base_segment.lookup(&need_base).await?;
        for (key, delta) in deltas {
            let mut f = base.get(&key).cloned().unwrap_or_default();
            if let Some(d) = delta {
                f.merge(&d);
            }
            out.insert(key, f.summary());
        }
        Ok(out)
    }

    /// Writes the memtable out: a base run of the pins new to the store, the delta segment, access and
    /// history segments, a new manifest; then drops the WAL files it covers, and merges base runs that
    /// fill a size class.
    pub async fn flush(&self) -> Result<()> {
        let w = self.writer()?;
        let mut state = w.state.lock().await;
        Box::pin(self.flush_locked(w, &mut state)).await?;
        Box::pin(self.merge_runs_locked()).await
    }

    async fn flush_locked(&self, w: &Writer, state: &mut WriterState) -> Result<()> {
        if let Some(p) = &state.poisoned {
            return Err(Error::Poisoned(p.clone()));
        }
        // Barrier: once the WAL thread has rotated, every earlier batch is applied to the snapshot.
        let (tx, rx) = oneshot::channel();
        w.jobs
            .send(Job::Rotate {
                first_seq: state.next_seq,
                ack: tx,
            })
            .map_err(|_| thread_gone())?;
        let cut = rx.await.map_err(|_| thread_gone())??;
        state.pending.clear();
        state.pending_ids.clear();
        let snap = self.snapshot();
        if snap.seq != cut {
            return Err(Error::Poisoned(format!(
                "snapshot at {} after a rotation at {cut}",
                snap.seq
            )));
        }
        if snap.mem_events == 0 && snap.seq == snap.manifest.wal_seq {
            return Ok(());
        }
        let now = self.clock.now();
        let version = snap.manifest.version + 1;
        let mut m = (*snap.manifest).clone();
        m.version = version;
        m.committed_at = now;
        m.wal_seq = cut;

        // Pins new to the store: no run may hold their key and the delta lacks it, so their memtable
        // fragments are whole states, and a run of them shares no key with the other runs.
        let mut fresh: Vec<(&Key, &Arc<Fragment>)> = Vec::new();
        let mut changed: Vec<(&Key, &Arc<Fragment>)> = Vec::new();
        for (k, f) in snap.mem.iter() {
            if snap.flushed.contains_key(k) || snap.base.may_contain(k).await? {
                changed.push((k, f));
            } else {
                fresh.push((k, f));
            }
        }
        let update: Layer = if fresh.len() < self.cfg.run_min_pins.max(1) {
            fresh.clear();
            snap.mem.clone()
        } else {
            changed.into_iter().map(|(k, f)| (k.clone(), f.clone())).collect()
        };
        let mut base = snap.base.clone();
        if !fresh.is_empty() {
            let path = format!("pins/run-{version:020}.parquet");
            let mut w = RunWriter::new(&self.store, &path, fresh.len())?;
            for (k, f) in &fresh {
                w.push(k, f).await?;
            }
            if let (Some(meta), top) = w.finish().await? {
                let previous_rows = m.base_top_rows.take().filter(|_| !m.base_runs.is_empty());
                m.base_top = match (&m.base_top, m.base_runs.is_empty()) {
                    (_, true) => Some(top),
                    (Some(old), false) => Some(old.join(&top)),
                    // A base from before the lists existed: still unknown.
                    (None, false) => None,
                };
                let mut runs = base.runs.clone();
                runs.push(Arc::new(BaseSegment::open(self.store.clone(), meta.clone()).await?));
                base = Arc::new(Base::of(runs));
                m.base_runs.push(meta);
                // The old runs' rows did not change, so the rows of their listed pins carry over.
                if let Some(top) = &m.base_top {
                    m.base_top_rows =
                        crate::listing::write_top_rows(&self.store, version, top, &base, previous_rows.as_ref())
                            .await?;
                }
            }
        }
        // The memtable's other pins as a new delta segment; once there are MAX_DELTAS, the old delta and
        // them merged key by key into one instead (streamed in chunks), so opening the store reads a bounded
        // number of files and each flush writes its own changes, not the whole delta.
        let path = format!("pins/delta-{version:020}.parquet");
        if m.deltas.len() + 1 < manifest::MAX_DELTAS {
            m.deltas
                .extend(write_merged_delta(&self.store, &path, &Layer::new(), &update).await?);
        } else {
            m.deltas = write_merged_delta(&self.store, &path, &snap.flushed, &update)
                .await?
                .into_iter()
                .collect();
        }
        // Access events, partitioned by day of the event.
        let mut by_day: BTreeMap<i64, Vec<codec::KeyedRow<AccessRecord>>> = BTreeMap::new();
        for row in snap.mem_access.iter() {
            by_day
                .entry(row.2.ts.0.div_euclid(86_400_000))
                .or_default()
                .push(row.clone());
        }
        for (day, mut rows) in by_day {
            // Sorted by key, then in event order: each page of the key column then spans few keys, and a
            // lookup of one CID's accesses decodes one page of it instead of every key of the day.
            rows.sort_by(|a, b| a.0.cmp(&b.0).then(a.2.seq.cmp(&b.2.seq)));
            let path = format!("access/date={}/{version:020}.parquet", day_string(day));
            let batch = codec::access_batch(&rows)?;
            let seqs = minmax(rows.iter().map(|r| r.2.seq)).unwrap_or((0, 0));
            let ts = minmax(rows.iter().map(|r| r.2.ts));
            m.access
                .push(segment::write(&self.store, &path, Table::Access, &[batch], seqs, ts).await?);
        }
        // VFS operations, partitioned by day like the accesses.
        let mut by_day: BTreeMap<i64, Vec<codec::VfsRow>> = BTreeMap::new();
        for row in snap.mem_vfs.iter() {
            by_day
                .entry(row.0.0.div_euclid(86_400_000))
                .or_default()
                .push(row.clone());
        }
        for (day, rows) in by_day {
            let path = format!("vfs/date={}/{version:020}.parquet", day_string(day));
            let batch = codec::vfs_batch(&rows)?;
            let seqs = minmax(rows.iter().map(|r| r.1)).unwrap_or((0, 0));
            let ts = minmax(rows.iter().map(|r| r.0));
            m.vfs
                .push(segment::write(&self.store, &path, Table::Vfs, &[batch], seqs, ts).await?);
        }
        if !snap.mem_history.is_empty() {
            let rows = &snap.mem_history;
            let batch = codec::history_batch(rows.iter())?;
            let seqs = minmax(rows.iter().map(|r| r.2.seq)).unwrap_or((0, 0));
            let ts = minmax(rows.iter().map(|r| r.2.ts));
            let path = format!("history/{version:020}.parquet");
            m.history
                .push(segment::write(&self.store, &path, Table::History, &[batch], seqs, ts).await?);
        }
        // The writer's last-access table, pruned to what can still fall in a window.
        let horizon = now.0.div_euclid(1000) - RECENT_RETENTION_SECS;
        state.recent.prune(horizon);
        let mut metrics = snap.metrics.clone();
        metrics.prune(horizon);
        m.metrics = metrics;
        m.recent = Some(write_recent(&self.store, version, &state.recent).await?);
        let mut ids: Vec<String> = snap.batch_ids.iter().cloned().collect();
        ids.sort();
        m.batch_ids = ids;
        manifest::commit(&*self.store, &m).await?;
        tracing::debug!(version, cut, fresh = fresh.len(), "flushed");
        let wrote_run = !fresh.is_empty();
        drop(fresh);
        drop(snap);
        let retired = {
            let mut s = self.shared.write();
            if s.seq != cut {
                return Err(Error::Poisoned(format!("events applied during a flush at {cut}")));
            }
            // Fold the memtable's changes into the in-memory delta (a reader holding the old delta keeps its
            // nodes); its new pins are in the run now.
            let retired = (
                std::mem::take(&mut s.mem),
                std::mem::take(&mut s.mem_access),
                std::mem::take(&mut s.mem_history),
                std::mem::take(&mut s.mem_vfs),
            );
            for (k, f) in update {
                match s.flushed.get_mut(&k) {
                    Some(old) => Arc::make_mut(old).merge(&f),
                    None => {
                        s.flushed.insert(k, f);
                    }
                }
            }
            s.base = base;
            if wrote_run {
                s.newest = crate::newest::index_of(&s.flushed);
            }
            // The in-memory histogram is pruned like the manifest's copy, so it stays bounded.
            s.metrics = m.metrics.clone();
            s.manifest = Arc::new(m);
            s.mem_events = 0;
            retired
        };
        // Freeing a memtable is a sixth of a flush (a hundred thousand fragments and their strings); it
        // happens on the blocking pool, neither under the snapshot's lock nor on the writer's path. A
        // reader still holding the old snapshot frees its share when it drops it.
        drop(tokio::task::spawn_blocking(move || drop(retired)));
        // Every WAL file but the one just opened holds only events the manifest now covers.
        let wal_dir = self.cfg.data_dir.join("wal");
        for (first, path) in wal::files(&wal_dir)? {
            if first <= cut {
                std::fs::remove_file(&path).map_err(|e| Error::io("remove", &path, e))?;
            }
        }
        wal::sync_dir(&wal_dir)?;
        state.wal_bytes = 0;
        Ok(())
    }

    /// Merges the base and the delta into a new base segment (flushing first). Never deletes a file.
    pub async fn compact(&self) -> Result<()> {
        Box::pin(self.compact_with(&NoReporter)).await
    }

    /// [`compact`](Self::compact), reporting its phases (`flushing`, then `merging` in rows) to `reporter`.
    pub async fn compact_with(&self, reporter: &dyn Reporter) -> Result<()> {
        let w = self.writer()?;
        let mut state = w.state.lock().await;
        Box::pin(self.compact_locked(w, &mut state, reporter)).await
    }

    async fn compact_locked(&self, w: &Writer, state: &mut WriterState, reporter: &dyn Reporter) -> Result<()> {
        reporter.start("flushing", None);
        Box::pin(self.flush_locked(w, state)).await?;
        reporter.finish();
        self.merge_history_locked(reporter).await?;
        let snap = self.snapshot();
        if snap.flushed.is_empty() && snap.base.runs.len() <= 1 {
            return Ok(());
        }
        let version = snap.manifest.version + 1;
        let path = format!("pins/base-{version:020}.parquet");
        reporter.start("merging", Some(snap.base.rows() + snap.flushed.len() as u64));
        let (base_meta, top) =
            crate::merge::compact_into(&self.store, snap.base.clone(), snap.flushed.clone(), &path, reporter).await?;
        reporter.finish();
        let mut m = (*snap.manifest).clone();
        m.version = version;
        m.committed_at = self.clock.now();
        m.base_runs = base_meta.into_iter().collect();
        m.deltas.clear();
        m.last_compaction = Some(m.committed_at);
        let base = Arc::new(Base::open(&self.store, &m.base_runs).await?);
        m.base_top_rows = crate::listing::write_top_rows(&self.store, version, &top, &base, None).await?;
        m.base_top = Some(top);
        manifest::commit(&*self.store, &m).await?;
        tracing::info!(version, rows = base.rows(), "compacted");
        let retired = {
            let mut s = self.shared.write();
            s.manifest = Arc::new(m);
            s.base = base;
            s.newest = crate::newest::index_of(&s.mem);
            std::mem::take(&mut s.flushed)
        };
        drop(tokio::task::spawn_blocking(move || drop(retired)));
        Ok(())
    }

    /// Merges base runs of one size class once there are [`RUN_FANOUT`](crate::merge::RUN_FANOUT) of them
    /// (see `merge::run_merges`), committing each merge; called under the writer's lock. The runs' keys are disjoint, so the merge
    /// only interleaves their rows, and the base's top lists stay as they are.
    async fn merge_runs_locked(&self) -> Result<()> {
        loop {
            let snap = self.snapshot();
            let Some(group) = crate::merge::run_merges(&snap.manifest.base_runs).into_iter().next() else {
                return Ok(());
            };
            let version = snap.manifest.version + 1;
            let picked: Vec<Arc<BaseSegment>> = group.iter().map(|&i| snap.base.runs[i].clone()).collect();
            let rows: u64 = picked.iter().map(|r| r.meta.rows).sum();
            let path = format!("pins/run-{version:020}.parquet");
            let meta = crate::merge::interleave_runs(&self.store, &picked, &path).await?;
            let mut m = (*snap.manifest).clone();
            m.version = version;
            m.committed_at = self.clock.now();
            let keep = |i: &usize| !group.contains(i);
            m.base_runs = (0..snap.base.runs.len())
                .filter(keep)
                .map(|i| snap.manifest.base_runs[i].clone())
                .collect();
            let mut runs: Vec<Arc<BaseSegment>> = (0..snap.base.runs.len())
                .filter(keep)
                .map(|i| snap.base.runs[i].clone())
                .collect();
            if let Some(meta) = meta {
                runs.push(Arc::new(BaseSegment::open(self.store.clone(), meta.clone()).await?));
                m.base_runs.push(meta);
            }
            manifest::commit(&*self.store, &m).await?;
            tracing::info!(version, merged = group.len(), rows, "merged base runs");
            let mut s = self.shared.write();
            s.manifest = Arc::new(m);
            s.base = Arc::new(Base::of(runs));
        }
    }

    /// Merges runs of small history segments (one per flush, rows in event order) into segments sorted
    /// by key, and commits them; called under the writer's lock. A lookup of one pin's history then
    /// reads one bloom filter per merged segment instead of one segment per flush. Merged segments hold
    /// at most [`segment::HISTORY_RUN_ROWS`] rows, so a merge's memory is bounded and no history is
    /// rewritten over and over as the store grows.
    async fn merge_history_locked(&self, reporter: &dyn Reporter) -> Result<()> {
        let snap = self.snapshot();
        let runs = history_runs(&snap.manifest.history);
        if runs.is_empty() {
            return Ok(());
        }
        let version = snap.manifest.version + 1;
        reporter.start("merging history", Some(runs.iter().flatten().map(|m| m.rows).sum()));
        let mut merged = Vec::with_capacity(runs.len());
        for (i, run) in runs.iter().enumerate() {
            let path = format!("history/{version:020}-{i:04}.parquet");
            merged.push(segment::merge_history(&self.store, run, &path).await?);
            reporter.advance(run.iter().map(|m| m.rows).sum());
        }
        reporter.finish();
        let gone: HashSet<&str> = runs.iter().flatten().map(|m| m.path.as_str()).collect();
        let mut m = (*snap.manifest).clone();
        m.version = version;
        m.committed_at = self.clock.now();
        m.history.retain(|s| !gone.contains(s.path.as_str()));
        m.history.extend(merged);
        m.history.sort_by_key(|s| s.seq_range);
        manifest::commit(&*self.store, &m).await?;
        tracing::info!(
            version,
            merged = gone.len(),
            into = runs.len(),
            "merged history segments"
        );
        self.shared.write().manifest = Arc::new(m);
        Ok(())
    }

    /// Deletes objects that no retained manifest references and that are older than the grace period.
    /// Retained are the newest manifest and every manifest younger than the grace period (a reader may
    /// still be on it).
    pub async fn vacuum(&self) -> Result<VacuumReport> {
        self.vacuum_with(&NoReporter).await
    }

    /// [`vacuum`](Self::vacuum), reporting its phases (`reading manifests`, then `deleting` in objects
    /// examined) to `reporter`.
    pub async fn vacuum_with(&self, reporter: &dyn Reporter) -> Result<VacuumReport> {
        use futures::TryStreamExt;
        use object_store::ObjectStoreExt;
        let w = self.writer()?;
        let _state = w.state.lock().await;
        reporter.start("reading manifests", None);
        let versions = manifest::versions(&*self.store).await?;
        let keep_from = versions.len().saturating_sub(1);
        // Ages are measured against the wall clock, which is what the object store stamps files with.
        let now = SystemClock.now().0;
        let grace = self.cfg.vacuum_grace_ms;
        let mut referenced = HashSet::new();
        let mut retained = HashSet::new();
        for (i, v) in versions.iter().enumerate() {
            let path = manifest::path_of(*v);
            let head = self.store.head(&path).await?;
            let young = now - head.last_modified.timestamp_millis() < grace;
            if i >= keep_from || young {
                retained.insert(path.to_string());
                let m = manifest::load(&*self.store, *v).await?;
                referenced.extend(m.files().map(|f| f.path.clone()));
            }
        }
        let mut report = VacuumReport::default();
        // Only Pindex's own prefixes: the object store may be shared with other programs.
        let mut all = Vec::new();
        for prefix in ["_manifest", "pins", "access", "history", "state"] {
            let p = object_store::path::Path::from(prefix);
            all.extend(self.store.list(Some(&p)).try_collect::<Vec<_>>().await?);
        }
        reporter.finish();
        reporter.start("deleting", Some(all.len() as u64));
        for obj in all {
            reporter.advance(1);
            let p = obj.location.to_string();
            if referenced.contains(&p) || retained.contains(&p) {
                continue;
            }
            if now - obj.last_modified.timestamp_millis() < grace {
                report.kept_young += 1;
                continue;
            }
            self.store.delete(&obj.location).await?;
            report.deleted += 1;
            report.bytes += obj.size;
        }
        Ok(report)
    }

    /// Where things stand.
    pub async fn status(&self) -> Result<StoreStatus> {
        let snap = self.snapshot();
        let m = &snap.manifest;
        let wal_bytes = wal::files(&self.cfg.data_dir.join("wal"))?
            .iter()
            .filter_map(|(_, p)| std::fs::metadata(p).ok())
            .map(|m| m.len())
            .sum();
        let mut delta_keys: HashSet<&[u8]> = snap.flushed.keys().map(|k| &**k).collect();
        delta_keys.extend(snap.mem.keys().map(|k| &**k));
        Ok(StoreStatus {
            data_dir: self.cfg.data_dir.clone(),
            object_store: self
                .cfg
                .object_store_url
                .clone()
                .unwrap_or_else(|| self.cfg.data_dir.join("store").display().to_string()),
            version: m.version,
            segments: m.files().count(),
            segment_bytes: m.files().map(|f| f.bytes).sum(),
            base_rows: snap.base.rows(),
            base_runs: snap.base.runs.len(),
            delta_pins: delta_keys.len(),
            wal_bytes,
            unflushed_events: snap.mem_events,
            seq: snap.seq,
            last_compaction: m.last_compaction,
            writer: if self.writer.is_some() {
                Some(format!("this process (pid {})", std::process::id()))
            } else {
                WriterLock::holder_of(&self.cfg.data_dir)
            },
        })
    }

    async fn apply_inner(&self, batch: EventBatch) -> Result<ApplyOutcome> {
        batch.validate()?;
        let w = self.writer()?;
        let mut state = w.state.lock().await;
        if let Some(p) = &state.poisoned {
            return Err(Error::Poisoned(p.clone()));
        }
        if let Some(id) = &batch.id
            && (self.shared.read().batch_ids.contains(id) || state.pending_ids.contains(id))
        {
            return Ok(ApplyOutcome::Duplicate);
        }
        // An empty batch with an id still goes through the WAL, so its id is remembered.
        if batch.events.is_empty() && batch.id.is_none() {
            return Ok(ApplyOutcome::Applied {
                events: 0,
                seq: state.next_seq - 1,
            });
        }
        // Metrics deltas need each changed pin's state before the batch.
        let changed: Vec<Key> = batch
            .events
            .iter()
            .filter(|e| !matches!(e.kind, EventKind::Access(_)))
            .filter_map(|e| e.cid().map(|c| Key::from(c.key())))
            .collect();
        let mut summaries = self.prior_summaries(&state, &changed).await?;
        let mut delta = MetricsDelta::default();
        for event in &batch.events {
            let Some(key) = event.cid().map(Cid::key) else { continue };
            let before = summaries.get(key).copied().flatten();
            let after = match &event.kind {
                // A VFS operation changes no pin; its totals are counted when the record is applied.
                EventKind::Vfs(_) => continue,
                EventKind::Access(_) => {
                    delta.accesses += 1;
                    state.recent.touch(key, event.ts, &mut delta);
                    continue;
                }
                EventKind::Upsert(pin) => Some(PinSummary::of(pin)),
                EventKind::Unpin { .. } => before.map(|b| PinSummary {
                    status: pin_core::PinStatus::Unpinned,
                    ..b
                }),
                EventKind::Status { status, .. } => before.map(|b| PinSummary { status: *status, ..b }),
                EventKind::Tier { tier, .. } => before.map(|b| PinSummary { tier: *tier, ..b }),
            };
            delta.pin_changed(before, after);
            summaries.insert(Key::from(key), after);
        }
        let first_seq = state.next_seq;
        let n = batch.events.len();
        let record = Arc::new(WalRecord {
            first_seq,
            batch_id: batch.id,
            events: batch.events,
            delta,
        });
        let bytes = wal::encode(&record)?;
        let (tx, rx) = oneshot::channel();
        state.wal_bytes += bytes.len() as u64;
        w.jobs
            .send(Job::Append {
                bytes,
                record: record.clone(),
                ack: tx,
            })
            .map_err(|_| thread_gone())?;
        state.next_seq += n as u64;
        state.pending.extend(summaries);
        if let Some(id) = &record.batch_id {
            state.pending_ids.insert(id.clone());
        }
        // Let other batches in while this one waits for its fsync: the WAL thread commits them as a group.
        drop(state);
        let result = rx.await.map_err(|_| thread_gone())?;
        if let Err(e) = result {
            w.state.lock().await.poisoned = Some(e.to_string());
            return Err(e);
        }
        let seq = (first_seq + n as u64).saturating_sub(1);
        // Maintenance runs inline, under the writer lock.
        let (mem_events, mem_pins) = {
            let s = self.shared.read();
            (s.mem_events, s.mem.len())
        };
        let mut state = w.state.lock().await;
        if mem_events >= self.cfg.flush_events
            || mem_pins >= self.cfg.flush_pins
            || state.wal_bytes >= self.cfg.flush_wal_bytes
        {
            Box::pin(self.flush_locked(w, &mut state)).await?;
            if self.shared.read().flushed.len() >= self.cfg.compact_delta_keys {
                Box::pin(self.compact_locked(w, &mut state, &NoReporter)).await?;
            } else {
                Box::pin(self.merge_runs_locked()).await?;
            }
        }
        Ok(ApplyOutcome::Applied { events: n, seq })
    }
}

fn thread_gone() -> Error {
    Error::Poisoned("the WAL thread stopped".into())
}

pub(crate) fn minmax<T: Ord + Copy>(it: impl Iterator<Item = T>) -> Option<(T, T)> {
    it.fold(None, |acc, v| match acc {
        None => Some((v, v)),
        Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
    })
}

/// `YYYY-MM-DD` of a day number since the epoch (UTC, proleptic Gregorian), as Hive-style partition
/// directories name days.
pub(crate) fn day_string(days: i64) -> String {
    chrono::DateTime::from_timestamp(days.saturating_mul(86_400), 0)
        .map_or_else(|| format!("day{days}"), |d| d.format("%Y-%m-%d").to_string())
}

/// Writes the merge of two key-ordered fragment maps (`older`, then `newer`) as a pins segment.
async fn write_merged_delta(
    store: &Arc<dyn ObjectStore>,
    path: &str,
    older: &Layer,
    newer: &Layer,
) -> Result<Option<SegmentMeta>> {
    if older.is_empty() && newer.is_empty() {
        return Ok(None);
    }
    let mut out = SegmentWriter::new(store, path, Table::Pins, older.len() + newer.len())?;
    let mut rows = PinRows::new();
    let mut seqs = None;
    let mut a = older.iter().peekable();
    let mut b = newer.iter().peekable();
    loop {
        let (key, merged);
        match (a.peek(), b.peek()) {
            (None, None) => break,
            (Some((ka, _)), Some((kb, _))) if ka == kb => {
                let ((k, fa), (_, fb)) = (
                    a.next().unwrap_or_else(|| unreachable!()),
                    b.next().unwrap_or_else(|| unreachable!()),
                );
                let mut f = Fragment::clone(fa);
                f.merge(fb);
                (key, merged) = (k, std::borrow::Cow::Owned(f));
            }
            (Some((ka, _)), Some((kb, _))) if ka < kb => {
                let (k, f) = a.next().unwrap_or_else(|| unreachable!());
                (key, merged) = (k, std::borrow::Cow::<Fragment>::Borrowed(f));
            }
            (Some(_), None) => {
                let (k, f) = a.next().unwrap_or_else(|| unreachable!());
                (key, merged) = (k, std::borrow::Cow::<Fragment>::Borrowed(f));
            }
            (_, Some(_)) => {
                let (k, f) = b.next().unwrap_or_else(|| unreachable!());
                (key, merged) = (k, std::borrow::Cow::<Fragment>::Borrowed(f));
            }
        }
        seqs = Some(seqs.map_or((merged.seq, merged.seq), |(lo, hi): (u64, u64)| {
            (lo.min(merged.seq), hi.max(merged.seq))
        }));
        rows.push(key, &merged);
        if rows.len() >= 65_536 {
            out.write(&std::mem::replace(&mut rows, PinRows::new()).finish()?)
                .await?;
        }
    }
    if rows.len() > 0 {
        out.write(&rows.finish()?).await?;
    }
    Ok(Some(out.finish(seqs.unwrap_or((0, 0)), None).await?))
}

async fn write_recent(store: &Arc<dyn ObjectStore>, version: u64, recent: &RecentAccesses) -> Result<SegmentMeta> {
    use object_store::ObjectStoreExt;
    let entries: Vec<(&[u8], i64)> = recent.iter().collect();
    let bytes = postcard::to_stdvec(&entries).map_err(|e| Error::Config(format!("encoding recent accesses: {e}")))?;
    let path = format!("state/recent-{version:020}.bin");
    let meta = SegmentMeta {
        path: path.clone(),
        rows: entries.len() as u64,
        bytes: bytes.len() as u64,
        crc32c: crc32c::crc32c(&bytes),
        seq_range: (0, 0),
        ts_range: None,
    };
    store.put(&object_store::path::Path::from(path), bytes.into()).await?;
    Ok(meta)
}

async fn read_recent(store: &Arc<dyn ObjectStore>, meta: &SegmentMeta) -> Result<RecentAccesses> {
    use object_store::ObjectStoreExt;
    let bytes = store
        .get(&object_store::path::Path::from(meta.path.as_str()))
        .await?
        .bytes()
        .await?;
    let corrupt = |reason: String| Error::Corrupt {
        path: meta.path.clone(),
        reason,
    };
    if crc32c::crc32c(&bytes) != meta.crc32c {
        return Err(corrupt("checksum mismatch".into()));
    }
    let entries: Vec<(Vec<u8>, i64)> = postcard::from_bytes(&bytes).map_err(|e| corrupt(e.to_string()))?;
    let mut out = RecentAccesses::default();
    for (k, s) in entries {
        out.insert(&k, s);
    }
    Ok(out)
}

/// Loads the newest manifest, its segments and the WAL tail. A writer (`repair`) cuts a torn WAL tail.
async fn load(store: &Arc<dyn ObjectStore>, wal_dir: &FsPath, repair: bool) -> Result<(Snapshot, RecentAccesses)> {
    let m = manifest::load_latest(&**store).await?;
    // The writer reads every footer now, so a damaged segment stops it before it writes anything; a reader
    // reads a run's footer when it first needs it.
    let base = Arc::new(if repair {
        Base::open(store, &m.base_runs).await?
    } else {
        Base::lazy(store, &m.base_runs)
    });
    // Each delta segment's rows fold onto those of the older ones.
    let mut flushed: BTreeMap<Key, Fragment> = BTreeMap::new();
    for meta in &m.deltas {
        for (k, f) in segment::read_fragments(store, meta).await? {
            match flushed.entry(k) {
                std::collections::btree_map::Entry::Occupied(mut e) => e.get_mut().merge(&f),
                std::collections::btree_map::Entry::Vacant(e) => {
                    e.insert(f);
                }
            }
        }
    }
    let mut recent = match (&m.recent, repair) {
        (Some(meta), true) => read_recent(store, meta).await?,
        _ => RecentAccesses::default(),
    };
    let flushed: Layer = flushed.into_iter().map(|(k, f)| (k, Arc::new(f))).collect();
    let mut snap = Snapshot {
        base,
        newest: crate::newest::index_of(&flushed),
        flushed,
        metrics: m.metrics.clone(),
        batch_ids: m.batch_ids.iter().cloned().collect(),
        seq: m.wal_seq,
        manifest: Arc::new(m),
        ..Snapshot::default()
    };
    let files = wal::files(wal_dir)?;
    let last = files.len().saturating_sub(1);
    for (i, (_, path)) in files.iter().enumerate() {
        let replay = wal::replay(path)?;
        for rec in &replay.records {
            // `first_seq`, not `last_seq`: a record of an empty batch (an id, no events) covers no sequence
            // number, and is due exactly when its first one is.
            if rec.first_seq <= snap.seq {
                if rec.last_seq() > snap.seq {
                    return Err(Error::Corrupt {
                        path: path.display().to_string(),
                        reason: format!(
                            "record of sequences {}..={} straddles the manifest's {}",
                            rec.first_seq,
                            rec.last_seq(),
                            snap.seq
                        ),
                    });
                }
                continue;
            }
            if rec.first_seq != snap.seq + 1 {
                return Err(Error::Corrupt {
                    path: path.display().to_string(),
                    reason: format!(
                        "record starts at sequence {} but {} was expected",
                        rec.first_seq,
                        snap.seq + 1
                    ),
                });
            }
            if repair {
                let mut ignored = MetricsDelta::default();
                for e in &rec.events {
                    if let EventKind::Access(a) = &e.kind {
                        recent.touch(a.cid.key(), e.ts, &mut ignored);
                    }
                }
            }
            snap.apply_record(rec);
        }
        if let Some(damage) = replay.damage {
            if i != last {
                return Err(Error::Corrupt {
                    path: path.display().to_string(),
                    reason: damage,
                });
            }
            if repair {
                tracing::warn!(path = %path.display(), %damage, kept = replay.valid_len, "cutting the WAL at its last whole record");
                wal::truncate(path, replay.valid_len)?;
            }
        }
    }
    Ok((snap, recent))
}

fn wal_thread(rx: mpsc::Receiver<Job>, mut file: WalFile, dir: PathBuf, shared: Arc<RwLock<Snapshot>>, sync: bool) {
    let mut failed: Option<String> = None;
    while let Ok(first) = rx.recv() {
        let mut group = vec![first];
        while group.len() < 4096 {
            match rx.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        let mut appended = Vec::new();
        let mut rest = Vec::new();
        let mut stop = false;
        for job in group {
            match job {
                Job::Append { bytes, record, ack } if rest.is_empty() => {
                    let r = match &failed {
                        Some(f) => Err(Error::Poisoned(f.clone())),
                        None => file.append(&bytes),
                    };
                    appended.push((r, record, ack));
                }
                other => rest.push(other),
            }
        }
        if !appended.is_empty() {
            let synced = match &failed {
                Some(f) => Err(Error::Poisoned(f.clone())),
                None if sync => file.sync(),
                None => Ok(()),
            };
            if let Err(e) = &synced {
                failed.get_or_insert_with(|| e.to_string());
            }
            let mut snap = shared.write();
            let mut acks = Vec::with_capacity(appended.len());
            for (r, record, ack) in appended {
                match (&r, &synced, &failed) {
                    (Ok(()), Ok(()), None) => {
                        snap.apply_record(&record);
                        acks.push((ack, Ok(())));
                    }
                    _ => {
                        let msg = failed.clone().unwrap_or_else(|| "WAL write failed".into());
                        failed.get_or_insert_with(|| msg.clone());
                        acks.push((ack, Err(Error::Poisoned(msg))));
                    }
                }
            }
            drop(snap);
            for (ack, r) in acks {
                let _ = ack.send(r);
            }
        }
        // Jobs after a rotation barrier are handled in order, one at a time.
        for job in rest {
            match job {
                Job::Rotate { first_seq, ack } => {
                    let r = (|| {
                        if let Some(f) = &failed {
                            return Err(Error::Poisoned(f.clone()));
                        }
                        file.sync()?;
                        file = WalFile::open(&dir, first_seq)?;
                        Ok(shared.read().seq)
                    })();
                    let _ = ack.send(r);
                }
                Job::Append { bytes, record, ack } => {
                    let r = match &failed {
                        Some(f) => Err(Error::Poisoned(f.clone())),
                        None => file
                            .append(&bytes)
                            .and_then(|()| if sync { file.sync() } else { Ok(()) }),
                    };
                    match r {
                        Ok(()) => {
                            shared.write().apply_record(&record);
                            let _ = ack.send(Ok(()));
                        }
                        Err(e) => {
                            failed.get_or_insert_with(|| e.to_string());
                            let _ = ack.send(Err(e));
                        }
                    }
                }
                Job::Stop => stop = true,
            }
        }
        if stop {
            break;
        }
    }
    if failed.is_none() {
        let _ = file.sync();
    }
}

impl Drop for ParquetPinStore {
    fn drop(&mut self) {
        if let Some(w) = &mut self.writer {
            let _ = w.jobs.send(Job::Stop);
            if let Some(t) = w.thread.take() {
                let _ = t.join();
            }
        }
    }
}

#[async_trait]
impl PinStore for ParquetPinStore {
    async fn apply(&self, batch: EventBatch) -> pin_core::Result<ApplyOutcome> {
        Ok(Box::pin(self.apply_inner(batch)).await?)
    }

    async fn get(&self, cid: &Cid) -> pin_core::Result<Option<PinView>> {
        Ok(self.get_inner(cid.key()).await?)
    }

    async fn list(&self, query: &PinQuery) -> pin_core::Result<PinPage> {
        Ok(self.list_inner(query).await?)
    }

    async fn metrics(&self) -> pin_core::Result<Metrics> {
        Ok(self.shared.read().metrics.report(self.clock.now()))
    }

    async fn history(&self, cid: &Cid, limit: usize) -> pin_core::Result<Vec<HistoryEntry>> {
        Ok(self.history_inner(cid.key(), limit).await?)
    }

    async fn accesses(&self, cid: &Cid, limit: usize) -> pin_core::Result<Vec<AccessRecord>> {
        Ok(self.accesses_inner(cid.key(), limit).await?)
    }
}

impl ParquetPinStore {
    async fn get_inner(&self, key: &[u8]) -> Result<Option<PinView>> {
        let (base, delta) = {
            let s = self.shared.read();
            (s.base.clone(), s.delta_of(key))
        };
        // Even when the delta holds the newest full pin, the base holds older statistics and the creation
        // time; a miss costs one bloom-filter probe.
        let mut f = base.lookup(&[key]).await?.into_values().next().unwrap_or_default();
        if let Some(d) = delta {
            f.merge(&d);
        }
        Ok(f.view())
    }

    async fn list_inner(&self, query: &PinQuery) -> Result<PinPage> {
        query.validate()?;
        if query.order == ListOrder::NewestFirst {
            if let Some(pins) = self.newest_first(&query.filter, query.limit).await? {
                return Ok(PinPage { pins, next: None });
            }
            let mut rows = self
                .sorted(&crate::listing::SortedQuery {
                    filter: query.filter.clone(),
                    live_only: false,
                    sort: crate::listing::PinSort::Created,
                    descending: true,
                    after: None,
                    limit: Some(query.limit),
                })
                .await?;
            let mut pins = Vec::new();
            while let Some(v) = rows.next().await? {
                pins.push(v);
            }
            return Ok(PinPage { pins, next: None });
        }
        let snap = self.snapshot();
        let after = query.after.as_ref().map(|c| Key::from(c.key()));
        let mut it = MergeIter::new(snap.base.clone(), after, snap.flushed.clone(), snap.mem.clone()).await?;
        let mut pins = Vec::new();
        while pins.len() < query.limit {
            let Some((_, f)) = it.next().await? else { break };
            if let Some(v) = f.view().filter(|v| query.filter.matches(v)) {
                pins.push(v);
            }
        }
        let next = (query.limit > 0 && pins.len() == query.limit)
            .then(|| pins.last().map(|v: &PinView| Cursor::after(&v.pin.cid)))
            .flatten();
        Ok(PinPage { pins, next })
    }
}

/// The runs of history segments to merge: consecutive (in event order) segments of fewer than half
/// [`segment::HISTORY_RUN_ROWS`] rows, grouped while their rows add up to at most that; runs of one
/// segment are left alone. A segment that is already large ends a run, so it is never rewritten.
fn history_runs(segments: &[SegmentMeta]) -> Vec<Vec<SegmentMeta>> {
    let mut ordered: Vec<&SegmentMeta> = segments.iter().collect();
    ordered.sort_by_key(|s| s.seq_range);
    let mut runs = Vec::new();
    let mut run: Vec<SegmentMeta> = Vec::new();
    let mut rows = 0;
    for s in ordered {
        let small = s.rows < segment::HISTORY_RUN_ROWS / 2;
        if !small || rows + s.rows > segment::HISTORY_RUN_ROWS {
            if run.len() > 1 {
                runs.push(std::mem::take(&mut run));
            }
            run.clear();
            rows = 0;
        }
        if small {
            rows += s.rows;
            run.push(s.clone());
        }
    }
    if run.len() > 1 {
        runs.push(run);
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::{day_string, history_runs};
    use crate::manifest::SegmentMeta;
    use crate::segment::HISTORY_RUN_ROWS;

    fn seg(seq: u64, rows: u64) -> SegmentMeta {
        SegmentMeta {
            path: format!("history/{seq}"),
            rows,
            bytes: rows * 30,
            crc32c: 0,
            seq_range: (seq, seq + 9),
            ts_range: None,
        }
    }

    fn paths(runs: &[Vec<SegmentMeta>]) -> Vec<Vec<&str>> {
        runs.iter()
            .map(|r| r.iter().map(|m| m.path.as_str()).collect())
            .collect()
    }

    #[test]
    fn history_runs_group_small_neighbours_up_to_the_bound() {
        let fifth = HISTORY_RUN_ROWS / 5;
        // Seven flushes of a fifth each, given out of order: five, then the two left.
        let segs: Vec<_> = [60, 0, 10, 20, 30, 40, 50].iter().map(|&s| seg(s, fifth)).collect();
        assert_eq!(
            paths(&history_runs(&segs)),
            vec![
                vec!["history/0", "history/10", "history/20", "history/30", "history/40"],
                vec!["history/50", "history/60"],
            ]
        );
        // A large segment ends a run and is never part of one; a run of one segment is left alone.
        let segs = vec![
            seg(0, 10),
            seg(10, HISTORY_RUN_ROWS),
            seg(20, 10),
            seg(30, 10),
            seg(40, HISTORY_RUN_ROWS / 2),
            seg(50, 10),
        ];
        assert_eq!(paths(&history_runs(&segs)), vec![vec!["history/20", "history/30"]]);
        assert!(history_runs(&[seg(0, 10)]).is_empty());
        assert!(history_runs(&[]).is_empty());
    }

    #[test]
    fn access_partitions_are_named_by_utc_day() {
        assert_eq!(day_string(0), "1970-01-01");
        assert_eq!(day_string(-1), "1969-12-31");
        // 2026-01-01 is day 20,454; 2024-02-29 exists, day 19,782.
        assert_eq!(day_string(20_454), "2026-01-01");
        assert_eq!(day_string(19_782), "2024-02-29");
        assert_eq!(
            day_string(i64::MAX / 86_400_000),
            format!("day{}", i64::MAX / 86_400_000)
        );
    }
}
