//! Measures journal replay into the in-memory store: writes a journal of N operations (default 1,000,000;
//! mostly reads of 1,000 files) to a temp dir and replays it.
//!
//! `cargo run --release -p pin-vfs --example replay_throughput -- [N]`
#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Instant;

use pin_core::{ManualClock, MemoryPinStore, Timestamp};
use pin_vfs::{
    Adapter, AdapterConfig, CidVersion, JournalOptions, JournalSource, JournalWriter, MemoryCheckpoints,
    SilentReporter, Stop, VfsEvent, VfsOp, cid_of_bytes, run,
};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vfs.ndjson");
    let mut w = JournalWriter::open(&path, "throughput").unwrap();
    let files = 1000;
    for i in 0..n {
        let f = i % files;
        let p = format!("/m/dir{}/file{f}.bin", f % 10);
        let e = if i < files {
            let c = cid_of_bytes(format!("content {f}").as_bytes(), CidVersion::V0);
            VfsEvent::new(VfsOp::Create, "/m", p, Timestamp(i as i64))
                .with_cid(c.to_pin_cid().unwrap())
                .with_size(4096)
        } else {
            let mut e = VfsEvent::new(
                VfsOp::Read {
                    offset: Some((i as u64 % 16) * 4096),
                    length: Some(4096),
                },
                "/m",
                p,
                Timestamp(i as i64),
            );
            e.latency_us = Some(120);
            e
        };
        w.append(&e).unwrap();
    }
    w.sync().unwrap();
    let bytes = std::fs::metadata(&path).unwrap().len();
    let store = Arc::new(MemoryPinStore::new(Arc::new(ManualClock::new(Timestamp(0)))));
    let mut source = JournalSource::new(&path, Arc::new(MemoryCheckpoints::new()), JournalOptions::default());
    let mut adapter = Adapter::new(store, AdapterConfig::default());
    let t = Instant::now();
    let summary = run(&mut source, &mut adapter, &Stop::new(), &SilentReporter)
        .await
        .unwrap();
    let secs = t.elapsed().as_secs_f64();
    println!(
        "replayed {} operations ({:.1} MB) in {secs:.2} s: {:.0} operations/s, {} batches",
        summary.vfs_events,
        bytes as f64 / 1e6,
        summary.vfs_events as f64 / secs,
        summary.chunks
    );
}
