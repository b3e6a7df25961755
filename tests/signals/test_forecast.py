"""The ebb forecast: known curves in, the analytic expectation out; the cohort sums against plain loops; a backtest
on a generated world."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import liuliang
from liuliang.errors import ModelInputError
from liuliang.models.curves import curve
from liuliang.signals.forecast import (
    EbbSpec,
    backtest,
    cohort_sum,
    ebb_forecast,
    ebb_inputs,
    forecast_from_inputs,
    local_midnight,
)
from liuliang.simulate import WorldConfig, generate_world
from liuliang.warehouse import periods

TZ = "UTC"
START = dt.date(2026, 1, 1)
DAYS = 70
#: The planted curves (power_floor: m(a) = level (floor + (1 - floor) (1 + (a-1)/scale)^-exponent)).
TRUE = {
    "organic": {"level": 0.5, "exponent": 1.0, "scale": 2.0, "floor_share": 0.4},
    "red_packet": {"level": 0.3, "exponent": 1.2, "scale": 1.5, "floor_share": 0.15},
}


def schedule() -> dict[str, np.ndarray]:
    """New users per day: organic steady, red packets a two-week campaign that is over before the end."""
    red = np.zeros(DAYS, dtype=int)
    red[10:24] = 200
    return {"organic": np.full(DAYS, 60), "red_packet": red}


def true_share(channel: str, ages: np.ndarray) -> np.ndarray:
    out = np.ones(ages.size)
    out[ages >= 1] = curve("power_floor", TRUE[channel], ages[ages >= 1])
    return out


@pytest.fixture(scope="module")
def known_ws():
    """Each user is active on its first day and on age a with probability m(a), independently."""
    rng = np.random.default_rng(7)
    users, ts, channels, ids = [], [], [], []
    n = 0
    for ch, sizes in schedule().items():
        for c, size in enumerate(sizes):
            ages = np.arange(DAYS - c)
            p = true_share(ch, ages)
            active = rng.random((size, ages.size)) < p
            for row in active:
                uid = f"u{n}"
                n += 1
                ids.append(uid)
                channels.append(ch)
                for a in np.flatnonzero(row):
                    users.append(uid)
                    ts.append(dt.datetime.combine(START + dt.timedelta(days=int(c + a)), dt.time(12)))
    ws = liuliang.Workspace.open(":memory:", tz=TZ)
    ws.ingest(pa.table({"user_id": users, "ts": ts, "event": ["open"] * len(ts)}))
    ws.ingest(pa.table({"user_id": ids, "channel": channels}), table="users")
    yield ws
    ws.close()


def data_end() -> dt.datetime:
    return local_midnight(START + dt.timedelta(days=DAYS), TZ)


def analytic(horizon: int, future: dict[str, float]) -> np.ndarray:
    """Expected DAU on the forecast days from the planted curves and schedule (plain loops)."""
    out = np.zeros(horizon)
    for ch, sizes in schedule().items():
        full = list(sizes) + [future[ch]] * horizon
        for i in range(horizon):
            t = DAYS + i
            out[i] += sum(full[c] * true_share(ch, np.array([t - c]))[0] for c in range(t + 1))
    return out


def test_forecast_recovers_the_analytic_expectation(known_ws):
    spec = EbbSpec(horizon_days=60, scenario="continue", model="power_floor")
    res = ebb_forecast(known_ws, spec, data_end=data_end())
    assert res.first_day == periods.day_number(START) + DAYS
    truth = analytic(60, {"organic": 60.0, "red_packet": 0.0})
    dau = res.total("dau")
    rel = np.abs(dau / truth - 1)
    assert rel.max() < 0.03, rel.max()
    lo, hi = res.total("dau_lower"), res.total("dau_upper")
    assert np.mean((truth >= lo) & (truth <= hi)) >= 0.8  # parameter uncertainty is the only error here
    floors = dict(zip(res.channels["channel"].to_pylist(), res.channels["habit_floor"].to_pylist(), strict=True))
    for ch, p in TRUE.items():
        assert floors[ch] == pytest.approx(p["level"] * p["floor_share"], rel=0.15)


def naive_forecast(inputs, res) -> dict[tuple[str, str], list[float]]:
    """DAU / WAU / MAU / habitual DAU per channel from the same fitted curves, by plain loops (module docstring)."""
    spec = res.spec
    n_hist = inputs.end_day - inputs.first_day
    lo = max(0, n_hist - spec.recent_days)
    out: dict[tuple[str, str], list[float]] = {}
    for i, ch in enumerate(inputs.channels):
        fit = res.fitters[ch]
        sizes = [float(x) for x in inputs.acquisition[i]]
        rate = sum(sizes[lo:]) / (n_hist - lo)
        sizes += [rate * spec.multiplier(ch)] * spec.horizon_days

        def m(a: int, fit=fit) -> float:
            return 1.0 if a == 0 else float(fit.predict([a])[0])

        ratio = {}
        for k, w in (("wau", 7), ("mau", 30)):
            num = den = 0.0
            for t in range(lo, n_hist):
                young = sum(inputs.acquisition[i][c] for c in range(max(0, t - w + 1), t + 1))
                num += getattr(inputs, k)[i][t] - young
                den += inputs.aged[k][i][t]
            ratio[k] = num / den if den else 1.0
        for t in range(n_hist, n_hist + spec.horizon_days):
            dau = sum(sizes[c] * m(t - c) for c in range(t + 1))
            out.setdefault((ch, "dau"), []).append(dau)
            for k, w in (("wau", 7), ("mau", 30)):
                young = sum(sizes[c] for c in range(t + 1) if t - c < w)
                old = sum(sizes[c] * m(t - c) for c in range(t + 1) if t - c >= w)
                out.setdefault((ch, k), []).append(young + ratio[k] * old)
            out.setdefault((ch, "habitual_dau"), []).append(fit.habit_floor_ * sum(sizes[:t]))
    return out


def test_cohort_sums_match_plain_loops(known_ws):
    inputs = ebb_inputs(known_ws, data_end=data_end())
    res = forecast_from_inputs(inputs, EbbSpec(horizon_days=20, scenario="change", change={"red_packet": 0.5}))
    ref = naive_forecast(inputs, res)
    t = res.to_arrow()
    for (ch, k), values in ref.items():
        got = t.filter(pa.compute.equal(t["breakdown"], ch))[k].to_numpy()
        np.testing.assert_allclose(got, values, rtol=1e-9, err_msg=f"{ch} {k}")
    total = t.filter(pa.compute.equal(t["breakdown"], "all"))["dau"].to_numpy()
    np.testing.assert_allclose(total, sum(np.array(ref[(ch, "dau")]) for ch in inputs.channels), rtol=1e-12)


def test_inputs_match_observed_activity(known_ws):
    """Every user is in one first-time cohort: observed DAU = cohort sizes today + the cells' counts for that day."""
    inputs = ebb_inputs(known_ws, data_end=data_end())
    assert inputs.acquisition.sum(axis=1).tolist() == [float(schedule()[ch].sum()) for ch in inputs.channels]
    cells = inputs.retention.to_arrow().to_pylist()
    for i, ch in enumerate(inputs.channels):
        dau = inputs.acquisition[i].copy()
        for r in cells:
            if r["breakdown"] == ch and r["period_offset"] >= 1 and not r["incomplete"]:
                dau[r["cohort"] - inputs.first_day + r["period_offset"]] += r["count"]
        np.testing.assert_array_equal(dau, inputs.dau[i])


