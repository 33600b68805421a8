//! Cache policies for a fast tier: which objects it holds, request by request.
//!
//! Every policy implements [`Policy`], an object-safe trait, so the simulator, the evidence and the CLI
//! hold a `Box<dyn Policy>` chosen by name ([`policy_by_name`]). Objects are dense `u32` ids (see
//! [`Trace`](crate::Trace)); sizes are bytes, and a policy never holds more than its capacity.

use std::cmp::Ordering;
use std::fmt;

use crate::error::{Error, Result};
use crate::list::{KeyedSet, Lists};
use crate::score::DecayedCount;
use crate::sketch::FrequencySketch;
use crate::trace::Request;

/// A replacement (and possibly admission) policy for a cache of a fixed number of bytes.
pub trait Policy: fmt::Debug + Send {
    /// The policy's name, as [`policy_by_name`] takes it.
    fn name(&self) -> &str;
    /// The bytes it may hold.
    fn capacity(&self) -> u64;
    /// The bytes it holds.
    fn used(&self) -> u64;
    /// Whether it holds `id`.
    fn contains(&self, id: u32) -> bool;
    /// Serves one request: `true` for a hit. On a miss the policy decides whether to admit the object
    /// and what to evict; requests must come in time order.
    fn access(&mut self, req: &Request) -> bool;
}

/// What a policy is built with.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PolicyParams {
    /// Bytes of the cache.
    pub capacity_bytes: u64,
    /// Roughly how many objects fit (sizes the frequency sketch of TinyLFU).
    pub expected_objects: usize,
    /// Half-life of the decayed hotness score, milliseconds.
    pub half_life_ms: f64,
}

/// Names [`policy_by_name`] knows, in the order reports list them.
pub const POLICY_NAMES: &[&str] = &["lru", "lfu", "hotness", "hotness-admit", "arc", "w-tinylfu"];

/// The policy Pindex recommends for a fast tier: W-TinyLFU. In the evidence (`docs/tiering.md`) it comes
/// within 2% of perfect LFU at 10% of the working set (the best online policy on its Zipf traces),
/// follows a phase change at least as well as decayed hotness, needs no half-life, and a scan does not hurt it.
pub const DEFAULT_POLICY: &str = "w-tinylfu";

/// Builds a policy by name (case-insensitive).
///
/// # Errors
///
/// [`Error::UnknownPolicy`] listing the known names.
pub fn policy_by_name(name: &str, p: &PolicyParams) -> Result<Box<dyn Policy>> {
    Ok(match name.trim().to_ascii_lowercase().as_str() {
        "lru" => Box::new(Lru::new(p.capacity_bytes)),
        "lfu" => Box::new(Lfu::new(p.capacity_bytes)),
        "hotness" => Box::new(Hotness::new(p.capacity_bytes, p.half_life_ms, false)),
        "hotness-admit" => Box::new(Hotness::new(p.capacity_bytes, p.half_life_ms, true)),
        "arc" => Box::new(Arc::new(p.capacity_bytes)),
        "w-tinylfu" | "wtinylfu" | "tinylfu" => Box::new(WTinyLfu::new(p.capacity_bytes, p.expected_objects)),
        _ => {
            return Err(Error::UnknownPolicy {
                name: name.to_owned(),
                expected: POLICY_NAMES.join(", "),
            });
        }
    })
}

/// Least recently used: evicts the object whose last request is oldest. Admits everything that fits.
#[derive(Debug, Clone)]
pub struct Lru {
    capacity: u64,
    lists: Lists,
}

impl Lru {
    /// An empty LRU cache of `capacity` bytes.
    pub fn new(capacity: u64) -> Self {
        Self {
            capacity,
            lists: Lists::new(),
        }
    }
}

impl Policy for Lru {
    fn name(&self) -> &str {
        "lru"
    }
    fn capacity(&self) -> u64 {
        self.capacity
    }
    fn used(&self) -> u64 {
        self.lists.total_bytes()
    }
    fn contains(&self, id: u32) -> bool {
        self.lists.which(id).is_some()
    }
    fn access(&mut self, req: &Request) -> bool {
        if self.lists.which(req.id).is_some() {
            self.lists.move_to_front(0, req.id);
            return true;
        }
        if req.size > self.capacity {
            return false;
        }
        self.lists.push_front(0, req.id, req.size);
        while self.lists.bytes(0) > self.capacity {
            self.lists.pop_back(0);
        }
        false
    }
}

