//! The tier commands: `pindex plan`, `pindex analytics` and `pindex simulate`, glue over `pin-tiers`.
//!
//! `plan` and `analytics` read every pin once through the store's key-order scan, keeping only what the
//! planner needs per pin (a [`PlanInput`], 40 bytes, and for `plan` the CID's text in one arena), never
//! the pins themselves.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use futures::StreamExt;
use pin_api::AnalyticsSummary;
use pin_core::report::{human_bytes, rfc3339};
use pin_core::{Cid, Event, EventBatch, EventKind, PinFilter, PinStatus, PinStore, Tier, Timestamp};
use pin_store::ParquetPinStore;
use pin_store::datafusion::arrow::array::{Array, AsArray};
use pin_store::datafusion::arrow::compute::cast;
use pin_store::datafusion::arrow::datatypes::{DataType, Int64Type};
use pin_tiers::{
    AnalyticsBuilder, Capacity, Layout, MoveRow, PlanInput, PlanTotals, PredictionQuality, TierSummary, TierTable,
    Trace,
};
use serde::Serialize;

use crate::Settings;
use crate::output::{Format, write_report};

/// Tier events applied per store batch by `plan --apply`.
const APPLY_BATCH: usize = 10_000;
/// Most access events `analytics` loads to score the predictor (16 bytes each).
const MAX_EVAL_ACCESSES: usize = 20_000_000;

/// The tier table of `--tiers FILE`, or the shipped default.
pub(crate) fn load_table(path: Option<&Path>) -> anyhow::Result<TierTable> {
    match path {
        Some(p) => TierTable::from_path(p).with_context(|| format!("reading the tier table {}", p.display())),
        None => Ok(TierTable::default()),
    }
}

/// CID texts of the pins planned, by [`PlanInput::id`], in one allocation.
#[derive(Debug, Default)]
struct CidArena {
    text: String,
    ends: Vec<usize>,
}

impl CidArena {
    fn push(&mut self, cid: &str) {
        self.text.push_str(cid);
        self.ends.push(self.text.len());
    }
    fn get(&self, id: u64) -> &str {
        let i = usize::try_from(id).unwrap_or(usize::MAX);
        let end = self.ends.get(i).copied().unwrap_or(0);
        let start = if i == 0 {
            0
        } else {
            self.ends.get(i - 1).copied().unwrap_or(0)
        };
        self.text.get(start..end).unwrap_or("")
    }
}

/// When each pin last changed tier through a `tier` event (what the hysteresis window counts from).
///
/// One aggregate over the `pin_history` table: it reads the history's `event`, `cid` and `ts` columns and
/// keeps one entry per pin that ever had a tier event.
async fn last_moves(store: &ParquetPinStore) -> anyhow::Result<HashMap<String, Timestamp>> {
    let df = store
        .sql("SELECT cid, max(ts) AS ts FROM pin_history WHERE event = 'tier' GROUP BY cid")
        .await?;
    let mut stream = df.execute_stream().await?;
    let mut out = HashMap::new();
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        let cids = cast(batch.column(0), &DataType::Utf8)?;
        let ts = cast(batch.column(1), &DataType::Int64)?;
        let (cids, ts) = (cids.as_string::<i32>(), ts.as_primitive::<Int64Type>());
        for i in 0..batch.num_rows() {
            if cids.is_valid(i) && ts.is_valid(i) {
                out.insert(cids.value(i).to_owned(), Timestamp(ts.value(i)));
            }
        }
    }
    Ok(out)
}

/// What one scan of the pins gathers.
#[derive(Debug)]
struct Gathered {
    inputs: Vec<PlanInput>,
    cids: CidArena,
    analytics: Option<AnalyticsBuilder>,
}

