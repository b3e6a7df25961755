"""Product retention curves: how the share of a cohort active at age a decays, and where it levels off.

A day-N (or week-N) retention curve is not a survival curve — users skip days and come back — so instead of a
churn process this fits a *shape* m(a) to the share active at each age a >= 1, weighting each point by its cohort
size through a binomial likelihood (a point from 50,000 users says more than one from 50). Four shapes, each with
``level`` = m(1), the share active at age 1:

============  =================================================================  ============================
model         m(a)                                                               habit floor (a → ∞)
============  =================================================================  ============================
exponential   level · exp(−decay · (a − 1))                                      0
power         level · a^(−exponent)                                              0
power_floor   level · (floor_share + (1 − floor_share) · a^(−exponent))          level · floor_share
mixture       level · ((1 − habit_share) · exp(−hunter_decay · (a − 1))          level · habit_share ·
                       + habit_share · (floor_share + (1 − floor_share) ·        floor_share
                         a^(−habit_exponent)))
============  =================================================================  ============================

The mixture is the subsidy story: "incentive hunters" leave fast and completely once the red packets stop;
"habit users" fade slowly (power law) towards a floor who stay. The habit floor — the share of a cohort that is
still active however long you wait — is the number to compare across channels and campaigns.

Model choice (``model="auto"``): each shape is fitted on all but the last ``holdout`` ages and scored on those
(cohort-size-weighted mean squared error of the share), because the point of a curve is to extrapolate and
in-sample fit always favours the most flexible shape. The winner is refitted on all ages.

Uncertainty. Cohorts differ by more than binomial noise (a launch-week cohort is not an organic one), and with
100,000-user cohorts binomial standard errors would be absurdly small; the covariance is therefore scaled by the
Pearson dispersion when it exceeds 1 (quasi-binomial). Projections (:meth:`RetentionCurveFitter.project`) use the
delta method on the logit scale — deterministic, no seed — and cover parameter uncertainty only: they do not
include the risk that the shape itself is wrong beyond the observed ages.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from scipy import optimize, special, stats

from liuliang._display import dataclass_html
from liuliang.errors import ConvergenceError, LiuliangError, NotFittedError
from liuliang.models._likelihood import (
    MLEFitter,
    MLEResult,
    check_confidence,
    from_natural,
    maximise,
    require_plotly,
    to_natural,
)

if TYPE_CHECKING:
    from liuliang.metrics.retention.result import RetentionTable

Shape = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def _exponential(u: np.ndarray, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    q, lam = special.expit(u[0]), np.exp(u[1])
    m = q * np.exp(-lam * (a - 1))
    return m, np.stack([m * (1 - q), -m * lam * (a - 1)])


def _power(u: np.ndarray, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    q, b = special.expit(u[0]), np.exp(u[1])
    m = q * a ** (-b)
    return m, np.stack([m * (1 - q), -m * b * np.log(a)])


def _power_floor(u: np.ndarray, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    q, b, c, phi = special.expit(u[0]), np.exp(u[1]), np.exp(u[2]), special.expit(u[3])
    z = 1 + (a - 1) / c
    p = z ** (-b)
    m = q * (phi + (1 - phi) * p)
    d = q * (1 - phi) * p
    jac = np.stack([m * (1 - q), -d * b * np.log(z), d * b * (a - 1) / (c * z), q * (1 - p) * phi * (1 - phi)])
    return m, jac


def _mixture(u: np.ndarray, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    q, pi, lam, b, phi = special.expit(u[0]), special.expit(u[1]), np.exp(u[2]), np.exp(u[3]), special.expit(u[4])
    e = np.exp(-lam * (a - 1))
    p = a ** (-b)
    h = phi + (1 - phi) * p
    m = q * ((1 - pi) * e + pi * h)
    jac = np.stack(
        [
            m * (1 - q),
            q * (h - e) * pi * (1 - pi),
            -q * (1 - pi) * e * lam * (a - 1),
            -q * pi * (1 - phi) * p * b * np.log(a),
            q * pi * (1 - p) * phi * (1 - phi),
        ]
    )
    return m, jac


@dataclass(frozen=True)
class _Model:
    shape: Shape
    names: tuple[str, ...]
    transforms: tuple[str, ...]
    floor: Callable[[dict[str, float]], float]


MODELS: dict[str, _Model] = {
    "exponential": _Model(_exponential, ("level", "decay"), ("logit", "log"), lambda p: 0.0),
    "power": _Model(_power, ("level", "exponent"), ("logit", "log"), lambda p: 0.0),
    "power_floor": _Model(
        _power_floor,
        ("level", "exponent", "scale", "floor_share"),
        ("logit", "log", "log", "logit"),
        lambda p: p["level"] * p["floor_share"],
    ),
    "mixture": _Model(
        _mixture,
        ("level", "habit_share", "hunter_decay", "habit_exponent", "floor_share"),
        ("logit", "logit", "log", "log", "logit"),
        lambda p: p["level"] * p["habit_share"] * p["floor_share"],
    ),
}


#: Shapes with a habit floor to estimate (the others assume it is 0).
FLOOR_MODELS = ("power_floor", "mixture")


def curve(model: str, params: dict[str, float] | Sequence[float], ages: Any) -> np.ndarray:
    """m(a) of a named model at natural-scale parameters (a mapping by name, or a sequence in order)."""
    spec = MODELS[model]
    values = [params[n] for n in spec.names] if isinstance(params, dict) else list(params)
    return spec.shape(from_natural(values, spec.transforms), np.asarray(ages, dtype=float))[0]


def binomial_negloglik(u: np.ndarray, shape: Shape, a: np.ndarray, r: np.ndarray, n: np.ndarray) -> tuple[float, Any]:
    """−Σ n (r log m + (1 − r) log(1 − m)) and its gradient in the unconstrained parameters."""
    with np.errstate(all="ignore"):
        m, jac = shape(u, a)
    if not np.all(np.isfinite(m)) or np.any(m <= 0) or np.any(m >= 1):
        return np.inf, np.zeros(u.size)
    ll = n @ (r * np.log(m) + (1 - r) * np.log1p(-m))
    score = n * (r / m - (1 - r) / (1 - m))
    return -float(ll), -(jac @ score)


def _starts(model: str, a: np.ndarray, r: np.ndarray, n: np.ndarray) -> list[np.ndarray]:
    first = a == a.min()
    q0 = float(np.clip(np.average(r[first], weights=n[first]), 1e-3, 0.999))
    late = a >= np.quantile(a, 0.75)
    tail = float(np.clip(np.average(r[late], weights=n[late]) / q0, 1e-3, 0.999))
    if model in ("exponential", "power"):
        grid = [[q0, s] for s in (0.05, 0.3, 1.0)]
    elif model == "power_floor":
        grid = [[q0, s, c, f] for s in (0.3, 1.0) for c in (1.0, 10.0) for f in (tail / 2, 0.3)]
    else:
        grid = [[q0, pi, lam, b, f] for pi in (0.3, 0.7) for lam in (0.3, 1.0) for b in (0.2, 1.0) for f in (0.2, 0.6)]
    return [from_natural(g, MODELS[model].transforms) for g in grid]


def _fit_one(model: str, a: np.ndarray, r: np.ndarray, n: np.ndarray) -> MLEResult:
    spec = MODELS[model]

    def nll(u: np.ndarray) -> tuple[float, Any]:
        return binomial_negloglik(u, spec.shape, a, r, n)

    return maximise(nll, _starts(model, a, r, n), model=f"RetentionCurveFitter({model})")


#: The logit-scale parameters whose product is each floor model's habit floor (``_Model.floor``).
FLOOR_FACTORS: dict[str, tuple[str, ...]] = {
    "power_floor": ("level", "floor_share"),
    "mixture": ("level", "habit_share", "floor_share"),
}


def _log_floor(model: str) -> tuple[Callable[[np.ndarray], float], Callable[[np.ndarray], np.ndarray]]:
    """log(habit floor) as a function of the unconstrained parameters (the profile's equality constraint), and its
    gradient. The floor is a product of logit-scale shares, so log floor = Σ log expit(u_i) and the gradient is
    expit(−u_i) on those coordinates: exact, where SLSQP's finite differences cost as much as the objective."""
    spec = MODELS[model]
    idx = [spec.names.index(name) for name in FLOOR_FACTORS[model]]
    assert all(spec.transforms[i] == "logit" for i in idx)

    def log_floor(u: np.ndarray) -> float:
        return float(np.sum(special.log_expit(np.asarray(u, dtype=float)[idx])))

    def grad(u: np.ndarray) -> np.ndarray:
        g = np.zeros(len(spec.names))
        g[idx] = special.expit(-np.asarray(u, dtype=float)[idx])
        return g

    return log_floor, grad


def _profile_floor(model: str, nll: Callable[[np.ndarray], tuple[float, Any]], mle: MLEResult, cut: float) -> tuple:
    """Profile-likelihood interval of the habit floor: the floors F whose best fit with floor = F is within ``cut``
    of the optimum in negative log-likelihood.

    Why a profile and not the delta method: the floor is the parameter the data pin down least, and when its
    estimate sits near 0 (a logit at -inf) the Hessian sees a flat direction of zero width, so a delta-method
    interval collapses onto the estimate exactly when the data say least. The profile asks the data directly.
    """
    log_floor, log_floor_grad = _log_floor(model)
    best = mle.neg_log_likelihood

    def excess(v: float) -> float:
        cons = {"type": "eq", "fun": lambda u: log_floor(u) - np.log(v), "jac": log_floor_grad}
        starts = [mle.x]
        out = np.inf
        for x0 in starts:
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = optimize.minimize(
                    lambda u: nll(u)[0] - best,
                    x0,
                    jac=lambda u: nll(u)[1],
                    method="SLSQP",
                    constraints=[cons],
                    options={"maxiter": 500, "ftol": 1e-10},
                )
            if np.isfinite(res.fun) and abs(cons["fun"](res.x)) < 1e-6:
                out = min(out, float(res.fun))
        return out

    def bisect(inside: float, outside: float) -> float:
        # geometric bisection between a floor inside the interval and one outside it (Brent's method on log floor
        # was tried: as many refits, each slower, since its probes land far from the optimum more often)
        for _ in range(14):
            mid = float(np.sqrt(inside * outside))
            if excess(mid) <= cut:
                inside = mid
            else:
                outside = mid
        return float(np.sqrt(inside * outside))

    f_hat = float(np.exp(log_floor(mle.x)))
    tiny, top = 1e-6, 0.999
    lower = 0.0 if f_hat <= tiny or excess(tiny) <= cut else bisect(f_hat, tiny)
    start = max(f_hat, tiny)
    upper = top if excess(top) <= cut else bisect(start, top)
    return lower, upper


@dataclass(frozen=True)
class CurveProjection:
    """Projected retention at chosen ages with a delta-method interval (logit scale).

    Attributes
    ----------
    model: the fitted shape.
    confidence: interval level.
    table: Arrow table (age, retention, lower, upper).
    method: how the interval was made.
    """

    model: str
    confidence: float
    table: pa.Table
    method: str = "delta method on the logit scale (parameter uncertainty only)"

    def to_arrow(self) -> pa.Table:
        return self.table

    def _repr_html_(self) -> str:
        return dataclass_html(self)

    def to_pandas(self) -> pd.DataFrame:
        return self.table.to_pandas()

    def at(self, age: float) -> float:
        """Projected retention at one of the projected ages."""
        rows = self.table.filter(pc.equal(self.table["age"], float(age)))
        if not rows.num_rows:
            raise KeyError(age)
        return float(rows["retention"][0].as_py())


class RetentionCurveFitter(MLEFitter):
    """Fit a retention-curve shape (or pick one by held-out error) to (age, retained share, cohort size).

    Parameters
    ----------
    model:
        ``"auto"`` (choose by held-out error), ``"exponential"``, ``"power"``, ``"power_floor"`` or ``"mixture"``.
    holdout:
        Number of last distinct ages held out when ``model="auto"`` (None: a quarter of them, at least 1).
    scale_by_dispersion:
        Scale the covariance by the Pearson dispersion when > 1 (quasi-binomial; see module docstring).
    confidence:
        Level of :attr:`summary` and :meth:`project` intervals (0.95).

    Attributes
    ----------
    model_:
        The fitted shape's name.
    params_, standard_errors_, variance_matrix_, log_likelihood_:
        Estimates (named per shape), standard errors, covariance and binomial log-likelihood.
    habit_floor_:
        Long-run share of a cohort that stays active (0 for exponential and power).
    dispersion_:
        Pearson chi-square over residual degrees of freedom (about 1 when the binomial model holds).
    selection_:
        With ``model="auto"``: a DataFrame of each candidate's held-out error and status; otherwise None.
    n_obs_:
        Number of (age, share) points.

    Examples
    --------
    >>> ages = np.arange(1, 31)
    >>> share = curve("power_floor", {"level": 0.4, "exponent": 0.8, "scale": 3.0, "floor_share": 0.25}, ages)
    >>> m = RetentionCurveFitter(model="power_floor").fit(ages, share, np.full(30, 10_000))
    >>> round(m.habit_floor_, 3)
    0.1
    """

    _transforms: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        model: str = "auto",
        *,
        selection: str = "aic",
        holdout: int | None = None,
        scale_by_dispersion: bool = True,
        confidence: float = 0.95,
    ) -> None:
        self.model = model
        self.selection = selection
        self.holdout = holdout
        self.scale_by_dispersion = scale_by_dispersion
        self.confidence = confidence

    # -- fitting ----------------------------------------------------------------------------------------------
    def _validate(self) -> None:
        if self.model != "auto" and self.model not in MODELS:
            raise LiuliangError(
                f"RetentionCurveFitter: model must be 'auto' or one of {', '.join(MODELS)}; got {self.model!r}"
            )
        if self.selection not in ("aic", "holdout"):
            raise LiuliangError(f"RetentionCurveFitter: selection must be 'aic' or 'holdout'; got {self.selection!r}")
        if self.holdout is not None and (not isinstance(self.holdout, int) or self.holdout < 1):
            raise LiuliangError(f"RetentionCurveFitter: holdout must be an integer >= 1 or None; got {self.holdout!r}")
        check_confidence(type(self).__name__, self.confidence)

    def fit(self, age: Any, retained: Any, cohort_size: Any) -> RetentionCurveFitter:
        """Fit on points (age >= 1, share active at that age, users the share is over); repeated ages are fine."""
        self._validate()
        a = np.asarray(age, dtype=float).ravel()
        r = np.asarray(retained, dtype=float).ravel()
        n = np.broadcast_to(np.asarray(cohort_size, dtype=float), a.shape).astype(float)
        if not (a.shape == r.shape == n.shape):
            raise LiuliangError("RetentionCurveFitter: age, retained and cohort_size must have the same length")
        if np.any(~np.isfinite(a)) or np.any(a < 1):
            raise LiuliangError("RetentionCurveFitter: ages must be >= 1 (age 0 is the cohort itself)")
        if np.any(~np.isfinite(r)) or np.any((r < 0) | (r > 1)):
            raise LiuliangError("RetentionCurveFitter: retained must be shares in [0, 1] (divide counts by size)")
        if np.any(~np.isfinite(n)) or np.any(n < 0):
            raise LiuliangError("RetentionCurveFitter: cohort_size must be >= 0")
        keep = n > 0
        a, r, n = a[keep], r[keep], n[keep]
        distinct = np.unique(a)
        if distinct.size < 3:
            raise LiuliangError("RetentionCurveFitter: need points at 3 or more distinct ages")
        self.selection_: pd.DataFrame | None = None
        chosen, mle = self.model, None
        if self.model == "auto":
            chosen, mle = self._select(a, r, n, distinct)
        spec = MODELS[chosen]
        if mle is None:
            mle = _fit_one(chosen, a, r, n)
        unscaled = mle
        m = spec.shape(mle.x, a)[0]
        dof = a.size - mle.x.size
        chi2 = float(np.sum(n * (r - m) ** 2 / (m * (1 - m))))
        self.dispersion_ = chi2 / dof if dof > 0 else float("nan")
        if self.scale_by_dispersion and np.isfinite(self.dispersion_) and self.dispersion_ > 1:
            mle = MLEResult(mle.x, mle.neg_log_likelihood, mle.hessian / self.dispersion_, mle.iterations)
        self.model_ = chosen
        self._store(mle, n_obs=float(a.size), names=spec.names, transforms=spec.transforms)
        self.habit_floor_ = float(spec.floor(dict(self.params_.items())))
        self._floor_interval: tuple[float, float] | None = (0.0, 0.0)
        self._floor_profile: Callable[[], tuple[float, float]] | None = None
        if chosen in FLOOR_MODELS:
            scale = max(self.dispersion_, 1.0) if self.scale_by_dispersion and np.isfinite(self.dispersion_) else 1.0
            cut = float(stats.chi2.ppf(self.confidence, 1)) / 2 * scale

            def nll(u: np.ndarray) -> tuple[float, Any]:
                return binomial_negloglik(u, spec.shape, a, r, n)

            self._floor_interval = None
            self._floor_profile = lambda: _profile_floor(chosen, nll, unscaled, cut)
        self._data_ = (a, r, n)
        return self

    @property
    def habit_floor_interval_(self) -> tuple[float, float]:
        """Profile-likelihood interval of ``habit_floor_`` ((0, 0) for shapes without a floor).

        Computed on first use, then kept: the profile refits the curve some 30 times under a constraint (about 10x
        the fit itself), and callers that only project (the scorecard, the ebb forecast's point path) never read it.
        """
        if not hasattr(self, "_floor_interval"):
            raise NotFittedError(f"{type(self).__name__} is not fitted yet: call fit(...) first")
        if self._floor_interval is None and self._floor_profile is not None:
            self._floor_interval = self._floor_profile()
        return self._floor_interval or (0.0, 0.0)

    def _select(self, a: np.ndarray, r: np.ndarray, n: np.ndarray, distinct: np.ndarray) -> tuple[str, Any]:
        k = self.holdout if self.holdout is not None else max(1, round(distinct.size / 4))
        if distinct.size - k < 3:
            raise LiuliangError(
                f"RetentionCurveFitter: holding out {k} of {distinct.size} ages leaves fewer than 3 to fit on"
            )
        cut = distinct[-k]
        train, test = a < cut, a >= cut
        w = n[test] / n[test].sum()
        rows, fits, full = [], {}, {}
        for name, spec in MODELS.items():
            row: dict[str, Any] = {"model": name, "n_params": len(spec.names)}
            try:
                mle = _fit_one(name, a[train], r[train], n[train])
                full[name] = _fit_one(name, a, r, n) if self.selection == "aic" else None
            except ConvergenceError as exc:
                rows.append({**row, "holdout_mse": np.nan, "holdout_deviance": np.nan, "status": str(exc)})
                continue
            m = spec.shape(mle.x, a[test])[0]
            fits[name] = mle
            deviance = 2 * binomial_negloglik(mle.x, spec.shape, a[test], r[test], n[test])[0]
            nll_all = full[name].neg_log_likelihood if self.selection == "aic" else np.nan
            rows.append(
                {
                    **row,
                    "holdout_mse": float(w @ (r[test] - m) ** 2),
                    "holdout_deviance": deviance,
                    "neg_log_likelihood": nll_all,
                    "status": "ok",
                }
            )
        if not fits:
            raise ConvergenceError("RetentionCurveFitter: no candidate shape converged; pass model= explicitly")
        table = pd.DataFrame(rows)
        richest = max(fits, key=lambda m: len(MODELS[m].names))
        if self.selection == "aic":
            # Quasi-AIC on all ages, the scale from the richest shape's Pearson dispersion: the standard choice
            # among nested binomial models with extra-binomial cohort variation.
            m_all = MODELS[richest].shape(full[richest].x, a)[0]
            dof = a.size - len(MODELS[richest].names)
            phi = float(np.sum(n * (r - m_all) ** 2 / (m_all * (1 - m_all)))) / dof if dof > 0 else 1
            table["score"] = 2 * table["neg_log_likelihood"] / max(phi, 1.0) + 2 * table["n_params"]
        else:
            # Quasi-binomial scale from the richest converged shape's training fit, so overdispersed cohorts do
            # not turn noise into "significant" held-out differences. Nested shapes tie with the mixture whenever
            # the simpler one is true, and the richer one then wins by noise about half the time: held-out
            # deviance plus 2 per parameter keeps the simplest shape unless the extra ones earn their keep.
            m_train = MODELS[richest].shape(fits[richest].x, a[train])[0]
            dof = int(train.sum()) - len(MODELS[richest].names)
            phi = (
                float(np.sum(n[train] * (r[train] - m_train) ** 2 / (m_train * (1 - m_train)))) / dof if dof > 0 else 1
            )
            table["score"] = table["holdout_deviance"] / max(phi, 1.0) + 2 * table["n_params"]
        table["holdout_ages"] = f"{cut:g}..{distinct[-1]:g}"
        chosen = str(table.loc[table["score"].idxmin(), "model"])
        table["chosen"] = table["model"] == chosen
        self.selection_ = table
        return chosen, full.get(chosen)

    def fit_retention_table(self, table: RetentionTable, *, breakdown: str | None = None) -> RetentionCurveFitter:
        """Fit on a retention table's complete cells at offsets >= 1 (criterion ``on``, ``on_or_after`` or
        ``streak``; user counts, rates over the cohort)."""
        spec = table.spec
        if spec.criterion not in ("on", "on_or_after", "streak"):
            raise LiuliangError(
                f"RetentionCurveFitter needs one-period cells (criterion on, on_or_after or streak); got "
                f"{spec.criterion!r}"
            )
        if spec.aggregation != "users" or spec.reference != "cohort":
            raise LiuliangError(
                "RetentionCurveFitter needs user counts over the cohort (aggregation='users', reference='cohort'); "
                f"got aggregation={spec.aggregation!r}, reference={spec.reference!r}"
            )
        t = table.to_arrow()
        names = sorted(set(t["breakdown"].to_pylist()))
        if breakdown is None:
            if len(names) > 1:
                raise LiuliangError(f"the retention table has breakdowns {names}; pass breakdown= to pick one")
            breakdown = names[0] if names else "all"
        mask = pc.and_(
            pc.and_(pc.equal(t["breakdown"], breakdown), pc.invert(t["incomplete"])),
            pc.greater_equal(t["period_offset"], 1),
        )
        rows = [row for row in t.filter(mask).to_pylist() if row["rate"] is not None]
        size = "observed" if spec.denominator == "observed" else "cohort_size"
        rows = [row for row in rows if row[size]]
        if not rows:
            raise LiuliangError(f"RetentionCurveFitter: breakdown {breakdown!r} has no complete cells at offset >= 1")
        return self.fit(
            [row["period_offset"] for row in rows],
            [row["count"] / row[size] for row in rows],
            [row[size] for row in rows],
        )

    # -- predictions ------------------------------------------------------------------------------------------
    def predict(self, ages: Any) -> np.ndarray:
        """Fitted share active at each age."""
        self._check_fitted()
        return MODELS[self.model_].shape(self._unconstrained_, np.asarray(ages, dtype=float))[0]

    def project(self, ages: Sequence[float] = (90, 180, 365)) -> CurveProjection:
        """Retention at ``ages`` with a delta-method interval on the logit scale (see module docstring)."""
        self._check_fitted()
        a = np.asarray(ages, dtype=float)
        if np.any(a < 1):
            raise LiuliangError("RetentionCurveFitter.project: ages must be >= 1")
        m, jac = MODELS[self.model_].shape(self._unconstrained_, a)
        g = jac / (m * (1 - m))
        se = np.sqrt(np.einsum("ia,ij,ja->a", g, self._unconstrained_cov_, g))
        z = stats.norm.ppf(0.5 + self.confidence / 2)
        logit = special.logit(m)
        table = pa.table(
            {
                "age": pa.array(a, pa.float64()),
                "retention": pa.array(m, pa.float64()),
                "lower": pa.array(special.expit(logit - z * se), pa.float64()),
                "upper": pa.array(special.expit(logit + z * se), pa.float64()),
            }
        )
        return CurveProjection(self.model_, float(self.confidence), table)

    # -- display ----------------------------------------------------------------------------------------------
    def _repr_fitted(self) -> str:
        return f"{self.n_obs_:,.0f} points, model={self.model_}, habit floor={self.habit_floor_:.3g}"

    def plot(self, horizon: float | None = None) -> Any:
        """Plotly figure: observed shares (marker size ~ cohort size), fitted curve and its interval band."""
        self._check_fitted()
        go = require_plotly(type(self).__name__)
        a, r, n = self._data_
        top = horizon if horizon is not None else float(a.max())
        grid = np.linspace(1, top, 200)
        proj = self.project(grid).to_pandas()
        fig = go.Figure()
        fig.add_trace(
            go.Scatter(
                x=proj["age"].tolist() + proj["age"].tolist()[::-1],
                y=proj["upper"].tolist() + proj["lower"].tolist()[::-1],
                fill="toself",
                line={"width": 0},
                opacity=0.25,
                name=f"{self.confidence:.0%} interval",
            )
        )
        size = 4 + 12 * np.sqrt(n / n.max())
        fig.add_trace(go.Scatter(x=a, y=r, mode="markers", marker={"size": size}, name="observed"))
        fig.add_trace(go.Scatter(x=proj["age"], y=proj["retention"], mode="lines", name=self.model_))
        if self.habit_floor_ > 0:
            fig.add_hline(y=self.habit_floor_, line_dash="dot", annotation_text="habit floor")
        fig.update_layout(xaxis_title="age (periods)", yaxis_title="share active")
        return fig


__all__ = ["MODELS", "CurveProjection", "RetentionCurveFitter", "curve", "to_natural"]
