//! What `pindex vfs` shows: mount points with their pins, bytes and most used paths.

use pin_core::report::{MountSummaries, MountSummary};
use pin_core::{PinQuery, PinStore};

use crate::error::Result;

/// Every mount point the store's pins name, in order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct VfsSummary {
    /// Per mount point.
    pub mounts: Vec<MountSummary>,
}

/// Scans the store's pins and groups those with VFS paths by mount point, keeping the `top` most used
/// paths of each. It reads every pin: pin-core has no per-mount aggregate to read instead.
pub async fn summarize(store: &dyn PinStore, top: usize) -> Result<VfsSummary> {
    let mut mounts = MountSummaries::new(top);
    let mut query = PinQuery {
        limit: 1000,
        ..PinQuery::default()
    };
    loop {
        let page = store.list(&query).await?;
        for view in &page.pins {
            mounts.add(view);
        }
        match page.next {
            Some(next) => query.after = Some(next),
            None => break,
        }
    }
    Ok(VfsSummary {
        mounts: mounts.finish(),
    })
}
