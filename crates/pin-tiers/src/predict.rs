//! Next-access prediction and its honest evaluation.
//!
//! The model keeps an exponentially weighted mean and variance of a pin's inter-arrival gaps (EWMA) and
//! turns them into the probability that the pin is accessed within a horizon: a mix of a periodic model
//! (the next gap is normal around the mean, conditioned on the time already waited) and a memoryless one
//! (exponential gaps), weighted by how regular the gaps are. [`evaluate`] scores it on a time split of a
//! history against two baselines.

use std::collections::HashMap;

use pin_core::{PinStats, Timestamp};
use serde::Serialize;

use crate::error::{Error, Result};

/// What the model knows about one pin.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct GapEstimate {
    /// First access, ms.
    pub first_ms: i64,
    /// Latest access, ms.
    pub last_ms: i64,
    /// Accesses seen.
    pub accesses: u64,
    /// Weighted mean gap, ms (0 with a single access).
    pub mean_gap_ms: f64,
    /// Weighted standard deviation of the gaps, ms.
    pub std_gap_ms: f64,
}

/// Weight of the newest gap in the EWMA.
pub const DEFAULT_ALPHA: f64 = 0.3;

impl GapEstimate {
    /// Fits the model to access times (sorted ascending) with EWMA weight `alpha` (0 < alpha ≤ 1).
    pub fn fit(times: &[i64], alpha: f64) -> Option<Self> {
        let (&first, rest) = times.split_first()?;
        let mut est = Self {
            first_ms: first,
            last_ms: first,
            accesses: 1,
            mean_gap_ms: 0.0,
            std_gap_ms: 0.0,
        };
        let mut var = 0.0;
        for &t in rest {
            let gap = (t - est.last_ms).max(0) as f64;
            if est.accesses == 1 {
                est.mean_gap_ms = gap;
            } else {
                let diff = gap - est.mean_gap_ms;
                let incr = alpha * diff;
                est.mean_gap_ms += incr;
                var = (1.0 - alpha) * (var + diff * incr);
            }
            est.last_ms = est.last_ms.max(t);
            est.accesses += 1;
        }
        est.std_gap_ms = var.max(0.0).sqrt();
        Some(est)
    }

    /// The estimate from a store's statistics (their running mean and standard deviation, unweighted).
    pub fn from_stats(stats: &PinStats) -> Option<Self> {
        Some(Self {
            first_ms: stats.first_access?.0,
            last_ms: stats.last_access?.0,
            accesses: stats.access_count,
            mean_gap_ms: stats.gap_mean_ms,
            std_gap_ms: stats.gap_stddev_ms(),
        })
    }

    /// When the next access is expected: the last one plus the mean gap (`None` with a single access).
    pub fn predicted_next(&self) -> Option<Timestamp> {
        (self.accesses > 1).then(|| Timestamp(self.last_ms + self.mean_gap_ms.round() as i64))
    }

    /// The probability of at least one access in `[now, now + horizon)`.
    pub fn probability_within(&self, now_ms: i64, horizon_ms: i64) -> f64 {
        let h = horizon_ms.max(1) as f64;
        let waited = (now_ms - self.last_ms).max(0) as f64;
        if self.accesses < 2 || self.mean_gap_ms <= 0.0 {
            // One access (or a burst at one instant): a rate of one per (time since it + horizon).
            let rate_gap = waited + (now_ms - self.first_ms).max(0) as f64 + h;
            return 1.0 - (-h / rate_gap).exp();
        }
        let m = self.mean_gap_ms;
        let exp_mean = if waited > 3.0 * m { waited } else { m };
        let p_exp = 1.0 - (-h / exp_mean).exp();
        let sigma = self.std_gap_ms.max(0.05 * m).max(1.0);
        let survive = 1.0 - normal_cdf((waited - m) / sigma);
        let p_norm = if survive < 1e-9 {
            p_exp
        } else {
            ((normal_cdf((waited + h - m) / sigma) - normal_cdf((waited - m) / sigma)) / survive).clamp(0.0, 1.0)
        };
        let cv = self.std_gap_ms / m;
        let gaps = (self.accesses - 1) as f64;
        let w = 1.0 / (1.0 + cv * cv) * gaps / (gaps + 2.0);
        (w * p_norm + (1.0 - w) * p_exp).clamp(0.0, 1.0)
    }
}

