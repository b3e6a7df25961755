"""Pareto/NBD: purchases at rate λ ~ Gamma(r, α) while alive, lifetime Exp(μ) with μ ~ Gamma(s, β).

Unlike the BG/NBD, dropout can happen at any moment, not only after a purchase, so the model suits products used
in continuous time (a customer can quit a habit without a last visit being special).

Likelihood (Schmittlein, Morrison & Colombo 1987; the form used here is eq. (A2)/(19) of Fader & Hardie 2005, "A
Note on Deriving the Pareto/NBD Model and Related Expressions", https://www.brucehardie.com/notes/009/):

    L = Γ(r+x) α^r β^s / Γ(r) · [ (α+T)^−(r+x) (β+T)^−s + s · I ],   I = ∫_{t_x}^{T} (α+τ)^−(r+x) (β+τ)^−(s+1) dτ

The published closed form writes ``I`` as a difference of two ₂F₁(r+s+x, ·; r+s+x+1; z) terms with z ∈ [0, 1)
(``lifetimes`` and PyMC-Marketing evaluate exactly that, the latter with a logsumexp for the difference). SciPy's
``hyp2f1`` is unreliable there for heavy buyers (z → 1 with large parameters returns inf or digits of noise), so this
module evaluates the tail integral J(y) = ∫_y^∞ ... instead, in a form whose series has no cancellation: with
A = max(α, β), B = min(α, β), P and Q their exponents ((r+x) for α, (s+1) for β) and c = P + Q − 1,

    J(y) = (A+y)^−P (B+y)^−(Q−1) / c · Σ_n (P)_n/(c+1)_n z^n,   z = (A−B)/(A+y) ∈ [0, 1),

a series of positive terms whose ratio is below z (Euler's integral and two Pfaff transformations). Then
log I = log J(t_x) + log(1 − J(T)/J(t_x)). The tests check this against direct numerical integration of the
likelihood over the lifetime.

**Gradient.** Analytic: the derivatives of the series in P, c and z are sums of the same terms (times harmonic sums
H_n and n), so one pass gives the value and all four partial derivatives; ∂/∂α and ∂/∂β agree with the identity
∂J/∂α = −p·J(p+1, q) (the same integral with an exponent raised by one), and ∂/∂r, ∂/∂s add the digamma terms of
Γ(r+x)/Γ(r). Both are property-tested against finite differences and that identity.

**Speed.** The series coefficients depend on a row only through x, so they are built once per distinct frequency and
each row pays only for its powers of z; the integrals are computed once per distinct (x, y) pair. When α and β are
within a factor of 2 (z <= ½) 64 terms always suffice; when one is many times the other z approaches 1 and rows need
hundreds of terms, which is slower (tens of ms per evaluation on thousands of rows) but still exact.

Predictions (same note, eqs. (22)-(24), and Fader & Hardie 2006, "Deriving an Expression for P(X(t) = x) under the
Pareto/NBD Model", https://www.brucehardie.com/notes/012/):

- P(alive | x, t_x, T) = (α+T)^−(r+x) (β+T)^−s / [ (α+T)^−(r+x) (β+T)^−s + s · I ]
- E[X(t)] = r β / (α (s−1)) · [1 − (β/(β+t))^(s−1)]
- E[Y(t) | x, t_x, T] = (r+x)(β+T) / ((α+T)(s−1)) · [1 − ((β+T)/(β+T+t))^(s−1)] · P(alive)  (limit s → 1 handled)
- P(X(t) = n) = NB(n) (β/(β+t))^s + s β^s α^r Γ(r+n)/(Γ(r) n!) ∫_0^t τ^n (α+τ)^−(r+n) (β+τ)^−(s+1) dτ, by quadrature.
"""

from __future__ import annotations

import itertools
import math
from typing import Any, ClassVar

import numpy as np
from scipy import integrate, special

from liuliang.errors import ConvergenceError
from liuliang.models._base import (
    Compressed,
    PurchaseCountFitter,
    check_rft,
    check_weights,
    compress,
    nbd_start,
    shaped,
)

