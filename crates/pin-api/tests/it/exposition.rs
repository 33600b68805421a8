//! `GET /metrics`: a Prometheus exposition that parses and carries the store's numbers.

use std::collections::HashMap;

use axum::http::StatusCode;
use pin_core::{PinStore, Timestamp, VfsOpKind};

use crate::common::{H, fill, vfs_op};

/// Parses the text format: every line is a comment, blank, or `name{labels} value`; returns samples by
/// `name{labels}` as written.
fn parse(text: &str) -> HashMap<String, f64> {
    let mut out = HashMap::new();
    assert!(text.trim_end().ends_with("# EOF"), "OpenMetrics ends with # EOF");
    for line in text.lines() {
        if line.is_empty() || line.starts_with('#') {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let kind = rest.split(' ').nth(1).unwrap_or_default();
                assert!(
                    ["counter", "gauge", "histogram", "unknown", "info"].contains(&kind),
                    "bad TYPE line {line:?}"
                );
            }
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("no value in {line:?}"));
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("bad value in {line:?}"));
        let name_end = series.find('{').unwrap_or(series.len());
        let name = &series[..name_end];
        assert!(
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad metric name in {line:?}"
        );
        if name_end < series.len() {
            assert!(series.ends_with('}'), "unclosed labels in {line:?}");
        }
        assert!(
            out.insert(series.to_owned(), value).is_none(),
            "duplicate series {series}"
        );
    }
    out
}

#[tokio::test]
async fn the_exposition_parses_and_carries_the_store_numbers() {
    let h = H::new();
    fill(&h).await;
    // Some traffic to count.
    assert_eq!(h.call("GET", "/pins", None).await.status, StatusCode::OK);
    assert_eq!(h.call("GET", "/pins/nope", None).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        h.call_as("GET", "/pins", None, None).await.status,
        StatusCode::UNAUTHORIZED
    );
    let gauges = h.state.storage_gauges();
    gauges.set_wal_bytes(4096);
    gauges.set_segments(3, 1_000_000);
    gauges.set_last_compaction(Some(Timestamp(1_700_000_000_000)));
    // A mount point with the characters a label value must escape.
    let odd = "/odd \"mount\"\\";
    h.apply(vec![vfs_op(
        h.now(),
        VfsOpKind::Write,
        odd,
        "/odd/x",
        Some(5),
        None,
        true,
    )])
    .await;
    h.state.refresh_reports().await.unwrap();

    let r = h.call("GET", "/metrics", None).await;
    assert_eq!(r.status, StatusCode::OK);
    let ct = r
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(ct.starts_with("application/openmetrics-text"), "{ct}");
    let s = parse(&r.text());
    let get = |k: &str| *s.get(k).unwrap_or_else(|| panic!("no {k} in\n{}", r.text()));
    assert_eq!(get("pindex_tier_pins{tier=\"ssd\"}"), 2.0);
    assert_eq!(get("pindex_tier_bytes{tier=\"ipfs\"}"), 1_100_000.0);
    assert_eq!(get("pindex_tier_pins{tier=\"memory\"}"), 0.0);
    assert_eq!(get("pindex_status_pins{status=\"queued\"}"), 2.0);
    assert_eq!(get("pindex_status_pins{status=\"unpinned\"}"), 1.0);
    assert_eq!(get("pindex_pins"), 9.0);
    assert_eq!(get("pindex_bytes"), 1_173_000.0);
    assert_eq!(get("pindex_accesses_total"), 7.0);
    assert_eq!(get("pindex_accessed_last_day"), 2.0);
    // VFS operations of the last day, from the store's metrics (the fixture's read of 25 hours ago is out).
    let vfs = h.store.metrics().await.unwrap().vfs_last_day;
    for k in VfsOpKind::ALL {
        let c = vfs.by_op.get(k).copied().unwrap_or_default();
        assert_eq!(
            get(&format!("pindex_vfs_operations_last_day{{op=\"{k}\"}}")),
            c.count as f64,
            "{k}"
        );
        assert_eq!(
            get(&format!("pindex_vfs_operations_failed_last_day{{op=\"{k}\"}}")),
            c.failed as f64,
            "{k}"
        );
    }
    assert_eq!(get("pindex_vfs_operations_last_day{op=\"read\"}"), 3.0);
    assert_eq!(get("pindex_vfs_operations_failed_last_day{op=\"read\"}"), 1.0);
    assert_eq!(
        get("pindex_vfs_operations_last_day{op=\"rename\"}"),
        0.0,
        "every kind is exported"
    );
    assert_eq!(
        get("pindex_vfs_bytes_last_day{mount=\"/datasets\",direction=\"read\"}"),
        200.0
    );
    assert_eq!(
        get("pindex_vfs_bytes_last_day{mount=\"/datasets\",direction=\"write\"}"),
        4096.0
    );
    assert_eq!(
        get("pindex_vfs_bytes_last_day{mount=\"/odd \\\"mount\\\"\\\\\",direction=\"write\"}"),
        vfs.by_mount[odd].bytes_written as f64
    );
    assert!(r.text().contains("# TYPE pindex_vfs_bytes_last_day gauge"));
    assert_eq!(get("pindex_wal_bytes"), 4096.0);
    assert_eq!(get("pindex_segment_bytes"), 1_000_000.0);
    assert_eq!(get("pindex_segments"), 3.0);
    assert_eq!(get("pindex_last_compaction_seconds"), 1_700_000_000.0);
    assert_eq!(get("pindex_reports_as_of_seconds"), h.now().0 as f64 / 1000.0);
    assert_eq!(
        get("pindex_http_requests_total{method=\"GET\",route=\"/pins\",status=\"200\"}"),
        1.0
    );
    assert_eq!(
        get("pindex_http_requests_total{method=\"GET\",route=\"/pins/{requestid}\",status=\"404\"}"),
        1.0
    );
    assert_eq!(
        get("pindex_http_requests_total{method=\"GET\",route=\"/pins\",status=\"401\"}"),
        1.0
    );
    assert_eq!(
        get("pindex_http_request_duration_seconds_count{method=\"GET\",route=\"/pins\",status=\"200\"}"),
        1.0
    );
    assert_eq!(
        get("pindex_http_request_duration_seconds_bucket{le=\"+Inf\",method=\"GET\",route=\"/pins\",status=\"200\"}"),
        1.0
    );
}
