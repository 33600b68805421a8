//! Listings over one snapshot: the key-ordered scan, sorted listings with keyset cursors, and exports.

use std::sync::Mutex;

use pin_core::conformance::T0;
use pin_core::{PinFilter, PinStatus, PinStore, PinView, Tier};
use pin_store::{ExportTable, PinSort, Reporter, SortCursor, SortedQuery};
use tempfile::TempDir;

use crate::common::{access, batch, open, upsert};

/// 60 pins with sizes that repeat (so ties are broken by key), half compacted into the base, a third
/// changed since, and accesses on some.
async fn store(dir: &std::path::Path) -> pin_store::ParquetPinStore {
    let store = open(dir).await;
    let tiers = [Tier::Ssd, Tier::Hdd, Tier::Ipfs];
    store
        .apply(batch(
            (0..40)
                .map(|i| upsert(i, tiers[(i % 3) as usize], (i % 7) * 100))
                .collect(),
        ))
        .await
        .unwrap();
    store.compact().await.unwrap();
    store
        .apply(batch(
            (20..60)
                .map(|i| upsert(i, tiers[(i % 3) as usize], (i % 7) * 100))
                .collect(),
        ))
        .await
        .unwrap();
    store.flush().await.unwrap();
    let mut events: Vec<_> = (0..30)
        .map(|i| access(i % 10, T0.plus_millis(i as i64 * 1000)))
        .collect();
    events.push(pin_core::Event {
        ts: T0,
        kind: pin_core::EventKind::Unpin {
            cid: pin_core::conformance::test_cid(5),
        },
    });
    store.apply(batch(events)).await.unwrap();
    store
}

async fn drain_scan(store: &pin_store::ParquetPinStore, filter: PinFilter) -> Vec<PinView> {
    let mut scan = store.scan(filter, None).await.unwrap();
    let mut out = Vec::new();
    while let Some(v) = scan.next().await.unwrap() {
        out.push(v);
    }
    out
}

