//! The tier table: what each tier holds, costs and how fast it answers, read from TOML.
//!
//! `docs/tiers.md` documents the file; [`TierTable::default`] is the table Pindex ships
//! (`src/default-tiers.toml`).

use std::collections::BTreeSet;
use std::path::Path;

use pin_core::Tier;
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::units::Quantity;

/// Bytes in the GB that costs are quoted per.
pub const BYTES_PER_GB: f64 = 1e9;
/// Milliseconds in the month that storage costs are quoted per (30 days).
pub const MS_PER_MONTH: f64 = 30.0 * 86_400_000.0;

const DEFAULT_TOML: &str = include_str!("default-tiers.toml");

/// One tier of the table.
#[derive(Debug, Clone, PartialEq)]
pub struct TierSpec {
    /// Which tier.
    pub tier: Tier,
    /// What it holds, in bytes (`u64::MAX`: unlimited).
    pub capacity_bytes: u64,
    /// Fill fraction, in (0, 1], the planner never leaves a tier above.
    pub high_watermark: f64,
    /// Fill fraction a tier above its high watermark is drained to: below `high_watermark` for a bounded
    /// tier (at most equal for an unlimited one, where watermarks play no part).
    pub low_watermark: f64,
    /// Smaller pins are not placed here.
    pub min_object_size: u64,
    /// A pin placed here stays at least this long (milliseconds).
    pub min_residency_ms: i64,
    /// Storage cost, dollars per GB per month.
    pub storage_cost_per_gb_month: f64,
    /// Cost of reading out of the tier, dollars per GB.
    pub retrieval_cost_per_gb: f64,
    /// Typical latency of a read, milliseconds.
    pub latency_ms: f64,
}

impl TierSpec {
    /// The bytes the tier may hold at its high watermark.
    pub fn high_bytes(&self) -> u64 {
        scale(self.capacity_bytes, self.high_watermark)
    }
    /// The bytes a draining tier is brought down to.
    pub fn low_bytes(&self) -> u64 {
        scale(self.capacity_bytes, self.low_watermark)
    }
    /// Monthly storage cost of `bytes` here.
    pub fn storage_cost_per_month(&self, bytes: u64) -> f64 {
        bytes as f64 / BYTES_PER_GB * self.storage_cost_per_gb_month
    }
    /// Cost of reading `bytes` out of this tier.
    pub fn retrieval_cost(&self, bytes: u64) -> f64 {
        bytes as f64 / BYTES_PER_GB * self.retrieval_cost_per_gb
    }
}

fn scale(capacity: u64, fraction: f64) -> u64 {
    if capacity == u64::MAX {
        u64::MAX
    } else {
        (capacity as f64 * fraction).floor() as u64
    }
}

/// Settings of the planner, from the `[planner]` section.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannerConfig {
    /// A pin that moved is not moved again for this long (milliseconds).
    pub hysteresis_ms: i64,
    /// Bytes one run may move in total.
    pub move_budget_bytes: u64,
    /// A pin keeps its tier while its hits per byte stay within this factor of the tier's cut-off
    /// (0.25: it may fall 25% below the cut-off, or a candidate must beat it by 25%).
    pub margin: f64,
    /// The horizon over which expected accesses are counted (milliseconds).
    pub horizon_ms: i64,
}

impl Default for PlannerConfig {
    fn default() -> Self {
        Self {
            hysteresis_ms: 6 * 3_600_000,
            move_budget_bytes: 2 << 40,
            margin: 0.25,
            horizon_ms: 86_400_000,
        }
    }
}

