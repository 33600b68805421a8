//! The VFS commands: `pindex cid`, `pindex watch`, `pindex vfs replay` and `pindex vfs`, glue over `pin-vfs`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use pin_core::report::{MountIoRow, MountSummary, OpRow, human_bytes};
use pin_core::{PinStore, SystemClock};
use pin_vfs::{
    Adapter, AdapterConfig, CidVersion, DirCheckpoints, DirWatcher, JournalFormat, OpStats, Problem, RunSummary, Stop,
    WatchOptions,
};
use serde::Serialize;

use crate::Settings;
use crate::output::{Format, write_report};

/// A pin-vfs error as one message: its `Display` already names the cause, which `{:#}` would repeat.
fn flat(e: pin_vfs::Error) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

/// Problems printed one by one; the rest are counted.
const MAX_REPORTED: u64 = 100;

/// `pindex cid FILE...`: one CID per line, as `ipfs add --only-hash -Q` prints it. A file that cannot be
/// read is reported and skipped; the command then exits 2.
pub(crate) fn cid(
    s: &Settings,
    out: &mut impl Write,
    files: &[PathBuf],
    version: CidVersion,
) -> anyhow::Result<ExitCode> {
    let mut failed = 0u64;
    for f in files {
        let result = if f.as_os_str() == "-" {
            pin_vfs::cid_of_reader(std::io::stdin().lock(), version).map_err(|e| format!("standard input: {e}"))
        } else if f.is_dir() {
            Err(format!(
                "{} is a directory; give the files in it (pindex cid computes the CIDs of files)",
                f.display()
            ))
        } else {
            // The error names the file and the cause in its message.
            pin_vfs::cid_of_file(f, version).map_err(|e| e.to_string())
        };
        match result {
            Ok(id) => writeln!(out, "{id}")?,
            Err(e) => {
                out.flush()?;
                eprintln!("pindex: {} {e}", s.err_style.red("error:"));
                failed += 1;
            }
        }
    }
    if failed > 0 {
        out.flush()?;
        bail!("{failed} of {} files could not be hashed (reasons above)", files.len());
    }
    Ok(ExitCode::SUCCESS)
}

/// Draws a VFS source's progress: a byte bar for the watcher's first pass on a terminal, problems on stderr.
#[derive(Debug)]
struct CliReporter {
    bar: Option<indicatif::ProgressBar>,
    quiet: bool,
    problems: AtomicU64,
}

impl CliReporter {
    fn new(s: &Settings) -> Self {
        Self {
            bar: s.progress.then(|| {
                let bar = indicatif::ProgressBar::hidden();
                bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
                bar
            }),
            quiet: s.quiet,
            problems: AtomicU64::new(0),
        }
    }

    fn say(&self, line: &str) {
        if self.quiet {
            return;
        }
        match &self.bar {
            Some(bar) => bar.suspend(|| eprintln!("{line}")),
            None => eprintln!("{line}"),
        }
    }

    fn problems(&self) -> u64 {
        self.problems.load(Ordering::Relaxed)
    }
}

impl pin_vfs::Reporter for CliReporter {
    fn scan_started(&self, root: &Path, files: u64, bytes: u64) {
        let msg = format!("indexing {files} files ({}) in {}", human_bytes(bytes), root.display());
        match &self.bar {
            Some(bar) => {
                bar.reset();
                bar.set_length(bytes);
                bar.set_message(msg);
                bar.set_style(
                    indicatif::ProgressStyle::with_template(
                        "{spinner} {msg} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
                    )
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
                );
                bar.enable_steady_tick(Duration::from_millis(120));
            }
            None => self.say(&format!("pindex: {msg}")),
        }
    }
    fn file_indexed(&self, _path: &Path, bytes: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(bytes);
        }
    }
    fn scan_finished(&self, files: u64, bytes: u64) {
        if let Some(bar) = &self.bar {
            bar.disable_steady_tick();
            bar.finish_and_clear();
        }
        self.say(&format!("pindex: indexed {files} files ({})", human_bytes(bytes)));
    }
    fn problem(&self, problem: &Problem) {
        let n = self.problems.fetch_add(1, Ordering::Relaxed);
        if n < MAX_REPORTED {
            // Problems are shown even with -q, as ingest shows bad lines.
            match &self.bar {
                Some(bar) => bar.suspend(|| eprintln!("pindex: {problem}")),
                None => eprintln!("pindex: {problem}"),
            }
        } else if n == MAX_REPORTED {
            eprintln!("pindex: more problems follow; only their count is printed at the end");
        }
    }
}

/// Asks `stop` to stop at the first SIGINT (Ctrl-C) or SIGTERM; a second one exits at once (code 130).
pub(crate) fn stop_on_signals(stop: Stop, quiet: bool) {
    tokio::spawn(async move {
        let mut first = true;
        loop {
            if wait_for_signal().await.is_err() {
                // No signal handling: the command runs until its source ends or it is killed.
                return;
            }
            if first {
                first = false;
                if !quiet {
                    eprintln!("pindex: stopping: recording pending changes (interrupt again to exit at once)");
                }
                stop.stop();
            } else {
                eprintln!("pindex: interrupted again; exiting without waiting");
                std::process::exit(130);
            }
        }
    });
}

