//! `pindex demo`: a synthetic workload shaped like a real pinning service's.
//!
//! Popularity follows a Zipf-like law (a few pins take most reads), sizes spread over six orders of
//! magnitude, reads are sequential runs or random jumps per pin, and event times cover the last two days
//! so the recency windows have something to count.

use std::fmt;

use anyhow::bail;
use pin_core::{
    Access, AccessOp, Cid, CidForm, Clock, Event, EventBatch, EventKind, Pin, PinStatus, PinStore, SystemClock, Tier,
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

/// Events per batch the generator hands to the applying task.
const BATCH_EVENTS: usize = 10_000;

/// The demo's CID number `i`: a pseudo-random sha2-256 digest, spelled as CIDv0 (dag-pb) for even `i`,
/// as `ipfs add` prints them by default, and as CIDv1 (raw) for odd `i`. Built from its key, so no
/// string is parsed back.
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
    let (codec, form) = if i.is_multiple_of(2) {
        (0x70, CidForm::V0)
    } else {
        (0x55, CidForm::V1)
    };
    let key = cid::Cid::new_v1(codec, mh).to_bytes();
    Ok(Cid::from_key_form(&key, form, None)?)
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
    let began = std::time::Instant::now();
    // The workload is generated on a thread of its own, so building the next batches overlaps applying
    // this one; batches are still applied one at a time, each durable before the next.
    let (tx, mut rx) = tokio::sync::mpsc::channel(2);
    let generator = std::thread::Builder::new().name("pindex-demo".into()).spawn(move || {
        let sent = generate(pins, events, seed, |batch| tx.blocking_send(Ok(batch)).is_ok());
        if let Err(e) = sent {
            let _ = tx.blocking_send(Err(e));
        }
    })?;
    let mut accesses = 0u64;
    while let Some(batch) = rx.recv().await {
        let Generated {
            events: batch,
            accesses: seen,
        } = batch?;
        store.apply(EventBatch::new(batch)).await?;
        if progress && seen / 100_000 > accesses / 100_000 {
            eprintln!("pindex demo: {} of {events} access events", seen / 100_000 * 100_000);
        }
        accesses = seen;
    }
    if generator.join().is_err() {
        bail!("the demo's generator thread panicked");
    }
    Ok(Report {
        pins,
        events,
        seconds: began.elapsed().as_secs_f64(),
    })
}

/// One batch of the workload, and how many access events were generated up to its end.
struct Generated {
    events: Vec<Event>,
    accesses: u64,
}

/// Generates the workload in batches of [`BATCH_EVENTS`], handing each to `emit`; stops early when
/// `emit` returns false (the receiving side is gone).
fn generate(pins: u64, events: u64, seed: u64, mut emit: impl FnMut(Generated) -> bool) -> anyhow::Result<()> {
    let mut rng = SmallRng::seed_from_u64(seed);
    let now = SystemClock.now();
    let start = now.plus_millis(-2 * 86_400_000);
    let tiers = [
        Tier::Memory,
        Tier::Nvme,
        Tier::Ssd,
        Tier::Hdd,
        Tier::Ipfs,
        Tier::Filecoin,
    ];
    let mut sizes = Vec::with_capacity(pins as usize);
    let mut batch = Vec::with_capacity(BATCH_EVENTS);
    let mut full = |batch: &mut Vec<Event>, accesses: u64| {
        let events = std::mem::replace(batch, Vec::with_capacity(BATCH_EVENTS));
        emit(Generated { events, accesses })
    };
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
        if batch.len() == BATCH_EVENTS && !full(&mut batch, 0) {
            return Ok(());
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
        if batch.len() == BATCH_EVENTS && !full(&mut batch, k + 1) {
            return Ok(());
        }
    }
    if !batch.is_empty() {
        full(&mut batch, events);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_cids_are_spelled_as_a_parse_of_their_string_would_be() {
        for i in 0..64 {
            let c = demo_cid(7, i).unwrap();
            let parsed = Cid::parse(c.as_str()).unwrap();
            assert_eq!(c.key(), parsed.key());
            assert_eq!(c.as_str(), parsed.as_str());
            assert_eq!(c.form(), parsed.form());
            assert!(c.as_str().starts_with(if i % 2 == 0 { "Qm" } else { "b" }), "{c}");
        }
    }

    #[test]
    fn the_workload_comes_in_full_batches_pins_first() {
        let mut batches = Vec::new();
        generate(25_000, 1_000, 3, |b| {
            batches.push(b);
            true
        })
        .unwrap();
        let sizes: Vec<usize> = batches.iter().map(|b| b.events.len()).collect();
        assert_eq!(sizes, [10_000, 10_000, 6_000]);
        let events: Vec<&Event> = batches.iter().flat_map(|b| &b.events).collect();
        let upserts = events.iter().filter(|e| matches!(e.kind, EventKind::Upsert(_))).count();
        assert_eq!(upserts, 25_000);
        assert!(events[..25_000].iter().all(|e| matches!(e.kind, EventKind::Upsert(_))));
        assert_eq!(batches.iter().map(|b| b.accesses).collect::<Vec<_>>(), [0, 0, 1_000]);
        // The same seed gives the same workload; a receiver that hangs up stops the generator.
        let mut again = Vec::new();
        generate(25_000, 1_000, 3, |b| {
            again.push(b);
            false
        })
        .unwrap();
        assert_eq!(again.len(), 1);
        assert_eq!(
            format!(
                "{:?}",
                again[0].events[..50].iter().map(|e| e.cid()).collect::<Vec<_>>()
            ),
            format!(
                "{:?}",
                batches[0].events[..50].iter().map(|e| e.cid()).collect::<Vec<_>>()
            )
        );
    }
}