#[tokio::test]
async fn the_scan_agrees_with_list_in_key_order() {
    let dir = TempDir::new().unwrap();
    let store = Box::pin(store(dir.path())).await;
    let all = drain_scan(&store, PinFilter::default()).await;
    assert_eq!(all.len(), 60);
    let page = store
        .list(&pin_core::PinQuery {
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.pins, all);
    let hdd = drain_scan(
        &store,
        PinFilter {
            tier: Some(Tier::Hdd),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(hdd.len(), 20);
    assert!(hdd.iter().all(|v| v.pin.primary_tier == Tier::Hdd));
    // Read ahead in chunks that do and do not divide the count: the same pins, no empty chunk.
    for chunk in [1, 7, 20, 60, 1000] {
        let mut chunks = store
            .scan(PinFilter::default(), None)
            .await
            .unwrap()
            .read_ahead(chunk, 2);
        let mut read = Vec::new();
        while let Some(pins) = chunks.next().await.unwrap() {
            assert!(!pins.is_empty() && pins.len() <= chunk);
            read.extend(pins);
        }
        assert_eq!(read, all, "chunks of {chunk}");
        assert!(chunks.next().await.unwrap().is_none(), "the end stays the end");
    }
    // A filter that empties some chunks: the matching pins, in order, and still no empty chunk.
    let mut chunks = store
        .scan(
            PinFilter {
                tier: Some(Tier::Hdd),
                ..Default::default()
            },
            None,
        )
        .await
        .unwrap()
        .read_ahead(3, 1);
    let mut read = Vec::new();
    while let Some(pins) = chunks.next().await.unwrap() {
        assert!(!pins.is_empty() && pins.len() <= 3);
        read.extend(pins);
    }
    assert_eq!(read, hdd);
    // A function applied to each chunk by the decoders: its results, in key order.
    let mut chunks = store
        .scan(PinFilter::default(), None)
        .await
        .unwrap()
        .read_ahead_map(7, 2, |pins| pins.into_iter().map(|v| v.pin.cid).collect::<Vec<_>>());
    let mut cids = Vec::new();
    while let Some(c) = chunks.next().await.unwrap() {
        cids.extend(c);
    }
    assert_eq!(cids, all.iter().map(|v| v.pin.cid.clone()).collect::<Vec<_>>());
}

async fn sorted_pages(
    store: &pin_store::ParquetPinStore,
    sort: PinSort,
    descending: bool,
    page: usize,
) -> Vec<PinView> {
    let mut out: Vec<PinView> = Vec::new();
    let mut after: Option<SortCursor> = None;
    loop {
        let q = SortedQuery {
            filter: PinFilter::default(),
            live_only: false,
            sort,
            descending,
            after: after.clone(),
            limit: Some(page),
        };
        let mut rows = store.sorted(&q).await.unwrap();
        let mut n = 0;
        while let Some(v) = rows.next().await.unwrap() {
            n += 1;
            out.push(v);
        }
        if n < page {
            return out;
        }
        // The cursor survives its text form.
        let c = SortCursor::after(out.last().unwrap(), sort, descending).to_string();
        after = Some(SortCursor::parse(&c, sort, descending).unwrap());
    }
}

#[tokio::test]
async fn sorted_pages_cover_every_pin_once_in_order() {
    let dir = TempDir::new().unwrap();
    let store = Box::pin(store(dir.path())).await;
    for (sort, desc) in [
        (PinSort::Size, true),
        (PinSort::Size, false),
        (PinSort::Name, false),
        (PinSort::Hotness, true),
        (PinSort::Accesses, true),
        (PinSort::LastAccess, true),
        (PinSort::Key, false),
        (PinSort::Key, true),
    ] {
        let got = sorted_pages(&store, sort, desc, 7).await;
        assert_eq!(got.len(), 60, "{sort} {desc}");
        let mut keys: Vec<&[u8]> = got.iter().map(|v| v.pin.cid.key()).collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), 60, "{sort} {desc}: a pin twice");
        if sort == PinSort::Size {
            let sizes: Vec<u64> = got.iter().map(|v| v.pin.size_bytes).collect();
            assert!(
                sizes.windows(2).all(|w| if desc { w[0] >= w[1] } else { w[0] <= w[1] }),
                "{sizes:?}"
            );
        }
        if sort == PinSort::Hotness {
            let at = T0.plus_millis(86_400_000);
            let h: Vec<f64> = got.iter().map(|v| v.stats.hotness_at(at)).collect();
            assert!(h.windows(2).all(|w| w[0] >= w[1] - 1e-9), "{h:?}");
            assert!(got[..10].iter().all(|v| v.stats.access_count > 0));
        }
    }
    // Top-k of live pins leaves the unpinned one out.
    let q = SortedQuery {
        filter: PinFilter::default(),
        live_only: true,
        sort: PinSort::Accesses,
        descending: true,
        after: None,
        limit: Some(10),
    };
    let mut rows = store.sorted(&q).await.unwrap();
    let mut n = 0;
    while let Some(v) = rows.next().await.unwrap() {
        assert_ne!(v.pin.status, PinStatus::Unpinned);
        n += 1;
    }
    assert_eq!(n, 10);
    assert!(SortCursor::parse("size-:zz:1", PinSort::Size, true).is_err());
    assert!(SortCursor::parse("name:00:s00", PinSort::Size, true).is_err());
}

#[derive(Default)]
struct Recorder(Mutex<Vec<(String, Option<u64>, u64)>>);

impl Reporter for Recorder {
    fn start(&self, phase: &str, total: Option<u64>) {
        self.0.lock().unwrap().push((phase.to_owned(), total, 0));
    }
    fn advance(&self, n: u64) {
        if let Some(last) = self.0.lock().unwrap().last_mut() {
            last.2 += n;
        }
    }
    fn finish(&self) {}
}

#[tokio::test]
async fn export_writes_the_snapshot_and_compaction_reports_progress() {
    use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use pin_store::datafusion;
    let dir = TempDir::new().unwrap();
    let store = Box::pin(store(dir.path())).await;
    let path = dir.path().join("pins.parquet");
    assert_eq!(store.export_parquet(ExportTable::Pins, &path).await.unwrap(), 60);
    let rows: usize = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&path).unwrap())
        .unwrap()
        .build()
        .unwrap()
        .map(|b| b.unwrap().num_rows())
        .sum();
    assert_eq!(rows, 60);
    let access = dir.path().join("access.parquet");
    assert_eq!(
        store.export_parquet(ExportTable::AccessEvents, &access).await.unwrap(),
        30
    );

    let r = Recorder::default();
    store.compact_with(&r).await.unwrap();
    let phases = r.0.lock().unwrap().clone();
    let names: Vec<&str> = phases.iter().map(|p| p.0.as_str()).collect();
    // The store was flushed twice before, so its two history segments are merged first.
    assert_eq!(names, ["flushing", "merging history", "merging"], "{phases:?}");
    assert_eq!(phases[1].1, Some(phases[1].2), "{phases:?}");
    assert_eq!(phases[2].2, 60, "{phases:?}");
    assert!(phases[2].1.unwrap() >= 60);
}

