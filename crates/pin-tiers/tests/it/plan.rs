use pin_core::{Tier, Timestamp};
use pin_tiers::{MoveReason, Plan, PlanInput, TierTable, plan};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const HOUR: i64 = 3_600_000;
const NOW: Timestamp = Timestamp(1_000 * HOUR);

fn table(budget: &str, hysteresis: &str, margin: f64) -> TierTable {
    TierTable::from_toml(&format!(
        r#"
[planner]
hysteresis = "{hysteresis}"
move_budget = "{budget}"
margin = {margin}
horizon = "1d"

[[tier]]
name = "memory"
capacity = 10000
high_watermark = 0.9
low_watermark = 0.7
min_object_size = 100
min_residency = "1h"
storage_cost_per_gb_month = 3
latency = "0.1ms"

[[tier]]
name = "ssd"
capacity = 50000
high_watermark = 0.9
low_watermark = 0.8
min_residency = "2h"
storage_cost_per_gb_month = 0.05
latency = "1ms"

[[tier]]
name = "ipfs"
capacity = "unlimited"
min_residency = "1h"
storage_cost_per_gb_month = 0.006
retrieval_cost_per_gb = 0.01
latency = "500ms"

[[tier]]
name = "filecoin"
capacity = "unlimited"
min_object_size = 1000
min_residency = "180d"
storage_cost_per_gb_month = 0.0005
retrieval_cost_per_gb = 0.02
latency = "2h"
"#
    ))
    .unwrap()
}

fn random_pins(rng: &mut StdRng, n: usize) -> Vec<PlanInput> {
    // Hdd is not in the table: those pins must move to a tier that is.
    let tiers = [
        Tier::Memory,
        Tier::Ssd,
        Tier::Ipfs,
        Tier::Filecoin,
        Tier::Memory,
        Tier::Ssd,
        Tier::Hdd,
    ];
    (0..n)
        .map(|i| PlanInput {
            id: i as u64,
            size_bytes: rng.random_range(1..3000),
            tier: tiers[rng.random_range(0..tiers.len())],
            expected_hits: if rng.random_bool(0.2) {
                0.0
            } else {
                rng.random::<f64>() * 100.0
            },
            last_moved: rng
                .random_bool(0.3)
                .then(|| Timestamp(NOW.0 - rng.random_range(0..6 * HOUR))),
        })
        .collect()
}

/// Where each pin is after the plan.
fn apply(inputs: &[PlanInput], p: &Plan) -> Vec<Tier> {
    let mut tiers: Vec<Tier> = inputs.iter().map(|i| i.tier).collect();
    for m in &p.moves {
        assert_eq!(tiers[m.id as usize], m.from, "a pin moves once per plan");
        tiers[m.id as usize] = m.to;
    }
    tiers
}

fn usage(inputs: &[PlanInput], tiers: &[Tier], t: Tier) -> u64 {
    inputs
        .iter()
        .zip(tiers)
        .filter(|(_, x)| **x == t)
        .map(|(i, _)| i.size_bytes)
        .sum()
}

#[test]
fn plans_keep_tiers_under_high_watermarks_and_within_the_budget() {
    let mut rng = StdRng::seed_from_u64(3);
    for case in 0..60 {
        let budget = ["unlimited", "20000", "3000"][case % 3];
        let t = table(budget, "1h", 0.25);
        let n = rng.random_range(1..200);
        let inputs = random_pins(&mut rng, n);
        let p = plan(&inputs, &t, NOW);
        let after = apply(&inputs, &p);
        let moved: u64 = p.moves.iter().map(|m| m.size_bytes).sum();
        assert_eq!(moved, p.bytes_moved);
        assert!(p.bytes_moved <= t.planner.move_budget_bytes, "case {case}");
        for (j, spec) in t.tiers.iter().enumerate() {
            let before = usage(&inputs, &inputs.iter().map(|i| i.tier).collect::<Vec<_>>(), spec.tier);
            let now = usage(&inputs, &after, spec.tier);
            assert_eq!(now, p.tiers[j].bytes_after, "case {case}: summary of {}", spec.tier);
            // A tier that was within its high watermark stays there; one above never grows.
            if before <= spec.high_bytes() {
                assert!(
                    now <= spec.high_bytes(),
                    "case {case}: {} at {now} > {}",
                    spec.tier,
                    spec.high_bytes()
                );
            } else {
                assert!(now <= before, "case {case}: {} grew while above high", spec.tier);
            }
        }
        for m in &p.moves {
            let input = &inputs[m.id as usize];
            // Locked pins never move (a pin in a tier the table lacks is never locked: it must leave).
            if m.reason == MoveReason::UnknownTier {
                assert_eq!(m.from, Tier::Hdd, "case {case}");
            } else if let Some(t0) = input.last_moved {
                let since = NOW.0 - t0.0;
                let residency = t.get(m.from).unwrap().min_residency_ms;
                assert!(
                    since >= HOUR && since >= residency,
                    "case {case}: locked pin {} moved",
                    m.id
                );
            }
            // Never below the destination's minimum size.
            assert!(input.size_bytes >= t.get(m.to).unwrap().min_object_size, "case {case}");
            match m.reason {
                MoveReason::Promote => assert!(m.to < m.from, "case {case}: {m:?}"),
                MoveReason::Demote | MoveReason::Drain => assert!(m.to > m.from, "case {case}: {m:?}"),
                _ => {}
            }
        }
    }
}

