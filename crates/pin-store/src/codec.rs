//! Arrow schemas of the three tables and the conversions between rows and pin-core types.
//!
//! The `pins` segment schema is the public `pins` table followed by internal columns (prefixed `_`)
//! that carry what merge-on-read needs: the key, the sequence number, whether the row holds a full pin
//! or only a patch, and the boundary state of the access statistics.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BinaryBuilder, BooleanBuilder, Float64Builder, ListBuilder, RecordBatch, StringBuilder,
    TimestampMillisecondBuilder, UInt8Builder, UInt32Builder, UInt64Builder,
};
use datafusion::arrow::datatypes::{
    DataType, Field, Float64Type, Schema, SchemaRef, TimeUnit, TimestampMillisecondType, UInt8Type, UInt32Type,
    UInt64Type,
};
use pin_core::{
    AccessRecord, Cid, CidForm, Fragment, HistoryEntry, Integrity, Patch, Pin, PinStats, PinStatus, PinType, Tier,
    Timestamp, VfsOperation,
};

use crate::error::{Error, Result};

fn ts_type() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
}

fn list_of_strings() -> DataType {
    DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)))
}

/// An in-memory row of an event table: the key, the CID as spelled, the row.
/// A row of `access_events` or `pin_history` as the memtable holds it: key, CID as recorded, the row.
pub(crate) type KeyedRow<T> = (Arc<[u8]>, Cid, T);

/// Columns of the public `pins` table, in order.
pub(crate) const PUBLIC_PIN_COLUMNS: &[&str] = &[
    "cid",
    "name",
    "pin_type",
    "status",
    "size_bytes",
    "created_at",
    "updated_at",
    "tier",
    "tiers",
    "replication",
    "vfs_paths",
    "mount",
    "meta",
    "content_hash",
    "last_verified",
    "verdict",
    "expires_at",
    "status_reason",
    "access_count",
    "read_count",
    "bytes_read",
    "bytes_written",
    "first_access",
    "last_access",
    "hotness",
    "hotness_at",
    "gap_count",
    "gap_mean_ms",
    "gap_m2",
    "sequential_reads",
    "random_reads",
    "whole_reads",
    "pattern",
];

/// Schema of a pins segment (public columns, then internal ones).
pub(crate) static PINS_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    use DataType::{Binary, Boolean, Float64, UInt32, UInt64, Utf8};
    let f = |n: &str, t: DataType, null: bool| Field::new(n, t, null);
    Arc::new(Schema::new(vec![
        f("cid", Utf8, true),
        f("name", Utf8, true),
        f("pin_type", Utf8, true),
        f("status", Utf8, true),
        f("size_bytes", UInt64, true),
        f("created_at", ts_type(), true),
        f("updated_at", ts_type(), true),
        f("tier", Utf8, true),
        f("tiers", list_of_strings(), true),
        f("replication", UInt32, true),
        f("vfs_paths", list_of_strings(), true),
        f("mount", Utf8, true),
        f("meta", Utf8, true),
        f("content_hash", Utf8, true),
        f("last_verified", ts_type(), true),
        f("verdict", Utf8, true),
        f("expires_at", ts_type(), true),
        f("status_reason", Utf8, true),
        f("access_count", UInt64, false),
        f("read_count", UInt64, false),
        f("bytes_read", UInt64, false),
        f("bytes_written", UInt64, false),
        f("first_access", ts_type(), true),
        f("last_access", ts_type(), true),
        f("hotness", Float64, false),
        f("hotness_at", ts_type(), true),
        f("gap_count", UInt64, false),
        f("gap_mean_ms", Float64, false),
        f("gap_m2", Float64, false),
        f("sequential_reads", UInt64, false),
        f("random_reads", UInt64, false),
        f("whole_reads", UInt64, false),
        f("pattern", Utf8, false),
        f("_key", Binary, false),
        f("_seq", UInt64, false),
        f("_has_pin", Boolean, false),
        f("_patch_status", Utf8, true),
        f("_patch_reason", Utf8, true),
        f("_patch_tier", Utf8, true),
        f("_patch_updated", ts_type(), true),
        f("_first_read_offset", UInt64, true),
        f("_first_read_whole", Boolean, true),
        f("_last_read_end", UInt64, true),
        f("_cid_form", DataType::UInt8, false),
    ]))
});