#[cfg(unix)]
async fn wait_for_signal() -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}

#[cfg(not(unix))]
async fn wait_for_signal() -> std::io::Result<()> {
    tokio::signal::ctrl_c().await
}

/// What `watch` and `vfs replay` print at the end.
#[derive(Debug, Serialize)]
struct RunReport {
    chunks: u64,
    duplicate_chunks: u64,
    vfs_events: u64,
    pin_events: u64,
    problems: u64,
    failed_ops: u64,
    unattributed: u64,
    seconds: f64,
    /// Operation counts of the run, per kind, as the adapter saw them.
    operations: Vec<OpRow>,
    mounts: Vec<MountIoRow>,
}

fn run_report(r: &RunSummary, stats: &OpStats, seconds: f64) -> RunReport {
    RunReport {
        chunks: r.chunks,
        duplicate_chunks: r.duplicates,
        vfs_events: r.vfs_events,
        pin_events: r.pin_events,
        problems: r.problems,
        failed_ops: r.failed_ops,
        unattributed: r.unattributed,
        seconds,
        operations: OpRow::all(stats),
        mounts: MountIoRow::all(stats),
    }
}

/// One line per kind of operation, then one per mount point with the bytes moved.
fn print_ops(out: &mut impl Write, operations: &[OpRow], mounts: &[MountIoRow]) -> anyhow::Result<()> {
    for o in operations {
        writeln!(
            out,
            "  {:<9} {:>10}  {:>6.2}% ok  {}",
            o.op,
            o.count,
            o.success_rate * 100.0,
            match (o.mean_latency_us, o.max_latency_us) {
                (Some(mean), Some(max)) => format!("latency mean {mean:.0} µs, max {max} µs"),
                _ => "latency -".to_owned(),
            }
        )?;
    }
    for m in mounts {
        writeln!(
            out,
            "  {:<20} read {} in {} reads, wrote {} in {} writes",
            m.mount,
            human_bytes(m.bytes_read),
            m.reads,
            human_bytes(m.bytes_written),
            m.writes
        )?;
    }
    Ok(())
}

fn print_run(out: &mut impl Write, what: &str, r: &RunReport) -> anyhow::Result<()> {
    writeln!(
        out,
        "{what}: {} operations in {:.2} s: {} pin events recorded in {} batches ({} batches already recorded, skipped)",
        r.vfs_events,
        r.seconds,
        r.pin_events,
        r.chunks - r.duplicate_chunks,
        r.duplicate_chunks
    )?;
    if r.failed_ops > 0 || r.unattributed > 0 {
        writeln!(
            out,
            "  {} failed operations logged, not applied; {} reads/writes of unknown content not counted as accesses",
            r.failed_ops, r.unattributed
        )?;
    }
    print_ops(out, &r.operations, &r.mounts)
}

/// The VFS mount point for `--mount NAME` (or the directory's name): `/NAME`, normalised.
fn mount_point(dir: &Path, name: Option<&str>) -> anyhow::Result<String> {
    let name = match name {
        Some(n) => n.to_owned(),
        None => {
            let canon = dir
                .canonicalize()
                .with_context(|| format!("cannot watch {}", dir.display()))?;
            canon
                .file_name()
                .and_then(|n| n.to_str())
                .map(str::to_owned)
                .with_context(|| format!("{} has no UTF-8 name to mount it as; pass --mount NAME", dir.display()))?
        }
    };
    let raw = if name.starts_with('/') {
        name
    } else {
        format!("/{name}")
    };
    pin_vfs::normalize_path(&raw).map_err(|e| anyhow::anyhow!("invalid --mount: {e}"))
}

