//! The evidence of docs/tiering.md: every policy against Belady's optimum on synthetic traces, the ceiling
//! of online policies (and how it moves with the trace's length), and the planner's flapping check on a
//! phase change.
//!
//! `cargo xtask tiering` runs it (`cargo run --release --locked -p pin-tiers --example evidence`, about 15
//! seconds on two cores; the length sweep runs on a second thread).

use std::io::{self, Write};
use std::time::Instant;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use pin_core::{Tier, Timestamp};
use pin_tiers::predict::DEFAULT_ALPHA;
use pin_tiers::score::DecayedCount;
use pin_tiers::sim::params_for;
use pin_tiers::synth::{self, GAP_MS, Sizes};
use pin_tiers::{
    Belady, DEFAULT_POLICY, Layout, Lfu, POLICY_NAMES, PlanInput, Policy, SimReport, StaticOracle, TierTable, Trace,
    default_half_life_ms, evaluate, hit_bound, plan, policy_by_name, simulate,
};

const OBJECTS: usize = 20_000;
const REQUESTS: usize = 1_000_000;

fn layout(table: &TierTable, capacity: u64) -> Layout {
    let spec = |t: Tier| {
        table
            .get(t)
            .cloned()
            .ok_or_else(|| io::Error::other(format!("no tier {t}")))
    };
    Layout {
        fast: spec(Tier::Nvme).unwrap_or_else(|e| panic!("{e}")),
        fast_capacity: capacity,
        slow: spec(Tier::Ipfs).unwrap_or_else(|e| panic!("{e}")),
    }
}

/// Belady, the oracle (piecewise where the trace has phases starting at the request indices `phases`), then
/// every policy of [`POLICY_NAMES`].
fn run_all(trace: &Trace, layout: &Layout, phases: &[usize]) -> Vec<SimReport> {
    let half_life = default_half_life_ms(trace);
    let params = params_for(trace, layout.fast_capacity, half_life);
    let mut out = vec![
        simulate(trace, layout, &mut Belady::new(trace, layout.fast_capacity)),
        simulate(
            trace,
            layout,
            &mut StaticOracle::piecewise(trace, layout.fast_capacity, phases),
        ),
    ];
    for name in POLICY_NAMES {
        let mut p = policy_by_name(name, &params).unwrap_or_else(|e| panic!("{e}"));
        out.push(simulate(trace, layout, p.as_mut()));
    }
    out
}

/// The header of a markdown table: `first` columns, then one per policy of [`POLICY_NAMES`].
fn table_header(out: &mut impl Write, first: &[&str]) -> io::Result<()> {
    let columns: Vec<&str> = first.iter().chain(POLICY_NAMES).copied().collect();
    writeln!(out, "| {} |", columns.join(" | "))?;
    writeln!(out, "|{}", " --- |".repeat(columns.len()))
}

struct Case {
    name: String,
    trace: Trace,
    /// Bytes the capacities are a percentage of.
    base_bytes: u64,
    /// Request indices where a new popularity starts (none for the stationary traces).
    phases: Vec<usize>,
    /// The generator's popularity order (ids, most popular first) from each request index on: what A0 knows.
    rankings: Vec<(usize, Vec<u32>)>,
}

/// The hit ratio of `policy` on `trace`.
fn hit_ratio(trace: &Trace, policy: &mut dyn Policy) -> f64 {
    let hits = trace.requests.iter().filter(|r| policy.access(r)).count();
    hits as f64 / trace.requests.len().max(1) as f64
}

/// The best online policy in expectation on the synthetic traces (perfect LFU; told where each phase starts
/// when there are phases) and A0, told the generator's popularity order.
fn ceiling(trace: &Trace, cap: u64, phases: &[usize], rankings: &[(usize, Vec<u32>)]) -> (f64, f64) {
    let ranked: Vec<(usize, &[u32])> = rankings.iter().map(|(s, r)| (*s, r.as_slice())).collect();
    (
        hit_ratio(trace, &mut Lfu::forgetting_at(cap, phases)),
        hit_ratio(trace, &mut StaticOracle::a0(trace, cap, &ranked)),
    )
}

