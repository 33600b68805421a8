//! `pins`: filters, orders, keyset pagination, streaming into a closed pipe.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::process::Stdio;

use tempfile::TempDir;

use crate::common::{cid, command, ndjson, ok, page_through, pindex, pindex_stdin};

fn cids(rows: &[serde_json::Value]) -> Vec<String> {
    rows.iter().map(|r| r["cid"].as_str().unwrap().to_owned()).collect()
}

#[test]
fn every_filter_selects_exactly_its_pins() {
    let dir = TempDir::new().unwrap();
    let d = dir.path();
    // (i, name, status, tier, size, created, team)
    let pins = [
        (0, "Alpha.bin", "pinned", "ssd", 100, "2026-01-01T00:00:00Z", "ml"),
        (1, "alpha-2.bin", "failed", "hdd", 2000, "2026-02-01T00:00:00Z", "web"),
        (2, "beta.bin", "pinned", "hdd", 30_000, "2026-03-01T00:00:00Z", "ml"),
        (3, "gamma", "queued", "ssd", 400_000, "2026-04-01T00:00:00Z", "archive"),
    ];
    let input: String = pins
        .iter()
        .map(|(i, name, status, tier, size, ts, team)| {
            format!(
                "{{\"type\":\"pin\",\"cid\":\"{}\",\"name\":\"{name}\",\"status\":\"{status}\",\"tier\":\"{tier}\",\"size\":{size},\"ts\":\"{ts}\",\"meta\":{{\"team\":\"{team}\"}}}}\n",
                cid(*i)
            )
        })
        .collect();
    ok(&pindex_stdin(d, &["ingest", "-"], &input));
    let select = |args: &[&str]| -> HashSet<u64> {
        let mut a = vec!["pins", "--format", "ndjson"];
        a.extend_from_slice(args);
        let got: HashSet<String> = cids(&ndjson(&ok(&pindex(d, &a)))).into_iter().collect();
        (0..4).filter(|i| got.contains(&cid(*i))).collect()
    };
    let set = |v: &[u64]| v.iter().copied().collect::<HashSet<u64>>();
    assert_eq!(select(&[]), set(&[0, 1, 2, 3]));
    assert_eq!(select(&["--status", "pinned"]), set(&[0, 2]));
    assert_eq!(select(&["--tier", "hdd"]), set(&[1, 2]));
    assert_eq!(select(&["--name", "beta.bin"]), set(&[2]));
    assert_eq!(select(&["--name", "alpha.bin", "--match", "iexact"]), set(&[0]));
    assert_eq!(select(&["--name", "alpha", "--match", "partial"]), set(&[1]));
    assert_eq!(select(&["--name", "ALPHA", "--match", "ipartial"]), set(&[0, 1]));
    assert_eq!(select(&["--meta", "team=ml"]), set(&[0, 2]));
    assert_eq!(select(&["--meta", "team=ml", "--tier", "ssd"]), set(&[0]));
    assert_eq!(select(&["--before", "2026-02-01"]), set(&[0]));
    assert_eq!(select(&["--after", "2026-02-01"]), set(&[2, 3]));
    assert_eq!(select(&["--min-size", "2000"]), set(&[1, 2, 3]));
    assert_eq!(select(&["--max-size", "30000"]), set(&[0, 1, 2]));
    assert_eq!(select(&["--min-size", "1KB", "--max-size", "29KiB"]), set(&[1]));
    // The same filters hold in the sorted (DataFusion) path.
    assert_eq!(
        select(&["--sort", "size", "--name", "alpha", "--match", "ipartial"]),
        set(&[0, 1])
    );
    assert_eq!(
        select(&["--sort", "name", "--meta", "team=ml", "--limit", "1"]),
        set(&[0])
    );
    let sizes: Vec<u64> = ndjson(&ok(&pindex(d, &["pins", "--format", "ndjson", "--sort", "size"])))
        .iter()
        .map(|r| r["size_bytes"].as_u64().unwrap())
        .collect();
    assert_eq!(sizes, [400_000, 30_000, 2000, 100]);
    let bad = pindex(d, &["pins", "--status", "lost"]);
    assert_eq!(bad.status.code(), Some(2));
    let bad = pindex(d, &["pins", "--cursor", "xyz"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("invalid cursor \"xyz\""));
}

#[test]
fn cursor_pagination_returns_every_pin_exactly_once_in_every_order() {
    let dir = TempDir::new().unwrap();
    let d = dir.path();
    ok(&pindex(
        d,
        &["-q", "demo", "--pins", "180", "--events", "2000", "--seed", "3"],
    ));
    // Some pins in the base segment, some changed since: pages must merge both.
    ok(&pindex(d, &["compact"]));
    for i in 0..5 {
        ok(&pindex(d, &["add", &cid(1000 + i), "--size", "7"]));
    }
    let all = cids(&ndjson(&ok(&pindex(d, &["pins", "--format", "ndjson"]))));
    assert_eq!(all.len(), 185);
    let unique: HashSet<&String> = all.iter().collect();
    assert_eq!(unique.len(), 185);

    // The JSON array holds the NDJSON rows (both are rendered by the read-ahead), and CSV (written row by
    // row) the same pins in the same order.
    let array: Vec<serde_json::Value> = serde_json::from_str(&ok(&pindex(d, &["pins", "--format", "json"]))).unwrap();
    assert_eq!(cids(&array), all);
    let csv = ok(&pindex(d, &["pins", "--format", "csv"]));
    let csv_cids: Vec<String> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap().to_owned())
        .collect();
    assert_eq!(csv_cids, all);

    let (rows, pages) = page_through(d, &[], 13);
    assert_eq!(cids(&rows), all, "key order pages");
    assert_eq!(pages, 15);

    for order in [
        ["--sort", "size"],
        ["--sort", "name"],
        ["--sort", "hotness"],
        ["--sort", "created"],
    ] {
        let full = ndjson(&ok(&pindex(d, &["pins", "--format", "ndjson", order[0], order[1]])));
        let (rows, _) = page_through(d, &order, 17);
        assert_eq!(cids(&rows), cids(&full), "{order:?}");
        let got: HashSet<String> = cids(&rows).into_iter().collect();
        assert_eq!(got.len(), 185, "{order:?}");
    }
    let (rows, _) = page_through(d, &["--sort", "size", "--asc", "--status", "pinned"], 11);
    let sizes: Vec<u64> = rows.iter().map(|r| r["size_bytes"].as_u64().unwrap()).collect();
    assert!(sizes.windows(2).all(|w| w[0] <= w[1]));
    assert!(rows.iter().all(|r| r["status"] == "pinned"));
    // A cursor from one order does not continue another.
    let o = pindex(d, &["pins", "--format", "ndjson", "--sort", "size", "--limit", "1"]);
    let c = String::from_utf8_lossy(&o.stderr)
        .trim()
        .trim_start_matches("next cursor: ")
        .to_owned();
    let wrong = pindex(d, &["pins", "--sort", "name", "--cursor", &c]);
    assert_eq!(wrong.status.code(), Some(2));
}

#[test]
fn a_closed_pipe_is_a_quiet_success() {
    let dir = TempDir::new().unwrap();
    let d = dir.path();
    ok(&pindex(d, &["-q", "demo", "--pins", "3000", "--events", "0"]));
    let mut child = command(d)
        .args(["pins", "--format", "ndjson"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.starts_with("{\"cid\":"));
    // The reader is gone (like `head -1`); the rest of the listing hits a closed pipe.
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(o.stderr.is_empty(), "{}", String::from_utf8_lossy(&o.stderr));
}
