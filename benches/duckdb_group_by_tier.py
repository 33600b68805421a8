#!/usr/bin/env python3
"""Times DuckDB on the same compacted Parquet base segment that `cargo xtask bench` queries.

Usage: python3 benches/duckdb_group_by_tier.py [PINS]   (needs `pip install duckdb`; run the bench or
`cargo run --release -p pindex-benches --bin load` first so the store exists).
"""
import glob
import json
import os
import statistics
import sys
import time

import duckdb

pins = int(sys.argv[1]) if len(sys.argv) > 1 else int(os.environ.get("PINDEX_BENCH_PINS", "1000000"))
root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "target", "pindex-bench", f"pins-{pins}", "store")
manifests = sorted(glob.glob(os.path.join(root, "_manifest", "*.json")))
if not manifests:
    sys.exit(f"no store at {root}: load it first")
manifest = json.load(open(manifests[-1]))
# Format 1 named one `base` and one `delta`; format 2 lists `base_runs` (key-disjoint) and `deltas`.
if manifest.get("delta") or manifest.get("deltas"):
    sys.exit("the store has changes since its last compaction; run `pindex compact` on it first")
runs = manifest.get("base_runs") or [manifest["base"]]
files = ", ".join(f"'{os.path.join(root, r['path'])}'" for r in runs)
con = duckdb.connect()
con.execute("SET threads TO 2")
query = f"SELECT tier, count(*), sum(size_bytes) FROM read_parquet([{files}]) WHERE _has_pin GROUP BY tier"
con.execute(query).fetchall()  # warm the page cache
times = []
for _ in range(10):
    t = time.perf_counter()
    con.execute(query).fetchall()
    times.append(time.perf_counter() - t)
print(f"duckdb {duckdb.__version__}, {pins} pins, 2 threads: median {statistics.median(times) * 1000:.1f} ms, "
      f"min {min(times) * 1000:.1f} ms over {len(times)} runs")
