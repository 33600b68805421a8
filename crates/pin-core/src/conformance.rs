//! The tests every [`PinStore`] backend must pass.
//!
//! A backend provides a [`Harness`] and calls [`run_all`] (or the cases one by one) from its own tests,
//! on whatever async runtime it uses. Cases return `Err` with a message rather than panicking, so one
//! failing case does not hide the others.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use async_trait::async_trait;

use crate::{
    Access, AccessOp, ApplyOutcome, Cid, Cursor, Error, Event, EventBatch, EventKind, ListOrder, ManualClock,
    NameMatch, Pin, PinFilter, PinQuery, PinStatus, PinStore, Tier, Timestamp, VfsOpKind, VfsOperation,
};

/// Opens fresh stores for the suite.
#[async_trait]
pub trait Harness: Send + Sync {
    /// A new, empty store whose clock is `clock`.
    async fn open(&self, clock: Arc<ManualClock>) -> Arc<dyn PinStore>;
    /// The same store after a restart (drop and open again), if the backend persists anything.
    async fn reopen(&self, store: Arc<dyn PinStore>, clock: Arc<ManualClock>) -> Option<Arc<dyn PinStore>>;
    /// A maintenance pass (flush, compaction) a backend wants exercised between writes; none by default.
    async fn maintain(&self, _store: &Arc<dyn PinStore>) {}
}

/// What a case returns.
pub type CaseResult = Result<(), String>;

macro_rules! check {
    ($cond:expr, $($msg:tt)+) => {
        let ok: bool = $cond;
        if !ok {
            return Err(format!($($msg)+));
        }
    };
}

fn err(e: crate::Error) -> String {
    e.to_string()
}

/// Start of the suite's clock: 2026-01-01T00:00:00Z.
pub const T0: Timestamp = Timestamp(1_767_225_600_000);

/// The `i`-th test CID (distinct, deterministic, valid CIDv1 raw sha2-256).
pub fn test_cid(i: u64) -> Cid {
    let mut digest = [0u8; 32];
    let mut x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5555;
    for chunk in digest.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes());
    }
    let mh = multihash::Multihash::<64>::wrap(0x12, &digest).expect("32-byte digest fits");
    let c = cid::Cid::new_v1(0x55, mh);
    Cid::parse(&c.to_string()).expect("constructed CID parses")
}

/// A pinned pin on `tier` with a name and size.
pub fn test_pin(i: u64, tier: Tier, size: u64) -> Pin {
    let mut p = Pin::new(test_cid(i), tier, T0);
    p.name = Some(format!("pin-{i:05}"));
    p.size_bytes = size;
    p
}

fn upsert(at: Timestamp, pin: Pin) -> Event {
    Event {
        ts: at,
        kind: EventKind::Upsert(Box::new(pin)),
    }
}

fn access(at: Timestamp, cid: &Cid, offset: u64, len: u64) -> Event {
    Event {
        ts: at,
        kind: EventKind::Access(Access {
            cid: cid.clone(),
            op: AccessOp::Read,
            offset: Some(offset),
            length: Some(len),
            tier: Some(Tier::Ssd),
            vfs_path: Some("/data/x".into()),
            latency_us: Some(120),
        }),
    }
}

async fn apply(store: &dyn PinStore, events: Vec<Event>) -> Result<ApplyOutcome, String> {
    store.apply(EventBatch::new(events)).await.map_err(err)
}