fn main() -> io::Result<()> {
    let started = Instant::now();
    // The length sweep makes its own traces; it runs while the rest is measured and prints after the targets.
    let sweep = std::thread::spawn(|| {
        let mut text = Vec::new();
        length_sweep(&mut text).map(|()| text)
    });
    let mut out = io::stdout().lock();
    let table = TierTable::default();
    let unit = Sizes::Fixed(1);
    let mut cases = Vec::new();
    for (i, alpha) in [0.6, 0.8, 1.0, 1.2].into_iter().enumerate() {
        let trace = synth::zipf(OBJECTS, alpha, REQUESTS, unit, 10 + i as u64);
        let base = trace.working_set_bytes();
        cases.push(Case {
            name: format!("zipf {alpha}"),
            trace,
            base_bytes: base,
            phases: Vec::new(),
            rankings: vec![(0, synth::zipf_ranking(OBJECTS, 10 + i as u64))],
        });
    }
    let plain = synth::zipf(OBJECTS, 0.9, REQUESTS, unit, 20);
    let base = plain.working_set_bytes();
    cases.push(Case {
        name: "zipf 0.9".into(),
        trace: plain,
        base_bytes: base,
        phases: Vec::new(),
        rankings: vec![(0, synth::zipf_ranking(OBJECTS, 20))],
    });
    cases.push(Case {
        name: format!("zipf 0.9 + scan of {}", 5 * OBJECTS),
        trace: synth::zipf_with_scan(OBJECTS, 0.9, REQUESTS, 5 * OBJECTS, unit, 20),
        base_bytes: base,
        phases: Vec::new(),
        rankings: vec![(0, synth::zipf_ranking(OBJECTS, 20))],
    });
    let phase = synth::phase_change(OBJECTS, 0.9, REQUESTS, unit, 30);
    let base = phase.working_set_bytes();
    cases.push(Case {
        name: "phase change, zipf 0.9".into(),
        trace: phase.clone(),
        base_bytes: base,
        // `synth::phase_change` reshuffles the popularity at request `requests / 2`.
        phases: vec![REQUESTS / 2],
        rankings: {
            let [first, second] = synth::phase_change_rankings(OBJECTS, 30);
            vec![(0, first), (REQUESTS / 2, second)]
        },
    });

    writeln!(
        out,
        "Request hit ratio of each policy as a fraction of Belady's; objects of equal size, so Belady is the exact optimum.\n\
         {OBJECTS} objects, {REQUESTS} requests per trace (the scan adds its own); fast tier = 1% or 10% of the Zipf working set.\n\
         The static oracle holds the objects with the most requests; on the phase change it chooses them per phase (the piecewise oracle).\n"
    )?;
    table_header(&mut out, &["trace", "fast tier", "Belady hit ratio", "static oracle"])?;
    let mut default_at = Vec::new();
    // (trace, fast tier, Belady, A0, static oracle, best online, default policy), hit ratios.
    let mut ceilings = Vec::new();
    for case in &cases {
        for pct in [1u64, 10] {
            let cap = (case.base_bytes * pct / 100).max(1);
            let reports = run_all(&case.trace, &layout(&table, cap), &case.phases);
            let opt = reports[0].hit_ratio();
            let (best, a0) = ceiling(&case.trace, cap, &case.phases, &case.rankings);
            let default = reports
                .iter()
                .find(|r| r.policy == DEFAULT_POLICY)
                .map_or(0.0, SimReport::hit_ratio);
            ceilings.push((case.name.clone(), pct, opt, a0, reports[1].hit_ratio(), best, default));
            write!(out, "| {} | {pct}% | {opt:.4} |", case.name)?;
            write!(out, " {:.3} |", reports[1].hit_ratio() / opt)?;
            for r in &reports[2..] {
                let frac = if opt > 0.0 { r.hit_ratio() / opt } else { 0.0 };
                write!(out, " {frac:.3} |")?;
                if r.policy == DEFAULT_POLICY {
                    let lru = reports
                        .iter()
                        .find(|r| r.policy == "lru")
                        .map_or(0.0, SimReport::hit_ratio);
                    let oracle = reports[1].hit_ratio();
                    default_at.push((
                        case.name.clone(),
                        pct,
                        frac,
                        r.hit_ratio() - lru,
                        r.hit_ratio() / oracle,
                    ));
                }
            }
            writeln!(out)?;
            let lru = reports
                .iter()
                .find(|r| r.policy == "lru")
                .map_or(0.0, SimReport::hit_ratio);
            let def = reports
                .iter()
                .find(|r| r.policy == DEFAULT_POLICY)
                .map_or(0.0, SimReport::hit_ratio);
            if def <= lru {
                writeln!(
                    out,
                    "<!-- {DEFAULT_POLICY} does not beat LRU here: {def:.4} vs {lru:.4} -->"
                )?;
            }
        }
    }

    // The scan: the default policy's hit ratio on the Zipf requests alone, with and without the scan.
    writeln!(
        out,
        "\nScan resistance: hit ratio on the Zipf 0.9 requests only (scan requests excluded), same fast tier.\n"
    )?;
    writeln!(out, "| policy | fast tier | without scan | with scan | change |")?;
    writeln!(out, "| --- | --- | --- | --- | --- |")?;
    let plain = &cases[4];
    let scanned = &cases[5];
    for name in POLICY_NAMES.iter().copied().chain(["belady"]) {
        for pct in [1u64, 10] {
            let cap = (plain.base_bytes * pct / 100).max(1);
            let half_life = default_half_life_ms(&plain.trace);
            let a = zipf_only_hit_ratio(&plain.trace, cap, name, half_life);
            let b = zipf_only_hit_ratio(&scanned.trace, cap, name, half_life);
            writeln!(out, "| {name} | {pct}% | {a:.4} | {b:.4} | {:+.4} |", b - a)?;
        }
    }

    // Variable sizes: request and byte hit ratio, the space-time bound as the bound, Belady as a reference.
    let var = synth::zipf(OBJECTS, 0.9, REQUESTS, Sizes::LogUniform(1 << 10, 1 << 20), 40);
    writeln!(
        out,
        "\nVariable sizes (log-uniform 1 KiB to 1 MiB), Zipf 0.9. The upper bound is the space-time bound (PFOO-U),\n\
         which no policy can exceed; belady is the furthest-next-use rule, a reference rather than a bound\n\
         (the exact optimum with sizes is NP-hard). Absolute ratios, request / byte.\n"
    )?;
    table_header(&mut out, &["fast tier", "upper bound", "belady", "static oracle"])?;
    for pct in [1u64, 10] {
        let cap = var.working_set_bytes() * pct / 100;
        let reports = run_all(&var, &layout(&table, cap), &[]);
        let bound = hit_bound(&var, cap);
        write!(
            out,
            "| {pct}% | {:.3} / {:.3} |",
            bound.hit_ratio(),
            bound.byte_hit_ratio()
        )?;
        for r in &reports {
            write!(out, " {:.3} / {:.3} |", r.hit_ratio(), r.byte_hit_ratio())?;
        }
        writeln!(out)?;
    }
    let cost = {
        let cap = var.working_set_bytes() / 10;
        let reports = run_all(&var, &layout(&table, cap), &[]);
        reports
            .iter()
            .map(|r| {
                format!(
                    "{}: ${:.6} total (nvme ${:.6}, ipfs ${:.6}), mean latency {:.3} ms",
                    r.policy,
                    r.total_cost(),
                    r.tiers[0].storage_cost + r.tiers[0].retrieval_cost,
                    r.tiers[1].storage_cost + r.tiers[1].retrieval_cost,
                    r.mean_latency_ms()
                )
            })
            .collect::<Vec<_>>()
    };
    writeln!(
        out,
        "\nCost per tier at 10% (nvme in front of ipfs, default tier table, the trace's {:.1} minutes):\n",
        var.duration_ms() as f64 / 60_000.0
    )?;
    for line in cost {
        writeln!(out, "- {line}")?;
    }

    // Default-policy targets.
    writeln!(
        out,
        "\nTargets for the default policy ({DEFAULT_POLICY}), over the {} equal-size traces:\n",
        cases.len()
    )?;
    for pct in [1u64, 10] {
        let rows: Vec<_> = default_at.iter().filter(|d| d.1 == pct).collect();
        let worst = rows.iter().min_by(|a, b| a.2.total_cmp(&b.2));
        let at_90 = rows
            .iter()
            .filter(|d| d.2 >= 0.9)
            .map(|d| d.0.as_str())
            .collect::<Vec<_>>();
        let beats_lru = rows.iter().filter(|d| d.3 > 0.0).count();
        let min_gain = rows.iter().map(|d| d.3).fold(f64::INFINITY, f64::min);
        let min_oracle = rows.iter().map(|d| d.4).fold(f64::INFINITY, f64::min);
        if let Some(w) = worst {
            writeln!(
                out,
                "- {pct}%: lowest fraction of Belady {:.3} ({}); at least 0.9 on {} of {} traces ({}); beats LRU on {} of {} (smallest gain {:+.4}); at least {:.3} of the static oracle",
                w.2,
                w.0,
                at_90.len(),
                rows.len(),
                if at_90.is_empty() {
                    "none".to_owned()
                } else {
                    at_90.join(", ")
                },
                beats_lru,
                rows.len(),
                min_gain,
                min_oracle
            )?;
        }
    }

    ceiling_table(&mut out, &ceilings)?;
    match sweep.join() {
        Ok(text) => out.write_all(&text?)?,
        Err(_) => return Err(io::Error::other("the length sweep panicked")),
    }

    flapping(&mut out, &phase)?;
    prediction(&mut out)?;
    writeln!(out, "\n(evidence computed in {:.1} s)", started.elapsed().as_secs_f64())?;
    Ok(())
}

