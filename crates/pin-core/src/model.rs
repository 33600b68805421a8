//! The pin model: tiers, statuses, pins and their validation.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::cid::Cid;
use crate::error::{Error, Result};

/// Longest pin name, in bytes.
pub const MAX_NAME_BYTES: usize = 255;
/// Most metadata keys on one pin.
pub const MAX_META_KEYS: usize = 1000;

/// Milliseconds since the Unix epoch, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// Milliseconds since the Unix epoch.
    pub const fn millis(self) -> i64 {
        self.0
    }
    /// This instant plus `ms` milliseconds (saturating).
    pub const fn plus_millis(self, ms: i64) -> Self {
        Self(self.0.saturating_add(ms))
    }
}

/// Declares a closed set of names that parse case-insensitively and print in lower case.
macro_rules! named_enum {
    ($(#[$meta:meta])* $name:ident, $field:literal, { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "lowercase")]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            const EXPECTED: &'static str = concat!($($text, " "),+);

            /// The lower-case name.
            pub const fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
            /// A small stable number for compact encodings.
            pub const fn code(self) -> u8 {
                self as u8
            }
            /// The value with [`code`](Self::code) `code`.
            pub fn from_code(code: u8) -> Option<Self> {
                Self::ALL.get(usize::from(code)).copied()
            }
        }

        impl FromStr for $name {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self> {
                // Stored values are spelled exactly; only other spellings pay for a lower-case copy.
                match s {
                    $($text => return Ok($name::$variant),)+
                    _ => {}
                }
                let lower = s.trim().to_ascii_lowercase();
                match lower.as_str() {
                    $($text => Ok($name::$variant),)+
                    _ => Err(Error::InvalidValue {
                        field: $field,
                        input: s.to_owned(),
                        expected: Self::EXPECTED.trim_ascii_end(),
                    }),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

named_enum!(
    /// A storage tier, ordered from fastest to coldest.
    Tier, "tier", {
        Memory = "memory",
        Nvme = "nvme",
        Ssd = "ssd",
        Hdd = "hdd",
        Ipfs = "ipfs",
        Filecoin = "filecoin",
    }
);

named_enum!(
    /// Where a pin is in its life.
    PinStatus, "status", {
        Queued = "queued",
        Pinning = "pinning",
        Pinned = "pinned",
        Failed = "failed",
        Unpinned = "unpinned",
    }
);

named_enum!(
    /// How much of the DAG a pin holds.
    PinType, "pin type", {
        Recursive = "recursive",
        Direct = "direct",
    }
);

named_enum!(
    /// What an access did.
    AccessOp, "access op", {
        Read = "read",
        Write = "write",
    }
);

named_enum!(
    /// The access pattern the store detected from offsets and lengths.
    Pattern, "pattern", {
        /// Not accessed, or too few accesses to tell.
        Unknown = "unknown",
        /// Most reads start where the previous one ended.
        Sequential = "sequential",
        /// Most reads jump.
        Random = "random",
        /// Neither dominates.
        Mixed = "mixed",
        /// Most reads take the whole object in one go.
        Whole = "whole",
    }
);

/// Whether a pin has been checked against its content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Integrity {
    /// A hash of the content, as the verifier computed it.
    pub content_hash: Option<String>,
    /// When it was last verified.
    pub last_verified: Option<Timestamp>,
    /// The verifier's verdict (`ok`, `corrupt`, ...).
    pub verdict: Option<String>,
}

/// A pin: everything a user records about one CID.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pin {
    /// The content identifier (index key plus display spelling).
    pub cid: Cid,
    /// A name, at most [`MAX_NAME_BYTES`] bytes.
    pub name: Option<String>,
    /// Recursive or direct.
    pub pin_type: PinType,
    /// Where the pin is in its life.
    pub status: PinStatus,
    /// Size of the content in bytes.
    pub size_bytes: u64,
    /// When the pin was first recorded.
    pub created_at: Timestamp,
    /// When any field last changed.
    pub updated_at: Timestamp,
    /// The tier that serves reads.
    pub primary_tier: Tier,
    /// Every tier that holds a copy (always contains the primary tier).
    pub tiers: BTreeSet<Tier>,
    /// Copies wanted across the cluster.
    pub replication: u32,
    /// Paths under which a virtual filesystem shows this content.
    pub vfs_paths: BTreeSet<String>,
    /// The mount point the paths live under.
    pub mount: Option<String>,
    /// Free-form metadata, at most [`MAX_META_KEYS`] keys.
    pub meta: BTreeMap<String, String>,
    /// Integrity check results.
    pub integrity: Integrity,
    /// When the pin may be dropped.
    pub expires_at: Option<Timestamp>,
    /// Why the status is what it is (set by status changes such as `failed`).
    pub status_reason: Option<String>,
}

impl Pin {
    /// A pinned, recursive pin on `tier` with no other fields set.
    pub fn new(cid: Cid, tier: Tier, at: Timestamp) -> Self {
        Self {
            cid,
            name: None,
            pin_type: PinType::Recursive,
            status: PinStatus::Pinned,
            size_bytes: 0,
            created_at: at,
            updated_at: at,
            primary_tier: tier,
            tiers: BTreeSet::from([tier]),
            replication: 1,
            vfs_paths: BTreeSet::new(),
            mount: None,
            meta: BTreeMap::new(),
            integrity: Integrity::default(),
            expires_at: None,
            status_reason: None,
        }
    }

    /// Checks the limits of the model; the error names the pin and the field.
    pub fn validate(&self) -> Result<()> {
        let invalid = |field, reason: String| Error::Invalid {
            field,
            cid: self.cid.to_string(),
            reason,
        };
        if let Some(name) = &self.name
            && name.len() > MAX_NAME_BYTES
        {
            return Err(invalid(
                "name",
                format!("{} bytes, at most {MAX_NAME_BYTES} allowed", name.len()),
            ));
        }
        if self.meta.len() > MAX_META_KEYS {
            return Err(invalid(
                "meta",
                format!("{} keys, at most {MAX_META_KEYS} allowed", self.meta.len()),
            ));
        }
        if self.meta.keys().any(String::is_empty) {
            return Err(invalid("meta", "an empty key".into()));
        }
        if !self.tiers.contains(&self.primary_tier) {
            return Err(invalid(
                "tiers",
                format!(
                    "primary tier {} is not among the tiers holding a copy",
                    self.primary_tier
                ),
            ));
        }
        if self.vfs_paths.iter().any(|p| !p.starts_with('/')) {
            return Err(invalid("vfs_path", "VFS paths are absolute (start with '/')".into()));
        }
        Ok(())
    }
}

/// Parses a size given as a signed number, refusing negatives with an error that names the input.
pub fn parse_size(cid: &str, input: i64) -> Result<u64> {
    u64::try_from(input).map_err(|_| Error::Invalid {
        field: "size",
        cid: cid.to_owned(),
        reason: format!("{input} is negative"),
    })
}

/// Statistics the store derives from a pin's accesses. They merge associatively (see [`PinStats::merge`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct PinStats {
    /// Accesses recorded.
    pub access_count: u64,
    /// Of which reads.
    pub read_count: u64,
    /// Bytes read.
    pub bytes_read: u64,
    /// Bytes written.
    pub bytes_written: u64,
    /// Earliest access.
    pub first_access: Option<Timestamp>,
    /// Latest access.
    pub last_access: Option<Timestamp>,
    /// Accesses decayed with half-life [`HOTNESS_HALF_LIFE_MS`], as of `hotness_at`.
    pub hotness: f64,
    /// The instant `hotness` is valid at.
    pub hotness_at: Option<Timestamp>,
    /// Number of inter-arrival gaps seen.
    pub gap_count: u64,
    /// Mean inter-arrival gap in milliseconds.
    pub gap_mean_ms: f64,
    /// Sum of squared deviations of the gaps (Welford), for the variance.
    pub gap_m2: f64,
    /// Reads that started where the previous read ended.
    pub sequential_reads: u64,
    /// Reads that jumped.
    pub random_reads: u64,
    /// Reads of the whole object in one go.
    pub whole_reads: u64,
    /// Reads whose predecessor is in another fragment: classified when fragments merge.
    pub(crate) first_read: Option<ReadShape>,
    /// Where the last read ended, to classify the next one.
    pub(crate) last_read_end: Option<u64>,
}

/// The shape of a read that could not be classified yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ReadShape {
    pub(crate) offset: u64,
    pub(crate) whole: bool,
}

/// Half-life of the stored hotness score: one day.
pub const HOTNESS_HALF_LIFE_MS: i64 = 86_400_000;

/// `2^(-dt/H)` for a non-negative `dt` in milliseconds.
pub fn decay(dt_ms: i64) -> f64 {
    (-(dt_ms.max(0) as f64) / HOTNESS_HALF_LIFE_MS as f64).exp2()
}

impl PinStats {
    /// Hotness decayed to `at` (never into the past: an earlier `at` returns the stored score).
    pub fn hotness_at(&self, at: Timestamp) -> f64 {
        match self.hotness_at {
            Some(t) => self.hotness * decay(at.0 - t.0),
            None => 0.0,
        }
    }

    /// Standard deviation of the inter-arrival gaps, in milliseconds.
    pub fn gap_stddev_ms(&self) -> f64 {
        if self.gap_count < 2 {
            0.0
        } else {
            (self.gap_m2 / (self.gap_count - 1) as f64).sqrt()
        }
    }

    /// The dominant access pattern, from the read classification counts.
    pub fn pattern(&self) -> Pattern {
        let classified = self.sequential_reads + self.random_reads + self.whole_reads;
        if classified < 2 {
            return Pattern::Unknown;
        }
        let share = |n: u64| n as f64 / classified as f64;
        if share(self.whole_reads) >= 0.8 {
            Pattern::Whole
        } else if share(self.sequential_reads) >= 0.7 {
            Pattern::Sequential
        } else if share(self.random_reads) >= 0.7 {
            Pattern::Random
        } else {
            Pattern::Mixed
        }
    }

    /// Records one access.
    pub fn record(&mut self, at: Timestamp, op: AccessOp, offset: Option<u64>, length: Option<u64>) {
        self.access_count += 1;
        match op {
            AccessOp::Read => {
                self.read_count += 1;
                self.bytes_read = self.bytes_read.saturating_add(length.unwrap_or(0));
                let whole = offset.unwrap_or(0) == 0 && length.is_none();
                let start = offset.unwrap_or(0);
                let shape = ReadShape { offset: start, whole };
                match self.last_read_end {
                    None if self.read_count == 1 => self.first_read = Some(shape),
                    prev => self.classify(shape, prev),
                }
                self.last_read_end = if whole {
                    None
                } else {
                    Some(start.saturating_add(length.unwrap_or(0)))
                };
            }
            AccessOp::Write => {
                self.bytes_written = self.bytes_written.saturating_add(length.unwrap_or(0));
            }
        }
        if let Some(last) = self.last_access {
            self.push_gap((at.0 - last.0).max(0) as f64);
        }
        self.first_access = Some(self.first_access.map_or(at, |f| f.min(at)));
        self.last_access = Some(self.last_access.map_or(at, |l| l.max(at)));
        self.add_hotness(1.0, at);
    }

    fn classify(&mut self, shape: ReadShape, prev_end: Option<u64>) {
        if shape.whole {
            self.whole_reads += 1;
        } else if prev_end == Some(shape.offset) {
            self.sequential_reads += 1;
        } else {
            self.random_reads += 1;
        }
    }

    fn push_gap(&mut self, gap: f64) {
        self.gap_count += 1;
        let delta = gap - self.gap_mean_ms;
        self.gap_mean_ms += delta / self.gap_count as f64;
        self.gap_m2 += delta * (gap - self.gap_mean_ms);
    }

    fn add_hotness(&mut self, weight: f64, at: Timestamp) {
        match self.hotness_at {
            None => {
                self.hotness = weight;
                self.hotness_at = Some(at);
            }
            Some(t) if at >= t => {
                self.hotness = self.hotness * decay(at.0 - t.0) + weight;
                self.hotness_at = Some(at);
            }
            Some(t) => self.hotness += weight * decay(t.0 - at.0),
        }
    }

    /// Folds `newer` (statistics of later accesses) into `self` (earlier ones).
    ///
    /// Counters add, first/last take min/max, hotness merges as `s1·2^(-(t-t1)/H) + s2·2^(-(t-t2)/H)`,
    /// inter-arrival moments merge with Chan's formula plus the gap across the boundary, and the first read
    /// of `newer` is classified against the last read of `self`.
    pub fn merge(&mut self, newer: &PinStats) {
        if newer.access_count == 0 {
            return;
        }
        if self.access_count == 0 {
            *self = newer.clone();
            return;
        }
        // Inter-arrival: the two sets of gaps plus the one between them.
        let boundary = match (self.last_access, newer.first_access) {
            (Some(a), Some(b)) => Some((b.0 - a.0).max(0) as f64),
            _ => None,
        };
        if newer.gap_count > 0 {
            let (n1, n2) = (self.gap_count as f64, newer.gap_count as f64);
            let n = n1 + n2;
            let delta = newer.gap_mean_ms - self.gap_mean_ms;
            self.gap_mean_ms += delta * n2 / n;
            self.gap_m2 += newer.gap_m2 + delta * delta * n1 * n2 / n;
            self.gap_count += newer.gap_count;
        }
        if let Some(gap) = boundary {
            self.push_gap(gap);
        }
        // Reads: classify the newer fragment's first read against our last one.
        if let Some(shape) = newer.first_read {
            if self.read_count == 0 {
                self.first_read = Some(shape);
            } else {
                self.classify(shape, self.last_read_end);
            }
        }
        self.sequential_reads += newer.sequential_reads;
        self.random_reads += newer.random_reads;
        self.whole_reads += newer.whole_reads;
        if newer.read_count > 0 {
            self.last_read_end = newer.last_read_end;
        }
        self.access_count += newer.access_count;
        self.read_count += newer.read_count;
        self.bytes_read = self.bytes_read.saturating_add(newer.bytes_read);
        self.bytes_written = self.bytes_written.saturating_add(newer.bytes_written);
        self.first_access = min_opt(self.first_access, newer.first_access);
        self.last_access = self.last_access.max(newer.last_access);
        if let Some(t2) = newer.hotness_at {
            self.add_hotness(newer.hotness, t2);
        }
    }

    /// Internal fields for backends that persist statistics: `(first read offset, first read whole, last read end)`.
    pub fn boundary_state(&self) -> (Option<u64>, Option<bool>, Option<u64>) {
        (
            self.first_read.map(|r| r.offset),
            self.first_read.map(|r| r.whole),
            self.last_read_end,
        )
    }

    /// Restores what [`boundary_state`](Self::boundary_state) returned.
    pub fn set_boundary_state(&mut self, first_offset: Option<u64>, first_whole: Option<bool>, last_end: Option<u64>) {
        self.first_read = first_offset.map(|offset| ReadShape {
            offset,
            whole: first_whole.unwrap_or(false),
        });
        self.last_read_end = last_end;
    }
}

fn min_opt(a: Option<Timestamp>, b: Option<Timestamp>) -> Option<Timestamp> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_case_insensitively_and_errors_list_choices() {
        assert_eq!("SSD".parse::<Tier>().unwrap(), Tier::Ssd);
        let err = "tape".parse::<Tier>().unwrap_err().to_string();
        assert_eq!(
            err,
            "invalid tier \"tape\": expected one of memory nvme ssd hdd ipfs filecoin"
        );
        assert!(Tier::Memory < Tier::Filecoin);
        for t in Tier::ALL {
            assert_eq!(Tier::from_code(t.code()), Some(*t));
        }
    }

    #[test]
    fn negative_size_is_named() {
        let err = parse_size("bafyx", -5).unwrap_err().to_string();
        assert_eq!(err, "invalid size for bafyx: -5 is negative");
        assert_eq!(parse_size("bafyx", 5).unwrap(), 5);
    }

    fn stats_of(accesses: &[(i64, u64, u64)]) -> PinStats {
        let mut s = PinStats::default();
        for &(t, off, len) in accesses {
            s.record(Timestamp(t), AccessOp::Read, Some(off), Some(len));
        }
        s
    }

    #[test]
    fn merge_equals_recording_everything_in_one_fragment() {
        let all = [
            (0, 0, 10),
            (1000, 10, 10),
            (5000, 20, 10),
            (6000, 100, 5),
            (9000, 105, 5),
            (20_000, 0, 7),
        ];
        let whole = stats_of(&all);
        for split in 0..=all.len() {
            let mut a = stats_of(&all[..split]);
            let b = stats_of(&all[split..]);
            a.merge(&b);
            assert_eq!(a.access_count, whole.access_count, "split {split}");
            assert_eq!(a.sequential_reads, whole.sequential_reads, "split {split}");
            assert_eq!(a.random_reads, whole.random_reads, "split {split}");
            assert_eq!(a.gap_count, whole.gap_count, "split {split}");
            assert!((a.gap_mean_ms - whole.gap_mean_ms).abs() < 1e-6, "split {split}");
            assert!((a.gap_m2 - whole.gap_m2).abs() < 1e-3, "split {split}");
            assert!((a.hotness_at(Timestamp(30_000)) - whole.hotness_at(Timestamp(30_000))).abs() < 1e-9);
            assert_eq!(a.first_access, whole.first_access);
            assert_eq!(a.last_access, whole.last_access);
        }
        assert_eq!(whole.sequential_reads, 3);
        assert_eq!(whole.random_reads, 2);
    }

    #[test]
    fn hotness_halves_every_half_life() {
        let mut s = PinStats::default();
        s.record(Timestamp(0), AccessOp::Read, None, None);
        assert!((s.hotness_at(Timestamp(HOTNESS_HALF_LIFE_MS)) - 0.5).abs() < 1e-12);
        // An access that arrives late counts as if it had arrived in order.
        let mut late = PinStats::default();
        late.record(Timestamp(HOTNESS_HALF_LIFE_MS), AccessOp::Read, None, None);
        late.record(Timestamp(0), AccessOp::Read, None, None);
        let at = Timestamp(2 * HOTNESS_HALF_LIFE_MS);
        assert!((late.hotness_at(at) - (0.5 + 0.25)).abs() < 1e-12);
    }

    #[test]
    fn pattern_follows_the_reads() {
        let seq = stats_of(&[(0, 0, 10), (1, 10, 10), (2, 20, 10), (3, 30, 10)]);
        assert_eq!(seq.pattern(), Pattern::Sequential);
        let rnd = stats_of(&[(0, 500, 10), (1, 10, 10), (2, 900, 10), (3, 30, 10)]);
        assert_eq!(rnd.pattern(), Pattern::Random);
        let mut whole = PinStats::default();
        for t in 0..4 {
            whole.record(Timestamp(t), AccessOp::Read, None, None);
        }
        assert_eq!(whole.pattern(), Pattern::Whole);
    }
}
