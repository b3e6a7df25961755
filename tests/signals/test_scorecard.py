"""The campaign scorecard: every column against numbers worked out by hand, the reuse of the money metrics checked on
a generated world, and the verdict ranking the planted habit-heavy channel above the hunter-heavy ones."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

import liuliang
from liuliang.metrics import CacSpec, CostPerRetainedSpec, RevenueSpec, cac, cohort_revenue, cost_per_retained
from liuliang.metrics.revenue import MoneySpecError
from liuliang.models.curves import RetentionCurveFitter
from liuliang.signals.scorecard import DEMO_TAKE_RATE, SCORECARD_SCHEMA, VerdictRules, scorecard
from liuliang.simulate import WorldConfig

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cli"))
from cli_helpers import world_workspace


def at(day: int, hour: int = 12) -> dt.datetime:
    return dt.datetime(2024, 1, 1) + dt.timedelta(days=day, hours=hour)


# day 0 = 1 Jan 2024 (UTC); data ends day 70 (11 Mar) at noon, so January's month 1 (February) is complete.
EVENTS = [
    ("a", 0, 5.0), ("a", 7, None), ("a", 30, 10.0), ("a", 35, 1.0), ("a", 68, 0.0),
    ("b", 0, 2.0), ("b", 1, None),
    ("c", 20, 4.0), ("c", 27, None), ("c", 50, 6.0),
    ("d", 0, 3.0), ("d", 7, None), ("d", 30, None), ("d", 39, 6.0), ("d", 70, 0.0),
    ("e", 3, 1.0),
]  # fmt: skip
USERS = {  # e has no users row
    "a": ("x", 10.0, 0),
    "b": ("x", 4.0, 0),
    "c": ("x", 6.0, 20),
    "d": ("y", None, 0),
}
INCENTIVES = [
    ("a", 0, "red_packet", 2.0),
    ("a", 5, "red_packet", 3.0),
    ("a", 50, "red_packet", 100.0),  # outside the 30-day window: not a cost
    ("b", 0, "red_packet", 1.0),
    ("c", 20, "points", 2.0),
]
END = at(70)
HAND = {"habit_min_age": 10, "habit_window": 5, "data_end": END}


def ingest_hand(ws, incentives=INCENTIVES) -> None:
    """EVENTS, USERS and ``incentives`` into ``ws`` (tz UTC)."""
    ws.ingest(
        pa.table(
            {
                "user_id": [e[0] for e in EVENTS],
                "ts": pa.array([at(e[1]) for e in EVENTS], pa.timestamp("us")),
                "event": ["e"] * len(EVENTS),
                "amount": pa.array([e[2] for e in EVENTS], pa.float64()),
            }
        )
    )
    ws.ingest(
        pa.table(
            {
                "user_id": list(USERS),
                "signup_ts": pa.array([at(v[2], 0) for v in USERS.values()], pa.timestamp("us")),
                "channel": ["ch"] * len(USERS),
                "campaign": [v[0] for v in USERS.values()],
                "acquisition_cost": pa.array([v[1] for v in USERS.values()], pa.float64()),
            }
        ),
        table="users",
    )
    ws.ingest(
        pa.table(
            {
                "user_id": [i[0] for i in incentives],
                "ts": pa.array([at(i[1], 1) for i in incentives], pa.timestamp("us")),
                "kind": [i[2] for i in incentives],
                "cost": pa.array([i[3] for i in incentives], pa.float64()),
            }
        ),
        table="incentives",
    )


@pytest.fixture(scope="module")
def hand_ws():
    ws = liuliang.Workspace.open(":memory:", tz="UTC")
    ingest_hand(ws)
    yield ws
    ws.close()


# Worked out by hand from the lists above (module docstring of liuliang.signals.scorecard for the definitions).
EXPECTED = {
    "x / red_packet": dict(  # a, b: costs 10 + 2 + 3 and 4 + 1; a back on days 7 and 30 and in days 66..70
        users=2, acquisition_cost=14.0, incentive_cost=6.0, total_cost=20.0, cac=10.0,
        d7_observable=2, d7_retained=1, d7_rate=0.5, d7_cost_per_retained=20.0,
        d30_observable=2, d30_retained=1, d30_rate=0.5, d30_cost_per_retained=20.0,
        habit_base=2, habit_active=1, habit_share=0.5,
        nrr_month1=1.0 / 17.0, revenue=18.0, revenue_per_user=9.0, arpdau=18.0 / 7.0,
    ),
    "x / points": dict(  # c: day 0 = 20; back on 27 (D7) and 50 (D30); nothing in days 66..70
        users=1, acquisition_cost=6.0, incentive_cost=2.0, total_cost=8.0, cac=8.0,
        d7_observable=1, d7_retained=1, d7_rate=1.0, d7_cost_per_retained=8.0,
        d30_observable=1, d30_retained=1, d30_rate=1.0, d30_cost_per_retained=8.0,
        habit_base=1, habit_active=0, habit_share=0.0,
        nrr_month1=6.0 / 4.0, revenue=10.0, revenue_per_user=10.0, arpdau=10.0 / 3.0,
    ),
    "y / (none)": dict(  # d: no cost at all
        users=1, acquisition_cost=0.0, incentive_cost=0.0, total_cost=0.0, cac=0.0,
        d7_observable=1, d7_retained=1, d7_rate=1.0, d7_cost_per_retained=0.0,
        d30_observable=1, d30_retained=1, d30_rate=1.0, d30_cost_per_retained=0.0,
        habit_base=1, habit_active=1, habit_share=1.0,
        nrr_month1=6.0 / 3.0, revenue=9.0, revenue_per_user=9.0, arpdau=9.0 / 5.0, ltv_cac=None,
    ),
    "(none) / (none)": dict(  # e: no users row, one day
        users=1, acquisition_cost=0.0, incentive_cost=0.0, total_cost=0.0, cac=0.0,
        d7_observable=1, d7_retained=0, d7_rate=0.0, d7_cost_per_retained=None,
        d30_observable=1, d30_retained=0, d30_rate=0.0, d30_cost_per_retained=None,
        habit_base=1, habit_active=0, habit_share=0.0,
        nrr_month1=0.0, revenue=1.0, revenue_per_user=1.0, arpdau=1.0,
    ),
    "all": dict(
        users=5, acquisition_cost=20.0, incentive_cost=8.0, total_cost=28.0, cac=5.6,
        d7_observable=5, d7_retained=3, d7_rate=0.6, d7_cost_per_retained=28.0 / 3,
        d30_observable=5, d30_retained=3, d30_rate=0.6, d30_cost_per_retained=28.0 / 3,
        habit_base=5, habit_active=2, habit_share=0.4,
        nrr_month1=13.0 / 25.0, revenue=38.0, revenue_per_user=38.0 / 5, arpdau=38.0 / 16,
    ),
}  # fmt: skip
SEGMENT_OF = {
    "a": "x / red_packet",
    "b": "x / red_packet",
    "c": "x / points",
    "d": "y / (none)",
    "e": "(none) / (none)",
}


def naive_points(segment: str, end_day: int = 70) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pooled daily retention of a segment straight from EVENTS: ages 1.., complete days only."""
    days: dict[str, set[int]] = {}
    for user, day, _ in EVENTS:
        days.setdefault(user, set()).add(day)
    who = [u for u in days if segment == "all" or SEGMENT_OF[u] == segment]
    ages = np.arange(1, end_day - min(min(days[u]) for u in who))
    obs = np.array([sum(min(days[u]) + a < end_day for u in who) for a in ages])
    ret = np.array([sum(min(days[u]) + a < end_day and min(days[u]) + a in days[u] for u in who) for a in ages])
    return ages, obs, ret


