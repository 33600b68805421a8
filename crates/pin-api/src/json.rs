//! JSON shapes shared by the endpoints, with the field names of the `pindex` command line (docs/cli.md,
//! docs/formats.md section 3).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, SecondsFormat};
use pin_core::{AccessRecord, HistoryEntry, PinView, Tier, Timestamp, VfsTotals};
use serde::Serialize;

/// RFC 3339 in UTC with milliseconds: `2026-11-25T11:30:00.123Z` (milliseconds since the epoch when out
/// of chrono's range).
pub(crate) fn rfc3339(t: Timestamp) -> String {
    DateTime::from_timestamp_millis(t.0)
        .map_or_else(|| t.0.to_string(), |d| d.to_rfc3339_opts(SecondsFormat::Millis, true))
}

/// Serializes a [`Timestamp`] as [`rfc3339`].
pub(crate) fn ts<S: serde::Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&rfc3339(*t))
}

/// Serializes an optional [`Timestamp`] as [`rfc3339`] or `null`.
pub(crate) fn ts_opt<S: serde::Serializer>(t: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => ts(t, s),
        None => s.serialize_none(),
    }
}

/// One pin as `pindex pins --format json` prints it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct PinRecord {
    cid: String,
    name: Option<String>,
    pin_type: &'static str,
    status: &'static str,
    status_reason: Option<String>,
    size_bytes: u64,
    tier: &'static str,
    tiers: BTreeSet<Tier>,
    replication: u32,
    #[serde(serialize_with = "ts")]
    created_at: Timestamp,
    #[serde(serialize_with = "ts")]
    updated_at: Timestamp,
    mount: Option<String>,
    vfs_paths: BTreeSet<String>,
    meta: BTreeMap<String, String>,
    #[serde(serialize_with = "ts_opt")]
    expires_at: Option<Timestamp>,
    access_count: u64,
    read_count: u64,
    bytes_read: u64,
    bytes_written: u64,
    #[serde(serialize_with = "ts_opt")]
    first_access: Option<Timestamp>,
    #[serde(serialize_with = "ts_opt")]
    last_access: Option<Timestamp>,
    hotness: f64,
    pattern: &'static str,
}

impl PinRecord {
    /// The record of `v`, with hotness decayed to `now`.
    pub(crate) fn of(v: &PinView, now: Timestamp) -> Self {
        let p = &v.pin;
        let s = &v.stats;
        Self {
            cid: p.cid.as_str().to_owned(),
            name: p.name.clone(),
            pin_type: p.pin_type.as_str(),
            status: p.status.as_str(),
            status_reason: p.status_reason.clone(),
            size_bytes: p.size_bytes,
            tier: p.primary_tier.as_str(),
            tiers: p.tiers.clone(),
            replication: p.replication,
            created_at: p.created_at,
            updated_at: p.updated_at,
            mount: p.mount.clone(),
            vfs_paths: p.vfs_paths.clone(),
            meta: p.meta.clone(),
            expires_at: p.expires_at,
            access_count: s.access_count,
            read_count: s.read_count,
            bytes_read: s.bytes_read,
            bytes_written: s.bytes_written,
            first_access: s.first_access,
            last_access: s.last_access,
            hotness: s.hotness_at(now),
            pattern: s.pattern().as_str(),
        }
    }
}

/// Statistics of one pin as `pindex track --format json` prints them.
#[derive(Debug, Serialize)]
pub(crate) struct TrackStats {
    access_count: u64,
    read_count: u64,
    bytes_read: u64,
    bytes_written: u64,
    #[serde(serialize_with = "ts_opt")]
    first_access: Option<Timestamp>,
    #[serde(serialize_with = "ts_opt")]
    last_access: Option<Timestamp>,
    hotness: f64,
    pattern: &'static str,
    sequential_reads: u64,
    random_reads: u64,
    whole_reads: u64,
    mean_interarrival_ms: Option<f64>,
    stddev_interarrival_ms: Option<f64>,
}

/// One history row as `track` prints it.
#[derive(Debug, Serialize)]
pub(crate) struct HistoryRow {
    seq: u64,
    #[serde(serialize_with = "ts")]
    ts: Timestamp,
    event: String,
    status: Option<&'static str>,
    tier: Option<&'static str>,
    reason: Option<String>,
}

