//! The planner: from per-pin scores, predictions and sizes and the tier table, the moves to make.
//!
//! # How it decides
//!
//! 1. **Locks.** A pin that moved less than the hysteresis window ago, or has been in its tier less than the
//!    tier's minimum residency, stays where it is; its bytes count against its tier.
//! 2. **Targets.** A tier above its high watermark is drained to its low watermark; any other tier may fill
//!    up to its high watermark.
//! 3. **Fill by hits per byte.** The other pins, sorted once by expected hits per byte (`O(n log n)`),
//!    fill the capacity-bounded tiers fastest first: each tier takes the densest pins not yet placed that
//!    it allows (not below its minimum object size) while it has room. A pin with no expected hit is never
//!    promoted.
//! 4. **Hysteresis band.** While a tier fills, the pins already in it compete with their hits per byte
//!    raised by `margin` (1 + margin times), so a newcomer displaces an incumbent only if it is that much
//!    denser, and scores that wobble around a tier's cut-off move nothing.
//! 5. **Unbounded tiers** (IPFS, Filecoin) take what the bounded ones do not hold: each pin goes to the
//!    one with the lowest expected monthly cost (storage plus retrieval of its expected hits), and a pin
//!    already in an unbounded tier moves only if that saves more than `margin` of its cost.
//! 6. **Budget.** Moves are carried out in priority order on a model of the tiers' fill: pins in tiers
//!    that cannot hold them (too small, unknown tier), then drains, then promotions hottest first (each
//!    demoting the coldest pins planned to leave its destination, as far as room requires), then moves
//!    between unbounded tiers. A move that would exceed the byte budget or overfill its destination is
//!    deferred to a later run, and so are the demotions it would have needed: a move and the demotions
//!    that make its room are applied together or not at all. Demotions that no promotion needs are
//!    deferred too.
//!
//! The output is deterministic: ties in hits per byte are broken by position in `inputs`, and
//! [`Plan::moves`] is in the order to carry out (each demotion before the move it makes room for), so
//! applying the moves in order never takes a tier above its high watermark.
//!
//! Every step is linear after the sort, so a plan for ten million pins takes a few seconds.

use std::fmt;

use pin_core::{Cid, Event, EventKind, PinStats, PinView, Tier, Timestamp};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::predict::GapEstimate;
use crate::score::stats_rate_per_ms;
use crate::tiers::{MS_PER_MONTH, TierSpec, TierTable};

/// What the planner knows about one pin.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlanInput {
    /// The caller's handle for the pin (an index into its own list).
    pub id: u64,
    /// Size in bytes.
    pub size_bytes: u64,
    /// The tier it is in.
    pub tier: Tier,
    /// Accesses expected within the planner's horizon (see [`expected_hits`]).
    pub expected_hits: f64,
    /// When it last changed tier, if known (unknown counts as long ago).
    pub last_moved: Option<Timestamp>,
}

/// Accesses expected in `[now, now + horizon)` from a store's statistics: the probability of at least one
/// access (the [`GapEstimate`] model) times the accesses expected at the decayed-hotness rate, at least one.
pub fn expected_hits(stats: &PinStats, now: Timestamp, horizon_ms: i64) -> f64 {
    let Some(gaps) = GapEstimate::from_stats(stats) else {
        return 0.0;
    };
    let p = gaps.probability_within(now.0, horizon_ms);
    let rate = stats_rate_per_ms(stats, now) * horizon_ms as f64;
    p * rate.max(1.0)
}

impl PlanInput {
    /// The input for a pin as a store shows it.
    pub fn from_view(id: u64, view: &PinView, last_moved: Option<Timestamp>, now: Timestamp, horizon_ms: i64) -> Self {
        Self {
            id,
            size_bytes: view.pin.size_bytes,
            tier: view.pin.primary_tier,
            expected_hits: expected_hits(&view.stats, now, horizon_ms),
            last_moved,
        }
    }
}

/// Why a pin moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MoveReason {
    /// It earns more hits per byte than what a faster tier holds.
    Promote,
    /// Hotter pins need its room.
    Demote,
    /// Its tier is above the high watermark and drains to the low one.
    Drain,
    /// It is smaller than its tier's minimum object size.
    BelowMinSize,
    /// Its tier is not in the table.
    UnknownTier,
    /// Another unbounded tier holds it for less (storage plus expected retrieval).
    Cheaper,
}

