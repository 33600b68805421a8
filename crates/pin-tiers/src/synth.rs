//! Synthetic traces for the evidence and the tests: Zipf popularity, a scan mixed in, a phase change.
//!
//! Every generator is seeded, so a trace is the same on every machine. Requests are 10 ms apart.

use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use crate::trace::Trace;

/// Milliseconds between two synthetic requests.
pub const GAP_MS: i64 = 10;

/// Samples ranks `0..n` with probability proportional to `1/(rank+1)^alpha`.
#[derive(Debug, Clone)]
pub struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    /// The distribution over `n ≥ 1` ranks with skew `alpha ≥ 0`.
    pub fn new(n: usize, alpha: f64) -> Self {
        let mut cdf = Vec::with_capacity(n.max(1));
        let mut acc = 0.0;
        for r in 0..n.max(1) {
            acc += 1.0 / ((r + 1) as f64).powf(alpha);
            cdf.push(acc);
        }
        for c in &mut cdf {
            *c /= acc;
        }
        Self { cdf }
    }

    /// One rank.
    pub fn sample(&self, rng: &mut impl Rng) -> usize {
        let u: f64 = rng.random();
        self.cdf.partition_point(|&c| c < u).min(self.cdf.len() - 1)
    }
}

/// Object sizes: all equal, or drawn log-uniformly between two bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sizes {
    /// Every object has this size.
    Fixed(u64),
    /// Log-uniform in `[min, max]`.
    LogUniform(u64, u64),
}

fn sizes(n: usize, s: Sizes, rng: &mut SmallRng) -> Vec<u64> {
    (0..n)
        .map(|_| match s {
            Sizes::Fixed(b) => b.max(1),
            Sizes::LogUniform(lo, hi) => {
                let (lo, hi) = ((lo.max(1)) as f64, (hi.max(lo.max(1))) as f64);
                (lo.ln() + rng.random::<f64>() * (hi.ln() - lo.ln())).exp().round() as u64
            }
        })
        .collect()
}

fn build(sizes: Vec<u64>, ids: Vec<u32>) -> Trace {
    let reqs = ids.into_iter().enumerate().map(|(i, id)| (i as i64 * GAP_MS, id));
    #[allow(clippy::expect_used)] // Every id is below sizes.len() by construction.
    Trace::from_ids(sizes, reqs).expect("generated ids have sizes")
}

/// A random order of the ids `0..objects`: the ids from the most to the least popular.
fn shuffled(objects: usize, rng: &mut SmallRng) -> Vec<u32> {
    let mut perm: Vec<u32> = (0..objects as u32).collect();
    perm.shuffle(rng);
    perm
}

/// The ids of [`zipf`] and [`zipf_with_scan`] with the same `objects` and `seed`, from the most to the least
/// popular (rank `r` is requested with probability proportional to `1/(r+1)^alpha`). Knowing it is knowing
/// each object's true probability: what Aho, Denning and Ullman's policy A0 holds.
pub fn zipf_ranking(objects: usize, seed: u64) -> Vec<u32> {
    shuffled(objects, &mut SmallRng::seed_from_u64(seed))
}

/// The rankings of [`phase_change`] with the same `objects` and `seed`: before and from the middle of the
/// trace, each from the most to the least popular id.
pub fn phase_change_rankings(objects: usize, seed: u64) -> [Vec<u32>; 2] {
    let mut rng = SmallRng::seed_from_u64(seed);
    let first = shuffled(objects, &mut rng);
    let mut second = first.clone();
    second.shuffle(&mut rng);
    [first, second]
}

/// `requests` requests over `objects` objects with Zipf(`alpha`) popularity (object 0 need not be the
/// most popular: popularity ranks are shuffled over ids, see [`zipf_ranking`]).
pub fn zipf(objects: usize, alpha: f64, requests: usize, size: Sizes, seed: u64) -> Trace {
    let mut rng = SmallRng::seed_from_u64(seed);
    let z = Zipf::new(objects, alpha);
    let perm = shuffled(objects, &mut rng);
    let ids = (0..requests).map(|_| perm[z.sample(&mut rng)]).collect();
    build(sizes(objects, size, &mut rng), ids)
}

/// A Zipf workload with a one-time scan of `scan` new objects (ids `objects..objects+scan`, read once each,
/// in order) interleaved one for one with the Zipf requests, starting at the middle of the trace.
pub fn zipf_with_scan(objects: usize, alpha: f64, requests: usize, scan: usize, size: Sizes, seed: u64) -> Trace {
    let mut rng = SmallRng::seed_from_u64(seed);
    let z = Zipf::new(objects, alpha);
    let perm = shuffled(objects, &mut rng);
    let mut ids = Vec::with_capacity(requests + scan);
    let start = requests / 2;
    let mut next_scan = 0usize;
    for i in 0..requests {
        ids.push(perm[z.sample(&mut rng)]);
        if i >= start && next_scan < scan {
            ids.push((objects + next_scan) as u32);
            next_scan += 1;
        }
    }
    while next_scan < scan {
        ids.push((objects + next_scan) as u32);
        next_scan += 1;
    }
    build(sizes(objects + scan, size, &mut rng), ids)
}

/// A Zipf workload whose popularity is reshuffled half way: the second half (from request `requests / 2`
/// on) ranks the same objects in a new random order, so yesterday's hot set is mostly cold (see
/// [`phase_change_rankings`]).
pub fn phase_change(objects: usize, alpha: f64, requests: usize, size: Sizes, seed: u64) -> Trace {
    let mut rng = SmallRng::seed_from_u64(seed);
    let z = Zipf::new(objects, alpha);
    let first = shuffled(objects, &mut rng);
    let mut second = first.clone();
    second.shuffle(&mut rng);
    let ids = (0..requests)
        .map(|i| {
            let perm = if i < requests / 2 { &first } else { &second };
            perm[z.sample(&mut rng)]
        })
        .collect();
    build(sizes(objects, size, &mut rng), ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Request counts per id.
    fn counts(trace: &Trace) -> Vec<u32> {
        let mut c = vec![0; trace.objects()];
        for r in &trace.requests {
            c[r.id as usize] += 1;
        }
        c
    }

    #[test]
    fn the_rankings_are_the_generators_popularity_order() {
        let trace = zipf(50, 1.5, 20_000, Sizes::Fixed(1), 7);
        let ranking = zipf_ranking(50, 7);
        let c = counts(&trace);
        assert!(c[ranking[0] as usize] > c[ranking[1] as usize] && c[ranking[1] as usize] > c[ranking[5] as usize]);
        let mut sorted = ranking.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..50).collect::<Vec<u32>>());
        let [first, second] = phase_change_rankings(50, 8);
        let trace = phase_change(50, 1.5, 20_000, Sizes::Fixed(1), 8);
        let halves = trace.requests.split_at(10_000);
        for (half, ranking) in [(halves.0, &first), (halves.1, &second)] {
            let mut c = [0u32; 50];
            for r in half {
                c[r.id as usize] += 1;
            }
            assert_eq!(c.iter().max(), Some(&c[ranking[0] as usize]));
        }
        assert_ne!(first, second);
    }
}