/// Indexes of the columns of [`PINS_SCHEMA`], so reading a row does not search the schema by name.
pub(crate) mod col {
    // Every column is listed, whether or not the decoder reads it.
    #![allow(dead_code)]
    pub(crate) const CID: usize = 0;
    pub(crate) const NAME: usize = 1;
    pub(crate) const PIN_TYPE: usize = 2;
    pub(crate) const STATUS: usize = 3;
    pub(crate) const SIZE_BYTES: usize = 4;
    pub(crate) const CREATED_AT: usize = 5;
    pub(crate) const UPDATED_AT: usize = 6;
    pub(crate) const TIER: usize = 7;
    pub(crate) const TIERS: usize = 8;
    pub(crate) const REPLICATION: usize = 9;
    pub(crate) const VFS_PATHS: usize = 10;
    pub(crate) const MOUNT: usize = 11;
    pub(crate) const META: usize = 12;
    pub(crate) const CONTENT_HASH: usize = 13;
    pub(crate) const LAST_VERIFIED: usize = 14;
    pub(crate) const VERDICT: usize = 15;
    pub(crate) const EXPIRES_AT: usize = 16;
    pub(crate) const STATUS_REASON: usize = 17;
    pub(crate) const ACCESS_COUNT: usize = 18;
    pub(crate) const READ_COUNT: usize = 19;
    pub(crate) const BYTES_READ: usize = 20;
    pub(crate) const BYTES_WRITTEN: usize = 21;
    pub(crate) const FIRST_ACCESS: usize = 22;
    pub(crate) const LAST_ACCESS: usize = 23;
    pub(crate) const HOTNESS: usize = 24;
    pub(crate) const HOTNESS_AT: usize = 25;
    pub(crate) const GAP_COUNT: usize = 26;
    pub(crate) const GAP_MEAN_MS: usize = 27;
    pub(crate) const GAP_M2: usize = 28;
    pub(crate) const SEQUENTIAL_READS: usize = 29;
    pub(crate) const RANDOM_READS: usize = 30;
    pub(crate) const WHOLE_READS: usize = 31;
    pub(crate) const PATTERN: usize = 32;
    pub(crate) const I_KEY: usize = 33;
    pub(crate) const I_SEQ: usize = 34;
    pub(crate) const I_HAS_PIN: usize = 35;
    pub(crate) const I_PATCH_STATUS: usize = 36;
    pub(crate) const I_PATCH_REASON: usize = 37;
    pub(crate) const I_PATCH_TIER: usize = 38;
    pub(crate) const I_PATCH_UPDATED: usize = 39;
    pub(crate) const I_FIRST_READ_OFFSET: usize = 40;
    pub(crate) const I_FIRST_READ_WHOLE: usize = 41;
    pub(crate) const I_LAST_READ_END: usize = 42;
    pub(crate) const I_CID_FORM: usize = 43;
}

/// The columns of the SQL table `pins` read as `Utf8View` rather than `Utf8`: the few-valued ones that
/// queries group by. The Parquet reader decodes their dictionary pages straight into views, and
/// DataFusion groups a view column of short strings (every tier and status name fits in a view's 12
/// inline bytes) by comparing views, where a `Utf8` column is copied row by row and each row's bytes hashed.
pub(crate) const PINS_VIEW_COLUMNS: [&str; 3] = ["pin_type", "status", "tier"];

/// [`PINS_SCHEMA`] as the SQL table `pins` reads a pins segment: [`PINS_VIEW_COLUMNS`] as `Utf8View`.
pub(crate) static PINS_SQL_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let fields = PINS_SCHEMA.fields().iter().map(|f| {
        if PINS_VIEW_COLUMNS.contains(&f.name().as_str()) {
            Arc::new(f.as_ref().clone().with_data_type(DataType::Utf8View))
        } else {
            f.clone()
        }
    });
    Arc::new(Schema::new(fields.collect::<Vec<_>>()))
});

/// Index of the `_key` column in [`PINS_SCHEMA`].
pub(crate) fn key_column() -> usize {
    PUBLIC_PIN_COLUMNS.len()
}

/// Schema of `access_events`.
pub(crate) static ACCESS_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    use DataType::{UInt64, Utf8};
    Arc::new(Schema::new(vec![
        // Stored only when the key does not imply the spelling (see `_cid_form`); `access_events` spells it out.
        Field::new("cid", Utf8, true),
        Field::new("ts", ts_type(), false),
        Field::new("seq", UInt64, false),
        Field::new("op", Utf8, false),
        Field::new("offset", UInt64, true),
        Field::new("length", UInt64, true),
        Field::new("tier", Utf8, true),
        Field::new("vfs_path", Utf8, true),
        Field::new("latency_us", UInt64, true),
        Field::new("_key", DataType::Binary, false),
        Field::new("_cid_form", DataType::UInt8, false),
    ]))
});

/// Schema of `vfs_events`: one row per VFS operation, in event order within a segment.
pub(crate) static VFS_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    use DataType::{Boolean, UInt64, Utf8};
    Arc::new(Schema::new(vec![
        Field::new("ts", ts_type(), false),
        Field::new("seq", UInt64, false),
        Field::new("op", Utf8, false),
        Field::new("mount", Utf8, false),
        Field::new("path", Utf8, false),
        Field::new("new_path", Utf8, true),
        Field::new("cid", Utf8, true),
        Field::new("offset", UInt64, true),
        Field::new("length", UInt64, true),
        Field::new("size", UInt64, true),
        Field::new("ok", Boolean, false),
        Field::new("latency_us", UInt64, true),
    ]))
});

