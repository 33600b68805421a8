//! Access traces: Pindex NDJSON events and the plain CSV of cache-simulation tools.
//!
//! A trace is a list of [`Request`]s over dense object ids. Each object has one size for the whole trace
//! (the largest seen), because a cache holds an object whole; each request also keeps the bytes it
//! transferred, for the byte hit ratio.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;

use crate::error::{Error, Result};

/// One request of a trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    /// When, in milliseconds (since the Unix epoch for NDJSON; CSV times scaled by the unit given).
    pub time_ms: i64,
    /// The object, a dense id into [`Trace::names`].
    pub id: u32,
    /// The object's size in bytes (what a cache must hold).
    pub size: u64,
    /// The bytes this request transferred.
    pub bytes: u64,
}

/// A replayable trace.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Trace {
    /// The requests, in the order they are replayed.
    pub requests: Vec<Request>,
    /// Object names (CIDs or CSV ids) by id.
    pub names: Vec<String>,
    /// Object sizes by id.
    pub sizes: Vec<u64>,
}

/// Builds a trace, interning object names.
#[derive(Debug, Default)]
pub struct TraceBuilder {
    ids: HashMap<String, u32>,
    trace: Trace,
}

impl TraceBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// The id of `name`, new or known.
    pub fn intern(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = self.trace.names.len() as u32;
        self.ids.insert(name.to_owned(), id);
        self.trace.names.push(name.to_owned());
        self.trace.sizes.push(0);
        id
    }

    /// Records that object `id` is at least `size` bytes.
    pub fn size_at_least(&mut self, id: u32, size: u64) {
        let s = &mut self.trace.sizes[id as usize];
        *s = (*s).max(size);
    }

    /// Appends a request; `bytes` also raises the object's size.
    pub fn push(&mut self, time_ms: i64, name: &str, bytes: u64) {
        let id = self.intern(name);
        self.size_at_least(id, bytes);
        self.trace.requests.push(Request {
            time_ms,
            id,
            size: 0,
            bytes,
        });
    }

    /// The finished trace: every request carries its object's final size (at least 1 byte).
    pub fn finish(mut self) -> Trace {
        for s in &mut self.trace.sizes {
            *s = (*s).max(1);
        }
        for r in &mut self.trace.requests {
            r.size = self.trace.sizes[r.id as usize];
            if r.bytes == 0 {
                r.bytes = r.size;
            }
        }
        self.trace
    }
}

impl Trace {
    /// A trace over ids `0..sizes.len()` from `(time_ms, id)` pairs; every request transfers the whole object.
    ///
    /// # Errors
    ///
    /// [`Error::Invalid`] when an id has no size.
    pub fn from_ids(sizes: Vec<u64>, requests: impl IntoIterator<Item = (i64, u32)>) -> Result<Self> {
        let names = (0..sizes.len()).map(|i| i.to_string()).collect();
        let mut out = Vec::new();
        for (time_ms, id) in requests {
            let size = *sizes.get(id as usize).ok_or_else(|| Error::Invalid {
                what: "trace",
                reason: format!("object id {id} has no size ({} objects)", sizes.len()),
            })?;
            let size = size.max(1);
            out.push(Request {
                time_ms,
                id,
                size,
                bytes: size,
            });
        }
        Ok(Self {
            requests: out,
            names,
            sizes: sizes.into_iter().map(|s| s.max(1)).collect(),
        })
    }

    /// Number of distinct objects.
    pub fn objects(&self) -> usize {
        self.names.len()
    }

    /// Bytes of all distinct objects that are requested (the working set).
    pub fn working_set_bytes(&self) -> u64 {
        let mut seen = vec![false; self.sizes.len()];
        let mut total = 0u64;
        for r in &self.requests {
            if !std::mem::replace(&mut seen[r.id as usize], true) {
                total = total.saturating_add(r.size);
            }
        }
        total
    }