_MAX_TERMS = 1_000_000
#: buckets of rows by the series terms they need, each summed as one polynomial in z (beyond the last: in blocks)
_POLY_TERMS = (64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048)
#: rows x terms per polynomial evaluation (about 16 MB per intermediate array)
_CHUNK_ELEMENTS = 2_000_000
#: average rows per frequency group above which each group is one matrix product (below: gather per row)
_ROWS_PER_GROUP = 8


def _terms_needed(z: np.ndarray) -> np.ndarray:
    """Terms after which the rest of the series is below 1e-17 of it: the ratio of terms is below z, so N terms leave
    less than z^(N+1)/(1−z) of a sum that is at least 1."""
    with np.errstate(divide="ignore"):
        return np.where(z > 0, np.log(1e-17 * (1 - z)) / np.log(np.maximum(z, 1e-300)), 0.0)


def _series_poly(
    Pu: np.ndarray, Cu: np.ndarray, gi: np.ndarray, z: np.ndarray, n_terms: int, grad: bool
) -> tuple[np.ndarray, ...]:
    """S = Σ_{n<=N} c_n z^n with c_n = (P)_n/(C)_n, and the sums that give its derivatives.

    The coefficients depend on a row only through its group (P and C are r+x and s+1 shifted: one group per distinct
    frequency), so they are built on the small (groups x N) grid and each row costs only its powers of z:
    ∂S/∂P = Σ c_n H_n(P) z^n, ∂S/∂C = −Σ c_n H_n(C) z^n (H_n(a) = Σ_{k<n} 1/(a+k)), ∂S/∂z = Σ n c_n z^(n−1).
    When rows come sorted by group (the fit's case) each group's sums are one small matrix product with its slice of
    the powers; otherwise the coefficients are gathered per row.
    """
    k = np.arange(n_terms, dtype=float)
    pk = Pu[:, None] + k
    ck = Cu[:, None] + k
    coef = np.cumprod(pk / ck, axis=1)  # (groups, N): c_1..c_N
    rows = [coef]
    if grad:
        rows += [coef * np.cumsum(1.0 / pk, axis=1), coef * np.cumsum(1.0 / ck, axis=1)]
    # (groups, sums, N+1) against powers z^0..z^N: the first sums start at z^1, ∂S/∂z = Σ_{j>=0} (j+1) c_{j+1} z^j
    mats = np.zeros((Pu.size, 4 if grad else 1, n_terms + 1))
    for i, r in enumerate(rows):
        mats[:, i, 1:] = r
    if grad:
        mats[:, 3, :-1] = coef * (k + 1)
    powers = np.empty((n_terms + 1, z.size))
    powers[0] = 1.0
    for n in range(1, n_terms + 1):
        powers[n] = powers[n - 1] * z
    starts = np.flatnonzero(np.diff(gi, prepend=-1))
    if gi.size and starts.size * _ROWS_PER_GROUP <= gi.size and np.all(np.diff(gi) >= 0):
        out = np.empty((mats.shape[1], z.size))
        bounds = np.append(starts, gi.size)
        for lo, hi in itertools.pairwise(bounds.tolist()):
            out[:, lo:hi] = mats[gi[lo]] @ powers[:, lo:hi]
    else:
        out = np.einsum("jin,nj->ij", np.take(mats, gi, axis=0), powers)
    out[0] += 1.0
    return tuple(out)


