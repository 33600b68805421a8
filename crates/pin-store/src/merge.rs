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
use crate::engine::{Key, Layer, Reporter};
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
        let Some(f) = settled(f) else { return Ok(()) };
        let f = &*f;
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

/// A fragment as a run keeps it, everything older being merged into it: `None` when it carries nothing
/// (neither a pin nor accesses), and without its patch when it has no pin (nothing older can take it).
fn settled(f: &Fragment) -> Option<std::borrow::Cow<'_, Fragment>> {
    use std::borrow::Cow;
    match (&f.pin, f.stats.access_count) {
        (None, 0) => None,
        (None, _) => Some(Cow::Owned(Fragment {
            patch: Default::default(),
            ..f.clone()
        })),
        (Some(_), _) => Some(Cow::Borrowed(f)),
    }
}

type BatchStream = std::pin::Pin<Box<dyn futures::Stream<Item = Result<RecordBatch>> + Send>>;

/// One run read in key order; its current row is the next one to merge.
struct RunCursor {
    stream: Option<BatchStream>,
    path: String,
    /// The batch of the current row; `None` once the run is exhausted, and otherwise `row` is in it.
    batch: Option<RecordBatch>,
    /// Counts the batches read, so a caller can tell when `batch` changed.
    batch_no: u64,
    row: usize,
}

impl RunCursor {
    async fn open(run: &BaseSegment, after: Option<&[u8]>) -> Result<Self> {
        let mut c = Self {
            stream: Some(Box::pin(run.scan_from(after, 4096).await?)),
            path: run.meta.path.clone(),
            batch: None,
            batch_no: 0,
            row: 0,
        };
        c.settle(after).await?;
        Ok(c)
    }

    /// The key of the current row; `None` once the run is exhausted.
    fn head(&self) -> Option<&[u8]> {
        // The schema was checked when the batch was read.
        self.batch
            .as_ref()
            .map(|b| PinColumns::unchecked(b, &self.path).key(self.row))
    }

    /// Moves to the first row at or after the current one whose key is past `after`.
    async fn settle(&mut self, after: Option<&[u8]>) -> Result<()> {
        loop {
            if let Some(b) = &self.batch
                && self.row < b.num_rows()
            {
                let key = PinColumns::unchecked(b, &self.path).key(self.row);
                if after.is_some_and(|a| key <= a) {
                    self.row += 1;
                    continue;
                }
                return Ok(());
            }
            self.batch = None;
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
                    return Ok(());
                }
            }
        }
    }

    fn lost(&self) -> Error {
        Error::Corrupt {
            path: self.path.clone(),
            reason: "merge lost its row".into(),
        }
    }

    /// The current row's key and fragment; the cursor moves on to the next row.
    async fn take(&mut self) -> Result<(Key, Fragment)> {
        let b = self.batch.as_ref().ok_or_else(|| self.lost())?;
        let cols = PinColumns::unchecked(b, &self.path);
        let taken = (Key::from(cols.key(self.row)), cols.fragment(self.row)?);
        self.row += 1;
        self.settle(None).await?;
        Ok(taken)
    }
}

/// The cursor whose next key is the smallest (runs are disjoint, so no other has that key).
fn smallest(cursors: &[RunCursor]) -> Option<usize> {
    cursors
        .iter()
        .enumerate()
        .filter_map(|(i, c)| c.head().map(|k| (i, k)))
        .min_by(|a, b| a.1.cmp(b.1))
        .map(|(i, _)| i)
}

/// Rows picked from the cursors' batches without decoding them: each batch is kept once, however many of
/// its rows are picked.
struct Picks {
    /// The batches the picked rows come from, with the paths of their runs.
    sources: Vec<(RecordBatch, String)>,
    /// For each cursor, its batch number and where that batch is in `sources`.
    source_of: Vec<Option<(u64, usize)>>,
}

impl Picks {
    /// Picks from `cursors` cursors.
    fn new(cursors: usize) -> Self {
        Self {
            sources: Vec::new(),
            source_of: vec![None; cursors],
        }
    }

