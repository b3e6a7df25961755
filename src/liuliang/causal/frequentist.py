"""Fixed-horizon frequentist comparison of two arms from their sufficient statistics.

Two tests, one result type (:class:`FrequentistResult`, treatment minus control):

- :func:`two_proportion_ztest` for 0/1 outcomes (retained at D7). The test statistic uses the pooled proportion
  under H0 (as ``statsmodels.stats.proportion.proportions_ztest`` does by default); the interval for the difference
  is the unpooled Wald interval (``confint_proportions_2indep(method="wald")``), because under the alternative the
  arms do not share a proportion.
- :func:`welch_ttest` for means (orders, revenue, cost per user): Welch's unequal-variance t with
  Welch–Satterthwaite degrees of freedom (Welch 1947), identical to ``scipy.stats.ttest_ind(equal_var=False)``.

Both also report the **relative lift** ``treatment/control − 1`` with a delta-method standard error, the way
GrowthBook (``gbstats/frequentist/tests.py``) and Eppo report it: for ``L = D/M`` with ``D`` the difference and
``M`` the control mean,

    Var(L) ≈ Var(D)/M² + D²·Var(M)/M⁴ − 2·D·Cov(D, M)/M³,

which for independent arms reduces to ``Var(ȳ_B)/ȳ_A² + ȳ_B²·Var(ȳ_A)/ȳ_A⁴`` (GrowthBook's formula). The z test's
lift interval uses the normal quantile, Welch's uses t with the Welch degrees of freedom (as gbstats does).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import stats

from liuliang.causal._result import FlatResult
from liuliang.causal.stats import SufficientStats
from liuliang.errors import ModelInputError

__all__ = ["FrequentistResult", "relative_lift_delta", "two_proportion_ztest", "welch_ttest"]


@dataclass(frozen=True)
class FrequentistResult(FlatResult):
    """Treatment minus control, absolute and relative, with intervals and two-sided p-values.

    Attributes
    ----------
    test: ``"two_proportion_z"``, ``"welch_t"`` or ``"cuped_welch_t"``. alpha: 1 − interval coverage.
    n_control, n_treatment, control_mean, treatment_mean: the inputs, echoed.
    difference, difference_se, difference_ci_lower, difference_ci_upper: treatment − control.
    statistic, df, p_value: the test of ``difference = 0`` (``df = inf`` for a z test).
    relative_lift, relative_lift_se, relative_lift_ci_lower, relative_lift_ci_upper, relative_lift_p_value:
    ``treatment_mean/control_mean − 1`` with its delta-method interval.
    """

    test: str
    alpha: float
    n_control: int
    n_treatment: int
    control_mean: float
    treatment_mean: float
    difference: float
    difference_se: float
    difference_ci_lower: float
    difference_ci_upper: float
    statistic: float
    df: float
    p_value: float
    relative_lift: float
    relative_lift_se: float
    relative_lift_ci_lower: float
    relative_lift_ci_upper: float
    relative_lift_p_value: float

    @property
    def significant(self) -> bool:
        return self.p_value < self.alpha


def check_alpha(owner: str, alpha: float) -> None:
    if not 0 < alpha < 1:
        raise ModelInputError(f"{owner}: alpha must be in (0, 1); got {alpha!r}")


def two_sided(statistic: float, df: float) -> float:
    """Two-sided p-value of a t (finite ``df``) or z (``df = inf``) statistic."""
    return float(2 * (stats.norm.sf(abs(statistic)) if math.isinf(df) else stats.t.sf(abs(statistic), df)))


def critical(alpha: float, df: float) -> float:
    return float(stats.norm.ppf(1 - alpha / 2) if math.isinf(df) else stats.t.ppf(1 - alpha / 2, df))


def relative_lift_delta(
    difference: float, var_difference: float, base: float, var_base: float, cov_difference_base: float
) -> tuple[float, float]:
    """``L = difference/base`` and its delta-method variance (first-order Taylor expansion of a ratio).

    ``base`` is the control mean, so ``L`` is the relative lift; ``cov_difference_base`` is ``−Var(ȳ_A)`` for
    independent arms and ``−Cov(ȳ_A − θx̄_A, ȳ_A)`` under CUPED.
    """
    lift = difference / base
    var = var_difference / base**2 + difference**2 * var_base / base**4 - 2 * difference * cov_difference_base / base**3
    return lift, max(var, 0.0)


def assemble(
    test: str,
    control: SufficientStats,
    treatment: SufficientStats,
    *,
    difference: float,
    var_difference: float,
    statistic: float,
    df: float,
    var_control_mean: float,
    cov_difference_control: float,
    alpha: float,
    control_mean: float | None = None,
    treatment_mean: float | None = None,
) -> FrequentistResult:
    """Shared tail of every test: intervals for the difference and the relative lift at one critical value."""
    se = math.sqrt(var_difference)
    crit = critical(alpha, df)
    base = control.mean
    if base == 0:
        lift = lift_se = lo = hi = lift_p = math.nan
    else:
        lift, lift_var = relative_lift_delta(difference, var_difference, base, var_control_mean, cov_difference_control)
        lift_se = math.sqrt(lift_var)
        lo, hi = lift - crit * lift_se, lift + crit * lift_se
        lift_p = two_sided(lift / lift_se, df) if lift_se > 0 else math.nan
    return FrequentistResult(
        test=test,
        alpha=alpha,
        n_control=control.n,
        n_treatment=treatment.n,
        control_mean=control.mean if control_mean is None else control_mean,
        treatment_mean=treatment.mean if treatment_mean is None else treatment_mean,
        difference=difference,
        difference_se=se,
        difference_ci_lower=difference - crit * se,
        difference_ci_upper=difference + crit * se,
        statistic=statistic,
        df=df,
        p_value=two_sided(statistic, df),
        relative_lift=lift,
        relative_lift_se=lift_se,
        relative_lift_ci_lower=lo,
        relative_lift_ci_upper=hi,
        relative_lift_p_value=lift_p,
    )


def _check_proportion(name: str, s: SufficientStats) -> None:
    if s.n < 1:
        raise ModelInputError(f"two_proportion_ztest: {name} arm is empty")
    if not s.is_binary_compatible:
        raise ModelInputError(
            f"two_proportion_ztest: {name} sums are not those of a 0/1 outcome (sum={s.sum}, "
            f"sum_squares={s.sum_squares}, n={s.n}); use welch_ttest for a mean"
        )


def two_proportion_ztest(
    control: SufficientStats, treatment: SufficientStats, *, alpha: float = 0.05
) -> FrequentistResult:
    """Two-proportion z test (pooled under H0) with unpooled Wald and delta-method lift intervals.

    Raises :class:`~liuliang.errors.ModelInputError` when both arms are all-0 or all-1: the pooled variance is
    zero and there is no test to report (rather than a silent p = 1).

    Examples
    --------
    >>> r = two_proportion_ztest(SufficientStats.from_proportion(10_000, 3_000),
    ...                          SufficientStats.from_proportion(10_000, 3_150))
    >>> round(r.difference, 3), r.p_value < 0.05
    (0.015, True)
    """
    check_alpha("two_proportion_ztest", alpha)
    _check_proportion("control", control)
    _check_proportion("treatment", treatment)
    pa_, pb = control.mean, treatment.mean
    pooled = (control.sum + treatment.sum) / (control.n + treatment.n)
    var_h0 = pooled * (1 - pooled) * (1 / control.n + 1 / treatment.n)
    if var_h0 <= 0:
        raise ModelInputError(
            "two_proportion_ztest: every unit in both arms has the same outcome, so the difference has no variance"
        )
    var_a, var_b = pa_ * (1 - pa_) / control.n, pb * (1 - pb) / treatment.n
    return assemble(
        "two_proportion_z",
        control,
        treatment,
        difference=pb - pa_,
        var_difference=var_a + var_b,
        statistic=(pb - pa_) / math.sqrt(var_h0),
        df=math.inf,
        var_control_mean=var_a,
        cov_difference_control=-var_a,
        alpha=alpha,
    )


def welch_df(var_a: float, n_a: int, var_b: float, n_b: int) -> float:
    """Welch–Satterthwaite degrees of freedom for the difference of two means (Welch 1947)."""
    qa, qb = var_a / n_a, var_b / n_b
    return (qa + qb) ** 2 / (qa**2 / (n_a - 1) + qb**2 / (n_b - 1))


def welch_ttest(control: SufficientStats, treatment: SufficientStats, *, alpha: float = 0.05) -> FrequentistResult:
    """Welch's t test of treatment − control (scipy's ``ttest_ind(equal_var=False)``), plus the relative lift.

    Raises :class:`~liuliang.errors.ModelInputError` when an arm has fewer than two units or both arms have zero
    variance.
    """
    check_alpha("welch_ttest", alpha)
    for name, s in (("control", control), ("treatment", treatment)):
        if s.n < 2:
            raise ModelInputError(f"welch_ttest: the {name} arm needs at least 2 units; got {s.n}")
    va, vb = control.variance, treatment.variance
    if va <= 0 and vb <= 0:
        raise ModelInputError("welch_ttest: both arms have zero variance, so the difference has no standard error")
    qa, qb = va / control.n, vb / treatment.n
    diff = treatment.mean - control.mean
    df = welch_df(va, control.n, vb, treatment.n)
    return assemble(
        "welch_t",
        control,
        treatment,
        difference=diff,
        var_difference=qa + qb,
        statistic=diff / math.sqrt(qa + qb),
        df=df,
        var_control_mean=qa,
        cov_difference_control=-qa,
        alpha=alpha,
    )
