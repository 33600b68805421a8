//! How long a plan for many pins takes: `cargo run --release -p pin-tiers --example plan_speed [PINS]`
//! (default 10,000,000). Pins get log-uniform sizes (4 KiB to 64 MiB), Zipf-like expected hits unrelated
//! to where they are, and half of them a move in the last two days; 30% sit in ipfs or filecoin, the rest
//! fill memory, nvme, ssd and hdd in turn to 85%. The default tier table plans them.

use std::io::{self, Write};
use std::time::Instant;

use pin_core::{Tier, Timestamp};
use pin_tiers::{PlanInput, TierTable, format_bytes, plan};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

fn main() -> io::Result<()> {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.replace('_', "").parse().ok())
        .unwrap_or(10_000_000);
    let mut rng = SmallRng::seed_from_u64(1);
    let now = Timestamp(1_800_000_000_000);
    let t0 = Instant::now();
    let table = TierTable::default();
    // 30% of the pins in ipfs or filecoin; the others fill memory, nvme, ssd and hdd in turn to 85%.
    let mut fill = [0u64; 4];
    let mut inputs = Vec::with_capacity(n);
    for i in 0..n {
        let size = (rng.random::<f64>() * (64.0f64 * 1024.0).ln() + 4096f64.ln()).exp() as u64;
        let tier = if rng.random_bool(0.3) {
            if rng.random_bool(0.5) {
                Tier::Ipfs
            } else {
                Tier::Filecoin
            }
        } else {
            let j = (0..4)
                .find(|&j| {
                    let cap = table.tiers[j].capacity_bytes as f64 * 0.85;
                    (fill[j] + size) as f64 <= cap
                })
                .unwrap_or(3);
            fill[j] += size;
            table.tiers[j].tier
        };
        inputs.push(PlanInput {
            id: i as u64,
            size_bytes: size,
            tier,
            expected_hits: 1000.0 / (rng.random_range(1..n.max(2)) as f64).powf(0.9),
            last_moved: rng
                .random_bool(0.5)
                .then(|| Timestamp(now.0 - rng.random_range(0..2 * 86_400_000))),
        });
    }
    let generated = t0.elapsed();
    let t1 = Instant::now();
    let p = plan(&inputs, &table, now);
    let planned = t1.elapsed();
    let mut out = io::stdout().lock();
    writeln!(out, "{n} pins generated in {:.2} s", generated.as_secs_f64())?;
    writeln!(
        out,
        "plan: {:.2} s, {} moves, {} moved (budget {}), {} deferred, {} locked",
        planned.as_secs_f64(),
        p.moves.len(),
        format_bytes(p.bytes_moved),
        format_bytes(p.budget_bytes),
        p.deferred_moves,
        p.locked_pins
    )?;
    for s in &p.tiers {
        writeln!(
            out,
            "  {:<8} {:>12} -> {:>12} of {:>10} (high {:>10}), hit share {:.3} -> {:.3}",
            s.tier.as_str(),
            format_bytes(s.bytes_before),
            format_bytes(s.bytes_after),
            format_bytes(s.capacity_bytes),
            format_bytes(s.high_bytes),
            s.hit_share_before,
            s.hit_share_after
        )?;
    }
    let mut by_reason = std::collections::BTreeMap::new();
    for m in &p.moves {
        let e = by_reason
            .entry((m.from.as_str(), m.to.as_str(), format!("{:?}", m.reason)))
            .or_insert((0u64, 0u64));
        e.0 += 1;
        e.1 += m.size_bytes;
    }
    for ((from, to, reason), (count, bytes)) in by_reason {
        writeln!(
            out,
            "  {count:>8} moves {from:>8} -> {to:<8} {reason:<12} {}",
            format_bytes(bytes)
        )?;
    }
    for w in &p.warnings {
        writeln!(out, "  warning: {w}")?;
    }
    Ok(())
}