/// The ceiling of online policies on each trace of the main table, next to A0 and Belady.
fn ceiling_table(out: &mut impl Write, rows: &[(String, u64, f64, f64, f64, f64, f64)]) -> io::Result<()> {
    writeln!(
        out,
        "\nThe ceiling of online policies, as fractions of Belady's hit ratio. A0 holds the objects the generator made most\n\
         probable (told its popularity order, per phase on the phase change). The best online policy is perfect LFU, told\n\
         where the phase starts on the phase change (lfu-per-phase): with popularity dealt to the objects at random, no\n\
         online policy has more hits in expectation (docs/tiering.md).\n"
    )?;
    writeln!(
        out,
        "| trace | fast tier | Belady hit ratio | A0 | static oracle | best online | {DEFAULT_POLICY} | {DEFAULT_POLICY} / best online | best online reaches 0.9 |"
    )?;
    writeln!(out, "|{}", " --- |".repeat(9))?;
    for (name, pct, opt, a0, oracle, best, default) in rows {
        writeln!(
            out,
            "| {name} | {pct}% | {opt:.4} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {} |",
            a0 / opt,
            oracle / opt,
            best / opt,
            default / opt,
            default / best,
            if best / opt >= 0.9 { "yes" } else { "no" }
        )?;
    }
    Ok(())
}

