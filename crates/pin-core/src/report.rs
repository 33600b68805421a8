//! What the command line and the HTTP API print: serde views of the domain types, with the JSON field names
//! of `pindex ... --format json` (docs/cli.md) that `GET /v1/...` repeats (docs/api.md).
//!
//! Both front ends build these values, so a field added or renamed here changes both, and the two cannot
//! drift apart. Timestamps print as [`rfc3339`]; sizes in tables as [`human_bytes`].

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, SecondsFormat};
use serde::{Serialize, Serializer};

use crate::cid::Cid;
use crate::fold::PinView;
use crate::metrics::{Metrics, TierTotals};
use crate::model::{PinStats, PinStatus, Tier, Timestamp};
use crate::store::{AccessRecord, HistoryEntry};
use crate::vfs::VfsTotals;

/// RFC 3339 in UTC with milliseconds: `2026-11-25T11:30:00.123Z` (milliseconds since the epoch when out
/// of chrono's range).
///
/// Listings print several per row, so years 0 to 9999 are formatted by hand (civil-from-days); chrono
/// handles the rest.
pub fn rfc3339(t: Timestamp) -> String {
    let mut buf = [0u8; 24];
    match rfc3339_in(t, &mut buf) {
        Some(s) => s.to_owned(),
        None => DateTime::from_timestamp_millis(t.0)
            .map_or_else(|| t.0.to_string(), |d| d.to_rfc3339_opts(SecondsFormat::Millis, true)),
    }
}

/// [`rfc3339`] into a buffer, for years 0 to 9999 (`None` otherwise).
fn rfc3339_in(t: Timestamp, b: &mut [u8; 24]) -> Option<&str> {
    let ms = t.0;
    let secs = ms.div_euclid(1000);
    let (days, sod) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    if !(0..=9999).contains(&y) {
        return None;
    }
    *b = *b"0000-00-00T00:00:00.000Z";
    let mut put = |at: usize, width: usize, mut v: i64| {
        for i in (0..width).rev() {
            b[at + i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, 4, y);
    put(5, 2, m);
    put(8, 2, d);
    put(11, 2, sod / 3600);
    put(14, 2, sod % 3600 / 60);
    put(17, 2, sod % 60);
    put(20, 3, ms.rem_euclid(1000));
    std::str::from_utf8(b).ok()
}

/// Serializes a [`Timestamp`] as [`rfc3339`] (for `#[serde(serialize_with = "...")]`).
pub fn ts<S: Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
    let mut buf = [0u8; 24];
    match rfc3339_in(*t, &mut buf) {
        Some(text) => s.serialize_str(text),
        None => s.serialize_str(&rfc3339(*t)),
    }
}

/// Serializes an optional [`Timestamp`] as [`rfc3339`] or `null`.
pub fn ts_opt<S: Serializer>(t: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => ts(t, s),
        None => s.serialize_none(),
    }
}

/// Bytes with a binary unit: `1.5 GiB` (`512 B` below a KiB).
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// The access statistics a pin record and `track`'s `stats` both begin with.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatsRecord {
    /// Accesses recorded.
    pub access_count: u64,
    /// Of which reads.
    pub read_count: u64,
    /// Bytes read.
    pub bytes_read: u64,
    /// Bytes written.
    pub bytes_written: u64,
    /// Earliest access.
    #[serde(serialize_with = "ts_opt")]
    pub first_access: Option<Timestamp>,
    /// Latest access.
    #[serde(serialize_with = "ts_opt")]
    pub last_access: Option<Timestamp>,
    /// Hotness decayed to the instant of the report.
    pub hotness: f64,
    /// The dominant access pattern.
    pub pattern: &'static str,
}

