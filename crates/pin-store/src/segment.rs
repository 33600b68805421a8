//! Immutable Parquet segments on the object store: writing them, reading them whole, and point lookups.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use bytes::Bytes;
use datafusion::arrow::array::{AsArray, BinaryArray, RecordBatch, Scalar};
use datafusion::arrow::compute::kernels::cmp::eq;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::parquet::arrow::arrow_reader::{
    ArrowPredicateFn, ArrowReaderMetadata, ArrowReaderOptions, RowFilter, RowSelection, RowSelector,
};
// `ParquetObjectReader` is deprecated upstream in favour of hand-written `AsyncFileReader`s
// (arrow-rs#10308); until parquet ships its replacement we keep the maintained adapter rather than roll our own.
#[allow(deprecated)]
use datafusion::parquet::arrow::async_reader::ParquetObjectReader;
use datafusion::parquet::arrow::async_reader::ParquetRecordBatchStreamBuilder;
use datafusion::parquet::arrow::async_writer::AsyncFileWriter;
use datafusion::parquet::arrow::{AsyncArrowWriter, ProjectionMask};
use datafusion::parquet::basic::{Compression, Encoding, ZstdLevel};
use datafusion::parquet::bloom_filter::Sbbf;
use datafusion::parquet::file::metadata::{KeyValue, SortingColumn};
use datafusion::parquet::file::metadata::{PageIndexPolicy, ParquetMetaData};
use datafusion::parquet::file::page_index::column_index::ColumnIndexMetaData;
use datafusion::parquet::file::properties::{EnabledStatistics, WriterProperties};
use datafusion::parquet::file::statistics::Statistics;
use datafusion::parquet::schema::types::ColumnPath;
use futures::future::BoxFuture;
use futures::{StreamExt, TryStreamExt};
use object_store::ObjectStore;
use object_store::buffered::BufWriter;
use object_store::path::Path;
use parking_lot::Mutex;
use pin_core::{Fragment, Timestamp, hex};

use crate::codec::{self, PINS_SCHEMA, PinColumns};
use crate::error::{Error, Result};
use crate::manifest::SegmentMeta;

/// Rows between two fence keys of a pins segment: a point lookup reads at most this many rows.
pub(crate) const FENCE_ROWS: usize = 4096;
/// Rows per row group of a pins segment (one bloom filter each).
const PINS_ROW_GROUP: usize = 128 * 1024;
const FENCES_KEY: &str = "pindex.fences";
/// Rows per row group of an access or history segment (one bloom filter each). A flush writes its rows
/// in event order, so each group spans every key; a merged history segment is sorted by key, so the
/// groups' key ranges are disjoint and a lookup reads the bloom filter of one group per segment.
const LOG_ROW_GROUP: usize = 64 * 1024;
/// Bytes read from the end of an access or history segment to get its footer in one request; a
/// footer of up to 64 row groups fits.
const FOOTER_HINT: usize = 64 * 1024;
/// How many rows a merged history segment holds at most (see [`merge_history`]).
pub(crate) const HISTORY_RUN_ROWS: u64 = 512 * 1024;

/// The kind of table a segment belongs to; it decides the writer properties.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Table {
    Pins,
    Access,
    History,
    Vfs,
}

