"""Generate calibration summaries from the transaction models themselves (known truth for tests and benchmarks).

Vectorised: 1M customers take well under a second. Each function takes an explicit ``numpy.random.Generator`` so a
run is reproducible, and returns a DataFrame with ``frequency``, ``recency``, ``T`` (and the latent draws, so tests
can check P(alive) against who really is alive).
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def _nth_of(n: np.ndarray, k: np.ndarray, span: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Time of the k-th of n uniform events on (0, span): span · Beta(k, n−k+1); 0 when k = 0."""
    k_safe = np.maximum(k, 1)
    draw = rng.beta(k_safe, np.maximum(n - k_safe + 1, 1))
    return np.where(k > 0, span * draw, 0.0)


def bg_nbd(
    n: int,
    r: float,
    alpha: float,
    a: float,
    b: float,
    T: float | np.ndarray,
    rng: np.random.Generator,
    *,
    modified: bool = False,
) -> pd.DataFrame:
    """BG/NBD (``modified=True``: MBG/NBD, with a dropout chance at time 0) customers observed for ``T``."""
    age = np.broadcast_to(np.asarray(T, dtype=float), (n,)).copy()
    lam = rng.gamma(r, 1.0 / alpha, n)
    p = rng.beta(a, b, n)
    # dropout chances: after each repeat purchase (and at time 0 for MBG); purchases made before dropping out
    dropout = rng.geometric(p) - (1 if modified else 0)
    total = rng.poisson(lam * age)
    x = np.minimum(total, dropout)
    tx = _nth_of(total, x, age, rng)
    alive = total < dropout
    return pd.DataFrame({"frequency": x, "recency": tx, "T": age, "alive": alive, "lam": lam, "p": p})


def pareto_nbd(
    n: int, r: float, alpha: float, s: float, beta: float, T: float | np.ndarray, rng: np.random.Generator
) -> pd.DataFrame:
    """Pareto/NBD customers observed for ``T``: purchases at rate λ until an exponential lifetime ends."""
    age = np.broadcast_to(np.asarray(T, dtype=float), (n,)).copy()
    lam = rng.gamma(r, 1.0 / alpha, n)
    mu = rng.gamma(s, 1.0 / beta, n)
    life = rng.exponential(1.0 / mu)
    span = np.minimum(life, age)
    x = rng.poisson(lam * span)
    tx = _nth_of(x, x, span, rng)
    return pd.DataFrame({"frequency": x, "recency": tx, "T": age, "alive": life > age, "lam": lam, "mu": mu})


def gamma_gamma(frequency: np.ndarray, p: float, q: float, gamma: float, rng: np.random.Generator) -> np.ndarray:
    """Average transaction value of customers with ``frequency`` (>= 1) transactions: mean of x Gamma(p, ν) draws."""
    x = np.asarray(frequency, dtype=float)
    nu = rng.gamma(q, 1.0 / gamma, x.size)
    return rng.gamma(p * x, 1.0 / (nu * x))
