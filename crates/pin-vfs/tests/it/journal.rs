//! Replaying Pindex's NDJSON journal: exactly once across replays and crashes, torn lines, bad input.

use std::io::Write;
use std::sync::Arc;

use pin_core::{ApplyOutcome, PinStore, Timestamp};
use pin_vfs::{
    Adapter, AdapterConfig, CheckpointStore, DirCheckpoints, EventSource, JournalOptions, JournalSource, JournalWriter,
    MemoryCheckpoints, SilentReporter, Stop, VfsEvent, VfsOp, run,
};

use crate::{cid, paths, pin, store, wait_until};

/// A read of the first byte of `/data/a.txt`.
fn read_a(ts: i64) -> VfsEvent {
    let read = VfsOp::Read {
        offset: Some(0),
        length: Some(1),
    };
    VfsEvent::new(read, "/data", "/data/a.txt", Timestamp(ts))
}

/// A journal: mount, create a.txt (cid "a"), then `reads` reads of it, then a write giving it cid "b".
fn write_journal(path: &std::path::Path, reads: usize) {
    let mut w = JournalWriter::open(path, "test-journal").unwrap();
    let mut mount = VfsEvent::new(VfsOp::Mount, "/data", "/data", Timestamp(1));
    mount.is_dir = true;
    w.append(&mount).unwrap();
    w.append(
        &VfsEvent::new(VfsOp::Create, "/data", "/data/a.txt", Timestamp(2))
            .with_cid(cid("a"))
            .with_size(1),
    )
    .unwrap();
    for i in 0..reads {
        let mut e = read_a(10 + i as i64);
        e.latency_us = Some(40);
        w.append(&e).unwrap();
    }
    w.append(
        &VfsEvent::new(
            VfsOp::Write {
                offset: Some(0),
                length: Some(1),
            },
            "/data",
            "/data/a.txt",
            Timestamp(1000),
        )
        .with_cid(cid("b"))
        .with_size(1),
    )
    .unwrap();
    w.sync().unwrap();
}

fn options(max_events: usize) -> JournalOptions {
    JournalOptions {
        max_events,
        ..JournalOptions::default()
    }
}

async fn replay(
    path: &std::path::Path,
    store: &Arc<dyn PinStore>,
    checkpoints: Arc<dyn CheckpointStore>,
    max_events: usize,
) -> pin_vfs::RunSummary {
    let mut source = JournalSource::new(path, checkpoints, options(max_events));
    let mut adapter = Adapter::new(store.clone(), AdapterConfig::default());
    run(&mut source, &mut adapter, &Stop::new(), &SilentReporter)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_replay_applies_every_operation() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vfs.ndjson");
    write_journal(&path, 5);
    let store = store();
    let summary = replay(&path, &store, Arc::new(MemoryCheckpoints::new()), 3).await;
    assert_eq!(summary.vfs_events, 8);
    assert_eq!(summary.problems, 0);
    let a = pin(&store, &cid("a")).await;
    assert_eq!(a.stats.read_count, 5);
    assert_eq!(a.stats.bytes_read, 5);
    assert!(
        a.pin.vfs_paths.is_empty(),
        "a.txt was overwritten: the old pin loses the path"
    );
    let b = pin(&store, &cid("b")).await;
    assert_eq!(paths(&store, &cid("b")).await, ["/data/a.txt"]);
    assert_eq!(b.pin.mount.as_deref(), Some("/data"));
    assert_eq!(b.stats.bytes_written, 1);
    let history = store.history(&cid("a"), 10).await.unwrap();
    assert!(!history.is_empty(), "the old pin keeps its history");
}

#[tokio::test]
async fn replaying_twice_applies_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vfs.ndjson");
    write_journal(&path, 7);
    let store = store();
    let checkpoints: Arc<dyn CheckpointStore> = Arc::new(DirCheckpoints::open(dir.path().join("cp")).unwrap());
    let first = replay(&path, &store, checkpoints.clone(), 4).await;
    assert_eq!(first.duplicates, 0);
    // With the checkpoint: nothing left to do.
    let second = replay(&path, &store, checkpoints, 4).await;
    assert_eq!(second.chunks, 0);
    // Without it (lost, or another machine): the same chunks again, each recognised by the store.
    let third = replay(&path, &store, Arc::new(MemoryCheckpoints::new()), 4).await;
    assert_eq!(third.chunks, first.chunks);
    assert_eq!(third.duplicates, third.chunks);
    assert_eq!(pin(&store, &cid("a")).await.stats.read_count, 7);
    assert_eq!(store.metrics().await.unwrap().total_accesses, 8);
}

