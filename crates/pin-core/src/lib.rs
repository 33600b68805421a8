//! Pindex's domain model: content identifiers, pins, tiers, events, per-pin statistics and the
//! [`PinStore`] trait every backend implements.
//!
//! This crate does no I/O and depends on neither tokio nor DataFusion. The fold algebra in [`fold`] is
//! what makes a pin's state the same whichever layers of a store its events ended up in.

mod cid;
mod error;
mod event;
pub mod fold;
pub mod interchange;
mod memory;
pub mod metrics;
mod model;
pub mod report;
mod store;
pub mod vfs;

#[cfg(feature = "conformance")]
pub mod conformance;

pub use crate::cid::{Cid, CidForm, hex};
pub use crate::error::{Error, Result};
pub use crate::event::{Access, ApplyOutcome, Event, EventBatch, EventKind};
pub use crate::fold::{Fragment, Patch, PinSummary, PinView};
pub use crate::memory::MemoryPinStore;
pub use crate::metrics::{Metrics, MetricsDelta, MetricsState, RecentAccesses, TierTotals};
pub use crate::model::{
    AccessOp, HOTNESS_HALF_LIFE_MS, Integrity, MAX_META_KEYS, MAX_NAME_BYTES, Pattern, Pin, PinStats, PinStatus,
    PinType, Tier, Timestamp, decay, parse_size,
};
pub use crate::store::{
    AccessRecord, Clock, Cursor, HistoryEntry, ListOrder, ManualClock, NameMatch, PinFilter, PinPage, PinQuery,
    PinStore, SystemClock,
};
pub use crate::vfs::{MountIo, OpCounter, VfsOpKind, VfsOperation, VfsTotals};

#[cfg(all(test, feature = "conformance"))]
mod conformance_memory {
    use std::sync::Arc;

    use async_trait::async_trait;

    use crate::conformance::{Harness, run_all};
    use crate::{ManualClock, MemoryPinStore, PinStore};

    struct Memory;

    #[async_trait]
    impl Harness for Memory {
        async fn open(&self, clock: Arc<ManualClock>) -> Arc<dyn PinStore> {
            Arc::new(MemoryPinStore::new(clock))
        }
        async fn reopen(&self, _: Arc<dyn PinStore>, _: Arc<ManualClock>) -> Option<Arc<dyn PinStore>> {
            None
        }
    }

    #[test]
    fn memory_store_passes_the_conformance_suite() {
        let n = futures::executor::block_on(run_all(&Memory)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(n, crate::conformance::cases().len());
    }
}
