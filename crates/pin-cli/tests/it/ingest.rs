//! `pindex ingest`: good and bad lines, --strict, re-ingesting, ids, CSV and standard input.

use tempfile::TempDir;

use crate::common::{cid, metrics, ok, pindex, pindex_stdin, stderr, stdout, track};

fn sample() -> String {
    let (a, b) = (cid(1), cid(2));
    [
        format!(r#"{{"type":"pin","cid":"{a}","ts":"2026-01-01T00:00:00Z","name":"a","size":100,"tier":"ssd","status":"pinned","meta":{{"team":"ml"}}}}"#),
        format!(r#"{{"type":"pin","cid":"{b}","ts":1767225600000,"size":50,"tier":"hdd"}}"#),
        r#"{"type":"pin","cid":"Qmfoo"}"#.to_owned(),
        String::new(),
        format!(r#"{{"type":"access","cid":"{a}","ts":"2026-01-01T01:00:00Z","op":"read","offset":0,"bytes":10}}"#),
        format!(r#"{{"type":"access","cid":"{a}","ts":"2026-01-01T02:00:00Z","size":3}}"#),
        format!(r#"{{"type":"status","cid":"{b}","ts":"2026-01-02T00:00:00Z","status":"failed","reason":"disk full"}}"#),
        format!(r#"{{"type":"tier","cid":"{a}","ts":"2026-01-03T00:00:00Z","tier":"nvme"}}"#),
        format!(r#"{{"type":"unpin","cid":"{b}","ts":"2026-01-04T00:00:00Z"}}"#),
    ]
    .join("\n")
        + "\n"
}

#[test]
fn bad_lines_are_named_skipped_and_counted_in_the_exit_code() {
    let dir = TempDir::new().unwrap();
    let file = dir.path().join("events.ndjson");
    std::fs::write(&file, sample()).unwrap();
    let data = dir.path().join("data");
    let o = pindex(&data, &["ingest", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("events.ndjson:3: invalid CID \"Qmfoo\""), "{err}");
    assert!(
        err.contains("events.ndjson:6: field \"size\" does not apply to access events"),
        "{err}"
    );
    assert!(err.contains("2 bad lines skipped"), "{err}");
    assert!(stdout(&o).contains("recorded 6 events"), "{}", stdout(&o));

    let m = metrics(&data);
    assert_eq!(m["total_accesses"], 1);
    assert_eq!(m["statuses"]["unpinned"], 1);
    assert_eq!(m["statuses"]["pinned"], 1);
    assert_eq!(m["total_pins"], 1);
    assert_eq!(m["tiers"]["nvme"]["pins"], 1);
    let t = track(&data, &cid(2));
    assert_eq!(t["pin"]["status"], "unpinned");
    let events: Vec<&str> = t["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["event"].as_str().unwrap())
        .collect();
    assert_eq!(events, ["unpin", "status", "upsert"]);
    assert_eq!(t["history"][1]["reason"], "disk full");
}

#[test]
fn strict_rejects_the_whole_input_and_records_nothing() {
    let dir = TempDir::new().unwrap();
    let file = dir.path().join("events.ndjson");
    std::fs::write(&file, sample()).unwrap();
    let data = dir.path().join("data");
    let o = pindex(&data, &["ingest", "--strict", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("nothing recorded (--strict)"), "{}", stderr(&o));
    let m = metrics(&data);
    assert_eq!(m["total_accesses"], 0);
    assert_eq!(
        m["statuses"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_u64().unwrap())
            .sum::<u64>(),
        0
    );
    // Standard input is checked whole too; a clean input goes in.
    let bad = pindex_stdin(&data, &["ingest", "--strict", "-"], &sample());
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("-:3: invalid CID"), "{}", stderr(&bad));
    let clean: String = sample()
        .lines()
        .filter(|l| !l.contains("Qmfoo") && !l.contains("\"size\":3"))
        .map(|l| format!("{l}\n"))
        .collect();
    ok(&pindex_stdin(&data, &["ingest", "--strict", "-"], &clean));
    assert_eq!(metrics(&data)["total_accesses"], 1);
}

#[test]
fn the_same_content_twice_is_a_no_op_unless_forced() {
    let dir = TempDir::new().unwrap();
    let file = dir.path().join("accesses.ndjson");
    let lines: String = (0..120)
        .map(|i| {
            format!(
                "{{\"type\":\"access\",\"cid\":\"{}\",\"ts\":{}}}\n",
                cid(i % 7),
                1_767_225_600_000u64 + i
            )
        })
        .collect();
    std::fs::write(&file, lines).unwrap();
    let data = dir.path().join("data");
    let path = file.to_str().unwrap();
    assert!(ok(&pindex(&data, &["ingest", path])).contains("recorded 120 events"));
    let again = ok(&pindex(&data, &["ingest", path]));
    assert!(
        again.contains("already ingested (120 events); nothing recorded"),
        "{again}"
    );
    assert_eq!(metrics(&data)["total_accesses"], 120);
    ok(&pindex(&data, &["ingest", "--force", path]));
    assert_eq!(metrics(&data)["total_accesses"], 240);
}

#[test]
fn an_event_id_is_applied_once_whatever_file_carries_it() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    let line = |id: &str, ts: u64| {
        format!(
            "{{\"type\":\"access\",\"cid\":\"{}\",\"ts\":{ts},\"id\":\"{id}\"}}\n",
            cid(1)
        )
    };
    let first = format!("{}{}", line("a1", 1), line("a2", 2));
    let second = format!(
        "{}{}{}",
        line("a2", 20),
        line("a3", 3),
        "{\"type\":\"access\",\"cid\":\"".to_owned() + &cid(1) + "\",\"ts\":4}\n"
    );
    ok(&pindex_stdin(&data, &["ingest", "-"], &first));
    let o = ok(&pindex_stdin(&data, &["ingest", "-"], &second));
    assert!(
        o.contains("recorded 2 events") && o.contains("1 already recorded before"),
        "{o}"
    );
    assert_eq!(metrics(&data)["total_accesses"], 4);
}

#[test]
fn csv_takes_the_same_fields_and_names_bad_rows_and_columns() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    let csv = format!(
        "type,cid,ts,name,size,tier,meta.team,op,bytes\n\
         pin,{a},2026-01-01T00:00:00Z,\"a, with comma\",2048,ssd,ml,,\n\
         access,{a},2026-01-01T01:00:00Z,,,,,read,100\n\
         access,{a},2026-01-01T02:00:00Z,,,,,read,lots\n",
        a = cid(5)
    );
    let o = pindex_stdin(&data, &["ingest", "--format", "csv", "-"], &csv);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("-:4: bytes \"lots\""), "{}", stderr(&o));
    let t = track(&data, &cid(5));
    assert_eq!(t["pin"]["name"], "a, with comma");
    assert_eq!(t["pin"]["meta"]["team"], "ml");
    assert_eq!(t["pin"]["size_bytes"], 2048);
    assert_eq!(t["stats"]["bytes_read"], 100);
    let unknown = pindex_stdin(&data, &["ingest", "--format", "csv", "-"], "type,cid,colour\n");
    assert_eq!(unknown.status.code(), Some(2));
    assert!(
        stderr(&unknown).contains("unknown CSV column \"colour\""),
        "{}",
        stderr(&unknown)
    );
    let missing = pindex(&data, &["ingest", "/nonexistent/events.ndjson"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("/nonexistent/events.ndjson"));
}
