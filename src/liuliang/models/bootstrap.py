"""Nonparametric bootstrap of the parametric lifetime models: resample customers, refit, read the spread.

The Hessian standard errors every fitter reports are asymptotic: they assume the log-likelihood is close to quadratic
around the optimum. For small groups (one channel of a few hundred users), for shapes near a boundary (a Beta's
``a`` near 1, where ``E[X(t)]`` blows up) and for quantities far from the parameters, that is worth checking, and the
check that needs no further assumption is to resample the customers and refit.

How it is done, and why:

- **Customers are the unit.** A row is resampled with its whole history (frequency, recency, T together), because the
  models' heterogeneity is across customers. Grouped rows carry ``weights`` = the number of customers in them, and
  one bootstrap draw is a multinomial count over the rows (``n = Σ weights`` draws with probabilities
  ``weights / n``): exactly the distribution of resampling the expanded customers with replacement, at the cost of
  one count per *distinct* row, so 10M users summarised in 30 BG/BB rows stay 30 rows.
- **sBG** survivor counts are customers too: of ``n_0`` in a cohort, ``n_{t-1} − n_t`` churned in period t and
  ``n_L`` are still there (censored). Each cohort's customers are resampled (its size kept: cohort sizes are the
  design, not an outcome) and the survivor counts rebuilt.
- **A clone refits** (``type(fitter)(**its constructor arguments)``, scikit-learn's ``clone``), so the caller's
  fitter is never touched. The transaction models (BG/NBD, MBG/NBD, Pareto/NBD, Gamma-Gamma) start at the full-data
  estimate; the period models (sBG, BG/BB) run their own multi-start, which is cheap on their few rows.
- **Failures are counted, not hidden.** A resample whose refit raises :class:`~liuliang.errors.ConvergenceError`
  (or whose data leave a parameter unidentified, e.g. nobody churned) is skipped and counted in ``n_failed``, with
  its message; fewer than two converged resamples raise. Failures are not random (they are the extreme samples), so
  a large ``n_failed`` says the intervals are too narrow; it is reported for that reason.
- Intervals are **percentile** intervals of the converged refits and standard errors their standard deviation; both
  are invariant to the log scale the optimisers work on.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from liuliang._display import html_fields, html_result, html_table
from liuliang.errors import ConvergenceError, LiuliangError, ModelInputError, UnsupportedOperationError
from liuliang.models._base import TransactionFitter
from liuliang.models.bgbb import BetaGeoBetaBinomFitter
from liuliang.models.sbg import ShiftedBetaGeometricFitter, _survivor_arrays

__all__ = ["BootstrapResult", "bootstrap"]

#: Fitters this module knows how to resample for (the others' data are not customers: curves fit cells).
SUPPORTED = (
    "BetaGeoFitter, ModifiedBetaGeoFitter, ParetoNBDFitter, GammaGammaFitter, BetaGeoBetaBinomFitter, "
    "ShiftedBetaGeometricFitter"
)


@dataclass(frozen=True, eq=False)
class BootstrapResult:
    """Refitted estimates of a model on resampled customers.

    Attributes
    ----------
    model:
        Class name of the fitter.
    param_names:
        Parameter names, in the fitter's ``params_`` order.
    estimate:
        The full-data estimate (a clone fitted on the data as given).
    samples:
        One row per *converged* resample, one column per parameter (read-only).
    confidence:
        Level of the percentile intervals.
    n_resamples:
        Resamples drawn, converged or not.
    n_failed:
        Resamples whose refit failed (skipped); ``failures`` holds their messages, in draw order.
    seed:
        The seed of the draws: the same seed, data and fitter give the same result.
    """

    model: str
    param_names: tuple[str, ...]
    estimate: np.ndarray
    samples: np.ndarray
    confidence: float
    n_resamples: int
    n_failed: int
    failures: tuple[str, ...]
    seed: int

    @property
    def n_converged(self) -> int:
        return int(self.samples.shape[0])

    @property
    def standard_errors(self) -> np.ndarray:
        """Standard deviation of the converged refits (ddof = 1)."""
        return np.std(self.samples, axis=0, ddof=1)

    @property
    def lower(self) -> np.ndarray:
        return np.quantile(self.samples, (1 - self.confidence) / 2, axis=0)

    @property
    def upper(self) -> np.ndarray:
        return np.quantile(self.samples, (1 + self.confidence) / 2, axis=0)

    def to_arrow(self) -> pa.Table:
        """One row per parameter: estimate, bootstrap se, percentile interval, converged resamples."""
        return pa.table(
            {
                "param": pa.array(self.param_names, pa.string()),
                "estimate": pa.array(self.estimate, pa.float64()),
                "bootstrap_se": pa.array(self.standard_errors, pa.float64()),
                "lower": pa.array(self.lower, pa.float64()),
                "upper": pa.array(self.upper, pa.float64()),
                "n_converged": pa.array([self.n_converged] * len(self.param_names), pa.int64()),
            }
        )

    def to_pandas(self) -> pd.DataFrame:
        return self.to_arrow().to_pandas()

    @property
    def summary(self) -> pd.DataFrame:
        """:meth:`to_pandas`, named like the fitters' ``summary``."""
        return self.to_pandas()

    def _repr_html_(self) -> str:
        fields = [("model", self.model), ("resamples", self.n_resamples), ("converged", self.n_converged)]
        fields += [("failed", self.n_failed), ("confidence", self.confidence), ("seed", self.seed)]
        return html_result("BootstrapResult", html_fields(fields), html_table(self.to_arrow(), caption="summary"))

    def __repr__(self) -> str:
        values = ", ".join(
            f"{n}={e:.4g} [{lo:.4g}, {hi:.4g}]"
            for n, e, lo, hi in zip(self.param_names, self.estimate, self.lower, self.upper, strict=True)
        )
        return (
            f"<BootstrapResult {self.model}: {self.n_converged}/{self.n_resamples} resamples converged, "
            f"{self.confidence:.0%} percentile intervals: {values}>"
        )


