"""The same inputs give the same warehouse on every engine; Spark's commit marker + repair undoes a crash.

The scenario exercises what differs between engines: staging, Arrow map properties (including a source that
lacks a property another source of the same ingest has), user keys, dedupe, the rollup merge (delete + append,
which is a table rewrite on Spark), the one-row-per-user replace, and quarantine. Each engine's tables are compared
to the same scenario run on an in-memory DuckDB workspace, table by table, as sorted Arrow tables with no column
dropped and no type normalised (so a type drift between engines fails here).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import ibis
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import liuliang
from wsutil import (
    assert_snapshots_equal,
    assert_tables_equal,
    read_table,
    reference_rollups,
    rollups_as_tuples,
    snapshot,
    write_csv,
)

TZ = "Asia/Shanghai"
HEADER = ["user_id", "ts", "event", "amount"]
COMPARED = ("events", "user_keys", "user_day", "user_day_event", "quarantine", "users", "ingests", "meta")


def _inputs(tmp_path: Path) -> dict[str, Path]:
    a = write_csv(
        tmp_path / "a.csv",
        [*HEADER, "city"],
        [
            ("u1", "2024-03-01T10:00:00+08:00", "app_open", "1.5", "bj"),
            ("u2", "2024-03-01T20:00:00Z", "order", "", "sh"),  # Shanghai 03-02
            ("u1", "2024-03-02T09:30:00+08:00", "order", "12.25", ""),
            ("u3", "2024-03-01 15:59:59.75", "app_open", "0.25", "gz"),  # naive UTC; Shanghai 23:59:59.75
            ("u2", "not a time", "order", "1", "sh"),
            ("u4", "2024-03-01T12:00:00+08:00", "order", "abc", "sz"),
        ],
    )
    b = tmp_path / "b.parquet"
    pq.write_table(
        pa.table(
            {
                "user_id": ["u1", "u1", "u5", "u2"],
                "ts": pa.array(
                    [
                        dt.datetime(2024, 3, 1, 2, tzinfo=dt.UTC),  # = a.csv row 1 but has a campaign: a new row
                        dt.datetime(2024, 3, 1, 3, tzinfo=dt.UTC),
                        dt.datetime(2024, 3, 3, 1, tzinfo=dt.UTC),
                        dt.datetime(2024, 3, 1, 21, tzinfo=dt.UTC),
                    ],
                    pa.timestamp("us", "UTC"),
                ),
                "event": ["app_open", "ask", "order", "order"],
                "amount": [1.5, None, 8.0, 0.5],
                "campaign": ["spring", "spring", None, "spring"],
            }
        ),
        b,
    )
    c = write_csv(tmp_path / "c.csv", HEADER, [("u6", "2024-03-02T08:00:00+08:00", "order", "3")])  # no campaign
    users1 = write_csv(
        tmp_path / "u1.csv", ["user_id", "channel", "acquisition_cost"], [("u1", "organic", ""), ("u9", "ads", "4")]
    )
    users2 = write_csv(
        tmp_path / "u2.csv", ["user_id", "channel", "acquisition_cost"], [("u1", "organic", ""), ("u9", "ads", "4.5")]
    )
    return {"a": a, "b": b, "c": c, "users1": users1, "users2": users2}


def _run_scenario(ws, inputs: dict[str, Path]) -> list[tuple]:
    reports = [
        ws.ingest(inputs["a"]),
        ws.ingest([inputs["b"], inputs["c"]]),
        ws.ingest(inputs["a"]),  # re-ingest: adds nothing
        ws.ingest(inputs["users1"], table="users"),
        ws.ingest(inputs["users2"], table="users"),  # u9 changes: replaced, counted as updated
    ]
    return [
        (r.rows_read, r.added, r.duplicates, r.rejected, r.new_users, r.updated, r.min_day, r.max_day) for r in reports
    ]


def _day(y: int, m: int, d: int) -> int:
    return (dt.date(y, m, d) - dt.date(1970, 1, 1)).days


def test_same_inputs_same_warehouse_on_every_engine(ws, tmp_path):
    inputs = _inputs(tmp_path)
    counts = _run_scenario(ws, inputs)
    assert counts == [
        (6, 4, 0, 2, 3, 0, _day(2024, 3, 1), _day(2024, 3, 2)),
        (5, 5, 0, 0, 2, 0, _day(2024, 3, 1), _day(2024, 3, 3)),
        (6, 0, 4, 2, 0, 0, None, None),
        (2, 2, 0, 0, 1, 0, None, None),
        (2, 1, 1, 0, 0, 1, None, None),
    ]
    got = {name: read_table(ws, name) for name in COMPARED}
    assert got["events"].column_names[-2:] == ["city", "campaign"]

    reference = liuliang.Workspace.open(":memory:", tz=TZ)
    try:
        _run_scenario(reference, inputs)
        for name in COMPARED:
            assert_tables_equal(got[name], read_table(reference, name), f"{ws.engine.name}: {name}")
    finally:
        reference.close()

    # And both equal the plain-Python reference (distinct valid rows of a, b and c).
    rows = [
        ("u1", dt.datetime(2024, 3, 1, 2), "app_open", 1.5),
        ("u2", dt.datetime(2024, 3, 1, 20), "order", None),
        ("u1", dt.datetime(2024, 3, 2, 1, 30), "order", 12.25),
        ("u3", dt.datetime(2024, 3, 1, 15, 59, 59, 750_000), "app_open", 0.25),
        ("u1", dt.datetime(2024, 3, 1, 2), "app_open", 1.5),
        ("u1", dt.datetime(2024, 3, 1, 3), "ask", None),
        ("u5", dt.datetime(2024, 3, 3, 1), "order", 8.0),
        ("u2", dt.datetime(2024, 3, 1, 21), "order", 0.5),
        ("u6", dt.datetime(2024, 3, 2, 0), "order", 3.0),
    ]
    expected = reference_rollups([dict(zip(("user_id", "ts", "event", "amount"), r, strict=True)) for r in rows], TZ)
    assert rollups_as_tuples(ws) == expected
    assert [(r["source"].rsplit("/", 1)[-1], r["row"], r["column"]) for r in ws.quarantine().to_pylist()] == [
        ("a.csv", 5, "ts"),
        ("a.csv", 6, "amount"),
        ("a.csv", 5, "ts"),
        ("a.csv", 6, "amount"),
    ]


@pytest.mark.spark
def test_spark_repair_removes_an_uncommitted_ingest(spark_db, tmp_path):
    inputs = _inputs(tmp_path)
    ws = spark_db()
    ws.ingest(inputs["a"])
    ws.ingest([inputs["b"], inputs["c"]])
    before = snapshot(ws)
    committed = ws.committed_ingest()
    assert committed == 2

    # What a crash halfway through ingest 3 leaves behind: new rows in events, user_keys and quarantine, and a
    # user_day row that the merge already replaced by a combined one (its old version is gone).
    engine, stray = ws.engine, committed + 1
    ev = engine.table("events")
    engine.append(
        "events", ev.filter(ev.user_key == 1).limit(1).mutate(_ingest=ibis.literal(stray, "int64"), day=ev.day + 7)
    )
    engine.append(
        "user_keys",
        ibis.memtable(
            pa.table(
                {"user_key": pa.array([99], pa.int64()), "user_id": ["ghost"], "_ingest": pa.array([stray], pa.int64())}
            )
        ),
    )
    ud = engine.table("user_day")
    touched = ud.filter((ud.user_key == 1) & (ud.day == _day(2024, 3, 1)))
    merged = engine.materialize(
        "_t_merged", touched.mutate(events=touched.events + 5, _ingest=ibis.literal(stray, "int64"))
    )
    engine.delete_matching("user_day", touched.select("user_key", "day"), ["user_key", "day"])
    engine.append("user_day", merged)
    engine.drop_temp("_t_merged")
    damaged = snapshot(ws)
    assert damaged["events"].num_rows == before["events"].num_rows + 1
    assert damaged["user_day"] != before["user_day"]

    reopened = spark_db()  # opening a non-transactional workspace repairs it
    assert_snapshots_equal(snapshot(reopened), before)
    assert reopened.repair() is False

    # A crash inside a table swap (Spark rewrites a table under a new name, then swaps names): user_day renamed
    # aside but its replacement not yet renamed; events swapped but the old copy not yet dropped.
    session = reopened.engine.session
    session.sql("ALTER TABLE user_day RENAME TO _ll_old_user_day")
    session.sql("CREATE TABLE _ll_new_user_day AS SELECT * FROM _ll_old_user_day LIMIT 1")
    session.sql("CREATE TABLE _ll_old_events AS SELECT * FROM events LIMIT 1")
    swapped = spark_db()
    assert_snapshots_equal(snapshot(swapped), before)  # the leftovers are gone too

    rep = swapped.ingest(inputs["a"])
    assert (rep.ingest_id, rep.added) == (3, 0)