impl StatsRecord {
    /// The record of `s`, hotness decayed to `now`.
    pub fn of(s: &PinStats, now: Timestamp) -> Self {
        Self {
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

/// One pin as `pindex pins --format json` prints it, and `GET /v1/pins` lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PinRecord<'a> {
    /// The CID as first spelled.
    pub cid: &'a str,
    /// Its name.
    pub name: Option<&'a str>,
    /// `recursive` or `direct`.
    pub pin_type: &'static str,
    /// Its status.
    pub status: &'static str,
    /// Why it has that status, when the source said.
    pub status_reason: Option<&'a str>,
    /// Its bytes.
    pub size_bytes: u64,
    /// Its primary tier.
    pub tier: &'static str,
    /// Every tier holding a copy.
    pub tiers: &'a BTreeSet<Tier>,
    /// Copies wanted.
    pub replication: u32,
    /// Created.
    #[serde(serialize_with = "ts")]
    pub created_at: Timestamp,
    /// Last changed.
    #[serde(serialize_with = "ts")]
    pub updated_at: Timestamp,
    /// Its VFS mount point.
    pub mount: Option<&'a str>,
    /// Its VFS paths.
    pub vfs_paths: &'a BTreeSet<String>,
    /// Its metadata.
    pub meta: &'a BTreeMap<String, String>,
    /// When it expires.
    #[serde(serialize_with = "ts_opt")]
    pub expires_at: Option<Timestamp>,
    /// Its access statistics, as the last fields of the record.
    #[serde(flatten)]
    pub stats: StatsRecord,
}

impl<'a> PinRecord<'a> {
    /// The record of `v`, with hotness decayed to `now`.
    pub fn of(v: &'a PinView, now: Timestamp) -> Self {
        let p = &v.pin;
        Self {
            cid: p.cid.as_str(),
            name: p.name.as_deref(),
            pin_type: p.pin_type.as_str(),
            status: p.status.as_str(),
            status_reason: p.status_reason.as_deref(),
            size_bytes: p.size_bytes,
            tier: p.primary_tier.as_str(),
            tiers: &p.tiers,
            replication: p.replication,
            created_at: p.created_at,
            updated_at: p.updated_at,
            mount: p.mount.as_deref(),
            vfs_paths: &p.vfs_paths,
            meta: &p.meta,
            expires_at: p.expires_at,
            stats: StatsRecord::of(&v.stats, now),
        }
    }
}

/// Statistics of one pin as `pindex track --format json` prints them under `stats`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrackStats {
    /// The fields of a pin record's statistics.
    #[serde(flatten)]
    pub base: StatsRecord,
    /// Sequential reads.
    pub sequential_reads: u64,
    /// Random reads.
    pub random_reads: u64,
    /// Whole-object reads.
    pub whole_reads: u64,
    /// Mean gap between accesses (`null` before the second access).
    pub mean_interarrival_ms: Option<f64>,
    /// Standard deviation of the gaps (`null` before the third access).
    pub stddev_interarrival_ms: Option<f64>,
}

/// One history row as `track` prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HistoryRow<'a> {
    /// Sequence number of the event.
    pub seq: u64,
    /// When.
    #[serde(serialize_with = "ts")]
    pub ts: Timestamp,
    /// `upsert`, `unpin`, `status` or `tier`.
    pub event: &'a str,
    /// The status it set.
    pub status: Option<&'static str>,
    /// The tier it set.
    pub tier: Option<&'static str>,
    /// Why.
    pub reason: Option<&'a str>,
}

/// One access row as `track` prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccessRow<'a> {
    /// Sequence number of the event.
    pub seq: u64,
    /// When.
    #[serde(serialize_with = "ts")]
    pub ts: Timestamp,
    /// `read` or `write`.
    pub op: &'static str,
    /// Byte offset.
    pub offset: Option<u64>,
    /// Bytes transferred.
    pub bytes: Option<u64>,
    /// The tier that served it.
    pub tier: Option<&'static str>,
    /// The VFS path it came through.
    pub vfs_path: Option<&'a str>,
    /// Latency in microseconds.
    pub latency_us: Option<u64>,
}

/// One pin with its statistics, accesses and history: `pindex track --format json` and
/// `GET /v1/pins/{cid}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrackReport<'a> {
    /// The pin.
    pub pin: PinRecord<'a>,
    /// Its statistics.
    pub stats: TrackStats,
    /// Its newest accesses, newest first.
    pub recent_accesses: Vec<AccessRow<'a>>,
    /// Its newest history rows, newest first.
    pub history: Vec<HistoryRow<'a>>,
}

impl<'a> TrackReport<'a> {
    /// The report of `view` with its `history` and `accesses`, hotness decayed to `now`.
    pub fn of(view: &'a PinView, history: &'a [HistoryEntry], accesses: &'a [AccessRecord], now: Timestamp) -> Self {
        let st = &view.stats;
        Self {
            pin: PinRecord::of(view, now),
            stats: TrackStats {
                base: StatsRecord::of(st, now),
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
                    vfs_path: a.vfs_path.as_deref(),
                    latency_us: a.latency_us,
                })
                .collect(),
            history: history
                .iter()
                .map(|h| HistoryRow {
                    seq: h.seq,
                    ts: h.ts,
                    event: &h.event,
                    status: h.status.map(PinStatus::as_str),
                    tier: h.tier.map(Tier::as_str),
                    reason: h.reason.as_deref(),
                })
                .collect(),
        }
    }
}