#[test]
fn an_overfull_tier_drains_to_its_low_watermark() {
    let t = table("unlimited", "1h", 0.25);
    // 12,000 bytes in memory (capacity 10,000, high 9,000, low 7,000), all cold.
    let inputs: Vec<PlanInput> = (0..12)
        .map(|i| PlanInput {
            id: i,
            size_bytes: 1000,
            tier: Tier::Memory,
            expected_hits: i as f64,
            last_moved: None,
        })
        .collect();
    let p = plan(&inputs, &t, NOW);
    let mem = &p.tiers[0];
    assert_eq!(mem.bytes_before, 12_000);
    assert!(mem.bytes_after <= 7000, "{mem:?}");
    assert!(
        p.moves
            .iter()
            .all(|m| m.reason == MoveReason::Drain && m.from == Tier::Memory)
    );
    // The coldest leave first.
    let mut left: Vec<u64> = p.moves.iter().map(|m| m.id).collect();
    left.sort_unstable();
    assert_eq!(left, (0..5).collect::<Vec<_>>());
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
}

#[test]
fn hot_pins_are_promoted_cold_ones_demoted_with_reasons_and_costs() {
    let t = table("unlimited", "1h", 0.25);
    let mut inputs = Vec::new();
    // Memory full of cold pins, a hot pin in ipfs.
    for i in 0..9 {
        inputs.push(PlanInput {
            id: i,
            size_bytes: 1000,
            tier: Tier::Memory,
            expected_hits: 1.0,
            last_moved: None,
        });
    }
    inputs.push(PlanInput {
        id: 9,
        size_bytes: 1000,
        tier: Tier::Ipfs,
        expected_hits: 1000.0,
        last_moved: None,
    });
    let p = plan(&inputs, &t, NOW);
    let promo = p.moves.iter().find(|m| m.id == 9).unwrap();
    assert_eq!(
        (promo.from, promo.to, promo.reason),
        (Tier::Ipfs, Tier::Memory, MoveReason::Promote)
    );
    assert!(promo.delta_latency_ms < 0.0);
    assert!(promo.delta_hit_ratio > 0.9);
    assert!(promo.move_cost > 0.0, "reading out of ipfs costs");
    let demoted: Vec<_> = p.moves.iter().filter(|m| m.reason == MoveReason::Demote).collect();
    assert_eq!(demoted.len(), 1, "{:?}", p.moves);
    assert_eq!(demoted[0].to, Tier::Ssd);
    assert!(p.mean_latency_ms_after < p.mean_latency_ms_before);
    // The promotion's demotion comes first, so executing in order never overfills memory.
    let pos = |id| p.moves.iter().position(|m| m.id == id).unwrap();
    assert!(pos(demoted[0].id) < pos(9));
}