fn properties(table: Table, rows_hint: usize) -> WriterProperties {
    let zstd = Compression::ZSTD(ZstdLevel::try_new(3).unwrap_or_default());
    let mut b = WriterProperties::builder()
        .set_compression(zstd)
        .set_dictionary_enabled(false)
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_data_page_row_count_limit(FENCE_ROWS)
        .set_write_batch_size(1024);
    let low_cardinality: &[&str] = match table {
        Table::Pins => &[
            "pin_type",
            "status",
            "tier",
            "pattern",
            "mount",
            "verdict",
            "_patch_status",
            "_patch_tier",
        ],
        Table::Access => &["op", "tier"],
        Table::History => &["event", "status", "tier"],
        Table::Vfs => &["op", "mount"],
    };
    for c in low_cardinality {
        b = b.set_column_dictionary_enabled(ColumnPath::from(*c), true);
    }
    // Integers and timestamps are mostly small or close to their neighbours: delta encoding stores them
    // in a byte or two where plain encoding takes eight.
    let integers: &[&str] = match table {
        Table::Pins => &[
            "size_bytes",
            "created_at",
            "updated_at",
            "replication",
            "last_verified",
            "expires_at",
            "access_count",
            "read_count",
            "bytes_read",
            "bytes_written",
            "first_access",
            "last_access",
            "hotness_at",
            "gap_count",
            "sequential_reads",
            "random_reads",
            "whole_reads",
            "_seq",
            "_patch_updated",
            "_first_read_offset",
            "_last_read_end",
        ],
        Table::Access => &["ts", "seq", "offset", "length", "latency_us"],
        Table::History => &["ts", "seq"],
        Table::Vfs => &["ts", "seq", "offset", "length", "size", "latency_us"],
    };
    for c in integers {
        b = b.set_column_encoding(ColumnPath::from(*c), Encoding::DELTA_BINARY_PACKED);
    }
    if table == Table::Vfs {
        // Read by SQL only: no key, no bloom filter.
    } else if table != Table::Pins {
        // Lookups of one CID's accesses or history skip row groups by the bloom filter on the key. The
        // filter is sized for the rows written (an upper bound on distinct keys): at the library's default
        // of a million it would take 1.2 MB in every segment, more than the rows of a typical flush.
        let key = ColumnPath::from("_key");
        b = b
            .set_max_row_group_row_count(Some(LOG_ROW_GROUP))
            .set_column_bloom_filter_enabled(key.clone(), true)
            .set_column_bloom_filter_fpp(key.clone(), 0.01)
            .set_column_bloom_filter_max_ndv(key, rows_hint.clamp(1, LOG_ROW_GROUP) as u64);
    } else {
        let key = ColumnPath::from("_key");
        b = b
            .set_max_row_group_row_count(Some(PINS_ROW_GROUP))
            .set_column_bloom_filter_enabled(key.clone(), true)
            .set_column_bloom_filter_fpp(key.clone(), 0.001)
            .set_column_bloom_filter_max_ndv(key, rows_hint.clamp(1, PINS_ROW_GROUP) as u64)
            .set_sorting_columns(Some(vec![SortingColumn {
                column_idx: codec::key_column() as i32,
                descending: false,
                nulls_first: false,
            }]));
    }
    b.build()
}

/// Computes the CRC32C of everything written through it.
struct CrcWriter<W> {
    inner: W,
    crc: Arc<Mutex<(u32, u64)>>,
}

impl<W: AsyncFileWriter> AsyncFileWriter for CrcWriter<W> {
    fn write(&mut self, bs: Bytes) -> BoxFuture<'_, datafusion::parquet::errors::Result<()>> {
        {
            let mut c = self.crc.lock();
            c.0 = crc32c::crc32c_append(c.0, &bs);
            c.1 += bs.len() as u64;
        }
        self.inner.write(bs)
    }
    fn complete(&mut self) -> BoxFuture<'_, datafusion::parquet::errors::Result<()>> {
        self.inner.complete()
    }
}

/// Streams batches into one Parquet object. Pins batches must come sorted by key.
pub(crate) struct SegmentWriter {
    w: AsyncArrowWriter<CrcWriter<BufWriter>>,
    crc: Arc<Mutex<(u32, u64)>>,
    table: Table,
    path: String,
    rows: usize,
    fences: Vec<String>,
}

