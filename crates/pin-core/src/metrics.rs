//! Totals maintained at write time, so reading them never scans.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::fold::PinSummary;
use crate::model::{PinStatus, Tier, Timestamp};
use crate::vfs::{VfsOperation, VfsTotals};

/// Pins and bytes on one tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TierTotals {
    /// Pins whose primary tier this is (unpinned pins excluded).
    pub pins: u64,
    /// Their bytes.
    pub size_bytes: u64,
}

/// What `metrics` reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metrics {
    /// Pins whose status is not `unpinned`.
    pub total_pins: u64,
    /// Their bytes.
    pub total_size_bytes: u64,
    /// The same per primary tier (every tier listed, empty ones with zeros).
    pub tiers: BTreeMap<Tier, TierTotals>,
    /// Every pin known, by status (every status listed).
    pub statuses: BTreeMap<PinStatus, u64>,
    /// Access events recorded.
    pub total_accesses: u64,
    /// CIDs whose last access is less than an hour before `as_of`.
    pub accessed_last_hour: u64,
    /// CIDs whose last access is less than a day before `as_of`.
    pub accessed_last_day: u64,
    /// VFS operations of the last day (the 1440 minutes up to and including `as_of`'s), by kind, and the
    /// bytes their reads and writes moved per mount point.
    pub vfs_last_day: VfsTotals,
    /// The instant the windows are measured from.
    pub as_of: Timestamp,
}

/// A change to the totals, computed by the writer from a pin's state before and after a batch.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MetricsDelta {
    /// Change per status code.
    pub statuses: [i64; 5],
    /// Change of live pins per tier code.
    pub tier_pins: [i64; 6],
    /// Change of live bytes per tier code.
    pub tier_bytes: [i64; 6],
    /// Accesses added.
    pub accesses: u64,
    /// Net change of the last-access histogram, per second.
    pub last_access: BTreeMap<i64, i64>,
}

impl MetricsDelta {
    /// Accounts for one pin going from `before` to `after`.
    pub fn pin_changed(&mut self, before: Option<PinSummary>, after: Option<PinSummary>) {
        if before == after {
            return;
        }
        if let Some(b) = before {
            self.count(b, -1);
        }
        if let Some(a) = after {
            self.count(a, 1);
        }
    }

    fn count(&mut self, s: PinSummary, sign: i64) {
        self.statuses[usize::from(s.status.code())] += sign;
        if s.status != PinStatus::Unpinned {
            let t = usize::from(s.tier.code());
            self.tier_pins[t] += sign;
            // Sizes above i64::MAX bytes (8 EiB) do not occur; saturate rather than wrap.
            self.tier_bytes[t] += sign * i64::try_from(s.size_bytes).unwrap_or(i64::MAX);
        }
    }

    /// Whether the delta changes nothing.
    pub fn is_empty(&self) -> bool {
        self.accesses == 0
            && self.last_access.is_empty()
            && self.statuses.iter().all(|&v| v == 0)
            && self.tier_pins.iter().all(|&v| v == 0)
            && self.tier_bytes.iter().all(|&v| v == 0)
    }
}

/// The running totals behind [`Metrics`]; serialisable so a store can persist them with its manifest.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MetricsState {
    statuses: [u64; 5],
    tier_pins: [u64; 6],
    tier_bytes: [u64; 6],
    accesses: u64,
    /// How many CIDs have their last access in each second (seconds since the epoch). Serialised as one
    /// flat sequence `[s0, n0, s1 - s0, n1, s2 - s1, n2, ...]`, a third of the size of a map keyed by the
    /// second's digits; a map (what manifests of format 2 and older hold) is read too.
    #[serde(with = "histogram")]
    last_access_secs: BTreeMap<i64, u64>,
    /// The same, per minute, so a window count adds at most ~1500 buckets.
    #[serde(skip)]
    last_access_mins: BTreeMap<i64, u64>,
    /// VFS operations per minute of their event time (minutes since the epoch), pruned like the histogram.
    #[serde(default)]
    vfs_minutes: BTreeMap<i64, VfsTotals>,
}

