use datafusion::arrow::util::pretty::pretty_format_batches;
use pin_core::conformance::T0;
use pin_core::{Event, EventKind, PinStore, Tier};
use pin_store::datafusion;
use tempfile::TempDir;

use crate::common::{access, batch, open, upsert};

pub(crate) async fn table(store: &pin_store::ParquetPinStore, q: &str) -> String {
    pretty_format_batches(&store.query(q).await.unwrap())
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn pins_is_one_row_per_pin_across_base_delta_and_memory() {
    let dir = TempDir::new().unwrap();
    let store = open(dir.path()).await;
    store
        .apply(batch((0..10).map(|i| upsert(i, Tier::Ssd, 100)).collect()))
        .await
        .unwrap();
    store.compact().await.unwrap();
    // Changes in the delta segment and in memory override the base rows.
    store
        .apply(batch(vec![Event {
            ts: T0,
            kind: EventKind::Tier {
                cid: pin_core::conformance::test_cid(1),
                tier: Tier::Hdd,
            },
        }]))
        .await
        .unwrap();
    store.flush().await.unwrap();
    store
        .apply(batch(vec![
            upsert(2, Tier::Hdd, 1000),
            upsert(20, Tier::Memory, 5),
            access(3, T0),
        ]))
        .await
        .unwrap();
    let got = table(
        &store,
        "SELECT tier, count(*) AS pins, sum(size_bytes) AS bytes FROM pins GROUP BY tier ORDER BY tier",
    )
    .await;
    let expected = "\
+--------+------+------+
| tier   | pins | bytes |
+--------+------+------+";
    let _ = expected;
    assert!(got.contains("| hdd    | 2    | 1100  |"), "{got}");
    assert!(got.contains("| memory | 1    | 5     |"), "{got}");
    assert!(got.contains("| ssd    | 8    | 800   |"), "{got}");
    let m = store.metrics().await.unwrap();
    assert_eq!(m.total_pins, 11);
    let accessed = table(&store, "SELECT access_count FROM pins WHERE name = 'pin-00003'").await;
    assert!(accessed.contains("| 1 "), "{accessed}");
    let events = table(&store, "SELECT count(*) AS n FROM access_events").await;
    assert!(events.contains("| 1 |"), "{events}");
    let history = table(&store, "SELECT event, tier FROM pin_history WHERE event = 'tier'").await;
    assert!(history.contains("| tier  | hdd  |"), "{history}");
}

#[tokio::test]
async fn sql_is_read_only_and_errors_name_the_problem() {
    let dir = TempDir::new().unwrap();
    let store = open(dir.path()).await;
    store.apply(batch(vec![upsert(1, Tier::Ssd, 1)])).await.unwrap();
    for q in [
        "DELETE FROM pins",
        "DROP TABLE pins",
        "CREATE TABLE x AS SELECT 1",
        "INSERT INTO pins SELECT * FROM pins",
        "SET datafusion.execution.batch_size = 1",
    ] {
        assert!(store.sql(q).await.is_err(), "{q} was allowed");
    }
    let err = store.sql("SELECT nope FROM pins").await.unwrap_err().to_string();
    assert!(err.contains("nope"), "{err}");
    // Internal columns are not part of the public table.
    assert!(store.sql("SELECT _key FROM pins").await.is_err());
    assert_eq!(
        table(&store, "SELECT count(*) AS n FROM pins")
            .await
            .matches("| 1 |")
            .count(),
        1
    );
}

#[tokio::test]
async fn every_cid_spelling_survives_flush_and_compaction() {
    let dir = TempDir::new().unwrap();
    let store = open(dir.path()).await;
    let spellings = [
        "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG",
        "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy",
        "zdj7WWeQ43G6JJvLWQWZpyHuAMq6uYWRjkBXFad11vE2LHhQ7",
    ];
    // Each spelling is pinned and read, so `pins`, `pin_history` and `access_events` all hold it; the
    // last one's key does not imply it, so it is the one spelling the segments store.
    let events = spellings
        .iter()
        .flat_map(|s| {
            let cid = pin_core::Cid::parse(s).unwrap();
            [
                Event {
                    ts: T0,
                    kind: EventKind::Upsert(Box::new(pin_core::Pin::new(cid.clone(), Tier::Ssd, T0))),
                },
                Event {
                    ts: T0.plus_millis(1),
                    kind: EventKind::Access(pin_core::Access {
                        cid,
                        op: pin_core::AccessOp::Read,
                        offset: None,
                        length: Some(1),
                        tier: None,
                        vfs_path: None,
                        latency_us: None,
                    }),
                },
            ]
        })
        .collect();
    store.apply(batch(events)).await.unwrap();
    for step in 0..3 {
        match step {
            1 => store.flush().await.unwrap(),
            2 => store.compact().await.unwrap(),
            _ => {}
        }
        let listed = table(&store, "SELECT cid FROM pins ORDER BY cid").await;
        let history = table(&store, "SELECT cid FROM pin_history ORDER BY cid").await;
        let accesses = table(&store, "SELECT cid FROM access_events ORDER BY cid").await;
        for s in spellings {
            assert!(listed.contains(s), "step {step}: {s} missing from\n{listed}");
            assert!(history.contains(s), "step {step}: {s} missing from\n{history}");
            assert!(accesses.contains(s), "step {step}: {s} missing from\n{accesses}");
            let got = store.get(&pin_core::Cid::parse(s).unwrap()).await.unwrap().unwrap();
            assert_eq!(got.pin.cid.as_str(), s, "step {step}");
        }
    }
}

/// `vfs_events` holds every VFS operation, flushed (one segment per day) or still in memory, across a
/// restart; the operations make no pin.
#[tokio::test]
async fn vfs_events_log_every_operation_across_days_and_restarts() {
    let dir = TempDir::new().unwrap();
    let store = open(dir.path()).await;
    let op = |i: i64, kind: pin_core::VfsOpKind, ok: bool| {
        let mut v = pin_core::VfsOperation::new(kind, "/data", format!("/data/f{i}"));
        v.ok = ok;
        v.length = Some(10 * i as u64);
        Event {
            ts: T0.plus_millis(i * 43_200_000),
            kind: EventKind::Vfs(Box::new(v)),
        }
    };
    use pin_core::VfsOpKind::{Create, Read, Write};
    store
        .apply(batch(vec![
            op(0, Create, true),
            op(1, Read, true),
            op(2, Read, false),
            op(3, Write, true),
        ]))
        .await
        .unwrap();
    store.flush().await.unwrap();
    store.apply(batch(vec![op(4, Read, true)])).await.unwrap();
    let q = "SELECT op, count(*) AS n, sum(CASE WHEN ok THEN 0 ELSE 1 END) AS failed, sum(length) AS bytes \
             FROM vfs_events GROUP BY op ORDER BY op";
    let before = table(&store, q).await;
    assert!(before.contains("| read   | 3 | 1      | 70    |"), "{before}");
    assert!(before.contains("| create | 1 | 0      | 0     |"), "{before}");
    assert!(before.contains("| write  | 1 | 0      | 30    |"), "{before}");
    let files: Vec<_> = std::fs::read_dir(dir.path().join("store/vfs")).unwrap().collect();
    assert_eq!(files.len(), 2, "one partition per day of the flushed operations");
    assert_eq!(store.metrics().await.unwrap().total_pins, 0);
    drop(store);
    let store = open(dir.path()).await;
    assert_eq!(table(&store, q).await, before);
}
