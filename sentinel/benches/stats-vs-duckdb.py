#!/usr/bin/env python3
"""`sentinel stats` against DuckDB on the same JSONL file, side by side in one run.

Generates a sentinel log of about SIZE_MB (default 1024) in a temporary folder, times
`sentinel stats` (the release binary) and DuckDB's `read_json` + `GROUP BY` + quantiles
over it, checks that both found the same spans per name, prints a Markdown table, and
deletes the file.

    cargo build --release -p sentinel --bin sentinel
    pip install duckdb
    python3 sentinel/benches/stats-vs-duckdb.py [--size-mb 1024] [--reps 3]

Each command runs --reps times, each in its own process, after one untimed warm-up run (so
the file is in the page cache for everyone); the repetitions take turns (rep 1 of every
command, then rep 2, ...), so other work on the machine falls on all commands alike. The table shows the best and the median wall
time (DuckDB's: of the query alone, without starting Python and importing duckdb), the
CPU time (user + system, whole process, which a busy machine does not inflate) and the
peak memory, both from /usr/bin/time.
"""

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / "target" / "release" / "sentinel"

NAMES = [f"handler_{i}" for i in range(30)] + [f"db_query[{t}]" for t in ("users", "orders", "stock")]
ROUTES = ["/checkout", "/cart", "/search", "/login", "/items/{id}", "/health"]


def trace_lines(rng, t):
    """One trace: 1-6 children written before their root, as the writer does."""
    trace = f"{rng.getrandbits(64):016x}"
    root_id = f"{rng.getrandbits(64):016x}"
    route = rng.choice(ROUTES)
    ts = f"2026-12-02T{(t // 3600) % 24:02d}:{(t // 60) % 60:02d}:{t % 60:02d}.{rng.randrange(10**6):06d}+00:00"
    lines = []
    total = 0.0
    for _ in range(rng.randrange(1, 7)):
        d = rng.lognormvariate(0.5, 1.2)
        total += d
        lines.append(span(rng, ts, rng.choice(NAMES[:-3] if rng.random() < 0.6 else NAMES[-3:]), d,
                          trace, f"{rng.getrandbits(64):016x}", root_id, route))
    lines.append(span(rng, ts, "checkout" if route == "/checkout" else "request", total + rng.expovariate(1.0),
                      trace, root_id, None, route))
    return lines


def span(rng, ts, name, d, trace, span_id, parent, route):
    r = rng.random()
    status, etype, err = ("success", None, None)
    if r < 0.02:
        status, etype, err = ("error", "TimeoutError", "upstream timed out after 30s")
    elif r < 0.025:
        status = "cancelled"
    rec = {
        "timestamp": ts,
        "function": name,
        "duration_ms": round(d, 3),
        "cpu_time_ms": round(d * 0.4, 3),
        "status": status,
        "error_type": etype,
        "error": err,
        "trace_id": trace,
        "span_id": span_id,
        "parent_span_id": parent,
        "tags": {"route": route, "user": rng.randrange(100000)},
    }
    if d > 20:
        rec["slow"] = True
    return json.dumps(rec, separators=(",", ":"))


def generate(path, size_mb):
    rng = random.Random(15)
    pool = []
    t = 0
    while len(pool) < 200_000:
        pool.extend(trace_lines(rng, t))
        t += 1
    block = ("\n".join(pool) + "\n").encode()
    target = size_mb << 20
    written = 0
    with open(path, "wb") as f:
        while written < target:
            f.write(block)
            written += len(block)
    return written, len(pool) * (written // len(block))


def measured(cmd):
    """Runs `cmd` under /usr/bin/time; returns (wall s, CPU s, peak RSS bytes, stdout)."""
    start = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-f", "%U %S %M", *cmd], capture_output=True, check=False)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{cmd[0]} failed: {proc.stderr.decode()}")
    user, system, kib = proc.stderr.decode().strip().splitlines()[-1].split()
    return wall, float(user) + float(system), int(kib) * 1024, proc.stdout


def time_sentinel(path):
    wall, cpu, peak, out = measured([str(BIN), "stats", "--format", "json", str(path)])
    counts = {r["name"]: r["count"] for r in json.loads(out)}
    return wall, cpu, peak, counts