def test_columns_by_hand(hand_ws) -> None:
    res = scorecard(hand_ws, by=("campaign", "kind"), rules=VerdictRules(min_users=1), **HAND)
    assert res.table.schema == SCORECARD_SCHEMA
    assert sorted(res.segments()) == sorted(EXPECTED)
    for seg, want in EXPECTED.items():
        row = res.row(seg)
        for col, value in want.items():
            assert row[col] == pytest.approx(value, rel=1e-12) if value is not None else row[col] is None, (seg, col)
        assert row["dimension"] == ("all" if seg == "all" else "campaign+kind")


def test_curve_points_and_ltv_by_hand(hand_ws) -> None:
    """LTV = margin x take rate x GMV per active day x E: here 0.5 x 0.2 of the amounts."""
    res = scorecard(
        hand_ws,
        by=("campaign", "kind"),
        margin=0.5,
        take_rate=0.2,
        ltv_months=2,
        rules=VerdictRules(min_users=1),
        **HAND,
    )
    fitted = 0
    for seg in EXPECTED:
        ages, obs, ret = naive_points(seg)
        pts = [r for r in res.curve_points.to_pylist() if r["segment"] == seg]
        assert [r["age"] for r in pts] == ages.tolist()
        assert [r["observable"] for r in pts] == obs.tolist() and [r["retained"] for r in pts] == ret.tolist()
        row = res.row(seg)
        keep = obs > 0
        try:
            ref = RetentionCurveFitter(model="power_floor").fit(ages[keep], ret[keep] / obs[keep], obs[keep])
        except liuliang.errors.LiuliangError:
            assert row["projected_ltv"] is None and row["curve_model"].startswith("not fitted")
            continue
        fitted += 1
        e = 1 + ref.predict(np.arange(1, 60)).sum()
        assert row["expected_active_days"] == pytest.approx(e, rel=1e-9)
        assert row["projected_ltv"] == pytest.approx(0.5 * 0.2 * EXPECTED[seg]["arpdau"] * e, rel=1e-9)
        assert row["platform_revenue"] == pytest.approx(0.2 * EXPECTED[seg]["revenue"], rel=1e-12)
        if row["cac"]:
            assert row["ltv_cac"] == pytest.approx(row["projected_ltv"] / row["cac"], rel=1e-12)
    assert fitted >= 1


