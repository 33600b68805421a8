//! `pindex`: the operators' command line, thin glue over `pin-core`, `pin-store`, `pin-vfs` and `pin-tiers`.
//!
//! Arguments are parsed into clap structs ([`Cli`]), validated into [`Settings`], and each command calls
//! the libraries. Exit codes: 0 success, 1 nothing found (`track` or `rm` of an unknown CID), 2 error.
//! A closed pipe (`pindex pins | head`) is a quiet success.

mod commands;
mod demo;
mod ingest;
mod output;
mod serve;
mod tiers;
mod vfs;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};
use pin_core::{AccessOp, NameMatch, PinStatus, PinType, Tier};
use pin_store::{ParquetPinStore, PinSort, StoreConfig};

use crate::ingest::InputFormat;
use crate::output::{Format, Style};

/// mimalloc instead of the system allocator: the store allocates and frees many small objects per batch
/// (fragments, keys, Arrow buffers), and glibc's free lists took a fifth of the CPU of a bulk load
/// (`docs/benchmarks.md`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Pindex: a pin metadata index for IPFS content.
#[derive(Debug, Parser)]
#[command(name = "pindex", version, max_term_width = 100)]
struct Cli {
    /// Data directory (default: the platform's data directory for pindex, e.g. ~/.local/share/pindex).
    #[arg(long, global = true, env = "PINDEX_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Keep segments and manifests in this object store instead of <DIR>/store (file://, memory://, and
    /// s3://, gs://, az://, https:// when built with the aws, gcp, azure, http features). Credentials come
    /// from the environment (AWS_ACCESS_KEY_ID, ...). The WAL and the lock stay in the data directory.
    #[arg(long, global = true, env = "PINDEX_STORE_URL", value_name = "URL")]
    store_url: Option<String>,
    /// Print only errors (and the next cursor of a cut listing).
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,
    /// More logging on stderr (-v info, -vv debug, -vvv trace); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Color: auto (when the stream is a terminal and NO_COLOR is unset), always or never.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    color: ColorChoice,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// `--format`, shared by every listing and report.
#[derive(Debug, Clone, Copy, Args)]
struct FormatArg {
    /// Output format (default: table on a terminal, ndjson otherwise).
    #[arg(long, value_enum)]
    format: Option<Format>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Record a pin, or update the fields given of a pin already recorded.
    Add(AddArgs),
    /// Mark a pin unpinned (its history and statistics are kept).
    Rm {
        /// The CID (CIDv0 Qm…, CIDv1, or /ipfs/<cid>).
        cid: String,
        /// When it happened (RFC 3339, YYYY-MM-DD or epoch ms; default now).
        #[arg(long, value_parser = ts_arg, value_name = "TS")]
        at: Option<pin_core::Timestamp>,
    },
    /// Record one access to a CID (pinned or not).
    Access(AccessArgs),
    /// Bulk-load events from NDJSON or CSV (docs/formats.md); `-` reads standard input.
    Ingest {
        /// The file, or `-` for standard input.
        input: String,
        /// Input format (default: csv for a .csv file, else ndjson).
        #[arg(long, value_enum)]
        format: Option<InputFormat>,
        /// Reject the whole input, recording nothing, if any line is bad.
        #[arg(long)]
        strict: bool,
        /// Record the input even if the same content was ingested before.
        #[arg(long)]
        force: bool,
    },
    /// Everything about one pin: fields, statistics, recent accesses, history. Read-only.
    #[command(alias = "show")]
    Track {
        cid: String,
        /// History entries and accesses to show.
        #[arg(long, default_value_t = 20, value_name = "N")]
        recent: usize,
        #[command(flatten)]
        format: FormatArg,
    },
    /// List pins, streaming, with filters, sorting and keyset pagination.
    Pins(PinsArgs),
    /// Totals: pins, bytes, per tier, per status, accesses, recently accessed, largest and hottest pins.
    Metrics {
        /// How many largest and hottest pins to list; 0 skips them and keeps metrics O(1).
        #[arg(long, default_value_t = 5, value_name = "N")]
        top: usize,
        #[command(flatten)]
        format: FormatArg,
    },
    /// Data directory, store version, segment and WAL sizes, last compaction, writer, pending work.
    Status {
        #[command(flatten)]
        format: FormatArg,
    },
    /// Read-only SQL over the tables pins, access_events, pin_history and vfs_events.
    Sql {
        query: String,
        #[command(flatten)]
        format: FormatArg,
    },
    /// Merge the segments into a new base (flushes first; deletes nothing).
    Compact,
    /// Delete files that no manifest references and that are older than the grace period.
    Vacuum,
    /// Write a consistent snapshot of a table to a file other tools read.
    Export {
        /// File format.
        #[arg(long, value_enum)]
        format: ExportFormat,
        /// Which table.
        #[arg(long, value_enum, default_value_t = ExportTableArg::Pins)]
        table: ExportTableArg,
        /// Output file (`-` for standard output, ndjson and csv only).
        path: String,
    },
    /// Print the CID of each file as `ipfs add --only-hash -Q` would (`-` reads standard input).
    Cid {
        /// The files.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// 0: dag-pb leaves, CIDv0 (Qm…), as `ipfs add`; 1: raw leaves, CIDv1 base32, as `ipfs add --cid-version 1`.
        #[arg(long, value_parser = cid_version_arg, default_value = "0", value_name = "0|1")]
        cid_version: pin_vfs::CidVersion,
    },
    /// Watch a directory as a VFS mount point: index its files, then record changes until Ctrl-C.
    Watch {
        /// The directory (watched recursively).
        dir: PathBuf,
        /// Mount point name: the files appear under /NAME (default: the directory's name).
        #[arg(long, value_name = "NAME")]
        mount: Option<String>,
        /// CIDs as `ipfs add` (0) or `ipfs add --cid-version 1` (1) computes them.
        #[arg(long, value_parser = cid_version_arg, default_value = "0", value_name = "0|1")]
        cid_version: pin_vfs::CidVersion,
    },
    /// VFS mount points with their pins, paths, bytes and most used paths; `vfs replay` imports journals.
    Vfs(VfsArgs),
    /// Tier moves the planner recommends, with reasons and totals; --apply records them.
    Plan {
        /// Tier table (TOML, docs/tiers.md; default: the shipped table).
        #[arg(long, value_name = "FILE")]
        tiers: Option<PathBuf>,
        /// Plan as of this instant (RFC 3339, YYYY-MM-DD or epoch ms; default now).
        #[arg(long, value_parser = ts_arg, value_name = "TS")]
        at: Option<pin_core::Timestamp>,
        /// Record the planned tier changes in the store (history shows them).
        #[arg(long)]
        apply: bool,
        #[command(flatten)]
        format: FormatArg,
    },
    /// Hottest and coldest pins, access patterns, pins never read, prediction quality, the plan's summary.
    Analytics {
        /// How many hottest and coldest pins to list.
        #[arg(long, default_value_t = 10, value_name = "N")]
        top: usize,
        /// Tier table for the plan summary (default: the shipped table).
        #[arg(long, value_name = "FILE")]
        tiers: Option<PathBuf>,
        /// As of this instant (RFC 3339, YYYY-MM-DD or epoch ms; default now).
        #[arg(long, value_parser = ts_arg, value_name = "TS")]
        at: Option<pin_core::Timestamp>,
        /// Days of access history the predictor is scored on (0 skips the prediction section).
        #[arg(long, default_value_t = 7, value_name = "DAYS")]
        history_days: u32,
        #[command(flatten)]
        format: FormatArg,
    },
    /// Replay an access trace through cache policies, next to Belady's optimum and LRU.
    Simulate(SimulateArgs),
    /// Serve the Pinning Service API, the JSON API, Prometheus metrics and a dashboard (docs/api.md).
    ///
    /// The token comes from --token-file, else PINDEX_TOKEN, else <DIR>/api-token (created, mode 0600).
    /// Holds the writer lock; other pindex processes can read. SIGINT or SIGTERM drains and flushes.
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8470", value_name = "ADDR")]
        listen: std::net::SocketAddr,
        /// File holding the bearer token (never pass a token as an argument: other users can see it).
        #[arg(long, value_name = "FILE")]
        token_file: Option<PathBuf>,
        /// Multiaddr of the IPFS node that pins (repeat; 1 to 20), returned as `delegates`.
        #[arg(
            long = "delegate",
            value_name = "MULTIADDR",
            env = "PINDEX_DELEGATES",
            value_delimiter = ','
        )]
        delegates: Vec<String>,
        /// Tier table for the plan and analytics reports (default: the shipped table).
        #[arg(long, value_name = "FILE")]
        tiers: Option<PathBuf>,
        /// Seconds between recomputations of the reports that scan every pin.
        #[arg(long, default_value_t = 60, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
        report_interval: u64,
        /// Whether reads (/v1 GETs, /metrics, the dashboard) need the token: `open` or `token`
        /// (default: open on a loopback address, token otherwise).
        #[arg(long, value_enum, value_name = "POLICY")]
        reads: Option<ReadsPolicy>,
    },
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
}

