"""Maximum-likelihood plumbing shared by the period-retention models (sBG, BG/BB, retention curves, cure fraction).

Each model writes one function: its negative log-likelihood *and its analytic gradient* in an unconstrained
parameterisation (``log`` for positive parameters, ``logit`` for shares). Everything else lives here, once:

- :func:`maximise` runs BFGS from a few starts, keeps the best, and refuses to return a point whose gradient is not
  near zero (a :class:`ConvergenceError` that says what to try), so a silent half-fit never reaches a report.
- The Hessian is central differences of the analytic gradient (accurate to ~1e-8 relative, unlike differencing
  the likelihood twice), inverted for the covariance of the unconstrained parameters.
- :class:`MLEFitter` turns that into the lifelines-style ``summary`` table: natural-scale estimates, delta-method
  standard errors, and confidence intervals built on the unconstrained scale and mapped back, so a shape parameter's
  interval never crosses zero and a share's never leaves [0, 1].
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from scipy import optimize, special, stats

from liuliang.errors import ConvergenceError, LiuliangError, NotFittedError

NLL = Callable[[np.ndarray], tuple[float, np.ndarray]]


@dataclass(frozen=True)
class MLEResult:
    """The optimum in unconstrained coordinates.

    Attributes
    ----------
    x: the unconstrained parameters at the optimum.
    neg_log_likelihood: value of the objective there.
    hessian: Hessian of the negative log-likelihood in unconstrained coordinates.
    iterations: optimiser iterations of the winning start.
    """

    x: np.ndarray
    neg_log_likelihood: float
    hessian: np.ndarray
    iterations: int

    def covariance(self) -> np.ndarray:
        """Inverse Hessian; a singular Hessian (an unidentified parameter) raises rather than returning junk."""
        try:
            cov = np.linalg.inv(self.hessian)
        except np.linalg.LinAlgError as exc:
            raise ConvergenceError(
                "the Hessian at the optimum is singular: a parameter is not identified by these data "
                "(try a simpler model, more periods, or fix a parameter)"
            ) from exc
        return (cov + cov.T) / 2


def numerical_hessian(nll: NLL, x: np.ndarray) -> np.ndarray:
    """Central differences of the analytic gradient, symmetrised."""
    x = np.asarray(x, dtype=float)
    k = x.size
    h = 1e-5 * np.maximum(1.0, np.abs(x))
    out = np.empty((k, k))
    for j in range(k):
        e = np.zeros(k)
        e[j] = h[j]
        out[:, j] = (nll(x + e)[1] - nll(x - e)[1]) / (2 * h[j])
    return (out + out.T) / 2


def maximise(
    nll: NLL,
    starts: Sequence[Sequence[float]],
    *,
    model: str,
    max_iter: int = 1000,
    gtol: float = 1e-6,
) -> MLEResult:
    """Minimise ``nll`` from each start (BFGS with the analytic gradient) and keep the best finite optimum."""
    best: Any = None
    for x0 in starts:
        with np.errstate(all="ignore"):
            res = optimize.minimize(
                nll, np.asarray(x0, dtype=float), jac=True, method="BFGS", options={"maxiter": max_iter, "gtol": gtol}
            )
        if np.isfinite(res.fun) and (best is None or res.fun < best.fun):
            best = res
    if best is None:
        raise ConvergenceError(
            f"{model}: the log-likelihood is not finite at any start (check for negative or inconsistent counts)"
        )
    grad = nll(best.x)[1]
    scale = max(1.0, abs(best.fun))
    if not np.all(np.isfinite(best.x)) or np.max(np.abs(grad)) > 1e-3 * scale:
        raise ConvergenceError(
            f"{model}: the optimiser stopped at a point whose gradient is not zero (max |grad| = "
            f"{np.max(np.abs(grad)):.3g}, {best.message}); try other starting values, a simpler model, or check "
            "whether the data pin a parameter at its boundary (e.g. nobody churns)"
        )
    return MLEResult(best.x, float(best.fun), numerical_hessian(nll, best.x), int(best.nit))


def to_natural(x: np.ndarray, transforms: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Natural-scale values and d(natural)/d(unconstrained) for each coordinate (``log``, ``logit`` or ``none``)."""
    x = np.asarray(x, dtype=float)
    value = np.empty_like(x)
    deriv = np.empty_like(x)
    for i, tr in enumerate(transforms):
        if tr == "log":
            value[i] = np.exp(x[i])
            deriv[i] = value[i]
        elif tr == "logit":
            value[i] = special.expit(x[i])
            deriv[i] = value[i] * (1 - value[i])
        else:
            value[i], deriv[i] = x[i], 1.0
    return value, deriv