    /// Picks the current row of `cursors[i]` (the cursor moves on): the index of its batch in `sources` and
    /// its row there.
    async fn pick(&mut self, cursors: &mut [RunCursor], i: usize) -> Result<(usize, usize)> {
        let c = &mut cursors[i];
        let src = match self.source_of[i] {
            Some((no, src)) if no == c.batch_no => src,
            _ => {
                let batch = c.batch.clone().ok_or_else(|| c.lost())?;
                self.sources.push((batch, c.path.clone()));
                self.source_of[i] = Some((c.batch_no, self.sources.len() - 1));
                self.sources.len() - 1
            }
        };
        let picked = (src, c.row);
        c.row += 1;
        c.settle(None).await?;
        Ok(picked)
    }
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
    let mut picks = Picks::new(cursors.len());
    let mut rows: Vec<(usize, usize)> = Vec::with_capacity(CHUNK_ROWS);
    while let Some(i) = smallest(&cursors) {
        rows.push(picks.pick(&mut cursors, i).await?);
        if rows.len() == CHUNK_ROWS {
            let full = std::mem::replace(&mut picks, Picks::new(cursors.len()));
            write_picks(&mut out, full, &mut rows).await?;
        }
    }
    write_picks(&mut out, picks, &mut rows).await?;
    if out.rows() == 0 {
        return Ok(None);
    }
    Ok(Some(out.finish((0, max_seq), None).await?))
}

/// Writes the picked rows; the batches they came from are dropped.
async fn write_picks(out: &mut SegmentWriter, picks: Picks, rows: &mut Vec<(usize, usize)>) -> Result<()> {
    if !rows.is_empty() {
        let refs: Vec<&RecordBatch> = picks.sources.iter().map(|(b, _)| b).collect();
        let batch = datafusion::arrow::compute::interleave_record_batch(&refs, rows)?;
        out.write(&batch).await?;
    }
    rows.clear();
    Ok(())
}

/// Writes the base folded with the delta layer `flushed` as one run at `path`, and its top lists.
///
/// Only the rows that a delta fragment touches are decoded, folded and encoded again; the others are
/// settled already (a run holds nothing else) and are copied as Arrow data, their top-list columns read in
/// place. Compacting a large base with a small delta then costs little more than reading and writing its
/// Parquet. `reporter` is told the keys merged, chunk by chunk.
pub(crate) async fn compact_into(
    store: &Arc<dyn ObjectStore>,
    base: Arc<Base>,
    flushed: Layer,
    path: &str,
    reporter: &dyn Reporter,
) -> Result<(Option<SegmentMeta>, BaseTop)> {
    let rows_hint = base.rows() as usize + flushed.len();
    let mut max_seq = base.runs.iter().map(|r| r.meta.seq_range.1).max().unwrap_or(0);
    let mut out = SegmentWriter::new(store, path, Table::Pins, rows_hint)?;
    let mut top = TopCollector::default();
    let mut merged = MergeIter::new(base, None, flushed, Layer::new()).await?;
    while let Some(Merged { picks, entries }) = merged.next_chunk(CHUNK_ROWS).await? {
        let n = entries.len() as u64;
        let mut sources: Vec<&RecordBatch> = picks.sources.iter().map(|(b, _)| b).collect();
        let folded = sources.len();
        let mut rows = PinRows::new();
        let mut order: Vec<(usize, usize)> = Vec::with_capacity(entries.len());
        // A folded row goes to `rows`, the last source of the chunk's interleave.
        let mut fold = |key: &[u8], f: Fragment, order: &mut Vec<(usize, usize)>, top: &mut TopCollector| {
            if let Some(f) = settled(&f) {
                max_seq = max_seq.max(f.seq);
                top.offer(key, &f);
                order.push((folded, rows.len()));
                rows.push(key, &f);
            }
        };
        for entry in entries {
            match entry {
                Entry::Row(src, row, None) => {
                    let (batch, path) = &picks.sources[src];
                    let cols = PinColumns::unchecked(batch, path);
                    top.offer_ranked(cols.key(row), cols.ranking(row)?);
                    order.push((src, row));
                }
                Entry::Row(src, row, Some(delta)) => {
                    let (batch, path) = &picks.sources[src];
                    let cols = PinColumns::unchecked(batch, path);
                    let mut f = cols.fragment(row)?;
                    f.merge(&delta);
                    fold(cols.key(row), f, &mut order, &mut top);
                }
                Entry::Delta(key, f) => fold(&key, f, &mut order, &mut top),
            }
        }
        let rows = rows.finish()?;
        sources.push(&rows);
        if !order.is_empty() {
            out.write(&datafusion::arrow::compute::interleave_record_batch(&sources, &order)?)
                .await?;
        }
        reporter.advance(n);
    }
    let top = top.finish();
    if out.rows() == 0 {
        return Ok((None, top));
    }
    Ok((Some(out.finish((0, max_seq), None).await?), top))
}

/// Where the merge's next key is: in one base run, in the delta layers (the key is theirs), or in both.
enum Next {
    Base(usize),
    Delta(Key),
    Both(usize, Key),
}

/// Consecutive pins of a merge, placed in key order but not decoded yet ([`MergeIter::next_chunk`]), so
/// that decoding, most of a scan's work, can run on other threads than the merge.
pub(crate) struct Merged {
    picks: Picks,
    entries: Vec<Entry>,
}

