//! The load benchmark of `pindex serve` (`cargo xtask bench serve`): 64 concurrent clients read
//! `GET /v1/metrics` and `GET /pins` (the Pinning Service API listing) while an ingest of 1,000,000 events
//! runs through `POST /v1/events` in the same process, against a durable Parquet store on local disk.
//! Reports throughput and latency percentiles per endpoint and every failed request.
//!
//! `serve_load [--clients N] [--events N] [--preload N] [--chunk N]`
#![allow(clippy::print_stdout, clippy::print_stderr, clippy::unwrap_used)]

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use pin_core::{PinStore, SystemClock};
use pin_store::{ParquetPinStore, StoreConfig};
use pindex_benches::{T0, cid};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tokio::net::{TcpListener, TcpStream};

const TOKEN: &str = "serve-load-benchmark-token";

struct Args {
    clients: usize,
    events: u64,
    preload: u64,
    chunk: u64,
}

fn args() -> anyhow::Result<Args> {
    let mut a = Args {
        clients: 64,
        events: 1_000_000,
        preload: 100_000,
        chunk: 10_000,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--bench" {
            continue; // passed by `cargo bench`-style runners
        }
        let value: u64 = it
            .next()
            .with_context(|| format!("{flag} needs a value"))?
            .parse()
            .with_context(|| format!("{flag} needs a whole number"))?;
        match flag.as_str() {
            "--clients" => a.clients = usize::try_from(value)?,
            "--events" => a.events = value,
            "--preload" => a.preload = value,
            "--chunk" => a.chunk = value.max(1),
            other => bail!("unknown flag {other:?}; expected --clients, --events, --preload or --chunk"),
        }
    }
    Ok(a)
}

/// Latencies of one endpoint, in microseconds, and the requests that failed.
#[derive(Default)]
struct Tally {
    latencies_us: Vec<u64>,
    failures: u64,
    first_failure: Option<String>,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        self.latencies_us.extend(other.latencies_us);
        self.failures += other.failures;
        if self.first_failure.is_none() {
            self.first_failure = other.first_failure;
        }
    }

    fn fail(&mut self, why: String) {
        self.failures += 1;
        self.first_failure.get_or_insert(why);
    }

    fn line(&mut self, name: &str, seconds: f64) -> String {
        self.latencies_us.sort_unstable();
        let n = self.latencies_us.len();
        let pct = |p: f64| {
            let i = ((n as f64 * p).ceil() as usize).clamp(1, n.max(1)) - 1;
            self.latencies_us.get(i).copied().unwrap_or(0) as f64 / 1000.0
        };
        format!(
            "| {name} | {n} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {} |",
            n as f64 / seconds,
            pct(0.50),
            pct(0.90),
            pct(0.99),
            self.latencies_us.last().copied().unwrap_or(0) as f64 / 1000.0,
            self.failures
        )
    }
}

type Sender = http1::SendRequest<Full<Bytes>>;

async fn connect(addr: SocketAddr) -> anyhow::Result<Sender> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, conn) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// One request on a kept-alive connection: the status and the whole body.
async fn call(sender: &mut Sender, method: Method, path: &str, body: Bytes) -> anyhow::Result<(StatusCode, Bytes)> {
    sender.ready().await?;
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "127.0.0.1")
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("content-type", "application/x-ndjson")
        .body(Full::new(body))?;
    let resp = sender.send_request(req).await?;
    let status = resp.status();
    let body = resp.into_body().collect().await?.to_bytes();
    Ok((status, body))
}