    /// Mean size of the requested objects (objects a `pin` line names but no request reads do not count).
    pub fn mean_object_size(&self) -> f64 {
        let mut seen = vec![false; self.sizes.len()];
        let (mut n, mut total) = (0u64, 0u64);
        for r in &self.requests {
            if !std::mem::replace(&mut seen[r.id as usize], true) {
                n += 1;
                total = total.saturating_add(r.size);
            }
        }
        total as f64 / n.max(1) as f64
    }

    /// Milliseconds from the first to the last request.
    pub fn duration_ms(&self) -> i64 {
        match (self.requests.first(), self.requests.last()) {
            (Some(a), Some(b)) => (b.time_ms - a.time_ms).max(0),
            _ => 0,
        }
    }

    /// Parses NDJSON if the first non-blank character is `{`, else CSV with times in seconds.
    ///
    /// # Errors
    ///
    /// As [`from_ndjson`](Self::from_ndjson) and [`from_csv`](Self::from_csv).
    pub fn parse(text: &str) -> Result<Self> {
        if text.trim_start().starts_with('{') {
            Self::from_ndjson(text)
        } else {
            Self::from_csv(text, 1000.0)
        }
    }

    /// Reads a trace file (see [`parse`](Self::parse)).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the file cannot be read, else as [`parse`](Self::parse).
    pub fn from_path(path: &Path) -> Result<Self> {
        let text = crate::error::read_text(path)?;
        Self::parse(&text)
    }

    /// Parses Pindex's NDJSON interchange format.
    ///
    /// `access` lines are requests (reads and writes alike; `bytes` is what they transferred, the whole object
    /// when absent). An object's size is the largest of its `pin` lines' `size` and its accesses'
    /// `offset + bytes`. Other event types are skipped; lines are replayed in time order (stable for ties).
    ///
    /// # Errors
    ///
    /// [`Error::Trace`] with the line number for a line that is not JSON, lacks `type`, `cid` or `ts`,
    /// or has a bad timestamp.
    pub fn from_ndjson(text: &str) -> Result<Self> {
        #[derive(Deserialize)]
        struct Line {
            #[serde(rename = "type")]
            kind: String,
            cid: String,
            ts: serde_json::Value,
            size: Option<u64>,
            offset: Option<u64>,
            bytes: Option<u64>,
        }
        let mut b = TraceBuilder::new();
        let mut rows = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line_no = i + 1;
            if line.trim().is_empty() {
                continue;
            }
            let bad = |reason: String| Error::Trace { line: line_no, reason };
            let l: Line = serde_json::from_str(line).map_err(|e| bad(e.to_string()))?;
            let ts = match &l.ts {
                serde_json::Value::Number(n) => n.as_i64().ok_or_else(|| bad(format!("ts {n} is not an integer")))?,
                serde_json::Value::String(s) => parse_time(s).map_err(bad)?,
                other => return Err(bad(format!("ts {other} is neither RFC 3339 text nor epoch ms"))),
            };
            let id = b.intern(&l.cid);
            match l.kind.as_str() {
                "pin" => b.size_at_least(id, l.size.unwrap_or(0)),
                "access" => {
                    let bytes = l.bytes.unwrap_or(0);
                    b.size_at_least(id, l.offset.unwrap_or(0).saturating_add(bytes));
                    rows.push((ts, rows.len(), id, bytes));
                }
                _ => {}
            }
        }
        rows.sort_unstable_by_key(|&(ts, i, _, _)| (ts, i));
        for (ts, _, id, bytes) in rows {
            b.trace.requests.push(Request {
                time_ms: ts,
                id,
                size: 0,
                bytes,
            });
        }
        Ok(b.finish())
    }

    /// Parses `time, object id, size` CSV: extra columns are ignored, blank lines and `#` comments skipped,
    /// and a first line whose time or size is not a number is a header. `time` is a number of units of `unit_ms` milliseconds (1000 for seconds)
    /// or an RFC 3339 timestamp.
    ///
    /// # Errors
    ///
    /// [`Error::Trace`] with the line number for a line with fewer than three columns, or whose time or
    /// size does not parse.
    pub fn from_csv(text: &str, unit_ms: f64) -> Result<Self> {
        let mut b = TraceBuilder::new();
        let mut first = true;
        for (i, line) in text.lines().enumerate() {
            let line_no = i + 1;
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            // Only the first line with content may be a header (after blank or comment lines).
            let may_be_header = std::mem::replace(&mut first, false);
            let bad = |reason: String| Error::Trace { line: line_no, reason };
            let mut cols = line.split(',').map(str::trim);
            let (Some(t), Some(id), Some(size)) = (cols.next(), cols.next(), cols.next()) else {
                return Err(bad(format!("expected `time, object id, size`, got {line:?}")));
            };
            let time = t
                .parse::<f64>()
                .map(|x| (x * unit_ms).round() as i64)
                .or_else(|_| parse_time(t));
            match (time, size.parse::<u64>()) {
                (Ok(time), Ok(size)) => b.push(time, id, size),
                _ if may_be_header => {}
                (Err(e), _) => return Err(bad(format!("time {t:?}: {e}"))),
                (_, Err(e)) => return Err(bad(format!("size {size:?}: {e}"))),
            }
        }
        Ok(b.finish())
    }
}