/// A VFS operation with its event time and sequence number.
pub(crate) type VfsRow = (Timestamp, u64, Box<VfsOperation>);

/// Builds `vfs_events` rows.
pub(crate) fn vfs_batch<'a>(rows: impl IntoIterator<Item = &'a VfsRow>) -> Result<RecordBatch> {
    let mut ts = ts_builder();
    let mut seq = UInt64Builder::new();
    let mut op = StringBuilder::new();
    let mut mount = StringBuilder::new();
    let mut path = StringBuilder::new();
    let mut new_path = StringBuilder::new();
    let mut cid = StringBuilder::new();
    let mut offset = UInt64Builder::new();
    let mut length = UInt64Builder::new();
    let mut size = UInt64Builder::new();
    let mut ok = BooleanBuilder::new();
    let mut latency = UInt64Builder::new();
    for (t, s, v) in rows {
        ts.append_value(t.0);
        seq.append_value(*s);
        op.append_value(v.op.as_str());
        mount.append_value(&v.mount);
        path.append_value(&v.path);
        new_path.append_option(v.new_path.as_deref());
        cid.append_option(v.cid.as_ref().map(Cid::as_str));
        offset.append_option(v.offset);
        length.append_option(v.length);
        size.append_option(v.size);
        ok.append_value(v.ok);
        latency.append_option(v.latency_us);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(ts.finish()),
        Arc::new(seq.finish()),
        Arc::new(op.finish()),
        Arc::new(mount.finish()),
        Arc::new(path.finish()),
        Arc::new(new_path.finish()),
        Arc::new(cid.finish()),
        Arc::new(offset.finish()),
        Arc::new(length.finish()),
        Arc::new(size.finish()),
        Arc::new(ok.finish()),
        Arc::new(latency.finish()),
    ];
    Ok(RecordBatch::try_new(VFS_SCHEMA.clone(), columns)?)
}

/// Schema of `pin_history`.
pub(crate) static HISTORY_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    use DataType::{UInt64, Utf8};
    Arc::new(Schema::new(vec![
        // As in `access_events`: only a spelling the key does not imply is stored.
        Field::new("cid", Utf8, true),
        Field::new("ts", ts_type(), false),
        Field::new("seq", UInt64, false),
        Field::new("event", Utf8, false),
        Field::new("status", Utf8, true),
        Field::new("tier", Utf8, true),
        Field::new("reason", Utf8, true),
        Field::new("_key", DataType::Binary, false),
        Field::new("_cid_form", DataType::UInt8, false),
    ]))
});

fn ts_builder() -> TimestampMillisecondBuilder {
    TimestampMillisecondBuilder::new().with_timezone("UTC")
}

/// Builds a pins segment batch, one fragment at a time.
pub(crate) struct PinRows {
    cid: StringBuilder,
    name: StringBuilder,
    pin_type: StringBuilder,
    status: StringBuilder,
    size: UInt64Builder,
    created: TimestampMillisecondBuilder,
    updated: TimestampMillisecondBuilder,
    tier: StringBuilder,
    tiers: ListBuilder<StringBuilder>,
    replication: UInt32Builder,
    vfs_paths: ListBuilder<StringBuilder>,
    mount: StringBuilder,
    meta: StringBuilder,
    content_hash: StringBuilder,
    last_verified: TimestampMillisecondBuilder,
    verdict: StringBuilder,
    expires: TimestampMillisecondBuilder,
    status_reason: StringBuilder,
    u64s: [UInt64Builder; 8],
    first_access: TimestampMillisecondBuilder,
    last_access: TimestampMillisecondBuilder,
    f64s: [Float64Builder; 3],
    hotness_at: TimestampMillisecondBuilder,
    pattern: StringBuilder,
    key: BinaryBuilder,
    seq: UInt64Builder,
    has_pin: BooleanBuilder,
    patch_status: StringBuilder,
    patch_reason: StringBuilder,
    patch_tier: StringBuilder,
    patch_updated: TimestampMillisecondBuilder,
    first_read_offset: UInt64Builder,
    first_read_whole: BooleanBuilder,
    last_read_end: UInt64Builder,
    cid_form: UInt8Builder,
    len: usize,
}

