"""Benchmark: DAU/WAU/MAU and lifecycle on a generated workspace, as ratios to DuckDB baselines in the same run.

For each metric liuliang's time is divided by
(a) *scan*: DuckDB reading the columns the metric needs — ``user_key, day`` of the workspace's ``events`` table, and
    ``user_id, ts`` of the world's Parquet events (``<dir>/world/events/*.parquet``), and
(b) *hand SQL*: a hand-written DuckDB query for the same numbers on the same input liuliang reads (the ``user_day``
    rollup), in the same formulation (one ``lead``/``lag`` pass, then group-bys and a running sum).
Answers are checked equal to the hand SQL before anything is timed, so a fast wrong answer cannot pass. Timings are
the best of 3.

Also timed: one new day arriving — the workspace file is copied to a scratch path, the last day's events (from the
Parquet, ``ts`` shifted by one day, new ``event_id``s) are ingested (rollups merged at ingest), and DAU/WAU/MAU are
recomputed (checked against the hand SQL on the updated workspace).

    python benchmarks/bench_activity.py --dir /tmp/bm100                  # reuse (or build) <dir>/metrics.duckdb
    python benchmarks/bench_activity.py --users 1000000 --dir /tmp/bm1m   # ~100M events
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import ibis

from _workspace import TZ, ensure_workspace
from liuliang.metrics.activity import active_users, base
from liuliang.metrics.activity.active_users import ActiveUsersSpec, active_users_expr
from liuliang.metrics.lifecycle import LifecycleSpec, lifecycle, lifecycle_expr
from liuliang.warehouse import Workspace

REPEAT = 3


def best_of(fn: Callable[[], object], repeat: int | None = None) -> float:
    times = []
    for _ in range(repeat or REPEAT):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def best_of_interleaved(fns: dict[str, Callable[[], object]], repeat: int | None = None) -> dict[str, float]:
    """Best of ``repeat`` for each, taking turns, so load from other work on the machine hits all alike."""
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(repeat or REPEAT):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - t0)
    return best


def hand_active_users_sql() -> str:
    """DAU / WAU / MAU per local day from ``user_day``: each user-day counts in the W-day window of the days
    ``[day, min(next active day, day + W) - 1]``, so +1 at ``day``, -1 at that end, and a running sum."""
    ends = " UNION ALL ".join(
        f"SELECT least(coalesce(nxt, day + {w}), day + {w}) AS day, 0, {'-count(*)' if w == 7 else '0'}, "
        f"{'-count(*)' if w == 30 else '0'} FROM a GROUP BY 1"
        for w in (7, 30)
    )
    return f"""
        WITH a AS (SELECT user_key, day, lead(day) OVER (PARTITION BY user_key ORDER BY day) AS nxt FROM user_day),
        b AS (SELECT min(day) AS lo, max(day) AS hi FROM user_day),
        ch AS (SELECT day, count(*) AS dau, count(*) AS wau, count(*) AS mau FROM a GROUP BY 1 UNION ALL {ends}),
        c AS (SELECT day, sum(dau) AS dau, sum(wau) AS wau, sum(mau) AS mau FROM ch GROUP BY 1)
        SELECT d.day, coalesce(c.dau, 0) AS dau,
               sum(coalesce(c.wau, 0)) OVER (ORDER BY d.day) AS wau,
               sum(coalesce(c.mau, 0)) OVER (ORDER BY d.day) AS mau
        FROM b, range(b.lo, b.hi + 1) AS d(day) LEFT JOIN c ON c.day = d.day
        ORDER BY d.day
    """


def hand_lifecycle_sql(period: str) -> str:
    """New / returning / resurrecting / dormant per day or Monday week, first-seen, from ``user_day``."""
    p = "day" if period == "day" else "(day + 3) // 7"  # day 0 (1970-01-01) was a Thursday
    return f"""
        WITH up AS (SELECT {"" if period == "day" else "DISTINCT "}user_key, {p} AS p FROM user_day),
        w AS (SELECT p, lag(p) OVER u AS prev, lead(p) OVER u AS nxt FROM up
              WINDOW u AS (PARTITION BY user_key ORDER BY p)),
        e AS (SELECT max(day) AS d FROM user_day)
        SELECT p, status, count(*) AS users FROM (
            SELECT p, CASE WHEN prev IS NULL THEN 'new' WHEN prev = p - 1 THEN 'returning' ELSE 'resurrecting' END
                   AS status FROM w
            UNION ALL
            SELECT p + 1, 'dormant' FROM w, e WHERE (nxt IS NULL OR nxt <> p + 1) AND p + 1 <= {p.replace("day", "e.d")}
        ) GROUP BY ALL ORDER BY ALL
    """


def engine_active(ws: Workspace) -> list[tuple]:
    t = active_users(ws).to_arrow()
    return list(zip(*(t[c].to_pylist() for c in ("day", "dau", "wau", "mau")), strict=True))


def engine_lifecycle(ws: Workspace, period: str) -> list[tuple]:
    rows = lifecycle(ws, LifecycleSpec(period=period)).to_arrow().to_pylist()
    return sorted((r["period"], r["status"], r["users"]) for r in rows if r["users"] > 0)


def engine_sql(ws: Workspace, expr) -> str:
    """The SQL Ibis generates for a metric's query (run once through Ibis, so its in-memory tables are registered).

    Timing it alone separates the shape of the generated SQL from liuliang's fixed per-call work (resolving
    ``data_end``, building and compiling the expression, shaping the small result)."""
    expr.to_pyarrow()
    return ws.engine.con.compile(expr)


def fetch(raw: duckdb.DuckDBPyConnection, sql: str) -> list[tuple]:
    return [tuple(r) for r in raw.execute(sql).fetchall()]


def open_readonly(path: Path) -> Workspace:
    """Metrics only read: a read-only connection lets other processes read the same file meanwhile."""
    con = ibis.duckdb.connect(str(path), read_only=True)
    return Workspace.open(con)


def last_day_events(raw: duckdb.DuckDBPyConnection, parquet: str, last_day: int):
    """The Parquet events of local day ``last_day`` (fixed UTC+8: Asia/Shanghai has had no DST since 1991), moved
    one day later with new ids."""
    return raw.execute(
        f"""SELECT 'next-' || event_id AS event_id, user_id, ts + INTERVAL 1 DAY AS ts, event, amount, platform, text
            FROM read_parquet('{parquet}')
            WHERE (epoch_us(ts) // 1000000 + 8 * 3600) // 86400 = {last_day}"""
    ).to_arrow_table()


