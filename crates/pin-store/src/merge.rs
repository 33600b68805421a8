//! Key-ordered merges of the layers: [`MergeIter`] reads the base runs and the delta layers as one
//! sequence of folded fragments; [`RunWriter`] writes such a sequence as a base run; [`run_merges`] picks
//! the runs that a flush merges so that their number stays logarithmic in the number of pins.

use std::ops::Bound;
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use futures::StreamExt;
use object_store::ObjectStore;
use pin_core::Fragment;

use crate::codec::{PinColumns, PinRows};
use crate::engine::{Key, Layer};
use crate::error::{Error, Result};
use crate::listing::TopCollector;
use crate::manifest::{BaseTop, SegmentMeta};
use crate::segment::{Base, BaseSegment, SegmentWriter, Table};

/// Rows a [`RunWriter`] encodes per Parquet write.
const CHUNK_ROWS: usize = 65_536;

/// How many runs of one size class a flush lets stand before it merges them into one: with `F` here, a
/// store of `n` pins has at most `F - 1` runs per class and `log_F(n / RUN_CLASS_ROWS) + 1` classes, and each
/// pin is rewritten once per class it climbs.
pub(crate) const RUN_FANOUT: usize = 8;
/// Rows of the smallest size class: runs of up to `RUN_CLASS_ROWS × RUN_FANOUT` rows are class 0.
const RUN_CLASS_ROWS: u64 = 4096;

/// The size class of a run of `rows` rows: `floor(log_F(rows / RUN_CLASS_ROWS))`, 0 below.
fn class_of(rows: u64) -> u32 {
    let mut class = 0;
    let mut bound = RUN_CLASS_ROWS * RUN_FANOUT as u64;
    while rows >= bound {
        class += 1;
        match bound.checked_mul(RUN_FANOUT as u64) {
            Some(b) => bound = b,
            None => break,
        }
    }
    class
}

/// The groups of runs (indices into `runs`) to merge: every size class that holds [`RUN_FANOUT`] runs or
/// more, all of them. Merged runs can land in a class that then fills up; the caller repeats until no group
/// is left.
pub(crate) fn run_merges(runs: &[SegmentMeta]) -> Vec<Vec<usize>> {
    let mut by_class: std::collections::BTreeMap<u32, Vec<usize>> = std::collections::BTreeMap::new();
    for (i, r) in runs.iter().enumerate() {
        by_class.entry(class_of(r.rows)).or_default().push(i);
    }
    by_class.into_values().filter(|g| g.len() >= RUN_FANOUT).collect()
}

/// Writes fragments, in ascending key order, as one base run, and collects its [`BaseTop`].
///
/// Each fragment is settled first: everything older than it is merged into it, so one with neither a pin
/// nor accesses carries nothing and is dropped, and a pinless one keeps its statistics without the patch
/// that nothing can apply to.
pub(crate) struct RunWriter {
    out: SegmentWriter,
    rows: PinRows,
    top: TopCollector,
    max_seq: u64,
}

impl RunWriter {
    pub(crate) fn new(store: &Arc<dyn ObjectStore>, path: &str, rows_hint: usize) -> Result<Self> {
        Ok(Self {
            out: SegmentWriter::new(store, path, Table::Pins, rows_hint)?,
            rows: PinRows::new(),
            top: TopCollector::default(),
            max_seq: 0,
        })
    }

    /// Appends `key`'s settled state; keys must come in ascending order.
    pub(crate) async fn push(&mut self, key: &[u8], f: &Fragment) -> Result<()> {
        if f.pin.is_none() && f.stats.access_count == 0 {
            return Ok(());
        }
        let cleared;
        let f = if f.pin.is_none() {
            cleared = Fragment {
                patch: Default::default(),
                ..f.clone()
            };
            &cleared
        } else {
            f
        };
        self.max_seq = self.max_seq.max(f.seq);
        self.top.offer(key, f);
        self.rows.push(key, f);
        if self.rows.len() >= CHUNK_ROWS {
            let full = std::mem::replace(&mut self.rows, PinRows::new());
            self.out.write(&full.finish()?).await?;
        }
        Ok(())
    }

    /// Closes the run: its meta (`None` when no row was kept; the object is then left unfinished, and no
    /// manifest references it) and its top lists.
    pub(crate) async fn finish(mut self) -> Result<(Option<SegmentMeta>, BaseTop)> {
        if self.rows.len() > 0 {
            let rows = std::mem::replace(&mut self.rows, PinRows::new());
            self.out.write(&rows.finish()?).await?;
        }
        let top = self.top.finish();
        if self.out.rows() == 0 {
            return Ok((None, top));
        }
        Ok((Some(self.out.finish((0, self.max_seq), None).await?), top))
    }
}