impl PinRows {
    pub(crate) fn new() -> Self {
        Self {
            cid: StringBuilder::new(),
            name: StringBuilder::new(),
            pin_type: StringBuilder::new(),
            status: StringBuilder::new(),
            size: UInt64Builder::new(),
            created: ts_builder(),
            updated: ts_builder(),
            tier: StringBuilder::new(),
            tiers: ListBuilder::new(StringBuilder::new()),
            replication: UInt32Builder::new(),
            vfs_paths: ListBuilder::new(StringBuilder::new()),
            mount: StringBuilder::new(),
            meta: StringBuilder::new(),
            content_hash: StringBuilder::new(),
            last_verified: ts_builder(),
            verdict: StringBuilder::new(),
            expires: ts_builder(),
            status_reason: StringBuilder::new(),
            u64s: Default::default(),
            first_access: ts_builder(),
            last_access: ts_builder(),
            f64s: Default::default(),
            hotness_at: ts_builder(),
            pattern: StringBuilder::new(),
            key: BinaryBuilder::new(),
            seq: UInt64Builder::new(),
            has_pin: BooleanBuilder::new(),
            patch_status: StringBuilder::new(),
            patch_reason: StringBuilder::new(),
            patch_tier: StringBuilder::new(),
            patch_updated: ts_builder(),
            first_read_offset: UInt64Builder::new(),
            first_read_whole: BooleanBuilder::new(),
            last_read_end: UInt64Builder::new(),
            cid_form: UInt8Builder::new(),
            len: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn push(&mut self, key: &[u8], f: &Fragment) {
        self.len += 1;
        let ms = |t: Option<Timestamp>| t.map(|t| t.0);
        match &f.pin {
            Some(p) => {
                // Only a spelling the key does not imply is stored (see `CidForm`).
                let form = p.cid.form();
                self.cid_form.append_value(form.code());
                self.cid.append_option((form == CidForm::Other).then(|| p.cid.as_str()));
                self.name.append_option(p.name.as_deref());
                self.pin_type.append_value(p.pin_type.as_str());
                self.status.append_value(p.status.as_str());
                self.size.append_value(p.size_bytes);
                self.created.append_value(p.created_at.0);
                self.updated.append_value(p.updated_at.0);
                self.tier.append_value(p.primary_tier.as_str());
                self.tiers.append_value(p.tiers.iter().map(|t| Some(t.as_str())));
                self.replication.append_value(p.replication);
                self.vfs_paths.append_value(p.vfs_paths.iter().map(Some));
                self.mount.append_option(p.mount.as_deref());
                if p.meta.is_empty() {
                    self.meta.append_null();
                } else {
                    self.meta
                        .append_value(serde_json::to_string(&p.meta).unwrap_or_default());
                }
                self.content_hash.append_option(p.integrity.content_hash.as_deref());
                self.last_verified.append_option(ms(p.integrity.last_verified));
                self.verdict.append_option(p.integrity.verdict.as_deref());
                self.expires.append_option(ms(p.expires_at));
                self.status_reason.append_option(p.status_reason.as_deref());
            }
            None => {
                self.cid_form.append_value(CidForm::V1.code());
                self.cid.append_null();
                for b in [
                    &mut self.name,
                    &mut self.pin_type,
                    &mut self.status,
                    &mut self.tier,
                    &mut self.mount,
                ] {
                    b.append_null();
                }
                for b in [
                    &mut self.meta,
                    &mut self.content_hash,
                    &mut self.verdict,
                    &mut self.status_reason,
                ] {
                    b.append_null();
                }
                self.size.append_null();
                self.replication.append_null();
                self.tiers.append_null();
                self.vfs_paths.append_null();
                for b in [
                    &mut self.created,
                    &mut self.updated,
                    &mut self.last_verified,
                    &mut self.expires,
                ] {
                    b.append_null();
                }
            }
        }
        let s = &f.stats;
        let counters = [
            s.access_count,
            s.read_count,
            s.bytes_read,
            s.bytes_written,
            s.gap_count,
            s.sequential_reads,
            s.random_reads,
            s.whole_reads,
        ];
        for (b, v) in self.u64s.iter_mut().zip(counters) {
            b.append_value(v);
        }
        for (b, v) in self.f64s.iter_mut().zip([s.hotness, s.gap_mean_ms, s.gap_m2]) {
            b.append_value(v);
        }
        self.first_access.append_option(ms(s.first_access));
        self.last_access.append_option(ms(s.last_access));
        self.hotness_at.append_option(ms(s.hotness_at));
        self.pattern.append_value(s.pattern().as_str());
        self.key.append_value(key);
        self.seq.append_value(f.seq);
        self.has_pin.append_value(f.pin.is_some());
        let (status, reason) = match &f.patch.status {
            Some((s, r)) => (Some(s.as_str()), r.as_deref()),
            None => (None, None),
        };
        self.patch_status.append_option(status);
        self.patch_reason.append_option(reason);
        self.patch_tier.append_option(f.patch.tier.map(Tier::as_str));
        self.patch_updated.append_option(ms(f.patch.updated_at));
        let (offset, whole, end) = s.boundary_state();
        self.first_read_offset.append_option(offset);
        self.first_read_whole.append_option(whole);
        self.last_read_end.append_option(end);
    }

    pub(crate) fn finish(mut self) -> Result<RecordBatch> {
        let [ac, rc, br, bw, gc, sr, rr, wr] = &mut self.u64s;
        let [hot, gm, gm2] = &mut self.f64s;
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.cid.finish()),
            Arc::new(self.name.finish()),
            Arc::new(self.pin_type.finish()),
            Arc::new(self.status.finish()),
            Arc::new(self.size.finish()),
            Arc::new(self.created.finish()),
            Arc::new(self.updated.finish()),
            Arc::new(self.tier.finish()),
            Arc::new(self.tiers.finish()),
            Arc::new(self.replication.finish()),
            Arc::new(self.vfs_paths.finish()),
            Arc::new(self.mount.finish()),
            Arc::new(self.meta.finish()),
            Arc::new(self.content_hash.finish()),
            Arc::new(self.last_verified.finish()),
            Arc::new(self.verdict.finish()),
            Arc::new(self.expires.finish()),
            Arc::new(self.status_reason.finish()),
            Arc::new(ac.finish()),
            Arc::new(rc.finish()),
            Arc::new(br.finish()),
            Arc::new(bw.finish()),
            Arc::new(self.first_access.finish()),
            Arc::new(self.last_access.finish()),
            Arc::new(hot.finish()),
            Arc::new(self.hotness_at.finish()),
            Arc::new(gc.finish()),
            Arc::new(gm.finish()),
            Arc::new(gm2.finish()),
            Arc::new(sr.finish()),
            Arc::new(rr.finish()),
            Arc::new(wr.finish()),
            Arc::new(self.pattern.finish()),
            Arc::new(self.key.finish()),
            Arc::new(self.seq.finish()),
            Arc::new(self.has_pin.finish()),
            Arc::new(self.patch_status.finish()),
            Arc::new(self.patch_reason.finish()),
            Arc::new(self.patch_tier.finish()),
            Arc::new(self.patch_updated.finish()),
            Arc::new(self.first_read_offset.finish()),
            Arc::new(self.first_read_whole.finish()),
            Arc::new(self.last_read_end.finish()),
            Arc::new(self.cid_form.finish()),
        ];
        Ok(RecordBatch::try_new(PINS_SCHEMA.clone(), columns)?)
    }
}