/// `top_pins` the slow way: DataFusion top-k over the whole table.
async fn top_by_sql(store: &pin_store::ParquetPinStore, sort: PinSort, k: usize) -> Vec<String> {
    let q = SortedQuery {
        filter: PinFilter::default(),
        live_only: true,
        sort,
        descending: true,
        after: None,
        limit: Some(k),
    };
    let mut rows = store.sorted(&q).await.unwrap();
    let mut out = Vec::new();
    while let Some(v) = rows.next().await.unwrap() {
        if sort == PinSort::Hotness && v.stats.access_count == 0 {
            break;
        }
        out.push(v.pin.cid.to_string());
    }
    out
}

async fn check_top(store: &pin_store::ParquetPinStore, what: &str) {
    assert!(
        store.top_pins_recorded(12).await.unwrap().is_some(),
        "{what}: not from the manifest"
    );
    for k in [1, 3, 12] {
        let (largest, hottest) = store.top_pins(k).await.unwrap();
        let l: Vec<String> = largest.iter().map(|v| v.pin.cid.to_string()).collect();
        let h: Vec<String> = hottest.iter().map(|v| v.pin.cid.to_string()).collect();
        assert_eq!(l, top_by_sql(store, PinSort::Size, k).await, "largest, k={k}, {what}");
        assert_eq!(
            h,
            top_by_sql(store, PinSort::Hotness, k).await,
            "hottest, k={k}, {what}"
        );
        assert!(
            largest
                .iter()
                .chain(&hottest)
                .all(|v| v.pin.status != PinStatus::Unpinned)
        );
    }
}

#[tokio::test]
async fn top_pins_from_the_manifest_agree_with_a_full_scan() {
    let dir = TempDir::new().unwrap();
    let store = Box::pin(store(dir.path())).await;
    check_top(&store, "changes on a compacted base").await;
    store.compact().await.unwrap();
    check_top(&store, "right after compaction").await;
    // Change the best of the base: shrink the largest, unpin one, access a cold pin a lot.
    let largest = store.top_pins(1).await.unwrap().0[0].pin.cid.clone();
    let mut shrunk = pin_core::conformance::test_pin(0, Tier::Ssd, 1);
    shrunk.cid = largest;
    let mut events = vec![pin_core::Event {
        ts: T0,
        kind: pin_core::EventKind::Upsert(Box::new(shrunk)),
    }];
    events.push(pin_core::Event {
        ts: T0,
        kind: pin_core::EventKind::Unpin {
            cid: pin_core::conformance::test_cid(3),
        },
    });
    events.extend((0..25).map(|i| access(55, T0.plus_millis(100_000 + i))));
    events.push(upsert(70, Tier::Memory, 10_000));
    store.apply(batch(events)).await.unwrap();
    check_top(&store, "with changes in memory").await;
    store.flush().await.unwrap();
    check_top(&store, "with changes in the delta").await;
}

