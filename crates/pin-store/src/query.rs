//! SQL over the store: a DataFusion session with the read-only tables `pins`, `access_events`, `vfs_events` and
//! `pin_history`, built on one snapshot.
//!
//! `pins` is the base runs (filtered to rows holding a pin; their keys are disjoint, so together they are one
//! row per pin) minus the pins that changed since, by a left anti-join on the key, plus those pins' merged
//! rows; when nothing changed since the last flush it is a plain scan of sorted Parquet files, with
//! DataFusion's own predicate, statistics, page-index and bloom-filter pruning. No window function over the whole table is involved.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, BinaryArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::JoinType;
use datafusion::dataframe::DataFrame;
use datafusion::execution::context::{SQLOptions, SessionConfig, SessionContext};
use datafusion::prelude::{ParquetReadOptions, col};
use pin_core::{AccessRecord, Fragment, HistoryEntry};

use crate::codec::{self, PUBLIC_PIN_COLUMNS, PinRows};
use crate::engine::{Key, ParquetPinStore, Snapshot};
use crate::error::{Error, Result};
use crate::manifest::SegmentMeta;
use crate::segment;

const STORE_URL: &str = "pindex://store/";

/// The public columns of a pins frame, with `cid` spelled out from the key where it was not stored.
fn public(df: DataFrame) -> Result<DataFrame> {
    let udf = Arc::new(codec::cid_udf());
    let cid = udf.call(vec![col("_key"), col("_cid_form"), col("cid")]).alias("cid");
    let exprs = std::iter::once(cid).chain(PUBLIC_PIN_COLUMNS[1..].iter().map(|c| col(*c)));
    Ok(df.select(exprs.collect::<Vec<_>>())?)
}

/// An `access_events` or `pin_history` frame with `cid` spelled out from `_key` and `_cid_form` where it was
/// not stored, and without those two internal columns.
fn spell_cid(df: DataFrame) -> Result<DataFrame> {
    let udf = Arc::new(codec::cid_udf());
    let cid = udf.call(vec![col("_key"), col("_cid_form"), col("cid")]).alias("cid");
    let rest: Vec<_> = df
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .filter(|n| n != "cid" && !n.starts_with('_'))
        .map(col)
        .collect();
    Ok(df.select(std::iter::once(cid).chain(rest).collect::<Vec<_>>())?)
}

impl ParquetPinStore {
    /// A DataFusion session over one consistent snapshot of the store.
    pub async fn session(&self) -> Result<SessionContext> {
        let snap = self.snapshot();
        let mut config = SessionConfig::new()
            .with_target_partitions(2)
            .with_information_schema(true);
        let opts = config.options_mut();
        opts.execution.parquet.schema_force_view_types = false;
        opts.execution.parquet.pushdown_filters = true;
        let ctx = self.context(config)?;
        ctx.register_table("pins", self.pins_frame(&ctx, &snap).await?.into_view())?;
        let m = &snap.manifest;
        let access = self
            .log_frame(
                &ctx,
                codec::access_batch(&snap.mem_access)?,
                &m.access,
                &codec::ACCESS_SCHEMA,
            )
            .await?;
        ctx.register_table("access_events", spell_cid(access)?.into_view())?;
        let history = self
            .log_frame(
                &ctx,
                codec::history_batch(&snap.mem_history)?,
                &m.history,
                &codec::HISTORY_SCHEMA,
            )
            .await?;
        ctx.register_table("pin_history", spell_cid(history)?.into_view())?;
        let vfs = self
            .log_frame(&ctx, codec::vfs_batch(&snap.mem_vfs)?, &m.vfs, &codec::VFS_SCHEMA)
            .await?;
        ctx.register_table("vfs_events", vfs.into_view())?;
        Ok(ctx)
    }

    /// Plans a read-only SQL query; DDL, DML and other statements are refused.
    pub async fn sql(&self, query: &str) -> Result<DataFrame> {
        let ctx = self.session().await?;
        let opts = SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .with_allow_statements(false);
        Ok(ctx.sql_with_options(query, opts).await?)
    }

    /// Runs a read-only SQL query and collects the result.
    pub async fn query(&self, query: &str) -> Result<Vec<RecordBatch>> {
        Ok(self.sql(query).await?.collect().await?)
    }

