"""A grant's observational effect read from the warehouse: the per-user table against a naive reference written from
the module docstring (hand case, hypothesis on DuckDB, one Spark case), the estimate against the estimator fitted
directly, and a generated world (labelled observational, balance improves, no-overlap channels trimmed)."""

from __future__ import annotations

import datetime as dt
import json
import warnings
from collections import defaultdict
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import liuliang
from liuliang.causal import OBSERVATIONAL_LABEL, AIPWEstimator, IPWEstimator
from liuliang.causal.grant_effect import (
    TABLE_SCHEMA,
    GrantEffectResult,
    GrantEffectSpec,
    PositivityWarning,
    analyze_grant_effect,
    grant_effect_table,
    run_grant_effect,
)
from liuliang.errors import ModelInputError, WorkspaceError
from liuliang.simulate import WorldConfig, generate_world

TZ = "Asia/Shanghai"
BASE = dt.datetime(2026, 3, 10, 0, 0)  # naive UTC = 08:00 local, local day 20522


# -- the naive reference, written from the module docstring ---------------------------------------------------------
def local_day(ts: dt.datetime) -> int:
    return (ts.replace(tzinfo=dt.UTC).astimezone(ZoneInfo(TZ)).date() - dt.date(1970, 1, 1)).days


def reference(world: dict[str, list[dict[str, Any]]], spec: GrantEffectSpec, data_end: dt.datetime) -> list[dict]:
    end = local_day(data_end)
    start = min(local_day(e["ts"]) for e in world["events"])  # the first event day in the warehouse
    active: dict[str, set[int]] = defaultdict(set)
    day0: dict[tuple[str, int], list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    for e in world["events"]:
        d = local_day(e["ts"])
        if e["ts"] <= data_end:
            active[e["user_id"]].add(d)
        if d < end and e["event"] not in spec.grant_events:
            acc = day0[e["user_id"], d]
            acc[0] += 1
            acc[1] += e["event"] in spec.order_events
            acc[2] += e["amount"] or 0.0
    signup: dict[str, int | None] = {}
    channel: dict[str, str | None] = {}
    for u in world["users"]:
        if u.get("signup_ts") is None or u["signup_ts"] <= data_end:
            signup[u["user_id"]] = None if u.get("signup_ts") is None else local_day(u["signup_ts"])
            channel[u["user_id"]] = u.get("channel")
    grant: dict[str, int] = {}
    for i in world["incentives"]:
        if i["kind"] == spec.kind and i["ts"] <= data_end:
            grant[i["user_id"]] = min(grant.get(i["user_id"], 10**9), local_day(i["ts"]))
    rows = []
    for user in sorted(set(active) | set(signup)):
        s = signup.get(user)
        a = s if s is not None else (min(active[user]) if active[user] else None)
        if a is None:
            continue
        g = grant.get(user)
        offset = None if g is None else g - a
        observed = end > a + spec.outcome_day
        ret = int(a + spec.outcome_day in active[user])
        if a < start:
            status = "before_data"
        elif offset is not None and offset < 0:
            status = "granted_before"
        elif not observed:
            status = "unobserved"
        else:
            status = "eligible"
        events_d0, orders_d0, amount_d0 = day0.get((user, a), [0.0, 0.0, 0.0])
        rows.append(
            {
                "user_id": user,
                "anchor_day": a,
                "anchor": "signup" if s is not None else "first_active",
                "channel": channel.get(user) or "(none)",
                "weekday": (dt.date(1970, 1, 1) + dt.timedelta(days=a)).weekday(),
                "cohort_day": a - start,
                "active_d0": int(a in active[user] and a < end),
                "events_d0": events_d0,
                "orders_d0": orders_d0,
                "amount_d0": amount_d0,
                "grant_offset": offset,
                "treated": offset is not None and 0 <= offset < spec.grant_window_days,
                "retained": ret if observed else None,
                "observed": observed,
                "status": status,
            }
        )
    return rows


SCHEMAS = {
    "events": pa.schema(
        [("user_id", pa.string()), ("ts", pa.timestamp("us", "UTC")), ("event", pa.string()), ("amount", pa.float64())]
    ),
    "incentives": pa.schema(
        [("user_id", pa.string()), ("ts", pa.timestamp("us", "UTC")), ("kind", pa.string()), ("cost", pa.float64())]
    ),
    "users": pa.schema([("user_id", pa.string()), ("signup_ts", pa.timestamp("us", "UTC")), ("channel", pa.string())]),
}


def ingest_world(ws: liuliang.Workspace, world: dict[str, list[dict[str, Any]]]) -> None:
    for name, schema in SCHEMAS.items():
        if not world[name]:
            continue
        rows = [{c: r.get(c) for c in schema.names} for r in world[name]]
        for r in rows:
            for c in ("ts", "signup_ts"):
                if isinstance(r.get(c), dt.datetime):
                    r[c] = r[c].replace(tzinfo=dt.UTC)
        ws.ingest(pa.Table.from_pylist(rows, schema=schema), table=name)


def ev(user: str, hours: float, event: str = "open", amount: float | None = None) -> dict[str, Any]:
    return {"user_id": user, "ts": BASE + dt.timedelta(hours=hours), "event": event, "amount": amount}


# Local days from BASE's local day 0 (08:00 local at BASE). Spec: kind red_packet, W = 2, N = 3, data_end = day 5.
HAND = {
    "events": [
        # u1 signed up day 0; day 0: open, order 2.5, redeem (left out of the counts); active day 3 -> retained
        ev("u1", 0),
        ev("u1", 1, "order", 2.5),
        ev("u1", 2, "redeem_red_packet"),
        ev("u1", 72),
        # u2: no users row, first active day 1 (anchor), granted day 3 = offset 2 -> control; day 4 active -> retained
        ev("u2", 24),
        ev("u2", 72),
        ev("u2", 96, "order", 1.0),
        # u3: signed up day 0 but never active before day 2; granted day 1; not active on day 3
        ev("u3", 48),
        # u4: signed up day 1 and granted day 0 (before its anchor) -> granted_before
        ev("u4", 24),
        # u5: signed up day 3: day 6 > data_end -> unobserved
        ev("u5", 72),
    ],
    "users": [
        {"user_id": "u1", "signup_ts": BASE, "channel": "paid"},
        {"user_id": "u3", "signup_ts": BASE + dt.timedelta(hours=1), "channel": None},
        {"user_id": "u4", "signup_ts": BASE + dt.timedelta(hours=24), "channel": "paid"},
        {"user_id": "u5", "signup_ts": BASE + dt.timedelta(hours=72), "channel": "organic"},
        {"user_id": "u6", "signup_ts": BASE + dt.timedelta(hours=200), "channel": "organic"},  # after data_end
    ],
    "incentives": [
        {"user_id": "u1", "ts": BASE + dt.timedelta(hours=2), "kind": "red_packet", "cost": 3.0},
        {"user_id": "u2", "ts": BASE + dt.timedelta(hours=72), "kind": "red_packet", "cost": 1.0},
        {"user_id": "u3", "ts": BASE + dt.timedelta(hours=30), "kind": "red_packet", "cost": 1.0},
        {"user_id": "u4", "ts": BASE + dt.timedelta(hours=1), "kind": "red_packet", "cost": 1.0},
        {"user_id": "u2", "ts": BASE + dt.timedelta(hours=25), "kind": "coupon", "cost": 1.0},
    ],
}
HAND_SPEC = GrantEffectSpec("red_packet", grant_window_days=2, outcome_day=3)
HAND_END = BASE + dt.timedelta(days=5, hours=1)


def test_hand_computed_table(duck_ws) -> None:
    ingest_world(duck_ws, HAND)
    got = {r["user_id"]: r for r in grant_effect_table(duck_ws, HAND_SPEC, data_end=HAND_END).to_pylist()}
    assert set(got) == {"u1", "u2", "u3", "u4", "u5"}  # u6 signs up after data_end
    u1, u2, u3, u4, u5 = (got[u] for u in ("u1", "u2", "u3", "u4", "u5"))
    assert (u1["anchor"], u1["channel"], u1["treated"], u1["grant_offset"], u1["retained"]) == (
        "signup",
        "paid",
        True,
        0,
        1,
    )
    assert (u1["events_d0"], u1["orders_d0"], u1["amount_d0"], u1["active_d0"]) == (2.0, 1.0, 2.5, 1)
    assert (u1["weekday"], u1["cohort_day"]) == (1, 0)  # 10 March 2026 was a Tuesday; first event day
    assert (u2["anchor"], u2["channel"], u2["grant_offset"], u2["treated"], u2["retained"]) == (
        "first_active",
        "(none)",
        2,
        False,
        1,
    )
    assert (u2["anchor_day"] - u1["anchor_day"], u2["cohort_day"]) == (1, 1)
    assert (u3["treated"], u3["retained"], u3["active_d0"], u3["events_d0"], u3["status"]) == (
        True,
        0,
        0,
        0.0,
        "eligible",
    )
    assert (u4["status"], u4["grant_offset"]) == ("granted_before", -1)
    assert (u5["status"], u5["observed"], u5["retained"]) == ("unobserved", False, None)


@st.composite
def worlds(draw: st.DrawFn) -> tuple[dict[str, list[dict[str, Any]]], GrantEffectSpec, dt.datetime]:
    n_users = draw(st.integers(1, 6))
    instant = st.integers(-3 * 24, 12 * 24).map(lambda h: BASE + dt.timedelta(hours=h, minutes=23))
    money = st.integers(0, 40).map(lambda q: q / 4)
    world: dict[str, list[dict[str, Any]]] = {"events": [], "incentives": [], "users": []}
    for i in range(n_users):
        u = f"u{i}"
        for ts in draw(st.lists(instant, max_size=7)):
            e = draw(st.sampled_from(["open", "order", "redeem_red_packet"]))
            amount = draw(st.one_of(st.none(), money)) if e == "order" else None
            world["events"].append({"user_id": u, "ts": ts, "event": e, "amount": amount})
        for ts in draw(st.lists(instant, max_size=3)):
            world["incentives"].append(
                {"user_id": u, "ts": ts, "kind": draw(st.sampled_from(["red_packet", "coupon"])), "cost": 1.0}
            )
        if draw(st.booleans()):
            signup = draw(st.one_of(st.none(), instant))
            world["users"].append(
                {"user_id": u, "signup_ts": signup, "channel": draw(st.sampled_from(["a", "b", None]))}
            )
    if not world["events"]:
        world["events"].append(ev("u0", 0))
    if not world["incentives"]:  # without an incentives table the read raises (tested below)
        world["incentives"].append({"user_id": "u0", "ts": BASE, "kind": "coupon", "cost": 1.0})
    w = draw(st.integers(1, 3))
    spec = GrantEffectSpec(
        draw(st.sampled_from(["red_packet", "coupon"])),
        grant_window_days=w,
        outcome_day=draw(st.integers(w, 5)),
        grant_events=draw(st.sampled_from([("redeem_red_packet",), ()])),
    )
    end = BASE + dt.timedelta(hours=draw(st.integers(0, 13 * 24)), minutes=draw(st.integers(0, 59)))
    return world, spec, end


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(case=worlds())
def test_table_matches_naive_reference(case) -> None:
    world, spec, data_end = case
    with liuliang.Workspace.open(":memory:", tz=TZ) as ws:
        ingest_world(ws, world)
        got = grant_effect_table(ws, spec, data_end=data_end)
    assert got.schema == TABLE_SCHEMA
    assert got.to_pylist() == reference(world, spec, data_end)


@pytest.mark.spark
def test_spark_table_matches_reference(spark_db) -> None:
    ws = spark_db()
    ingest_world(ws, HAND)
    for spec in (HAND_SPEC, GrantEffectSpec("coupon", grant_window_days=1, outcome_day=2, grant_events=())):
        assert grant_effect_table(ws, spec, data_end=HAND_END).to_pylist() == reference(HAND, spec, HAND_END)


# -- the statistics part --------------------------------------------------------------------------------------------
def synthetic_table(n: int, seed: int) -> pa.Table:
    """A per-user table whose grant depends on channel and day-0 events (confounded), with a true effect of 0.1."""
    rng = np.random.default_rng(seed)
    channel = rng.choice(["ads", "organic"], n)
    events = rng.poisson(2, n).astype(float)
    logit = -1 + 1.2 * (channel == "ads") + 0.4 * events
    treated = rng.random(n) < 1 / (1 + np.exp(-logit))
    p = np.clip(0.15 + 0.05 * events + 0.1 * treated, 0, 1)
    retained = (rng.random(n) < p).astype(int)
    status = np.where(rng.random(n) < 0.1, "unobserved", "eligible")
    observed = status == "eligible"
    return pa.table(
        {
            "user_id": [f"u{i:05d}" for i in range(n)],
            "anchor_day": np.full(n, 20500),
            "anchor": ["signup"] * n,
            "channel": channel,
            "weekday": rng.integers(0, 7, n),
            "cohort_day": rng.integers(0, 30, n),
            "active_d0": np.ones(n, dtype=int),
            "events_d0": events,
            "orders_d0": np.zeros(n),
            "amount_d0": np.zeros(n),
            "grant_offset": pa.array(np.where(treated, 0, -1), mask=~treated),
            "treated": treated,
            "retained": pa.array(retained, mask=~observed),
            "observed": observed,
            "status": status,
        },
        schema=TABLE_SCHEMA,
    )


@pytest.mark.parametrize("estimator", ["aipw", "ipw"])
def test_estimate_is_the_estimator_on_the_analysed_rows(estimator) -> None:
    table = synthetic_table(3000, seed=4)
    spec = GrantEffectSpec("red_packet", estimator=estimator)
    res = analyze_grant_effect(table, spec, data_end=BASE)
    rows = table.filter(pa.compute.equal(table["status"], "eligible"))
    # independent path: the covariates named in the result, taken straight from the table
    chan = np.asarray(rows["channel"].to_pylist())
    cols = {"channel_ads": chan == "ads", "channel_organic": chan == "organic"}
    wd = rows["weekday"].to_numpy()
    cols |= {f"weekday_{d}": wd == i for i, d in enumerate(("mon", "tue", "wed", "thu", "fri", "sat", "sun"))}
    cols |= {c: rows[c].to_numpy() for c in ("cohort_day", "events_d0")}  # active_d0, orders, amount: constant
    assert res.covariates == tuple(cols)
    x = np.column_stack([np.asarray(v, dtype=float) for v in cols.values()])
    t = rows["treated"].to_numpy(zero_copy_only=False).astype(float)
    y = rows["retained"].to_numpy(zero_copy_only=False).astype(float)
    est = AIPWEstimator() if estimator == "aipw" else IPWEstimator()
    direct = est.fit(x, t, y).result_
    assert res.effect == pytest.approx(direct.effect, abs=1e-12)
    assert (res.ci_lower, res.ci_upper) == pytest.approx((direct.ci_lower, direct.ci_upper), abs=1e-12)
    assert res.naive_difference == pytest.approx(y[t == 1].mean() - y[t == 0].mean(), abs=1e-12)
    assert (res.n_treated, res.n_control, res.n_unobserved) == (int(t.sum()), int((1 - t).sum()), 3000 - rows.num_rows)
    assert res.ci_lower < 0.1 < res.ci_upper  # the planted effect
    assert res.naive_difference > res.effect  # confounding by day-0 events inflates the raw difference
    assert res.balance.max_abs_after < res.balance.max_abs_before
    assert res.observational is True and res.label == OBSERVATIONAL_LABEL


def test_result_outputs_are_labelled() -> None:
    res = analyze_grant_effect(synthetic_table(600, seed=1), GrantEffectSpec(estimator="ipw"), data_end=BASE)
    row = res.to_arrow().to_pylist()[0]
    assert row["observational"] is True and row["label"] == OBSERVATIONAL_LABEL and row["effect"] == res.effect
    assert res.to_pandas().shape[0] == 1
    data = json.loads(json.dumps(res.to_dict()))
    assert data["observational"] is True and data["spec"]["estimator"] == "ipw"
    assert {r["covariate"] for r in data["balance"]} == set(res.covariates)
    assert "OBSERVATIONAL" in res._repr_html_() and "OBSERVATIONAL" in repr(res)
    assert res.users.num_rows == 600 and set(res.users["status"].to_pylist()) == {"analysed", "unobserved"}
    analysed = np.asarray(res.users["status"].to_pylist()) == "analysed"
    w = res.users["weight"].to_numpy(zero_copy_only=False)
    assert np.all(w[analysed] >= 1) and np.all(np.isnan(w[~analysed]))
    with pytest.raises(ModelInputError, match="always labelled"):
        GrantEffectResult(**{**{f: getattr(res, f) for f in res.__dataclass_fields__}, "observational": False})


def test_missing_tables_raise(duck_ws) -> None:
    with pytest.raises(WorkspaceError, match="no events"):
        grant_effect_table(duck_ws, HAND_SPEC, data_end=HAND_END)
    ingest_world(duck_ws, {**HAND, "incentives": []})
    with pytest.raises(WorkspaceError, match="incentives"):
        grant_effect_table(duck_ws, HAND_SPEC, data_end=HAND_END)


def test_spec_validation() -> None:
    with pytest.raises(ModelInputError, match="outcome_day"):
        GrantEffectSpec(grant_window_days=7, outcome_day=6)
    with pytest.raises(ModelInputError, match="estimator"):
        GrantEffectSpec(estimator="ols")  # type: ignore[arg-type]
    with pytest.raises(ModelInputError, match="grant_window_days"):
        GrantEffectSpec(grant_window_days=0)
    assert GrantEffectSpec(grant_events="redeem").grant_events == ("redeem",)


def test_one_arm_channels_are_trimmed_or_warned() -> None:
    table = synthetic_table(1500, seed=2)
    channel = np.asarray(table["channel"].to_pylist())
    treated = table["treated"].to_numpy(zero_copy_only=False) | (channel == "ads")  # ads: everyone granted
    table = table.set_column(table.schema.get_field_index("treated"), "treated", pa.array(treated))
    res = analyze_grant_effect(table, GrantEffectSpec(), data_end=BASE)
    eligible_ads = int(((channel == "ads") & (np.asarray(table["status"].to_pylist()) == "eligible")).sum())
    assert res.no_overlap_channels == ("ads",) and res.n_no_overlap == eligible_ads > 0
    assert "channel_ads" not in res.covariates
    with pytest.warns(PositivityWarning) as caught:
        kept = analyze_grant_effect(table, GrantEffectSpec(overlap="keep"), data_end=BASE)
    assert any("ads" in str(w.message) for w in caught)  # the one-arm channel, and (here) the clipping
    assert kept.n_no_overlap == 0 and kept.n_treated > res.n_treated


# -- a generated world ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def world_ws(tmp_path_factory):
    base = tmp_path_factory.mktemp("grant-world")
    cfg = WorldConfig(n_users=2500, days=70, seed=5, courier_share=0.0)
    generate_world(cfg, base / "world")
    ws = liuliang.Workspace.open(base / "ws.duckdb", tz=cfg.tz)
    for table, name in (("events", "events"), ("users", "users.parquet"), ("incentives", "incentives.parquet")):
        ws.ingest(base / "world" / name, table=table)
    yield ws
    ws.close()


def test_generated_world_is_labelled_and_weighting_improves_balance(world_ws) -> None:
    spec = GrantEffectSpec("coupon", grant_window_days=7, outcome_day=14)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PositivityWarning)  # coupons start after the festival: early signups clip
        res = run_grant_effect(world_ws, spec)
    assert res.observational is True and res.label == OBSERVATIONAL_LABEL
    assert res.n_treated > 30 and res.n_control > 300 and res.n_unobserved > 0
    assert res.balance.max_abs_after < 0.75 * res.balance.max_abs_before
    assert res.ci_lower <= res.effect <= res.ci_upper
    # social-share users all signed up during the festival, before any coupon: no comparison, trimmed
    assert "social_share" in res.no_overlap_channels
    counted = res.n_treated + res.n_control + res.n_unobserved + res.n_no_overlap + res.n_granted_before
    assert counted + res.n_before_data == res.n_users


def test_generated_world_red_packets_have_no_overlap(world_ws) -> None:
    # the generator grants red packets by channel alone: no channel holds both arms, so nothing is identified
    with pytest.raises(ModelInputError, match="no red_packet grant effect"):
        run_grant_effect(world_ws, GrantEffectSpec("red_packet", outcome_day=14))
