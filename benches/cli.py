#!/usr/bin/env python3
"""Times the `pindex` binary as whole processes, as an operator runs it (issue: the command line's speed).

Usage:
    cargo build --release -p pin-cli
    python3 benches/cli.py [--pins N] [--ingest-events M] [--demo-pins P --demo-events E]
    python3 benches/cli.py --store DIR     # only the read commands, on the data directory DIR (e.g. a demo's)

It uses the benchmark store of N pins that `cargo xtask bench` (or the `load` binary) leaves under
`target/pindex-bench/pins-N` for the read commands, and fresh temporary data directories for `ingest` and
`demo`. Every figure printed is measured here; nothing is assumed.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def timed(cmd, runs):
    """Median and min wall time of `cmd`, in milliseconds, after one warm-up run."""
    run(cmd)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        run(cmd)
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times), min(times)


def stream(cmd):
    """Time to the first line and lines per second of a streaming listing."""
    t = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, bufsize=1 << 20)
    first = None
    lines = 0
    while True:
        chunk = p.stdout.read(1 << 20)
        if not chunk:
            break
        if first is None:
            first = time.perf_counter() - t
        lines += chunk.count(b"\n")
    p.wait()
    total = time.perf_counter() - t
    if p.returncode != 0:
        sys.exit(f"{cmd} exited {p.returncode}")
    return first * 1000, lines, lines / total, total


def reads(binary, store, runs):
    """`metrics`, `status` and `track` of the pins `metrics` lists, on an existing data directory."""
    pindex = [binary, "-q", "--data-dir", store]
    print(f"pindex binary {binary}; data directory {store}")
    for cmd in (["metrics", "--format", "json"], ["metrics", "--top", "0", "--format", "json"], ["status"]):
        med, low = timed(pindex + cmd, runs)
        print(f"{' '.join(cmd)}: median {med:.1f} ms, min {low:.1f} ms over {runs} runs")
    m = json.loads(run(pindex + ["metrics", "--format", "json"]).stdout)
    for kind in ("hottest_pins", "largest_pins"):
        for pin in m[kind]:
            med, low = timed(pindex + ["track", pin["cid"], "--format", "json"], runs)
            print(f"track {pin['cid']} (of {kind}): median {med:.1f} ms, min {low:.1f} ms over {runs} runs")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pins", type=int, default=int(os.environ.get("PINDEX_BENCH_PINS", "1000000")))
    ap.add_argument("--ingest-events", type=int, default=1_000_000)
    ap.add_argument("--demo-pins", type=int, default=1_000_000)
    ap.add_argument("--demo-events", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "pindex"))
    ap.add_argument("--store", help="time metrics, status and track on this data directory, then stop")
    args = ap.parse_args()
    if args.store:
        reads(args.bin, args.store, args.runs)
        return

    store = os.path.join(ROOT, "target", "pindex-bench", f"pins-{args.pins}")
    if not os.path.isdir(os.path.join(store, "store", "_manifest")):
        sys.exit(f"no benchmark store at {store}: run `PINDEX_BENCH_PINS={args.pins} cargo xtask bench` first")
    pindex = [args.bin, "-q", "--data-dir", store]
    print(f"pindex binary {args.bin}; store of {args.pins} pins at {store}")

    med, low = timed(pindex + ["metrics", "--top", "0", "--format", "json"], args.runs)
    print(f"metrics --top 0 (whole process): median {med:.1f} ms, min {low:.1f} ms over {args.runs} runs")
    med, low = timed(pindex + ["metrics", "--format", "json"], args.runs)
    print(f"metrics with top lists (whole process): median {med:.1f} ms, min {low:.1f} ms over {args.runs} runs")

    sample = run(pindex + ["pins", "--limit", "50", "--format", "ndjson"]).stdout.decode().splitlines()
    cids = [json.loads(line)["cid"] for line in sample][:: max(1, len(sample) // 10)]
    track = []
    for cid in cids:
        med, _ = timed(pindex + ["track", cid, "--format", "json"], max(3, args.runs // 4))
        track.append(med)
    print(f"track <CID> (whole process): median {statistics.median(track):.1f} ms over {len(cids)} CIDs")

    first, lines, rate, total = stream(pindex + ["pins", "--format", "ndjson"])
    print(f"pins --format ndjson > /dev/null: first row after {first:.0f} ms, {lines} rows in {total:.1f} s "
          f"({rate:,.0f} rows/s)")

    with tempfile.TemporaryDirectory(prefix="pindex-cli-bench-") as tmp:
        # Ingest: the pins of the sample plus access events spread over them, in the interchange format.
        path = os.path.join(tmp, "events.ndjson")
        all_cids = [json.loads(line)["cid"] for line in
                    run(pindex + ["pins", "--limit", "10000", "--format", "ndjson"]).stdout.decode().splitlines()]
        t0 = 1_767_225_600_000
        with open(path, "w") as f:
            for i, cid in enumerate(all_cids):
                f.write(json.dumps({"type": "pin", "cid": cid, "ts": t0 + i, "size": 4096 + i, "tier": "ssd",
                                    "name": f"bench/{i}"}) + "\n")
            for i in range(args.ingest_events - len(all_cids)):
                f.write('{"type":"access","cid":"%s","ts":%d,"op":"read","offset":%d,"bytes":4096}\n'
                        % (all_cids[(i * 7919) % len(all_cids)], t0 + 100_000 + i, (i % 64) * 4096))
        data = os.path.join(tmp, "ingest")
        t = time.perf_counter()
        run([args.bin, "-q", "--data-dir", data, "ingest", path])
        took = time.perf_counter() - t
        print(f"ingest of {args.ingest_events} NDJSON events ({os.path.getsize(path) >> 20} MiB): {took:.1f} s "
              f"({args.ingest_events / took:,.0f} events/s, end to end)")
        shutil.rmtree(data)

        data = os.path.join(tmp, "demo")
        t = time.perf_counter()
        run([args.bin, "-q", "--data-dir", data, "demo", "--pins", str(args.demo_pins),
             "--events", str(args.demo_events)])
        took = time.perf_counter() - t
        print(f"demo --pins {args.demo_pins} --events {args.demo_events}: {took:.1f} s")


if __name__ == "__main__":
    main()
