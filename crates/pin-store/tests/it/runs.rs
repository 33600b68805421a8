//! A base made of several runs answers exactly what a single base answers.
//!
//! Two stores take the same events and flush at the same points: one writes the new pins of every flush
//! as a base run (and merges runs as their size classes fill), the other keeps everything in the delta.
//! Every read of pin state must agree between them, before and after a reopen and a compaction.

use std::sync::Arc;

use datafusion::arrow::compute::concat_batches;
use pin_core::conformance::{T0, test_cid};
use pin_core::{
    Event, EventKind, ListOrder, ManualClock, PinFilter, PinQuery, PinStatus, PinStore, PinView, Tier, Timestamp,
};
use pin_store::datafusion;
use pin_store::{ParquetPinStore, PinSort, SortedQuery, StoreConfig};
use tempfile::TempDir;

use crate::common::{access, batch, upsert};

pub(crate) const ROUNDS: u64 = 12;
pub(crate) const NEW_PER_ROUND: u64 = 40;
/// CIDs accessed but never pinned, from here up.
pub(crate) const UNPINNED_FROM: u64 = 10_000;

pub(crate) async fn open(dir: &std::path::Path, runs: bool) -> ParquetPinStore {
    let cfg = StoreConfig {
        flush_events: 1_000_000,
        run_min_pins: if runs { 1 } else { usize::MAX },
        ..StoreConfig::new(dir)
    };
    ParquetPinStore::open_with_clock(cfg, Arc::new(ManualClock::new(T0)))
        .await
        .expect("open")
}

/// A small deterministic generator (an LCG), so the events are the same on every run.
pub(crate) struct Lcg(pub(crate) u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

/// Round `r`'s events: new pins, and changes and accesses to pins of earlier rounds and to unknown CIDs.
pub(crate) fn round(r: u64, rng: &mut Lcg) -> Vec<Event> {
    let tiers = [Tier::Memory, Tier::Nvme, Tier::Ssd, Tier::Hdd];
    let at = |ms: u64| T0.plus_millis((r * 100_000 + ms) as i64);
    let mut events: Vec<Event> = (r * NEW_PER_ROUND..(r + 1) * NEW_PER_ROUND)
        .map(|i| {
            let mut e = upsert(i, tiers[rng.below(4) as usize], 1 + rng.below(5000));
            e.ts = at(i % NEW_PER_ROUND);
            if let EventKind::Upsert(p) = &mut e.kind {
                p.created_at = at(rng.below(1000));
            }
            e
        })
        .collect();
    let old = r * NEW_PER_ROUND;
    if old > 0 {
        for k in 0..30 {
            let i = rng.below(old);
            let cid = test_cid(i);
            let kind = match k % 6 {
                0 => EventKind::Status {
                    cid,
                    status: PinStatus::Failed,
                    reason: Some("lost".into()),
                },
                1 => EventKind::Tier { cid, tier: Tier::Hdd },
                2 if k % 4 == 0 => EventKind::Unpin { cid },
                _ => {
                    events.push(access(i, at(2000 + k)));
                    continue;
                }
            };
            events.push(Event { ts: at(2000 + k), kind });
        }
        // A pin of an earlier round upserted again: its creation time and statistics stay.
        events.push(upsert(rng.below(old), Tier::Ssd, 77));
    }
    events.extend((0..3).map(|k| access(UNPINNED_FROM + r * 3 + k, at(3000 + k))));
    events
}

pub(crate) async fn key_order(store: &ParquetPinStore) -> Vec<PinView> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .list(&PinQuery {
                after,
                limit: 37,
                ..PinQuery::default()
            })
            .await
            .unwrap();
        out.extend(page.pins);
        match page.next {
            Some(c) => after = Some(c),
            None => return out,
        }
    }
}