impl fmt::Display for MoveReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Promote => "earns more hits per byte than the destination's cut-off",
            Self::Demote => "hotter pins need its room",
            Self::Drain => "its tier is above the high watermark",
            Self::BelowMinSize => "smaller than its tier's minimum object size",
            Self::UnknownTier => "its tier is not in the tier table",
            Self::Cheaper => "cheaper in the destination for its expected accesses",
        })
    }
}

impl MoveReason {
    /// The snake_case name reports and JSON use.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Promote => "promote",
            Self::Demote => "demote",
            Self::Drain => "drain",
            Self::BelowMinSize => "below_min_size",
            Self::UnknownTier => "unknown_tier",
            Self::Cheaper => "cheaper",
        }
    }
}

/// A plan's totals, as `pindex plan --format json` and `GET /v1/plan` print them under `totals`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanTotals {
    /// Moves planned.
    pub moves: u64,
    /// Moves per reason ([`MoveReason::as_str`]).
    pub by_reason: std::collections::BTreeMap<&'static str, u64>,
    /// Bytes the moves transfer.
    pub bytes_moved: u64,
    /// The move budget.
    pub budget_bytes: u64,
    /// Moves left for a later run.
    pub deferred_moves: u64,
    /// Pins held by hysteresis or minimum residency.
    pub locked_pins: u64,
    /// Monthly cost before, dollars.
    pub cost_per_month_before: f64,
    /// Monthly cost after, dollars.
    pub cost_per_month_after: f64,
    /// Mean latency per expected hit before, ms.
    pub mean_latency_ms_before: f64,
    /// Mean latency per expected hit after, ms.
    pub mean_latency_ms_after: f64,
    /// Problems the plan could not solve.
    pub warnings: Vec<String>,
}

impl Plan {
    /// The plan's totals.
    pub fn totals(&self) -> PlanTotals {
        let mut by_reason = std::collections::BTreeMap::new();
        for m in &self.moves {
            *by_reason.entry(m.reason.as_str()).or_insert(0u64) += 1;
        }
        PlanTotals {
            moves: self.moves.len() as u64,
            by_reason,
            bytes_moved: self.bytes_moved,
            budget_bytes: self.budget_bytes,
            deferred_moves: self.deferred_moves,
            locked_pins: self.locked_pins,
            cost_per_month_before: self.cost_per_month_before,
            cost_per_month_after: self.cost_per_month_after,
            mean_latency_ms_before: self.mean_latency_ms_before,
            mean_latency_ms_after: self.mean_latency_ms_after,
            warnings: self.warnings.clone(),
        }
    }
}

/// One planned move.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Move {
    /// The pin ([`PlanInput::id`]).
    pub id: u64,
    /// From.
    pub from: Tier,
    /// To.
    pub to: Tier,
    /// Bytes moved.
    pub size_bytes: u64,
    /// Why.
    pub reason: MoveReason,
    /// Expected hits within the horizon.
    pub expected_hits: f64,
    /// Change in monthly cost: storage, plus retrieval of the expected hits (dollars, negative saves).
    pub delta_cost_per_month: f64,
    /// One-time cost of reading the pin out of its tier (dollars).
    pub move_cost: f64,
    /// Change in the hit ratio of the faster of the two tiers and those above it: the pin's share of all
    /// expected hits, positive when it moves to a faster tier, negative when it moves to a slower one.
    pub delta_hit_ratio: f64,
    /// Change in total latency of the expected hits over the horizon (ms, negative is faster).
    pub delta_latency_ms: f64,
}

/// One tier before and after the plan, as `pindex plan --format json` and `GET /v1/plan` print it under
/// `tiers` (where an unlimited size, `u64::MAX`, is `null`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TierSummary {
    /// Which tier.
    pub tier: Tier,
    /// Its capacity (`u64::MAX`: unlimited).
    #[serde(serialize_with = "unlimited_as_null")]
    pub capacity_bytes: u64,
    /// Its high watermark in bytes (`u64::MAX`: unlimited).
    #[serde(serialize_with = "unlimited_as_null")]
    pub high_bytes: u64,
    /// Bytes before the plan.
    pub bytes_before: u64,
    /// Bytes after the planned moves.
    pub bytes_after: u64,
    /// Pins before.
    pub pins_before: u64,
    /// Pins after.
    pub pins_after: u64,
    /// Share of expected hits served before.
    pub hit_share_before: f64,
    /// Share of expected hits served after.
    pub hit_share_after: f64,
}

