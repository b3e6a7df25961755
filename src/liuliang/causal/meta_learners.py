"""Uplift meta-learners: S, T, X, DR and class transformation, on scikit-learn base models.

Each learner answers "how much more likely is this user to come back if we give them incentive *k* rather than
nothing?" — the conditional average treatment effect τ_k(x) = E[Y(k) − Y(control) | X = x] — for every treatment
arm *k* at once (control vs ``red_packet`` vs ``free_order``: one uplift column per treatment).

Why several learners: they trade bias for variance differently, and which one wins depends on the data.

- **S** (one model, treatment as a feature) is the most stable but shrinks effects towards zero when the trees
  rarely split on the treatment column.
- **T** (one model per arm) is unbiased per arm but its difference of two noisy fits is noisy, worst when arms are
  unequal in size.
- **X** (Künzel et al. 2019) imputes each unit's effect with the *other* arm's model and blends the two effect
  models by the propensity; it shines when one arm is much larger than the other (typical: a small holdout).
- **DR** (Kennedy 2023) regresses the doubly robust (AIPW) pseudo-outcome on X; its nuisance models are
  cross-fitted, so it stays unbiased when either the outcome models or the propensities are right.
- **Class transformation** (Jaskowski & Jaroszewicz 2012; Athey & Imbens 2015) fits one model to a relabelled
  target whose conditional mean *is* the uplift; cheap, and a useful sanity check.

Conventions shared by all learners:

- ``fit(X, treatment, y, *, propensity=None)`` returns ``self``; ``predict(X)`` returns an ``(n, n_treatments)``
  array whose columns follow ``treatments_`` (all arm labels except ``control``, sorted).
- Base models default to ``HistGradientBoostingClassifier`` for binary outcomes (so outcome models predict
  probabilities) and ``HistGradientBoostingRegressor`` otherwise; pass any scikit-learn estimator instead. Effect
  models (X, DR stage 2; transformed outcomes) are always regressors.
- ``propensity`` passes known assignment probabilities (randomised grants): a number (one treatment arm: the
  probability of treatment), or a mapping ``{arm label: probability or per-row array}`` covering every arm. Known
  propensities replace the propensity model everywhere.
- ``X`` is used as a float matrix (missing values allowed: HistGradientBoosting handles them natively).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator, clone, is_classifier
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.model_selection import StratifiedKFold

from liuliang.errors import ModelInputError, NotFittedError

__all__ = ["ClassTransformationLearner", "DRLearner", "SLearner", "TLearner", "XLearner"]

_Constraint = tuple[Callable[[Any], bool], str]


def _is_estimator_or_none(v: Any) -> bool:
    return v is None or (hasattr(v, "fit") and hasattr(v, "get_params"))


_COMMON: dict[str, _Constraint] = {
    "outcome": (lambda v: v in ("auto", "binary", "continuous"), "one of 'auto', 'binary', 'continuous'"),
    "outcome_model": (_is_estimator_or_none, "None or a scikit-learn estimator"),
    "effect_model": (_is_estimator_or_none, "None or a scikit-learn regressor"),
    "propensity_model": (_is_estimator_or_none, "None or a scikit-learn classifier with predict_proba"),
    "n_folds": (lambda v: isinstance(v, Integral) and not isinstance(v, bool) and v >= 2, "an integer >= 2"),
    "propensity_clip": (lambda v: isinstance(v, Real) and 0 < v < 0.5, "a number in (0, 0.5)"),
    "random_state": (lambda v: v is None or (isinstance(v, Integral) and not isinstance(v, bool)), "None or an int"),
}


class _ConstantModel:
    """Stands in for a classifier fitted on one class only (every user in an arm retained, or none did)."""

    def __init__(self, value: float) -> None:
        self.value = value

    def predict_mean(self, X: np.ndarray) -> np.ndarray:
        return np.full(X.shape[0], self.value)


class _MetaLearner(BaseEstimator):
    """Validation, arm bookkeeping and base-model plumbing shared by the learners (not public)."""

    _parameter_constraints: ClassVar[dict[str, _Constraint]] = {}

    # -- validation --------------------------------------------------------------------------------------------
    def _validate_params(self) -> None:  # overrides scikit-learn's so that errors are liuliang's ModelInputError
        name = type(self).__name__
        for param, (ok, allowed) in self._parameter_constraints.items():
            value = getattr(self, param)
            if not ok(value):
                raise ModelInputError(f"{name}: {param} must be {allowed}; got {value!r}")

    def _check_X(self, X: Any, *, fitted: bool) -> np.ndarray:
        name = type(self).__name__
        arr = np.asarray(X, dtype=float)
        if arr.ndim != 2:
            raise ModelInputError(f"{name}: X must be two-dimensional (users x features); got shape {arr.shape}")
        if np.isinf(arr).any():
            raise ModelInputError(f"{name}: X has infinite values (missing values are fine, infinities are not)")
        if fitted and arr.shape[1] != self.n_features_in_:
            raise ModelInputError(
                f"{name}: X has {arr.shape[1]} features; the model was fitted on {self.n_features_in_}"
            )
        return arr

    def _prepare(self, X: Any, treatment: Any, y: Any, propensity: Any) -> tuple[np.ndarray, ...]:
        """Validate inputs and set the arm attributes. Returns X, arm codes (0 = control, k = ``treatments_[k-1]``),
        y and the known propensities as an (n, n_arms) matrix or None (returned, not stored: it is data)."""
        self._validate_params()
        name = type(self).__name__
        X = self._check_X(X, fitted=False)
        t = np.asarray(treatment)
        yv = np.asarray(y, dtype=float)
        if t.ndim != 1 or yv.ndim != 1 or not (len(t) == len(yv) == X.shape[0]):
            raise ModelInputError(
                f"{name}: X, treatment and y must describe the same users; got {X.shape[0]} rows, "
                f"treatment shape {t.shape}, y shape {yv.shape}"
            )
        if not np.isfinite(yv).all():
            raise ModelInputError(f"{name}: y has missing or infinite values")
        classes = np.unique(t)
        if self.control not in set(classes.tolist()):
            raise ModelInputError(
                f"{name}: control label {self.control!r} does not occur in treatment (labels: {classes.tolist()}); "
                "pass control=<label of the untreated arm>"
            )
        treatments = np.array([c for c in classes if c != self.control], dtype=classes.dtype)
        if treatments.size == 0:
            raise ModelInputError(f"{name}: treatment has only the control arm; uplift needs at least one treated arm")
        arms = np.concatenate([[self.control], treatments]).astype(classes.dtype)
        codes = np.searchsorted(classes, t)
        remap = np.empty(len(classes), dtype=np.intp)
        remap[np.searchsorted(classes, arms)] = np.arange(len(arms))
        codes = remap[codes]
        counts = np.bincount(codes, minlength=len(arms))
        min_rows = 2 * self.n_folds if "n_folds" in self._parameter_constraints else 2
        if counts.min() < min_rows:
            thin = arms[counts < min_rows].tolist()
            raise ModelInputError(f"{name}: arm(s) {thin} have fewer than {min_rows} users; merge or drop them")
        binary = bool(np.isin(yv, (0.0, 1.0)).all())
        if self.outcome == "binary" and not binary:
            raise ModelInputError(f"{name}: outcome='binary' but y has values other than 0 and 1")
        self.outcome_type_ = ("binary" if binary else "continuous") if self.outcome == "auto" else self.outcome
        self.control_ = self.control
        self.treatments_ = treatments
        self.n_features_in_ = X.shape[1]
        self.n_samples_fit_ = X.shape[0]
        self.arm_counts_ = counts
        return X, codes, yv, self._propensity_matrix(propensity, arms, X.shape[0])

    def _propensity_matrix(self, propensity: Any, arms: np.ndarray, n: int) -> np.ndarray | None:
        """Known assignment probabilities as an (n, n_arms) matrix in arm-code order, or None."""
        if propensity is None:
            return None
        name = type(self).__name__
        if isinstance(propensity, Mapping):
            missing = [a for a in arms.tolist() if a not in propensity]
            if missing:
                raise ModelInputError(f"{name}: propensity has no probability for arm(s) {missing}")
            cols = [np.broadcast_to(np.asarray(propensity[a], dtype=float), (n,)) for a in arms.tolist()]
            P = np.column_stack(cols)
        else:
            p = np.asarray(propensity, dtype=float)
            if len(arms) != 2 or p.ndim > 1 or (p.ndim == 1 and p.size != n):
                raise ModelInputError(
                    f"{name}: propensity as a number or per-user array means P(treated) and needs exactly one "
                    f"treated arm and one value per user; with arms {arms.tolist()} pass a mapping {{arm: p}}"
                )
            p = np.broadcast_to(p, (n,))
            P = np.column_stack([1.0 - p, p])
        if not np.isfinite(P).all() or (P <= 0).any() or (P >= 1).any():
            raise ModelInputError(f"{name}: known propensities must lie strictly between 0 and 1")
        if not np.allclose(P.sum(axis=1), 1.0, atol=1e-6):
            raise ModelInputError(f"{name}: known propensities of all arms must sum to 1 for every user")
        return P

    def _check_fitted(self) -> None:
        if not hasattr(self, "treatments_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted yet; call fit(X, treatment, y) first")

    def _repr_html_(self) -> str:
        """Notebook display: "not fitted" with the parameters, or what the fit learned (users, arms, outcome type),
        instead of scikit-learn's estimator diagram, which shows no fitted numbers."""
        from liuliang._display import fitter_html

        return fitter_html(self, fitted=hasattr(self, "treatments_"))

    def __repr__(self, N_CHAR_MAX: int = 700) -> str:
        base = super().__repr__(N_CHAR_MAX)
        if not hasattr(self, "treatments_"):
            return f"{base}  # unfitted"
        return (
            f"{base}  # fitted on {self.n_samples_fit_:,} users, {self.outcome_type_} outcome, "
            f"treatments {self.treatments_.tolist()} vs control {self.control_!r}"
        )

    # -- base models -------------------------------------------------------------------------------------------
    def _default_seeded(self, est: Any) -> Any:
        if self.random_state is not None and "random_state" in est.get_params():
            est.set_params(random_state=self.random_state)
        return est

    def _new_outcome_model(self) -> Any:
        if self.outcome_model is not None:
            return self._default_seeded(clone(self.outcome_model))
        if self.outcome_type_ == "binary":
            return HistGradientBoostingClassifier(early_stopping=True, random_state=self.random_state)
        return HistGradientBoostingRegressor(early_stopping=True, random_state=self.random_state)

    def _new_effect_model(self) -> Any:
        if self.effect_model is not None:
            return self._default_seeded(clone(self.effect_model))
        return HistGradientBoostingRegressor(early_stopping=True, random_state=self.random_state)

    def _new_propensity_model(self) -> Any:
        if self.propensity_model is not None:
            return self._default_seeded(clone(self.propensity_model))
        return HistGradientBoostingClassifier(early_stopping=True, random_state=self.random_state)

    def _fit_outcome(self, X: np.ndarray, y: np.ndarray) -> Any:
        """Fit an outcome model; a classifier on a single-class subset becomes that constant."""
        model = self._new_outcome_model()
        if is_classifier(model):
            if np.unique(y).size < 2:
                return _ConstantModel(float(y[0]))
            return model.fit(X, y.astype(int))
        return model.fit(X, y)

    @staticmethod
    def _mean(model: Any, X: np.ndarray) -> np.ndarray:
        """E[Y | X]: the positive-class probability of a classifier, the prediction of a regressor."""
        if isinstance(model, _ConstantModel):
            return model.predict_mean(X)
        if is_classifier(model):
            proba = model.predict_proba(X)
            return proba[:, list(model.classes_).index(1)]
        return np.asarray(model.predict(X), dtype=float)

    def _fit_propensity(self, X: np.ndarray, codes: np.ndarray) -> Any:
        return self._new_propensity_model().fit(X, codes)

    def _predict_propensity(self, model: Any, X: np.ndarray, n_arms: int) -> np.ndarray:
        """(n, n_arms) probabilities in arm-code order (0 for arms the model never saw), clipped, renormalised."""
        proba = model.predict_proba(X)
        P = np.zeros((X.shape[0], n_arms))
        P[:, np.asarray(model.classes_, dtype=int)] = proba
        P = np.clip(P, self.propensity_clip, 1 - self.propensity_clip)
        return P / P.sum(axis=1, keepdims=True)

    def _folds(self, codes: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """Folds stratified by arm, so that every training fold sees every arm."""
        skf = StratifiedKFold(n_splits=self.n_folds, shuffle=True, random_state=self.random_state)
        return list(skf.split(np.zeros((codes.size, 1)), codes))

    def _cross_fit_propensity(self, X: np.ndarray, codes: np.ndarray, known: np.ndarray | None) -> np.ndarray:
        """Out-of-fold propensities: a unit's weight never comes from a model that saw that unit's assignment."""
        if known is not None:
            return known
        n_arms = len(self.treatments_) + 1
        P = np.empty((X.shape[0], n_arms))
        for train, test in self._folds(codes):
            P[test] = self._predict_propensity(self._fit_propensity(X[train], codes[train]), X[test], n_arms)
        return P


class SLearner(_MetaLearner):
    """One outcome model with the treatment arm as extra one-hot features; uplift = μ(x, k) − μ(x, control).

    Parameters
    ----------
    outcome_model : estimator, optional
        Defaults to HistGradientBoosting (classifier for 0/1 outcomes, regressor otherwise).
    control : label, default 0
        The treatment label of the untreated arm.
    outcome : {"auto", "binary", "continuous"}
        "auto" treats y as binary when every value is 0 or 1.
    random_state : int or None, default 0
        Passed to the base models (and to clones of user models that accept it) so fits are reproducible.

    Attributes
    ----------
    treatments_, control_, outcome_type_, n_features_in_, n_samples_fit_, arm_counts_, model_

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0); X = rng.normal(size=(600, 2)); t = rng.integers(0, 2, 600)
    >>> y = rng.binomial(1, 0.3 + 0.2 * t * (X[:, 0] > 0))
    >>> SLearner().fit(X, t, y).predict(X).shape
    (600, 1)
    """

    _parameter_constraints: ClassVar[dict[str, _Constraint]] = {
        k: _COMMON[k] for k in ("outcome_model", "outcome", "random_state")
    }

    def __init__(self, outcome_model: Any = None, *, control: Any = 0, outcome: str = "auto", random_state=0) -> None:
        self.outcome_model = outcome_model
        self.control = control
        self.outcome = outcome
        self.random_state = random_state

    def _design(self, X: np.ndarray, code: np.ndarray | int) -> np.ndarray:
        K = len(self.treatments_)
        onehot = np.zeros((X.shape[0], K))
        code = np.broadcast_to(np.asarray(code), (X.shape[0],))
        treated = code > 0
        onehot[np.flatnonzero(treated), code[treated] - 1] = 1.0
        return np.hstack([X, onehot])

    def fit(self, X: Any, treatment: Any, y: Any, *, propensity: Any = None) -> SLearner:
        """Fit the single outcome model. ``propensity`` is accepted for a uniform interface and not needed."""
        X, codes, yv, _ = self._prepare(X, treatment, y, propensity)
        self.model_ = self._fit_outcome(self._design(X, codes), yv)
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Uplift per treatment arm, shape (n, len(treatments_))."""
        self._check_fitted()
        X = self._check_X(X, fitted=True)
        base = self._mean(self.model_, self._design(X, 0))
        return np.column_stack(
            [self._mean(self.model_, self._design(X, k)) - base for k in range(1, len(self.treatments_) + 1)]
        )


class TLearner(_MetaLearner):
    """One outcome model per arm; uplift = μ_k(x) − μ_control(x).

    Parameters and attributes as :class:`SLearner`; ``models_`` holds one fitted model per arm (control first).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0); X = rng.normal(size=(600, 2)); t = rng.choice(["none", "red_packet"], 600)
    >>> y = rng.binomial(1, 0.3 + 0.2 * (t == "red_packet"))
    >>> TLearner(control="none").fit(X, t, y).treatments_.tolist()
    ['red_packet']
    """

    _parameter_constraints: ClassVar[dict[str, _Constraint]] = SLearner._parameter_constraints

    def __init__(self, outcome_model: Any = None, *, control: Any = 0, outcome: str = "auto", random_state=0) -> None:
        self.outcome_model = outcome_model
        self.control = control
        self.outcome = outcome
        self.random_state = random_state

    def fit(self, X: Any, treatment: Any, y: Any, *, propensity: Any = None) -> TLearner:
        """Fit one outcome model per arm. ``propensity`` is accepted for a uniform interface and not needed."""
        X, codes, yv, _ = self._prepare(X, treatment, y, propensity)
        self.models_ = [self._fit_outcome(X[codes == a], yv[codes == a]) for a in range(len(self.treatments_) + 1)]
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Uplift per treatment arm, shape (n, len(treatments_))."""
        self._check_fitted()
        X = self._check_X(X, fitted=True)
        base = self._mean(self.models_[0], X)
        return np.column_stack([self._mean(m, X) - base for m in self.models_[1:]])


