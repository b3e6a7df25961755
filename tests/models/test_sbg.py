"""sBG: the paper's estimates, the naive likelihood, gradients, DERL, recovery and RetentionTable input."""

from __future__ import annotations

import doctest

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from period_models_reference import sbg_log_likelihood, sbg_survival
from scipy import optimize

import liuliang.models.sbg as sbg_module
from liuliang.errors import LiuliangError
from liuliang.metrics.retention.result import RESULT_SCHEMA, RetentionTable
from liuliang.metrics.retention.spec import RetentionSpec
from liuliang.models import ShiftedBetaGeometricFitter
from liuliang.models.sbg import sbg_negloglik

# Fader & Hardie (2007), "How to project customer retention", survivors at years 0..12
REGULAR = [1000, 631, 468, 382, 326, 289, 262, 241, 223, 207, 194, 183, 173]
HIGH_END = [1000, 869, 743, 653, 593, 551, 517, 491, 468, 445, 427, 409, 394]
SETTINGS = settings(max_examples=30, deadline=None)


@pytest.mark.parametrize(("survivors", "alpha", "beta"), [(REGULAR, 0.704, 1.182), (HIGH_END, 0.668, 3.806)])
def test_paper_estimates_years_1_to_7(survivors: list[int], alpha: float, beta: float) -> None:
    m = ShiftedBetaGeometricFitter().fit(survivors[:8])
    assert round(m.alpha_, 3) == alpha
    assert round(m.beta_, 3) == beta
    # the maximised log-likelihood is the naive one at the optimum, and the published point is within rounding
    assert m.log_likelihood_ == pytest.approx(sbg_log_likelihood(m.alpha_, m.beta_, [survivors[:8]]), rel=1e-10)
    assert sbg_log_likelihood(alpha, beta, [survivors[:8]]) == pytest.approx(m.log_likelihood_, abs=0.01)


def test_paper_values_of_the_log_likelihood() -> None:
    assert ShiftedBetaGeometricFitter().fit(REGULAR[:8]).log_likelihood_ == pytest.approx(-1680.3, abs=0.05)
    assert ShiftedBetaGeometricFitter().fit(HIGH_END[:8]).log_likelihood_ == pytest.approx(-1611.2, abs=0.05)


cohort = st.lists(st.integers(0, 40), min_size=1, max_size=8).map(
    lambda lost: [float(sum(lost) + 5 - sum(lost[:i])) for i in range(len(lost) + 1)]
)


@SETTINGS
@given(
    alpha=st.floats(0.05, 20),
    beta=st.floats(0.05, 20),
    cohorts=st.lists(cohort, min_size=1, max_size=3),
)
def test_engine_likelihood_matches_naive_reference(alpha: float, beta: float, cohorts: list[list[float]]) -> None:
    churn: dict[int, float] = {}
    alive: dict[int, float] = {}
    for c in cohorts:
        for t in range(1, len(c)):
            churn[t] = churn.get(t, 0.0) + c[t - 1] - c[t]
        alive[len(c) - 1] = alive.get(len(c) - 1, 0.0) + c[-1]
    args = (
        np.array(list(churn), float),
        np.array(list(churn.values())),
        np.array(list(alive), float),
        np.array(list(alive.values())),
    )
    x = np.log([alpha, beta])
    assert -sbg_negloglik(x, *args)[0] == pytest.approx(sbg_log_likelihood(alpha, beta, cohorts), rel=1e-9, abs=1e-9)
    err = optimize.check_grad(lambda u: sbg_negloglik(u, *args)[0], lambda u: sbg_negloglik(u, *args)[1], x)
    assert err < 1e-4 * max(1.0, np.abs(sbg_negloglik(x, *args)[1]).max())


@SETTINGS
@given(alpha=st.floats(0.1, 10), beta=st.floats(0.1, 10), t=st.integers(0, 30))
def test_survival_and_retention_rate_match_recursion(alpha: float, beta: float, t: int) -> None:
    m = ShiftedBetaGeometricFitter().fit(REGULAR[:8])
    m.alpha_, m.beta_ = alpha, beta  # evaluate the closed forms at arbitrary parameters
    assert m.survival(t) == pytest.approx(sbg_survival(alpha, beta, t), rel=1e-9, abs=1e-12)
    if t >= 1:
        assert m.retention_rate(t) == pytest.approx(sbg_survival(alpha, beta, t) / sbg_survival(alpha, beta, t - 1))
        assert m.churn_probability(t) == pytest.approx(sbg_survival(alpha, beta, t - 1) - sbg_survival(alpha, beta, t))


@pytest.mark.parametrize("renewals", [0, 1, 5])
@pytest.mark.parametrize("d", [0.05, 0.1, 0.3])
def test_derl_equals_discounted_sum(renewals: int, d: float) -> None:
    m = ShiftedBetaGeometricFitter().fit(HIGH_END[:8])
    naive = sum(
        sbg_survival(m.alpha_, m.beta_, renewals + 1 + k) / sbg_survival(m.alpha_, m.beta_, renewals) / (1 + d) ** k
        for k in range(400)
    )
    assert float(m.derl(d, renewals)) == pytest.approx(naive, rel=1e-6)