def clone(fitter: Any) -> Any:
    """A new, unfitted fitter with the same constructor arguments (scikit-learn's ``clone``: the fitters store their
    arguments unchanged under the same names)."""
    params = inspect.signature(type(fitter).__init__).parameters
    kwargs = {
        name: getattr(fitter, name)
        for name, p in params.items()
        if name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    }
    return type(fitter)(**kwargs)


def resample_counts(rng: np.random.Generator, weights: np.ndarray) -> np.ndarray:
    """One bootstrap draw of whole-number ``weights``: multinomial(Σ weights, weights / Σ weights) as floats.

    This is the count of each row when Σ weights expanded customers are drawn with replacement.
    """
    total = round(float(weights.sum()))
    return rng.multinomial(total, weights / weights.sum()).astype(float)


def _counts(owner: str, name: str, values: Any) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1 or not np.all(np.isfinite(arr)) or np.any(arr < 0) or np.any(arr != np.round(arr)):
        raise ModelInputError(
            f"bootstrap({owner}): {name} must be whole numbers >= 0 (they count customers, which are resampled)"
        )
    return arr


def _row_data(owner: str, columns: tuple[Any, ...], weights: Any) -> np.ndarray:
    """Whole-number weights, one per row of the (broadcast) columns."""
    if not columns:
        raise ModelInputError(f"bootstrap({owner}): pass the data columns the fitter's fit takes")
    try:
        shape = np.broadcast_shapes(*(np.shape(c) for c in columns))
    except ValueError as exc:
        raise ModelInputError(f"bootstrap({owner}): the data columns have different lengths") from exc
    if len(shape) != 1:
        raise ModelInputError(f"bootstrap({owner}): the data columns must be one-dimensional; got shape {shape}")
    if weights is None:
        return np.ones(shape[0])
    w = _counts(owner, "weights", weights)
    if w.size != shape[0] or w.sum() <= 0:
        raise ModelInputError(
            f"bootstrap({owner}): weights needs one count per row ({shape[0]}) and a positive total; got {w.size}"
        )
    return w


def _fit_rows(template: Any, columns: tuple[Any, ...], weights: np.ndarray, start: np.ndarray | None) -> np.ndarray:
    model = clone(template)
    if start is not None and isinstance(model, TransactionFitter):
        # The transaction fitters take their starting point from the ``_start`` hook; the clone's instance attribute
        # replaces it for this one fit.
        model._start = lambda _data: start  # type: ignore[method-assign]
    model.fit(*columns, weights=weights)
    return model.params_


def _fit_survivors(template: Any, cohorts: list[np.ndarray]) -> Any:
    return clone(template).fit(cohorts).params_


def _resample_survivors(rng: np.random.Generator, cohorts: list[np.ndarray]) -> list[np.ndarray]:
    """Each cohort's customers drawn with replacement: churn periods 1..L and 'still there at L' are the cells."""
    out = []
    for arr in cohorts:
        n0 = arr[0]
        if n0 <= 0:
            out.append(arr.copy())
            continue
        cells = np.append(-np.diff(arr), arr[-1])  # churned in period 1..L, survivors at L
        draw = rng.multinomial(int(n0), cells / n0).astype(float)
        out.append(n0 - np.concatenate([[0.0], np.cumsum(draw[:-1])]))
    return out