enum Entry {
    /// A base row (a batch in `picks` and a row in it), with the delta layers' fragment of its key if
    /// they have one.
    Row(usize, usize, Option<Fragment>),
    /// A key only the delta layers hold.
    Delta(Key, Fragment),
}

impl Merged {
    /// How many keys the chunk holds.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The folded fragments, in key order.
    pub(crate) fn fragments(self) -> impl Iterator<Item = Result<Fragment>> {
        let sources = self.picks.sources;
        self.entries.into_iter().map(move |e| match e {
            Entry::Delta(_, f) => Ok(f),
            Entry::Row(src, row, delta) => {
                let (batch, path) = &sources[src];
                let mut f = PinColumns::unchecked(batch, path).fragment(row)?;
                if let Some(d) = delta {
                    f.merge(&d);
                }
                Ok(f)
            }
        })
    }
}

/// Fragments in key order across the base runs and the two delta layers, each folded.
pub(crate) struct MergeIter {
    runs: Vec<RunCursor>,
    flushed: Layer,
    mem: Layer,
    /// The delta layers are read lazily from here on (exclusive).
    delta_after: Option<Key>,
    /// Their smallest key after `delta_after`, once looked up.
    delta_next: Option<Option<Key>>,
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
            delta_next: None,
        })
    }

    /// The smallest key of the delta layers after `delta_after`.
    fn peek_delta(&mut self) -> Option<Key> {
        let (flushed, mem, after) = (&self.flushed, &self.mem, &self.delta_after);
        self.delta_next
            .get_or_insert_with(|| {
                let lower = after.clone().map_or(Bound::Unbounded, Bound::Excluded);
                let a = flushed.range((lower.clone(), Bound::Unbounded)).next().map(|(k, _)| k);
                let b = mem.range((lower, Bound::Unbounded)).next().map(|(k, _)| k);
                match (a, b) {
                    (Some(a), Some(b)) => Some(a.min(b).clone()),
                    (a, b) => a.or(b).cloned(),
                }
            })
            .clone()
    }

    /// The delta layers' fragment of `key`, folded, and move past it.
    fn take_delta(&mut self, key: Key) -> Fragment {
        let mut f = self.flushed.get(&key).map(|f| Fragment::clone(f)).unwrap_or_default();
        if let Some(m) = self.mem.get(&key) {
            f.merge(m);
        }
        self.delta_after = Some(key);
        self.delta_next = None;
        f
    }

    fn peek(&mut self) -> Option<Next> {
        let delta = self.peek_delta();
        let base = smallest(&self.runs);
        match (base, delta) {
            (None, None) => None,
            (Some(i), None) => Some(Next::Base(i)),
            (None, Some(d)) => Some(Next::Delta(d)),
            (Some(i), Some(d)) => Some(match self.runs[i].head().map(|b| b.cmp(&d)) {
                Some(std::cmp::Ordering::Less) => Next::Base(i),
                Some(std::cmp::Ordering::Greater) | None => Next::Delta(d),
                Some(std::cmp::Ordering::Equal) => Next::Both(i, d),
            }),
        }
    }

    pub(crate) async fn next(&mut self) -> Result<Option<(Key, Fragment)>> {
        Ok(match self.peek() {
            None => None,
            Some(Next::Base(i)) => Some(self.runs[i].take().await?),
            Some(Next::Delta(d)) => Some((d.clone(), self.take_delta(d))),
            Some(Next::Both(i, d)) => {
                let delta = self.take_delta(d);
                let (key, mut f) = self.runs[i].take().await?;
                f.merge(&delta);
                Some((key, f))
            }
        })
    }

    /// The next `n` keys (fewer at the end, `None` after it), merged but not decoded.
    pub(crate) async fn next_chunk(&mut self, n: usize) -> Result<Option<Merged>> {
        let mut chunk = Merged {
            picks: Picks::new(self.runs.len()),
            entries: Vec::with_capacity(n),
        };
        while chunk.entries.len() < n {
            let entry = match self.peek() {
                None => break,
                Some(Next::Delta(d)) => Entry::Delta(d.clone(), self.take_delta(d)),
                Some(Next::Base(i)) => {
                    let (src, row) = chunk.picks.pick(&mut self.runs, i).await?;
                    Entry::Row(src, row, None)
                }
                Some(Next::Both(i, d)) => {
                    let delta = self.take_delta(d);
                    let (src, row) = chunk.picks.pick(&mut self.runs, i).await?;
                    Entry::Row(src, row, Some(delta))
                }
            };
            chunk.entries.push(entry);
        }
        Ok((!chunk.entries.is_empty()).then_some(chunk))
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
