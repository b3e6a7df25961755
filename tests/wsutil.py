"""Helpers shared by the test modules: table snapshots, canonical ordering, generated event logs, references."""

from __future__ import annotations

import csv
import datetime as dt
import random
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa

from liuliang.warehouse.workspace import Workspace

EPOCH_DATE = dt.date(1970, 1, 1)
UTC = dt.UTC


# -- snapshots ------------------------------------------------------------------------------------------------
def persistent_tables(ws: Workspace) -> list[str]:
    """Every non-temporary table of the workspace's database (not only the ones liuliang knows about)."""
    engine = ws.engine
    if engine.name == "duckdb":
        rows = engine.raw.execute("SELECT table_name FROM duckdb_tables() WHERE NOT temporary").fetchall()
        return sorted(r[0] for r in rows)
    db = engine.session.catalog.currentDatabase()
    return sorted(t.name for t in engine.session.catalog.listTables(db) if not t.isTemporary)


def _sortable(t: pa.DataType) -> bool:
    return not (pa.types.is_nested(t) or pa.types.is_map(t))


def canonical(table: pa.Table) -> pa.Table:
    """Rows sorted by every column, one chunk: two tables with the same rows compare equal."""
    table = table.combine_chunks()
    keys = [(f.name, "ascending") for f in table.schema if _sortable(f.type)]
    return table.sort_by(keys).combine_chunks() if keys and table.num_rows else table


def read_table(ws: Workspace, name: str) -> pa.Table:
    return canonical(ws.engine.to_arrow(ws.engine.table(name)))


def snapshot(ws: Workspace) -> dict[str, pa.Table]:
    """The full content of the workspace: every persistent table, canonically ordered."""
    return {name: read_table(ws, name) for name in persistent_tables(ws)}


def assert_tables_equal(actual: pa.Table, expected: pa.Table, label: str = "") -> None:
    assert actual.schema.names == expected.schema.names, f"{label}: columns differ"
    assert actual.schema == expected.schema, f"{label}: types differ:\n{actual.schema}\nvs\n{expected.schema}"
    if not actual.equals(expected):
        a, e = actual.to_pylist(), expected.to_pylist()
        diff = [(i, x, y) for i, (x, y) in enumerate(zip(a, e, strict=False)) if x != y][:5]
        raise AssertionError(f"{label}: {len(a)} vs {len(e)} rows; first differences: {diff}")


def assert_snapshots_equal(actual: dict[str, pa.Table], expected: dict[str, pa.Table]) -> None:
    assert sorted(actual) == sorted(expected), "the set of tables differs"
    for name in expected:
        assert_tables_equal(actual[name], expected[name], name)


# -- inputs ---------------------------------------------------------------------------------------------------
def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        for row in rows:
            w.writerow(["" if v is None else v for v in row])
    return path


def random_events(
    n: int,
    *,
    seed: int = 0,
    users: int = 50,
    start: dt.datetime = dt.datetime(2024, 3, 1),
    days: int = 10,
    events: Sequence[str] = ("app_open", "ask", "order"),
) -> pa.Table:
    """A reproducible event log; amounts are quarters (exact in binary, so sums do not depend on order)."""
    rng = random.Random(seed)
    span = days * 86_400
    ts = [start + dt.timedelta(seconds=rng.randrange(span), microseconds=rng.randrange(1_000_000)) for _ in range(n)]
    return pa.table(
        {
            "user_id": [f"u{rng.randrange(users):04d}" for _ in range(n)],
            "ts": pa.array(ts, pa.timestamp("us", tz="UTC")),
            "event": [rng.choice(events) for _ in range(n)],
            "amount": [None if rng.random() < 0.3 else rng.randrange(400) / 4 for _ in range(n)],
        }
    )


# -- plain-Python reference -----------------------------------------------------------------------------------
def local_day(ts_utc: dt.datetime, tz: str) -> int:
    """Days since 1970-01-01 of a naive-UTC instant, in ``tz`` (zoneinfo, no liuliang code)."""
    local = ts_utc.replace(tzinfo=UTC).astimezone(ZoneInfo(tz))
    return (local.date() - EPOCH_DATE).days


def reference_rollups(rows: Iterable[dict[str, Any]], tz: str) -> tuple[list[tuple], list[tuple]]:
    """(user_day, user_day_event) as sorted tuples from distinct raw rows (user_id, ts naive UTC, event, amount).

    user_day rows: (user_id, day, events, amount, first_ts, last_ts); user_day_event adds ``event`` after ``day``.
    """
    per_event: dict[tuple, list] = defaultdict(lambda: [0, 0.0, None, None])
    per_day: dict[tuple, list] = defaultdict(lambda: [0, 0.0, None, None])
    for r in rows:
        day = local_day(r["ts"], tz)
        for acc in (per_event[(r["user_id"], day, r["event"])], per_day[(r["user_id"], day)]):
            acc[0] += 1
            acc[1] += r["amount"] or 0.0
            acc[2] = r["ts"] if acc[2] is None else min(acc[2], r["ts"])
            acc[3] = r["ts"] if acc[3] is None else max(acc[3], r["ts"])
    return (
        sorted((*k, *v) for k, v in per_day.items()),
        sorted((*k, *v) for k, v in per_event.items()),
    )


def rollups_as_tuples(ws: Workspace) -> tuple[list[tuple], list[tuple]]:
    """The workspace's rollups in the shape of :func:`reference_rollups` (user_key mapped back to user_id)."""
    mapping = ws.engine.to_arrow(ws.table("user_keys").select("user_key", "user_id")).to_pydict()
    keys = dict(zip(mapping["user_key"], mapping["user_id"], strict=True))
    ud = ws.engine.to_arrow(ws.user_day()).to_pylist()
    ude = ws.engine.to_arrow(ws.user_day_event()).to_pylist()
    return (
        sorted((keys[r["user_key"]], r["day"], r["events"], r["amount"], r["first_ts"], r["last_ts"]) for r in ud),
        sorted(
            (keys[r["user_key"]], r["day"], r["event"], r["events"], r["amount"], r["first_ts"], r["last_ts"])
            for r in ude
        ),
    )