/// A pin reads back with every field, under either spelling of its CID.
pub async fn upsert_round_trips(h: &dyn Harness) -> CaseResult {
    let clock = Arc::new(ManualClock::new(T0));
    let store = h.open(clock).await;
    let v0 = Cid::parse("QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG").map_err(err)?;
    let v1 = Cid::parse("bafybeie5nqv6kd3qnfjupgvz34woh3oksc3iau6abmyajn7qvtf6d2ho34").map_err(err)?;
    let mut pin = Pin::new(v0.clone(), Tier::Nvme, T0);
    pin.name = Some("réadme ✓".into());
    pin.size_bytes = 1234;
    pin.tiers.insert(Tier::Filecoin);
    pin.replication = 3;
    pin.vfs_paths = BTreeSet::from(["/data/readme".to_owned(), "/mirror/readme".to_owned()]);
    pin.mount = Some("/data".into());
    pin.meta = BTreeMap::from([("owner".to_owned(), "ops".to_owned()), ("k".to_owned(), String::new())]);
    pin.integrity.content_hash = Some("sha256:00".into());
    pin.integrity.last_verified = Some(T0.plus_millis(5));
    pin.integrity.verdict = Some("ok".into());
    pin.expires_at = Some(T0.plus_millis(86_400_000));
    apply(&*store, vec![upsert(T0.plus_millis(10), pin.clone())]).await?;
    let got = store
        .get(&v1)
        .await
        .map_err(err)?
        .ok_or("pin not found under its CIDv1 spelling")?;
    let mut expected = pin;
    expected.created_at = T0.plus_millis(10);
    expected.updated_at = T0.plus_millis(10);
    check!(got.pin == expected, "read back {:?}, wrote {:?}", got.pin, expected);
    check!(
        got.pin.cid.as_str() == v0.as_str(),
        "display spelling lost: {}",
        got.pin.cid
    );
    check!(
        store.get(&test_cid(1)).await.map_err(err)?.is_none(),
        "a CID never pinned was found"
    );
    Ok(())
}

/// An invalid event rejects its whole batch, with an error that names the input.
pub async fn invalid_batch_is_rejected_whole(h: &dyn Harness) -> CaseResult {
    let clock = Arc::new(ManualClock::new(T0));
    let store = h.open(clock).await;
    let good = test_pin(1, Tier::Ssd, 10);
    let mut long = test_pin(2, Tier::Ssd, 10);
    long.name = Some("x".repeat(256));
    let e = store
        .apply(EventBatch::new(vec![
            upsert(T0, good.clone()),
            upsert(T0, long.clone()),
        ]))
        .await
        .err()
        .ok_or("a 256-byte name was accepted")?
        .to_string();
    check!(
        e.contains(long.cid.as_str()) && e.contains("name") && e.contains("256 bytes"),
        "unhelpful error: {e}"
    );
    let mut meta = test_pin(3, Tier::Ssd, 10);
    meta.meta = (0..1001).map(|i| (format!("k{i}"), String::new())).collect();
    let e = store
        .apply(EventBatch::new(vec![upsert(T0, good.clone()), upsert(T0, meta)]))
        .await
        .err()
        .ok_or("1001 metadata keys were accepted")?
        .to_string();
    check!(e.contains("1001 keys"), "unhelpful error: {e}");
    check!(
        store.get(&good.cid).await.map_err(err)?.is_none(),
        "the valid half of a rejected batch was recorded"
    );
    let m = store.metrics().await.map_err(err)?;
    check!(
        m.total_pins == 0 && m.statuses.values().all(|&n| n == 0),
        "metrics moved: {m:?}"
    );
    Ok(())
}

/// A batch id seen before is acknowledged as a duplicate and changes nothing.
pub async fn redelivery_is_idempotent(h: &dyn Harness) -> CaseResult {
    let clock = Arc::new(ManualClock::new(T0));
    let store = h.open(clock).await;
    let pin = test_pin(1, Tier::Ssd, 100);
    let batch = EventBatch::with_id(
        "journal:0-2",
        vec![upsert(T0, pin.clone()), access(T0, &pin.cid, 0, 10)],
    );
    let first = store.apply(batch.clone()).await.map_err(err)?;
    check!(
        matches!(first, ApplyOutcome::Applied { events: 2, .. }),
        "first delivery: {first:?}"
    );
    let again = store.apply(batch).await.map_err(err)?;
    check!(again == ApplyOutcome::Duplicate, "second delivery: {again:?}");
    let m = store.metrics().await.map_err(err)?;
    check!(m.total_pins == 1 && m.total_accesses == 1, "applied twice: {m:?}");
    let got = store.get(&pin.cid).await.map_err(err)?.ok_or("pin lost")?;
    check!(
        got.stats.access_count == 1,
        "access counted {} times",
        got.stats.access_count
    );
    Ok(())
}

