"""DuckDB and PySpark give the same RetentionTable, equal to the naive reference, over a grid of specs.

One fixed log (ingested once per engine) exercises calendar day/week/month and rolling windows, the five
criteria, a breakdown, revenue aggregation, property filters with negated, numeric and regex operators, and a
``data_end`` inside the data (which re-reads that day from ``events``). On the Spark parameter the table is also
compared cell by cell with the DuckDB one.
"""

from __future__ import annotations

import datetime as dt
import math
import random

from reference import reference_retention
from retention_logs import assert_same, engine_cells, ingest_world, open_world

import liuliang
from liuliang.metrics.retention import RetentionSpec, retention
from liuliang.metrics.retention.filters import Condition

TZ = "Asia/Shanghai"  # the ``ws`` fixture's zone
START = dt.datetime(2024, 1, 20, 3)


def _log() -> tuple[list, dict]:
    rnd, props = random.Random(7), random.Random(11)

    def with_props(*event) -> tuple:
        city = props.choice([None, "bj", "sh", "gz", "Sh"])
        level = props.choice([None, "1", "2.5", "10", "x", " 5", "3e0"])
        return (*event, (("city", city), ("level", level)))

    events = []
    for u in range(24):
        first = START + dt.timedelta(hours=rnd.randrange(0, 40 * 24))
        for _ in range(rnd.randrange(1, 14)):
            ts = first + dt.timedelta(seconds=rnd.randrange(0, 50 * 86_400))
            events.append(with_props(f"u{u}", ts, rnd.choice("abc"), rnd.choice([None, 1.0, 2.5])))
        events.append(with_props(f"u{u}", first, "a", 1.0))
    users = {
        f"u{u}": {
            "signup_ts": START + dt.timedelta(hours=rnd.randrange(-48, 30 * 24)) if u % 5 else None,
            "channel": rnd.choice(["ads", "organic", None]),
        }
        for u in range(0, 26, 1)
        if u % 7
    }
    return events, users


EVENTS, USERS = _log()
LAST = max(e[1] for e in EVENTS)
INSIDE = dt.datetime(2024, 3, 1, 9, 30)  # a data_end inside the data

GRID: list[tuple[RetentionSpec, dt.datetime | None]] = [
    (RetentionSpec(period="day", periods=10, criterion="on", breakdown="channel"), None),
    (RetentionSpec(period="day", periods=10, criterion="on_or_after", start_events=("a",)), INSIDE),
    (RetentionSpec(period="week", periods=4, criterion="on_or_before", cohorting="recurring"), None),
    (RetentionSpec(period="month", periods=2, criterion="streak", date_from=dt.date(2024, 1, 1)), None),
    (RetentionSpec(period="week", criterion="brackets", brackets=(1, 3, 5), return_events=("b", "c")), INSIDE),
    (RetentionSpec(window="rolling", period="day", periods=8, denominator="observed", breakdown="channel"), None),
    (RetentionSpec(window="rolling", period="week", periods=4, aggregation="sum", period_zero="returns"), INSIDE),
    (RetentionSpec(period="day", periods=6, aggregation="average", cohorting="signup", breakdown="channel"), None),
    (
        RetentionSpec(period="day", periods=7, criterion="on", period_zero="returns_after_start", reference="previous"),
        None,
    ),
    (
        RetentionSpec(
            period="day",
            periods=5,
            cohorting="first_in_range",
            date_from=dt.date(2024, 2, 1),
            date_to=dt.date(2024, 2, 10),
            min_occurrences=2,
        ),
        INSIDE,
    ),
    (  # filters: a negated operator (unset cities kept), a number stored as a string, a portable regex
        RetentionSpec(
            period="day",
            periods=6,
            criterion="on_or_after",
            start_where=(Condition("city", "is_not", "bj"), Condition("level", "gte", 2.5)),
            return_where=(Condition("city", "not_regex", "^(sh|gz)$"),),
            user_where=(Condition("channel", "not_icontains", "AD"),),
        ),
        None,
    ),
]


def _same_table(a, b, label: str) -> None:
    ra, rb = a.to_arrow().to_pylist(), b.to_arrow().to_pylist()
    assert len(ra) == len(rb), f"{label}: {len(ra)} rows vs {len(rb)}"
    for x, y in zip(ra, rb, strict=True):
        for k, v in x.items():
            w = y[k]
            same = (
                math.isclose(v, w, rel_tol=1e-12, abs_tol=1e-12) if isinstance(v, float) and w is not None else v == w
            )
            assert same, f"{label}: {k} {v!r} != {w!r} in {x}"


def test_engines_agree_with_reference(ws: liuliang.Workspace) -> None:
    ingest_world(ws, EVENTS, USERS)
    duck = open_world(TZ, EVENTS, USERS) if ws.engine.name != "duckdb" else None
    try:
        for spec, end in GRID:
            label = f"{spec} data_end={end}"
            got = retention(ws, spec, data_end=end)
            assert got.data_end == (end or LAST)
            expected = reference_retention(EVENTS, USERS, spec, TZ, "monday", end)
            assert expected, f"{label}: the reference has no cells (the grid should exercise something)"
            assert_same(engine_cells(got), expected, label)
            if duck is not None:
                _same_table(got, retention(duck, spec, data_end=end), label)
    finally:
        if duck is not None:
            duck.close()
