//! The simulator: replays a trace through a policy guarding a fast tier in front of a slow one.

use serde::Serialize;

use crate::error::{Error, Result};
use crate::list::KeyedSet;
use crate::policy::{Policy, PolicyParams, policy_by_name};
use crate::tiers::{MS_PER_MONTH, TierSpec};
use crate::trace::{Request, Trace};

/// Two tiers: a fast one of `fast_capacity` bytes that caches objects living in the slow one.
#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    /// The fast tier (its costs and latency; its capacity is `fast_capacity`).
    pub fast: TierSpec,
    /// Bytes of the fast tier the policy may fill.
    pub fast_capacity: u64,
    /// The slow tier, holding every object.
    pub slow: TierSpec,
}

/// What one tier did during a replay.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TierUsage {
    /// The tier's name.
    pub tier: String,
    /// Requests it served.
    pub requests: u64,
    /// Bytes it served.
    pub bytes_served: u64,
    /// Storage cost over the trace's duration: the fast tier's capacity, or the slow tier's working set.
    pub storage_cost: f64,
    /// Retrieval cost of the bytes it served.
    pub retrieval_cost: f64,
    /// Sum of its typical latency over the requests it served, milliseconds.
    pub latency_ms: f64,
}

/// The outcome of replaying a trace through one policy.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SimReport {
    /// The policy's name (`belady` for the bound).
    pub policy: String,
    /// Bytes of the fast tier.
    pub capacity_bytes: u64,
    /// Requests replayed.
    pub requests: u64,
    /// Requests the fast tier served.
    pub hits: u64,
    /// Bytes requested.
    pub bytes: u64,
    /// Bytes the fast tier served.
    pub hit_bytes: u64,
    /// Per tier, fast first.
    pub tiers: Vec<TierUsage>,
}

