//! Listings over one snapshot: a streaming scan in key order, sorted listings through DataFusion, and
//! exports of a whole table to a Parquet file.
//!
//! Every listing reads the snapshot taken when it starts, so a long listing or export never mixes two
//! states of the store, whatever a writer does meanwhile.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, Float64Builder, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Float64Type, TimeUnit, TimestampMillisecondType};
use datafusion::common::ScalarValue;
use datafusion::logical_expr::expr::Like;
use datafusion::logical_expr::{ColumnarValue, Expr, Volatility, create_udf};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::WriterProperties;
use datafusion::physical_plan::SendableRecordBatchStream;
use datafusion::prelude::{col, lit};
use futures::StreamExt;
use object_store::ObjectStore;
use pin_core::{Cursor, Fragment, HOTNESS_HALF_LIFE_MS, NameMatch, PinFilter, PinStatus, PinView, hex};

use crate::codec::{PINS_SCHEMA, PinColumns, PinRows};
use crate::engine::{Key, MergeIter, ParquetPinStore, Snapshot};
use crate::error::{Error, Result};
use crate::manifest::{BASE_NEWEST_K, BASE_TOP_K, BaseTop, SegmentMeta};
use crate::merge::Merged;
use crate::segment::{self, Base, Table, unhex};

/// A key-ordered listing of the pins matching a filter, read lazily from one snapshot.
pub struct PinScan {
    it: MergeIter,
    filter: PinFilter,
}

impl fmt::Debug for PinScan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PinScan")
            .field("filter", &self.filter)
            .finish_non_exhaustive()
    }
}

impl PinScan {
    /// The next matching pin, or `None` at the end.
    pub async fn next(&mut self) -> Result<Option<PinView>> {
        loop {
            let Some((_, f)) = self.it.next().await? else {
                return Ok(None);
            };
            let Some(pin) = f.pin else { continue };
            let view = PinView { pin, stats: f.stats };
            if self.filter.matches(&view) {
                return Ok(Some(view));
            }
        }
    }

    /// The same scan read ahead, in chunks of `chunk` pins, at most `ahead` chunks in advance: the merge
    /// runs on a task of its own and hands chunks of placed rows to decoders on the blocking pool, one per
    /// core, so reading the segments and decoding pins (most of a scan's work) run beside each other and
    /// beside whatever the caller does with the pins (formatting, writing). Chunks arrive in key order,
    /// never empty. Dropping the result stops the task at its next chunk.
    pub fn read_ahead(self, chunk: usize, ahead: usize) -> PinChunks {
        self.read_ahead_map(chunk, ahead, |pins| pins)
    }

    /// [`read_ahead`](Self::read_ahead), with `f` applied to each chunk by the decoder that decoded it, so
    /// that per-pin work of the caller (rendering each pin as text, say) runs on every core too.
    pub fn read_ahead_map<T, F>(self, chunk: usize, ahead: usize, f: F) -> Chunks<T>
    where
        T: Send + 'static,
        F: Fn(Vec<PinView>) -> T + Send + Sync + 'static,
    {
        let chunk = chunk.max(1);
        let decoders = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        let (tx, rx) = tokio::sync::mpsc::channel(ahead.max(1));
        let PinScan { it, filter } = self;
        let work = Arc::new((filter, f));
        let task = tokio::spawn(async move {
            // The merge stops at its first error, which is passed on as the last item.
            let merged = futures::stream::unfold(Some(it), move |it| async move {
                let mut it = it?;
                match it.next_chunk(chunk).await {
                    Ok(Some(c)) => Some((Ok(c), Some(it))),
                    Ok(None) => None,
                    Err(e) => Some((Err(e), None)),
                }
            });
            let mut decoded = std::pin::pin!(
                merged
                    .map(|c| {
                        let work = Arc::clone(&work);
                        async move {
                            let c = c?;
                            let decode = move || {
                                let (filter, f) = &*work;
                                // A chunk the filter emptied is not passed on.
                                matching(c, filter).map(|pins| (!pins.is_empty()).then(|| f(pins)))
                            };
                            match tokio::task::spawn_blocking(decode).await {
                                Ok(done) => done,
                                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                                Err(e) => Err(Error::Task(e.to_string())),
                            }
                        }
                    })
                    .buffered(decoders)
            );
            while let Some(item) = decoded.next().await {
                let item = match item {
                    Ok(None) => continue,
                    Ok(Some(t)) => Ok(t),
                    Err(e) => Err(e),
                };
                let last = item.is_err();
                if tx.send(item).await.is_err() || last {
                    return;
                }
            }
        });
        Chunks { rx, task: Some(task) }
    }
}

