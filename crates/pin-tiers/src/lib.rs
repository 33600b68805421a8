//! Pindex's tier policy engine: it decides where pins live, and measures how good the decisions are.
//!
//! - [`policy`]: cache policies for a fast tier behind one object-safe trait, [`Policy`] (LRU, LFU, decayed
//!   hotness with or without an admission test, ARC, W-TinyLFU), chosen by name with [`policy_by_name`].
//! - [`score`]: the decayed counter (`s ← s·2^(-Δt/H) + w`) and [`Scorer`]s over a store's [`PinStats`].
//! - [`analytics`]: one pass over the pins for `pindex analytics` (hottest, coldest, patterns, never read).
//! - [`classify`]: sequential, random, mixed and whole-object reads, with their shares.
//! - [`predict`]: the next access per pin, and [`evaluate`], its precision, recall and AUC on a time split.
//! - [`tiers`]: the tier table from TOML, with a shipped default ([`TierTable::default`]).
//! - [`plan`](mod@plan): moves between tiers within watermarks, residency, hysteresis and a byte budget.
//! - [`sim`]: replays a [`Trace`] (Pindex NDJSON or `time,id,size` CSV) through policies, next to Belady's
//!   optimum and LRU; [`hit_bound`] bounds every policy where sizes differ (there Belady is no bound);
//!   [`synth`] makes the synthetic traces of the evidence.
//!
//! The crate depends on `pin-core` only among Pindex crates and does no I/O beyond the small `from_path`
//! helpers: pin-tiers decides, pin-store executes.
//!
//! # For the command line
//!
//! ```
//! use pin_core::{Tier, Timestamp};
//! use pin_tiers::{Capacity, Layout, PlanInput, TierTable, Trace, compare, default_half_life_ms, hit_bound, plan};
//!
//! // pindex simulate --trace FILE --policy w-tinylfu --capacity 50%
//! let trace = Trace::parse("1,a,100\n2,b,100\n3,a,100\n")?;
//! let table = TierTable::default();
//! let layout = Layout {
//!     fast: table.get(Tier::Nvme).cloned().unwrap_or_else(|| unreachable!()),
//!     fast_capacity: Capacity::parse("50%")?.resolve(trace.working_set_bytes()),
//!     slow: table.get(Tier::Ipfs).cloned().unwrap_or_else(|| unreachable!()),
//! };
//! let reports = compare(&trace, &layout, &["w-tinylfu"], default_half_life_ms(&trace))?;
//! assert_eq!(reports[0].policy, "belady");
//! assert_eq!(reports[0].hits, 1);
//! // With sizes that differ, quote this bound rather than Belady's (which is then only a heuristic).
//! assert!(hit_bound(&trace, layout.fast_capacity).hit_ratio() >= reports[0].hit_ratio());
//!
//! // pindex plan: one PlanInput per pin (PlanInput::from_view for a store's PinView); `--apply` records
//! // tier_events(&p, &cids, now) through PinStore::apply.
//! let pins = [PlanInput { id: 0, size_bytes: 1 << 20, tier: Tier::Hdd, expected_hits: 50.0, last_moved: None }];
//! let p = plan(&pins, &table, Timestamp(0));
//! assert_eq!(p.moves[0].to, Tier::Memory);
//! # Ok::<(), pin_tiers::Error>(())
//! ```
//!
//! [`PinStats`]: pin_core::PinStats

pub mod analytics;
pub mod classify;
mod error;
mod list;
pub mod plan;
pub mod policy;
pub mod predict;
pub mod score;
pub mod sim;
mod sketch;
pub mod synth;
pub mod tiers;
pub mod trace;
mod units;

pub use crate::analytics::{Analytics, AnalyticsBuilder, Ranked};
pub use crate::classify::{PatternCounts, PatternMix, classify_reads, classify_records};
pub use crate::error::{Error, Result};
pub use crate::plan::{
    Move, MoveReason, MoveRow, Plan, PlanInput, PlanTotals, TierSummary, expected_hits, plan, tier_events,
};
pub use crate::policy::{
    Arc, DEFAULT_POLICY, Hotness, Lfu, Lru, POLICY_NAMES, Policy, PolicyParams, WTinyLfu, policy_by_name,
};
pub use crate::predict::{GapEstimate, PredictionQuality, Scores, evaluate};
pub use crate::score::{DecayedCount, FrequencyScorer, HotnessScorer, RecencyScorer, Scorer};
pub use crate::sim::{
    Belady, Capacity, HitBound, Layout, SimReport, StaticOracle, TierUsage, compare, default_half_life_ms, hit_bound,
    simulate,
};
pub use crate::sketch::FrequencySketch;
pub use crate::tiers::{PlannerConfig, TierSpec, TierTable};
pub use crate::trace::{Request, Trace, TraceBuilder, parse_time};
pub use crate::units::{format_bytes, parse_duration_ms, parse_size};
