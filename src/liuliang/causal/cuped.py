"""CUPED / regression adjustment from sufficient statistics (Deng, Xu, Kohavi & Walker 2013, WSDM).

Each unit's outcome ``y`` is replaced by ``y − θ(x − x̄)`` where ``x`` is a pre-assignment covariate (usually the
same metric in the weeks before the experiment). Because assignment is random, ``x`` has the same mean in every
arm, so the adjusted difference

    D = (ȳ_B − ȳ_A) − θ (x̄_B − x̄_A)

is still unbiased for the effect, and its variance shrinks by the factor ``1 − ρ²`` when θ is the regression slope.
Deng et al. (sec. 3.3) take θ from the **pooled** data, ``θ = cov(x, y)/var(x)`` over both arms together; GrowthBook's
``compute_theta`` (``gbstats/models/statistics.py``) does the same, and it is the default here. ``theta="within"``
instead pools the within-arm covariances, which makes ``D`` exactly the treatment coefficient of the OLS fit
``y ~ 1 + treatment + x`` (ANCOVA); the two agree to O(1/n). A number fixes θ (from an earlier period, say).

The standard error treats θ as known (as Deng et al. and gbstats do): each arm's adjusted variance is
``var(y) + θ²·var(x) − 2θ·cov(x, y)`` and the test is Welch's on those. The cost of estimating one slope from
thousands of users is O(1/n) and ignored. ``variance_reduction`` is ``1 − Var(D)/Var(ȳ_B − ȳ_A)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from liuliang.causal.frequentist import FrequentistResult, assemble, check_alpha, welch_df
from liuliang.causal.stats import CovariateStats
from liuliang.errors import ModelInputError

__all__ = ["CupedResult", "cuped_theta", "cuped_ttest"]


@dataclass(frozen=True)
class CupedResult(FrequentistResult):
    """A :class:`FrequentistResult` on the adjusted outcome, plus what the adjustment did.

    Attributes
    ----------
    theta: the slope used. theta_method: ``"pooled"``, ``"within"`` or ``"fixed"``.
    unadjusted_difference, unadjusted_difference_se: the plain Welch difference and its standard error.
    variance_reduction: ``1 − Var(adjusted)/Var(unadjusted)`` of the difference (0.3 = 30 % narrower variance).
    ``control_mean``/``treatment_mean`` are the adjusted arm means ``ȳ − θ(x̄ − x̄_pooled)``; the relative lift is
    ``D`` over the *unadjusted* control mean (as gbstats reports it).
    """

    theta: float
    theta_method: str
    unadjusted_difference: float
    unadjusted_difference_se: float
    variance_reduction: float


def cuped_theta(control: CovariateStats, treatment: CovariateStats, method: Literal["pooled", "within"]) -> float:
    """The CUPED slope from both arms' sums: pooled (Deng et al. 2013) or within-arm (ANCOVA / OLS)."""
    if method == "pooled":
        joint = control + treatment
        var_x = joint.covariate.variance
        cov = joint.covariance
    elif method == "within":
        var_x = (control.n - 1) * control.covariate.variance + (treatment.n - 1) * treatment.covariate.variance
        cov = (control.n - 1) * control.covariance + (treatment.n - 1) * treatment.covariance
    else:
        raise ModelInputError(f"cuped_theta: method must be 'pooled' or 'within'; got {method!r}")
    if not var_x > 0:
        raise ModelInputError("cuped_theta: the covariate has zero variance, so it cannot adjust anything")
    return cov / var_x


def cuped_ttest(
    control: CovariateStats,
    treatment: CovariateStats,
    *,
    theta: Literal["pooled", "within"] | float = "pooled",
    alpha: float = 0.05,
) -> CupedResult:
    """Welch's t test on the CUPED-adjusted outcome, from each arm's :class:`CovariateStats`.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(2, 5000)); y = x + rng.normal(scale=0.5, size=(2, 5000)); y[1] += 0.05
    >>> r = cuped_ttest(CovariateStats.from_values(y[0], x[0]), CovariateStats.from_values(y[1], x[1]))
    >>> r.variance_reduction > 0.7
    True
    """
    check_alpha("cuped_ttest", alpha)
    for name, s in (("control", control), ("treatment", treatment)):
        if s.n < 2:
            raise ModelInputError(f"cuped_ttest: the {name} arm needs at least 2 units; got {s.n}")
    if isinstance(theta, str):
        th, method = cuped_theta(control, treatment, theta), theta  # type: ignore[arg-type]
    else:
        th, method = float(theta), "fixed"
        if not math.isfinite(th):
            raise ModelInputError(f"cuped_ttest: a fixed theta must be finite; got {theta!r}")

    def adjusted_variance(s: CovariateStats) -> float:
        v = s.outcome.variance + th**2 * s.covariate.variance - 2 * th * s.covariance
        return max(v, 0.0)

    va, vb = adjusted_variance(control), adjusted_variance(treatment)
    if va <= 0 and vb <= 0:
        raise ModelInputError("cuped_ttest: the adjusted outcome has zero variance in both arms")
    qa, qb = va / control.n, vb / treatment.n
    x_pooled = (control.x_sum + treatment.x_sum) / (control.n + treatment.n)
    adj_a = control.outcome.mean - th * (control.covariate.mean - x_pooled)
    adj_b = treatment.outcome.mean - th * (treatment.covariate.mean - x_pooled)
    diff = adj_b - adj_a
    unadj_var = control.outcome.variance / control.n + treatment.outcome.variance / treatment.n
    base = assemble(
        "cuped_welch_t",
        control.outcome,
        treatment.outcome,
        difference=diff,
        var_difference=qa + qb,
        statistic=diff / math.sqrt(qa + qb),
        df=welch_df(va, control.n, vb, treatment.n),
        var_control_mean=control.outcome.variance / control.n,
        cov_difference_control=-(control.outcome.variance - th * control.covariance) / control.n,
        alpha=alpha,
        control_mean=adj_a,
        treatment_mean=adj_b,
    )
    return CupedResult(
        **{k: getattr(base, k) for k in base.__dataclass_fields__},
        theta=th,
        theta_method=method,
        unadjusted_difference=treatment.outcome.mean - control.outcome.mean,
        unadjusted_difference_se=math.sqrt(unadj_var),
        variance_reduction=1 - (qa + qb) / unadj_var if unadj_var > 0 else math.nan,
    )