class XLearner(_MetaLearner):
    """X-learner (Künzel, Sekhon, Bickel & Yu 2019), one per treatment arm against control.

    Stage 1 fits outcome models μ_0 (control) and μ_k (arm k). Stage 2 imputes individual effects with the *other*
    arm's model — D = y − μ_0(x) for users in arm k, D = μ_k(x) − y for control users — and regresses D on x within
    each arm (τ_k1, τ_k0). The estimate blends them, τ_k(x) = g(x)·τ_k0(x) + (1 − g(x))·τ_k1(x), with g the
    propensity of arm k among {control, k}: the effect model trained on the larger arm gets the larger weight.

    No cross-fitting is needed for the imputations: every imputed effect already comes from a model that never saw
    that user (μ_0 is fitted on control users and applied to treated ones, and vice versa). The propensity g is
    only a blending weight at prediction time; with ``propensity`` given (randomised grants) its per-arm mean is used,
    otherwise a propensity classifier fitted on all users.

    Parameters
    ----------
    outcome_model, effect_model, propensity_model : estimator, optional
        Stage-1 outcome models, stage-2 effect regressors, propensity classifier (HistGradientBoosting defaults).
    control, outcome, random_state
        As :class:`SLearner`.
    propensity_clip : float, default 0.01
        Estimated propensities are clipped to [clip, 1 − clip].

    Attributes
    ----------
    outcome_models_ (control first), effect_models_ (per treatment: (τ_k0, τ_k1)), propensity_model_ (or None),
    known_propensity_ (per-arm mean of known propensities, or None), and those of :class:`SLearner`.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0); X = rng.normal(size=(800, 2)); t = rng.binomial(1, 0.2, 800)
    >>> y = rng.binomial(1, 0.3 + 0.3 * t * (X[:, 0] > 0))
    >>> XLearner().fit(X, t, y, propensity=0.2).predict(X[:3]).shape
    (3, 1)
    """

    _parameter_constraints: ClassVar[dict[str, _Constraint]] = {
        k: _COMMON[k]
        for k in ("outcome_model", "effect_model", "propensity_model", "outcome", "propensity_clip", "random_state")
    }

    def __init__(
        self,
        outcome_model: Any = None,
        *,
        effect_model: Any = None,
        propensity_model: Any = None,
        control: Any = 0,
        outcome: str = "auto",
        propensity_clip: float = 0.01,
        random_state=0,
    ) -> None:
        self.outcome_model = outcome_model
        self.effect_model = effect_model
        self.propensity_model = propensity_model
        self.control = control
        self.outcome = outcome
        self.propensity_clip = propensity_clip
        self.random_state = random_state

    def fit(self, X: Any, treatment: Any, y: Any, *, propensity: Any = None) -> XLearner:
        """Fit stage-1 outcome models, stage-2 effect models and (without known propensities) a propensity model."""
        X, codes, yv, known = self._prepare(X, treatment, y, propensity)
        K = len(self.treatments_)
        self.outcome_models_ = [self._fit_outcome(X[codes == a], yv[codes == a]) for a in range(K + 1)]
        ctrl = codes == 0
        mu0_on_treated = {}
        self.effect_models_ = []
        for k in range(1, K + 1):
            arm = codes == k
            if k not in mu0_on_treated:
                mu0_on_treated[k] = self._mean(self.outcome_models_[0], X[arm])
            d_treated = yv[arm] - mu0_on_treated[k]
            d_control = self._mean(self.outcome_models_[k], X[ctrl]) - yv[ctrl]
            tau0 = self._new_effect_model().fit(X[ctrl], d_control)
            tau1 = self._new_effect_model().fit(X[arm], d_treated)
            self.effect_models_.append((tau0, tau1))
        if known is not None:
            self.known_propensity_ = known.mean(axis=0)
            self.propensity_model_ = None
        else:
            self.known_propensity_ = None
            self.propensity_model_ = self._fit_propensity(X, codes)
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Uplift per treatment arm, shape (n, len(treatments_))."""
        self._check_fitted()
        X = self._check_X(X, fitted=True)
        K = len(self.treatments_)
        if self.propensity_model_ is None:
            P = np.broadcast_to(self.known_propensity_, (X.shape[0], K + 1))
        else:
            P = self._predict_propensity(self.propensity_model_, X, K + 1)
        out = np.empty((X.shape[0], K))
        for k, (tau0, tau1) in enumerate(self.effect_models_, start=1):
            g = P[:, k] / (P[:, k] + P[:, 0])
            out[:, k - 1] = g * tau0.predict(X) + (1 - g) * tau1.predict(X)
        return out


class DRLearner(_MetaLearner):
    """Doubly robust learner (Kennedy 2023): regress the cross-fitted AIPW pseudo-outcome on x.

    For each fold, outcome models for every arm and (unless known) a multinomial propensity model are fitted on the
    other folds and applied to this one. The pseudo-outcome of arm k against control,

        φ_k = μ_k(x) − μ_0(x) + 1[T = k]·(y − μ_k(x)) / e_k(x) − 1[T = 0]·(y − μ_0(x)) / e_0(x),

    has conditional mean τ_k(x) if either the outcome models or the propensities are right; cross-fitting keeps a
    unit's own outcome out of the nuisance estimates used for it, which is what removes the overfitting bias. Its
    mean is the AIPW estimate of the average effect (``ate_``, with the usual standard error ``ate_stderr_``).

    Parameters
    ----------
    outcome_model, effect_model, propensity_model, control, outcome, propensity_clip, random_state
        As :class:`XLearner`.
    n_folds : int, default 5
        Cross-fitting folds (stratified by arm).

    Attributes
    ----------
    effect_models_ (one regressor per treatment), ate_, ate_stderr_ (per treatment), and those of
    :class:`SLearner`.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0); X = rng.normal(size=(1000, 2)); t = rng.integers(0, 2, 1000)
    >>> y = rng.binomial(1, 0.3 + 0.2 * t)
    >>> DRLearner(n_folds=2).fit(X, t, y, propensity=0.5).ate_.round(1)
    array([0.2])
    """

    _parameter_constraints: ClassVar[dict[str, _Constraint]] = {
        k: _COMMON[k]
        for k in (
            "outcome_model",
            "effect_model",
            "propensity_model",
            "outcome",
            "n_folds",
            "propensity_clip",
            "random_state",
        )
    }

    def __init__(
        self,
        outcome_model: Any = None,
        *,
        effect_model: Any = None,
        propensity_model: Any = None,
        control: Any = 0,
        outcome: str = "auto",
        n_folds: int = 5,
        propensity_clip: float = 0.01,
        random_state=0,
    ) -> None:
        self.outcome_model = outcome_model
        self.effect_model = effect_model
        self.propensity_model = propensity_model
        self.control = control
        self.outcome = outcome
        self.n_folds = n_folds
        self.propensity_clip = propensity_clip
        self.random_state = random_state

    def pseudo_outcomes(self, X: Any, treatment: Any, y: Any, *, propensity: Any = None) -> np.ndarray:
        """The cross-fitted AIPW pseudo-outcomes, shape (n, n_treatments); ``fit`` regresses these on X.

        Sets the arm attributes as ``fit`` does (it validates the same way) but fits no effect model.
        """
        X, codes, yv, known = self._prepare(X, treatment, y, propensity)
        return self._pseudo(X, codes, yv, known)

    def _pseudo(self, X: np.ndarray, codes: np.ndarray, yv: np.ndarray, known: np.ndarray | None) -> np.ndarray:
        K = len(self.treatments_)
        n = X.shape[0]
        mu = np.empty((n, K + 1))
        P = np.empty((n, K + 1)) if known is None else known
        for train, test in self._folds(codes):
            for a in range(K + 1):
                sel = train[codes[train] == a]
                mu[test, a] = self._mean(self._fit_outcome(X[sel], yv[sel]), X[test])
            if known is None:
                P[test] = self._predict_propensity(self._fit_propensity(X[train], codes[train]), X[test], K + 1)
        ctrl = codes == 0
        resid0 = np.where(ctrl, (yv - mu[:, 0]) / P[:, 0], 0.0)
        phi = np.empty((n, K))
        for k in range(1, K + 1):
            arm = codes == k
            phi[:, k - 1] = mu[:, k] - mu[:, 0] + np.where(arm, (yv - mu[:, k]) / P[:, k], 0.0) - resid0
        return phi

    def fit(self, X: Any, treatment: Any, y: Any, *, propensity: Any = None) -> DRLearner:
        """Cross-fit the nuisance models, build the pseudo-outcomes and fit one effect regressor per arm."""
        X, codes, yv, known = self._prepare(X, treatment, y, propensity)
        phi = self._pseudo(X, codes, yv, known)
        self.ate_ = phi.mean(axis=0)
        self.ate_stderr_ = phi.std(axis=0, ddof=1) / np.sqrt(phi.shape[0])
        self.effect_models_ = [self._new_effect_model().fit(X, phi[:, k]) for k in range(phi.shape[1])]
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Uplift per treatment arm, shape (n, len(treatments_))."""
        self._check_fitted()
        X = self._check_X(X, fitted=True)
        return np.column_stack([m.predict(X) for m in self.effect_models_])


