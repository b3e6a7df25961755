"""Retention curves: naive likelihood, gradients, recovery of each shape, choice of shape, projections, tables."""

from __future__ import annotations

import doctest
import math

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import optimize, special

import liuliang.models.curves as curves_module
from liuliang.errors import LiuliangError
from liuliang.metrics.retention.result import RESULT_SCHEMA, RetentionTable
from liuliang.metrics.retention.spec import RetentionSpec
from liuliang.models import RetentionCurveFitter
from liuliang.models._likelihood import from_natural
from liuliang.models.curves import FLOOR_MODELS, MODELS, binomial_negloglik, curve

TRUTH = {
    "exponential": {"level": 0.35, "decay": 0.08},
    "power": {"level": 0.4, "exponent": 0.6},
    "power_floor": {"level": 0.4, "exponent": 0.9, "scale": 1.0, "floor_share": 0.3},
    "mixture": {"level": 0.45, "habit_share": 0.4, "hunter_decay": 0.5, "habit_exponent": 0.5, "floor_share": 0.4},
}


def curve_share(model: str, p: dict[str, float], age: float) -> float:
    """Naive reference shapes, written from the module docstring's table."""
    if model == "exponential":
        return p["level"] * math.exp(-p["decay"] * (age - 1))
    if model == "power":
        return p["level"] * age ** -p["exponent"]
    if model == "power_floor":
        return p["level"] * (p["floor_share"] + (1 - p["floor_share"]) * (1 + (age - 1) / p["scale"]) ** -p["exponent"])
    habit = p["floor_share"] + (1 - p["floor_share"]) * age ** -p["habit_exponent"]
    hunters = math.exp(-p["hunter_decay"] * (age - 1))
    return p["level"] * ((1 - p["habit_share"]) * hunters + p["habit_share"] * habit)


def curve_log_likelihood(model: str, p: dict[str, float], ages, shares, sizes) -> float:
    ll = 0.0
    for a, r, n in zip(ages, shares, sizes, strict=True):
        m = curve_share(model, p, a)
        ll += n * (r * math.log(m) + (1 - r) * math.log(1 - m))
    return ll


FLOOR = {"exponential": 0.0, "power": 0.0, "power_floor": 0.12, "mixture": 0.45 * 0.4 * 0.4}


def generated(model: str, seed: int, cohorts: int = 3, size: int = 20_000, ages: int = 60):
    rng = np.random.default_rng(seed)
    a = np.tile(np.arange(1, ages + 1), cohorts).astype(float)
    n = np.full(a.size, size)
    return a, rng.binomial(n, curve(model, TRUTH[model], a)) / n, n


natural = {
    "exponential": st.fixed_dictionaries({"level": st.floats(0.05, 0.95), "decay": st.floats(0.01, 2)}),
    "power": st.fixed_dictionaries({"level": st.floats(0.05, 0.95), "exponent": st.floats(0.05, 2)}),
    "power_floor": st.fixed_dictionaries(
        {
            "level": st.floats(0.05, 0.95),
            "exponent": st.floats(0.05, 2),
            "scale": st.floats(0.2, 50),
            "floor_share": st.floats(0.01, 0.99),
        }
    ),
    "mixture": st.fixed_dictionaries(
        {
            "level": st.floats(0.05, 0.95),
            "habit_share": st.floats(0.01, 0.99),
            "hunter_decay": st.floats(0.01, 3),
            "habit_exponent": st.floats(0.05, 2),
            "floor_share": st.floats(0.01, 0.99),
        }
    ),
}


@settings(max_examples=40, deadline=None)
@given(data=st.data(), model=st.sampled_from(list(MODELS)))
def test_likelihood_and_gradient_match_reference(data: st.DataObject, model: str) -> None:
    p = data.draw(natural[model])
    ages = data.draw(st.lists(st.integers(1, 400), min_size=1, max_size=8))
    shares = data.draw(st.lists(st.floats(0, 1), min_size=len(ages), max_size=len(ages)))
    sizes = data.draw(st.lists(st.integers(1, 10_000), min_size=len(ages), max_size=len(ages)))
    spec = MODELS[model]
    u = from_natural([p[k] for k in spec.names], spec.transforms)
    a, r, n = (np.asarray(v, dtype=float) for v in (ages, shares, sizes))
    assert curve(model, p, a) == pytest.approx([curve_share(model, p, x) for x in ages], rel=1e-9)
    value, grad = binomial_negloglik(u, spec.shape, a, r, n)
    assert -value == pytest.approx(curve_log_likelihood(model, p, ages, shares, sizes), rel=1e-9)
    num = optimize.approx_fprime(u, lambda v: binomial_negloglik(v, spec.shape, a, r, n)[0], 1e-7)
    assert np.allclose(grad, num, rtol=1e-3, atol=1e-3 * max(1.0, np.abs(grad).max()))


