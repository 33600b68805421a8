//! Access patterns from offsets and lengths, in the spirit of Linux readahead.
//!
//! The rules are pin-core's ([`PinStats`] classifies reads as the store records them), and the dominant
//! pattern comes from [`PinStats::pattern`], so `pindex track` and `pindex analytics` agree. This module adds
//! what the store's counters cannot: the first read of a pin, a "whole" read recognised by the object's
//! size, and the share of each kind.

use pin_core::{AccessOp, AccessRecord, Pattern, PinStats};
use serde::Serialize;

/// How a pin's reads split between the kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct PatternMix {
    /// Reads that started where the previous one ended (or at offset 0 with no predecessor).
    pub sequential: u64,
    /// Reads that jumped.
    pub random: u64,
    /// Reads of the whole object in one go.
    pub whole: u64,
}

impl PatternMix {
    /// Reads classified.
    pub fn total(&self) -> u64 {
        self.sequential + self.random + self.whole
    }

    fn share(&self, n: u64) -> f64 {
        if self.total() == 0 {
            0.0
        } else {
            n as f64 / self.total() as f64
        }
    }

    /// Share of sequential reads.
    pub fn sequential_share(&self) -> f64 {
        self.share(self.sequential)
    }
    /// Share of random reads.
    pub fn random_share(&self) -> f64 {
        self.share(self.random)
    }
    /// Share of whole-object reads.
    pub fn whole_share(&self) -> f64 {
        self.share(self.whole)
    }

    /// The dominant pattern, by pin-core's thresholds ([`PinStats::pattern`]): whole at 80%, sequential or
    /// random at 70%, else mixed; a single read of the whole object is `Whole`, other single reads `Unknown`.
    pub fn pattern(&self) -> Pattern {
        if self.total() == 1 && self.whole == 1 {
            return Pattern::Whole;
        }
        let mut stats = PinStats::default();
        stats.sequential_reads = self.sequential;
        stats.random_reads = self.random;
        stats.whole_reads = self.whole;
        stats.pattern()
    }

    /// The mix a store recorded, including the pin's first read, which the store's counters leave out
    /// (a first read at offset 0 starts a sequential stream, as in readahead).
    pub fn from_stats(stats: &PinStats) -> Self {
        let mut mix = Self {
            sequential: stats.sequential_reads,
            random: stats.random_reads,
            whole: stats.whole_reads,
        };
        let (first_offset, first_whole, _) = stats.boundary_state();
        match (first_offset, first_whole) {
            (_, Some(true)) => mix.whole += 1,
            (Some(0), _) => mix.sequential += 1,
            (Some(_), _) => mix.random += 1,
            (None, _) => {}
        }
        mix
    }
}

/// Classifies reads given in time order as `(offset, length)`; `None` offset means 0, `None` length means
/// "to the end". A read is whole when it starts at 0 and covers the object (`length` absent, or at least
/// `object_size` when known); sequential when it starts where the previous read ended (a first read at 0
/// counts as sequential); random otherwise.
pub fn classify_reads(
    reads: impl IntoIterator<Item = (Option<u64>, Option<u64>)>,
    object_size: Option<u64>,
) -> PatternMix {
    let mut mix = PatternMix::default();
    let mut prev_end: Option<u64> = None;
    let mut first = true;
    for (offset, length) in reads {
        let start = offset.unwrap_or(0);
        let whole = start == 0
            && match (length, object_size) {
                (None, _) => true,
                (Some(l), Some(size)) => l >= size,
                (Some(_), None) => false,
            };
        if whole {
            mix.whole += 1;
            prev_end = None;
        } else {
            if prev_end == Some(start) || (first && start == 0) {
                mix.sequential += 1;
            } else {
                mix.random += 1;
            }
            prev_end = length.map(|l| start.saturating_add(l));
        }
        first = false;
    }
    mix
}

/// Classifies a pin's recorded accesses (in any order: they are sorted by sequence number; writes are
/// skipped).
pub fn classify_records(records: &[AccessRecord], object_size: Option<u64>) -> PatternMix {
    let mut reads: Vec<&AccessRecord> = records.iter().filter(|r| r.op == AccessOp::Read).collect();
    reads.sort_by_key(|r| (r.seq, r.ts));
    classify_reads(reads.iter().map(|r| (r.offset, r.length)), object_size)
}

/// Pattern counts over many pins, for `pindex analytics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct PatternCounts {
    /// Pins never read or read too little to tell.
    pub unknown: u64,
    /// Mostly sequential.
    pub sequential: u64,
    /// Mostly random.
    pub random: u64,
    /// Neither dominates.
    pub mixed: u64,
    /// Read whole.
    pub whole: u64,
}

impl PatternCounts {
    /// Counts one pin.
    pub fn add(&mut self, p: Pattern) {
        match p {
            Pattern::Unknown => self.unknown += 1,
            Pattern::Sequential => self.sequential += 1,
            Pattern::Random => self.random += 1,
            Pattern::Mixed => self.mixed += 1,
            Pattern::Whole => self.whole += 1,
        }
    }
}
