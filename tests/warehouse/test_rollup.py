"""The user-day rollups: maintained incrementally at ingest, equal to a rebuild and to a plain-Python reference.

The reference groups the distinct raw rows by (user, local day in the workspace zone, event) with zoneinfo — no
liuliang code. The workspace reports in America/New_York and the events straddle its 2024 spring-forward, so the
day boundaries move within the data. Amounts are multiples of 0.25, exact in binary, so sums do not depend on
the order in which an engine adds them and can be compared exactly.
"""

from __future__ import annotations

import datetime as dt
import itertools

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import liuliang
from wsutil import assert_tables_equal, read_table, reference_rollups, rollups_as_tuples

TZ = "America/New_York"
START = dt.datetime(2024, 3, 7)  # DST starts 2024-03-10 07:00 UTC
SPAN_S = 7 * 86_400

row_strategy = st.fixed_dictionaries(
    {
        "user_id": st.sampled_from(["ann", "bob", "cai", "dee", "eve"]),
        "ts": st.tuples(st.integers(0, SPAN_S - 1), st.integers(0, 999_999)).map(
            lambda s: START + dt.timedelta(seconds=s[0], microseconds=s[1])
        ),
        "event": st.sampled_from(["open", "order", "ask"]),
        "amount": st.one_of(st.none(), st.integers(-8, 400).map(lambda q: q / 4)),
    }
)


@st.composite
def split_logs(draw: st.DrawFn) -> tuple[list[dict], list[list[dict]]]:
    rows = draw(st.lists(row_strategy, min_size=1, max_size=60))
    # Repeat some rows: within one ingest and across ingests they must count once.
    rows += draw(st.lists(st.sampled_from(rows), max_size=10))
    rows = draw(st.permutations(rows))
    if draw(st.booleans()):  # split at random positions
        cuts = sorted(draw(st.lists(st.integers(0, len(rows)), max_size=4)))
        bounds = [0, *cuts, len(rows)]
        chunks = [rows[a:b] for a, b in itertools.pairwise(bounds)]
    else:  # one ingest per UTC day, in time order (the usual daily load)
        by_day: dict[dt.date, list[dict]] = {}
        for r in sorted(rows, key=lambda r: r["ts"]):
            by_day.setdefault(r["ts"].date(), []).append(r)
        chunks = list(by_day.values())
    return rows, chunks


def _as_arrow(rows: list[dict]) -> pa.Table:
    return pa.table(
        {
            "user_id": pa.array([r["user_id"] for r in rows], pa.string()),
            "ts": pa.array([r["ts"] for r in rows], pa.timestamp("us")),  # naive = UTC
            "event": pa.array([r["event"] for r in rows], pa.string()),
            "amount": pa.array([r["amount"] for r in rows], pa.float64()),
        }
    )


def _distinct(rows: list[dict]) -> list[dict]:
    return [dict(t) for t in {tuple(sorted(r.items())) for r in rows}]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(split_logs())
def test_incremental_rollups_equal_reference_and_rebuild(log):
    rows, chunks = log
    ws = liuliang.Workspace.open(":memory:", tz=TZ)
    try:
        for chunk in chunks:
            rep = ws.ingest(_as_arrow(chunk))
            assert rep.rows_read == rep.added + rep.duplicates
        expected = reference_rollups(_distinct(rows), TZ)
        assert rollups_as_tuples(ws) == expected
        incremental = {n: read_table(ws, n) for n in ("user_day", "user_day_event")}
        ws.rebuild_rollups()
        for name, table in incremental.items():
            assert_tables_equal(read_table(ws, name), table, name)  # _ingest included
    finally:
        ws.close()


def test_a_new_day_touches_only_that_days_rows(duck_ws):
    def ev(user: str, ts: str, event: str = "open", amount: float | None = None) -> dict:
        return {"user_id": user, "ts": dt.datetime.fromisoformat(ts), "event": event, "amount": amount}

    # duck_ws reports in Asia/Shanghai: 16:00 UTC is local midnight.
    first = [
        ev("a", "2024-03-01T01:00:00", "open", 1.0),
        ev("a", "2024-03-01T02:00:00", "order", 5.0),
        ev("b", "2024-03-01T03:00:00"),
        ev("a", "2024-03-02T01:00:00"),
        ev("b", "2024-03-02T15:59:59.999999"),  # still 2024-03-02 locally
    ]
    duck_ws.ingest(_as_arrow(first))
    before = {n: read_table(duck_ws, n).to_pylist() for n in ("user_day", "user_day_event")}
    assert {r["_ingest"] for r in before["user_day"]} == {1}

    new_day = [ev("a", "2024-03-02T16:00:00", "order", 2.5), ev("c", "2024-03-03T01:00:00")]  # local 2024-03-03
    rep = duck_ws.ingest(_as_arrow(new_day))
    day3 = (dt.date(2024, 3, 3) - dt.date(1970, 1, 1)).days
    assert (rep.min_day, rep.max_day) == (day3, day3)
    for name in ("user_day", "user_day_event"):
        now = read_table(duck_ws, name).to_pylist()
        old = [r for r in now if r["day"] != day3]
        assert old == before[name], name  # untouched, _ingest still 1
        assert {r["_ingest"] for r in now if r["day"] == day3} == {2}

    # A late event for an existing (user, day) rewrites exactly that row, adding to it.
    late = [ev("a", "2024-03-01T05:00:00", "order", 1.25)]
    duck_ws.ingest(_as_arrow(late))
    ud = {(r["user_key"], r["day"]): r for r in read_table(duck_ws, "user_day").to_pylist()}
    a, day1 = 1, (dt.date(2024, 3, 1) - dt.date(1970, 1, 1)).days
    assert (ud[(a, day1)]["events"], ud[(a, day1)]["amount"], ud[(a, day1)]["_ingest"]) == (3, 7.25, 3)
    assert ud[(a, day1)]["first_ts"] == dt.datetime(2024, 3, 1, 1)
    assert ud[(a, day1)]["last_ts"] == dt.datetime(2024, 3, 1, 5)
    assert sorted(r["_ingest"] for r in ud.values()) == [1, 1, 1, 2, 2, 3]

    # Re-ingesting everything adds nothing and touches nothing.
    state = {n: read_table(duck_ws, n) for n in ("user_day", "user_day_event")}
    assert duck_ws.ingest(_as_arrow(first + new_day + late)).added == 0
    for name, table in state.items():
        assert_tables_equal(read_table(duck_ws, name), table, name)


def test_rebuild_restores_damaged_rollups(duck_ws):
    duck_ws.ingest(
        _as_arrow(
            [
                {"user_id": "a", "ts": dt.datetime(2024, 3, 1, 1), "event": "open", "amount": None},
                {"user_id": "a", "ts": dt.datetime(2024, 3, 1, 2), "event": "open", "amount": 0.5},
            ]
        )
    )
    good = {n: read_table(duck_ws, n) for n in ("user_day", "user_day_event")}
    assert good["user_day"].to_pylist()[0]["events"] == 2
    duck_ws.engine.raw.execute("DELETE FROM user_day")
    duck_ws.engine.raw.execute("UPDATE user_day_event SET events = 99")
    duck_ws.rebuild_rollups()
    for name, table in good.items():
        assert_tables_equal(read_table(duck_ws, name), table, name)
