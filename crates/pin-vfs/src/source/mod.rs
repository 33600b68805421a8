//! Sources of VFS events behind one trait, and the loop that feeds them to the adapter.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;

use crate::adapter::{Adapter, ApplyReport};
use crate::error::Result;
use crate::event::{Problem, VfsEvent};

pub(crate) mod channel;
pub(crate) mod checkpoint;
pub(crate) mod ipfs_kit;
pub(crate) mod journal;
pub(crate) mod watch;

/// Runs blocking file system work on tokio's blocking threads, so async callers never stall a runtime
/// worker on a slow disk (or an fsync).
pub(crate) async fn blocking<T, F>(work: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| crate::Error::Task(e.to_string()))
}

/// Events a source hands over together, to be applied as one batch.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Chunk {
    /// The batch id that makes re-delivery idempotent, when the source has positions (journals).
    pub batch_id: Option<String>,
    /// The events, in order.
    pub events: Vec<VfsEvent>,
    /// Bad input the source skipped while reading this chunk.
    pub problems: Vec<Problem>,
}

/// A source of VFS events.
///
/// The core is small and dyn-compatible (`Box<dyn EventSource>`): take the next chunk, acknowledge it once
/// it is applied. [`run`] is the loop every caller wants.
///
/// # Contract
///
/// - [`next_chunk`](Self::next_chunk) returns the next chunk, waits while a live source has nothing new, and
///   returns `None` when a finite source is exhausted. It is cancel-safe: dropping its future loses nothing.
/// - Until [`ack`](Self::ack) is called, the chunk is not consumed: a source with a checkpoint hands the same
///   chunk, with the same batch id, to the next process after a crash.
#[async_trait]
pub trait EventSource: Send + fmt::Debug {
    /// The next chunk, or `None` when the source is exhausted.
    async fn next_chunk(&mut self) -> Result<Option<Chunk>>;

    /// Marks the last chunk returned as applied.
    async fn ack(&mut self) -> Result<()>;

    /// After a stop was requested: whatever the source holds back (e.g. changes still settling), at once.
    async fn drain(&mut self) -> Result<Option<Chunk>> {
        Ok(None)
    }
}

/// Progress of a source, for a caller to show (the CLI draws it; nothing here knows terminals).
pub trait Reporter: Send + Sync + fmt::Debug {
    /// A directory scan found `files` files, `bytes` in all, and starts hashing them.
    fn scan_started(&self, _root: &Path, _files: u64, _bytes: u64) {}
    /// One file of the scan was hashed.
    fn file_indexed(&self, _path: &Path, _bytes: u64) {}
    /// The scan is over.
    fn scan_finished(&self, _files: u64, _bytes: u64) {}
    /// Bad input was skipped.
    fn problem(&self, _problem: &Problem) {}
    /// A batch was handed to the store.
    fn batch_applied(&self, _report: &ApplyReport) {}
}

/// A reporter that reports nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct SilentReporter;

impl Reporter for SilentReporter {}

/// A reporter that logs problems with `tracing` and ignores progress.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogReporter;

impl Reporter for LogReporter {
    fn problem(&self, problem: &Problem) {
        tracing::warn!("{problem}");
    }
}

/// Asks a running [`run`] (and the watcher) to finish: flush what is pending and return.
#[derive(Debug, Clone)]
pub struct Stop(Arc<tokio::sync::watch::Sender<bool>>);

impl Default for Stop {
    fn default() -> Self {
        Self::new()
    }
}

impl Stop {
    /// A handle not stopped yet.
    pub fn new() -> Self {
        Self(Arc::new(tokio::sync::watch::channel(false).0))
    }
    /// Requests the stop.
    pub fn stop(&self) {
        self.0.send_replace(true);
    }
    /// Whether a stop was requested.
    pub fn is_stopped(&self) -> bool {
        *self.0.borrow()
    }
    /// Completes once a stop is requested.
    pub async fn stopped(&self) {
        let mut rx = self.0.subscribe();
        // The sender lives in `self`, so waiting cannot fail.
        let _ = rx.wait_for(|stopped| *stopped).await;
    }
}

/// What a [`run`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RunSummary {
    /// Chunks taken from the source.
    pub chunks: u64,
    /// Of which the store had already applied (re-delivered after a crash, or replayed twice).
    pub duplicates: u64,
    /// VFS events read.
    pub vfs_events: u64,
    /// pin-core events applied.
    pub pin_events: u64,
    /// Bad input skipped.
    pub problems: u64,
    /// Failed operations counted but not applied.
    pub failed_ops: u64,
    /// Reads and writes of unknown content.
    pub unattributed: u64,
}

/// Feeds `source` to `adapter` until the source is exhausted or `stop` is requested.
///
/// Each chunk is applied as one batch and acknowledged after the store acknowledged it, so a crash
/// anywhere re-delivers at most the chunk in flight, under the same batch id, which the store then
/// recognises. On stop, the source is drained first, so nothing it held back is lost.
pub async fn run(
    source: &mut dyn EventSource,
    adapter: &mut Adapter,
    stop: &Stop,
    reporter: &dyn Reporter,
) -> Result<RunSummary> {
    let mut summary = RunSummary::default();
    loop {
        let next = tokio::select! {
            biased;
            () = stop.stopped() => break,
            next = source.next_chunk() => next?,
        };
        let Some(chunk) = next else {
            return Ok(summary);
        };
        process(source, adapter, reporter, chunk, &mut summary).await?;
    }
    while let Some(chunk) = source.drain().await? {
        process(source, adapter, reporter, chunk, &mut summary).await?;
    }
    Ok(summary)
}