impl TierSummary {
    /// The capacity, `None` when unlimited.
    pub fn capacity(&self) -> Option<u64> {
        (self.capacity_bytes != u64::MAX).then_some(self.capacity_bytes)
    }
}

/// Serializes a size as a number, or `null` when it is `u64::MAX` (unlimited).
fn unlimited_as_null<S: serde::Serializer>(n: &u64, s: S) -> std::result::Result<S::Ok, S::Error> {
    if *n == u64::MAX {
        s.serialize_none()
    } else {
        s.serialize_u64(*n)
    }
}

/// One planned move, as `pindex plan --format json` and `GET /v1/plan` print it under `moves`: a [`Move`]
/// with the pin's CID and its reason in words.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MoveRow {
    /// The pin.
    pub cid: String,
    /// From.
    pub from: Tier,
    /// To.
    pub to: Tier,
    /// Its bytes.
    pub size_bytes: u64,
    /// Why, as a name.
    pub reason: MoveReason,
    /// Why, in words.
    pub why: String,
    /// Expected hits within the horizon.
    pub expected_hits: f64,
    /// Change in monthly cost, dollars.
    pub delta_cost_per_month: f64,
    /// One-time cost of the move, dollars.
    pub move_cost: f64,
    /// Change in hit ratio.
    pub delta_hit_ratio: f64,
    /// Change in latency, ms.
    pub delta_latency_ms: f64,
}

impl MoveRow {
    /// The row of `m`, the move of the pin `cid`.
    pub fn of(m: &Move, cid: String) -> Self {
        Self {
            cid,
            from: m.from,
            to: m.to,
            size_bytes: m.size_bytes,
            reason: m.reason,
            why: m.reason.to_string(),
            expected_hits: m.expected_hits,
            delta_cost_per_month: m.delta_cost_per_month,
            move_cost: m.move_cost,
            delta_hit_ratio: m.delta_hit_ratio,
            delta_latency_ms: m.delta_latency_ms,
        }
    }
}

/// The planner's answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    /// When it was made.
    pub at: Timestamp,
    /// Moves to carry out, in this order: each demotion comes before the move it makes room for, so
    /// `pindex plan --apply` (see [`tier_events`]) never takes a tier above its high watermark midway.
    pub moves: Vec<Move>,
    /// Per tier, fastest first.
    pub tiers: Vec<TierSummary>,
    /// Bytes the moves transfer.
    pub bytes_moved: u64,
    /// The budget.
    pub budget_bytes: u64,
    /// Moves the ideal placement wanted that wait for a later run (budget, room, or not needed yet).
    pub deferred_moves: u64,
    /// Pins held in place by hysteresis or minimum residency.
    pub locked_pins: u64,
    /// Monthly cost (storage plus retrieval of expected hits) before.
    pub cost_per_month_before: f64,
    /// Monthly cost after.
    pub cost_per_month_after: f64,
    /// Mean latency per expected hit before (ms).
    pub mean_latency_ms_before: f64,
    /// Mean latency per expected hit after (ms).
    pub mean_latency_ms_after: f64,
    /// Problems the plan could not solve (a tier left above its high watermark, pins no tier accepts).
    pub warnings: Vec<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Pending,
    Applied,
    Dropped,
}

struct Exec<'a> {
    inputs: &'a [PlanInput],
    /// Planned moves: (input index, from index or `NONE`, to index, reason).
    planned: Vec<(u32, u8, u8, MoveReason)>,
    state: Vec<State>,
    /// Per tier, planned demotions out of it, coldest first, and how far they were consumed.
    outq: Vec<Vec<u32>>,
    outq_pos: Vec<usize>,
    usage: Vec<u64>,
    high: Vec<u64>,
    moved: u64,
    budget: u64,
    applied: Vec<u32>,
    /// Moves given up on, in order, so that a failed attempt can restore them.
    dropped: Vec<u32>,
}