type BatchStream = std::pin::Pin<Box<dyn futures::Stream<Item = Result<RecordBatch>> + Send>>;

/// One run read in key order, with its next key at hand.
struct RunCursor {
    stream: Option<BatchStream>,
    path: String,
    batch: Option<RecordBatch>,
    /// Counts the batches read, so a caller can tell when `batch` changed.
    batch_no: u64,
    row: usize,
    /// The key of the current row; `None` once the run is exhausted.
    head: Option<Key>,
}

impl RunCursor {
    async fn open(run: &BaseSegment, after: Option<&[u8]>) -> Result<Self> {
        let mut c = Self {
            stream: Some(Box::pin(run.scan_from(after, 4096).await?)),
            path: run.meta.path.clone(),
            batch: None,
            batch_no: 0,
            row: 0,
            head: None,
        };
        c.settle(after).await?;
        Ok(c)
    }

    /// Moves to the first row at or after the current one whose key is past `after`.
    async fn settle(&mut self, after: Option<&[u8]>) -> Result<()> {
        loop {
            if let Some(b) = &self.batch
                && self.row < b.num_rows()
            {
                // The schema was checked when the batch was read.
                let key = PinColumns::unchecked(b, &self.path).key(self.row);
                if after.is_some_and(|a| key <= a) {
                    self.row += 1;
                    continue;
                }
                self.head = Some(Key::from(key));
                return Ok(());
            }
            self.head = None;
            let Some(stream) = &mut self.stream else { return Ok(()) };
            match stream.next().await {
                Some(b) => {
                    let b = b?;
                    PinColumns::new(&b, &self.path)?;
                    self.batch = Some(b);
                    self.batch_no += 1;
                    self.row = 0;
                }
                None => {
                    self.stream = None;
                    self.batch = None;
                    return Ok(());
                }
            }
        }
    }

    /// The current row's fragment; the cursor moves on to the next row.
    async fn take(&mut self) -> Result<Fragment> {
        let b = self.batch.as_ref().ok_or_else(|| Error::Corrupt {
            path: self.path.clone(),
            reason: "merge lost its row".into(),
        })?;
        let f = PinColumns::unchecked(b, &self.path).fragment(self.row)?;
        self.row += 1;
        self.settle(None).await?;
        Ok(f)
    }
}

/// The cursor whose next key is the smallest (runs are disjoint, so no other has that key).
fn smallest(cursors: &[RunCursor]) -> Option<usize> {
    cursors
        .iter()
        .enumerate()
        .filter_map(|(i, c)| c.head.as_ref().map(|k| (i, k)))
        .min_by(|a, b| a.1.cmp(b.1))
        .map(|(i, _)| i)
}

/// Writes key-disjoint base runs as one run at `path`, copying their rows as Arrow data (they are settled
/// already, so no row is decoded into a fragment). The base's top lists do not change: the rows are the same.
pub(crate) async fn interleave_runs(
    store: &Arc<dyn ObjectStore>,
    runs: &[Arc<BaseSegment>],
    path: &str,
) -> Result<Option<SegmentMeta>> {
    let rows: u64 = runs.iter().map(|r| r.meta.rows).sum();
    let max_seq = runs.iter().map(|r| r.meta.seq_range.1).max().unwrap_or(0);
    let mut out = SegmentWriter::new(store, path, Table::Pins, rows as usize)?;
    let mut cursors = futures::future::try_join_all(runs.iter().map(|r| RunCursor::open(r, None))).await?;
    // The batches the pending rows come from, and for each cursor which of them is its current one.
    let mut sources: Vec<RecordBatch> = Vec::new();
    let mut source_of: Vec<Option<(u64, usize)>> = vec![None; cursors.len()];
    let mut picks: Vec<(usize, usize)> = Vec::with_capacity(CHUNK_ROWS);
    while let Some(i) = smallest(&cursors) {
        let c = &mut cursors[i];
        let src = match source_of[i] {
            Some((no, src)) if no == c.batch_no => src,
            _ => {
                let batch = c.batch.clone().ok_or_else(|| Error::Corrupt {
                    path: c.path.clone(),
                    reason: "merge lost its row".into(),
                })?;
                sources.push(batch);
                source_of[i] = Some((c.batch_no, sources.len() - 1));
                sources.len() - 1
            }
        };
        picks.push((src, c.row));
        c.row += 1;
        c.settle(None).await?;
        if picks.len() == CHUNK_ROWS {
            write_picks(&mut out, &mut sources, &mut source_of, &mut picks).await?;
        }
    }
    write_picks(&mut out, &mut sources, &mut source_of, &mut picks).await?;
    if out.rows() == 0 {
        return Ok(None);
    }
    Ok(Some(out.finish((0, max_seq), None).await?))
}