    /// A session on this store's object store and its shared runtime. The runtime's caches (Parquet
    /// footers and page indexes, file listings) are keyed by path, size and modification time, and a
    /// segment is never rewritten in place, so sessions of later snapshots reuse what earlier ones read.
    fn context(&self, config: SessionConfig) -> Result<SessionContext> {
        let ctx = SessionContext::new_with_config_rt(config, self.runtime.clone());
        let url = url::Url::parse(STORE_URL).map_err(|e| Error::Config(e.to_string()))?;
        ctx.register_object_store(&url, self.store.clone());
        Ok(ctx)
    }

    /// Segments as one table of the given schema. The schema is this version's, not inferred from the
    /// files, so planning reads no footer; DataFusion still checks each file against it when it opens it.
    async fn parquet(
        &self,
        ctx: &SessionContext,
        segments: &[&SegmentMeta],
        schema: &Schema,
    ) -> Result<Option<DataFrame>> {
        if segments.is_empty() {
            return Ok(None);
        }
        let paths: Vec<String> = segments.iter().map(|s| format!("{STORE_URL}{}", s.path)).collect();
        let opts = ParquetReadOptions {
            schema: Some(schema),
            ..ParquetReadOptions::default()
        };
        Ok(Some(ctx.read_parquet(paths, opts).await?))
    }

    async fn pins_frame(&self, ctx: &SessionContext, snap: &Snapshot) -> Result<DataFrame> {
        public(self.pins_internal(ctx, snap, &codec::PINS_SQL_SCHEMA).await?)
    }

    /// The pins of a snapshot with every column of a pins segment (public and internal), one row per pin,
    /// typed as `schema` says: [`codec::PINS_SCHEMA`] for code that decodes the rows back into fragments,
    /// [`codec::PINS_SQL_SCHEMA`] for SQL.
    pub(crate) async fn pins_internal(
        &self,
        ctx: &SessionContext,
        snap: &Snapshot,
        schema: &SchemaRef,
    ) -> Result<DataFrame> {
        let base = self
            .parquet(ctx, &snap.manifest.base_runs.iter().collect::<Vec<_>>(), schema)
            .await?;
        let base = base.map(|df| df.filter(col("_has_pin"))).transpose()?;
        // Pins changed since the base: their merged state, and their keys to take out of the base.
        let mut keys: Vec<Key> = snap.flushed.keys().chain(snap.mem.keys()).cloned().collect();
        keys.sort();
        keys.dedup();
        let merged = if keys.is_empty() {
            None
        } else {
            let refs: Vec<&[u8]> = keys.iter().map(|k| &**k).collect();
            let from_base = snap.base.lookup(&refs).await?;
            // Batches of a scan's size rather than one of every changed pin, as operators expect.
            let mut batches = Vec::new();
            let mut rows = PinRows::new();
            for k in &keys {
                let mut f: Fragment = from_base.get(k).cloned().unwrap_or_default();
                if let Some(d) = snap.flushed.get(k) {
                    f.merge(d);
                }
                if let Some(m) = snap.mem.get(k) {
                    f.merge(m);
                }
                if f.pin.is_some() {
                    rows.push(k, &f);
                    if rows.len() == 8192 {
                        let full = std::mem::replace(&mut rows, PinRows::new());
                        batches.push(conform(full.finish()?, schema)?);
                    }
                }
            }
            if rows.len() > 0 || batches.is_empty() {
                batches.push(conform(rows.finish()?, schema)?);
            }
            Some(ctx.read_batches(batches)?)
        };
        let frame = match (base, merged) {
            (None, None) => ctx.read_batch(conform(PinRows::new().finish()?, schema)?)?,
            (Some(b), None) => b,
            (None, Some(m)) => m,
            (Some(b), Some(m)) => {
                let schema = Arc::new(Schema::new(vec![Field::new("_changed", DataType::Binary, false)]));
                let changed: ArrayRef = Arc::new(BinaryArray::from_iter_values(keys.iter().map(|k| &**k)));
                let changed = ctx.read_batch(RecordBatch::try_new(schema, vec![changed])?)?;
                b.join(changed, JoinType::LeftAnti, &["_key"], &["_changed"], None)?
                    .union(m)?
            }
        };
        Ok(frame)
    }

    /// An append-only table: its segments and the rows still in memory.
    async fn log_frame(
        &self,
        ctx: &SessionContext,
        mem: RecordBatch,
        segments: &[SegmentMeta],
        schema: &Schema,
    ) -> Result<DataFrame> {
        let mem = ctx.read_batch(mem)?;
        match self.parquet(ctx, &segments.iter().collect::<Vec<_>>(), schema).await? {
            Some(df) => Ok(df.union(mem)?),
            None => Ok(mem),
        }
    }

