//! Integration tests of pin-store: one binary, many modules (keeps link time down with DataFusion).

mod common;
mod conformance;
mod crash;
mod durability;
mod sql;
