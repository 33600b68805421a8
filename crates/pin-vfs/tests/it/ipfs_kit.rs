//! Importing ipfs_kit_py filesystem journals.

use std::sync::Arc;

use pin_vfs::{
    Adapter, AdapterConfig, CheckpointStore, IpfsKitOptions, IpfsKitSource, MemoryCheckpoints, SilentReporter, Stop,
    run,
};
use serde_json::json;

use crate::{cid, paths, pin, store};

fn entry(id: &str, ts: f64, op: &str, path: &str, data: serde_json::Value, status: &str) -> serde_json::Value {
    json!({
        "entry_id": id, "timestamp": ts, "operation_type": op, "path": path,
        "data": data, "metadata": {}, "status": status, "transaction_id": null
    })
}

fn entries(pending_status: &str) -> serde_json::Value {
    let (dir, a, b, c) = (cid("dir"), cid("a"), cid("b"), cid("c"));
    json!([
        entry(
            "e1",
            1.0,
            "checkpoint",
            "transaction_begin",
            json!({"transaction_id": "t"}),
            "completed"
        ),
        entry(
            "e2",
            1.5,
            "mount",
            "/kit",
            json!({"cid": dir.as_str(), "is_directory": true}),
            "completed"
        ),
        entry(
            "e3",
            2.0,
            "create",
            "/kit/a.txt",
            json!({"cid": a.as_str(), "size": 1}),
            "completed"
        ),
        entry(
            "e4",
            3.0,
            "write",
            "/kit/a.txt",
            json!({"cid": b.as_str(), "size": 1}),
            "completed"
        ),
        entry(
            "e5",
            4.0,
            "write",
            "/kit/p.txt",
            json!({"cid": c.as_str(), "size": 1}),
            pending_status
        ),
        entry("e6", 5.0, "create", "/kit/f.txt", json!({"cid": a.as_str()}), "failed"),
        entry(
            "e7",
            6.0,
            "write",
            "/kit/bad.txt",
            json!({"cid": "not-a-cid"}),
            "completed"
        ),
        entry(
            "e8",
            7.0,
            "rename",
            "/kit/a.txt",
            json!({"new_path": "/kit/renamed.txt"}),
            "completed"
        ),
        entry(
            "e9",
            8.0,
            "create",
            "/elsewhere/x",
            json!({"cid": a.as_str(), "mount_point": "/kit"}),
            "completed"
        ),
        entry("e10", 9.0, "dataset", "/kit/ds", json!({}), "completed"),
    ])
}

#[tokio::test]
async fn completed_entries_become_events_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("journal_1732530000_abcdef12.json");
    std::fs::write(&file, serde_json::to_string_pretty(&entries("pending")).unwrap()).unwrap();
    let store = store();
    let checkpoints: Arc<dyn CheckpointStore> = Arc::new(MemoryCheckpoints::new());
    let import = |checkpoints: Arc<dyn CheckpointStore>| {
        let (store, dir) = (store.clone(), dir.path().to_path_buf());
        async move {
            let mut source = IpfsKitSource::new(
                vec![dir],
                checkpoints,
                IpfsKitOptions {
                    max_events: 3,
                    ..IpfsKitOptions::default()
                },
            );
            let mut adapter = Adapter::new(store, AdapterConfig::default());
            run(&mut source, &mut adapter, &Stop::new(), &SilentReporter)
                .await
                .unwrap()
        }
    };
    let first = import(checkpoints.clone()).await;
    assert_eq!(
        first.problems, 2,
        "the invalid CID and the path outside its mount point"
    );

    // A mount puts its CID at the mount point.
    assert_eq!(paths(&store, &cid("dir")).await, ["/kit"]);
    // A write gives the path a new CID; the rename moves it.
    assert!(paths(&store, &cid("a")).await.is_empty());
    assert_eq!(paths(&store, &cid("b")).await, ["/kit/renamed.txt"]);
    assert_eq!(pin(&store, &cid("b")).await.pin.mount.as_deref(), Some("/kit"));
    // Pending and failed entries are not applied.
    assert!(store.get(&cid("c")).await.unwrap().is_none());

    // Importing again changes nothing.
    let again = import(checkpoints.clone()).await;
    assert_eq!(again.chunks, 0);
    let from_scratch = import(Arc::new(MemoryCheckpoints::new())).await;
    assert_eq!(
        from_scratch.pin_events, 0,
        "every batch with events is recognised as a duplicate"
    );
    assert_eq!(from_scratch.duplicates, 2);
    assert_eq!(pin(&store, &cid("b")).await.stats.bytes_written, 1);

    // Once the pending entry completes (ipfs_kit rewrites the file), the next import picks it up alone.
    std::fs::write(&file, serde_json::to_string_pretty(&entries("completed")).unwrap()).unwrap();
    let later = import(checkpoints).await;
    assert_eq!((later.chunks, later.vfs_events), (1, 1));
    assert_eq!(paths(&store, &cid("c")).await, ["/kit/p.txt"]);
}