@pytest.mark.parametrize("model", list(MODELS))
def test_recovers_each_shape(model: str) -> None:
    m = RetentionCurveFitter(model=model).fit(*generated(model, seed=11))
    for name, value in TRUTH[model].items():
        assert abs(m.params_[name] - value) < 3 * m.standard_errors_[name], (name, m.params_[name], value)
    assert m.habit_floor_ == pytest.approx(FLOOR[model], abs=0.02)
    assert 0.5 < m.dispersion_ < 1.6  # binomial data: no overdispersion


@pytest.mark.parametrize("model", list(MODELS))
def test_auto_chooses_the_generating_shape(model: str) -> None:
    chosen = [RetentionCurveFitter().fit(*generated(model, seed)).model_ for seed in range(4)]
    assert chosen.count(model) >= 3, chosen


def test_selection_table_and_holdout() -> None:
    m = RetentionCurveFitter(holdout=10).fit(*generated("mixture", 3))
    sel = m.selection_
    assert list(sel["model"]) == list(MODELS) and sel["chosen"].sum() == 1
    assert set(sel["holdout_ages"]) == {"51..60"}
    assert sel.loc[sel["chosen"], "model"].item() == m.model_
    assert RetentionCurveFitter(model="power").fit(*generated("power", 3)).selection_ is None


def test_projection_interval_is_the_delta_method() -> None:
    m = RetentionCurveFitter(model="power_floor").fit(*generated("power_floor", 5))
    proj = m.project([90, 180, 365])
    df = proj.to_pandas()
    assert list(df["age"]) == [90, 180, 365]
    assert np.all((df["lower"] < df["retention"]) & (df["retention"] < df["upper"]))
    assert proj.at(365) == pytest.approx(float(m.predict([365])[0]))
    # the same interval from a numerical Jacobian of logit m(365) in the unconstrained parameters
    spec = MODELS["power_floor"]
    f = lambda v: special.logit(spec.shape(v, np.array([365.0]))[0][0])  # noqa: E731
    g = optimize.approx_fprime(m._unconstrained_, f, 1e-6)
    se = np.sqrt(g @ m._unconstrained_cov_ @ g)
    assert special.expit(f(m._unconstrained_) + 1.959964 * se) == pytest.approx(df["upper"].iloc[2], rel=1e-3)
    # every truth value at 90..365 inside the interval for data from that shape
    truth = curve("power_floor", TRUTH["power_floor"], df["age"])
    assert np.all((df["lower"] <= truth) & (truth <= df["upper"]))


def test_overdispersion_widens_intervals() -> None:
    a, r, n = generated("power", 2)
    rng = np.random.default_rng(0)
    noisy = np.clip(r * np.exp(rng.normal(0, 0.08, r.size)), 1e-4, 0.99)  # cohort-to-cohort variation
    wide = RetentionCurveFitter(model="power").fit(a, noisy, n)
    narrow = RetentionCurveFitter(model="power", scale_by_dispersion=False).fit(a, noisy, n)
    assert wide.dispersion_ > 5
    assert wide.standard_errors_["exponent"] == pytest.approx(
        narrow.standard_errors_["exponent"] * np.sqrt(wide.dispersion_), rel=1e-6
    )


def table(criterion: str) -> RetentionTable:
    sizes = {1: 5000, 2: 4000}
    share = curve("power", TRUTH["power"], np.arange(1, 9))
    cols: dict[str, list] = {k: [] for k in RESULT_SCHEMA.names}
    for c, size in sizes.items():
        for k in range(9):
            count = size if k == 0 else round(size * share[k - 1])
            incomplete = c == 2 and k > 5
            values = {
                "breakdown": "all",
                "cohort": c,
                "period_offset": k,
                "offset_lo": k,
                "offset_hi": k,
                "cohort_size": size,
                "observed": size,
                "count": count,
                "value": float(count),
                "base": float(size),
                "rate": count / size,
                "incomplete": incomplete,
            }
            for key, v in values.items():
                cols[key].append(v)
    return RetentionTable(RetentionSpec(criterion=criterion, periods=8), pa.table(cols, schema=RESULT_SCHEMA), None)