#[test]
fn small_pins_leave_tiers_with_a_minimum_size_and_never_enter_them() {
    let t = table("unlimited", "1h", 0.25);
    let inputs = vec![
        PlanInput {
            id: 0,
            size_bytes: 50,
            tier: Tier::Memory,
            expected_hits: 1e6,
            last_moved: None,
        },
        PlanInput {
            id: 1,
            size_bytes: 50,
            tier: Tier::Ipfs,
            expected_hits: 1e6,
            last_moved: None,
        },
    ];
    let p = plan(&inputs, &t, NOW);
    let m0 = p.moves.iter().find(|m| m.id == 0).unwrap();
    assert_eq!((m0.reason, m0.to), (MoveReason::BelowMinSize, Tier::Ssd));
    let m1 = p.moves.iter().find(|m| m.id == 1).unwrap();
    assert_eq!(m1.to, Tier::Ssd);
}

#[test]
fn cold_pins_go_to_the_cheapest_unbounded_tier_and_residency_holds_them() {
    let t = table("unlimited", "1h", 0.25);
    let cold = |id, tier, last_moved| PlanInput {
        id,
        size_bytes: 5000,
        tier,
        expected_hits: 0.0,
        last_moved,
    };
    let inputs = vec![
        cold(0, Tier::Ipfs, None),
        // Moved to filecoin 10 days ago: 180 days of residency hold it even if it turns hot.
        PlanInput {
            expected_hits: 1e6,
            ..cold(1, Tier::Filecoin, Some(Timestamp(NOW.0 - 240 * HOUR)))
        },
    ];
    let p = plan(&inputs, &t, NOW);
    assert_eq!(p.moves.len(), 1, "{:?}", p.moves);
    assert_eq!(
        (p.moves[0].id, p.moves[0].to, p.moves[0].reason),
        (0, Tier::Filecoin, MoveReason::Cheaper)
    );
    assert!(p.moves[0].delta_cost_per_month < 0.0);
    assert_eq!(p.locked_pins, 1);
}

#[test]
fn no_pin_moves_twice_inside_the_hysteresis_window() {
    let mut rng = StdRng::seed_from_u64(8);
    let t = table("unlimited", "6h", 0.25);
    let mut inputs = random_pins(&mut rng, 300);
    for i in &mut inputs {
        i.last_moved = None;
    }
    let mut last_move: Vec<Option<i64>> = vec![None; inputs.len()];
    let mut now = NOW;
    let mut moves = 0;
    for round in 0..30 {
        // Scores wobble by up to 2x every hour.
        for i in &mut inputs {
            i.expected_hits *= rng.random_range(0.5..2.0);
        }
        let p = plan(&inputs, &t, now);
        for m in &p.moves {
            let i = m.id as usize;
            if let Some(prev) = last_move[i] {
                assert!(
                    now.0 - prev >= 6 * HOUR,
                    "round {round}: pin {i} moved again after {} ms",
                    now.0 - prev
                );
            }
            last_move[i] = Some(now.0);
            inputs[i].tier = m.to;
            inputs[i].last_moved = Some(now);
            moves += 1;
        }
        now = now.plus_millis(HOUR);
    }
    assert!(moves > 0);
}

#[test]
fn the_margin_keeps_incumbents_whose_scores_wobble() {
    let t = table("unlimited", "0s", 0.25);
    // Memory holds 9 pins of 1000 bytes; ten candidates of nearly equal heat.
    let mut inputs: Vec<PlanInput> = (0..10)
        .map(|i| PlanInput {
            id: i,
            size_bytes: 1000,
            tier: if i < 9 { Tier::Memory } else { Tier::Ssd },
            expected_hits: 100.0 + i as f64,
            last_moved: None,
        })
        .collect();
    // The newcomer is 9% hotter than the coldest incumbent: inside the 25% margin, nothing moves.
    let p = plan(&inputs, &t, NOW);
    assert!(p.moves.is_empty(), "{:?}", p.moves);
    // 10x hotter: it gets in.
    inputs[9].expected_hits = 1000.0;
    let p = plan(&inputs, &t, NOW);
    assert!(
        p.moves.iter().any(|m| m.id == 9 && m.to == Tier::Memory),
        "{:?}",
        p.moves
    );
}