/// Scans every pin once: plan inputs of the pins that are not unpinned, their CIDs if `keep_cids`, and
/// analytics if a builder is given.
async fn gather(
    s: &Settings,
    store: &ParquetPinStore,
    table: &TierTable,
    now: Timestamp,
    keep_cids: bool,
    mut analytics: Option<AnalyticsBuilder>,
) -> anyhow::Result<Gathered> {
    let moved = last_moves(store).await.context("reading the tier history")?;
    let bar = s.progress.then(|| {
        let bar = indicatif::ProgressBar::new_spinner().with_message("reading pins");
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {msg}: {pos} [{elapsed_precise}]")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    });
    let mut scan = store.scan(PinFilter::default(), None).await?;
    let mut inputs = Vec::new();
    let mut cids = CidArena::default();
    let mut seen = 0u64;
    while let Some(view) = scan.next().await? {
        seen += 1;
        if let Some(bar) = &bar
            && seen.is_multiple_of(10_000)
        {
            bar.set_position(seen);
        }
        if let Some(a) = &mut analytics {
            a.add(&view);
        }
        if view.pin.status == PinStatus::Unpinned {
            continue;
        }
        let id = inputs.len() as u64;
        let last = moved.get(view.pin.cid.as_str()).copied();
        inputs.push(PlanInput::from_view(id, &view, last, now, table.planner.horizon_ms));
        if keep_cids {
            cids.push(view.pin.cid.as_str());
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    Ok(Gathered {
        inputs,
        cids,
        analytics,
    })
}

#[derive(Debug, Serialize)]
struct PlanReport {
    at: String,
    tiers_file: Option<String>,
    pins: u64,
    horizon_ms: i64,
    applied: bool,
    totals: PlanTotals,
    tiers: Vec<TierSummary>,
    moves: Vec<MoveRow>,
}

/// `pindex plan [--tiers FILE] [--at TS] [--apply]`.
pub(crate) async fn plan(
    s: &Settings,
    out: &mut impl Write,
    tiers: Option<&Path>,
    at: Option<Timestamp>,
    apply: bool,
    format: Format,
) -> anyhow::Result<ExitCode> {
    let table = load_table(tiers)?;
    // --apply takes the writer lock first, so the pins planned are the pins changed.
    let store = if apply {
        s.open_writer().await?
    } else {
        s.open_reader().await?
    };
    let now = at.unwrap_or_else(crate::commands::now);
    let g = gather(s, &store, &table, now, true, None).await?;
    let p = pin_tiers::plan(&g.inputs, &table, now);
    let pins = g.inputs.len() as u64;
    drop(g.inputs);
    let moves: Vec<MoveRow> = p
        .moves
        .iter()
        .map(|m| MoveRow::of(m, g.cids.get(m.id).to_owned()))
        .collect();
    drop(g.cids);
    if apply && !moves.is_empty() {
        for chunk in moves.chunks(APPLY_BATCH) {
            let events = chunk
                .iter()
                .map(|m| {
                    Ok(Event {
                        ts: now,
                        kind: EventKind::Tier {
                            cid: Cid::parse(&m.cid)?,
                            tier: m.to,
                        },
                    })
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            store.apply(EventBatch::new(events)).await?;
        }
    }
    let report = PlanReport {
        at: rfc3339(now),
        tiers_file: tiers.map(|t| t.display().to_string()),
        pins,
        horizon_ms: table.planner.horizon_ms,
        applied: apply,
        totals: p.totals(),
        tiers: p.tiers,
        moves,
    };
    if format != Format::Table {
        write_report(out, format, &report)?;
        return Ok(ExitCode::SUCCESS);
    }
    let b = |t: &str| s.out_style.bold(t);
    if !report.moves.is_empty() {
        writeln!(
            out,
            "{}",
            b(&format!(
                "{:<59}  {:<8} {:<8} {:>10} {:>9}  {}",
                "CID", "FROM", "TO", "SIZE", "HITS", "REASON"
            ))
        )?;
        for m in &report.moves {
            writeln!(
                out,
                "{:<59}  {:<8} {:<8} {:>10} {:>9.2}  {}",
                m.cid,
                m.from.as_str(),
                m.to.as_str(),
                human_bytes(m.size_bytes),
                m.expected_hits,
                m.why
            )?;
        }
        writeln!(out)?;
    }
    print_plan_summary(out, s, &report.totals, &report.tiers)?;
    let verb = if apply { "applied" } else { "planned" };
    writeln!(
        out,
        "{verb} {} moves of {} pins as of {}{}",
        report.totals.moves,
        report.pins,
        report.at,
        if apply || report.moves.is_empty() {
            ""
        } else {
            " (nothing recorded; --apply records them)"
        }
    )?;
    Ok(ExitCode::SUCCESS)
}

fn print_plan_summary(out: &mut impl Write, s: &Settings, t: &PlanTotals, tiers: &[TierSummary]) -> anyhow::Result<()> {
    let b = |x: &str| s.out_style.bold(x);
    writeln!(
        out,
        "{}",
        b(&format!(
            "{:<9} {:>12} {:>12} {:>12} {:>10} {:>10} {:>10} {:>10}",
            "TIER", "CAPACITY", "BYTES", "AFTER", "PINS", "AFTER", "HIT SHARE", "AFTER"
        ))
    )?;
    for r in tiers {
        writeln!(
            out,
            "{:<9} {:>12} {:>12} {:>12} {:>10} {:>10} {:>9.1}% {:>9.1}%",
            r.tier.as_str(),
            r.capacity().map_or_else(|| "unlimited".to_owned(), human_bytes),
            human_bytes(r.bytes_before),
            human_bytes(r.bytes_after),
            r.pins_before,
            r.pins_after,
            r.hit_share_before * 100.0,
            r.hit_share_after * 100.0
        )?;
    }
    writeln!(
        out,
        "moves     {} ({}), {} of a budget of {}; {} deferred, {} pins locked by hysteresis or residency",
        t.moves,
        reason_counts(&t.by_reason),
        human_bytes(t.bytes_moved),
        human_bytes(t.budget_bytes),
        t.deferred_moves,
        t.locked_pins
    )?;
    writeln!(
        out,
        "cost      ${:.2}/month before, ${:.2}/month after",
        t.cost_per_month_before, t.cost_per_month_after
    )?;
    writeln!(
        out,
        "latency   {:.3} ms per expected access before, {:.3} ms after",
        t.mean_latency_ms_before, t.mean_latency_ms_after
    )?;
    for w in &t.warnings {
        writeln!(out, "warning   {w}")?;
    }
    Ok(())
}

#[derive(Debug, Serialize)]
struct PredictionSection {
    /// Accesses from here to `split` train the model.
    window_start: String,
    /// Accesses in `[split, split + horizon)` are the answers.
    split: String,
    horizon_ms: i64,
    accesses_read: u64,
    /// `null` when there was nothing to score (see `note`).
    quality: Option<PredictionQuality>,
    note: Option<String>,
}

/// `pindex analytics --format json`: the API's analytics with the prediction section before the plan.
#[derive(Debug, Serialize)]
struct AnalyticsReport {
    #[serde(flatten)]
    summary: AnalyticsSummary,
    prediction: PredictionSection,
    plan: PlanTotals,
}

/// Scores the predictor on the access history: accesses in `[split - days, split)` train it, those in
/// `[split, split + horizon)` with `split = now - horizon` answer it.
async fn prediction(
    store: &ParquetPinStore,
    now: Timestamp,
    horizon_ms: i64,
    days: u32,
) -> anyhow::Result<PredictionSection> {
    let split = Timestamp(now.0.saturating_sub(horizon_ms));
    let start = Timestamp(split.0.saturating_sub(i64::from(days) * 86_400_000));
    let mut section = PredictionSection {
        window_start: rfc3339(start),
        split: rfc3339(split),
        horizon_ms,
        accesses_read: 0,
        quality: None,
        note: None,
    };
    if days == 0 {
        section.note = Some("skipped (--history-days 0)".into());
        return Ok(section);
    }
    let end = Timestamp(split.0.saturating_add(horizon_ms));
    let df = store
        .sql(&format!(
            "SELECT cid, ts FROM access_events WHERE ts >= '{}' AND ts < '{}'",
            rfc3339(start),
            rfc3339(end)
        ))
        .await?;
    let mut stream = df.execute_stream().await?;
    let mut accesses: Vec<(u64, i64)> = Vec::new();
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        let cids = cast(batch.column(0), &DataType::Utf8)?;
        let ts = cast(batch.column(1), &DataType::Int64)?;
        let (cids, ts) = (cids.as_string::<i32>(), ts.as_primitive::<Int64Type>());
        for i in 0..batch.num_rows() {
            accesses.push((twox_hash::XxHash64::oneshot(0, cids.value(i).as_bytes()), ts.value(i)));
        }
        if accesses.len() > MAX_EVAL_ACCESSES {
            section.accesses_read = accesses.len() as u64;
            section.note = Some(format!(
                "more than {MAX_EVAL_ACCESSES} accesses in the window; pass a smaller --history-days"
            ));
            return Ok(section);
        }
    }
    section.accesses_read = accesses.len() as u64;
    if !accesses.iter().any(|&(_, t)| t < split.0) {
        section.note = Some(format!(
            "no access between {} and {} to learn from; a larger --history-days may find some",
            section.window_start, section.split
        ));
        return Ok(section);
    }
    match pin_tiers::evaluate(&accesses, split.0, horizon_ms, pin_tiers::predict::DEFAULT_ALPHA) {
        Ok(q) => section.quality = Some(q),
        Err(e) => section.note = Some(e.to_string()),
    }
    Ok(section)
}

/// `pindex analytics [--top N] [--tiers FILE] [--at TS] [--history-days D]`.
pub(crate) async fn analytics(
    s: &Settings,
    out: &mut impl Write,
    top: usize,
    tiers: Option<&Path>,
    at: Option<Timestamp>,
    history_days: u32,
    format: Format,
) -> anyhow::Result<ExitCode> {
    let table = load_table(tiers)?;
    let store = s.open_reader().await?;
    let now = at.unwrap_or_else(crate::commands::now);
    let g = gather(s, &store, &table, now, false, Some(AnalyticsBuilder::new(now, top))).await?;
    let a = g
        .analytics
        .map(AnalyticsBuilder::finish)
        .context("analytics were not gathered")?;
    let p = pin_tiers::plan(&g.inputs, &table, now);
    drop(g.inputs);
    let pred = prediction(&store, now, table.planner.horizon_ms, history_days).await?;
    let report = AnalyticsReport {
        summary: AnalyticsSummary::of(now, a),
        prediction: pred,
        plan: p.totals(),
    };
    if format != Format::Table {
        write_report(out, format, &report)?;
        return Ok(ExitCode::SUCCESS);
    }
    let b = |t: &str| s.out_style.bold(t);
    let a = &report.summary;
    writeln!(out, "pins        {:>12}   ({})", a.pins, human_bytes(a.bytes))?;
    writeln!(
        out,
        "never read  {:>12}   ({})",
        a.never_read.pins,
        human_bytes(a.never_read.bytes)
    )?;
    let pc = &a.patterns;
    writeln!(
        out,
        "patterns    {} sequential, {} random, {} mixed, {} whole, {} unknown (pins)",
        pc.sequential, pc.random, pc.mixed, pc.whole, pc.unknown
    )?;
    let r = &a.reads;
    writeln!(
        out,
        "reads       {} sequential ({:.1}%), {} random ({:.1}%), {} whole ({:.1}%)",
        r.sequential,
        r.sequential_share * 100.0,
        r.random,
        r.random_share * 100.0,
        r.whole,
        r.whole_share * 100.0
    )?;
    for (title, list) in [("hottest pins", &a.hottest), ("coldest pins (ever read)", &a.coldest)] {
        if list.is_empty() {
            continue;
        }
        writeln!(out, "{}", b(title))?;
        for p in list {
            writeln!(
                out,
                "  {:>10.3}  {:>10}  {}",
                p.hotness,
                human_bytes(p.size_bytes),
                p.cid
            )?;
        }
    }
    let pr = &report.prediction;
    writeln!(out, "{}", b("prediction (accessed within the horizon)"))?;
    writeln!(
        out,
        "  trained on {} .. {}, scored on the next {:.1} h ({} accesses read)",
        pr.window_start,
        pr.split,
        pr.horizon_ms as f64 / 3_600_000.0,
        pr.accesses_read
    )?;
    if let Some(q) = &pr.quality {
        writeln!(out, "  {} pins scored, {} accessed", q.pins, q.positives)?;
        for (name, sc) in [("model", q.model), ("recency", q.recency), ("constant", q.constant)] {
            writeln!(
                out,
                "  {name:<9} precision {:.3}  recall {:.3}  AUC {:.3}",
                sc.precision, sc.recall, sc.auc
            )?;
        }
    }
    if let Some(n) = &pr.note {
        writeln!(out, "  {n}")?;
    }
    writeln!(out, "{}", b("current plan"))?;
    let t = &report.plan;
    writeln!(
        out,
        "  {} moves ({}), {}; {} deferred; ${:.2}/month -> ${:.2}/month",
        t.moves,
        reason_counts(&t.by_reason),
        human_bytes(t.bytes_moved),
        t.deferred_moves,
        t.cost_per_month_before,
        t.cost_per_month_after
    )?;
    writeln!(out, "as of {}", rfc3339(report.summary.as_of))?;
    Ok(ExitCode::SUCCESS)
}

/// Moves counted by reason, as `3 promote, 1 demote` (or `none`), for the plan summaries.
fn reason_counts(by_reason: &BTreeMap<&'static str, u64>) -> String {
    if by_reason.is_empty() {
        return "none".to_owned();
    }
    by_reason
        .iter()
        .map(|(k, v)| format!("{v} {k}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[derive(Debug, Serialize)]
struct SimRow {
    policy: String,
    requests: u64,
    hits: u64,
    hit_ratio: f64,
    /// This policy's hit ratio over Belady's (`null` when Belady had no hit).
    of_belady: Option<f64>,
    bytes: u64,
    hit_bytes: u64,
    byte_hit_ratio: f64,
    total_cost: f64,
    mean_latency_ms: f64,
    tiers: Vec<pin_tiers::TierUsage>,
}

#[derive(Debug, Serialize)]
struct SimCapacity {
    capacity: String,
    capacity_bytes: u64,
    /// No policy exceeds these (a relaxation; exact for nothing, valid for every policy and size mix).
    bound_hit_ratio: f64,
    bound_byte_hit_ratio: f64,
    results: Vec<SimRow>,
}

#[derive(Debug, Serialize)]
struct SimulateReport {
    trace: String,
    requests: u64,
    objects: u64,
    working_set_bytes: u64,
    duration_ms: i64,
    half_life_ms: f64,
    fast_tier: Tier,
    slow_tier: Tier,
    capacities: Vec<SimCapacity>,
}

/// What `pindex simulate` was asked.
#[derive(Debug)]
pub(crate) struct SimulateRequest {
    pub(crate) trace: PathBuf,
    pub(crate) policies: Vec<String>,
    pub(crate) capacities: Vec<String>,
    pub(crate) tiers: Option<PathBuf>,
    pub(crate) fast_tier: Tier,
    pub(crate) slow_tier: Tier,
}

/// `pindex simulate --trace FILE [--policy NAME]... [--capacity BYTES|PERCENT]...`.
pub(crate) fn simulate(
    s: &Settings,
    out: &mut impl Write,
    req: &SimulateRequest,
    format: Format,
) -> anyhow::Result<ExitCode> {
    let table = load_table(req.tiers.as_deref())?;
    let spec = |t: Tier| {
        table
            .get(t)
            .cloned()
            .with_context(|| format!("tier {t} is not in the tier table; add it or pick another"))
    };
    let (fast, slow) = (spec(req.fast_tier)?, spec(req.slow_tier)?);
    if req.fast_tier >= req.slow_tier {
        bail!(
            "--fast-tier {} must be faster than --slow-tier {}",
            req.fast_tier,
            req.slow_tier
        );
    }
    let trace = Trace::from_path(&req.trace).with_context(|| format!("reading the trace {}", req.trace.display()))?;
    if trace.requests.is_empty() {
        bail!("{}: the trace has no requests", req.trace.display());
    }
    let caps: Vec<String> = if req.capacities.is_empty() {
        vec!["10%".into()]
    } else {
        req.capacities.clone()
    };
    let policies: Vec<&str> = if req.policies.is_empty() {
        vec![pin_tiers::DEFAULT_POLICY]
    } else {
        req.policies.iter().map(String::as_str).collect()
    };
    let half_life = pin_tiers::default_half_life_ms(&trace);
    let ws = trace.working_set_bytes();
    let mut capacities = Vec::with_capacity(caps.len());
    for c in &caps {
        let bytes = Capacity::parse(c)?.resolve(ws);
        let layout = Layout {
            fast: fast.clone(),
            fast_capacity: bytes,
            slow: slow.clone(),
        };
        let reports = pin_tiers::compare(&trace, &layout, &policies, half_life)?;
        let belady = reports.first().map_or(0.0, pin_tiers::SimReport::hit_ratio);
        let bound = pin_tiers::hit_bound(&trace, bytes);
        capacities.push(SimCapacity {
            capacity: c.clone(),
            capacity_bytes: bytes,
            bound_hit_ratio: bound.hit_ratio(),
            bound_byte_hit_ratio: bound.byte_hit_ratio(),
            results: reports
                .into_iter()
                .map(|r| SimRow {
                    hit_ratio: r.hit_ratio(),
                    of_belady: (belady > 0.0).then(|| r.hit_ratio() / belady),
                    byte_hit_ratio: r.byte_hit_ratio(),
                    total_cost: r.total_cost(),
                    mean_latency_ms: r.mean_latency_ms(),
                    policy: r.policy,
                    requests: r.requests,
                    hits: r.hits,
                    bytes: r.bytes,
                    hit_bytes: r.hit_bytes,
                    tiers: r.tiers,
                })
                .collect(),
        });
    }
    let report = SimulateReport {
        trace: req.trace.display().to_string(),
        requests: trace.requests.len() as u64,
        objects: trace.objects() as u64,
        working_set_bytes: ws,
        duration_ms: trace.duration_ms(),
        half_life_ms: half_life,
        fast_tier: req.fast_tier,
        slow_tier: req.slow_tier,
        capacities,
    };
    if format != Format::Table {
        write_report(out, format, &report)?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(
        out,
        "{}: {} requests of {} objects ({} working set) over {:.1} s; fast tier {}, slow tier {}",
        report.trace,
        report.requests,
        report.objects,
        human_bytes(report.working_set_bytes),
        report.duration_ms as f64 / 1000.0,
        report.fast_tier,
        report.slow_tier
    )?;
    for c in &report.capacities {
        writeln!(out)?;
        writeln!(
            out,
            "{}",
            s.out_style.bold(&format!(
                "fast tier {} ({}); no policy exceeds hit ratio {:.4}, byte hit ratio {:.4}",
                c.capacity,
                human_bytes(c.capacity_bytes),
                c.bound_hit_ratio,
                c.bound_byte_hit_ratio
            ))
        )?;
        writeln!(
            out,
            "{}",
            s.out_style.bold(&format!(
                "  {:<14} {:>10} {:>10} {:>10} {:>12} {:>12}",
                "POLICY", "HIT RATIO", "OF BELADY", "BYTE HITS", "COST $", "LATENCY MS"
            ))
        )?;
        for r in &c.results {
            writeln!(
                out,
                "  {:<14} {:>10.4} {:>10} {:>10.4} {:>12.4} {:>12.3}",
                r.policy,
                r.hit_ratio,
                r.of_belady.map_or_else(|| "-".to_owned(), |x| format!("{x:.3}")),
                r.byte_hit_ratio,
                r.total_cost,
                r.mean_latency_ms
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cid_arena_returns_each_text_by_id() {
        let mut a = CidArena::default();
        for c in ["Qma", "bafyb", "c"] {
            a.push(c);
        }
        assert_eq!((a.get(0), a.get(1), a.get(2)), ("Qma", "bafyb", "c"));
        assert_eq!(a.get(3), "");
    }
}