fn add(v: &mut u64, d: i64) {
    *v = v.checked_add_signed(d).unwrap_or(0);
}

impl MetricsState {
    /// Adds a delta.
    pub fn apply(&mut self, d: &MetricsDelta) {
        for (v, d) in self.statuses.iter_mut().zip(d.statuses) {
            add(v, d);
        }
        for (v, d) in self.tier_pins.iter_mut().zip(d.tier_pins) {
            add(v, d);
        }
        for (v, d) in self.tier_bytes.iter_mut().zip(d.tier_bytes) {
            add(v, d);
        }
        self.accesses += d.accesses;
        for (&sec, &n) in &d.last_access {
            bump(&mut self.last_access_secs, sec, n);
            bump(&mut self.last_access_mins, sec.div_euclid(60), n);
        }
    }

    /// Rebuilds derived indexes after deserialisation.
    pub fn rebuild(&mut self) {
        self.last_access_mins.clear();
        for (&sec, &n) in &self.last_access_secs {
            *self.last_access_mins.entry(sec.div_euclid(60)).or_default() += n;
        }
    }

    /// Drops histogram buckets older than `before` (seconds); they can no longer fall in a window.
    pub fn prune(&mut self, before_sec: i64) {
        self.last_access_secs = self.last_access_secs.split_off(&before_sec);
        self.vfs_minutes = self.vfs_minutes.split_off(&before_sec.div_euclid(60));
        self.rebuild();
    }

    /// Counts one VFS operation that happened at `at`.
    pub fn record_vfs(&mut self, at: Timestamp, op: &VfsOperation) {
        self.vfs_minutes.entry(at.0.div_euclid(60_000)).or_default().record(op);
    }

    /// VFS operations of the minutes from `since_min` on.
    fn vfs_since(&self, since_min: i64) -> VfsTotals {
        let mut out = VfsTotals::default();
        for t in self.vfs_minutes.range(since_min..).map(|(_, t)| t) {
            out.merge(t);
        }
        out
    }

    /// CIDs whose last access is at or after `since_sec`.
    fn accessed_since(&self, since_sec: i64) -> u64 {
        let first_full_min = since_sec.div_euclid(60) + i64::from(since_sec.rem_euclid(60) != 0);
        let partial: u64 = self
            .last_access_secs
            .range(since_sec..first_full_min * 60)
            .map(|(_, n)| n)
            .sum();
        let full: u64 = self.last_access_mins.range(first_full_min..).map(|(_, n)| n).sum();
        partial + full
    }

    /// The report, with the windows measured from `now`.
    pub fn report(&self, now: Timestamp) -> Metrics {
        let now_sec = now.0.div_euclid(1000);
        let tiers = Tier::ALL
            .iter()
            .map(|t| {
                let i = usize::from(t.code());
                (
                    *t,
                    TierTotals {
                        pins: self.tier_pins[i],
                        size_bytes: self.tier_bytes[i],
                    },
                )
            })
            .collect::<BTreeMap<_, _>>();
        Metrics {
            total_pins: tiers.values().map(|t| t.pins).sum(),
            total_size_bytes: tiers.values().map(|t| t.size_bytes).sum(),
            tiers,
            statuses: PinStatus::ALL
                .iter()
                .map(|s| (*s, self.statuses[usize::from(s.code())]))
                .collect(),
            total_accesses: self.accesses,
            // A last access at second s is within the hour when now - 1h < s*1000 + 999, i.e. s > now_sec - 3600.
            accessed_last_hour: self.accessed_since(now_sec - 3600 + 1),
            accessed_last_day: self.accessed_since(now_sec - 86_400 + 1),
            // Minute buckets: the window is the 1440 minutes up to and including the current one.
            vfs_last_day: self.vfs_since(now.0.div_euclid(60_000) - 1439),
            as_of: now,
        }
    }
}

