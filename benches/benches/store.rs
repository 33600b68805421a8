//! Store benchmarks at `PINDEX_BENCH_PINS` pins (default 1,000,000; the store is built once and cached).
#![allow(clippy::unwrap_used, clippy::print_stderr)]

use std::sync::Arc;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput};
use pin_core::{Access, AccessOp, Event, EventBatch, EventKind, PinStore, Tier};
use pin_store::{ParquetPinStore, StoreConfig};
use pindex_benches::{T0, cached, cid};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

fn access_batch(rng: &mut SmallRng, n: u64, size: usize, t: i64) -> EventBatch {
    let events = (0..size)
        .map(|k| Event {
            ts: T0.plus_millis(t + k as i64),
            kind: EventKind::Access(Access {
                cid: cid(rng.random_range(0..n)),
                op: AccessOp::Read,
                offset: Some(rng.random_range(0..1 << 20)),
                length: Some(4096),
                tier: Some(Tier::Ssd),
                vfs_path: None,
                latency_us: Some(rng.random_range(50..500)),
            }),
        })
        .collect();
    EventBatch::new(events)
}

fn main() {
    let n: u64 = std::env::var("PINDEX_BENCH_PINS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut c = Criterion::default()
        .configure_from_args()
        .measurement_time(Duration::from_secs(10));

    // Applying access events: durable (fsync per group commit), batches of 10,000, into a fresh store.
    {
        let dir = tempfile_dir();
        let store = Arc::new(rt.block_on(ParquetPinStore::open(StoreConfig::new(&dir))).unwrap());
        let mut rng = SmallRng::seed_from_u64(1);
        let mut t = 0;
        let mut g = c.benchmark_group("apply");
        g.throughput(Throughput::Elements(10_000));
        g.bench_function("access_events_batch_10k", |b| {
            b.iter_batched(
                || {
                    t += 10_000;
                    access_batch(&mut rng, n, 10_000, t)
                },
                |batch| rt.block_on(store.apply(batch)).unwrap(),
                BatchSize::LargeInput,
            );
        });
        g.finish();
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }

    let store = rt.block_on(cached(n)).unwrap();
    let mut rng = SmallRng::seed_from_u64(2);
    let mut g = c.benchmark_group(format!("pins_{n}"));
    g.bench_function("lookup_hit", |b| {
        b.iter_batched(
            || cid(rng.random_range(0..n)),
            |c| assert!(rt.block_on(store.get(&c)).unwrap().is_some()),
            BatchSize::SmallInput,
        );
    });
    g.bench_function("lookup_miss", |b| {
        b.iter_batched(
            || cid(n + rng.random_range(0..n)),
            |c| assert!(rt.block_on(store.get(&c)).unwrap().is_none()),
            BatchSize::SmallInput,
        );
    });
    g.bench_function("metrics", |b| b.iter(|| rt.block_on(store.metrics()).unwrap()));
    g.sample_size(10);
    g.bench_function("sql_group_by_tier", |b| {
        b.iter(|| {
            rt.block_on(store.query("SELECT tier, count(*), sum(size_bytes) FROM pins GROUP BY tier"))
                .unwrap()
        });
    });
    g.finish();
    c.final_summary();
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = pindex_benches::store_dir(0).with_file_name(format!("apply-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}