/// Status and tier changes move metrics and leave history, newest first.
pub async fn changes_leave_history(h: &dyn Harness) -> CaseResult {
    let clock = Arc::new(ManualClock::new(T0));
    let store = h.open(clock).await;
    let pin = test_pin(1, Tier::Ssd, 100);
    let c = pin.cid.clone();
    apply(&*store, vec![upsert(T0, pin)]).await?;
    apply(
        &*store,
        vec![Event {
            ts: T0.plus_millis(1),
            kind: EventKind::Tier {
                cid: c.clone(),
                tier: Tier::Hdd,
            },
        }],
    )
    .await?;
    h.maintain(&store).await;
    apply(
        &*store,
        vec![Event {
            ts: T0.plus_millis(2),
            kind: EventKind::Status {
                cid: c.clone(),
                status: PinStatus::Failed,
                reason: Some("disk full".into()),
            },
        }],
    )
    .await?;
    let got = store.get(&c).await.map_err(err)?.ok_or("pin lost")?;
    check!(
        got.pin.primary_tier == Tier::Hdd && got.pin.tiers == BTreeSet::from([Tier::Hdd]),
        "tier: {:?}",
        got.pin
    );
    check!(
        got.pin.status == PinStatus::Failed && got.pin.status_reason.as_deref() == Some("disk full"),
        "status: {:?}",
        got.pin
    );
    check!(
        got.pin.updated_at == T0.plus_millis(2) && got.pin.created_at == T0,
        "times: {:?}",
        got.pin
    );
    let m = store.metrics().await.map_err(err)?;
    check!(
        m.tiers[&Tier::Hdd].pins == 1 && m.tiers[&Tier::Ssd].pins == 0,
        "tiers: {m:?}"
    );
    check!(
        m.statuses[&PinStatus::Failed] == 1 && m.statuses[&PinStatus::Pinned] == 0,
        "statuses: {m:?}"
    );
    apply(
        &*store,
        vec![Event {
            ts: T0.plus_millis(3),
            kind: EventKind::Unpin { cid: c.clone() },
        }],
    )
    .await?;
    let m = store.metrics().await.map_err(err)?;
    check!(
        m.total_pins == 0 && m.total_size_bytes == 0,
        "an unpinned pin still counts: {m:?}"
    );
    check!(m.statuses[&PinStatus::Unpinned] == 1, "statuses: {m:?}");
    let history = store.history(&c, 10).await.map_err(err)?;
    let kinds: Vec<&str> = history.iter().map(|e| e.event.as_str()).collect();
    check!(kinds == ["unpin", "status", "tier", "upsert"], "history: {kinds:?}");
    check!(
        history[1].reason.as_deref() == Some("disk full"),
        "reason lost: {:?}",
        history[1]
    );
    check!(store.history(&c, 2).await.map_err(err)?.len() == 2, "limit ignored");
    Ok(())
}