/// Parses epoch milliseconds or an RFC 3339 timestamp (`2026-01-02T03:04:05.678Z`, `+01:00` offsets) into
/// milliseconds since the Unix epoch.
///
/// # Errors
///
/// A message quoting the input.
pub fn parse_time(text: &str) -> Result<i64, String> {
    let s = text.trim();
    if let Ok(ms) = s.parse::<i64>() {
        return Ok(ms);
    }
    let bad = || format!("{text:?} is neither RFC 3339 (2026-01-02T03:04:05Z) nor epoch milliseconds");
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') || b[13] != b':' {
        return Err(bad());
    }
    let num = |r: std::ops::Range<usize>| num_in(s, r).ok_or_else(bad);
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return Err(bad());
    }
    let mut rest = &s[19..];
    let mut millis = 0i64;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.chars().take_while(char::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad());
        }
        let ms_text: String = frac[..digits].chars().chain("000".chars()).take(3).collect();
        millis = ms_text.parse::<i64>().map_err(|_| bad())?;
        rest = &frac[digits..];
    }
    let offset_min = match rest {
        "Z" | "z" => 0,
        // `get`, not indexing: the text may hold multi-byte characters where digits belong.
        o if o.len() == 6 && (o.starts_with('+') || o.starts_with('-')) && o.get(3..4) == Some(":") => {
            let h = num_in(o, 1..3).filter(|h| *h <= 23).ok_or_else(bad)?;
            let m = num_in(o, 4..6).filter(|m| *m <= 59).ok_or_else(bad)?;
            let sign = if o.starts_with('-') { -1 } else { 1 };
            sign * (h * 60 + m)
        }
        _ => return Err(bad()),
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_min * 60;
    Ok(secs * 1000 + millis)
}

/// The unsigned decimal number at byte range `r` of `s` (`None` off a character boundary or for a sign).
fn num_in(s: &str, r: std::ops::Range<usize>) -> Option<i64> {
    s.get(r)
        .filter(|x| x.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|x| x.parse().ok())
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_and_epoch_millis() {
        assert_eq!(parse_time("1970-01-01T00:00:00Z").unwrap(), 0);
        assert_eq!(parse_time("2026-01-02T03:04:05.678Z").unwrap(), 1_767_323_045_678);
        assert_eq!(parse_time("2026-01-02T04:04:05.678+01:00").unwrap(), 1_767_323_045_678);
        assert_eq!(parse_time("12345").unwrap(), 12345);
        assert!(parse_time("yesterday").unwrap_err().contains("yesterday"));
        // Multi-byte characters where the offset's digits belong are an error, not a panic.
        assert!(parse_time("2026-01-02T03:04:05+0é00").is_err());
        assert!(parse_time("2026-01-02T03:04:05+é:00").is_err());
        assert!(parse_time("2026-01-02T03:04:05+1:000").is_err());
        assert!(parse_time("2026-01-02T03:04:05+01:99").is_err());
    }
}
