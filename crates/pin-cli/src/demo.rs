//! `pindex demo`: a synthetic workload shaped like a real pinning service's.
//!
//! Popularity follows a Zipf-like law (a few pins take most reads), sizes spread over six orders of
//! magnitude, reads are sequential runs or random jumps per pin, and event times cover the last two days
//! so the recency windows have something to count.

use std::fmt;

use anyhow::bail;
use pin_core::{
    Access, AccessOp, Cid, CidForm, Clock, Event, EventBatch, EventKind, Pin, PinStatus, PinStore, SystemClock, Tier,
    Timestamp,
};
use pin_store::ParquetPinStore;
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
            "recorded {} pins (bulk loaded) and {} access events (each batch durable before the next) in {:.2} s \
             ({:.0} events/s)",
            self.pins,
            self.events,
            self.seconds,
            (self.pins + self.events) as f64 / self.seconds.max(1e-9)
        )
    }
}

/// Pins or events per batch the generator hands to the applying task.
const BATCH_EVENTS: usize = 10_000;

/// The sha2-256 digest of the demo's CID number `i`: pseudo-random, from the seed.
fn demo_digest(seed: u64, i: u64) -> [u8; 32] {
    let mut digest = [0u8; 32];
    let mut x = (i ^ seed.rotate_left(17)).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    for chunk in digest.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes());
    }
    digest
}

/// The multicodec of the demo's CID number `i`: dag-pb (spelled as CIDv0, as `ipfs add` prints them by
/// default) for even `i`, raw (spelled as CIDv1) for odd `i`.
fn demo_codec(i: u64) -> (u64, CidForm) {
    if i.is_multiple_of(2) {
        (0x70, CidForm::V0)
    } else {
        (0x55, CidForm::V1)
    }
}

/// The demo's CID number `i`, built from its key, so no string is parsed back.
fn demo_cid(seed: u64, i: u64) -> anyhow::Result<Cid> {
    let mh = multihash::Multihash::<64>::wrap(0x12, &demo_digest(seed, i))?;
    let (codec, form) = demo_codec(i);
    let key = cid::Cid::new_v1(codec, mh).to_bytes();
    Ok(Cid::from_key_form(&key, form, None)?)
}

/// The demo's pin numbers `0..pins` in the order of their CIDs' keys, as a bulk load takes them.
///
/// A key is `0x01`, the codec, `0x12 0x20` and the digest; both codecs fit in one byte, so the codec and
/// the digest's first eight bytes order the keys, and the rare tie is settled by the whole digest.
/// Pin numbers are `u32` here, which keeps the sort at 16 bytes a pin.
fn key_order(seed: u64, pins: u32) -> impl Iterator<Item = u64> {
    let mut order: Vec<(u8, u64, u32)> = (0..pins)
        .map(|i| {
            let digest = demo_digest(seed, u64::from(i));
            let head = u64::from_be_bytes(digest[..8].try_into().unwrap_or_default());
            (demo_codec(u64::from(i)).0 as u8, head, i)
        })
        .collect();
    order.sort_unstable_by(|a, b| {
        (a.0, a.1)
            .cmp(&(b.0, b.1))
            .then_with(|| demo_digest(seed, u64::from(a.2)).cmp(&demo_digest(seed, u64::from(b.2))))
    });
    order.into_iter().map(|(_, _, i)| u64::from(i))
}

pub(crate) async fn run(
    store: &ParquetPinStore,
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
    // The workload is generated on a thread of its own, so building the next batches overlaps recording
    // this one. The pins come first, in key order, and are bulk loaded into one base run; the accesses
    // then go through the ordinary write path, one durable batch at a time.
    let mut load = Some(store.bulk_load().await?);
    let (tx, mut rx) = tokio::sync::mpsc::channel(2);
    let generator = std::thread::Builder::new().name("pindex-demo".into()).spawn(move || {
        let sent = generate(pins, events, seed, |batch| tx.blocking_send(Ok(batch)).is_ok());
        if let Err(e) = sent {
            let _ = tx.blocking_send(Err(e));
        }
    })?;
    let mut accesses = 0u64;
    while let Some(batch) = rx.recv().await {
        match batch? {
            Generated::Pins(batch) => {
                let Some(load) = load.as_mut() else {
                    bail!("the demo's generator sent pins after its accesses");
                };
                let before = load.pins();
                for (at, pin) in batch {
                    load.push(at, pin).await?;
                }
                if progress && load.pins() / 1_000_000 > before / 1_000_000 {
                    eprintln!("pindex demo: {} of {pins} pins", load.pins() / 1_000_000 * 1_000_000);
                }
            }
            Generated::Accesses { events: batch, seen } => {
                if let Some(load) = load.take() {
                    load.finish().await?;
                }
                store.apply(EventBatch::new(batch)).await?;
                if progress && seen / 100_000 > accesses / 100_000 {
                    eprintln!("pindex demo: {} of {events} access events", seen / 100_000 * 100_000);
                }
                accesses = seen;
            }
        }
    }
    if generator.join().is_err() {
        bail!("the demo's generator thread panicked");
    }
    if let Some(load) = load.take() {
        load.finish().await?;
    }
    Ok(Report {
        pins,
        events,
        seconds: began.elapsed().as_secs_f64(),
    })
}