/// The pins of a merged chunk that match `filter`, decoded, in key order.
fn matching(chunk: Merged, filter: &PinFilter) -> Result<Vec<PinView>> {
    let mut pins = Vec::with_capacity(chunk.len());
    for f in chunk.fragments() {
        let f = f?;
        let Some(pin) = f.pin else { continue };
        let view = PinView { pin, stats: f.stats };
        if filter.matches(&view) {
            pins.push(view);
        }
    }
    Ok(pins)
}

/// A [`PinScan`] read ahead ([`PinScan::read_ahead`]): chunks of pins.
pub type PinChunks = Chunks<Vec<PinView>>;

/// A [`PinScan`] read ahead with a function applied to each chunk ([`PinScan::read_ahead_map`]).
#[derive(Debug)]
pub struct Chunks<T> {
    rx: tokio::sync::mpsc::Receiver<Result<T>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl<T> Chunks<T> {
    /// The next chunk in key order, or `None` at the end.
    pub async fn next(&mut self) -> Result<Option<T>> {
        match self.rx.recv().await {
            Some(item) => item.map(Some),
            // The task ends once the last chunk is sent or an error is; it can also end by panicking or
            // being cancelled, and then the listing must not look complete.
            None => match self.task.take() {
                Some(task) => match task.await {
                    Ok(()) => Ok(None),
                    Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                    Err(e) => Err(Error::Task(e.to_string())),
                },
                None => Ok(None),
            },
        }
    }
}

/// The order of a sorted listing. Ties are broken by key, so every order is total and pages are stable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PinSort {
    /// Index key (the CIDv1 binary form): the order of [`ParquetPinStore::scan`].
    Key,
    /// `size_bytes`.
    Size,
    /// `created_at`.
    Created,
    /// `updated_at`.
    Updated,
    /// `name` (pins without a name last).
    Name,
    /// Hotness decayed to the same instant for every pin (never accessed last).
    Hotness,
    /// `access_count`.
    Accesses,
    /// `last_access` (never accessed last).
    LastAccess,
}

impl PinSort {
    /// Every order, as named on the command line.
    pub const ALL: &'static [PinSort] = &[
        Self::Key,
        Self::Size,
        Self::Created,
        Self::Updated,
        Self::Name,
        Self::Hotness,
        Self::Accesses,
        Self::LastAccess,
    ];

    /// The name of the order.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Key => "key",
            Self::Size => "size",
            Self::Created => "created",
            Self::Updated => "updated",
            Self::Name => "name",
            Self::Hotness => "hotness",
            Self::Accesses => "accesses",
            Self::LastAccess => "last_access",
        }
    }

    fn expr(self) -> Expr {
        match self {
            Self::Key => col("_key"),
            Self::Size => col("size_bytes"),
            Self::Created => col("created_at"),
            Self::Updated => col("updated_at"),
            Self::Name => col("name"),
            Self::Hotness => Arc::new(hotness_rank_udf()).call(vec![col("hotness"), col("hotness_at")]),
            Self::Accesses => col("access_count"),
            Self::LastAccess => col("last_access"),
        }
    }

    /// The value a pin sorts by.
    fn value_of(self, view: &PinView) -> SortValue {
        let p = &view.pin;
        let s = &view.stats;
        match self {
            Self::Key => SortValue::Null,
            Self::Size => SortValue::U64(p.size_bytes),
            Self::Created => SortValue::Ts(p.created_at.0),
            Self::Updated => SortValue::Ts(p.updated_at.0),
            Self::Name => p.name.clone().map_or(SortValue::Null, SortValue::Str),
            Self::Hotness => s
                .hotness_at
                .and_then(|t| hotness_rank(s.hotness, t.0))
                .map_or(SortValue::Null, SortValue::F64),
            Self::Accesses => SortValue::U64(s.access_count),
            Self::LastAccess => s.last_access.map_or(SortValue::Null, |t| SortValue::Ts(t.0)),
        }
    }
}

impl fmt::Display for PinSort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PinSort {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .iter()
            .copied()
            .find(|o| o.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|o| o.as_str()).collect();
                Error::Config(format!("unknown sort order {s:?}: expected one of {}", names.join(" ")))
            })
    }
}

/// A time-invariant rank of a decayed score: `log2(h) + t/H`. Two pins' hotness decayed to any common
/// instant compare as their ranks do, so a rank computed today still orders (and pages) correctly tomorrow.
fn hotness_rank(hotness: f64, at_ms: i64) -> Option<f64> {
    (hotness > 0.0).then(|| hotness.log2() + at_ms as f64 / HOTNESS_HALF_LIFE_MS as f64)
}

