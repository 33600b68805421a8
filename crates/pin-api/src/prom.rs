//! `GET /metrics`: the Prometheus text exposition, with `prometheus-client`.
//!
//! The store's totals are read from [`PinStore::metrics`] (O(1)) on each scrape and encoded by a collector;
//! HTTP counts and latencies are recorded by a middleware; storage gauges are set by the embedder through
//! [`StorageGauges`].
//!
//! [`PinStore::metrics`]: pin_core::PinStore::metrics

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use parking_lot::Mutex;
use pin_core::{Metrics, Timestamp, VfsOpKind};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::state::ApiState;

/// Gauges about the store's storage that only the embedding program knows (a Parquet store's WAL and
/// segments); cloned handles set the same values. Unset gauges are not exported.
#[derive(Debug, Clone, Default)]
pub struct StorageGauges(Arc<StorageValues>);

#[derive(Debug, Default)]
struct StorageValues {
    /// `u64::MAX` means unset.
    wal_bytes: AtomicU64,
    segment_bytes: AtomicU64,
    segments: AtomicU64,
    /// `i64::MIN` means unset (or never compacted).
    last_compaction_ms: AtomicI64,
    set: AtomicU64,
}

const SET_WAL: u64 = 1;
const SET_SEGMENT: u64 = 2;
const SET_SEGMENTS: u64 = 4;
const SET_COMPACTION: u64 = 8;

