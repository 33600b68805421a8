//! Pindex over HTTP: the IPFS Pinning Service API v1.0.0 (`/pins`), the Pindex JSON API (`/v1`), Prometheus
//! metrics (`/metrics`) and a dashboard (`/`), as one axum [`Router`] that a program mounts in its own server
//! or runs with [`serve`].
//!
//! The crate talks to the store only through `Arc<dyn PinStore>`. Requests read the store's O(1)
//! [`metrics`](pin_core::PinStore::metrics), point lookups and bounded listings; everything that needs a full pass
//! (VFS mount points, analytics, the plan, the dashboard's series) comes from [`Reports`] that a
//! [`ReportSource`] computes in the background ([`ApiState::run_reports`]), so no request waits on a scan.
//!
//! ```no_run
//! use std::sync::Arc;
//! use pin_api::{ApiConfig, ApiState, ScanReports, router, serve};
//! use pin_core::{MemoryPinStore, PinStore, SystemClock};
//!
//! # async fn run() -> pin_api::Result<()> {
//! let store: Arc<dyn PinStore> = Arc::new(MemoryPinStore::new(Arc::new(SystemClock)));
//! let reports = Arc::new(ScanReports::new(store.clone(), pin_tiers::TierTable::default(), 10));
//! let mut config = ApiConfig::new("secret-token", vec!["/ip4/203.0.113.1/tcp/4001/p2p/QmPeer".into()]);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! config.open_reads = pin_api::reads_open_by_default(&listener.local_addr()?);
//! let limits = config.limits;
//! let state = ApiState::new(store, Arc::new(SystemClock), reports, config)?;
//! let (stop_tx, stop_rx) = tokio::sync::watch::channel(());
//! let background = state.clone();
//! let mut stop_reports = stop_rx.clone();
//! tokio::spawn(async move { background.run_reports(async move { let _ = stop_reports.changed().await; }).await });
//! let mut stop_server = stop_rx;
//! serve(listener, router(state), limits, async move { let _ = stop_server.changed().await; }).await?;
//! # drop(stop_tx);
//! # Ok(())
//! # }
//! ```
//!
//! # Access
//!
//! Every Pinning Service API call and every write (`POST /v1/events`) needs `Authorization: Bearer <token>`.
//! The reads (`GET /v1/...`, `GET /metrics`, `GET /`) need it too unless [`ApiConfig::open_reads`] is set,
//! which [`reads_open_by_default`] advises only for loopback listeners.
//!
//! No endpoint runs SQL or touches the filesystem. `docs/api.md` documents every endpoint.

mod config;
mod dashboard;
mod error;
mod prom;
mod psa;
mod reports;
mod serve;
mod state;
mod v1;

use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tower::limit::GlobalConcurrencyLimitLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

pub use crate::config::{ApiConfig, Limits, MAX_CID_FILTER, MAX_LIMIT, MAX_MULTIADDRS, reads_open_by_default};
pub use crate::error::{Error, Result};
pub use crate::prom::StorageGauges;
pub use crate::reports::{
    AnalyticsReport, AnalyticsSummary, DEFAULT_ACCESS_BUDGET, DashboardReport, HourCount, MAX_PLAN_MOVES,
    MAX_SERIES_POINTS, NeverRead, PlanReport, ReadShares, ReportBuilder, ReportSource, Reports, ScanReports,
    SeriesPoint, VfsActivity, VfsReport,
};
// Report types the command line prints too, from the crates that own them.
pub use crate::serve::serve;
pub use crate::state::{ApiState, ReportStatus};
pub use pin_core::report::{MountSummary, PathUsage, TopPin};
pub use pin_tiers::{MoveRow, PlanTotals, TierSummary};

use crate::error::ApiError;

/// Answers 401 unless the request carries `Authorization: Bearer <token>` with the configured token.
async fn require_token(State(state): State<ApiState>, req: Request, next: Next) -> Response {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    match presented {
        Some(token) if state.token_matches(token.as_bytes()) => next.run(req).await,
        _ => ApiError::unauthorized().into_response(),
    }
}

/// Gives the bare answers of the limit layers (413 from the body limit, 408 from the timeout) the JSON
/// error body every other answer has.
async fn json_errors(req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return resp;
    }
    match resp.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
            "the request body is larger than this endpoint accepts",
        )
        .into_response(),
        StatusCode::REQUEST_TIMEOUT => ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "REQUEST_TIMEOUT",
            "the request took longer than the server allows",
        )
        .into_response(),
        StatusCode::METHOD_NOT_ALLOWED => ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
            "method not allowed here",
        )
        .into_response(),
        _ => resp,
    }
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint; see docs/api.md")
}

/// The whole API as one router: `/pins`, `/v1/...`, `/metrics` and `/`, with authentication, body and
/// time limits, a global concurrency limit and request metrics.
pub fn router(state: ApiState) -> Router {
    let limits = state.config().limits;
    let auth = || middleware::from_fn_with_state(state.clone(), require_token);
    let pinning = Router::new()
        .route("/pins", get(psa::list).post(psa::add))
        .route(
            "/pins/{requestid}",
            get(psa::get_one).post(psa::replace).delete(psa::remove),
        )
        .route_layer(auth())
        .layer(RequestBodyLimitLayer::new(limits.max_body_bytes));
    let writes = Router::new()
        .route("/v1/events", post(v1::events))
        .route_layer(auth())
        .layer(RequestBodyLimitLayer::new(limits.max_events_body_bytes));
    let mut reads = Router::new()
        .route("/v1/metrics", get(v1::metrics))
        .route("/v1/pins", get(v1::pins))
        .route("/v1/pins/{cid}", get(v1::pin))
        .route("/v1/vfs", get(v1::vfs))
        .route("/v1/analytics", get(v1::analytics))
        .route("/v1/plan", get(v1::plan))
        .route("/metrics", get(v1::prometheus))
        .route("/", get(dashboard::page));
    if !state.config().open_reads {
        reads = reads.route_layer(auth());
    }
    let reads = reads.layer(RequestBodyLimitLayer::new(limits.max_body_bytes));
    Router::new()
        .merge(pinning)
        .merge(writes)
        .merge(reads)
        .fallback(not_found)
        // The per-route limits above replace axum's default of 2 MiB.
        .layer(DefaultBodyLimit::disable())
        .layer(GlobalConcurrencyLimitLayer::new(limits.max_concurrent_requests))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            limits.request_timeout.max(Duration::from_millis(1)),
        ))
        .layer(middleware::from_fn(json_errors))
        .layer(middleware::from_fn_with_state(state.clone(), prom::track))
        .with_state(state)
}