/// An `f64` ordered by [`f64::total_cmp`], for ordered sets of scores.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Ord64(pub(crate) f64);
impl Eq for Ord64 {}
impl PartialOrd for Ord64 {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Ord64 {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// Least frequently used, with counts kept for every object ever seen ("perfect" LFU): evicts the cached
/// object with the fewest requests, the least recent among equals. Admits everything that fits.
///
/// With objects of equal size it always holds objects with the most requests so far, which makes it the
/// best online policy in expectation on a trace of independent requests whose popularity is assigned to
/// the objects at random (docs/tiering.md gives the argument). [`Lfu::forgetting_at`] makes the reference
/// for a trace whose popularity is reassigned at known requests.
#[derive(Debug, Clone)]
pub struct Lfu {
    capacity: u64,
    count: Vec<u64>,
    /// Cached objects by `(count, last request number)`.
    set: KeyedSet<(u64, u64)>,
    clock: u64,
    /// Request numbers (0-based, descending) at which every count is cleared.
    forget_at: Vec<u64>,
    name: &'static str,
}

impl Lfu {
    /// An empty LFU cache of `capacity` bytes.
    pub fn new(capacity: u64) -> Self {
        Self::forgetting_at(capacity, &[])
    }

    /// An LFU cache that is told where the phases of its trace start: just before serving the request of
    /// each index of `starts` (0-based) it clears every count, keeping what it holds at count 0, so each
    /// phase is ranked by its own requests alone. Named `lfu-per-phase` when `starts` is not empty.
    pub fn forgetting_at(capacity: u64, starts: &[usize]) -> Self {
        let mut forget_at: Vec<u64> = starts.iter().map(|&s| s as u64).collect();
        forget_at.sort_unstable_by(|a, b| b.cmp(a));
        forget_at.dedup();
        Self {
            capacity,
            count: Vec::new(),
            set: KeyedSet::new(),
            clock: 0,
            name: if forget_at.is_empty() { "lfu" } else { "lfu-per-phase" },
            forget_at,
        }
    }
}

fn grow<T: Clone>(v: &mut Vec<T>, id: u32, fill: T) {
    let need = id as usize + 1;
    if v.len() < need {
        let n = need.max(v.len() * 2);
        v.resize(n, fill);
    }
}

impl Policy for Lfu {
    fn name(&self) -> &str {
        self.name
    }
    fn capacity(&self) -> u64 {
        self.capacity
    }
    fn used(&self) -> u64 {
        self.set.used()
    }
    fn contains(&self, id: u32) -> bool {
        self.set.contains(id)
    }
    fn access(&mut self, req: &Request) -> bool {
        while self.forget_at.last().is_some_and(|&s| s <= self.clock) {
            self.forget_at.pop();
            self.count.fill(0);
            self.set.rekey_all(|(_, last)| (0, last));
        }
        grow(&mut self.count, req.id, 0);
        self.clock += 1;
        let count = &mut self.count[req.id as usize];
        *count += 1;
        let key = (*count, self.clock);
        if self.set.rekey(req.id, key) {
            return true;
        }
        if req.size <= self.capacity {
            self.set.insert(req.id, key, req.size);
            self.set.evict_until(self.capacity, false);
        }
        false
    }
}

/// Decayed hotness: every request adds 1 to the object's score, which halves every half-life
/// (`s ← s·2^(-Δt/H) + 1`); evicts the cached object with the lowest score now. Scores are kept for every
/// object seen, cached or not.
///
/// A one-time scan does not flush hot objects: a newcomer enters with score 1, below every object requested
/// twice lately, so the next newcomer evicts it first and a scan churns only the coldest slots.
///
/// With `admit` set, a missed object is admitted only if its score beats the scores of the objects it would
/// evict, which keeps a one-time scan out.
///
/// Scores are compared through `log2(s) + t/H`, which does not change while time passes, so the eviction
/// order is an ordered set updated only on requests.
#[derive(Debug, Clone)]
pub struct Hotness {
    capacity: u64,
    half_life_ms: f64,
    admit: bool,
    score: Vec<DecayedCount>,
    set: KeyedSet<Ord64>,
}

impl Hotness {
    /// An empty cache of `capacity` bytes with half-life `half_life_ms`; `admit` turns on the admission test.
    pub fn new(capacity: u64, half_life_ms: f64, admit: bool) -> Self {
        Self {
            capacity,
            half_life_ms: half_life_ms.max(1e-9),
            admit,
            score: Vec::new(),
            set: KeyedSet::new(),
        }
    }
}

impl Policy for Hotness {
    fn name(&self) -> &str {
        if self.admit { "hotness-admit" } else { "hotness" }
    }
    fn capacity(&self) -> u64 {
        self.capacity
    }
    fn used(&self) -> u64 {
        self.set.used()
    }
    fn contains(&self, id: u32) -> bool {
        self.set.contains(id)
    }
    fn access(&mut self, req: &Request) -> bool {
        grow(&mut self.score, req.id, DecayedCount::default());
        let s = &mut self.score[req.id as usize];
        s.add(1.0, req.time_ms, self.half_life_ms);
        let key = Ord64(s.value.max(f64::MIN_POSITIVE).log2() + s.at_ms as f64 / self.half_life_ms);
        if self.set.rekey(req.id, key) {
            return true;
        }
        if req.size > self.capacity {
            return false;
        }
        let need = (self.set.used() + req.size).saturating_sub(self.capacity);
        // Admit only if every object that would have to go is colder than the newcomer.
        if self.admit && need > 0 && !self.set.can_free(need, false, |k| k < key) {
            return false;
        }
        self.set.insert(req.id, key, req.size);
        self.set.evict_until(self.capacity, false);
        false
    }
}

const WINDOW: u8 = 0;
const PROBATION: u8 = 1;
const PROTECTED: u8 = 2;
/// Counters per row of the sketch for each object the cache holds.
const SKETCH_COUNTERS_PER_OBJECT: usize = 16;
/// The sketch's sample, in increments per counter of a row: with 16 counters per object held (rounded up
/// to a power of two) about 80 × (objects held) requests. The first halving comes after a sample, the
/// next ones every half sample, since the count of increments is halved with the counters.
const SKETCH_SAMPLE_FACTOR: usize = 5;
/// A victim whose estimate says it should have been requested more than this many times while it sat idle
/// has its estimate lowered to what its idle time makes plausible (see [`WTinyLfu`]).
const STALE_REQUESTS: u64 = 3;
/// How many of probation's least recent objects are candidates for eviction: the least frequent of them
/// goes first.
const VICTIM_SAMPLE: usize = 16;

/// W-TinyLFU (Einziger, Friedman, Manes, "TinyLFU: A Highly Efficient Cache Admission Policy", 2017), the
/// policy of Caffeine, for objects of any size.
///
/// A window LRU (1% of the bytes) takes every new object. What falls out of the window is a candidate for
/// the main cache, a segmented LRU (20% probation, 80% protected). The victim is the least frequent of
/// probation's 16 least recent objects; the candidate enters only if its estimated frequency beats the
/// victim's. Where that victim alone does not make room (sizes differ), the candidate must beat every
/// object it would push out, probation's least recent first, then protected's. Frequencies come from a
/// count-min sketch of 4-bit counters (conservative update) behind a doorkeeper bloom filter, halved now
/// and then so old popularity fades.
///
/// Three changes from Caffeine, all measured in docs/tiering.md. Each of the sketch's 4 rows is 16 counters
/// wide per object the cache holds with a sample of 5 × width increments, about 80 × (objects held)
/// requests, where Caffeine (and the TinyLFU paper's `W = 10 × C`) use 10 × (objects held): a small cache
/// then forgets every few thousand requests and its estimates are noisy. Caffeine's victim is probation's
/// least recent object, whatever its frequency; picking the least frequent of the 16 least recent evicts
/// fewer popular objects. And a victim's estimate is checked against its idle time: with estimate `f` over
/// the `A` increments the sketch remembers, its rate is `f / A` per request, and if it has been idle for
/// `Δ` requests with `f·Δ/A > 3` (more than 3 requests expected in that time, which a steady stream of that
/// rate misses with probability e^-3 ≈ 5%), it is ranked at `3·A/Δ` instead. For a steady stream of
/// requests the count is a sufficient statistic of the rate, so idle time adds nothing there (on the
/// evidence's stationary traces the fractions of Belady move by at most 0.0002); after a phase change it lets
/// the new popular objects displace the old ones before the next halvings have worn their counts down. The
/// price of the long memory is still slower forgetting after a phase change, which the evidence measures.
#[derive(Debug, Clone)]
pub struct WTinyLfu {
    capacity: u64,
    window_cap: u64,
    main_cap: u64,
    protected_cap: u64,
    lists: Lists,
    sketch: FrequencySketch,
    /// Requests served.
    clock: u64,
    /// The request number of each id's last request.
    last: Vec<u64>,
}

impl WTinyLfu {
    /// An empty cache of `capacity` bytes whose sketch is sized for about `expected_objects` objects.
    pub fn new(capacity: u64, expected_objects: usize) -> Self {
        let window_cap = capacity / 100;
        let main_cap = capacity - window_cap;
        Self {
            capacity,
            window_cap,
            main_cap,
            protected_cap: main_cap / 5 * 4,
            lists: Lists::new(),
            sketch: FrequencySketch::with_sample_factor(
                expected_objects.max(16).saturating_mul(SKETCH_COUNTERS_PER_OBJECT),
                SKETCH_SAMPLE_FACTOR,
            ),
            clock: 0,
            last: Vec::new(),
        }
    }

