"""The uplift feature table against a naive per-user reference written from the module docstring (DuckDB)."""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from dataclasses import replace
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import liuliang
from liuliang.causal.features import (
    NUMERIC_FEATURES,
    FeatureSpec,
    active_features,
    experiment_features,
    incentive_features,
)
from liuliang.errors import ModelInputError

TZ = "Asia/Shanghai"
BASE = dt.datetime(2026, 3, 10, 0, 0)  # naive UTC


def local_day(ts: dt.datetime) -> int:
    return (ts.replace(tzinfo=dt.UTC).astimezone(ZoneInfo(TZ)).date() - dt.date(1970, 1, 1)).days


def reference(world: dict[str, list[dict[str, Any]]], anchors: dict[str, tuple[Any, int]], spec: FeatureSpec, end_ts):
    """user_id -> {treatment, anchor_day, channel, features..., retained, observed}, from the raw rows."""
    end = local_day(end_ts)
    k, n = spec.lookback_days, spec.day
    active: dict[str, set[int]] = defaultdict(set)
    events: dict[tuple[str, int], int] = defaultdict(int)
    orders: dict[tuple[str, int], int] = defaultdict(int)
    amount: dict[tuple[str, int], float] = defaultdict(float)
    for e in world["events"]:
        if e["ts"] <= end_ts:
            d = local_day(e["ts"])
            active[e["user_id"]].add(d)
            events[e["user_id"], d] += 1
            orders[e["user_id"], d] += e["event"] in spec.order_events
            amount[e["user_id"], d] += e["amount"] or 0.0
    grants: dict[tuple[str, int], int] = defaultdict(int)
    cost: dict[tuple[str, int], float] = defaultdict(float)
    for i in world["incentives"]:
        if i["ts"] <= end_ts:
            grants[i["user_id"], local_day(i["ts"])] += 1
            cost[i["user_id"], local_day(i["ts"])] += i["cost"] or 0.0
    channel: dict[str, str] = {}
    signup: dict[str, int] = {}
    for u in world["users"]:
        if u["channel"] is not None:
            channel[u["user_id"]] = max(channel.get(u["user_id"], ""), u["channel"])
        if u["signup_ts"] is not None:
            signup[u["user_id"]] = min(signup.get(u["user_id"], 10**9), local_day(u["signup_ts"]))
    out = {}
    for user, (treatment, a) in anchors.items():

        def window(per_day: dict, user: str = user, a: int = a) -> float:
            return sum(per_day.get((user, a + o), 0) for o in range(-k, 0))

        days = active[user]
        ret = (a + n in days) if spec.criterion == "on" else any(d >= a + n for d in days)
        observed = end > a + n
        out[user] = {
            "treatment": treatment,
            "anchor_day": a,
            "channel": channel.get(user, "(none)"),
            "days_since_signup": a - signup[user] if user in signup else math.nan,
            "active_days_pre": sum(1 for o in range(-k, 0) if a + o in days),
            "events_pre": window(events),
            "orders_pre": window(orders),
            "revenue_pre": window(amount),
            "incentives_pre": window(grants),
            "incentive_cost_pre": window(cost),
            "retained": float(ret) if observed else None,
            "observed": observed,
        }
    return out


def experiment_anchors(world, experiment: str, end_ts) -> dict[str, tuple[Any, int]]:
    first: dict[str, dt.datetime] = {}
    variants: dict[str, set[str]] = defaultdict(set)
    for r in world["assignments"]:
        if r["experiment"] == experiment and r["ts"] <= end_ts:
            first[r["user_id"]] = min(first.get(r["user_id"], r["ts"]), r["ts"])
            variants[r["user_id"]].add(r["variant"])
    return {u: (next(iter(variants[u])), local_day(ts)) for u, ts in first.items() if len(variants[u]) == 1}