/// `pindex_hotness_rank(hotness, hotness_at)`: [`hotness_rank`] as a DataFusion function.
fn hotness_rank_udf() -> datafusion::logical_expr::ScalarUDF {
    let f = Arc::new(|args: &[ColumnarValue]| -> datafusion::error::Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(args)?;
        let h = arrays[0].as_primitive::<Float64Type>();
        let at = arrays[1].as_primitive::<TimestampMillisecondType>();
        let mut out = Float64Builder::with_capacity(h.len());
        for i in 0..h.len() {
            let rank = (h.is_valid(i) && at.is_valid(i))
                .then(|| hotness_rank(h.value(i), at.value(i)))
                .flatten();
            out.append_option(rank);
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    });
    create_udf(
        "pindex_hotness_rank",
        vec![
            DataType::Float64,
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
        ],
        DataType::Float64,
        Volatility::Immutable,
        f,
    )
}

#[derive(Debug, Clone, PartialEq)]
enum SortValue {
    Null,
    U64(u64),
    Ts(i64),
    F64(f64),
    Str(String),
}

impl SortValue {
    fn literal(&self) -> Option<Expr> {
        Some(match self {
            Self::Null => return None,
            Self::U64(v) => lit(*v),
            Self::Ts(v) => lit(ScalarValue::TimestampMillisecond(Some(*v), Some("UTC".into()))),
            Self::F64(v) => lit(*v),
            Self::Str(v) => lit(v.clone()),
        })
    }
}

/// A position in a sorted listing: the sort value and key of the last pin returned.
///
/// Its text form is `<order>[-]:<key hex>:<value>`, where the value is `~` (none), a decimal integer
/// (sizes, counts, milliseconds), `f` and the 16 hex digits of an IEEE 754 double (hotness rank) or `s`
/// and the hex of UTF-8 bytes (names). A cursor for the key order is a plain [`Cursor`].
#[derive(Debug, Clone, PartialEq)]
pub struct SortCursor {
    sort: PinSort,
    descending: bool,
    key: Vec<u8>,
    value: SortValue,
}

impl SortCursor {
    /// The cursor just after `view` in the given order.
    pub fn after(view: &PinView, sort: PinSort, descending: bool) -> Self {
        Self {
            sort,
            descending,
            key: view.pin.cid.key().to_vec(),
            value: sort.value_of(view),
        }
    }

    /// Parses the text form, checking that it belongs to a listing in `sort` order and direction.
    pub fn parse(input: &str, sort: PinSort, descending: bool) -> Result<Self> {
        let bad = |reason: String| {
            Error::Invalid(pin_core::Error::InvalidCursor {
                input: input.to_owned(),
                reason,
            })
        };
        if sort == PinSort::Key && !descending {
            let c = Cursor::parse(input).map_err(Error::Invalid)?;
            return Ok(Self {
                sort,
                descending,
                key: c.key().to_vec(),
                value: SortValue::Null,
            });
        }
        let mut parts = input.splitn(3, ':');
        let (Some(order), Some(key), Some(value)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad(
                "expected <order>:<key>:<value>, as printed by a previous page".into()
            ));
        };
        let (name, desc) = match order.strip_suffix('-') {
            Some(n) => (n, true),
            None => (order, false),
        };
        let found: PinSort = name.parse()?;
        if found != sort || desc != descending {
            return Err(bad(format!(
                "it continues a listing sorted by {order}, not {}{}; pass the same --sort",
                sort,
                if descending { " (descending)" } else { "" }
            )));
        }
        let key = unhex(key).ok_or_else(|| bad("the key is not hexadecimal".into()))?;
        let value = match value {
            "~" => SortValue::Null,
            v if v.starts_with('f') => {
                let bits = u64::from_str_radix(&v[1..], 16).map_err(|_| bad("bad hotness rank".into()))?;
                SortValue::F64(f64::from_bits(bits))
            }
            v if v.starts_with('s') => {
                let bytes = unhex(&v[1..]).ok_or_else(|| bad("bad name".into()))?;
                SortValue::Str(String::from_utf8(bytes).map_err(|_| bad("the name is not UTF-8".into()))?)
            }
            v => match sort {
                PinSort::Size | PinSort::Accesses => {
                    SortValue::U64(v.parse().map_err(|_| bad(format!("{v:?} is not a count")))?)
                }
                _ => SortValue::Ts(v.parse().map_err(|_| bad(format!("{v:?} is not a time")))?),
            },
        };
        Ok(Self {
            sort,
            descending,
            key,
            value,
        })
    }

    /// The predicate "after this cursor" over the sorted columns.
    fn predicate(&self) -> Expr {
        let key = lit(ScalarValue::Binary(Some(self.key.clone())));
        if self.sort == PinSort::Key {
            return if self.descending {
                col("_key").lt(key)
            } else {
                col("_key").gt(key)
            };
        }
        let after_key = col("_key").gt(key);
        let c = self.sort.expr();
        match self.value.literal() {
            // Nulls sort last in both directions.
            None => c.is_null().and(after_key),
            Some(v) => {
                let beyond = if self.descending {
                    c.clone().lt(v.clone())
                } else {
                    c.clone().gt(v.clone())
                };
                beyond.or(c.clone().eq(v).and(after_key)).or(c.is_null())
            }
        }
    }
}

