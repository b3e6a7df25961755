"""The normal-mixture confidence sequence keeps its coverage over 100 peeks (simulated, vectorised, fixed seed),
where the fixed-horizon interval peeked at as often does not; its p-value and interval agree."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from liuliang.causal import SufficientStats, confidence_sequence
from liuliang.causal.sequential import mixture_halfwidth, mixture_rho

SIMS, PEEKS, BATCH = 4000, 100, 100  # 100 looks, 100 → 10,000 users per arm


def _peeked_paths(seed: int, p_a: float, p_b: float):
    """Cumulative successes per arm at every look, for SIMS experiments (binomial batches: exact and cheap)."""
    rng = np.random.default_rng(seed)
    sa = np.cumsum(rng.binomial(BATCH, p_a, (SIMS, PEEKS)), axis=1)
    sb = np.cumsum(rng.binomial(BATCH, p_b, (SIMS, PEEKS)), axis=1)
    n = BATCH * np.arange(1, PEEKS + 1)
    pa, pb = sa / n, sb / n
    var = pa * (1 - pa) / n + pb * (1 - pb) / n
    return pb - pa, var, 2 * n


@pytest.mark.parametrize(("p_a", "p_b"), [(0.30, 0.30), (0.30, 0.32), (0.05, 0.06)])
def test_coverage_holds_over_all_peeks(p_a: float, p_b: float) -> None:
    diff, var, n_total = _peeked_paths(20260501, p_a, p_b)
    truth = p_b - p_a
    alpha = 0.05
    w = mixture_halfwidth(var, n_total, alpha, tuning_n=10_000)
    ever_missed = np.any(np.abs(diff - truth) > w, axis=1).mean()
    assert ever_missed <= alpha + 2 * math.sqrt(alpha * (1 - alpha) / SIMS), ever_missed
    # the same data with the fixed-horizon interval checked at every look misses far more often
    naive = np.any(np.abs(diff - truth) > stats.norm.ppf(1 - alpha / 2) * np.sqrt(var), axis=1).mean()
    assert naive > 0.15, naive
    # at the last look alone, the fixed interval is fine: peeking is what breaks it
    assert np.mean(np.abs(diff[:, -1] - truth) > stats.norm.ppf(0.975) * np.sqrt(var[:, -1])) < 0.065


def test_result_matches_the_vectorised_boundary_and_growthbook_rho() -> None:
    a, b = SufficientStats.from_proportion(8_000, 2_400), SufficientStats.from_proportion(8_000, 2_560)
    r = confidence_sequence(a, b, outcome="proportion", tuning_n=5_000)
    var = 0.3 * 0.7 / 8_000 + 0.32 * 0.68 / 8_000
    # rho from Waudby-Smith et al. eq. 161 at alpha = 0.05, N* = 5000, by hand
    assert r.rho == pytest.approx(math.sqrt((-2 * math.log(0.05) + math.log(-2 * math.log(0.05) + 1)) / 5_000))
    n, rho2 = 16_000, r.rho**2
    half = math.sqrt(var * 16_000) * math.sqrt(
        2 * (n * rho2 + 1) / (n**2 * rho2) * math.log(math.sqrt(n * rho2 + 1) / 0.05)
    )
    assert r.difference_ci_upper - r.difference == pytest.approx(half, rel=1e-12)
    assert half == pytest.approx(float(mixture_halfwidth(var, n, 0.05, 5_000)), rel=1e-12)
    fixed = stats.norm.ppf(0.975) * math.sqrt(var)
    assert half > fixed  # the price of peeking
    assert r.to_arrow().num_rows == 1 and r.to_dict()["tuning_n"] == 5_000


@settings(max_examples=50, deadline=None)
@given(
    n=st.integers(100, 50_000),
    p=st.floats(0.05, 0.9),
    lift=st.floats(-0.2, 0.2),
    tuning=st.sampled_from([1_000, 5_000, 100_000]),
)
def test_p_value_below_alpha_exactly_when_interval_excludes_zero(n, p, lift, tuning) -> None:
    pb = min(max(p * (1 + lift), 0.01), 0.99)
    a, b = SufficientStats.from_proportion(n, round(n * p)), SufficientStats.from_proportion(n, round(n * pb))
    if a.sum in (0, n) and b.sum in (0, n):
        return
    r = confidence_sequence(a, b, outcome="proportion", tuning_n=tuning, alpha=0.05)
    excludes = r.difference_ci_lower > 0 or r.difference_ci_upper < 0
    if abs(abs(r.difference) - (r.difference_ci_upper - r.difference)) > 1e-12:  # not exactly on the boundary
        assert (r.p_value <= 0.05) == excludes


def test_interval_is_tightest_near_the_tuning_size() -> None:
    """Half-width relative to the fixed-horizon one is smallest around N = tuning_n."""
    n = np.array([500, 2_000, 10_000, 50_000, 400_000])
    ratio = mixture_halfwidth(1 / n, n, 0.05, 10_000) / (stats.norm.ppf(0.975) * np.sqrt(1 / n))
    assert np.argmin(ratio) == 2
    assert mixture_rho(0.05, 10_000) < mixture_rho(0.05, 1_000)