impl SegmentWriter {
    pub(crate) fn new(store: &Arc<dyn ObjectStore>, path: &str, table: Table, rows_hint: usize) -> Result<Self> {
        let crc = Arc::new(Mutex::new((0u32, 0u64)));
        let sink = CrcWriter {
            inner: BufWriter::new(store.clone(), Path::from(path)),
            crc: crc.clone(),
        };
        let schema: SchemaRef = match table {
            Table::Pins => PINS_SCHEMA.clone(),
            Table::Access => codec::ACCESS_SCHEMA.clone(),
            Table::History => codec::HISTORY_SCHEMA.clone(),
            Table::Vfs => codec::VFS_SCHEMA.clone(),
        };
        let w = AsyncArrowWriter::try_new(sink, schema, Some(properties(table, rows_hint)))?;
        Ok(Self {
            w,
            crc,
            table,
            path: path.to_owned(),
            rows: 0,
            fences: Vec::new(),
        })
    }

    pub(crate) async fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        if self.table == Table::Pins {
            let keys = batch.column(codec::key_column()).as_binary::<i32>();
            for i in 0..batch.num_rows() {
                if (self.rows + i).is_multiple_of(FENCE_ROWS) {
                    self.fences.push(hex(keys.value(i)));
                }
            }
        }
        self.rows += batch.num_rows();
        self.w.write(batch).await?;
        Ok(())
    }

    pub(crate) fn rows(&self) -> usize {
        self.rows
    }

    pub(crate) async fn finish(
        mut self,
        seq_range: (u64, u64),
        ts_range: Option<(Timestamp, Timestamp)>,
    ) -> Result<SegmentMeta> {
        if self.table == Table::Pins {
            self.w
                .append_key_value_metadata(KeyValue::new(FENCES_KEY.to_owned(), self.fences.join(",")));
        }
        self.w.close().await?;
        let (crc, bytes) = *self.crc.lock();
        Ok(SegmentMeta {
            path: self.path,
            rows: self.rows as u64,
            bytes,
            crc32c: crc,
            seq_range,
            ts_range,
        })
    }
}

/// Writes `batches` as one Parquet object at `path`.
pub(crate) async fn write(
    store: &Arc<dyn ObjectStore>,
    path: &str,
    table: Table,
    batches: &[RecordBatch],
    seq_range: (u64, u64),
    ts_range: Option<(Timestamp, Timestamp)>,
) -> Result<SegmentMeta> {
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    let mut w = SegmentWriter::new(store, path, table, rows)?;
    for b in batches {
        w.write(b).await?;
    }
    w.finish(seq_range, ts_range).await
}

/// The rows of one key in an append-only segment (access or history), read without a query engine: the
/// bloom filter of each row group skips the groups without the key, and the others are read with a row
/// filter on `_key`, so only the pages holding the key are decoded in full.
#[allow(deprecated)]
pub(crate) async fn key_rows(store: &Arc<dyn ObjectStore>, meta: &SegmentMeta, key: &[u8]) -> Result<Vec<RecordBatch>> {
    let corrupt = |reason: String| Error::Corrupt {
        path: meta.path.clone(),
        reason,
    };
    // The footer in one read (its length and the metadata), not two.
    let reader = || {
        ParquetObjectReader::new(store.clone(), Path::from(meta.path.as_str()))
            .with_file_size(meta.bytes)
            .with_footer_size_hint(FOOTER_HINT)
    };
    // The page index: each page's key range (column index) and position (offset index), so that only the
    // pages whose range holds the key are fetched and decoded, instead of whole column chunks.
    let options = ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Optional);
    let reader_meta = ArrowReaderMetadata::load_async(&mut reader(), options)
        .await
        .map_err(|e| corrupt(format!("footer does not decode: {e}")))?;
    let schema_descr = reader_meta.metadata().file_metadata().schema_descr_ptr();
    let key_col = (0..schema_descr.num_columns())
        .find(|&i| schema_descr.column(i).name() == "_key")
        .ok_or_else(|| corrupt("no _key column".into()))?;
    let mut builder = ParquetRecordBatchStreamBuilder::new_with_metadata(reader(), reader_meta.clone());
    let mut groups = Vec::new();
    for (rg, group) in reader_meta.metadata().row_groups().iter().enumerate() {
        // The key range of the group first: it costs no read, and in a segment sorted by key it leaves
        // one group. (Truncated statistics still bound the range: a shortened minimum is not above the
        // true one, a shortened maximum is rounded up.)
        if let Some(Statistics::ByteArray(st)) = group.column(key_col).statistics() {
            let below = st.min_bytes_opt().is_some_and(|min| key < min);
            let above = st.max_bytes_opt().is_some_and(|max| key > max);
            if below || above {
                continue;
            }
        }
        let bloom = builder
            .get_row_group_column_bloom_filter(rg, key_col)
            .await
            .map_err(|e| corrupt(format!("bloom filter of row group {rg}: {e}")))?;
        if bloom.is_none_or(|b| b.check(key)) {
            groups.push(rg);
        }
    }
    if groups.is_empty() {
        return Ok(Vec::new());
    }
    let selection = key_pages(reader_meta.metadata(), &groups, key_col, key);
    if selection.as_ref().is_some_and(|s| !s.selects_any()) {
        return Ok(Vec::new());
    }
    let wanted = Scalar::new(BinaryArray::from_vec(vec![key]));
    let predicate = ArrowPredicateFn::new(ProjectionMask::roots(&schema_descr, [key_col]), move |batch| {
        eq(batch.column(0), &wanted)
    });
    let mut builder = builder.with_row_groups(groups);
    if let Some(selection) = selection {
        builder = builder.with_row_selection(selection);
    }
    builder
        .with_row_filter(RowFilter::new(vec![Box::new(predicate)]))
        .build()
        .map_err(|e| corrupt(e.to_string()))?
        .try_collect::<Vec<_>>()
        .await
        .map_err(|e| corrupt(e.to_string()))
}