    /// The frequency `v` competes with as a victim: its estimate, lowered to `STALE_REQUESTS × A / Δ` if
    /// it has been idle for `Δ` requests while its estimated rate (estimate over the `A` increments the
    /// sketch remembers) says it should have been requested more than `STALE_REQUESTS` times.
    fn victim_frequency(&self, v: u32) -> u32 {
        let freq = self.sketch.estimate(v);
        let idle = self.clock - self.last.get(v as usize).copied().unwrap_or(0);
        let budget = STALE_REQUESTS.saturating_mul(self.sketch.increments() as u64);
        if idle.saturating_mul(u64::from(freq)) > budget {
            u32::try_from(budget / idle.max(1)).unwrap_or(u32::MAX)
        } else {
            freq
        }
    }

    fn main_bytes(&self) -> u64 {
        self.lists.bytes(PROBATION) + self.lists.bytes(PROTECTED)
    }

    /// The least frequent of probation's [`VICTIM_SAMPLE`] least recent objects (the least recent among
    /// equals), with its frequency as a victim.
    fn sampled_victim(&self) -> Option<(u32, u32)> {
        let mut at = self.lists.back(PROBATION);
        let mut best: Option<(u32, u32)> = None;
        for _ in 0..VICTIM_SAMPLE {
            let Some(v) = at else { break };
            let freq = self.victim_frequency(v);
            if best.is_none_or(|b| freq < b.1) {
                best = Some((v, freq));
            }
            at = self.lists.toward_front(v);
        }
        best
    }