def update_case(ws_path: Path, scratch: Path, parquet: str, last_day: int) -> dict[str, float]:
    """Copy the workspace, ingest one more day, recompute DAU/WAU/MAU; ingest is timed on fresh copies."""
    copy = scratch / "update.duckdb"
    reader = duckdb.connect()
    new_day = last_day_events(reader, parquet, last_day)
    reader.close()
    ingest_times = []
    for _ in range(REPEAT):
        shutil.copyfile(ws_path, copy)
        Path(f"{copy}.wal").unlink(missing_ok=True)
        ws = Workspace.open(copy)
        t0 = time.perf_counter()
        ws.ingest(new_day)
        ingest_times.append(time.perf_counter() - t0)
        ws.close()
    ws = Workspace.open(copy)
    raw = ws.engine.raw
    assert fetch(raw, "SELECT max(day) FROM user_day")[0][0] == last_day + 1
    hand = hand_active_users_sql()
    assert engine_active(ws) == fetch(raw, hand), "after one new day: liuliang and hand SQL disagree"
    out = {
        "events": new_day.num_rows,
        "ingest": min(ingest_times),
        **best_of_interleaved({"liuliang": lambda: active_users(ws), "hand": lambda: raw.execute(hand).fetchall()}),
    }
    ws.close()
    copy.unlink()
    return out