#[tokio::test]
async fn a_broken_file_reports_where() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("journal_1_aa.json");
    let a = cid("a");
    let text = format!(
        "[\n  {{\"entry_id\": \"x1\", \"timestamp\": 1, \"operation_type\": \"create\", \"path\": \"/a\", \
         \"data\": {{\"cid\": \"{a}\"}}, \"status\": \"completed\"}},\n  {{\"entry_id\": \n"
    );
    std::fs::write(&file, text).unwrap();
    let store = store();
    let mut source = IpfsKitSource::new(
        vec![file],
        Arc::new(MemoryCheckpoints::new()),
        IpfsKitOptions::default(),
    );
    let mut adapter = Adapter::new(store.clone(), AdapterConfig::default());
    let chunk = pin_vfs::EventSource::next_chunk(&mut source).await.unwrap().unwrap();
    assert_eq!(chunk.events.len(), 1, "the entry before the damage is imported");
    let problem = chunk.problems[0].to_string();
    assert!(problem.contains("journal_1_aa.json:3: invalid entry"), "{problem}");
    adapter.apply(chunk.batch_id, chunk.events).await.unwrap();
    assert_eq!(paths(&store, &a).await, ["/a"]);
}

#[tokio::test]
async fn a_replay_of_several_journals_follows_the_last() {
    let dir = tempfile::tempdir().unwrap();
    let ndjson = dir.path().join("vfs.ndjson");
    let a = cid("a");
    std::fs::write(
        &ndjson,
        format!("{{\"ts\":1,\"op\":\"create\",\"mount\":\"/p\",\"path\":\"/p/a\",\"cid\":\"{a}\"}}\n"),
    )
    .unwrap();
    let kit = dir.path().join("kit");
    std::fs::create_dir(&kit).unwrap();
    let b = cid("b");
    let first = json!([entry(
        "k1",
        1.0,
        "create",
        "/k/b",
        json!({"cid": b.as_str()}),
        "completed"
    )]);
    std::fs::write(kit.join("journal_1_aa.json"), first.to_string()).unwrap();

    let format: pin_vfs::JournalFormat = "auto".parse().unwrap();
    let mut source = pin_vfs::replay_source(&[ndjson, kit.clone()], format, true, Arc::new(MemoryCheckpoints::new()));
    let store = store();
    let stop = Stop::new();
    let task = {
        let (store, stop) = (store.clone(), stop.clone());
        tokio::spawn(async move {
            let mut adapter = Adapter::new(store, AdapterConfig::default());
            run(&mut source, &mut adapter, &stop, &SilentReporter).await
        })
    };
    let c = cid("c");
    for (content, path) in [(&a, "/p/a"), (&b, "/k/b")] {
        let (s, content) = (store.clone(), content.clone());
        crate::wait_until(10, path, || {
            let (s, content) = (s.clone(), content.clone());
            async move { crate::paths(&s, &content).await == [path] }
        })
        .await;
    }
    // ipfs_kit starts a new journal file: it is picked up while following.
    let second = json!([entry(
        "k2",
        2.0,
        "create",
        "/k/c",
        json!({"cid": c.as_str()}),
        "completed"
    )]);
    std::fs::write(kit.join("journal_2_bb.json"), second.to_string()).unwrap();
    let s = store.clone();
    crate::wait_until(10, "the second ipfs_kit journal", || {
        let (s, c) = (s.clone(), c.clone());
        async move { crate::paths(&s, &c).await == ["/k/c"] }
    })
    .await;
    stop.stop();
    let summary = task.await.unwrap().unwrap();
    assert_eq!((summary.vfs_events, summary.problems), (3, 0));
}
