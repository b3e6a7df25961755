"""Beta-geometric / beta-Bernoulli (BG/BB) activity in discrete periods (Fader, Hardie & Shang 2010).

For "did they use it this week?" data, where each period offers one chance to be active: while alive, a user is
active in a period with probability p ~ Beta(α, β); at the start of each period an alive user dies with probability
θ ~ Beta(γ, δ) and never comes back. A user observed for ``n`` periods is summarised by ``frequency`` x (active
periods) and ``recency`` t_x (the last active period, 0 if never), so 10M users collapse into at most
(n + 1)(n + 2) / 2 distinct rows: fit on the rows with ``weights`` (the number of users in each).

Likelihood of one row (paper, eq. 5; B the beta function):

    L = B(α + x, β + n − x)/B(α, β) · B(γ, δ + n)/B(γ, δ)
        + Σ_{i=0}^{n − t_x − 1} B(α + x, β + t_x − x + i)/B(α, β) · B(γ + 1, δ + t_x + i)/B(γ, δ)

(alive throughout, or died in one of the periods after the last activity). Expected future activity is computed as
a sum over the future periods, Σ_k P(alive at n + k, active) — the same quantity as the paper's closed form (eq. 13)
without its singularity at γ = 1.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from scipy import special

from liuliang.errors import LiuliangError
from liuliang.models._likelihood import MLEFitter, check_confidence, dlbeta, lbeta, maximise, require_plotly


def _rows(frequency: Any, recency: Any, n_periods: Any, weights: Any = None) -> tuple[np.ndarray, ...]:
    x = np.atleast_1d(np.asarray(frequency, dtype=float))
    tx = np.atleast_1d(np.asarray(recency, dtype=float))
    n = np.broadcast_to(np.asarray(n_periods, dtype=float), x.shape).astype(float)
    w = np.ones_like(x) if weights is None else np.broadcast_to(np.asarray(weights, dtype=float), x.shape)
    if not (x.shape == tx.shape == n.shape):
        raise LiuliangError("BetaGeoBetaBinomFitter: frequency, recency and n_periods must have the same length")
    for name, v in (("frequency", x), ("recency", tx), ("n_periods", n)):
        if np.any(~np.isfinite(v)) or np.any(v < 0) or np.any(v != np.round(v)):
            raise LiuliangError(f"BetaGeoBetaBinomFitter: {name} must be whole numbers >= 0")
    bad = (x > tx) | (tx > n) | ((x == 0) != (tx == 0))
    if np.any(bad):
        i = int(np.flatnonzero(bad)[0])
        raise LiuliangError(
            f"BetaGeoBetaBinomFitter: row {i} has frequency={x[i]:g}, recency={tx[i]:g}, n_periods={n[i]:g}; "
            "need 0 <= frequency <= recency <= n_periods, and recency = 0 exactly when frequency = 0"
        )
    if np.any(~np.isfinite(w)) or np.any(w < 0):
        raise LiuliangError("BetaGeoBetaBinomFitter: weights must be finite and >= 0")
    return x, tx, n, np.asarray(w, dtype=float)


def _log_terms(params: np.ndarray, x: np.ndarray, tx: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, ...]:
    """Log of each likelihood term (rows × terms, −inf where absent) and its partials in α, β, γ, δ."""
    a, b, g, d = params
    m = int(np.max(n - tx)) if x.size else 0
    i = np.arange(m)[None, :]
    present = i < (n - tx)[:, None]
    xc, txc = x[:, None], tx[:, None]
    # term 0: alive throughout
    t0 = lbeta(a + x, b + n - x) + lbeta(g, d + n)
    a0, b0 = dlbeta(a + x, b + n - x)
    g0, d0 = dlbeta(g, d + n)
    # terms 1..: died at the start of period t_x + i + 1
    bi = b + txc - xc + i
    ti = lbeta(a + xc, bi) + lbeta(g + 1, d + txc + i)
    ai_, bi_ = dlbeta(a + xc, bi)
    gi_, di_ = dlbeta(g + 1, d + txc + i)
    ti = np.where(present, ti, -np.inf)
    terms = np.concatenate([t0[:, None], ti], axis=1)
    da = np.concatenate([a0[:, None], ai_], axis=1)
    db = np.concatenate([b0[:, None], bi_], axis=1)
    dg = np.concatenate([g0[:, None], gi_], axis=1)
    dd = np.concatenate([d0[:, None], di_], axis=1)
    return terms, da, db, dg, dd


def bgbb_log_likelihood(params: np.ndarray, x: np.ndarray, tx: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Per-row log-likelihood at natural-scale (α, β, γ, δ)."""
    a, b, g, d = params
    terms = _log_terms(np.asarray(params, dtype=float), x, tx, n)[0]
    return special.logsumexp(terms, axis=1) - lbeta(a, b) - lbeta(g, d)


