"""MBG/NBD: the BG/NBD with a dropout chance right after the *first* purchase too (Batislam, Denizel & Filiztekin 2007).

In the BG/NBD a customer who never buys again is always alive (she had no chance to drop out), which overstates
P(alive) for one-and-done buyers — exactly the red-packet crowd who came once for the subsidy. The MBG/NBD adds a
dropout opportunity at time 0, so a silent customer's P(alive) decays with T.

Formulas (Batislam, Denizel & Filiztekin 2007, "Empirical validation and comparison of models for customer base
analysis", *IJRM* 24(3); the same structure as FHL 2005 with one more survival):

- L = Γ(r+x) α^r / Γ(r) · [B(a, b+x+1)/B(a, b) · (α+T)^−(r+x) + B(a+1, b+x)/B(a, b) · (α+t_x)^−(r+x)]
- P(alive | x, t_x, T) = 1 / (1 + a/(b+x) · ((α+T)/(α+t_x))^(r+x))
- E[X(t)] = b/(a−1) · [1 − (α/(α+t))^r ₂F₁(r, b+1; a+b; t/(α+t))]
- E[Y(t) | x, t_x, T] = (a+b+x)/(a−1) · [1 − ((α+T)/(α+T+t))^(r+x) ₂F₁(r+x, b+x+1; a+b+x; t/(α+T+t))] · P(alive)
- P(X(t) = n) = B(a, b+n+1)/B(a, b) · NB(n) + B(a+1, b+n)/B(a, b) · P(NB ≥ n) (derived as for FHL eq. 8: alive
  through n+1 dropout chances with n purchases, or dropped at the chance after the n-th purchase).
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
from liuliang.models.bg_nbd import frequency_groups


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
    lbab = special.betaln(a, b)
    log_alpha = np.log(alpha)
    log_aT = np.log(alpha + T)
    log_atx = np.log(alpha + tx)
    rx = r + x
    a1 = (special.gammaln(r + ux) - special.gammaln(r))[inv] + r * log_alpha
    a2 = (special.betaln(a, b + ux + 1) - lbab)[inv] - rx * log_aT
    a3 = (special.betaln(a + 1, b + ux) - lbab)[inv] - rx * log_atx
    tail = np.logaddexp(a2, a3)
    ll = a1 + tail
    if not grad:
        return ll, None
    w2 = np.exp(a2 - tail)
    w3 = np.exp(a3 - tail)
    psi = special.digamma
    psi_ab, psi_abx = psi(a + b), psi(a + b + ux + 1)
    d_r = (psi(r + ux) - psi(r))[inv] + log_alpha - w2 * log_aT - w3 * log_atx
    d_alpha = r / alpha - rx * (w2 / (alpha + T) + w3 / (alpha + tx))
    d_a = (psi_ab - psi_abx)[inv] + w3 / a
    d_b = (psi(b + ux + 1) - psi_abx - psi(b) + psi_ab)[inv] - w3 / (b + ux)[inv]
    return ll, np.column_stack([d_r, d_alpha, d_a, d_b])


class ModifiedBetaGeoFitter(PurchaseCountFitter):
    """MBG/NBD model: BG/NBD plus a dropout chance right after the first purchase.

    Parameters and attributes as :class:`~liuliang.models.BetaGeoFitter` (``params_``: r, alpha, a, b; analytic
    gradient; standard errors from central differences of it at the optimum).

    See Also
    --------
    BetaGeoFitter : no dropout before the first repeat purchase.

    Examples
    --------
    >>> from liuliang.models import ModifiedBetaGeoFitter, datasets
    >>> d = datasets.load_cdnow_sample()
    >>> m = ModifiedBetaGeoFitter().fit(d["frequency"], d["recency"], d["T"])
    >>> m.probability_alive(0, 0.0, 38.86) < 1  # a silent customer may be gone
    True
    """

    _param_names: ClassVar[tuple[str, ...]] = ("r", "alpha", "a", "b")

    def fit(self, frequency: Any, recency: Any, T: Any, weights: Any = None) -> ModifiedBetaGeoFitter:
        """Fit on a calibration summary (see :meth:`BetaGeoFitter.fit`)."""
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

    def probability_alive(self, frequency: Any, recency: Any, T: Any) -> Any:
        """P(still alive at T | history); ``lifetimes``: ``conditional_probability_alive``."""
        r, alpha, a, b = self._check_fitted()
        x, tx, age = check_rft(type(self).__name__, frequency, recency, T)
        log_odds = np.log(a) - np.log(b + x) + (r + x) * (np.log(alpha + age) - np.log(alpha + tx))
        return shaped(special.expit(-log_odds), frequency, recency, T)

    def predict_purchases(self, t: Any, frequency: Any, recency: Any, T: Any) -> Any:
        """Expected repeat purchases in the next ``t`` given history (``lifetimes``:
        ``conditional_expected_number_of_purchases_up_to_time``)."""
        r, alpha, a, b = self._check_fitted()
        x, tx, age = check_rft(type(self).__name__, frequency, recency, T)
        t = np.asarray(t, dtype=float)
        hyp = special.hyp2f1(r + x, b + x + 1, a + b + x, t / (alpha + age + t))
        body = (a + b + x) / (a - 1) * (1 - ((alpha + age) / (alpha + age + t)) ** (r + x) * hyp)
        alive = np.asarray(self.probability_alive(x, tx, age))
        return shaped(body * alive, t, frequency, recency, T)

    def expected_purchases(self, t: Any) -> Any:
        """Expected repeat purchases by a new customer within ``t`` (``lifetimes``:
        ``expected_number_of_purchases_up_to_time``)."""
        r, alpha, a, b = self._check_fitted()
        tt = np.asarray(t, dtype=float)
        hyp = special.hyp2f1(r, b + 1, a + b, tt / (alpha + tt))
        return shaped(b / (a - 1) * (1 - (alpha / (alpha + tt)) ** r * hyp), t)

    def probability_of_purchases(self, t: Any, n: Any) -> Any:
        """P(exactly ``n`` repeat purchases within ``t``) for a new customer."""
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
        first = np.exp(special.betaln(a, b + nn + 1) - lbab + log_nb)
        tail = np.where(nn > 0, special.betainc(np.maximum(nn, 1.0), r, tt / (alpha + tt)), 1.0)
        second = np.exp(special.betaln(a + 1, b + nn) - lbab) * tail
        return shaped(first + second, t, n)
