"""Benchmark: the headline metrics on a generated workspace, as ratios to DuckDB baselines in the same run.

For each metric liuliang's time is divided by
(a) *scan*: DuckDB reading the columns the metric needs from the workspace's ``events`` table, and
(b) *hand SQL*: a hand-written DuckDB query for the same numbers, on the same input liuliang reads (the
    ``user_day`` rollup and ``users``), and — for context — on raw events (the distinct user-day built on the fly).
Numbers are checked equal to the hand SQL before timing, so a fast wrong answer cannot pass.
Also timed: appending one new day (ingest + rollup merge) and recomputing the metrics.

    python benchmarks/bench_metrics.py --users 100000     # ~10M events
    python benchmarks/bench_metrics.py --users 1000000    # ~100M events
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import duckdb

from _workspace import ensure_workspace
from liuliang.metrics.retention import RetentionSpec, retention
from liuliang.warehouse import Workspace
from liuliang.warehouse.periods import date_of_day

PERIODS = 31


def best_of(fn: Callable[[], object], repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def hand_retention_sql(source: str, first_day: int, criterion: str) -> str:
    """First-time daily retention by channel over ``source`` (a table or subquery of distinct user, day)."""
    counts = (
        "SELECT ch, cohort, k, count(*) AS n FROM (SELECT m.ch, m.cohort, d.day - m.cohort AS k FROM m "
        f"JOIN {source} d USING (user_key) WHERE d.day - m.cohort BETWEEN 1 AND {PERIODS}) GROUP BY ALL"
    )
    if criterion == "on_or_after":  # retained at k if the last active offset (any, even past the table) is >= k
        counts = (
            "SELECT ch, cohort, k, count(*) AS n FROM ("
            "SELECT m.ch, m.cohort, m.user_key, max(d.day - m.cohort) AS last FROM m "
            f"JOIN {source} d USING (user_key) WHERE d.day > m.cohort GROUP BY ALL) AS l, range(1, {PERIODS + 1}) r(k) "
            "WHERE l.last >= r.k GROUP BY ALL"
        )
    return f"""
        WITH first AS (SELECT user_key, min(day) AS cohort FROM {source} GROUP BY 1),
        m AS (SELECT f.user_key, f.cohort, coalesce(u.channel, '(unknown)') AS ch FROM first f
              LEFT JOIN users u USING (user_key) WHERE f.cohort BETWEEN {first_day} AND {first_day + PERIODS - 1})
        SELECT ch, cohort, k, n FROM ({counts}) ORDER BY ALL
    """


def engine_counts(result) -> list[tuple]:
    return sorted(
        (r["breakdown"], r["cohort"], r["period_offset"], r["count"])
        for r in result.to_arrow().to_pylist()
        if r["period_offset"] > 0 and r["count"] > 0
    )


def run_case(ws: Workspace, raw: duckdb.DuckDBPyConnection, criterion: str, first_day: int) -> dict[str, float]:
    spec = RetentionSpec(
        period="day",
        periods=PERIODS,
        criterion=criterion,
        breakdown="channel",
        date_from=date_of_day(first_day),
        date_to=date_of_day(first_day + PERIODS - 1),
    )
    hand_rollup = hand_retention_sql("user_day", first_day, criterion)
    hand_raw = hand_retention_sql("(SELECT DISTINCT user_key, day FROM events)", first_day, criterion)
    expected = sorted(tuple(r) for r in raw.execute(hand_rollup).fetchall())
    assert engine_counts(retention(ws, spec)) == expected, f"{criterion}: liuliang and hand SQL disagree"
    assert sorted(tuple(r) for r in raw.execute(hand_raw).fetchall()) == expected
    return {
        "liuliang": best_of(lambda: retention(ws, spec)),
        "hand SQL (rollup)": best_of(lambda: raw.execute(hand_rollup).fetchall()),
        "hand SQL (raw events)": best_of(lambda: raw.execute(hand_raw).fetchall()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    scratch = args.dir or Path(tempfile.mkdtemp(prefix="liuliang-bench-metrics-"))
    scratch.mkdir(parents=True, exist_ok=True)
    ws_path = ensure_workspace(scratch, args.users)
    ws = Workspace.open(ws_path)
    raw = ws.engine.raw
    n_events = raw.execute("SELECT count(*) FROM events").fetchone()[0]
    first_day = raw.execute("SELECT min(day) FROM user_day").fetchone()[0]
    scan = best_of(lambda: raw.execute("SELECT sum(user_key), sum(day) FROM events").fetchall())
    print(f"{n_events:,} events; DuckDB scan of events(user_key, day): {scan:.3f} s")
    print(f"{'metric':<42}{'liuliang s':>11}{'/scan':>8}{'/hand(rollup)':>15}{'/hand(raw)':>12}")
    for criterion in ("on", "on_or_after"):
        t = run_case(ws, raw, criterion, first_day)
        print(
            f"{f'31-day retention, {criterion}, by channel':<42}{t['liuliang']:>11.3f}{t['liuliang'] / scan:>8.2f}"
            f"{t['liuliang'] / t['hand SQL (rollup)']:>15.2f}{t['liuliang'] / t['hand SQL (raw events)']:>12.2f}"
        )
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2:.2f} GB")
    ws.close()


if __name__ == "__main__":
    main()
