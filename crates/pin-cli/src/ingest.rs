//! `pindex ingest`: the interchange format (docs/formats.md), parsed on a thread of its own and applied
//! in chunks of up to [`CHUNK_LINES`] events, each chunk one or a few `EventBatch`es.
//!
//! Idempotence: each chunk's batches carry an id derived from a 128-bit hash of the chunk's bytes and
//! its position in the input, so ingesting the same content again finds every batch already applied and
//! records nothing. A line with an `"id"` is applied as a batch of its own, with that id, so it is
//! skipped whenever it was applied before, from whatever file.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::hash::Hasher;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::ValueEnum;
use pin_core::{
    Access, AccessOp, ApplyOutcome, Cid, Event, EventBatch, EventKind, Pin, PinStatus, PinStore, PinType, Tier,
    Timestamp,
};
use serde::Deserialize;
use serde::de::{self, Visitor};
use twox_hash::XxHash64;

/// Events per chunk: one hash, one to a few `apply` calls.
pub(crate) const CHUNK_LINES: usize = 50_000;
/// Bad lines printed one by one; the rest are counted.
const MAX_REPORTED: usize = 100;

/// The encoding of an ingest input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum InputFormat {
    /// One JSON object per line.
    Ndjson,
    /// A header row naming the fields, then one event per row.
    Csv,
}

