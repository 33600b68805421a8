use pin_core::{AccessOp, PinStats, Timestamp};
use pin_tiers::predict::{DEFAULT_ALPHA, GapEstimate};
use pin_tiers::{Error, evaluate};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const HOUR: i64 = 3_600_000;

/// 400 pins, each accessed every `period` (1 to 48 hours) with jitter of 5% and a random phase, for 20 days.
fn periodic_history(seed: u64) -> Vec<(u64, i64)> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut out = Vec::new();
    for pin in 0..400u64 {
        let period = rng.random_range(HOUR..48 * HOUR);
        let mut t = rng.random_range(0..period);
        while t < 20 * 24 * HOUR {
            out.push((pin, t));
            let jitter = (period as f64 * 0.05 * (rng.random::<f64>() * 2.0 - 1.0)) as i64;
            t += period + jitter;
        }
    }
    out
}

#[test]
fn on_a_periodic_trace_the_model_beats_the_constant_and_recency_baselines() {
    let history = periodic_history(1);
    let q = evaluate(&history, 15 * 24 * HOUR, 6 * HOUR, DEFAULT_ALPHA).unwrap();
    assert_eq!(q.pins, 400);
    assert!(q.positives > 0 && q.positives < q.pins);
    assert!((q.constant.auc - 0.5).abs() < 1e-12);
    assert_eq!(q.constant.recall, 1.0);
    assert!(
        q.model.auc > 0.9,
        "model AUC {} (recency {}, constant {})",
        q.model.auc,
        q.recency.auc,
        q.constant.auc
    );
    assert!(q.model.auc > q.recency.auc + 0.05, "{q:?}");
    assert!(q.model.precision > q.constant.precision + 0.2, "{q:?}");
    assert!(q.model.f1() > q.constant.f1(), "{q:?}");
}

#[test]
fn evaluation_refuses_what_it_cannot_score() {
    let e = evaluate(&[(1, 10)], 5, 10, DEFAULT_ALPHA).unwrap_err();
    assert!(matches!(e, Error::Invalid { what: "split", .. }));
    let e = evaluate(&[(1, 10)], 50, 0, DEFAULT_ALPHA).unwrap_err();
    assert!(e.to_string().contains("horizon"));
    let e = evaluate(&[(1, 10)], 50, 10, 0.0).unwrap_err();
    assert!(e.to_string().contains("alpha") && e.to_string().contains('0'), "{e}");
}

#[test]
fn the_store_statistics_feed_the_same_model() {
    let mut stats = PinStats::default();
    for i in 0..20 {
        stats.record(Timestamp(i * HOUR), AccessOp::Read, None, None);
    }
    let est = GapEstimate::from_stats(&stats).unwrap();
    assert_eq!(est.predicted_next(), Some(Timestamp(20 * HOUR)));
    let due = est.probability_within(19 * HOUR + HOUR / 2, HOUR);
    let idle = GapEstimate::fit(&[0], DEFAULT_ALPHA)
        .unwrap()
        .probability_within(30 * 24 * HOUR, HOUR);
    assert!(due > 0.9 && idle < 0.05, "due {due}, idle {idle}");
}

#[test]
fn the_time_split_keeps_the_future_out_of_training() {
    let (split, horizon) = (15 * 24 * HOUR, 6 * HOUR);
    let history = periodic_history(3);
    let q = evaluate(&history, split, horizon, DEFAULT_ALPHA).unwrap();
    // Nothing after the labelling window matters, in any order, and neither do pins first seen after the
    // split: they are not scored.
    let mut cut: Vec<(u64, i64)> = history.iter().copied().filter(|&(_, t)| t < split + horizon).collect();
    cut.reverse();
    cut.push((10_000, split + 1));
    cut.push((10_001, split + horizon + 1));
    assert_eq!(evaluate(&cut, split, horizon, DEFAULT_ALPHA).unwrap(), q);
    // Labels come from the window alone: with it emptied, nothing is positive and the model's scores,
    // fitted before the split, still rank (AUC 0.5 by convention with one class).
    let before: Vec<(u64, i64)> = history.iter().copied().filter(|&(_, t)| t < split).collect();
    let q0 = evaluate(&before, split, horizon, DEFAULT_ALPHA).unwrap();
    assert_eq!((q0.pins, q0.positives), (q.pins, 0));
    assert_eq!(q0.model.recall, 0.0);
}
