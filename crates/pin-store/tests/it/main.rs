//! Integration tests of pin-store: one binary, many modules (keeps link time down with DataFusion).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod bulk;
mod common;
mod conformance;
mod crash;
mod durability;
mod listing;
mod runs;
mod sql;
