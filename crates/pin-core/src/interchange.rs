//! The interchange format of `pindex ingest` and `POST /v1/events` (docs/formats.md): one event per NDJSON
//! line or CSV row. Pure parsing: no I/O, no chunking, no idempotency hashing (the callers own those).
//!
//! ```
//! use pin_core::interchange::parse_ndjson_line;
//! use pin_core::{EventKind, Timestamp};
//!
//! let line = r#"{"type":"pin","cid":"bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy","size":5,"id":"a1"}"#;
//! let (event, id) = parse_ndjson_line(line, Timestamp(0)).map_err(|e| e.to_string())?;
//! assert!(matches!(event.kind, EventKind::Upsert(_)));
//! assert_eq!(id.as_deref(), Some("a1"));
//! # Ok::<(), String>(())
//! ```

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Deserialize;
use serde::de::{self, Visitor};

use crate::cid::Cid;
use crate::event::{Access, Event, EventKind};
use crate::model::{AccessOp, Pin, PinStatus, PinType, Tier, Timestamp};

/// Parses a timestamp: milliseconds since the epoch, RFC 3339, or a `YYYY-MM-DD` date (midnight UTC).
pub fn parse_ts(input: &str) -> Result<Timestamp, String> {
    let s = input.trim();
    if let Ok(ms) = s.parse::<i64>() {
        return Ok(Timestamp(ms));
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(Timestamp(t.timestamp_millis()));
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        && let Some(t) = d.and_hms_opt(0, 0, 0)
    {
        return Ok(Timestamp(t.and_utc().timestamp_millis()));
    }
    Err(format!(
        "invalid timestamp {input:?}: expected RFC 3339 (2026-11-25T11:30:00Z), a date (2026-11-25) or milliseconds since the epoch"
    ))
}

/// A `ts` or `id` field: a string or an integer.
#[derive(Debug)]
enum Scalar<'a> {
    Int(i64),
    Str(Cow<'a, str>),
}

impl<'de: 'a, 'a> Deserialize<'de> for Scalar<'a> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Scalar<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string or an integer")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Scalar::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                i64::try_from(v)
                    .map(Scalar::Int)
                    .map_err(|_| E::custom(format!("{v} is too large")))
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Scalar::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Scalar::Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Scalar::Str(Cow::Owned(v)))
            }
        }
        d.deserialize_any(V)
    }
}

/// One input line, before it is checked against its type.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Line<'a> {
    #[serde(rename = "type", borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    id: Option<Scalar<'a>>,
    #[serde(default, borrow)]
    cid: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    ts: Option<Scalar<'a>>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    size: Option<i64>,
    #[serde(default, borrow)]
    pin_type: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    status: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    tier: Option<Cow<'a, str>>,
    #[serde(default)]
    meta: Option<BTreeMap<String, String>>,
    #[serde(default)]
    vfs_path: Option<String>,
    #[serde(default)]
    mount: Option<String>,
    #[serde(default, borrow)]
    op: Option<Cow<'a, str>>,
    #[serde(default)]
    offset: Option<u64>,
    #[serde(default)]
    bytes: Option<u64>,
    #[serde(default)]
    latency_us: Option<u64>,
    #[serde(default)]
    reason: Option<String>,
}

/// Every field name of the interchange format.
pub const FIELDS: &[&str] = &[
    "type",
    "id",
    "cid",
    "ts",
    "name",
    "size",
    "pin_type",
    "status",
    "tier",
    "meta",
    "vfs_path",
    "mount",
    "op",
    "offset",
    "bytes",
    "latency_us",
    "reason",
];