/// After a compaction the manifest names a small object with the rows of its top lists' pins: a reader
/// answers `metrics` and the top lists with the base's file gone, and only a lookup in the base misses it.
#[tokio::test]
async fn metrics_and_top_lists_are_answered_without_reading_the_base() {
    let dir = TempDir::new().unwrap();
    let store = Box::pin(store(dir.path())).await;
    store.compact().await.unwrap();
    let metrics = store.metrics().await.unwrap();
    let top = store.top_pins(12).await.unwrap();
    assert!(!top.0.is_empty() && !top.1.is_empty(), "{top:?}");
    drop(store);
    // The newest base file is the one the manifest names (older ones wait for vacuum).
    let base = std::fs::read_dir(dir.path().join("store/pins"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_str().unwrap().starts_with("base-"))
        .max()
        .unwrap();
    std::fs::remove_file(&base).unwrap();
    let reader = pin_store::ParquetPinStore::open_read_only_with_clock(
        crate::common::config(dir.path()),
        std::sync::Arc::new(pin_core::ManualClock::new(T0)),
    )
    .await
    .unwrap();
    assert_eq!(reader.metrics().await.unwrap(), metrics);
    assert_eq!(reader.top_pins(12).await.unwrap(), top);
    let err = reader.get(&top.0[0].pin.cid).await.unwrap_err().to_string();
    let name = base.file_name().unwrap().to_str().unwrap();
    assert!(err.contains(name), "the lookup's error does not name the base: {err}");
}

/// Accesses to 3,000 CIDs, interleaved in time, flushed as one segment of several pages: each CID's
/// accesses are found whole and newest first through the page index, wherever its rows fall.
#[tokio::test]
async fn one_cids_accesses_are_found_in_a_segment_of_many_pages() {
    let dir = TempDir::new().unwrap();
    let store = open(dir.path()).await;
    let (cids, rounds) = (3_000u64, 4u64);
    let at = |round: u64, i: u64| T0.plus_millis((round * cids + i) as i64);
    let events = (0..rounds)
        .flat_map(|r| (0..cids).map(move |i| (r, i)))
        .map(|(r, i)| access(i, at(r, i)))
        .collect();
    store.apply(batch(events)).await.unwrap();
    store.flush().await.unwrap();
    // Reopened after the flush, nothing is in memory: every access is read from the segment.
    drop(store);
    let store = open(dir.path()).await;
    for i in (0..cids).step_by(7).chain([cids - 1]) {
        let found: Vec<_> = store
            .accesses(&pin_core::conformance::test_cid(i), 10)
            .await
            .unwrap()
            .iter()
            .map(|a| a.ts)
            .collect();
        let want: Vec<_> = (0..rounds).rev().map(|r| at(r, i)).collect();
        assert_eq!(found, want, "accesses of CID {i}");
    }
    let absent = pin_core::conformance::test_cid(cids + 1);
    assert!(store.accesses(&absent, 10).await.unwrap().is_empty());
}

/// One pin's history and accesses spread over many flushed segments (and several day partitions), read
/// newest first with limits that end inside a segment, at a segment's edge and beyond everything.
#[tokio::test]
async fn history_and_accesses_come_newest_first_across_segments() {
    let dir = TempDir::new().unwrap();
    let store = open(dir.path()).await;
    let c = pin_core::conformance::test_cid(1);
    let day = 86_400_000;
    let mut seqs_of_accesses = Vec::new();
    let mut seqs_of_history = Vec::new();
    for round in 0..6u64 {
        // Each round: a tier change of pin 1, accesses of pin 1 on two days, noise from other pins.
        let tier = [Tier::Ssd, Tier::Hdd][(round % 2) as usize];
        let mut events = vec![upsert(1, tier, 100), upsert(2 + round, Tier::Ipfs, 10)];
        for k in 0..3 {
            events.push(access(1, T0.plus_millis(round as i64 * day / 2 + k)));
            events.push(access(3, T0.plus_millis(round as i64 * day / 2 + k)));
        }
        let outcome = store.apply(batch(events)).await.unwrap();
        let pin_core::ApplyOutcome::Applied { seq, .. } = outcome else {
            panic!("{outcome:?}")
        };
        let first = seq - 7;
        seqs_of_history.push(first);
        seqs_of_accesses.extend([first + 2, first + 4, first + 6]);
        if round < 5 {
            store.flush().await.unwrap();
        }
    }
    seqs_of_history.reverse();
    seqs_of_accesses.reverse();
    for limit in [0, 1, 2, 3, 4, 7, 17, 18, 100] {
        let h: Vec<u64> = store.history(&c, limit).await.unwrap().iter().map(|e| e.seq).collect();
        let want: Vec<u64> = seqs_of_history.iter().copied().take(limit).collect();
        assert_eq!(h, want, "history, limit {limit}");
        let a: Vec<u64> = store.accesses(&c, limit).await.unwrap().iter().map(|e| e.seq).collect();
        let want: Vec<u64> = seqs_of_accesses.iter().copied().take(limit).collect();
        assert_eq!(a, want, "accesses, limit {limit}");
    }
    // The same after a compaction and a restart, with nothing left in memory.
    store.compact().await.unwrap();
    drop(store);
    let store = open(dir.path()).await;
    let a: Vec<u64> = store.accesses(&c, 100).await.unwrap().iter().map(|e| e.seq).collect();
    assert_eq!(a, seqs_of_accesses);
    let h: Vec<u64> = store.history(&c, 100).await.unwrap().iter().map(|e| e.seq).collect();
    assert_eq!(h, seqs_of_history);
}

/// Compaction merges the history segments of many flushes into segments sorted by key; every pin's
/// history, and the `pin_history` table, are the same before and after, and again after a restart.
#[tokio::test]
async fn merged_history_segments_keep_every_change() {
    let dir = TempDir::new().unwrap();
    let store = open(dir.path()).await;
    let tiers = [Tier::Ssd, Tier::Hdd, Tier::Ipfs, Tier::Nvme];
    // Eight flushes; pin i changes tier in the flushes where i % (round + 2) == 0, so pins have from one
    // to eight changes, spread over the segments.
    for round in 0..8u64 {
        let events: Vec<_> = (0..50)
            .filter(|i| round == 0 || i % (round + 2) == 0)
            .map(|i| upsert(i, tiers[((i + round) % 4) as usize], 100))
            .collect();
        store.apply(batch(events)).await.unwrap();
        store.flush().await.unwrap();
    }
    let histories = async |store: &pin_store::ParquetPinStore| {
        let mut out = Vec::new();
        for i in 0..50 {
            let c = pin_core::conformance::test_cid(i);
            let h = store.history(&c, 100).await.unwrap();
            out.push(h.iter().map(|e| (e.seq, e.tier)).collect::<Vec<_>>());
        }
        out
    };
    let count = async |store: &pin_store::ParquetPinStore| {
        crate::sql::table(store, "SELECT count(*) AS n FROM pin_history").await
    };
    let before = histories(&store).await;
    assert!(before.iter().any(|h| h.len() >= 5), "some pins change in many flushes");
    let rows = count(&store).await;
    let segments = store.status().await.unwrap().segments;
    store.compact().await.unwrap();
    let after = store.status().await.unwrap().segments;
    // Eight history segments become one; the delta becomes the base, beside which the rows of its top
    // lists are one object more.
    assert_eq!(after + 6, segments, "segments before {segments}, after {after}");
    assert_eq!(histories(&store).await, before);
    assert_eq!(count(&store).await, rows);
    drop(store);
    let store = open(dir.path()).await;
    assert_eq!(histories(&store).await, before);
    assert_eq!(count(&store).await, rows);
}

/// Newest-first pages agree with a full sort of every pin, whichever list answers them: the delta's index,
/// the base's recorded newest pins, or (deep pages, rare filters) the sorted DataFusion listing. The store
/// mixes ties in creation time, pins upserted again (their creation time stays the older one), status
/// patches on base pins, pins created with old timestamps after the compaction, and a memtable.
#[tokio::test]
async fn newest_first_pages_agree_with_a_full_sort() {
    use pin_core::{EventKind, ListOrder, PinQuery, PinStatus, Timestamp};
    let dir = TempDir::new().unwrap();
    let store = open(dir.path()).await;
    let statuses = [PinStatus::Pinned, PinStatus::Queued, PinStatus::Failed];
    let pin_at = |i: u64, at: i64| {
        let mut p = pin_core::conformance::test_pin(i, Tier::Ssd, i);
        p.status = statuses[(i % 3) as usize];
        pin_core::Event {
            ts: T0.plus_millis(at),
            kind: EventKind::Upsert(Box::new(p)),
        }
    };
    // 1,500 pins, three a millisecond, in scrambled order; compacted into the base.
    let order: Vec<u64> = (0..1500u64).map(|i| (i * 7919) % 1500).collect();
    store
        .apply(batch(order.iter().map(|&i| pin_at(i, (i / 3) as i64)).collect()))
        .await
        .unwrap();
    store.compact().await.unwrap();
    // Re-upserts of base pins later on (creation time stays), status patches, new pins old and new.
    let mut events: Vec<_> = (0..1500u64).step_by(15).map(|i| pin_at(i, 10_000 + i as i64)).collect();
    events.extend((5..1500u64).step_by(17).map(|i| pin_core::Event {
        ts: T0.plus_millis(20_000),
        kind: EventKind::Status {
            cid: pin_core::conformance::test_cid(i),
            status: PinStatus::Failed,
            reason: None,
        },
    }));
    events.extend((1500..1600u64).map(|i| pin_at(i, (i as i64 - 1500) * 4)));
    store.apply(batch(events)).await.unwrap();
    store.flush().await.unwrap();
    store
        .apply(batch(
            (1600..1700u64)
                .map(|i| pin_at(i, 600 + (i as i64 - 1600) / 2))
                .collect(),
        ))
        .await
        .unwrap();

    let all = drain_scan(&store, PinFilter::default()).await;
    assert_eq!(all.len(), 1700);
    let reference = |filter: &PinFilter, limit: usize| -> Vec<String> {
        let mut v: Vec<&PinView> = all.iter().filter(|p| filter.matches(p)).collect();
        v.sort_by(|a, b| {
            b.pin
                .created_at
                .cmp(&a.pin.created_at)
                .then_with(|| a.pin.cid.key().cmp(b.pin.cid.key()))
        });
        v.iter().take(limit).map(|p| p.pin.cid.to_string()).collect()
    };
    let filters = [
        PinFilter::default(),
        PinFilter {
            status: Some(PinStatus::Pinned),
            ..Default::default()
        },
        PinFilter {
            status: Some(PinStatus::Failed),
            ..Default::default()
        },
        PinFilter {
            created_before: Some(T0.plus_millis(450)),
            ..Default::default()
        },
        PinFilter {
            created_before: Some(T0.plus_millis(30)),
            status: Some(PinStatus::Queued),
            ..Default::default()
        },
        PinFilter {
            created_after: Some(T0.plus_millis(400)),
            ..Default::default()
        },
        PinFilter {
            min_size: Some(1000),
            max_size: Some(1010),
            ..Default::default()
        },
    ];
    for filter in &filters {
        for limit in [1, 2, 10, 100, 1000, 5000] {
            let got: Vec<String> = store
                .list(&PinQuery {
                    filter: filter.clone(),
                    limit,
                    order: ListOrder::NewestFirst,
                    ..PinQuery::default()
                })
                .await
                .unwrap()
                .pins
                .iter()
                .map(|p| p.pin.cid.to_string())
                .collect();
            assert_eq!(got, reference(filter, limit), "filter {filter:?}, limit {limit}");
        }
    }
    // Paging by `before` as a Pinning Service API client does (pins of one millisecond may be cut).
    let mut before: Option<Timestamp> = None;
    let mut pages = 0;
    while pages < 20 {
        let page = store
            .list(&PinQuery {
                filter: PinFilter {
                    created_before: before,
                    ..Default::default()
                },
                limit: 50,
                order: ListOrder::NewestFirst,
                ..PinQuery::default()
            })
            .await
            .unwrap()
            .pins;
        let want = reference(
            &PinFilter {
                created_before: before,
                ..Default::default()
            },
            50,
        );
        assert_eq!(page.iter().map(|p| p.pin.cid.to_string()).collect::<Vec<_>>(), want);
        let Some(last) = page.last() else { break };
        before = Some(last.pin.created_at);
        pages += 1;
    }
    assert_eq!(pages, 20);
}
