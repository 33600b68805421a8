//! The path index and what it means for pins: overwrites, renames, deletes, unmounts, restarts.

use std::collections::BTreeMap;

use pin_core::{PinStatus, Timestamp};
use pin_vfs::{Adapter, AdapterConfig, VfsEvent, VfsOp};

use crate::{cid, paths, pin, store};

fn ev(op: VfsOp, path: &str, ts: i64) -> VfsEvent {
    VfsEvent::new(op, "/m", path, Timestamp(ts))
}

fn read(path: &str, length: u64, ts: i64) -> VfsEvent {
    ev(
        VfsOp::Read {
            offset: Some(0),
            length: Some(length),
        },
        path,
        ts,
    )
}

fn create(path: &str, content: &str, ts: i64) -> VfsEvent {
    ev(VfsOp::Create, path, ts)
        .with_cid(cid(content))
        .with_size(content.len() as u64)
}

fn write(path: &str, content: &str, ts: i64) -> VfsEvent {
    ev(
        VfsOp::Write {
            offset: Some(0),
            length: Some(content.len() as u64),
        },
        path,
        ts,
    )
    .with_cid(cid(content))
    .with_size(content.len() as u64)
}

#[tokio::test]
async fn overwrite_rename_and_delete_follow_the_paths() {
    let store = store();
    let mut adapter = Adapter::new(store.clone(), AdapterConfig::default());
    adapter
        .apply(
            None,
            vec![
                create("/m/a", "one", 1),
                create("/m/b", "one", 2),
                write("/m/a", "two", 3),
            ],
        )
        .await
        .unwrap();
    assert_eq!(
        paths(&store, &cid("one")).await,
        ["/m/b"],
        "overwritten a.txt leaves the old pin"
    );
    assert_eq!(paths(&store, &cid("two")).await, ["/m/a"]);
    assert_eq!(pin(&store, &cid("two")).await.pin.size_bytes, 3);

    adapter
        .apply(None, vec![ev(VfsOp::Rename { to: "/m/c".into() }, "/m/a", 4)])
        .await
        .unwrap();
    assert_eq!(paths(&store, &cid("two")).await, ["/m/c"]);
    assert_eq!(adapter.index().cid("/m/c"), Some(&cid("two")));
    assert!(adapter.index().get("/m/a").is_none());

    // A rename onto an existing file replaces it: the replaced content loses that path.
    adapter
        .apply(None, vec![ev(VfsOp::Rename { to: "/m/b".into() }, "/m/c", 5)])
        .await
        .unwrap();
    assert!(paths(&store, &cid("one")).await.is_empty());
    assert_eq!(paths(&store, &cid("two")).await, ["/m/b"]);

    adapter.apply(None, vec![ev(VfsOp::Delete, "/m/b", 6)]).await.unwrap();
    let two = pin(&store, &cid("two")).await;
    assert!(two.pin.vfs_paths.is_empty());
    assert_eq!(two.pin.status, PinStatus::Pinned, "a delete does not unpin");
    assert_eq!(two.pin.mount, None);
}

#[tokio::test]
async fn a_delete_unpins_only_when_asked() {
    let store = store();
    let config = AdapterConfig {
        unpin_on_delete: true,
        ..AdapterConfig::default()
    };
    let mut adapter = Adapter::new(store.clone(), config);
    adapter
        .apply(None, vec![create("/m/a", "x", 1), create("/m/b", "x", 2)])
        .await
        .unwrap();
    adapter.apply(None, vec![ev(VfsOp::Delete, "/m/a", 3)]).await.unwrap();
    assert_eq!(
        pin(&store, &cid("x")).await.pin.status,
        PinStatus::Pinned,
        "one path is left"
    );
    adapter.apply(None, vec![ev(VfsOp::Delete, "/m/b", 4)]).await.unwrap();
    assert_eq!(pin(&store, &cid("x")).await.pin.status, PinStatus::Unpinned);
}