async fn process(
    source: &mut dyn EventSource,
    adapter: &mut Adapter,
    reporter: &dyn Reporter,
    chunk: Chunk,
    summary: &mut RunSummary,
) -> Result<()> {
    summary.chunks += 1;
    for p in &chunk.problems {
        reporter.problem(p);
    }
    summary.problems += chunk.problems.len() as u64;
    let report = adapter.apply(chunk.batch_id, chunk.events).await?;
    source.ack().await?;
    for p in &report.problems {
        reporter.problem(p);
    }
    summary.problems += report.problems.len() as u64;
    summary.vfs_events += report.vfs_events as u64;
    summary.pin_events += report.pin_events as u64;
    summary.failed_ops += report.failed_ops as u64;
    summary.unattributed += report.unattributed as u64;
    summary.duplicates += u64::from(report.is_duplicate());
    reporter.batch_applied(&report);
    Ok(())
}

/// Several sources one after another: each is read until it is exhausted, then the next.
///
/// For `pindex vfs replay A B C --follow`, make A and B one-shot and C followed: a followed source never
/// ends, so only the last of a sequence should follow.
#[derive(Debug)]
pub struct Sequence {
    sources: std::collections::VecDeque<Box<dyn EventSource>>,
    /// Whether the front source handed out a chunk that is not acknowledged yet.
    in_flight: bool,
}

impl Sequence {
    /// The sources, in the order to read them.
    pub fn new(sources: Vec<Box<dyn EventSource>>) -> Self {
        Self {
            sources: sources.into(),
            in_flight: false,
        }
    }
}

#[async_trait]
impl EventSource for Sequence {
    async fn next_chunk(&mut self) -> Result<Option<Chunk>> {
        while let Some(front) = self.sources.front_mut() {
            if let Some(chunk) = front.next_chunk().await? {
                self.in_flight = true;
                return Ok(Some(chunk));
            }
            self.sources.pop_front();
        }
        Ok(None)
    }

    async fn ack(&mut self) -> Result<()> {
        if std::mem::take(&mut self.in_flight)
            && let Some(front) = self.sources.front_mut()
        {
            front.ack().await?;
        }
        Ok(())
    }

    async fn drain(&mut self) -> Result<Option<Chunk>> {
        match self.sources.front_mut() {
            Some(front) => {
                let chunk = front.drain().await?;
                self.in_flight = chunk.is_some();
                Ok(chunk)
            }
            None => Ok(None),
        }
    }
}

/// The journal formats `pindex vfs replay --format` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum JournalFormat {
    /// Decide per input: a directory, or a `journal_*.json` file that does not start with `{`, is ipfs_kit;
    /// anything else Pindex NDJSON.
    #[default]
    Auto,
    /// Pindex's NDJSON journal (`docs/formats.md`).
    Pindex,
    /// ipfs_kit_py's `journal_*.json` files (or a directory of them).
    IpfsKit,
}

impl std::str::FromStr for JournalFormat {
    type Err = crate::Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(Self::Auto),
            "pindex" | "ndjson" => Ok(Self::Pindex),
            "ipfs-kit" | "ipfs_kit" => Ok(Self::IpfsKit),
            other => Err(crate::Error::InvalidArgument {
                what: "journal format",
                input: other.to_owned(),
                expected: "pindex, ipfs-kit or auto",
            }),
        }
    }
}

/// The source for `pindex vfs replay <JOURNAL...> [--follow] [--format pindex|ipfs-kit]`: every journal
/// in order, the last one followed if `follow`.
pub fn replay_source(
    journals: &[std::path::PathBuf],
    format: JournalFormat,
    follow: bool,
    checkpoints: Arc<dyn checkpoint::CheckpointStore>,
) -> Sequence {
    let last = journals.len().saturating_sub(1);
    let sources = journals
        .iter()
        .enumerate()
        .map(|(i, path)| -> Box<dyn EventSource> {
            let follow = follow && i == last;
            let kit = match format {
                JournalFormat::IpfsKit => true,
                JournalFormat::Pindex => false,
                JournalFormat::Auto => {
                    path.is_dir() || (ipfs_kit::is_ipfs_kit_journal(path) && !journal::looks_like_ndjson(path))
                }
            };
            if kit {
                Box::new(ipfs_kit::IpfsKitSource::new(
                    vec![path.clone()],
                    checkpoints.clone(),
                    ipfs_kit::IpfsKitOptions {
                        follow,
                        ..ipfs_kit::IpfsKitOptions::default()
                    },
                ))
            } else {
                Box::new(journal::JournalSource::new(
                    path.clone(),
                    checkpoints.clone(),
                    journal::JournalOptions {
                        follow,
                        ..journal::JournalOptions::default()
                    },
                ))
            }
        })
        .collect();
    Sequence::new(sources)
}
