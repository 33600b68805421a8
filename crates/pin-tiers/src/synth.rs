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

/// `requests` requests over `objects` objects with Zipf(`alpha`) popularity (object 0 need not be the
/// most popular: popularity ranks are shuffled over ids).
pub fn zipf(objects: usize, alpha: f64, requests: usize, size: Sizes, seed: u64) -> Trace {
    let mut rng = SmallRng::seed_from_u64(seed);
    let z = Zipf::new(objects, alpha);
    let mut perm: Vec<u32> = (0..objects as u32).collect();
    perm.shuffle(&mut rng);
    let ids = (0..requests).map(|_| perm[z.sample(&mut rng)]).collect();
    build(sizes(objects, size, &mut rng), ids)
}

/// A Zipf workload with a one-time scan of `scan` new objects (ids `objects..objects+scan`, read once each,
/// in order) interleaved one for one with the Zipf requests, starting at the middle of the trace.
pub fn zipf_with_scan(objects: usize, alpha: f64, requests: usize, scan: usize, size: Sizes, seed: u64) -> Trace {
    let mut rng = SmallRng::seed_from_u64(seed);
    let z = Zipf::new(objects, alpha);
    let mut perm: Vec<u32> = (0..objects as u32).collect();
    perm.shuffle(&mut rng);
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
/// on) ranks the same objects in a new random order, so yesterday's hot set is mostly cold.
pub fn phase_change(objects: usize, alpha: f64, requests: usize, size: Sizes, seed: u64) -> Trace {
    let mut rng = SmallRng::seed_from_u64(seed);
    let z = Zipf::new(objects, alpha);
    let mut first: Vec<u32> = (0..objects as u32).collect();
    first.shuffle(&mut rng);
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