    fn admit_to_main(&mut self, cand: u32) {
        let size = self.lists.size_of(cand);
        if size > self.main_cap {
            return;
        }
        if self.main_bytes() + size > self.main_cap {
            let need = self.main_bytes() + size - self.main_cap;
            let freq = self.sketch.estimate(cand);
            if let Some((v, vf)) = self.sampled_victim().filter(|&(v, _)| self.lists.size_of(v) >= need) {
                if vf >= freq {
                    return; // the candidate loses
                }
                self.lists.remove(v);
                self.lists.push_front(PROBATION, cand, size);
                return;
            }
            let mut victims = Vec::new();
            let mut freed = 0u64;
            'lists: for list in [PROBATION, PROTECTED] {
                let mut at = self.lists.back(list);
                while let Some(v) = at {
                    if freed >= need {
                        break 'lists;
                    }
                    if self.victim_frequency(v) >= freq {
                        return; // the candidate loses
                    }
                    freed += self.lists.size_of(v);
                    victims.push(v);
                    at = self.lists.toward_front(v);
                }
            }
            for v in victims {
                self.lists.remove(v);
            }
        }
        self.lists.push_front(PROBATION, cand, size);
    }
}

impl Policy for WTinyLfu {
    fn name(&self) -> &str {
        "w-tinylfu"
    }
    fn capacity(&self) -> u64 {
        self.capacity
    }
    fn used(&self) -> u64 {
        self.lists.total_bytes()
    }
    fn contains(&self, id: u32) -> bool {
        self.lists.which(id).is_some()
    }
    fn access(&mut self, req: &Request) -> bool {
        self.sketch.increment(req.id);
        self.clock += 1;
        grow(&mut self.last, req.id, 0);
        self.last[req.id as usize] = self.clock;
        match self.lists.which(req.id) {
            Some(PROBATION) => {
                self.lists.move_to_front(PROTECTED, req.id);
                while self.lists.bytes(PROTECTED) > self.protected_cap {
                    let Some(d) = self.lists.pop_back(PROTECTED) else { break };
                    let size = self.lists.size_of(d);
                    self.lists.push_front(PROBATION, d, size);
                }
                true
            }
            Some(list) => {
                self.lists.move_to_front(list, req.id);
                true
            }
            None => {
                if req.size > self.capacity {
                    return false;
                }
                self.lists.push_front(WINDOW, req.id, req.size);
                while self.lists.bytes(WINDOW) > self.window_cap {
                    let Some(cand) = self.lists.pop_back(WINDOW) else { break };
                    self.admit_to_main(cand);
                }
                debug_assert!(self.lists.total_bytes() <= self.capacity);
                false
            }
        }
    }
}

const T1: u8 = 0;
const T2: u8 = 1;
const B1: u8 = 2;
const B2: u8 = 3;

/// ARC, the Adaptive Replacement Cache (Megiddo and Modha, FAST 2003), in bytes.
///
/// Two cached lists, `T1` (seen once recently) and `T2` (seen at least twice), and two ghost lists of
/// recently evicted ids, `B1` and `B2`, that hold no data. A hit in a ghost list moves the target size `p`
/// of `T1` towards the list that would have hit: recency or frequency, learned online. A scan only passes
/// through `T1`, so `T2`'s frequent objects survive it. Sizes are bytes throughout: the lists are bounded
/// as in the paper (`T1 + B1 ≤ c`, all four `≤ 2c`) with `c` the capacity in bytes, and `p` moves by the
/// ghost's size times the paper's ratio.
#[derive(Debug, Clone)]
pub struct Arc {
    capacity: u64,
    /// Target bytes of `T1`.
    p: f64,
    lists: Lists,
}

impl Arc {
    /// An empty ARC cache of `capacity` bytes.
    pub fn new(capacity: u64) -> Self {
        Self {
            capacity,
            p: 0.0,
            lists: Lists::new(),
        }
    }