impl fmt::Display for SortCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.sort == PinSort::Key && !self.descending {
            return f.write_str(&hex(&self.key));
        }
        let dir = if self.descending { "-" } else { "" };
        write!(f, "{}{dir}:{}:", self.sort, hex(&self.key))?;
        match &self.value {
            SortValue::Null => f.write_str("~"),
            SortValue::U64(v) => write!(f, "{v}"),
            SortValue::Ts(v) => write!(f, "{v}"),
            SortValue::F64(v) => write!(f, "f{:016x}", v.to_bits()),
            SortValue::Str(s) => write!(f, "s{}", hex(s.as_bytes())),
        }
    }
}

/// A sorted listing request.
#[derive(Debug, Clone, PartialEq)]
pub struct SortedQuery {
    /// Which pins.
    pub filter: PinFilter,
    /// Leave out pins whose status is `unpinned`.
    pub live_only: bool,
    /// The order.
    pub sort: PinSort,
    /// Largest first (ties still by ascending key).
    pub descending: bool,
    /// Start after this position.
    pub after: Option<SortCursor>,
    /// At most this many pins.
    pub limit: Option<usize>,
}

/// The pins of a sorted listing, read lazily.
pub struct SortedPins {
    stream: SendableRecordBatchStream,
    batch: Option<RecordBatch>,
    row: usize,
    filter: PinFilter,
    live_only: bool,
    left: Option<usize>,
}

impl fmt::Debug for SortedPins {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SortedPins")
            .field("left", &self.left)
            .finish_non_exhaustive()
    }
}

impl SortedPins {
    /// The next pin, or `None` at the end.
    pub async fn next(&mut self) -> Result<Option<PinView>> {
        if self.left == Some(0) {
            return Ok(None);
        }
        loop {
            if let Some(b) = &self.batch
                && self.row < b.num_rows()
            {
                let row = self.row;
                self.row += 1;
                let f = PinColumns::new(b, "sorted listing")?.fragment(row)?;
                let Some(pin) = f.pin else { continue };
                let view = PinView { pin, stats: f.stats };
                if !self.filter.matches(&view) || (self.live_only && view.pin.status == pin_core::PinStatus::Unpinned) {
                    continue;
                }
                if let Some(n) = &mut self.left {
                    *n -= 1;
                }
                return Ok(Some(view));
            }
            match self.stream.next().await {
                None => return Ok(None),
                Some(b) => {
                    // Unions and sorts may relax nullability; the columns are those of a pins segment.
                    let b = b?;
                    self.batch = Some(RecordBatch::try_new(PINS_SCHEMA.clone(), b.columns().to_vec())?);
                    self.row = 0;
                }
            }
        }
    }
}

/// `LIKE` pattern matching `text` literally, with `\` as the escape character.
fn like_literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn like(expr: Expr, pattern: String, case_insensitive: bool) -> Expr {
    Expr::Like(Like::new(
        false,
        Box::new(expr),
        Box::new(lit(pattern)),
        Some('\\'),
        case_insensitive,
    ))
}

/// The parts of a filter DataFusion can evaluate; `None` when it cannot evaluate all of them (the rest is
/// applied to the decoded rows, so a pushed limit would be wrong).
fn pushdown(filter: &PinFilter, live_only: bool) -> (Vec<Expr>, bool) {
    let ts = |t: pin_core::Timestamp| lit(ScalarValue::TimestampMillisecond(Some(t.0), Some("UTC".into())));
    let mut exprs = Vec::new();
    if let Some(s) = filter.status {
        exprs.push(col("status").eq(lit(s.as_str())));
    }
    if live_only {
        exprs.push(col("status").not_eq(lit("unpinned")));
    }
    if let Some(t) = filter.tier {
        exprs.push(col("tier").eq(lit(t.as_str())));
    }
    if let Some(t) = filter.created_before {
        exprs.push(col("created_at").lt(ts(t)));
    }
    if let Some(t) = filter.created_after {
        exprs.push(col("created_at").gt(ts(t)));
    }
    if let Some(n) = filter.min_size {
        exprs.push(col("size_bytes").gt_eq(lit(n)));
    }
    if let Some(n) = filter.max_size {
        exprs.push(col("size_bytes").lt_eq(lit(n)));
    }
    let mut complete = filter.meta.is_empty();
    if let Some((text, how)) = &filter.name {
        match how {
            NameMatch::Exact => exprs.push(col("name").eq(lit(text.clone()))),
            NameMatch::Partial => exprs.push(like(col("name"), format!("%{}%", like_literal(text)), false)),
            // Case folding in SQL and in Rust may differ outside ASCII: evaluate those on the rows.
            NameMatch::IExact | NameMatch::IPartial => complete = false,
        }
    }
    (exprs, complete)
}

