//! The backend trait and the types of its questions and answers.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::cid::{Cid, hex};
use crate::error::{Error, Result};
use crate::event::{ApplyOutcome, EventBatch};
use crate::fold::PinView;
use crate::metrics::Metrics;
use crate::model::{AccessOp, PinStatus, Tier, Timestamp};

/// A pin store: one way in ([`apply`](Self::apply)), consistent reads out.
///
/// # Guarantees every implementation gives
///
/// - **Atomic batches.** A batch is validated whole before anything is recorded; an invalid event rejects
///   the batch and leaves the store as it was.
/// - **Durable acknowledgement.** When `apply` returns `Applied`, the batch survives a crash of the process.
/// - **Idempotent re-delivery.** A batch whose id was applied before returns `Duplicate` and changes nothing.
/// - **Read your writes.** Reads through the same handle see every acknowledged batch.
/// - **O(1) metrics.** `metrics` reads totals maintained at write time; it never scans pins.
#[async_trait]
pub trait PinStore: Send + Sync + fmt::Debug {
    /// Validates and records a batch of events, all or nothing.
    async fn apply(&self, batch: EventBatch) -> Result<ApplyOutcome>;

    /// The current state of one pin, or `None` if it was never pinned.
    async fn get(&self, cid: &Cid) -> Result<Option<PinView>>;

    /// Pins matching a filter, one page at a time, in the query's [`ListOrder`].
    async fn list(&self, query: &PinQuery) -> Result<PinPage>;

    /// Totals, maintained at write time.
    async fn metrics(&self) -> Result<Metrics>;

    /// Status and tier changes of one pin, newest first, at most `limit`.
    async fn history(&self, cid: &Cid, limit: usize) -> Result<Vec<HistoryEntry>>;

    /// Accesses of one CID, newest first, at most `limit`.
    async fn accesses(&self, cid: &Cid, limit: usize) -> Result<Vec<AccessRecord>>;
}

/// How a name filter compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum NameMatch {
    /// Equal.
    #[default]
    Exact,
    /// Equal ignoring ASCII case.
    IExact,
    /// Contains.
    Partial,
    /// Contains, ignoring case.
    IPartial,
}

/// Which pins a listing returns. Every set field must match.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PinFilter {
    /// Status equals.
    pub status: Option<PinStatus>,
    /// Primary tier equals.
    pub tier: Option<Tier>,
    /// Name matches.
    pub name: Option<(String, NameMatch)>,
    /// Every `(key, value)` is in the metadata.
    pub meta: Vec<(String, String)>,
    /// Created strictly before.
    pub created_before: Option<Timestamp>,
    /// Created strictly after.
    pub created_after: Option<Timestamp>,
    /// Size at least.
    pub min_size: Option<u64>,
    /// Size at most.
    pub max_size: Option<u64>,
}

impl PinFilter {
    /// Whether `view` passes the filter.
    pub fn matches(&self, view: &PinView) -> bool {
        let p = &view.pin;
        self.status.is_none_or(|s| p.status == s)
            && self.tier.is_none_or(|t| p.primary_tier == t)
            && self.created_before.is_none_or(|t| p.created_at < t)
            && self.created_after.is_none_or(|t| p.created_at > t)
            && self.min_size.is_none_or(|s| p.size_bytes >= s)
            && self.max_size.is_none_or(|s| p.size_bytes <= s)
            && self.meta.iter().all(|(k, v)| p.meta.get(k) == Some(v))
            && self.name.as_ref().is_none_or(|(text, how)| {
                let Some(name) = &p.name else { return false };
                match how {
                    NameMatch::Exact => name == text,
                    NameMatch::IExact => name.to_lowercase() == text.to_lowercase(),
                    NameMatch::Partial => name.contains(text.as_str()),
                    NameMatch::IPartial => name.to_lowercase().contains(&text.to_lowercase()),
                }
            })
    }
}

/// A position in a key-ordered listing: the key of the last pin returned.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cursor(Arc<[u8]>);

impl Cursor {
    /// The cursor just after `cid`.
    pub fn after(cid: &Cid) -> Self {
        Self(cid.key().into())
    }
    /// The key the cursor points after.
    pub fn key(&self) -> &[u8] {
        &self.0
    }
    /// Parses the text form handed out by [`Display`](fmt::Display).
    pub fn parse(input: &str) -> Result<Self> {
        let bad = |reason: &str| Error::InvalidCursor {
            input: input.to_owned(),
            reason: reason.to_owned(),
        };
        if input.is_empty() || !input.len().is_multiple_of(2) {
            return Err(bad("expected an even number of hex digits"));
        }
        let bytes = (0..input.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&input[i..i + 2], 16))
            .collect::<Result<Vec<u8>, _>>()
            .map_err(|_| bad("not hexadecimal"))?;
        Ok(Self(bytes.into()))
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex(&self.0))
    }
}
impl fmt::Debug for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cursor({self})")
    }
}

