"""Kaplan-Meier layer and mixture cure model: naive product-limit and log-rank, RMST, planted cure fractions."""

from __future__ import annotations

import doctest
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from period_models_reference import cure_log_likelihood, kaplan_meier, logrank_chi2
from scipy import optimize

import liuliang.models.cure as cure_module
import liuliang.models.survival as survival_module
from liuliang.errors import LiuliangError
from liuliang.models import CureFractionFitter, SurvivalAnalysis
from liuliang.models.cure import cure_negloglik


def churn_world(n: int, cure: float, scale: float, shape: float, seed: int, follow_up=(20, 60)):
    rng = np.random.default_rng(seed)
    cured = rng.random(n) < cure
    t = np.where(cured, np.inf, scale * rng.weibull(shape, n))
    c = rng.uniform(*follow_up, n)
    return np.minimum(t, c), t <= c


@settings(max_examples=25, deadline=None)
@given(data=st.lists(st.tuples(st.integers(1, 30), st.booleans(), st.sampled_from("ab")), min_size=4, max_size=40))
def test_km_and_logrank_match_naive(data: list[tuple[int, bool, str]]) -> None:
    t, e, g = (list(c) for c in zip(*data, strict=True))
    s = SurvivalAnalysis().fit(t, e, g)
    for group in set(g):
        sel = [i for i, x in enumerate(g) if x == group]
        ref = kaplan_meier([t[i] for i in sel], [e[i] for i in sel])
        for time, value in ref.items():
            assert s.survival_at(time, group) == pytest.approx(value)
    if len(set(g)) == 2 and any(e):
        try:
            chi2 = logrank_chi2(t, e, g)
        except ZeroDivisionError:
            return
        assert s.logrank_ is not None and s.logrank_.statistic == pytest.approx(chi2, rel=1e-6)


def test_rmst_and_its_standard_error() -> None:
    rng = np.random.default_rng(0)
    t = rng.exponential(10, 300).round() + 1
    for horizon in (12.5, 1000.0):
        s = SurvivalAnalysis(rmst_horizon=horizon).fit(t, np.ones(t.size, bool))
        x = np.minimum(t, horizon)  # without censoring RMST is the mean restricted time, se its plug-in se
        row = s.rmst_.to_pandas().iloc[0]
        assert row["rmst"] == pytest.approx(x.mean())
        assert row["se"] == pytest.approx(x.std() / np.sqrt(x.size))
    # with censoring: close to the bootstrap standard deviation
    c = np.minimum(t, rng.integers(5, 40, t.size))
    e = t <= c
    est = SurvivalAnalysis(rmst_horizon=20).fit(c, e).rmst_.to_pandas()["se"].item()
    boots = []
    for _ in range(100):
        i = rng.integers(0, t.size, t.size)
        boots.append(SurvivalAnalysis(rmst_horizon=20).fit(c[i], e[i]).rmst_.of("all"))
    assert est == pytest.approx(np.std(boots), rel=0.25)


def test_groups_curves_and_surface() -> None:
    t1, e1 = churn_world(400, 0.1, 8, 1.0, 1)
    t2, e2 = churn_world(400, 0.4, 8, 1.0, 2)
    s = SurvivalAnalysis(rmst_horizon=30, confidence=0.9).fit(
        np.r_[t1, t2], np.r_[e1, e2], ["paid"] * 400 + ["organic"] * 400
    )
    assert s.logrank_ is not None and s.logrank_.p_value < 1e-6 and s.logrank_.groups == ("organic", "paid")
    assert s.rmst_.of("organic") > s.rmst_.of("paid")
    curves = s.curves_.to_pandas()
    assert set(curves["group"]) == {"organic", "paid"}
    assert np.all((curves["lower"] <= curves["survival"] + 1e-12) & (curves["survival"] <= curves["upper"] + 1e-12))
    assert "2 group(s)" in repr(s) and "not fitted" in repr(SurvivalAnalysis())
    assert type(s.plot()).__name__ == "Figure"
    assert doctest.testmod(survival_module).failed == 0
    with pytest.raises(LiuliangError, match="same length"):
        SurvivalAnalysis().fit([1, 2], [True], None)