/// Which table `export_parquet` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportTable {
    /// The `pins` table.
    Pins,
    /// The `access_events` table.
    AccessEvents,
    /// The `pin_history` table.
    PinHistory,
}

impl ExportTable {
    /// The SQL name of the table.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pins => "pins",
            Self::AccessEvents => "access_events",
            Self::PinHistory => "pin_history",
        }
    }
}

impl ParquetPinStore {
    /// The pins matching `filter` in key order after `after`, read lazily from the current snapshot.
    ///
    /// Memory stays bounded whatever the number of pins: the base segment is read in blocks of 4096 rows.
    pub async fn scan(&self, filter: PinFilter, after: Option<&Cursor>) -> Result<PinScan> {
        let snap = self.snapshot();
        let after = after.map(|c| Key::from(c.key()));
        let it = MergeIter::new(snap.base.clone(), after, snap.flushed.clone(), snap.mem.clone()).await?;
        Ok(PinScan { it, filter })
    }

    /// A listing in any [`PinSort`] order, planned by DataFusion over the current snapshot.
    ///
    /// With a limit and a filter DataFusion can evaluate whole (everything but `meta` and case-insensitive
    /// names), the plan is a top-k: one pass over the sort column and the filtered columns, memory
    /// proportional to the limit. Otherwise every matching pin is sorted in memory (DataFusion's memory
    /// pool is unbounded here: a limit would turn a large listing that fits in RAM into an error, since
    /// the anti-join that merges the layers cannot spill).
    pub async fn sorted(&self, q: &SortedQuery) -> Result<SortedPins> {
        let snap = self.snapshot();
        let ctx = self.session_for_keys().await?;
        let mut df = self.pins_internal(&ctx, &snap, &PINS_SCHEMA).await?;
        let (exprs, complete) = pushdown(&q.filter, q.live_only);
        for e in exprs {
            df = df.filter(e)?;
        }
        if let Some(c) = &q.after {
            if c.sort != q.sort || c.descending != q.descending {
                return Err(Error::Config(format!(
                    "cursor {c} continues another order than {}",
                    q.sort
                )));
            }
            df = df.filter(c.predicate())?;
        }
        let mut order = Vec::new();
        if q.sort == PinSort::Key {
            order.push(col("_key").sort(!q.descending, false));
        } else {
            order.push(q.sort.expr().sort(!q.descending, false));
            order.push(col("_key").sort(true, false));
        }
        df = df.sort(order)?;
        if complete && let Some(n) = q.limit {
            df = df.limit(0, Some(n))?;
        }
        Ok(SortedPins {
            stream: df.execute_stream().await?,
            batch: None,
            row: 0,
            filter: q.filter.clone(),
            live_only: q.live_only,
            left: q.limit,
        })
    }

    /// Writes one table of the current snapshot to a Parquet file at `path` (zstd, written to a temporary
    /// file beside it and renamed into place, so readers never see half a file). Returns the rows written.
    pub async fn export_parquet(&self, table: ExportTable, path: &Path) -> Result<u64> {
        let ctx = self.session().await?;
        let df = ctx.table(table.as_str()).await?;
        let mut stream = df.execute_stream().await?;
        let tmp = tmp_path(path);
        let file = std::fs::File::create(&tmp).map_err(|e| Error::io("create", &tmp, e))?;
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::try_new(3)?))
            .build();
        let result: Result<u64> = async {
            let mut writer = ArrowWriter::try_new(file, stream.schema(), Some(props))?;
            let mut rows = 0u64;
            while let Some(batch) = stream.next().await {
                let batch = batch?;
                rows += batch.num_rows() as u64;
                writer.write(&batch)?;
            }
            writer.close()?;
            Ok(rows)
        }
        .await;
        match result {
            Ok(rows) => {
                std::fs::rename(&tmp, path).map_err(|e| Error::io("rename into", path, e))?;
                Ok(rows)
            }
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                Err(e)
            }
        }
    }
}

/// Best first: the larger value, then the smaller key.
fn best_first<V: PartialOrd>(a: (&V, &[u8]), b: (&V, &[u8])) -> std::cmp::Ordering {
    b.0.partial_cmp(a.0)
        .unwrap_or(std::cmp::Ordering::Equal)
        .then_with(|| a.1.cmp(b.1))
}

/// The best `k` ([`BASE_TOP_K`] by default) of a stream of `(value, key)`, without allocating for the
/// ones that cannot make it.
#[derive(Debug)]
struct Best<V> {
    k: usize,
    items: Vec<(V, Key)>,
    /// The worst kept item once the list has been cut to size: anything not better is dropped at once.
    floor: Option<(V, Key)>,
}

