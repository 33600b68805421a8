//! `GET /`: the dashboard's HTML carries the store's numbers and nothing from outside.

use axum::http::StatusCode;
use pin_core::PinStore;

use crate::common::{H, cid, fill};

/// The `data-value` of the element with `id`.
pub(crate) fn data_value(html: &str, id: &str) -> Option<String> {
    attr_of(html, id, "data-value")
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