def from_natural(value: Sequence[float], transforms: Sequence[str]) -> np.ndarray:
    out = []
    for v, tr in zip(value, transforms, strict=True):
        out.append(np.log(v) if tr == "log" else special.logit(v) if tr == "logit" else v)
    return np.asarray(out, dtype=float)


def check_confidence(owner: str, confidence: float) -> float:
    if not isinstance(confidence, int | float) or not 0 < confidence < 1:
        raise LiuliangError(f"{owner}: confidence must be a number in (0, 1); got {confidence!r}")
    return float(confidence)


class MLEFitter:
    """Base for fitters whose parameters come from :func:`maximise`.

    Subclasses declare ``_param_names`` and ``_transforms`` and call :meth:`_store` at the end of ``fit``; they get
    ``params_``, ``variance_matrix_``, ``standard_errors_``, ``log_likelihood_``, ``summary`` and ``__repr__``.
    """

    _param_names: ClassVar[tuple[str, ...]] = ()
    _transforms: ClassVar[tuple[str, ...]] = ()
    confidence: float

    # -- set by _store -----------------------------------------------------------------------------------------
    def _store(
        self,
        mle: MLEResult,
        *,
        n_obs: float,
        names: Sequence[str] | None = None,
        transforms: Sequence[str] | None = None,
    ) -> None:
        names = tuple(names or self._param_names)
        transforms = tuple(transforms or self._transforms)
        value, deriv = to_natural(mle.x, transforms)
        cov_u = mle.covariance()
        cov = cov_u * np.outer(deriv, deriv)
        self._unconstrained_ = mle.x
        self._unconstrained_cov_ = cov_u
        self._fit_transforms_ = transforms
        self.params_ = pd.Series(value, index=list(names), name="coef")
        self.variance_matrix_ = pd.DataFrame(cov, index=list(names), columns=list(names))
        self.standard_errors_ = pd.Series(np.sqrt(np.clip(np.diag(cov), 0, None)), index=list(names), name="se(coef)")
        self.log_likelihood_ = -mle.neg_log_likelihood
        self.n_obs_ = n_obs
        self.iterations_ = mle.iterations

    def _check_fitted(self) -> None:
        if not hasattr(self, "params_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted yet: call fit(...) first")

    @property
    def summary(self) -> pd.DataFrame:
        """coef, se(coef) and the confidence interval (built on the log/logit scale, mapped back)."""
        self._check_fitted()
        level = check_confidence(type(self).__name__, self.confidence)
        z = stats.norm.ppf(0.5 + level / 2)
        se_u = np.sqrt(np.clip(np.diag(self._unconstrained_cov_), 0, None))
        lo, _ = to_natural(self._unconstrained_ - z * se_u, self._fit_transforms_)
        hi, _ = to_natural(self._unconstrained_ + z * se_u, self._fit_transforms_)
        pct = f"{level:.0%}"
        return pd.DataFrame(
            {
                "coef": self.params_.to_numpy(),
                "se(coef)": self.standard_errors_.to_numpy(),
                f"coef lower {pct}": lo,
                f"coef upper {pct}": hi,
            },
            index=self.params_.index,
        )

    def _repr_fitted(self) -> str:
        return f"{self.n_obs_:,.0f} observations"

    def _repr_html_(self) -> str:
        """Notebook display: "not fitted", or the summary table and every learned scalar (lifelines' layout)."""
        from liuliang._display import fitter_html

        fitted = hasattr(self, "params_")
        return fitter_html(self, fitted=fitted, summary=self.summary if fitted else None)

    def __repr__(self) -> str:
        name = type(self).__name__
        if not hasattr(self, "params_"):
            return f"<{name}: not fitted>"
        values = ", ".join(f"{k}={v:.4g}" for k, v in self.params_.items())
        return f"<{name}: fitted on {self._repr_fitted()}, {values}, log-likelihood={self.log_likelihood_:.6g}>"


def require_plotly(owner: str) -> Any:
    try:
        import plotly.graph_objects as go
    except ImportError as exc:  # pragma: no cover - plotly is a dependency
        raise LiuliangError(f"{owner}.plot() needs plotly (pip install plotly)") from exc
    return go


def lbeta(a: Any, b: Any) -> Any:
    return special.betaln(a, b)


def dlbeta(a: Any, b: Any) -> tuple[Any, Any]:
    """Partial derivatives of ln B(a, b) with respect to a and b."""
    psi_ab = special.digamma(a + b)
    return special.digamma(a) - psi_ab, special.digamma(b) - psi_ab
