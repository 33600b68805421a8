//! `plan`, `plan --apply`, `analytics` and `simulate`.

use std::path::Path;

use tempfile::TempDir;

use crate::common::{cid, ok, pindex, track};

/// The instant plans and analytics are made at.
const AT: &str = "2026-06-02T00:00:00Z";
const AT_MS: i64 = 1_780_358_400_000;

/// Memory holds 450 bytes (500 at a 0.9 watermark), SSD 1 MiB; IPFS takes the rest.
const TIERS: &str = r#"
[planner]
hysteresis = "6h"
move_budget = "1 GiB"
margin = 0.25
horizon = "1d"

[[tier]]
name = "memory"
capacity = 500
high_watermark = 0.9
low_watermark = 0.8
storage_cost_per_gb_month = 3.0
latency = "0.1ms"

[[tier]]
name = "ssd"
capacity = "1 MiB"
storage_cost_per_gb_month = 0.05
latency = "1ms"

[[tier]]
name = "ipfs"
capacity = "unlimited"
high_watermark = 1.0
low_watermark = 1.0
storage_cost_per_gb_month = 0.006
retrieval_cost_per_gb = 0.01
latency = "500ms"
"#;

/// Three 400-byte pins on IPFS: `hot` read every hour of the last two days, `warm` every six hours,
/// `cold` never.
fn fill(dir: &Path) -> (String, String, String) {
    let (hot, warm, cold) = (cid(1), cid(2), cid(3));
    let mut lines = Vec::new();
    let start = AT_MS - 2 * 86_400_000;
    for c in [&hot, &warm, &cold] {
        lines.push(format!(
            r#"{{"type":"pin","cid":"{c}","ts":{start},"size":400,"tier":"ipfs"}}"#
        ));
    }
    for h in 0..48i64 {
        let ts = start + h * 3_600_000 + 1000;
        lines.push(format!(
            r#"{{"type":"access","cid":"{hot}","ts":{ts},"op":"read","offset":0,"bytes":400}}"#
        ));
        if h % 6 == 0 {
            lines.push(format!(
                r#"{{"type":"access","cid":"{warm}","ts":{ts},"op":"read","offset":0,"bytes":400}}"#
            ));
        }
    }
    let file = dir.join("events.ndjson");
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    ok(&pindex(&dir.join("data"), &["ingest", file.to_str().unwrap()]));
    std::fs::write(dir.join("tiers.toml"), TIERS).unwrap();
    (hot, warm, cold)
}

fn json(out: &str) -> serde_json::Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

fn plan(dir: &Path, extra: &[&str]) -> serde_json::Value {
    let tiers = dir.join("tiers.toml");
    let mut args = vec![
        "plan",
        "--tiers",
        tiers.to_str().unwrap(),
        "--at",
        AT,
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    json(&ok(&pindex(&dir.join("data"), &args)))
}

fn move_of<'a>(p: &'a serde_json::Value, c: &str) -> Option<&'a serde_json::Value> {
    p["moves"].as_array().unwrap().iter().find(|m| m["cid"] == c)
}