/// Accesses update statistics and the windows; an access to a CID never pinned is kept but makes no pin.
pub async fn accesses_update_statistics(h: &dyn Harness) -> CaseResult {
    let clock = Arc::new(ManualClock::new(T0));
    let store = h.open(clock.clone()).await;
    let pin = test_pin(1, Tier::Ssd, 1 << 20);
    let c = pin.cid.clone();
    let stranger = test_cid(99);
    apply(&*store, vec![upsert(T0, pin)]).await?;
    let day = 86_400_000;
    apply(
        &*store,
        vec![
            access(T0.plus_millis(-2 * day), &c, 0, 4096),
            access(T0.plus_millis(-2 * day + 1000), &c, 4096, 4096),
            access(T0.plus_millis(-2 * day + 3000), &stranger, 0, 1),
        ],
    )
    .await?;
    h.maintain(&store).await;
    apply(&*store, vec![access(T0.plus_millis(-1000), &c, 8192, 4096)]).await?;
    let got = store.get(&c).await.map_err(err)?.ok_or("pin lost")?;
    let s = &got.stats;
    check!(s.access_count == 3 && s.bytes_read == 3 * 4096, "counters: {s:?}");
    check!(
        s.first_access == Some(T0.plus_millis(-2 * day)) && s.last_access == Some(T0.plus_millis(-1000)),
        "times: {s:?}"
    );
    check!(s.sequential_reads == 2 && s.random_reads == 0, "pattern counts: {s:?}");
    let hot = s.hotness_at(T0);
    let exact = crate::decay(2 * day) + crate::decay(2 * day - 1000) + crate::decay(1000);
    check!((hot - exact).abs() < 1e-9, "hotness {hot}, expected {exact}");
    check!(
        store.get(&stranger).await.map_err(err)?.is_none(),
        "an access created a pin"
    );
    let kept = store.accesses(&stranger, 10).await.map_err(err)?;
    check!(
        kept.len() == 1 && kept[0].length == Some(1),
        "the stranger's access was not kept: {kept:?}"
    );
    let recent = store.accesses(&c, 2).await.map_err(err)?;
    check!(
        recent.len() == 2 && recent[0].ts == T0.plus_millis(-1000) && recent[0].offset == Some(8192),
        "newest first: {recent:?}"
    );
    let m = store.metrics().await.map_err(err)?;
    check!(m.total_accesses == 4, "total accesses {}", m.total_accesses);
    check!(m.accessed_last_hour == 1 && m.accessed_last_day == 1, "windows: {m:?}");
    clock.advance(2 * 3_600_000);
    let m = store.metrics().await.map_err(err)?;
    check!(
        m.accessed_last_hour == 0 && m.accessed_last_day == 1,
        "windows after two hours: {m:?}"
    );
    Ok(())
}

/// Listing pages through every match exactly once, in key order, with each filter applied.
pub async fn listing_filters_and_pages(h: &dyn Harness) -> CaseResult {
    let clock = Arc::new(ManualClock::new(T0));
    let store = h.open(clock).await;
    let tiers = [Tier::Ssd, Tier::Hdd, Tier::Nvme];
    let mut events = Vec::new();
    for i in 0..250u64 {
        let mut p = test_pin(i, tiers[(i % 3) as usize], i * 10);
        if i % 5 == 0 {
            p.status = PinStatus::Queued;
        }
        if i % 7 == 0 {
            p.meta.insert("team".into(), "red".into());
        }
        if i == 42 {
            p.name = Some("The Answer".into());
        }
        events.push(upsert(T0.plus_millis(i as i64), p));
    }
    apply(&*store, events[..120].to_vec()).await?;
    h.maintain(&store).await;
    apply(&*store, events[120..].to_vec()).await?;
    let mut seen = Vec::new();
    let mut query = PinQuery {
        limit: 7,
        ..PinQuery::default()
    };
    loop {
        let page = store.list(&query).await.map_err(err)?;
        check!(page.pins.len() <= 7, "page of {}", page.pins.len());
        seen.extend(page.pins.iter().map(|v| v.pin.cid.clone()));
        match page.next {
            Some(c) => query.after = Some(c),
            None => break,
        }
    }
    check!(seen.len() == 250, "paged through {} pins, expected 250", seen.len());
    check!(
        seen.windows(2).all(|w| w[0].key() < w[1].key()),
        "not in key order or repeated"
    );
    let count = |filter: PinFilter| {
        let store = store.clone();
        async move {
            store
                .list(&PinQuery {
                    filter,
                    limit: 10_000,
                    ..PinQuery::default()
                })
                .await
                .map(|p| p.pins.len())
                .map_err(err)
        }
    };
    check!(
        count(PinFilter {
            tier: Some(Tier::Hdd),
            ..Default::default()
        })
        .await?
            == 83,
        "tier filter"
    );
    check!(
        count(PinFilter {
            status: Some(PinStatus::Queued),
            ..Default::default()
        })
        .await?
            == 50,
        "status filter"
    );
    check!(
        count(PinFilter {
            meta: vec![("team".into(), "red".into())],
            ..Default::default()
        })
        .await?
            == 36,
        "meta filter"
    );
    check!(
        count(PinFilter {
            min_size: Some(1000),
            max_size: Some(1990),
            ..Default::default()
        })
        .await?
            == 100,
        "size filter"
    );
    check!(
        count(PinFilter {
            created_before: Some(T0.plus_millis(10)),
            ..Default::default()
        })
        .await?
            == 10,
        "created filter"
    );
    let name = |t: &str, how| PinFilter {
        name: Some((t.to_owned(), how)),
        ..Default::default()
    };
    check!(
        count(name("the answer", NameMatch::Exact)).await? == 0,
        "exact is case-sensitive"
    );
    check!(count(name("the answer", NameMatch::IExact)).await? == 1, "iexact");
    check!(count(name("Answer", NameMatch::Partial)).await? == 1, "partial");
    check!(count(name("pin-0001", NameMatch::IPartial)).await? == 10, "ipartial");
    Ok(())
}