/// A reader: alternates the two endpoints until `done`, on one kept-alive connection (reconnecting after
/// an error, which counts as a failure).
async fn reader(addr: SocketAddr, id: usize, done: Arc<AtomicBool>) -> (Tally, Tally) {
    let (mut metrics, mut pins) = (Tally::default(), Tally::default());
    let mut sender = None;
    let mut turn = id;
    while !done.load(Ordering::Relaxed) {
        turn += 1;
        let (tally, path) = if turn.is_multiple_of(2) {
            (&mut metrics, "/v1/metrics")
        } else {
            (&mut pins, "/pins?limit=10")
        };
        let s = match &mut sender {
            Some(s) => s,
            None => match connect(addr).await {
                Ok(s) => sender.insert(s),
                Err(e) => {
                    tally.fail(format!("connect: {e}"));
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let began = Instant::now();
        match call(s, Method::GET, path, Bytes::new()).await {
            Ok((status, _)) if status.is_success() => {
                tally.latencies_us.push(began.elapsed().as_micros() as u64);
            }
            Ok((status, body)) => tally.fail(format!("{path}: {status}: {}", String::from_utf8_lossy(&body))),
            Err(e) => {
                tally.fail(format!("{path}: {e}"));
                sender = None;
            }
        }
    }
    (metrics, pins)
}

/// NDJSON of events `from..to` of the ingest: every tenth a new pin, the rest reads of existing pins.
fn chunk(rng: &mut SmallRng, from: u64, to: u64, preload: u64) -> Bytes {
    let mut out = String::with_capacity(((to - from) * 160) as usize);
    for i in from..to {
        let ts = T0.0 + 86_400_000 + i as i64;
        if i.is_multiple_of(10) {
            let n = preload + i / 10;
            let size = 1u64 << rng.random_range(10..30);
            writeln!(
                out,
                r#"{{"type":"pin","cid":"{}","ts":{ts},"name":"ingest-{n}","size":{size},"tier":"hdd"}}"#,
                cid(n).as_str()
            )
            .unwrap();
        } else {
            let target = rng.random_range(0..preload.max(1));
            writeln!(
                out,
                r#"{{"type":"access","cid":"{}","ts":{ts},"op":"read","offset":0,"bytes":4096,"tier":"ssd","latency_us":150}}"#,
                cid(target).as_str()
            )
            .unwrap();
        }
    }
    Bytes::from(out)
}

async fn ingest(addr: SocketAddr, a: &Args) -> anyhow::Result<(Tally, f64)> {
    let mut sender = connect(addr).await?;
    let mut rng = SmallRng::seed_from_u64(7);
    let mut tally = Tally::default();
    let began = Instant::now();
    let mut from = 0;
    while from < a.events {
        let to = (from + a.chunk).min(a.events);
        let body = chunk(&mut rng, from, to, a.preload);
        let t = Instant::now();
        let (status, resp) = call(&mut sender, Method::POST, "/v1/events", body).await?;
        if !status.is_success() {
            bail!(
                "POST /v1/events of events {from}..{to}: {status}: {}",
                String::from_utf8_lossy(&resp)
            );
        }
        tally.latencies_us.push(t.elapsed().as_micros() as u64);
        from = to;
    }
    Ok((tally, began.elapsed().as_secs_f64()))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let a = args()?;
    let dir = tempfile::tempdir()?;
    let store = Arc::new(ParquetPinStore::open(StoreConfig::new(dir.path())).await?);
    let t = Instant::now();
    pindex_benches::insert_pins(&store, a.preload, |_| {}).await?;
    eprintln!("preloaded {} pins in {:.1} s", a.preload, t.elapsed().as_secs_f64());

    // The same wiring as `pindex serve`: the generic reports over the trait, computed in the background.
    let dyn_store: Arc<dyn PinStore> = store.clone();
    let mut config = pin_api::ApiConfig::new(
        TOKEN,
        vec!["/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWGzxzKZYveHXtpG6AsrUJBcWxHBFS2HsEoGTxrMLvKXtf".into()],
    );
    config.limits.max_connections = a.clients + 16;
    let limits = config.limits;
    let reports = Arc::new(pin_api::ScanReports::new(
        dyn_store.clone(),
        pin_tiers::TierTable::default(),
        config.top,
    ));
    let state = pin_api::ApiState::new(dyn_store, Arc::new(SystemClock), reports, config)?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let until_stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let background = {
        let state = state.clone();
        let rx = stop_rx.clone();
        tokio::spawn(async move { state.run_reports(until_stopped(rx)).await })
    };
    let server = tokio::spawn(pin_api::serve(
        listener,
        pin_api::router(state),
        limits,
        until_stopped(stop_rx),
    ));

    let done = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..a.clients)
        .map(|id| tokio::spawn(reader(addr, id, done.clone())))
        .collect();
    let began = Instant::now();
    let ingested = ingest(addr, &a).await;
    done.store(true, Ordering::Relaxed);
    let seconds = began.elapsed().as_secs_f64();
    let (mut metrics, mut pins) = (Tally::default(), Tally::default());
    for r in readers {
        let (m, p) = r.await?;
        metrics.merge(m);
        pins.merge(p);
    }
    let _ = stop_tx.send(true);
    server.await??;
    background.await?;
    let (mut posts, ingest_seconds) = ingested?;

    let m = store.metrics().await?;
    println!(
        "{} clients for {seconds:.1} s while {} events were ingested in {ingest_seconds:.1} s ({:.0} events/s, chunks of {}); store: {} pins, {} accesses",
        a.clients,
        a.events,
        a.events as f64 / ingest_seconds,
        a.chunk,
        m.total_pins,
        m.total_accesses
    );
    println!();
    println!("| endpoint | requests | requests/s | p50 ms | p90 ms | p99 ms | max ms | failed |");
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    println!("{}", metrics.line("GET /v1/metrics", seconds));
    println!("{}", pins.line("GET /pins?limit=10", seconds));
    println!("{}", posts.line("POST /v1/events (ingest chunks)", ingest_seconds));
    for (name, t) in [("/v1/metrics", &metrics), ("/pins", &pins)] {
        if let Some(f) = &t.first_failure {
            println!("first failure of {name}: {f}");
        }
    }
    if metrics.failures + pins.failures > 0 {
        bail!("{} requests failed", metrics.failures + pins.failures);
    }
    Ok(())
}
