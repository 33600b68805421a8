//! `pindex`: the operators' command line, thin glue over `pin-core` and `pin-store`.

mod demo;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use pin_core::{Cid, Metrics, PinStore};
use pin_store::datafusion::arrow::util::pretty::pretty_format_batches;
use pin_store::{ParquetPinStore, StoreConfig};

/// Pindex: a pin metadata index for IPFS content.
#[derive(Debug, Parser)]
#[command(name = "pindex", version)]
struct Cli {
    /// Data directory (default: the platform's data directory for pindex).
    #[arg(long, global = true, env = "PINDEX_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Only errors.
    #[arg(short, long, global = true)]
    quiet: bool,
    /// More logging (repeat for more); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Table,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Fill a fresh data directory with a realistic synthetic workload, then print its metrics.
    Demo {
        /// Pins to create.
        #[arg(long, default_value_t = 10_000)]
        pins: u64,
        /// Access events to record.
        #[arg(long, default_value_t = 100_000)]
        events: u64,
        /// Random seed.
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
    /// Totals: pins, bytes, per tier, per status, accesses, recently accessed.
    Metrics {
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Everything about one pin.
    #[command(alias = "show")]
    Track {
        cid: String,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Read-only SQL over `pins`, `access_events` and `pin_history`.
    Sql { query: String },
    /// Data directory, store version, segments, WAL and writer.
    Status,
    /// Merge segments into a new base.
    Compact,
    /// Delete files no manifest references.
    Vacuum,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.quiet, cli.verbose);
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("pindex: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match rt.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pindex: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            || c.downcast_ref::<serde_json::Error>()
                .is_some_and(|j| j.io_error_kind() == Some(std::io::ErrorKind::BrokenPipe))
    })
}

fn init_tracing(quiet: bool, verbose: u8) {
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

fn data_dir(cli: &Cli) -> anyhow::Result<PathBuf> {
    match &cli.data_dir {
        Some(d) => Ok(d.clone()),
        None => dirs::data_dir()
            .map(|d| d.join("pindex"))
            .context("no platform data directory; pass --data-dir or set PINDEX_DATA_DIR"),
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let dir = data_dir(&cli)?;
    let cfg = StoreConfig::new(&dir);
    let mut out = std::io::stdout().lock();
    match cli.command {
        Command::Demo { pins, events, seed } => {
            let store = ParquetPinStore::open(cfg).await?;
            let report = demo::run(&store, pins, events, seed, !cli.quiet).await?;
            writeln!(out, "{report}")?;
            let m = store.metrics().await?;
            write_metrics(&mut out, &m, Format::Table)?;
        }
        Command::Metrics { format } => {
            let store = open_read(cfg).await?;
            write_metrics(&mut out, &store.metrics().await?, format)?;
        }
        Command::Track { cid, format } => {
            let cid = Cid::parse(&cid)?;
            let store = open_read(cfg).await?;
            let Some(view) = store.get(&cid).await? else {
                eprintln!("pindex: {cid} is not pinned here");
                return Ok(ExitCode::from(1));
            };
            let history = store.history(&cid, 20).await?;
            let accesses = store.accesses(&cid, 20).await?;
            match format {
                Format::Json => {
                    let doc = serde_json::json!({ "pin": view.pin, "stats": view.stats, "pattern": view.stats.pattern(),
                        "history": history, "recent_accesses": accesses });
                    serde_json::to_writer_pretty(&mut out, &doc)?;
                    writeln!(out)?;
                }
                Format::Table => {
                    let p = &view.pin;
                    let s = &view.stats;
                    writeln!(out, "cid          {}", p.cid)?;
                    writeln!(out, "name         {}", p.name.as_deref().unwrap_or("-"))?;
                    writeln!(out, "status       {} ({})", p.status, p.pin_type)?;
                    writeln!(out, "size         {} bytes", p.size_bytes)?;
                    let tiers: Vec<&str> = p.tiers.iter().map(|t| t.as_str()).collect();
                    writeln!(out, "tier         {} (copies on {})", p.primary_tier, tiers.join(", "))?;
                    writeln!(
                        out,
                        "accesses     {} ({} bytes read), pattern {}",
                        s.access_count,
                        s.bytes_read,
                        s.pattern()
                    )?;
                    writeln!(
                        out,
                        "hotness      {:.3} (half-life 1 day, as of now)",
                        s.hotness_at(pin_core::Clock::now(&pin_core::SystemClock))
                    )?;
                    writeln!(out, "history      {} changes shown, newest first", history.len())?;
                    for h in &history {
                        let what = [h.status.map(|s| s.to_string()), h.tier.map(|t| t.to_string())]
                            .into_iter()
                            .flatten()
                            .collect::<Vec<_>>()
                            .join(" ");
                        writeln!(out, "  {:>15} ms  {:<7} {}", h.ts.millis(), h.event, what)?;
                    }
                }
            }
        }
        Command::Sql { query } => {
            let store = open_read(cfg).await?;
            let batches = store.query(&query).await?;
            writeln!(out, "{}", pretty_format_batches(&batches)?)?;
        }
        Command::Status => {
            let store = open_read(cfg).await?;
            serde_json::to_writer_pretty(&mut out, &store.status().await?)?;
            writeln!(out)?;
        }
        Command::Compact => {
            let store = ParquetPinStore::open(cfg).await?;
            store.compact().await?;
            writeln!(
                out,
                "compacted: {} pins in the base segment",
                store.status().await?.base_rows
            )?;
        }
        Command::Vacuum => {
            let store = ParquetPinStore::open(cfg).await?;
            let r = store.vacuum().await?;
            writeln!(
                out,
                "deleted {} files ({} bytes); kept {} younger than the grace period",
                r.deleted, r.bytes, r.kept_young
            )?;
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

async fn open_read(cfg: StoreConfig) -> anyhow::Result<ParquetPinStore> {
    ParquetPinStore::open_read_only(cfg)
        .await
        .context("opening the store read-only")
}

fn write_metrics(out: &mut impl Write, m: &Metrics, format: Format) -> anyhow::Result<()> {
    match format {
        Format::Json => {
            let tiers: serde_json::Map<String, serde_json::Value> = m
                .tiers
                .iter()
                .map(|(t, v)| {
                    (
                        t.to_string(),
                        serde_json::json!({ "pins": v.pins, "size_bytes": v.size_bytes }),
                    )
                })
                .collect();
            let statuses: serde_json::Map<String, serde_json::Value> = m
                .statuses
                .iter()
                .map(|(s, n)| (s.to_string(), serde_json::json!(n)))
                .collect();
            let doc = serde_json::json!({
                "total_pins": m.total_pins,
                "total_size_bytes": m.total_size_bytes,
                "tiers": tiers,
                "statuses": statuses,
                "total_accesses": m.total_accesses,
                "accessed_last_hour": m.accessed_last_hour,
                "accessed_last_day": m.accessed_last_day,
                "as_of_ms": m.as_of.millis(),
            });
            serde_json::to_writer_pretty(&mut *out, &doc)?;
            writeln!(out)?;
        }
        Format::Table => {
            writeln!(out, "pins                {:>14}", m.total_pins)?;
            writeln!(out, "bytes               {:>14}", m.total_size_bytes)?;
            writeln!(out, "accesses            {:>14}", m.total_accesses)?;
            writeln!(out, "accessed last hour  {:>14}", m.accessed_last_hour)?;
            writeln!(out, "accessed last day   {:>14}", m.accessed_last_day)?;
            writeln!(out, "tier                    pins          bytes")?;
            for (t, v) in &m.tiers {
                writeln!(out, "  {:<10} {:>14} {:>14}", t.as_str(), v.pins, v.size_bytes)?;
            }
            writeln!(out, "status                  pins")?;
            for (s, n) in &m.statuses {
                writeln!(out, "  {:<10} {:>14}", s.as_str(), n)?;
            }
        }
    }
    Ok(())
}