    fn cached_bytes(&self) -> u64 {
        self.lists.bytes(T1) + self.lists.bytes(T2)
    }

    /// Evicts from `T1` or `T2` into their ghost lists until `need` more bytes fit.
    fn replace(&mut self, hit_in_b2: bool, need: u64) {
        while self.cached_bytes() + need > self.capacity {
            let t1 = self.lists.bytes(T1) as f64;
            let from_t1 =
                self.lists.bytes(T1) > 0 && (t1 > self.p || (hit_in_b2 && t1 >= self.p) || self.lists.bytes(T2) == 0);
            let (src, ghost) = if from_t1 { (T1, B1) } else { (T2, B2) };
            let Some(v) = self.lists.back(src) else { break };
            let size = self.lists.size_of(v);
            self.lists.remove(v);
            self.lists.push_front(ghost, v, size);
        }
    }

    fn trim_ghosts(&mut self) {
        while self.lists.bytes(T1) + self.lists.bytes(B1) > self.capacity && self.lists.pop_back(B1).is_some() {}
        while self.lists.total_bytes() > self.capacity.saturating_mul(2) && self.lists.pop_back(B2).is_some() {}
    }
}

impl Policy for Arc {
    fn name(&self) -> &str {
        "arc"
    }
    fn capacity(&self) -> u64 {
        self.capacity
    }
    fn used(&self) -> u64 {
        self.cached_bytes()
    }
    fn contains(&self, id: u32) -> bool {
        matches!(self.lists.which(id), Some(T1 | T2))
    }
    fn access(&mut self, req: &Request) -> bool {
        let (id, size) = (req.id, req.size);
        let c = self.capacity as f64;
        match self.lists.which(id) {
            Some(T1 | T2) => {
                self.lists.move_to_front(T2, id);
                return true;
            }
            Some(ghost) => {
                let (b1, b2) = (self.lists.bytes(B1) as f64, self.lists.bytes(B2) as f64);
                self.lists.remove(id);
                if size > self.capacity {
                    return false;
                }
                let in_b2 = ghost == B2;
                if in_b2 {
                    self.p = (self.p - (b1 / b2.max(1.0)).max(1.0) * size as f64).max(0.0);
                } else {
                    self.p = (self.p + (b2 / b1.max(1.0)).max(1.0) * size as f64).min(c);
                }
                self.replace(in_b2, size);
                self.lists.push_front(T2, id, size);
            }
            None => {
                if size > self.capacity {
                    return false;
                }
                // Keep T1 + B1 within the capacity: drop ghosts first, else evict from T1 outright.
                while self.lists.bytes(T1) + self.lists.bytes(B1) + size > self.capacity {
                    if self.lists.pop_back(B1).is_none() && self.lists.pop_back(T1).is_none() {
                        break;
                    }
                }
                while self.lists.total_bytes() + size > self.capacity.saturating_mul(2)
                    && self.lists.pop_back(B2).is_some()
                {}
                self.replace(false, size);
                self.lists.push_front(T1, id, size);
            }
        }
        self.trim_ghosts();
        debug_assert!(self.cached_bytes() <= self.capacity);
        false
    }
}

/// The number of objects a policy holds, for tests and reports.
pub fn cached_objects(p: &dyn Policy, ids: impl IntoIterator<Item = u32>) -> usize {
    ids.into_iter().filter(|&id| p.contains(id)).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(t: i64, id: u32) -> Request {
        Request {
            time_ms: t,
            id,
            size: 1,
            bytes: 1,
        }
    }

    #[test]
    fn lru_evicts_the_least_recent() {
        let mut p = Lru::new(2);
        assert!(!p.access(&req(0, 1)));
        assert!(!p.access(&req(1, 2)));
        assert!(p.access(&req(2, 1)));
        assert!(!p.access(&req(3, 3))); // evicts 2
        assert!(p.contains(1) && p.contains(3) && !p.contains(2));
    }

    #[test]
    fn lfu_keeps_the_frequent() {
        let mut p = Lfu::new(2);
        for t in 0..5 {
            p.access(&req(t, 1));
        }
        p.access(&req(5, 2));
        p.access(&req(6, 3)); // evicts 2 (count 1, older than 3)
        assert!(p.contains(1) && p.contains(3) && !p.contains(2));
    }

    #[test]
    fn lfu_per_phase_forgets_its_counts_at_each_phase() {
        // Phase one makes 1 the most requested; from request 6 on, 2 and 3 are requested once each.
        let ids = [1, 1, 1, 1, 2, 3, 4, 2, 3];
        let mut plain = Lfu::new(2);
        let mut told = Lfu::forgetting_at(2, &[6]);
        assert_eq!((plain.name(), told.name()), ("lfu", "lfu-per-phase"));
        for (t, &id) in ids.iter().enumerate() {
            plain.access(&req(t as i64, id));
            told.access(&req(t as i64, id));
        }
        // Plain LFU keeps 1 (four requests) for ever. Told LFU ranks phase two alone: 1 (held at count 0)
        // goes first, and it ends holding the two most recent of the objects requested once there, 2 and 3.
        assert!(plain.contains(1));
        assert!(!told.contains(1) && told.contains(2) && told.contains(3));
    }

    #[test]
    fn admission_keeps_a_scan_out() {
        for name in ["w-tinylfu", "hotness-admit", "hotness", "arc"] {
            let params = PolicyParams {
                capacity_bytes: 10,
                expected_objects: 10,
                half_life_ms: 1e9,
            };
            let mut p = policy_by_name(name, &params).unwrap();
            let mut t = 0;
            for _ in 0..20 {
                for id in 0..8 {
                    p.access(&req(t, id));
                    t += 1;
                }
            }
            for id in 100..200 {
                p.access(&req(t, id));
                t += 1;
            }
            let kept = cached_objects(p.as_ref(), 0..8);
            assert!(kept >= 7, "{name} kept {kept} of 8 hot objects after a scan");
            assert!(p.used() <= p.capacity());
        }
    }

    #[test]
    fn unknown_policy_lists_names() {
        let params = PolicyParams {
            capacity_bytes: 1,
            expected_objects: 1,
            half_life_ms: 1.0,
        };
        let err = policy_by_name("clock", &params).unwrap_err().to_string();
        assert!(err.contains("\"clock\"") && err.contains("w-tinylfu"), "{err}");
    }
}