class ClassTransformationLearner(_MetaLearner):
    """One model on a transformed target whose conditional mean is the uplift (one per treatment arm vs control).

    Binary outcomes use the class transformation of Jaskowski & Jaroszewicz (2012): Z = 1 when a treated user
    converts or a control user does not, and τ(x) = 2·P(Z = 1 | x) − 1. That identity needs P(T = 1 | x) = 1/2, so
    users are weighted by 1/(2e) if treated and 1/(2(1 − e)) if control: the weighted population has balanced arms
    and the same covariate distribution, which makes the identity exact for any propensity e (scikit-uplift's
    ``ClassTransformation`` instead warns and assumes balance). Continuous outcomes use the transformed outcome
    of Athey & Imbens (2015), Y* = y·(T − e) / (e(1 − e)), with E[Y* | x] = τ(x), and a regressor.

    Estimated propensities are cross-fitted (``n_folds``): a user's weight never comes from a model that saw their
    assignment. Known propensities (``propensity=`` in ``fit``) are used as given.

    Parameters
    ----------
    outcome_model : estimator, optional
        Classifier for the class-transformed label (binary outcomes; default HistGradientBoostingClassifier).
    effect_model : estimator, optional
        Regressor for the transformed outcome (continuous outcomes).
    propensity_model, control, outcome, n_folds, propensity_clip, random_state
        As :class:`DRLearner`.

    Attributes
    ----------
    models_ (one per treatment), and those of :class:`SLearner`.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0); X = rng.normal(size=(800, 2)); t = rng.integers(0, 2, 800)
    >>> y = rng.binomial(1, 0.3 + 0.2 * t)
    >>> ClassTransformationLearner().fit(X, t, y, propensity=0.5).predict(X).shape
    (800, 1)
    """

    _parameter_constraints: ClassVar[dict[str, _Constraint]] = DRLearner._parameter_constraints

    def __init__(
        self,
        outcome_model: Any = None,
        *,
        effect_model: Any = None,
        propensity_model: Any = None,
        control: Any = 0,
        outcome: str = "auto",
        n_folds: int = 5,
        propensity_clip: float = 0.01,
        random_state=0,
    ) -> None:
        self.outcome_model = outcome_model
        self.effect_model = effect_model
        self.propensity_model = propensity_model
        self.control = control
        self.outcome = outcome
        self.n_folds = n_folds
        self.propensity_clip = propensity_clip
        self.random_state = random_state

    def fit(self, X: Any, treatment: Any, y: Any, *, propensity: Any = None) -> ClassTransformationLearner:
        """Fit one transformed-target model per treatment arm on that arm's and the control users."""
        X, codes, yv, known = self._prepare(X, treatment, y, propensity)
        P = self._cross_fit_propensity(X, codes, known)
        self.models_ = []
        for k in range(1, len(self.treatments_) + 1):
            sel = (codes == 0) | (codes == k)
            e = P[sel, k] / (P[sel, k] + P[sel, 0])  # P(arm k | x, in {control, k})
            tk = (codes[sel] == k).astype(float)
            ys = yv[sel]
            if self.outcome_type_ == "binary":
                z = (ys * tk + (1 - ys) * (1 - tk)).astype(int)
                w = np.where(tk == 1, 0.5 / e, 0.5 / (1 - e))
                model = self._new_outcome_model()
                if not is_classifier(model):
                    raise ModelInputError(
                        f"ClassTransformationLearner: binary outcomes need a classifier as outcome_model; got {model!r}"
                    )
                self.models_.append(model.fit(X[sel], z, sample_weight=w))
            else:
                ystar = ys * (tk - e) / (e * (1 - e))
                self.models_.append(self._new_effect_model().fit(X[sel], ystar))
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Uplift per treatment arm, shape (n, len(treatments_))."""
        self._check_fitted()
        X = self._check_X(X, fitted=True)
        if self.outcome_type_ == "binary":
            return np.column_stack([2 * self._mean(m, X) - 1 for m in self.models_])
        return np.column_stack([m.predict(X) for m in self.models_])
