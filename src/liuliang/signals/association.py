"""The statistics of the habit metric's relation to retention, as pure functions of counts: a Wilson interval for a
day-N rate, Spearman's rho on grouped (value, value, count) rows, and a weighted least-squares slope.

Apart from :mod:`liuliang.signals.habit` because they know nothing of the warehouse: the habit metric pulls small
aggregates out, and these turn them into numbers, each checked against SciPy or a published table in the tests.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from liuliang.errors import ModelInputError

__all__ = ["RankCorrelation", "grouped_spearman", "weighted_slope", "wilson_interval"]


def wilson_interval(successes: float, n: float, alpha: float = 0.05) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion; NaN for ``n == 0``."""
    if n <= 0:
        return math.nan, math.nan
    z = float(stats.norm.ppf(1 - alpha / 2))
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class RankCorrelation:
    """Spearman's rho with a Fisher-z interval and a t-test p-value; NaN when a variable is constant."""

    n: int
    rho: float
    ci_lower: float
    ci_upper: float
    p_value: float


def _midranks(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Mid-rank of each distinct value given how many observations hold it (``values`` distinct)."""
    order = np.argsort(values, kind="stable")
    w = weights[order]
    before = np.cumsum(w) - w
    ranks = np.empty(len(values))
    ranks[order] = before + (w + 1) / 2
    return ranks


def grouped_spearman(x: Any, y: Any, n: Any, *, alpha: float = 0.05) -> RankCorrelation:
    """Spearman correlation of observations given as ``n`` copies of each ``(x, y)`` pair (pairs need not be
    distinct): the Pearson correlation of mid-ranks, which is what ``scipy.stats.spearmanr`` computes on the
    expanded data, without expanding it."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    w = np.asarray(n, dtype=float)
    if not (x.shape == y.shape == w.shape) or x.ndim != 1:
        raise ModelInputError("grouped_spearman: x, y and n need the same length")
    keep = w > 0
    x, y, w = x[keep], y[keep], w[keep]
    total = int(np.rint(w.sum()))
    nan = math.nan
    if total < 3:
        return RankCorrelation(total, nan, nan, nan, nan)

    def ranks(v: np.ndarray) -> np.ndarray:
        uniq, inv = np.unique(v, return_inverse=True)
        return _midranks(uniq, np.bincount(inv, weights=w, minlength=len(uniq)))[inv]

    rx, ry = ranks(x), ranks(y)
    mx, my = np.average(rx, weights=w), np.average(ry, weights=w)
    sxx = float(np.sum(w * (rx - mx) ** 2))
    syy = float(np.sum(w * (ry - my) ** 2))
    if sxx <= 0 or syy <= 0:
        return RankCorrelation(total, nan, nan, nan, nan)
    rho = float(np.clip(np.sum(w * (rx - mx) * (ry - my)) / math.sqrt(sxx * syy), -1.0, 1.0))
    dof = total - 2
    if abs(rho) >= 1:
        p = 0.0
    else:
        t = rho * math.sqrt(dof / ((1 - rho) * (1 + rho)))
        p = float(2 * stats.t.sf(abs(t), dof))
    if total > 3 and abs(rho) < 1:
        z = float(stats.norm.ppf(1 - alpha / 2))
        se = math.sqrt(1.06 / (total - 3))
        zr = math.atanh(rho)
        lo, hi = math.tanh(zr - z * se), math.tanh(zr + z * se)
    else:
        lo = hi = rho if abs(rho) >= 1 else nan
    return RankCorrelation(total, rho, lo, hi, p)


def weighted_slope(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
    """Weighted least-squares slope of ``y`` on ``x``."""
    mx, my = np.average(x, weights=w), np.average(y, weights=w)
    sxx = float(np.sum(w * (x - mx) ** 2))
    return float(np.sum(w * (x - mx) * (y - my)) / sxx) if sxx > 0 else math.nan