/// The serialised form of the last-access histogram (see [`MetricsState`]).
mod histogram {
    use std::collections::BTreeMap;
    use std::fmt;

    use serde::de::{Error, MapAccess, SeqAccess, Visitor};
    use serde::ser::SerializeSeq;
    use serde::{Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(map: &BTreeMap<i64, u64>, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(2 * map.len()))?;
        let mut prev = 0i64;
        for (&sec, &n) in map {
            seq.serialize_element(&(sec - prev))?;
            seq.serialize_element(&n)?;
            prev = sec;
        }
        seq.end()
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<i64, u64>, D::Error> {
        d.deserialize_any(HistogramVisitor)
    }

    struct HistogramVisitor;

    impl<'de> Visitor<'de> for HistogramVisitor {
        type Value = BTreeMap<i64, u64>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a sequence of (second delta, count) pairs, or a map from second to count")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut pairs = Vec::with_capacity(seq.size_hint().unwrap_or(0) / 2);
            let mut sec = 0i64;
            while let Some(delta) = seq.next_element::<i64>()? {
                let n: u64 = seq
                    .next_element()?
                    .ok_or_else(|| A::Error::custom("the last second has no count"))?;
                sec = sec
                    .checked_add(delta)
                    .ok_or_else(|| A::Error::custom("second out of range"))?;
                if !pairs.is_empty() && delta <= 0 {
                    return Err(A::Error::custom(format!("seconds not ascending at {sec}")));
                }
                pairs.push((sec, n));
            }
            // Ascending input: the map is built in one pass, without a search per entry.
            Ok(pairs.into_iter().collect())
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = BTreeMap::new();
            while let Some((sec, n)) = map.next_entry::<i64, u64>()? {
                out.insert(sec, n);
            }
            Ok(out)
        }
    }
}

fn bump(map: &mut BTreeMap<i64, u64>, key: i64, d: i64) {
    let v = map.entry(key).or_default();
    add(v, d);
    if *v == 0 {
        map.remove(&key);
    }
}

/// The writer's side of the last-access histogram: each recently accessed CID's last access second.
#[derive(Debug, Clone, Default)]
pub struct RecentAccesses {
    last: HashMap<Arc<[u8]>, i64>,
}

impl RecentAccesses {
    /// Records an access to `key` at `at`, adding the histogram change to `delta`.
    pub fn touch(&mut self, key: &[u8], at: Timestamp, delta: &mut MetricsDelta) {
        let sec = at.0.div_euclid(1000);
        match self.last.get_mut(key) {
            Some(prev) if *prev >= sec => {}
            Some(prev) => {
                *delta.last_access.entry(*prev).or_default() -= 1;
                *delta.last_access.entry(sec).or_default() += 1;
                *prev = sec;
            }
            None => {
                self.last.insert(key.into(), sec);
                *delta.last_access.entry(sec).or_default() += 1;
            }
        }
        delta.last_access.retain(|_, n| *n != 0);
    }

    /// Forgets CIDs last accessed before `before_sec`, as [`MetricsState::prune`] does.
    pub fn prune(&mut self, before_sec: i64) {
        self.last.retain(|_, s| *s >= before_sec);
    }

    /// How many CIDs are tracked.
    pub fn len(&self) -> usize {
        self.last.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.last.is_empty()
    }

    /// Every tracked CID key with its last access second.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], i64)> {
        self.last.iter().map(|(k, s)| (&**k, *s))
    }

    /// Adds a tracked CID (when restoring persisted state).
    pub fn insert(&mut self, key: &[u8], sec: i64) {
        self.last.insert(key.into(), sec);
    }
}

