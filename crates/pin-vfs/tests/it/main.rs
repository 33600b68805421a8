//! Integration tests of pin-vfs, run against `pin_core::MemoryPinStore` in temp dirs.
#![allow(clippy::unwrap_used)]

mod channel;
mod cid;
mod ipfs_kit;
mod journal;
mod paths;
mod watch;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use pin_core::{Cid, ManualClock, MemoryPinStore, PinStore, PinView, Timestamp};
use pin_vfs::{CidVersion, cid_of_bytes};

/// An empty in-memory store on a manual clock.
pub(crate) fn store() -> Arc<dyn PinStore> {
    Arc::new(MemoryPinStore::new(Arc::new(ManualClock::new(Timestamp(
        1_700_000_000_000,
    )))))
}

/// The CIDv0 of `text`, a convenient distinct valid CID.
pub(crate) fn cid(text: &str) -> Cid {
    cid_of_bytes(text.as_bytes(), CidVersion::V0).to_pin_cid().unwrap()
}

/// The pin of `cid`; panics if there is none.
pub(crate) async fn pin(store: &Arc<dyn PinStore>, cid: &Cid) -> PinView {
    store
        .get(cid)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no pin for {cid}"))
}

/// The VFS paths of `cid`'s pin, empty if there is no pin.
pub(crate) async fn paths(store: &Arc<dyn PinStore>, cid: &Cid) -> Vec<String> {
    store
        .get(cid)
        .await
        .unwrap()
        .map(|v| v.pin.vfs_paths.into_iter().collect())
        .unwrap_or_default()
}

/// Polls `cond` every 20 ms until it holds; fails after `secs` seconds.
pub(crate) async fn wait_until<F, Fut>(secs: u64, what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while !cond().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