impl Line<'_> {
    /// The fields set, by name, for the check that each applies to the line's type.
    fn present(&self) -> [(&'static str, bool); 13] {
        [
            ("name", self.name.is_some()),
            ("size", self.size.is_some()),
            ("pin_type", self.pin_type.is_some()),
            ("status", self.status.is_some()),
            ("tier", self.tier.is_some()),
            ("meta", self.meta.is_some()),
            ("vfs_path", self.vfs_path.is_some()),
            ("mount", self.mount.is_some()),
            ("op", self.op.is_some()),
            ("offset", self.offset.is_some()),
            ("bytes", self.bytes.is_some()),
            ("latency_us", self.latency_us.is_some()),
            ("reason", self.reason.is_some()),
        ]
    }

    /// The event and its idempotency id; `now` stands in for a missing `ts`.
    fn into_event(self, now: Timestamp) -> Result<(Event, Option<String>), String> {
        let kind = self.kind.as_deref().ok_or("missing field \"type\"")?.to_owned();
        let allowed: &[&str] = match kind.as_str() {
            "pin" => &[
                "name", "size", "pin_type", "status", "tier", "meta", "vfs_path", "mount",
            ],
            "access" => &["op", "offset", "bytes", "tier", "vfs_path", "latency_us"],
            "unpin" => &[],
            "status" => &["status", "reason"],
            "tier" => &["tier"],
            other => {
                return Err(format!(
                    "unknown type {other:?}: expected one of pin, access, unpin, status, tier"
                ));
            }
        };
        if let Some((field, _)) = self.present().iter().find(|(f, set)| *set && !allowed.contains(f)) {
            return Err(format!("field {field:?} does not apply to {kind} events"));
        }
        let cid_text = self.cid.as_deref().ok_or("missing field \"cid\"")?;
        let cid = Cid::parse(cid_text).map_err(|e| e.to_string())?;
        let ts = match &self.ts {
            None => now,
            Some(Scalar::Int(ms)) => Timestamp(*ms),
            Some(Scalar::Str(s)) => parse_ts(s)?,
        };
        let id = match self.id {
            None => None,
            Some(Scalar::Int(n)) => Some(n.to_string()),
            Some(Scalar::Str(s)) if s.is_empty() || s.len() > 1000 => {
                return Err(format!("id of {} bytes: expected 1 to 1000", s.len()));
            }
            Some(Scalar::Str(s)) => Some(s.into_owned()),
        };
        let parse = |v: &Option<Cow<'_, str>>| v.as_deref().map(str::to_owned);
        let event_kind = match kind.as_str() {
            "pin" => {
                let tier = match &self.tier {
                    Some(t) => t.parse::<Tier>().map_err(|e| e.to_string())?,
                    None => DEFAULT_TIER,
                };
                let mut pin = Pin::new(cid, tier, ts);
                pin.name = self.name;
                if let Some(size) = self.size {
                    pin.size_bytes = crate::model::parse_size(cid_text, size).map_err(|e| e.to_string())?;
                }
                if let Some(t) = parse(&self.pin_type) {
                    pin.pin_type = t.parse::<PinType>().map_err(|e| e.to_string())?;
                }
                if let Some(s) = parse(&self.status) {
                    pin.status = s.parse::<PinStatus>().map_err(|e| e.to_string())?;
                }
                pin.meta = self.meta.unwrap_or_default();
                pin.vfs_paths.extend(self.vfs_path);
                pin.mount = self.mount;
                EventKind::Upsert(Box::new(pin))
            }
            "access" => EventKind::Access(Access {
                cid,
                op: match &self.op {
                    Some(o) => o.parse::<AccessOp>().map_err(|e| e.to_string())?,
                    None => AccessOp::Read,
                },
                offset: self.offset,
                length: self.bytes,
                tier: self
                    .tier
                    .as_deref()
                    .map(str::parse::<Tier>)
                    .transpose()
                    .map_err(|e| e.to_string())?,
                vfs_path: self.vfs_path,
                latency_us: self.latency_us,
            }),
            "unpin" => EventKind::Unpin { cid },
            "status" => EventKind::Status {
                cid,
                status: self
                    .status
                    .as_deref()
                    .ok_or("missing field \"status\" for a status event")?
                    .parse::<PinStatus>()
                    .map_err(|e| e.to_string())?,
                reason: self.reason,
            },
            _ => EventKind::Tier {
                cid,
                tier: self
                    .tier
                    .as_deref()
                    .ok_or("missing field \"tier\" for a tier event")?
                    .parse::<Tier>()
                    .map_err(|e| e.to_string())?,
            },
        };
        let event = Event { ts, kind: event_kind };
        event.validate().map_err(|e| e.to_string())?;
        Ok((event, id))
    }
}

