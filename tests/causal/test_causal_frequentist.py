"""Two-proportion z and Welch t from sufficient statistics agree with statsmodels / scipy on raw data, and the
delta-method interval for the relative lift covers the true lift at its nominal rate."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from liuliang.causal import SufficientStats, two_proportion_ztest, welch_ttest
from liuliang.errors import ModelInputError

sm_prop = pytest.importorskip("statsmodels.stats.proportion")


@settings(max_examples=60, deadline=None)
@given(
    n_a=st.integers(20, 20_000),
    n_b=st.integers(20, 20_000),
    p_a=st.floats(0.02, 0.98),
    p_b=st.floats(0.02, 0.98),
    alpha=st.sampled_from([0.01, 0.05, 0.1]),
)
def test_two_proportion_matches_statsmodels(n_a: int, n_b: int, p_a: float, p_b: float, alpha: float) -> None:
    s_a, s_b = round(n_a * p_a), round(n_b * p_b)
    if s_a + s_b in (0, n_a + n_b):
        return
    r = two_proportion_ztest(
        SufficientStats.from_proportion(n_a, s_a), SufficientStats.from_proportion(n_b, s_b), alpha=alpha
    )
    z, p = sm_prop.proportions_ztest([s_b, s_a], [n_b, n_a])
    assert r.statistic == pytest.approx(z, rel=1e-9, abs=1e-12)
    assert r.p_value == pytest.approx(p, rel=1e-7, abs=1e-14)
    lo, hi = sm_prop.confint_proportions_2indep(s_b, n_b, s_a, n_a, method="wald", compare="diff", alpha=alpha)
    assert (r.difference_ci_lower, r.difference_ci_upper) == pytest.approx((lo, hi), rel=1e-9, abs=1e-12)
    assert math.isinf(r.df) and r.test == "two_proportion_z"


@settings(max_examples=60, deadline=None)
@given(
    n_a=st.integers(2, 300),
    n_b=st.integers(2, 300),
    loc=st.floats(-50, 50),
    scale_a=st.floats(0.1, 20),
    scale_b=st.floats(0.1, 20),
    shift=st.floats(-5, 5),
    seed=st.integers(0, 2**32 - 1),
)
def test_welch_matches_scipy(n_a, n_b, loc, scale_a, scale_b, shift, seed) -> None:
    rng = np.random.default_rng(seed)
    a = rng.normal(loc, scale_a, n_a)
    b = rng.normal(loc + shift, scale_b, n_b)
    r = welch_ttest(SufficientStats.from_values(a), SufficientStats.from_values(b))
    ref = stats.ttest_ind(b, a, equal_var=False)
    ci = ref.confidence_interval(0.95)
    assert r.statistic == pytest.approx(ref.statistic, rel=1e-7)
    assert r.p_value == pytest.approx(ref.pvalue, rel=1e-6, abs=1e-15)
    assert r.df == pytest.approx(ref.df, rel=1e-7)
    assert (r.difference_ci_lower, r.difference_ci_upper) == pytest.approx((ci.low, ci.high), rel=1e-7, abs=1e-9)


def test_relative_lift_is_growthbooks_delta_formula() -> None:
    """Var(lift) = Var_B/(m_A² n_B) + Var_A·m_B²/(m_A⁴ n_A) (gbstats frequentist/tests.py), by hand."""
    a = SufficientStats.from_values([3.0, 5.0, 4.0, 6.0, 2.0, 7.0])
    b = SufficientStats.from_values([5.0, 6.0, 8.0, 4.0, 7.0])
    r = welch_ttest(a, b)
    ma, mb = 4.5, 6.0
    va, vb = np.var([3, 5, 4, 6, 2, 7], ddof=1), np.var([5, 6, 8, 4, 7], ddof=1)
    var = vb / (ma**2 * 5) + va * mb**2 / (ma**4 * 6)
    assert r.relative_lift == pytest.approx(mb / ma - 1)
    assert r.relative_lift_se == pytest.approx(math.sqrt(var), rel=1e-12)
    half = stats.t.ppf(0.975, r.df) * math.sqrt(var)
    assert r.relative_lift_ci_upper - r.relative_lift == pytest.approx(half, rel=1e-10)


@pytest.mark.parametrize("kind", ["proportion", "revenue"])
def test_delta_method_lift_interval_covers_true_lift(kind: str) -> None:
    """2,000 replications of a 3,000-per-arm experiment: the 95 % lift interval covers the true lift 93–97 %."""
    rng = np.random.default_rng(20260501)
    reps, n = 2000, 3000
    if kind == "proportion":
        pa, pb = 0.30, 0.33
        true_lift = pb / pa - 1
        sa, sb = rng.binomial(n, pa, reps), rng.binomial(n, pb, reps)
        arms = [
            (SufficientStats.from_proportion(n, x), SufficientStats.from_proportion(n, y))
            for x, y in zip(sa, sb, strict=True)
        ]
        test = two_proportion_ztest
    else:  # skewed spend: log-normal with means 10 and 10.8
        sigma = 1.0
        mu_a, mu_b = math.log(10) - sigma**2 / 2, math.log(10.8) - sigma**2 / 2
        true_lift = 0.08
        ya = rng.lognormal(mu_a, sigma, (reps, n))
        yb = rng.lognormal(mu_b, sigma, (reps, n))
        arms = [
            (SufficientStats(n, a.sum(), a @ a), SufficientStats(n, b.sum(), b @ b))
            for a, b in zip(ya, yb, strict=True)
        ]
        test = welch_ttest
    covered = np.mean(
        [(r.relative_lift_ci_lower <= true_lift <= r.relative_lift_ci_upper) for r in (test(a, b) for a, b in arms)]
    )
    assert 0.93 <= covered <= 0.97, covered


def test_inputs_that_have_no_test_raise() -> None:
    p = SufficientStats.from_proportion
    with pytest.raises(ModelInputError, match="same outcome"):
        two_proportion_ztest(p(100, 0), p(100, 0))
    with pytest.raises(ModelInputError, match="0/1"):
        two_proportion_ztest(SufficientStats(10, 5.0, 9.0), p(10, 5))
    with pytest.raises(ModelInputError, match="zero variance"):
        welch_ttest(SufficientStats.from_values([1.0, 1.0]), SufficientStats.from_values([2.0, 2.0]))
    with pytest.raises(ModelInputError, match="at least 2"):
        welch_ttest(SufficientStats.from_values([1.0]), SufficientStats.from_values([2.0, 3.0]))
    with pytest.raises(ModelInputError, match="alpha"):
        welch_ttest(SufficientStats.from_values([1.0, 2]), SufficientStats.from_values([2.0, 3.0]), alpha=1.5)


def test_stats_merge_and_result_conversions() -> None:
    rng = np.random.default_rng(3)
    y = rng.normal(size=1000)
    whole = SufficientStats.from_values(y)
    merged = SufficientStats.from_values(y[:400]) + SufficientStats.from_values(y[400:])
    assert merged.n == whole.n
    assert merged.variance == pytest.approx(np.var(y, ddof=1), rel=1e-10)
    r = welch_ttest(whole, SufficientStats.from_values(y + 0.1))
    d = r.to_dict()
    assert d["test"] == "welch_t" and d["difference"] == pytest.approx(0.1)
    table = r.to_arrow()
    assert table.num_rows == 1 and table.column("p_value")[0].as_py() == r.p_value
    assert "df" in r.to_pandas().columns
