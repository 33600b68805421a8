//! The manifest: which segments make up the store at one version.
//!
//! # Commit contract
//!
//! - **Atomic visibility.** Version `N` is one object, `_manifest/<N as 20 digits>.json`, written whole
//!   with `PutMode::Create` (put-if-absent), which every object_store backend supports. A reader sees a
//!   version completely or not at all.
//! - **Mutual exclusion.** Two writers committing version `N` cannot both succeed; the loser gets
//!   [`Error::Conflict`]. Pindex also keeps one writer per data directory with a lock file, so a conflict
//!   means the store is shared in a way it must not be.
//! - **Consistent listing.** The newest version is the largest listed under `_manifest/`; segments are
//!   written before the manifest that names them, so a listed version is always readable.

use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use pin_core::{MetricsState, Timestamp};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Format version of manifests this code writes. Format 3 writes the last-access histogram
/// (`metrics.last_access_secs`) as a flat sequence of second deltas and counts, where format 2 wrote a map
/// keyed by the second's digits, three times the size, parsed by every command. Format 2 holds the base as
/// key-disjoint `base_runs` and the delta as a list of segments, `deltas`; format 1 held one `base` and
/// one `delta` segment, which this code reads as lists of one. Older formats are rewritten as the current
/// one on the next commit; Pindex versions that know only older formats refuse a newer one.
pub(crate) const FORMAT: u32 = 3;
/// The oldest format this code reads.
const OLDEST_FORMAT: u32 = 1;
const PREFIX: &str = "_manifest";

/// One immutable file of the store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentMeta {
    /// Path inside the object store.
    pub path: String,
    /// Rows.
    pub rows: u64,
    /// Bytes.
    pub bytes: u64,
    /// CRC32C of the whole file.
    pub crc32c: u32,
    /// Smallest and largest sequence number recorded in it: per row, the newest event folded in
    /// (pins segments), or the event itself (access and history segments); `(0, 0)` for writer state.
    pub seq_range: (u64, u64),
    /// Smallest and largest event time (access and history segments).
    pub ts_range: Option<(Timestamp, Timestamp)>,
}

/// The state of the store at one version.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Manifest {
    /// Format of this document.
    pub format: u32,
    /// This version.
    pub version: u64,
    /// When it was committed.
    pub committed_at: Timestamp,
    /// Every event up to this sequence number is in the segments below; the WAL holds the rest.
    pub wal_seq: u64,
    /// The base: full pin state, one row per pin, in segments ("runs") each sorted by key whose keys are
    /// pairwise disjoint, so a pin's base state is in at most one of them. A flush writes the pins new to
    /// the store as a run; runs of about the same size are merged; compaction merges everything into one.
    #[serde(default)]
    pub base_runs: Vec<SegmentMeta>,
    /// Format 1's single base segment; read into `base_runs` on load, never written.
    #[serde(default, skip_serializing)]
    pub base: Option<SegmentMeta>,
    /// Fragments newer than the base, in segments sorted by key, oldest first: a key's delta state is the
    /// fold of its rows in order. A flush appends one (its changes only), or, once there are
    /// [`MAX_DELTAS`], replaces them all with their merge; compaction empties the list.
    #[serde(default)]
    pub deltas: Vec<SegmentMeta>,
    /// Format 1's single delta segment; read into `deltas` on load, never written.
    #[serde(default, skip_serializing)]
    pub delta: Option<SegmentMeta>,
    /// Access events, append-only, partitioned by day.
    pub access: Vec<SegmentMeta>,
    /// Status and tier changes, append-only.
    pub history: Vec<SegmentMeta>,
    /// VFS operations, append-only, partitioned by day (absent in manifests written before they existed).
    #[serde(default)]
    pub vfs: Vec<SegmentMeta>,
    /// The writer's last-access table (see `pin_core::RecentAccesses`).
    pub recent: Option<SegmentMeta>,
    /// Totals as of `wal_seq`.
    pub metrics: MetricsState,
    /// Idempotency ids of every batch applied up to `wal_seq`.
    pub batch_ids: Vec<String>,
    /// When compaction last ran.
    pub last_compaction: Option<Timestamp>,
    /// The largest, hottest and newest pins of the base, over all its runs (absent in manifests written
    /// before it existed): computed by the compaction that wrote a base, joined with a new run's own when a
    /// flush adds one, unchanged when runs merge (their union holds the same pins).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_top: Option<BaseTop>,
    /// The base rows of the pins `base_top`'s largest and hottest lists name, as a small pins segment
    /// (`state/top-<version>.parquet`), so `metrics` shows those pins without reading the base. Absent when
    /// `base_top` is, and in manifests written before it existed, whose readers look the pins up instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_top_rows: Option<SegmentMeta>,
}