/// The primary tier of a pin line without `tier`: the IPFS node that pinned it.
pub const DEFAULT_TIER: Tier = Tier::Ipfs;

/// Parses one NDJSON line of the interchange format into its event and idempotency id (the line's `id`).
///
/// `now` stands in for a missing `ts`. Leading and trailing white space is ignored; the caller skips blank
/// lines. The error says what is wrong without a line number, which the caller adds.
pub fn parse_ndjson_line(line: &str, now: Timestamp) -> Result<(Event, Option<String>), String> {
    let l: Line<'_> = serde_json::from_str(line.trim()).map_err(|e| {
        let msg = e.to_string();
        // serde_json appends " at line 1 column N", which says nothing once the line number is given.
        match msg.rfind(" at line ") {
            Some(i) => format!("{} (column {})", &msg[..i], e.column()),
            None => msg,
        }
    })?;
    l.into_event(now)
}

/// How CSV columns map to fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvColumns {
    /// For each column: the field name, or `meta.<key>`.
    names: Vec<String>,
}

impl CsvColumns {
    /// Checks a header row: every column must be a field of [`FIELDS`] or `meta.<key>`.
    pub fn new<'h>(header: impl IntoIterator<Item = &'h str>) -> Result<Self, String> {
        let mut names = Vec::new();
        for h in header {
            let h = h.trim();
            if !FIELDS.contains(&h) && !h.starts_with("meta.") {
                return Err(format!(
                    "unknown CSV column {h:?}: expected {} or meta.<key>",
                    FIELDS.join(", ")
                ));
            }
            names.push(h.to_owned());
        }
        Ok(Self { names })
    }

    /// Parses one row (its cells in header order; an empty cell is an absent field) into its event and
    /// idempotency id; `now` stands in for a missing `ts`.
    pub fn parse_row<'r>(
        &self,
        row: impl IntoIterator<Item = &'r str>,
        now: Timestamp,
    ) -> Result<(Event, Option<String>), String> {
        let mut l = Line::default();
        let num = |field: &str, v: &str| -> Result<u64, String> {
            v.parse::<u64>()
                .map_err(|_| format!("{field} {v:?} is not a whole number of at least 0"))
        };
        let scalar = |v: &str| match v.parse::<i64>() {
            Ok(n) => Scalar::Int(n),
            Err(_) => Scalar::Str(Cow::Owned(v.to_owned())),
        };
        for (name, value) in self.names.iter().zip(row) {
            if value.is_empty() {
                continue;
            }
            let own = || Some(Cow::Owned(value.to_owned()));
            match name.as_str() {
                "type" => l.kind = own(),
                "id" => l.id = Some(Scalar::Str(Cow::Owned(value.to_owned()))),
                "cid" => l.cid = own(),
                "ts" => l.ts = Some(scalar(value)),
                "name" => l.name = Some(value.to_owned()),
                "size" => {
                    l.size = Some(
                        value
                            .parse::<i64>()
                            .map_err(|_| format!("size {value:?} is not a whole number"))?,
                    );
                }
                "pin_type" => l.pin_type = own(),
                "status" => l.status = own(),
                "tier" => l.tier = own(),
                "meta" => {
                    let m: BTreeMap<String, String> = serde_json::from_str(value)
                        .map_err(|e| format!("meta {value:?} is not a JSON object of strings: {e}"))?;
                    l.meta.get_or_insert_with(BTreeMap::new).extend(m);
                }
                "vfs_path" => l.vfs_path = Some(value.to_owned()),
                "mount" => l.mount = Some(value.to_owned()),
                "op" => l.op = own(),
                "offset" => l.offset = Some(num("offset", value)?),
                "bytes" => l.bytes = Some(num("bytes", value)?),
                "latency_us" => l.latency_us = Some(num("latency_us", value)?),
                "reason" => l.reason = Some(value.to_owned()),
                meta => {
                    let key = meta.trim_start_matches("meta.").to_owned();
                    l.meta.get_or_insert_with(BTreeMap::new).insert(key, value.to_owned());
                }
            }
        }
        l.into_event(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CID: &str = "bafybeie5nqv6kd3qnfjupgvz34woh3oksc3iau6abmyajn7qvtf6d2ho34";

    #[test]
    fn timestamps_parse_in_every_documented_form() {
        assert_eq!(parse_ts("1700000000123"), Ok(Timestamp(1_700_000_000_123)));
        assert_eq!(parse_ts("2023-11-14T22:13:20.123Z"), Ok(Timestamp(1_700_000_000_123)));
        assert_eq!(
            parse_ts("2023-11-14T23:13:20.123+01:00"),
            Ok(Timestamp(1_700_000_000_123))
        );
        assert_eq!(parse_ts("1970-01-02"), Ok(Timestamp(86_400_000)));
        assert!(parse_ts("yesterday").unwrap_err().contains("\"yesterday\""));
    }

    #[test]
    fn lines_become_events_and_bad_ones_say_why() {
        let now = Timestamp(5);
        let (e, id) = parse_ndjson_line(
            &format!(r#"{{"type":"pin","cid":"{CID}","size":12,"tier":"ssd","meta":{{"k":"v"}},"id":7}}"#),
            now,
        )
        .unwrap();
        assert_eq!(id.as_deref(), Some("7"));
        assert_eq!(e.ts, now);
        let EventKind::Upsert(p) = e.kind else {
            panic!("not an upsert")
        };
        assert_eq!((p.size_bytes, p.primary_tier), (12, Tier::Ssd));
        let cases = [
            (r#"{"type":"pin","cid":"Qmfoo"}"#.to_owned(), "invalid CID \"Qmfoo\""),
            (format!(r#"{{"type":"pin","cid":"{CID}","size":-1}}"#), "-1 is negative"),
            (
                format!(r#"{{"type":"pin","cid":"{CID}","op":"read"}}"#),
                "\"op\" does not apply",
            ),
            (format!(r#"{{"type":"nope","cid":"{CID}"}}"#), "unknown type \"nope\""),
            (
                format!(r#"{{"type":"status","cid":"{CID}"}}"#),
                "missing field \"status\"",
            ),
            (
                format!(r#"{{"type":"tier","cid":"{CID}","tier":"tape"}}"#),
                "invalid tier \"tape\"",
            ),
            (
                format!(r#"{{"type":"access","cid":"{CID}","tiers":1}}"#),
                "unknown field `tiers`",
            ),
            ("{".to_owned(), "EOF"),
        ];
        for (line, want) in cases {
            let err = parse_ndjson_line(&line, now).unwrap_err();
            assert!(err.contains(want), "{line}: {err}");
        }
    }

    #[test]
    fn csv_rows_use_the_same_fields() {
        let cols = CsvColumns::new(["type", "cid", "ts", "size", "meta.team", "bytes"]).unwrap();
        let rec = ["pin", CID, "2023-11-14T22:13:20Z", "5", "ml", ""];
        let (e, _) = cols.parse_row(rec, Timestamp(0)).unwrap();
        assert_eq!(e.ts, Timestamp(1_700_000_000_000));
        let EventKind::Upsert(p) = e.kind else {
            panic!("not an upsert")
        };
        assert_eq!(p.meta.get("team").map(String::as_str), Some("ml"));
        let bad = ["access", CID, "", "", "", "lots"];
        assert!(
            cols.parse_row(bad, Timestamp(0))
                .unwrap_err()
                .contains("bytes \"lots\"")
        );
        assert!(CsvColumns::new(["type", "colour"]).unwrap_err().contains("\"colour\""));
    }
}