#[tokio::test]
async fn a_crash_half_way_resumes_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vfs.ndjson");
    write_journal(&path, 20);
    let store = store();
    let checkpoints: Arc<dyn CheckpointStore> = Arc::new(DirCheckpoints::open(dir.path().join("cp")).unwrap());

    // Process 1: one chunk applied and acknowledged, the next applied but the process dies before the ack.
    {
        let mut source = JournalSource::new(&path, checkpoints.clone(), options(5));
        let mut adapter = Adapter::new(store.clone(), AdapterConfig::default());
        for ack in [true, false] {
            let chunk = source.next_chunk().await.unwrap().unwrap();
            let report = adapter.apply(chunk.batch_id, chunk.events).await.unwrap();
            assert!(matches!(report.outcome, Some(ApplyOutcome::Applied { .. })));
            if ack {
                source.ack().await.unwrap();
            }
        }
    }
    // Meanwhile the journal grows: the chunk in flight must still come back exactly as it was cut.
    {
        let mut w = JournalWriter::open(&path, "test-journal").unwrap();
        for i in 0..3 {
            w.append(&read_a(2000 + i)).unwrap();
        }
    }
    // Process 2: the chunk in flight comes back with its id and is recognised; the rest is applied.
    let summary = replay(&path, &store, checkpoints.clone(), 5).await;
    assert_eq!(summary.duplicates, 1);
    assert_eq!(pin(&store, &cid("a")).await.stats.read_count, 20);
    assert_eq!(pin(&store, &cid("b")).await.stats.read_count, 3);
    assert_eq!(
        store.metrics().await.unwrap().total_accesses,
        20 + 1 + 3,
        "every access once"
    );

    // And a crash after the intent but before the store saw the chunk: it is applied on resume.
    let path2 = dir.path().join("vfs2.ndjson");
    let mut w = JournalWriter::open(&path2, "second").unwrap();
    w.append(&VfsEvent::new(VfsOp::Create, "/x", "/x/c", Timestamp(5)).with_cid(cid("c")))
        .unwrap();
    {
        let mut source = JournalSource::new(&path2, checkpoints.clone(), options(5));
        let _lost = source.next_chunk().await.unwrap().unwrap();
    }
    let summary = replay(&path2, &store, checkpoints, 5).await;
    assert_eq!((summary.chunks, summary.duplicates), (1, 0));
    assert_eq!(paths(&store, &cid("c")).await, ["/x/c"]);
}

#[tokio::test]
async fn bad_lines_are_reported_with_file_and_line_and_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.ndjson");
    let c = cid("a");
    let text = format!(
        "{{\"ts\":1,\"op\":\"create\",\"mount\":\"/m\",\"path\":\"/m/a\",\"cid\":\"{c}\"}}\n\
         this is not json\n\
         {{\"ts\":2,\"op\":\"create\",\"mount\":\"/m\",\"path\":\"/other/b\",\"cid\":\"{c}\"}}\n\
         {{\"ts\":3,\"op\":\"write\",\"mount\":\"/m\",\"path\":\"/m/c\",\"cid\":\"Qmfoo\"}}\n\
         {{\"ts\":4,\"op\":\"read\",\"mount\":\"/m\",\"path\":\"/m/a\",\"length\":3}}\n"
    );
    std::fs::write(&path, text).unwrap();
    let store = store();
    let mut source = JournalSource::new(&path, Arc::new(MemoryCheckpoints::new()), options(100));
    let mut adapter = Adapter::new(store.clone(), AdapterConfig::default());
    let chunk = source.next_chunk().await.unwrap().unwrap();
    let lines: Vec<String> = chunk.problems.iter().map(ToString::to_string).collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].contains("bad.ndjson:2: not a journal line: "), "{lines:?}");
    assert!(
        lines[1].contains("bad.ndjson:4: ") && lines[1].contains("\"Qmfoo\""),
        "{lines:?}"
    );
    let report = adapter.apply(chunk.batch_id, chunk.events).await.unwrap();
    assert_eq!(report.problems.len(), 1);
    let outside = report.problems[0].to_string();
    assert!(
        outside.contains("bad.ndjson:3: ") && outside.contains("outside the mount point"),
        "{outside}"
    );
    // The valid lines around the bad ones were applied.
    let a = pin(&store, &c).await;
    assert_eq!(a.stats.read_count, 1);
    assert_eq!(paths(&store, &c).await, ["/m/a"]);
}

