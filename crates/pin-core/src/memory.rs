//! An in-memory [`PinStore`]: the reference the conformance suite is written against, and a backend for
//! tests and for programs that need no persistence.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use async_trait::async_trait;
use parking_lot::Mutex;

use crate::cid::Cid;
use crate::error::Result;
use crate::event::{ApplyOutcome, EventBatch, EventKind};
use crate::fold::{Fragment, PinView};
use crate::metrics::{Metrics, MetricsDelta, MetricsState, RecentAccesses};
use crate::store::{AccessRecord, Clock, HistoryEntry, PinPage, PinQuery, PinStore};

/// A [`PinStore`] that keeps everything in memory. Nothing survives the process.
#[derive(Debug)]
pub struct MemoryPinStore {
    clock: Arc<dyn Clock>,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    seq: u64,
    pins: BTreeMap<Arc<[u8]>, Fragment>,
    history: HashMap<Arc<[u8]>, Vec<HistoryEntry>>,
    accesses: HashMap<Arc<[u8]>, Vec<AccessRecord>>,
    batch_ids: HashSet<String>,
    metrics: MetricsState,
    recent: RecentAccesses,
}

impl MemoryPinStore {
    /// An empty store reading time from `clock`.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            inner: Mutex::new(Inner::default()),
        }
    }
}

#[async_trait]
impl PinStore for MemoryPinStore {
    async fn apply(&self, batch: EventBatch) -> Result<ApplyOutcome> {
        batch.validate()?;
        let mut inner = self.inner.lock();
        if let Some(id) = &batch.id
            && inner.batch_ids.contains(id)
        {
            return Ok(ApplyOutcome::Duplicate);
        }
        let inner = &mut *inner;
        let mut delta = MetricsDelta::default();
        for event in &batch.events {
            inner.seq += 1;
            let seq = inner.seq;
            let Some(cid) = event.cid() else {
                if let EventKind::Vfs(op) = &event.kind {
                    inner.metrics.record_vfs(event.ts, op);
                }
                continue;
            };
            let key: Arc<[u8]> = cid.key().into();
            let fragment = inner.pins.entry(key.clone()).or_default();
            let before = fragment.summary();
            fragment.apply(event, seq);
            delta.pin_changed(before, fragment.summary());
            if let Some(h) = HistoryEntry::from_event(event, seq) {
                inner.history.entry(key.clone()).or_default().push(h);
            }
            if let EventKind::Access(a) = &event.kind {
                delta.accesses += 1;
                inner.recent.touch(&key, event.ts, &mut delta);
                inner
                    .accesses
                    .entry(key)
                    .or_default()
                    .push(AccessRecord::from_access(a, event.ts, seq));
            }
        }
        inner.metrics.apply(&delta);
        if let Some(id) = batch.id {
            inner.batch_ids.insert(id);
        }
        Ok(ApplyOutcome::Applied {
            events: batch.events.len(),
            seq: inner.seq,
        })
    }

    async fn get(&self, cid: &Cid) -> Result<Option<PinView>> {
        Ok(self.inner.lock().pins.get(cid.key()).and_then(Fragment::view))
    }

    async fn list(&self, query: &PinQuery) -> Result<PinPage> {
        use std::ops::Bound;
        query.validate()?;
        let inner = self.inner.lock();
        if query.order == crate::store::ListOrder::NewestFirst {
            let mut pins: Vec<PinView> = inner
                .pins
                .values()
                .filter_map(|f| f.view().filter(|v| query.filter.matches(v)))
                .collect();
            // Stable sort over key order: ties on created_at stay by ascending key.
            pins.sort_by_key(|v| std::cmp::Reverse(v.pin.created_at));
            pins.truncate(query.limit);
            return Ok(PinPage { pins, next: None });
        }
        let start = query
            .after
            .as_ref()
            .map_or(Bound::Unbounded, |c| Bound::Excluded(Arc::<[u8]>::from(c.key())));
        let mut pins = Vec::new();
        for fragment in inner.pins.range((start, Bound::Unbounded)).map(|(_, f)| f) {
            if pins.len() == query.limit {
                break;
            }
            if let Some(view) = fragment.view().filter(|v| query.filter.matches(v)) {
                pins.push(view);
            }
        }
        let next = (pins.len() == query.limit && query.limit > 0)
            .then(|| pins.last().map(|v| crate::store::Cursor::after(&v.pin.cid)))
            .flatten();
        Ok(PinPage { pins, next })
    }

    async fn metrics(&self) -> Result<Metrics> {
        Ok(self.inner.lock().metrics.report(self.clock.now()))
    }

    async fn history(&self, cid: &Cid, limit: usize) -> Result<Vec<HistoryEntry>> {
        let inner = self.inner.lock();
        Ok(inner
            .history
            .get(cid.key())
            .map(|h| h.iter().rev().take(limit).cloned().collect())
            .unwrap_or_default())
    }

    async fn accesses(&self, cid: &Cid, limit: usize) -> Result<Vec<AccessRecord>> {
        let inner = self.inner.lock();
        Ok(inner
            .accesses
            .get(cid.key())
            .map(|h| h.iter().rev().take(limit).cloned().collect())
            .unwrap_or_default())
    }
}
