//! Every `--format` of every listing and report parses as what it claims to be.

use tempfile::TempDir;

use crate::common::{ndjson, ok, pindex};

fn csv_rows(s: &str) -> Vec<Vec<String>> {
    let mut r = csv::ReaderBuilder::new().has_headers(false).from_reader(s.as_bytes());
    r.records()
        .map(|rec| rec.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

#[test]
fn every_format_of_every_listing_and_report_parses() {
    let dir = TempDir::new().unwrap();
    let d = dir.path();
    ok(&pindex(
        d,
        &["-q", "demo", "--pins", "40", "--events", "400", "--seed", "11"],
    ));
    let some_cid = ndjson(&ok(&pindex(d, &["pins", "--limit", "1"])))[0]["cid"]
        .as_str()
        .unwrap()
        .to_owned();

    // pins
    let json: serde_json::Value = serde_json::from_str(&ok(&pindex(d, &["pins", "--format", "json"]))).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 40);
    for key in [
        "cid",
        "name",
        "status",
        "size_bytes",
        "tier",
        "tiers",
        "created_at",
        "access_count",
        "hotness",
        "meta",
    ] {
        assert!(json[0].get(key).is_some(), "{key} missing from {}", json[0]);
    }
    let empty: serde_json::Value =
        serde_json::from_str(&ok(&pindex(d, &["pins", "--format", "json", "--name", "none"]))).unwrap();
    assert_eq!(empty, serde_json::json!([]));
    assert_eq!(ndjson(&ok(&pindex(d, &["pins", "--format", "ndjson"]))).len(), 40);
    let rows = csv_rows(&ok(&pindex(d, &["pins", "--format", "csv"])));
    assert_eq!(rows.len(), 41);
    assert_eq!(rows[0][0], "cid");
    assert!(rows.iter().all(|r| r.len() == rows[0].len()));
    let table = ok(&pindex(d, &["pins", "--format", "table"]));
    assert!(table.starts_with("CID"));
    assert_eq!(table.lines().count(), 41);
    // Not a terminal: ndjson by default.
    assert_eq!(ndjson(&ok(&pindex(d, &["pins"]))).len(), 40);

    // reports
    for cmd in [
        vec!["metrics"],
        vec!["status"],
        vec!["track", some_cid.as_str()],
        vec!["vfs"],
        vec!["plan"],
        vec!["analytics"],
    ] {
        let with = |f: &str| {
            let mut a = cmd.clone();
            a.extend(["--format", f]);
            ok(&pindex(d, &a))
        };
        let j: serde_json::Value = serde_json::from_str(&with("json")).unwrap();
        let n = ndjson(&with("ndjson"));
        assert_eq!(n.len(), 1, "{cmd:?}");
        assert!(j.is_object(), "{cmd:?}");
        let rows = csv_rows(&with("csv"));
        assert_eq!(rows[0], ["key", "value"], "{cmd:?}");
        assert!(rows.iter().all(|r| r.len() == 2), "{cmd:?}");
        assert!(!with("table").is_empty());
    }
    let m: serde_json::Value =
        serde_json::from_str(&ok(&pindex(d, &["metrics", "--format", "json", "--top", "3"]))).unwrap();
    assert_eq!(m["largest_pins"].as_array().unwrap().len(), 3);
    let sizes: Vec<u64> = m["largest_pins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["size_bytes"].as_u64().unwrap())
        .collect();
    assert!(sizes.windows(2).all(|w| w[0] >= w[1]));
    let largest = ndjson(&ok(&pindex(d, &["pins", "--sort", "size", "--limit", "1"])));
    assert_eq!(m["largest_pins"][0]["cid"], largest[0]["cid"]);
    let hottest = m["hottest_pins"].as_array().unwrap();
    assert!(!hottest.is_empty() && hottest.len() <= 3);
    assert!(
        hottest
            .windows(2)
            .all(|w| w[0]["hotness"].as_f64() >= w[1]["hotness"].as_f64())
    );

    // sql
    let q = "SELECT status, count(*) AS n FROM pins GROUP BY status ORDER BY status";
    let j: serde_json::Value = serde_json::from_str(&ok(&pindex(d, &["sql", q, "--format", "json"]))).unwrap();
    let total: u64 = j.as_array().unwrap().iter().map(|r| r["n"].as_u64().unwrap()).sum();
    assert_eq!(total, 40);
    let n = ndjson(&ok(&pindex(d, &["sql", q, "--format", "ndjson"])));
    assert_eq!(n.len(), j.as_array().unwrap().len());
    let rows = csv_rows(&ok(&pindex(d, &["sql", q, "--format", "csv"])));
    assert_eq!(rows[0], ["status", "n"]);
    assert_eq!(rows.len(), n.len() + 1);
    assert!(ok(&pindex(d, &["sql", q, "--format", "table"])).contains("| status"));
}

#[test]
fn global_options_color_quiet_and_the_environment() {
    let dir = TempDir::new().unwrap();
    let d = dir.path();
    let c = crate::common::cid(9);
    // -q: nothing on stdout for a write; PINDEX_DATA_DIR stands in for --data-dir.
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_pindex"))
        .args(["-q", "add", &c, "--name", "x"])
        .env("PINDEX_DATA_DIR", d)
        .env_remove("PINDEX_STORE_URL")
        .output()
        .unwrap();
    assert!(o.status.success() && o.stdout.is_empty(), "{o:?}");
    let bold = "\x1b[1m";
    assert!(ok(&pindex(d, &["--color", "always", "pins", "--format", "table"])).contains(bold));
    assert!(!ok(&pindex(d, &["--color", "never", "pins", "--format", "table"])).contains(bold));
    // NO_COLOR is set by the test harness and stdout is not a terminal: auto means no color.
    assert!(!ok(&pindex(d, &["pins", "--format", "table"])).contains(bold));
    // The same store through --store-url (a file:// URL for the segments, the WAL stays in the directory).
    let other = d.join("other");
    let seg = d.join("segments");
    std::fs::create_dir_all(&seg).unwrap();
    let url = format!("file://{}", seg.display());
    ok(&pindex(&other, &["--store-url", &url, "add", &crate::common::cid(10)]));
    ok(&pindex(&other, &["--store-url", &url, "compact"]));
    assert!(std::fs::read_dir(seg.join("pins")).unwrap().count() > 0);
    assert!(!other.join("store").exists());
    let m: serde_json::Value = serde_json::from_str(&ok(&pindex(
        &other,
        &["--store-url", &url, "metrics", "--format", "json"],
    )))
    .unwrap();
    assert_eq!(m["total_pins"], 1);
    let bad = pindex(d, &["--store-url", "not a url", "metrics"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("invalid --store-url \"not a url\""));
    let bad = pindex(d, &["-q", "-v", "metrics"]);
    assert_eq!(bad.status.code(), Some(2));
}
