//! The directory watcher on a temp dir, with bounded waits.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pin_core::{PinStore, SystemClock};
use pin_vfs::{Adapter, AdapterConfig, CidVersion, DirWatcher, Problem, Reporter, Stop, WatchOptions, run};

use crate::{cid, store, wait_until};

#[derive(Debug, Default)]
struct Progress {
    started: AtomicU64,
    indexed: AtomicU64,
    finished: AtomicU64,
    finished_called: std::sync::atomic::AtomicBool,
    problems: Mutex<Vec<String>>,
}

impl Reporter for Progress {
    fn scan_started(&self, _root: &Path, files: u64, _bytes: u64) {
        self.started.store(files, Ordering::SeqCst);
    }
    fn file_indexed(&self, _path: &Path, _bytes: u64) {
        self.indexed.fetch_add(1, Ordering::SeqCst);
    }
    fn scan_finished(&self, files: u64, _bytes: u64) {
        self.finished.store(files, Ordering::SeqCst);
        self.finished_called.store(true, Ordering::SeqCst);
    }
    fn problem(&self, problem: &Problem) {
        self.problems.lock().unwrap().push(problem.to_string());
    }
}

async fn wait_paths(store: &Arc<dyn PinStore>, content: &str, want: &[&str]) {
    let (store, c) = (store.clone(), cid(content));
    let want: Vec<String> = want.iter().map(|s| (*s).to_owned()).collect();
    wait_until(30, &format!("{content:?} at {want:?}"), || {
        let (store, c, want) = (store.clone(), c.clone(), want.clone());
        async move { crate::paths(&store, &c).await == want }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watcher_indexes_then_follows_changes() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::write(root.join("a.txt"), "alpha").unwrap();
    std::fs::create_dir(root.join("sub")).unwrap();
    std::fs::write(root.join("sub/b.txt"), "beta").unwrap();

    let store = store();
    let progress = Arc::new(Progress::default());
    let options = WatchOptions {
        settle: Duration::from_millis(50),
        ..WatchOptions::new("/w")
    };
    let mut watcher = DirWatcher::new(root, options, Arc::new(SystemClock), progress.clone()).unwrap();
    // A file the store knew under the mount but that is gone now: deleted at the end of the first pass.
    let mut adapter = Adapter::new(store.clone(), AdapterConfig::default());
    adapter
        .apply(
            None,
            vec![
                pin_vfs::VfsEvent::new(pin_vfs::VfsOp::Create, "/w", "/w/old.txt", pin_core::Timestamp(1))
                    .with_cid(cid("old")),
            ],
        )
        .await
        .unwrap();
    watcher.expect_paths(adapter.index().paths_of_mount("/w").map(|(p, _)| p.to_owned()));

    let stop = Stop::new();
    let task = {
        let (stop, progress) = (stop.clone(), progress.clone());
        tokio::spawn(async move { run(&mut watcher, &mut adapter, &stop, &*progress).await })
    };

    wait_paths(&store, "alpha", &["/w/a.txt"]).await;
    wait_paths(&store, "beta", &["/w/sub/b.txt"]).await;
    wait_paths(&store, "old", &[]).await;
    assert_eq!(progress.started.load(Ordering::SeqCst), 2);
    assert_eq!(progress.indexed.load(Ordering::SeqCst), 2);

    std::fs::write(root.join("c.txt"), "gamma").unwrap();
    wait_paths(&store, "gamma", &["/w/c.txt"]).await;

    std::fs::write(root.join("a.txt"), "alpha, second version").unwrap();
    wait_paths(&store, "alpha, second version", &["/w/a.txt"]).await;
    wait_paths(&store, "alpha", &[]).await;

    std::fs::rename(root.join("sub/b.txt"), root.join("sub/b2.txt")).unwrap();
    wait_paths(&store, "beta", &["/w/sub/b2.txt"]).await;

    std::fs::remove_file(root.join("c.txt")).unwrap();
    wait_paths(&store, "gamma", &[]).await;
    assert!(
        store.get(&cid("gamma")).await.unwrap().is_some(),
        "deleting a file does not forget its pin"
    );

    std::fs::rename(root.join("sub"), root.join("moved")).unwrap();
    wait_paths(&store, "beta", &["/w/moved/b2.txt"]).await;
    std::fs::write(root.join("moved/deep.txt"), "deep").unwrap();
    wait_paths(&store, "deep", &["/w/moved/deep.txt"]).await;

    // A deleted directory takes its files' paths along.
    std::fs::remove_dir_all(root.join("moved")).unwrap();
    wait_paths(&store, "beta", &[]).await;
    wait_paths(&store, "deep", &[]).await;

    // A symbolic link to a directory outside is not followed: nothing outside the root is read.
    #[cfg(unix)]
    {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret.txt"), "secret").unwrap();
        std::os::unix::fs::symlink(outside.path(), root.join("link")).unwrap();
        std::fs::write(root.join("after-link.txt"), "after link").unwrap();
        wait_paths(&store, "after link", &["/w/after-link.txt"]).await;
        assert!(store.get(&cid("secret")).await.unwrap().is_none());
    }

    // A change just before the stop is flushed, not lost, however late its notification comes.
    std::fs::write(root.join("last.txt"), "last").unwrap();
    stop.stop();
    let summary = tokio::time::timeout(Duration::from_secs(30), task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(summary.pin_events > 0);
    assert_eq!(crate::paths(&store, &cid("last")).await, ["/w/last.txt"]);
    assert!(
        progress.problems.lock().unwrap().is_empty(),
        "{:?}",
        progress.problems.lock().unwrap()
    );
    assert_eq!(progress.finished.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn the_watcher_computes_cidv1_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f"), "hello world\n").unwrap();
    let store = store();
    let options = WatchOptions {
        cid_version: CidVersion::V1,
        ..WatchOptions::new("/v1")
    };
    let mut watcher = DirWatcher::new(
        dir.path(),
        options,
        Arc::new(SystemClock),
        Arc::new(pin_vfs::SilentReporter),
    )
    .unwrap();
    let mut adapter = Adapter::new(store.clone(), AdapterConfig::default());
    for _ in 0..2 {
        let chunk = pin_vfs::EventSource::next_chunk(&mut watcher).await.unwrap().unwrap();
        adapter.apply(None, chunk.events).await.unwrap();
    }
    let c = pin_core::Cid::parse("bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4").unwrap();
    let view = store.get(&c).await.unwrap().unwrap();
    assert_eq!(
        view.pin.cid.as_str(),
        "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"
    );
    assert_eq!(view.pin.vfs_paths.iter().collect::<Vec<_>>(), ["/v1/f"]);
}

#[test]
fn a_missing_directory_is_an_error_naming_it() {
    let err = DirWatcher::new(
        Path::new("/nonexistent/pindex-watch"),
        WatchOptions::new("/x"),
        Arc::new(SystemClock),
        Arc::new(pin_vfs::SilentReporter),
    )
    .unwrap_err();
    assert!(err.to_string().contains("/nonexistent/pindex-watch"), "{err}");
}

#[tokio::test]
async fn an_empty_directory_still_ends_its_first_pass() {
    let dir = tempfile::tempdir().unwrap();
    let store = store();
    let mut adapter = Adapter::new(store.clone(), AdapterConfig::default());
    let gone = pin_vfs::VfsEvent::new(pin_vfs::VfsOp::Create, "/e", "/e/gone.txt", pin_core::Timestamp(1))
        .with_cid(cid("gone"));
    adapter.apply(None, vec![gone]).await.unwrap();
    let progress = Arc::new(Progress::default());
    let mut watcher = DirWatcher::new(
        dir.path(),
        WatchOptions::new("/e"),
        Arc::new(SystemClock),
        progress.clone(),
    )
    .unwrap();
    watcher.expect_paths(adapter.index().paths_of_mount("/e").map(|(p, _)| p.to_owned()));
    let chunk = pin_vfs::EventSource::next_chunk(&mut watcher).await.unwrap().unwrap();
    assert!(watcher.first_pass_done());
    adapter.apply(None, chunk.events).await.unwrap();
    assert!(
        crate::paths(&store, &cid("gone")).await.is_empty(),
        "deleted while nothing watched"
    );
    assert_eq!(progress.finished.load(Ordering::SeqCst), 0);
    assert!(progress.finished_called.load(Ordering::SeqCst));
}