/// Newest-first listing: `created_at` descending, ties by ascending key, across layers, with filters;
/// a key cursor is refused.
pub async fn newest_first_listing(h: &dyn Harness) -> CaseResult {
    let clock = Arc::new(ManualClock::new(T0));
    let store = h.open(clock).await;
    // Three pins a millisecond, so ties are the rule.
    let events: Vec<Event> = (0..60u64)
        .map(|i| upsert(T0.plus_millis((i / 3) as i64), test_pin(i, Tier::Ssd, i)))
        .collect();
    apply(&*store, events[..25].to_vec()).await?;
    h.maintain(&store).await;
    apply(&*store, events[25..].to_vec()).await?;
    let newest = |limit: usize, filter: PinFilter| {
        let store = store.clone();
        async move {
            store
                .list(&PinQuery {
                    filter,
                    limit,
                    order: ListOrder::NewestFirst,
                    ..PinQuery::default()
                })
                .await
                .map_err(err)
        }
    };
    let all = newest(1000, PinFilter::default()).await?;
    check!(all.pins.len() == 60, "listed {} of 60", all.pins.len());
    check!(all.next.is_none(), "a newest-first page hands out no cursor");
    let mut expected: Vec<(Timestamp, Cid)> = all.pins.iter().map(|v| (v.pin.created_at, v.pin.cid.clone())).collect();
    expected.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.key().cmp(b.1.key())));
    check!(
        all.pins.iter().map(|v| &v.pin.cid).eq(expected.iter().map(|e| &e.1)),
        "not newest first with ties by key"
    );
    check!(
        all.pins[0].pin.created_at == T0.plus_millis(19),
        "newest is the last created"
    );
    let page = newest(4, PinFilter::default()).await?;
    check!(
        page.pins
            .iter()
            .map(|v| &v.pin.cid)
            .eq(expected.iter().take(4).map(|e| &e.1)),
        "a limited page is the head of the full order"
    );
    let before = newest(
        1000,
        PinFilter {
            created_before: Some(T0.plus_millis(10)),
            ..Default::default()
        },
    )
    .await?;
    check!(
        before.pins.len() == 30 && before.pins[0].pin.created_at == T0.plus_millis(9),
        "created_before with newest first: {} pins",
        before.pins.len()
    );
    let refused = store
        .list(&PinQuery {
            after: Some(Cursor::after(&test_cid(1))),
            order: ListOrder::NewestFirst,
            ..PinQuery::default()
        })
        .await;
    check!(
        matches!(refused, Err(Error::InvalidCursor { .. })),
        "a key cursor with newest-first order: {refused:?}"
    );
    Ok(())
}

