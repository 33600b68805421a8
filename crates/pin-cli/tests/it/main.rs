//! The `pindex` binary, run as an operator would, against temporary data directories.
//!
//! One integration-test binary with modules (see STYLE.md). Every test makes its own data directory and
//! gives explicit event times where the result depends on them.
#![allow(clippy::unwrap_used)]

mod common;
mod formats;
mod ingest;
mod listing;
mod record;
mod serve;
mod store;
mod tiers;
mod vfs;