def test_revenue_basis_and_take_rate(hand_ws) -> None:
    """Amounts are GMV by default: no take rate, no LTV (never GMV against CAC); 'revenue' takes them as they are,
    and a take rate scales LTV, LTV/CAC and platform revenue exactly."""
    kw = {"by": "campaign", "ltv_months": 2, "rules": VerdictRules(min_users=1), **HAND}
    gmv = scorecard(hand_ws, **kw)
    as_is = scorecard(hand_ws, revenue_basis="revenue", **kw)
    taken = scorecard(hand_ws, take_rate=0.05, margin=0.6, **kw)
    assert (gmv.spec.revenue_basis, gmv.spec.take_rate, as_is.spec.take) == ("gmv", None, 1.0)
    fitted = 0
    for seg in gmv.segments():
        g, r, t = gmv.row(seg), as_is.row(seg), taken.row(seg)
        assert g["projected_ltv"] is None and g["ltv_cac"] is None and g["platform_revenue"] is None
        assert g["revenue"] == r["revenue"] == t["revenue"] and g["arpdau"] == r["arpdau"]  # amounts as logged
        assert g["expected_active_days"] == r["expected_active_days"]  # the curve does not depend on money
        assert r["platform_revenue"] == r["revenue"]
        assert t["platform_revenue"] == pytest.approx(0.05 * r["revenue"], rel=1e-12)
        if r["projected_ltv"] is not None:
            fitted += 1
            assert r["projected_ltv"] == pytest.approx(r["arpdau"] * r["expected_active_days"], rel=1e-12)
            assert t["projected_ltv"] == pytest.approx(0.6 * 0.05 * r["projected_ltv"], rel=1e-12)
            if r["ltv_cac"] is not None:
                assert t["ltv_cac"] == pytest.approx(0.03 * r["ltv_cac"], rel=1e-12)
    assert fitted >= 1
    assert "no take rate set" in gmv.spec.describe_revenue() and "5% take rate" in taken.spec.describe_revenue()
    assert gmv.to_dict()["spec"]["revenue_basis"] == "gmv" and taken.to_dict()["spec"]["take_rate"] == 0.05
    for bad in (
        {"take_rate": 0},
        {"take_rate": 1.5},
        {"take_rate": True},
        {"revenue_basis": "profit"},
        {"revenue_basis": "revenue", "take_rate": 0.1},
    ):
        with pytest.raises(MoneySpecError, match=r"take_rate|revenue_basis"):
            scorecard(hand_ws, **bad)  # type: ignore[arg-type]
    assert 0 < DEMO_TAKE_RATE <= 0.1