/// What [`Exec::rollback`] restores.
struct Checkpoint {
    applied: usize,
    dropped: usize,
    moved: u64,
    usage: Vec<u64>,
    outq_pos: Vec<usize>,
}

/// The tier index of a pin whose tier is not in the table.
const NONE: u8 = u8::MAX;

impl Exec<'_> {
    /// Applies planned move `m` if it fits its destination's high watermark and the budget, together with
    /// the demotions it needs; otherwise changes nothing (a promotion never leaves its demotions behind).
    fn try_apply(&mut self, m: u32) -> bool {
        let mi = m as usize;
        if self.state[mi] != State::Pending {
            return self.state[mi] == State::Applied;
        }
        let (i, from, to, _) = self.planned[mi];
        let (size, to) = (self.inputs[i as usize].size_bytes, usize::from(to));
        let cap = self.high[to];
        // The bytes that must leave the destination first count against the budget too: do not spend the
        // budget on room for a move that cannot fit in it.
        let over = self.usage[to].saturating_add(size).saturating_sub(cap);
        if self.moved.saturating_add(size).saturating_add(over) > self.budget {
            return false;
        }
        if over > 0 {
            let saved = self.checkpoint();
            if !self.make_room(to, size, cap) || self.moved.saturating_add(size) > self.budget {
                self.rollback(saved);
                return false;
            }
        }
        self.state[mi] = State::Applied;
        if from != NONE {
            self.usage[usize::from(from)] -= size;
        }
        self.usage[to] = self.usage[to].saturating_add(size);
        self.moved += size;
        self.applied.push(m);
        true
    }

    /// Demotes pins planned to leave tier `j` until `need` more bytes fit under `cap`; `false` (with the
    /// demotions that were possible applied) when they cannot.
    fn make_room(&mut self, j: usize, need: u64, cap: u64) -> bool {
        while self.usage[j].saturating_add(need) > cap {
            let Some(&m) = self.outq[j].get(self.outq_pos[j]) else {
                return false;
            };
            self.outq_pos[j] += 1;
            if !self.try_apply(m) && self.state[m as usize] == State::Pending {
                self.state[m as usize] = State::Dropped;
                self.dropped.push(m);
            }
            if self.moved >= self.budget {
                return self.usage[j].saturating_add(need) <= cap;
            }
        }
        true
    }

    fn checkpoint(&self) -> Checkpoint {
        Checkpoint {
            applied: self.applied.len(),
            dropped: self.dropped.len(),
            moved: self.moved,
            usage: self.usage.clone(),
            outq_pos: self.outq_pos.clone(),
        }
    }

    fn rollback(&mut self, c: Checkpoint) {
        for m in self.applied.drain(c.applied..).chain(self.dropped.drain(c.dropped..)) {
            self.state[m as usize] = State::Pending;
        }
        self.moved = c.moved;
        self.usage = c.usage;
        self.outq_pos = c.outq_pos;
    }
}

fn density(p: &PlanInput) -> f64 {
    let d = p.expected_hits / p.size_bytes.max(1) as f64;
    if d.is_finite() && d > 0.0 { d } else { 0.0 }
}

fn monthly_cost(spec: &TierSpec, size: u64, hits_per_month: f64) -> f64 {
    spec.storage_cost_per_month(size) + spec.retrieval_cost(size) * hits_per_month
}

