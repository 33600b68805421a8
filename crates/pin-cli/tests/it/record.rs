//! `add`, `rm` and `access`, seen through `track` and `metrics`.

use std::io::Write;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::common::{cid, command, metrics, ok, pindex, stderr, track};

#[test]
fn add_access_rm_round_trip_through_track_and_metrics() {
    let dir = TempDir::new().unwrap();
    let d = dir.path();
    let c = cid(42);
    ok(&pindex(
        d,
        &[
            "add",
            &c,
            "--name",
            "report.pdf",
            "--size",
            "2KiB",
            "--type",
            "direct",
            "--tier",
            "ssd",
            "--meta",
            "team=web",
            "--meta",
            "env=prod",
            "--vfs-path",
            "/docs/report.pdf",
            "--mount",
            "/docs",
            "--at",
            "2026-01-01",
        ],
    ));
    let t = track(d, &c);
    assert_eq!(t["pin"]["name"], "report.pdf");
    assert_eq!(t["pin"]["size_bytes"], 2048);
    assert_eq!(t["pin"]["pin_type"], "direct");
    assert_eq!(t["pin"]["tier"], "ssd");
    assert_eq!(t["pin"]["meta"]["env"], "prod");
    assert_eq!(t["pin"]["created_at"], "2026-01-01T00:00:00.000Z");
    // An update changes only what it names.
    ok(&pindex(d, &["add", &c, "--tier", "hdd", "--meta", "env="]));
    let t = track(d, &c);
    assert_eq!(
        (t["pin"]["name"].as_str(), t["pin"]["tier"].as_str()),
        (Some("report.pdf"), Some("hdd"))
    );
    assert_eq!(t["pin"]["meta"].as_object().unwrap().len(), 1);
    assert_eq!(t["pin"]["created_at"], "2026-01-01T00:00:00.000Z");

    ok(&pindex(
        d,
        &[
            "access",
            &c,
            "--offset",
            "0",
            "--bytes",
            "512",
            "--tier",
            "hdd",
            "--latency-us",
            "90",
        ],
    ));
    ok(&pindex(d, &["access", &c, "--op", "write", "--bytes", "10"]));
    let t = track(d, &c);
    assert_eq!(t["stats"]["access_count"], 2);
    assert_eq!(t["stats"]["bytes_read"], 512);
    assert_eq!(t["stats"]["bytes_written"], 10);
    assert_eq!(t["recent_accesses"][0]["op"], "write");
    assert_eq!(t["recent_accesses"][1]["latency_us"], 90);
    let m = metrics(d);
    assert_eq!(
        (m["total_pins"].as_u64(), m["total_size_bytes"].as_u64()),
        (Some(1), Some(2048))
    );
    assert_eq!(m["tiers"]["hdd"]["pins"], 1);
    assert_eq!(
        (m["total_accesses"].as_u64(), m["accessed_last_hour"].as_u64()),
        (Some(2), Some(1))
    );

    ok(&pindex(d, &["rm", &c]));
    let t = track(d, &c);
    assert_eq!(t["pin"]["status"], "unpinned");
    assert_eq!(t["history"][0]["event"], "unpin");
    let m = metrics(d);
    assert_eq!(
        (m["total_pins"].as_u64(), m["statuses"]["unpinned"].as_u64()),
        (Some(0), Some(1))
    );
    assert!(ok(&pindex(d, &["rm", &c])).contains("already unpinned"));

    // Exit codes: 1 for an unknown CID, 2 for a malformed one, with the input named.
    assert_eq!(pindex(d, &["rm", &cid(7)]).status.code(), Some(1));
    assert_eq!(pindex(d, &["track", &cid(7)]).status.code(), Some(1));
    let bad = pindex(d, &["add", "Qmfoo"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("invalid CID \"Qmfoo\""), "{}", stderr(&bad));
    let bad = pindex(d, &["add", &c, "--tier", "tape"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("invalid tier \"tape\""), "{}", stderr(&bad));
}

#[test]
fn an_access_to_a_cid_never_pinned_is_kept_without_a_pin() {
    let dir = TempDir::new().unwrap();
    let d = dir.path();
    ok(&pindex(d, &["access", &cid(3)]));
    let m = metrics(d);
    assert_eq!(
        (m["total_accesses"].as_u64(), m["total_pins"].as_u64()),
        (Some(1), Some(0))
    );
    assert_eq!(pindex(d, &["track", &cid(3)]).status.code(), Some(1));
    let n = ok(&pindex(
        d,
        &["sql", "SELECT count(*) AS n FROM access_events", "--format", "csv"],
    ));
    assert_eq!(n, "n\n1\n");
}

#[test]
fn readers_work_and_a_second_writer_is_refused_while_a_writer_runs() {
    let dir = TempDir::new().unwrap();
    let d = dir.path();
    ok(&pindex(d, &["add", &cid(1)]));
    // `ingest -` holds the writer lock while it waits for its input.
    let mut writer = command(d)
        .args(["ingest", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let began = Instant::now();
    loop {
        let s: serde_json::Value = serde_json::from_str(&ok(&pindex(d, &["status", "--format", "json"]))).unwrap();
        if s["writer"].is_string() {
            assert!(s["writer"].as_str().unwrap().contains("pid"), "{s}");
            break;
        }
        assert!(
            began.elapsed() < Duration::from_secs(30),
            "the writer never took the lock"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(metrics(d)["total_pins"], 1);
    let second = pindex(d, &["add", &cid(2)]);
    assert_eq!(second.status.code(), Some(2));
    assert!(
        stderr(&second).contains("is locked by another writer (pid"),
        "{}",
        stderr(&second)
    );
    let mut stdin = writer.stdin.take().unwrap();
    writeln!(stdin, "{{\"type\":\"pin\",\"cid\":\"{}\"}}", cid(2)).unwrap();
    drop(stdin);
    ok(&writer.wait_with_output().unwrap());
    assert_eq!(metrics(d)["total_pins"], 2);
}