/// The rows of the given row groups (in that order, as a reader restricted to them counts rows) that lie
/// in a page of the key column whose range may hold `key`. Segments written sorted by key (access segments,
/// merged history) have narrow page ranges, so this leaves a page or two; in a segment
/// written in event order every page spans most keys and nearly everything stays selected. `None` when
/// the file has no page index.
fn key_pages(md: &ParquetMetaData, groups: &[usize], key_col: usize, key: &[u8]) -> Option<RowSelection> {
    let (column_index, offset_index) = (md.column_index()?, md.offset_index()?);
    let mut selectors = Vec::new();
    for &rg in groups {
        let rows = usize::try_from(md.row_group(rg).num_rows()).ok()?;
        let pages = offset_index.get(rg)?.get(key_col)?.page_locations();
        let ColumnIndexMetaData::BYTE_ARRAY(ranges) = column_index.get(rg)?.get(key_col)? else {
            return None;
        };
        for (p, page) in pages.iter().enumerate() {
            let start = usize::try_from(page.first_row_index).ok()?;
            let end = match pages.get(p + 1) {
                Some(next) => usize::try_from(next.first_row_index).ok()?,
                None => rows,
            };
            // Truncated bounds still bound: a shortened minimum is not above the true one, a shortened
            // maximum is rounded up. A page of nulls holds no key.
            let may_hold = !ranges.is_null_page(p)
                && ranges.min_value(p).is_none_or(|min| min <= key)
                && ranges.max_value(p).is_none_or(|max| key <= max);
            selectors.push(if may_hold {
                RowSelector::select(end - start)
            } else {
                RowSelector::skip(end - start)
            });
        }
    }
    Some(RowSelection::from(selectors))
}

