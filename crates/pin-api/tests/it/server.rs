//! `serve` on a real socket (127.0.0.1, port 0): limits on heads, time per request, graceful shutdown.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::http::StatusCode;
use pin_api::{ApiConfig, ApiState, Limits, ScanReports, router, serve};
use pin_core::conformance::T0;
use pin_core::{
    AccessRecord, ApplyOutcome, Cid, EventBatch, HistoryEntry, ManualClock, MemoryPinStore, Metrics, PinPage, PinQuery,
    PinStore, PinView,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::common::{DELEGATE, TOKEN};

/// A store whose `metrics` takes `delay`, to hold a request in flight.
#[derive(Debug)]
struct SlowStore {
    inner: MemoryPinStore,
    delay: Duration,
}

#[async_trait]
impl PinStore for SlowStore {
    async fn apply(&self, batch: EventBatch) -> pin_core::Result<ApplyOutcome> {
        self.inner.apply(batch).await
    }
    async fn get(&self, cid: &Cid) -> pin_core::Result<Option<PinView>> {
        self.inner.get(cid).await
    }
    async fn list(&self, query: &PinQuery) -> pin_core::Result<PinPage> {
        self.inner.list(query).await
    }
    async fn metrics(&self) -> pin_core::Result<Metrics> {
        tokio::time::sleep(self.delay).await;
        self.inner.metrics().await
    }
    async fn history(&self, cid: &Cid, limit: usize) -> pin_core::Result<Vec<HistoryEntry>> {
        self.inner.history(cid, limit).await
    }
    async fn accesses(&self, cid: &Cid, limit: usize) -> pin_core::Result<Vec<AccessRecord>> {
        self.inner.accesses(cid, limit).await
    }
}

fn slow_state(delay: Duration, adjust: impl FnOnce(&mut ApiConfig)) -> ApiState {
    let clock = Arc::new(ManualClock::new(T0));
    let store: Arc<dyn PinStore> = Arc::new(SlowStore {
        inner: MemoryPinStore::new(clock.clone()),
        delay,
    });
    let mut config = ApiConfig::new(TOKEN, vec![DELEGATE.to_owned()]);
    config.open_reads = true;
    adjust(&mut config);
    let reports = Arc::new(ScanReports::new(store.clone(), pin_tiers::TierTable::default(), 5));
    ApiState::new(store, clock, reports, config).expect("valid config")
}

/// One HTTP/1.1 request on a fresh connection; the status code, or `None` if the connection failed.
pub(crate) async fn raw_get(addr: std::net::SocketAddr, path: &str, extra_headers: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(addr).await.ok()?;
    let req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra_headers}Connection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.ok()?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let code = text.split(' ').nth(1)?.parse().ok()?;
    Some((code, text))
}

#[tokio::test]
async fn serve_on_127_0_0_1_drains_requests_in_flight_on_shutdown() {
    let state = slow_state(Duration::from_millis(400), |_| {});
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(
        listener,
        router(state.clone()),
        state.config().limits,
        async move {
            let _ = stopped.await;
        },
    ));
    let in_flight = tokio::spawn(raw_get(addr, "/v1/metrics", ""));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let _ = stop.send(());
    let (code, body) = in_flight.await.unwrap().expect("the request in flight is answered");
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("\"total_pins\":0"), "{body}");
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("serve returns after draining")
        .unwrap()
        .unwrap();
    assert!(TcpStream::connect(addr).await.is_err(), "no longer listening");
}

#[tokio::test]
async fn serve_on_127_0_0_1_refuses_heads_over_the_limit() {
    let state = slow_state(Duration::ZERO, |c| c.limits.max_header_bytes = 8192);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(
        listener,
        router(state.clone()),
        state.config().limits,
        async move {
            let _ = stopped.await;
        },
    ));
    let (code, _) = raw_get(addr, "/v1/metrics", "").await.unwrap();
    assert_eq!(code, 200);
    let big = format!("X-Filler: {}\r\n", "a".repeat(20_000));
    let answer = raw_get(addr, "/v1/metrics", &big).await;
    assert!(
        answer.as_ref().is_none_or(|(code, _)| *code == 431),
        "a 20 kB head is refused: {answer:?}"
    );
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_request_over_the_time_limit_is_408() {
    use tower::ServiceExt;
    let state = slow_state(Duration::from_millis(500), |c| {
        c.limits = Limits {
            request_timeout: Duration::from_millis(50),
            ..Limits::default()
        };
    });
    let req = axum::http::Request::get("/v1/metrics")
        .body(axum::body::Body::empty())
        .unwrap();
    let resp = router(state).oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::REQUEST_TIMEOUT);
    let body = axum::body::to_bytes(resp.into_body(), 1 << 16).await.unwrap();
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["error"]["reason"], "REQUEST_TIMEOUT");
}
