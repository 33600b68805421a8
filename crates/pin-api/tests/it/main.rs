//! pin-api's one integration-test binary: hermetic router tests (`MemoryPinStore`, `ManualClock`,
//! `tower::ServiceExt::oneshot`), plus servers on 127.0.0.1 for `serve` and the browser test.
#![allow(clippy::unwrap_used)]

mod browser;
mod common;
mod dashboard;
mod exposition;
mod json_api;
mod pinning;
mod server;