def test_fit_retention_table() -> None:
    m = RetentionCurveFitter(model="power").fit_retention_table(table("on"))
    assert m.n_obs_ == 8 + 5  # cohort 2's offsets 6..8 are incomplete
    assert m.params_["exponent"] == pytest.approx(0.6, abs=0.02)
    with pytest.raises(LiuliangError, match="one-period cells"):
        RetentionCurveFitter().fit_retention_table(table("on_or_before"))


def test_validation_and_surface() -> None:
    with pytest.raises(LiuliangError, match="model must be"):
        RetentionCurveFitter(model="weibull").fit([1, 2, 3], [0.5, 0.4, 0.3], 100)
    with pytest.raises(LiuliangError, match="ages must be >= 1"):
        RetentionCurveFitter().fit([0, 1, 2], [1, 0.4, 0.3], 100)
    m = RetentionCurveFitter()
    assert "not fitted" in repr(m)
    m.fit(*generated("mixture", 1, cohorts=1, ages=30))
    assert "habit floor" in repr(m)
    assert type(m.plot(horizon=90)).__name__ == "Figure"
    assert doctest.testmod(curves_module).failed == 0


SHIFTED = {"level": 0.35, "exponent": 1.2, "scale": 12.0, "floor_share": 0.3}  # floor 0.105


def shifted_data(ages: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = np.tile(np.arange(1, ages + 1), 3).astype(float)
    n = np.full(a.size, 5000)
    return a, rng.binomial(n, curve("power_floor", SHIFTED, a)) / n, n


def test_power_floor_recovers_a_floor_the_data_reach() -> None:
    # a slow (shifted) power law that has largely reached its floor by day 240: the floor is pinned down
    m = RetentionCurveFitter(model="power_floor").fit(*shifted_data(240, 1))
    lo, hi = m.habit_floor_interval_
    assert lo < 0.105 < hi and hi - lo < 0.02
    assert m.habit_floor_ == pytest.approx(0.105, abs=0.01)
    # the pure power law cannot bend down before it flattens, so it reads the same data as "no floor"
    assert RetentionCurveFitter(model="power").fit(*shifted_data(240, 1)).habit_floor_ == 0.0
    assert RetentionCurveFitter().fit(*shifted_data(240, 1)).model_ == "power_floor"


def test_power_floor_interval_is_wide_when_the_data_stop_early() -> None:
    # 20 days of the same curve: still falling steeply, the floor anywhere from ~0 to well above the truth
    m = RetentionCurveFitter(model="power_floor").fit(*shifted_data(20, 1))
    lo, hi = m.habit_floor_interval_
    assert lo <= 0.105 <= hi
    assert hi - lo > 0.08


def test_floor_on_a_generated_world(tmp_path) -> None:
    """The planted truth of a small generated world (exact expected day-k shares, binomial draws at the number of
    observable users): the fitted floor is near habitual x daily activity, where a pure power law says 0."""
    import pyarrow.parquet as pq

    from liuliang.cli.generate import run_generate

    run_generate(tmp_path / "w", 4000, 120, 3)
    ret = pq.read_table(tmp_path / "w" / "truth" / "channel_retention.parquet").to_pandas()
    users = pq.read_table(tmp_path / "w" / "truth" / "users.parquet").to_pandas()
    floors = (users["habitual"] * users["lam"]).groupby(users["channel"]).mean()
    rng = np.random.default_rng(0)
    for channel in ("organic", "free_order"):
        part = ret[(ret["channel"] == channel) & (ret["day"] >= 1) & (ret["n_observable"] >= 200)]
        n = part["n_observable"].to_numpy()
        r = rng.binomial(n, part["expected_share"].to_numpy()) / n
        m = RetentionCurveFitter().fit(part["day"].to_numpy(), r, n)
        lo, hi = m.habit_floor_interval_
        assert m.model_ in FLOOR_MODELS, channel
        assert abs(m.habit_floor_ - floors[channel]) < 0.25 * floors[channel], (channel, m.habit_floor_)
        assert lo - 0.01 < floors[channel] < hi + 0.01, (channel, lo, hi, floors[channel])
