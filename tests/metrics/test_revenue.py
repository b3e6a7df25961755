"""Cohort revenue (NRR, GRR, ARPU) against the plain-Python reference, hand examples and Spark."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from money_reference import local_day, period_number, ref_revenue

import liuliang
from liuliang.errors import WorkspaceError
from liuliang.metrics.revenue import REVENUE_SCHEMA, MoneySpecError, RevenueSpec, cohort_revenue

SETTINGS = settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target],  # no shrinking: each example ingests
)

#: An instant near a DST change (New York) or a month start (Shanghai); logs span about two months around it.
ANCHORS = {"America/New_York": dt.datetime(2024, 3, 10, 7), "Asia/Shanghai": dt.datetime(2024, 3, 1)}
USERS = [f"u{i}" for i in range(7)]
EXTRA = ["u7", "u8"]  # may have users rows or incentives but never events
AMOUNTS = [None, 0.0, 0.25, 1.5, 4.0, 10.75]  # binary fractions: sums are exact in any order
COSTS = [None, 0.0, 0.5, 2.25, 8.0]
KINDS = ["red_packet", "coupon", "points"]


def local_midnight_utc(tz: str, date: dt.date) -> dt.datetime:
    return dt.datetime.combine(date, dt.time(), tzinfo=ZoneInfo(tz)).astimezone(dt.UTC).replace(tzinfo=None)


@st.composite
def instants(draw, tz: str) -> dt.datetime:
    anchor = ANCHORS[tz]
    if draw(st.booleans()):
        ts = anchor + dt.timedelta(seconds=draw(st.integers(-20 * 86_400, 40 * 86_400)))
    else:  # a second around a local midnight
        date = anchor.date() + dt.timedelta(days=draw(st.integers(-20, 40)))
        ts = local_midnight_utc(tz, date) + dt.timedelta(seconds=draw(st.sampled_from([-1, 0, 1])))
    if draw(st.booleans()):
        ts += dt.timedelta(microseconds=draw(st.integers(0, 999_999)))
    return ts


@st.composite
def worlds(draw):
    """(tz, events, users, incentives, data_end): random users with costs and channels, revenue, incentives."""
    tz = draw(st.sampled_from(sorted(ANCHORS)))
    amounts = AMOUNTS + ([-2.0] if draw(st.booleans()) else [])  # refunds in some worlds only
    events = draw(
        st.lists(st.tuples(st.sampled_from(USERS), instants(tz), st.sampled_from(amounts)), min_size=1, max_size=40)
    )
    users = {}
    for u in USERS + EXTRA:
        if draw(st.booleans()):  # the others have no users row
            users[u] = {
                "signup_ts": draw(st.none() | instants(tz)),
                "channel": draw(st.sampled_from([None, "ads", "organic", "red"])),
                "campaign": draw(st.sampled_from([None, "c1", "c2"])),
                "acquisition_cost": draw(st.sampled_from(COSTS)),
            }
    incentives = draw(
        st.lists(
            st.tuples(st.sampled_from(USERS + EXTRA), instants(tz), st.sampled_from(KINDS), st.sampled_from(COSTS)),
            max_size=12,
        )
    )
    data_end = None
    if draw(st.booleans()):
        data_end = draw(st.sampled_from(sorted(ts for _, ts, _ in events)))
        data_end += draw(st.sampled_from([dt.timedelta(0), dt.timedelta(microseconds=1), dt.timedelta(days=3)]))
    # ingest keeps one copy of identical rows (re-ingesting is idempotent): the reference sees distinct rows
    return tz, list(dict.fromkeys(events)), users, list(dict.fromkeys(incentives)), data_end


def open_world(tz, events, users, incentives, target=":memory:", ws=None):
    """Ingest the world into a workspace (``ws`` given: into that one)."""
    ws = ws or liuliang.Workspace.open(target, tz=tz)
    ws.ingest(
        pa.table(
            {
                "user_id": [e[0] for e in events],
                "ts": pa.array([e[1] for e in events], pa.timestamp("us")),
                "event": ["e"] * len(events),
                "amount": pa.array([e[2] for e in events], pa.float64()),
            }
        )
    )
    if users:
        names = list(users)
        ws.ingest(
            pa.table(
                {
                    "user_id": names,
                    "signup_ts": pa.array([users[u].get("signup_ts") for u in names], pa.timestamp("us")),
                    "channel": pa.array([users[u].get("channel") for u in names], pa.string()),
                    "campaign": pa.array([users[u].get("campaign") for u in names], pa.string()),
                    "acquisition_cost": pa.array([users[u].get("acquisition_cost") for u in names], pa.float64()),
                }
            ),
            table="users",
        )
    if incentives:
        ws.ingest(
            pa.table(
                {
                    "user_id": [i[0] for i in incentives],
                    "ts": pa.array([i[1] for i in incentives], pa.timestamp("us")),
                    "kind": [i[2] for i in incentives],
                    "cost": pa.array([i[3] for i in incentives], pa.float64()),
                }
            ),
            table="incentives",
        )
    return ws


def keyed(table: pa.Table, keys: tuple[str, ...]) -> dict[tuple, dict]:
    out = {}
    for r in table.to_pylist():
        key = tuple(r.pop(k) for k in keys)
        assert key not in out, f"duplicate row {key}"
        out[key] = r
    return out


def revenue_rows(result) -> dict[tuple, dict]:
    return keyed(result.table, ("breakdown", "cohort", "period_offset"))


revenue_specs = st.builds(
    RevenueSpec,
    period=st.sampled_from(["day", "week", "month", "quarter"]),
    periods=st.integers(0, 8),
    breakdown=st.sampled_from([None, "channel"]),
)


@SETTINGS
@given(
    world=worlds(),
    specs=st.lists(revenue_specs, min_size=2, max_size=2),
    week_start=st.sampled_from(["monday", "sunday"]),
)
def test_matches_reference(world, specs, week_start) -> None:
    tz, events, users, incentives, data_end = world
    ws = liuliang.Workspace.open(":memory:", tz=tz, week_start=week_start)
    try:
        open_world(tz, events, users, incentives, ws=ws)
        for spec in specs:
            if spec.breakdown and not users:
                with pytest.raises(WorkspaceError, match="users table"):
                    cohort_revenue(ws, spec, data_end=data_end)
                continue
            result = cohort_revenue(ws, spec, data_end=data_end)
            assert result.table.schema == REVENUE_SCHEMA
            actual = revenue_rows(result)
            expected = ref_revenue(events, users, tz, week_start, data_end, spec.period, spec.periods, spec.breakdown)
            assert actual == expected, spec
            refunds = any(a is not None and a < 0 for _, _, a in events)
            for row in actual.values():  # properties: GRR never above 1 (without refunds) and never above NRR
                if row["grr"] is not None:
                    assert row["grr"] <= row["nrr"]
                    assert refunds or row["grr"] <= 1.0
    finally:
        ws.close()


# -- hand-computed examples --------------------------------------------------------------------------------------------
def at(day: int, hour: int = 12) -> dt.datetime:
    return dt.datetime(2024, 1, 1) + dt.timedelta(days=day, hours=hour)


D0 = local_day(dt.datetime(2024, 1, 1), "UTC")


@pytest.fixture
def expansion_ws():
    """Cohort of day 0: a pays 10 then 30 (expansion), b pays 10 then 4 (contraction), c pays nothing on day 0
    but 6 on day 1 (no base to keep). Data ends on day 2 at noon (day 2 is incomplete)."""
    ws = liuliang.Workspace.open(":memory:", tz="UTC")
    log = [
        ("a", at(0), 10.0),
        ("a", at(1), 30.0),
        ("b", at(0, 1), 10.0),
        ("b", at(1, 5), 4.0),
        ("c", at(0, 2), None),
        ("c", at(1, 3), 6.0),
        ("d", at(2), 1.0),
    ]
    open_world("UTC", log, {"a": {"channel": "ads"}, "b": {"channel": "ads"}}, [], ws=ws)
    yield ws
    ws.close()


def test_expansion_gives_nrr_above_one_but_grr_at_most_one(expansion_ws) -> None:
    r = cohort_revenue(expansion_ws, RevenueSpec(period="day", periods=2))
    c0, c1 = r.cell(D0, 0), r.cell(D0, 1)
    assert (c0["cohort_size"], c0["revenue"], c0["base_revenue"], c0["nrr"], c0["grr"]) == (3, 20.0, 20.0, 1.0, 1.0)
    assert c1["revenue"] == 40.0 and c1["nrr"] == 2.0  # 30 + 4 + 6 over 20
    assert c1["retained_revenue"] == 14.0 and c1["grr"] == 0.7  # min(30,10) + min(4,10) + min(6,0)
    assert c1["arpu"] == pytest.approx(40 / 3) and c1["arpu_active"] == pytest.approx(40 / 3)
    assert not c1["incomplete"]
    c2 = r.cell(D0, 2)  # nobody of the cohort came back on day 2, which is not over yet
    assert (c2["active_users"], c2["revenue"], c2["grr"], c2["arpu_active"], c2["incomplete"]) == (
        0,
        0.0,
        0.0,
        None,
        True,
    )
    d = r.cell(D0 + 2, 0)
    assert d["incomplete"] and d["nrr"] == 1.0


def test_breakdown_and_data_end(expansion_ws) -> None:
    r = cohort_revenue(expansion_ws, RevenueSpec(period="day", periods=1, breakdown="channel"))
    assert r.cell(D0, 1, "ads")["grr"] == pytest.approx(14 / 20)
    assert r.cell(D0, 1, "(none)")["base_revenue"] == 0.0  # c: no users row, nothing paid on day 0
    assert r.cell(D0, 1, "(none)")["nrr"] is None
    # data_end in the middle of day 1 (aware instant, converted): a's 30 (12:00) is not in yet, b's 4 (05:00) is
    end = dt.datetime(2024, 1, 2, 8, tzinfo=ZoneInfo("Asia/Shanghai")) + dt.timedelta(hours=8)
    r = cohort_revenue(expansion_ws, RevenueSpec(period="day", periods=1), data_end=end)
    assert r.data_end == dt.datetime(2024, 1, 2, 8)
    c1 = r.cell(D0, 1)
    assert (c1["revenue"], c1["active_users"], c1["incomplete"]) == (10.0, 2, True)
    assert {row["cohort"] for row in r.table.to_pylist()} == {D0}  # d has not arrived yet


def test_week_and_month_cohorts(expansion_ws) -> None:
    week = period_number(D0, "week", "monday")  # 2024-01-01 is a Monday: everything is in one week
    r = cohort_revenue(expansion_ws, RevenueSpec(period="week", periods=1))
    c = r.cell(week, 0)
    assert (c["cohort_size"], c["revenue"], c["incomplete"]) == (4, 61.0, True)
    assert r.cohort_start(week) == dt.date(2024, 1, 1)
    assert r.to_dict()["rows"][0]["cohort"] == week
    assert list(r.to_pandas().columns) == REVENUE_SCHEMA.names


def test_empty_workspace_and_errors() -> None:
    ws = liuliang.Workspace.open(":memory:", tz="UTC")
    assert cohort_revenue(ws).table.num_rows == 0
    with pytest.raises(MoneySpecError, match="money_period"):
        cohort_revenue(ws, RevenueSpec(period="hour"))  # type: ignore[arg-type]
    with pytest.raises(MoneySpecError, match="money_periods"):
        cohort_revenue(ws, RevenueSpec(periods=-1))
    open_world("UTC", [("a", at(0), 1.0)], {"a": {"channel": "x"}}, [], ws=ws)
    with pytest.raises(WorkspaceError, match="no column 'city'"):
        cohort_revenue(ws, RevenueSpec(breakdown="city"))


# -- the same numbers on Spark -----------------------------------------------------------------------------------------
SMALL = [
    ("a", dt.datetime(2024, 1, 30, 20), 10.0),  # 31 Jan 04:00 in Shanghai
    ("a", dt.datetime(2024, 1, 31, 17), 25.0),  # 1 Feb 01:00 in Shanghai: the next month
    ("b", dt.datetime(2024, 1, 31, 2), 8.0),
    ("b", dt.datetime(2024, 2, 20, 2), 2.5),
    ("c", dt.datetime(2024, 2, 2, 2), None),
    ("c", dt.datetime(2024, 3, 2, 2), 4.0),
]
SMALL_USERS = {"a": {"channel": "ads"}, "b": {"channel": "organic"}}


def test_spark_matches_duckdb(ws) -> None:
    open_world(ws.settings.tz, SMALL, SMALL_USERS, [], ws=ws)
    duck = open_world(ws.settings.tz, SMALL, SMALL_USERS, [])
    spec = RevenueSpec(period="month", periods=2, breakdown="channel")
    actual = cohort_revenue(ws, spec).table
    assert actual.equals(cohort_revenue(duck, spec).table)
    expected = ref_revenue(SMALL, SMALL_USERS, ws.settings.tz, "monday", None, "month", 2, "channel")
    assert keyed(actual, ("breakdown", "cohort", "period_offset")) == expected
    assert keyed(actual, ("breakdown", "cohort", "period_offset"))[("ads", 2024 * 12, 1)]["nrr"] == 2.5
    duck.close()


def test_results_share_the_long_result_conversions() -> None:
    """Every money and activity result is a LongResult: same to_arrow / to_pandas / to_dict / notebook display."""
    import datetime as dt

    import pyarrow as pa

    from liuliang.metrics.acquisition import PaybackSpec, PaybackTable
    from liuliang.metrics.result import LongResult

    curve = pa.table({"period_offset": [0, 1]})
    table = PaybackTable(PaybackSpec(), pa.table({"cohort": [1], "day": [dt.date(2026, 3, 1)]}), None, curve)
    assert isinstance(table, LongResult) and table.to_arrow() is table.table
    as_dict = table.to_dict()
    assert as_dict["rows"] == [{"cohort": 1, "day": "2026-03-01"}] and as_dict["curve"] == curve.to_pylist()
    assert as_dict["spec"]["breakdown"] == "channel" and "<table" in table._repr_html_()
