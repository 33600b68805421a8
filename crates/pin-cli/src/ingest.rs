//! `pindex ingest`: the interchange format (docs/formats.md), parsed on a thread of its own and applied
//! in chunks of up to [`CHUNK_LINES`] events, each chunk one or a few `EventBatch`es.
//!
//! Idempotence: each chunk's batches carry an id derived from a 128-bit hash of the chunk's bytes and
//! its position in the input, so ingesting the same content again finds every batch already applied and
//! records nothing. A line with an `"id"` is applied as a batch of its own, with that id, so it is
//! skipped whenever it was applied before, from whatever file.
//!
//! The parsing of one line or row is `pin_core::interchange`, shared with `POST /v1/events`.

use std::hash::Hasher;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use clap::ValueEnum;
use pin_core::{ApplyOutcome, Event, EventBatch, PinStore, Timestamp};
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

use pin_core::interchange::{CsvColumns, parse_ndjson_line};
pub(crate) use pin_core::interchange::{DEFAULT_TIER, parse_ts};

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
                    match parse_ndjson_line(text, now) {
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
            let columns = CsvColumns::new(&header).map_err(anyhow::Error::msg)?;
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
                            match columns.parse_row(&rec, now) {
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
