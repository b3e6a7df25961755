"""Benchmark: every dashboard view through the HTTP API on a ~10M-event workspace — cold, warm, after a filter change.

For each view (default filters, English) it times, through a real uvicorn server on localhost and an HTTP client:

- *cold*: the first request on a fresh process (nothing cached, no compiled query);
- *warm*: the same request again, median and 95th percentile of ``--repeat`` requests (served from the cache);
- *filter*: the request with ``criterion=on_or_after`` on the now-warm process (a new cache key: the view is
  recomputed, with the warehouse connection and the other views' compiled queries already there);

against baselines measured in the same run:

- *direct*: ``build_view`` called in-process on a read-only workspace, second call (the view's own cost, no HTTP,
  no cache), and
- *scan*: DuckDB reading ``user_key, day`` of all events (the floor any answer computed from the events pays).

A view whose warm answer takes over 300 ms is flagged. The workspace is a COPY of ``--src`` (``/tmp/bm100`` by
default: 100,000 users, ~9.8M events); its world's incentives and assignments are ingested into the copy so the
experiment, uplift and scorecard views have data. Without ``--src`` a world is generated.

    python benchmarks/bench_web.py                         # copy /tmp/bm100/metrics.duckdb to /tmp/bench_web
    python benchmarks/bench_web.py --src DIR --dir SCRATCH --repeat 30
"""

from __future__ import annotations

import argparse
import shutil
import socket
import statistics
import threading
import time
from pathlib import Path

import duckdb
import httpx
import uvicorn

from _workspace import ensure_workspace
from liuliang.report.view import VIEWS, ViewSpec, build_view
from liuliang.warehouse import Workspace
from liuliang.web import create_app

BUDGET_MS = 300.0


def prepare(src: Path, scratch: Path, users: int) -> Path:
    """The benchmark's own copy of the workspace, with incentives and assignments ingested once."""
    scratch.mkdir(parents=True, exist_ok=True)
    target = scratch / "ws.duckdb"
    if target.exists():
        return target
    source = src / "metrics.duckdb"
    if not source.exists():
        ensure_workspace(src, users)
    print(f"copying {source} -> {target}", flush=True)
    shutil.copyfile(source, target)
    with Workspace.open(target) as ws:
        for table in ("incentives", "assignments"):
            path = src / "world" / f"{table}.parquet"
            if path.exists() and not ws.has_table(table):
                t0 = time.perf_counter()
                report = ws.ingest(path, table=table)
                print(f"ingested {report.added:,} {table} rows in {time.perf_counter() - t0:.1f}s", flush=True)
    return target


def start_server(path: Path) -> tuple[str, uvicorn.Server, threading.Thread]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    # What uvicorn does for sockets it opens itself; without it Nagle's algorithm and delayed ACKs add ~40 ms.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    app = create_app(path, warm=False, release_after=None)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    return f"http://127.0.0.1:{sock.getsockname()[1]}", server, thread


def timed_get(client: httpx.Client, url: str, params: dict[str, str] | None = None) -> tuple[float, dict]:
    t0 = time.perf_counter()
    r = client.get(url, params=params)
    ms = 1000 * (time.perf_counter() - t0)
    r.raise_for_status()
    return ms, r.json()


def scan_ms(path: Path, repeat: int = 3) -> float:
    with duckdb.connect(str(path), read_only=True) as con:
        best = float("inf")
        for _ in range(repeat):
            t0 = time.perf_counter()
            con.execute("SELECT count(user_key), sum(day) FROM events").fetchall()
            best = min(best, time.perf_counter() - t0)
    return 1000 * best


def direct_ms(path: Path, keys: list[str]) -> dict[str, float]:
    """``build_view`` in-process, second call (compiled queries reused), per view."""
    out = {}
    with Workspace.open(path, read_only=True) as ws:
        for key in keys:
            build_view(ws, key, ViewSpec())
            t0 = time.perf_counter()
            build_view(ws, key, ViewSpec())
            out[key] = 1000 * (time.perf_counter() - t0)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--src", type=Path, default=Path("/tmp/bm100"), help="holds metrics.duckdb and world/")
    parser.add_argument("--dir", type=Path, default=Path("/tmp/bench_web"), help="scratch folder for the copy")
    parser.add_argument("--users", type=int, default=100_000, help="users to generate if --src has no workspace")
    parser.add_argument("--repeat", type=int, default=20, help="warm requests per view")
    args = parser.parse_args()

    path = prepare(args.src, args.dir, args.users)
    with duckdb.connect(str(path), read_only=True) as con:
        events = con.execute("SELECT count(*) FROM events").fetchone()[0]
    keys = list(VIEWS)
    print(f"workspace {path}: {events:,} events; views: {', '.join(keys)}", flush=True)

    base, server, thread = start_server(path)
    rows = []
    with httpx.Client(base_url=base, timeout=600) as client:
        t0 = time.perf_counter()
        client.get("/api/meta").raise_for_status()
        meta_ms = 1000 * (time.perf_counter() - t0)
        for key in keys:
            cold, body = timed_get(client, f"/api/views/{key}")
            assert not body["cached"], key
            warm = []
            for _ in range(args.repeat):
                ms, again = timed_get(client, f"/api/views/{key}")
                assert again["cached"], key
                warm.append(ms)
            warm.sort()
            rows.append(
                {
                    "key": key,
                    "cold": cold,
                    "build": body["build_ms"],
                    "warm50": statistics.median(warm),
                    "warm95": warm[max(0, round(0.95 * len(warm)) - 1)],
                    "bytes": len(client.get(f"/api/views/{key}").content),
                    "note": body["note"] is not None and body["figure"] is None,
                }
            )
            print(f"  {key}: cold {cold:,.0f} ms, warm {rows[-1]['warm50']:.1f} ms", flush=True)
        for row in rows:
            filt, body = timed_get(client, f"/api/views/{row['key']}", {"criterion": "on_or_after"})
            assert not body["cached"], row["key"]
            row["filter"] = filt
    server.should_exit = True
    thread.join(30)

    scan = scan_ms(path)
    direct = direct_ms(path, keys)
    print()
    print(f"{events:,} events; DuckDB scan of events(user_key, day): {scan:.1f} ms; /api/meta cold {meta_ms:.0f} ms")
    head = (
        f"{'view':<17}{'cold ms':>10}{'warm p50':>10}{'warm p95':>10}{'filter ms':>11}{'direct ms':>11}"
        f"{'cold/direct':>12}{'filter/direct':>14}{'warm/scan':>10}{'KB':>7}  flag"
    )
    print(head)
    print("-" * len(head))
    for row in rows:
        d = direct[row["key"]]
        flag = "OVER 300 ms WARM" if row["warm95"] > BUDGET_MS else ("note only" if row["note"] else "")
        print(
            f"{row['key']:<17}{row['cold']:>10,.0f}{row['warm50']:>10.1f}{row['warm95']:>10.1f}{row['filter']:>11,.0f}"
            f"{d:>11,.0f}{row['cold'] / d:>12.2f}{row['filter'] / d:>14.2f}{row['warm50'] / scan:>10.3f}"
            f"{row['bytes'] / 1024:>7.0f}  {flag}"
        )
    slow = [r["key"] for r in rows if r["warm95"] > BUDGET_MS]
    print(f"\nwarm budget {BUDGET_MS:.0f} ms: " + ("all views within it" if not slow else f"OVER: {', '.join(slow)}"))


if __name__ == "__main__":
    main()
