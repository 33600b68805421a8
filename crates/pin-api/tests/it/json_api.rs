//! The `/v1` JSON API: metrics, one pin, listings with cursors, reports, NDJSON events, read access.

use std::collections::BTreeSet;

use axum::http::StatusCode;
use pin_core::conformance::test_cid;
use pin_core::{PinStatus, PinStore, Tier, VfsOpKind};
use serde_json::json;

use crate::common::{H, cid, fill, pin_event, vfs_op};

#[tokio::test]
async fn metrics_have_the_fields_and_numbers_of_pindex_metrics() {
    let h = H::new();
    fill(&h).await;
    let v = h.call("GET", "/v1/metrics", None).await.json();
    let keys: BTreeSet<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    let want: BTreeSet<&str> = [
        "total_pins",
        "total_size_bytes",
        "tiers",
        "statuses",
        "total_accesses",
        "accessed_last_hour",
        "accessed_last_day",
        "as_of",
        "as_of_ms",
        "largest_pins",
        "hottest_pins",
    ]
    .into();
    assert_eq!(keys, want);
    let m = h.store.metrics().await.unwrap();
    assert_eq!(v["total_pins"], m.total_pins);
    assert_eq!(v["total_pins"], 9);
    assert_eq!(v["total_size_bytes"], m.total_size_bytes);
    assert_eq!(v["tiers"]["hdd"], json!({ "pins": 2, "size_bytes": 70_000 }));
    assert_eq!(v["statuses"]["queued"], 2);
    assert_eq!(v["statuses"]["unpinned"], 1);
    assert_eq!(v["total_accesses"], 7);
    assert_eq!(v["accessed_last_hour"], m.accessed_last_hour);
    assert_eq!(v["accessed_last_day"], 2);
    assert_eq!(v["as_of_ms"], h.now().0);
    assert_eq!(v["as_of"], "2026-01-02T00:00:00.000Z");
    // The top lists come from the background reports.
    assert_eq!(v["largest_pins"], json!([]));
    h.state.refresh_reports().await.unwrap();
    let v = h.call("GET", "/v1/metrics", None).await.json();
    assert_eq!(v["largest_pins"][0]["cid"], cid(6));
    assert_eq!(v["largest_pins"][0]["size_bytes"], 600_000);
    assert_eq!(v["hottest_pins"][0]["cid"], cid(1));
    assert_eq!(v["hottest_pins"][0]["access_count"], 5);
}

