"""Each engine log-likelihood against a naive per-customer reference in plain ``math`` (property tests).

The references are written from the model definitions, not from the engine's algebra: BG/NBD and MBG/NBD as the
sum over the two ways the history can happen (alive at T, or dropped out right after the last purchase);
Pareto/NBD by numerically integrating over the unobserved lifetime; Gamma-Gamma as the density of the mean of x
Gamma draws. Expectations are checked against one-dimensional integrals over the dropout probability.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate

from liuliang.models import (
    BetaGeoFitter,
    ModifiedBetaGeoFitter,
    ParetoNBDFitter,
    bg_nbd,
    gamma_gamma,
    mbg_nbd,
    pareto_nbd,
)

pos = st.floats(0.05, 20.0)
shape = st.floats(0.1, 5.0)


@st.composite
def customer(draw: st.DrawFn) -> tuple[int, float, float]:
    T = draw(st.floats(0.5, 100.0))
    x = draw(st.integers(0, 60))
    tx = 0.0 if x == 0 else draw(st.floats(0.0, 1.0)) * T
    return x, tx, T


def lbeta(a: float, b: float) -> float:
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)


def naive_bgnbd(r: float, alpha: float, a: float, b: float, x: int, tx: float, T: float, modified: bool) -> float:
    nbd = math.exp(math.lgamma(r + x) - math.lgamma(r) + r * math.log(alpha))
    k = 1 if modified else 0
    # alive at T: survived every dropout chance (x after purchases, +1 at time 0 for the MBG)
    alive = math.exp(lbeta(a, b + x + k) - lbeta(a, b)) * nbd / (alpha + T) ** (r + x)
    # dropped right after the last purchase (for the BG only possible if there was one)
    dropped = 0.0
    if x > 0 or modified:
        dropped = math.exp(lbeta(a + 1, b + x + k - 1) - lbeta(a, b)) * nbd / (alpha + tx) ** (r + x)
    return math.log(alive + dropped)


def naive_pareto(r: float, alpha: float, s: float, beta: float, x: int, tx: float, T: float) -> float:
    """∫∫ P(history | λ, μ) over the gammas, done in λ and μ analytically and over the death time τ numerically."""
    log_c = math.lgamma(r + x) - math.lgamma(r) + r * math.log(alpha) + s * math.log(beta)
    log_alive = -(r + x) * math.log(alpha + T) - s * math.log(beta + T)

    def log_died_at(tau: float) -> float:  # density of death at τ, with x purchases all before τ
        return math.log(s) - (r + x) * math.log(alpha + tau) - (s + 1) * math.log(beta + tau)

    if tx >= T:
        return log_c + log_alive
    ref = max(log_died_at(tx), log_alive)  # work relative to the larger term: heavy buyers underflow otherwise
    dead, _ = integrate.quad(lambda u: math.exp(log_died_at(u) - ref), tx, T, epsabs=0, epsrel=1e-12, limit=500)
    return log_c + ref + math.log(math.exp(log_alive - ref) + dead)


def naive_gamma_gamma(p: float, q: float, g: float, x: int, m: float) -> float:
    return (
        math.lgamma(p * x + q)
        - math.lgamma(p * x)
        - math.lgamma(q)
        + q * math.log(g)
        + (p * x - 1) * math.log(m)
        + p * x * math.log(x)
        - (p * x + q) * math.log(g + m * x)
    )


@settings(max_examples=150, deadline=None)
@given(shape, pos, shape, shape, customer(), st.booleans())
def test_bgnbd_and_mbgnbd_match_naive(r, alpha, a, b, cust, modified) -> None:
    x, tx, T = cust
    mod = mbg_nbd if modified else bg_nbd
    ll, _ = mod._row_loglik(np.array([r, alpha, a, b]), np.array([x], float), np.array([tx]), np.array([T]), grad=False)
    assert ll[0] == pytest.approx(naive_bgnbd(r, alpha, a, b, x, tx, T, modified), rel=1e-9, abs=1e-9)


@settings(max_examples=150, deadline=None)
@given(shape, st.floats(0.05, 100.0), shape, st.floats(0.05, 100.0), customer())
def test_pareto_nbd_matches_integral_over_lifetime(r, alpha, s, beta, cust) -> None:
    x, tx, T = cust
    ll, _ = pareto_nbd._row_loglik(np.array([r, alpha, s, beta]), np.array([x], float), np.array([tx]), np.array([T]))
    assert ll[0] == pytest.approx(naive_pareto(r, alpha, s, beta, x, tx, T), rel=1e-8, abs=1e-8)


def test_pareto_far_branch_and_heavy_buyers() -> None:
    """alpha >> beta, beta >> alpha (z near 1) and x = 300 (where hyp2f1 at z -> 1 breaks): values against the
    integral, analytic gradients against finite differences."""
    for params, (x, tx, T) in [
        ((0.5, 80.0, 0.7, 0.3), (3, 1.0, 40.0)),
        ((2.0, 0.2, 1.5, 60.0), (300, 39.0, 40.0)),
        ((0.3, 500.0, 0.4, 1.0), (0, 0.0, 5.0)),
        ((0.6, 10.0, 0.6, 11.0), (5, 40.0, 40.0)),  # last purchase at T: no death term
        ((0.5, 0.05, 0.7, 100.0), (2, 1.0, 5.0)),  # z ≈ 0.99: thousands of terms, summed block by block
    ]:
        cols = np.array([x], float), np.array([tx]), np.array([T])
        ll, g = pareto_nbd._row_loglik(np.array(params), *cols, grad=True)
        assert ll[0] == pytest.approx(naive_pareto(*params, x, tx, T), rel=1e-9)
        for i in range(4):
            up, dn = np.array(params), np.array(params)
            up[i] *= 1 + 1e-6
            dn[i] *= 1 - 1e-6
            fd = (pareto_nbd._row_loglik(up, *cols)[0] - pareto_nbd._row_loglik(dn, *cols)[0]) / (up[i] - dn[i])
            assert g[0, i] == pytest.approx(fd[0], rel=1e-5, abs=1e-6)


@settings(max_examples=100, deadline=None)
@given(st.floats(0.5, 20.0), st.floats(0.5, 10.0), st.floats(1.0, 200.0), st.integers(1, 50), st.floats(0.5, 500.0))
def test_gamma_gamma_matches_naive(p, q, g, x, m) -> None:
    ll, _ = gamma_gamma._row_loglik(np.array([p, q, g]), np.array([x], float), np.array([m]), grad=False)
    assert ll[0] == pytest.approx(naive_gamma_gamma(p, q, g, x, m), rel=1e-10, abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(["bg", "mbg", "gg"]),
    st.lists(st.floats(0.2, 5.0), min_size=4, max_size=4),
    st.lists(customer(), min_size=1, max_size=8),
)
def test_analytic_gradients_match_finite_differences(model, raw, custs) -> None:
    x = np.array([c[0] for c in custs], float)
    tx = np.array([c[1] for c in custs])
    T = np.array([c[2] for c in custs])
    if model == "gg":
        params, cols, fn = np.array(raw[:3]), (np.maximum(x, 1), T), gamma_gamma._row_loglik
    else:
        params, cols, fn = np.array(raw), (x, tx, T), (bg_nbd if model == "bg" else mbg_nbd)._row_loglik
    _, g = fn(params, *cols, grad=True)
    for i in range(params.size):
        h = 1e-6 * params[i]
        up, dn = params.copy(), params.copy()
        up[i] += h
        dn[i] -= h
        fd = (fn(up, *cols, grad=False)[0] - fn(dn, *cols, grad=False)[0]) / (2 * h)
        np.testing.assert_allclose(g[:, i], fd, rtol=1e-5, atol=1e-6)


def _fitted(cls, params):
    m = cls()
    m.params_ = __import__("pandas").Series(params, index=list(cls._param_names))
    return m


@settings(max_examples=30, deadline=None)
@given(st.floats(0.2, 3.0), st.floats(1.0, 20.0), st.floats(1.2, 6.0), st.floats(0.5, 5.0), st.floats(1.0, 60.0))
def test_bgnbd_expectations_against_integrals_over_p(r, alpha, a, b, t) -> None:
    """E[X(t)] = E_p[(1 - (α/(α+pt))^r)/p];
    E[Y(t)|history] = P(alive) E_{p~Beta(a,b+x)}[(1 - ((α+T)/(α+T+pt))^(r+x))/p]."""
    m = _fitted(BetaGeoFitter, [r, alpha, a, b])
    dens = lambda p, aa, bb: math.exp((aa - 1) * math.log(p) + (bb - 1) * math.log1p(-p) - lbeta(aa, bb))  # noqa: E731
    ref, _ = integrate.quad(lambda p: (1 - (alpha / (alpha + p * t)) ** r) / p * dens(p, a, b), 0, 1, epsrel=1e-11)
    assert m.expected_purchases(t) == pytest.approx(ref, rel=1e-7)
    x, tx, T = 4, 20.0, 40.0
    cond, _ = integrate.quad(
        lambda p: (1 - ((alpha + T) / (alpha + T + p * t)) ** (r + x)) / p * dens(p, a, b + x), 0, 1, epsrel=1e-11
    )
    assert m.predict_purchases(t, x, tx, T) == pytest.approx(m.probability_alive(x, tx, T) * cond, rel=1e-7)
    # P(X = n) falls like n^-(a+1) (dropout probabilities near 0 buy for ever): only for a >= 3 do 2,000 terms hold
    # all but ~1e-7 of the mean, so the sum-to-one and mean checks are made there
    if a >= 3:
        n = np.arange(2000)
        probs = m.probability_of_purchases(t, n)
        assert probs.sum() == pytest.approx(1.0, abs=1e-6)
        assert (n * probs).sum() == pytest.approx(ref, rel=1e-5)


@settings(max_examples=8, deadline=None)
@given(st.floats(0.3, 2.0), st.floats(5.0, 20.0), st.floats(1.2, 4.0), st.floats(1.0, 20.0), st.floats(1.0, 20.0))
def test_pareto_probabilities_sum_to_one_with_the_right_mean(r, alpha, s, beta, t) -> None:
    """Light-tailed settings (mean rate r/α <= 0.4) so that 150 terms hold all but ~1e-9 of the mass."""
    m = _fitted(ParetoNBDFitter, [r, alpha, s, beta])
    probs = m.probability_of_purchases(t, np.arange(150))
    assert probs.sum() == pytest.approx(1.0, abs=1e-6)
    assert (np.arange(150) * probs).sum() == pytest.approx(m.expected_purchases(t), rel=1e-5)


def test_mbg_probabilities_sum_to_one_with_the_right_mean() -> None:
    m = _fitted(ModifiedBetaGeoFitter, [0.5, 6.0, 1.5, 1.6])
    probs = m.probability_of_purchases(39.0, np.arange(400))
    assert probs.sum() == pytest.approx(1.0, abs=1e-8)
    assert (np.arange(400) * probs).sum() == pytest.approx(m.expected_purchases(39.0), rel=1e-6)


@settings(max_examples=60, deadline=None)
@given(
    st.floats(0.1, 5.0),
    st.floats(0.05, 100.0),
    st.floats(0.1, 5.0),
    st.floats(0.05, 100.0),
    st.lists(customer(), min_size=1, max_size=8),
)
def test_pareto_analytic_gradient_matches_finite_differences(r, alpha, s, beta, custs) -> None:
    """Covers α >= β and α < β, and both series regimes (z <= ½ and z near 1, where α and β differ many-fold)."""
    x = np.array([c[0] for c in custs], float)
    tx = np.array([c[1] for c in custs])
    T = np.array([c[2] for c in custs])
    params = np.array([r, alpha, s, beta])
    _, g = pareto_nbd._row_loglik(params, x, tx, T, grad=True)
    for i in range(4):
        h = 1e-6 * params[i]
        up, dn = params.copy(), params.copy()
        up[i] += h
        dn[i] -= h
        fd = (pareto_nbd._row_loglik(up, x, tx, T)[0] - pareto_nbd._row_loglik(dn, x, tx, T)[0]) / (2 * h)
        np.testing.assert_allclose(g[:, i], fd, rtol=1e-5, atol=1e-6)


@settings(max_examples=60, deadline=None)
@given(st.floats(0.1, 60.0), st.floats(1.05, 6.0), st.floats(0.05, 100.0), st.floats(0.05, 100.0), st.floats(0, 80))
def test_pareto_tail_derivatives_are_the_raised_exponent_integrals(p, q, alpha, beta, y) -> None:
    """∂J/∂α = −p·J(p+1, q) and ∂J/∂β = −q·J(p, q+1): the tail integral with one exponent raised, evaluated
    independently of the derivative series."""
    lj, (_, _, d_alpha, d_beta) = pareto_nbd.log_tail(p, q, alpha, beta, y, grad=True)
    assert float(d_alpha) == pytest.approx(-p * math.exp(pareto_nbd.log_tail(p + 1, q, alpha, beta, y) - lj), rel=1e-9)
    assert float(d_beta) == pytest.approx(-q * math.exp(pareto_nbd.log_tail(p, q + 1, alpha, beta, y) - lj), rel=1e-9)