/// Reads rows of a pins segment batch back into fragments.
pub(crate) struct PinColumns<'a> {
    batch: &'a RecordBatch,
    origin: &'a str,
}

impl<'a> PinColumns<'a> {
    pub(crate) fn new(batch: &'a RecordBatch, origin: &'a str) -> Result<Self> {
        if batch.schema().fields() != PINS_SCHEMA.fields() {
            return Err(Error::Corrupt {
                path: origin.to_owned(),
                reason: "pins segment schema does not match this version of pindex".into(),
            });
        }
        Ok(Self { batch, origin })
    }

    /// For a batch whose schema [`new`](Self::new) already checked.
    pub(crate) fn unchecked(batch: &'a RecordBatch, origin: &'a str) -> Self {
        Self { batch, origin }
    }

    fn col(&self, i: usize) -> &ArrayRef {
        // The constructor checked the schema, so the indexes of `col` are right.
        self.batch.column(i)
    }

    fn str(&self, name: usize, row: usize) -> Option<&str> {
        let a = self.col(name).as_string::<i32>();
        a.is_valid(row).then(|| a.value(row))
    }

    fn u64(&self, name: usize, row: usize) -> Option<u64> {
        let a = self.col(name).as_primitive::<UInt64Type>();
        a.is_valid(row).then(|| a.value(row))
    }

    fn f64(&self, name: usize, row: usize) -> f64 {
        self.col(name).as_primitive::<Float64Type>().value(row)
    }

    fn ts(&self, name: usize, row: usize) -> Option<Timestamp> {
        let a = self.col(name).as_primitive::<TimestampMillisecondType>();
        a.is_valid(row).then(|| Timestamp(a.value(row)))
    }

    fn bool(&self, name: usize, row: usize) -> Option<bool> {
        let a = self.col(name).as_boolean();
        a.is_valid(row).then(|| a.value(row))
    }