/// Plans the moves for `inputs` on `table` at `now` (see the [module documentation](self) for how).
///
/// Pure and deterministic: the same inputs give the same plan, and nothing is read or written. A pin whose
/// tier is not in `table` is never locked and moves to one that is ([`MoveReason::UnknownTier`]).
pub fn plan(inputs: &[PlanInput], table: &TierTable, now: Timestamp) -> Plan {
    let cfg = &table.planner;
    let k = table.tiers.len();
    let tiers = &table.tiers;
    let bounded: Vec<bool> = tiers.iter().map(|t| t.capacity_bytes != u64::MAX).collect();
    let high: Vec<u64> = tiers.iter().map(TierSpec::high_bytes).collect();
    let low: Vec<u64> = tiers.iter().map(TierSpec::low_bytes).collect();
    let per_month = MS_PER_MONTH / cfg.horizon_ms.max(1) as f64;
    let margin = 1.0 + cfg.margin;
    let n = inputs.len();

    // Where every pin is, and the fill before.
    let mut cur = vec![NONE; n];
    let mut usage = vec![0u64; k];
    let mut pins_before = vec![0u64; k];
    let mut hits_before = vec![0f64; k];
    let total_hits: f64 = inputs.iter().map(|p| p.expected_hits.max(0.0)).sum();
    for (i, p) in inputs.iter().enumerate() {
        if let Some(j) = table.index_of(p.tier) {
            cur[i] = j as u8;
            usage[j] = usage[j].saturating_add(p.size_bytes);
            pins_before[j] += 1;
            hits_before[j] += p.expected_hits.max(0.0);
        }
    }
    let usage_before = usage.clone();
    let draining: Vec<bool> = (0..k).map(|j| bounded[j] && usage[j] > high[j]).collect();
    let target: Vec<u64> = (0..k).map(|j| if draining[j] { low[j] } else { high[j] }).collect();

    // Locks.
    let mut locked_pins = 0u64;
    let mut room = target.clone();
    let mut order: Vec<(u64, u32)> = Vec::with_capacity(n);
    for (i, p) in inputs.iter().enumerate() {
        let j = cur[i];
        let locked = j != NONE
            && p.last_moved.is_some_and(|t| {
                let since = now.0.saturating_sub(t.0);
                since < cfg.hysteresis_ms || since < tiers[usize::from(j)].min_residency_ms
            });
        if locked {
            locked_pins += 1;
            room[usize::from(j)] = room[usize::from(j)].saturating_sub(p.size_bytes);
        } else {
            // Descending density: the complement of the bits of a non-negative float sorts ascending.
            order.push((!density(p).to_bits(), i as u32));
        }
    }
    order.sort_unstable();

    // Everything the passes below read, gathered once into the sorted order so they stream through memory.
    let pd: Vec<f64> = order.iter().map(|&(key, _)| f64::from_bits(!key)).collect();
    let ps: Vec<u64> = order.iter().map(|&(_, i)| inputs[i as usize].size_bytes).collect();
    let pc: Vec<u8> = order.iter().map(|&(_, i)| cur[i as usize]).collect();
    let m = order.len();
    let allowed = |p: usize, j: usize| ps[p] >= tiers[j].min_object_size;
    let may_enter = |p: usize, j: usize| allowed(p, j) && (pd[p] > 0.0 || pc[p] == NONE || j >= usize::from(pc[p]));

    // Bounded tiers, fastest first: each takes the densest pins that remain, its own pins competing with
    // their density raised by the margin. The incumbents of tier j are a subsequence of the sorted order,
    // and scaling keeps their order, so each tier is one merge of two sorted streams: O(n) per tier.
    let mut incumbents: Vec<Vec<u32>> = vec![Vec::new(); k];
    for (p, &c) in pc.iter().enumerate() {
        if c != NONE && bounded[usize::from(c)] {
            incumbents[usize::from(c)].push(p as u32);
        }
    }
    let mut desired_p: Vec<u8> = pc.clone();
    let mut placed = vec![false; m];
    let mut rem = room;
    for j in (0..k).filter(|&j| bounded[j]) {
        let inc = &incumbents[j];
        let (mut a, mut b) = (0usize, 0usize);
        while rem[j] > 0 {
            while a < m && (placed[a] || usize::from(pc[a]) == j) {
                a += 1;
            }
            while b < inc.len() && placed[inc[b] as usize] {
                b += 1;
            }
            let take_b = match (a < m, b < inc.len()) {
                (false, false) => break,
                (true, false) => false,
                (false, true) => true,
                (true, true) => pd[inc[b] as usize] * margin >= pd[a],
            };
            let p = if take_b {
                b += 1;
                inc[b - 1] as usize
            } else {
                a += 1;
                a - 1
            };
            if may_enter(p, j) && rem[j] >= ps[p] {
                rem[j] -= ps[p];
                placed[p] = true;
                desired_p[p] = j as u8;
            }
        }
    }

    // What the bounded tiers do not hold goes to the cheapest unbounded tier.
    let mut warnings = Vec::new();
    let mut homeless = 0u64;
    for p in 0..m {
        if placed[p] {
            continue;
        }
        let hits_month = pd[p] * ps[p].max(1) as f64 * per_month;
        let best = (0..k)
            .filter(|&j| !bounded[j] && allowed(p, j))
            .map(|j| (monthly_cost(&tiers[j], ps[p], hits_month), j))
            .min_by(|a, b| a.0.total_cmp(&b.0));
        desired_p[p] = match (best, pc[p]) {
            (Some((_, b)), c) if c == NONE || bounded[usize::from(c)] || !allowed(p, usize::from(c)) => b as u8,
            (Some((cost, b)), c) => {
                let now_cost = monthly_cost(&tiers[usize::from(c)], ps[p], hits_month);
                if cost * margin < now_cost { b as u8 } else { c }
            }
            (None, c) => {
                homeless += 1;
                c
            }
        };
    }
    if homeless > 0 {
        warnings.push(format!(
            "{homeless} pins fit no tier with room; they stay where they are"
        ));
    }

    // The moves the ideal placement wants, hottest first (the sorted order; locked pins never move).
    let mut planned = Vec::new();
    for p in 0..m {
        let (c, dst) = (pc[p], desired_p[p]);
        if dst == NONE || c == dst {
            continue;
        }
        let reason = if c == NONE {
            MoveReason::UnknownTier
        } else if !allowed(p, usize::from(c)) {
            MoveReason::BelowMinSize
        } else if !bounded[usize::from(c)] && !bounded[usize::from(dst)] {
            MoveReason::Cheaper
        } else if dst < c {
            MoveReason::Promote
        } else if draining[usize::from(c)] {
            MoveReason::Drain
        } else {
            MoveReason::Demote
        };
        planned.push((order[p].1, c, dst, reason));
    }
    drop((pd, ps, pc, placed, desired_p, incumbents));

    // Carry them out on a model of the fill, within the budget. Demotion queues are coldest first.
    let mut outq: Vec<Vec<u32>> = vec![Vec::new(); k];
    for (m, &(_, from, to, reason)) in planned.iter().enumerate().rev() {
        if from != NONE && to > from && matches!(reason, MoveReason::Demote | MoveReason::Drain | MoveReason::Cheaper) {
            outq[usize::from(from)].push(m as u32);
        }
    }
    let mut exec = Exec {
        inputs,
        state: vec![State::Pending; planned.len()],
        planned,
        outq,
        outq_pos: vec![0; k],
        usage,
        high: high.clone(),
        moved: 0,
        budget: cfg.move_budget_bytes,
        applied: Vec::new(),
        dropped: Vec::new(),
    };
    // Planned moves are already in descending hits per byte.
    let by_density = |exec: &Exec<'_>, filter: &dyn Fn(MoveReason) -> bool| -> Vec<u32> {
        (0..exec.planned.len() as u32)
            .filter(|&m| filter(exec.planned[m as usize].3))
            .collect()
    };
    for m in by_density(&exec, &|r| {
        matches!(r, MoveReason::BelowMinSize | MoveReason::UnknownTier)
    }) {
        exec.try_apply(m);
    }
    for (j, &drain) in draining.iter().enumerate() {
        if drain {
            exec.make_room(j, 0, low[j]);
        }
    }
    for m in by_density(&exec, &|r| r == MoveReason::Promote) {
        exec.try_apply(m);
    }
    for m in by_density(&exec, &|r| r == MoveReason::Cheaper) {
        exec.try_apply(m);
    }

    // Report.
    let mut moves = Vec::with_capacity(exec.applied.len());
    let mut after_tier: Vec<u8> = cur.clone();
    for &m in &exec.applied {
        let (i, from, to, reason) = exec.planned[m as usize];
        let p = &inputs[i as usize];
        after_tier[i as usize] = to;
        let to_spec = &tiers[usize::from(to)];
        let hits_month = p.expected_hits.max(0.0) * per_month;
        let (from_tier, cost_from, retrieval, lat_from) = if from == NONE {
            (p.tier, 0.0, 0.0, to_spec.latency_ms)
        } else {
            let s = &tiers[usize::from(from)];
            (
                s.tier,
                monthly_cost(s, p.size_bytes, hits_month),
                s.retrieval_cost(p.size_bytes),
                s.latency_ms,
            )
        };
        moves.push(Move {
            id: p.id,
            from: from_tier,
            to: to_spec.tier,
            size_bytes: p.size_bytes,
            reason,
            expected_hits: p.expected_hits,
            delta_cost_per_month: monthly_cost(to_spec, p.size_bytes, hits_month) - cost_from,
            move_cost: retrieval,
            delta_hit_ratio: if total_hits > 0.0 {
                let share = p.expected_hits.max(0.0) / total_hits;
                if from != NONE && to > from { -share } else { share }
            } else {
                0.0
            },
            delta_latency_ms: p.expected_hits.max(0.0) * (to_spec.latency_ms - lat_from),
        });
    }
    let deferred_moves = (exec.planned.len() - exec.applied.len()) as u64;
    let mut pins_after = vec![0u64; k];
    let mut hits_after = vec![0f64; k];
    let (mut cost_before, mut cost_after, mut lat_before, mut lat_after) = (0.0, 0.0, 0.0, 0.0);
    for (i, p) in inputs.iter().enumerate() {
        let hits = p.expected_hits.max(0.0);
        let hits_month = hits * per_month;
        if cur[i] != NONE {
            let s = &tiers[usize::from(cur[i])];
            cost_before += monthly_cost(s, p.size_bytes, hits_month);
            lat_before += hits * s.latency_ms;
        }
        if after_tier[i] != NONE {
            let j = usize::from(after_tier[i]);
            pins_after[j] += 1;
            hits_after[j] += hits;
            cost_after += monthly_cost(&tiers[j], p.size_bytes, hits_month);
            lat_after += hits * tiers[j].latency_ms;
        }
    }
    let share = |h: f64| if total_hits > 0.0 { h / total_hits } else { 0.0 };
    let summaries: Vec<TierSummary> = (0..k)
        .map(|j| TierSummary {
            tier: tiers[j].tier,
            capacity_bytes: tiers[j].capacity_bytes,
            high_bytes: high[j],
            bytes_before: usage_before[j],
            bytes_after: exec.usage[j],
            pins_before: pins_before[j],
            pins_after: pins_after[j],
            hit_share_before: share(hits_before[j]),
            hit_share_after: share(hits_after[j]),
        })
        .collect();
    for s in &summaries {
        if s.bytes_after > s.high_bytes {
            warnings.push(format!(
                "tier {} stays above its high watermark ({} of {} bytes): pins there are locked or the budget ran out",
                s.tier, s.bytes_after, s.high_bytes
            ));
        }
    }
    let per_hit = |lat: f64| if total_hits > 0.0 { lat / total_hits } else { 0.0 };
    Plan {
        at: now,
        moves,
        tiers: summaries,
        bytes_moved: exec.moved,
        budget_bytes: cfg.move_budget_bytes,
        deferred_moves,
        locked_pins,
        cost_per_month_before: cost_before,
        cost_per_month_after: cost_after,
        mean_latency_ms_before: per_hit(lat_before),
        mean_latency_ms_after: per_hit(lat_after),
        warnings,
    }
}

/// The tier events that record a plan's moves (`pindex plan --apply`): `cids[m.id]` is the CID of the pin
/// with [`PlanInput::id`] `m.id`.
///
/// # Errors
///
/// [`Error::Invalid`] when a move's id has no CID.
pub fn tier_events(plan: &Plan, cids: &[Cid], at: Timestamp) -> Result<Vec<Event>> {
    plan.moves
        .iter()
        .map(|m| {
            let cid = usize::try_from(m.id)
                .ok()
                .and_then(|i| cids.get(i))
                .ok_or_else(|| Error::Invalid {
                    what: "plan",
                    reason: format!("move of pin {} but only {} CIDs given", m.id, cids.len()),
                })?;
            Ok(Event {
                ts: at,
                kind: EventKind::Tier {
                    cid: cid.clone(),
                    tier: m.to,
                },
            })
        })
        .collect()
}
