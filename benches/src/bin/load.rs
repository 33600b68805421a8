//! Loads N pins (`PINDEX_BENCH_PINS`, default 1,000,000) into the benchmark store and reports load
//! throughput, peak memory and bytes on disk per pin after compaction.
#![allow(clippy::print_stdout, clippy::unwrap_used)]

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let n: u64 = std::env::var("PINDEX_BENCH_PINS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let dir = pindex_benches::store_dir(n);
    let r = pindex_benches::load(&dir, n).await?;
    println!("pins:               {}", r.pins);
    println!(
        "load time:          {:.1} s ({:.0} pins/s, durable batches of 50,000, then compaction)",
        r.seconds,
        r.pins as f64 / r.seconds
    );
    println!(
        "  of which applying: {:.1} s ({:.0} pins/s, flushes and run merges included; {} base runs before compaction)",
        r.apply_seconds,
        r.pins as f64 / r.apply_seconds,
        r.runs_before_compaction
    );
    println!(
        "segment bytes:      {} ({:.1} bytes per pin)",
        r.base_bytes,
        r.base_bytes as f64 / r.pins as f64
    );
    println!("peak RSS:           {} MiB", r.peak_rss >> 20);
    Ok(())
}
