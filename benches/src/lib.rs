//! Shared set-up for Pindex's benchmarks: a synthetic but realistic pin population, loaded once per size
//! and cached under `target/pindex-bench/`.
#![allow(clippy::print_stdout, clippy::print_stderr, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::time::Instant;

use pin_core::{Cid, Event, EventBatch, EventKind, Pin, PinStatus, PinStore, Tier, Timestamp};
use pin_store::{ParquetPinStore, StoreConfig};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// Every benchmark binary runs on the allocator `pindex` runs on (see `crates/pin-cli/src/main.rs`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// 2026-01-01T00:00:00Z.
pub const T0: Timestamp = Timestamp(1_767_225_600_000);

/// The `i`-th benchmark CID: CIDv1, raw codec, a sha2-256 multihash of a deterministic digest.
pub fn cid(i: u64) -> Cid {
    let mut digest = [0u8; 32];
    let mut x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xB5AD_4ECE_DA1C_E2A9;
    for chunk in digest.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes());
    }
    let mh = multihash::Multihash::<64>::wrap(0x12, &digest).unwrap();
    Cid::parse(&cid::Cid::new_v1(0x55, mh).to_string()).unwrap()
}

/// Pin `i`: sizes spread over six orders of magnitude, most pins pinned, tiers skewed towards the cold end.
pub fn pin(i: u64, rng: &mut SmallRng) -> Pin {
    let tier = match rng.random_range(0..100) {
        0..2 => Tier::Memory,
        2..10 => Tier::Nvme,
        10..30 => Tier::Ssd,
        30..60 => Tier::Hdd,
        60..90 => Tier::Ipfs,
        _ => Tier::Filecoin,
    };
    let mut p = Pin::new(cid(i), tier, T0.plus_millis(i as i64));
    p.name = Some(format!("dataset-{:04}/part-{i:08}.bin", i % 5000));
    p.size_bytes = 1u64 << rng.random_range(10..30) | rng.random_range(0..1024);
    p.status = match rng.random_range(0..100) {
        0..90 => PinStatus::Pinned,
        90..95 => PinStatus::Queued,
        95..97 => PinStatus::Pinning,
        97..99 => PinStatus::Failed,
        _ => PinStatus::Unpinned,
    };
    if i.is_multiple_of(4) {
        p.meta.insert("team".into(), format!("team-{}", i % 17));
    }
    p
}

/// Where the cached store of `n` pins lives.
pub fn store_dir(n: u64) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"),
        PathBuf::from,
    );
    target.join("pindex-bench").join(format!("pins-{n}"))
}

/// What loading measured.
#[derive(Debug)]
pub struct LoadReport {
    /// Pins loaded.
    pub pins: u64,
    /// Seconds to apply every batch (durable), flush and compact.
    pub seconds: f64,
    /// Of those, the seconds until the last batch was acknowledged (flushes and run merges included).
    pub apply_seconds: f64,
    /// Base runs before the final compaction.
    pub runs_before_compaction: usize,
    /// Bytes of the compacted base segment.
    pub base_bytes: u64,
    /// Peak resident memory of the process (VmHWM), bytes.
    pub peak_rss: u64,
}

/// Peak resident set size of this process, from `/proc/self/status`.
pub fn peak_rss() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// Applies the `n` benchmark pins to `store` in durable batches of 50,000, calling `progress` with the
/// number applied after each batch.
pub async fn insert_pins(store: &ParquetPinStore, n: u64, mut progress: impl FnMut(u64)) -> anyhow::Result<()> {
    let mut rng = SmallRng::seed_from_u64(42);
    let mut i = 0;
    while i < n {
        let end = (i + 50_000).min(n);
        let events = (i..end)
            .map(|j| Event {
                ts: T0.plus_millis(j as i64),
                kind: EventKind::Upsert(Box::new(pin(j, &mut rng))),
            })
            .collect();
        store.apply(EventBatch::new(events)).await?;
        i = end;
        progress(i);
    }
    Ok(())
}

/// Loads `n` pins into a fresh store at `dir` in batches of 50,000 and compacts it.
pub async fn load(dir: &Path, n: u64) -> anyhow::Result<LoadReport> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    let store = ParquetPinStore::open(StoreConfig::new(dir)).await?;
    let started = Instant::now();
    insert_pins(&store, n, |i| {
        if i.is_multiple_of(1_000_000) {
            eprintln!(
                "loaded {i} pins in {:.1}s, peak RSS {} MiB",
                started.elapsed().as_secs_f64(),
                peak_rss() >> 20
            );
        }
    })
    .await?;
    let apply_seconds = started.elapsed().as_secs_f64();
    let runs_before_compaction = store.status().await?.base_runs;
    store.compact().await?;
    let seconds = started.elapsed().as_secs_f64();
    let status = store.status().await?;
    Ok(LoadReport {
        pins: n,
        seconds,
        apply_seconds,
        runs_before_compaction,
        base_bytes: status.segment_bytes,
        peak_rss: peak_rss(),
    })
}

/// Opens the cached store of `n` pins, loading it first if it is not there.
pub async fn cached(n: u64) -> anyhow::Result<ParquetPinStore> {
    let dir = store_dir(n);
    if !dir.join("store/_manifest").exists() {
        let r = load(&dir, n).await?;
        eprintln!("{r:?}");
    }
    Ok(ParquetPinStore::open(StoreConfig::new(&dir)).await?)
}