#[tokio::test]
async fn one_pin_shows_its_statistics_history_and_accesses() {
    let h = H::new();
    fill(&h).await;
    let r = h.call("GET", &format!("/v1/pins/{}?recent=3", cid(1)), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let v = r.json();
    assert_eq!(v["pin"]["cid"], cid(1));
    assert_eq!(v["pin"]["tier"], "ssd");
    assert_eq!(v["pin"]["vfs_paths"], json!(["/datasets/a.bin"]));
    assert_eq!(v["stats"]["access_count"], 5);
    assert_eq!(v["stats"]["bytes_read"], 500);
    assert_eq!(v["recent_accesses"].as_array().unwrap().len(), 3);
    assert_eq!(v["recent_accesses"][0]["vfs_path"], "/datasets/a.bin");
    assert_eq!(v["history"][0]["event"], "upsert");
    // Unpinned pins stay visible here, with their history.
    let v = h.call("GET", &format!("/v1/pins/{}", cid(10)), None).await.json();
    assert_eq!(v["pin"]["status"], "unpinned");
    assert_eq!(v["history"][0]["event"], "unpin");
    assert_eq!(
        h.call("GET", &format!("/v1/pins/{}", cid(99)), None).await.status,
        StatusCode::NOT_FOUND
    );
    let r = h.call("GET", "/v1/pins/Qmfoo", None).await;
    assert_eq!(
        (r.status, r.reason()),
        (StatusCode::BAD_REQUEST, "BAD_REQUEST".to_owned())
    );
    assert_eq!(
        h.call("GET", &format!("/v1/pins/{}?recent=0", cid(1)), None)
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn listings_take_every_filter_of_pindex_pins_and_page_by_cursor() {
    let h = H::new();
    fill(&h).await;
    let cids = |q: &str| {
        let h = &h;
        let q = q.to_owned();
        async move {
            let r = h.call("GET", &format!("/v1/pins?{q}"), None).await;
            assert_eq!(r.status, StatusCode::OK, "{q}: {}", r.text());
            let v = r.json();
            v["pins"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["cid"].as_str().unwrap().to_owned())
                .collect::<BTreeSet<String>>()
        }
    };
    let set = |ids: &[u64]| ids.iter().map(|i| cid(*i)).collect::<BTreeSet<String>>();
    assert_eq!(cids("").await.len(), 10);
    assert_eq!(cids("status=queued").await, set(&[7, 8]));
    assert_eq!(cids("tier=hdd").await, set(&[3, 4]));
    assert_eq!(cids("name=PIN-00&match=ipartial").await.len(), 9);
    assert_eq!(cids("name=pin-003").await, set(&[3]));
    assert_eq!(cids("min_size=30000&max_size=500KB").await, set(&[3, 4, 5]));
    assert_eq!(cids("min_size=1KiB&tier=ssd").await, set(&[2]));
    let t = h.now();
    assert_eq!(
        cids(&format!(
            "after={}&before={}",
            t.plus_millis(-575 * 60_000).0,
            t.plus_millis(-545 * 60_000).0
        ))
        .await,
        set(&[4, 5, 6])
    );
    // meta=k=v, repeated, all must hold.
    h.apply(vec![crate::common::named_pin(
        20,
        t,
        "m",
        &[("team", "ml"), ("env", "prod")],
    )])
    .await;
    h.apply(vec![crate::common::named_pin(21, t, "n", &[("team", "ml")])])
        .await;
    assert_eq!(cids("meta=team=ml").await, set(&[20, 21]));
    assert_eq!(cids("meta=team=ml&meta=env=prod").await, set(&[20]));
    // Key-order pages by cursor: every pin once.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = match &cursor {
            Some(c) => format!("/v1/pins?limit=3&cursor={c}"),
            None => "/v1/pins?limit=3".to_owned(),
        };
        let v = h.call("GET", &q, None).await.json();
        for p in v["pins"].as_array().unwrap() {
            seen.push(p["cid"].as_str().unwrap().to_owned());
        }
        match v["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 12);
    assert_eq!(seen.iter().collect::<BTreeSet<_>>().len(), 12);
    for bad in [
        "status=gone",
        "tier=tape",
        "limit=0",
        "limit=1001",
        "cursor=xyz",
        "meta=novalue",
        "before=someday",
        "min_size=lots",
        "match=fuzzy",
        "sort=size",
    ] {
        let r = h.call("GET", &format!("/v1/pins?{bad}"), None).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {}", r.text());
    }
}

#[tokio::test]
async fn reports_are_served_from_the_latest_background_pass() {
    let h = H::new();
    fill(&h).await;
    for path in ["/v1/vfs", "/v1/analytics", "/v1/plan"] {
        let r = h.call("GET", path, None).await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{path}");
        assert_eq!(r.reason(), "REPORTS_NOT_READY");
    }
    h.state.refresh_reports().await.unwrap();
    let vfs = h.call("GET", "/v1/vfs", None).await.json();
    assert_eq!(vfs["mounts"][0]["mount"], "/datasets");
    assert_eq!(vfs["mounts"][0]["pins"], 1);
    assert_eq!(vfs["mounts"][0]["accesses"], 5);
    assert_eq!(vfs["mounts"][0]["top_paths"][0]["path"], "/datasets/a.bin");
    let a = h.call("GET", "/v1/analytics", None).await.json();
    assert_eq!(a["pins"], 9);
    assert_eq!(a["never_read"]["pins"], 7);
    assert_eq!(a["hottest"][0]["cid"], cid(1));
    assert!(a["plan"]["moves"].is_u64());
    let p = h.call("GET", "/v1/plan", None).await.json();
    assert_eq!(p["pins"], 9);
    let tiers = p["tiers"].as_array().unwrap();
    let before: u64 = tiers.iter().map(|t| t["pins_before"].as_u64().unwrap()).sum();
    assert_eq!(before, 9);
    assert_eq!(
        p["moves"].as_array().unwrap().len() as u64,
        p["totals"]["moves"].as_u64().unwrap()
    );
    // A new pin shows only after the next pass.
    h.apply(vec![pin_event(30, h.now(), PinStatus::Pinned, Tier::Ssd, 1)])
        .await;
    assert_eq!(h.call("GET", "/v1/plan", None).await.json()["pins"], 9);
    h.state.refresh_reports().await.unwrap();
    assert_eq!(h.call("GET", "/v1/plan", None).await.json()["pins"], 10);
}

#[tokio::test]
async fn vfs_has_the_fields_of_pindex_vfs_with_the_operations_as_of_the_request() {
    let h = H::new();
    fill(&h).await;
    h.state.refresh_reports().await.unwrap();
    let r = h.call("GET", "/v1/vfs", None).await;
    let text = r.text();
    let at = |k: &str| {
        text.find(&format!("\"{k}\":"))
            .unwrap_or_else(|| panic!("no {k} in {text}"))
    };
    assert!(
        at("mounts") < at("operations_last_day") && at("operations_last_day") < at("io_last_day"),
        "the fields in the order of pindex vfs: {text}"
    );
    let v = r.json();
    // From the fixture: the read of 25 hours ago is outside the window, the failed read moved no bytes.
    assert_eq!(
        v["operations_last_day"],
        json!([
            {"op": "create", "count": 1, "failed": 0, "success_rate": 1.0, "mean_latency_us": null, "max_latency_us": null},
            {"op": "write", "count": 1, "failed": 0, "success_rate": 1.0, "mean_latency_us": 200.0, "max_latency_us": 200},
            {"op": "read", "count": 3, "failed": 1, "success_rate": 2.0 / 3.0, "mean_latency_us": 140.0, "max_latency_us": 300},
        ])
    );
    assert_eq!(
        v["io_last_day"],
        json!([{"mount": "/datasets", "reads": 2, "bytes_read": 200, "writes": 1, "bytes_written": 4096}])
    );
    // The same numbers as the store's metrics.
    let m = h.store.metrics().await.unwrap().vfs_last_day;
    let read = m.by_op[&VfsOpKind::Read];
    assert_eq!(v["operations_last_day"][2]["success_rate"], json!(read.success_rate()));
    assert_eq!(v["io_last_day"][0]["bytes_read"], m.by_mount["/datasets"].bytes_read);

    // Operations are read at the request, not at the last pass: a new write shows at once...
    h.apply(vec![vfs_op(
        h.now(),
        VfsOpKind::Write,
        "/models",
        "/models/m.bin",
        Some(7),
        None,
        true,
    )])
    .await;
    let v = h.call("GET", "/v1/vfs", None).await.json();
    assert_eq!(v["operations_last_day"][1]["count"], 2);
    assert_eq!(
        v["io_last_day"][1],
        json!({"mount": "/models", "reads": 0, "bytes_read": 0, "writes": 1, "bytes_written": 7})
    );
    assert_eq!(
        v["mounts"].as_array().map(Vec::len),
        Some(1),
        "mounts stay as of the pass"
    );
    // ...and a day later the window is empty.
    h.clock.advance(24 * 3_600_000);
    let v = h.call("GET", "/v1/vfs", None).await.json();
    assert_eq!(v["operations_last_day"], json!([]));
    assert_eq!(v["io_last_day"], json!([]));
}

#[tokio::test]
async fn events_in_ndjson_are_all_or_nothing_and_honour_line_ids() {
    let h = H::new();
    let good = format!(
        "{{\"type\":\"pin\",\"cid\":\"{}\",\"size\":12,\"tier\":\"ssd\"}}\n\n{{\"type\":\"access\",\"cid\":\"{}\",\"bytes\":4}}\n{{\"type\":\"pin\",\"cid\":\"{}\",\"id\":\"once\"}}\n",
        cid(1),
        cid(1),
        cid(2)
    );
    let r = h.call("POST", "/v1/events", Some(&good)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json(), json!({ "applied": 3, "already_applied": 0, "bad_lines": 0 }));
    let m = h.store.metrics().await.unwrap();
    assert_eq!((m.total_pins, m.total_accesses), (2, 1));
    // The line with an id is applied once; the others again.
    let r = h.call("POST", "/v1/events", Some(&good)).await.json();
    assert_eq!(r, json!({ "applied": 2, "already_applied": 1, "bad_lines": 0 }));
    // Bad lines: reported with their numbers, nothing recorded.
    let bad = format!(
        "{{\"type\":\"pin\",\"cid\":\"{}\"}}\n{{\"type\":\"pin\",\"cid\":\"Qmfoo\"}}\n\n{{\"type\":\"nope\",\"cid\":\"{}\"}}\n",
        cid(5),
        cid(5)
    );
    let r = h.call("POST", "/v1/events", Some(&bad)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let v = r.json();
    assert_eq!(v["error"]["reason"], "BAD_REQUEST");
    assert_eq!(v["bad_lines"], 2);
    assert_eq!(v["lines"][0]["line"], 2);
    assert!(v["lines"][0]["reason"].as_str().unwrap().contains("\"Qmfoo\""));
    assert_eq!(v["lines"][1]["line"], 4);
    assert!(h.store.get(&test_cid(5)).await.unwrap().is_none());
    // Writes need the token even where reads are open.
    let open = H::with(|c| c.open_reads = true);
    let r = open.call_as("POST", "/v1/events", None, Some(&good)).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn bodies_over_the_limit_are_413() {
    let h = H::with(|c| {
        c.limits.max_body_bytes = 64;
        c.limits.max_events_body_bytes = 200;
    });
    let big = format!("{{\"cid\":\"{}\",\"name\":\"{}\"}}", cid(1), "n".repeat(100));
    let r = h.call("POST", "/pins", Some(&big)).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.text());
    assert_eq!(r.reason(), "PAYLOAD_TOO_LARGE");
    let lines = format!("{{\"type\":\"unpin\",\"cid\":\"{}\"}}\n", cid(1)).repeat(4);
    let r = h.call("POST", "/v1/events", Some(&lines)).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.text());
}

#[tokio::test]
async fn reads_need_the_token_unless_open() {
    let closed = H::new();
    let open = H::with(|c| c.open_reads = true);
    for path in ["/v1/metrics", "/v1/pins", "/v1/vfs", "/metrics", "/"] {
        assert_eq!(
            closed.call_as("GET", path, None, None).await.status,
            StatusCode::UNAUTHORIZED,
            "{path}"
        );
        assert_ne!(
            open.call_as("GET", path, None, None).await.status,
            StatusCode::UNAUTHORIZED,
            "{path}"
        );
    }
    // The Pinning Service API needs it either way.
    assert_eq!(
        open.call_as("GET", "/pins", None, None).await.status,
        StatusCode::UNAUTHORIZED
    );
    let r = closed.call("GET", "/nowhere", None).await;
    assert_eq!((r.status, r.reason()), (StatusCode::NOT_FOUND, "NOT_FOUND".to_owned()));
    let r = closed.call("PUT", "/pins", None).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
}
