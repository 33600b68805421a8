//! Events: the one way into a store.

use serde::{Deserialize, Serialize};

use crate::cid::Cid;
use crate::error::{Error, Result};
use crate::model::{AccessOp, Pin, PinStatus, Tier, Timestamp};
use crate::vfs::VfsOperation;

/// One thing that happened to a pin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// When it happened (event time, not arrival time).
    pub ts: Timestamp,
    /// What happened.
    pub kind: EventKind,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum EventKind {
    /// Record or replace a pin's fields. Statistics and the creation time of an existing pin are kept.
    Upsert(Box<Pin>),
    /// Mark a pin unpinned; its history and statistics stay.
    Unpin { cid: Cid },
    /// Change a pin's status.
    Status {
        cid: Cid,
        status: PinStatus,
        reason: Option<String>,
    },
    /// Move a pin's primary copy to another tier.
    Tier { cid: Cid, tier: Tier },
    /// Someone read or wrote the content.
    Access(Access),
    /// The virtual filesystem did something (logged; it changes no pin).
    Vfs(Box<VfsOperation>),
}

/// One read or write of a pin's content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Access {
    /// The content accessed (need not be pinned).
    pub cid: Cid,
    /// Read or write.
    pub op: AccessOp,
    /// Byte offset, if the source knows it.
    pub offset: Option<u64>,
    /// Bytes transferred; absent for a read of the whole object.
    pub length: Option<u64>,
    /// The tier that served it.
    pub tier: Option<Tier>,
    /// The VFS path it was reached through.
    pub vfs_path: Option<String>,
    /// Latency in microseconds.
    pub latency_us: Option<u64>,
}

impl Event {
    /// The pin the event is about; `None` for a VFS operation, which is about no pin.
    pub fn cid(&self) -> Option<&Cid> {
        match &self.kind {
            EventKind::Upsert(pin) => Some(&pin.cid),
            EventKind::Unpin { cid } | EventKind::Status { cid, .. } | EventKind::Tier { cid, .. } => Some(cid),
            EventKind::Access(a) => Some(&a.cid),
            EventKind::Vfs(_) => None,
        }
    }

    /// A short name of the kind, as history shows it.
    pub fn kind_name(&self) -> &'static str {
        match &self.kind {
            EventKind::Upsert(_) => "upsert",
            EventKind::Unpin { .. } => "unpin",
            EventKind::Status { .. } => "status",
            EventKind::Tier { .. } => "tier",
            EventKind::Access(_) => "access",
            EventKind::Vfs(_) => "vfs",
        }
    }

    /// Checks the limits of the model for this event.
    pub fn validate(&self) -> Result<()> {
        match &self.kind {
            EventKind::Upsert(pin) => pin.validate(),
            EventKind::Status {
                reason: Some(r), cid, ..
            } if r.len() > 4096 => Err(Error::Invalid {
                field: "reason",
                cid: cid.to_string(),
                reason: format!("{} bytes, at most 4096 allowed", r.len()),
            }),
            EventKind::Access(Access {
                vfs_path: Some(p), cid, ..
            }) if !p.starts_with('/') => Err(Error::Invalid {
                field: "vfs_path",
                cid: cid.to_string(),
                reason: format!("{p:?} is not absolute"),
            }),
            EventKind::Vfs(op) => op.validate(),
            _ => Ok(()),
        }
    }
}

/// Events applied together: all or none.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct EventBatch {
    /// An id that makes re-delivery idempotent (journal offset, import batch); a batch whose id was already
    /// applied is acknowledged without being applied again.
    pub id: Option<String>,
    /// The events, in order.
    pub events: Vec<Event>,
}

impl EventBatch {
    /// A batch without an id.
    pub fn new(events: Vec<Event>) -> Self {
        Self { id: None, events }
    }

    /// A batch with an idempotency id.
    pub fn with_id(id: impl Into<String>, events: Vec<Event>) -> Self {
        Self {
            id: Some(id.into()),
            events,
        }
    }

    /// Validates every event; the first error names the event's position and the input.
    pub fn validate(&self) -> Result<()> {
        if let Some(id) = &self.id
            && (id.is_empty() || id.len() > 1024)
        {
            return Err(Error::Invalid {
                field: "batch id",
                cid: "-".into(),
                reason: format!("length {} is outside 1..=1024", id.len()),
            });
        }
        for (i, e) in self.events.iter().enumerate() {
            e.validate().map_err(|err| match err {
                Error::Invalid { field, cid, reason } => Error::Invalid {
                    field,
                    cid,
                    reason: format!("{reason} (event {i} of the batch)"),
                },
                other => other,
            })?;
        }
        Ok(())
    }
}

/// What [`PinStore::apply`](crate::PinStore::apply) did with a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ApplyOutcome {
    /// The batch is durable; `seq` is the sequence number of its last event.
    Applied { events: usize, seq: u64 },
    /// A batch with the same id was applied before; nothing changed.
    Duplicate,
}