/// The standard normal CDF (Abramowitz and Stegun 7.1.26, error below 1.5e-7).
pub fn normal_cdf(x: f64) -> f64 {
    let z = x.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * z);
    let poly =
        t * (0.254_829_592 + t * (-0.284_496_736 + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erf = 1.0 - poly * (-z * z).exp();
    if x >= 0.0 { 0.5 * (1.0 + erf) } else { 0.5 * (1.0 - erf) }
}

/// Precision, recall and AUC of one predictor on one split.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Scores {
    /// Of the pins predicted accessed, the share that were.
    pub precision: f64,
    /// Of the pins accessed, the share predicted.
    pub recall: f64,
    /// Area under the ROC curve of the scores (0.5: no better than chance).
    pub auc: f64,
}

impl Scores {
    /// The harmonic mean of precision and recall.
    pub fn f1(&self) -> f64 {
        if self.precision + self.recall == 0.0 {
            0.0
        } else {
            2.0 * self.precision * self.recall / (self.precision + self.recall)
        }
    }

    /// Scores of `scores` (higher: more likely) against `labels`, predicting "accessed" at `score ≥ threshold`.
    pub fn of(scores: &[f64], labels: &[bool], threshold: f64) -> Self {
        let mut tp = 0u64;
        let mut fp = 0u64;
        let mut fn_ = 0u64;
        for (&s, &l) in scores.iter().zip(labels) {
            match (s >= threshold, l) {
                (true, true) => tp += 1,
                (true, false) => fp += 1,
                (false, true) => fn_ += 1,
                (false, false) => {}
            }
        }
        let div = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        Self {
            precision: div(tp, tp + fp),
            recall: div(tp, tp + fn_),
            auc: auc(scores, labels),
        }
    }
}

/// The AUC by the Mann-Whitney rank sum, ties sharing their mean rank; 0.5 when a class is empty.
pub fn auc(scores: &[f64], labels: &[bool]) -> f64 {
    let mut idx: Vec<usize> = (0..scores.len().min(labels.len())).collect();
    idx.sort_unstable_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let positives = idx.iter().filter(|&&i| labels[i]).count() as f64;
    let negatives = idx.len() as f64 - positives;
    if positives == 0.0 || negatives == 0.0 {
        return 0.5;
    }
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && scores[idx[j + 1]] == scores[idx[i]] {
            j += 1;
        }
        let mean_rank = (i + j) as f64 / 2.0 + 1.0;
        rank_sum += idx[i..=j].iter().filter(|&&k| labels[k]).count() as f64 * mean_rank;
        i = j + 1;
    }
    (rank_sum - positives * (positives + 1.0) / 2.0) / (positives * negatives)
}

/// The outcome of [`evaluate`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PredictionQuality {
    /// Training uses accesses before this instant; labels come from `[split, split + horizon)`.
    pub split_ms: i64,
    /// The horizon, ms.
    pub horizon_ms: i64,
    /// Pins scored (those accessed before the split).
    pub pins: usize,
    /// Of which accessed within the horizon.
    pub positives: usize,
    /// The gap model, predicting "accessed" at probability ≥ 0.5.
    pub model: Scores,
    /// Predicts every pin accessed (the constant baseline).
    pub constant: Scores,
    /// Predicts the pins accessed within the last horizon before the split, ranking by recency.
    pub recency: Scores,
}