impl StorageGauges {
    /// Bytes in the write-ahead log.
    pub fn set_wal_bytes(&self, bytes: u64) {
        self.0.wal_bytes.store(bytes, Ordering::Relaxed);
        self.0.set.fetch_or(SET_WAL, Ordering::Relaxed);
    }
    /// Bytes in live segments, and how many there are.
    pub fn set_segments(&self, segments: u64, bytes: u64) {
        self.0.segment_bytes.store(bytes, Ordering::Relaxed);
        self.0.segments.store(segments, Ordering::Relaxed);
        self.0.set.fetch_or(SET_SEGMENT | SET_SEGMENTS, Ordering::Relaxed);
    }
    /// When the store was last compacted (`None`: never).
    pub fn set_last_compaction(&self, at: Option<Timestamp>) {
        self.0
            .last_compaction_ms
            .store(at.map_or(i64::MIN, Timestamp::millis), Ordering::Relaxed);
        self.0.set.fetch_or(SET_COMPACTION, Ordering::Relaxed);
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    method: String,
    route: String,
    status: u16,
}

/// What the collector encodes at a scrape: set just before encoding.
#[derive(Debug, Default)]
struct Snapshot {
    metrics: Option<Metrics>,
    reports_as_of: Option<Timestamp>,
}

#[derive(Debug)]
struct StoreCollector {
    snapshot: Arc<Mutex<Snapshot>>,
    storage: StorageGauges,
}

/// The registry and the handles the middleware and the scrape use.
#[derive(Debug)]
pub(crate) struct Prom {
    registry: Registry,
    requests: Family<HttpLabels, Counter>,
    latency: Family<HttpLabels, Histogram, fn() -> Histogram>,
    snapshot: Arc<Mutex<Snapshot>>,
    storage: StorageGauges,
    /// One scrape encodes at a time, so the snapshot it set is the one encoded.
    scrape: tokio::sync::Mutex<()>,
}

fn latency_histogram() -> Histogram {
    // 0.5 ms to about 16 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

impl Prom {
    pub(crate) fn new() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<HttpLabels, Counter>::default();
        let latency = Family::<HttpLabels, Histogram, fn() -> Histogram>::new_with_constructor(latency_histogram);
        registry.register(
            "pindex_http_requests",
            "HTTP requests answered, by method, route and status code",
            requests.clone(),
        );
        registry.register(
            "pindex_http_request_duration_seconds",
            "Time to answer an HTTP request, by method, route and status code",
            latency.clone(),
        );
        let snapshot = Arc::new(Mutex::new(Snapshot::default()));
        let storage = StorageGauges::default();
        registry.register_collector(Box::new(StoreCollector {
            snapshot: snapshot.clone(),
            storage: storage.clone(),
        }));
        Self {
            registry,
            requests,
            latency,
            snapshot,
            storage,
            scrape: tokio::sync::Mutex::new(()),
        }
    }

    pub(crate) fn storage(&self) -> StorageGauges {
        self.storage.clone()
    }

    fn record(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let labels = HttpLabels {
            method: method.to_owned(),
            route: route.to_owned(),
            status,
        };
        self.requests.get_or_create(&labels).inc();
        self.latency.get_or_create(&labels).observe(seconds);
    }

    /// The exposition, with the store's totals `m` and the reports' age.
    pub(crate) async fn encode(&self, m: Metrics, reports_as_of: Option<Timestamp>) -> Result<String, std::fmt::Error> {
        let _one = self.scrape.lock().await;
        {
            let mut s = self.snapshot.lock();
            s.metrics = Some(m);
            s.reports_as_of = reports_as_of;
        }
        let mut out = String::with_capacity(8192);
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

fn gauge<V: prometheus_client::encoding::EncodeGaugeValue + Clone + std::fmt::Debug + Send + Sync + 'static>(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    rows: &[(Option<(&'static str, &'static str)>, V)],
) -> Result<(), std::fmt::Error> {
    let first = match rows.first() {
        Some((_, v)) => ConstGauge::new(v.clone()),
        None => return Ok(()),
    };
    let mut metric = encoder.encode_descriptor(name, help, None, first.metric_type())?;
    if let [(None, _)] = rows {
        return first.encode(metric);
    }
    for (label, v) in rows {
        let g = ConstGauge::new(v.clone());
        match label {
            Some(l) => g.encode(metric.encode_family(&[*l])?)?,
            None => g.encode(metric.encode_family(&Vec::<(&str, &str)>::new())?)?,
        }
    }
    Ok(())
}

/// A gauge family with the label sets of `rows` (nothing is exported when `rows` is empty).
fn gauge_family<
    L: EncodeLabelSet,
    V: prometheus_client::encoding::EncodeGaugeValue + Clone + std::fmt::Debug + Send + Sync + 'static,
>(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    rows: &[(L, V)],
) -> Result<(), std::fmt::Error> {
    let Some((_, v)) = rows.first() else {
        return Ok(());
    };
    let mut metric = encoder.encode_descriptor(name, help, None, ConstGauge::new(v.clone()).metric_type())?;
    for (labels, v) in rows {
        ConstGauge::new(v.clone()).encode(metric.encode_family(labels)?)?;
    }
    Ok(())
}

/// A label value as the text format wants it: `prometheus-client` writes label values as given, and a mount
/// point may hold a backslash, a double quote or a newline.
fn label_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// The VFS operations of the last day by kind (every kind, 0 when none was seen, so the series stay put)
/// and the bytes moved per mount point and direction.
fn vfs_gauges(encoder: &mut DescriptorEncoder<'_>, m: &Metrics) -> Result<(), std::fmt::Error> {
    let v = &m.vfs_last_day;
    let counter = |k: &VfsOpKind| v.by_op.get(k).copied().unwrap_or_default();
    let count: Vec<_> = VfsOpKind::ALL
        .iter()
        .map(|k| ([("op", k.as_str())], counter(k).count))
        .collect();
    gauge_family(
        encoder,
        "pindex_vfs_operations_last_day",
        "VFS operations in the last 1440 minutes (up to the current minute), by kind",
        &count,
    )?;
    let failed: Vec<_> = VfsOpKind::ALL
        .iter()
        .map(|k| ([("op", k.as_str())], counter(k).failed))
        .collect();
    gauge_family(
        encoder,
        "pindex_vfs_operations_failed_last_day",
        "Of those, the ones that failed, by kind",
        &failed,
    )?;
    let mounts: Vec<(String, u64, u64)> = v
        .by_mount
        .iter()
        .map(|(mount, io)| (label_value(mount), io.bytes_read, io.bytes_written))
        .collect();
    let bytes: Vec<_> = mounts
        .iter()
        .flat_map(|(mount, read, written)| {
            [
                ([("mount", mount.as_str()), ("direction", "read")], *read),
                ([("mount", mount.as_str()), ("direction", "write")], *written),
            ]
        })
        .collect();
    gauge_family(
        encoder,
        "pindex_vfs_bytes_last_day",
        "Bytes moved by the successful VFS reads and writes of the last 1440 minutes, by mount point and direction",
        &bytes,
    )
}

impl Collector for StoreCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let snap = self.snapshot.lock();
        if let Some(m) = &snap.metrics {
            let tiers: Vec<_> = m
                .tiers
                .iter()
                .map(|(t, v)| (Some(("tier", t.as_str())), v.pins))
                .collect();
            gauge(
                &mut encoder,
                "pindex_tier_pins",
                "Live (not unpinned) pins whose primary tier this is",
                &tiers,
            )?;
            let bytes: Vec<_> = m
                .tiers
                .iter()
                .map(|(t, v)| (Some(("tier", t.as_str())), v.size_bytes))
                .collect();
            gauge(&mut encoder, "pindex_tier_bytes", "Bytes of those pins", &bytes)?;
            let statuses: Vec<_> = m
                .statuses
                .iter()
                .map(|(s, n)| (Some(("status", s.as_str())), *n))
                .collect();
            gauge(
                &mut encoder,
                "pindex_status_pins",
                "Every pin known, by status",
                &statuses,
            )?;
            gauge(
                &mut encoder,
                "pindex_pins",
                "Live (not unpinned) pins",
                &[(None, m.total_pins)],
            )?;
            gauge(
                &mut encoder,
                "pindex_bytes",
                "Bytes of live pins",
                &[(None, m.total_size_bytes)],
            )?;
            let accesses = ConstCounter::new(m.total_accesses);
            accesses.encode(encoder.encode_descriptor(
                "pindex_accesses",
                "Access events recorded",
                None,
                accesses.metric_type(),
            )?)?;
            gauge(
                &mut encoder,
                "pindex_accessed_last_hour",
                "CIDs whose last access is within the last hour",
                &[(None, m.accessed_last_hour)],
            )?;
            gauge(
                &mut encoder,
                "pindex_accessed_last_day",
                "CIDs whose last access is within the last day",
                &[(None, m.accessed_last_day)],
            )?;
            vfs_gauges(&mut encoder, m)?;
        }
        if let Some(at) = snap.reports_as_of {
            gauge(
                &mut encoder,
                "pindex_reports_as_of_seconds",
                "When the background reports (VFS, analytics, plan, dashboard) were last computed, Unix seconds",
                &[(None, at.0 as f64 / 1000.0)],
            )?;
        }
        let v = &self.storage.0;
        let set = v.set.load(Ordering::Relaxed);
        if set & SET_WAL != 0 {
            let n = v.wal_bytes.load(Ordering::Relaxed);
            gauge(
                &mut encoder,
                "pindex_wal_bytes",
                "Bytes in the write-ahead log",
                &[(None, n)],
            )?;
        }
        if set & SET_SEGMENT != 0 {
            let n = v.segment_bytes.load(Ordering::Relaxed);
            gauge(
                &mut encoder,
                "pindex_segment_bytes",
                "Bytes in live segments",
                &[(None, n)],
            )?;
            let n = v.segments.load(Ordering::Relaxed);
            gauge(&mut encoder, "pindex_segments", "Live segments", &[(None, n)])?;
        }
        if set & SET_COMPACTION != 0 {
            let ms = v.last_compaction_ms.load(Ordering::Relaxed);
            let secs = if ms == i64::MIN { 0.0 } else { ms as f64 / 1000.0 };
            gauge(
                &mut encoder,
                "pindex_last_compaction_seconds",
                "When the store was last compacted, Unix seconds (0: never)",
                &[(None, secs)],
            )?;
        }
        Ok(())
    }
}

/// Records every request's count and latency by route (the matched pattern, or `unmatched`).
pub(crate) async fn track(State(state): State<ApiState>, req: Request, next: Next) -> Response {
    let began = Instant::now();
    let method = req.method().as_str().to_owned();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let resp = next.run(req).await;
    state
        .prom()
        .record(&method, &route, resp.status().as_u16(), began.elapsed().as_secs_f64());
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped_for_the_text_format() {
        assert_eq!(label_value("/data"), "/data");
        assert_eq!(label_value("/a \"b\"\\c\nd"), "/a \\\"b\\\"\\\\c\\nd");
    }
}
