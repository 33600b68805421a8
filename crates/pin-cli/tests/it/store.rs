//! Whole-store commands: demo, sql, compact, status, export.

use tempfile::TempDir;

use crate::common::{metrics, ndjson, ok, pindex, stdout};

#[test]
fn demo_then_metrics_sql_and_track_agree() {
    let dir = TempDir::new().unwrap();
    let demo = pindex(
        dir.path(),
        &["demo", "--pins", "300", "--events", "3000", "--seed", "7"],
    );
    assert!(
        ok(&demo).contains("recorded 300 pins (bulk loaded) and 3000 access events"),
        "{}",
        stdout(&demo)
    );

    let m = metrics(dir.path());
    assert_eq!(m["total_accesses"], 3000);
    let statuses: u64 = m["statuses"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(statuses, 300);
    let tier_pins: u64 = m["tiers"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v["pins"].as_u64().unwrap())
        .sum();
    assert_eq!(tier_pins, m["total_pins"].as_u64().unwrap());
    for key in ["total_size_bytes", "accessed_last_hour", "accessed_last_day"] {
        assert!(m[key].is_u64(), "{key} missing: {m}");
    }

    // SQL sees the same totals the metrics report.
    let q = pindex(
        dir.path(),
        &[
            "sql",
            "SELECT count(*) AS n, sum(access_count) AS a FROM pins",
            "--format",
            "table",
        ],
    );
    assert!(ok(&q).contains("| 300 | 3000 |"), "{}", stdout(&q));

    // track: the hottest CID, a CID that is not pinned (exit 1), a malformed CID (exit 2, named).
    let top = ndjson(&ok(&pindex(
        dir.path(),
        &["sql", "SELECT cid FROM pins ORDER BY access_count DESC LIMIT 1"],
    )));
    let cid = top[0]["cid"].as_str().unwrap().to_owned();
    let t = pindex(dir.path(), &["track", &cid, "--format", "table"]);
    assert!(ok(&t).contains(&cid));
    let missing = pindex(
        dir.path(),
        &["track", "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"],
    );
    assert_eq!(missing.status.code(), Some(1));
    let bad = pindex(dir.path(), &["track", "Qmfoo"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("invalid CID \"Qmfoo\""));

    // A second demo into the same directory is refused; nothing recorded changes.
    let again = pindex(dir.path(), &["demo", "--pins", "10", "--events", "0"]);
    assert_eq!(again.status.code(), Some(2));
    assert_eq!(metrics(dir.path())["statuses"], m["statuses"]);
}

#[test]
fn sql_refuses_writes_with_exit_code_two() {
    let dir = TempDir::new().unwrap();
    ok(&pindex(dir.path(), &["-q", "demo", "--pins", "5", "--events", "0"]));
    for q in [
        "DROP TABLE pins",
        "DELETE FROM pins",
        "CREATE TABLE t AS SELECT 1",
        "INSERT INTO pins VALUES (1)",
    ] {
        let o = pindex(dir.path(), &["sql", q]);
        assert_eq!(o.status.code(), Some(2), "{q}");
    }
    let c = pindex(dir.path(), &["compact"]);
    assert!(ok(&c).contains("5 pins"), "{}", stdout(&c));
    let s: serde_json::Value = serde_json::from_str(&ok(&pindex(dir.path(), &["status", "--format", "json"]))).unwrap();
    assert_eq!(s["base_pins"], 5);
    assert_eq!(s["base_runs"], 1, "{s}");
    assert!(s["last_compaction"].is_string(), "{s}");
    assert_eq!(s["writer"], serde_json::Value::Null);
    assert_eq!(s["pending_unflushed_events"], 0);
    assert!(ok(&pindex(dir.path(), &["vacuum"])).contains("deleted"));
    // Readers of a directory that does not exist get told what to do.
    let o = pindex(&dir.path().join("nope"), &["metrics"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("does not exist"));
}

#[test]
fn exports_are_consistent_snapshots_other_tools_read() {
    use pin_store::datafusion::arrow::array::{Array, AsArray};
    use pin_store::datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let dir = TempDir::new().unwrap();
    let d = dir.path();
    ok(&pindex(
        d,
        &["-q", "demo", "--pins", "120", "--events", "900", "--seed", "5"],
    ));
    let listed: Vec<String> = ndjson(&ok(&pindex(d, &["pins"])))
        .iter()
        .map(|r| r["cid"].as_str().unwrap().to_owned())
        .collect();

    let pq = d.join("pins.parquet");
    ok(&pindex(d, &["export", "--format", "parquet", pq.to_str().unwrap()]));
    let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&pq).unwrap())
        .unwrap()
        .build()
        .unwrap();
    let mut cids = Vec::new();
    for batch in reader {
        let batch = batch.unwrap();
        let col = batch.column_by_name("cid").unwrap().as_string::<i32>();
        assert_eq!(col.null_count(), 0);
        cids.extend((0..col.len()).map(|i| col.value(i).to_owned()));
        assert!(batch.column_by_name("size_bytes").is_some());
    }
    cids.sort();
    let mut want = listed.clone();
    want.sort();
    assert_eq!(cids, want);

    let access = d.join("access.parquet");
    ok(&pindex(
        d,
        &[
            "export",
            "--format",
            "parquet",
            "--table",
            "access-events",
            access.to_str().unwrap(),
        ],
    ));
    let rows: usize = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&access).unwrap())
        .unwrap()
        .build()
        .unwrap()
        .map(|b| b.unwrap().num_rows())
        .sum();
    assert_eq!(rows, 900);

    let nd = d.join("pins.ndjson");
    ok(&pindex(d, &["export", "--format", "ndjson", nd.to_str().unwrap()]));
    let exported: Vec<String> = ndjson(&std::fs::read_to_string(&nd).unwrap())
        .iter()
        .map(|r| r["cid"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(exported, listed);
    let csv = d.join("history.csv");
    ok(&pindex(
        d,
        &[
            "export",
            "--format",
            "csv",
            "--table",
            "pin-history",
            csv.to_str().unwrap(),
        ],
    ));
    let text = std::fs::read_to_string(&csv).unwrap();
    assert!(text.starts_with("cid,ts,seq,event"), "{text}");
    assert_eq!(text.lines().count(), 121);
    let none_left = std::fs::read_dir(d)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().contains(".tmp-"))
        .count();
    assert_eq!(none_left, 0);
    let bad = pindex(d, &["export", "--format", "parquet", "-"]);
    assert_eq!(bad.status.code(), Some(2));
}