#[tokio::test]
async fn a_torn_last_line_is_waited_for_in_follow_mode() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("live.ndjson");
    let a = cid("a");
    let create = format!("{{\"ts\":1,\"op\":\"create\",\"mount\":\"/m\",\"path\":\"/m/a\",\"cid\":\"{a}\"}}\n");
    let read = "{\"ts\":2,\"op\":\"read\",\"mount\":\"/m\",\"path\":\"/m/a\",\"offset\":0,\"length\":7}\n";
    // The second read is torn right after its length digit "7": read as it stands it would say 7, not 77.
    let torn = "{\"ts\":3,\"op\":\"read\",\"mount\":\"/m\",\"path\":\"/m/a\",\"offset\":7,\"length\":7";
    std::fs::write(&path, format!("{create}{read}{torn}")).unwrap();

    // One-shot mode leaves the torn line for later.
    let store1 = store();
    let summary = {
        let mut source = JournalSource::new(&path, Arc::new(MemoryCheckpoints::new()), options(100));
        let mut adapter = Adapter::new(store1.clone(), AdapterConfig::default());
        run(&mut source, &mut adapter, &Stop::new(), &SilentReporter)
            .await
            .unwrap()
    };
    assert_eq!((summary.vfs_events, summary.problems), (2, 0));

    let store = store();
    let stop = Stop::new();
    let task = {
        let (store, stop, path) = (store.clone(), stop.clone(), path.clone());
        tokio::spawn(async move {
            let mut source = JournalSource::new(
                &path,
                Arc::new(MemoryCheckpoints::new()),
                JournalOptions {
                    follow: true,
                    poll: std::time::Duration::from_millis(10),
                    max_events: 100,
                },
            );
            let mut adapter = Adapter::new(store, AdapterConfig::default());
            run(&mut source, &mut adapter, &stop, &SilentReporter).await
        })
    };
    let s = store.clone();
    wait_until(5, "the first read", || {
        let s = s.clone();
        let a = a.clone();
        async move { s.get(&a).await.unwrap().is_some_and(|v| v.stats.read_count == 1) }
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(pin(&store, &a).await.stats.read_count, 1, "the torn line is not read");
    // The writer finishes the line.
    let mut f = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
    f.write_all(b"7}\n").unwrap();
    wait_until(5, "the completed line", || {
        let s = s.clone();
        let a = a.clone();
        async move { s.get(&a).await.unwrap().is_some_and(|v| v.stats.read_count == 2) }
    })
    .await;
    stop.stop();
    let summary = task.await.unwrap().unwrap();
    assert_eq!(summary.problems, 0);
    assert_eq!(pin(&store, &a).await.stats.bytes_read, 7 + 77);
}

#[tokio::test]
async fn a_rewritten_journal_is_refused_not_misread() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vfs.ndjson");
    write_journal(&path, 3);
    let store = store();
    let checkpoints: Arc<dyn CheckpointStore> = Arc::new(MemoryCheckpoints::new());
    replay(&path, &store, checkpoints.clone(), 100).await;
    // Same header (same journal id), shorter content.
    std::fs::remove_file(&path).unwrap();
    write_journal(&path, 1);
    let mut source = JournalSource::new(&path, checkpoints, options(100));
    let err = source.next_chunk().await.unwrap_err().to_string();
    assert!(
        err.contains("vfs.ndjson") && err.contains("truncated or replaced"),
        "{err}"
    );
}

#[tokio::test]
async fn a_chunk_in_flight_that_was_rewritten_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vfs.ndjson");
    write_journal(&path, 3);
    let checkpoints: Arc<dyn CheckpointStore> = Arc::new(MemoryCheckpoints::new());
    {
        let mut source = JournalSource::new(&path, checkpoints.clone(), options(100));
        let _in_flight = source.next_chunk().await.unwrap().unwrap();
    }
    // Same length, same last line, one digit changed inside the chunk.
    let text = std::fs::read_to_string(&path).unwrap();
    let changed = text.replacen("\"ts\":2,", "\"ts\":3,", 1);
    assert_ne!(text, changed);
    std::fs::write(&path, changed).unwrap();
    let mut source = JournalSource::new(&path, checkpoints, options(100));
    let err = source.next_chunk().await.unwrap_err().to_string();
    assert!(
        err.contains("vfs.ndjson") && err.contains("differ from the chunk in flight"),
        "{err}"
    );
}

