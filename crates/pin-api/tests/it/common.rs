//! A router over a `MemoryPinStore` on a manual clock, and helpers to call it.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Request, StatusCode, header};
use pin_api::{ApiConfig, ApiState, ScanReports, router};
use pin_core::conformance::{T0, test_cid};
use pin_core::{
    Access, AccessOp, Event, EventBatch, EventKind, ManualClock, MemoryPinStore, Pin, PinStatus, PinStore, Tier,
    Timestamp, VfsOpKind, VfsOperation,
};
use serde_json::Value;
use tower::ServiceExt;

pub(crate) const TOKEN: &str = "s3cret-token-for-tests";
pub(crate) const DELEGATE: &str = "/ip4/203.0.113.1/tcp/4001/p2p/QmServicePeerId";

pub(crate) struct H {
    pub(crate) clock: Arc<ManualClock>,
    pub(crate) store: Arc<MemoryPinStore>,
    pub(crate) state: ApiState,
    pub(crate) app: Router,
}

pub(crate) struct Resp {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl Resp {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    /// The spec's error reason, asserting the body has the spec's shape.
    pub(crate) fn reason(&self) -> String {
        let v = self.json();
        assert!(v["error"]["details"].is_string(), "no details: {v}");
        v["error"]["reason"].as_str().unwrap_or_default().to_owned()
    }
}

impl H {
    pub(crate) fn new() -> Self {
        Self::with(|_| {})
    }

    pub(crate) fn with(adjust: impl FnOnce(&mut ApiConfig)) -> Self {
        let clock = Arc::new(ManualClock::new(T0.plus_millis(86_400_000)));
        let store = Arc::new(MemoryPinStore::new(clock.clone()));
        let dyn_store: Arc<dyn PinStore> = store.clone();
        let mut config = ApiConfig::new(TOKEN, vec![DELEGATE.to_owned()]);
        config.top = 5;
        adjust(&mut config);
        let reports = Arc::new(ScanReports::new(
            dyn_store.clone(),
            pin_tiers::TierTable::default(),
            config.top,
        ));
        let state = ApiState::new(dyn_store, clock.clone(), reports, config).expect("valid config");
        let app = router(state.clone());
        Self {
            clock,
            store,
            state,
            app,
        }
    }

    pub(crate) fn now(&self) -> Timestamp {
        pin_core::Clock::now(&*self.clock)
    }

    /// A request with the token.
    pub(crate) async fn call(&self, method: &str, uri: &str, body: Option<&str>) -> Resp {
        self.call_as(method, uri, Some(&format!("Bearer {TOKEN}")), body).await
    }

    /// A request with `authorization` as the Authorization header (none when `None`).
    pub(crate) async fn call_as(
        &self,
        method: &str,
        uri: &str,
        authorization: Option<&str>,
        body: Option<&str>,
    ) -> Resp {
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(a) = authorization {
            req = req.header(header::AUTHORIZATION, a);
        }
        let req = match body {
            Some(b) => req
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(b.to_owned())),
            None => req.body(Body::empty()),
        }
        .expect("request");
        let resp = self.app.clone().oneshot(req).await.expect("infallible");
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = axum::body::to_bytes(resp.into_body(), usize::MAX).await.expect("body");
        Resp { status, headers, body }
    }

    pub(crate) async fn apply(&self, events: Vec<Event>) {
        self.store.apply(EventBatch::new(events)).await.expect("apply");
    }
}

/// The canonical (CIDv1 base32) string of test CID `i`.
pub(crate) fn cid(i: u64) -> String {
    test_cid(i).to_v1_string()
}

/// A pin event for test CID `i`.
pub(crate) fn pin_event(i: u64, at: Timestamp, status: PinStatus, tier: Tier, size: u64) -> Event {
    let mut p = Pin::new(test_cid(i), tier, at);
    p.status = status;
    p.size_bytes = size;
    p.name = Some(format!("pin-{i:03}"));
    Event {
        ts: at,
        kind: EventKind::Upsert(Box::new(p)),
    }
}

/// A pin event with a name and metadata.
pub(crate) fn named_pin(i: u64, at: Timestamp, name: &str, meta: &[(&str, &str)]) -> Event {
    let mut p = Pin::new(test_cid(i), Tier::Ssd, at);
    p.name = Some(name.to_owned());
    p.meta = meta
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect::<BTreeMap<_, _>>();
    Event {
        ts: at,
        kind: EventKind::Upsert(Box::new(p)),
    }
}