/// VFS operations are logged and counted per kind and mount for the last day; they make no pin, a bad
/// path rejects their batch whole, and the counts survive a restart.
pub async fn vfs_operations_count_for_a_day(h: &dyn Harness) -> CaseResult {
    let now = T0.plus_millis(2 * 86_400_000);
    let clock = Arc::new(ManualClock::new(now));
    let store = h.open(clock.clone()).await;
    let vfs = |ago_ms: i64, op: VfsOperation| Event {
        ts: now.plus_millis(-ago_ms),
        kind: EventKind::Vfs(Box::new(op)),
    };
    let mut read = VfsOperation::new(VfsOpKind::Read, "/m", "/m/a");
    read.length = Some(100);
    read.latency_us = Some(10);
    let mut failed = read.clone();
    failed.ok = false;
    failed.latency_us = Some(30);
    let mut write = VfsOperation::new(VfsOpKind::Write, "/n", "/n/b");
    write.length = Some(50);
    let mut rename = VfsOperation::new(VfsOpKind::Rename, "/m", "/m/a");
    rename.new_path = Some("/m/z".into());
    let old = VfsOperation::new(VfsOpKind::Create, "/m", "/m/c");
    apply(
        &*store,
        vec![
            vfs(60_000, read.clone()),
            vfs(2 * 3_600_000, failed),
            vfs(86_400_000 - 60_000, write),
            vfs(25 * 3_600_000, old),
        ],
    )
    .await?;
    h.maintain(&store).await;
    apply(&*store, vec![vfs(1000, rename)]).await?;
    let mut bad = read.clone();
    bad.path = "m/relative".into();
    let refused = store
        .apply(EventBatch::new(vec![vfs(0, read.clone()), vfs(0, bad)]))
        .await;
    check!(
        matches!(&refused, Err(Error::Invalid { field: "vfs_path", .. })),
        "a relative path: {refused:?}"
    );
    let expect = |m: &crate::Metrics| -> CaseResult {
        let v = &m.vfs_last_day;
        let count = |k: VfsOpKind| v.by_op.get(&k).map_or((0, 0), |c| (c.count, c.failed));
        check!(count(VfsOpKind::Read) == (2, 1), "reads: {:?}", count(VfsOpKind::Read));
        check!(
            count(VfsOpKind::Write) == (1, 0),
            "writes: {:?}",
            count(VfsOpKind::Write)
        );
        check!(
            count(VfsOpKind::Rename) == (1, 0),
            "renames: {:?}",
            count(VfsOpKind::Rename)
        );
        check!(count(VfsOpKind::Create) == (0, 0), "a create of 25 h ago counted");
        let r = v.by_op[&VfsOpKind::Read];
        check!(
            r.latency_us_sum == 40 && r.latency_samples == 2 && r.latency_us_max == 30,
            "read latency: {r:?}"
        );
        check!(
            v.by_mount.get("/m").map(|io| (io.reads, io.bytes_read)) == Some((1, 100)),
            "bytes read on /m: {v:?}"
        );
        check!(
            v.by_mount.get("/n").map(|io| (io.writes, io.bytes_written)) == Some((1, 50)),
            "bytes written on /n: {v:?}"
        );
        check!(
            m.total_pins == 0 && m.statuses.values().all(|n| *n == 0),
            "VFS operations made pins: {m:?}"
        );
        Ok(())
    };
    let before = store.metrics().await.map_err(err)?;
    expect(&before)?;
    if let Some(reopened) = h.reopen(store, clock.clone()).await {
        let after = reopened.metrics().await.map_err(err)?;
        check!(
            after == before,
            "VFS counts changed across a restart:\n{before:?}\n{after:?}"
        );
        clock.advance(86_400_000);
        let later = reopened.metrics().await.map_err(err)?;
        check!(later.vfs_last_day.is_empty(), "a day later: {:?}", later.vfs_last_day);
    }
    Ok(())
}

/// A status or tier change that arrives before the pin is upserted makes no pin; the upsert then wins.
pub async fn changes_to_unknown_pins_make_no_pin(h: &dyn Harness) -> CaseResult {
    let clock = Arc::new(ManualClock::new(T0));
    let store = h.open(clock).await;
    let c = test_cid(5);
    apply(
        &*store,
        vec![Event {
            ts: T0,
            kind: EventKind::Tier {
                cid: c.clone(),
                tier: Tier::Hdd,
            },
        }],
    )
    .await?;
    check!(
        store.get(&c).await.map_err(err)?.is_none(),
        "a tier change created a pin"
    );
    let m = store.metrics().await.map_err(err)?;
    check!(m.statuses.values().all(|&n| n == 0), "metrics counted a pin: {m:?}");
    h.maintain(&store).await;
    apply(&*store, vec![upsert(T0.plus_millis(1), test_pin(5, Tier::Ssd, 7))]).await?;
    let got = store.get(&c).await.map_err(err)?.ok_or("upsert lost")?;
    check!(
        got.pin.primary_tier == Tier::Ssd,
        "older tier change applied over a newer upsert: {:?}",
        got.pin
    );
    Ok(())
}