def test_projection_and_retention_rise_with_tenure() -> None:
    m = ShiftedBetaGeometricFitter().fit(REGULAR[:8])
    proj = m.projected_survivors(12, 1000)
    assert proj[0] == 1000 and np.all(np.diff(proj) < 0)
    assert np.all(np.diff(m.retention_rate(np.arange(1, 13))) > 0)  # the heterogeneity story


def simulate_cohorts(alpha: float, beta: float, sizes: list[int], horizons: list[int], seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out = []
    for size, horizon in zip(sizes, horizons, strict=True):
        theta = rng.beta(alpha, beta, size)
        churn_at = rng.geometric(theta)  # period of churn, 1, 2, ...
        out.append(np.array([(churn_at > t).sum() for t in range(horizon + 1)], dtype=float))
    return out


@pytest.mark.parametrize(("alpha", "beta", "seed"), [(0.7, 1.2, 1), (2.0, 6.0, 2), (0.4, 3.0, 3)])
def test_recovers_parameters_from_censored_cohorts(alpha: float, beta: float, seed: int) -> None:
    cohorts = simulate_cohorts(alpha, beta, [4000, 3000, 2000], [12, 8, 4], seed)
    m = ShiftedBetaGeometricFitter().fit(cohorts)
    for name, truth in (("alpha", alpha), ("beta", beta)):
        assert abs(m.params_[name] - truth) < 3 * m.standard_errors_[name], (name, m.params_[name], truth)
    lo, hi = m.summary.loc["alpha", ["coef lower 95%", "coef upper 95%"]]
    assert lo < m.alpha_ < hi


def retention_table(criterion: str, rows: list[tuple[int, int, int, int, bool]]) -> RetentionTable:
    """rows: (cohort, period_offset, cohort_size, count, incomplete)."""
    spec = RetentionSpec(criterion=criterion, periods=max(r[1] for r in rows))
    cols = {name: [] for name in RESULT_SCHEMA.names}
    for c, k, size, count, incomplete in rows:
        for name, v in (
            ("breakdown", "all"),
            ("cohort", c),
            ("period_offset", k),
            ("offset_lo", k),
            ("offset_hi", k),
            ("cohort_size", size),
            ("observed", size),
            ("count", count),
            ("value", float(count)),
            ("base", float(size)),
            ("rate", count / size),
            ("incomplete", incomplete),
        ):
            cols[name].append(v)
    return RetentionTable(spec, pa.table(cols, schema=RESULT_SCHEMA), None)


def test_fit_retention_table_uses_complete_cells_only() -> None:
    a = [1000, 700, 560, 480, 430]
    b = [800, 590, 470]
    rows = [(1, k, 1000, a[k], False) for k in range(5)]
    rows += [(2, k, 800, b[k] if k < 3 else 300, k >= 3) for k in range(5)]  # cells 3, 4 incomplete: not used
    table = retention_table("on_or_after", rows)
    m = ShiftedBetaGeometricFitter().fit_retention_table(table)
    ref = ShiftedBetaGeometricFitter().fit([a, b])
    assert m.alpha_ == pytest.approx(ref.alpha_) and m.beta_ == pytest.approx(ref.beta_)
    lagged = ShiftedBetaGeometricFitter().fit_retention_table(table, lookahead=1)
    assert lagged.alpha_ == pytest.approx(ShiftedBetaGeometricFitter().fit([a[:4], b[:2]]).alpha_)
    with pytest.raises(LiuliangError, match="criterion"):
        ShiftedBetaGeometricFitter().fit_retention_table(retention_table("on", rows))


def test_rejects_rising_counts_and_degenerate_data() -> None:
    with pytest.raises(LiuliangError, match="rises at period 2"):
        ShiftedBetaGeometricFitter().fit([100, 50, 60])
    with pytest.raises(LiuliangError, match="nobody churned"):
        ShiftedBetaGeometricFitter().fit([100, 100, 100])
    with pytest.raises(LiuliangError, match="confidence"):
        ShiftedBetaGeometricFitter(confidence=95).fit(REGULAR)


def test_estimator_surface() -> None:
    m = ShiftedBetaGeometricFitter()
    assert "not fitted" in repr(m)
    with pytest.raises(LiuliangError, match="not fitted"):
        m.survival(3)
    m.fit([REGULAR[:8], HIGH_END[:5]])
    assert "2 cohort(s)" in repr(m)
    assert list(m.summary.columns) == ["coef", "se(coef)", "coef lower 95%", "coef upper 95%"]
    assert type(m.plot()).__name__ == "Figure"
    assert doctest.testmod(sbg_module).failed == 0
