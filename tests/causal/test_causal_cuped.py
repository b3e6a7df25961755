"""CUPED from sufficient statistics equals the per-row computation: θ from an OLS fit on the pooled rows, each row
adjusted, then scipy's Welch test; the ``within`` slope equals the treatment coefficient of OLS y ~ 1 + T + x."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from liuliang.causal import CovariateStats, cuped_ttest, welch_ttest
from liuliang.errors import ModelInputError


def _world(seed: int, n_a: int, n_b: int, rho: float, effect: float, scale: float = 1.0):
    rng = np.random.default_rng(seed)
    xa, xb = rng.normal(5, scale, n_a), rng.normal(5, scale, n_b)
    noise = np.sqrt(1 - rho**2)
    ya = 10 + rho * (xa - 5) + noise * rng.normal(0, scale, n_a)
    yb = 10 + effect + rho * (xb - 5) + noise * rng.normal(0, scale, n_b)
    return xa, ya, xb, yb


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_a=st.integers(5, 400),
    n_b=st.integers(5, 400),
    rho=st.floats(-0.95, 0.95),
    effect=st.floats(-1, 1),
    scale=st.floats(0.1, 30),
)
def test_pooled_theta_matches_per_row_reference(seed, n_a, n_b, rho, effect, scale) -> None:
    xa, ya, xb, yb = _world(seed, n_a, n_b, rho, effect, scale)
    r = cuped_ttest(CovariateStats.from_values(ya, xa), CovariateStats.from_values(yb, xb))
    # naive reference: slope of y on x over all rows, adjust each row, Welch on the adjusted rows
    x, y = np.concatenate([xa, xb]), np.concatenate([ya, yb])
    theta = np.polyfit(x, y, 1)[0]
    adj_a, adj_b = ya - theta * (xa - x.mean()), yb - theta * (xb - x.mean())
    ref = stats.ttest_ind(adj_b, adj_a, equal_var=False)
    ci = ref.confidence_interval(0.95)
    assert r.theta == pytest.approx(theta, rel=1e-6, abs=1e-9)
    assert r.difference == pytest.approx(adj_b.mean() - adj_a.mean(), rel=1e-7, abs=1e-9 * scale)
    assert (r.control_mean, r.treatment_mean) == pytest.approx((adj_a.mean(), adj_b.mean()), rel=1e-9)
    assert r.statistic == pytest.approx(ref.statistic, rel=1e-5, abs=1e-7)
    assert r.p_value == pytest.approx(ref.pvalue, rel=1e-5, abs=1e-12)
    assert r.df == pytest.approx(ref.df, rel=1e-5)
    assert (r.difference_ci_lower, r.difference_ci_upper) == pytest.approx((ci.low, ci.high), rel=1e-6, abs=1e-8)


def test_within_theta_is_the_ols_treatment_coefficient() -> None:
    xa, ya, xb, yb = _world(7, 3000, 2500, 0.7, 0.2)
    xb = xb + 0.1  # a chance imbalance in the covariate makes pooled and within slopes differ
    r = cuped_ttest(CovariateStats.from_values(ya, xa), CovariateStats.from_values(yb, xb), theta="within")
    design = np.column_stack([np.ones(xa.size + xb.size), np.r_[np.zeros(xa.size), np.ones(xb.size)], np.r_[xa, xb]])
    coef, *_ = np.linalg.lstsq(design, np.r_[ya, yb], rcond=None)
    assert r.difference == pytest.approx(coef[1], rel=1e-9)
    assert r.theta == pytest.approx(coef[2], rel=1e-9)
    pooled = cuped_ttest(CovariateStats.from_values(ya, xa), CovariateStats.from_values(yb, xb))
    assert pooled.theta != pytest.approx(r.theta, rel=1e-6)  # the two definitions really are different
    assert pooled.difference == pytest.approx(r.difference, abs=0.02)  # ... and agree to O(1/n)


def test_variance_reduction_is_rho_squared_and_interval_shrinks() -> None:
    xa, ya, xb, yb = _world(11, 20_000, 20_000, 0.8, 0.05)
    a, b = CovariateStats.from_values(ya, xa), CovariateStats.from_values(yb, xb)
    r = cuped_ttest(a, b)
    plain = welch_ttest(a.outcome, b.outcome)
    assert r.variance_reduction == pytest.approx(0.64, abs=0.02)
    assert r.unadjusted_difference_se == pytest.approx(plain.difference_se)
    width, plain_width = (
        r.difference_ci_upper - r.difference_ci_lower,
        plain.difference_ci_upper - plain.difference_ci_lower,
    )
    assert width / plain_width == pytest.approx(np.sqrt(1 - 0.64), abs=0.02)
    # an unrelated covariate reduces nothing
    rng = np.random.default_rng(1)
    noise = cuped_ttest(
        CovariateStats.from_values(ya, rng.normal(size=ya.size)),
        CovariateStats.from_values(yb, rng.normal(size=yb.size)),
    )
    assert abs(noise.variance_reduction) < 0.002


def test_cuped_covers_the_planted_effect_across_seeds() -> None:
    """Issue 5's bar: the estimate's interval covers the true effect in >= 90 % of seeds (200 seeds, 95 % CI)."""
    covered = []
    for seed in range(200):
        xa, ya, xb, yb = _world(seed, 500, 500, 0.6, 0.15)
        r = cuped_ttest(CovariateStats.from_values(ya, xa), CovariateStats.from_values(yb, xb))
        covered.append(r.difference_ci_lower <= 0.15 <= r.difference_ci_upper)
    assert np.mean(covered) >= 0.90


def test_relative_lift_uses_unadjusted_control_and_fixed_theta() -> None:
    xa, ya, xb, yb = _world(5, 5000, 5000, 0.5, 0.3)
    a, b = CovariateStats.from_values(ya, xa), CovariateStats.from_values(yb, xb)
    r = cuped_ttest(a, b, theta=0.0)
    plain = welch_ttest(a.outcome, b.outcome)
    assert r.theta_method == "fixed" and r.variance_reduction == pytest.approx(0.0, abs=1e-12)
    assert r.relative_lift == pytest.approx(plain.relative_lift, rel=1e-12)
    assert r.relative_lift_se == pytest.approx(plain.relative_lift_se, rel=1e-9)
    adj = cuped_ttest(a, b)
    assert adj.relative_lift == pytest.approx(adj.difference / ya.mean())
    assert adj.relative_lift_se < plain.relative_lift_se
    assert set(adj.to_dict()) >= {"theta", "variance_reduction", "relative_lift_ci_lower"}


def test_merging_partials_and_degenerate_covariates() -> None:
    xa, ya, xb, yb = _world(2, 1000, 1000, 0.5, 0.1)
    whole = CovariateStats.from_values(ya, xa)
    parts = CovariateStats.from_values(ya[:300], xa[:300]) + CovariateStats.from_values(ya[300:], xa[300:])
    assert parts.covariance == pytest.approx(np.cov(xa, ya)[0, 1], rel=1e-10)
    assert cuped_ttest(parts, CovariateStats.from_values(yb, xb)).p_value == pytest.approx(
        cuped_ttest(whole, CovariateStats.from_values(yb, xb)).p_value, rel=1e-9
    )
    with pytest.raises(ModelInputError, match="zero variance"):
        cuped_ttest(CovariateStats.from_values(ya, np.ones(1000)), CovariateStats.from_values(yb, np.ones(1000)))
    with pytest.raises(ModelInputError, match="theta"):
        cuped_ttest(whole, whole, theta="ols")  # type: ignore[arg-type]