#[tokio::test]
async fn directories_move_and_vanish_with_their_files() {
    let store = store();
    let mut adapter = Adapter::new(store.clone(), AdapterConfig::default());
    let mut dir = ev(VfsOp::Create, "/m/d", 1);
    dir.is_dir = true;
    adapter
        .apply(
            None,
            vec![
                dir,
                create("/m/d/a", "a", 2),
                create("/m/d/e/b", "b", 3),
                create("/m/dx", "c", 4),
            ],
        )
        .await
        .unwrap();
    adapter
        .apply(None, vec![ev(VfsOp::Rename { to: "/m/n".into() }, "/m/d", 5)])
        .await
        .unwrap();
    assert_eq!(paths(&store, &cid("a")).await, ["/m/n/a"]);
    assert_eq!(paths(&store, &cid("b")).await, ["/m/n/e/b"]);
    assert_eq!(
        paths(&store, &cid("c")).await,
        ["/m/dx"],
        "a sibling sharing the prefix stays"
    );
    adapter.apply(None, vec![ev(VfsOp::Delete, "/m/n", 6)]).await.unwrap();
    assert!(paths(&store, &cid("a")).await.is_empty());
    assert!(paths(&store, &cid("b")).await.is_empty());
    let mut unmount = VfsEvent::new(VfsOp::Unmount, "/m", "/m", Timestamp(7));
    unmount.is_dir = true;
    adapter.apply(None, vec![unmount]).await.unwrap();
    assert!(paths(&store, &cid("c")).await.is_empty());
    assert!(adapter.index().is_empty());
}

#[tokio::test]
async fn a_restarted_adapter_rebuilds_the_index_from_the_store() {
    let store = store();
    {
        let mut adapter = Adapter::new(store.clone(), AdapterConfig::default());
        adapter.apply(None, vec![create("/m/a", "a", 1)]).await.unwrap();
    }
    let mut adapter = Adapter::new(store.clone(), AdapterConfig::default());
    let read = read("/m/a", 1, 2);
    let report = adapter
        .apply(None, vec![read, ev(VfsOp::Delete, "/m/a", 3)])
        .await
        .unwrap();
    assert_eq!(
        report.unattributed, 0,
        "the read is attributed through the rebuilt index"
    );
    let a = pin(&store, &cid("a")).await;
    assert_eq!(a.stats.read_count, 1);
    assert_eq!(a.stats.hotness_at.map(|t| t.0), Some(2));
    assert!(a.pin.vfs_paths.is_empty());
}

#[tokio::test]
async fn metadata_failures_and_unknown_content() {
    let store = store();
    let mut adapter = Adapter::new(store.clone(), AdapterConfig::default());
    let mut failed = write("/m/a", "never", 2);
    failed.ok = false;
    failed.latency_us = Some(900);
    let attrs = BTreeMap::from([("owner".to_owned(), "ana".to_owned())]);
    let unknown_read = ev(
        VfsOp::Read {
            offset: None,
            length: None,
        },
        "/m/unknown",
        4,
    );
    let report = adapter
        .apply(
            None,
            vec![
                create("/m/a", "a", 1),
                failed,
                ev(VfsOp::Metadata { attrs }, "/m/a", 3),
                unknown_read,
            ],
        )
        .await
        .unwrap();
    assert_eq!((report.failed_ops, report.unattributed), (1, 1));
    assert!(
        store.get(&cid("never")).await.unwrap().is_none(),
        "a failed write is not applied"
    );
    assert_eq!(
        pin(&store, &cid("a")).await.pin.meta.get("owner").map(String::as_str),
        Some("ana")
    );
    let writes = adapter.stats().by_op[&pin_vfs::OpKind::Write];
    assert_eq!((writes.count, writes.failed, writes.latency_us_max), (1, 1, 900));
    assert!((writes.success_rate() - 0.0).abs() < 1e-12);
}

#[tokio::test]
async fn the_summary_groups_pins_by_mount() {
    let store = store();
    let mut adapter = Adapter::new(store.clone(), AdapterConfig::default());
    let read = read("/m/b", 2, 3);
    adapter
        .apply(None, vec![create("/m/a", "a", 1), create("/m/b", "bb", 2), read])
        .await
        .unwrap();
    let summary = pin_vfs::summarize(&*store, 1).await.unwrap();
    assert_eq!(summary.mounts.len(), 1);
    let m = &summary.mounts[0];
    assert_eq!((m.mount.as_str(), m.pins, m.bytes, m.bytes_read), ("/m", 2, 3, 2));
    assert_eq!(m.top_paths.len(), 1);
    assert_eq!(m.top_paths[0].path, "/m/b");
}