/// A read of test CID `i`.
pub(crate) fn access(i: u64, at: Timestamp, bytes: u64, vfs_path: Option<&str>) -> Event {
    Event {
        ts: at,
        kind: EventKind::Access(Access {
            cid: test_cid(i),
            op: AccessOp::Read,
            offset: Some(0),
            length: Some(bytes),
            tier: Some(Tier::Ssd),
            vfs_path: vfs_path.map(str::to_owned),
            latency_us: Some(100),
        }),
    }
}

/// A VFS operation of `op` on `path` under `mount` at `at`: `length` bytes, `latency_us`, ok or failed.
pub(crate) fn vfs_op(
    at: Timestamp,
    op: VfsOpKind,
    mount: &str,
    path: &str,
    length: Option<u64>,
    latency_us: Option<u64>,
    ok: bool,
) -> Event {
    let mut o = VfsOperation::new(op, mount, path);
    o.length = length;
    o.latency_us = latency_us;
    o.ok = ok;
    Event {
        ts: at,
        kind: EventKind::Vfs(Box::new(o)),
    }
}

/// A CIDv1 whose multihash is the identity hash of `data`.
pub(crate) fn identity_cid(data: &[u8]) -> String {
    let mh = multihash::Multihash::<64>::wrap(0x00, data).expect("fits");
    cid::Cid::new_v1(0x55, mh).to_string()
}

/// A store filled with a known mix: 6 pinned pins over three tiers, 2 queued, 1 failed, 1 unpinned,
/// accesses within the last day, some through a VFS path, and VFS operations: within the last day, under
/// `/datasets`, 3 reads of 100 bytes (latencies 40, 80 and 300 µs; the slowest failed), a create (no
/// latency) and a write of 4096 bytes (200 µs); 25 hours ago, a read of a million bytes.
pub(crate) async fn fill(h: &H) {
    let now = h.now();
    let t = |mins: i64| now.plus_millis(-mins * 60_000);
    let mut events = vec![
        pin_event(1, t(600), PinStatus::Pinned, Tier::Ssd, 1000),
        pin_event(2, t(590), PinStatus::Pinned, Tier::Ssd, 2000),
        pin_event(3, t(580), PinStatus::Pinned, Tier::Hdd, 30_000),
        pin_event(4, t(570), PinStatus::Pinned, Tier::Hdd, 40_000),
        pin_event(5, t(560), PinStatus::Pinned, Tier::Ipfs, 500_000),
        pin_event(6, t(550), PinStatus::Pinned, Tier::Ipfs, 600_000),
        pin_event(7, t(540), PinStatus::Queued, Tier::Ipfs, 0),
        pin_event(8, t(530), PinStatus::Queued, Tier::Ipfs, 0),
        pin_event(9, t(520), PinStatus::Failed, Tier::Ipfs, 0),
        pin_event(10, t(510), PinStatus::Pinned, Tier::Nvme, 77),
    ];
    // Pin 1 shows under a VFS mount.
    if let EventKind::Upsert(p) = &mut events[0].kind {
        p.mount = Some("/datasets".into());
        p.vfs_paths.insert("/datasets/a.bin".into());
    }
    events.push(Event {
        ts: t(500),
        kind: EventKind::Unpin { cid: test_cid(10) },
    });
    // Pin 1 is read 5 times through its path, pin 3 twice without, within the last few hours.
    for k in 0..5 {
        events.push(access(1, t(200 - k * 30), 100, Some("/datasets/a.bin")));
    }
    events.push(access(3, t(90), 10, None));
    events.push(access(3, t(20), 10, None));
    let d = |mins, op, len, lat, ok| vfs_op(t(mins), op, "/datasets", "/datasets/a.bin", len, lat, ok);
    events.extend([
        d(25 * 60, VfsOpKind::Read, Some(1_000_000), Some(10), true),
        d(100, VfsOpKind::Read, Some(100), Some(40), true),
        d(90, VfsOpKind::Read, Some(100), Some(80), true),
        d(80, VfsOpKind::Read, Some(100), Some(300), false),
        d(71, VfsOpKind::Create, None, None, true),
        d(70, VfsOpKind::Write, Some(4096), Some(200), true),
    ]);
    h.apply(events).await;
}