@settings(max_examples=30, deadline=None)
@given(
    pi=st.floats(0.02, 0.98),
    lam=st.floats(0.5, 50),
    rho=st.floats(0.3, 3),
    data=st.lists(st.tuples(st.floats(0.1, 100), st.booleans()), min_size=1, max_size=20),
)
def test_cure_likelihood_and_gradient_match_reference(pi, lam, rho, data) -> None:
    t = np.array([d[0] for d in data])
    e = np.array([d[1] for d in data])
    w = np.ones(t.size)
    for weibull in (True, False):
        r = rho if weibull else 1.0
        u = np.array([np.log(pi / (1 - pi)), np.log(lam), np.log(r)])[: 3 if weibull else 2]
        value, grad = cure_negloglik(u, t, e, w, weibull)
        ref = cure_log_likelihood(pi, lam, r, list(t), list(e))
        assert -value == pytest.approx(ref, rel=1e-9, abs=1e-9)
        num = optimize.approx_fprime(u, lambda v, wb=weibull: cure_negloglik(v, t, e, w, wb)[0], 1e-7)
        assert np.allclose(grad, num, rtol=1e-3, atol=1e-4 * max(1.0, np.abs(grad).max()))


@pytest.mark.parametrize(
    ("cure", "scale", "shape", "seed"), [(0.3, 8.0, 1.4, 1), (0.1, 5.0, 0.8, 2), (0.6, 15.0, 1.0, 3)]
)
def test_recovers_planted_cure_fraction(cure: float, scale: float, shape: float, seed: int) -> None:
    t, e = churn_world(3000, cure, scale, shape, seed, follow_up=(40, 120))
    m = CureFractionFitter().fit(t, e)
    for name, truth in (("cure_fraction", cure), ("scale", scale), ("shape", shape)):
        assert abs(m.params_[name] - truth) < 3 * m.standard_errors_[name], (name, m.params_[name], truth)


def test_cure_agrees_with_lifelines_mixture_cure() -> None:
    from lifelines import MixtureCureFitter, WeibullFitter

    t, e = churn_world(2000, 0.3, 8.0, 1.4, 4)
    m = CureFractionFitter().fit(t, e)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = MixtureCureFitter(WeibullFitter()).fit(t, e)
    assert m.cure_fraction_ == pytest.approx(ref.params_["cured_fraction_"], rel=1e-4)
    assert m.scale_ == pytest.approx(ref.params_["lambda_"], rel=1e-4)
    assert m.shape_ == pytest.approx(ref.params_["rho_"], rel=1e-4)
    assert m.log_likelihood_ == pytest.approx(ref.log_likelihood_, rel=1e-8)


def test_cure_exponential_latency_and_surface() -> None:
    t, e = churn_world(2000, 0.25, 6.0, 1.0, 5, follow_up=(40, 80))
    m = CureFractionFitter(latency="exponential").fit(t, e)
    assert abs(m.cure_fraction_ - 0.25) < 3 * m.standard_errors_["cure_fraction"]
    assert m.shape_ == 1.0 and list(m.params_.index) == ["cure_fraction", "scale"]
    assert m.survival(0.0) == pytest.approx(1.0) and m.survival(1e6) == pytest.approx(m.cure_fraction_)
    assert m.probability_cured(1e6) == pytest.approx(1.0)
    assert "exponential latency" in repr(m) and "not fitted" in repr(CureFractionFitter())
    assert type(m.plot()).__name__ == "Figure"
    assert doctest.testmod(cure_module).failed == 0
    with pytest.raises(LiuliangError, match="latency"):
        CureFractionFitter(latency="gompertz").fit(t, e)
    with pytest.raises(LiuliangError, match="both churned"):
        CureFractionFitter().fit([1, 2], [True, True])
