//! The integration tests of pin-tiers: one binary, one module per area.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Helpers may unwrap: a panic there is the failure report.

mod classify;
mod plan;
mod predict;
mod sim;
mod tiers;
mod trace;
