//! The reports that need a full pass over the store: VFS mount points, analytics, the current plan and the
//! dashboard's series. They are computed in the background (see [`ApiState::run_reports`]) and served from
//! the latest computed copy, so no request waits on a scan.
//!
//! The embedding program supplies them through [`ReportSource`]. [`ScanReports`] implements it for any
//! [`PinStore`] by paging [`PinStore::list`]; a backend with faster ways (SQL over its access log, say)
//! implements the trait itself and can still feed its pins and accesses through a [`ReportBuilder`].
//!
//! [`ApiState::run_reports`]: crate::ApiState::run_reports

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use pin_core::report::{MountSummaries, MountSummary, TopPin, ts};
use pin_core::{AccessOp, AccessRecord, Cid, PinQuery, PinStatus, PinStore, PinView, Tier, Timestamp};
use pin_tiers::{
    Analytics, AnalyticsBuilder, MoveRow, PatternCounts, PlanInput, PlanTotals, Ranked, TierSummary, TierTable,
};
use serde::Serialize;

/// Computes [`Reports`]. Called on the report interval, never on a request.
#[async_trait]
pub trait ReportSource: Send + Sync + fmt::Debug {
    /// Every report, as of `now`.
    async fn compute(&self, now: Timestamp) -> pin_core::Result<Reports>;
}

/// Everything the background pass computes.
#[derive(Debug, Clone, Serialize)]
pub struct Reports {
    /// The instant the reports describe.
    #[serde(serialize_with = "ts")]
    pub as_of: Timestamp,
    /// The mount points of `GET /v1/vfs`.
    pub vfs: VfsReport,
    /// `GET /v1/analytics`.
    pub analytics: AnalyticsReport,
    /// `GET /v1/plan`.
    pub plan: PlanReport,
    /// The dashboard's charts and tables.
    pub dashboard: DashboardReport,
}

/// Mount points with their pins, as `pindex vfs --format json` prints them under `mounts`. `GET /v1/vfs`
/// adds that command's `operations_last_day` and `io_last_day` from the store's metrics at the request.
#[derive(Debug, Clone, Default, Serialize)]
pub struct VfsReport {
    /// One row per mount point, by name.
    pub mounts: Vec<MountSummary>,
}

/// `pindex analytics --format json` without its prediction section (which needs the access log).
#[derive(Debug, Clone, Serialize)]
pub struct AnalyticsReport {
    /// What the pass over the pins found.
    #[serde(flatten)]
    pub summary: AnalyticsSummary,
    /// The current plan's totals.
    pub plan: PlanTotals,
}

/// What one pass over the pins found: the fields `pindex analytics --format json` begins with.
#[derive(Debug, Clone, Serialize)]
pub struct AnalyticsSummary {
    /// The instant hotness is measured at.
    #[serde(serialize_with = "ts")]
    pub as_of: Timestamp,
    /// Pins (unpinned ones excluded).
    pub pins: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Pins never read.
    pub never_read: NeverRead,
    /// Pins per dominant access pattern.
    pub patterns: PatternCounts,
    /// Reads by kind.
    pub reads: ReadShares,
    /// The hottest pins, hottest first.
    pub hottest: Vec<Ranked>,
    /// The coldest pins ever accessed, coldest first.
    pub coldest: Vec<Ranked>,
}

impl AnalyticsSummary {
    /// The summary of `a`, whose hotness is measured at `as_of`.
    pub fn of(as_of: Timestamp, a: Analytics) -> Self {
        let mix = a.reads;
        Self {
            as_of,
            pins: a.pins,
            bytes: a.bytes,
            never_read: NeverRead {
                pins: a.never_read,
                bytes: a.never_read_bytes,
            },
            patterns: a.patterns,
            reads: ReadShares {
                sequential: mix.sequential,
                random: mix.random,
                whole: mix.whole,
                sequential_share: mix.sequential_share(),
                random_share: mix.random_share(),
                whole_share: mix.whole_share(),
            },
            hottest: a.hottest,
            coldest: a.coldest,
        }
    }
}