    /// The strings of a list cell, read in place (a slice of the list would allocate an array per row).
    fn strings(&self, name: usize, row: usize) -> impl Iterator<Item = &'a str> {
        let a = self.batch.column(name).as_list::<i32>();
        let range = if a.is_valid(row) {
            let offsets = a.value_offsets();
            offsets[row] as usize..offsets[row + 1] as usize
        } else {
            0..0
        };
        let s = a.values().as_string::<i32>();
        range.filter(|&i| s.is_valid(i)).map(|i| s.value(i))
    }

    pub(crate) fn key(&self, row: usize) -> &'a [u8] {
        self.batch.column(key_column()).as_binary::<i32>().value(row)
    }

    fn corrupt(&self, reason: impl Into<String>) -> Error {
        Error::Corrupt {
            path: self.origin.to_owned(),
            reason: reason.into(),
        }
    }

    fn parse<T: std::str::FromStr<Err = pin_core::Error>>(&self, v: Option<&str>) -> Result<Option<T>> {
        v.map(|s| s.parse::<T>().map_err(|e| self.corrupt(e.to_string())))
            .transpose()
    }

    /// The row's sequence number.
    pub(crate) fn seq(&self, row: usize) -> u64 {
        self.u64(col::I_SEQ, row).unwrap_or(0)
    }

    /// What the top lists need of the row, read from its columns alone (no pin is decoded): the same as
    /// [`Ranking::of`](crate::listing::Ranking::of) of its [`fragment`](Self::fragment).
    pub(crate) fn ranking(&self, row: usize) -> Result<Option<crate::listing::Ranking>> {
        if !self.bool(col::I_HAS_PIN, row).unwrap_or(false) {
            return Ok(None);
        }
        let status = self
            .parse::<PinStatus>(self.str(col::STATUS, row))?
            .ok_or_else(|| self.corrupt("pin row without status"))?;
        Ok(Some(crate::listing::Ranking {
            created_at: self.ts(col::CREATED_AT, row).unwrap_or_default().0,
            live: status != PinStatus::Unpinned,
            size_bytes: self.u64(col::SIZE_BYTES, row).unwrap_or(0),
            hotness: self.f64(col::HOTNESS, row),
            hotness_at: self.ts(col::HOTNESS_AT, row).map(|t| t.0),
        }))
    }

    pub(crate) fn fragment(&self, row: usize) -> Result<Fragment> {
        let key = self.key(row);
        let has_pin = self.bool(col::I_HAS_PIN, row).unwrap_or(false);
        let pin = if has_pin {
            let code = self.col(col::I_CID_FORM).as_primitive::<UInt8Type>().value(row);
            let form = CidForm::from_code(code).ok_or_else(|| self.corrupt(format!("unknown CID form {code}")))?;
            let cid =
                Cid::from_key_form(key, form, self.str(col::CID, row)).map_err(|e| self.corrupt(e.to_string()))?;
            let tiers: BTreeSet<Tier> = self
                .strings(col::TIERS, row)
                .map(|t| self.parse::<Tier>(Some(t)).map(Option::unwrap_or_default_tier))
                .collect::<Result<_>>()?;
            let meta: BTreeMap<String, String> = match self.str(col::META, row) {
                Some(json) => serde_json::from_str(json).map_err(|e| self.corrupt(format!("meta: {e}")))?,
                None => BTreeMap::new(),
            };
            let required = |what: &str| self.corrupt(format!("pin row without {what}"));
            Some(Pin {
                cid,
                name: self.str(col::NAME, row).map(str::to_owned),
                pin_type: self
                    .parse::<PinType>(self.str(col::PIN_TYPE, row))?
                    .ok_or_else(|| required("pin_type"))?,
                status: self
                    .parse::<PinStatus>(self.str(col::STATUS, row))?
                    .ok_or_else(|| required("status"))?,
                size_bytes: self.u64(col::SIZE_BYTES, row).unwrap_or(0),
                created_at: self.ts(col::CREATED_AT, row).unwrap_or_default(),
                updated_at: self.ts(col::UPDATED_AT, row).unwrap_or_default(),
                primary_tier: self
                    .parse::<Tier>(self.str(col::TIER, row))?
                    .ok_or_else(|| required("tier"))?,
                tiers,
                replication: {
                    let a = self.col(col::REPLICATION).as_primitive::<UInt32Type>();
                    if a.is_valid(row) { a.value(row) } else { 1 }
                },
                vfs_paths: self.strings(col::VFS_PATHS, row).map(str::to_owned).collect(),
                mount: self.str(col::MOUNT, row).map(str::to_owned),
                meta,
                integrity: Integrity {
                    content_hash: self.str(col::CONTENT_HASH, row).map(str::to_owned),
                    last_verified: self.ts(col::LAST_VERIFIED, row),
                    verdict: self.str(col::VERDICT, row).map(str::to_owned),
                },
                expires_at: self.ts(col::EXPIRES_AT, row),
                status_reason: self.str(col::STATUS_REASON, row).map(str::to_owned),
            })
        } else {
            None
        };
        let patch = Patch {
            status: self
                .parse::<PinStatus>(self.str(col::I_PATCH_STATUS, row))?
                .map(|s| (s, self.str(col::I_PATCH_REASON, row).map(str::to_owned))),
            tier: self.parse::<Tier>(self.str(col::I_PATCH_TIER, row))?,
            updated_at: self.ts(col::I_PATCH_UPDATED, row),
        };
        let mut stats = PinStats::default();
        stats.access_count = self.u64(col::ACCESS_COUNT, row).unwrap_or(0);
        stats.read_count = self.u64(col::READ_COUNT, row).unwrap_or(0);
        stats.bytes_read = self.u64(col::BYTES_READ, row).unwrap_or(0);
        stats.bytes_written = self.u64(col::BYTES_WRITTEN, row).unwrap_or(0);
        stats.first_access = self.ts(col::FIRST_ACCESS, row);
        stats.last_access = self.ts(col::LAST_ACCESS, row);
        stats.hotness = self.f64(col::HOTNESS, row);
        stats.hotness_at = self.ts(col::HOTNESS_AT, row);
        stats.gap_count = self.u64(col::GAP_COUNT, row).unwrap_or(0);
        stats.gap_mean_ms = self.f64(col::GAP_MEAN_MS, row);
        stats.gap_m2 = self.f64(col::GAP_M2, row);
        stats.sequential_reads = self.u64(col::SEQUENTIAL_READS, row).unwrap_or(0);
        stats.random_reads = self.u64(col::RANDOM_READS, row).unwrap_or(0);
        stats.whole_reads = self.u64(col::WHOLE_READS, row).unwrap_or(0);
        stats.set_boundary_state(
            self.u64(col::I_FIRST_READ_OFFSET, row),
            self.bool(col::I_FIRST_READ_WHOLE, row),
            self.u64(col::I_LAST_READ_END, row),
        );
        Ok(Fragment {
            seq: self.seq(row),
            pin,
            patch,
            stats,
        })
    }
}