#[test]
fn plan_respects_the_tier_table() {
    let dir = TempDir::new().unwrap();
    let (hot, warm, cold) = fill(dir.path());
    let p = plan(dir.path(), &[]);
    assert_eq!(p["pins"], 3);
    assert_eq!(p["applied"], false);
    let tiers: Vec<&str> = p["tiers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["tier"].as_str().unwrap())
        .collect();
    assert_eq!(
        tiers,
        ["memory", "ssd", "ipfs"],
        "the tiers of the table, fastest first"
    );
    // Memory has room for one 400-byte pin under its 450-byte watermark: the hottest.
    let h = move_of(&p, &hot).expect("the hot pin moves");
    assert_eq!((h["from"].as_str(), h["to"].as_str()), (Some("ipfs"), Some("memory")));
    assert_eq!(h["reason"], "promote");
    assert!(h["why"].as_str().unwrap().contains("hits per byte"));
    let w = move_of(&p, &warm).expect("the warm pin moves");
    assert_eq!(w["to"], "ssd");
    assert!(move_of(&p, &cold).is_none(), "a pin never read is not promoted");
    let memory = &p["tiers"][0];
    assert!(memory["bytes_after"].as_u64().unwrap() <= memory["high_bytes"].as_u64().unwrap());
    assert_eq!(memory["capacity_bytes"], 500);
    assert!(p["tiers"][2]["capacity_bytes"].is_null(), "unlimited is null");
    assert_eq!(p["totals"]["moves"], 2);
    assert_eq!(p["totals"]["bytes_moved"], 800);
    assert_eq!(p["totals"]["by_reason"]["promote"], 2);
    // Nothing was recorded.
    assert_eq!(track(&dir.path().join("data"), &hot)["pin"]["tier"], "ipfs");

    // A bad table is refused with the file named.
    std::fs::write(dir.path().join("bad.toml"), "[[tier]]\nname = \"tape\"\n").unwrap();
    let bad = dir.path().join("bad.toml");
    let o = pindex(&dir.path().join("data"), &["plan", "--tiers", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("bad.toml"));
}

#[test]
fn plan_apply_records_tier_changes_in_history() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    let (hot, warm, cold) = fill(dir.path());
    let p = plan(dir.path(), &["--apply"]);
    assert_eq!(p["applied"], true);
    assert_eq!(p["totals"]["moves"], 2);
    for (c, tier) in [(&hot, "memory"), (&warm, "ssd"), (&cold, "ipfs")] {
        let t = track(&data, c);
        assert_eq!(t["pin"]["tier"], tier, "{c}");
        let h = t["history"].as_array().unwrap();
        let tier_events: Vec<&serde_json::Value> = h.iter().filter(|e| e["event"] == "tier").collect();
        if tier == "ipfs" {
            assert!(tier_events.is_empty());
        } else {
            assert_eq!(tier_events.len(), 1, "{h:?}");
            assert_eq!(tier_events[0]["tier"], tier);
            assert_eq!(tier_events[0]["ts"], "2026-06-02T00:00:00.000Z");
        }
    }
    // Right after, the moved pins are inside the hysteresis window: nothing moves again.
    let again = plan(dir.path(), &[]);
    assert_eq!(again["totals"]["moves"], 0, "{again}");
    assert_eq!(again["totals"]["locked_pins"], 2);
}

#[test]
fn analytics_reports_every_section() {
    let dir = TempDir::new().unwrap();
    let (hot, _, _) = fill(dir.path());
    let tiers = dir.path().join("tiers.toml");
    let a = json(&ok(&pindex(
        &dir.path().join("data"),
        &[
            "analytics",
            "--tiers",
            tiers.to_str().unwrap(),
            "--at",
            AT,
            "--top",
            "2",
            "--format",
            "json",
        ],
    )));
    for key in [
        "as_of",
        "pins",
        "bytes",
        "never_read",
        "patterns",
        "reads",
        "hottest",
        "coldest",
        "prediction",
        "plan",
    ] {
        assert!(!a[key].is_null(), "{key} missing: {a}");
    }
    assert_eq!(a["pins"], 3);
    assert_eq!(a["never_read"]["pins"], 1);
    assert_eq!(a["hottest"][0]["cid"], hot);
    assert_eq!(a["hottest"].as_array().unwrap().len(), 2);
    assert_eq!(
        a["reads"]["whole"].as_u64().unwrap()
            + a["reads"]["sequential"].as_u64().unwrap()
            + a["reads"]["random"].as_u64().unwrap(),
        56
    );
    let q = &a["prediction"]["quality"];
    assert_eq!(q["pins"], 2, "{a}");
    assert_eq!(q["positives"], 2);
    for s in ["model", "constant", "recency"] {
        assert!(q[s]["auc"].is_number(), "{s}");
    }
    assert_eq!(a["plan"]["moves"], 2);
    // The table form prints too.
    let t = ok(&pindex(
        &dir.path().join("data"),
        &["analytics", "--at", AT, "--format", "table"],
    ));
    assert!(t.contains("prediction"), "{t}");
}

#[test]
fn simulate_puts_belady_at_or_above_lru() {
    let dir = TempDir::new().unwrap();
    // 40 objects of 100 bytes; object k is requested in round r when r % (k / 4 + 1) == 0, so small ids are
    // popular; a scan of fresh objects runs through the middle.
    let mut rows = vec!["time,id,size".to_owned()];
    let mut t = 0u64;
    for round in 0..60u64 {
        for k in 0..40u64 {
            if round % (k / 4 + 1) == 0 {
                rows.push(format!("{t},obj{k},100"));
                t += 1;
            }
        }
        if (20..30).contains(&round) {
            rows.push(format!("{t},scan{round},100"));
            t += 1;
        }
    }
    let trace = dir.path().join("trace.csv");
    std::fs::write(&trace, rows.join("\n") + "\n").unwrap();
    let out = ok(&pindex(
        &dir.path().join("data"),
        &[
            "simulate",
            "--trace",
            trace.to_str().unwrap(),
            "--policy",
            "w-tinylfu",
            "--policy",
            "arc",
            "--capacity",
            "10%",
            "--capacity",
            "1000",
            "--format",
            "json",
        ],
    ));
    let r = json(&out);
    assert_eq!(r["objects"], 50);
    let caps = r["capacities"].as_array().unwrap();
    assert_eq!(caps.len(), 2);
    assert_eq!(caps[0]["capacity_bytes"], 500);
    assert_eq!(caps[1]["capacity_bytes"], 1000);
    for c in caps {
        let results = c["results"].as_array().unwrap();
        let names: Vec<&str> = results.iter().map(|x| x["policy"].as_str().unwrap()).collect();
        assert_eq!(names, ["belady", "lru", "w-tinylfu", "arc"]);
        let ratio = |i: usize| results[i]["hit_ratio"].as_f64().unwrap();
        assert!(ratio(0) >= ratio(1), "Belady {} < LRU {}", ratio(0), ratio(1));
        assert!(ratio(0) > 0.0);
        for i in 1..results.len() {
            assert!(ratio(i) <= ratio(0) + 1e-12, "equal sizes: Belady is optimal");
        }
        assert!(c["bound_hit_ratio"].as_f64().unwrap() >= ratio(0) - 1e-9);
    }
    // Unknown policies are refused.
    let o = pindex(
        &dir.path().join("data"),
        &["simulate", "--trace", trace.to_str().unwrap(), "--policy", "fifo"],
    );
    assert_eq!(o.status.code(), Some(2));
}