#[test]
fn applied_plans_become_tier_events() {
    use pin_core::{Cid, EventKind};
    let t = table("unlimited", "1h", 0.25);
    let inputs = vec![PlanInput {
        id: 0,
        size_bytes: 1000,
        tier: Tier::Ipfs,
        expected_hits: 100.0,
        last_moved: None,
    }];
    let p = plan(&inputs, &t, NOW);
    let cid = Cid::parse("bafybeie5nqv6kd3qnfjupgvz34woh3oksc3iau6abmyajn7qvtf6d2ho34").unwrap();
    let events = pin_tiers::tier_events(&p, std::slice::from_ref(&cid), NOW).unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].ts, NOW);
    assert!(matches!(&events[0].kind, EventKind::Tier { cid: c, tier: Tier::Memory } if *c == cid));
    assert!(pin_tiers::tier_events(&p, &[], NOW).is_err());
}

#[test]
fn an_empty_plan_and_demotions_lower_the_hit_ratio() {
    let t = table("unlimited", "1h", 0.25);
    let p = plan(&[], &t, NOW);
    assert!(p.moves.is_empty() && p.warnings.is_empty());
    assert_eq!(p.tiers.len(), 4);
    let inputs: Vec<PlanInput> = (0..12)
        .map(|i| PlanInput {
            id: i,
            size_bytes: 1000,
            tier: Tier::Memory,
            expected_hits: 1.0,
            last_moved: None,
        })
        .collect();
    let p = plan(&inputs, &t, NOW);
    assert!(!p.moves.is_empty());
    for m in &p.moves {
        assert!((m.delta_hit_ratio + 1.0 / 12.0).abs() < 1e-12, "{m:?}");
        assert!(m.delta_latency_ms > 0.0 && m.delta_cost_per_month < 0.0);
    }
}

#[test]
fn a_promotion_the_budget_cannot_finish_leaves_its_demotions_undone() {
    // Memory (high 9,000) is full. The hot pin needs 1,000 bytes, which only demoting the 1,500-byte cold
    // pin frees: 2,500 bytes of moves against a budget of 2,400. Demoting without promoting would lower
    // the hit ratio and spend the budget for nothing, so nothing moves.
    let pin = |id, size_bytes, tier, expected_hits| PlanInput {
        id,
        size_bytes,
        tier,
        expected_hits,
        last_moved: None,
    };
    let mut inputs: Vec<PlanInput> = (0..6).map(|i| pin(i, 1150, Tier::Memory, 100.0)).collect();
    inputs.push(pin(6, 600, Tier::Memory, 0.0));
    inputs.push(pin(7, 1500, Tier::Memory, 0.1));
    inputs.push(pin(8, 1000, Tier::Ipfs, 1000.0));
    let p = plan(&inputs, &table("2400", "1h", 0.25), NOW);
    assert!(p.moves.is_empty(), "{:?}", p.moves);
    assert_eq!(p.bytes_moved, 0);
    assert!(p.deferred_moves >= 2, "the promotion and its demotion wait: {p:?}");
    // With the budget for both, both happen, the demotion first.
    let p = plan(&inputs, &table("2500", "1h", 0.25), NOW);
    let ids: Vec<u64> = p.moves.iter().map(|m| m.id).collect();
    assert_eq!(ids, [7, 8], "{:?}", p.moves);
    assert_eq!(p.moves[1].reason, MoveReason::Promote);
}

#[test]
fn plans_are_deterministic_and_never_promote_a_pin_without_expected_hits() {
    let mut rng = StdRng::seed_from_u64(21);
    for case in 0..40 {
        let t = table(["unlimited", "5000"][case % 2], "1h", [0.0, 0.25][case / 2 % 2]);
        let n = rng.random_range(1..300);
        let inputs = random_pins(&mut rng, n);
        let p = plan(&inputs, &t, NOW);
        assert_eq!(p, plan(&inputs, &t, NOW), "case {case}");
        for m in &p.moves {
            let input = &inputs[m.id as usize];
            // (A pin that must leave its tier, too small or unknown, goes wherever there is room.)
            if input.expected_hits <= 0.0 && !matches!(m.reason, MoveReason::BelowMinSize | MoveReason::UnknownTier) {
                assert!(m.to >= m.from, "case {case}: cold pin promoted: {m:?}");
            }
            assert_eq!(m.size_bytes, input.size_bytes);
            assert_eq!(m.from, input.tier);
        }
        let moved_pins = p.moves.len() as u64;
        assert!(
            moved_pins + p.locked_pins <= n as u64,
            "case {case}: a locked pin moved"
        );
    }
}