def bgbb_negloglik(
    u: np.ndarray, x: np.ndarray, tx: np.ndarray, n: np.ndarray, w: np.ndarray
) -> tuple[float, np.ndarray]:
    """Weighted negative log-likelihood and its gradient in (log α, log β, log γ, log δ)."""
    p = np.exp(u)
    a, b, g, d = p
    terms, da, db, dg, dd = _log_terms(p, x, tx, n)
    lse = special.logsumexp(terms, axis=1)
    if not np.all(np.isfinite(lse)):
        return np.inf, np.zeros(4)
    soft = np.exp(terms - lse[:, None])
    ab_a, ab_b = dlbeta(a, b)
    gd_g, gd_d = dlbeta(g, d)
    ll = w @ (lse - lbeta(a, b) - lbeta(g, d))
    grad = np.array(
        [
            w @ (np.sum(soft * np.nan_to_num(da), axis=1) - ab_a),
            w @ (np.sum(soft * np.nan_to_num(db), axis=1) - ab_b),
            w @ (np.sum(soft * np.nan_to_num(dg), axis=1) - gd_g),
            w @ (np.sum(soft * np.nan_to_num(dd), axis=1) - gd_d),
        ]
    )
    return -float(ll), -grad * p


class BetaGeoBetaBinomFitter(MLEFitter):
    """BG/BB model of discrete-period activity, fitted by maximum likelihood on (frequency, recency, n_periods).

    Parameters
    ----------
    confidence:
        Level of the intervals in :attr:`summary` (0.95).

    Attributes
    ----------
    alpha_, beta_:
        Beta(α, β) of the per-period activity probability while alive.
    gamma_, delta_:
        Beta(γ, δ) of the per-period death probability.
    params_, standard_errors_, variance_matrix_, log_likelihood_:
        Estimates, Hessian standard errors, covariance and maximised log-likelihood.
    n_obs_:
        Users in the fit (sum of weights).

    See Also
    --------
    liuliang.models.sbg.ShiftedBetaGeometricFitter: the contractual case, where death is observed.

    Examples
    --------
    >>> m = BetaGeoBetaBinomFitter().fit([0, 1, 2, 6], [0, 1, 5, 6], 6, weights=[50, 20, 15, 15])
    >>> p = m.probability_alive(2, 5, 6)
    """

    _param_names: ClassVar[tuple[str, ...]] = ("alpha", "beta", "gamma", "delta")
    _transforms: ClassVar[tuple[str, ...]] = ("log", "log", "log", "log")

    def __init__(self, confidence: float = 0.95) -> None:
        self.confidence = confidence

    def fit(self, frequency: Any, recency: Any, n_periods: Any, *, weights: Any = None) -> BetaGeoBetaBinomFitter:
        """Fit on one row per user, or per distinct (frequency, recency, n_periods) with ``weights`` = users."""
        check_confidence(type(self).__name__, self.confidence)
        x, tx, n, w = _rows(frequency, recency, n_periods, weights)
        keep = w > 0
        x, tx, n, w = x[keep], tx[keep], n[keep], w[keep]
        if not x.size:
            raise LiuliangError("BetaGeoBetaBinomFitter: no rows with positive weight")

        def nll(u: np.ndarray) -> tuple[float, np.ndarray]:
            return bgbb_negloglik(u, x, tx, n, w)

        starts = [(0.0, 0.0, 0.0, 0.0), (0.0, 0.0, -1.0, 1.0), (1.0, 0.0, 0.0, 2.0)]
        mle = maximise(nll, starts, model="BetaGeoBetaBinomFitter")
        self._store(mle, n_obs=float(w.sum()))
        self.alpha_, self.beta_, self.gamma_, self.delta_ = (float(v) for v in self.params_)
        self._data_ = (x, tx, n, w)
        return self

    # -- predictions ------------------------------------------------------------------------------------------
    def _params(self) -> np.ndarray:
        self._check_fitted()
        return np.array([self.alpha_, self.beta_, self.gamma_, self.delta_])

    def log_likelihood(self, frequency: Any, recency: Any, n_periods: Any) -> np.ndarray:
        """Per-row log-likelihood at the fitted parameters."""
        x, tx, n, _ = _rows(frequency, recency, n_periods)
        return bgbb_log_likelihood(self._params(), x, tx, n)

    def probability_alive(self, frequency: Any, recency: Any, n_periods: Any, *, periods_ahead: int = 1) -> Any:
        """P(alive in period n + ``periods_ahead`` | history); the paper's eq. 11 is ``periods_ahead=1``."""
        a, b, g, d = self._params()
        x, tx, n, _ = _rows(frequency, recency, n_periods)
        if periods_ahead < 0:
            raise LiuliangError("BetaGeoBetaBinomFitter.probability_alive: periods_ahead must be >= 0")
        num = lbeta(a + x, b + n - x) - lbeta(a, b) + lbeta(g, d + n + periods_ahead) - lbeta(g, d)
        return np.exp(num - bgbb_log_likelihood(self._params(), x, tx, n))

    def expected_transactions(self, periods: int, frequency: Any, recency: Any, n_periods: Any) -> np.ndarray:
        """Expected active periods among the next ``periods`` (n + 1 .. n + periods), given the history."""
        a, b, g, d = self._params()
        x, tx, n, _ = _rows(frequency, recency, n_periods)
        if not isinstance(periods, int | np.integer) or periods < 0:
            raise LiuliangError(f"BetaGeoBetaBinomFitter: periods must be an integer >= 0; got {periods!r}")
        k = np.arange(1, periods + 1)[None, :]
        alive = special.logsumexp(lbeta(g, d + n[:, None] + k), axis=1) if periods else np.full(x.shape, -np.inf)
        log_num = lbeta(a + x + 1, b + n - x) - lbeta(a, b) + alive - lbeta(g, d)
        return np.exp(log_num - bgbb_log_likelihood(self._params(), x, tx, n))

    def expected_transactions_new(self, periods: Any) -> np.ndarray:
        """E[X(n)]: expected active periods in the first ``periods`` periods of a new user."""
        a, b, g, d = self._params()
        n = np.atleast_1d(np.asarray(periods, dtype=int))
        top = int(n.max()) if n.size else 0
        cum = np.concatenate([[0.0], np.cumsum(np.exp(lbeta(g, d + np.arange(1, top + 1)) - lbeta(g, d)))])
        return a / (a + b) * cum[n]

    def probability_of_n_transactions(self, x: Any, n_periods: int) -> np.ndarray:
        """P(X(n) = x) for a new user (paper, eq. 7)."""
        a, b, g, d = self._params()
        x = np.atleast_1d(np.asarray(x, dtype=float))
        n = float(n_periods)
        out = special.comb(n, x) * np.exp(lbeta(a + x, b + n - x) - lbeta(a, b) + lbeta(g, d + n) - lbeta(g, d))
        for i in range(int(n)):
            xi = x[x <= i]
            out[x <= i] += special.comb(i, xi) * np.exp(
                lbeta(a + xi, b + i - xi) - lbeta(a, b) + lbeta(g + 1, d + i) - lbeta(g, d)
            )
        return out

    # -- display ----------------------------------------------------------------------------------------------
    def _repr_fitted(self) -> str:
        return f"{self.n_obs_:,.0f} users"

    def plot(self) -> Any:
        """Plotly bar chart: users by number of active periods, observed vs expected under the fit."""
        self._check_fitted()
        go = require_plotly(type(self).__name__)
        x, _, n, w = self._data_
        top = int(n.max())
        observed = np.bincount(x.astype(int), weights=w, minlength=top + 1)
        expected = np.zeros(top + 1)
        for nv in np.unique(n):
            users = w[n == nv].sum()
            k = np.arange(int(nv) + 1)
            expected[k] += users * self.probability_of_n_transactions(k, int(nv))
        ks = np.arange(top + 1)
        fig = go.Figure([go.Bar(x=ks, y=observed, name="observed"), go.Bar(x=ks, y=expected, name="BG/BB")])
        fig.update_layout(barmode="group", xaxis_title="active periods", yaxis_title="users")
        return fig