def ingest_world(ws: liuliang.Workspace, world: dict[str, list[dict[str, Any]]]) -> None:
    ts = pa.timestamp("us", "UTC")
    schemas = {
        "events": pa.schema(
            [
                ("user_id", pa.string()),
                ("ts", ts),
                ("event", pa.string()),
                ("amount", pa.float64()),
                ("event_id", pa.string()),
            ]
        ),
        "incentives": pa.schema([("user_id", pa.string()), ("ts", ts), ("kind", pa.string()), ("cost", pa.float64())]),
        "assignments": pa.schema(
            [("user_id", pa.string()), ("experiment", pa.string()), ("variant", pa.string()), ("ts", ts)]
        ),
        "users": pa.schema([("user_id", pa.string()), ("channel", pa.string()), ("signup_ts", ts)]),
    }
    for name, schema in schemas.items():
        rows = [{c: r.get(c) for c in schema.names} for r in world[name]]
        for r in rows:
            for c in ("ts", "signup_ts"):
                if isinstance(r.get(c), dt.datetime):
                    r[c] = r[c].replace(tzinfo=dt.UTC)
        if rows:
            ws.ingest(pa.Table.from_pylist(rows, schema=schema), table=name)


def assert_table_matches(got, want: dict[str, dict[str, Any]]) -> None:
    rows = {r["user_id"]: r for r in got.to_arrow().to_pylist()}
    assert set(rows) == set(want)
    for user, w in want.items():
        g = rows[user]
        for c, v in w.items():
            if isinstance(v, float) and math.isnan(v):
                assert g[c] is None or math.isnan(g[c]), (user, c, g[c])
            elif c in ("revenue_pre", "incentive_cost_pre"):  # quarter-yuan amounts add exactly
                assert g[c] == v, (user, c, g[c], v)
            else:
                assert g[c] == v, (user, c, g[c], v)
        # the one-hot columns say the same as the channel
        for ch in got.channels:
            assert g[f"channel_{ch}"] == float(w["channel"] == ch)


@st.composite
def worlds(draw: st.DrawFn):
    users = [f"u{i}" for i in range(draw(st.integers(2, 6)))]
    instant = st.integers(-8 * 24, 14 * 24).map(lambda h: BASE + dt.timedelta(hours=h, minutes=23))
    money = st.integers(0, 40).map(lambda q: q / 4)
    world: dict[str, list[dict[str, Any]]] = {"events": [], "incentives": [], "assignments": [], "users": []}
    for u in users:
        for ts in draw(st.lists(instant, max_size=8)):
            ev = draw(st.sampled_from(["open", "order", "ask"]))
            amount = draw(st.one_of(st.none(), money)) if ev == "order" else None
            world["events"].append(
                {"user_id": u, "ts": ts, "event": ev, "amount": amount, "event_id": f"e{len(world['events'])}"}
            )
        for ts in draw(st.lists(instant, max_size=3)):
            kind = draw(st.sampled_from(["red_packet", "free_order"]))
            world["incentives"].append(
                {"user_id": u, "ts": ts, "kind": kind, "cost": draw(st.one_of(st.none(), money))}
            )
        for _ in range(draw(st.integers(0, 2))):
            world["assignments"].append(
                {
                    "user_id": u,
                    "experiment": draw(st.sampled_from(["exp", "exp", "other"])),
                    "variant": draw(st.sampled_from(["control", "treatment"])),
                    "ts": draw(instant),
                }
            )
        if draw(st.booleans()):
            signup = draw(st.one_of(st.none(), instant))
            world["users"].append(
                {"user_id": u, "channel": draw(st.sampled_from(["organic", "paid", None])), "signup_ts": signup}
            )
    if not any(a["experiment"] == "exp" for a in world["assignments"]):
        world["assignments"].append({"user_id": users[0], "experiment": "exp", "variant": "control", "ts": BASE})
    world["events"].append(
        {"user_id": users[0], "ts": BASE - dt.timedelta(days=9), "event": "open", "amount": None, "event_id": "first"}
    )
    spec = FeatureSpec(
        day=draw(st.integers(1, 4)),
        lookback_days=draw(st.integers(1, 5)),
        criterion=draw(st.sampled_from(["on", "on_or_after"])),
    )
    end_ts = BASE + dt.timedelta(hours=draw(st.integers(2 * 24, 15 * 24)), minutes=draw(st.integers(0, 59)))
    first_exp = min(a["ts"] for a in world["assignments"] if a["experiment"] == "exp")
    return world, spec, max(end_ts, first_exp)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(case=worlds())