/// How long the histogram keeps a second bucket: a day plus an hour of slack.
pub const RECENT_RETENTION_SECS: i64 = 25 * 3600;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_count_distinct_cids_by_last_access() {
        let mut state = MetricsState::default();
        let mut recent = RecentAccesses::default();
        let now = Timestamp(10 * 86_400_000);
        let mut d = MetricsDelta::default();
        // a: accessed 2 days ago, then 30 minutes ago; b: 5 hours ago; c: 59m59s ago and just now.
        recent.touch(b"a", now.plus_millis(-2 * 86_400_000), &mut d);
        recent.touch(b"a", now.plus_millis(-30 * 60_000), &mut d);
        recent.touch(b"b", now.plus_millis(-5 * 3_600_000), &mut d);
        recent.touch(b"c", now.plus_millis(-3_599_000), &mut d);
        recent.touch(b"c", now, &mut d);
        // d: exactly one hour ago is outside the hour.
        recent.touch(b"d", now.plus_millis(-3_600_000), &mut d);
        state.apply(&d);
        let m = state.report(now);
        assert_eq!(m.accessed_last_hour, 2);
        assert_eq!(m.accessed_last_day, 4);
        let later = state.report(now.plus_millis(86_400_000));
        assert_eq!(later.accessed_last_day, 0);
        // Round trip through serde and rebuild.
        let json = serde_json::to_string(&state).unwrap();
        let mut back: MetricsState = serde_json::from_str(&json).unwrap();
        back.rebuild();
        assert_eq!(back.report(now), m);
        assert_eq!(back, state);
        // The histogram as manifests of format 2 wrote it, a map keyed by the second's digits, reads alike.
        let mut legacy: serde_json::Value = serde_json::from_str(&json).unwrap();
        let pairs = legacy["last_access_secs"].as_array().unwrap().clone();
        let mut sec = 0;
        let mut as_map = serde_json::Map::new();
        for pair in pairs.chunks(2) {
            sec += pair[0].as_i64().unwrap();
            as_map.insert(sec.to_string(), pair[1].clone());
        }
        assert_eq!(as_map.len(), 4, "{as_map:?}");
        legacy["last_access_secs"] = as_map.into();
        let mut old: MetricsState = serde_json::from_value(legacy).unwrap();
        old.rebuild();
        assert_eq!(old, state);
    }

    #[test]
    fn a_damaged_histogram_is_refused() {
        let json = |h: &str| {
            format!(
                r#"{{"statuses":[0,0,0,0,0],"tier_pins":[0,0,0,0,0,0],"tier_bytes":[0,0,0,0,0,0],"accesses":0,"last_access_secs":{h}}}"#
            )
        };
        assert!(serde_json::from_str::<MetricsState>(&json("[100,1,5,2]")).is_ok());
        // A second without its count, seconds not ascending, and neither a sequence nor a map.
        for bad in ["[100,1,5]", "[100,1,0,2]", "[100,1,-5,2]", "\"x\""] {
            assert!(
                serde_json::from_str::<MetricsState>(&json(bad)).is_err(),
                "{bad} was accepted"
            );
        }
    }

    #[test]
    fn pin_changes_move_totals() {
        let mut state = MetricsState::default();
        let mut d = MetricsDelta::default();
        let ssd = PinSummary {
            status: PinStatus::Pinned,
            tier: Tier::Ssd,
            size_bytes: 100,
        };
        d.pin_changed(None, Some(ssd));
        d.pin_changed(Some(ssd), Some(PinSummary { tier: Tier::Hdd, ..ssd }));
        state.apply(&d);
        let mut d = MetricsDelta::default();
        d.pin_changed(
            None,
            Some(PinSummary {
                status: PinStatus::Unpinned,
                ..ssd
            }),
        );
        state.apply(&d);
        let m = state.report(Timestamp(0));
        assert_eq!(m.total_pins, 1);
        assert_eq!(m.total_size_bytes, 100);
        assert_eq!(
            m.tiers[&Tier::Hdd],
            TierTotals {
                pins: 1,
                size_bytes: 100
            }
        );
        assert_eq!(m.tiers[&Tier::Ssd], TierTotals::default());
        assert_eq!(m.statuses[&PinStatus::Pinned], 1);
        assert_eq!(m.statuses[&PinStatus::Unpinned], 1);
    }
}