/// `pindex watch DIR`: index the directory, then follow its changes until SIGINT or SIGTERM.
pub(crate) async fn watch(
    s: &Settings,
    out: &mut impl Write,
    dir: &Path,
    mount: Option<&str>,
    version: CidVersion,
) -> anyhow::Result<ExitCode> {
    if !dir.is_dir() {
        bail!("cannot watch {}: not a directory", dir.display());
    }
    let mount = mount_point(dir, mount)?;
    let store: Arc<dyn PinStore> = Arc::new(s.open_writer().await?);
    let mut adapter = Adapter::new(store, AdapterConfig::default());
    adapter
        .load_index()
        .await
        .map_err(flat)
        .context("loading the VFS paths of the store")?;
    let reporter = Arc::new(CliReporter::new(s));
    let options = WatchOptions {
        cid_version: version,
        ..WatchOptions::new(mount.clone())
    };
    let mut watcher = DirWatcher::new(dir, options, Arc::new(SystemClock), reporter.clone()).map_err(flat)?;
    watcher.expect_paths(adapter.index().paths_of_mount(&mount).map(|(p, _)| p.to_owned()));
    let stop = Stop::new();
    stop_on_signals(stop.clone(), s.quiet);
    reporter.say(&format!(
        "pindex: watching {} as {mount} (CIDv{version}); Ctrl-C stops",
        watcher.root().display()
    ));
    let began = Instant::now();
    let summary = pin_vfs::run(&mut watcher, &mut adapter, &stop, &*reporter)
        .await
        .map_err(flat)?;
    let report = run_report(&summary, adapter.stats(), began.elapsed().as_secs_f64());
    if !s.quiet {
        print_run(out, &format!("watch {mount}"), &report)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `pindex vfs replay JOURNAL... [--follow] [--format F]`.
pub(crate) async fn replay(
    s: &Settings,
    out: &mut impl Write,
    journals: &[PathBuf],
    format: JournalFormat,
    follow: bool,
) -> anyhow::Result<ExitCode> {
    for j in journals {
        if !j.exists() {
            bail!("cannot replay {}: no such file or directory", j.display());
        }
    }
    let store: Arc<dyn PinStore> = Arc::new(s.open_writer().await?);
    let checkpoints = Arc::new(DirCheckpoints::open(s.data_dir.join("vfs-checkpoints")).map_err(flat)?);
    let mut source = pin_vfs::replay_source(journals, format, follow, checkpoints);
    let mut adapter = Adapter::new(store, AdapterConfig::default());
    let reporter = CliReporter::new(s);
    // A one-shot replay stops cleanly at Ctrl-C too: after the chunk in flight, checkpointed.
    let stop = Stop::new();
    stop_on_signals(stop.clone(), s.quiet);
    let began = Instant::now();
    let summary = pin_vfs::run(&mut source, &mut adapter, &stop, &reporter)
        .await
        .map_err(flat)?;
    let report = run_report(&summary, adapter.stats(), began.elapsed().as_secs_f64());
    if !s.quiet {
        print_run(out, "replayed", &report)?;
    }
    let problems = reporter.problems().max(summary.problems);
    if problems > 0 {
        out.flush()?;
        bail!("{problems} bad entries skipped (reasons above); every valid entry was recorded");
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Serialize)]
struct VfsReport {
    mounts: Vec<MountSummary>,
    /// VFS operations of the last day (the store's 1440 minute buckets up to now), by kind.
    operations_last_day: Vec<OpRow>,
    /// Bytes their successful reads and writes moved, per mount point.
    io_last_day: Vec<MountIoRow>,
}

/// `pindex vfs`: mount points with their pins, paths, bytes and most used paths.
pub(crate) async fn summary(
    s: &Settings,
    out: &mut impl Write,
    top: usize,
    format: Format,
) -> anyhow::Result<ExitCode> {
    let store = s.open_reader().await?;
    let sum = pin_vfs::summarize(&store, top).await.map_err(flat)?;
    let ops = store.metrics().await?.vfs_last_day;
    let report = VfsReport {
        operations_last_day: OpRow::all(&ops),
        io_last_day: MountIoRow::all(&ops),
        mounts: sum.mounts,
    };
    if format != Format::Table {
        write_report(out, format, &report)?;
        return Ok(ExitCode::SUCCESS);
    }
    let b = |t: &str| s.out_style.bold(t);
    if report.operations_last_day.is_empty() {
        writeln!(out, "no VFS operation in the last 24 h")?;
    } else {
        writeln!(out, "{}", b("VFS operations in the last 24 h"))?;
        print_ops(out, &report.operations_last_day, &report.io_last_day)?;
    }
    writeln!(out)?;
    if report.mounts.is_empty() {
        writeln!(
            out,
            "no pin has a VFS path (pindex watch, pindex vfs replay or add --vfs-path record them)"
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(
        out,
        "{}",
        b(&format!(
            "{:<24} {:>8} {:>8} {:>11} {:>10} {:>11} {:>11}",
            "MOUNT", "PINS", "PATHS", "BYTES", "ACCESSES", "READ", "WRITTEN"
        ))
    )?;
    for m in &report.mounts {
        writeln!(
            out,
            "{:<24} {:>8} {:>8} {:>11} {:>10} {:>11} {:>11}",
            m.mount,
            m.pins,
            m.paths,
            human_bytes(m.bytes),
            m.accesses,
            human_bytes(m.bytes_read),
            human_bytes(m.bytes_written)
        )?;
    }
    for m in &report.mounts {
        if m.top_paths.is_empty() {
            continue;
        }
        writeln!(out)?;
        writeln!(out, "{}", b(&format!("most used paths under {}", m.mount)))?;
        for p in &m.top_paths {
            writeln!(
                out,
                "  {:>8}  {:>10}  {}  {}",
                p.accesses,
                human_bytes(p.bytes_read),
                p.path,
                p.cid
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_points_are_absolute_and_normalised() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(mount_point(dir.path(), Some("docs")).unwrap(), "/docs");
        assert_eq!(mount_point(dir.path(), Some("/a//b/")).unwrap(), "/a/b");
        let named = dir.path().join("inbox");
        std::fs::create_dir(&named).unwrap();
        assert_eq!(mount_point(&named, None).unwrap(), "/inbox");
        assert!(mount_point(dir.path(), Some("a/../b")).is_err());
    }
}
