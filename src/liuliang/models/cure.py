"""Mixture cure model of time to churn: the share who never churn is the habit share.

Kaplan-Meier curves of subsidy cohorts flatten instead of reaching zero: some users formed the habit and will not
churn on any horizon we can observe. A mixture cure model says so explicitly:

    S(t) = π + (1 − π) · S_u(t),   S_u(t) = exp(−(t / λ)^ρ)   (Weibull latency; ρ = 1: exponential)
                                   S_u(t) = (1 + t / λ)^(−ρ)   (Lomax latency)

π ("cure fraction") is the habit share; the remaining 1 − π churn at Weibull times. Fitted by maximum likelihood
on right-censored durations: a churned user contributes (1 − π) f_u(t), a still-active one π + (1 − π) S_u(t).

The Lomax (Pareto II) latency is what a cohort of users with *different* constant churn hazards produces (a
gamma mixture of exponentials, the continuous twin of the shifted-beta-geometric): a heavy, power-law tail of
slow churners. With Weibull latency that tail has nowhere to go but into π, so on subsidy cohorts π is inflated;
prefer ``latency="lomax"`` there.

What π estimates: the share whose churn — as defined when building the durations (e.g. no activity for 28 days)
— never happens. That is the habit share only when nothing else keeps a user from churning inside the window:
a user who comes back once near the end (to redeem a card before it expires) or a slow churner whose tail the
latency cannot extrapolate is counted too. On short follow-up read π as an upper bound on the habit share.

π is only identified when follow-up is long compared with the churners' lifetimes (the curve must visibly level
off); with short follow-up the standard error of π is large, and it is reported, not hidden. Durations are
treated as continuous; for whole-day data, pass day counts with churn at day ≥ 1 (a churn at time 0 has zero
density and is refused).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from scipy import special

from liuliang.errors import LiuliangError
from liuliang.models._likelihood import MLEFitter, check_confidence, from_natural, maximise, require_plotly


def cure_negloglik(
    u: np.ndarray, t: np.ndarray, e: np.ndarray, w: np.ndarray, weibull: bool
) -> tuple[float, np.ndarray]:
    """Negative log-likelihood and gradient in (logit π, log λ[, log ρ])."""
    pi = special.expit(u[0])
    lam = np.exp(u[1])
    rho = np.exp(u[2]) if weibull else 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        lnz = rho * (np.log(t) - np.log(lam))
        z = np.exp(lnz)
        zlnz = np.where(z > 0, z * lnz, 0.0)
    ev, ce = e, ~e
    # churned: log(1 - pi) + log rho - log lam + (rho - 1)(log t - log lam) - z
    ll_e = np.log1p(-pi) + np.log(rho) - np.log(lam) + (rho - 1) / rho * lnz - z
    # still active: log(pi + (1 - pi) exp(-z))
    s = np.exp(-z)
    big = pi + (1 - pi) * s
    ll_c = np.log(big)
    ll = w[ev] @ ll_e[ev] + w[ce] @ ll_c[ce]
    if not np.isfinite(ll):
        return np.inf, np.zeros(u.size)
    g_pi = w[ev] @ np.full(ev.sum(), -pi) + w[ce] @ (pi * (1 - pi) * (1 - s[ce]) / big[ce])
    g_lam = w[ev] @ (rho * z[ev] - rho) + w[ce] @ ((1 - pi) * s[ce] * rho * z[ce] / big[ce])
    grad = [g_pi, g_lam]
    if weibull:
        g_rho = w[ev] @ (1 + lnz[ev] - zlnz[ev]) + w[ce] @ (-(1 - pi) * s[ce] * zlnz[ce] / big[ce])
        grad.append(g_rho)
    return -float(ll), -np.array(grad)


def lomax_cure_negloglik(u: np.ndarray, t: np.ndarray, e: np.ndarray, w: np.ndarray) -> tuple[float, np.ndarray]:
    """Negative log-likelihood and gradient in (logit π, log λ, log ρ) with S_u(t) = (1 + t/λ)^(−ρ)."""
    pi, lam, rho = special.expit(u[0]), np.exp(u[1]), np.exp(u[2])
    x = t / lam
    lz = np.log1p(x)
    dlz = x / (1 + x)  # d lz / d log λ = −dlz
    ev, ce = e, ~e
    # churned: log(1 − π) + log ρ − log λ − (ρ + 1) log(1 + t/λ)
    ll_e = np.log1p(-pi) + np.log(rho) - np.log(lam) - (rho + 1) * lz[ev]
    s = np.exp(-rho * lz[ce])
    big = pi + (1 - pi) * s
    ll = w[ev] @ ll_e + w[ce] @ np.log(big)
    if not np.isfinite(ll):
        return np.inf, np.zeros(u.size)
    g_pi = -pi * w[ev].sum() + w[ce] @ (pi * (1 - pi) * (1 - s) / big)
    g_lam = w[ev] @ (-1 + (rho + 1) * dlz[ev]) + w[ce] @ ((1 - pi) * s * rho * dlz[ce] / big)
    g_rho = w[ev] @ (1 - rho * lz[ev]) + w[ce] @ (-(1 - pi) * s * rho * lz[ce] / big)
    return -float(ll), -np.array([g_pi, g_lam, g_rho])


class CureFractionFitter(MLEFitter):
    """Mixture cure model (Weibull or exponential latency) fitted by maximum likelihood.

    Parameters
    ----------
    latency:
        ``"weibull"``, ``"exponential"`` (Weibull with ρ fixed at 1) or ``"lomax"`` (S_u = (1 + t/λ)^(−ρ): churners
        with heterogeneous constant hazards; see the module docstring).
    confidence:
        Level of the :attr:`summary` intervals (0.95).

    Attributes
    ----------
    cure_fraction_:
        π, the share who never churn under the churn definition of the durations (see the module docstring for
        how it relates to the habit share).
    scale_, shape_:
        λ and ρ of the churners' time to churn (Weibull or Lomax; shape 1 for exponential latency).
    params_, standard_errors_, variance_matrix_, log_likelihood_:
        Estimates (cure_fraction, scale[, shape]), Hessian standard errors, covariance, log-likelihood.
    n_obs_:
        Users (sum of weights).

    See Also
    --------
    liuliang.models.survival.SurvivalAnalysis: the Kaplan-Meier curves this model smooths and extrapolates.

    Examples
    --------
    >>> m = CureFractionFitter(latency="exponential").fit([1, 2, 3, 5, 30, 30], [True, True, True, True, False, False])
    >>> 0 < m.cure_fraction_ < 1
    True
    """

    _param_names: ClassVar[tuple[str, ...]] = ("cure_fraction", "scale", "shape")
    _transforms: ClassVar[tuple[str, ...]] = ("logit", "log", "log")

    def __init__(self, latency: str = "weibull", *, confidence: float = 0.95) -> None:
        self.latency = latency
        self.confidence = confidence

    def fit(self, durations: Any, churned: Any, *, weights: Any = None) -> CureFractionFitter:
        """Fit on durations (> 0 for churned users) and churn flags (False: still active, right-censored)."""
        if self.latency not in ("weibull", "exponential", "lomax"):
            raise LiuliangError(
                f"CureFractionFitter: latency must be 'weibull', 'exponential' or 'lomax'; got {self.latency!r}"
            )
        check_confidence(type(self).__name__, self.confidence)
        t = np.asarray(durations, dtype=float).ravel()
        e = np.asarray(churned, dtype=bool).ravel()
        w = np.ones_like(t) if weights is None else np.asarray(weights, dtype=float).ravel()
        if not (t.shape == e.shape == w.shape) or t.size == 0:
            raise LiuliangError("CureFractionFitter: durations, churned and weights must be non-empty, same length")
        if np.any(~np.isfinite(t)) or np.any(t < 0) or np.any(t[e] <= 0):
            raise LiuliangError("CureFractionFitter: durations must be >= 0, and > 0 for churned users")
        if np.any(~np.isfinite(w)) or np.any(w < 0):
            raise LiuliangError("CureFractionFitter: weights must be finite and >= 0")
        if not e.any() or e.all():
            raise LiuliangError(
                "CureFractionFitter: needs both churned and still-active users (the cure fraction is otherwise "
                "0 or not identified)"
            )
        weibull = self.latency == "weibull"
        three = self.latency != "exponential"

        def nll(u: np.ndarray) -> tuple[float, np.ndarray]:
            if self.latency == "lomax":
                return lomax_cure_negloglik(u, t, e, w)
            return cure_negloglik(u, t, e, w, weibull)

        active = float(w[~e].sum() / w.sum())
        scale0 = float(np.average(t[e], weights=w[e]))
        starts = []
        for pi0 in (active / 2, active * 0.9):
            for rho0 in (0.7, 1.5) if three else (1.0,):
                x0 = from_natural([max(pi0, 1e-3), scale0, rho0], self._transforms)
                starts.append(x0 if three else x0[:2])
        mle = maximise(nll, starts, model=f"CureFractionFitter({self.latency})")
        k = 3 if three else 2
        self._store(mle, n_obs=float(w.sum()), names=self._param_names[:k], transforms=self._transforms[:k])
        self.cure_fraction_ = float(self.params_["cure_fraction"])
        self.scale_ = float(self.params_["scale"])
        self.shape_ = float(self.params_["shape"]) if three else 1.0
        self._data_ = (t, e, w)
        return self

    def survival(self, t: Any) -> np.ndarray:
        """S(t) = π + (1 − π) S_u(t): share of a cohort not yet churned at t."""
        self._check_fitted()
        t = np.asarray(t, dtype=float)
        if self.latency == "lomax":
            latent = (1 + t / self.scale_) ** (-self.shape_)
        else:
            latent = np.exp(-((t / self.scale_) ** self.shape_))
        return self.cure_fraction_ + (1 - self.cure_fraction_) * latent

    def probability_cured(self, t: Any) -> np.ndarray:
        """P(habit user | still active at t) = π / S(t): who among today's actives will never churn."""
        return self.cure_fraction_ / self.survival(t)

    def _repr_fitted(self) -> str:
        return f"{self.n_obs_:,.0f} users, {self.latency} latency"

    def plot(self, horizon: float | None = None) -> Any:
        """Plotly figure: Kaplan-Meier curve (lifelines), fitted S(t) and the cure-fraction floor."""
        self._check_fitted()
        from lifelines import KaplanMeierFitter

        go = require_plotly(type(self).__name__)
        t, e, w = self._data_
        km = KaplanMeierFitter().fit(t, e, weights=w).survival_function_.iloc[:, 0]
        grid = np.linspace(0, horizon if horizon is not None else float(t.max()) * 1.5, 200)
        fig = go.Figure(
            [
                go.Scatter(x=km.index, y=km.to_numpy(), line={"shape": "hv"}, name="Kaplan-Meier"),
                go.Scatter(x=grid, y=self.survival(grid), name="mixture cure fit"),
            ]
        )
        fig.add_hline(y=self.cure_fraction_, line_dash="dot", annotation_text="habit share")
        fig.update_layout(xaxis_title="time", yaxis_title="share not churned", yaxis_range=[0, 1.02])
        return fig