def test_verdict_rules(hand_ws) -> None:
    rules = VerdictRules(min_users=1, habit_d30=0.5, habit_share=0.5)
    res = scorecard(hand_ws, by=("campaign", "kind"), rules=rules, **HAND)
    codes = {r["segment"]: r["verdict_code"] for r in res.table.to_pylist()}
    # D30 0.5 & habit 0.5: habits; D30 1.0 but habit 0: visits; the total D30 0.6 but habit 0.4: visits
    assert codes == {
        "x / red_packet": "habits",
        "x / points": "visits",
        "y / (none)": "habits",
        "(none) / (none)": "visits",
        "all": "visits",
    }
    assert res.row("x / red_packet")["verdict"].startswith("bought habits: D30 50.0% and habit share 50.0%, LTV/CAC")
    assert res.row("y / (none)")["verdict"].endswith("LTV/CAC -")  # no cost: no ratio
    default = scorecard(hand_ws, by=("campaign", "kind"), **HAND)  # 50 users needed
    assert set(default.table["verdict_code"].to_pylist()) == {"too_early"}
    assert default.row("all")["verdict"].startswith("too early to tell: 5 users observed at D30")
    assert default.row("all")["projected_ltv"] is None  # not fitted below min_users


def test_by_kind_only_adds_up_and_data_end(hand_ws) -> None:
    res = scorecard(hand_ws, by="kind", **HAND)
    assert sorted(res.segments()) == ["(none)", "all", "points", "red_packet"]
    rows = [r for r in res.table.to_pylist() if r["segment"] != "all"]
    assert sum(r["users"] for r in rows) == res.row("all")["users"]  # kinds do not overlap
    assert sum(r["total_cost"] for r in rows) == pytest.approx(res.row("all")["total_cost"])
    early = scorecard(hand_ws, by="campaign", data_end=at(8), habit_min_age=0, habit_window=1)
    x = early.row("x")  # by day 8: c not acquired yet; a's day-5 packet counts; nobody observable at D30
    assert (x["users"], x["total_cost"], x["d30_observable"], x["d7_retained"]) == (2, 20.0, 0, 1)
    assert x["nrr_month1"] is None and x["habit_share"] == 0.0  # nobody active on day 8


def test_conversions_and_spec_errors(hand_ws) -> None:
    res = scorecard(hand_ws, by="campaign", **HAND)
    assert res.to_pandas().shape[0] == res.table.num_rows
    d = res.to_dict()
    assert d["spec"]["by"] == ["campaign"] and d["data_end"] == END.isoformat() and len(d["rows"]) == 4
    long = res.to_long()
    assert set(long.column_names) == {"segment", "metric", "value"} and "habit_share" in long["metric"].to_pylist()
    assert "<table" in res._repr_html_() and "Scorecard(by=campaign" in repr(res)
    for bad in ({"by": ()}, {"by": ("user_id",)}, {"margin": 0}, {"ltv_months": 0}, {"habit_window": 0}):
        with pytest.raises(MoneySpecError):
            scorecard(hand_ws, **bad)  # type: ignore[arg-type]