/// Scores the gap model on a time split of `accesses` (`(pin, time ms)` in any order): each pin accessed
/// before `split_ms` is fitted on those accesses alone and asked for the probability of an access in
/// `[split_ms, split_ms + horizon_ms)`, which the history after the split answers.
///
/// # Errors
///
/// [`Error::Invalid`] when the horizon is not positive, `alpha` is not in (0, 1] or no pin is accessed
/// before the split.
pub fn evaluate(accesses: &[(u64, i64)], split_ms: i64, horizon_ms: i64, alpha: f64) -> Result<PredictionQuality> {
    if horizon_ms <= 0 {
        return Err(Error::Invalid {
            what: "horizon",
            reason: format!("{horizon_ms} ms is not positive"),
        });
    }
    if !(alpha > 0.0 && alpha <= 1.0) {
        return Err(Error::Invalid {
            what: "alpha",
            reason: format!("{alpha} is not in (0, 1]"),
        });
    }
    let mut before: HashMap<u64, Vec<i64>> = HashMap::new();
    let mut after: HashMap<u64, bool> = HashMap::new();
    for &(pin, t) in accesses {
        if t < split_ms {
            before.entry(pin).or_default().push(t);
        } else if t < split_ms + horizon_ms {
            after.insert(pin, true);
        }
    }
    if before.is_empty() {
        return Err(Error::Invalid {
            what: "split",
            reason: format!("no access before {split_ms} ms to learn from"),
        });
    }
    let mut pins: Vec<(u64, Vec<i64>)> = before.into_iter().collect();
    pins.sort_unstable_by_key(|(k, _)| *k);
    let mut model = Vec::with_capacity(pins.len());
    let mut recency = Vec::with_capacity(pins.len());
    let mut labels = Vec::with_capacity(pins.len());
    for (pin, mut times) in pins {
        times.sort_unstable();
        let Some(est) = GapEstimate::fit(&times, alpha) else {
            continue;
        };
        model.push(est.probability_within(split_ms, horizon_ms));
        recency.push(-((split_ms - est.last_ms) as f64));
        labels.push(after.contains_key(&pin));
    }
    let positives = labels.iter().filter(|&&l| l).count();
    Ok(PredictionQuality {
        split_ms,
        horizon_ms,
        pins: labels.len(),
        positives,
        model: Scores::of(&model, &labels, 0.5),
        constant: Scores::of(&vec![1.0; labels.len()], &labels, 0.5),
        recency: Scores::of(&recency, &labels, -(horizon_ms as f64)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_of_perfect_random_and_inverted_rankings() {
        let labels = [false, false, true, true];
        assert_eq!(auc(&[0.1, 0.2, 0.8, 0.9], &labels), 1.0);
        assert_eq!(auc(&[0.9, 0.8, 0.2, 0.1], &labels), 0.0);
        assert_eq!(auc(&[0.5; 4], &labels), 0.5);
        // Ties count a half: the positive at 0.5 against the negative at 0.5, the one at 0.9 above it.
        assert_eq!(auc(&[0.5, 0.5, 0.9], &[true, false, true]), 0.75);
        assert_eq!(
            auc(&[0.1, 0.3, 0.3, 0.3], &[false, true, false, false]),
            (1.0 + 0.5 + 0.5) / 3.0
        );
        assert!((normal_cdf(0.0) - 0.5).abs() < 1e-7);
        assert!((normal_cdf(1.96) - 0.975).abs() < 1e-3);
    }

    #[test]
    fn a_periodic_pin_is_expected_when_due() {
        let times: Vec<i64> = (0..10).map(|i| i * 1000).collect();
        let est = GapEstimate::fit(&times, DEFAULT_ALPHA).unwrap();
        assert_eq!(est.predicted_next(), Some(Timestamp(10_000)));
        assert!(est.probability_within(9_500, 1000) > 0.8);
        assert!(est.probability_within(9_100, 300) < 0.2);
    }
}