#[tokio::test]
async fn a_redelivered_batch_leaves_the_index_as_the_store_has_it() {
    let store = store();
    let moves = || {
        vec![
            ev(VfsOp::Rename { to: "/m/b".into() }, "/m/a", 3),
            ev(VfsOp::Rename { to: "/m/a".into() }, "/m/c", 4),
        ]
    };
    {
        let mut adapter = Adapter::new(store.clone(), AdapterConfig::default());
        adapter
            .apply(
                Some("setup".into()),
                vec![create("/m/a", "x", 1), create("/m/c", "z", 2)],
            )
            .await
            .unwrap();
        adapter.apply(Some("moves".into()), moves()).await.unwrap();
    }
    // A restart re-delivers the batch in flight (the store applied it, the checkpoint did not say so).
    let mut adapter = Adapter::new(store.clone(), AdapterConfig::default());
    let report = adapter.apply(Some("moves".into()), moves()).await.unwrap();
    assert!(report.is_duplicate());
    // Translating `mv a b; mv c a` again on its own result would have lost `/m/a`.
    let read = read("/m/a", 1, 5);
    let report = adapter.apply(None, vec![read]).await.unwrap();
    assert_eq!(report.unattributed, 0, "/m/a still shows z");
    assert_eq!(pin(&store, &cid("z")).await.stats.read_count, 1);
    assert_eq!(adapter.index().cid("/m/b"), Some(&cid("x")));
}

#[tokio::test]
async fn a_path_deleted_and_shown_again_in_one_batch_keeps_its_pin() {
    let store = store();
    let config = AdapterConfig {
        unpin_on_delete: true,
        ..AdapterConfig::default()
    };
    let mut adapter = Adapter::new(store.clone(), config);
    adapter.apply(None, vec![create("/m/a", "x", 1)]).await.unwrap();
    adapter
        .apply(None, vec![ev(VfsOp::Delete, "/m/a", 2), create("/m/b", "x", 3)])
        .await
        .unwrap();
    let x = pin(&store, &cid("x")).await;
    assert_eq!(x.pin.status, PinStatus::Pinned, "the content is still shown at /m/b");
    assert_eq!(paths(&store, &cid("x")).await, ["/m/b"]);
}

#[tokio::test]
async fn a_move_across_mounts_takes_the_target_mount() {
    let store = store();
    let mut adapter = Adapter::new(store.clone(), AdapterConfig::default());
    let mut other = VfsEvent::new(VfsOp::Mount, "/n", "/n", Timestamp(1));
    other.is_dir = true;
    adapter
        .apply(None, vec![other, create("/m/a", "x", 2), create("/m/d/f", "y", 3)])
        .await
        .unwrap();
    let to_n = |from: &str, to: &str, ts| ev(VfsOp::Rename { to: to.into() }, from, ts);
    let report = adapter
        .apply(None, vec![to_n("/m/a", "/n/a", 4), to_n("/m/d", "/n/d", 5)])
        .await
        .unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(paths(&store, &cid("x")).await, ["/n/a"]);
    assert_eq!(pin(&store, &cid("x")).await.pin.mount.as_deref(), Some("/n"));
    assert_eq!(paths(&store, &cid("y")).await, ["/n/d/f"]);
    assert_eq!(adapter.index().get("/n/d/f").unwrap().mount, "/n");
    assert_eq!(adapter.index().paths_of_mount("/m").count(), 0);

    // A target under no known mount, or inside the source, is refused with the line it came from.
    let mut nowhere = to_n("/n/a", "/elsewhere/a", 6);
    nowhere.mount = "/n".into();
    let mut into_itself = to_n("/n/d", "/n/d/sub", 7);
    into_itself.mount = "/n".into();
    let report = adapter.apply(None, vec![nowhere, into_itself]).await.unwrap();
    let problems: Vec<String> = report.problems.iter().map(ToString::to_string).collect();
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(problems[0].contains("\"/elsewhere/a\"") && problems[0].contains("no other known mount"));
    assert!(problems[1].contains("into itself"));
    assert_eq!(
        paths(&store, &cid("x")).await,
        ["/n/a"],
        "a refused rename changes nothing"
    );
}

#[tokio::test]
async fn metadata_over_the_limit_is_refused_alone_with_its_line() {
    let store = store();
    let mut adapter = Adapter::new(store.clone(), AdapterConfig::default());
    let attrs: BTreeMap<String, String> = (0..=pin_core::MAX_META_KEYS)
        .map(|i| (format!("k{i}"), "v".into()))
        .collect();
    let mut too_many = ev(VfsOp::Metadata { attrs }, "/m/a", 2);
    too_many.pos = Some(pin_vfs::SourcePos {
        file: "vfs.ndjson".into(),
        line: 7,
        offset: 0,
    });
    let report = adapter
        .apply(None, vec![create("/m/a", "a", 1), too_many, create("/m/b", "a", 3)])
        .await
        .unwrap();
    assert_eq!(report.problems.len(), 1);
    let problem = report.problems[0].to_string();
    assert!(
        problem.starts_with("vfs.ndjson:7: ") && problem.contains("1001 keys"),
        "{problem}"
    );
    assert_eq!(
        paths(&store, &cid("a")).await,
        ["/m/a", "/m/b"],
        "the rest of the batch is applied"
    );
}
