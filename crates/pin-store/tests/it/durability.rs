use std::io::Write;

use pin_core::conformance::{T0, test_cid};
use pin_core::{PinStore, Tier};
use pin_store::{Error, ParquetPinStore};
use tempfile::TempDir;

use crate::common::{access, batch, config, open, upsert};

fn wal_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir.join("wal"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn a_torn_wal_tail_is_cut_and_everything_before_it_kept() {
    let dir = TempDir::new().unwrap();
    {
        let store = open(dir.path()).await;
        for i in 0..5 {
            store.apply(batch(vec![upsert(i, Tier::Ssd, 10)])).await.unwrap();
        }
    }
    // A power cut in the middle of the sixth record: half a header and some payload.
    let wal = wal_files(dir.path()).pop().unwrap();
    let len = std::fs::metadata(&wal).unwrap().len();
    std::fs::OpenOptions::new()
        .append(true)
        .open(&wal)
        .unwrap()
        .write_all(&[200, 1, 0, 0, 9, 9, 9])
        .unwrap();
    let store = open(dir.path()).await;
    assert_eq!(std::fs::metadata(&wal).unwrap().len(), len, "the torn tail was not cut");
    assert_eq!(store.metrics().await.unwrap().total_pins, 5);
    // The store keeps working after the cut.
    store.apply(batch(vec![upsert(5, Tier::Ssd, 10)])).await.unwrap();
    drop(store);
    assert_eq!(open(dir.path()).await.metrics().await.unwrap().total_pins, 6);
}

#[tokio::test]
async fn a_corrupted_last_record_is_dropped_whole() {
    let dir = TempDir::new().unwrap();
    {
        let store = open(dir.path()).await;
        store.apply(batch(vec![upsert(1, Tier::Ssd, 10)])).await.unwrap();
        store
            .apply(batch(vec![upsert(2, Tier::Ssd, 10), upsert(3, Tier::Ssd, 10)]))
            .await
            .unwrap();
    }
    let wal = wal_files(dir.path()).pop().unwrap();
    let mut bytes = std::fs::read(&wal).unwrap();
    let last = bytes.len() - 3;
    bytes[last] ^= 0xff;
    std::fs::write(&wal, &bytes).unwrap();
    let store = open(dir.path()).await;
    assert!(store.get(&test_cid(1)).await.unwrap().is_some());
    // The damaged batch is gone entirely, never half of it.
    assert!(store.get(&test_cid(2)).await.unwrap().is_none());
    assert!(store.get(&test_cid(3)).await.unwrap().is_none());
    assert_eq!(store.metrics().await.unwrap().total_pins, 1);
}

#[tokio::test]
async fn a_corrupted_segment_is_reported_by_path() {
    let dir = TempDir::new().unwrap();
    {
        let store = open(dir.path()).await;
        store.apply(batch(vec![upsert(1, Tier::Ssd, 10)])).await.unwrap();
        store.flush().await.unwrap();
    }
    let delta = std::fs::read_dir(dir.path().join("store/pins"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut bytes = std::fs::read(&delta).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    std::fs::write(&delta, &bytes).unwrap();
    let err = ParquetPinStore::open(config(dir.path())).await.unwrap_err();
    let name = delta.file_name().unwrap().to_str().unwrap();
    assert!(matches!(err, Error::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains(name), "error does not name the file: {err}");
}

#[tokio::test]
async fn a_second_writer_is_refused_with_the_holder_named_and_readers_are_not_blocked() {
    let dir = TempDir::new().unwrap();
    let writer = open(dir.path()).await;
    writer.apply(batch(vec![upsert(1, Tier::Ssd, 10)])).await.unwrap();
    let err = ParquetPinStore::open(config(dir.path())).await.unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::Locked { .. }), "{msg}");
    assert!(
        msg.contains(&format!("pid {}", std::process::id())),
        "holder not named: {msg}"
    );
    // A reader sees every acknowledged batch, including those only in the WAL.
    let reader = ParquetPinStore::open_read_only(config(dir.path())).await.unwrap();
    assert_eq!(reader.metrics().await.unwrap().total_pins, 1);
    assert!(reader.get(&test_cid(1)).await.unwrap().is_some());
    assert!(matches!(reader.flush().await, Err(Error::ReadOnly)));
    let status = reader.status().await.unwrap();
    assert!(status.writer.unwrap().contains(&format!("pid {}", std::process::id())));
    // The reader keeps its snapshot while the writer flushes, compacts and writes on.
    writer.flush().await.unwrap();
    writer.apply(batch(vec![upsert(2, Tier::Hdd, 10)])).await.unwrap();
    writer.compact().await.unwrap();
    assert_eq!(reader.metrics().await.unwrap().total_pins, 1);
    assert!(reader.get(&test_cid(1)).await.unwrap().is_some());
    let fresh = ParquetPinStore::open_read_only(config(dir.path())).await.unwrap();
    assert_eq!(fresh.metrics().await.unwrap().total_pins, 2);
    drop(writer);
    // Once the writer is gone the lock is free again.
    drop(ParquetPinStore::open(config(dir.path())).await.unwrap());
}

#[tokio::test]
async fn compaction_and_vacuum_keep_every_pin_and_drop_only_garbage() {
    let dir = TempDir::new().unwrap();
    let mut cfg = config(dir.path());
    cfg.vacuum_grace_ms = 0;
    let clock = std::sync::Arc::new(pin_core::ManualClock::new(T0));
    let store = ParquetPinStore::open_with_clock(cfg.clone(), clock.clone())
        .await
        .unwrap();
    for round in 0..4u64 {
        let events = (0..50)
            .map(|i| upsert(round * 50 + i, Tier::Nvme, i))
            .chain((0..20).map(|i| access(i, T0)))
            .collect();
        store.apply(batch(events)).await.unwrap();
        store.flush().await.unwrap();
        if round % 2 == 1 {
            store.compact().await.unwrap();
        }
    }
    clock.advance(10);
    let before = store.metrics().await.unwrap();
    let report = store.vacuum().await.unwrap();
    assert!(report.deleted > 0, "nothing was garbage? {report:?}");
    let pins = store
        .list(&pin_core::PinQuery {
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .pins;
    assert_eq!(pins.len(), 200);
    assert_eq!(
        pins.iter()
            .find(|p| p.pin.cid == test_cid(3))
            .unwrap()
            .stats
            .access_count,
        4
    );
    drop(store);
    let reopened = ParquetPinStore::open_with_clock(cfg, clock).await.unwrap();
    assert_eq!(reopened.metrics().await.unwrap(), before);
    assert_eq!(reopened.accesses(&test_cid(3), 10).await.unwrap().len(), 4);
}

#[tokio::test]
async fn damage_before_valid_records_is_refused_not_cut() {
    let dir = TempDir::new().unwrap();
    {
        let store = open(dir.path()).await;
        for i in 0..3 {
            store.apply(batch(vec![upsert(i, Tier::Ssd, 10)])).await.unwrap();
        }
    }
    // Flip a byte inside the first record: the two acknowledged records after it must not be dropped.
    let wal = wal_files(dir.path()).pop().unwrap();
    let mut bytes = std::fs::read(&wal).unwrap();
    bytes[12] ^= 0xff;
    std::fs::write(&wal, &bytes).unwrap();
    let err = ParquetPinStore::open(config(dir.path())).await.unwrap_err();
    assert!(matches!(err, Error::Corrupt { .. }), "{err}");
    assert!(
        err.to_string().contains(wal.file_name().unwrap().to_str().unwrap()),
        "{err}"
    );
    assert_eq!(std::fs::read(&wal).unwrap(), bytes, "the WAL was modified");
}
