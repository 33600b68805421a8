//! The Pinning Service API: auth, every call, every error path, filters and pagination.

use std::collections::HashSet;

use axum::http::StatusCode;
use pin_core::conformance::test_cid;
use pin_core::{PinStatus, PinStore, Tier};
use serde_json::{Value, json};

use crate::common::{DELEGATE, H, TOKEN, cid, identity_cid, named_pin, pin_event};

fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[tokio::test]
async fn every_pinning_call_needs_the_token() {
    let h = H::new();
    let body = json!({ "cid": cid(1) }).to_string();
    let calls: [(&str, String, Option<&str>); 5] = [
        ("GET", "/pins".into(), None),
        ("POST", "/pins".into(), Some(&body)),
        ("GET", format!("/pins/{}", cid(1)), None),
        ("POST", format!("/pins/{}", cid(1)), Some(&body)),
        ("DELETE", format!("/pins/{}", cid(1)), None),
    ];
    let wrong = format!("Bearer {TOKEN}x");
    let basic = format!("Basic {TOKEN}");
    for (method, uri, b) in &calls {
        for auth in [None, Some(wrong.as_str()), Some(basic.as_str()), Some("Bearer ")] {
            let r = h.call_as(method, uri, auth, *b).await;
            assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{method} {uri} with {auth:?}");
            assert_eq!(r.reason(), "UNAUTHORIZED");
            assert_eq!(
                r.headers.get("www-authenticate").map(|v| v.as_bytes()),
                Some(&b"Bearer"[..])
            );
        }
    }
    // Nothing was recorded by the refused POSTs.
    assert_eq!(h.store.metrics().await.unwrap().statuses.values().sum::<u64>(), 0);
    // The scheme is case-insensitive.
    let r = h.call_as("GET", "/pins", Some(&format!("bearer {TOKEN}")), None).await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn a_requested_pin_is_queued_and_its_requestid_is_its_cid() {
    let h = H::new();
    let v0 = "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG";
    let v1 = "bafybeie5nqv6kd3qnfjupgvz34woh3oksc3iau6abmyajn7qvtf6d2ho34";
    let origin = "/ip4/198.51.100.7/tcp/4001/p2p/QmSourcePeerId";
    let body = json!({ "cid": v0, "name": "PreciousData.pdf", "origins": [origin], "meta": { "app_id": "99" } });
    let r = h.call("POST", "/pins", Some(&body.to_string())).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text());
    let s = r.json();
    assert_eq!(s["requestid"], v1);
    assert_eq!(s["status"], "queued");
    assert_eq!(s["pin"]["cid"], v0);
    assert_eq!(s["pin"]["name"], "PreciousData.pdf");
    assert_eq!(s["pin"]["origins"], json!([origin]));
    assert_eq!(s["pin"]["meta"], json!({ "app_id": "99" }));
    assert_eq!(s["delegates"], json!([DELEGATE]));
    assert_eq!(s["info"]["tier"], "ipfs");
    let created = s["created"].as_str().unwrap();
    assert_eq!(created, "2026-01-02T00:00:00.000Z");
    // GET by requestid, and by the other spelling of the same CID.
    for id in [v1, v0] {
        let g = h.call("GET", &format!("/pins/{id}"), None).await;
        assert_eq!(g.status, StatusCode::OK);
        let g = g.json();
        assert_eq!(
            (g["requestid"].as_str(), g["status"].as_str()),
            (Some(v1), Some("queued"))
        );
        assert_eq!(g["created"], created);
    }
    // The default listing shows pinned pins only.
    assert_eq!(h.call("GET", "/pins", None).await.json()["count"], 0);
    let q = h.call("GET", "/pins?status=queued", None).await.json();
    assert_eq!(q["count"], 1);
    assert_eq!(q["results"][0]["requestid"], v1);
    // The store holds it as a queued pin.
    let view = h.store.get(&test_cid_of(v1)).await.unwrap().unwrap();
    assert_eq!(view.pin.status, PinStatus::Queued);
    assert_eq!(view.pin.name.as_deref(), Some("PreciousData.pdf"));
}

fn test_cid_of(s: &str) -> pin_core::Cid {
    pin_core::Cid::parse(s).unwrap()
}