/// Pins never read.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct NeverRead {
    /// How many.
    pub pins: u64,
    /// Their bytes.
    pub bytes: u64,
}

/// Reads by kind, with shares.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ReadShares {
    /// Sequential reads.
    pub sequential: u64,
    /// Random reads.
    pub random: u64,
    /// Whole-object reads.
    pub whole: u64,
    /// Their shares of the classified reads (0 when there is none).
    pub sequential_share: f64,
    /// See `sequential_share`.
    pub random_share: f64,
    /// See `sequential_share`.
    pub whole_share: f64,
}

/// The current plan, as `pindex plan --format json` prints it (moves capped at [`MAX_PLAN_MOVES`]).
#[derive(Debug, Clone, Serialize)]
pub struct PlanReport {
    /// The instant planned for.
    #[serde(serialize_with = "ts")]
    pub at: Timestamp,
    /// Pins planned (unpinned excluded).
    pub pins: u64,
    /// The planner's horizon.
    pub horizon_ms: i64,
    /// Totals.
    pub totals: PlanTotals,
    /// Per tier, fastest first.
    pub tiers: Vec<TierSummary>,
    /// The first moves, in the order to carry them out.
    pub moves: Vec<MoveRow>,
}

/// Most moves [`PlanReport::moves`] lists; `totals.moves` counts them all.
pub const MAX_PLAN_MOVES: usize = 1000;

/// The dashboard's series and tables.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DashboardReport {
    /// Live pins and their bytes over time, oldest first (at most [`MAX_SERIES_POINTS`] points): a pin
    /// counts from its creation, and an unpinned pin until its last update (when it was unpinned).
    pub pins_over_time: Vec<SeriesPoint>,
    /// Accesses to pinned CIDs in each of the last 24 hours, oldest first; the last bucket is the current hour.
    pub accesses_per_hour: Vec<HourCount>,
    /// Whether the access counts stopped at the source's budget (then they are lower bounds).
    pub accesses_truncated: bool,
    /// The hottest live pins, hottest first.
    pub hottest: Vec<TopPin>,
    /// The largest live pins, largest first.
    pub largest: Vec<TopPin>,
    /// The newest accesses through a VFS path within the last day, newest first.
    pub recent_vfs: Vec<VfsActivity>,
}

/// Most points of [`DashboardReport::pins_over_time`].
pub const MAX_SERIES_POINTS: usize = 48;

/// Live pins and bytes at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SeriesPoint {
    /// The instant.
    #[serde(serialize_with = "ts")]
    pub at: Timestamp,
    /// Live pins.
    pub pins: u64,
    /// Their bytes.
    pub bytes: u64,
}

/// Accesses within one hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct HourCount {
    /// Start of the hour.
    #[serde(serialize_with = "ts")]
    pub start: Timestamp,
    /// Accesses in `[start, start + 1h)`.
    pub accesses: u64,
}

/// One access through a VFS path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VfsActivity {
    /// When.
    #[serde(serialize_with = "ts")]
    pub ts: Timestamp,
    /// Read or write.
    pub op: AccessOp,
    /// The path.
    pub path: String,
    /// The CID.
    pub cid: String,
    /// Bytes transferred, when known.
    pub bytes: Option<u64>,
    /// The tier that served it, when known.
    pub tier: Option<Tier>,
    /// The event's sequence number (orders accesses of the same millisecond).
    pub seq: u64,
}

const HOUR_MS: i64 = 3_600_000;

/// Folds pins and accesses into [`Reports`], one at a time, in memory proportional to the live pins (the
/// planner's 40-byte input and a CID each) plus the distinct creation hours.
#[derive(Debug)]
pub struct ReportBuilder {
    now: Timestamp,
    top: usize,
    table: TierTable,
    analytics: AnalyticsBuilder,
    inputs: Vec<PlanInput>,
    cids: Vec<Cid>,
    mounts: MountSummaries,
    /// Change of live pins and bytes per hour (hours since the epoch).
    alive: BTreeMap<i64, (i64, i128)>,
    hottest: Vec<TopPin>,
    largest: Vec<TopPin>,
    hours: [u64; 24],
    recent_vfs: Vec<VfsActivity>,
    accesses_truncated: bool,
}