/// Requests per object of the length sweep; 50 is the main table's length.
const SWEEP_LENGTHS: [usize; 3] = [10, 50, 250];

/// How the ceiling moves with the trace's length: the main table's traces (same objects and seeds) with
/// 10, 50 and 250 requests per object, fast tier 10% of each trace's working set.
fn length_sweep(out: &mut impl Write) -> io::Result<()> {
    writeln!(
        out,
        "\nTrace length: the same generators and seeds with {} requests per object ({OBJECTS} objects), fast tier 10% of each\n\
         trace's working set (so the rows at 50 are the main table's); fractions of Belady's hit ratio. Best online is perfect\n\
         LFU (told the phase start on the phase change); the oracle is the static one (piecewise on the phase change).\n",
        SWEEP_LENGTHS.map(|n| n.to_string()).join(", ")
    )?;
    writeln!(
        out,
        "| trace | requests per object | Belady hit ratio | A0 | oracle | best online | {DEFAULT_POLICY} |"
    )?;
    writeln!(out, "|{}", " --- |".repeat(7))?;
    let unit = Sizes::Fixed(1);
    let skews = [(0.6, 10u64), (0.8, 11), (0.9, 20), (1.0, 12), (1.2, 13)];
    for (alpha, seed) in skews.into_iter().map(|(a, s)| (Some(a), s)).chain([(None, 30)]) {
        for per_object in SWEEP_LENGTHS {
            let requests = per_object * OBJECTS;
            let (name, trace, phases, rankings) = match alpha {
                Some(a) => (
                    format!("zipf {a}"),
                    synth::zipf(OBJECTS, a, requests, unit, seed),
                    Vec::new(),
                    vec![(0, synth::zipf_ranking(OBJECTS, seed))],
                ),
                None => {
                    let [first, second] = synth::phase_change_rankings(OBJECTS, seed);
                    (
                        "phase change, zipf 0.9".to_owned(),
                        synth::phase_change(OBJECTS, 0.9, requests, unit, seed),
                        vec![requests / 2],
                        vec![(0, first), (requests / 2, second)],
                    )
                }
            };
            let cap = (trace.working_set_bytes() / 10).max(1);
            let opt = hit_ratio(&trace, &mut Belady::new(&trace, cap));
            let (best, a0) = ceiling(&trace, cap, &phases, &rankings);
            let oracle = hit_ratio(&trace, &mut StaticOracle::piecewise(&trace, cap, &phases));
            let params = params_for(&trace, cap, default_half_life_ms(&trace));
            let mut default = policy_by_name(DEFAULT_POLICY, &params).unwrap_or_else(|e| panic!("{e}"));
            let default = hit_ratio(&trace, default.as_mut());
            writeln!(
                out,
                "| {name} | {per_object} | {opt:.4} | {:.3} | {:.3} | {:.3} | {:.3} |",
                a0 / opt,
                oracle / opt,
                best / opt,
                default / opt
            )?;
        }
    }
    Ok(())
}