/// Metrics always equal a recount of the pins.
pub async fn metrics_equal_a_recount(h: &dyn Harness) -> CaseResult {
    let clock = Arc::new(ManualClock::new(T0));
    let store = h.open(clock).await;
    let mut x: u64 = 7;
    let mut rand = move |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    for round in 0..6 {
        let mut events = Vec::new();
        for j in 0..80 {
            let i = rand(60);
            let at = T0.plus_millis(round * 1000 + j);
            let c = test_cid(i);
            events.push(match rand(5) {
                0 | 1 => upsert(at, test_pin(i, Tier::ALL[rand(6) as usize], rand(10_000))),
                2 => Event {
                    ts: at,
                    kind: EventKind::Tier {
                        cid: c,
                        tier: Tier::ALL[rand(6) as usize],
                    },
                },
                3 => Event {
                    ts: at,
                    kind: EventKind::Status {
                        cid: c,
                        status: PinStatus::ALL[rand(5) as usize],
                        reason: None,
                    },
                },
                _ => access(at, &c, 0, 1),
            });
        }
        apply(&*store, events).await?;
        if round % 2 == 1 {
            h.maintain(&store).await;
        }
    }
    let all = store
        .list(&PinQuery {
            limit: 10_000,
            ..PinQuery::default()
        })
        .await
        .map_err(err)?
        .pins;
    let m = store.metrics().await.map_err(err)?;
    let live: Vec<_> = all.iter().filter(|v| v.pin.status != PinStatus::Unpinned).collect();
    check!(
        m.total_pins == live.len() as u64,
        "total_pins {} but {} live pins listed",
        m.total_pins,
        live.len()
    );
    let bytes: u64 = live.iter().map(|v| v.pin.size_bytes).sum();
    check!(
        m.total_size_bytes == bytes,
        "total_size_bytes {} but listed {}",
        m.total_size_bytes,
        bytes
    );
    for t in Tier::ALL {
        let n = live.iter().filter(|v| v.pin.primary_tier == *t).count() as u64;
        check!(m.tiers[t].pins == n, "tier {t}: {} vs {n}", m.tiers[t].pins);
    }
    for s in PinStatus::ALL {
        let n = all.iter().filter(|v| v.pin.status == *s).count() as u64;
        check!(m.statuses[s] == n, "status {s}: {} vs {n}", m.statuses[s]);
    }
    Ok(())
}

/// Everything acknowledged is still there after a restart (backends that persist).
pub async fn restart_keeps_everything(h: &dyn Harness) -> CaseResult {
    let clock = Arc::new(ManualClock::new(T0));
    let store = h.open(clock.clone()).await;
    let pin = test_pin(1, Tier::Ssd, 100);
    let c = pin.cid.clone();
    apply(&*store, vec![upsert(T0, pin), access(T0, &c, 0, 10)]).await?;
    h.maintain(&store).await;
    apply(
        &*store,
        vec![
            access(T0.plus_millis(5), &c, 10, 10),
            Event {
                ts: T0.plus_millis(6),
                kind: EventKind::Tier {
                    cid: c.clone(),
                    tier: Tier::Hdd,
                },
            },
        ],
    )
    .await?;
    store
        .apply(EventBatch::with_id("once", vec![access(T0.plus_millis(7), &c, 20, 10)]))
        .await
        .map_err(err)?;
    // A batch with an id and no events (a source that read nothing new) is remembered like any other.
    let empty = store
        .apply(EventBatch::with_id("empty", Vec::new()))
        .await
        .map_err(err)?;
    check!(
        matches!(empty, ApplyOutcome::Applied { events: 0, .. }),
        "empty batch with an id: {empty:?}"
    );
    let before = (store.get(&c).await.map_err(err)?, store.metrics().await.map_err(err)?);
    let Some(store) = h.reopen(store, clock).await else {
        return Ok(());
    };
    let after = (store.get(&c).await.map_err(err)?, store.metrics().await.map_err(err)?);
    check!(
        before == after,
        "state changed across a restart:\nbefore {before:?}\nafter  {after:?}"
    );
    let again = store
        .apply(EventBatch::with_id("once", vec![access(T0.plus_millis(7), &c, 20, 10)]))
        .await
        .map_err(err)?;
    check!(
        again == ApplyOutcome::Duplicate,
        "batch id forgotten across a restart: {again:?}"
    );
    let again = store
        .apply(EventBatch::with_id("empty", Vec::new()))
        .await
        .map_err(err)?;
    check!(
        again == ApplyOutcome::Duplicate,
        "id of an empty batch forgotten across a restart: {again:?}"
    );
    check!(store.history(&c, 10).await.map_err(err)?.len() == 2, "history lost");
    check!(store.accesses(&c, 10).await.map_err(err)?.len() == 3, "accesses lost");
    Ok(())
}

