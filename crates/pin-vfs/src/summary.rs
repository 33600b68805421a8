//! What `pindex vfs` shows: mount points with their pins, bytes and most used paths.

use std::collections::BTreeMap;

use pin_core::{Cid, PinQuery, PinStore};

use crate::error::Result;

/// One path and how much its content was used.
#[derive(Debug, Clone, PartialEq)]
pub struct PathUsage {
    /// The VFS path.
    pub path: String,
    /// The content it shows.
    pub cid: Cid,
    /// Accesses of that content (through any path: pin-core keeps statistics per CID, not per path).
    pub accesses: u64,
    /// Bytes read of that content.
    pub bytes_read: u64,
}

/// One mount point.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MountSummary {
    /// The mount point.
    pub mount: String,
    /// Pins with a path under it.
    pub pins: u64,
    /// Paths under it.
    pub paths: u64,
    /// Bytes of those pins.
    pub bytes: u64,
    /// Accesses of those pins.
    pub accesses: u64,
    /// Bytes read of those pins.
    pub bytes_read: u64,
    /// Bytes written to those pins.
    pub bytes_written: u64,
    /// The most used paths, most accesses first.
    pub top_paths: Vec<PathUsage>,
}

/// Every mount point the store's pins name, in order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct VfsSummary {
    /// Per mount point.
    pub mounts: Vec<MountSummary>,
}

/// Scans the store's pins and groups those with VFS paths by mount point, keeping the `top` most used
/// paths of each. It reads every pin: pin-core has no per-mount aggregate to read instead.
pub async fn summarize(store: &dyn PinStore, top: usize) -> Result<VfsSummary> {
    let mut mounts: BTreeMap<String, MountSummary> = BTreeMap::new();
    let mut query = PinQuery {
        limit: 1000,
        ..PinQuery::default()
    };
    loop {
        let page = store.list(&query).await?;
        for view in &page.pins {
            let pin = &view.pin;
            if pin.vfs_paths.is_empty() {
                continue;
            }
            let mount = pin.mount.clone().unwrap_or_else(|| "/".to_owned());
            let m = mounts.entry(mount.clone()).or_insert_with(|| MountSummary {
                mount,
                ..MountSummary::default()
            });
            m.pins += 1;
            m.paths += pin.vfs_paths.len() as u64;
            m.bytes = m.bytes.saturating_add(pin.size_bytes);
            m.accesses += view.stats.access_count;
            m.bytes_read = m.bytes_read.saturating_add(view.stats.bytes_read);
            m.bytes_written = m.bytes_written.saturating_add(view.stats.bytes_written);
            for path in &pin.vfs_paths {
                m.top_paths.push(PathUsage {
                    path: path.clone(),
                    cid: pin.cid.clone(),
                    accesses: view.stats.access_count,
                    bytes_read: view.stats.bytes_read,
                });
            }
            if m.top_paths.len() > top.saturating_mul(4).max(64) {
                trim(&mut m.top_paths, top);
            }
        }
        match page.next {
            Some(next) => query.after = Some(next),
            None => break,
        }
    }
    let mut out: Vec<MountSummary> = mounts.into_values().collect();
    for m in &mut out {
        trim(&mut m.top_paths, top);
    }
    Ok(VfsSummary { mounts: out })
}

fn trim(paths: &mut Vec<PathUsage>, top: usize) {
    paths.sort_by(|a, b| b.accesses.cmp(&a.accesses).then_with(|| a.path.cmp(&b.path)));
    paths.truncate(top);
}