/// Who may read through `pindex serve`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ReadsPolicy {
    /// Reads need no token.
    Open,
    /// Reads need the token, like writes.
    Token,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
struct VfsArgs {
    #[command(subcommand)]
    action: Option<VfsCommand>,
    /// Most used paths to list per mount point.
    #[arg(long, default_value_t = 5, value_name = "N")]
    top: usize,
    #[command(flatten)]
    format: FormatArg,
}

#[derive(Debug, Subcommand)]
enum VfsCommand {
    /// Replay VFS journals into the store, exactly once (checkpoints in <DIR>/vfs-checkpoints).
    Replay {
        /// Journal files (Pindex NDJSON, or ipfs_kit_py journal_*.json files or directories), in order.
        #[arg(required = true, value_name = "JOURNAL")]
        journals: Vec<PathBuf>,
        /// Keep following the last journal as it grows, until Ctrl-C.
        #[arg(long)]
        follow: bool,
        /// Journal format (auto: ipfs-kit for directories and journal_*.json arrays, else pindex).
        #[arg(long, value_enum, default_value_t = JournalFormatArg::Auto)]
        format: JournalFormatArg,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum JournalFormatArg {
    Pindex,
    IpfsKit,
    Auto,
}

impl From<JournalFormatArg> for pin_vfs::JournalFormat {
    fn from(f: JournalFormatArg) -> Self {
        match f {
            JournalFormatArg::Pindex => Self::Pindex,
            JournalFormatArg::IpfsKit => Self::IpfsKit,
            JournalFormatArg::Auto => Self::Auto,
        }
    }
}

#[derive(Debug, Args)]
struct SimulateArgs {
    /// The trace: Pindex NDJSON events, or CSV `time, object id, size` (time in seconds).
    #[arg(long, value_name = "FILE")]
    trace: PathBuf,
    /// A policy to compare (repeat): lru, lfu, hotness, hotness-admit, arc, w-tinylfu, static-oracle. Belady
    /// and LRU are always included. Default: w-tinylfu.
    #[arg(long = "policy", value_name = "NAME")]
    policies: Vec<String>,
    /// Fast-tier size (repeat): bytes (64GiB) or a share of the trace's working set (10%). Default: 10%.
    #[arg(long = "capacity", value_name = "BYTES|PERCENT")]
    capacities: Vec<String>,
    /// Tier table for costs and latencies (default: the shipped table).
    #[arg(long, value_name = "FILE")]
    tiers: Option<PathBuf>,
    /// The fast tier the policy fills.
    #[arg(long, value_parser = tier_arg, default_value = "nvme", value_name = "TIER")]
    fast_tier: Tier,
    /// The slow tier holding everything.
    #[arg(long, value_parser = tier_arg, default_value = "ipfs", value_name = "TIER")]
    slow_tier: Tier,
    #[command(flatten)]
    format: FormatArg,
}

#[derive(Debug, Args)]
struct AddArgs {
    /// The CID (CIDv0 Qm…, CIDv1, or /ipfs/<cid>).
    cid: String,
    /// A name (at most 255 bytes).
    #[arg(long)]
    name: Option<String>,
    /// Size of the content (bytes, or with a unit: 10KiB, 1.5GB).
    #[arg(long, value_parser = size_arg)]
    size: Option<u64>,
    /// Pin type.
    #[arg(long = "type", value_parser = pin_type_arg, value_name = "recursive|direct")]
    pin_type: Option<PinType>,
    /// Status.
    #[arg(long, value_parser = status_arg, value_name = "STATUS")]
    status: Option<PinStatus>,
    /// Primary tier (a new pin defaults to ipfs).
    #[arg(long, value_parser = tier_arg, value_name = "TIER")]
    tier: Option<Tier>,
    /// Metadata key=value (repeat; `key=` removes the key).
    #[arg(long = "meta", value_parser = kv_arg, value_name = "K=V")]
    meta: Vec<(String, String)>,
    /// A VFS path showing this content (repeat).
    #[arg(long = "vfs-path", value_name = "PATH")]
    vfs_paths: Vec<String>,
    /// The VFS mount point.
    #[arg(long)]
    mount: Option<String>,
    /// When it happened (RFC 3339, YYYY-MM-DD or epoch ms; default now).
    #[arg(long, value_parser = ts_arg, value_name = "TS")]
    at: Option<pin_core::Timestamp>,
}

#[derive(Debug, Args)]
struct AccessArgs {
    /// The CID.
    cid: String,
    /// Read or write.
    #[arg(long, value_parser = op_arg, default_value = "read", value_name = "read|write")]
    op: AccessOp,
    /// Byte offset.
    #[arg(long, value_parser = size_arg)]
    offset: Option<u64>,
    /// Bytes transferred (absent: the whole object).
    #[arg(long, value_parser = size_arg)]
    bytes: Option<u64>,
    /// The tier that served it.
    #[arg(long, value_parser = tier_arg, value_name = "TIER")]
    tier: Option<Tier>,
    /// The VFS path it came through.
    #[arg(long)]
    vfs_path: Option<String>,
    /// Latency in microseconds.
    #[arg(long)]
    latency_us: Option<u64>,
    /// When it happened (RFC 3339, YYYY-MM-DD or epoch ms; default now).
    #[arg(long, value_parser = ts_arg, value_name = "TS")]
    at: Option<pin_core::Timestamp>,
}

#[derive(Debug, Args)]
struct PinsArgs {
    /// Only pins with this status.
    #[arg(long, value_parser = status_arg, value_name = "STATUS")]
    status: Option<PinStatus>,
    /// Only pins whose primary tier is this.
    #[arg(long, value_parser = tier_arg, value_name = "TIER")]
    tier: Option<Tier>,
    /// Only pins whose name matches TEXT (see --match).
    #[arg(long, value_name = "TEXT")]
    name: Option<String>,
    /// How --name matches: exact, iexact (ignoring case), partial (contains), ipartial.
    #[arg(long = "match", value_enum, default_value_t = MatchArg::Exact, requires = "name")]
    how: MatchArg,
    /// Only pins whose metadata has key=value (repeat: all must hold).
    #[arg(long = "meta", value_parser = kv_arg, value_name = "K=V")]
    meta: Vec<(String, String)>,
    /// Only pins created before TS (RFC 3339, YYYY-MM-DD or epoch ms).
    #[arg(long, value_parser = ts_arg, value_name = "TS")]
    before: Option<pin_core::Timestamp>,
    /// Only pins created after TS.
    #[arg(long, value_parser = ts_arg, value_name = "TS")]
    after: Option<pin_core::Timestamp>,
    /// Only pins at least this large (bytes, or 10KiB, 1.5GB, ...).
    #[arg(long, value_parser = size_arg, value_name = "SIZE")]
    min_size: Option<u64>,
    /// Only pins at most this large.
    #[arg(long, value_parser = size_arg, value_name = "SIZE")]
    max_size: Option<u64>,
    /// Order: key (default, streams), size, created, updated, name, hotness, accesses, last_access.
    #[arg(long, value_parser = sort_arg, default_value = "key", value_name = "ORDER")]
    sort: PinSort,
    /// Largest first (the default for size, hotness, accesses and last_access).
    #[arg(long, conflicts_with = "asc")]
    desc: bool,
    /// Smallest first (the default for key, name, created and updated).
    #[arg(long)]
    asc: bool,
    /// At most N pins; when more remain, stderr gets `next cursor: <C>`.
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
    /// Continue after the page that printed this cursor (same filters and order).
    #[arg(long, value_name = "C")]
    cursor: Option<String>,
    #[command(flatten)]
    format: FormatArg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum MatchArg {
    Exact,
    Iexact,
    Partial,
    Ipartial,
}

impl From<MatchArg> for NameMatch {
    fn from(m: MatchArg) -> Self {
        match m {
            MatchArg::Exact => NameMatch::Exact,
            MatchArg::Iexact => NameMatch::IExact,
            MatchArg::Partial => NameMatch::Partial,
            MatchArg::Ipartial => NameMatch::IPartial,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ExportFormat {
    Parquet,
    Ndjson,
    Csv,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ExportTableArg {
    Pins,
    AccessEvents,
    PinHistory,
}

fn tier_arg(s: &str) -> Result<Tier, String> {
    s.parse().map_err(|e: pin_core::Error| e.to_string())
}
fn status_arg(s: &str) -> Result<PinStatus, String> {
    s.parse().map_err(|e: pin_core::Error| e.to_string())
}
fn pin_type_arg(s: &str) -> Result<PinType, String> {
    s.parse().map_err(|e: pin_core::Error| e.to_string())
}
fn op_arg(s: &str) -> Result<AccessOp, String> {
    s.parse().map_err(|e: pin_core::Error| e.to_string())
}
fn sort_arg(s: &str) -> Result<PinSort, String> {
    s.parse().map_err(|e: pin_store::Error| e.to_string())
}
fn ts_arg(s: &str) -> Result<pin_core::Timestamp, String> {
    ingest::parse_ts(s)
}
fn cid_version_arg(s: &str) -> Result<pin_vfs::CidVersion, String> {
    s.parse().map_err(|e: pin_vfs::Error| e.to_string())
}
fn kv_arg(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("{s:?} is not key=value (e.g. team=ml)")),
    }
}

/// Parses `123`, `10KiB`, `1.5GB`: IEC units are powers of 1024, SI units powers of 1000.
fn size_arg(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1_000,
        "kib" | "k" => 1 << 10,
        "mb" => 1_000_000,
        "mib" | "m" => 1 << 20,
        "gb" => 1_000_000_000,
        "gib" | "g" => 1 << 30,
        "tb" => 1_000_000_000_000,
        "tib" | "t" => 1 << 40,
        _ => {
            return Err(format!(
                "invalid size {s:?}: expected bytes or a number with a unit (10KiB, 1.5GB)"
            ));
        }
    };
    let bad = || format!("invalid size {s:?}: expected a number of at least 0, e.g. 4096 or 1.5GiB");
    if num.contains('.') {
        let v: f64 = num.parse().map_err(|_| bad())?;
        Ok((v * mult as f64).round() as u64)
    } else {
        num.parse::<u64>().map_err(|_| bad())?.checked_mul(mult).ok_or_else(bad)
    }
}

/// Everything the command line decided, validated, before any library is called.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) data_dir: PathBuf,
    pub(crate) store_url: Option<String>,
    pub(crate) quiet: bool,
    /// Styling of standard output (tables).
    pub(crate) out_style: Style,
    /// Styling of standard error (error prefix).
    pub(crate) err_style: Style,
    pub(crate) stdout_tty: bool,
    /// Draw progress bars (stderr is a terminal and not quiet).
    pub(crate) progress: bool,
}

impl Settings {
    fn from_cli(cli: &Cli) -> anyhow::Result<Self> {
        let data_dir = match &cli.data_dir {
            Some(d) if d.as_os_str().is_empty() => anyhow::bail!("--data-dir is empty; give a directory"),
            Some(d) => d.clone(),
            None => dirs::data_dir()
                .map(|d| d.join("pindex"))
                .context("no platform data directory; pass --data-dir or set PINDEX_DATA_DIR")?,
        };
        let store_url = cli.store_url.clone().filter(|u| !u.is_empty());
        if let Some(u) = &store_url
            && !u.contains("://")
        {
            anyhow::bail!("invalid --store-url {u:?}: expected a URL such as file:///srv/pindex or s3://bucket/prefix");
        }
        let stdout_tty = std::io::stdout().is_terminal();
        let stderr_tty = std::io::stderr().is_terminal();
        let color = |tty: bool| match cli.color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => tty && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        };
        Ok(Self {
            data_dir,
            store_url,
            quiet: cli.quiet,
            out_style: Style {
                color: color(stdout_tty),
            },
            err_style: Style {
                color: color(stderr_tty),
            },
            stdout_tty,
            progress: stderr_tty && !cli.quiet,
        })
    }

    pub(crate) fn config(&self) -> StoreConfig {
        StoreConfig {
            object_store_url: self.store_url.clone(),
            ..StoreConfig::new(&self.data_dir)
        }
    }

    /// `--format`, or the default for where standard output goes.
    pub(crate) fn format(&self, given: FormatArg) -> Format {
        given
            .format
            .unwrap_or(if self.stdout_tty { Format::Table } else { Format::Ndjson })
    }

    /// Opens the store for writing (creating the data directory on first use).
    pub(crate) async fn open_writer(&self) -> anyhow::Result<ParquetPinStore> {
        ParquetPinStore::open(self.config())
            .await
            .with_context(|| format!("opening {} for writing", self.data_dir.display()))
    }

    /// Opens the store read-only: never waits for a writer.
    pub(crate) async fn open_reader(&self) -> anyhow::Result<ParquetPinStore> {
        if !self.data_dir.exists() {
            anyhow::bail!(
                "data directory {} does not exist; record something first (pindex add, pindex ingest, pindex demo) or pass --data-dir",
                self.data_dir.display()
            );
        }
        ParquetPinStore::open_read_only(self.config())
            .await
            .with_context(|| format!("opening {} read-only", self.data_dir.display()))
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::from_cli(&cli) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("pindex: error: {e:#}");
            return ExitCode::from(2);
        }
    };
    init_tracing(cli.quiet, cli.verbose, settings.err_style.color);
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("pindex: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let err_style = settings.err_style;
    match rt.block_on(commands::run(cli.command, settings)) {
        Ok(code) => code,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pindex: {} {e:#}", err_style.red("error:"));
            ExitCode::from(2)
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    use std::io::ErrorKind::BrokenPipe;
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == BrokenPipe)
            || c.downcast_ref::<serde_json::Error>()
                .is_some_and(|j| j.io_error_kind() == Some(BrokenPipe))
            || c.downcast_ref::<csv::Error>()
                .is_some_and(|e| matches!(e.kind(), csv::ErrorKind::Io(io) if io.kind() == BrokenPipe))
            || c.downcast_ref::<pin_store::datafusion::arrow::error::ArrowError>()
                .is_some_and(|e| matches!(e, pin_store::datafusion::arrow::error::ArrowError::IoError(_, io) if io.kind() == BrokenPipe))
    })
}

fn init_tracing(quiet: bool, verbose: u8, ansi: bool) {
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
        .with_ansi(ansi)
        .with_writer(std::io::stderr)
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_take_units() {
        assert_eq!(size_arg("4096"), Ok(4096));
        assert_eq!(size_arg("10KiB"), Ok(10_240));
        assert_eq!(size_arg("1.5GB"), Ok(1_500_000_000));
        assert!(size_arg("-1").unwrap_err().contains("\"-1\""));
        assert!(size_arg("3 parsecs").is_err());
    }

    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