/// The bytes of a lower-case hex string, as `pin_core::hex` writes them.
pub(crate) fn unhex(s: &str) -> Option<Vec<u8>> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Reads a whole segment, verifying size and checksum first.
pub(crate) async fn read_all(store: &Arc<dyn ObjectStore>, meta: &SegmentMeta) -> Result<Vec<RecordBatch>> {
    use object_store::ObjectStoreExt;
    let path = Path::from(meta.path.as_str());
    let bytes = store.get(&path).await?.bytes().await?;
    let corrupt = |reason: String| Error::Corrupt {
        path: meta.path.clone(),
        reason,
    };
    if bytes.len() as u64 != meta.bytes {
        return Err(corrupt(format!(
            "{} bytes on storage, the manifest says {}",
            bytes.len(),
            meta.bytes
        )));
    }
    if crc32c::crc32c(&bytes) != meta.crc32c {
        return Err(corrupt(
            "checksum mismatch: the file changed after it was written".into(),
        ));
    }
    let reader = datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes)
        .map_err(|e| corrupt(e.to_string()))?
        .with_batch_size(8192)
        .build()
        .map_err(|e| corrupt(e.to_string()))?;
    reader
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| corrupt(e.to_string()))
}

/// Reads a pins segment whole into fragments.
pub(crate) async fn read_fragments(
    store: &Arc<dyn ObjectStore>,
    meta: &SegmentMeta,
) -> Result<BTreeMap<Arc<[u8]>, Fragment>> {
    let mut out = BTreeMap::new();
    for batch in read_all(store, meta).await? {
        let cols = PinColumns::new(&batch, &meta.path)?;
        for row in 0..batch.num_rows() {
            out.insert(Arc::from(cols.key(row)), cols.fragment(row)?);
        }
    }
    Ok(out)
}

/// The base: pins segments ("runs", see [`Manifest::base_runs`]) whose keys are pairwise disjoint, so each
/// key's base state is in at most one run and the runs' rows together are one row per key.
///
/// [`Manifest::base_runs`]: crate::manifest::Manifest::base_runs
#[derive(Debug, Default)]
pub(crate) struct Base {
    pub(crate) runs: Vec<Arc<BaseSegment>>,
}

impl Base {
    /// Opens the runs a manifest lists.
    pub(crate) async fn open(store: &Arc<dyn ObjectStore>, metas: &[SegmentMeta]) -> Result<Self> {
        let runs =
            futures::future::try_join_all(metas.iter().map(|m| BaseSegment::open(store.clone(), m.clone()))).await?;
        Ok(Self {
            runs: runs.into_iter().map(Arc::new).collect(),
        })
    }

    /// The runs a manifest lists, each read on first use (see [`BaseSegment::lazy`]).
    pub(crate) fn lazy(store: &Arc<dyn ObjectStore>, metas: &[SegmentMeta]) -> Self {
        Self {
            runs: metas
                .iter()
                .map(|m| Arc::new(BaseSegment::lazy(store.clone(), m.clone())))
                .collect(),
        }
    }

