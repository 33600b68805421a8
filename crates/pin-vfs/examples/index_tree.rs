//! Measures the directory watcher's first pass: writes FILES small files (default 100,000; sizes spread
//! between 100 B and 8 KiB, seeded content that starts with the file's number, so every file has its own
//! CID) into 1,000-file directories two levels deep in a temp dir, then indexes them with a [`DirWatcher`]
//! into the in-memory store through the [`Adapter`], stopping as soon as the first pass is over.
//!
//! The files were just written, so they are read from a warm page cache.
//!
//! `cargo run --release -p pin-vfs --example index_tree -- [FILES] [--cid-version 0|1]`
#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use pin_core::{MemoryPinStore, PinStore, SystemClock};
use pin_vfs::{Adapter, AdapterConfig, CidVersion, DirWatcher, EventSource, Problem, Reporter, WatchOptions};

const FILES_PER_DIR: usize = 1000;
const MIN_SIZE: u64 = 100;
const MAX_SIZE: u64 = 8 * 1024;

/// SplitMix64: a small seeded generator, so every run writes the same tree.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// Counts what the watcher reports: the files and bytes its walk found, and problems.
#[derive(Debug, Default)]
struct Counting {
    found: AtomicU64,
    found_bytes: AtomicU64,
    problems: AtomicU64,
}

impl Reporter for Counting {
    fn scan_started(&self, _root: &Path, files: u64, bytes: u64) {
        self.found.store(files, Ordering::Relaxed);
        self.found_bytes.store(bytes, Ordering::Relaxed);
    }
    fn problem(&self, problem: &Problem) {
        println!("problem: {problem}");
        self.problems.fetch_add(1, Ordering::Relaxed);
    }
}

/// Writes `n` files below `root`: `a{dir / 10}/b{dir % 10}/f{i}.bin`, 1,000 per directory. Total bytes.
fn write_tree(root: &Path, n: usize) -> u64 {
    let mut rng = Rng(0x5EED_1DE7);
    let mut total = 0;
    let mut buf = Vec::with_capacity(MAX_SIZE as usize);
    for i in 0..n {
        let d = i / FILES_PER_DIR;
        let dir: PathBuf = root.join(format!("a{:03}", d / 10)).join(format!("b{}", d % 10));
        if i % FILES_PER_DIR == 0 {
            std::fs::create_dir_all(&dir).unwrap();
        }
        let size = MIN_SIZE + rng.next() % (MAX_SIZE - MIN_SIZE + 1);
        buf.clear();
        buf.extend_from_slice(&(i as u64).to_le_bytes());
        while (buf.len() as u64) < size {
            buf.extend_from_slice(&rng.next().to_le_bytes());
        }
        buf.truncate(size as usize);
        std::fs::write(dir.join(format!("f{i:06}.bin")), &buf).unwrap();
        total += size;
    }
    total
}

#[tokio::main]
async fn main() {
    let mut files = 100_000usize;
    let mut version = CidVersion::V0;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--cid-version" {
            version = args.next().expect("--cid-version needs 0 or 1").parse().unwrap();
        } else {
            files = arg.parse().expect("FILES must be a number");
        }
    }

    let dir = tempfile::tempdir().unwrap();
    let t = Instant::now();
    let bytes = write_tree(dir.path(), files);
    let write_secs = t.elapsed().as_secs_f64();
    println!(
        "wrote {files} files ({:.1} MB) in {} directories in {write_secs:.2} s (page cache warm: just written)",
        bytes as f64 / 1e6,
        files.div_ceil(FILES_PER_DIR)
    );

    let store = Arc::new(MemoryPinStore::new(Arc::new(SystemClock)));
    let mut adapter = Adapter::new(store.clone(), AdapterConfig::default());
    let reporter = Arc::new(Counting::default());
    let options = WatchOptions {
        cid_version: version,
        ..WatchOptions::new("/tree")
    };
    let t = Instant::now();
    let mut watcher = DirWatcher::new(dir.path(), options, Arc::new(SystemClock), reporter.clone()).unwrap();
    let setup_secs = t.elapsed().as_secs_f64();

    // What `run` does per chunk (apply, then ack), until the watcher says its first pass is over. `run`
    // with a `Stop` would also rescan the whole tree on the way out (its drain), which is not the pass.
    let t = Instant::now();
    let (mut chunks, mut vfs_events, mut problems) = (0u64, 0u64, 0u64);
    while !watcher.first_pass_done() {
        let chunk = watcher.next_chunk().await.unwrap().expect("the watcher does not end");
        chunks += 1;
        problems += chunk.problems.len() as u64;
        let report = adapter.apply(chunk.batch_id, chunk.events).await.unwrap();
        watcher.ack().await.unwrap();
        vfs_events += report.vfs_events as u64;
        problems += report.problems.len() as u64;
    }
    let secs = t.elapsed().as_secs_f64();

    let metrics = store.metrics().await.unwrap();
    println!(
        "first pass (CIDv{version}): {files} files, {bytes} bytes ({:.1} MB) in {secs:.2} s: {:.0} files/s, \
         {:.1} MB/s ({chunks} batches, {vfs_events} VFS events, {problems} problems; watch setup {setup_secs:.3} s)",
        bytes as f64 / 1e6,
        files as f64 / secs,
        bytes as f64 / 1e6 / secs,
    );
    println!(
        "pins in store: {} ({} bytes)",
        metrics.total_pins, metrics.total_size_bytes
    );
    assert_eq!(reporter.found.load(Ordering::Relaxed), files as u64);
    assert_eq!(reporter.found_bytes.load(Ordering::Relaxed), bytes);
    assert_eq!(problems + reporter.problems.load(Ordering::Relaxed), 0);
    assert_eq!(metrics.total_pins, files as u64);
    assert_eq!(metrics.total_size_bytes, bytes);

    // Removing 100,000 files can take minutes on a busy disk: timed so a slow run is explained.
    drop(watcher);
    let t = Instant::now();
    dir.close().unwrap();
    println!("removed the tree in {:.2} s", t.elapsed().as_secs_f64());
}