/// Writes the picked rows and forgets the batches they came from.
async fn write_picks(
    out: &mut SegmentWriter,
    sources: &mut Vec<RecordBatch>,
    source_of: &mut [Option<(u64, usize)>],
    picks: &mut Vec<(usize, usize)>,
) -> Result<()> {
    if !picks.is_empty() {
        let refs: Vec<&RecordBatch> = sources.iter().collect();
        let batch = datafusion::arrow::compute::interleave_record_batch(&refs, picks)?;
        out.write(&batch).await?;
    }
    picks.clear();
    sources.clear();
    source_of.fill(None);
    Ok(())
}

/// Fragments in key order across the base runs and the two delta layers, each folded.
pub(crate) struct MergeIter {
    runs: Vec<RunCursor>,
    flushed: Layer,
    mem: Layer,
    /// The delta layers are read lazily from here on (exclusive).
    delta_after: Option<Key>,
}

impl MergeIter {
    /// Keys after `after` (all keys when `None`).
    pub(crate) async fn new(base: Arc<Base>, after: Option<Key>, flushed: Layer, mem: Layer) -> Result<Self> {
        let runs =
            futures::future::try_join_all(base.runs.iter().map(|r| RunCursor::open(r, after.as_deref()))).await?;
        Ok(Self {
            runs,
            flushed,
            mem,
            delta_after: after,
        })
    }

    /// The smallest key of the delta layers after `delta_after`.
    fn peek_delta(&self) -> Option<Key> {
        let lower = self.delta_after.clone().map_or(Bound::Unbounded, Bound::Excluded);
        let a = self
            .flushed
            .range((lower.clone(), Bound::Unbounded))
            .next()
            .map(|(k, _)| k);
        let b = self.mem.range((lower, Bound::Unbounded)).next().map(|(k, _)| k);
        match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b).clone()),
            (a, b) => a.or(b).cloned(),
        }
    }

    /// The delta layers' fragment of `key`, folded, and move past it.
    fn take_delta(&mut self, key: Key) -> Fragment {
        let mut f = self.flushed.get(&key).map(|f| Fragment::clone(f)).unwrap_or_default();
        if let Some(m) = self.mem.get(&key) {
            f.merge(m);
        }
        self.delta_after = Some(key);
        f
    }

    /// The run whose next key is the smallest, with that key (runs are disjoint, so it is the only one).
    fn peek_base(&self) -> Option<(usize, Key)> {
        let i = smallest(&self.runs)?;
        Some((i, self.runs[i].head.clone()?))
    }

    pub(crate) async fn next(&mut self) -> Result<Option<(Key, Fragment)>> {
        let base = self.peek_base();
        let delta_key = self.peek_delta();
        match (base, delta_key) {
            (None, None) => Ok(None),
            (Some((i, b)), None) => Ok(Some((b, self.runs[i].take().await?))),
            (Some((i, b)), Some(d)) if b < d => Ok(Some((b, self.runs[i].take().await?))),
            (None, Some(d)) => Ok(Some((d.clone(), self.take_delta(d)))),
            (Some((_, b)), Some(d)) if d < b => Ok(Some((d.clone(), self.take_delta(d)))),
            (Some((i, b)), Some(_)) => {
                let mut f = self.runs[i].take().await?;
                f.merge(&self.take_delta(b.clone()));
                Ok(Some((b, f)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(rows: u64) -> SegmentMeta {
        SegmentMeta {
            path: format!("pins/run-{rows}.parquet"),
            rows,
            bytes: 0,
            crc32c: 0,
            seq_range: (0, 0),
            ts_range: None,
        }
    }

    #[test]
    fn size_classes_grow_by_the_fanout() {
        assert_eq!(class_of(1), 0);
        assert_eq!(class_of(RUN_CLASS_ROWS * RUN_FANOUT as u64 - 1), 0);
        assert_eq!(class_of(RUN_CLASS_ROWS * RUN_FANOUT as u64), 1);
        assert_eq!(class_of(100_000), 1);
        assert_eq!(class_of(800_000), 2);
        assert_eq!(class_of(6_400_000), 3);
        assert!(class_of(u64::MAX) > 3, "no overflow at the top");
    }

    #[test]
    fn a_class_is_merged_once_it_holds_the_fanout() {
        let mut runs: Vec<SegmentMeta> = (0..RUN_FANOUT - 1).map(|_| run(100_000)).collect();
        runs.push(run(5_000_000));
        assert!(run_merges(&runs).is_empty());
        runs.insert(3, run(90_000));
        let groups = run_merges(&runs);
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].len(), RUN_FANOUT);
        assert!(!groups[0].contains(&RUN_FANOUT), "the large run stays: {groups:?}");
    }
}
