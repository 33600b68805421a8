//! Bulk loading: the first pins of an empty store, written straight into one base run.
//!
//! Applying new pins in batches makes each of them travel the whole write path: the WAL, the memtable, a
//! flush into a run, and the merges of runs as their size classes fill (about `log_F(n)` rewrites, then
//! the final compaction). A store that holds no pin yet needs none of that when its first pins come in
//! key order: they are already the settled base. [`BulkLoad`] writes them as one run and its history
//! segments, with the metrics counted on the way, and commits them with one manifest. Until that commit
//! nothing is visible or recorded; once [`BulkLoad::finish`] returns, every pin is durable.

use std::sync::Arc;

use pin_core::{Fragment, HistoryEntry, MetricsDelta, Pin, PinSummary, Timestamp};

use crate::codec::{self, KeyedRow};
use crate::engine::{ParquetPinStore, WriterState, minmax};
use crate::error::{Error, Result};
use crate::manifest::{self, SegmentMeta};
use crate::merge::RunWriter;
use crate::segment::{self, Base, SegmentWriter, Table};

/// History rows encoded per Parquet write.
const HISTORY_CHUNK_ROWS: usize = 65_536;

/// A bulk load in progress: holds the store's writer, so no batch is applied until it is finished or
/// dropped. Dropping it without [`finish`](Self::finish) records nothing (the objects written so far are
/// referenced by no manifest, and `vacuum` removes them).
pub struct BulkLoad<'a> {
    store: &'a ParquetPinStore,
    state: tokio::sync::MutexGuard<'a, WriterState>,
    version: u64,
    // Boxed, so that the load and its futures stay small.
    run: Box<RunWriter>,
    history: Box<HistoryWriter>,
    delta: MetricsDelta,
    first_seq: u64,
    next_seq: u64,
    last: Option<pin_core::Cid>,
    /// Why the load cannot be finished: a write of it failed.
    broken: Option<String>,
}

impl std::fmt::Debug for BulkLoad<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BulkLoad")
            .field("version", &self.version)
            .field("pins", &self.pins())
            .field("broken", &self.broken)
            .finish_non_exhaustive()
    }
}

/// What a bulk load recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkReport {
    /// Pins loaded.
    pub pins: u64,
    /// The sequence numbers they took, first and last (`None` when no pin was loaded).
    pub seqs: Option<(u64, u64)>,
    /// The manifest version that committed them (`None` when no pin was loaded).
    pub version: Option<u64>,
}

impl ParquetPinStore {
    /// Starts a bulk load into this store, which must hold no pin and no access statistics (after a
    /// flush of what its WAL holds). Pins are then pushed in ascending order of their CIDs' keys
    /// ([`Cid::key`](pin_core::Cid::key)), each recorded as an upsert at its time.
    pub async fn bulk_load(&self) -> Result<BulkLoad<'_>> {
        let w = self.writer()?;
        let mut state = w.state.lock().await;
        Box::pin(self.flush_locked(w, &mut state)).await?;
        let snap = self.snapshot();
        let held = snap.base.rows() as usize + snap.flushed.len() + snap.mem.len();
        if held > 0 {
            return Err(Error::NotEmpty(format!(
                "{} holds {held} pins or accessed CIDs; bulk loading fills an empty store (apply batches instead)",
                self.cfg.data_dir.display()
            )));
        }
        let version = snap.manifest.version + 1;
        let run = Box::new(RunWriter::new(
            &self.store,
            &format!("pins/run-{version:020}.parquet"),
            1 << 20,
        )?);
        Ok(BulkLoad {
            store: self,
            version,
            run,
            history: Box::new(HistoryWriter::new(self.store.clone(), version)),
            delta: MetricsDelta::default(),
            first_seq: state.next_seq,
            next_seq: state.next_seq,
            last: None,
            broken: None,
            state,
        })
    }
}

