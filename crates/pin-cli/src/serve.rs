//! `pindex serve`: pin-api's router over the data directory's store, with the token, the background
//! reports, the storage gauges and a clean shutdown on SIGINT or SIGTERM.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use pin_api::{ApiConfig, ApiState, ScanReports, StorageGauges};
use pin_core::{PinStore, SystemClock};
use pin_store::ParquetPinStore;
use rand::{RngCore, SeedableRng};
use tokio::sync::watch;

use crate::Settings;

/// The token file `serve` creates in the data directory when no token is given.
const TOKEN_FILE: &str = "api-token";
/// Environment variable with the token (never a command-line argument, which other users can see).
const TOKEN_ENV: &str = "PINDEX_TOKEN";
/// How often the storage gauges of `/metrics` are refreshed.
const GAUGE_INTERVAL: Duration = Duration::from_secs(10);

/// What `pindex serve` was asked for.
#[derive(Debug)]
pub(crate) struct ServeRequest {
    pub(crate) listen: SocketAddr,
    pub(crate) token_file: Option<PathBuf>,
    pub(crate) delegates: Vec<String>,
    pub(crate) tiers: Option<PathBuf>,
    pub(crate) report_interval: Duration,
    pub(crate) open_reads: Option<bool>,
}

/// Where the token came from, for the start-up line (the token itself is never printed).
#[derive(Debug, PartialEq, Eq)]
enum TokenSource {
    File(PathBuf),
    Env,
    Created(PathBuf),
}

/// The token: `--token-file`, else `PINDEX_TOKEN`, else `<data dir>/api-token`, created (mode 0600) with 256
/// random bits on first use.
fn token(data_dir: &Path, file: Option<&Path>, env: Option<String>) -> anyhow::Result<(String, TokenSource)> {
    let read = |path: &Path| -> anyhow::Result<String> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading the token file {}", path.display()))?;
        let token = text.trim();
        if token.is_empty() {
            bail!("the token file {} is empty", path.display());
        }
        Ok(token.to_owned())
    };
    if let Some(path) = file {
        return Ok((read(path)?, TokenSource::File(path.to_owned())));
    }
    if let Some(t) = env.filter(|t| !t.trim().is_empty()) {
        return Ok((t.trim().to_owned(), TokenSource::Env));
    }
    let path = data_dir.join(TOKEN_FILE);
    if path.exists() {
        return Ok((read(&path)?, TokenSource::File(path)));
    }
    let mut bytes = [0u8; 32];
    rand::rngs::StdRng::from_os_rng().fill_bytes(&mut bytes);
    let token = pin_core::hex(&bytes);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options
        .open(&path)
        .with_context(|| format!("creating the token file {}", path.display()))?;
    writeln!(f, "{token}")
        .and_then(|()| f.sync_all())
        .with_context(|| format!("writing the token file {}", path.display()))?;
    Ok((token, TokenSource::Created(path)))
}

/// Copies the store's sizes and compaction time into the `/metrics` gauges every [`GAUGE_INTERVAL`].
async fn refresh_gauges(store: Arc<ParquetPinStore>, gauges: StorageGauges, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(GAUGE_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = tick.tick() => match store.status().await {
                Ok(s) => {
                    gauges.set_wal_bytes(s.wal_bytes);
                    gauges.set_segments(s.segments as u64, s.segment_bytes);
                    gauges.set_last_compaction(s.last_compaction);
                }
                Err(e) => tracing::warn!(error = %e, "reading the store's status for /metrics failed"),
            },
        }
    }
}

