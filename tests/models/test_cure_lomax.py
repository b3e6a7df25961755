"""Lomax-latency cure model: naive likelihood, analytic gradient, recovery of a planted cure share."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import optimize

from liuliang.errors import LiuliangError
from liuliang.models import CureFractionFitter
from liuliang.models.cure import lomax_cure_negloglik


def reference_ll(pi: float, lam: float, rho: float, times: list[float], churned: list[bool]) -> float:
    ll = 0.0
    for t, e in zip(times, churned, strict=True):
        surv = (1 + t / lam) ** -rho
        ll += math.log((1 - pi) * rho / lam * (1 + t / lam) ** (-rho - 1)) if e else math.log(pi + (1 - pi) * surv)
    return ll


@settings(max_examples=30, deadline=None)
@given(
    pi=st.floats(0.02, 0.95),
    lam=st.floats(0.5, 50),
    rho=st.floats(0.2, 4),
    data=st.lists(st.tuples(st.floats(0.1, 300), st.booleans()), min_size=2, max_size=20),
)
def test_lomax_likelihood_and_gradient(pi: float, lam: float, rho: float, data: list) -> None:
    t = np.array([d[0] for d in data])
    e = np.array([d[1] for d in data])
    w = np.ones(t.size)
    u = np.array([math.log(pi / (1 - pi)), math.log(lam), math.log(rho)])
    value, grad = lomax_cure_negloglik(u, t, e, w)
    assert -value == pytest.approx(reference_ll(pi, lam, rho, list(t), list(e)), rel=1e-9, abs=1e-9)
    num = optimize.approx_fprime(u, lambda v: lomax_cure_negloglik(v, t, e, w)[0], 1e-7)
    assert np.allclose(grad, num, rtol=1e-3, atol=1e-4 * max(1.0, np.abs(grad).max()))


def lomax_world(n: int, pi: float, lam: float, rho: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    cured = rng.random(n) < pi
    life = lam * ((1 - rng.random(n)) ** (-1 / rho) - 1)  # inverse of S_u(t) = (1 + t/lam)^-rho
    follow = rng.uniform(60, 200, n)
    t = np.where(cured, follow, np.minimum(life, follow))
    return np.maximum(t, 1e-3), ~cured & (life <= follow)


def test_lomax_recovers_planted_cure_share_where_weibull_overstates_it() -> None:
    t, e = lomax_world(4000, 0.3, 5.0, 1.3, 1)
    m = CureFractionFitter(latency="lomax").fit(t, e)
    for name, truth in (("cure_fraction", 0.3), ("scale", 5.0), ("shape", 1.3)):
        assert abs(m.params_[name] - truth) < 3 * m.standard_errors_[name], (name, m.params_[name])
    # the heavy tail of slow churners has nowhere to go under a Weibull latency but into the cure share
    weibull = CureFractionFitter().fit(t, e)
    assert weibull.cure_fraction_ > m.cure_fraction_ and weibull.log_likelihood_ < m.log_likelihood_ - 10
    assert m.survival(0.0) == pytest.approx(1.0)
    assert m.survival(10.0) == pytest.approx(
        m.cure_fraction_ + (1 - m.cure_fraction_) * (1 + 10 / m.scale_) ** -m.shape_
    )
    with pytest.raises(LiuliangError, match="latency must be"):
        CureFractionFitter(latency="gompertz").fit(t, e)