async fn sorted(store: &ParquetPinStore, sort: PinSort) -> Vec<PinView> {
    let q = SortedQuery {
        filter: PinFilter::default(),
        live_only: false,
        sort,
        descending: true,
        after: None,
        limit: Some(100),
    };
    let mut rows = store.sorted(&q).await.unwrap();
    let mut out = Vec::new();
    while let Some(v) = rows.next().await.unwrap() {
        out.push(v);
    }
    out
}

async fn sql(store: &ParquetPinStore, q: &str) -> datafusion::arrow::array::RecordBatch {
    let batches = store.query(q).await.unwrap();
    let schema = batches.first().map(|b| b.schema()).expect("a batch");
    concat_batches(&schema, &batches).unwrap()
}

pub(crate) async fn agree(runs: &ParquetPinStore, plain: &ParquetPinStore, known: u64, what: &str) {
    for i in (0..known).chain(UNPINNED_FROM..UNPINNED_FROM + ROUNDS * 3 + 2) {
        let cid = test_cid(i);
        assert_eq!(
            runs.get(&cid).await.unwrap(),
            plain.get(&cid).await.unwrap(),
            "{what}: get {i}"
        );
    }
    let all = key_order(runs).await;
    assert_eq!(all, key_order(plain).await, "{what}: key order");
    assert!(all.len() as u64 >= known / 2, "{what}: {} pins listed", all.len());
    for limit in [1, 10, 100, 1000] {
        let q = PinQuery {
            limit,
            order: ListOrder::NewestFirst,
            ..PinQuery::default()
        };
        assert_eq!(
            runs.list(&q).await.unwrap().pins,
            plain.list(&q).await.unwrap().pins,
            "{what}: newest first, {limit}"
        );
    }
    for k in [1, 5, 20] {
        assert_eq!(
            runs.top_pins(k).await.unwrap(),
            plain.top_pins(k).await.unwrap(),
            "{what}: top {k}"
        );
    }
    for sort in [PinSort::Size, PinSort::Hotness, PinSort::Created] {
        assert_eq!(sorted(runs, sort).await, sorted(plain, sort).await, "{what}: {sort:?}");
    }
    assert_eq!(
        runs.metrics().await.unwrap(),
        plain.metrics().await.unwrap(),
        "{what}: metrics"
    );
    for q in [
        "SELECT tier, count(*) AS n, sum(size_bytes) AS bytes FROM pins GROUP BY tier ORDER BY tier",
        "SELECT cid, status, access_count FROM pins ORDER BY cid",
    ] {
        assert_eq!(sql(runs, q).await, sql(plain, q).await, "{what}: {q}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_base_of_runs_reads_like_a_single_base() {
    let (a, b) = (TempDir::new().unwrap(), TempDir::new().unwrap());
    let mut runs = open(a.path(), true).await;
    let mut plain = open(b.path(), false).await;
    let mut rng = Lcg(7);
    let mut run_counts = Vec::new();
    for r in 0..ROUNDS {
        let events = round(r, &mut rng);
        runs.apply(batch(events.clone())).await.unwrap();
        plain.apply(batch(events)).await.unwrap();
        if r == 5 {
            // Changes still in memory on top of the runs.
            agree(&runs, &plain, (r + 1) * NEW_PER_ROUND, "before a flush").await;
        }
        runs.flush().await.unwrap();
        plain.flush().await.unwrap();
        run_counts.push(runs.status().await.unwrap().base_runs);
        if r % 4 == 3 {
            agree(&runs, &plain, (r + 1) * NEW_PER_ROUND, &format!("after round {r}")).await;
        }
    }
    // A run per flush, until the eighth of the smallest size class merges them all into one.
    assert_eq!(run_counts, [1, 2, 3, 4, 5, 6, 7, 1, 2, 3, 4, 5]);
    assert_eq!(plain.status().await.unwrap().base_runs, 0);
    let known = ROUNDS * NEW_PER_ROUND;

    let before = (key_order(&runs).await, key_order(&plain).await);
    let deltas = plain.status().await.unwrap().segments;
    drop(runs);
    drop(plain);
    runs = open(a.path(), true).await;
    plain = open(b.path(), false).await;
    assert_eq!(runs.status().await.unwrap().base_runs, 5);
    assert_eq!(plain.status().await.unwrap().segments, deltas);
    // Each store reads back what it held: the runs, and the delta segments folded in order.
    assert_eq!((key_order(&runs).await, key_order(&plain).await), before);
    agree(&runs, &plain, known, "after a reopen").await;

    runs.compact().await.unwrap();
    assert_eq!(runs.status().await.unwrap().base_runs, 1);
    agree(&runs, &plain, known, "after compaction").await;
    plain.compact().await.unwrap();
    agree(&runs, &plain, known, "both compacted").await;
    let later = Timestamp(T0.0 + 10 * 86_400_000);
    let events: Vec<Event> = (0..20).map(|i| access(i * 3, later)).collect();
    runs.apply(batch(events.clone())).await.unwrap();
    plain.apply(batch(events)).await.unwrap();
    agree(&runs, &plain, known, "accesses after compaction").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flush_of_few_new_pins_writes_no_run() {
    let dir = TempDir::new().unwrap();
    let store = crate::common::open(dir.path()).await;
    store
        .apply(batch((0..100).map(|i| upsert(i, Tier::Ssd, i)).collect()))
        .await
        .unwrap();
    store.flush().await.unwrap();
    let st = store.status().await.unwrap();
    assert_eq!((st.base_runs, st.base_rows), (0, 0), "100 new pins stay in the delta");
    store
        .apply(batch((100..5000).map(|i| upsert(i, Tier::Ssd, i)).collect()))
        .await
        .unwrap();
    store.flush().await.unwrap();
    let st = store.status().await.unwrap();
    assert_eq!((st.base_runs, st.base_rows), (1, 4900), "4,900 new pins make a run");
    assert_eq!(st.delta_pins, 100);
    assert_eq!(store.metrics().await.unwrap().total_pins, 5000);
}

/// The newest manifest of a local store, as JSON, and its path.
fn latest_manifest(dir: &std::path::Path) -> (std::path::PathBuf, serde_json::Value) {
    let mut paths: Vec<_> = std::fs::read_dir(dir.join("store/_manifest"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    let path = paths.pop().expect("a manifest");
    let json = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    (path, json)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_format_1_manifest_reads_as_one_run_and_a_newer_format_is_refused() {
    let dir = TempDir::new().unwrap();
    let store = crate::common::open(dir.path()).await;
    store
        .apply(batch((0..50).map(|i| upsert(i, Tier::Ssd, i)).collect()))
        .await
        .unwrap();
    store.compact().await.unwrap();
    let before = key_order(&store).await;
    drop(store);
    // Rewrite the newest manifest as format 1 wrote it: the base as one `base` segment.
    let (path, mut m) = latest_manifest(dir.path());
    let runs = m["base_runs"].as_array().cloned().unwrap();
    assert_eq!(runs.len(), 1);
    m["format"] = 1.into();
    m["base"] = runs[0].clone();
    m.as_object_mut().unwrap().remove("base_runs");
    std::fs::write(&path, serde_json::to_vec(&m).unwrap()).unwrap();

    let store = crate::common::open(dir.path()).await;
    assert_eq!(store.status().await.unwrap().base_runs, 1);
    assert_eq!(key_order(&store).await, before);
    store.apply(batch(vec![upsert(99, Tier::Hdd, 9)])).await.unwrap();
    store.flush().await.unwrap();
    drop(store);
    let (_, m) = latest_manifest(dir.path());
    assert_eq!(m["format"], 3, "the next commit writes the current format");
    assert!(m.get("base").is_none());

    let (path, mut m) = latest_manifest(dir.path());
    m["format"] = 4.into();
    std::fs::write(&path, serde_json::to_vec(&m).unwrap()).unwrap();
    let err = ParquetPinStore::open_with_clock(StoreConfig::new(dir.path()), Arc::new(ManualClock::new(T0)))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("format 4") && err.contains("_manifest"), "{err}");
}
