"""BG/NBD: who is still buying, and how much will they buy (Fader, Hardie & Lee 2005).

While alive a customer buys as a Poisson process with rate λ ~ Gamma(r, α); after *each repeat purchase* she drops
out for good with probability p ~ Beta(a, b). Only purchases are observed, never the dropout, so a customer who has
been quiet for long since a burst of buying is probably gone while one who never bought again may still be around —
this is how the model separates the subsidy's "visits" (bursts that end) from habits (steady buyers still alive).

Formulas (FHL 2005, "Counting Your Customers the Easy Way", *Marketing Science* 24(2), eqs. 6-11; the derivations
are in the technical appendix of the same paper):

- L(r, α, a, b | x, t_x, T) = B(a, b+x)/B(a, b) · Γ(r+x) α^r / (Γ(r) (α+T)^(r+x))
  + δ(x>0) · B(a+1, b+x−1)/B(a, b) · Γ(r+x) α^r / (Γ(r) (α+t_x)^(r+x))
- P(alive | x, t_x, T) = 1 / (1 + δ(x>0) · a/(b+x−1) · ((α+T)/(α+t_x))^(r+x))
- E[X(t)] = (a+b−1)/(a−1) · [1 − (α/(α+t))^r · ₂F₁(r, b; a+b−1; t/(α+t))]
- E[Y(t) | x, t_x, T] = (a+b+x−1)/(a−1) · [1 − ((α+T)/(α+T+t))^(r+x) ₂F₁(r+x, b+x; a+b+x−1; t/(α+T+t))]
  · P(alive | x, t_x, T)
- P(X(t) = n) = B(a, b+n)/B(a, b) · NB(n) + δ(n>0) · B(a+1, b+n−1)/B(a, b) · P(NB ≥ n), where NB is the
  negative binomial count with P(N = j) = Γ(r+j)/(Γ(r) j!) (α/(α+t))^r (t/(α+t))^j; P(NB ≥ n) is the regularised
  incomplete beta I_{t/(α+t)}(n, r).

The log-likelihood is computed as ``A1 + logaddexp(A2, A3)`` (the two cases "alive at T" and "dropped after the last
purchase"), which never under- or overflows for heavy buyers; its gradient is analytic (digamma terms).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from scipy import special

from liuliang.models._base import (
    Compressed,
    PurchaseCountFitter,
    check_rft,
    check_weights,
    compress,
    nbd_start,
    shaped,
)


def frequency_groups(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct frequencies and each row's index into them.

    The special functions of the BG-type likelihoods (Γ, B and ψ of arguments shifted by x) depend on the row only
    through x, and a calibration summary has few distinct x (CDNOW: 23 in 1,016 rows), so they are evaluated once per
    distinct x and gathered; this, not the logs and exps left per row, was most of an evaluation's cost.
    """
    ux, inv = np.unique(x, return_inverse=True)
    return ux, inv.reshape(-1)