/// A checkpoint store whose saves fail while `fail` is set.
#[derive(Debug, Default)]
struct Flaky {
    inner: MemoryCheckpoints,
    fail: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl CheckpointStore for Flaky {
    async fn load(&self, key: &str) -> pin_vfs::Result<Option<String>> {
        self.inner.load(key).await
    }
    async fn save(&self, key: &str, value: &str) -> pin_vfs::Result<()> {
        if self.fail.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(pin_vfs::Error::Task("disk full".into()));
        }
        self.inner.save(key, value).await
    }
}

#[tokio::test]
async fn a_chunk_whose_intent_was_not_saved_is_not_handed_out() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vfs.ndjson");
    write_journal(&path, 2);
    let checkpoints = Arc::new(Flaky::default());
    let mut source = JournalSource::new(&path, checkpoints.clone(), options(2));
    checkpoints.fail.store(true, std::sync::atomic::Ordering::SeqCst);
    assert!(source.next_chunk().await.is_err());
    // Nothing is in flight: the next chunk is cut (and its intent saved) afresh.
    checkpoints.fail.store(false, std::sync::atomic::Ordering::SeqCst);
    let chunk = source.next_chunk().await.unwrap().unwrap();
    let saved = checkpoints
        .inner
        .load("pindex-journal:test-journal")
        .await
        .unwrap()
        .unwrap();
    assert!(saved.contains(chunk.batch_id.as_deref().unwrap()), "{saved}");
}

#[tokio::test]
async fn a_writer_reopening_after_a_torn_line_does_not_swallow_the_next_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vfs.ndjson");
    write_journal(&path, 0);
    // The previous writer died in the middle of a line.
    let mut f = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
    f.write_all(b"{\"ts\":5,\"op\":\"read\",\"mou").unwrap();
    drop(f);
    let mut w = JournalWriter::open(&path, "test-journal").unwrap();
    w.append(&VfsEvent::new(VfsOp::Create, "/data", "/data/z", Timestamp(6)).with_cid(cid("z")))
        .unwrap();
    let store = store();
    let summary = replay(&path, &store, Arc::new(MemoryCheckpoints::new()), 100).await;
    assert_eq!(summary.problems, 1, "the torn line, reported");
    assert_eq!(
        paths(&store, &cid("z")).await,
        ["/data/z"],
        "the line after it, applied"
    );
}

/// Every operation reaches the store's VFS log, failed ones included, exactly once however often the
/// journal is replayed; `pindex vfs` reads these totals.
#[tokio::test]
async fn every_operation_is_logged_once_with_its_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vfs.ndjson");
    let now = 1_700_000_000_000;
    let mut w = JournalWriter::open(&path, "ops").unwrap();
    w.append(
        &VfsEvent::new(VfsOp::Create, "/data", "/data/a.txt", Timestamp(now - 5000))
            .with_cid(cid("a"))
            .with_size(10),
    )
    .unwrap();
    for i in 0..4 {
        let mut e = read_a(now - 4000 + i);
        e.latency_us = Some(100 * (i as u64 + 1));
        w.append(&e).unwrap();
    }
    let mut failed = VfsEvent::new(
        VfsOp::Rename {
            to: "/data/b.txt".into(),
        },
        "/data",
        "/data/a.txt",
        Timestamp(now - 1000),
    );
    failed.ok = false;
    w.append(&failed).unwrap();
    w.sync().unwrap();
    let store = store();
    for _ in 0..2 {
        replay(&path, &store, Arc::new(MemoryCheckpoints::new()), 2).await;
    }
    let v = store.metrics().await.unwrap().vfs_last_day;
    let count = |k: pin_vfs::OpKind| v.by_op.get(&k).map(|c| (c.count, c.failed));
    assert_eq!(count(pin_vfs::OpKind::Create), Some((1, 0)));
    assert_eq!(count(pin_vfs::OpKind::Read), Some((4, 0)));
    assert_eq!(
        count(pin_vfs::OpKind::Rename),
        Some((1, 1)),
        "the failed rename is logged"
    );
    assert_eq!(v.by_op[&pin_vfs::OpKind::Read].latency_us_max, 400);
    assert_eq!(v.by_mount["/data"].bytes_read, 4);
    assert_eq!(
        paths(&store, &cid("a")).await,
        ["/data/a.txt"],
        "the failed rename moved nothing"
    );
}