impl<V> Default for Best<V> {
    fn default() -> Self {
        Self::keeping(BASE_TOP_K)
    }
}

impl<V> Best<V> {
    fn keeping(k: usize) -> Self {
        Self {
            k,
            items: Vec::new(),
            floor: None,
        }
    }
}

impl<V: PartialOrd + Copy> Best<V> {
    fn offer(&mut self, v: V, key: &[u8]) {
        if let Some((fv, fk)) = &self.floor
            && best_first((&v, key), (fv, fk)) != std::cmp::Ordering::Less
        {
            return;
        }
        self.items.push((v, Key::from(key)));
        if self.items.len() >= 2 * self.k {
            self.cut();
        }
    }

    fn cut(&mut self) {
        self.items.sort_by(|a, b| best_first((&a.0, &a.1), (&b.0, &b.1)));
        self.items.truncate(self.k);
        if self.items.len() == self.k {
            self.floor = self.items.last().cloned();
        }
    }

    fn finish(mut self) -> Vec<(String, V)> {
        self.cut();
        self.items.into_iter().map(|(v, k)| (hex(&k), v)).collect()
    }
}

/// Collects [`BaseTop`] while a base run is written.
#[derive(Debug)]
pub(crate) struct TopCollector {
    live: u64,
    pins: u64,
    largest: Best<u64>,
    hottest: Best<f64>,
    newest: Best<i64>,
}

impl Default for TopCollector {
    fn default() -> Self {
        Self {
            live: 0,
            pins: 0,
            largest: Best::default(),
            hottest: Best::default(),
            newest: Best::keeping(BASE_NEWEST_K),
        }
    }
}

/// What the top lists need of one row of a run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Ranking {
    pub(crate) created_at: i64,
    pub(crate) live: bool,
    pub(crate) size_bytes: u64,
    pub(crate) hotness: f64,
    pub(crate) hotness_at: Option<i64>,
}

impl Ranking {
    /// `None` for a fragment without a pin (statistics of a CID never pinned), which no list holds.
    pub(crate) fn of(f: &Fragment) -> Option<Self> {
        let pin = f.pin.as_ref()?;
        Some(Self {
            created_at: pin.created_at.0,
            live: pin.status != PinStatus::Unpinned,
            size_bytes: pin.size_bytes,
            hotness: f.stats.hotness,
            hotness_at: f.stats.hotness_at.map(|t| t.0),
        })
    }
}

impl TopCollector {
    /// Considers one row of the new run.
    pub(crate) fn offer(&mut self, key: &[u8], f: &Fragment) {
        self.offer_ranked(key, Ranking::of(f));
    }

    /// Considers one row of the new run, from the columns the lists need.
    pub(crate) fn offer_ranked(&mut self, key: &[u8], r: Option<Ranking>) {
        let Some(r) = r else { return };
        self.pins += 1;
        self.newest.offer(r.created_at, key);
        if !r.live {
            return;
        }
        self.live += 1;
        self.largest.offer(r.size_bytes, key);
        if let Some(rank) = r.hotness_at.and_then(|t| hotness_rank(r.hotness, t)) {
            self.hottest.offer(rank, key);
        }
    }

    pub(crate) fn finish(self) -> BaseTop {
        BaseTop {
            live: self.live,
            largest: self.largest.finish(),
            hottest: self.hottest.finish(),
            pins: Some(self.pins),
            newest: self.newest.finish(),
        }
    }
}

impl BaseTop {
    /// The lists of a base made of the runs `self` describes and the runs `other` describes, when no key is
    /// in both: the best of a union of disjoint sets is among the best of each.
    pub(crate) fn join(&self, other: &BaseTop) -> BaseTop {
        fn best<V: PartialOrd + Copy>(a: &[(String, V)], b: &[(String, V)], k: usize) -> Vec<(String, V)> {
            let mut all: Vec<(String, V)> = a.iter().chain(b).cloned().collect();
            // Lowercase hex orders as the bytes it spells.
            all.sort_by(|x, y| best_first((&x.1, x.0.as_bytes()), (&y.1, y.0.as_bytes())));
            all.truncate(k);
            all
        }
        BaseTop {
            live: self.live + other.live,
            largest: best(&self.largest, &other.largest, BASE_TOP_K),
            hottest: best(&self.hottest, &other.hottest, BASE_TOP_K),
            pins: self.pins.zip(other.pins).map(|(a, b)| a + b),
            newest: best(&self.newest, &other.newest, BASE_NEWEST_K),
        }
    }
}

