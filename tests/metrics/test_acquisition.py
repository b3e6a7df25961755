"""CAC, cost per retained user and payback against the plain-Python reference, by hand, on Spark and on a world."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st
from money_reference import local_day, period_number, ref_cac, ref_cost_per_retained, ref_payback
from test_revenue import SETTINGS, keyed, open_world, worlds

import liuliang
from liuliang.errors import WorkspaceError
from liuliang.metrics.acquisition import (
    CAC_SCHEMA,
    CURVE_SCHEMA,
    PAYBACK_SCHEMA,
    RETAINED_SCHEMA,
    CacSpec,
    CostPerRetainedSpec,
    PaybackSpec,
    cac,
    cost_per_retained,
    payback,
)
from liuliang.metrics.revenue import MoneySpecError
from liuliang.simulate import WorldConfig, generate_world


@SETTINGS
@given(
    world=worlds(),
    window=st.sampled_from([0, 1, 30]),
    days=st.sampled_from([(0, 1), (7, 30), (1, 3, 7)]),
    period=st.sampled_from(["day", "week", "month"]),
    breakdown=st.sampled_from([None, "channel", "campaign"]),
    margin=st.sampled_from([1.0, 0.5, 2.0]),
)
def test_matches_reference(world, window, days, period, breakdown, margin) -> None:
    tz, events, users, incentives, data_end = world
    ws = open_world(tz, events, users, incentives)
    try:
        by = ("channel", "campaign", "all") if users else ("all",)
        res = cac(ws, CacSpec(by=by, incentive_window_days=window), data_end=data_end)
        assert res.table.schema == CAC_SCHEMA
        assert keyed(res.table, ("dimension", "segment")) == ref_cac(
            events, users, incentives, tz, data_end, by, window
        )

        by = ("channel", "incentive_kind", "all") if users else ("incentive_kind", "all")
        spec = CostPerRetainedSpec(days=days, by=by, incentive_window_days=window)
        res = cost_per_retained(ws, spec, data_end=data_end)
        assert res.table.schema == RETAINED_SCHEMA
        assert keyed(res.table, ("dimension", "segment", "day")) == ref_cost_per_retained(
            events, users, incentives, tz, data_end, days, by, window
        )

        breakdown = breakdown if users else None
        spec = PaybackSpec(period=period, breakdown=breakdown, margin=margin, incentive_window_days=window)
        res = payback(ws, spec, data_end=data_end)
        assert res.table.schema == PAYBACK_SCHEMA and res.curve.schema == CURVE_SCHEMA
        summary, curve = ref_payback(
            events, users, incentives, tz, "monday", data_end, period, breakdown, margin, window
        )
        assert keyed(res.table, ("breakdown", "cohort")) == summary
        assert keyed(res.curve, ("breakdown", "cohort", "period_offset")) == curve
    finally:
        ws.close()


# -- hand-computed examples --------------------------------------------------------------------------------------------
def at(day: int, hour: int = 12) -> dt.datetime:
    return dt.datetime(2024, 1, 1) + dt.timedelta(days=day, hours=hour)


D0 = local_day(dt.datetime(2024, 1, 1), "UTC")

#: a (ads, cost 10) active days 0, 1, 7, 30 and pays 2 a day; b (ads, cost 6) signed up on day 0 but is first seen on
#: day 2; c (no users row) active days 0 and 7; d (organic, no cost, signed up day 40: after the data) never seen.
LOG = [("a", at(d), 2.0) for d in (0, 1, 7, 30)] + [("b", at(2), 50.0), ("c", at(0), None), ("c", at(7), 1.0)]
LOG += [("c", at(35), 0.0)]  # data ends on day 35 at noon
USERS = {
    "a": {"signup_ts": at(0, 0), "channel": "ads", "campaign": "x", "acquisition_cost": 10.0},
    "b": {"signup_ts": at(0, 1), "channel": "ads", "campaign": "y", "acquisition_cost": 6.0},
    "d": {"signup_ts": at(40), "channel": "organic", "acquisition_cost": None},
}
INCENTIVES = [
    ("a", at(-1), "coupon", 100.0),  # before a's acquisition day: not an acquisition cost (but a kind before day 0)
    ("a", at(30, 23), "red_packet", 4.0),  # day 30: the window's last day
    ("a", at(31, 1), "red_packet", 1000.0),  # day 31: outside the window
    ("b", at(1), "points", 2.0),  # b: acquired day 0 (signup), day 0 of activity is day 2
    ("c", at(0, 1), "red_packet", 3.0),
    ("d", at(1), "coupon", 50.0),  # d is not acquired by data_end
]


@pytest.fixture
def hand_ws():
    ws = open_world("UTC", LOG, USERS, INCENTIVES)
    yield ws
    ws.close()


def test_cac_by_hand(hand_ws) -> None:
    r = cac(hand_ws, CacSpec(by=("channel", "campaign")))
    ads = r.row("channel", "ads")
    assert (ads["users"], ads["acquisition_cost"], ads["incentive_cost"], ads["cac"]) == (2, 16.0, 6.0, 11.0)
    none = r.row("channel", "(none)")  # c: no users row, acquired by its first event
    assert (none["users"], none["total_cost"], none["cost_missing"]) == (1, 3.0, 1)
    with pytest.raises(KeyError):
        r.row("channel", "organic")  # d signs up after data_end
    assert r.cac("campaign", "x") == 14.0 and r.cac("campaign", "y") == 8.0
    assert r.row("campaign", "(none)")["users"] == 1
    # a 10-day window loses a's day-30 packet; data_end on day 8 also drops it, and opens every window
    assert cac(hand_ws, CacSpec(by="channel", incentive_window_days=10)).cac("channel", "ads") == 9.0
    early = cac(hand_ws, CacSpec(by="channel"), data_end=at(8))
    assert early.cac("channel", "ads") == 9.0 and early.row("channel", "ads")["window_open"] == 2
    assert cac(hand_ws, CacSpec(by="channel")).row("channel", "ads")["window_open"] == 0
    assert set(r.to_dict()["rows"][0]) == set(CAC_SCHEMA.names)


def test_cost_per_retained_by_hand(hand_ws) -> None:
    r = cost_per_retained(hand_ws, CostPerRetainedSpec(days=(7, 30)))
    # D7: a (day 7) and c (day 7) retained; b first seen day 2, inactive on day 9
    ads7 = r.row("channel", "ads", 7)
    assert (ads7["users"], ads7["observable"], ads7["retained"], ads7["cost"]) == (2, 2, 1, 22.0)  # 14 + 8
    assert ads7["cost_per_retained"] == 22.0 and ads7["rate"] == 0.5
    # D30: b's day 32 is observable (data ends day 35); a retained on day 30
    assert r.row("channel", "ads", 30)["cost_per_retained"] == 22.0
    assert r.row("channel", "(none)", 30)["cost_per_retained"] is None  # c not back on day 30
    # kinds received on or before day 0: a coupon (day -1), b points (day 1 <= its day 0 = 2), c red packet
    assert r.row("incentive_kind", "coupon", 7)["cost"] == 14.0
    assert r.row("incentive_kind", "points", 7)["retained"] == 0
    assert r.row("incentive_kind", "red_packet", 7)["cost_per_retained"] == 3.0
    with pytest.raises(KeyError):
        r.row("incentive_kind", "(none)", 7)


def test_unobservable_users_are_left_out() -> None:
    # u first seen day 0 and data ends day 5: D7 is not observable, so u's cost is not counted anywhere
    ws = open_world("UTC", [("u", at(0), 1.0), ("v", at(5), 1.0)], {"u": {"acquisition_cost": 9.0}}, [])
    r = cost_per_retained(ws, CostPerRetainedSpec(days=(1, 7), by=("all",)))
    d7 = r.row("all", "all", 7)
    assert (d7["users"], d7["observable"], d7["retained"], d7["cost"], d7["rate"]) == (2, 0, 0, 0.0, None)
    d1 = r.row("all", "all", 1)
    assert (d1["observable"], d1["cost"], d1["cost_per_retained"]) == (1, 9.0, None)
    ws.close()


def test_payback_by_hand(hand_ws) -> None:
    r = payback(hand_ws, PaybackSpec(period="week", breakdown="channel"))
    week = period_number(D0, "week", "monday")
    ads = r.row(week, "ads")  # a and b: cost 14 + 8; week 0 brings 2 + 2 (a) + 50 (b)
    assert (ads["users"], ads["cost"], ads["cac"], ads["payback_offset"], ads["reached"]) == (2, 22.0, 11.0, 0, True)
    none = r.row(week, "(none)")  # c: cost 3, revenue 1 on day 7 (week 1) and nothing after: never paid back
    assert (none["payback_offset"], none["reached"], none["revenue_to_date"]) == (None, False, 1.0)
    assert none["periods_observed"] == 6  # weeks 0..5 (day 35 is in week 5)
    # a margin of 0.1: all of ads' revenue, 58 × 0.1, stays below 22
    thin = payback(hand_ws, PaybackSpec(period="week", breakdown="channel", margin=0.1)).row(week, "ads")
    assert (thin["payback_offset"], thin["reached"]) == (None, False)
    # by day and campaign with a margin of 10: x (a alone) costs 14 and earns 2 × 10 on day 0
    daily = payback(hand_ws, PaybackSpec(period="day", breakdown="campaign", margin=10.0))
    assert daily.row(D0, "x")["payback_offset"] == 0  # 2 × 10 >= 14 on day 0
    curve = keyed(daily.curve, ("breakdown", "cohort", "period_offset"))
    assert curve[("x", D0, 1)]["cumulative_revenue"] == 4.0 and curve[("x", D0, 35)]["incomplete"]
    assert daily.row(D0 + 2, "y")["payback_offset"] == 0  # b: 50 × 10 against 8


def test_spec_errors() -> None:
    ws = open_world("UTC", [("a", at(0), 1.0)], {}, [])
    cases = [
        (lambda: cac(ws, CacSpec(by=())), "money_by_empty"),
        (lambda: cac(ws, CacSpec(by=("incentive_kind",))), "money_by"),
        (lambda: cac(ws, CacSpec(incentive_window_days=-1)), "money_incentive_window"),
        (lambda: cost_per_retained(ws, CostPerRetainedSpec(days=(7, 7))), "money_days"),
        (lambda: cost_per_retained(ws, CostPerRetainedSpec(days=(-1,))), "money_days"),
        (lambda: payback(ws, PaybackSpec(margin=0)), "money_margin"),
        (lambda: payback(ws, PaybackSpec(period="hour")), "money_period"),  # type: ignore[arg-type]
    ]
    for call, code in cases:
        with pytest.raises(MoneySpecError) as info:
            call()
        assert info.value.code == code
    with pytest.raises(WorkspaceError, match="users table"):
        cac(ws)  # by channel without a users table
    assert cac(ws, CacSpec(by="all")).row("all", "all")["cost_missing"] == 1
    ws.close()
    empty = liuliang.Workspace.open(":memory:", tz="UTC")
    assert cac(empty).table.num_rows == 0 and payback(empty).curve.num_rows == 0
    assert cost_per_retained(empty).table.num_rows == 0


# -- Spark = DuckDB ----------------------------------------------------------------------------------------------------
SMALL = [
    ("a", dt.datetime(2024, 1, 30, 20), 10.0),
    ("a", dt.datetime(2024, 2, 6, 20), 25.0),
    ("b", dt.datetime(2024, 1, 31, 2), 8.0),
    ("b", dt.datetime(2024, 3, 1, 2), 2.5),
    ("c", dt.datetime(2024, 2, 2, 2), None),
]
SMALL_USERS = {
    "a": {"signup_ts": dt.datetime(2024, 1, 30), "channel": "ads", "campaign": "x", "acquisition_cost": 5.0},
    "b": {"signup_ts": None, "channel": "organic", "campaign": None, "acquisition_cost": 1.5},
    "z": {"signup_ts": dt.datetime(2024, 2, 1), "channel": "ads", "campaign": "x", "acquisition_cost": 4.0},
}
SMALL_INCENTIVES = [
    ("a", dt.datetime(2024, 1, 30, 20), "red_packet", 2.0),
    ("b", dt.datetime(2024, 1, 29), "coupon", 1.0),
    ("c", dt.datetime(2024, 2, 3), "points", 0.5),
]


def test_spark_matches_duckdb(ws) -> None:
    """CAC, cost per retained user and payback: the same tables on this engine as on DuckDB, and as the reference."""
    tz = ws.settings.tz
    open_world(tz, SMALL, SMALL_USERS, SMALL_INCENTIVES, ws=ws)
    duck = open_world(tz, SMALL, SMALL_USERS, SMALL_INCENTIVES)

    def run(w):
        back = payback(w, PaybackSpec(period="week"))
        return cac(w).table, cost_per_retained(w, CostPerRetainedSpec(days=(1, 7, 30))).table, back.table, back.curve

    results = run(ws)
    for actual, expected in zip(results, run(duck), strict=True):
        assert actual.equals(expected)
    assert keyed(results[0], ("dimension", "segment")) == ref_cac(
        SMALL, SMALL_USERS, SMALL_INCENTIVES, tz, None, ("channel", "campaign")
    )
    expected = ref_cost_per_retained(
        SMALL, SMALL_USERS, SMALL_INCENTIVES, tz, None, (1, 7, 30), ("channel", "incentive_kind")
    )
    assert keyed(results[1], ("dimension", "segment", "day")) == expected
    summary, _ = ref_payback(SMALL, SMALL_USERS, SMALL_INCENTIVES, tz, "monday", None, "week", "channel", 1.0)
    assert keyed(results[2], ("breakdown", "cohort")) == summary
    duck.close()


# -- a generated world -------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def world(tmp_path_factory):
    out = tmp_path_factory.mktemp("money_world")
    manifest = generate_world(WorldConfig(n_users=4000, days=60, seed=5, courier_share=0.0), out)
    ws = liuliang.Workspace.open(out / "ws.duckdb", tz=manifest.config.tz)
    ws.ingest(out / "events")
    ws.ingest(manifest.users, table="users")
    ws.ingest(manifest.incentives, table="incentives")
    yield ws, manifest
    ws.close()


def _local_days(ts: pa.ChunkedArray, tz: str) -> list[int]:
    local = pc.local_timestamp(ts.cast(pa.timestamp("us", tz=tz)))
    return pc.cast(pc.cast(local, pa.date32()), pa.int32()).to_pylist()


def test_cac_on_a_generated_world(world) -> None:
    """CAC per channel = mean acquisition_cost + mean incentive cost in the 30-day window, straight from Parquet."""
    ws, manifest = world
    tz = manifest.config.tz
    users = pq.read_table(manifest.users)
    inc = pq.read_table(manifest.incentives)
    acq_day = dict(zip(users["user_id"].to_pylist(), _local_days(users["signup_ts"], tz), strict=True))
    channel = dict(zip(users["user_id"].to_pylist(), users["channel"].to_pylist(), strict=True))
    cost = defaultdict(float)
    n = defaultdict(int)
    for user, c in zip(users["user_id"].to_pylist(), users["acquisition_cost"].to_pylist(), strict=True):
        cost[channel[user]] += c or 0.0
        n[channel[user]] += 1
    outside = 0
    for user, day, c in zip(
        inc["user_id"].to_pylist(), _local_days(inc["ts"], tz), inc["cost"].to_pylist(), strict=True
    ):
        if acq_day[user] <= day <= acq_day[user] + 30:
            cost[channel[user]] += c or 0.0
        else:
            outside += 1
    assert outside > 0  # the window matters in this world
    res = cac(ws, CacSpec(by=("channel",)))
    assert sorted(r["segment"] for r in res.table.to_pylist()) == sorted(n)
    for ch in n:
        row = res.row("channel", ch)
        assert row["users"] == n[ch]
        assert row["cac"] == pytest.approx(cost[ch] / n[ch], rel=1e-9), ch
