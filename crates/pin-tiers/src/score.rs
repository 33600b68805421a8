//! Scores of pins for the planner, and the decayed counter behind hotness.

use std::fmt;

use pin_core::{HOTNESS_HALF_LIFE_MS, PinStats, Timestamp};

/// A count that halves every half-life: `s ← s·2^(-Δt/H) + w`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct DecayedCount {
    /// The score at `at_ms`.
    pub value: f64,
    /// When `value` was computed, milliseconds.
    pub at_ms: i64,
}

impl DecayedCount {
    /// Adds `weight` at `t_ms` with half-life `half_life_ms`. A `t_ms` before the last update counts as
    /// if it had arrived in order (its weight decayed to the last update).
    pub fn add(&mut self, weight: f64, t_ms: i64, half_life_ms: f64) {
        if self.value == 0.0 {
            *self = Self {
                value: weight,
                at_ms: t_ms,
            };
        } else if t_ms >= self.at_ms {
            self.value = self.value * decay(t_ms - self.at_ms, half_life_ms) + weight;
            self.at_ms = t_ms;
        } else {
            self.value += weight * decay(self.at_ms - t_ms, half_life_ms);
        }
    }

    /// The score decayed to `t_ms` (an earlier `t_ms` gives the stored score).
    pub fn value_at(&self, t_ms: i64, half_life_ms: f64) -> f64 {
        self.value * decay(t_ms - self.at_ms, half_life_ms)
    }
}

/// `2^(-dt/H)` for `dt ≥ 0` (a negative `dt` counts as 0).
pub fn decay(dt_ms: i64, half_life_ms: f64) -> f64 {
    (-(dt_ms.max(0) as f64) / half_life_ms).exp2()
}

/// The access rate, per millisecond, that keeps a decayed count with half-life `H` at `score` in steady
/// state: `λ = s·ln 2 / H`.
pub fn rate_per_ms(score: f64, half_life_ms: f64) -> f64 {
    score * std::f64::consts::LN_2 / half_life_ms
}

/// Ranks pins from their statistics: higher is hotter.
pub trait Scorer: fmt::Debug + Send + Sync {
    /// The scorer's name.
    fn name(&self) -> &str;
    /// The pin's score at `now`.
    fn score(&self, stats: &PinStats, now: Timestamp) -> f64;
}

/// The store's decayed hotness (half-life [`HOTNESS_HALF_LIFE_MS`]) decayed to now.
#[derive(Debug, Clone, Copy, Default)]
pub struct HotnessScorer;

impl Scorer for HotnessScorer {
    fn name(&self) -> &str {
        "hotness"
    }
    fn score(&self, stats: &PinStats, now: Timestamp) -> f64 {
        stats.hotness_at(now)
    }
}

/// Recency (LRU order): minus the milliseconds since the last access; never accessed is coldest.
#[derive(Debug, Clone, Copy, Default)]
pub struct RecencyScorer;

impl Scorer for RecencyScorer {
    fn name(&self) -> &str {
        "lru"
    }
    fn score(&self, stats: &PinStats, now: Timestamp) -> f64 {
        stats
            .last_access
            .map_or(f64::NEG_INFINITY, |t| -((now.0 - t.0).max(0) as f64))
    }
}

/// Frequency (LFU order): the number of accesses.
#[derive(Debug, Clone, Copy, Default)]
pub struct FrequencyScorer;

impl Scorer for FrequencyScorer {
    fn name(&self) -> &str {
        "lfu"
    }
    fn score(&self, stats: &PinStats, _now: Timestamp) -> f64 {
        stats.access_count as f64
    }
}

/// Expected accesses per millisecond from the store's hotness ([`rate_per_ms`] at the store's half-life).
pub fn stats_rate_per_ms(stats: &PinStats, now: Timestamp) -> f64 {
    rate_per_ms(stats.hotness_at(now), HOTNESS_HALF_LIFE_MS as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decayed_count_halves_and_reorders() {
        let h = 1000.0;
        let mut c = DecayedCount::default();
        c.add(1.0, 0, h);
        c.add(1.0, 1000, h);
        assert!((c.value - 1.5).abs() < 1e-12);
        assert!((c.value_at(2000, h) - 0.75).abs() < 1e-12);
        let mut late = DecayedCount::default();
        late.add(1.0, 1000, h);
        late.add(1.0, 0, h);
        assert!((late.value - 1.5).abs() < 1e-12);
        // Steady state of one access per 100 ms: rate recovers 0.01/ms.
        let mut s = DecayedCount::default();
        for i in 0..10_000 {
            s.add(1.0, i * 100, h);
        }
        let r = rate_per_ms(s.value_at(999_950, h), h);
        assert!((r - 0.01).abs() < 0.001, "{r}");
    }
}