/// One batch of the workload.
enum Generated {
    /// New pins with the times of their upserts, in ascending key order (and after the previous batch's).
    Pins(Vec<(Timestamp, Pin)>),
    /// Access events, and how many were generated up to the batch's end.
    Accesses { events: Vec<Event>, seen: u64 },
}

/// Generates the workload in batches of [`BATCH_EVENTS`], handing each to `emit`; stops early when
/// `emit` returns false (the receiving side is gone). Each pin's fields come from a generator seeded by
/// its number, so the same seed gives the same pins whatever order they are made in.
fn generate(pins: u64, events: u64, seed: u64, mut emit: impl FnMut(Generated) -> bool) -> anyhow::Result<()> {
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
    let Ok(count) = u32::try_from(pins) else {
        bail!("--pins must be at most {}", u32::MAX);
    };
    let mut sizes = vec![0u64; pins as usize];
    let mut batch = Vec::with_capacity(BATCH_EVENTS);
    for i in key_order(seed, count) {
        let mut rng = SmallRng::seed_from_u64(seed ^ (i + 1).wrapping_mul(0xD1B5_4A32_D192_ED03));
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
        sizes[i as usize] = p.size_bytes;
        batch.push((start.plus_millis(rng.random_range(0..3_600_000)), p));
        if batch.len() == BATCH_EVENTS {
            let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH_EVENTS));
            if !emit(Generated::Pins(full)) {
                return Ok(());
            }
        }
    }
    if !batch.is_empty() && !emit(Generated::Pins(batch)) {
        return Ok(());
    }
    // Zipf-like popularity: pin rank r is drawn with weight ~ 1/r, by inverting the harmonic CDF.
    let mut rng = SmallRng::seed_from_u64(seed);
    let span = now.millis() - start.millis() - 3_600_000;
    let mut cursor: Vec<u64> = vec![0; pins as usize];
    let mut batch = Vec::with_capacity(BATCH_EVENTS);
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
        if batch.len() == BATCH_EVENTS {
            let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH_EVENTS));
            if !emit(Generated::Accesses {
                events: full,
                seen: k + 1,
            }) {
                return Ok(());
            }
        }
    }
    if !batch.is_empty() {
        emit(Generated::Accesses {
            events: batch,
            seen: events,
        });
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
    fn the_workload_comes_in_full_batches_pins_first_in_key_order() {
        let mut batches = Vec::new();
        generate(25_000, 1_000, 3, |b| {
            batches.push(b);
            true
        })
        .unwrap();
        let pins: Vec<&(Timestamp, Pin)> = batches
            .iter()
            .filter_map(|b| match b {
                Generated::Pins(p) => Some(p),
                Generated::Accesses { .. } => None,
            })
            .flatten()
            .collect();
        let shape: Vec<(usize, Option<u64>)> = batches
            .iter()
            .map(|b| match b {
                Generated::Pins(p) => (p.len(), None),
                Generated::Accesses { events, seen } => (events.len(), Some(*seen)),
            })
            .collect();
        assert_eq!(
            shape,
            [(10_000, None), (10_000, None), (5_000, None), (1_000, Some(1_000))]
        );
        // Every pin once, each key above the one before, as a bulk load takes them.
        assert_eq!(pins.len(), 25_000);
        assert!(pins.windows(2).all(|w| w[0].1.cid.key() < w[1].1.cid.key()));
        let mut numbers: Vec<u64> = pins
            .iter()
            .map(|(_, p)| {
                p.name.as_deref().unwrap().rsplit("file-").next().unwrap()[..6]
                    .parse()
                    .unwrap()
            })
            .collect();
        numbers.sort_unstable();
        assert_eq!(numbers, (0..25_000).collect::<Vec<u64>>());
        for (_, p) in &pins {
            let i: u64 = p.name.as_deref().unwrap().rsplit("file-").next().unwrap()[..6]
                .parse()
                .unwrap();
            assert_eq!(p.cid, demo_cid(3, i).unwrap());
        }
        // The same seed gives the same workload; a receiver that hangs up stops the generator.
        let mut again = Vec::new();
        generate(25_000, 1_000, 3, |b| {
            again.push(b);
            false
        })
        .unwrap();
        assert_eq!(again.len(), 1);
        let Generated::Pins(first) = &again[0] else {
            panic!("pins first")
        };
        // (Times are relative to the clock, so they are left out.)
        let fields = |p: &Pin| {
            (
                p.cid.clone(),
                p.name.clone(),
                p.size_bytes,
                p.status,
                p.primary_tier,
                p.meta.clone(),
            )
        };
        assert_eq!(
            first.iter().map(|(_, p)| fields(p)).collect::<Vec<_>>(),
            pins[..10_000].iter().map(|(_, p)| fields(p)).collect::<Vec<_>>()
        );
    }
}