/// One access row as `track` prints it.
#[derive(Debug, Serialize)]
pub(crate) struct AccessRow {
    seq: u64,
    #[serde(serialize_with = "ts")]
    ts: Timestamp,
    op: &'static str,
    offset: Option<u64>,
    bytes: Option<u64>,
    tier: Option<&'static str>,
    vfs_path: Option<String>,
    latency_us: Option<u64>,
}

/// `GET /v1/pins/{cid}`: the same object as `pindex track --format json`.
#[derive(Debug, Serialize)]
pub(crate) struct TrackReport {
    pin: PinRecord,
    stats: TrackStats,
    recent_accesses: Vec<AccessRow>,
    history: Vec<HistoryRow>,
}

impl TrackReport {
    pub(crate) fn of(view: &PinView, history: &[HistoryEntry], accesses: &[AccessRecord], now: Timestamp) -> Self {
        let st = &view.stats;
        Self {
            pin: PinRecord::of(view, now),
            stats: TrackStats {
                access_count: st.access_count,
                read_count: st.read_count,
                bytes_read: st.bytes_read,
                bytes_written: st.bytes_written,
                first_access: st.first_access,
                last_access: st.last_access,
                hotness: st.hotness_at(now),
                pattern: st.pattern().as_str(),
                sequential_reads: st.sequential_reads,
                random_reads: st.random_reads,
                whole_reads: st.whole_reads,
                mean_interarrival_ms: (st.gap_count > 0).then_some(st.gap_mean_ms),
                stddev_interarrival_ms: (st.gap_count > 1).then(|| st.gap_stddev_ms()),
            },
            recent_accesses: accesses
                .iter()
                .map(|a| AccessRow {
                    seq: a.seq,
                    ts: a.ts,
                    op: a.op.as_str(),
                    offset: a.offset,
                    bytes: a.length,
                    tier: a.tier.map(Tier::as_str),
                    vfs_path: a.vfs_path.clone(),
                    latency_us: a.latency_us,
                })
                .collect(),
            history: history
                .iter()
                .map(|h| HistoryRow {
                    seq: h.seq,
                    ts: h.ts,
                    event: h.event.clone(),
                    status: h.status.map(pin_core::PinStatus::as_str),
                    tier: h.tier.map(Tier::as_str),
                    reason: h.reason.clone(),
                })
                .collect(),
        }
    }
}

/// VFS operations of one kind, as `pindex vfs --format json` prints them under `operations_last_day`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct OpRow {
    pub(crate) op: &'static str,
    pub(crate) count: u64,
    pub(crate) failed: u64,
    pub(crate) success_rate: f64,
    pub(crate) mean_latency_us: Option<f64>,
    pub(crate) max_latency_us: Option<u64>,
}

impl OpRow {
    /// One row per kind counted in `totals`, in the kinds' order.
    pub(crate) fn all(totals: &VfsTotals) -> Vec<Self> {
        totals
            .by_op
            .iter()
            .map(|(k, c)| Self {
                op: k.as_str(),
                count: c.count,
                failed: c.failed,
                success_rate: c.success_rate(),
                mean_latency_us: c.mean_latency_us(),
                max_latency_us: (c.latency_samples > 0).then_some(c.latency_us_max),
            })
            .collect()
    }
}

/// Bytes moved through one mount point, as `pindex vfs --format json` prints them under `io_last_day`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct MountIoRow {
    pub(crate) mount: String,
    pub(crate) reads: u64,
    pub(crate) bytes_read: u64,
    pub(crate) writes: u64,
    pub(crate) bytes_written: u64,
}

impl MountIoRow {
    /// One row per mount point in `totals`, by name.
    pub(crate) fn all(totals: &VfsTotals) -> Vec<Self> {
        totals
            .by_mount
            .iter()
            .map(|(m, io)| Self {
                mount: m.clone(),
                reads: io.reads,
                bytes_read: io.bytes_read,
                writes: io.writes,
                bytes_written: io.bytes_written,
            })
            .collect()
    }
}