def bootstrap(
    fitter: Any,
    *data_columns: Any,
    n_resamples: int = 200,
    seed: int = 0,
    weights: Any = None,
    confidence: float | None = None,
) -> BootstrapResult:
    """Bootstrap a parametric model's estimates by resampling customers and refitting a clone.

    Parameters
    ----------
    fitter:
        A fitter used as a template (fitted or not; it is not modified): one of BetaGeoFitter,
        ModifiedBetaGeoFitter, ParetoNBDFitter, GammaGammaFitter, BetaGeoBetaBinomFitter, ShiftedBetaGeometricFitter.
    *data_columns:
        What the fitter's ``fit`` takes: (frequency, recency, T); (frequency, monetary_value) for Gamma-Gamma;
        (frequency, recency, n_periods) for BG/BB; the survivor counts (one sequence or a list of cohorts) for sBG —
        a fitted sBG's ``survivors_`` work, whichever way it was fitted.
    n_resamples:
        Resamples to draw; 200 gives standard errors to about ±5% and 95% percentile limits to a few per cent.
    seed:
        Seed of the draws (NumPy ``default_rng``).
    weights:
        Customers per row (whole numbers), for grouped rows; not for sBG, whose counts already are customers.
    confidence:
        Level of the percentile intervals; the fitter's ``confidence`` by default.

    Returns
    -------
    BootstrapResult

    Examples
    --------
    >>> from liuliang.models import BetaGeoFitter, datasets
    >>> d = datasets.load_cdnow_sample()
    >>> b = bootstrap(BetaGeoFitter(), d["frequency"], d["recency"], d["T"], n_resamples=20, seed=1)
    >>> b.n_converged + b.n_failed
    20
    """
    owner = type(fitter).__name__
    if not isinstance(fitter, TransactionFitter | BetaGeoBetaBinomFitter | ShiftedBetaGeometricFitter):
        raise UnsupportedOperationError(
            f"bootstrap supports {SUPPORTED}; got {owner} (retention curves and survival fit cells or use their "
            "own intervals)"
        )
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, int) or n_resamples < 2:
        raise ModelInputError(f"bootstrap({owner}): n_resamples must be an integer >= 2; got {n_resamples!r}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise ModelInputError(f"bootstrap({owner}): seed must be an integer; got {seed!r}")
    level = getattr(fitter, "confidence", 0.95) if confidence is None else confidence
    if not isinstance(level, int | float) or not 0 < level < 1:
        raise ModelInputError(f"bootstrap({owner}): confidence must be a number in (0, 1); got {level!r}")

    rng = np.random.default_rng(seed)
    if isinstance(fitter, ShiftedBetaGeometricFitter):
        if weights is not None:
            raise ModelInputError(f"bootstrap({owner}): survivor counts already count customers; drop weights")
        if len(data_columns) != 1:
            raise ModelInputError(f"bootstrap({owner}): pass the survivor counts as one argument")
        cohorts = [_counts(owner, "survivor counts", c) for c in _survivor_arrays(data_columns[0])]
        full = _fit_survivors(fitter, cohorts)

        def refit() -> Any:
            return _fit_survivors(fitter, _resample_survivors(rng, cohorts))
    else:
        w = _row_data(owner, data_columns, weights)
        full = _fit_rows(fitter, data_columns, w, None)
        start = full.to_numpy()

        def refit() -> Any:
            return _fit_rows(fitter, data_columns, resample_counts(rng, w), start)

    samples: list[np.ndarray] = []
    failures: list[str] = []
    for _ in range(n_resamples):
        try:
            samples.append(refit().to_numpy())
        except LiuliangError as exc:  # ConvergenceError, or a degenerate resample (nobody churned)
            failures.append(str(exc))
    if len(samples) < 2:
        raise ConvergenceError(
            f"bootstrap({owner}): only {len(samples)} of {n_resamples} resamples converged (first failure: "
            f"{failures[0] if failures else '-'}); the model is barely identified on these data: try more data or "
            "a simpler model"
        )
    estimates = np.vstack(samples)
    estimates.setflags(write=False)
    estimate = full.to_numpy().copy()
    estimate.setflags(write=False)
    return BootstrapResult(
        model=owner,
        param_names=tuple(str(n) for n in full.index),
        estimate=estimate,
        samples=estimates,
        confidence=float(level),
        n_resamples=n_resamples,
        n_failed=len(failures),
        failures=tuple(failures),
        seed=int(seed),
    )
