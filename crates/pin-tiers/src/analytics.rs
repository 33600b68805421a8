//! One pass over a store's pins for `pindex analytics`: hottest and coldest, patterns, pins never read.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use pin_core::{PinStatus, PinView, Timestamp};
use serde::Serialize;

use crate::classify::{PatternCounts, PatternMix};
use crate::policy::Ord64;

/// A pin and its hotness, for the hottest and coldest lists.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ranked {
    /// The CID as the user wrote it.
    pub cid: String,
    /// Decayed hotness now (the store's one-day half-life).
    pub hotness: f64,
    /// Size in bytes.
    pub size_bytes: u64,
}

/// What [`AnalyticsBuilder::finish`] reports.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Analytics {
    /// Pins seen (unpinned ones excluded).
    pub pins: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Pins never read.
    pub never_read: u64,
    /// Their bytes.
    pub never_read_bytes: u64,
    /// Pins per dominant pattern (first read included, see [`PatternMix::from_stats`]).
    pub patterns: PatternCounts,
    /// Reads of all pins by kind.
    pub reads: PatternMix,
    /// The hottest pins, hottest first.
    pub hottest: Vec<Ranked>,
    /// The coldest pins that were ever accessed (read or written), coldest first.
    pub coldest: Vec<Ranked>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Entry(Ord64, String, u64);

/// Collects [`Analytics`] from pins streamed one at a time, in `O(log top)` per pin.
#[derive(Debug)]
pub struct AnalyticsBuilder {
    now: Timestamp,
    top: usize,
    pins: u64,
    bytes: u64,
    never_read: u64,
    never_read_bytes: u64,
    patterns: PatternCounts,
    reads: PatternMix,
    /// Min-heap of the hottest so far.
    hot: BinaryHeap<Reverse<Entry>>,
    /// Max-heap of the coldest so far.
    cold: BinaryHeap<Entry>,
}

impl AnalyticsBuilder {
    /// A builder scoring hotness at `now` and keeping the `top` hottest and coldest pins.
    pub fn new(now: Timestamp, top: usize) -> Self {
        Self {
            now,
            top,
            pins: 0,
            bytes: 0,
            never_read: 0,
            never_read_bytes: 0,
            patterns: PatternCounts::default(),
            reads: PatternMix::default(),
            hot: BinaryHeap::new(),
            cold: BinaryHeap::new(),
        }
    }

    /// Counts one pin (unpinned pins are skipped).
    pub fn add(&mut self, view: &PinView) {
        if view.pin.status == PinStatus::Unpinned {
            return;
        }
        let size = view.pin.size_bytes;
        self.pins += 1;
        self.bytes = self.bytes.saturating_add(size);
        let mix = PatternMix::from_stats(&view.stats);
        self.reads.sequential += mix.sequential;
        self.reads.random += mix.random;
        self.reads.whole += mix.whole;
        self.patterns.add(mix.pattern());
        if view.stats.read_count == 0 {
            self.never_read += 1;
            self.never_read_bytes = self.never_read_bytes.saturating_add(size);
        }
        if self.top == 0 || view.stats.access_count == 0 {
            return;
        }
        let entry = Entry(Ord64(view.stats.hotness_at(self.now)), view.pin.cid.to_string(), size);
        if self.hot.len() < self.top {
            self.hot.push(Reverse(entry.clone()));
        } else if self.hot.peek().is_some_and(|Reverse(min)| entry > *min) {
            self.hot.pop();
            self.hot.push(Reverse(entry.clone()));
        }
        if self.cold.len() < self.top {
            self.cold.push(entry);
        } else if self.cold.peek().is_some_and(|max| entry < *max) {
            self.cold.pop();
            self.cold.push(entry);
        }
    }

    /// The report.
    pub fn finish(self) -> Analytics {
        let ranked = |e: Entry| Ranked {
            cid: e.1,
            hotness: e.0.0,
            size_bytes: e.2,
        };
        let mut hottest: Vec<Entry> = self.hot.into_iter().map(|Reverse(e)| e).collect();
        hottest.sort_unstable_by(|a, b| b.cmp(a));
        let mut coldest: Vec<Entry> = self.cold.into_vec();
        coldest.sort_unstable();
        Analytics {
            pins: self.pins,
            bytes: self.bytes,
            never_read: self.never_read,
            never_read_bytes: self.never_read_bytes,
            patterns: self.patterns,
            reads: self.reads,
            hottest: hottest.into_iter().map(ranked).collect(),
            coldest: coldest.into_iter().map(ranked).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use pin_core::{AccessOp, Cid, Pin, PinStats, Tier};

    use super::*;

    fn view(n: usize, reads: usize) -> PinView {
        let cids = [
            "bafybeie5nqv6kd3qnfjupgvz34woh3oksc3iau6abmyajn7qvtf6d2ho34",
            "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG",
            "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy",
        ];
        let mut stats = PinStats::default();
        for i in 0..reads {
            stats.record(Timestamp(i as i64), AccessOp::Read, Some(i as u64 * 10), Some(10));
        }
        PinView {
            pin: Pin::new(Cid::parse(cids[n]).unwrap(), Tier::Ssd, Timestamp(0)),
            stats,
        }
    }

    #[test]
    fn hottest_coldest_and_never_read() {
        let mut b = AnalyticsBuilder::new(Timestamp(100), 1);
        b.add(&view(0, 5));
        b.add(&view(1, 0));
        b.add(&view(2, 2));
        let a = b.finish();
        assert_eq!(a.pins, 3);
        assert_eq!(a.never_read, 1);
        assert_eq!(a.hottest.len(), 1);
        assert!(a.hottest[0].cid.starts_with("bafybei"));
        assert!(a.coldest[0].cid.starts_with("bafkrei"));
        assert_eq!(a.patterns.sequential, 2);
        assert_eq!(a.patterns.unknown, 1);
        assert_eq!(a.reads.sequential, 7);
    }
}
