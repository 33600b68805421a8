//! The fold algebra: how events and partial states combine into a pin's current state.
//!
//! A [`Fragment`] is what one part of a store (the memtable, one segment) knows about one pin. Fragments
//! merge associatively, newest last, so a store may keep them in any number of layers and still answer
//! with the state that applying every event in order would give.

use serde::{Deserialize, Serialize};

use crate::event::{Event, EventKind};
use crate::model::{Pin, PinStats, PinStatus, Tier, Timestamp};

/// Changes to a pin whose full state lives in an older layer.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Patch {
    /// New status and its reason.
    pub status: Option<(PinStatus, Option<String>)>,
    /// New primary tier.
    pub tier: Option<Tier>,
    /// When the newest change happened.
    pub updated_at: Option<Timestamp>,
}

impl Patch {
    /// Whether the patch changes nothing.
    pub fn is_empty(&self) -> bool {
        self.status.is_none() && self.tier.is_none()
    }

    /// Applies the patch to a full pin.
    pub fn apply_to(&self, pin: &mut Pin) {
        if let Some((status, reason)) = &self.status {
            pin.status = *status;
            pin.status_reason.clone_from(reason);
        }
        if let Some(tier) = self.tier {
            move_primary(pin, tier);
        }
        if let Some(at) = self.updated_at {
            pin.updated_at = pin.updated_at.max(at);
        }
    }

    /// Overlays a newer patch on this one.
    fn overlay(&mut self, newer: &Patch) {
        if newer.status.is_some() {
            self.status.clone_from(&newer.status);
        }
        if newer.tier.is_some() {
            self.tier = newer.tier;
        }
        self.updated_at = self.updated_at.max(newer.updated_at);
    }
}

fn move_primary(pin: &mut Pin, tier: Tier) {
    if pin.primary_tier != tier {
        pin.tiers.remove(&pin.primary_tier);
        pin.tiers.insert(tier);
        pin.primary_tier = tier;
    }
}

/// What one layer knows about one pin.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Fragment {
    /// The sequence number of the newest event folded in.
    pub seq: u64,
    /// The full state, if this layer saw an upsert (or holds the merged state of every older layer).
    pub pin: Option<Pin>,
    /// Changes for an older layer's state; empty whenever `pin` is set.
    pub patch: Patch,
    /// Statistics of the accesses this layer saw.
    pub stats: PinStats,
}

impl Fragment {
    /// What [`apply`](Self::apply) makes of an upsert of `pin` at `at` (sequence number `seq`) on an empty
    /// fragment, taking the pin instead of copying it: a bulk load builds one per pin.
    pub fn created(mut pin: Pin, at: Timestamp, seq: u64) -> Self {
        pin.created_at = at;
        pin.updated_at = at;
        Self {
            seq,
            pin: Some(pin),
            ..Self::default()
        }
    }

    /// Folds one event (with sequence number `seq`) into the fragment.
    pub fn apply(&mut self, event: &Event, seq: u64) {
        self.seq = self.seq.max(seq);
        let at = event.ts;
        match &event.kind {
            EventKind::Upsert(new) => {
                let mut pin = (**new).clone();
                pin.updated_at = at;
                pin.created_at = self.pin.as_ref().map_or(at, |old| old.created_at.min(at));
                self.pin = Some(pin);
                self.patch = Patch::default();
            }
            EventKind::Unpin { .. } => self.change_status(PinStatus::Unpinned, None, at),
            EventKind::Status { status, reason, .. } => self.change_status(*status, reason.clone(), at),
            EventKind::Tier { tier, .. } => match &mut self.pin {
                Some(pin) => {
                    move_primary(pin, *tier);
                    pin.updated_at = pin.updated_at.max(at);
                }
                None => {
                    self.patch.tier = Some(*tier);
                    self.patch.updated_at = self.patch.updated_at.max(Some(at));
                }
            },
            EventKind::Access(a) => self.stats.record(at, a.op, a.offset, a.length),
            // A VFS operation is logged, not folded into a pin.
            EventKind::Vfs(_) => {}
        }
    }

    fn change_status(&mut self, status: PinStatus, reason: Option<String>, at: Timestamp) {
        match &mut self.pin {
            Some(pin) => {
                pin.status = status;
                pin.status_reason = reason;
                pin.updated_at = pin.updated_at.max(at);
            }
            None => {
                self.patch.status = Some((status, reason));
                self.patch.updated_at = self.patch.updated_at.max(Some(at));
            }
        }
    }

    /// Folds a newer fragment of the same pin into this one.
    pub fn merge(&mut self, newer: &Fragment) {
        self.seq = self.seq.max(newer.seq);
        self.stats.merge(&newer.stats);
        match (&mut self.pin, &newer.pin) {
            (old, Some(new)) => {
                let created = old
                    .as_ref()
                    .map_or(new.created_at, |o| o.created_at.min(new.created_at));
                let mut pin = new.clone();
                pin.created_at = created;
                *old = Some(pin);
                self.patch = Patch::default();
            }
            (Some(old), None) => newer.patch.apply_to(old),
            (None, None) => self.patch.overlay(&newer.patch),
        }
    }

