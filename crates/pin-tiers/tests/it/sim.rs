use pin_core::Tier;
use pin_tiers::synth::{self, Sizes};
use pin_tiers::{
    Belady, HitBound, Layout, Lfu, POLICY_NAMES, Policy, PolicyParams, Request, StaticOracle, TierTable, Trace,
    compare, hit_bound, policy_by_name, simulate,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The obvious LRU: a vector in recency order, most recent last.
struct NaiveLru {
    capacity: u64,
    items: Vec<(u32, u64)>,
}

impl NaiveLru {
    fn access(&mut self, id: u32, size: u64) -> bool {
        if let Some(pos) = self.items.iter().position(|&(i, _)| i == id) {
            let item = self.items.remove(pos);
            self.items.push(item);
            return true;
        }
        if size > self.capacity {
            return false;
        }
        self.items.push((id, size));
        while self.items.iter().map(|&(_, s)| s).sum::<u64>() > self.capacity {
            self.items.remove(0);
        }
        false
    }
}

fn random_trace(rng: &mut StdRng, objects: u32, len: usize, max_size: u64) -> Trace {
    let sizes: Vec<u64> = (0..objects).map(|_| rng.random_range(1..=max_size)).collect();
    let hot = rng.random_range(1..=objects);
    let reqs: Vec<(i64, u32)> = (0..len)
        .map(|t| {
            // Half the requests go to a small hot set, so hits happen.
            let id = if rng.random_bool(0.5) {
                rng.random_range(0..hot)
            } else {
                rng.random_range(0..objects)
            };
            (t as i64, id)
        })
        .collect();
    Trace::from_ids(sizes, reqs).unwrap()
}

#[test]
fn simulator_lru_agrees_with_a_naive_lru_on_random_traces() {
    let mut rng = StdRng::seed_from_u64(7);
    for case in 0..300 {
        let objects = rng.random_range(1..60);
        let max_size = if case % 3 == 0 { 1 } else { rng.random_range(1..50) };
        let len = rng.random_range(1..400);
        let trace = random_trace(&mut rng, objects, len, max_size);
        let capacity = rng.random_range(0..200);
        let mut lru = policy_by_name("lru", &params(capacity)).unwrap();
        let mut naive = NaiveLru {
            capacity,
            items: Vec::new(),
        };
        for (i, r) in trace.requests.iter().enumerate() {
            let a = lru.access(r);
            let b = naive.access(r.id, r.size);
            assert_eq!(a, b, "case {case}, request {i} ({r:?}), capacity {capacity}");
            assert_eq!(lru.used(), naive.items.iter().map(|&(_, s)| s).sum::<u64>());
            assert!(lru.used() <= capacity);
        }
        for id in 0..objects {
            assert_eq!(
                lru.contains(id),
                naive.items.iter().any(|&(i, _)| i == id),
                "case {case}: contents differ on {id}"
            );
        }
    }
}

fn params(capacity: u64) -> PolicyParams {
    PolicyParams {
        capacity_bytes: capacity,
        expected_objects: capacity as usize,
        half_life_ms: 50.0,
    }
}

fn hits(trace: &Trace, p: &mut dyn Policy) -> u64 {
    replay(trace, p).0
}

/// Hits and hit bytes of one replay.
fn replay(trace: &Trace, p: &mut dyn Policy) -> (u64, u64) {
    let (mut hits, mut bytes) = (0, 0);
    for r in trace.requests.iter().filter(|r| p.access(r)) {
        hits += 1;
        bytes += r.bytes;
    }
    (hits, bytes)
}

/// Every named policy, then Belady, the static oracle and the piecewise oracle (phases split at a third and
/// at the middle of the trace) for `trace` (the offline ones).
fn every_policy(trace: &Trace, capacity: u64) -> Vec<Box<dyn Policy>> {
    let mut all: Vec<Box<dyn Policy>> = POLICY_NAMES
        .iter()
        .map(|n| policy_by_name(n, &params(capacity)).unwrap())
        .collect();
    all.push(Box::new(Belady::new(trace, capacity)));
    all.push(Box::new(StaticOracle::new(trace, capacity)));
    let len = trace.requests.len();
    all.push(Box::new(StaticOracle::piecewise(trace, capacity, &[len / 3, len / 2])));
    // A0 and LFU told of phases, with rankings that are just some order of the ids.
    let ids: Vec<u32> = (0..trace.objects() as u32).collect();
    let reversed: Vec<u32> = ids.iter().rev().copied().collect();
    all.push(Box::new(StaticOracle::a0(
        trace,
        capacity,
        &[(0, &ids), (len / 2, &reversed)],
    )));
    all.push(Box::new(Lfu::forgetting_at(capacity, &[len / 3, len / 2])));
    all
}

#[test]
fn perfect_lfu_has_the_most_hits_on_average_when_popularity_is_assigned_at_random() {
    // The argument of docs/tiering.md: when requests are independent and the popularities are dealt to the
    // objects at random, holding the objects with the most requests so far is the best online policy in
    // expectation. Short traces, where learning the popularity matters most.
    let mut total = vec![0u64; POLICY_NAMES.len()];
    for seed in 0..100 {
        let trace = synth::zipf(300, 0.9, 3000, Sizes::Fixed(1), 1000 + seed);
        for (i, name) in POLICY_NAMES.iter().enumerate() {
            total[i] += hits(&trace, policy_by_name(name, &params(30)).unwrap().as_mut());
        }
    }
    let lfu = total[POLICY_NAMES.iter().position(|&n| n == "lfu").unwrap()];
    for (name, &h) in POLICY_NAMES.iter().zip(&total) {
        assert!(lfu >= h, "lfu {lfu} < {name} {h}");
    }
}

#[test]
fn belady_beats_every_policy_on_every_trace_of_equal_sizes() {
    let mut rng = StdRng::seed_from_u64(11);
    for case in 0..150 {
        let trace = if case % 2 == 0 {
            let (objects, len) = (rng.random_range(2..80), rng.random_range(10..600));
            random_trace(&mut rng, objects, len, 1)
        } else {
            synth::zipf(
                rng.random_range(2..200),
                0.9,
                rng.random_range(10..2000),
                Sizes::Fixed(1),
                case,
            )
        };
        let capacity = rng.random_range(1..40);
        let best = hits(&trace, &mut Belady::new(&trace, capacity));
        for p in &mut every_policy(&trace, capacity) {
            let h = hits(&trace, p.as_mut());
            assert!(best >= h, "case {case}: belady {best} < {} {h}", p.name());
        }
    }
}

#[test]
fn every_policy_stays_within_capacity_with_variable_sizes() {
    let mut rng = StdRng::seed_from_u64(5);
    for case in 0..50 {
        let trace = random_trace(&mut rng, 100, 2000, 300);
        let capacity = rng.random_range(1..3000);
        for p in &mut every_policy(&trace, capacity) {
            for r in &trace.requests {
                p.access(r);
                assert!(
                    p.used() <= capacity,
                    "case {case}: {} holds {} > {capacity}",
                    p.name(),
                    p.used()
                );
            }
        }
    }
}

#[test]
fn compare_reports_belady_lru_and_the_policies_with_costs() {
    let table = TierTable::default();
    let trace = synth::zipf(500, 1.0, 20_000, Sizes::Fixed(1 << 20), 3);
    let layout = Layout {
        fast: table.get(Tier::Nvme).unwrap().clone(),
        fast_capacity: trace.working_set_bytes() / 10,
        slow: table.get(Tier::Ipfs).unwrap().clone(),
    };
    let reports = compare(
        &trace,
        &layout,
        &["w-tinylfu", "LRU", "belady", "static-oracle"],
        60_000.0,
    )
    .unwrap();
    let names: Vec<_> = reports.iter().map(|r| r.policy.as_str()).collect();
    assert_eq!(names, ["belady", "lru", "w-tinylfu", "static-oracle"]);
    for r in &reports {
        assert_eq!(r.requests, 20_000);
        assert_eq!(r.tiers[0].requests + r.tiers[1].requests, r.requests);
        assert!((r.byte_hit_ratio() - r.hit_ratio()).abs() < 1e-12, "equal sizes");
        // Retrieval from IPFS is charged per byte the slow tier served.
        let expected = r.tiers[1].bytes_served as f64 / 1e9 * 0.01;
        assert!((r.tiers[1].retrieval_cost - expected).abs() < 1e-9);
    }
    assert!(reports[0].hit_ratio() >= reports[2].hit_ratio());
    assert!(
        reports[2].hit_ratio() > reports[1].hit_ratio(),
        "w-tinylfu beats lru on zipf"
    );
    assert!(
        reports[2].total_cost() < reports[1].total_cost(),
        "fewer bytes retrieved from ipfs"
    );
    let err = compare(&trace, &layout, &["clock"], 1.0).unwrap_err().to_string();
    assert!(err.contains("clock"), "{err}");
}

#[test]
fn a_scan_does_not_flush_the_hot_set_of_the_default_policy() {
    let plain = synth::zipf(2000, 0.9, 100_000, Sizes::Fixed(1), 9);
    let scanned = synth::zipf_with_scan(2000, 0.9, 100_000, 20_000, Sizes::Fixed(1), 9);
    let zipf_hit_ratio = |t: &Trace, name: &str| {
        let mut p = policy_by_name(name, &params(200)).unwrap();
        let (mut h, mut n) = (0u64, 0u64);
        for r in &t.requests {
            let hit = p.access(r);
            if r.id < 2000 {
                n += 1;
                h += u64::from(hit);
            }
        }
        h as f64 / n as f64
    };
    let before = zipf_hit_ratio(&plain, pin_tiers::DEFAULT_POLICY);
    let after = zipf_hit_ratio(&scanned, pin_tiers::DEFAULT_POLICY);
    assert!(
        after > before - 0.01,
        "default policy: {before} without scan, {after} with"
    );
    let lru_after = zipf_hit_ratio(&scanned, "lru");
    assert!(after > lru_after);
}

#[test]
fn requests_of_a_trace_keep_their_object_size() {
    let r = Request {
        time_ms: 0,
        id: 0,
        size: 10,
        bytes: 4,
    };
    let mut lru = policy_by_name("lru", &params(10)).unwrap();
    assert!(!lru.access(&r));
    assert_eq!(lru.used(), 10);
    let trace = Trace::from_ids(vec![10], [(0, 0), (1, 0)]).unwrap();
    let table = TierTable::default();
    let layout = Layout {
        fast: table.get(Tier::Memory).unwrap().clone(),
        fast_capacity: 10,
        slow: table.get(Tier::Hdd).unwrap().clone(),
    };
    let rep = simulate(&trace, &layout, lru.as_mut());
    assert_eq!(rep.hits, 2, "the object is already cached");
}

#[test]
fn capacities_parse_as_bytes_or_a_share_of_the_working_set() {
    use pin_tiers::Capacity;
    assert_eq!(Capacity::parse("10%").unwrap().resolve(1000), 100);
    assert_eq!(Capacity::parse("4 KiB").unwrap().resolve(1000), 4096);
    assert_eq!(Capacity::parse("512").unwrap(), Capacity::Bytes(512));
    let e = Capacity::parse("150%").unwrap_err().to_string();
    assert!(e.contains("150%"), "{e}");
    assert!(Capacity::parse("lots").is_err());
}

/// The best any demand-fetching cache can do, by exhaustive search over its possible contents: after each
/// request it may keep any subset of what it held plus the requested object that fits. Returns the most
/// hits and, separately, the most hit bytes. Traces of at most 10 objects.
fn exhaustive_optimum(trace: &Trace, capacity: u64) -> (u64, u64) {
    let k = trace.objects();
    assert!(k <= 10);
    let size_of = |set: usize| -> u64 { (0..k).filter(|o| set >> o & 1 == 1).map(|o| trace.sizes[o]).sum() };
    let mut best = [vec![None::<u64>; 1 << k], vec![None::<u64>; 1 << k]];
    best[0][0] = Some(0);
    best[1][0] = Some(0);
    for r in &trace.requests {
        let bit = 1usize << r.id;
        for (goal, gain) in [(0, 1u64), (1, r.bytes)] {
            let mut next = vec![None::<u64>; 1 << k];
            for (held, v) in best[goal].iter().enumerate() {
                let Some(v) = *v else { continue };
                let v = v + if held & bit != 0 { gain } else { 0 };
                let base = held | bit;
                let mut keep = base;
                loop {
                    if size_of(keep) <= capacity && next[keep].is_none_or(|x| x < v) {
                        next[keep] = Some(v);
                    }
                    if keep == 0 {
                        break;
                    }
                    keep = (keep - 1) & base;
                }
            }
            best[goal] = next;
        }
    }
    let max = |v: &[Option<u64>]| v.iter().flatten().copied().max().unwrap_or(0);
    (max(&best[0]), max(&best[1]))
}

/// `(hits, hit bytes)` within the bound.
fn assert_within(bound: &HitBound, (hits, bytes): (u64, u64), what: &str) {
    assert!(
        bound.hits + 1e-9 >= hits as f64,
        "{what}: {hits} hits above the bound {}",
        bound.hits
    );
    assert!(
        bound.hit_bytes + 1e-9 >= bytes as f64,
        "{what}: {bytes} hit bytes above the bound {}",
        bound.hit_bytes
    );
}

#[test]
fn belady_is_the_exact_optimum_for_equal_sizes_and_the_bound_holds_for_any_sizes() {
    let mut rng = StdRng::seed_from_u64(19);
    for case in 0..400 {
        let objects = rng.random_range(1..=7);
        let equal = case % 2 == 0;
        let max_size = if equal { 1 } else { rng.random_range(2..10) };
        let len = rng.random_range(1..24);
        let mut trace = random_trace(&mut rng, objects, len, max_size);
        if equal {
            // Equal sizes above one byte, with a capacity that need not be a multiple of them.
            let s = rng.random_range(1..5);
            trace = Trace::from_ids(
                vec![s; objects as usize],
                trace.requests.iter().map(|r| (r.time_ms, r.id)),
            )
            .unwrap();
        }
        let capacity = rng.random_range(0..(objects as u64 * max_size.max(4)));
        let (opt_hits, opt_bytes) = exhaustive_optimum(&trace, capacity);
        let belady = hits(&trace, &mut Belady::new(&trace, capacity));
        if equal {
            assert_eq!(
                belady, opt_hits,
                "case {case}: Belady is not optimal with equal sizes, capacity {capacity}"
            );
        } else {
            assert!(belady <= opt_hits, "case {case}");
        }
        let bound = hit_bound(&trace, capacity);
        assert_within(&bound, (opt_hits, opt_bytes), &format!("case {case}: the optimum"));
        assert!(bound.hits <= trace.requests.len() as f64);
    }
}

#[test]
fn the_hit_bound_is_above_every_policy_on_larger_traces() {
    let mut rng = StdRng::seed_from_u64(23);
    for case in 0..40 {
        let trace = if case % 2 == 0 {
            random_trace(&mut rng, 200, 3000, 500)
        } else {
            synth::zipf(500, 0.9, 5000, Sizes::LogUniform(10, 1000), case)
        };
        let capacity = trace.working_set_bytes() * rng.random_range(1..30) / 100;
        let bound = hit_bound(&trace, capacity);
        for p in &mut every_policy(&trace, capacity) {
            let done = replay(&trace, p.as_mut());
            assert_within(&bound, done, &format!("case {case}: {}", p.name()));
        }
    }
}

#[test]
fn an_unlimited_fast_tier_misses_only_first_requests() {
    // `--capacity unlimited` is u64::MAX bytes: no policy may overflow or size a sketch by it.
    let trace = synth::zipf(300, 0.8, 5000, Sizes::LogUniform(1, 1 << 20), 4);
    let distinct = trace
        .requests
        .iter()
        .map(|r| r.id)
        .collect::<std::collections::BTreeSet<_>>()
        .len() as u64;
    let table = TierTable::default();
    let layout = Layout {
        fast: table.get(Tier::Nvme).unwrap().clone(),
        fast_capacity: pin_tiers::Capacity::parse("unlimited")
            .unwrap()
            .resolve(trace.working_set_bytes()),
        slow: table.get(Tier::Ipfs).unwrap().clone(),
    };
    assert_eq!(layout.fast_capacity, u64::MAX);
    let reports = compare(&trace, &layout, POLICY_NAMES, 1000.0).unwrap();
    assert_eq!(reports.len(), POLICY_NAMES.len() + 1, "belady and every policy");
    for r in &reports {
        assert_eq!(r.hits, r.requests - distinct, "{}", r.policy);
    }
    let bound = hit_bound(&trace, u64::MAX);
    assert!((bound.hits - (trace.requests.len() as u64 - distinct) as f64).abs() < 1e-6);
}