trait UnwrapTier {
    fn unwrap_or_default_tier(self) -> Tier;
}
impl UnwrapTier for Option<Tier> {
    fn unwrap_or_default_tier(self) -> Tier {
        self.unwrap_or(Tier::Ipfs)
    }
}

/// Builds `access_events` rows.
pub(crate) fn access_batch<'a>(rows: impl IntoIterator<Item = &'a KeyedRow<AccessRecord>>) -> Result<RecordBatch> {
    let mut cid = StringBuilder::new();
    let mut ts = ts_builder();
    let mut seq = UInt64Builder::new();
    let mut op = StringBuilder::new();
    let mut offset = UInt64Builder::new();
    let mut length = UInt64Builder::new();
    let mut tier = StringBuilder::new();
    let mut path = StringBuilder::new();
    let mut latency = UInt64Builder::new();
    let mut key = BinaryBuilder::new();
    let mut form = UInt8Builder::new();
    for (k, c, r) in rows {
        append_cid(&mut cid, &mut form, c);
        ts.append_value(r.ts.0);
        seq.append_value(r.seq);
        op.append_value(r.op.as_str());
        offset.append_option(r.offset);
        length.append_option(r.length);
        tier.append_option(r.tier.map(Tier::as_str));
        path.append_option(r.vfs_path.as_deref());
        latency.append_option(r.latency_us);
        key.append_value(k);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(cid.finish()),
        Arc::new(ts.finish()),
        Arc::new(seq.finish()),
        Arc::new(op.finish()),
        Arc::new(offset.finish()),
        Arc::new(length.finish()),
        Arc::new(tier.finish()),
        Arc::new(path.finish()),
        Arc::new(latency.finish()),
        Arc::new(key.finish()),
        Arc::new(form.finish()),
    ];
    Ok(RecordBatch::try_new(ACCESS_SCHEMA.clone(), columns)?)
}

/// Appends a CID as the pins table stores it: its form, and its spelling only when the key does not imply it.
fn append_cid(cid: &mut StringBuilder, form: &mut UInt8Builder, c: &Cid) {
    let f = c.form();
    form.append_value(f.code());
    cid.append_option((f == CidForm::Other).then(|| c.as_str()));
}

/// Builds `pin_history` rows.
pub(crate) fn history_batch<'a>(rows: impl IntoIterator<Item = &'a KeyedRow<HistoryEntry>>) -> Result<RecordBatch> {
    let mut cid = StringBuilder::new();
    let mut ts = ts_builder();
    let mut seq = UInt64Builder::new();
    let mut event = StringBuilder::new();
    let mut status = StringBuilder::new();
    let mut tier = StringBuilder::new();
    let mut reason = StringBuilder::new();
    let mut key = BinaryBuilder::new();
    let mut form = UInt8Builder::new();
    for (k, c, h) in rows {
        append_cid(&mut cid, &mut form, c);
        ts.append_value(h.ts.0);
        seq.append_value(h.seq);
        event.append_value(&h.event);
        status.append_option(h.status.map(PinStatus::as_str));
        tier.append_option(h.tier.map(Tier::as_str));
        reason.append_option(h.reason.as_deref());
        key.append_value(k);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(cid.finish()),
        Arc::new(ts.finish()),
        Arc::new(seq.finish()),
        Arc::new(event.finish()),
        Arc::new(status.finish()),
        Arc::new(tier.finish()),
        Arc::new(reason.finish()),
        Arc::new(key.finish()),
        Arc::new(form.finish()),
    ];
    Ok(RecordBatch::try_new(HISTORY_SCHEMA.clone(), columns)?)
}