def _series_blocks(P: np.ndarray, C: np.ndarray, z: np.ndarray, grad: bool, block: int = 256) -> tuple[np.ndarray, ...]:
    """As :func:`_series_poly` for z near 1 (thousands of terms): ``block`` terms at a time, converged rows dropped."""
    m = z.size
    S, sp, sc, sz = np.ones(m), np.zeros(m), np.zeros(m), np.zeros(m)
    u0, hp0, hc0 = np.ones(m), np.zeros(m), np.zeros(m)  # u_n = c_n z^(n-1), harmonic sums, at the block start
    active = np.arange(m)
    pa, ca, za = P.copy(), C.copy(), z.copy()
    n0 = 0
    while active.size:
        k = n0 + np.arange(block, dtype=float)[:, None]
        pk = pa + k
        ck = ca + k
        ratio = pk / ck
        if n0:
            ratio *= za
        else:
            ratio[1:] *= za
        u = u0 * np.cumprod(ratio, axis=0)
        t = u * za
        S[active] += t.sum(axis=0)
        if grad:
            hp = hp0 + np.cumsum(1.0 / pk, axis=0)
            hc = hc0 + np.cumsum(1.0 / ck, axis=0)
            sz[active] += ((k + 1) * u).sum(axis=0)
            sp[active] += (t * hp).sum(axis=0)
            sc[active] += (t * hc).sum(axis=0)
            hp0, hc0 = hp[-1], hc[-1]
        u0 = u[-1]
        n0 += block
        keep = t[-1] * za / (1 - za) > 1e-17 * S[active]
        active, u0, hp0, hc0, pa, ca, za = (v[keep] for v in (active, u0, hp0, hc0, pa, ca, za))
        if n0 > _MAX_TERMS:
            raise ConvergenceError(
                "ParetoNBDFitter: the likelihood series did not converge (alpha and beta differ by orders of "
                "magnitude); rescale time or check the data"
            )
    return (S, sp, sc, sz) if grad else (S,)


def _log_series(Pu: np.ndarray, Cu: np.ndarray, gi: np.ndarray, z: np.ndarray, grad: bool) -> tuple[np.ndarray, ...]:
    """log S for S = ₂F₁(1, P; C; z) = Σ_n (P)_n/(C)_n z^n (0 < P < C, 0 <= z < 1), and ∂log S/∂(P, C, z).

    ``Pu``, ``Cu`` are per group and ``gi`` gives each row's group. Rows are bucketed by the number of terms they need
    (at most 64 whenever z <= ½, i.e. α and β within a factor 2; up to a few hundred when one is many times the
    other, as with daily data where lifetimes are long and purchases frequent) and each bucket is one polynomial
    evaluation, in chunks that bound memory; rows needing more than ``_POLY_TERMS[-1]`` terms are summed block by block.
    """
    need = _terms_needed(z)
    n_parts = 4 if grad else 1
    if need.max(initial=0) <= _POLY_TERMS[0]:
        parts = _series_poly(Pu, Cu, gi, z, max(int(np.ceil(need.max(initial=0))), 1), grad)
    else:
        parts = tuple(np.empty(z.shape) for _ in range(n_parts))
        lower = -1.0
        for limit in _POLY_TERMS:
            rows = np.flatnonzero((need > lower) & (need <= limit))
            lower = limit
            if not rows.size:
                continue
            n_terms = max(int(np.ceil(need[rows].max())), 1)
            step = max(_CHUNK_ELEMENTS // (n_terms + 1), 1)
            for start in range(0, rows.size, step):
                sel = rows[start : start + step]
                for out, v in zip(parts, _series_poly(Pu, Cu, gi[sel], z[sel], n_terms, grad), strict=True):
                    out[sel] = v
        far = np.flatnonzero(need > lower)
        if far.size:
            for out, v in zip(parts, _series_blocks(Pu[gi[far]], Cu[gi[far]], z[far], grad), strict=True):
                out[far] = v
    S = parts[0]
    if not grad:
        return (np.log(S),)
    return np.log(S), parts[1] / S, -parts[2] / S, parts[3] / S


def log_tail(
    p: Any,
    q: Any,
    alpha: Any,
    beta: Any,
    y: Any,
    *,
    grad: bool = False,
    groups: np.ndarray | None = None,
) -> Any:
    """log J(y) = log ∫_y^∞ (α+τ)^−p (β+τ)^−q dτ for p > 0, q > 1 (arguments broadcast), without cancellation.

    With A = max(α, β), B = min(α, β), P and Q their exponents and c = P + Q − 1,
    J(y) = (A+y)^−P (B+y)^−(Q−1) / c · ₂F₁(1, P; c+1; z), z = (A−B)/(A+y) ∈ [0, 1): Euler's integral after two
    Pfaff transformations, a series of positive terms, so no cancellation anywhere, and its derivatives in P, c and z
    are sums of the same terms. With ``grad`` also returns ∂log J/∂(p, q, α, β) (note ∂J/∂α = −p·J(p+1, q): the same
    integral with an exponent raised by one, which the tests use as an independent check).

    ``groups`` (the fit's fast path): ``p`` holds one value per group, ``groups`` each row's group, and ``q``, ``α``,
    ``β`` are scalars; the series coefficients are then built once per group.
    """
    if groups is None:
        p, q, alpha, beta, y = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (p, q, alpha, beta, y)))
        shape = y.shape
        p, q, alpha, beta, y = (v.ravel() for v in (p, q, alpha, beta, y))
        gi = np.arange(y.size)
        a_big = alpha >= beta
        pu = np.where(a_big, p, q)
        qu = np.where(a_big, q, p)
    else:
        shape = np.shape(y)
        gi = groups
        a_big = np.asarray(alpha >= beta)
        pu_in = np.asarray(p, dtype=float)
        q_in = np.full(pu_in.shape, float(q))
        pu, qu = (pu_in, q_in) if a_big else (q_in, pu_in)
    big = np.where(a_big, alpha, beta)
    small = np.where(a_big, beta, alpha)
    pb, qs = pu[gi], qu[gi]
    c = pb + qs - 1
    big_y = big + y
    small_y = small + y
    log_big = np.log(big_y)
    log_small = np.log(small_y)
    z = (big - small) / big_y
    series = _log_series(pu, pu + qu, gi, z, grad)
    value = -pb * log_big - (qs - 1) * log_small - np.log(c) + series[0]
    if not grad:
        return value.reshape(shape)
    _, ds_p, ds_c, ds_z = series
    d_pb = -log_big - 1 / c + ds_p + ds_c
    d_qs = -log_small - 1 / c + ds_c
    d_big = -pb / big_y + ds_z * small_y / big_y**2
    d_small = -(qs - 1) / small_y - ds_z / big_y
    derivs = (
        np.where(a_big, d_pb, d_qs),
        np.where(a_big, d_qs, d_pb),
        np.where(a_big, d_big, d_small),
        np.where(a_big, d_small, d_big),
    )
    return value.reshape(shape), tuple(d.reshape(shape) for d in derivs)