/// Prediction quality on two synthetic histories: 2,000 pins over 20 days, trained on the first 15, asked
/// about the next 6 hours. "Periodic": each pin every 1 to 48 hours with 5% jitter and a random phase.
/// "Mixed": half the pins periodic, half Poisson with a mean gap of 1 to 48 hours (memoryless, so nothing
/// predicts them better than their rate).
fn prediction(out: &mut impl Write) -> io::Result<()> {
    const HOUR: i64 = 3_600_000;
    let history = |poisson_share: f64, seed: u64| {
        let mut rng = SmallRng::seed_from_u64(seed);
        let mut h = Vec::new();
        for pin in 0..2000u64 {
            let period = rng.random_range(HOUR..48 * HOUR) as f64;
            let poisson = rng.random_bool(poisson_share);
            let mut t = rng.random_range(0.0..period);
            while t < (20 * 24 * HOUR) as f64 {
                h.push((pin, t as i64));
                t += if poisson {
                    -period * (1.0 - rng.random::<f64>()).ln()
                } else {
                    period * (1.0 + 0.05 * (rng.random::<f64>() * 2.0 - 1.0))
                };
            }
        }
        h
    };
    writeln!(
        out,
        "\nPrediction of \"accessed within the next 6 hours\", trained on days 0-15 of a 20-day history of 2,000 pins (EWMA alpha {DEFAULT_ALPHA}).\n"
    )?;
    writeln!(
        out,
        "| history | pins accessed | predictor | precision | recall | AUC |"
    )?;
    writeln!(out, "| --- | --- | --- | --- | --- | --- |")?;
    for (name, share, seed) in [("periodic", 0.0, 1u64), ("half periodic, half Poisson", 0.5, 2)] {
        let q =
            evaluate(&history(share, seed), 15 * 24 * HOUR, 6 * HOUR, DEFAULT_ALPHA).unwrap_or_else(|e| panic!("{e}"));
        for (pred, sc) in [("gap model", q.model), ("recency", q.recency), ("constant", q.constant)] {
            writeln!(
                out,
                "| {name} | {} of {} | {pred} | {:.3} | {:.3} | {:.3} |",
                q.positives, q.pins, sc.precision, sc.recall, sc.auc
            )?;
        }
    }
    Ok(())
}

fn zipf_only_hit_ratio(trace: &Trace, cap: u64, name: &str, half_life: f64) -> f64 {
    let mut params = params_for(trace, cap, half_life);
    params.expected_objects = cap as usize; // objects have size 1; the scan must not enlarge the sketch
    let mut policy: Box<dyn pin_tiers::Policy> = if name == "belady" {
        Box::new(Belady::new(trace, cap))
    } else {
        policy_by_name(name, &params).unwrap_or_else(|e| panic!("{e}"))
    };
    let (mut hits, mut n) = (0u64, 0u64);
    for r in &trace.requests {
        let hit = policy.access(r);
        if (r.id as usize) < OBJECTS {
            n += 1;
            hits += u64::from(hit);
        }
    }
    hits as f64 / n.max(1) as f64
}

