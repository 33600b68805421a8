//! Newest-first listings (the Pinning Service API's order) without a scan.
//!
//! The answer is the best `limit` pins by `(created_at desc, key asc)` among those matching a filter. Three
//! kinds of pin can be in it, each found from an ordered candidate list whose walk stops as soon as no
//! later candidate can make the answer:
//!
//! - pins a delta layer holds whole: the snapshot's [`NewestIndex`], whose creation times are upper bounds
//!   (a pin upserted again keeps an older creation time from the base);
//! - base pins, changed by a status or tier patch or not at all: [`BaseTop::newest`], the newest pins of
//!   the base over all its runs, recorded as each run was written; exact, since creation times in the base
//!   are final.
//!
//! Candidates are resolved to their merged view (base lookup by bloom filter, then the delta layers) in
//! small batches. When the base's list runs out before the answer is certain (deep pages, or a filter that
//! rejects most pins), the caller falls back to the sorted DataFusion listing.
//!
//! [`BaseTop::newest`]: crate::manifest::BaseTop::newest

use std::cmp::{Ordering, Reverse};
use std::collections::HashSet;

use pin_core::{Fragment, PinFilter, PinView};

use crate::engine::{Key, Layer, ParquetPinStore, Snapshot};
use crate::error::Result;
use crate::segment::unhex;

/// `(Reverse(created_at ms), key)`: iterated in order, newest first, ties by ascending key.
pub(crate) type NewestIndex = imbl::OrdSet<(Reverse<i64>, Key)>;

/// Candidates resolved per base lookup.
const BATCH: usize = 64;

/// The index of the pins `layer` holds whole.
pub(crate) fn index_of(layer: &Layer) -> NewestIndex {
    layer
        .iter()
        .filter_map(|(k, f)| f.pin.as_ref().map(|p| (Reverse(p.created_at.0), k.clone())))
        .collect()
}

/// `(created, key)` in listing order: newer first, then the smaller key.
fn order(a: (i64, &[u8]), b: (i64, &[u8])) -> Ordering {
    b.0.cmp(&a.0).then_with(|| a.1.cmp(b.1))
}

/// The best `limit` views seen so far, in listing order.
struct Best {
    limit: usize,
    views: Vec<PinView>,
}

impl Best {
    /// Whether a pin created at `created` with `key` would enter (or an unresolved candidate whose creation
    /// time is at most `created` might).
    fn open_to(&self, created: i64, key: &[u8]) -> bool {
        self.views.len() < self.limit
            || self
                .views
                .last()
                .is_some_and(|w| order((created, key), (w.pin.created_at.0, w.pin.cid.key())) == Ordering::Less)
    }

    fn offer(&mut self, v: PinView) {
        let at = self.views.partition_point(|w| {
            order(
                (w.pin.created_at.0, w.pin.cid.key()),
                (v.pin.created_at.0, v.pin.cid.key()),
            ) == Ordering::Less
        });
        self.views.insert(at, v);
        self.views.truncate(self.limit);
    }
}

impl ParquetPinStore {
    /// The newest-first page of `filter`, or `None` when the recorded lists cannot answer for certain.
    pub(crate) async fn newest_first(&self, filter: &PinFilter, limit: usize) -> Result<Option<Vec<PinView>>> {
        let snap = self.snapshot();
        let mut best = Best {
            limit,
            views: Vec::new(),
        };
        if limit == 0 {
            return Ok(Some(Vec::new()));
        }
        let before = filter.created_before.map(|t| t.0);
        let after = filter.created_after.map(|t| t.0);
        let mut seen: HashSet<Key> = HashSet::new();
        let mut batch: Vec<Key> = Vec::new();

        // Pins the delta layers hold whole. An entry at or after `before` is still a candidate when the
        // base may hold an older creation time for its key (the index holds upper bounds); without a base
        // the index is exact and such entries are skipped.
        for (Reverse(created), key) in &snap.newest {
            if after.is_some_and(|a| *created <= a) || !best.open_to(*created, key) {
                break;
            }
            if before.is_some_and(|b| *created >= b) && snap.base.is_empty() {
                continue;
            }
            if seen.insert(key.clone()) {
                batch.push(key.clone());
                if batch.len() == BATCH {
                    self.resolve(&snap, &mut batch, filter, &mut best).await?;
                }
            }
        }
        self.resolve(&snap, &mut batch, filter, &mut best).await?;

        // Base pins the delta does not hold whole.
        if snap.base.is_empty() {
            return Ok(Some(best.views));
        }
        // Manifests written before the list existed cannot answer.
        let Some((top, pins)) = snap.manifest.base_top.as_ref().and_then(|t| Some((t, t.pins?))) else {
            return Ok(None);
        };
        let whole_in_delta = |key: &[u8]| {
            snap.mem.get(key).is_some_and(|f| f.pin.is_some()) || snap.flushed.get(key).is_some_and(|f| f.pin.is_some())
        };
        let mut exhausted = true;
        for (key_hex, created) in &top.newest {
            if before.is_some_and(|b| *created >= b) {
                continue;
            }
            let Some(key) = unhex(key_hex).map(Key::from) else {
                return Ok(None);
            };
            if after.is_some_and(|a| *created <= a) || !best.open_to(*created, &key) {
                exhausted = false;
                break;
            }
            if whole_in_delta(&key) || !seen.insert(key.clone()) {
                continue;
            }
            batch.push(key);
            if batch.len() == BATCH {
                self.resolve(&snap, &mut batch, filter, &mut best).await?;
            }
        }
        self.resolve(&snap, &mut batch, filter, &mut best).await?;
        // The walk stopped on a pin that cannot enter, so no pin after it can; or it ran through a list
        // that holds every pin of the base.
        let complete = !exhausted || top.newest.len() as u64 >= pins;
        Ok(complete.then_some(best.views))
    }

    /// Resolves `batch` to merged views and offers those that match.
    async fn resolve(&self, snap: &Snapshot, batch: &mut Vec<Key>, filter: &PinFilter, best: &mut Best) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let refs: Vec<&[u8]> = batch.iter().map(|k| &**k).collect();
        let from_base = snap.base.lookup(&refs).await?;
        for key in batch.drain(..) {
            let mut f: Fragment = from_base.get(&key).cloned().unwrap_or_default();
            if let Some(d) = snap.flushed.get(&key) {
                f.merge(d);
            }
            if let Some(m) = snap.mem.get(&key) {
                f.merge(m);
            }
            if let Some(v) = f.view().filter(|v| filter.matches(v)) {
                best.offer(v);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing_order_is_newest_first_then_smaller_key() {
        assert_eq!(order((5, b"b"), (4, b"a")), Ordering::Less);
        assert_eq!(order((5, b"a"), (5, b"b")), Ordering::Less);
        assert_eq!(order((5, b"a"), (5, b"a")), Ordering::Equal);
    }
}