impl SimReport {
    /// Hits per request.
    pub fn hit_ratio(&self) -> f64 {
        ratio(self.hits, self.requests)
    }
    /// Bytes served by the fast tier per byte requested.
    pub fn byte_hit_ratio(&self) -> f64 {
        ratio(self.hit_bytes, self.bytes)
    }
    /// Storage plus retrieval cost of every tier.
    pub fn total_cost(&self) -> f64 {
        self.tiers.iter().map(|t| t.storage_cost + t.retrieval_cost).sum()
    }
    /// Mean latency per request, milliseconds.
    pub fn mean_latency_ms(&self) -> f64 {
        let total: f64 = self.tiers.iter().map(|t| t.latency_ms).sum();
        if self.requests == 0 {
            0.0
        } else {
            total / self.requests as f64
        }
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// Replays `trace` through `policy` (which guards the fast tier of `layout`).
pub fn simulate(trace: &Trace, layout: &Layout, policy: &mut dyn Policy) -> SimReport {
    let mut hits = 0u64;
    let mut hit_bytes = 0u64;
    let mut bytes = 0u64;
    for r in &trace.requests {
        bytes = bytes.saturating_add(r.bytes);
        if policy.access(r) {
            hits += 1;
            hit_bytes = hit_bytes.saturating_add(r.bytes);
        }
    }
    let requests = trace.requests.len() as u64;
    let months = trace.duration_ms() as f64 / MS_PER_MONTH;
    let usage = |spec: &TierSpec, requests: u64, served: u64, stored: u64| TierUsage {
        tier: spec.tier.as_str().to_owned(),
        requests,
        bytes_served: served,
        storage_cost: spec.storage_cost_per_month(stored) * months,
        retrieval_cost: spec.retrieval_cost(served),
        latency_ms: spec.latency_ms * requests as f64,
    };
    SimReport {
        policy: policy.name().to_owned(),
        capacity_bytes: policy.capacity(),
        requests,
        hits,
        bytes,
        hit_bytes,
        tiers: vec![
            usage(&layout.fast, hits, hit_bytes, layout.fast_capacity),
            usage(
                &layout.slow,
                requests - hits,
                bytes - hit_bytes,
                trace.working_set_bytes(),
            ),
        ],
    }
}

/// Belady's offline policy for a cache of `capacity` bytes over a known trace.
///
/// On a miss the object is admitted only if it will be requested again; to make room, cached objects are
/// evicted furthest next request first, and if the missed object's own next request is further away than
/// that of a cached object that would have to go, it is not admitted (and nothing is evicted). On a hit
/// only the object's next request changes, and an object never requested again is dropped. With equal
/// sizes this is Belady's MIN with bypass, the optimal request hit ratio (a test checks it against an
/// exhaustive search). With variable sizes it is the common "furthest next use" generalisation, which is
/// *not* optimal (the exact problem is NP-hard) and can be beaten: quote [`hit_bound`] as the bound there.
#[derive(Debug, Clone)]
pub struct Belady {
    capacity: u64,
    next: Vec<usize>,
    pos: usize,
    objects: usize,
    /// Cached objects by the index of their next request.
    set: KeyedSet<usize>,
}

/// "Never requested again".
const NEVER: usize = usize::MAX;

/// For each request, the index of the next request of the same object ([`NEVER`] for its last).
fn next_requests(trace: &Trace) -> Vec<usize> {
    let mut next = vec![NEVER; trace.requests.len()];
    let mut last_seen = vec![NEVER; trace.objects()];
    for (i, r) in trace.requests.iter().enumerate().rev() {
        next[i] = last_seen[r.id as usize];
        last_seen[r.id as usize] = i;
    }
    next
}

impl Belady {
    /// Prepares the policy for `trace`; it must then see exactly the trace's requests, in order.
    pub fn new(trace: &Trace, capacity: u64) -> Self {
        Self {
            capacity,
            next: next_requests(trace),
            pos: 0,
            objects: trace.objects(),
            set: KeyedSet::new(),
        }
    }
}

impl Policy for Belady {
    fn name(&self) -> &str {
        "belady"
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
        let next = self.next.get(self.pos).copied().unwrap_or(NEVER);
        self.pos += 1;
        if req.id as usize >= self.objects {
            return false; // not an object of the trace the policy was prepared for
        }
        if self.set.contains(req.id) {
            if next == NEVER {
                // Never needed again: free the room at once (what MIN would evict first).
                self.set.remove(req.id);
            } else {
                self.set.rekey(req.id, next);
            }
            return true;
        }
        if next == NEVER || req.size > self.capacity {
            return false;
        }
        // Bypass unless everything that would go is needed later than the newcomer (keys are distinct
        // request indices, so there are no ties).
        let need = (self.set.used() + req.size).saturating_sub(self.capacity);
        if need > 0 && !self.set.can_free(need, true, |n| n > next) {
            return false;
        }
        self.set.insert(req.id, next, req.size);
        self.set.evict_until(self.capacity, true);
        false
    }
}

/// Parameters a simulation derives from the trace: the fast tier's capacity and the sketch size (the
/// objects that fit at the trace's mean size, at most the trace's objects: a fast tier larger than the
/// working set, even `u64::MAX` bytes, needs no larger sketch).
pub fn params_for(trace: &Trace, capacity_bytes: u64, half_life_ms: f64) -> PolicyParams {
    let mean = trace.mean_object_size().max(1.0);
    let fit = (capacity_bytes as f64 / mean).ceil().min(trace.objects() as f64);
    PolicyParams {
        capacity_bytes,
        expected_objects: (fit as usize).max(16),
        half_life_ms,
    }
}

/// A half-life for hotness suited to a trace: the time the trace takes to make as many requests as it has
/// objects (at least 1 ms).
pub fn default_half_life_ms(trace: &Trace) -> f64 {
    let n = trace.requests.len().max(1) as f64;
    let per_request = trace.duration_ms() as f64 / n;
    (per_request * trace.objects() as f64).max(1.0)
}

/// Replays `trace` through Belady's policy, LRU and every named policy, Belady first, then LRU, then the
/// others in the order given (duplicates skipped). Besides [`POLICY_NAMES`](crate::POLICY_NAMES), the names
/// `belady` (always included) and `static-oracle` ([`StaticOracle`]) are accepted.
///
/// # Errors
///
/// [`Error::UnknownPolicy`] for a name that is not known; [`Error::Invalid`] for an empty trace.
pub fn compare(trace: &Trace, layout: &Layout, policies: &[&str], half_life_ms: f64) -> Result<Vec<SimReport>> {
    if trace.requests.is_empty() {
        return Err(Error::Invalid {
            what: "trace",
            reason: "it has no requests".into(),
        });
    }
    let params = params_for(trace, layout.fast_capacity, half_life_ms);
    let mut out = Vec::with_capacity(policies.len() + 2);
    let mut belady = Belady::new(trace, layout.fast_capacity);
    out.push(simulate(trace, layout, &mut belady));
    let mut names = vec!["lru".to_owned()];
    for p in policies {
        let lower = p.trim().to_ascii_lowercase();
        if !names.contains(&lower) {
            names.push(lower);
        }
    }
    for name in names {
        match name.as_str() {
            "belady" => {}
            "static-oracle" => out.push(simulate(
                trace,
                layout,
                &mut StaticOracle::new(trace, layout.fast_capacity),
            )),
            _ => {
                let mut policy = policy_by_name(&name, &params)?;
                out.push(simulate(trace, layout, policy.as_mut()));
            }
        }
    }
    Ok(out)
}

/// A static placement that knows each object's request count but not the order: it holds the objects with
/// the most requests per byte (filled greedily up to the capacity), admitting each on its first request
/// and never evicting. With equal sizes the greedy choice is the best static one. On traces whose requests
/// are independent draws from a fixed popularity (the Zipf traces) it knows more than the probabilities
/// (the trace's own counts), so it is at or above [`StaticOracle::a0`] and above what online policies
/// reach: the distance from it to Belady's is a gap no online policy can close. With variable sizes the
/// greedy fill is only close to the best static choice (a knapsack).
///
/// Where popularity changes at known points (a phase change), [`StaticOracle::piecewise`] makes the same
/// choice within each phase: at a phase's first request it drops what that phase's choice does not hold and
/// keeps the rest, then admits each chosen object on its first request in the phase. On a trace whose
/// phases are each independent draws from a fixed popularity, that is a ceiling of online policies in the
/// same sense, and one that knows when the phases change.
#[derive(Debug, Clone)]
pub struct StaticOracle {
    name: &'static str,
    capacity: u64,
    used: u64,
    sizes: Vec<u64>,
    /// Index of the first request of each phase after the first, ascending.
    starts: Vec<usize>,
    /// Per phase, whether it holds each object.
    chosen: Vec<Vec<bool>>,
    phase: usize,
    pos: usize,
    cached: Vec<bool>,
}

impl StaticOracle {
    /// Picks the objects of `trace` to hold in `capacity` bytes, one choice for the whole trace.
    pub fn new(trace: &Trace, capacity: u64) -> Self {
        Self::piecewise(trace, capacity, &[])
    }

    /// Picks the objects to hold in `capacity` bytes separately for each phase of `trace`: a new phase
    /// starts at each request index of `starts` (sorted or not; indices of 0 or past the end, and repeats,
    /// are ignored). The policy is named `piecewise-oracle` unless `starts` leaves a single phase.
    pub fn piecewise(trace: &Trace, capacity: u64, starts: &[usize]) -> Self {
        let len = trace.requests.len();
        let mut starts: Vec<usize> = starts.iter().copied().filter(|&s| s > 0 && s < len).collect();
        starts.sort_unstable();
        starts.dedup();
        let bounds: Vec<usize> = std::iter::once(0).chain(starts.iter().copied()).chain([len]).collect();
        let chosen = bounds
            .windows(2)
            .map(|w| choose(trace, &trace.requests[w[0]..w[1]], capacity))
            .collect();
        let name = if starts.is_empty() {
            "static-oracle"
        } else {
            "piecewise-oracle"
        };
        Self::holding(name, trace, capacity, starts, chosen)
    }

    /// An oracle named `name` that holds `chosen[0]` from the start and `chosen[i]` from request
    /// `starts[i - 1]` on.
    fn holding(name: &'static str, trace: &Trace, capacity: u64, starts: Vec<usize>, chosen: Vec<Vec<bool>>) -> Self {
        Self {
            name,
            capacity,
            used: 0,
            sizes: trace.sizes.clone(),
            starts,
            chosen,
            phase: 0,
            pos: 0,
            cached: vec![false; trace.objects()],
        }
    }
}

impl StaticOracle {
    /// A0 of Aho, Denning and Ullman: holds the objects with the highest true probability, given as
    /// `phases` of `(first request index, ids from the most to the least probable)`, filled in that order up
    /// to `capacity` bytes (ids the trace lacks are skipped). Like the piecewise oracle it drops, at each
    /// phase's first request, what the phase does not hold, and admits each chosen object at its first
    /// request. Phases are taken in order of their first request; requests before the first phase hold
    /// nothing. Named `a0`.
    ///
    /// Where requests are independent draws from fixed probabilities (the independent reference model) and
    /// sizes are equal, no policy, online or told the probabilities, has a higher long-run hit ratio: a
    /// request hits with probability the sum of the probabilities of what is held, at most that of the most
    /// probable objects (the optimality of A0 among demand paging policies: Aho, Denning and Ullman 1971;
    /// Coffman and Denning, "Operating Systems Theory", 1973; Aven, Coffman and Kogan, "Stochastic Analysis
    /// of Computer Storage", 1987). Unlike [`StaticOracle::new`] it does not know the trace's own counts.
    pub fn a0(trace: &Trace, capacity: u64, phases: &[(usize, &[u32])]) -> Self {
        let n = trace.objects();
        let len = trace.requests.len();
        let mut phases: Vec<(usize, &[u32])> = phases.to_vec();
        phases.sort_by_key(|p| p.0);
        let mut starts = Vec::new();
        let mut chosen = vec![vec![false; n]];
        for (start, ranking) in phases {
            let mut pick = vec![false; n];
            let mut room = capacity;
            for &id in ranking {
                let i = id as usize;
                if i < n && !pick[i] && trace.sizes[i] <= room {
                    room -= trace.sizes[i];
                    pick[i] = true;
                }
            }
            if start == 0 || start >= len {
                if start == 0 {
                    chosen[0] = pick;
                }
            } else if starts.last() == Some(&start) {
                if let Some(last) = chosen.last_mut() {
                    *last = pick;
                }
            } else {
                starts.push(start);
                chosen.push(pick);
            }
        }
        Self::holding("a0", trace, capacity, starts, chosen)
    }
}

/// The objects with the most requests per byte among `requests`, greedily up to `capacity` bytes.
fn choose(trace: &Trace, requests: &[Request], capacity: u64) -> Vec<bool> {
    let n = trace.objects();
    let mut count = vec![0u64; n];
    for r in requests {
        count[r.id as usize] += 1;
    }
    let mut ids: Vec<usize> = (0..n).filter(|&i| count[i] > 0).collect();
    ids.sort_unstable_by(|&a, &b| {
        let da = count[a] as f64 / trace.sizes[a] as f64;
        let db = count[b] as f64 / trace.sizes[b] as f64;
        db.total_cmp(&da).then(a.cmp(&b))
    });
    let mut chosen = vec![false; n];
    let mut room = capacity;
    for i in ids {
        if trace.sizes[i] <= room {
            room -= trace.sizes[i];
            chosen[i] = true;
        }
    }
    chosen
}

impl Policy for StaticOracle {
    fn name(&self) -> &str {
        self.name
    }
    fn capacity(&self) -> u64 {
        self.capacity
    }
    fn used(&self) -> u64 {
        self.used
    }
    fn contains(&self, id: u32) -> bool {
        self.cached.get(id as usize).copied().unwrap_or(false)
    }
    fn access(&mut self, req: &Request) -> bool {
        if self.starts.get(self.phase) == Some(&self.pos) {
            // A new phase: drop what it does not hold.
            self.phase += 1;
            let chosen = &self.chosen[self.phase];
            for (i, held) in self.cached.iter_mut().enumerate() {
                if *held && !chosen[i] {
                    *held = false;
                    self.used -= self.sizes[i];
                }
            }
        }
        self.pos += 1;
        let i = req.id as usize;
        if self.cached.get(i).copied().unwrap_or(false) {
            return true;
        }
        if self.chosen[self.phase].get(i).copied().unwrap_or(false) {
            self.cached[i] = true;
            self.used += self.sizes[i];
        }
        false
    }
}

/// An upper bound on the hits and hit bytes of *any* policy, sizes equal or not: see [`hit_bound`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct HitBound {
    /// Bytes of the fast tier.
    pub capacity_bytes: u64,
    /// Requests in the trace.
    pub requests: u64,
    /// No policy has more hits than this (fractional: the optimum of a relaxation).
    pub hits: f64,
    /// Bytes requested.
    pub bytes: u64,
    /// No policy serves more bytes from the fast tier than this.
    pub hit_bytes: f64,
}

impl HitBound {
    /// The bound on the request hit ratio.
    pub fn hit_ratio(&self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            self.hits / self.requests as f64
        }
    }
    /// The bound on the byte hit ratio.
    pub fn byte_hit_ratio(&self) -> f64 {
        if self.bytes == 0 {
            0.0
        } else {
            self.hit_bytes / self.bytes as f64
        }
    }
}

