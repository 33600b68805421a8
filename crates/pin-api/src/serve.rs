//! Serving a router over HTTP/1.1 with bounded heads, connections and a graceful shutdown.
//!
//! `axum::serve` does not expose hyper's limits, so this is a small accept loop over hyper's HTTP/1
//! connection builder: request heads are bounded in size and in the time to send them (a slow client
//! cannot hold a connection open by trickling headers), open connections are bounded, and shutdown stops
//! accepting, lets in-flight requests finish (up to a grace period) and closes idle connections.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::config::Limits;
use crate::error::Result;

/// Serves `router` on `listener` until `shutdown` resolves, then drains: no new connection is accepted,
/// requests in flight finish (for at most `limits.shutdown_grace`), idle keep-alive connections close.
///
/// Heads larger than `limits.max_header_bytes` or slower than `limits.header_read_timeout` are refused;
/// connections beyond `limits.max_connections` are closed at once. Body size, time per request and
/// concurrency are bounded by the router's own layers (see [`router`](crate::router)).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<()> {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_header_bytes.max(8192))
        .keep_alive(true);
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::warn!(%peer, limit = limits.max_connections, "too many connections; closing this one");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(router.clone());
        let conn = http.serve_connection(TokioIo::new(stream), service);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            grace = ?limits.shutdown_grace,
            "requests still running after the shutdown grace period; leaving them"
        );
    }
    Ok(())
}