def duckdb_query(quantile, columns_given):
    """DuckDB's `GROUP BY` of the same figures `stats` reports, with `quantile` (a function of
    a column and a list of fractions), reading the file with the columns given or detected."""
    if columns_given:
        source = """read_json('{path}', format = 'newline_delimited',
                       columns = {{'function': 'VARCHAR', 'label': 'VARCHAR',
                                   'duration_ms': 'DOUBLE', 'status': 'VARCHAR'}})"""
        name = """coalesce("function", label, '?')"""
    else:
        source = "read_json('{path}', format = 'newline_delimited')"
        name = """coalesce("function", '?')"""
    return f"""
        SELECT {name} AS name, count(*) AS count,
               count(*) FILTER (WHERE status = 'error') AS errors,
               {quantile}(duration_ms, [0.5, 0.95, 0.99, 0.999]) AS q,
               max(duration_ms) AS max_ms, sum(duration_ms) AS total_ms
        FROM {source}
        WHERE duration_ms IS NOT NULL GROUP BY name"""


DUCKDB_QUERIES = {
    "DuckDB `read_json` (columns given), `quantile_cont`": duckdb_query("quantile_cont", True),
    "DuckDB `read_json` (columns given), `approx_quantile`": duckdb_query("approx_quantile", True),
    "DuckDB `read_json` (schema detected), `quantile_cont`": duckdb_query("quantile_cont", False),
}


DUCKDB_CHILD = """
import json, sys, time, duckdb
con = duckdb.connect()
con.execute(f"SET threads = {sys.argv[2]}")
con.execute("SET enable_progress_bar = false")
start = time.perf_counter()
rows = con.execute(sys.argv[1]).fetchall()
print(json.dumps({"seconds": time.perf_counter() - start, "counts": {r[0]: r[1] for r in rows}}))
"""


def time_duckdb(query, path, threads):
    """Runs the query in a fresh Python; the time is the query's alone (no import, no
    connect), the CPU time and peak memory the whole process's."""
    _, cpu, peak, out = measured([sys.executable, "-c", DUCKDB_CHILD, query.format(path=path), str(threads)])
    result = json.loads(out.decode().strip().splitlines()[-1])
    return result["seconds"], cpu, peak, result["counts"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mb", type=int, default=1024)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--dir", default=tempfile.gettempdir())
    args = ap.parse_args()
    try:
        import duckdb
    except ImportError:
        sys.exit("this benchmark needs DuckDB: pip install duckdb")
    if not BIN.exists():
        sys.exit(f"{BIN} is missing: cargo build --release -p sentinel --bin sentinel")

    path = Path(args.dir) / f"sentinel-stats-bench-{os.getpid()}.jsonl"
    try:
        size, records = generate(path, args.size_mb)
        threads = os.cpu_count()
        commands = [("`sentinel stats`", lambda: time_sentinel(path))]
        for label, query in DUCKDB_QUERIES.items():
            commands.append((label, lambda q=query: time_duckdb(q, path, threads)))
        for _, run in commands:
            run()  # warm-up: page cache, DuckDB's first-query setup
        # Round-robin: rep k of every command before rep k + 1 of any, so a burst of other
        # work on the machine falls on all of them alike instead of on one.
        samples = {label: [] for label, _ in commands}
        counts = {}
        for _ in range(args.reps):
            for label, run in commands:
                t, cpu, mem, counts[label] = run()
                samples[label].append((t, cpu, mem))
        results = []
        for label, _ in commands:
            times = [t for t, _, _ in samples[label]]
            cpus = [c for _, c, _ in samples[label]]
            peak = max(m for _, _, m in samples[label])
            results.append((label, min(times), statistics.median(times), min(cpus), peak, counts[label]))

        reference = results[0][5]
        for label, *_, counts in results[1:]:
            if counts != reference:
                sys.exit(f"{label} counted other spans per name than sentinel: {counts} vs {reference}")

        load = os.getloadavg()[0]
        print(f"{size / 2**20:.0f} MiB, {records:,} records, {len(reference)} names; "
              f"{threads} cores, load average {load:.1f} at the end; best and median of {args.reps}\n")
        print("| command | wall, best | wall, median | MB/s (best) | CPU time (best) | peak memory |")
        print("|---|---:|---:|---:|---:|---:|")
        for label, best, median, cpu, peak, _ in results:
            print(f"| {label} | {best:.2f} s | {median:.2f} s | {size / 1e6 / best:,.0f} "
                  f"| {cpu:.2f} s | {peak / 2**20:,.0f} MiB |")
        print("\nSame spans per name in every row (checked).")
    finally:
        path.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
