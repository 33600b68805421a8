//! `pindex demo`: a synthetic workload shaped like a real pinning service's.
//!
//! Popularity follows a Zipf-like law (a few pins take most reads), sizes spread over six orders of
//! magnitude, reads are sequential runs or random jumps per pin, and event times cover the last two days
//! so the recency windows have something to count.

use std::fmt;

use anyhow::bail;
use pin_core::{
    Access, AccessOp, Cid, Clock, Event, EventBatch, EventKind, Pin, PinStatus, PinStore, SystemClock, Tier,
};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// What the demo recorded.
#[derive(Debug)]
pub(crate) struct Report {
    pins: u64,
    events: u64,
    seconds: f64,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "recorded {} pins and {} access events in {:.2} s ({:.0} events/s, each batch durable before the next)",
            self.pins,
            self.events,
            self.seconds,
            (self.pins + self.events) as f64 / self.seconds.max(1e-9)
        )
    }
}

fn demo_cid(seed: u64, i: u64) -> anyhow::Result<Cid> {
    let mut digest = [0u8; 32];
    let mut x = (i ^ seed.rotate_left(17)).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    for chunk in digest.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes());
    }
    let mh = multihash::Multihash::<64>::wrap(0x12, &digest)?;
    // Half the demo pins are spelled as CIDv0 (dag-pb), as `ipfs add` prints them by default.
    let c = if i.is_multiple_of(2) {
        cid::Cid::new_v0(mh)?
    } else {
        cid::Cid::new_v1(0x55, mh)
    };
    Ok(Cid::parse(&c.to_string())?)
}

pub(crate) async fn run(
    store: &dyn PinStore,
    pins: u64,
    events: u64,
    seed: u64,
    progress: bool,
) -> anyhow::Result<Report> {
    if pins == 0 {
        bail!("--pins must be at least 1");
    }
    if store.metrics().await?.statuses.values().sum::<u64>() > 0 {
        bail!("the data directory already holds pins; demo fills a fresh one (use --data-dir)");
    }
    let mut rng = SmallRng::seed_from_u64(seed);
    let now = SystemClock.now();
    let start = now.plus_millis(-2 * 86_400_000);
    let began = std::time::Instant::now();
    let tiers = [
        Tier::Memory,
        Tier::Nvme,
        Tier::Ssd,
        Tier::Hdd,
        Tier::Ipfs,
        Tier::Filecoin,
    ];
    let mut sizes = Vec::with_capacity(pins as usize);
    let mut batch = Vec::with_capacity(10_000);
    for i in 0..pins {
        let tier = tiers[[0, 1, 1, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 5][rng.random_range(0..14)]];
        let mut p = Pin::new(demo_cid(seed, i)?, tier, start);
        p.name = Some(format!("dataset-{:03}/file-{i:06}.bin", i % 97));
        p.size_bytes = (1u64 << rng.random_range(10..32)) + rng.random_range(0..4096);
        p.status = match rng.random_range(0..100) {
            0..88 => PinStatus::Pinned,
            88..94 => PinStatus::Queued,
            94..97 => PinStatus::Pinning,
            _ => PinStatus::Failed,
        };
        p.mount = Some("/datasets".into());
        p.vfs_paths.insert(format!("/datasets/{:03}/file-{i:06}.bin", i % 97));
        if i % 3 == 0 {
            p.meta
                .insert("team".into(), ["ml", "web", "archive"][(i % 9 / 3) as usize].into());
        }
        sizes.push(p.size_bytes);
        let at = start.plus_millis(rng.random_range(0..3_600_000));
        batch.push(Event {
            ts: at,
            kind: EventKind::Upsert(Box::new(p)),
        });
        if batch.len() == 10_000 {
            store.apply(EventBatch::new(std::mem::take(&mut batch))).await?;
        }
    }
    // Zipf-like popularity: pin rank r is drawn with weight ~ 1/r, by inverting the harmonic CDF.
    let span = now.millis() - start.millis() - 3_600_000;
    let mut cursor: Vec<u64> = vec![0; pins as usize];
    for k in 0..events {
        let u: f64 = rng.random();
        let rank = ((pins as f64 + 1.0).powf(u) - 1.0).floor() as u64;
        let i = rank.min(pins - 1);
        let size = sizes[i as usize];
        let len = 4096.min(size);
        let (offset, length) = if i.is_multiple_of(5) {
            (None, None)
        } else if i.is_multiple_of(2) {
            let off = cursor[i as usize];
            cursor[i as usize] = if off + len >= size { 0 } else { off + len };
            (Some(off), Some(len))
        } else {
            (Some(rng.random_range(0..size.max(1))), Some(len))
        };
        let at = start.plus_millis(3_600_000 + (span as f64 * (k as f64 / events as f64)) as i64);
        batch.push(Event {
            ts: at,
            kind: EventKind::Access(Access {
                cid: demo_cid(seed, i)?,
                op: if rng.random_range(0..10) == 0 {
                    AccessOp::Write
                } else {
                    AccessOp::Read
                },
                offset,
                length,
                tier: None,
                vfs_path: Some(format!("/datasets/{:03}/file-{i:06}.bin", i % 97)),
                latency_us: Some(rng.random_range(80..20_000)),
            }),
        });
        if batch.len() == 10_000 {
            store.apply(EventBatch::new(std::mem::take(&mut batch))).await?;
            if progress && (k + 1) % 100_000 == 0 {
                eprintln!("pindex demo: {} of {events} access events", k + 1);
            }
        }
    }
    if !batch.is_empty() {
        store.apply(EventBatch::new(batch)).await?;
    }
    Ok(Report {
        pins,
        events,
        seconds: began.elapsed().as_secs_f64(),
    })
}