impl ReportBuilder {
    /// A builder for reports as of `now`, planning with `table`, keeping `top` entries per list.
    pub fn new(now: Timestamp, table: TierTable, top: usize) -> Self {
        Self {
            now,
            top,
            analytics: AnalyticsBuilder::new(now, top),
            table,
            inputs: Vec::new(),
            cids: Vec::new(),
            mounts: MountSummaries::new(top),
            alive: BTreeMap::new(),
            hottest: Vec::new(),
            largest: Vec::new(),
            hours: [0; 24],
            recent_vfs: Vec::new(),
            accesses_truncated: false,
        }
    }

    /// The tier table the plan uses.
    pub fn table(&self) -> &TierTable {
        &self.table
    }

    /// Start of the accesses-per-hour window: the hour 23 hours before the current one.
    pub fn day_start(&self) -> Timestamp {
        Timestamp(self.now.0.div_euclid(HOUR_MS) * HOUR_MS - 23 * HOUR_MS)
    }

    /// How far back a tier move can still lock a pin in place (hysteresis or minimum residency), in ms.
    /// A pin last updated before `now` minus this needs no `last_moved` for the plan.
    pub fn lock_window_ms(&self) -> i64 {
        let residency = self.table.tiers.iter().map(|t| t.min_residency_ms).max().unwrap_or(0);
        self.table.planner.hysteresis_ms.max(residency)
    }

    /// Counts one pin (as [`PinStore::list`] returns it, unpinned ones included); `last_moved` is when it
    /// last changed tier through a `tier` event, if known.
    pub fn add_pin(&mut self, view: &PinView, last_moved: Option<Timestamp>) {
        let pin = &view.pin;
        self.analytics.add(view);
        self.mounts.add(view);
        let bytes = i128::from(pin.size_bytes);
        let start = pin.created_at.0.div_euclid(HOUR_MS);
        let e = self.alive.entry(start).or_default();
        e.0 += 1;
        e.1 += bytes;
        if pin.status == PinStatus::Unpinned {
            let end = pin.updated_at.0.max(pin.created_at.0).div_euclid(HOUR_MS);
            let e = self.alive.entry(end).or_default();
            e.0 -= 1;
            e.1 -= bytes;
            return;
        }
        let id = self.inputs.len() as u64;
        self.inputs.push(PlanInput::from_view(
            id,
            view,
            last_moved,
            self.now,
            self.table.planner.horizon_ms,
        ));
        self.cids.push(pin.cid.clone());
        let entry = TopPin::of(view, self.now);
        if view.stats.access_count > 0 {
            push_top(&mut self.hottest, entry.clone(), self.top, by_hotness);
        }
        push_top(&mut self.largest, entry, self.top, by_size);
    }

    /// Counts one access of `cid` (those before [`day_start`](Self::day_start) or after `now` are ignored).
    pub fn add_access(&mut self, cid: &Cid, access: &AccessRecord) {
        let start = self.day_start();
        if access.ts < start || access.ts > self.now {
            return;
        }
        let hour = usize::try_from((access.ts.0 - start.0) / HOUR_MS).unwrap_or(0).min(23);
        self.hours[hour] += 1;
        if let Some(path) = &access.vfs_path {
            self.recent_vfs.push(VfsActivity {
                ts: access.ts,
                op: access.op,
                path: path.clone(),
                cid: cid.as_str().to_owned(),
                bytes: access.length,
                tier: access.tier,
                seq: access.seq,
            });
            if self.recent_vfs.len() > self.top.saturating_mul(4).max(64) {
                trim_activity(&mut self.recent_vfs, self.top);
            }
        }
    }

    /// Records that not every access of the window was counted.
    pub fn mark_accesses_truncated(&mut self) {
        self.accesses_truncated = true;
    }