/// The order of a listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ListOrder {
    /// Index key order (the CIDv1 binary form), paged with [`Cursor`]s.
    #[default]
    Key,
    /// Newest `created_at` first, ties by ascending key. Pages are not cursors: the next page is asked for
    /// with [`PinFilter::created_before`] (the Pinning Service API's way), so `after` must be `None`.
    NewestFirst,
}

/// A listing request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinQuery {
    /// Which pins.
    pub filter: PinFilter,
    /// Start after this position (key order only).
    pub after: Option<Cursor>,
    /// At most this many pins.
    pub limit: usize,
    /// The order.
    pub order: ListOrder,
}

impl Default for PinQuery {
    fn default() -> Self {
        Self {
            filter: PinFilter::default(),
            after: None,
            limit: 1000,
            order: ListOrder::Key,
        }
    }
}

impl PinQuery {
    /// Rejects a query that mixes a key cursor with another order.
    pub fn validate(&self) -> Result<()> {
        if let (ListOrder::NewestFirst, Some(c)) = (self.order, &self.after) {
            return Err(Error::InvalidCursor {
                input: c.to_string(),
                reason: "a cursor pages key order only; page newest-first listings with created_before".into(),
            });
        }
        Ok(())
    }
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq)]
pub struct PinPage {
    /// The pins, in key order.
    pub pins: Vec<PinView>,
    /// Where the next page starts, if there may be one.
    pub next: Option<Cursor>,
}

/// One status or tier change of a pin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// Sequence number of the event.
    pub seq: u64,
    /// When it happened.
    pub ts: Timestamp,
    /// `upsert`, `unpin`, `status` or `tier`.
    pub event: String,
    /// The status after the event, when the event set one.
    pub status: Option<PinStatus>,
    /// The primary tier after the event, when the event set one.
    pub tier: Option<Tier>,
    /// Why, when the source said.
    pub reason: Option<String>,
}

/// One recorded access.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessRecord {
    /// Sequence number of the event.
    pub seq: u64,
    /// When it happened.
    pub ts: Timestamp,
    /// Read or write.
    pub op: AccessOp,
    /// Byte offset.
    pub offset: Option<u64>,
    /// Bytes transferred.
    pub length: Option<u64>,
    /// Tier that served it.
    pub tier: Option<Tier>,
    /// VFS path it came through.
    pub vfs_path: Option<String>,
    /// Latency in microseconds.
    pub latency_us: Option<u64>,
}

/// The time, as a store sees it. Tests use [`ManualClock`].
pub trait Clock: Send + Sync + fmt::Debug {
    /// Now.
    fn now(&self) -> Timestamp;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        Timestamp(ms)
    }
}

/// A clock that moves only when told to.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    /// A clock showing `at`.
    pub fn new(at: Timestamp) -> Self {
        Self(AtomicI64::new(at.0))
    }
    /// Sets the time.
    pub fn set(&self, at: Timestamp) {
        self.0.store(at.0, Ordering::SeqCst);
    }
    /// Moves the time forward by `ms`.
    pub fn advance(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.0.load(Ordering::SeqCst))
    }
}

impl HistoryEntry {
    /// The history row an event leaves, if it changes status or tier.
    pub fn from_event(event: &crate::event::Event, seq: u64) -> Option<Self> {
        use crate::event::EventKind;
        let (status, tier, reason) = match &event.kind {
            EventKind::Upsert(pin) => return Some(Self::of_upsert(pin, event.ts, seq)),
            EventKind::Unpin { .. } => (Some(PinStatus::Unpinned), None, None),
            EventKind::Status { status, reason, .. } => (Some(*status), None, reason.clone()),
            EventKind::Tier { tier, .. } => (None, Some(*tier), None),
            EventKind::Access(_) | EventKind::Vfs(_) => return None,
        };
        Some(Self {
            seq,
            ts: event.ts,
            event: event.kind_name().to_owned(),
            status,
            tier,
            reason,
        })
    }

    /// The history row of an upsert of `pin` at `at` (sequence number `seq`).
    pub fn of_upsert(pin: &crate::model::Pin, at: Timestamp, seq: u64) -> Self {
        Self {
            seq,
            ts: at,
            event: "upsert".to_owned(),
            status: Some(pin.status),
            tier: Some(pin.primary_tier),
            reason: None,
        }
    }
}

impl AccessRecord {
    /// The record an access event leaves.
    pub fn from_access(a: &crate::event::Access, ts: Timestamp, seq: u64) -> Self {
        Self {
            seq,
            ts,
            op: a.op,
            offset: a.offset,
            length: a.length,
            tier: a.tier,
            vfs_path: a.vfs_path.clone(),
            latency_us: a.latency_us,
        }
    }
}
