//! One function per command: validated settings in, library calls, output on a locked stdout.

use std::io::{BufWriter, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use pin_core::report::{MetricsReport, TopPin, TrackReport, human_bytes, rfc3339};
use pin_core::{
    Access, Cid, Clock, Cursor, Event, EventBatch, EventKind, Metrics, Pin, PinFilter, PinStatus, PinStore, PinView,
    SystemClock, Timestamp,
};
use pin_store::datafusion::arrow::array::RecordBatch;
use pin_store::datafusion::arrow::util::pretty::pretty_format_batches;
use pin_store::{ExportTable, ParquetPinStore, PinSort, SortCursor, SortedQuery};
use serde::Serialize;

use crate::ingest::{self, IngestRequest};
use crate::output::{Format, PinWriter, Style, render_json, write_report};
use crate::{AccessArgs, AddArgs, Command, ExportFormat, ExportTableArg, FormatArg, PinsArgs, Settings, VfsCommand};

pub(crate) async fn run(command: Command, s: Settings) -> anyhow::Result<ExitCode> {
    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    let code = match command {
        Command::Add(a) => add(&s, &mut out, a).await?,
        Command::Rm { cid, at } => rm(&s, &mut out, &cid, at).await?,
        Command::Access(a) => access(&s, &mut out, a).await?,
        Command::Ingest {
            input,
            format,
            strict,
            force,
        } => {
            let req = IngestRequest {
                format: IngestRequest::guess_format(&input, format),
                input,
                strict,
                force,
                progress: s.progress,
            };
            ingest_cmd(&s, &mut out, &req).await?
        }
        Command::Track { cid, recent, format } => track(&s, &mut out, &cid, recent, s.format(format)).await?,
        Command::Pins(a) => pins(&s, &mut out, a).await?,
        Command::Metrics { top, format } => metrics(&s, &mut out, top, s.format(format)).await?,
        Command::Status { format } => status(&s, &mut out, s.format(format)).await?,
        Command::Sql { query, format } => sql(&s, &mut out, &query, s.format(format)).await?,
        Command::Compact => Box::pin(compact(&s, &mut out)).await?,
        Command::Vacuum => vacuum(&s, &mut out).await?,
        Command::Export { format, table, path } => export(&s, &mut out, format, table, &path).await?,
        Command::Cid { files, cid_version } => crate::vfs::cid(&s, &mut out, &files, cid_version)?,
        Command::Watch {
            dir,
            mount,
            cid_version,
        } => crate::vfs::watch(&s, &mut out, &dir, mount.as_deref(), cid_version).await?,
        Command::Vfs(a) => match a.action {
            Some(VfsCommand::Replay {
                journals,
                follow,
                format,
            }) => crate::vfs::replay(&s, &mut out, &journals, format.into(), follow).await?,
            None => crate::vfs::summary(&s, &mut out, a.top, s.format(a.format)).await?,
        },
        Command::Plan {
            tiers,
            at,
            apply,
            format,
        } => crate::tiers::plan(&s, &mut out, tiers.as_deref(), at, apply, s.format(format)).await?,
        Command::Serve {
            listen,
            token_file,
            delegates,
            tiers,
            report_interval,
            reads,
        } => {
            let req = crate::serve::ServeRequest {
                listen,
                token_file,
                delegates,
                tiers,
                report_interval: Duration::from_secs(report_interval),
                open_reads: reads.map(|r| r == crate::ReadsPolicy::Open),
            };
            crate::serve::serve(&s, &mut out, req).await?
        }
        Command::Analytics {
            top,
            tiers,
            at,
            history_days,
            format,
        } => crate::tiers::analytics(&s, &mut out, top, tiers.as_deref(), at, history_days, s.format(format)).await?,
        Command::Simulate(a) => {
            let req = crate::tiers::SimulateRequest {
                trace: a.trace,
                policies: a.policies,
                capacities: a.capacities,
                tiers: a.tiers,
                fast_tier: a.fast_tier,
                slow_tier: a.slow_tier,
            };
            crate::tiers::simulate(&s, &mut out, &req, s.format(a.format))?
        }
        Command::Demo { pins, events, seed } => {
            let store = s.open_writer().await?;
            let report = crate::demo::run(&store, pins, events, seed, !s.quiet).await?;
            if !s.quiet {
                writeln!(out, "{report}")?;
            }
            // Leave the store as it settles in use: one compacted base, whose largest and hottest pins
            // the manifest records, so the report below and every later `metrics` read them at no cost.
            store.compact().await?;
            let m = store.metrics().await?;
            let fmt = s.format(FormatArg { format: None });
            print_metrics(&mut out, &metrics_report(&store, m, 5).await?, fmt, s.out_style)?;
            ExitCode::SUCCESS
        }
    };
    out.flush()?;
    Ok(code)
}

pub(crate) fn now() -> Timestamp {
    SystemClock.now()
}

fn parse_cid(input: &str) -> anyhow::Result<Cid> {
    Ok(Cid::parse(input)?)
}

async fn add(s: &Settings, out: &mut impl Write, a: AddArgs) -> anyhow::Result<ExitCode> {
    let cid = parse_cid(&a.cid)?;
    let store = s.open_writer().await?;
    let at = a.at.unwrap_or_else(now);
    let existing = store.get(&cid).await?;
    let created = existing.is_none();
    let mut pin = match existing {
        Some(v) => Pin {
            cid: cid.clone(),
            ..v.pin
        },
        None => Pin::new(cid.clone(), a.tier.unwrap_or(ingest::DEFAULT_TIER), at),
    };
    if let Some(n) = a.name {
        pin.name = Some(n);
    }
    if let Some(n) = a.size {
        pin.size_bytes = n;
    }
    if let Some(t) = a.pin_type {
        pin.pin_type = t;
    }
    if let Some(st) = a.status {
        pin.status = st;
        pin.status_reason = None;
    }
    if let Some(t) = a.tier
        && t != pin.primary_tier
    {
        pin.tiers.remove(&pin.primary_tier);
        pin.tiers.insert(t);
        pin.primary_tier = t;
    }
    for (k, v) in a.meta {
        if v.is_empty() {
            pin.meta.remove(&k);
        } else {
            pin.meta.insert(k, v);
        }
    }
    pin.vfs_paths.extend(a.vfs_paths);
    if let Some(m) = a.mount {
        pin.mount = Some(m);
    }
    let summary = format!(
        "{} {} ({}, {}, {})",
        if created { "added" } else { "updated" },
        pin.cid,
        pin.status,
        pin.primary_tier,
        human_bytes(pin.size_bytes)
    );
    store
        .apply(EventBatch::new(vec![Event {
            ts: at,
            kind: EventKind::Upsert(Box::new(pin)),
        }]))
        .await?;
    if !s.quiet {
        writeln!(out, "{summary}")?;
    }
    Ok(ExitCode::SUCCESS)
}

async fn rm(s: &Settings, out: &mut impl Write, cid: &str, at: Option<Timestamp>) -> anyhow::Result<ExitCode> {
    let cid = parse_cid(cid)?;
    let store = s.open_writer().await?;
    match store.get(&cid).await? {
        None => {
            eprintln!("pindex: {cid} is not pinned here; nothing recorded");
            Ok(ExitCode::from(1))
        }
        Some(v) if v.pin.status == PinStatus::Unpinned => {
            if !s.quiet {
                writeln!(out, "{cid} is already unpinned; nothing recorded")?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(_) => {
            store
                .apply(EventBatch::new(vec![Event {
                    ts: at.unwrap_or_else(now),
                    kind: EventKind::Unpin { cid: cid.clone() },
                }]))
                .await?;
            if !s.quiet {
                writeln!(out, "unpinned {cid} (history kept)")?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn access(s: &Settings, out: &mut impl Write, a: AccessArgs) -> anyhow::Result<ExitCode> {
    let cid = parse_cid(&a.cid)?;
    let store = s.open_writer().await?;
    let event = Event {
        ts: a.at.unwrap_or_else(now),
        kind: EventKind::Access(Access {
            cid: cid.clone(),
            op: a.op,
            offset: a.offset,
            length: a.bytes,
            tier: a.tier,
            vfs_path: a.vfs_path,
            latency_us: a.latency_us,
        }),
    };
    store.apply(EventBatch::new(vec![event])).await?;
    if !s.quiet {
        let pinned = if store.get(&cid).await?.is_some() {
            ""
        } else {
            " (not pinned here; kept)"
        };
        writeln!(out, "recorded a {} of {cid}{pinned}", a.op)?;
    }
    Ok(ExitCode::SUCCESS)
}

async fn ingest_cmd(s: &Settings, out: &mut impl Write, req: &IngestRequest) -> anyhow::Result<ExitCode> {
    if req.input != "-" && !std::path::Path::new(&req.input).is_file() {
        bail!(
            "cannot read {:?}: no such file (give a path, or - for standard input)",
            req.input
        );
    }
    let store = s.open_writer().await?;
    let r = ingest::run(&store, req).await?;
    for b in &r.reported {
        eprintln!("pindex: {}:{}: {}", req.input, b.line, b.reason);
    }
    if r.bad_lines > r.reported.len() as u64 {
        eprintln!(
            "pindex: ... and {} more bad lines",
            r.bad_lines - r.reported.len() as u64
        );
    }
    if req.strict && r.bad_lines > 0 {
        bail!(
            "{}: {} bad lines; nothing recorded (--strict). Fix them, or drop --strict to skip them",
            req.input,
            r.bad_lines
        );
    }
    if !s.quiet {
        if r.applied == 0 && r.already_applied > 0 {
            writeln!(
                out,
                "{}: already ingested ({} events); nothing recorded. Use --force to record it again",
                req.input, r.already_applied
            )?;
        } else {
            let rate = r.applied as f64 / r.seconds.max(1e-9);
            write!(
                out,
                "{}: recorded {} events in {:.2} s ({rate:.0} events/s)",
                req.input, r.applied, r.seconds
            )?;
            if r.already_applied > 0 {
                write!(out, "; {} already recorded before, skipped", r.already_applied)?;
            }
            writeln!(out)?;
        }
    }
    if r.bad_lines > 0 {
        out.flush()?;
        bail!(
            "{}: {} bad lines skipped (reasons above); every other line was recorded",
            req.input,
            r.bad_lines
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn track(
    s: &Settings,
    out: &mut impl Write,
    cid: &str,
    recent: usize,
    format: Format,
) -> anyhow::Result<ExitCode> {
    let cid = parse_cid(cid)?;
    let store = s.open_reader().await?;
    let Some(view) = store.get(&cid).await? else {
        eprintln!("pindex: {cid} is not pinned here");
        return Ok(ExitCode::from(1));
    };
    // Each reads its own segments; on two cores they overlap.
    let (history, accesses) = tokio::try_join!(store.history(&cid, recent), store.accesses(&cid, recent))?;
    let report = TrackReport::of(&view, &history, &accesses, now());
    if format != Format::Table {
        write_report(out, format, &report)?;
        return Ok(ExitCode::SUCCESS);
    }
    let b = |t: &str| s.out_style.bold(t);
    let p = &report.pin;
    let opt = |v: Option<&str>| v.unwrap_or("-").to_owned();
    let rows: Vec<(&str, String)> = vec![
        ("cid", p.cid.to_owned()),
        ("name", opt(p.name)),
        (
            "status",
            match p.status_reason {
                Some(r) => format!("{} ({r})", p.status),
                None => p.status.to_owned(),
            },
        ),
        ("type", p.pin_type.to_owned()),
        (
            "size",
            format!("{} ({} bytes)", human_bytes(p.size_bytes), p.size_bytes),
        ),
        (
            "tier",
            format!(
                "{} (copies on {})",
                p.tier,
                p.tiers.iter().map(|t| t.as_str()).collect::<Vec<_>>().join(", ")
            ),
        ),
        ("replication", p.replication.to_string()),
        ("created", rfc3339(p.created_at)),
        ("updated", rfc3339(p.updated_at)),
        ("mount", opt(p.mount)),
        (
            "vfs paths",
            if p.vfs_paths.is_empty() {
                "-".into()
            } else {
                p.vfs_paths.iter().map(String::as_str).collect::<Vec<_>>().join(", ")
            },
        ),
        (
            "meta",
            if p.meta.is_empty() {
                "-".into()
            } else {
                p.meta
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        ),
        ("expires", p.expires_at.map_or("-".into(), rfc3339)),
    ];
    for (k, v) in rows {
        writeln!(out, "{}  {v}", b(&format!("{k:<12}")))?;
    }
    let t = &report.stats;
    let st = &t.base;
    writeln!(out)?;
    writeln!(out, "{}", b("statistics"))?;
    writeln!(
        out,
        "  accesses     {} ({} reads, {} read, {} written)",
        st.access_count,
        st.read_count,
        human_bytes(st.bytes_read),
        human_bytes(st.bytes_written)
    )?;
    writeln!(
        out,
        "  first/last   {} / {}",
        st.first_access.map_or_else(|| "-".to_owned(), rfc3339),
        st.last_access.map_or_else(|| "-".to_owned(), rfc3339)
    )?;
    writeln!(
        out,
        "  hotness      {:.3} (decayed to now, half-life 1 day)",
        st.hotness
    )?;
    writeln!(
        out,
        "  pattern      {} ({} sequential, {} random, {} whole reads)",
        st.pattern, t.sequential_reads, t.random_reads, t.whole_reads
    )?;
    if let Some(m) = t.mean_interarrival_ms {
        writeln!(
            out,
            "  between      {:.1} s on average (stddev {:.1} s)",
            m / 1000.0,
            t.stddev_interarrival_ms.unwrap_or(0.0) / 1000.0
        )?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "{}",
        b(&format!(
            "recent accesses ({}, newest first)",
            report.recent_accesses.len()
        ))
    )?;
    for a in &report.recent_accesses {
        let range = match (a.offset, a.bytes) {
            (_, None) => "whole".to_owned(),
            (o, Some(n)) => format!("{}+{n}", o.unwrap_or(0)),
        };
        writeln!(
            out,
            "  {}  {:<5} {:<20} {:<8} {}{}",
            rfc3339(a.ts),
            a.op,
            range,
            a.tier.unwrap_or("-"),
            a.vfs_path.unwrap_or("-"),
            a.latency_us.map_or(String::new(), |l| format!("  {l} µs")),
        )?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "{}",
        b(&format!("history ({}, newest first)", report.history.len()))
    )?;
    for h in &report.history {
        let what = [h.status, h.tier].into_iter().flatten().collect::<Vec<_>>().join(" ");
        let reason = h.reason.map_or(String::new(), |r| format!(" ({r})"));
        writeln!(out, "  {}  {:<7} {what}{reason}", rfc3339(h.ts), h.event)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn default_descending(sort: PinSort) -> bool {
    matches!(
        sort,
        PinSort::Size | PinSort::Hotness | PinSort::Accesses | PinSort::LastAccess
    )
}

async fn pins(s: &Settings, out: &mut impl Write, a: PinsArgs) -> anyhow::Result<ExitCode> {
    let format = s.format(a.format);
    if a.limit == Some(0) {
        bail!("--limit 0 lists nothing; give at least 1, or leave it out for every pin");
    }
    let filter = PinFilter {
        status: a.status,
        tier: a.tier,
        name: a.name.map(|n| (n, a.how.into())),
        meta: a.meta,
        created_before: a.before,
        created_after: a.after,
        min_size: a.min_size,
        max_size: a.max_size,
    };
    let descending = if a.desc {
        true
    } else if a.asc {
        false
    } else {
        default_descending(a.sort)
    };
    let store = s.open_reader().await?;
    let as_of = now();
    let mut w = PinWriter::begin(&mut *out, format, s.out_style, as_of)?;
    let limit = a.limit.unwrap_or(usize::MAX);
    let mut written = 0usize;
    let next_cursor: Option<String>;
    if a.sort == PinSort::Key && !descending {
        let after = a.cursor.as_deref().map(Cursor::parse).transpose()?;
        // Reading, decoding and (for JSON) rendering run ahead on every core while this task writes.
        let json = w.is_json().then_some(as_of);
        let mut chunks = store
            .scan(filter, after.as_ref())
            .await?
            .read_ahead_map(1024, 4, move |pins| Listed::of(pins, json));
        let mut last: Option<Cid> = None;
        next_cursor = 'rows: loop {
            let Some(listed) = chunks.next().await? else {
                break None;
            };
            let listed = listed?;
            for i in 0..listed.cids.len() {
                if written == limit {
                    let before = i.checked_sub(1).map(|j| &listed.cids[j]).or(last.as_ref());
                    break 'rows before.map(|c| Cursor::after(c).to_string());
                }
                match &listed.rows {
                    Rows::Pins(pins) => w.write(&pins[i])?,
                    Rows::Json { text, ends } => {
                        let start = i.checked_sub(1).map_or(0, |j| ends[j]);
                        w.write_json(&text[start..ends[i]])?;
                    }
                }
                written += 1;
            }
            last = listed.cids.last().cloned();
        };
    } else {
        let after = a
            .cursor
            .as_deref()
            .map(|c| SortCursor::parse(c, a.sort, descending))
            .transpose()?;
        let q = SortedQuery {
            filter,
            live_only: false,
            sort: a.sort,
            descending,
            after,
            limit: a.limit.map(|n| n.saturating_add(1)),
        };
        let mut rows = store.sorted(&q).await?;
        let mut last: Option<PinView> = None;
        loop {
            let Some(v) = rows.next().await? else {
                next_cursor = None;
                break;
            };
            if written == limit {
                next_cursor = last.map(|l| SortCursor::after(&l, a.sort, descending).to_string());
                break;
            }
            w.write(&v)?;
            written += 1;
            last = Some(v);
        }
    }
    w.finish()?;
    if let Some(c) = next_cursor {
        out.flush()?;
        eprintln!("next cursor: {c}");
    }
    Ok(ExitCode::SUCCESS)
}

/// A chunk of a key-ordered listing as the read-ahead hands it over: the pins' CIDs (for the cursor) and
/// their rows.
struct Listed {
    cids: Vec<Cid>,
    rows: Rows,
}

/// The rows of a [`Listed`] chunk: the pins, or for a JSON listing the pins already rendered (one object
/// after another in `text`, each ending at its offset in `ends`).
enum Rows {
    Pins(Vec<PinView>),
    Json { text: Vec<u8>, ends: Vec<usize> },
}

impl Listed {
    /// The chunk, rendered as JSON with hotness decayed to `json` when that is given.
    fn of(pins: Vec<PinView>, json: Option<Timestamp>) -> anyhow::Result<Self> {
        let cids = pins.iter().map(|v| v.pin.cid.clone()).collect();
        let rows = match json {
            None => Rows::Pins(pins),
            Some(now) => {
                let mut text = Vec::with_capacity(pins.len() * 640);
                let mut ends = Vec::with_capacity(pins.len());
                for v in &pins {
                    render_json(v, now, &mut text)?;
                    ends.push(text.len());
                }
                Rows::Json { text, ends }
            }
        };
        Ok(Self { cids, rows })
    }
}

async fn metrics_report(store: &ParquetPinStore, m: Metrics, n: usize) -> anyhow::Result<MetricsReport> {
    let (largest, hottest) = store.top_pins(n).await?;
    let top = |views: Vec<PinView>| views.iter().map(|v| TopPin::of(v, m.as_of)).collect();
    let (largest_pins, hottest_pins) = (top(largest), top(hottest));
    Ok(MetricsReport::new(m, largest_pins, hottest_pins))
}

async fn metrics(s: &Settings, out: &mut impl Write, n: usize, format: Format) -> anyhow::Result<ExitCode> {
    let store = s.open_reader().await?;
    let m = store.metrics().await?;
    let report = metrics_report(&store, m, n).await?;
    print_metrics(out, &report, format, s.out_style)?;
    Ok(ExitCode::SUCCESS)
}

fn print_metrics(out: &mut impl Write, m: &MetricsReport, format: Format, style: Style) -> anyhow::Result<()> {
    if format != Format::Table {
        return write_report(out, format, m);
    }
    let b = |t: &str| style.bold(t);
    writeln!(out, "pins                {:>14}   (not unpinned)", m.total_pins)?;
    writeln!(
        out,
        "bytes               {:>14}   ({})",
        m.total_size_bytes,
        human_bytes(m.total_size_bytes)
    )?;
    writeln!(out, "accesses            {:>14}", m.total_accesses)?;
    writeln!(out, "accessed last hour  {:>14}   (pins)", m.accessed_last_hour)?;
    writeln!(out, "accessed last day   {:>14}   (pins)", m.accessed_last_day)?;
    writeln!(out, "{}", b("tier                    pins          bytes"))?;
    for (t, v) in &m.tiers {
        writeln!(out, "  {:<10} {:>14} {:>14}", t.as_str(), v.pins, v.size_bytes)?;
    }
    writeln!(out, "{}", b("status                  pins"))?;
    for (st, n) in &m.statuses {
        writeln!(out, "  {:<10} {:>14}", st.as_str(), n)?;
    }
    if !m.largest_pins.is_empty() {
        writeln!(out, "{}", b("largest pins"))?;
        for p in &m.largest_pins {
            writeln!(
                out,
                "  {:>10}  {:<8} {}  {}",
                human_bytes(p.size_bytes),
                p.tier.as_str(),
                p.cid,
                p.name.as_deref().unwrap_or("-")
            )?;
        }
    }
    if !m.hottest_pins.is_empty() {
        writeln!(out, "{}", b("hottest pins (hotness, accesses)"))?;
        for p in &m.hottest_pins {
            writeln!(
                out,
                "  {:>10.3} {:>9}  {}  {}",
                p.hotness,
                p.access_count,
                p.cid,
                p.name.as_deref().unwrap_or("-")
            )?;
        }
    }
    writeln!(out, "as of {}", rfc3339(m.as_of))?;
    Ok(())
}

#[derive(Debug, Serialize)]
struct StatusReport {
    data_dir: String,
    object_store: String,
    manifest_version: u64,
    seq: u64,
    segments: usize,
    segment_bytes: u64,
    base_pins: u64,
    /// Segments the base is made of: one after a compaction, more as flushes add new pins.
    base_runs: usize,
    wal_bytes: u64,
    last_compaction: Option<String>,
    writer: Option<String>,
    /// Pins changed since the base segment: what the next compaction merges.
    pending_delta_pins: usize,
    /// Events only in the WAL: what the next flush writes to segments.
    pending_unflushed_events: usize,
}

async fn status(s: &Settings, out: &mut impl Write, format: Format) -> anyhow::Result<ExitCode> {
    let store = s.open_reader().await?;
    let st = store.status().await?;
    let r = StatusReport {
        data_dir: st.data_dir.display().to_string(),
        object_store: st.object_store,
        manifest_version: st.version,
        seq: st.seq,
        segments: st.segments,
        segment_bytes: st.segment_bytes,
        base_pins: st.base_rows,
        base_runs: st.base_runs,
        wal_bytes: st.wal_bytes,
        last_compaction: st.last_compaction.map(rfc3339),
        writer: st.writer,
        pending_delta_pins: st.delta_pins,
        pending_unflushed_events: st.unflushed_events,
    };
    if format != Format::Table {
        write_report(out, format, &r)?;
        return Ok(ExitCode::SUCCESS);
    }
    let rows = [
        ("data directory", r.data_dir.clone()),
        ("object store", r.object_store.clone()),
        (
            "manifest",
            format!("version {} (events up to seq {})", r.manifest_version, r.seq),
        ),
        (
            "segments",
            format!("{} files, {}", r.segments, human_bytes(r.segment_bytes)),
        ),
        (
            "base",
            format!(
                "{} pins in {} run{}",
                r.base_pins,
                r.base_runs,
                if r.base_runs == 1 { "" } else { "s" }
            ),
        ),
        ("wal", human_bytes(r.wal_bytes)),
        (
            "last compaction",
            r.last_compaction.clone().unwrap_or_else(|| "never".into()),
        ),
        ("writer", r.writer.clone().unwrap_or_else(|| "none".into())),
        (
            "pending",
            format!(
                "{} events to flush, {} changed pins to compact",
                r.pending_unflushed_events, r.pending_delta_pins
            ),
        ),
    ];
    for (k, v) in rows {
        writeln!(out, "{}  {v}", s.out_style.bold(&format!("{k:<16}")))?;
    }
    Ok(ExitCode::SUCCESS)
}

async fn sql(s: &Settings, out: &mut impl Write, query: &str, format: Format) -> anyhow::Result<ExitCode> {
    use futures::StreamExt;
    use pin_store::datafusion::arrow::{csv as arrow_csv, json as arrow_json};
    let store = s.open_reader().await?;
    let df = store.sql(query).await?;
    match format {
        Format::Table => {
            let batches: Vec<RecordBatch> = df.collect().await.context("running the query")?;
            writeln!(out, "{}", pretty_format_batches(&batches)?)?;
        }
        Format::Json => {
            let mut stream = df.execute_stream().await?;
            let mut w = arrow_json::ArrayWriter::new(&mut *out);
            while let Some(b) = stream.next().await {
                w.write(&b?)?;
            }
            w.finish()?;
            drop(w);
            writeln!(out)?;
        }
        Format::Ndjson => {
            let mut stream = df.execute_stream().await?;
            let mut w = arrow_json::LineDelimitedWriter::new(&mut *out);
            while let Some(b) = stream.next().await {
                w.write(&b?)?;
            }
            w.finish()?;
        }
        Format::Csv => {
            let mut stream = df.execute_stream().await?;
            let mut w = arrow_csv::WriterBuilder::new().with_header(true).build(&mut *out);
            while let Some(b) = stream.next().await {
                w.write(&b?)
                    .context("writing CSV (list columns such as tiers need --format json or ndjson)")?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A spinner on stderr while `work` runs, when progress is shown.
async fn with_spinner<T>(s: &Settings, what: &str, work: impl Future<Output = T>) -> T {
    if !s.progress {
        return work.await;
    }
    let bar = indicatif::ProgressBar::new_spinner().with_message(what.to_owned());
    bar.enable_steady_tick(Duration::from_millis(120));
    let r = work.await;
    bar.finish_and_clear();
    r
}

/// Draws a library's progress reports as a bar on stderr (a spinner while the total is unknown).
#[derive(Debug)]
struct BarReporter {
    bar: indicatif::ProgressBar,
}

impl BarReporter {
    fn new() -> Self {
        let bar = indicatif::ProgressBar::hidden();
        bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        Self { bar }
    }
}

impl pin_store::Reporter for BarReporter {
    fn start(&self, phase: &str, total: Option<u64>) {
        self.bar.reset();
        self.bar.set_message(phase.to_owned());
        match total {
            Some(n) => {
                self.bar.set_length(n);
                self.bar.set_style(
                    indicatif::ProgressStyle::with_template(
                        "{spinner} {msg} [{elapsed_precise}] {wide_bar} {pos}/{len}",
                    )
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
                );
            }
            None => {
                self.bar.unset_length();
                self.bar.set_style(indicatif::ProgressStyle::default_spinner());
            }
        }
        self.bar.enable_steady_tick(Duration::from_millis(120));
    }
    fn advance(&self, n: u64) {
        self.bar.inc(n);
    }
    fn finish(&self) {
        self.bar.disable_steady_tick();
        self.bar.finish_and_clear();
    }
}

fn reporter(s: &Settings) -> Box<dyn pin_store::Reporter> {
    if s.progress {
        Box::new(BarReporter::new())
    } else {
        Box::new(pin_store::NoReporter)
    }
}

async fn compact(s: &Settings, out: &mut impl Write) -> anyhow::Result<ExitCode> {
    let store = s.open_writer().await?;
    let began = Instant::now();
    let before = store.status().await?;
    Box::pin(store.compact_with(&*reporter(s))).await?;
    let after = store.status().await?;
    if !s.quiet {
        writeln!(
            out,
            "compacted: {} pins in the base segment (merged {} changed pins and {} base runs) in {:.2} s; manifest version {}",
            after.base_rows,
            before.delta_pins,
            before.base_runs,
            began.elapsed().as_secs_f64(),
            after.version
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

async fn vacuum(s: &Settings, out: &mut impl Write) -> anyhow::Result<ExitCode> {
    let store = s.open_writer().await?;
    let r = store.vacuum_with(&*reporter(s)).await?;
    if !s.quiet {
        writeln!(
            out,
            "deleted {} files ({}); kept {} unreferenced files younger than the grace period",
            r.deleted,
            human_bytes(r.bytes),
            r.kept_young
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

async fn export(
    s: &Settings,
    out: &mut impl Write,
    format: ExportFormat,
    table: ExportTableArg,
    path: &str,
) -> anyhow::Result<ExitCode> {
    let table = match table {
        ExportTableArg::Pins => ExportTable::Pins,
        ExportTableArg::AccessEvents => ExportTable::AccessEvents,
        ExportTableArg::PinHistory => ExportTable::PinHistory,
    };
    let store = s.open_reader().await?;
    let began = Instant::now();
    let rows = match format {
        ExportFormat::Parquet => {
            if path == "-" {
                bail!("Parquet cannot be streamed to standard output; give a file path");
            }
            with_spinner(s, "exporting", store.export_parquet(table, std::path::Path::new(path))).await?
        }
        ExportFormat::Ndjson | ExportFormat::Csv => {
            let fmt = if format == ExportFormat::Csv {
                Format::Csv
            } else {
                Format::Ndjson
            };
            if path == "-" {
                export_rows(&store, table, fmt, &mut *out).await?
            } else {
                let dest = std::path::Path::new(path);
                let mut name = dest.file_name().map(|n| n.to_os_string()).unwrap_or_default();
                name.push(format!(".tmp-{}", std::process::id()));
                let tmp = dest.with_file_name(name);
                let file = std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
                let mut w = BufWriter::with_capacity(1 << 20, file);
                let r = with_spinner(s, "exporting", export_rows(&store, table, fmt, &mut w)).await;
                let r = r.and_then(|n| {
                    w.flush()?;
                    w.get_ref().sync_all()?;
                    Ok(n)
                });
                match r {
                    Ok(n) => {
                        std::fs::rename(&tmp, dest).with_context(|| format!("renaming into {path}"))?;
                        n
                    }
                    Err(e) => {
                        let _ = std::fs::remove_file(&tmp);
                        return Err(e);
                    }
                }
            }
        }
    };
    if !s.quiet && path != "-" {
        writeln!(
            out,
            "exported {rows} rows of {} to {path} in {:.2} s",
            table.as_str(),
            began.elapsed().as_secs_f64()
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes a table as NDJSON or CSV: pins as `pins` prints them, the event tables as SQL returns them.
async fn export_rows(
    store: &ParquetPinStore,
    table: ExportTable,
    fmt: Format,
    out: &mut impl Write,
) -> anyhow::Result<u64> {
    use futures::StreamExt;
    use pin_store::datafusion::arrow::{csv as arrow_csv, json as arrow_json};
    if table == ExportTable::Pins {
        let mut scan = store.scan(PinFilter::default(), None).await?;
        let mut w = PinWriter::begin(&mut *out, fmt, Style { color: false }, now())?;
        let mut n = 0u64;
        while let Some(v) = scan.next().await? {
            w.write(&v)?;
            n += 1;
        }
        w.finish()?;
        return Ok(n);
    }
    let df = store
        .sql(&format!("SELECT * FROM {} ORDER BY seq", table.as_str()))
        .await?;
    let mut stream = df.execute_stream().await?;
    let mut n = 0u64;
    if fmt == Format::Csv {
        let mut w = arrow_csv::WriterBuilder::new().with_header(true).build(&mut *out);
        while let Some(b) = stream.next().await {
            let b = b?;
            n += b.num_rows() as u64;
            w.write(&b)?;
        }
    } else {
        let mut w = arrow_json::LineDelimitedWriter::new(&mut *out);
        while let Some(b) = stream.next().await {
            let b = b?;
            n += b.num_rows() as u64;
            w.write(&b)?;
        }
        w.finish()?;
    }
    Ok(n)
}