    /// The reports.
    pub fn finish(mut self) -> Reports {
        let now = self.now;
        let start = self.day_start();
        let analytics = self.analytics.finish();
        let p = pin_tiers::plan(&self.inputs, &self.table, now);
        let totals = p.totals();
        let moves = p
            .moves
            .iter()
            .take(MAX_PLAN_MOVES)
            .map(|m| {
                let cid = usize::try_from(m.id).ok().and_then(|i| self.cids.get(i));
                MoveRow::of(m, cid.map_or_else(String::new, |c| c.as_str().to_owned()))
            })
            .collect();
        let plan = PlanReport {
            at: now,
            pins: self.inputs.len() as u64,
            horizon_ms: self.table.planner.horizon_ms,
            totals: totals.clone(),
            tiers: p.tiers,
            moves,
        };
        let analytics = AnalyticsReport {
            summary: AnalyticsSummary::of(now, analytics),
            plan: totals,
        };
        let mounts = self.mounts.finish();
        sort_top(&mut self.hottest, self.top, by_hotness);
        sort_top(&mut self.largest, self.top, by_size);
        trim_activity(&mut self.recent_vfs, self.top);
        let dashboard = DashboardReport {
            pins_over_time: series(&self.alive, now),
            accesses_per_hour: (0..24)
                .map(|i| HourCount {
                    start: start.plus_millis(i64::from(i) * HOUR_MS),
                    accesses: self.hours[i as usize],
                })
                .collect(),
            accesses_truncated: self.accesses_truncated,
            hottest: self.hottest,
            largest: self.largest,
            recent_vfs: self.recent_vfs,
        };
        Reports {
            as_of: now,
            vfs: VfsReport { mounts },
            analytics,
            plan,
            dashboard,
        }
    }
}

fn by_hotness(a: &TopPin, b: &TopPin) -> std::cmp::Ordering {
    b.hotness.total_cmp(&a.hotness).then_with(|| a.cid.cmp(&b.cid))
}

fn by_size(a: &TopPin, b: &TopPin) -> std::cmp::Ordering {
    b.size_bytes.cmp(&a.size_bytes).then_with(|| a.cid.cmp(&b.cid))
}

type Order = fn(&TopPin, &TopPin) -> std::cmp::Ordering;

fn push_top(list: &mut Vec<TopPin>, entry: TopPin, top: usize, order: Order) {
    if top == 0 {
        return;
    }
    list.push(entry);
    if list.len() >= top.saturating_mul(4).max(64) {
        sort_top(list, top, order);
    }
}

fn sort_top(list: &mut Vec<TopPin>, top: usize, order: Order) {
    list.sort_by(order);
    list.truncate(top);
}

fn trim_activity(list: &mut Vec<VfsActivity>, top: usize) {
    list.sort_by(|a, b| b.ts.cmp(&a.ts).then_with(|| b.seq.cmp(&a.seq)));
    list.truncate(top);
}

/// Live pins and bytes from the per-hour changes, in at most [`MAX_SERIES_POINTS`] steps ending at `now`.
fn series(alive: &BTreeMap<i64, (i64, i128)>, now: Timestamp) -> Vec<SeriesPoint> {
    let Some(&first) = alive.keys().next() else {
        return Vec::new();
    };
    let last = now.0.div_euclid(HOUR_MS);
    if first > last {
        return Vec::new();
    }
    let span = last - first + 1;
    let points = i64::try_from(MAX_SERIES_POINTS).unwrap_or(48);
    let step = (span + points - 1) / points;
    let (mut pins, mut bytes) = (0i64, 0i128);
    let mut changes = alive.iter().peekable();
    let mut out = Vec::new();
    let mut h = first;
    while h <= last {
        let end = h + step;
        while let Some((_, (dp, db))) = changes.next_if(|(k, _)| **k < end) {
            pins += dp;
            bytes += db;
        }
        out.push(SeriesPoint {
            at: Timestamp((end * HOUR_MS).min(now.0)),
            pins: u64::try_from(pins).unwrap_or(0),
            bytes: u64::try_from(bytes).unwrap_or(0),
        });
        h = end;
    }
    out
}

/// Accesses [`ScanReports`] reads at most per pass (each an [`AccessRecord`] of the last day).
pub const DEFAULT_ACCESS_BUDGET: usize = 2_000_000;

