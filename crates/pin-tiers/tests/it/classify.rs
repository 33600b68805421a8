use pin_core::{AccessOp, AccessRecord, Pattern, PinStats, Timestamp};
use pin_tiers::{PatternMix, classify_reads, classify_records};

fn mix(reads: &[(u64, u64)]) -> PatternMix {
    classify_reads(reads.iter().map(|&(o, l)| (Some(o), Some(l))), Some(1_000_000))
}

#[test]
fn sequential_random_mixed_and_whole() {
    let seq = mix(&[(0, 100), (100, 100), (200, 100), (300, 50)]);
    assert_eq!((seq.sequential, seq.random, seq.whole), (4, 0, 0));
    assert_eq!(seq.pattern(), Pattern::Sequential);

    let rnd = mix(&[(500, 10), (9000, 10), (20, 10), (7000, 10)]);
    assert_eq!(rnd.random, 4);
    assert_eq!(rnd.pattern(), Pattern::Random);

    let mixed = mix(&[(0, 10), (10, 10), (500, 10), (510, 10), (90, 10), (3, 1)]);
    assert_eq!((mixed.sequential, mixed.random), (3, 3));
    assert!((mixed.sequential_share() - 0.5).abs() < 1e-12);
    assert_eq!(mixed.pattern(), Pattern::Mixed);

    // Whole: no length, or a length covering the object.
    let whole = classify_reads(
        [(None, None), (Some(0), Some(1_000_000)), (Some(0), None)],
        Some(1_000_000),
    );
    assert_eq!(whole.whole, 3);
    assert_eq!(whole.pattern(), Pattern::Whole);
    let once = classify_reads([(Some(0), Some(4096))], Some(4096));
    assert_eq!(once.pattern(), Pattern::Whole, "one read of everything is whole");
    assert_eq!(classify_reads([(Some(0), Some(10))], None).pattern(), Pattern::Unknown);
    assert_eq!(PatternMix::default().pattern(), Pattern::Unknown);
}

#[test]
fn from_stats_adds_the_first_read_the_store_leaves_out() {
    let mut stats = PinStats::default();
    for (t, off) in [(0, 0u64), (1, 100), (2, 200)] {
        stats.record(Timestamp(t), AccessOp::Read, Some(off), Some(100));
    }
    assert_eq!(stats.sequential_reads, 2);
    let m = PatternMix::from_stats(&stats);
    assert_eq!(m.sequential, 3);
    assert_eq!(m.pattern(), stats.pattern());
}

#[test]
fn records_are_put_in_order_and_writes_skipped() {
    let rec = |seq, op, offset| AccessRecord {
        seq,
        ts: Timestamp(seq as i64),
        op,
        offset: Some(offset),
        length: Some(10),
        tier: None,
        vfs_path: None,
        latency_us: None,
    };
    // Newest first, as PinStore::accesses returns them.
    let records = [
        rec(4, AccessOp::Read, 20),
        rec(3, AccessOp::Write, 999),
        rec(2, AccessOp::Read, 10),
        rec(1, AccessOp::Read, 0),
    ];
    let m = classify_records(&records, None);
    assert_eq!((m.sequential, m.random, m.whole), (3, 0, 0));
}
