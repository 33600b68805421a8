use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use parking_lot::Mutex;
use pin_core::conformance::{Harness, run_all};
use pin_core::{ManualClock, PinStore};
use pin_store::{ParquetPinStore, StoreConfig};
use tempfile::TempDir;

/// Opens stores in temporary directories; `maintain` alternates flushes and compactions (or only flushes,
/// with every flush writing its new pins as a base run, when `runs` is set).
#[derive(Default)]
struct Parquet {
    dirs: Mutex<Vec<TempDir>>,
    last: Mutex<Option<PathBuf>>,
    stores: Mutex<Vec<Arc<ParquetPinStore>>>,
    round: Mutex<u32>,
    compact_always: bool,
    runs: bool,
}

impl Parquet {
    fn config(&self, path: &std::path::Path) -> StoreConfig {
        StoreConfig {
            run_min_pins: if self.runs {
                1
            } else {
                StoreConfig::new(path).run_min_pins
            },
            ..StoreConfig::new(path)
        }
    }
}

#[async_trait]
impl Harness for Parquet {
    async fn open(&self, clock: Arc<ManualClock>) -> Arc<dyn PinStore> {
        let dir = TempDir::new().expect("temp dir");
        let path = dir.path().to_owned();
        self.dirs.lock().push(dir);
        *self.last.lock() = Some(path.clone());
        let store = Arc::new(
            ParquetPinStore::open_with_clock(self.config(&path), clock)
                .await
                .expect("open"),
        );
        self.stores.lock().push(store.clone());
        store
    }

    async fn reopen(&self, store: Arc<dyn PinStore>, clock: Arc<ManualClock>) -> Option<Arc<dyn PinStore>> {
        let path = self.last.lock().clone()?;
        self.stores.lock().clear();
        drop(store);
        let reopened = ParquetPinStore::open_with_clock(self.config(&path), clock)
            .await
            .expect("reopen");
        Some(Arc::new(reopened))
    }

    async fn maintain(&self, _store: &Arc<dyn PinStore>) {
        let store = self.stores.lock().last().cloned().expect("a store is open");
        let mut round = self.round.lock().to_owned();
        round += 1;
        *self.round.lock() = round;
        if self.compact_always || (!self.runs && round.is_multiple_of(2)) {
            store.compact().await.expect("compact");
        } else {
            store.flush().await.expect("flush");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parquet_store_passes_the_conformance_suite() {
    let h = Parquet::default();
    let n = run_all(&h).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(n, pin_core::conformance::cases().len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parquet_store_passes_the_suite_when_every_write_is_compacted() {
    // Same suite, but each maintenance point compacts: every read then goes through the base segment.
    let h = Parquet {
        compact_always: true,
        ..Parquet::default()
    };
    run_all(&h).await.unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parquet_store_passes_the_suite_with_a_base_of_runs() {
    // Same suite, each maintenance point a flush that writes the new pins as a base run: reads then go
    // through several runs and the delta.
    let h = Parquet {
        runs: true,
        ..Parquet::default()
    };
    run_all(&h).await.unwrap_or_else(|e| panic!("{e}"));
}