/// A [`ReportSource`] for any [`PinStore`]: pages [`PinStore::list`] in key order once, asks
/// [`PinStore::history`] for the last tier move of pins updated within the planner's lock window, and
/// [`PinStore::accesses`] for the pins accessed in the last day (up to an access budget).
#[derive(Debug, Clone)]
pub struct ScanReports {
    store: Arc<dyn PinStore>,
    table: TierTable,
    top: usize,
    access_budget: usize,
    page: usize,
}

impl ScanReports {
    /// Reports over `store`, planning with `table`, keeping `top` entries per list.
    pub fn new(store: Arc<dyn PinStore>, table: TierTable, top: usize) -> Self {
        Self {
            store,
            table,
            top,
            access_budget: DEFAULT_ACCESS_BUDGET,
            page: 1000,
        }
    }

    /// Reads at most `n` access records per pass (the hourly counts are then marked truncated).
    #[must_use]
    pub fn with_access_budget(mut self, n: usize) -> Self {
        self.access_budget = n;
        self
    }

    async fn last_tier_move(&self, cid: &Cid) -> pin_core::Result<Option<Timestamp>> {
        Ok(self
            .store
            .history(cid, 64)
            .await?
            .into_iter()
            .find(|h| h.event == "tier")
            .map(|h| h.ts))
    }
}

#[async_trait]
impl ReportSource for ScanReports {
    async fn compute(&self, now: Timestamp) -> pin_core::Result<Reports> {
        let mut b = ReportBuilder::new(now, self.table.clone(), self.top);
        let lock_since = now.0.saturating_sub(b.lock_window_ms());
        let day_start = b.day_start();
        let mut recent: Vec<(Cid, u64)> = Vec::new();
        let mut query = PinQuery {
            limit: self.page,
            ..PinQuery::default()
        };
        loop {
            let page = self.store.list(&query).await?;
            for view in &page.pins {
                let pin = &view.pin;
                // A tier event sets updated_at, so a pin updated before the window has no move inside it.
                let last_moved = if pin.status != PinStatus::Unpinned && pin.updated_at.0 >= lock_since {
                    self.last_tier_move(&pin.cid).await?
                } else {
                    None
                };
                b.add_pin(view, last_moved);
                if view.stats.last_access.is_some_and(|t| t >= day_start) {
                    recent.push((pin.cid.clone(), view.stats.access_count));
                }
            }
            match page.next {
                Some(next) => query.after = Some(next),
                None => break,
            }
        }
        let mut budget = self.access_budget;
        for (cid, count) in recent {
            if budget == 0 {
                b.mark_accesses_truncated();
                break;
            }
            let want = usize::try_from(count).unwrap_or(usize::MAX);
            let limit = want.min(budget);
            let records = self.store.accesses(&cid, limit).await?;
            budget -= records.len().min(budget);
            let reached_start = records.last().is_some_and(|r| r.ts < day_start);
            if records.len() == limit && limit < want && !reached_start {
                b.mark_accesses_truncated();
            }
            for r in records.iter().take_while(|r| r.ts >= day_start) {
                b.add_access(&cid, r);
            }
        }
        Ok(b.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_counts_live_pins_per_step() {
        let mut alive = BTreeMap::new();
        alive.insert(0, (2, 200));
        alive.insert(5, (1, 50));
        alive.insert(7, (-1, -100));
        let s = series(&alive, Timestamp(10 * HOUR_MS + 5));
        assert_eq!(s.len(), 11);
        assert_eq!((s[0].pins, s[0].bytes), (2, 200));
        assert_eq!((s[5].pins, s[5].bytes), (3, 250));
        assert_eq!((s[10].pins, s[10].bytes), (2, 150));
        assert_eq!(s[10].at, Timestamp(10 * HOUR_MS + 5));
        // A long history is cut into at most MAX_SERIES_POINTS steps.
        let s = series(&alive, Timestamp(1000 * HOUR_MS));
        assert!(s.len() <= MAX_SERIES_POINTS, "{}", s.len());
        assert_eq!(s.last().map(|p| p.pins), Some(2));
    }
}
