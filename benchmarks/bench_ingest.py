"""Benchmark: generate a festival world, ingest it, maintain the rollups — as ratios to plain DuckDB.

Every figure is a ratio to a baseline measured in the same run on the same files, so the numbers mean the same
on any machine:

- *scan*: DuckDB reading the columns an ingest needs from the same Parquet (the floor: no engine can load data
  faster than it can read it);
- *hand SQL*: one hand-written DuckDB statement that loads the events (typed, hashed, local day) and one that
  builds the user-day rollup — what an expert would write for a one-off load without validation,
  quarantine, idempotence or atomicity.

Also timed: re-ingesting the same files (every row a duplicate) and appending one new day to a full workspace.
The first ingest runs in a child process so its peak memory is its own (the generator and baselines share ours).

    python benchmarks/bench_ingest.py --users 100000       # ~10M events
    python benchmarks/bench_ingest.py --users 1000000 --memory-limit 2GB   # ~100M events: memory stays bounded
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import shutil
import tempfile
import time
from pathlib import Path

import duckdb

from liuliang.simulate import WorldConfig, generate_world
from liuliang.warehouse import Workspace

TZ = "Asia/Shanghai"


def rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def timed(label: str, fn, results: dict[str, float]) -> object:
    t0 = time.perf_counter()
    value = fn()
    results[label] = time.perf_counter() - t0
    print(f"  {label:<34} {results[label]:8.2f} s   (peak RSS so far {rss_gb():.2f} GB)", flush=True)
    return value


def scan_baseline(events_glob: str) -> None:
    # Sums over every value force a real read (min/max alone may be answered from Parquet metadata).
    duckdb.connect().execute(
        "SELECT sum(length(user_id)), sum(epoch_us(ts)), sum(length(event)), sum(amount), "
        "sum(length(event_id)) FROM read_parquet(?)",
        [events_glob],
    ).fetchall()


def hand_sql(events_glob: str, db: Path) -> None:
    con = duckdb.connect(str(db))
    con.execute("SET TimeZone = 'UTC'")
    con.execute(
        """
        CREATE TABLE events AS
        SELECT user_id, timezone('UTC', ts) AS ts, event, amount, event_id,
               CAST(md5_number_lower(event_id) >> 1 AS BIGINT) AS _dedup,
               CAST((epoch(timezone('UTC', ts)) + 8 * 3600) // 86400 AS INTEGER) AS day
        FROM read_parquet(?)
        """,
        [events_glob],
    )
    con.execute(
        """
        CREATE TABLE user_day AS
        SELECT user_id, day, count(*) AS events, sum(amount) AS amount, min(ts) AS first_ts, max(ts) AS last_ts
        FROM events GROUP BY ALL
        """
    )
    con.close()


def _ingest_in_child(ws_path: Path, source: Path, memory_limit: str | None, out: multiprocessing.Queue) -> None:
    with Workspace.open(ws_path, tz=TZ, memory_limit=memory_limit) as ws:
        t0 = time.perf_counter()
        added = ws.ingest(source).added
        seconds = time.perf_counter() - t0
    out.put((added, seconds, rss_gb()))


def ingest_measured(ws_path: Path, source: Path, memory_limit: str | None) -> tuple[int, float, float]:
    """Rows added, seconds and the child's peak RSS (GB) of one ingest into a new workspace (start-up not timed)."""
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    child = ctx.Process(target=_ingest_in_child, args=(ws_path, source, memory_limit, out))
    child.start()
    result = out.get()
    child.join()
    return result


def split_last_day(events_glob: str, out: Path) -> tuple[Path, Path]:
    """Write the events of all but the last local day, and of the last day, as two Parquet files."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(
        "CREATE VIEW ev AS SELECT *, CAST((epoch(ts) + 8 * 3600) // 86400 AS INTEGER) AS _d "
        f"FROM read_parquet('{events_glob}')"
    )
    last = con.execute("SELECT max(_d) FROM ev").fetchone()[0]
    base, day = out / "base.parquet", out / "last_day.parquet"
    con.execute(f"COPY (SELECT * EXCLUDE (_d) FROM ev WHERE _d < {last}) TO '{base}' (FORMAT parquet)")
    con.execute(f"COPY (SELECT * EXCLUDE (_d) FROM ev WHERE _d = {last}) TO '{day}' (FORMAT parquet)")
    return base, day


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=100_000, help="consumers (about 100 events each)")
    parser.add_argument("--dir", type=Path, default=None, help="scratch directory (default: a temp dir)")
    parser.add_argument("--memory-limit", default=None, help="DuckDB memory_limit of the workspace (default 4GB)")
    args = parser.parse_args()
    scratch = args.dir or Path(tempfile.mkdtemp(prefix="liuliang-bench-"))
    scratch.mkdir(parents=True, exist_ok=True)
    world = scratch / "world"
    results: dict[str, float] = {}
    print(f"liuliang ingest benchmark, {args.users:,} users, scratch {scratch}")
    if world.exists():
        shutil.rmtree(world)
    manifest = timed("generate world", lambda: generate_world(WorldConfig(n_users=args.users), world), results)
    events_glob = str(world / "events" / "*.parquet")
    n_events = duckdb.connect().execute("SELECT count(*) FROM read_parquet(?)", [events_glob]).fetchone()[0]
    print(f"  events: {n_events:,} from {manifest.__class__.__name__}")

    timed("baseline: DuckDB column scan", lambda: scan_baseline(events_glob), results)
    timed("baseline: hand-written SQL load+rollup", lambda: hand_sql(events_glob, scratch / "hand.duckdb"), results)

    ws_path = scratch / "bench.duckdb"
    ws_path.unlink(missing_ok=True)
    label = "liuliang ingest + rollup"
    added, results[label], ingest_rss = ingest_measured(ws_path, world / "events", args.memory_limit)
    print(f"  {label:<34} {results[label]:8.2f} s   (in a child process)")
    assert added == n_events, added
    ws = Workspace.open(ws_path, memory_limit=args.memory_limit)
    again = timed("liuliang re-ingest (all duplicates)", lambda: ws.ingest(world / "events"), results)
    assert again.added == 0, again
    ws.close()

    base, day = split_last_day(events_glob, scratch)
    inc_path = scratch / "incremental.duckdb"
    inc_path.unlink(missing_ok=True)
    ws = Workspace.open(inc_path, tz=TZ)
    ws.ingest(base)
    rep = timed("liuliang append one new day", lambda: ws.ingest(day), results)
    ws.close()

    scan = results["baseline: DuckDB column scan"]
    hand = results["baseline: hand-written SQL load+rollup"]
    ingest = results["liuliang ingest + rollup"]
    print()
    print(f"events ingested: {n_events:,} ({n_events / ingest / 1e6:.2f} M rows/s); last day: {rep.added:,} events")
    print(f"ingest + rollup      / DuckDB scan : {ingest / scan:6.1f}x")
    print(f"ingest + rollup      / hand SQL    : {ingest / hand:6.1f}x")
    print(f"re-ingest duplicates / DuckDB scan : {results['liuliang re-ingest (all duplicates)'] / scan:6.1f}x")
    print(
        f"append one day       / DuckDB scan : {results['liuliang append one new day'] / scan:6.2f}x "
        f"({results['liuliang append one new day']:.2f} s)"
    )
    limit = args.memory_limit or "4GB (default)"
    print(f"peak RSS of the ingest: {ingest_rss:.2f} GB at memory_limit {limit}; this process: {rss_gb():.2f} GB")
    if args.dir is None:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
