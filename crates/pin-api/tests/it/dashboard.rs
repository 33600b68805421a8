//! `GET /`: the dashboard's HTML carries the store's numbers and nothing from outside.

use axum::http::StatusCode;
use pin_core::{PinStore, VfsOpKind};

use crate::common::{H, cid, fill};

/// The `data-value` of the element with `id`.
pub(crate) fn data_value(html: &str, id: &str) -> Option<String> {
    attr_of(html, id, "data-value")
}

/// Attribute `attr` of the first element after the element with `id` whose tag holds `marker` (a row of a
/// table, say `data-op="read"`).
pub(crate) fn attr_in(html: &str, id: &str, marker: &str, attr: &str) -> Option<String> {
    let rest = &html[html.find(&format!("id=\"{id}\""))?..];
    let at = rest.find(marker)?;
    let start = rest[..at].rfind('<')?;
    let end = at + rest[at..].find('>')?;
    let tag = &rest[start..end];
    let key = format!(" {attr}=\"");
    let v = tag.find(&key)? + key.len();
    Some(tag[v..].split('"').next()?.to_owned())
}

/// Attribute `attr` of the element with `id`.
pub(crate) fn attr_of(html: &str, id: &str, attr: &str) -> Option<String> {
    let at = html.find(&format!("id=\"{id}\""))?;
    let start = html[..at].rfind('<')?;
    let end = at + html[at..].find('>')?;
    let tag = &html[start..end];
    let key = format!("{attr}=\"");
    let v = tag.find(&key)? + key.len();
    Some(tag[v..].split('"').next()?.to_owned())
}

#[tokio::test]
async fn the_dashboard_shows_the_store_numbers() {
    let h = H::new();
    fill(&h).await;
    // Before the first pass: totals, and placeholders for the reports.
    let r = h.call("GET", "/", None).await;
    assert_eq!(r.status, StatusCode::OK);
    let html = r.text();
    assert!(html.contains("first pass"), "placeholder shown");
    assert_eq!(data_value(&html, "total-pins").as_deref(), Some("9"));
    assert_eq!(
        attr_of(&html, "vfs-ops", "data-count").as_deref(),
        Some("5"),
        "VFS operations come from the metrics, before the first pass too"
    );

    h.state.refresh_reports().await.unwrap();
    let r = h.call("GET", "/", None).await;
    let ct = r
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(ct.starts_with("text/html"), "{ct}");
    let html = r.text();
    let m = h.store.metrics().await.unwrap();
    assert_eq!(data_value(&html, "total-pins"), Some(m.total_pins.to_string()));
    assert_eq!(data_value(&html, "total-bytes"), Some(m.total_size_bytes.to_string()));
    assert_eq!(data_value(&html, "total-accesses"), Some("7".to_owned()));
    assert_eq!(
        data_value(&html, "accessed-last-day"),
        Some(m.accessed_last_day.to_string())
    );
    assert!(html.contains("<tr data-tier=\"hdd\"><td>hdd</td><td class=\"num\" data-pins=\"2\">2</td><td class=\"num\" data-bytes=\"70000\">"));
    assert!(html.contains("data-status=\"queued\"><td>queued</td><td class=\"num\" data-pins=\"2\">"));
    // Accesses per hour: all seven were within the last day.
    assert_eq!(attr_of(&html, "accesses-per-hour", "data-total").as_deref(), Some("7"));
    assert_eq!(html.matches("class=\"hour\"").count(), 24);
    // Pins over time ends at the live pin count.
    assert_eq!(
        attr_of(&html, "pins-over-time", "data-last-pins"),
        Some(m.total_pins.to_string())
    );
    assert_eq!(
        attr_of(&html, "pins-over-time", "data-last-bytes"),
        Some(m.total_size_bytes.to_string())
    );
    // Hottest pins, recent VFS activity, the plan.
    let hottest = &html[html.find("id=\"hottest-pins\"").unwrap_or(0)..];
    assert!(
        hottest.find(&cid(1)) < hottest.find(&cid(3)),
        "pin 1 (5 reads) before pin 3 (2 reads)"
    );
    assert_eq!(attr_of(&html, "recent-vfs", "data-rows").as_deref(), Some("5"));
    assert!(html.contains("data-path=\"/datasets/a.bin\""));
    assert_eq!(attr_of(&html, "plan-summary", "data-pins").as_deref(), Some("9"));
    // VFS operations of the last day: the fixture's 5 (the read of 25 hours ago is out), one failed read.
    let vfs = &m.vfs_last_day;
    let total: u64 = vfs.by_op.values().map(|c| c.count).sum();
    assert_eq!(total, 5);
    assert_eq!(attr_of(&html, "vfs-ops", "data-count"), Some(total.to_string()));
    assert_eq!(attr_of(&html, "vfs-ops", "data-failed").as_deref(), Some("1"));
    assert_eq!(
        attr_of(&html, "vfs-ops", "data-rows"),
        Some(vfs.by_op.len().to_string())
    );
    let read = vfs.by_op[&VfsOpKind::Read];
    let op = |attr| attr_in(&html, "vfs-ops", "data-op=\"read\"", attr);
    assert_eq!(op("data-count").as_deref(), Some("3"));
    assert_eq!(op("data-failed").as_deref(), Some("1"));
    assert_eq!(op("data-success-rate"), Some(read.success_rate().to_string()));
    assert_eq!(op("data-mean-latency-us").as_deref(), Some("140"));
    assert_eq!(op("data-max-latency-us").as_deref(), Some("300"));
    assert!(html.contains(">66.66%<"), "the success rate is shown");
    let create = |attr| attr_in(&html, "vfs-ops", "data-op=\"create\"", attr);
    assert_eq!(
        create("data-mean-latency-us").as_deref(),
        Some(""),
        "no latency reported"
    );
    let io = |attr| attr_in(&html, "vfs-io", "data-mount=\"/datasets\"", attr);
    assert_eq!(
        io("data-bytes-read"),
        Some(vfs.by_mount["/datasets"].bytes_read.to_string())
    );
    assert_eq!(
        io("data-bytes-read").as_deref(),
        Some("200"),
        "the failed read moved nothing"
    );
    assert_eq!(io("data-bytes-written").as_deref(), Some("4096"));
    assert!(html.contains(">4.0 KiB<"), "bytes written shown");
    // Self-contained and self-refreshing.
    assert!(html.contains("http-equiv=\"refresh\""));
    for outside in ["src=\"http", "href=\"http", "<script src", "@import", "url("] {
        assert!(!html.contains(outside), "loads {outside}");
    }
}

#[tokio::test]
async fn text_from_the_store_is_escaped() {
    let h = H::new();
    let mut e = crate::common::named_pin(1, h.now(), "<script>alert(1)</script>", &[]);
    if let pin_core::EventKind::Upsert(p) = &mut e.kind {
        p.size_bytes = 5;
    }
    h.apply(vec![e, crate::common::access(1, h.now(), 1, None)]).await;
    h.state.refresh_reports().await.unwrap();
    let html = h.call("GET", "/", None).await.text();
    assert!(!html.contains("<script>alert"), "raw name in page");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
}