/// An upper bound on the hit ratio and byte hit ratio that any policy (online or offline, sizes equal or
/// not) reaches on `trace` with a fast tier of `capacity` bytes: the bound to quote where [`Belady`] is none
/// (variable sizes).
///
/// A hit at request `j` needs the object held from its previous request `i` on (objects enter a cache only
/// when requested): `size × (j − i)` of space-time. The tier offers `capacity × requests` in all, so the
/// bound takes the intervals cheapest per hit (per hit byte for the byte bound) until that budget is spent,
/// the last one fractionally. This is PFOO-U of Berger, Beckmann and Harchol-Balter ("Practical Bounds on
/// Optimal Caching with Variable Object Sizes", SIGMETRICS 2018): it relaxes "at most `capacity` at every
/// instant" to "on average", so it holds for every policy but is looser than Belady's hit count where
/// sizes are equal. One sort per bound, `O(n log n)`.
pub fn hit_bound(trace: &Trace, capacity: u64) -> HitBound {
    let next = next_requests(trace);
    let n = trace.requests.len();
    // (space-time, bytes the hit serves) of every interval between two requests of an object that fits.
    let mut intervals: Vec<(f64, f64)> = trace
        .requests
        .iter()
        .zip(&next)
        .enumerate()
        .filter(|&(_, (r, &j))| j != NEVER && r.size <= capacity)
        .map(|(i, (r, &j))| (r.size as f64 * (j - i) as f64, trace.requests[j].bytes.max(1) as f64))
        .collect();
    let budget = capacity as f64 * n as f64;
    // Fractional knapsack, best value per unit of space-time first: the greedy answer is the optimum of the
    // relaxation, hence at least the optimum of the real problem.
    let fill = |intervals: &[(f64, f64)], value: &dyn Fn(&(f64, f64)) -> f64| {
        let (mut left, mut total) = (budget, 0.0);
        for iv in intervals {
            if iv.0 <= left {
                left -= iv.0;
                total += value(iv);
            } else {
                total += value(iv) * left / iv.0;
                break;
            }
        }
        total
    };
    intervals.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
    let hits = fill(&intervals, &|_| 1.0);
    intervals.sort_unstable_by(|a, b| (a.0 / a.1).total_cmp(&(b.0 / b.1)));
    let hit_bytes = fill(&intervals, &|iv| iv.1);
    HitBound {
        capacity_bytes: capacity,
        requests: n as u64,
        hits,
        bytes: trace.requests.iter().map(|r| r.bytes).fold(0, u64::saturating_add),
        hit_bytes,
    }
}