# -- Spark: the same card, cell by cell ------------------------------------------------------------------------------
@pytest.mark.spark
def test_spark_matches_duckdb(spark_db) -> None:
    """The hand data plus a second kind for b (so one kind label is a sorted ``group_concat`` of two), on DuckDB and
    on Spark: every cell of the card and of the curve points agrees (floats to 1e-9, strings exactly)."""
    incentives = [*INCENTIVES, ("b", 0, "free_order", 1.0)]
    kw = {"by": ("campaign", "kind"), "take_rate": 0.1, "ltv_months": 2, "rules": VerdictRules(min_users=1), **HAND}
    duck = liuliang.Workspace.open(":memory:", tz="UTC")
    spark = spark_db(tz="UTC")
    try:
        ingest_hand(duck, incentives)
        ingest_hand(spark, incentives)
        want, got = scorecard(duck, **kw), scorecard(spark, **kw)
    finally:
        duck.close()
        spark.close()
    assert "x / free_order+red_packet" in want.segments()  # the two-kind label, kinds in sorted order
    assert got.data_end == want.data_end and got.table.schema == want.table.schema
    assert got.segments() == want.segments()
    for a, b in ((want.table, got.table), (want.curve_points, got.curve_points)):
        assert a.num_rows == b.num_rows
        for name in a.column_names:
            for x, y in zip(a[name].to_pylist(), b[name].to_pylist(), strict=True):
                assert (x == pytest.approx(y, rel=1e-9, abs=1e-12)) if isinstance(x, float) else x == y, (name, x, y)


# -- a generated world ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def world_ws(tmp_path_factory):
    path = world_workspace(
        WorldConfig(n_users=4000, days=100, courier_share=0.0),
        tmp_path_factory.mktemp("scorecard"),
        ("events", "users", "incentives"),
    )
    ws = liuliang.Workspace.open(path)
    yield ws
    ws.close()


def test_world_reuses_money_metrics(world_ws) -> None:
    res = scorecard(world_ws, by="channel")
    cac_rows = {r["segment"]: r for r in cac(world_ws, CacSpec(by=("channel",))).to_arrow().to_pylist()}
    kept = cost_per_retained(world_ws, CostPerRetainedSpec(days=(7, 30), by=("channel",))).to_arrow().to_pylist()
    nrr: dict[str, list[float]] = {}
    for r in (
        cohort_revenue(world_ws, RevenueSpec(period="month", periods=1, breakdown="channel")).to_arrow().to_pylist()
    ):
        if r["period_offset"] == 1 and not r["incomplete"] and r["base_revenue"]:
            nrr.setdefault(r["breakdown"], [0.0, 0.0])
            nrr[r["breakdown"]][0] += r["revenue"]
            nrr[r["breakdown"]][1] += r["base_revenue"]
    assert set(res.segments()) == set(cac_rows) | {"all"}
    for channel, c in cac_rows.items():
        row = res.row(channel)
        assert row["users"] == c["users"] and row["cac"] == pytest.approx(c["cac"], rel=1e-12)
        for k in kept:
            if k["segment"] == channel:
                d = k["day"]
                assert (row[f"d{d}_observable"], row[f"d{d}_retained"]) == (k["observable"], k["retained"])
                assert row[f"d{d}_cost_per_retained"] == pytest.approx(k["cost_per_retained"], rel=1e-12)
        assert row["nrr_month1"] == pytest.approx(nrr[channel][0] / nrr[channel][1], rel=1e-12)


def test_world_verdict_ranks_habits_above_hunters(world_ws) -> None:
    """organic is planted habit-heavy (20% hunters, 36% habitual); red_packet and social_share hunter-heavy
    (72% and 88% hunters). The campaign x kind card must say so, and rank them in that order. At the demo's take
    rate (amounts are GMV) LTV/CAC is finite and in a plausible range, not the hundreds GMV would give."""
    res = scorecard(world_ws, take_rate=DEMO_TAKE_RATE)
    organic = res.row("organic / (none)")
    packets = res.row("cny2026_red_packet / red_packet")
    share = res.row("cny2026_share / red_packet")
    assert organic["verdict_code"] == "habits" and organic["verdict"].startswith("bought habits")
    assert packets["verdict_code"] == "visits" and share["verdict_code"] == "visits"
    assert organic["habit_share"] > packets["habit_share"] > share["habit_share"]
    assert organic["d30_rate"] > packets["d30_rate"] > share["d30_rate"]
    assert organic["expected_active_days"] > packets["expected_active_days"]
    users = [r["users"] for r in res.table.to_pylist() if r["segment"] != "all"]
    assert sum(users) == res.row("all")["users"] == 4000
    assert organic["ltv_cac"] > packets["ltv_cac"] > 0 and res.row("all")["ltv_cac"] < 10