/// The largest and the hottest live (not unpinned) pins of the base, best first, ties by key.
///
/// `metrics` answers its top lists from these plus the pins changed since the base, without scanning it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BaseTop {
    /// Live pins in the base.
    pub live: u64,
    /// `(key as hex, size_bytes)` of the largest live pins.
    pub largest: Vec<(String, u64)>,
    /// `(key as hex, hotness rank)` of the hottest accessed live pins; the rank is `log2(hotness) +
    /// hotness_at / half-life`, which orders pins as their hotness decayed to any common instant does.
    pub hottest: Vec<(String, f64)>,
    /// Pins in the base, whatever their status (absent in manifests written before it existed, which
    /// then answer no newest-first listing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pins: Option<u64>,
    /// `(key as hex, created_at ms)` of the newest [`BASE_NEWEST_K`] pins of the base, whatever their status,
    /// newest first, ties by ascending key: newest-first listings start here instead of scanning the base.
    #[serde(default)]
    pub newest: Vec<(String, i64)>,
}

/// How many pins [`BaseTop::newest`] keeps: enough for the first pages of a newest-first listing.
pub(crate) const BASE_NEWEST_K: usize = 512;

/// How many delta segments a flush lets stand before it merges them into one.
pub(crate) const MAX_DELTAS: usize = 8;

/// How many pins of each list [`BaseTop`] keeps.
pub(crate) const BASE_TOP_K: usize = 100;

impl Manifest {
    /// Every object this version references.
    pub fn files(&self) -> impl Iterator<Item = &SegmentMeta> {
        self.base_runs
            .iter()
            .chain(&self.deltas)
            .chain(&self.access)
            .chain(&self.history)
            .chain(&self.vfs)
            .chain(&self.recent)
            .chain(&self.base_top_rows)
    }
}

pub(crate) fn path_of(version: u64) -> Path {
    Path::from(format!("{PREFIX}/{version:020}.json"))
}

/// Every committed version, ascending.
pub(crate) async fn versions(store: &dyn ObjectStore) -> Result<Vec<u64>> {
    let prefix = Path::from(PREFIX);
    let metas: Vec<_> = store.list(Some(&prefix)).try_collect().await?;
    let mut out: Vec<u64> = metas
        .iter()
        .filter_map(|m| m.location.filename()?.strip_suffix(".json")?.parse().ok())
        .collect();
    out.sort_unstable();
    Ok(out)
}

/// Reads one version.
pub(crate) async fn load(store: &dyn ObjectStore, version: u64) -> Result<Manifest> {
    let path = path_of(version);
    let bytes = store.get(&path).await?.bytes().await?;
    let mut m: Manifest = serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt {
        path: path.to_string(),
        reason: format!("manifest does not parse: {e}"),
    })?;
    if !(OLDEST_FORMAT..=FORMAT).contains(&m.format) || m.version != version {
        return Err(Error::Corrupt {
            path: path.to_string(),
            reason: format!(
                "format {} version {} (expected format {OLDEST_FORMAT} to {FORMAT}, version {version})",
                m.format, m.version
            ),
        });
    }
    if let Some(base) = m.base.take() {
        m.base_runs.insert(0, base);
    }
    if let Some(delta) = m.delta.take() {
        m.deltas.insert(0, delta);
    }
    m.format = FORMAT;
    m.metrics.rebuild();
    Ok(m)
}

/// The newest version, or an empty version 0 for a new store.
pub(crate) async fn load_latest(store: &dyn ObjectStore) -> Result<Manifest> {
    match versions(store).await?.last() {
        Some(&v) => load(store, v).await,
        None => Ok(Manifest {
            format: FORMAT,
            ..Manifest::default()
        }),
    }
}

/// Commits `m` as its version, put-if-absent.
pub(crate) async fn commit(store: &dyn ObjectStore, m: &Manifest) -> Result<()> {
    let body = serde_json::to_vec(m).map_err(|e| Error::Config(format!("encoding the manifest: {e}")))?;
    let opts = PutOptions {
        mode: PutMode::Create,
        ..PutOptions::default()
    };
    match store.put_opts(&path_of(m.version), PutPayload::from(body), opts).await {
        Ok(_) => Ok(()),
        Err(object_store::Error::AlreadyExists { .. }) => Err(Error::Conflict { version: m.version }),
        Err(e) => Err(e.into()),
    }
}