    /// Status and tier changes of one key, newest first: the memtable's, then the history segments'.
    pub(crate) async fn history_inner(&self, key: &[u8], limit: usize) -> Result<Vec<HistoryEntry>> {
        let snap = self.snapshot();
        let mem = snap.mem_history.iter().rev().filter(|r| &*r.0 == key).take(limit);
        let mem = mem.map(|r| r.2.clone()).collect();
        self.key_log(&snap.manifest.history, key, limit, mem, |h| h.seq, codec::history_rows)
            .await
    }

    /// Accesses of one key, newest first, read like [`history_inner`](Self::history_inner).
    pub(crate) async fn accesses_inner(&self, key: &[u8], limit: usize) -> Result<Vec<AccessRecord>> {
        let snap = self.snapshot();
        let mem = snap.mem_access.iter().rev().filter(|r| &*r.0 == key).take(limit);
        let mem = mem.map(|r| r.2.clone()).collect();
        self.key_log(&snap.manifest.access, key, limit, mem, |a| a.seq, codec::access_rows)
            .await
    }

    /// The newest `limit` rows of one key in an append-only log: `out` (the memtable's rows), then the
    /// segments read directly (footer, bloom filters, a row filter on `_key`; no query engine), newest
    /// first, in waves of growing width read concurrently. After each wave the search stops once no older
    /// segment can hold a newer row than the `limit`-th found. A pin with recent rows costs a few
    /// segments; one whose rows are old or absent costs one wave per doubling, not one read per segment
    /// after another (each read of a local file is a hop through the blocking pool, which waits far
    /// longer than it reads).
    async fn key_log<T>(
        &self,
        segments: &[SegmentMeta],
        key: &[u8],
        limit: usize,
        mut out: Vec<T>,
        seq: impl Fn(&T) -> u64 + Copy,
        decode: fn(&RecordBatch, &[u8], &str, &mut Vec<T>) -> Result<()>,
    ) -> Result<Vec<T>> {
        let segments = newest_first(segments);
        let mut next = 0;
        let mut width = FIRST_WAVE;
        while next < segments.len() && !covered(&mut out, limit, seq, segments[next].seq_range.1) {
            let wave = &segments[next..segments.len().min(next + width)];
            let reads = wave.iter().map(|meta| segment::key_rows(&self.store, meta, key));
            for (meta, batches) in wave.iter().zip(futures::future::try_join_all(reads).await?) {
                for b in &batches {
                    decode(b, key, &meta.path, &mut out)?;
                }
            }
            next += wave.len();
            width *= 2;
        }
        covered(&mut out, limit, seq, 0);
        Ok(out)
    }

    pub(crate) async fn session_for_keys(&self) -> Result<SessionContext> {
        let mut config = SessionConfig::new().with_target_partitions(2);
        let opts = config.options_mut();
        opts.execution.parquet.schema_force_view_types = false;
        opts.execution.parquet.pushdown_filters = true;
        self.context(config)
    }
}

/// `batch` (of [`codec::PINS_SCHEMA`]) with its columns cast to `schema`'s types.
fn conform(batch: RecordBatch, schema: &SchemaRef) -> Result<RecordBatch> {
    if batch.schema().fields() == schema.fields() {
        return Ok(batch);
    }
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(c, f)| cast(c, f.data_type()))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

/// How many segments the first wave of [`ParquetPinStore::key_log`] reads; each next wave reads twice as many.
const FIRST_WAVE: usize = 8;

/// Append-only segments, the one with the newest event first.
fn newest_first(segments: &[SegmentMeta]) -> Vec<&SegmentMeta> {
    let mut out: Vec<&SegmentMeta> = segments.iter().collect();
    out.sort_by_key(|m| std::cmp::Reverse(m.seq_range.1));
    out
}

/// Sorts `out` newest first and keeps `limit` entries; whether they are final, that is whether the next
/// segment to read, whose newest event is `next_max`, holds only older events than the `limit`-th.
fn covered<T>(out: &mut Vec<T>, limit: usize, seq: impl Fn(&T) -> u64, next_max: u64) -> bool {
    out.sort_by_key(|e| std::cmp::Reverse(seq(e)));
    out.truncate(limit);
    out.len() == limit && out.last().is_none_or(|e| seq(e) > next_max)
}