def test_scenarios_order_and_agree(known_ws):
    inputs = ebb_inputs(known_ws, data_end=data_end())
    base = forecast_from_inputs(inputs, EbbSpec(horizon_days=30, scenario="continue"))
    fitters = base.fitters

    def run(**kw):
        return forecast_from_inputs(inputs, EbbSpec(horizon_days=30, **kw), fitters=fitters).total("dau")

    stop = run(scenario="stop")
    same = run(scenario="change", change={})
    double = run(scenario="change", change={"organic": 2.0})
    np.testing.assert_allclose(same, base.total("dau"))
    assert np.all(stop <= base.total("dau") + 1e-9)
    assert np.all(double > base.total("dau"))
    none = run(scenario="change", change={"organic": 0.0, "red_packet": 0.0})
    # No new users: the forecast only decays (curves are decreasing in age)
    assert np.all(np.diff(none) <= 1e-9)


@settings(max_examples=40, deadline=None)
@given(
    sizes=st.lists(st.floats(0, 1000), min_size=1, max_size=15),
    data=st.data(),
)
def test_cohort_sum_property(sizes, data):
    n = len(sizes)
    shares = data.draw(st.lists(st.floats(0, 1), min_size=n + 5, max_size=n + 5))
    days = data.draw(st.lists(st.integers(0, n + 4), min_size=1, max_size=6))
    got = cohort_sum(np.array(sizes), np.array(shares), np.array(days))
    want = [sum(sizes[c] * shares[t - c] for c in range(min(t, n - 1) + 1)) for t in days]
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-9)


def test_spec_validation():
    with pytest.raises(ModelInputError, match="scenario"):
        EbbSpec(scenario="pause")  # type: ignore[arg-type]
    with pytest.raises(ModelInputError, match="change"):
        EbbSpec(scenario="change", change={"red_packet": -1})
    assert EbbSpec(scenario="change", change={"b": 2, "a": 0.5}).change == (("a", 0.5), ("b", 2.0))
    assert EbbSpec(scenario="stop").multiplier("red_packet") == 0.0


@pytest.fixture(scope="module")
def world_ws(tmp_path_factory):
    base = tmp_path_factory.mktemp("ebb")
    cfg = WorldConfig(n_users=3000, days=90, experiment=False, seed=3)
    generate_world(cfg, base / "world")
    ws = liuliang.Workspace.open(base / "ws.duckdb", tz=cfg.tz)
    ws.ingest(base / "world" / "events")
    ws.ingest(base / "world" / "users.parquet", table="users")
    yield ws, cfg
    ws.close()


def test_backtest_on_a_generated_world(world_ws):
    ws, cfg = world_ws
    cutoff = cfg.start + dt.timedelta(days=cfg.days - 31)
    bt = backtest(ws, cutoff, 30)
    assert bt.table.num_rows == 30
    assert bt.dau_mape < 0.25, bt.metrics()
    assert abs(bt.dau_mean_pct_error) < 0.25
    d = bt.to_dict()
    assert d["cutoff"] == cutoff.isoformat() and len(d["rows"]) == 30
    assert "Backtest" in bt._repr_html_()
    with pytest.raises(ModelInputError, match="past the last complete day"):
        backtest(ws, cfg.start + dt.timedelta(days=cfg.days - 10), 30)