impl BulkLoad<'_> {
    /// Records `pin` as upserted at `at`. Its key must be greater than the previous pin's: an invalid pin
    /// or one out of order is refused with an error that names it, and the load goes on without it. A
    /// failed write ends the load: `finish` then reports it and commits nothing.
    pub async fn push(&mut self, at: Timestamp, pin: Pin) -> Result<()> {
        if let Some(why) = &self.broken {
            return Err(Error::Poisoned(why.clone()));
        }
        pin.validate()?;
        if let Some(prev) = &self.last
            && pin.cid.key() <= prev.key()
        {
            return Err(Error::Invalid(pin_core::Error::Invalid {
                field: "cid",
                cid: pin.cid.to_string(),
                reason: format!("a bulk load takes pins in ascending key order, and this one comes after {prev}"),
            }));
        }
        let seq = self.next_seq;
        let key = pin.cid.shared_key().clone();
        self.delta.pin_changed(None, Some(PinSummary::of(&pin)));
        self.last = Some(pin.cid.clone());
        self.next_seq += 1;
        let history = (key.clone(), pin.cid.clone(), HistoryEntry::of_upsert(&pin, at, seq));
        let written = match Box::pin(self.history.push(history)).await {
            Ok(()) => Box::pin(self.run.push(&key, &Fragment::created(pin, at, seq))).await,
            Err(e) => Err(e),
        };
        if let Err(e) = &written {
            self.broken = Some(format!("a write of the bulk load failed: {e}"));
        }
        written
    }

    /// Pins pushed so far.
    pub fn pins(&self) -> u64 {
        self.next_seq - self.first_seq
    }

    /// Writes the last rows and commits the load; the pins are durable once this returns.
    pub async fn finish(self) -> Result<BulkReport> {
        if let Some(why) = self.broken {
            return Err(Error::Poisoned(why));
        }
        let pins = self.pins();
        if pins == 0 {
            return Ok(BulkReport {
                pins,
                seqs: None,
                version: None,
            });
        }
        let last_seq = self.next_seq - 1;
        let store = self.store;
        let (Some(run), top) = Box::pin(self.run.finish()).await? else {
            return Err(Error::Poisoned(format!("bulk load of {pins} pins wrote an empty run")));
        };
        let history = Box::pin(self.history.finish()).await?;
        let snap = store.snapshot();
        let mut m = (*snap.manifest).clone();
        m.version = self.version;
        m.committed_at = store.clock.now();
        m.wal_seq = last_seq;
        m.base_runs = vec![run];
        m.base_top = Some(top);
        // The base is one run with no delta over it: what a compaction leaves, and `status` says so.
        m.last_compaction = Some(m.committed_at);
        m.history.extend(history);
        let mut metrics = snap.metrics.clone();
        metrics.apply(&self.delta);
        m.metrics = metrics;
        let base = Arc::new(Base::open(&store.store, &m.base_runs).await?);
        if let Some(top) = &m.base_top {
            m.base_top_rows = crate::listing::write_top_rows(&store.store, self.version, top, &base, None).await?;
        }
        manifest::commit(&*store.store, &m).await?;
        tracing::info!(version = m.version, pins, "bulk loaded");
        {
            let mut s = store.shared.write();
            s.base = base;
            s.metrics = m.metrics.clone();
            s.manifest = Arc::new(m);
            s.seq = last_seq;
        }
        // The WAL holds nothing after the flush that began the load; the next batch follows the loaded
        // pins' sequence numbers, which the manifest covers, so a reopen replays from there.
        let mut state = self.state;
        state.next_seq = last_seq + 1;
        drop(state);
        Ok(BulkReport {
            pins,
            seqs: Some((self.first_seq, last_seq)),
            version: Some(self.version),
        })
    }
}

/// Writes the load's history rows, which come in key order (and so sorted as merged history segments
/// are), in segments of [`segment::HISTORY_RUN_ROWS`] rows: large enough that no later merge rewrites them.
struct HistoryWriter {
    store: Arc<dyn object_store::ObjectStore>,
    version: u64,
    rows: Vec<KeyedRow<HistoryEntry>>,
    out: Option<OpenSegment>,
    done: Vec<SegmentMeta>,
}

/// The history segment being written, with the ranges of its rows' sequence numbers and times.
struct OpenSegment {
    writer: SegmentWriter,
    seqs: (u64, u64),
    ts: (Timestamp, Timestamp),
}

impl HistoryWriter {
    fn new(store: Arc<dyn object_store::ObjectStore>, version: u64) -> Self {
        Self {
            store,
            version,
            rows: Vec::with_capacity(HISTORY_CHUNK_ROWS),
            out: None,
            done: Vec::new(),
        }
    }

    async fn push(&mut self, row: KeyedRow<HistoryEntry>) -> Result<()> {
        self.rows.push(row);
        if self.rows.len() == HISTORY_CHUNK_ROWS {
            self.write().await?;
        }
        Ok(())
    }

    /// Encodes the buffered rows into the current segment, closing it once it is full.
    async fn write(&mut self) -> Result<()> {
        let (Some(seqs), Some(ts)) = (
            minmax(self.rows.iter().map(|r| r.2.seq)),
            minmax(self.rows.iter().map(|r| r.2.ts)),
        ) else {
            return Ok(());
        };
        let open = match &mut self.out {
            Some(open) => open,
            None => {
                let path = format!("history/{:020}-{:04}.parquet", self.version, self.done.len());
                let writer =
                    SegmentWriter::new(&self.store, &path, Table::History, segment::HISTORY_RUN_ROWS as usize)?;
                self.out.insert(OpenSegment { writer, seqs, ts })
            }
        };
        open.writer.write(&codec::history_batch(self.rows.iter())?).await?;
        self.rows.clear();
        open.seqs.1 = seqs.1;
        open.ts = (open.ts.0.min(ts.0), open.ts.1.max(ts.1));
        if open.writer.rows() as u64 >= segment::HISTORY_RUN_ROWS {
            self.close().await?;
        }
        Ok(())
    }

    async fn close(&mut self) -> Result<()> {
        if let Some(open) = self.out.take() {
            self.done.push(open.writer.finish(open.seqs, Some(open.ts)).await?);
        }
        Ok(())
    }

    async fn finish(mut self) -> Result<Vec<SegmentMeta>> {
        self.write().await?;
        self.close().await?;
        Ok(self.done)
    }
}