/// Reads `access_events` rows of one key from a batch.
pub(crate) fn access_rows(batch: &RecordBatch, key: &[u8], origin: &str, out: &mut Vec<AccessRecord>) -> Result<()> {
    let corrupt = |reason: String| Error::Corrupt {
        path: origin.to_owned(),
        reason,
    };
    let keys = batch.column(9).as_binary::<i32>();
    let ts = batch.column(1).as_primitive::<TimestampMillisecondType>();
    let seq = batch.column(2).as_primitive::<UInt64Type>();
    let op = batch.column(3).as_string::<i32>();
    let u = |c: usize, i: usize| {
        let a = batch.column(c).as_primitive::<UInt64Type>();
        a.is_valid(i).then(|| a.value(i))
    };
    let s = |c: usize, i: usize| {
        let a = batch.column(c).as_string::<i32>();
        a.is_valid(i).then(|| a.value(i))
    };
    for i in 0..batch.num_rows() {
        if keys.value(i) != key {
            continue;
        }
        out.push(AccessRecord {
            seq: seq.value(i),
            ts: Timestamp(ts.value(i)),
            op: op
                .value(i)
                .parse()
                .map_err(|e: pin_core::Error| corrupt(e.to_string()))?,
            offset: u(4, i),
            length: u(5, i),
            tier: s(6, i)
                .map(str::parse)
                .transpose()
                .map_err(|e: pin_core::Error| corrupt(e.to_string()))?,
            vfs_path: s(7, i).map(str::to_owned),
            latency_us: u(8, i),
        });
    }
    Ok(())
}

/// Reads `pin_history` rows of one key from a batch.
pub(crate) fn history_rows(batch: &RecordBatch, key: &[u8], origin: &str, out: &mut Vec<HistoryEntry>) -> Result<()> {
    let corrupt = |reason: String| Error::Corrupt {
        path: origin.to_owned(),
        reason,
    };
    let keys = batch.column(7).as_binary::<i32>();
    let ts = batch.column(1).as_primitive::<TimestampMillisecondType>();
    let seq = batch.column(2).as_primitive::<UInt64Type>();
    let s = |c: usize, i: usize| {
        let a = batch.column(c).as_string::<i32>();
        a.is_valid(i).then(|| a.value(i))
    };
    for i in 0..batch.num_rows() {
        if keys.value(i) != key {
            continue;
        }
        out.push(HistoryEntry {
            seq: seq.value(i),
            ts: Timestamp(ts.value(i)),
            event: s(3, i).unwrap_or_default().to_owned(),
            status: s(4, i)
                .map(str::parse)
                .transpose()
                .map_err(|e: pin_core::Error| corrupt(e.to_string()))?,
            tier: s(5, i)
                .map(str::parse)
                .transpose()
                .map_err(|e: pin_core::Error| corrupt(e.to_string()))?,
            reason: s(6, i).map(str::to_owned),
        });
    }
    Ok(())
}

/// The scalar function behind the `cid` column of `pins`: the stored spelling, or the one the key implies.
pub(crate) fn cid_udf() -> datafusion::logical_expr::ScalarUDF {
    use datafusion::common::cast::{as_binary_array, as_string_array, as_uint8_array};
    use datafusion::logical_expr::{ColumnarValue, Volatility, create_udf};
    let f = Arc::new(|args: &[ColumnarValue]| -> datafusion::error::Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(args)?;
        let keys = as_binary_array(&arrays[0])?;
        let forms = as_uint8_array(&arrays[1])?;
        let literal = as_string_array(&arrays[2])?;
        let mut out = StringBuilder::with_capacity(keys.len(), keys.len() * 60);
        for i in 0..keys.len() {
            let stored = literal.is_valid(i).then(|| literal.value(i));
            let cid = CidForm::from_code(forms.value(i))
                .and_then(|form| Cid::from_key_form(keys.value(i), form, stored).ok());
            out.append_option(cid.as_ref().map(Cid::as_str));
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    });
    create_udf(
        "pindex_cid",
        vec![DataType::Binary, DataType::UInt8, DataType::Utf8],
        DataType::Utf8,
        Volatility::Immutable,
        f,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_indexes_match_the_schema() {
        let idx = |n: &str| PINS_SCHEMA.index_of(n).unwrap();
        assert_eq!(col::CID, idx("cid"));
        assert_eq!(col::GAP_M2, idx("gap_m2"));
        assert_eq!(col::PATTERN, idx("pattern"));
        assert_eq!(col::I_KEY, idx("_key"));
        assert_eq!(col::I_KEY, key_column());
        assert_eq!(col::I_CID_FORM, idx("_cid_form"));
        assert_eq!(col::I_CID_FORM + 1, PINS_SCHEMA.fields().len());
    }
}