    /// A base of already opened runs.
    pub(crate) fn of(runs: Vec<Arc<BaseSegment>>) -> Self {
        Self { runs }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    /// The runs' paths, for an error about the base as a whole.
    pub(crate) fn paths(&self) -> String {
        self.runs
            .iter()
            .map(|r| r.meta.path.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Rows in all runs.
    pub(crate) fn rows(&self) -> u64 {
        self.runs.iter().map(|r| r.meta.rows).sum()
    }

    /// Whether some run may hold `key` (bloom filters; see [`BaseSegment::may_contain`]).
    pub(crate) async fn may_contain(&self, key: &[u8]) -> Result<bool> {
        for run in &self.runs {
            if run.may_contain(key).await? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Fragments of the given keys that are in the base, from whichever run holds each.
    pub(crate) async fn lookup(&self, keys: &[&[u8]]) -> Result<HashMap<Arc<[u8]>, Fragment>> {
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        let found = futures::future::try_join_all(self.runs.iter().map(|r| r.lookup(keys))).await?;
        let mut found = found.into_iter();
        let mut out = found.next().unwrap_or_default();
        for more in found {
            out.extend(more);
        }
        Ok(out)
    }
}

/// One pins segment of the base, opened for point lookups and ordered scans.
///
/// Its footer and offset index are read on first use, not when the store opens: a command that answers
/// from the manifest (`status`, `metrics`) never decodes them. [`open`](Self::open) reads them at once.
#[derive(Debug)]
pub(crate) struct BaseSegment {
    pub(crate) meta: SegmentMeta,
    store: Arc<dyn ObjectStore>,
    footer: tokio::sync::OnceCell<Footer>,
    blooms: Mutex<HashMap<usize, Option<Arc<Sbbf>>>>,
}

/// What a base segment's footer says, checked against its manifest entry.
#[derive(Debug)]
struct Footer {
    reader_meta: ArrowReaderMetadata,
    fences: Vec<Vec<u8>>,
    row_group_starts: Vec<usize>,
}

impl BaseSegment {
    /// Opens a segment and reads its footer now, so that damage to it is reported here.
    pub(crate) async fn open(store: Arc<dyn ObjectStore>, meta: SegmentMeta) -> Result<Self> {
        let seg = Self::lazy(store, meta);
        seg.footer().await?;
        Ok(seg)
    }

    /// A segment whose footer is read when a lookup or scan first needs it.
    pub(crate) fn lazy(store: Arc<dyn ObjectStore>, meta: SegmentMeta) -> Self {
        Self {
            meta,
            store,
            footer: tokio::sync::OnceCell::new(),
            blooms: Mutex::new(HashMap::new()),
        }
    }

    async fn footer(&self) -> Result<&Footer> {
        self.footer.get_or_try_init(|| self.read_footer()).await
    }

    async fn read_footer(&self) -> Result<Footer> {
        let meta = &self.meta;
        let corrupt = |reason: String| Error::Corrupt {
            path: meta.path.clone(),
            reason,
        };
        let mut reader = self.reader();
        // Row selections need the offset index (where each page starts) to skip pages; the column index
        // (each page's minimum and maximum) is never consulted, since the fence keys locate a key's rows.
        let options = ArrowReaderOptions::new()
            .with_offset_index_policy(PageIndexPolicy::Required)
            .with_column_index_policy(PageIndexPolicy::Skip);
        let reader_meta = ArrowReaderMetadata::load_async(&mut reader, options)
            .await
            .map_err(|e| corrupt(format!("footer does not decode: {e}")))?;
        if reader_meta.schema().fields() != PINS_SCHEMA.fields() {
            return Err(corrupt("schema does not match this version of pindex".into()));
        }
        let md = reader_meta.metadata();
        let fences = md
            .file_metadata()
            .key_value_metadata()
            .and_then(|kv| kv.iter().find(|k| k.key == FENCES_KEY))
            .and_then(|k| k.value.as_deref())
            .filter(|s| !s.is_empty())
            .map(|s| s.split(',').map(unhex).collect::<Option<Vec<_>>>())
            .unwrap_or(Some(Vec::new()))
            .ok_or_else(|| corrupt("fence keys do not decode".into()))?;
        let mut row_group_starts = Vec::with_capacity(md.num_row_groups());
        let mut start = 0usize;
        for rg in md.row_groups() {
            row_group_starts.push(start);
            start += usize::try_from(rg.num_rows()).unwrap_or(0);
        }
        if start as u64 != meta.rows || fences.len() != start.div_ceil(FENCE_ROWS) {
            return Err(corrupt(format!(
                "{start} rows and {} fences, the manifest says {} rows",
                fences.len(),
                meta.rows
            )));
        }
        Ok(Footer {
            reader_meta,
            fences,
            row_group_starts,
        })
    }

    #[allow(deprecated)]
    fn reader(&self) -> ParquetObjectReader {
        ParquetObjectReader::new(self.store.clone(), Path::from(self.meta.path.as_str()))
            .with_file_size(self.meta.bytes)
    }

    fn corrupt(&self, e: impl std::fmt::Display) -> Error {
        Error::Corrupt {
            path: self.meta.path.clone(),
            reason: e.to_string(),
        }
    }

    async fn bloom(&self, rg: usize) -> Result<Option<Arc<Sbbf>>> {
        if let Some(b) = self.blooms.lock().get(&rg) {
            return Ok(b.clone());
        }
        let footer = self.footer().await?;
        let mut builder = ParquetRecordBatchStreamBuilder::new_with_metadata(self.reader(), footer.reader_meta.clone());
        let bloom = builder
            .get_row_group_column_bloom_filter(rg, codec::key_column())
            .await
            .map_err(|e| self.corrupt(format!("bloom filter of row group {rg}: {e}")))?
            .map(Arc::new);
        self.blooms.lock().insert(rg, bloom.clone());
        Ok(bloom)
    }

    /// Whether this segment may hold `key`: false when the key is outside every fence block or its row
    /// group's bloom filter rules it out. Reads no rows (the bloom filter once per row group).
    pub(crate) async fn may_contain(&self, key: &[u8]) -> Result<bool> {
        let footer = self.footer().await?;
        let Some(block) = footer.block_of(key) else {
            return Ok(false);
        };
        let rg = footer.row_group_of(block * FENCE_ROWS);
        Ok(self.bloom(rg).await?.is_none_or(|bloom| bloom.check(key)))
    }

    /// Fragments of the given keys that are in this segment.
    pub(crate) async fn lookup(&self, keys: &[&[u8]]) -> Result<HashMap<Arc<[u8]>, Fragment>> {
        let footer = self.footer().await?;
        let mut blocks = Vec::new();
        let mut wanted = HashSet::new();
        for key in keys {
            let Some(block) = footer.block_of(key) else { continue };
            let rg = footer.row_group_of(block * FENCE_ROWS);
            if let Some(bloom) = self.bloom(rg).await?
                && !bloom.check(*key)
            {
                continue;
            }
            blocks.push(block);
            wanted.insert(*key);
        }
        let mut out = HashMap::new();
        if blocks.is_empty() {
            return Ok(out);
        }
        blocks.sort_unstable();
        blocks.dedup();
        let total = self.meta.rows as usize;
        // Phase 1: the key column of the candidate blocks only, to find the rows that really match
        // (a bloom filter answers "maybe").
        let ranges = blocks
            .iter()
            .map(|&b| b * FENCE_ROWS..((b + 1) * FENCE_ROWS).min(total));
        let selection = RowSelection::from_consecutive_ranges(ranges, total);
        let schema_descr = footer.reader_meta.metadata().file_metadata().schema_descr_ptr();
        let key_only = ProjectionMask::roots(&schema_descr, [codec::key_column()]);
        let mut rows = Vec::new();
        let mut stream = ParquetRecordBatchStreamBuilder::new_with_metadata(self.reader(), footer.reader_meta.clone())
            .with_projection(key_only)
            .with_row_selection(selection.clone())
            .with_batch_size(FENCE_ROWS)
            .build()
            .map_err(|e| self.corrupt(e))?;
        let mut row_ids = selected_rows(&selection);
        while let Some(batch) = stream.next().await {
            let batch = batch.map_err(|e| self.corrupt(e))?;
            let keys = batch.column(0).as_binary::<i32>();
            for i in 0..batch.num_rows() {
                let Some(row) = row_ids.next() else {
                    return Err(self.corrupt("more rows than selected"));
                };
                if wanted.contains(keys.value(i)) {
                    rows.push(row);
                }
            }
        }
        if rows.is_empty() {
            return Ok(out);
        }
        // Phase 2: every column of the matching rows.
        let selection = RowSelection::from_consecutive_ranges(rows.iter().map(|&r| r..r + 1), total);
        let mut stream = ParquetRecordBatchStreamBuilder::new_with_metadata(self.reader(), footer.reader_meta.clone())
            .with_row_selection(selection)
            .with_batch_size(FENCE_ROWS)
            .build()
            .map_err(|e| self.corrupt(e))?;
        while let Some(batch) = stream.next().await {
            let batch = batch.map_err(|e| self.corrupt(e))?;
            let cols = PinColumns::new(&batch, &self.meta.path)?;
            for row in 0..batch.num_rows() {
                let k = cols.key(row);
                if wanted.contains(k) {
                    out.insert(Arc::from(k), cols.fragment(row)?);
                }
            }
        }
        Ok(out)
    }

    /// Batches in key order, starting with the block that may hold `after` (rows up to it included).
    pub(crate) async fn scan_from(
        &self,
        after: Option<&[u8]>,
        batch_size: usize,
    ) -> Result<impl futures::Stream<Item = Result<RecordBatch>> + Send + 'static> {
        let footer = self.footer().await?;
        let total = self.meta.rows as usize;
        let first_row = after.and_then(|k| footer.block_of(k)).map_or(0, |b| b * FENCE_ROWS);
        let selection = RowSelection::from_consecutive_ranges(std::iter::once(first_row..total), total);
        let path = self.meta.path.clone();
        let stream = ParquetRecordBatchStreamBuilder::new_with_metadata(self.reader(), footer.reader_meta.clone())
            .with_row_selection(selection)
            .with_batch_size(batch_size)
            .build()
            .map_err(|e| self.corrupt(e))?;
        Ok(stream.map_err(move |e| Error::Corrupt {
            path: path.clone(),
            reason: e.to_string(),
        }))
    }
}

impl Footer {
    /// The fence block that may hold `key`.
    fn block_of(&self, key: &[u8]) -> Option<usize> {
        let i = self.fences.partition_point(|f| f.as_slice() <= key);
        i.checked_sub(1)
    }

    fn row_group_of(&self, row: usize) -> usize {
        self.row_group_starts.partition_point(|&s| s <= row) - 1
    }
}

/// The row numbers a selection selects, in order.
fn selected_rows(selection: &RowSelection) -> impl Iterator<Item = usize> + '_ {
    let mut start = 0usize;
    selection.iter().flat_map(move |s| {
        let range = start..start + s.row_count;
        start += s.row_count;
        if s.skip { 0..0 } else { range }
    })
}

/// Merges history segments into one sorted by key (then sequence number), written at `path`: a lookup
/// of one pin's history then prunes every row group but one by its key range. Each input is read whole
/// and its checksum verified first; the caller bounds the rows (see [`HISTORY_RUN_ROWS`]).
pub(crate) async fn merge_history(
    store: &Arc<dyn ObjectStore>,
    inputs: &[SegmentMeta],
    path: &str,
) -> Result<SegmentMeta> {
    use datafusion::arrow::compute::{SortColumn, concat_batches, lexsort_to_indices, take_record_batch};
    let schema = codec::HISTORY_SCHEMA.clone();
    let mut batches = Vec::new();
    for meta in inputs {
        for b in read_all(store, meta).await? {
            if b.schema().fields() != schema.fields() {
                return Err(Error::Corrupt {
                    path: meta.path.clone(),
                    reason: "history segment schema does not match this version of pindex".into(),
                });
            }
            batches.push(b);
        }
    }
    let all = concat_batches(&schema, &batches)?;
    drop(batches);
    let column = |name: &str| -> Result<SortColumn> {
        let i = schema.index_of(name)?;
        Ok(SortColumn {
            values: all.column(i).clone(),
            options: None,
        })
    };
    let order = lexsort_to_indices(&[column("_key")?, column("seq")?], None)?;
    let sorted = take_record_batch(&all, &order)?;
    drop(all);
    let mut w = SegmentWriter::new(store, path, Table::History, sorted.num_rows())?;
    let mut at = 0;
    while at < sorted.num_rows() {
        let n = LOG_ROW_GROUP.min(sorted.num_rows() - at);
        w.write(&sorted.slice(at, n)).await?;
        at += n;
    }
    let seqs = (
        inputs.iter().map(|m| m.seq_range.0).min().unwrap_or(0),
        inputs.iter().map(|m| m.seq_range.1).max().unwrap_or(0),
    );
    let ts = inputs
        .iter()
        .filter_map(|m| m.ts_range)
        .reduce(|a, b| (a.0.min(b.0), a.1.max(b.1)));
    w.finish(seqs, ts).await
}