/// A fast-tier size as the command line gives it: bytes (`"64 GiB"`, `1048576`) or a share of the trace's
/// working set (`"10%"`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Capacity {
    /// A number of bytes.
    Bytes(u64),
    /// A percentage of the working set.
    Percent(f64),
}

impl Capacity {
    /// Parses `"10%"`, `"1.5 GiB"` or `"4096"`.
    ///
    /// # Errors
    ///
    /// [`Error::Invalid`] quoting the input.
    pub fn parse(text: &str) -> Result<Self> {
        let t = text.trim();
        let bad = |reason: String| Error::Invalid {
            what: "capacity",
            reason: format!("{text:?}: {reason}"),
        };
        if let Some(p) = t.strip_suffix('%') {
            let v: f64 = p
                .trim()
                .parse()
                .map_err(|_| bad("expected a percentage such as 10%".into()))?;
            if !(v > 0.0 && v <= 100.0) {
                return Err(bad("a percentage must be in (0, 100]".into()));
            }
            return Ok(Self::Percent(v));
        }
        crate::units::parse_size(t).map(Self::Bytes).map_err(bad)
    }

    /// The bytes for a trace whose working set is `working_set` bytes.
    pub fn resolve(&self, working_set: u64) -> u64 {
        match *self {
            Self::Bytes(b) => b,
            Self::Percent(p) => (working_set as f64 * p / 100.0).round() as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hits of `p` on `trace`, checking that it never holds more than its capacity.
    fn hits(trace: &Trace, p: &mut dyn Policy) -> u64 {
        let mut hits = 0;
        for r in &trace.requests {
            hits += u64::from(p.access(r));
            assert!(p.used() <= p.capacity());
        }
        hits
    }

    #[test]
    fn the_piecewise_oracle_switches_its_choice_at_each_phase() {
        // Phase one: 0 and 1 are hot. Phase two (from request 8): 2 and 0 are hot.
        let ids = [0, 1, 0, 1, 2, 0, 1, 3, 2, 0, 2, 0, 3, 2, 0, 1];
        let trace = Trace::from_ids(vec![1; 4], ids.iter().enumerate().map(|(t, &id)| (t as i64, id))).unwrap();
        let mut piecewise = StaticOracle::piecewise(&trace, 2, &[8]);
        assert_eq!(piecewise.name(), "piecewise-oracle");
        // Phase one: 0, 1, 0, 1 (hits from the third request), 2 and 3 miss: 4 hits. At the boundary 1 goes
        // and 0 stays, so 0 hits at once; 2 misses once: 5 hits.
        assert_eq!(hits(&trace, &mut piecewise), 9);
        assert!(piecewise.contains(0) && piecewise.contains(2) && !piecewise.contains(1));
        // One choice for the whole trace holds 0 (six requests) and 1 (four, tied with 2, lower id): 5 + 3.
        let mut whole = StaticOracle::new(&trace, 2);
        assert_eq!(whole.name(), "static-oracle");
        assert_eq!(hits(&trace, &mut whole), 8);
        // Boundaries at the ends leave one phase: the static oracle.
        let mut one = StaticOracle::piecewise(&trace, 2, &[0, 16, 99]);
        assert_eq!(one.name(), "static-oracle");
        assert_eq!(hits(&trace, &mut one), 8);
        assert!(hits(&trace, &mut Belady::new(&trace, 2)) >= 9);
    }

    #[test]
    fn a0_holds_the_most_probable_objects_of_each_phase() {
        // The same trace, told that 1 and 0 are the most probable, then 2 and 3.
        let ids = [0, 1, 0, 1, 2, 0, 1, 3, 2, 0, 2, 0, 3, 2, 0, 1];
        let trace = Trace::from_ids(vec![1; 4], ids.iter().enumerate().map(|(t, &id)| (t as i64, id))).unwrap();
        let mut a0 = StaticOracle::a0(&trace, 2, &[(8, &[2, 3, 9]), (0, &[1, 0, 2])]);
        assert_eq!(a0.name(), "a0");
        // Phase one: 0 and 1 miss once, then hit: 4 hits. Phase two drops both (9 is no object of the
        // trace); 2 and 3 miss once each, then 2 hits twice: 2 hits.
        assert_eq!(hits(&trace, &mut a0), 6);
        assert!(a0.contains(2) && a0.contains(3) && !a0.contains(0));
        // No phase at 0: nothing is held before the first one.
        let mut late = StaticOracle::a0(&trace, 2, &[(8, &[2, 3])]);
        assert_eq!(hits(&trace, &mut late), 2);
    }
}