def main() -> None:
    global REPEAT
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=100_000, help="users to generate when <dir> has no workspace")
    parser.add_argument("--dir", type=Path, default=None, help="holds world/ and metrics.duckdb (default: a temp dir)")
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs (default 3)")
    parser.add_argument("--no-update", action="store_true", help="skip the one-new-day case")
    args = parser.parse_args()
    REPEAT = args.repeat
    scratch = args.dir or Path(tempfile.mkdtemp(prefix="liuliang-bench-activity-"))
    scratch.mkdir(parents=True, exist_ok=True)
    world, ws_path = scratch / "world", ensure_workspace(scratch, args.users)
    parquet = str(world / "events" / "*.parquet")

    ws = open_readonly(ws_path)
    assert ws.settings.tz == TZ, f"the benchmark's Parquet day arithmetic assumes {TZ}; workspace has {ws.settings.tz}"
    raw = ws.engine.raw
    counts = "SELECT (SELECT count(*) FROM events), count(*), max(day) FROM user_day"
    n_events, n_user_days, last_day = fetch(raw, counts)[0]
    scans = {
        "scan(events)": best_of(lambda: raw.execute("SELECT sum(user_key), sum(day) FROM events").fetchall()),
        "scan(parquet)": best_of(
            lambda: raw.execute(
                f"SELECT sum(strlen(user_id)), sum(epoch_us(ts)) FROM read_parquet('{parquet}')"
            ).fetchall()
        ),
    }
    print(f"{n_events:,} events, {n_user_days:,} user-days; best of {REPEAT}")
    print("  ".join(f"DuckDB {k}: {v:.3f} s" for k, v in scans.items()))

    span = base.resolve(ws, None)
    cases = [
        (
            "DAU/WAU/MAU per day",
            lambda: engine_active(ws),
            hand_active_users_sql(),
            lambda: active_users(ws),
            active_users_expr(ws, ActiveUsersSpec(), span),
        ),
        *(
            (
                f"lifecycle, {period}",
                (lambda p=period: engine_lifecycle(ws, p)),
                hand_lifecycle_sql(period),
                (lambda p=period: lifecycle(ws, LifecycleSpec(period=p))),
                lifecycle_expr(ws, LifecycleSpec(period=period), span),
            )
            for period in ("week", "day")
        ),
    ]
    head = (
        f"{'metric':<22}{'liuliang s':>11}{'hand s':>8}{'/hand':>7}{'/scan(events)':>14}{'/scan(parquet)':>15}"
        f"{'its SQL /hand':>14}{'fixed ms':>9}"
    )
    rows = []
    for name, answer, hand, run, expr in cases:
        assert answer() == fetch(raw, hand), f"{name}: liuliang and hand SQL disagree"
        sql = engine_sql(ws, expr)
        t = best_of_interleaved(
            {
                "liuliang": run,
                "hand": lambda h=hand: raw.execute(h).fetchall(),
                "sql": lambda s=sql: raw.execute(s).fetchall(),
            }
        )
        t_ll, t_hand, t_sql = t["liuliang"], t["hand"], t["sql"]
        rows.append(
            f"{name:<22}{t_ll:>11.3f}{t_hand:>8.3f}{t_ll / t_hand:>7.2f}{t_ll / scans['scan(events)']:>14.2f}"
            f"{t_ll / scans['scan(parquet)']:>15.2f}{t_sql / t_hand:>14.2f}{(t_ll - t_sql) * 1000:>9.0f}"
        )
    print(head, *rows, sep="\n")
    print("its SQL: the SQL Ibis generates for liuliang's query, run alone; fixed ms: liuliang minus that")
    ws.close()

    if not args.no_update:
        u = update_case(ws_path, scratch, parquet, last_day)
        print(
            f"one new day ({u['events']:,} events): ingest {u['ingest']:.3f} s; DAU/WAU/MAU recompute "
            f"{u['liuliang']:.3f} s (hand SQL {u['hand']:.3f} s, x{u['liuliang'] / u['hand']:.2f}); "
            f"update total {u['ingest'] + u['liuliang']:.3f} s"
        )
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2:.2f} GB")


if __name__ == "__main__":
    main()
