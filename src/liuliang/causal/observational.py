"""The effect of a grant that was *not* randomised: inverse-probability weighting and doubly robust (AIPW) estimates.

When red packets went to whoever the ops team picked, grantees differ from the rest before any grant (more active,
newer, other cities), so the raw difference in retention mixes the grant's effect with who got it. Both estimators
here target the average treatment effect ``ATE = E[Y(1) − Y(0)]`` under two assumptions no data can check: every
confounder is a column of ``X`` (no unmeasured confounding) and every kind of user had some chance of each arm
(overlap). That is why every result carries ``observational=True`` and a label saying so.

- :class:`IPWEstimator` weights each user by the inverse of the propensity of the arm they were in, ``e(x) =
  P(T = 1 | x)``, normalised within arm (the Hájek form, which stays inside the outcome's range). Its standard error
  is the sandwich from the estimator's influence function with ``e`` treated as known (Lunceford & Davidian 2004,
  Stat. Med. 23:2937, sec. 3.1); for the ATE with a logistic propensity this is conservative.
- :class:`AIPWEstimator` adds outcome models ``m_t(x) = E[Y | T = t, x]``: per user
  ``φ = m₁ − m₀ + T(Y − m₁)/e − (1 − T)(Y − m₀)/(1 − e)``, ``ATE = mean(φ)`` and ``se = sd(φ)/√n`` (Robins,
  Rotnitzky & Zhao 1994; Glynn & Quinn 2010). It is consistent if either the propensity or the outcome model is
  right, and with **cross-fitting** (Chernozhukov et al. 2018, "Double/debiased machine learning") flexible
  models such as gradient boosting keep valid intervals: each fold's ``e`` and ``m_t`` come from models fitted on
  the other folds.

Both estimators cross-fit the propensity too, clip it to ``[clip, 1 − clip]`` (reported: many clipped users mean
poor overlap) and report covariate balance before and after weighting (:mod:`liuliang.causal.balance`).
Models are scikit-learn's: ``"logistic"`` / ``"linear"`` (standardised logistic or least-squares regression),
``"hgb"`` (HistGradientBoosting), or any unfitted estimator, which is cloned per fold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats
from sklearn.base import clone, is_classifier
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from liuliang._display import fitter_html
from liuliang.causal._result import FlatResult
from liuliang.causal.balance import BalanceResult, standardized_mean_differences
from liuliang.errors import ModelInputError, NotFittedError

__all__ = ["OBSERVATIONAL_LABEL", "AIPWEstimator", "IPWEstimator", "ObservationalEffect"]

OBSERVATIONAL_LABEL = (
    "OBSERVATIONAL estimate (grants were not randomised): causal only if X contains every confounder and "
    "treated and untreated users overlap; check the balance table"
)


@dataclass(frozen=True)
class ObservationalEffect(FlatResult):
    """Average effect of the treatment on the outcome, estimated without randomisation.

    Attributes
    ----------
    method: ``"ipw"`` or ``"aipw"``. estimand: ``"ATE"``. alpha: 1 − interval coverage.
    effect, se, ci_lower, ci_upper, p_value: the ATE (outcome units: a retention rate difference for 0/1 outcomes).
    treated_mean, control_mean: estimated mean outcome if everyone / no one were treated.
    relative_lift, relative_lift_ci_lower, relative_lift_ci_upper: ``treated_mean/control_mean − 1``.
    naive_difference: the unadjusted difference of means, for contrast.
    n, n_treated, n_clipped, clip: sample sizes and how many propensities hit the clip.
    propensity_model, outcome_model: what was fitted. max_abs_smd_before, max_abs_smd_after: balance summary.
    observational: always ``True``. label: says so in words, for reports.
    """

    method: str
    estimand: str
    alpha: float
    effect: float
    se: float
    ci_lower: float
    ci_upper: float
    p_value: float
    treated_mean: float
    control_mean: float
    relative_lift: float
    relative_lift_ci_lower: float
    relative_lift_ci_upper: float
    naive_difference: float
    n: int
    n_treated: int
    n_clipped: int
    clip: float
    propensity_model: str
    outcome_model: str
    max_abs_smd_before: float
    max_abs_smd_after: float
    observational: bool = True
    label: str = OBSERVATIONAL_LABEL

    def __post_init__(self) -> None:
        if self.observational is not True or self.label != OBSERVATIONAL_LABEL:
            raise ModelInputError("ObservationalEffect: an observational estimate is always labelled as one")


def _propensity_model(spec: Any, random_state: int | None) -> Any:
    if spec == "logistic":
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    if spec == "hgb":
        return HistGradientBoostingClassifier(random_state=random_state)
    if isinstance(spec, str) or not hasattr(spec, "fit") or not is_classifier(spec):
        raise ModelInputError(
            f"propensity_model must be 'logistic', 'hgb' or a scikit-learn classifier with predict_proba; got {spec!r}"
        )
    return clone(spec)


def _outcome_model(spec: Any, binary: bool, random_state: int | None) -> Any:
    if spec == "linear":
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)) if binary else LinearRegression()
    if spec == "hgb":
        return (
            HistGradientBoostingClassifier(random_state=random_state)
            if binary
            else HistGradientBoostingRegressor(random_state=random_state)
        )
    if isinstance(spec, str) or not hasattr(spec, "fit"):
        raise ModelInputError(f"outcome_model must be 'linear', 'hgb' or a scikit-learn estimator; got {spec!r}")
    return clone(spec)


def _predict(model: Any, X: np.ndarray) -> np.ndarray:
    return model.predict_proba(X)[:, 1] if is_classifier(model) else model.predict(X)


def _describe(spec: Any) -> str:
    return spec if isinstance(spec, str) else type(spec).__name__


class _ObservationalEstimator:
    """Shared fit: validation, cross-fitted propensity, clipping, balance; subclasses supply the estimate."""

    method = ""

    def __init__(
        self,
        propensity_model: Any = "logistic",
        *,
        n_folds: int = 5,
        clip: float = 0.01,
        alpha: float = 0.05,
        random_state: int | None = 0,
    ) -> None:
        self.propensity_model = propensity_model
        self.n_folds = n_folds
        self.clip = clip
        self.alpha = alpha
        self.random_state = random_state

    def _check(self, X: Any, treatment: Any, outcome: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
        owner = type(self).__name__
        names = [str(c) for c in X.columns] if hasattr(X, "columns") else None
        x = np.asarray(X, dtype=float)
        if x.ndim == 1:
            x = x[:, None]
        t = np.asarray(treatment, dtype=float).ravel()
        y = np.asarray(outcome, dtype=float).ravel()
        if x.ndim != 2 or not (x.shape[0] == t.size == y.size):
            raise ModelInputError(f"{owner}: X, treatment and outcome need the same number of rows")
        if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
            raise ModelInputError(f"{owner}: X and outcome must be finite (impute missing covariates first)")
        if not np.all((t == 0) | (t == 1)):
            raise ModelInputError(f"{owner}: treatment must be 0/1 (granted or not)")
        if not isinstance(self.n_folds, int) or self.n_folds < 2:
            raise ModelInputError(f"{owner}: n_folds must be an integer >= 2; got {self.n_folds!r}")
        if min(t.sum(), (1 - t).sum()) < 2 * self.n_folds:
            raise ModelInputError(f"{owner}: need at least {2 * self.n_folds} treated and untreated users")
        if not 0 <= self.clip < 0.5:
            raise ModelInputError(f"{owner}: clip must be in [0, 0.5); got {self.clip!r}")
        if not 0 < self.alpha < 1:
            raise ModelInputError(f"{owner}: alpha must be in (0, 1); got {self.alpha!r}")
        return x, t, y, names or [f"x{i}" for i in range(x.shape[1])]

    def _folds(self, t: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        skf = StratifiedKFold(n_splits=self.n_folds, shuffle=True, random_state=self.random_state)
        return list(skf.split(np.zeros(t.size), t))

    def _cross_fit_propensity(self, x: np.ndarray, t: np.ndarray, folds) -> np.ndarray:
        e = np.empty(t.size)
        for train, test in folds:
            model = _propensity_model(self.propensity_model, self.random_state).fit(x[train], t[train])
            e[test] = model.predict_proba(x[test])[:, 1]
        return e

    def _influence(self, x, t, y, e, folds) -> tuple[np.ndarray, np.ndarray, str]:
        """Per-user influence values of the treated and control means (uncentred) and the outcome model name."""
        raise NotImplementedError

    def fit(self, X: Any, treatment: Any, outcome: Any) -> _ObservationalEstimator:
        """Cross-fit the models, estimate the ATE, and set ``result_``, ``propensity_``, ``weights_``, ``balance_``.

        ``X`` is a covariate matrix (a DataFrame's column names label the balance table); ``treatment`` is 0/1;
        ``outcome`` is 0/1 (retained) or continuous (orders, spend).
        """
        x, t, y, names = self._check(X, treatment, outcome)
        folds = self._folds(t)
        raw = self._cross_fit_propensity(x, t, folds)
        e = np.clip(raw, self.clip, 1 - self.clip)
        n_clipped = int(np.sum((raw < self.clip) | (raw > 1 - self.clip)))
        phi1, phi0, outcome_name = self._influence(x, t, y, e, folds)
        n = t.size
        mu1, mu0 = float(phi1.mean()), float(phi0.mean())
        d1, d0 = phi1 - mu1, phi0 - mu0
        ate = mu1 - mu0
        se = float(np.sqrt(np.sum((d1 - d0) ** 2) / (n * (n - 1))))
        z = float(stats.norm.ppf(1 - self.alpha / 2))
        if mu0 != 0:
            lift = mu1 / mu0 - 1
            lift_se = float(np.sqrt(np.sum((d1 / mu0 - mu1 * d0 / mu0**2) ** 2) / (n * (n - 1))))
            lift_lo, lift_hi = lift - z * lift_se, lift + z * lift_se
        else:
            lift = lift_lo = lift_hi = math.nan
        weights = t / e + (1 - t) / (1 - e)
        balance = standardized_mean_differences(x, t, weights, names=names)
        treated = t == 1
        self.propensity_ = e
        self.weights_ = weights
        self.balance_: BalanceResult = balance
        self.result_ = ObservationalEffect(
            method=self.method,
            estimand="ATE",
            alpha=self.alpha,
            effect=ate,
            se=se,
            ci_lower=ate - z * se,
            ci_upper=ate + z * se,
            p_value=float(2 * stats.norm.sf(abs(ate) / se)) if se > 0 else math.nan,
            treated_mean=mu1,
            control_mean=mu0,
            relative_lift=lift,
            relative_lift_ci_lower=lift_lo,
            relative_lift_ci_upper=lift_hi,
            naive_difference=float(y[treated].mean() - y[~treated].mean()),
            n=n,
            n_treated=int(treated.sum()),
            n_clipped=n_clipped,
            clip=self.clip,
            propensity_model=_describe(self.propensity_model),
            outcome_model=outcome_name,
            max_abs_smd_before=balance.max_abs_before,
            max_abs_smd_after=balance.max_abs_after,
        )
        return self

    @property
    def effect_(self) -> float:
        return self.result().effect

    def result(self) -> ObservationalEffect:
        if not hasattr(self, "result_"):
            raise NotFittedError(f"{type(self).__name__}: call fit(X, treatment, outcome) first")
        return self.result_

    def _repr_html_(self) -> str:
        return fitter_html(self, fitted=hasattr(self, "result_"))

    def __repr__(self) -> str:
        state = f"fitted on {self.result_.n:,} users" if hasattr(self, "result_") else "not fitted"
        return f"<{type(self).__name__}: {state}, propensity={_describe(self.propensity_model)}>"


class IPWEstimator(_ObservationalEstimator):
    """Inverse-probability-weighted (Hájek) ATE with a cross-fitted propensity and balance diagnostics.

    Parameters
    ----------
    propensity_model: ``"logistic"`` (default), ``"hgb"`` or a scikit-learn classifier. n_folds: cross-fitting
    folds. clip: propensities are clipped to ``[clip, 1 − clip]``. alpha: 1 − interval coverage.
    random_state: seeds the folds and the gradient-boosting models.

    Attributes
    ----------
    result_: :class:`ObservationalEffect`. propensity_: cross-fitted, clipped ``e(x)`` per user.
    weights_: ATE weights ``T/e + (1 − T)/(1 − e)``. balance_: :class:`~liuliang.causal.balance.BalanceResult`.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1); x = rng.normal(size=(4000, 2))
    >>> t = rng.random(4000) < 1 / (1 + np.exp(-x[:, 0])); y = 0.2 * t + x[:, 0] + rng.normal(size=4000)
    >>> IPWEstimator().fit(x, t, y).result_.observational
    True
    """

    method = "ipw"

    def _influence(self, x, t, y, e, folds):
        w1, w0 = t / e, (1 - t) / (1 - e)
        mu1 = np.sum(w1 * y) / np.sum(w1)
        mu0 = np.sum(w0 * y) / np.sum(w0)
        # Hájek influence functions: mean(phi) reproduces the weighted means exactly
        phi1 = mu1 + w1 * (y - mu1) / w1.mean()
        phi0 = mu0 + w0 * (y - mu0) / w0.mean()
        return phi1, phi0, "none"


class AIPWEstimator(_ObservationalEstimator):
    """Doubly robust (augmented IPW) ATE with cross-fitted propensity and outcome models.

    Parameters
    ----------
    propensity_model: as :class:`IPWEstimator`. outcome_model: ``"linear"`` (logistic regression for a 0/1
    outcome, least squares otherwise; default), ``"hgb"`` or a scikit-learn estimator (a classifier's
    ``predict_proba`` is used for 0/1 outcomes). Other parameters as :class:`IPWEstimator`.

    Attributes
    ----------
    As :class:`IPWEstimator`, plus ``outcome_treated_``/``outcome_control_``: cross-fitted ``m₁(x)``, ``m₀(x)``.
    """

    method = "aipw"

    def __init__(
        self,
        propensity_model: Any = "logistic",
        *,
        outcome_model: Any = "linear",
        n_folds: int = 5,
        clip: float = 0.01,
        alpha: float = 0.05,
        random_state: int | None = 0,
    ) -> None:
        super().__init__(propensity_model, n_folds=n_folds, clip=clip, alpha=alpha, random_state=random_state)
        self.outcome_model = outcome_model

    def _influence(self, x, t, y, e, folds):
        binary = bool(np.all((y == 0) | (y == 1)))
        m1, m0 = np.empty(t.size), np.empty(t.size)
        for train, test in folds:
            for arm, target in ((1, m1), (0, m0)):
                rows = train[t[train] == arm]
                if binary and np.unique(y[rows]).size < 2:
                    target[test] = y[rows].mean()  # one class in this arm's training rows: its rate is the model
                    continue
                model = _outcome_model(self.outcome_model, binary, self.random_state).fit(x[rows], y[rows])
                target[test] = _predict(model, x[test])
        self.outcome_treated_, self.outcome_control_ = m1, m0
        phi1 = m1 + t * (y - m1) / e
        phi0 = m0 + (1 - t) * (y - m0) / (1 - e)
        return phi1, phi0, _describe(self.outcome_model)
