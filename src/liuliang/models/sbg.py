"""Shifted-beta-geometric (sBG) period retention (Fader & Hardie 2007, "How to project customer retention").

Each customer has a constant per-period churn probability θ, and θ varies across customers as Beta(α, β). The
cohort's retention rate then *rises* with tenure (the fragile churn early, the loyal stay) without any customer
changing — the point of the model, and why a fitted constant rate under-projects long-run survivors.

- P(T = t) = B(α + 1, β + t − 1) / B(α, β), t = 1, 2, ... (T: the period in which the customer churns)
- S(t) = P(T > t) = B(α, β + t) / B(α, β)
- r(t) = S(t) / S(t − 1) = (β + t − 1) / (α + β + t − 1)

The input is **survivor counts**: of ``n_0`` customers at period 0, ``n_t`` are still customers at period ``t``.
Several cohorts can be fitted together (they share α, β; each cohort's survivors at its last observed period are
right-censored, so young cohorts count for what they show and no more).

Which product "retention" is survival? In a :class:`~liuliang.metrics.retention.RetentionTable`:

- ``criterion="on_or_after"``: a member counts at offset k when active at some offset ≥ k, i.e. when its last
  activity is at k or later. Reading churn as "the period after the last activity", that count is exactly the
  number of survivors at k. Accepted.
- ``criterion="streak"``: active at every offset 1..k, i.e. survival of an unbroken habit (churn at the first
  missed period). Non-increasing by construction. Accepted.
- ``criterion="on"`` (and ``on_or_before``, ``brackets``): users who skip a period and come back are counted again,
  so the curve is not a survival curve (it can rise) and the sBG's "once gone, gone for good" likelihood would be
  wrong. Rejected; fit such curves with :class:`~liuliang.models.curves.RetentionCurveFitter`.

One caveat of ``on_or_after``: a user quiet since day 3 who returns on day 20 counts as alive on days 4..20 only
once day 20 has been seen, so the latest complete offsets understate survival. ``lookahead`` drops that many of
each cohort's most recent complete offsets.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pyarrow.compute as pc
from scipy import special

from liuliang.errors import LiuliangError
from liuliang.models._likelihood import MLEFitter, check_confidence, dlbeta, lbeta, maximise, require_plotly

if TYPE_CHECKING:
    from liuliang.metrics.retention.result import RetentionTable

#: Criteria whose counts are survivor counts (see the module docstring).
SURVIVAL_CRITERIA = ("on_or_after", "streak")


def _survivor_arrays(survivors: Any) -> list[np.ndarray]:
    """One float array per cohort; a 1-D input is one cohort, a 2-D array or a list of sequences is several."""
    several = isinstance(survivors, np.ndarray | Sequence) and len(survivors) and np.ndim(survivors[0]) == 1
    cohorts = list(survivors) if several else [survivors]
    out = []
    for i, c in enumerate(cohorts):
        arr = np.asarray(c, dtype=float)
        if arr.ndim != 1 or arr.size < 2:
            raise LiuliangError(
                f"ShiftedBetaGeometricFitter: cohort {i} needs survivor counts for periods 0..n with n >= 1; "
                f"got {arr.tolist()!r}"
            )
        if np.any(~np.isfinite(arr)) or np.any(arr < 0):
            raise LiuliangError(f"ShiftedBetaGeometricFitter: cohort {i} has negative or missing counts")
        rises = np.flatnonzero(np.diff(arr) > 0)
        if rises.size:
            k = int(rises[0]) + 1
            raise LiuliangError(
                f"ShiftedBetaGeometricFitter: cohort {i} rises at period {k} ({arr[k - 1]:g} -> {arr[k]:g}); survivor "
                "counts never rise (customers who came back are not survivors: use on_or_after retention, or "
                "RetentionCurveFitter for 'active in period k' curves)"
            )
        out.append(arr)
    return out


def sbg_negloglik(
    x: np.ndarray, churn_t: np.ndarray, churn_w: np.ndarray, alive_t: np.ndarray, alive_w: np.ndarray
) -> tuple[float, np.ndarray]:
    """Negative log-likelihood and gradient in (log α, log β) for weighted churn periods and censored survivors."""
    a, b = np.exp(x)
    lb0 = lbeta(a, b)
    da0, db0 = dlbeta(a, b)
    # churned in period t: ln B(a + 1, b + t - 1) - ln B(a, b)
    lp = lbeta(a + 1, b + churn_t - 1) - lb0
    dpa, dpb = dlbeta(a + 1, b + churn_t - 1)
    # still alive after period T: ln B(a, b + T) - ln B(a, b)
    ls = lbeta(a, b + alive_t) - lb0
    dsa, dsb = dlbeta(a, b + alive_t)
    ll = churn_w @ lp + alive_w @ ls
    ga = churn_w @ (dpa - da0) + alive_w @ (dsa - da0)
    gb = churn_w @ (dpb - db0) + alive_w @ (dsb - db0)
    if not np.isfinite(ll):
        return np.inf, np.zeros(2)
    return -float(ll), -np.array([ga * a, gb * b])


class ShiftedBetaGeometricFitter(MLEFitter):
    """Shifted-beta-geometric retention model, fitted by maximum likelihood on survivor counts.

    Parameters
    ----------
    confidence:
        Level of the intervals in :attr:`summary` (0.95).

    Attributes
    ----------
    alpha_, beta_:
        Beta(α, β) heterogeneity of the per-period churn probability.
    params_, standard_errors_, variance_matrix_:
        Estimates, Hessian standard errors and covariance (natural scale, delta method from log scale).
    log_likelihood_:
        Maximised log-likelihood.
    survivors_:
        The survivor counts fitted, one array per cohort.
    n_obs_:
        Customers in the fit (sum of the cohorts' period-0 counts).

    See Also
    --------
    liuliang.models.curves.RetentionCurveFitter: curves of "active in period k", which are not survival.

    Examples
    --------
    >>> regular = [1000, 631, 468, 382, 326, 289, 262, 241]
    >>> m = ShiftedBetaGeometricFitter().fit(regular)
    >>> round(m.alpha_, 3), round(m.beta_, 3)
    (0.704, 1.182)
    >>> int(m.projected_survivors(12, 1000)[-1].round())  # the paper's year 12: 173 actual
    170
    """

    _param_names: ClassVar[tuple[str, ...]] = ("alpha", "beta")
    _transforms: ClassVar[tuple[str, ...]] = ("log", "log")

    def __init__(self, confidence: float = 0.95) -> None:
        self.confidence = confidence

    # -- fitting ----------------------------------------------------------------------------------------------
    def fit(self, survivors: Any) -> ShiftedBetaGeometricFitter:
        """Fit on survivor counts at periods 0..n: one sequence, or a list of them (cohorts, any lengths).

        Active-per-period counts of a contractual business (a lapsed subscriber never comes back) are survivor
        counts and can be passed as they are; counts that rise are refused with a pointer to the alternatives.
        """
        check_confidence(type(self).__name__, self.confidence)
        cohorts = _survivor_arrays(survivors)
        churn: dict[int, float] = {}
        alive: dict[int, float] = {}
        for arr in cohorts:
            lost = -np.diff(arr)
            for t, w in enumerate(lost, start=1):
                if w:
                    churn[t] = churn.get(t, 0.0) + w
            if arr[-1]:
                alive[arr.size - 1] = alive.get(arr.size - 1, 0.0) + arr[-1]
        if not churn:
            raise LiuliangError("ShiftedBetaGeometricFitter: nobody churned, so churn heterogeneity is not identified")
        if not alive:
            raise LiuliangError("ShiftedBetaGeometricFitter: nobody survived to the end; the sBG has no finite fit")
        ct, cw = (np.array(list(churn), dtype=float), np.array(list(churn.values())))
        at, aw = (np.array(list(alive), dtype=float), np.array(list(alive.values())))

        def nll(x: np.ndarray) -> tuple[float, np.ndarray]:
            return sbg_negloglik(x, ct, cw, at, aw)

        mle = maximise(nll, [(0.0, 0.0), (-1.0, 1.0), (1.0, 2.0)], model="ShiftedBetaGeometricFitter")
        self.survivors_ = cohorts
        self._store(mle, n_obs=float(sum(c[0] for c in cohorts)))
        self.alpha_, self.beta_ = (float(v) for v in self.params_)
        return self

    def fit_retention_table(
        self, table: RetentionTable, *, breakdown: str | None = None, lookahead: int = 0
    ) -> ShiftedBetaGeometricFitter:
        """Fit on the complete cells of a survival-like retention table (``on_or_after`` or ``streak``).

        Each cohort contributes ``cohort_size`` at period 0 and ``count`` at offsets 1..L, L being its last
        complete offset (minus ``lookahead``); incomplete cells are never used, so the youngest cohorts enter
        censored at what they have shown. ``breakdown`` picks one breakdown value (required when there are several).
        """
        spec = table.spec
        if spec.criterion not in SURVIVAL_CRITERIA:
            raise LiuliangError(
                f"ShiftedBetaGeometricFitter.fit_retention_table needs survivor counts: criterion 'on_or_after' or "
                f"'streak'; got {spec.criterion!r} (users who return after a gap make that curve non-survival; "
                "use RetentionCurveFitter for it)"
            )
        if spec.aggregation != "users":
            raise LiuliangError(
                f"ShiftedBetaGeometricFitter counts users; got aggregation={spec.aggregation!r} (revenue retention "
                "is not a survival curve)"
            )
        if not isinstance(lookahead, int) or lookahead < 0:
            raise LiuliangError(f"ShiftedBetaGeometricFitter: lookahead must be an integer >= 0; got {lookahead!r}")
        cohorts = table_survivors(table, breakdown=breakdown, lookahead=lookahead)
        if not cohorts:
            raise LiuliangError(
                "ShiftedBetaGeometricFitter: no cohort has a complete offset >= 1 (after lookahead) to fit on"
            )
        return self.fit(cohorts)

    # -- predictions ------------------------------------------------------------------------------------------
    def survival(self, t: Any) -> np.ndarray:
        """S(t): share of a new cohort still customers at period t (S(0) = 1)."""
        self._check_fitted()
        t = np.asarray(t, dtype=float)
        return np.exp(lbeta(self.alpha_, self.beta_ + t) - lbeta(self.alpha_, self.beta_))

    def retention_rate(self, t: Any) -> np.ndarray:
        """r(t) = S(t) / S(t - 1): share of period t-1's survivors who renew at period t (t >= 1)."""
        self._check_fitted()
        t = np.asarray(t, dtype=float)
        if np.any(t < 1):
            raise LiuliangError("ShiftedBetaGeometricFitter.retention_rate is defined for periods t >= 1")
        return (self.beta_ + t - 1) / (self.alpha_ + self.beta_ + t - 1)

    def churn_probability(self, t: Any) -> np.ndarray:
        """P(T = t): share of a new cohort lost in period t (t >= 1)."""
        self._check_fitted()
        t = np.asarray(t, dtype=float)
        return np.exp(lbeta(self.alpha_ + 1, self.beta_ + t - 1) - lbeta(self.alpha_, self.beta_))

    def projected_survivors(self, n: int, cohort_size: float) -> np.ndarray:
        """Expected survivors at periods 0..n of a cohort of ``cohort_size``."""
        return cohort_size * self.survival(np.arange(int(n) + 1))

    def derl(self, discount_rate: float, renewals: Any = 0) -> np.ndarray:
        """Discounted expected residual lifetime (Fader & Hardie 2010, eq. 6).

        For a customer who has made ``renewals`` renewals (alive through period ``renewals``; 0 = just acquired)
        and is about to face the next renewal decision: the expected number of future payments, the first one
        undiscounted, each later one discounted by ``1 + discount_rate`` per period:
        ``(β + n) / (α + β + n) · ₂F₁(1, β + n + 1; α + β + n + 1; 1 / (1 + d))`` with n = ``renewals``.
        Multiply by the margin per period to value the customer. (DEL of a new customer = 1 + DERL(d, 0) / (1 + d).)
        """
        self._check_fitted()
        if not discount_rate > 0:
            raise LiuliangError(f"ShiftedBetaGeometricFitter.derl needs discount_rate > 0; got {discount_rate!r}")
        n = np.asarray(renewals, dtype=float)
        a, b = self.alpha_, self.beta_
        return (b + n) / (a + b + n) * special.hyp2f1(1.0, b + n + 1, a + b + n + 1, 1.0 / (1.0 + discount_rate))

    # -- display ----------------------------------------------------------------------------------------------
    def _repr_fitted(self) -> str:
        return f"{len(self.survivors_)} cohort(s), {self.n_obs_:,.0f} customers"

    def plot(self, periods: int | None = None) -> Any:
        """Plotly figure: observed survival share of each cohort and the fitted S(t) out to ``periods``."""
        self._check_fitted()
        go = require_plotly(type(self).__name__)
        horizon = periods if periods is not None else max(c.size for c in self.survivors_) - 1
        fig = go.Figure()
        for i, c in enumerate(self.survivors_):
            fig.add_trace(go.Scatter(x=np.arange(c.size), y=c / c[0], mode="markers", name=f"cohort {i} observed"))
        t = np.arange(horizon + 1)
        fig.add_trace(go.Scatter(x=t, y=self.survival(t), mode="lines", name="sBG S(t)"))
        fig.update_layout(xaxis_title="period", yaxis_title="share surviving", yaxis_range=[0, 1.02])
        return fig


def table_survivors(table: RetentionTable, *, breakdown: str | None, lookahead: int) -> list[np.ndarray]:
    """Survivor arrays (cohort_size, count_1, ..., count_L) per cohort from a retention table's complete cells."""
    t = table.to_arrow()
    names = sorted(set(t["breakdown"].to_pylist()))
    if breakdown is None:
        if len(names) > 1:
            raise LiuliangError(f"the retention table has breakdowns {names}; pass breakdown= to pick one")
        breakdown = names[0] if names else "all"
    elif breakdown not in names:
        raise LiuliangError(f"breakdown {breakdown!r} is not in the retention table (found {names})")
    rows = t.filter(pc.equal(t["breakdown"], breakdown)).to_pylist()
    by_cohort: dict[int, dict[int, dict[str, Any]]] = {}
    for r in rows:
        by_cohort.setdefault(r["cohort"], {})[r["period_offset"]] = r
    out = []
    for cohort in sorted(by_cohort):
        cells = by_cohort[cohort]
        size = next(iter(cells.values()))["cohort_size"]
        if not size:
            continue
        counts = [float(size)]
        k = 1
        while k in cells and not cells[k]["incomplete"]:
            counts.append(float(cells[k]["count"]))
            k += 1
        counts = counts[: len(counts) - lookahead] if lookahead else counts
        if len(counts) >= 2:
            out.append(np.asarray(counts))
    return out