/// Parses a timestamp: milliseconds since the epoch, RFC 3339, or a `YYYY-MM-DD` date (midnight UTC).
pub(crate) fn parse_ts(input: &str) -> Result<Timestamp, String> {
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
pub(crate) const FIELDS: &[&str] = &[
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
                    pin.size_bytes = pin_core::parse_size(cid_text, size).map_err(|e| e.to_string())?;
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
pub(crate) const DEFAULT_TIER: Tier = Tier::Ipfs;

/// Parses one NDJSON line.
fn parse_json_line(line: &str, now: Timestamp) -> Result<(Event, Option<String>), String> {
    let l: Line<'_> = serde_json::from_str(line).map_err(|e| {
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
#[derive(Debug, Clone)]
struct CsvColumns {
    /// For each column: the field name, or `meta.<key>`.
    names: Vec<String>,
}

impl CsvColumns {
    fn new(header: &csv::StringRecord) -> anyhow::Result<Self> {
        let mut names = Vec::new();
        for h in header {
            let h = h.trim();
            if !FIELDS.contains(&h) && !h.starts_with("meta.") {
                bail!("unknown CSV column {h:?}: expected {} or meta.<key>", FIELDS.join(", "));
            }
            names.push(h.to_owned());
        }
        Ok(Self { names })
    }

    fn parse(&self, rec: &csv::StringRecord, now: Timestamp) -> Result<(Event, Option<String>), String> {
        let mut l = Line::default();
        let num = |field: &str, v: &str| -> Result<u64, String> {
            v.parse::<u64>()
                .map_err(|_| format!("{field} {v:?} is not a whole number of at least 0"))
        };
        let scalar = |v: &str| match v.parse::<i64>() {
            Ok(n) => Scalar::Int(n),
            Err(_) => Scalar::Str(Cow::Owned(v.to_owned())),
        };
        for (name, value) in self.names.iter().zip(rec.iter()) {
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

/// One input line that was refused.
#[derive(Debug, Clone)]
pub(crate) struct BadLine {
    pub(crate) line: u64,
    pub(crate) reason: String,
}

/// A parsed chunk of the input.
#[derive(Debug)]
struct Chunk {
    index: u64,
    hash: u128,
    events: Vec<(Event, Option<String>)>,
    bad: Vec<BadLine>,
    /// Input bytes the chunk covers (for progress).
    bytes: u64,
}

impl Chunk {
    /// An empty chunk, the `index`-th of its input; its hash is set once it is read whole.
    fn new(index: u64) -> Self {
        Self {
            index,
            hash: 0,
            events: Vec::with_capacity(CHUNK_LINES),
            bad: Vec::new(),
            bytes: 0,
        }
    }
}

/// Where the input comes from; strict mode reads it twice.
#[derive(Debug, Clone)]
enum Source {
    File(PathBuf),
    Memory(Arc<Vec<u8>>),
    Stdin,
}

#[derive(Debug)]
struct Shared(Arc<Vec<u8>>);
impl AsRef<[u8]> for Shared {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Source {
    fn open(&self) -> anyhow::Result<Box<dyn Read + Send>> {
        Ok(match self {
            Self::File(p) => Box::new(std::fs::File::open(p).with_context(|| format!("opening {}", p.display()))?),
            Self::Memory(b) => Box::new(std::io::Cursor::new(Shared(b.clone()))),
            Self::Stdin => Box::new(std::io::stdin()),
        })
    }
    fn len(&self) -> Option<u64> {
        match self {
            Self::File(p) => std::fs::metadata(p).ok().map(|m| m.len()),
            Self::Memory(b) => Some(b.len() as u64),
            Self::Stdin => None,
        }
    }
}

struct ChunkHasher(XxHash64, XxHash64);
impl ChunkHasher {
    fn new() -> Self {
        Self(XxHash64::with_seed(0x70696e), XxHash64::with_seed(0x646578))
    }
    fn write(&mut self, b: &[u8]) {
        self.0.write(b);
        self.1.write(b);
    }
    fn finish(&self) -> u128 {
        (u128::from(self.0.finish()) << 64) | u128::from(self.1.finish())
    }
}

/// Reads the input and sends parsed chunks until the end or until the receiver goes away.
fn produce(
    reader: Box<dyn Read + Send>,
    format: InputFormat,
    now: Timestamp,
    tx: &tokio::sync::mpsc::Sender<anyhow::Result<Chunk>>,
) -> anyhow::Result<()> {
    let mut reader = BufReader::with_capacity(1 << 20, reader);
    let mut index = 0u64;
    match format {
        InputFormat::Ndjson => {
            let mut line_no = 0u64;
            let mut buf = Vec::with_capacity(4096);
            loop {
                let mut chunk = Chunk::new(index);
                let mut hasher = ChunkHasher::new();
                let mut lines = 0usize;
                let mut eof = false;
                while lines < CHUNK_LINES {
                    buf.clear();
                    let n = reader.read_until(b'\n', &mut buf).context("reading the input")?;
                    if n == 0 {
                        eof = true;
                        break;
                    }
                    line_no += 1;
                    lines += 1;
                    chunk.bytes += n as u64;
                    hasher.write(&buf);
                    let text = match std::str::from_utf8(&buf) {
                        Ok(t) => t.trim(),
                        Err(e) => {
                            chunk.bad.push(BadLine {
                                line: line_no,
                                reason: format!("not UTF-8 ({e})"),
                            });
                            continue;
                        }
                    };
                    if text.is_empty() {
                        continue;
                    }
                    match parse_json_line(text, now) {
                        Ok(ev) => chunk.events.push(ev),
                        Err(reason) => chunk.bad.push(BadLine { line: line_no, reason }),
                    }
                }
                chunk.hash = hasher.finish();
                if lines > 0 && tx.blocking_send(Ok(chunk)).is_err() {
                    return Ok(());
                }
                index += 1;
                if eof {
                    return Ok(());
                }
            }
        }
        InputFormat::Csv => {
            let mut csv = csv::ReaderBuilder::new().flexible(false).from_reader(reader);
            let header = csv.headers().context("reading the CSV header")?.clone();
            let columns = CsvColumns::new(&header)?;
            let header_bytes = header.iter().collect::<Vec<_>>().join("\x1f");
            let mut rec = csv::StringRecord::new();
            let mut last_pos = csv.position().byte();
            loop {
                let mut chunk = Chunk::new(index);
                let mut hasher = ChunkHasher::new();
                hasher.write(header_bytes.as_bytes());
                let mut rows = 0usize;
                let mut eof = false;
                while rows < CHUNK_LINES {
                    let line = csv.position().line() + 1;
                    match csv.read_record(&mut rec) {
                        Ok(false) => {
                            eof = true;
                            break;
                        }
                        Ok(true) => {
                            rows += 1;
                            for f in &rec {
                                hasher.write(f.as_bytes());
                                hasher.write(b"\x1f");
                            }
                            hasher.write(b"\x1e");
                            let line = rec.position().map_or(line, csv::Position::line);
                            match columns.parse(&rec, now) {
                                Ok(ev) => chunk.events.push(ev),
                                Err(reason) => chunk.bad.push(BadLine { line, reason }),
                            }
                        }
                        Err(e) => {
                            rows += 1;
                            let line = e.position().map_or(line, csv::Position::line);
                            let reason = match e.kind() {
                                csv::ErrorKind::UnequalLengths { expected_len, len, .. } => {
                                    format!("{len} fields, the header has {expected_len}")
                                }
                                csv::ErrorKind::Utf8 { err, .. } => format!("not UTF-8 ({err})"),
                                _ => e.to_string(),
                            };
                            if matches!(e.kind(), csv::ErrorKind::Io(_)) {
                                return Err(anyhow::Error::new(e).context("reading the input"));
                            }
                            chunk.bad.push(BadLine { line, reason });
                        }
                    }
                }
                let pos = csv.position().byte();
                chunk.bytes = pos - last_pos;
                last_pos = pos;
                chunk.hash = hasher.finish();
                if rows > 0 && tx.blocking_send(Ok(chunk)).is_err() {
                    return Ok(());
                }
                index += 1;
                if eof {
                    return Ok(());
                }
            }
        }
    }
}

/// What `ingest` was asked to do.
#[derive(Debug, Clone)]
pub(crate) struct IngestRequest {
    /// The path as given (`-` for standard input).
    pub(crate) input: String,
    pub(crate) format: InputFormat,
    pub(crate) strict: bool,
    pub(crate) force: bool,
    pub(crate) progress: bool,
}

/// What `ingest` did.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub(crate) struct IngestReport {
    pub(crate) input: String,
    /// Events recorded.
    pub(crate) applied: u64,
    /// Events skipped because their chunk or id was applied before.
    pub(crate) already_applied: u64,
    /// Lines refused.
    pub(crate) bad_lines: u64,
    pub(crate) seconds: f64,
    /// The first bad lines (at most 100).
    #[serde(skip)]
    pub(crate) reported: Vec<BadLine>,
}

impl IngestRequest {
    /// The input format: `--format`, else the file extension (`.csv`), else NDJSON.
    pub(crate) fn guess_format(input: &str, given: Option<InputFormat>) -> InputFormat {
        given.unwrap_or_else(|| {
            if input.to_ascii_lowercase().ends_with(".csv") {
                InputFormat::Csv
            } else {
                InputFormat::Ndjson
            }
        })
    }
}

fn spawn_reader(
    source: &Source,
    format: InputFormat,
    now: Timestamp,
) -> anyhow::Result<(
    tokio::sync::mpsc::Receiver<anyhow::Result<Chunk>>,
    std::thread::JoinHandle<()>,
)> {
    let reader = source.open()?;
    let (tx, rx) = tokio::sync::mpsc::channel(2);
    let handle = std::thread::Builder::new()
        .name("pindex-ingest-parse".into())
        .spawn(move || {
            if let Err(e) = produce(reader, format, now, &tx) {
                let _ = tx.blocking_send(Err(e));
            }
        })
        .context("starting the parser thread")?;
    Ok((rx, handle))
}

/// Runs an ingest against a writer.
pub(crate) async fn run(store: &dyn PinStore, req: &IngestRequest) -> anyhow::Result<IngestReport> {
    let began = Instant::now();
    let source = match (req.input.as_str(), req.strict) {
        ("-", true) => {
            // Strict mode reads the input twice (check, then record): standard input is kept in memory.
            let mut all = Vec::new();
            std::io::stdin()
                .lock()
                .read_to_end(&mut all)
                .context("reading standard input")?;
            Source::Memory(Arc::new(all))
        }
        ("-", false) => Source::Stdin,
        (path, _) => Source::File(PathBuf::from(path)),
    };
    let now = pin_core::Clock::now(&pin_core::SystemClock);
    let mut report = IngestReport {
        input: req.input.clone(),
        ..IngestReport::default()
    };
    if req.strict {
        let (mut rx, handle) = spawn_reader(&source, req.format, now)?;
        while let Some(chunk) = rx.recv().await {
            let chunk = chunk?;
            note_bad(&mut report, chunk.bad);
        }
        let _ = handle.join();
        if report.bad_lines > 0 {
            return Ok(report);
        }
    }
    let (rx, handle) = spawn_reader(&source, req.format, now)?;
    apply_all(store, req, rx, source.len(), &mut report).await?;
    let _ = handle.join();
    report.seconds = began.elapsed().as_secs_f64();
    Ok(report)
}

fn note_bad(report: &mut IngestReport, bad: Vec<BadLine>) {
    report.bad_lines += bad.len() as u64;
    let room = MAX_REPORTED.saturating_sub(report.reported.len());
    report.reported.extend(bad.into_iter().take(room));
}

async fn apply_all(
    store: &dyn PinStore,
    req: &IngestRequest,
    mut rx: tokio::sync::mpsc::Receiver<anyhow::Result<Chunk>>,
    total_bytes: Option<u64>,
    report: &mut IngestReport,
) -> anyhow::Result<()> {
    let bar = req.progress.then(|| progress_bar(total_bytes));
    while let Some(chunk) = rx.recv().await {
        let chunk = chunk?;
        let bytes = chunk.bytes;
        let Chunk {
            index,
            hash,
            events,
            bad,
            ..
        } = chunk;
        note_bad(report, bad);
        // Runs of events without an id form one batch each; an event with an id is a batch of its own.
        let mut run: Vec<Event> = Vec::new();
        let mut run_no = 0u32;
        for (event, id) in events {
            match id {
                None => run.push(event),
                Some(id) => {
                    flush_run(store, req, &mut run, index, hash, &mut run_no, report).await?;
                    let n = 1;
                    match store
                        .apply(EventBatch::with_id(format!("event:{id}"), vec![event]))
                        .await?
                    {
                        ApplyOutcome::Applied { .. } => report.applied += n,
                        ApplyOutcome::Duplicate => report.already_applied += n,
                    }
                }
            }
        }
        flush_run(store, req, &mut run, index, hash, &mut run_no, report).await?;
        if let Some(bar) = &bar {
            bar.inc(bytes);
            bar.set_message(format!("{} events", report.applied + report.already_applied));
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    Ok(())
}

async fn flush_run(
    store: &dyn PinStore,
    req: &IngestRequest,
    run: &mut Vec<Event>,
    index: u64,
    hash: u128,
    run_no: &mut u32,
    report: &mut IngestReport,
) -> anyhow::Result<()> {
    if run.is_empty() {
        return Ok(());
    }
    let events = std::mem::take(run);
    let n = events.len() as u64;
    let batch = if req.force {
        EventBatch::new(events)
    } else {
        EventBatch::with_id(format!("ingest:{hash:032x}:{index}:{run_no}"), events)
    };
    *run_no += 1;
    match store.apply(batch).await? {
        ApplyOutcome::Applied { .. } => report.applied += n,
        ApplyOutcome::Duplicate => report.already_applied += n,
    }
    Ok(())
}

fn progress_bar(total: Option<u64>) -> indicatif::ProgressBar {
    let bar = match total {
        Some(n) => indicatif::ProgressBar::new(n).with_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({bytes_per_sec}, {eta} left) {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        ),
        None => indicatif::ProgressBar::new_spinner().with_style(
            indicatif::ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bytes} ({bytes_per_sec}) {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        ),
    };
    bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
    bar
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
        let (e, id) = parse_json_line(
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
            let err = parse_json_line(&line, now).unwrap_err();
            assert!(err.contains(want), "{line}: {err}");
        }
    }

    #[test]
    fn csv_rows_use_the_same_fields() {
        let header = csv::StringRecord::from(vec!["type", "cid", "ts", "size", "meta.team", "bytes"]);
        let cols = CsvColumns::new(&header).unwrap();
        let rec = csv::StringRecord::from(vec!["pin", CID, "2023-11-14T22:13:20Z", "5", "ml", ""]);
        let (e, _) = cols.parse(&rec, Timestamp(0)).unwrap();
        assert_eq!(e.ts, Timestamp(1_700_000_000_000));
        let EventKind::Upsert(p) = e.kind else {
            panic!("not an upsert")
        };
        assert_eq!(p.meta.get("team").map(String::as_str), Some("ml"));
        let bad = csv::StringRecord::from(vec!["access", CID, "", "", "", "lots"]);
        assert!(cols.parse(&bad, Timestamp(0)).unwrap_err().contains("bytes \"lots\""));
        let unknown = csv::StringRecord::from(vec!["type", "colour"]);
        assert!(
            CsvColumns::new(&unknown)
                .unwrap_err()
                .to_string()
                .contains("\"colour\"")
        );
    }
}