/// The tiers, fastest first, and the planner settings.
#[derive(Debug, Clone, PartialEq)]
pub struct TierTable {
    /// Tiers in [`Tier`] order (fastest first), each at most once.
    pub tiers: Vec<TierSpec>,
    /// Planner settings.
    pub planner: PlannerConfig,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTable {
    planner: Option<RawPlanner>,
    #[serde(default)]
    tier: Vec<RawTier>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlanner {
    hysteresis: Option<Quantity>,
    move_budget: Option<Quantity>,
    margin: Option<f64>,
    horizon: Option<Quantity>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTier {
    name: String,
    capacity: Quantity,
    high_watermark: Option<f64>,
    low_watermark: Option<f64>,
    min_object_size: Option<Quantity>,
    min_residency: Option<Quantity>,
    storage_cost_per_gb_month: f64,
    #[serde(default)]
    retrieval_cost_per_gb: f64,
    latency: Quantity,
}

impl Default for TierTable {
    /// The table Pindex ships: memory, nvme, ssd, hdd, ipfs, filecoin.
    fn default() -> Self {
        #[allow(clippy::expect_used)] // A unit test parses the shipped file.
        Self::from_toml(DEFAULT_TOML).expect("the shipped tier table parses")
    }
}

impl TierTable {
    /// The text of the shipped default table, to start a custom one from.
    pub const DEFAULT_TOML: &'static str = DEFAULT_TOML;

    /// Parses and validates a tier table.
    ///
    /// # Errors
    ///
    /// [`Error::Toml`] for bad syntax, unknown keys or wrong types (the message has the line and key);
    /// [`Error::InvalidField`] naming the tier, the field and the value when a value is out of range.
    pub fn from_toml(text: &str) -> Result<Self> {
        let raw: RawTable = toml::from_str(text).map_err(|e| Error::Toml(e.to_string().trim_end().to_owned()))?;
        let planner = match raw.planner {
            None => PlannerConfig::default(),
            Some(p) => planner_from(p)?,
        };
        if raw.tier.is_empty() {
            return Err(Error::InvalidField {
                section: "table".into(),
                field: "tier",
                value: "[]".into(),
                reason: "at least one [[tier]] is needed".into(),
            });
        }
        let mut seen = BTreeSet::new();
        let mut tiers = Vec::with_capacity(raw.tier.len());
        for t in raw.tier {
            let spec = tier_from(t)?;
            if !seen.insert(spec.tier) {
                return Err(Error::InvalidField {
                    section: format!("tier {:?}", spec.tier.as_str()),
                    field: "name",
                    value: format!("{:?}", spec.tier.as_str()),
                    reason: "the tier is listed twice".into(),
                });
            }
            tiers.push(spec);
        }
        tiers.sort_by_key(|t| t.tier);
        Ok(Self { tiers, planner })
    }

    /// Reads and parses a tier table file.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the file cannot be read, else as [`from_toml`](Self::from_toml).
    pub fn from_path(path: &Path) -> Result<Self> {
        let text = crate::error::read_text(path)?;
        Self::from_toml(&text)
    }

    /// The spec of `tier`, if the table has it.
    pub fn get(&self, tier: Tier) -> Option<&TierSpec> {
        self.tiers.iter().find(|t| t.tier == tier)
    }

    /// The position of `tier` in [`tiers`](Self::tiers).
    pub fn index_of(&self, tier: Tier) -> Option<usize> {
        self.tiers.iter().position(|t| t.tier == tier)
    }
}

fn planner_from(p: RawPlanner) -> Result<PlannerConfig> {
    let d = PlannerConfig::default();
    let bad = |field: &'static str, value: String, reason: String| Error::InvalidField {
        section: "planner".into(),
        field,
        value,
        reason,
    };
    let hysteresis_ms = match p.hysteresis {
        None => d.hysteresis_ms,
        Some(q) => q.as_duration_ms().map_err(|r| bad("hysteresis", q.to_string(), r))? as i64,
    };
    let horizon_ms = match p.horizon {
        None => d.horizon_ms,
        Some(q) => {
            let ms = q.as_duration_ms().map_err(|r| bad("horizon", q.to_string(), r))?;
            if ms < 1.0 {
                return Err(bad("horizon", q.to_string(), "must be at least 1ms".into()));
            }
            ms as i64
        }
    };
    let move_budget_bytes = match p.move_budget {
        None => d.move_budget_bytes,
        Some(q) => q.as_size().map_err(|r| bad("move_budget", q.to_string(), r))?,
    };
    let margin = p.margin.unwrap_or(d.margin);
    if !(0.0..=10.0).contains(&margin) {
        return Err(bad("margin", margin.to_string(), "must be between 0 and 10".into()));
    }
    Ok(PlannerConfig {
        hysteresis_ms,
        move_budget_bytes,
        margin,
        horizon_ms,
    })
}

fn tier_from(t: RawTier) -> Result<TierSpec> {
    let tier: Tier = t.name.parse().map_err(|e: pin_core::Error| Error::InvalidField {
        section: "tier".into(),
        field: "name",
        value: format!("{:?}", t.name),
        reason: e.to_string(),
    })?;
    let section = format!("tier {:?}", tier.as_str());
    let bad = |field: &'static str, value: String, reason: String| Error::InvalidField {
        section: section.clone(),
        field,
        value,
        reason,
    };
    let capacity_bytes = t
        .capacity
        .as_size()
        .map_err(|r| bad("capacity", t.capacity.to_string(), r))?;
    let high = t.high_watermark.unwrap_or(0.9);
    if !(high > 0.0 && high <= 1.0) {
        return Err(bad("high_watermark", high.to_string(), "must be in (0, 1]".into()));
    }
    // A bounded tier needs a band between the watermarks, or a drained tier crosses its high watermark
    // again with the next pin and drains once a run. Unlimited tiers never drain: equal marks are fine.
    let unlimited = capacity_bytes == u64::MAX;
    let low = match t.low_watermark {
        Some(low) => low,
        None if unlimited => high,
        None if high > 0.8 => 0.8,
        None => high * 0.9,
    };
    let low_ok = if unlimited {
        low > 0.0 && low <= high
    } else {
        low > 0.0 && low < high
    };
    if !low_ok {
        let range = if unlimited { "]" } else { ")" };
        return Err(bad(
            "low_watermark",
            low.to_string(),
            format!("must be in (0, high_watermark = {high}{range}"),
        ));
    }
    let min_object_size = match &t.min_object_size {
        None => 0,
        Some(q) => q.as_size().map_err(|r| bad("min_object_size", q.to_string(), r))?,
    };
    let min_residency_ms = match &t.min_residency {
        None => 0,
        Some(q) => q.as_duration_ms().map_err(|r| bad("min_residency", q.to_string(), r))? as i64,
    };
    let non_negative = |field: &'static str, v: f64| {
        if v.is_finite() && v >= 0.0 {
            Ok(v)
        } else {
            Err(bad(
                field,
                v.to_string(),
                "must be a non-negative number of dollars".into(),
            ))
        }
    };
    let storage_cost_per_gb_month = non_negative("storage_cost_per_gb_month", t.storage_cost_per_gb_month)?;
    let retrieval_cost_per_gb = non_negative("retrieval_cost_per_gb", t.retrieval_cost_per_gb)?;
    let latency_ms = t
        .latency
        .as_duration_ms()
        .map_err(|r| bad("latency", t.latency.to_string(), r))?;
    Ok(TierSpec {
        tier,
        capacity_bytes,
        high_watermark: high,
        low_watermark: low,
        min_object_size,
        min_residency_ms,
        storage_cost_per_gb_month,
        retrieval_cost_per_gb,
        latency_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_table_has_six_tiers_in_order() {
        let t = TierTable::default();
        let names: Vec<_> = t.tiers.iter().map(|s| s.tier).collect();
        assert_eq!(names, Tier::ALL.to_vec());
        let mem = t.get(Tier::Memory).unwrap();
        assert_eq!(mem.capacity_bytes, 64 << 30);
        assert!((mem.latency_ms - 0.1).abs() < 1e-12);
        assert_eq!(t.get(Tier::Ipfs).unwrap().high_bytes(), u64::MAX);
        assert_eq!(t.planner.hysteresis_ms, 6 * 3_600_000);
    }
}
