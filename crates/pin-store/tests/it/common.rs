use std::path::Path;
use std::sync::Arc;

use pin_core::conformance::{T0, test_cid, test_pin};
use pin_core::{Access, AccessOp, Event, EventBatch, EventKind, ManualClock, Tier, Timestamp};
use pin_store::{ParquetPinStore, StoreConfig};

pub(crate) fn config(dir: &Path) -> StoreConfig {
    StoreConfig {
        flush_events: 1_000_000,
        ..StoreConfig::new(dir)
    }
}

pub(crate) async fn open(dir: &Path) -> ParquetPinStore {
    ParquetPinStore::open_with_clock(config(dir), Arc::new(ManualClock::new(T0)))
        .await
        .expect("open")
}

pub(crate) fn upsert(i: u64, tier: Tier, size: u64) -> Event {
    Event {
        ts: T0,
        kind: EventKind::Upsert(Box::new(test_pin(i, tier, size))),
    }
}

pub(crate) fn access(i: u64, at: Timestamp) -> Event {
    Event {
        ts: at,
        kind: EventKind::Access(Access {
            cid: test_cid(i),
            op: AccessOp::Read,
            offset: Some(0),
            length: Some(100),
            tier: Some(Tier::Ssd),
            vfs_path: None,
            latency_us: Some(50),
        }),
    }
}

pub(crate) fn batch(events: Vec<Event>) -> EventBatch {
    EventBatch::new(events)
}