def _row_loglik(
    params: np.ndarray,
    x: np.ndarray,
    tx: np.ndarray,
    T: np.ndarray,
    *,
    grad: bool,
    groups: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    r, alpha, a, b = params
    ux, inv = frequency_groups(x) if groups is None else groups
    pos = ux > 0
    x1 = np.where(pos, ux, 1.0)  # keeps b + x - 1 > 0 in the masked-out branch
    lbab = special.betaln(a, b)
    log_alpha = np.log(alpha)
    log_aT = np.log(alpha + T)
    log_atx = np.log(alpha + tx)
    rx = r + x
    a1 = (special.gammaln(r + ux) - special.gammaln(r))[inv] + r * log_alpha
    a2 = (special.betaln(a, b + ux) - lbab)[inv] - rx * log_aT
    a3 = np.where(pos, special.betaln(a + 1, b + x1 - 1) - lbab, -np.inf)[inv] - rx * log_atx
    tail = np.logaddexp(a2, a3)
    ll = a1 + tail
    if not grad:
        return ll, None
    w2 = np.exp(a2 - tail)
    w3 = np.exp(a3 - tail)
    psi = special.digamma
    psi_ab, psi_abx = psi(a + b), psi(a + b + ux)
    d_r = (psi(r + ux) - psi(r))[inv] + log_alpha - w2 * log_aT - w3 * log_atx
    d_alpha = r / alpha - rx * (w2 / (alpha + T) + w3 / (alpha + tx))
    d_a = (psi_ab - psi_abx)[inv] + w3 / a
    d_b = (psi(b + ux) - psi_abx - psi(b) + psi_ab)[inv] - w3 * np.where(pos, 1 / (b + x1 - 1), 0.0)[inv]
    return ll, np.column_stack([d_r, d_alpha, d_a, d_b])


class BetaGeoFitter(PurchaseCountFitter):
    """BG/NBD model of repeat purchasing with dropout after a purchase.

    Parameters
    ----------
    confidence : float, default 0.95
        Level of the intervals in :attr:`summary`.
    max_iter : int, default 1000
        Optimiser iterations (L-BFGS-B on log-parameters, analytic gradient).
    tol : float, default 1e-9
        Gradient tolerance on the mean log-likelihood per customer.

    Attributes
    ----------
    params_ : pandas.Series
        r, alpha, a, b.
    log_likelihood_ : float
        Maximised log-likelihood (FHL's definition, so it matches their -9582.4 on CDNOW).
    standard_errors_, variance_matrix_ : pandas.Series, pandas.DataFrame
        From the Hessian: central differences of the analytic gradient at the optimum, in log-parameters, then the
        delta method.
    n_customers_, n_rows_, n_iter_ : float, int, int
        Total weight, distinct (frequency, recency, T) rows actually fitted, optimiser iterations.

    See Also
    --------
    ModifiedBetaGeoFitter : dropout possible right after the first purchase too.
    ParetoNBDFitter : dropout at any time rather than after purchases.

    Examples
    --------
    >>> from liuliang.models import BetaGeoFitter, datasets
    >>> d = datasets.load_cdnow_sample()
    >>> m = BetaGeoFitter().fit(d["frequency"], d["recency"], d["T"])
    >>> round(m.log_likelihood_, 1)
    -9582.4
    >>> round(m.probability_alive(2, 30.43, 38.86), 3)
    0.727
    """

    _param_names: ClassVar[tuple[str, ...]] = ("r", "alpha", "a", "b")

    def fit(self, frequency: Any, recency: Any, T: Any, weights: Any = None) -> BetaGeoFitter:
        """Fit by maximum likelihood on a calibration summary.

        ``frequency`` is the number of repeat purchases, ``recency`` the age at the last one (0 if none), ``T`` the
        age at the end of calibration, all in one time unit; ``weights`` counts customers per row (e.g. pre-grouped).
        Identical rows are grouped before fitting.
        """
        x, tx, age = check_rft(type(self).__name__, frequency, recency, T)
        w = check_weights(type(self).__name__, weights, x.size)
        self._fit_compressed(compress((x, tx, age), w))
        return self

    def _prepare(self, columns: tuple[Any, ...]) -> tuple[Any, ...]:
        x, tx, T = (np.asarray(c, dtype=float) for c in columns)
        return x, tx, T, frequency_groups(x)

    def _row_loglik(self, params: np.ndarray, *prepared: Any, grad: bool) -> tuple[np.ndarray, np.ndarray | None]:
        x, tx, T, groups = prepared
        return _row_loglik(params, x, tx, T, grad=grad, groups=groups)

    def _start(self, data: Compressed) -> np.ndarray:
        r, alpha = nbd_start(data)
        return np.array([r, alpha, 1.0, 3.0])

    # -- predictions ------------------------------------------------------------------------------------------------
    def probability_alive(self, frequency: Any, recency: Any, T: Any) -> Any:
        """P(still alive at T | history); ``lifetimes``: ``conditional_probability_alive``."""
        r, alpha, a, b = self._check_fitted()
        x, tx, age = check_rft(type(self).__name__, frequency, recency, T)
        with np.errstate(divide="ignore"):
            log_odds = (
                np.log(a) - np.log(np.maximum(b + x - 1, 1e-300)) + (r + x) * (np.log(alpha + age) - np.log(alpha + tx))
            )
        p = np.where(x > 0, special.expit(-log_odds), 1.0)
        return shaped(p, frequency, recency, T)

    def predict_purchases(self, t: Any, frequency: Any, recency: Any, T: Any) -> Any:
        """Expected repeat purchases in the next ``t`` given history (``lifetimes``:
        ``conditional_expected_number_of_purchases_up_to_time``)."""
        r, alpha, a, b = self._check_fitted()
        x, tx, age = check_rft(type(self).__name__, frequency, recency, T)
        t = np.asarray(t, dtype=float)
        z = t / (alpha + age + t)
        hyp = special.hyp2f1(r + x, b + x, a + b + x - 1, z)
        body = (a + b + x - 1) / (a - 1) * (1 - ((alpha + age) / (alpha + age + t)) ** (r + x) * hyp)
        alive = np.asarray(self.probability_alive(x, tx, age))
        return shaped(body * alive, t, frequency, recency, T)

    def expected_purchases(self, t: Any) -> Any:
        """Expected repeat purchases by a new customer within ``t`` of the first purchase (``lifetimes``:
        ``expected_number_of_purchases_up_to_time``)."""
        r, alpha, a, b = self._check_fitted()
        tt = np.asarray(t, dtype=float)
        hyp = special.hyp2f1(r, b, a + b - 1, tt / (alpha + tt))
        out = (a + b - 1) / (a - 1) * (1 - (alpha / (alpha + tt)) ** r * hyp)
        return shaped(out, t)

    def probability_of_purchases(self, t: Any, n: Any) -> Any:
        """P(exactly ``n`` repeat purchases within ``t``) for a new customer (``lifetimes``:
        ``probability_of_n_purchases_up_to_time``)."""
        r, alpha, a, b = self._check_fitted()
        tt, nn = np.broadcast_arrays(np.asarray(t, dtype=float), np.asarray(n, dtype=float))
        log_nb = (
            special.gammaln(r + nn)
            - special.gammaln(r)
            - special.gammaln(nn + 1)
            + r * np.log(alpha / (alpha + tt))
            + special.xlogy(nn, tt / (alpha + tt))
        )
        lbab = special.betaln(a, b)
        first = np.exp(special.betaln(a, b + nn) - lbab + log_nb)
        pos = nn > 0
        n1 = np.where(pos, nn, 1.0)
        tail = special.betainc(n1, r, tt / (alpha + tt))
        second = np.where(pos, np.exp(special.betaln(a + 1, b + n1 - 1) - lbab) * tail, 0.0)
        return shaped(first + second, t, n)