/// A pin in a top list: `pindex metrics --format json`'s `largest_pins` and `hottest_pins`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TopPin {
    /// The CID as first spelled.
    pub cid: String,
    /// Its name.
    pub name: Option<String>,
    /// Its status.
    pub status: PinStatus,
    /// Its primary tier.
    pub tier: Tier,
    /// Its bytes.
    pub size_bytes: u64,
    /// Accesses recorded.
    pub access_count: u64,
    /// Latest access.
    #[serde(serialize_with = "ts_opt")]
    pub last_access: Option<Timestamp>,
    /// Decayed hotness at the report's instant.
    pub hotness: f64,
}

impl TopPin {
    /// The entry of `view`, hotness decayed to `now`.
    pub fn of(view: &PinView, now: Timestamp) -> Self {
        Self {
            cid: view.pin.cid.as_str().to_owned(),
            name: view.pin.name.clone(),
            status: view.pin.status,
            tier: view.pin.primary_tier,
            size_bytes: view.pin.size_bytes,
            access_count: view.stats.access_count,
            last_access: view.stats.last_access,
            hotness: view.stats.hotness_at(now),
        }
    }
}

/// The store's metrics with top lists: `pindex metrics --format json` and `GET /v1/metrics`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricsReport {
    /// Pins (unpinned ones excluded).
    pub total_pins: u64,
    /// Their bytes.
    pub total_size_bytes: u64,
    /// Per primary tier.
    pub tiers: BTreeMap<Tier, TierTotals>,
    /// Pins per status.
    pub statuses: BTreeMap<PinStatus, u64>,
    /// Accesses recorded.
    pub total_accesses: u64,
    /// Pins accessed within the last hour.
    pub accessed_last_hour: u64,
    /// Pins accessed within the last day.
    pub accessed_last_day: u64,
    /// The instant the metrics describe.
    #[serde(serialize_with = "ts")]
    pub as_of: Timestamp,
    /// The same, in milliseconds since the epoch.
    pub as_of_ms: i64,
    /// The largest pins, largest first.
    pub largest_pins: Vec<TopPin>,
    /// The hottest pins, hottest first.
    pub hottest_pins: Vec<TopPin>,
}

impl MetricsReport {
    /// The report of `m` with its top lists.
    pub fn new(m: Metrics, largest_pins: Vec<TopPin>, hottest_pins: Vec<TopPin>) -> Self {
        Self {
            total_pins: m.total_pins,
            total_size_bytes: m.total_size_bytes,
            tiers: m.tiers,
            statuses: m.statuses,
            total_accesses: m.total_accesses,
            accessed_last_hour: m.accessed_last_hour,
            accessed_last_day: m.accessed_last_day,
            as_of: m.as_of,
            as_of_ms: m.as_of.millis(),
            largest_pins,
            hottest_pins,
        }
    }
}

/// VFS operations of one kind: `pindex vfs --format json`'s `operations_last_day`, and the `operations` of
/// `pindex watch` and `pindex vfs replay`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OpRow {
    /// The kind.
    pub op: &'static str,
    /// Operations.
    pub count: u64,
    /// Of which failed.
    pub failed: u64,
    /// Share that succeeded.
    pub success_rate: f64,
    /// Mean latency (`null` when none was reported).
    pub mean_latency_us: Option<f64>,
    /// Largest latency (`null` when none was reported).
    pub max_latency_us: Option<u64>,
}

