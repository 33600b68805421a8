//! Kill -9 a writer at random moments, many times; every acknowledged batch must be there exactly once.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use pin_core::conformance::{T0, test_cid};
use pin_core::{ApplyOutcome, EventBatch, ManualClock, PinStore, Tier};
use pin_store::{ParquetPinStore, StoreConfig};
use rand::{Rng, SeedableRng};

use crate::common::{access, upsert};

const EVENTS_PER_BATCH: u64 = 20;

fn crash_config(dir: &std::path::Path) -> StoreConfig {
    // Small thresholds so kills also land in flushes, base runs, their merges and compactions.
    StoreConfig {
        flush_events: 400,
        compact_delta_keys: 60,
        run_min_pins: 8,
        ..StoreConfig::new(dir)
    }
}

/// Batch `n`: an upsert of pin `n`, and accesses, one of them to CID `1_000_000 + n` only.
fn batch_n(n: u64) -> EventBatch {
    let mut events = vec![upsert(n, Tier::Ssd, n), access(1_000_000 + n, T0.plus_millis(n as i64))];
    events.extend((2..EVENTS_PER_BATCH).map(|j| access(n % 7 + j, T0)));
    EventBatch::with_id(format!("batch-{n}"), events)
}

/// The child: writes batches from `PINDEX_CRASH_START` on, printing each acknowledged batch number.
#[tokio::test]
#[ignore = "run by crash::sigkill_at_random_moments_loses_no_acknowledged_batch"]
async fn crash_child_writer() {
    use std::io::Write;
    let Ok(dir) = std::env::var("PINDEX_CRASH_DIR") else {
        return;
    };
    let start: u64 = std::env::var("PINDEX_CRASH_START").unwrap().parse().unwrap();
    let store = ParquetPinStore::open_with_clock(crash_config(dir.as_ref()), Arc::new(ManualClock::new(T0)))
        .await
        .unwrap();
    let mut out = std::io::stdout().lock();
    for n in start.. {
        store.apply(batch_n(n)).await.unwrap();
        writeln!(out, "ack {n}").unwrap();
        out.flush().unwrap();
    }
}

#[test]
fn sigkill_at_random_moments_loses_no_acknowledged_batch() {
    let dir = tempfile::TempDir::new().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x9e37);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut next = 0u64;
    for round in 0..12 {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "crash::crash_child_writer",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("PINDEX_CRASH_DIR", dir.path())
            .env("PINDEX_CRASH_START", next.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut acked = None;
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(n) = line.strip_prefix("ack ") {
                    acked = Some(n.parse::<u64>().unwrap());
                }
            }
            acked
        });
        std::thread::sleep(Duration::from_millis(rng.random_range(150..900)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let acked = reader.join().unwrap();
        rt.block_on(async {
            let store = ParquetPinStore::open_with_clock(crash_config(dir.path()), Arc::new(ManualClock::new(T0)))
                .await
                .unwrap();
            let last_acked = acked.unwrap_or(next.saturating_sub(1));
            // Every acknowledged batch is there exactly once: its unique access is recorded once.
            let counts = access_counts(&store).await;
            let mut applied = 0;
            for n in 0..=last_acked.max(next) + 2 {
                let got = counts.get(test_cid(1_000_000 + n).as_str()).copied().unwrap_or(0);
                if n <= last_acked && (acked.is_some() || n < next) {
                    assert_eq!(got, 1, "round {round}: acknowledged batch {n} has {got} copies");
                }
                assert!(got <= 1, "round {round}: batch {n} applied {got} times");
                if got == 1 {
                    applied = n + 1;
                }
            }
            if applied > 0 {
                let one = store.accesses(&test_cid(1_000_000 + applied - 1), 10).await.unwrap();
                assert_eq!(one.len(), 1, "round {round}: the last batch's access through the API");
            }
            // Totals agree with what is there: whole batches only.
            let m = store.metrics().await.unwrap();
            assert_eq!(
                m.total_accesses,
                applied * (EVENTS_PER_BATCH - 1),
                "round {round}: {m:?}"
            );
            assert_eq!(m.total_pins, applied, "round {round}");
            // Re-delivering an applied batch changes nothing.
            if applied > 0 {
                assert_eq!(
                    store.apply(batch_n(applied - 1)).await.unwrap(),
                    ApplyOutcome::Duplicate
                );
            }
            next = applied;
        });
    }
    assert!(
        next > 20,
        "the child made too little progress to test anything ({next} batches)"
    );
}

async fn access_counts(store: &ParquetPinStore) -> std::collections::HashMap<String, u64> {
    use pin_store::datafusion::arrow::array::AsArray;
    use pin_store::datafusion::arrow::datatypes::Int64Type;
    let mut out = std::collections::HashMap::new();
    for b in store
        .query("SELECT cid, count(*) AS n FROM access_events GROUP BY cid")
        .await
        .unwrap()
    {
        let cids = b.column(0).as_string::<i32>();
        let ns = b.column(1).as_primitive::<Int64Type>();
        for i in 0..b.num_rows() {
            out.insert(cids.value(i).to_owned(), ns.value(i) as u64);
        }
    }
    out
}