/// Runs the planner every epoch on the phase-change trace: a fast tier of 10% of the working set in front
/// of an unbounded one; each object's expected hits are its decayed count. Measures how often pins move,
/// whether any moves twice inside the hysteresis window, and the hit ratio the placements give.
fn flapping(out: &mut impl Write, trace: &Trace) -> io::Result<()> {
    let epoch_ms = 5_000 * GAP_MS; // 5,000 requests per planning run
    let half_life = 20.0 * epoch_ms as f64;
    let cap = trace.working_set_bytes() / 10;
    writeln!(
        out,
        "\nFlapping: the planner every {} requests on the phase-change trace, fast tier (nvme) of {cap} objects (10%) in front of ipfs.\n",
        epoch_ms / GAP_MS
    )?;
    writeln!(
        out,
        "| hysteresis window | margin | runs | moves | pins moved twice inside the window | hit ratio of the placement |"
    )?;
    writeln!(out, "| --- | --- | --- | --- | --- | --- |")?;
    for (window_epochs, margin) in [(0i64, 0.0), (0, 0.25), (10, 0.25)] {
        let toml = format!(
            "[planner]\nhysteresis = {}\nmove_budget = \"unlimited\"\nmargin = {margin}\nhorizon = {}\n\
             [[tier]]\nname = \"nvme\"\ncapacity = {cap}\nhigh_watermark = 1.0\nlow_watermark = 0.95\nstorage_cost_per_gb_month = 0.1\nlatency = \"0.2ms\"\n\
             [[tier]]\nname = \"ipfs\"\ncapacity = \"unlimited\"\nhigh_watermark = 1.0\nlow_watermark = 1.0\nstorage_cost_per_gb_month = 0.006\nlatency = \"500ms\"\n",
            window_epochs * epoch_ms,
            epoch_ms
        );
        let table = TierTable::from_toml(&toml).unwrap_or_else(|e| panic!("{e}"));
        let n = trace.objects();
        let mut counts = vec![DecayedCount::default(); n];
        let mut tier = vec![Tier::Ipfs; n];
        let mut last_moved: Vec<Option<Timestamp>> = vec![None; n];
        let mut move_times: Vec<Vec<i64>> = vec![Vec::new(); n];
        let (mut runs, mut moves, mut hits) = (0u64, 0u64, 0u64);
        let mut next_plan = epoch_ms;
        for r in &trace.requests {
            if r.time_ms >= next_plan {
                let now = Timestamp(next_plan);
                let inputs: Vec<PlanInput> = (0..n)
                    .map(|i| PlanInput {
                        id: i as u64,
                        size_bytes: trace.sizes[i],
                        tier: tier[i],
                        expected_hits: counts[i].value_at(now.0, half_life),
                        last_moved: last_moved[i],
                    })
                    .collect();
                let p = plan(&inputs, &table, now);
                for m in &p.moves {
                    let i = m.id as usize;
                    tier[i] = m.to;
                    last_moved[i] = Some(now);
                    move_times[i].push(now.0);
                    moves += 1;
                }
                runs += 1;
                next_plan += epoch_ms;
            }
            hits += u64::from(tier[r.id as usize] == Tier::Nvme);
            counts[r.id as usize].add(1.0, r.time_ms, half_life);
        }
        let window = (window_epochs * epoch_ms).max(epoch_ms * 10);
        let twice = move_times
            .iter()
            .filter(|ts| ts.windows(2).any(|w| w[1] - w[0] < window))
            .count();
        writeln!(
            out,
            "| {} runs | {margin} | {runs} | {moves} | {twice} | {:.4} |",
            window_epochs,
            hits as f64 / trace.requests.len() as f64
        )?;
    }
    writeln!(
        out,
        "\n\"Moved twice\" counts pins with two moves less than max(window, 10 runs) apart, so the rows without hysteresis are measured over the same 10-run window."
    )?;
    Ok(())
}