/// Upserting a pin again replaces its fields but keeps its statistics and creation time, whichever
/// layers of the store they sit in.
pub async fn reupsert_keeps_statistics(h: &dyn Harness) -> CaseResult {
    let clock = Arc::new(ManualClock::new(T0));
    let store = h.open(clock).await;
    let pin = test_pin(1, Tier::Ssd, 100);
    let c = pin.cid.clone();
    apply(&*store, vec![upsert(T0, pin.clone()), access(T0, &c, 0, 10)]).await?;
    h.maintain(&store).await;
    h.maintain(&store).await;
    let mut renamed = pin;
    renamed.name = Some("renamed".into());
    renamed.primary_tier = Tier::Hdd;
    renamed.tiers = BTreeSet::from([Tier::Hdd]);
    apply(&*store, vec![upsert(T0.plus_millis(50), renamed)]).await?;
    let got = store.get(&c).await.map_err(err)?.ok_or("pin lost")?;
    check!(
        got.pin.name.as_deref() == Some("renamed") && got.pin.primary_tier == Tier::Hdd,
        "fields: {:?}",
        got.pin
    );
    check!(
        got.pin.created_at == T0 && got.pin.updated_at == T0.plus_millis(50),
        "times: {:?}",
        got.pin
    );
    check!(got.stats.access_count == 1, "statistics lost: {:?}", got.stats);
    let listed = store.list(&PinQuery::default()).await.map_err(err)?.pins;
    check!(
        listed.len() == 1 && listed[0] == got,
        "list and get disagree: {listed:?} vs {got:?}"
    );
    Ok(())
}

/// Every case, by name.
pub fn cases() -> Vec<(&'static str, CaseFn)> {
    macro_rules! case {
        ($f:ident) => {
            (stringify!($f), (|h| Box::pin($f(h))) as CaseFn)
        };
    }
    vec![
        case!(upsert_round_trips),
        case!(invalid_batch_is_rejected_whole),
        case!(redelivery_is_idempotent),
        case!(changes_leave_history),
        case!(accesses_update_statistics),
        case!(listing_filters_and_pages),
        case!(newest_first_listing),
        case!(vfs_operations_count_for_a_day),
        case!(changes_to_unknown_pins_make_no_pin),
        case!(metrics_equal_a_recount),
        case!(restart_keeps_everything),
        case!(reupsert_keeps_statistics),
    ]
}

/// One case as a function pointer.
pub type CaseFn =
    for<'a> fn(&'a dyn Harness) -> std::pin::Pin<Box<dyn std::future::Future<Output = CaseResult> + Send + 'a>>;

/// Runs every case; the error lists each failing case with its message.
pub async fn run_all(h: &dyn Harness) -> Result<usize, String> {
    let mut failures = Vec::new();
    let all = cases();
    for (name, case) in &all {
        if let Err(e) = case(h).await {
            failures.push(format!("{name}: {e}"));
        }
    }
    if failures.is_empty() {
        Ok(all.len())
    } else {
        Err(failures.join("\n"))
    }
}