def test_experiment_and_active_features_match_naive_reference(case) -> None:
    world, spec, end_ts = case
    with liuliang.Workspace.open(":memory:", tz=TZ) as ws:
        ingest_world(ws, world)
        got = experiment_features(ws, "exp", spec, data_end=end_ts)
        assert_table_matches(got, reference(world, experiment_anchors(world, "exp", end_ts), spec, end_ts))
        within = spec.lookback_days + 1
        scored = active_features(ws, replace(spec, channels=got.channels), data_end=end_ts, active_within=within)
    end = local_day(end_ts)
    anchors = {}
    for e in world["events"]:
        if e["ts"] <= end_ts and end - within <= local_day(e["ts"]) < end:
            anchors[e["user_id"]] = (None, end)
    assert_table_matches(scored, reference(world, anchors, spec, end_ts))
    assert scored.feature_names == got.feature_names  # scoring columns line up with training columns
    assert not scored.to_arrow()["observed"].to_pylist() or not any(scored.to_arrow()["observed"].to_pylist())


HAND = {
    # a: signed up 2 days before assignment (local 8 March), active on days -2 (order ¥2.5) and -1, red packet on -1,
    # assigned to treatment on 10 March 08:00 local, back on day 7. b: control, assigned 10 March 23:30 local
    # (15:30 UTC), no users row, active on day 0 only. c: red packet only (not in the experiment).
    "events": [
        {"user_id": "a", "ts": BASE - dt.timedelta(days=2), "event": "order", "amount": 2.5, "event_id": "1"},
        {"user_id": "a", "ts": BASE - dt.timedelta(days=1), "event": "open", "amount": None, "event_id": "2"},
        {"user_id": "a", "ts": BASE - dt.timedelta(days=1, hours=-1), "event": "open", "amount": None, "event_id": "3"},
        {"user_id": "a", "ts": BASE + dt.timedelta(days=7), "event": "open", "amount": None, "event_id": "4"},
        {
            "user_id": "b",
            "ts": BASE + dt.timedelta(hours=15, minutes=40),
            "event": "open",
            "amount": None,
            "event_id": "5",
        },
        {"user_id": "c", "ts": BASE + dt.timedelta(days=3), "event": "open", "amount": None, "event_id": "6"},
    ],
    "incentives": [
        {"user_id": "a", "ts": BASE - dt.timedelta(days=1), "kind": "red_packet", "cost": 1.25},
        {"user_id": "c", "ts": BASE + dt.timedelta(days=3), "kind": "red_packet", "cost": 2.0},
    ],
    "assignments": [
        {"user_id": "a", "experiment": "exp", "variant": "treatment", "ts": BASE},
        {"user_id": "b", "experiment": "exp", "variant": "control", "ts": BASE + dt.timedelta(hours=15, minutes=30)},
    ],
    "users": [{"user_id": "a", "channel": "organic", "signup_ts": BASE - dt.timedelta(days=2)}],
}


def test_hand_computed_example(duck_ws) -> None:
    ingest_world(duck_ws, HAND)
    end = BASE + dt.timedelta(days=9)
    f = experiment_features(duck_ws, "exp", FeatureSpec(day=7, lookback_days=3), data_end=end)
    rows = {r["user_id"]: r for r in f.to_arrow().to_pylist()}
    a, b = rows["a"], rows["b"]
    assert f.feature_names == ("channel_(none)", "channel_organic", *NUMERIC_FEATURES)
    assert (a["treatment"], a["channel_organic"], a["days_since_signup"]) == ("treatment", 1.0, 2.0)
    assert (a["active_days_pre"], a["events_pre"], a["orders_pre"], a["revenue_pre"]) == (2, 3, 1, 2.5)
    assert (a["incentives_pre"], a["incentive_cost_pre"], a["retained"], a["observed"]) == (1, 1.25, 1.0, True)
    assert b["channel_(none)"] == 1.0 and b["days_since_signup"] is None and b["active_days_pre"] == 0
    assert b["retained"] == 0.0 and b["observed"]
    X = f.X()
    assert X.shape == (2, len(f.feature_names)) and np.isnan(X[1, 2])
    g = incentive_features(duck_ws, "red_packet", FeatureSpec(day=7, lookback_days=3), data_end=end)
    got = {r["user_id"]: (r["treatment"], r["anchor_day"], r["observed"]) for r in g.to_arrow().to_pylist()}
    assert got == {"a": ("red_packet", local_day(BASE) - 1, True), "c": ("red_packet", local_day(BASE) + 3, False)}


def test_spec_validation() -> None:
    with pytest.raises(ModelInputError, match="lookback_days"):
        FeatureSpec(lookback_days=0)
    with pytest.raises(ModelInputError, match="criterion"):
        FeatureSpec(criterion="after")  # type: ignore[arg-type]
