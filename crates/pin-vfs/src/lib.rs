//! Pindex's virtual filesystem sources: from filesystem events to pins, exactly once.
//!
//! - [`VfsEvent`]: one VFS operation (create, write, read, truncate, delete, rename, mount, unmount,
//!   metadata) with its path, mount point, CID where known, size, time and source position.
//! - [`EventSource`]: the one trait behind every source: [`JournalSource`] (Pindex's NDJSON journal, see
//!   `docs/formats.md`), [`IpfsKitSource`] (ipfs_kit_py's `journal_*.json`), [`DirWatcher`] (a live
//!   directory as a mount point) and [`ChannelSource`] (events from the embedding program).
//! - [`Adapter`]: keeps a [`PathIndex`] and turns VFS events into pin-core events, applied in batches to any
//!   `Arc<dyn PinStore>`; [`run`] feeds a source to it until the source ends or a [`Stop`] is requested.
//! - [`CidBuilder`], [`cid_of_file`]: CIDs exactly as `ipfs add` (and `ipfs add --cid-version 1`) computes
//!   them.
//! - [`summarize`]: mount points with their pins, bytes and most used paths.
//!
//! # Entry points for the command line
//!
//! - `pindex watch DIR --mount NAME --cid-version V`: [`Adapter::load_index`], then [`DirWatcher::new`] with
//!   [`WatchOptions`], [`DirWatcher::expect_paths`] with the index's paths of the mount, and [`run`] until
//!   Ctrl-C calls [`Stop::stop`]. Before `run` returns, the watcher rescans the directory once against what it
//!   recorded, so every change made before Ctrl-C is flushed; a Ctrl-C during the first pass ends at once
//!   (the next start does the pass again).
//! - `pindex vfs replay JOURNAL... [--follow] [--format F]`: [`replay_source`] with a [`DirCheckpoints`]
//!   under the data directory, then [`run`].
//! - `pindex cid FILE... [--cid-version V]`: [`cid_of_file`] (its `Display` is what `ipfs add -Q` prints).
//! - `pindex vfs`: [`summarize`] for mounts and paths, and the store's metrics (`vfs_last_day`) for the
//!   operations of the last day.
//!
//! # Exactly once
//!
//! Journal sources cut chunks at line (or entry) boundaries and give each a batch id derived from the
//! journal and the chunk's content; pin-core's store remembers applied batch ids and answers a re-delivered
//! one with `Duplicate`. A checkpoint ([`CheckpointStore`]) records the chunk in flight before it is handed
//! out and the position after it is applied, so a crash at any point re-delivers exactly the same chunk
//! (checked byte for byte against its id), however much the journal grew meanwhile. After a `Duplicate`
//! the adapter reloads its path index from the store, since translating a batch twice can leave the index
//! where the store is not.
//!
//! The one gap is a lost checkpoint (deleted, or a replay on another machine) of a journal that grew after
//! a chunk ending at its then-end was applied: cut again from scratch, that chunk spans more lines, gets
//! another id and is applied a second time. pin-core offers no way to ask which batches it holds.
//!
//! # What reaches the store
//!
//! Every operation, failed ones included, is handed to the store as a `pin_core::VfsOperation` event: the
//! store logs it (`vfs_events`) and counts it per kind and mount for the last day. Successful operations
//! also become pin events: reads and writes are accesses (with path and latency); creates, writes with new
//! content, renames and deletes change pins. pin-core has no event that adds or removes one VFS path of a
//! pin, so for those the adapter reads the pin and upserts it with its path list changed. The adapter also
//! keeps the totals of its own run in memory ([`OpStats`]).
//!
//! This crate depends on pin-core only among the workspace crates and never writes Parquet.

mod adapter;
mod error;
mod event;
mod path_index;
mod source;
mod summary;
mod unixfs;

pub use crate::adapter::{Adapter, AdapterConfig, ApplyReport, MountIo, OpCounter, OpStats};
pub use crate::error::{Error, Result};
pub use crate::event::{OpKind, Problem, SourcePos, VfsEvent, VfsOp, is_under, normalize_path};
pub use crate::path_index::{PathEntry, PathIndex};
pub use crate::source::channel::{ChannelSource, VfsSender, channel};
pub use crate::source::checkpoint::{CheckpointStore, DirCheckpoints, MemoryCheckpoints};
pub use crate::source::ipfs_kit::{IpfsKitOptions, IpfsKitSource, is_ipfs_kit_journal};
pub use crate::source::journal::{
    JOURNAL_FORMAT, JournalLine, JournalOptions, JournalSource, JournalWriter, format_line, looks_like_ndjson,
    parse_line,
};
pub use crate::source::watch::{DirWatcher, WatchOptions};
pub use crate::source::{
    Chunk, EventSource, JournalFormat, LogReporter, Reporter, RunSummary, Sequence, SilentReporter, Stop,
    replay_source, run,
};
pub use crate::summary::{VfsSummary, summarize};
pub use crate::unixfs::{
    CHUNK_SIZE, CidBuilder, CidVersion, ContentId, HASH_ATTEMPTS, MAX_LINKS, cid_of_bytes, cid_of_file, cid_of_reader,
};
pub use pin_core::report::{MountSummary, PathUsage};

/// The first 16 hex digits of a digest, for ids and file names.
pub(crate) fn hex16(digest: &[u8]) -> String {
    pin_core::hex(&digest[..digest.len().min(8)])
}