impl BaseTop {
    /// The keys of the pins the largest and hottest lists name, ascending, each once.
    fn listed_keys(&self) -> Vec<Key> {
        let mut keys: Vec<Key> = self
            .largest
            .iter()
            .map(|(h, _)| h)
            .chain(self.hottest.iter().map(|(h, _)| h))
            .filter_map(|h| unhex(h))
            .map(Key::from)
            .collect();
        keys.sort();
        keys.dedup();
        keys
    }
}

/// Writes the base rows of the pins that `top`'s largest and hottest lists name as the small pins segment
/// `state/top-<version>.parquet` (see [`Manifest::base_top_rows`]). Rows that `previous`, the object of the
/// lists `top` was joined from, holds are taken from it, so a flush that adds a run looks up only the run's
/// new entries; the others are looked up in `base`. `None` when the lists are empty.
///
/// [`Manifest::base_top_rows`]: crate::manifest::Manifest::base_top_rows
pub(crate) async fn write_top_rows(
    store: &Arc<dyn ObjectStore>,
    version: u64,
    top: &BaseTop,
    base: &Base,
    previous: Option<&SegmentMeta>,
) -> Result<Option<SegmentMeta>> {
    let keys = top.listed_keys();
    if keys.is_empty() {
        return Ok(None);
    }
    let mut rows: HashMap<Key, Fragment> = match previous {
        Some(meta) => segment::read_fragments(store, meta).await?.into_iter().collect(),
        None => HashMap::new(),
    };
    let absent: Vec<&[u8]> = keys.iter().filter(|k| !rows.contains_key(*k)).map(|k| &**k).collect();
    rows.extend(base.lookup(&absent).await?);
    let mut out = PinRows::new();
    for key in &keys {
        let f = rows.get(key).ok_or_else(|| Error::Corrupt {
            path: base.paths(),
            reason: format!("pin {} of the base's top lists is not in the base", hex(key)),
        })?;
        out.push(key, f);
    }
    let seqs = crate::engine::minmax(keys.iter().filter_map(|k| rows.get(k)).map(|f| f.seq));
    let path = format!("state/top-{version:020}.parquet");
    let meta = segment::write(
        store,
        &path,
        Table::Pins,
        &[out.finish()?],
        seqs.unwrap_or((0, 0)),
        None,
    )
    .await?;
    Ok(Some(meta))
}

/// Picks the best `k` of the base's list (minus the changed keys) and the changed pins, when the base's
/// list is long enough to be sure; `None` otherwise.
fn pick<V: PartialOrd + Copy>(
    base: &[(String, V)],
    changed: &std::collections::HashSet<&[u8]>,
    changed_views: &[(V, &PinView)],
    k: usize,
) -> Option<Vec<(Key, Option<PinView>)>> {
    let kept: Vec<(V, Key)> = base
        .iter()
        .filter_map(|(h, v)| unhex(h).map(|key| (*v, Key::from(key))))
        .filter(|(_, key)| !changed.contains(&**key))
        .collect();
    // The base list is the best of the base; without the changed keys it is still the best of the
    // unchanged base pins, so it answers whenever it keeps k of them or held every candidate.
    if kept.len() < k && base.len() >= BASE_TOP_K {
        return None;
    }
    let mut all: Vec<(V, Key, Option<PinView>)> = kept.into_iter().map(|(v, key)| (v, key, None)).collect();
    all.extend(
        changed_views
            .iter()
            .map(|(v, view)| (*v, Key::from(view.pin.cid.key()), Some((*view).clone()))),
    );
    all.sort_by(|a, b| best_first((&a.0, &a.1), (&b.0, &b.1)));
    all.truncate(k);
    Some(all.into_iter().map(|(_, key, view)| (key, view)).collect())
}

impl ParquetPinStore {
    /// The `k` largest live pins and the `k` hottest accessed live pins ("live": not unpinned), best first,
    /// ties by key.
    ///
    /// Compaction records the best [`BASE_TOP_K`] of the base segment in the manifest; this merges them
    /// with the pins changed since (a point lookup of each in the base, as SQL's `pins` does), so its cost
    /// grows with the changes since the last compaction, not with the number of pins. When the recorded
    /// lists cannot answer (a manifest from before they existed, `k` above [`BASE_TOP_K`], or too many of
    /// the listed pins changed), it falls back to a DataFusion top-k over the whole table.
    pub async fn top_pins(&self, k: usize) -> Result<(Vec<PinView>, Vec<PinView>)> {
        if k == 0 {
            return Ok((Vec::new(), Vec::new()));
        }
        if let Some(found) = self.top_pins_recorded(k).await? {
            return Ok(found);
        }
        tracing::debug!(k, "the manifest's top lists cannot answer; scanning");
        let mut lists = Vec::new();
        for sort in [PinSort::Size, PinSort::Hotness] {
            let q = SortedQuery {
                filter: PinFilter::default(),
                live_only: true,
                sort,
                descending: true,
                after: None,
                limit: Some(k),
            };
            let mut rows = self.sorted(&q).await?;
            let mut out = Vec::with_capacity(k);
            while let Some(v) = rows.next().await? {
                if sort == PinSort::Hotness && v.stats.access_count == 0 {
                    break;
                }
                out.push(v);
            }
            lists.push(out);
        }
        let hottest = lists.pop().unwrap_or_default();
        let largest = lists.pop().unwrap_or_default();
        Ok((largest, hottest))
    }