def tail_pairs(x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> tuple[np.ndarray, ...]:
    """Look-ups computed once per fit: the distinct frequencies and each row's index into them, and the distinct (x, y)
    pairs over y in (t_x, T) with each pair's frequency group, its y, and the index of each row's two pairs.

    The tail integral depends on a row only through (x, y); every customer without repeat purchases has y = t_x = 0,
    so on CDNOW the 2,032 integrals per evaluation are 943 distinct ones in 23 frequency groups.
    """
    n = x.size
    keys = np.column_stack([np.concatenate([x, x]), np.concatenate([tx, T])])
    uniq, inv = np.unique(keys, axis=0, return_inverse=True)
    ux, gi = np.unique(uniq[:, 0], return_inverse=True)
    gx = np.searchsorted(ux, x)
    return ux, gx, gi.reshape(-1), np.ascontiguousarray(uniq[:, 1]), inv.reshape(2 * n)


def _parts(
    params: Any, x: np.ndarray, tx: np.ndarray, T: np.ndarray, grad: bool, pairs: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Per-row log-likelihood, log P(alive at T), and (with ``grad``) the (rows x 4) gradient in (r, α, s, β).

    L = Γ(r+x) α^r β^s / Γ(r) · [e^A + s·I],  A = −(r+x) log(α+T) − s log(β+T),  I = J(t_x) − J(T).
    """
    r, alpha, s, beta = (float(v) for v in params)
    n = x.size
    ux, gx, gi, py, inv = tail_pairs(x, tx, T) if pairs is None else pairs
    tail = log_tail(r + ux, s + 1, alpha, beta, py, grad=grad, groups=gi)
    lj, dj = tail if grad else (tail, None)
    lj_tx, lj_T = lj[inv[:n]], lj[inv[n:]]
    rx = r + x
    log_aT, log_bT = np.log(alpha + T), np.log(beta + T)
    a1 = (special.gammaln(r + ux) - special.gammaln(r))[gx] + r * np.log(alpha) + s * np.log(beta)
    alive = -rx * log_aT - s * log_bT
    e = np.exp(np.minimum(lj_T - lj_tx, 0.0))  # J(T)/J(t_x) (1 when t_x = T: no death term)
    with np.errstate(divide="ignore"):
        log_dead = np.log(s) + lj_tx + np.log1p(-e)
    log_inner = np.logaddexp(alive, log_dead)
    ll = a1 + log_inner
    log_alive = alive - log_inner
    if not grad:
        return ll, log_alive, None
    w_alive = np.exp(log_alive)
    w_dead = np.exp(log_dead - log_inner)
    # ∂ log I = (J(t_x) ∂log J(t_x) − J(T) ∂log J(T)) / (J(t_x) − J(T)); its weight w_dead is 0 where t_x = T
    safe = np.where(e < 1, 1 - e, 1.0)
    d_log_i = [(d[inv[:n]] - e * d[inv[n:]]) / safe for d in dj]
    psi = special.digamma
    d_r = (psi(r + ux) - psi(r))[gx] + np.log(alpha) - w_alive * log_aT + w_dead * d_log_i[0]
    d_s = np.log(beta) - w_alive * log_bT + w_dead * (1 / s + d_log_i[1])
    d_alpha = r / alpha - w_alive * rx / (alpha + T) + w_dead * d_log_i[2]
    d_beta = s / beta - w_alive * s / (beta + T) + w_dead * d_log_i[3]
    return ll, log_alive, np.column_stack([d_r, d_alpha, d_s, d_beta])


def _row_loglik(
    params: Any, x: np.ndarray, tx: np.ndarray, T: np.ndarray, *, grad: bool = False, pairs: Any = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Per-row log-likelihood and, with ``grad``, its analytic gradient in (r, α, s, β)."""
    ll, _, g = _parts(params, x, tx, T, grad, pairs)
    return ll, g


def _one_minus_pow_over(k: Any, log_ratio: Any) -> np.ndarray:
    """(1 − exp(−k·L)) / k, with its limit L at k = 0 (the s → 1 case of the Pareto/NBD expectations)."""
    k = np.asarray(k, dtype=float)
    small = np.abs(k) < 1e-10
    safe = np.where(small, 1.0, k)
    return np.where(small, log_ratio, -np.expm1(-safe * log_ratio) / safe)


class ParetoNBDFitter(PurchaseCountFitter):
    """Pareto/NBD model of repeat purchasing with an exponential lifetime.

    Parameters
    ----------
    confidence, max_iter, tol
        As :class:`~liuliang.models.BetaGeoFitter`.

    Attributes
    ----------
    params_ : pandas.Series
        r, alpha, s, beta.
    log_likelihood_ : float
        Maximised log-likelihood (matches the published -9595.0 on CDNOW).
    standard_errors_, variance_matrix_
        From the Hessian of the log-likelihood in log-parameters: central differences of the analytic gradient at
        the optimum, then the delta method.

    Examples
    --------
    >>> from liuliang.models import ParetoNBDFitter, datasets
    >>> d = datasets.load_cdnow_sample()
    >>> m = ParetoNBDFitter().fit(d["frequency"], d["recency"], d["T"])
    >>> round(m.log_likelihood_, 1)
    -9595.0
    """

    _param_names: ClassVar[tuple[str, ...]] = ("r", "alpha", "s", "beta")

    def fit(self, frequency: Any, recency: Any, T: Any, weights: Any = None) -> ParetoNBDFitter:
        """Fit on a calibration summary (see :meth:`BetaGeoFitter.fit`)."""
        x, tx, age = check_rft(type(self).__name__, frequency, recency, T)
        w = check_weights(type(self).__name__, weights, x.size)
        self._fit_compressed(compress((x, tx, age), w))
        return self

    def _prepare(self, columns: tuple[Any, ...]) -> tuple[Any, ...]:
        x, tx, T = (np.asarray(c, dtype=float) for c in columns)
        return x, tx, T, tail_pairs(x, tx, T)

    def _row_loglik(self, params: np.ndarray, *prepared: Any, grad: bool) -> tuple[np.ndarray, np.ndarray | None]:
        x, tx, T, pairs = prepared
        return _row_loglik(params, x, tx, T, grad=grad, pairs=pairs)

    def _start(self, data: Compressed) -> np.ndarray:
        r, alpha = nbd_start(data)
        mean_t = float(data.weights @ data.columns[2]) / float(data.weights.sum())
        # mean dropout rate s/β = 1/mean(T): a typical customer's expected lifetime is about the observation window
        return np.array([r, alpha, 0.5, 0.5 * mean_t])

    def probability_alive(self, frequency: Any, recency: Any, T: Any) -> Any:
        """P(still alive at T | history); ``lifetimes``: ``conditional_probability_alive``."""
        params = self._check_fitted()
        x, tx, age = check_rft(type(self).__name__, frequency, recency, T)
        return shaped(np.exp(_parts(params, x, tx, age, False, None)[1]), frequency, recency, T)

    def predict_purchases(self, t: Any, frequency: Any, recency: Any, T: Any) -> Any:
        """Expected repeat purchases in the next ``t`` given history (``lifetimes``:
        ``conditional_expected_number_of_purchases_up_to_time``)."""
        r, alpha, s, beta = self._check_fitted()
        x, tx, age = check_rft(type(self).__name__, frequency, recency, T)
        t = np.asarray(t, dtype=float)
        alive = np.asarray(self.probability_alive(x, tx, age))
        body = (r + x) * (beta + age) / (alpha + age) * _one_minus_pow_over(s - 1, np.log1p(t / (beta + age)))
        return shaped(body * alive, t, frequency, recency, T)

    def expected_purchases(self, t: Any) -> Any:
        """Expected repeat purchases by a new customer within ``t`` (``lifetimes``:
        ``expected_number_of_purchases_up_to_time``)."""
        r, alpha, s, beta = self._check_fitted()
        tt = np.asarray(t, dtype=float)
        return shaped(r * beta / alpha * _one_minus_pow_over(s - 1, np.log1p(tt / beta)), t)

    def probability_of_purchases(self, t: Any, n: Any) -> Any:
        """P(exactly ``n`` repeat purchases within ``t``) for a new customer (adaptive quadrature per value)."""
        r, alpha, s, beta = self._check_fitted()
        tt, nn = np.broadcast_arrays(np.asarray(t, dtype=float), np.asarray(n, dtype=float))

        def one(t1: float, n1: float) -> float:
            log_c = special.gammaln(r + n1) - special.gammaln(r) - special.gammaln(n1 + 1)
            nb = math.exp(log_c + r * math.log(alpha / (alpha + t1)) + special.xlogy(n1, t1 / (alpha + t1)))
            alive = nb * (beta / (beta + t1)) ** s
            if t1 == 0:
                return alive

            def integrand(tau: float) -> float:
                return math.exp(
                    log_c
                    + r * math.log(alpha)
                    + s * math.log(beta)
                    + math.log(s)
                    + special.xlogy(n1, tau)
                    - (r + n1) * math.log(alpha + tau)
                    - (s + 1) * math.log(beta + tau)
                )

            dead, _ = integrate.quad(integrand, 0.0, t1, epsabs=0.0, epsrel=1e-10, limit=200)
            return alive + dead

        out = np.vectorize(one, otypes=[float])(tt, nn)
        return shaped(out, t, n)
