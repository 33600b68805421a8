//! A bulk-loaded store reads exactly as one that applied the same upserts in batches, before and after
//! later events, a reopen and a compaction; and a bulk load refuses what it cannot take without recording
//! any of it.

use pin_core::conformance::test_cid;
use pin_core::{ApplyOutcome, EventKind, Pin, PinStore, Tier, Timestamp};
use pin_store::{Error, ParquetPinStore, datafusion};
use tempfile::TempDir;

use crate::common::{access, batch, upsert};
use crate::runs::{Lcg, NEW_PER_ROUND, ROUNDS, agree, key_order, open, round};

async fn history_rows(store: &ParquetPinStore) -> Vec<String> {
    let batches = store
        .query("SELECT cid, seq, ts, event, status, tier FROM pin_history ORDER BY cid, seq")
        .await
        .unwrap();
    let text = datafusion::arrow::util::pretty::pretty_format_batches(&batches)
        .unwrap()
        .to_string();
    text.lines().map(str::to_owned).collect()
}

/// The upserts of the first `ROUNDS` rounds, as `(time, pin)` in ascending key order.
fn first_pins(rng: &mut Lcg) -> Vec<(Timestamp, Pin)> {
    let mut pins: Vec<(Timestamp, Pin)> = (0..ROUNDS)
        .flat_map(|r| round(r, rng))
        .filter_map(|e| match e.kind {
            EventKind::Upsert(p) => Some((e.ts, *p)),
            _ => None,
        })
        .collect();
    pins.sort_by(|a, b| a.1.cid.key().cmp(b.1.cid.key()).then(b.0.cmp(&a.0)));
    // One upsert per pin (a bulk load takes each key once); the plain store gets exactly these too.
    pins.dedup_by(|later, kept| later.1.cid == kept.1.cid);
    pins
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_load_reads_like_the_same_upserts_applied() {
    let (a, b) = (TempDir::new().unwrap(), TempDir::new().unwrap());
    let mut bulk = open(a.path(), true).await;
    let mut plain = open(b.path(), true).await;
    let mut rng = Lcg(11);
    let pins = first_pins(&mut rng);
    let known = ROUNDS * NEW_PER_ROUND;
    assert_eq!(pins.len() as u64, known);

    let mut load = bulk.bulk_load().await.unwrap();
    for (at, pin) in pins.clone() {
        load.push(at, pin).await.unwrap();
    }
    let report = load.finish().await.unwrap();
    assert_eq!((report.pins, report.seqs), (known, Some((1, known))));
    let events = pins
        .iter()
        .map(|(at, p)| pin_core::Event {
            ts: *at,
            kind: EventKind::Upsert(Box::new(p.clone())),
        })
        .collect();
    plain.apply(batch(events)).await.unwrap();
    plain.flush().await.unwrap();
    let st = bulk.status().await.unwrap();
    assert_eq!(
        (st.base_runs, st.base_rows, st.delta_pins),
        (1, known, 0),
        "one run, nothing else"
    );
    agree(&bulk, &plain, known, "after the load").await;
    assert_eq!(
        history_rows(&bulk).await,
        history_rows(&plain).await,
        "history after the load"
    );
    for i in [0, 7, known - 1] {
        assert_eq!(
            bulk.history(&test_cid(i), 10).await.unwrap(),
            plain.history(&test_cid(i), 10).await.unwrap()
        );
    }

    // Later events take the sequence numbers after the loaded pins, on both stores.
    for r in ROUNDS..ROUNDS + 3 {
        let events = round(r, &mut rng);
        let n = events.len() as u64;
        let (x, y) = (
            bulk.apply(batch(events.clone())).await.unwrap(),
            plain.apply(batch(events)).await.unwrap(),
        );
        assert_eq!(x, y);
        if r == ROUNDS {
            assert_eq!(
                x,
                ApplyOutcome::Applied {
                    events: n as usize,
                    seq: known + n
                }
            );
        }
    }
    let known = (ROUNDS + 3) * NEW_PER_ROUND;
    agree(&bulk, &plain, known, "after later events").await;

    // The WAL replays after the loaded pins: a reopen reads the same, and so does a compaction.
    drop(bulk);
    drop(plain);
    bulk = open(a.path(), true).await;
    plain = open(b.path(), true).await;
    agree(&bulk, &plain, known, "after a reopen").await;
    assert_eq!(
        history_rows(&bulk).await,
        history_rows(&plain).await,
        "history after a reopen"
    );
    bulk.compact().await.unwrap();
    plain.compact().await.unwrap();
    agree(&bulk, &plain, known, "both compacted").await;
    assert_eq!(
        history_rows(&bulk).await,
        history_rows(&plain).await,
        "history after compaction"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_load_refuses_bad_pins_and_full_stores_and_records_nothing_unfinished() {
    let dir = TempDir::new().unwrap();
    let store = crate::common::open(dir.path()).await;
    let mut keyed: Vec<Pin> = (0..4)
        .map(|i| match upsert(i, Tier::Ssd, 10 + i).kind {
            EventKind::Upsert(p) => *p,
            _ => unreachable!(),
        })
        .collect();
    keyed.sort_by(|a, b| a.cid.key().cmp(b.cid.key()));
    let at = Timestamp(1_000);

    // A load dropped unfinished leaves nothing behind but unreferenced objects.
    let mut load = store.bulk_load().await.unwrap();
    load.push(at, keyed[0].clone()).await.unwrap();
    drop(load);
    assert_eq!(store.metrics().await.unwrap().total_pins, 0);
    assert!(store.get(&keyed[0].cid).await.unwrap().is_none());

    let mut load = store.bulk_load().await.unwrap();
    load.push(at, keyed[1].clone()).await.unwrap();
    // Out of order, and a repeat: refused by name, and the load goes on.
    for pin in [keyed[0].clone(), keyed[1].clone()] {
        let err = load.push(at, pin.clone()).await.unwrap_err().to_string();
        assert!(
            err.contains(&pin.cid.to_string()) && err.contains("ascending key order"),
            "{err}"
        );
    }
    let mut long = keyed[2].clone();
    long.name = Some("n".repeat(300));
    let err = load.push(at, long).await.unwrap_err().to_string();
    assert!(err.contains("name") && err.contains(&keyed[2].cid.to_string()), "{err}");
    load.push(at, keyed[2].clone()).await.unwrap();
    assert_eq!(load.pins(), 2);
    assert_eq!(load.finish().await.unwrap().pins, 2);
    let m = store.metrics().await.unwrap();
    assert_eq!(
        (m.total_pins, m.total_size_bytes),
        (2, keyed[1].size_bytes + keyed[2].size_bytes)
    );
    assert_eq!(key_order(&store).await.len(), 2);

    // A store that holds pins, or only an access to a CID never pinned, takes no bulk load.
    let err = store.bulk_load().await.expect_err("refused");
    assert!(matches!(err, Error::NotEmpty(_)), "{err}");
    let other = TempDir::new().unwrap();
    let fresh = crate::common::open(other.path()).await;
    fresh.apply(batch(vec![access(3, at)])).await.unwrap();
    let err = fresh.bulk_load().await.expect_err("refused").to_string();
    assert!(err.contains("holds 1 pins or accessed CIDs"), "{err}");
    drop(fresh);
    let reader = ParquetPinStore::open_read_only(crate::common::config(other.path()))
        .await
        .unwrap();
    assert!(matches!(reader.bulk_load().await.err(), Some(Error::ReadOnly)));
}