#[tokio::test]
async fn an_identity_hash_cid_is_pinned_at_once() {
    let h = H::new();
    let id = identity_cid(b"hello");
    let r = h.call("POST", "/pins", Some(&json!({ "cid": id }).to_string())).await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert_eq!(r.json()["status"], "pinned");
    let listed = h.call("GET", "/pins", None).await.json();
    assert_eq!(listed["count"], 1);
    assert_eq!(listed["results"][0]["requestid"], id);
}

#[tokio::test]
async fn bad_requests_are_400_with_the_spec_body() {
    let h = H::new();
    let long = "n".repeat(256);
    let many: serde_json::Map<String, Value> = (0..1001).map(|i| (format!("k{i}"), json!("v"))).collect();
    let bodies = [
        (json!({ "cid": "Qmfoo" }).to_string(), "\"Qmfoo\""),
        (json!({ "cid": cid(1), "name": long }).to_string(), "at most 255"),
        (json!({ "cid": cid(1), "meta": many }).to_string(), "1001 keys"),
        (json!({ "cid": cid(1), "meta": { "": "x" } }).to_string(), "empty key"),
        (json!({ "cid": cid(1), "meta": { "k": 5 } }).to_string(), ""),
        (
            json!({ "cid": cid(1), "origins": ["/ip4/1.2.3.4/tcp/1"] }).to_string(),
            "/p2p/",
        ),
        (json!({ "name": "no cid" }).to_string(), "cid"),
        ("{not json".to_owned(), ""),
    ];
    for (body, want) in &bodies {
        let r = h.call("POST", "/pins", Some(body)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {}", r.text());
        assert_eq!(r.reason(), "BAD_REQUEST");
        assert!(
            r.json()["error"]["details"].as_str().unwrap().contains(want),
            "{body}: {}",
            r.text()
        );
    }
    let eleven: Vec<String> = (0..11).map(cid).collect();
    let queries = [
        "limit=0".to_owned(),
        "limit=1001".to_owned(),
        "limit=ten".to_owned(),
        "status=pinned,unpinned".to_owned(),
        "status=done".to_owned(),
        "match=fuzzy&name=x".to_owned(),
        "before=yesterday".to_owned(),
        "after=2020-13-01T00:00:00Z".to_owned(),
        format!("meta={}", enc("{\"a\":")),
        format!("meta={}", enc("[\"a\"]")),
        format!("meta={}", enc("{\"a\":1}")),
        format!("cid={}", eleven.join(",")),
        "cid=Qmfoo".to_owned(),
        format!("cid={},", cid(1)),
        format!("name={}", "n".repeat(256)),
    ];
    for q in &queries {
        let r = h.call("GET", &format!("/pins?{q}"), None).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{q}: {}", r.text());
        assert_eq!(r.reason(), "BAD_REQUEST");
    }
    // Ten CIDs are fine.
    let ten: Vec<String> = (0..10).map(cid).collect();
    let r = h.call("GET", &format!("/pins?cid={}", ten.join(",")), None).await;
    assert_eq!(r.status, StatusCode::OK);
    // 1000 meta keys are fine.
    let thousand: serde_json::Map<String, Value> = (0..1000).map(|i| (format!("k{i}"), json!("v"))).collect();
    let r = h
        .call(
            "POST",
            "/pins",
            Some(&json!({ "cid": cid(1), "meta": thousand }).to_string()),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text());
}

#[tokio::test]
async fn unknown_and_unpinned_requests_are_404() {
    let h = H::new();
    h.apply(vec![pin_event(1, h.now(), PinStatus::Pinned, Tier::Ssd, 5)])
        .await;
    let body = json!({ "cid": cid(2) }).to_string();
    for id in [cid(9), "not-a-cid".to_owned()] {
        for (method, b) in [("GET", None), ("POST", Some(body.as_str())), ("DELETE", None)] {
            let r = h.call(method, &format!("/pins/{id}"), b).await;
            assert_eq!(r.status, StatusCode::NOT_FOUND, "{method} {id}");
            assert_eq!(r.reason(), "NOT_FOUND");
        }
    }
    let r = h.call("DELETE", &format!("/pins/{}", cid(1)), None).await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert!(r.body.is_empty());
    assert_eq!(
        h.call("GET", &format!("/pins/{}", cid(1)), None).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        h.call("DELETE", &format!("/pins/{}", cid(1)), None).await.status,
        StatusCode::NOT_FOUND
    );
    let all = h
        .call("GET", "/pins?status=queued,pinning,pinned,failed", None)
        .await
        .json();
    assert_eq!(all["count"], 0);
    // Pindex keeps the unpinned pin and its history.
    let m = h.store.metrics().await.unwrap();
    assert_eq!(m.statuses[&PinStatus::Unpinned], 1);
}

#[tokio::test]
async fn replace_with_another_cid_unpins_the_old_one() {
    let h = H::new();
    let r = h
        .call(
            "POST",
            "/pins",
            Some(&json!({ "cid": cid(1), "name": "v1" }).to_string()),
        )
        .await;
    let old = r.json()["requestid"].as_str().unwrap().to_owned();
    h.clock.advance(5);
    let r = h
        .call(
            "POST",
            &format!("/pins/{old}"),
            Some(&json!({ "cid": cid(2), "name": "v2" }).to_string()),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text());
    let new = r.json();
    assert_eq!(new["requestid"], cid(2));
    assert_eq!(new["pin"]["name"], "v2");
    assert_eq!(new["status"], "queued");
    assert_eq!(
        h.call("GET", &format!("/pins/{old}"), None).await.status,
        StatusCode::NOT_FOUND
    );
    let old_view = h.store.get(&test_cid(1)).await.unwrap().unwrap();
    assert_eq!(old_view.pin.status, PinStatus::Unpinned);
    // Replacing with the same CID changes its fields and keeps its requestid and created.
    let created = new["created"].clone();
    h.clock.advance(5);
    let r = h
        .call(
            "POST",
            &format!("/pins/{}", cid(2)),
            Some(&json!({ "cid": cid(2), "name": "v3" }).to_string()),
        )
        .await;
    let same = r.json();
    assert_eq!(
        (same["requestid"].clone(), same["pin"]["name"].clone()),
        (json!(cid(2)), json!("v3"))
    );
    assert_eq!(same["created"], created);
    // A bad body on an existing request is 400, on a missing one 404.
    let r = h.call("POST", &format!("/pins/{}", cid(2)), Some("{}")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn filters_match_as_the_spec_says() {
    let h = H::new();
    let t = h.now();
    h.apply(vec![
        named_pin(
            1,
            t.plus_millis(1),
            "PreciousData.pdf",
            &[("app", "a"), ("env", "prod")],
        ),
        named_pin(2, t.plus_millis(2), "precious", &[("app", "a"), ("env", "dev")]),
        named_pin(3, t.plus_millis(3), "other", &[("app", "b")]),
        pin_event(4, t.plus_millis(4), PinStatus::Queued, Tier::Ipfs, 0),
        pin_event(5, t.plus_millis(5), PinStatus::Failed, Tier::Ipfs, 0),
    ])
    .await;
    let ids = |v: &Value| -> Vec<String> {
        v["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["requestid"].as_str().unwrap().to_owned())
            .collect()
    };
    let get = |q: String| {
        let h = &h;
        async move {
            let r = h.call("GET", &format!("/pins?{q}"), None).await;
            assert_eq!(r.status, StatusCode::OK, "{q}: {}", r.text());
            r.json()
        }
    };
    // Newest first, default status pinned.
    assert_eq!(ids(&get(String::new()).await), vec![cid(3), cid(2), cid(1)]);
    assert_eq!(ids(&get("name=precious".into()).await), vec![cid(2)]);
    assert_eq!(ids(&get("name=PRECIOUS&match=iexact".into()).await), vec![cid(2)]);
    assert_eq!(
        ids(&get("name=recious&match=partial".into()).await),
        vec![cid(2), cid(1)]
    );
    assert_eq!(
        ids(&get("name=Recious&match=partial".into()).await),
        Vec::<String>::new()
    );
    assert_eq!(ids(&get("name=PRECIOUSDATA&match=ipartial".into()).await), vec![cid(1)]);
    assert_eq!(
        ids(&get(format!("meta={}", enc(r#"{"app":"a"}"#))).await),
        vec![cid(2), cid(1)]
    );
    assert_eq!(
        ids(&get(format!("meta={}", enc(r#"{"app":"a","env":"prod"}"#))).await),
        vec![cid(1)]
    );
    assert_eq!(ids(&get("status=queued,failed".into()).await), vec![cid(5), cid(4)]);
    let all = get("status=queued,pinning,pinned,failed".into()).await;
    assert_eq!(all["count"], 5);
    // before and after are strict, RFC 3339.
    let at = |ms: i64| enc(&chrono_like(t.plus_millis(ms).0));
    assert_eq!(ids(&get(format!("before={}", at(3))).await), vec![cid(2), cid(1)]);
    assert_eq!(ids(&get(format!("after={}", at(1))).await), vec![cid(3), cid(2)]);
    assert_eq!(
        ids(&get(format!("after={}&before={}", at(1), at(3))).await),
        vec![cid(2)]
    );
    // cid filter, with other filters and statuses.
    let r = get(format!("cid={},{},{}", cid(1), cid(4), cid(9))).await;
    assert_eq!((ids(&r), r["count"].clone()), (vec![cid(1)], json!(1)));
    let r = get(format!("cid={},{}&status=queued,pinned", cid(1), cid(4))).await;
    assert_eq!(ids(&r), vec![cid(4), cid(1)]);
    // count is the total; results are at most limit.
    let r = get("limit=2".into()).await;
    assert_eq!((r["count"].clone(), ids(&r).len()), (json!(3), 2));
    let r = get(format!("limit=1&meta={}", enc(r#"{"app":"a"}"#))).await;
    assert_eq!((r["count"].clone(), ids(&r)), (json!(2), vec![cid(2)]));
}

/// RFC 3339 with milliseconds, as the API writes `created` (computed by chrono, not by the code under test).
fn chrono_like(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_else(|| panic!("{ms} ms is out of chrono's range"))
}

/// Pages through `GET /pins` with `before = created of the last result`, as clients do.
async fn page_all(h: &H, extra: &str, limit: usize) -> (Vec<String>, Vec<u64>) {
    let mut seen = Vec::new();
    let mut counts = Vec::new();
    let mut before: Option<String> = None;
    for _ in 0..1000 {
        let mut q = format!("limit={limit}{extra}");
        if let Some(b) = &before {
            q.push_str(&format!("&before={}", enc(b)));
        }
        let r = h.call("GET", &format!("/pins?{q}"), None).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let v = r.json();
        counts.push(v["count"].as_u64().unwrap());
        let results = v["results"].as_array().unwrap().clone();
        if results.is_empty() {
            break;
        }
        for r in &results {
            seen.push(r["requestid"].as_str().unwrap().to_owned());
        }
        before = results.last().map(|r| r["created"].as_str().unwrap().to_owned());
    }
    (seen, counts)
}

#[tokio::test]
async fn pagination_by_before_sees_pins_of_one_millisecond_exactly_once() {
    // Pins ingested elsewhere, five per millisecond: a page of 7 would cut a group; it ends before it.
    let h = H::new();
    let t = h.now();
    let events = (0..40u64)
        .map(|i| pin_event(i, t.plus_millis((i / 5) as i64), PinStatus::Pinned, Tier::Ssd, 1))
        .collect();
    h.apply(events).await;
    let (seen, counts) = page_all(&h, "", 7).await;
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(seen.len(), 40, "every pin once: {seen:?}");
    assert_eq!(unique.len(), 40);
    // The count stays the total of the query's filters (before included).
    assert_eq!(counts[0], 40);

    // Pins requested through the API in one millisecond get distinct, increasing `created`.
    let h = H::new();
    let mut created = Vec::new();
    for i in 0..30 {
        let r = h
            .call(
                "POST",
                "/pins",
                Some(&json!({ "cid": identity_cid(format!("x{i}").as_bytes()) }).to_string()),
            )
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED);
        created.push(r.json()["created"].as_str().unwrap().to_owned());
    }
    assert!(created.windows(2).all(|w| w[0] < w[1]), "{created:?}");
    let (seen, _) = page_all(&h, "", 4).await;
    assert_eq!(seen.len(), 30);
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 30);
}
