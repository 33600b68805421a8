//! Pindex's durable pin store: a [`PinStore`](pin_core::PinStore) on a local write-ahead log and immutable
//! Parquet segments in any `object_store`, with DataFusion for SQL.
//!
//! See `docs/ARCHITECTURE.md` and `docs/format.md` for the layout and its guarantees.

mod codec;
mod engine;
mod error;
mod listing;
mod lock;
mod manifest;
mod merge;
mod newest;
mod query;
mod segment;
mod wal;

pub use crate::engine::bulk::{BulkLoad, BulkReport};
pub use crate::engine::{NoReporter, ParquetPinStore, Reporter, StoreConfig, StoreStatus, VacuumReport};
pub use crate::error::{Error, Result};
pub use crate::listing::{Chunks, ExportTable, PinChunks, PinScan, PinSort, SortCursor, SortedPins, SortedQuery};
pub use crate::manifest::{BaseTop, Manifest, SegmentMeta};
pub use datafusion;
