//! The state every handler shares: the store, the clock, the settings, the latest reports.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::RwLock;
use pin_core::{Clock, ListOrder, PinQuery, PinStore, Timestamp};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::ApiConfig;
use crate::error::Result;
use crate::prom::{Prom, StorageGauges};
use crate::reports::{ReportSource, Reports};

/// What the router serves from. Cheap to clone (one `Arc`).
#[derive(Debug, Clone)]
pub struct ApiState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Arc<dyn PinStore>,
    clock: Arc<dyn Clock>,
    source: Arc<dyn ReportSource>,
    config: ApiConfig,
    token_digest: [u8; 32],
    reports: RwLock<ReportSlot>,
    /// The newest `created` handed out by `POST /pins` (loaded from the store on first use).
    last_created: tokio::sync::Mutex<Option<Timestamp>>,
    prom: Prom,
}

/// The latest reports and how the last attempt went.
#[derive(Debug, Default)]
struct ReportSlot {
    latest: Option<Arc<Reports>>,
    last_error: Option<String>,
    last_duration: Option<Duration>,
}

/// How the background reports are doing, for the dashboard and logs.
#[derive(Debug, Clone, Default)]
pub struct ReportStatus {
    /// The latest reports, if any were computed.
    pub latest: Option<Arc<Reports>>,
    /// The error of the last attempt, if it failed (the latest good reports are still served).
    pub last_error: Option<String>,
    /// How long the last successful computation took.
    pub last_duration: Option<Duration>,
}

impl ApiState {
    /// State over `store`, reading time from `clock`, with reports from `source`. Fails on invalid settings.
    ///
    /// No report exists until [`refresh_reports`](Self::refresh_reports) or [`run_reports`](Self::run_reports)
    /// computes one; until then the report endpoints answer 503.
    pub fn new(
        store: Arc<dyn PinStore>,
        clock: Arc<dyn Clock>,
        source: Arc<dyn ReportSource>,
        config: ApiConfig,
    ) -> Result<Self> {
        config.validate()?;
        let token_digest = Sha256::digest(config.token.as_bytes()).into();
        Ok(Self {
            inner: Arc::new(Inner {
                store,
                clock,
                source,
                config,
                token_digest,
                reports: RwLock::new(ReportSlot::default()),
                last_created: tokio::sync::Mutex::new(None),
                prom: Prom::new(),
            }),
        })
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn PinStore> {
        &self.inner.store
    }

    /// The settings.
    pub fn config(&self) -> &ApiConfig {
        &self.inner.config
    }

    /// The current time.
    pub fn now(&self) -> Timestamp {
        self.inner.clock.now()
    }

    /// Handles to the storage gauges of `GET /metrics` (WAL bytes, segments, last compaction).
    pub fn storage_gauges(&self) -> StorageGauges {
        self.inner.prom.storage()
    }

    pub(crate) fn prom(&self) -> &Prom {
        &self.inner.prom
    }

    /// The latest reports, if any.
    pub fn reports(&self) -> Option<Arc<Reports>> {
        self.inner.reports.read().latest.clone()
    }

    /// The latest reports with the outcome of the last attempt.
    pub fn report_status(&self) -> ReportStatus {
        let slot = self.inner.reports.read();
        ReportStatus {
            latest: slot.latest.clone(),
            last_error: slot.last_error.clone(),
            last_duration: slot.last_duration,
        }
    }

    /// Computes the reports now and keeps them; on failure the previous reports stay and the error is
    /// kept for [`report_status`](Self::report_status).
    pub async fn refresh_reports(&self) -> Result<()> {
        let began = Instant::now();
        let result = self.inner.source.compute(self.now()).await;
        let mut slot = self.inner.reports.write();
        match result {
            Ok(r) => {
                slot.latest = Some(Arc::new(r));
                slot.last_error = None;
                slot.last_duration = Some(began.elapsed());
                Ok(())
            }
            Err(e) => {
                slot.last_error = Some(e.to_string());
                Err(e.into())
            }
        }
    }

    /// Recomputes the reports every `report_interval` (the first time at once) until `shutdown` resolves.
    /// Spawn it next to the server; failures are logged and retried on the next tick.
    pub async fn run_reports(&self, shutdown: impl Future<Output = ()> + Send) {
        let mut tick = tokio::time::interval(self.inner.config.report_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => return,
                _ = tick.tick() => {
                    if let Err(e) = self.refresh_reports().await {
                        tracing::warn!(error = %e, "computing the reports failed; serving the previous ones");
                    }
                }
            }
        }
    }

    /// Whether `presented` is the token, in time independent of where they differ (both are hashed first,
    /// so their lengths do not leak either).
    pub(crate) fn token_matches(&self, presented: &[u8]) -> bool {
        let digest: [u8; 32] = Sha256::digest(presented).into();
        digest.ct_eq(&self.inner.token_digest).into()
    }

    /// Hands out the `created` instant of a pin recorded through the Pinning Service API: now, or one
    /// millisecond after the newest instant known, so pins created through the API never share one.
    ///
    /// The guard must be held until the pin is recorded, so concurrent requests take turns.
    pub(crate) async fn next_created(&self) -> pin_core::Result<CreatedGuard<'_>> {
        let mut last = self.inner.last_created.lock().await;
        if last.is_none() {
            let newest = self
                .inner
                .store
                .list(&PinQuery {
                    limit: 1,
                    order: ListOrder::NewestFirst,
                    ..PinQuery::default()
                })
                .await?;
            *last = Some(newest.pins.first().map_or(Timestamp(i64::MIN), |v| v.pin.created_at));
        }
        let floor = last.map_or(i64::MIN, |t| t.0.saturating_add(1));
        let at = Timestamp(self.now().0.max(floor));
        Ok(CreatedGuard { guard: last, at })
    }

    /// Notes that pins up to `at` exist (recorded through `POST /v1/events`), so `POST /pins` stays after them.
    pub(crate) async fn saw_created(&self, at: Timestamp) {
        let mut last = self.inner.last_created.lock().await;
        if let Some(l) = last.as_mut() {
            *l = (*l).max(at);
        }
    }
}

/// A `created` instant reserved by [`ApiState::next_created`]; [`commit`](Self::commit) makes it the newest.
pub(crate) struct CreatedGuard<'a> {
    guard: tokio::sync::MutexGuard<'a, Option<Timestamp>>,
    pub(crate) at: Timestamp,
}

impl CreatedGuard<'_> {
    /// Records that a pin was created at the reserved instant.
    pub(crate) fn commit(mut self) {
        *self.guard = Some(self.at);
    }
}