    /// [`top_pins`](Self::top_pins) from the lists compaction recorded, or `None` when they cannot answer.
    pub async fn top_pins_recorded(&self, k: usize) -> Result<Option<(Vec<PinView>, Vec<PinView>)>> {
        let snap = self.snapshot();
        match &snap.manifest.base_top {
            Some(top) if k <= BASE_TOP_K => self.top_from_manifest(&snap, top, k).await,
            _ => Ok(None),
        }
    }

    async fn top_from_manifest(
        &self,
        snap: &Snapshot,
        top: &BaseTop,
        k: usize,
    ) -> Result<Option<(Vec<PinView>, Vec<PinView>)>> {
        let mut keys: Vec<Key> = snap.flushed.keys().chain(snap.mem.keys()).cloned().collect();
        keys.sort();
        keys.dedup();
        let refs: Vec<&[u8]> = keys.iter().map(|k| &**k).collect();
        let from_base = snap.base.lookup(&refs).await?;
        let mut views = Vec::new();
        for key in &keys {
            let mut f: Fragment = from_base.get(key).cloned().unwrap_or_default();
            if let Some(d) = snap.flushed.get(key) {
                f.merge(d);
            }
            if let Some(m) = snap.mem.get(key) {
                f.merge(m);
            }
            if let Some(pin) = f.pin
                && pin.status != PinStatus::Unpinned
            {
                views.push(PinView { pin, stats: f.stats });
            }
        }
        let changed: std::collections::HashSet<&[u8]> = refs.iter().copied().collect();
        let sizes: Vec<(u64, &PinView)> = views.iter().map(|v| (v.pin.size_bytes, v)).collect();
        let ranks: Vec<(f64, &PinView)> = views
            .iter()
            .filter_map(|v| {
                let rank = v.stats.hotness_at.and_then(|t| hotness_rank(v.stats.hotness, t.0))?;
                Some((rank, v))
            })
            .collect();
        let (Some(largest), Some(hottest)) = (
            pick(&top.largest, &changed, &sizes, k),
            pick(&top.hottest, &changed, &ranks, k),
        ) else {
            return Ok(None);
        };
        // The base pins that made a list: read them (they did not change since the base).
        let missing: Vec<Key> = largest
            .iter()
            .chain(&hottest)
            .filter(|(_, v)| v.is_none())
            .map(|(key, _)| key.clone())
            .collect();
        // From the rows recorded beside the manifest when it has them, so the base is not read at all.
        let mut found: HashMap<Key, Fragment> = match &snap.manifest.base_top_rows {
            Some(meta) if !missing.is_empty() => {
                segment::read_fragments(&self.store, meta).await?.into_iter().collect()
            }
            _ => HashMap::new(),
        };
        let missing_refs: Vec<&[u8]> = missing
            .iter()
            .filter(|k| !found.contains_key(*k))
            .map(|k| &**k)
            .collect();
        found.extend(snap.base.lookup(&missing_refs).await?);
        let resolve = |list: Vec<(Key, Option<PinView>)>| -> Result<Vec<PinView>> {
            list.into_iter()
                .map(|(key, view)| match view {
                    Some(v) => Ok(v),
                    None => found.get(&key).and_then(Fragment::view).ok_or_else(|| Error::Corrupt {
                        path: snap.base.paths(),
                        reason: format!("pin {} of the manifest's top lists is not in the base", hex(&key)),
                    }),
                })
                .collect()
        };
        Ok(Some((resolve(largest)?, resolve(hottest)?)))
    }
}

/// `<path>.tmp-<pid>`, beside `path`.
pub(crate) fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(format!(".tmp-{}", std::process::id()));
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_literal_escapes_wildcards() {
        assert_eq!(like_literal("a%b_c\\d"), "a\\%b\\_c\\\\d");
    }

    #[test]
    fn hotness_rank_orders_like_decayed_scores() {
        let h = HOTNESS_HALF_LIFE_MS;
        // 4 at t=0 and 2 at t=H are equal from t=H on; 3 at t=H beats both.
        let a = hotness_rank(4.0, 0).unwrap();
        let b = hotness_rank(2.0, h).unwrap();
        let c = hotness_rank(3.0, h).unwrap();
        assert!((a - b).abs() < 1e-12);
        assert!(c > a);
        assert_eq!(hotness_rank(0.0, h), None);
    }
}