    /// The pin as a reader sees it, if this fragment (merged with every older layer) holds one.
    pub fn view(&self) -> Option<PinView> {
        self.pin.as_ref().map(|pin| PinView {
            pin: pin.clone(),
            stats: self.stats.clone(),
        })
    }

    /// The part of the state that metrics count.
    pub fn summary(&self) -> Option<PinSummary> {
        self.pin.as_ref().map(PinSummary::of)
    }
}

/// A pin with the statistics the store derived for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PinView {
    /// The pin's fields.
    pub pin: Pin,
    /// Its access statistics.
    pub stats: PinStats,
}

/// The fields of a pin that metrics count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PinSummary {
    /// Status.
    pub status: PinStatus,
    /// Primary tier.
    pub tier: Tier,
    /// Size in bytes.
    pub size_bytes: u64,
}

impl PinSummary {
    /// The summary of a full pin.
    pub fn of(pin: &Pin) -> Self {
        Self {
            status: pin.status,
            tier: pin.primary_tier,
            size_bytes: pin.size_bytes,
        }
    }

    /// The summary after applying `patch`.
    pub fn patched(self, patch: &Patch) -> Self {
        Self {
            status: patch.status.as_ref().map_or(self.status, |(s, _)| *s),
            tier: patch.tier.unwrap_or(self.tier),
            size_bytes: self.size_bytes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cid::Cid;
    use crate::event::Access;
    use crate::model::AccessOp;

    fn cid() -> Cid {
        Cid::parse("bafybeie5nqv6kd3qnfjupgvz34woh3oksc3iau6abmyajn7qvtf6d2ho34").unwrap()
    }

    #[test]
    fn a_created_fragment_is_an_upsert_applied_to_nothing() {
        let mut pin = Pin::new(cid(), Tier::Hdd, Timestamp(1));
        pin.name = Some("a".into());
        pin.size_bytes = 7;
        pin.meta.insert("k".into(), "v".into());
        let event = Event {
            ts: Timestamp(40),
            kind: EventKind::Upsert(Box::new(pin.clone())),
        };
        let mut applied = Fragment::default();
        applied.apply(&event, 9);
        assert_eq!(Fragment::created(pin.clone(), Timestamp(40), 9), applied);
        assert_eq!(
            Some(crate::HistoryEntry::of_upsert(&pin, Timestamp(40), 9)),
            crate::HistoryEntry::from_event(&event, 9)
        );
    }

    fn events() -> Vec<Event> {
        let c = cid();
        let access = |t| Event {
            ts: Timestamp(t),
            kind: EventKind::Access(Access {
                cid: c.clone(),
                op: AccessOp::Read,
                offset: Some(0),
                length: Some(10),
                tier: None,
                vfs_path: None,
                latency_us: None,
            }),
        };
        vec![
            access(1),
            Event {
                ts: Timestamp(2),
                kind: EventKind::Upsert(Box::new(Pin::new(c.clone(), Tier::Ssd, Timestamp(2)))),
            },
            access(3),
            Event {
                ts: Timestamp(4),
                kind: EventKind::Tier {
                    cid: c.clone(),
                    tier: Tier::Hdd,
                },
            },
            Event {
                ts: Timestamp(5),
                kind: EventKind::Status {
                    cid: c.clone(),
                    status: PinStatus::Failed,
                    reason: Some("disk".into()),
                },
            },
            Event {
                ts: Timestamp(6),
                kind: EventKind::Upsert(Box::new(Pin::new(c.clone(), Tier::Nvme, Timestamp(6)))),
            },
            Event {
                ts: Timestamp(7),
                kind: EventKind::Tier {
                    cid: c.clone(),
                    tier: Tier::Memory,
                },
            },
            access(8),
            Event {
                ts: Timestamp(9),
                kind: EventKind::Unpin { cid: c },
            },
        ]
    }

    #[test]
    fn any_split_into_layers_gives_the_same_state() {
        let evs = events();
        let mut whole = Fragment::default();
        for (i, e) in evs.iter().enumerate() {
            whole.apply(e, i as u64 + 1);
        }
        for a in 0..=evs.len() {
            for b in a..=evs.len() {
                let mut layers = [Fragment::default(), Fragment::default(), Fragment::default()];
                for (i, e) in evs.iter().enumerate() {
                    let layer = if i < a {
                        0
                    } else if i < b {
                        1
                    } else {
                        2
                    };
                    layers[layer].apply(e, i as u64 + 1);
                }
                let [mut l0, l1, l2] = layers;
                l0.merge(&l1);
                l0.merge(&l2);
                assert_eq!(l0.view(), whole.view(), "layers split at {a},{b}");
            }
        }
        let view = whole.view().unwrap();
        assert_eq!(view.pin.status, PinStatus::Unpinned);
        assert_eq!(view.pin.primary_tier, Tier::Memory);
        assert_eq!(view.pin.created_at, Timestamp(2));
        assert_eq!(view.stats.access_count, 3);
    }

    #[test]
    fn a_patch_without_a_base_is_no_pin() {
        let mut f = Fragment::default();
        f.apply(
            &Event {
                ts: Timestamp(1),
                kind: EventKind::Tier {
                    cid: cid(),
                    tier: Tier::Hdd,
                },
            },
            1,
        );
        assert!(f.view().is_none());
        assert_eq!(f.patch.tier, Some(Tier::Hdd));
    }
}
