//! `cid`, `vfs replay`, `vfs` and `watch`.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::common::{Reaper, command, ok, pindex, stderr, stdout, track};

/// Byte `i` of the content the pin-vfs vectors were computed on: `(i mod 251) xor ((i >> 9) mod 256)`.
fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| ((i % 251) ^ ((i >> 9) & 0xff)) as u8).collect()
}

#[test]
fn cid_prints_what_ipfs_add_prints() {
    // (size, CIDv0, CIDv1 with raw leaves): the vectors of crates/pin-vfs/tests/it/cid.rs.
    let vectors = [
        (
            0,
            "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH",
            "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku",
        ),
        (
            1,
            "QmS9JArPwa55ePgDnyg6TzX24mYTS1b1vLqWNebyVotKxQ",
            "bafkreidogqfzz75tpkmjzjke425xqcrmpcib2p5tg44hnbirumdbpl5adu",
        ),
        (
            256 * 1024 + 1,
            "QmXmEYtJKKMWm4ndUsVh4xW79KSsSkZePxmpBQPJzwuCDn",
            "bafybeigvyptjzooqgo3z4hown6qwh46snhtrewz3yh5aw2tx7dkivl57oq",
        ),
    ];
    let dir = TempDir::new().unwrap();
    let mut files = Vec::new();
    for (size, _, _) in vectors {
        let f = dir.path().join(format!("f{size}.bin"));
        std::fs::write(&f, pattern(size)).unwrap();
        files.push(f.to_str().unwrap().to_owned());
    }
    let args = |v: &str| {
        let mut a = vec!["cid".to_owned(), "--cid-version".to_owned(), v.to_owned()];
        a.extend(files.iter().cloned());
        a
    };
    let run = |a: Vec<String>| {
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        ok(&pindex(&dir.path().join("data"), &a))
    };
    let v0: Vec<String> = run(args("0")).lines().map(str::to_owned).collect();
    let v1: Vec<String> = run(args("1")).lines().map(str::to_owned).collect();
    let want0: Vec<&str> = vectors.iter().map(|v| v.1).collect();
    let want1: Vec<&str> = vectors.iter().map(|v| v.2).collect();
    assert_eq!(v0, want0);
    assert_eq!(v1, want1);
    // The default is CIDv0; a missing file is named, the others still printed, and the exit code is 2.
    let o = pindex(
        &dir.path().join("data"),
        &["cid", &files[0], dir.path().join("missing").to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(stdout(&o).trim(), want0[0]);
    assert!(stderr(&o).contains("missing"), "{}", stderr(&o));
}

const HELLO: &str = "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o";

fn journal(path: &Path) {
    let lines = [
        r#"{"pindex_vfs_journal":1,"journal_id":"cli-test"}"#.to_owned(),
        r#"{"ts":1732530000000,"op":"mount","mount":"/photos","path":"/photos","dir":true}"#.to_owned(),
        format!(r#"{{"ts":1732530000001,"op":"create","mount":"/photos","path":"/photos/a.jpg","cid":"{HELLO}","size":12}}"#),
        r#"{"ts":1732530000250,"op":"read","mount":"/photos","path":"/photos/a.jpg","offset":0,"length":12,"latency_us":180}"#.to_owned(),
        r#"{"ts":1732530000300,"op":"read","mount":"/photos","path":"/photos/a.jpg","offset":0,"length":6,"latency_us":220}"#.to_owned(),
        r#"{"ts":1732530000400,"op":"read","mount":"/photos","path":"/photos/a.jpg","offset":6,"length":6}"#.to_owned(),
    ];
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
}

#[test]
fn a_journal_replayed_twice_records_each_event_once() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    let j = dir.path().join("photos.ndjson");
    journal(&j);
    let js = j.to_str().unwrap();
    let first = ok(&pindex(&data, &["vfs", "replay", js]));
    assert!(first.contains("replayed: 5 operations"), "{first}");
    // Again: the checkpoint resumes at the end.
    let again = ok(&pindex(&data, &["vfs", "replay", js]));
    assert!(again.contains("replayed: 0 operations"), "{again}");
    // Without the checkpoint, every chunk is cut again and the store recognises it.
    std::fs::remove_dir_all(data.join("vfs-checkpoints")).unwrap();
    let lost = ok(&pindex(&data, &["vfs", "replay", "--format", "pindex", js]));
    assert!(lost.contains("1 batches already recorded"), "{lost}");

    let t = track(&data, HELLO);
    assert_eq!(t["stats"]["access_count"], 3);
    assert_eq!(t["stats"]["bytes_read"], 24);
    assert_eq!(t["pin"]["vfs_paths"], serde_json::json!(["/photos/a.jpg"]));
    assert_eq!(t["pin"]["mount"], "/photos");

    let v: serde_json::Value = serde_json::from_str(&ok(&pindex(&data, &["vfs", "--format", "json"]))).unwrap();
    let m = &v["mounts"][0];
    assert_eq!(m["mount"], "/photos");
    assert_eq!((m["pins"].as_u64(), m["paths"].as_u64()), (Some(1), Some(1)));
    assert_eq!((m["accesses"].as_u64(), m["bytes_read"].as_u64()), (Some(3), Some(24)));
    assert_eq!(m["top_paths"][0]["path"], "/photos/a.jpg");
    assert_eq!(m["top_paths"][0]["cid"], HELLO);

    // Bad input is named with file and line, skipped, and counted in the exit code.
    let bad = dir.path().join("bad.ndjson");
    std::fs::write(&bad, "{\"pindex_vfs_journal\":1,\"journal_id\":\"bad\"}\nnot json\n").unwrap();
    let o = pindex(&data, &["vfs", "replay", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("bad.ndjson:2"), "{}", stderr(&o));
}

/// `pindex vfs` shows the operations of the last 24 h by kind, with success rate and latency, and the bytes
/// read and written per mount; older operations are only in `vfs_events`.
#[test]
fn vfs_reports_the_operations_of_the_last_day() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    let j = dir.path().join("ops.ndjson");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let old = now - 3 * 86_400_000;
    let lines = [
        r#"{"pindex_vfs_journal":1,"journal_id":"ops-test"}"#.to_owned(),
        format!(r#"{{"ts":{old},"op":"create","mount":"/photos","path":"/photos/old.jpg","cid":"{HELLO}","size":12}}"#),
        format!(
            r#"{{"ts":{},"op":"create","mount":"/photos","path":"/photos/a.jpg","cid":"{HELLO}","size":12}}"#,
            now - 5000
        ),
        format!(
            r#"{{"ts":{},"op":"read","mount":"/photos","path":"/photos/a.jpg","offset":0,"length":12,"latency_us":100}}"#,
            now - 4000
        ),
        format!(
            r#"{{"ts":{},"op":"read","mount":"/photos","path":"/photos/a.jpg","offset":0,"length":6,"latency_us":300}}"#,
            now - 3000
        ),
        format!(
            r#"{{"ts":{},"op":"write","mount":"/photos","path":"/photos/a.jpg","offset":0,"length":20,"size":20,"ok":false}}"#,
            now - 2000
        ),
    ];
    std::fs::write(&j, lines.join("\n") + "\n").unwrap();
    ok(&pindex(&data, &["vfs", "replay", j.to_str().unwrap()]));
    let v: serde_json::Value = serde_json::from_str(&ok(&pindex(&data, &["vfs", "--format", "json"]))).unwrap();
    let ops = v["operations_last_day"].as_array().unwrap();
    let op = |name: &str| ops.iter().find(|o| o["op"] == name).cloned().unwrap_or_default();
    assert_eq!(
        op("create")["count"],
        1,
        "the create of three days ago is outside the window: {v}"
    );
    assert_eq!(
        (op("read")["count"].as_u64(), op("read")["failed"].as_u64()),
        (Some(2), Some(0))
    );
    assert_eq!(op("read")["mean_latency_us"], 200.0);
    assert_eq!(op("read")["max_latency_us"], 300);
    assert_eq!(
        (op("write")["count"].as_u64(), op("write")["success_rate"].as_f64()),
        (Some(1), Some(0.0))
    );
    let io = &v["io_last_day"][0];
    assert_eq!(
        (
            io["mount"].as_str(),
            io["bytes_read"].as_u64(),
            io["bytes_written"].as_u64()
        ),
        (Some("/photos"), Some(18), Some(0))
    );
    let table = ok(&pindex(&data, &["vfs", "--format", "table"]));
    assert!(table.contains("VFS operations in the last 24 h"), "{table}");
    assert!(
        table.contains("read               2  100.00% ok  latency mean 200 µs, max 300 µs"),
        "{table}"
    );
    assert!(table.contains("write              1    0.00% ok"), "{table}");
    let all = ok(&pindex(
        &data,
        &["sql", "--format", "csv", "SELECT count(*) AS n FROM vfs_events"],
    ));
    assert!(
        all.contains("\n5"),
        "every operation, old ones too, is in vfs_events: {all}"
    );
}

fn paths_of(data: &Path) -> Vec<String> {
    let o = pindex(data, &["pins", "--format", "ndjson"]);
    if !o.status.success() {
        return Vec::new();
    }
    let mut out: Vec<String> = stdout(&o)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .flat_map(|v| {
            v["vfs_paths"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|p| p.as_str().map(str::to_owned))
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        })
        .collect();
    out.sort();
    out
}

fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[cfg(unix)]
#[test]
fn watch_indexes_follows_and_stops_cleanly_on_sigint() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    let watched = dir.path().join("inbox");
    std::fs::create_dir(&watched).unwrap();
    std::fs::write(watched.join("a.txt"), "alpha").unwrap();
    let child = command(&data)
        .args(["watch", watched.to_str().unwrap(), "--mount", "docs"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = Reaper(child);
    wait_for("the first pass", || paths_of(&data) == ["/docs/a.txt"]);
    std::fs::write(watched.join("b.txt"), "beta").unwrap();
    wait_for("the new file", || paths_of(&data) == ["/docs/a.txt", "/docs/b.txt"]);

    let pid = child.0.id().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = child.0.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "watch did not stop after SIGINT");
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut out = String::new();
    std::io::Read::read_to_string(child.0.stdout.as_mut().unwrap(), &mut out).unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(child.0.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert!(status.success(), "exit {status:?}\nstdout: {out}\nstderr: {err}");
    assert!(out.contains("watch /docs:"), "{out}");
    assert!(err.contains("stopping"), "{err}");
    // The lock is released: a writer can open the store again.
    ok(&pindex(&data, &["add", HELLO, "--size", "12"]));
}
