use pin_tiers::{Error, Trace};

#[test]
fn ndjson_events_become_requests_in_time_order() {
    let text = r#"{"type":"pin","cid":"bafyA","ts":"2026-01-01T00:00:00Z","size":1000000}
{"type":"access","cid":"bafyA","ts":"2026-01-01T00:00:02Z","op":"read","offset":0,"bytes":4096}
{"type":"access","cid":"bafyB","ts":1767225601000,"op":"read","offset":8192,"bytes":4096}

{"type":"tier","cid":"bafyA","ts":"2026-01-01T00:00:03Z","tier":"hdd"}
{"type":"access","cid":"bafyB","ts":"2026-01-01T00:00:05.500+00:00"}
"#;
    let t = Trace::from_ndjson(text).unwrap();
    assert_eq!(t.requests.len(), 3);
    let names: Vec<_> = t.requests.iter().map(|r| t.names[r.id as usize].as_str()).collect();
    assert_eq!(names, ["bafyB", "bafyA", "bafyB"], "sorted by time");
    assert_eq!(t.requests[0].time_ms, 1_767_225_601_000);
    assert_eq!(t.requests[2].time_ms, 1_767_225_605_500);
    let a = t.names.iter().position(|n| n == "bafyA").unwrap();
    let b = t.names.iter().position(|n| n == "bafyB").unwrap();
    assert_eq!(t.sizes[a], 1_000_000, "size from the pin line");
    assert_eq!(t.sizes[b], 12_288, "size from offset + bytes");
    assert_eq!(t.requests[1].bytes, 4096);
    assert_eq!(t.requests[2].bytes, 12_288, "no bytes: the whole object");
    assert_eq!(Trace::parse(text).unwrap(), t);
}

#[test]
fn csv_with_header_and_extra_columns() {
    let text = "timestamp,object,size,extra\n1,a,100,x\n2,b,50,y\n3,a,120,z\n";
    let t = Trace::from_csv(text, 1000.0).unwrap();
    assert_eq!(t.requests.len(), 3);
    assert_eq!(t.requests[1].time_ms, 2000);
    assert_eq!(t.sizes, vec![120, 50]);
    assert_eq!(t.requests[0].size, 120);
    assert_eq!(t.requests[0].bytes, 100);
    assert_eq!(t.working_set_bytes(), 170);
    let no_header = Trace::parse("1,a,100\n2,b,50\n").unwrap();
    assert_eq!(no_header.requests.len(), 2);
    let commented = Trace::parse("# exported by a cache simulator\n\ntime,id,size\n1,a,100\n").unwrap();
    assert_eq!(commented.requests.len(), 1, "a header after comments");
    let e = Trace::parse("1,a,100\ntime,id,size\n").unwrap_err();
    assert!(
        matches!(e, Error::Trace { line: 2, .. }),
        "only the first line may be a header: {e}"
    );
}

#[test]
fn bad_lines_are_named() {
    let e = Trace::from_csv("1,a,100\n2,b\n", 1.0).unwrap_err();
    assert!(matches!(e, Error::Trace { line: 2, .. }), "{e}");
    let e = Trace::from_csv("1,a,100\nsoon,b,5\n", 1.0).unwrap_err().to_string();
    assert!(e.contains("line 2") && e.contains("soon"), "{e}");
    let e = Trace::from_ndjson("{\"type\":\"access\",\"cid\":\"x\",\"ts\":\"yesterday\"}\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("line 1") && e.contains("yesterday"), "{e}");
    let e = Trace::from_ndjson("{\"type\":\"access\",\"cid\":\"x\",\"ts\":1}\nnot json\n").unwrap_err();
    assert!(matches!(e, Error::Trace { line: 2, .. }), "{e}");
}