/// `pindex serve`: serves until SIGINT or SIGTERM, then drains requests and flushes the store.
pub(crate) async fn serve(s: &Settings, out: &mut impl Write, req: ServeRequest) -> anyhow::Result<ExitCode> {
    if req.delegates.is_empty() {
        bail!(
            "pindex serve needs at least one --delegate: the multiaddr of the IPFS node that holds the pins \
             (`ipfs id` lists them), e.g. --delegate /ip4/192.0.2.1/tcp/4001/p2p/12D3KooW..."
        );
    }
    let table = crate::tiers::load_table(req.tiers.as_deref())?;
    std::fs::create_dir_all(&s.data_dir).with_context(|| format!("creating {}", s.data_dir.display()))?;
    let (token, source) = token(&s.data_dir, req.token_file.as_deref(), std::env::var(TOKEN_ENV).ok())?;
    let store = Arc::new(s.open_writer().await?);
    let listener = tokio::net::TcpListener::bind(req.listen)
        .await
        .with_context(|| format!("listening on {}", req.listen))?;
    let addr = listener.local_addr()?;

    let mut config = ApiConfig::new(token, req.delegates);
    config.open_reads = req.open_reads.unwrap_or_else(|| pin_api::reads_open_by_default(&addr));
    config.report_interval = req.report_interval;
    let limits = config.limits;
    let open_reads = config.open_reads;
    let dyn_store: Arc<dyn PinStore> = store.clone();
    let reports = Arc::new(ScanReports::new(dyn_store.clone(), table, config.top));
    let state = ApiState::new(dyn_store, Arc::new(SystemClock), reports, config)?;

    let (stop_tx, stop_rx) = watch::channel(false);
    let stop = pin_vfs::Stop::new();
    crate::vfs::stop_on_signals(stop.clone(), s.quiet);
    let until_stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stopped| *stopped).await;
    };
    let background = {
        let state = state.clone();
        let rx = stop_rx.clone();
        tokio::spawn(async move { state.run_reports(until_stopped(rx)).await })
    };
    let gauges = tokio::spawn(refresh_gauges(store.clone(), state.storage_gauges(), stop_rx.clone()));
    tokio::spawn(async move {
        stop.stopped().await;
        let _ = stop_tx.send(true);
    });

    if !s.quiet {
        let token_line = match &source {
            TokenSource::File(p) => format!("token from {}", p.display()),
            TokenSource::Env => format!("token from {TOKEN_ENV}"),
            TokenSource::Created(p) => format!("token created in {} (mode 0600)", p.display()),
        };
        writeln!(
            out,
            "pindex: serving {} on http://{addr}/ ({token_line}; reads {}); Ctrl-C stops",
            s.data_dir.display(),
            if open_reads { "open" } else { "need the token" }
        )?;
        out.flush()?;
    }
    let served = pin_api::serve(listener, pin_api::router(state), limits, until_stopped(stop_rx)).await;
    let _ = background.await;
    let _ = gauges.await;
    // Every acknowledged write is already durable in the WAL; a flush makes the segments current too.
    store.flush().await.context("flushing the store at shutdown")?;
    served?;
    if !s.quiet {
        writeln!(out, "pindex: stopped; requests drained and the store flushed")?;
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_created_once_private_and_then_read_back() {
        let dir = tempfile::TempDir::new().unwrap();
        let (created, source) = token(dir.path(), None, None).unwrap();
        assert_eq!(created.len(), 64);
        assert_eq!(source, TokenSource::Created(dir.path().join(TOKEN_FILE)));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(TOKEN_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let (again, source) = token(dir.path(), None, None).unwrap();
        assert_eq!(again, created);
        assert_eq!(source, TokenSource::File(dir.path().join(TOKEN_FILE)));
        // The environment wins over the file in the data directory, a --token-file over both.
        let (env, source) = token(dir.path(), None, Some(" from-env \n".into())).unwrap();
        assert_eq!((env.as_str(), source), ("from-env", TokenSource::Env));
        let file = dir.path().join("given");
        std::fs::write(&file, "given-token\n").unwrap();
        let (given, _) = token(dir.path(), Some(&file), Some("from-env".into())).unwrap();
        assert_eq!(given, "given-token");
        std::fs::write(&file, "  \n").unwrap();
        let e = token(dir.path(), Some(&file), None).unwrap_err().to_string();
        assert!(e.contains("is empty") && e.contains("given"), "{e}");
    }
}