impl OpRow {
    /// One row per kind counted in `totals`, in the kinds' order.
    pub fn all(totals: &VfsTotals) -> Vec<Self> {
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

/// Bytes moved through one mount point: `pindex vfs --format json`'s `io_last_day`, and the `mounts` of
/// `pindex watch` and `pindex vfs replay`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MountIoRow {
    /// The mount point.
    pub mount: String,
    /// Reads.
    pub reads: u64,
    /// Bytes read.
    pub bytes_read: u64,
    /// Writes.
    pub writes: u64,
    /// Bytes written.
    pub bytes_written: u64,
}

impl MountIoRow {
    /// One row per mount point in `totals`, by name.
    pub fn all(totals: &VfsTotals) -> Vec<Self> {
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

/// One VFS path and how much its content was used.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PathUsage {
    /// The VFS path.
    pub path: String,
    /// The content it shows.
    pub cid: Cid,
    /// Accesses of that content (through any path: statistics are kept per CID, not per path).
    pub accesses: u64,
    /// Bytes read of that content.
    pub bytes_read: u64,
}

/// One mount point with its pins: an entry of `pindex vfs --format json`'s `mounts` and `GET /v1/vfs`'s.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct MountSummary {
    /// The mount point (`/` for pins with paths but no mount).
    pub mount: String,
    /// Pins with a path under it.
    pub pins: u64,
    /// Their paths.
    pub paths: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Their accesses.
    pub accesses: u64,
    /// Bytes read from them.
    pub bytes_read: u64,
    /// Bytes written to them.
    pub bytes_written: u64,
    /// The most used paths, most accesses first.
    pub top_paths: Vec<PathUsage>,
}

/// Folds pins into [`MountSummary`]s one at a time, keeping the `top` most used paths of each mount point
/// (in memory proportional to the mount points, not the paths).
#[derive(Debug, Clone, Default)]
pub struct MountSummaries {
    top: usize,
    mounts: BTreeMap<String, MountSummary>,
}

impl MountSummaries {
    /// An empty fold keeping `top` paths per mount point.
    pub fn new(top: usize) -> Self {
        Self {
            top,
            mounts: BTreeMap::new(),
        }
    }

    /// Counts `view` under its mount point if it has VFS paths.
    pub fn add(&mut self, view: &PinView) {
        let pin = &view.pin;
        if pin.vfs_paths.is_empty() {
            return;
        }
        let mount = pin.mount.clone().unwrap_or_else(|| "/".to_owned());
        let m = self.mounts.entry(mount.clone()).or_insert_with(|| MountSummary {
            mount,
            ..MountSummary::default()
        });
        m.pins += 1;
        m.paths += pin.vfs_paths.len() as u64;
        m.bytes = m.bytes.saturating_add(pin.size_bytes);
        m.accesses += view.stats.access_count;
        m.bytes_read = m.bytes_read.saturating_add(view.stats.bytes_read);
        m.bytes_written = m.bytes_written.saturating_add(view.stats.bytes_written);
        for path in &pin.vfs_paths {
            m.top_paths.push(PathUsage {
                path: path.clone(),
                cid: pin.cid.clone(),
                accesses: view.stats.access_count,
                bytes_read: view.stats.bytes_read,
            });
        }
        if m.top_paths.len() > self.top.saturating_mul(4).max(64) {
            trim_paths(&mut m.top_paths, self.top);
        }
    }

    /// Every mount point counted, by name.
    pub fn finish(self) -> Vec<MountSummary> {
        let mut out: Vec<MountSummary> = self.mounts.into_values().collect();
        for m in &mut out {
            trim_paths(&mut m.top_paths, self.top);
        }
        out
    }
}

fn trim_paths(paths: &mut Vec<PathUsage>, top: usize) {
    paths.sort_by(|a, b| b.accesses.cmp(&a.accesses).then_with(|| a.path.cmp(&b.path)));
    paths.truncate(top);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_and_times_read_well() {
        assert_eq!(human_bytes(12), "12 B");
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(rfc3339(Timestamp(1_700_000_000_123)), "2023-11-14T22:13:20.123Z");
        let chrono = |ms: i64| {
            DateTime::from_timestamp_millis(ms)
                .map(|d| d.to_rfc3339_opts(SecondsFormat::Millis, true))
                .unwrap_or_default()
        };
        // From 0000-01-01 through 9999-12-31, in uneven steps that land on every field.
        let mut ms: i64 = -62_167_219_200_000;
        while ms < 253_402_300_800_000 {
            assert_eq!(rfc3339(Timestamp(ms)), chrono(ms), "{ms}");
            ms += 7_777_777_777 + 1_234;
        }
        assert_eq!(rfc3339(Timestamp(-1)), "1969-12-31T23:59:59.999Z");
        assert_eq!(rfc3339(Timestamp(-62_167_219_200_001)), chrono(-62_167_219_200_001));
    }
}
