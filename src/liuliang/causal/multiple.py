"""Adjusted p-values when one experiment is read on many metrics (or segments).

Reading D1, D7 and D30 retention, orders, revenue and cost on one experiment at α = 0.05 each gives a much higher
chance than 5 % that *some* metric looks significant by luck. Two standard corrections, as adjusted p-values
(compare each with α):

- ``"holm"``: Holm (1979) step-down, controls the family-wise error rate (any false positive) under any
  dependence between the tests. Sorted ascending, ``p̃₍ᵢ₎ = max_{j≤i} min(1, (m − j + 1)·p₍ⱼ₎)``.
- ``"bh"``: Benjamini & Hochberg (1995) step-up, controls the false discovery rate (expected share of false
  positives among the discoveries) for independent or positively dependent tests.
  ``p̃₍ᵢ₎ = min_{j≥i} min(1, m/j · p₍ⱼ₎)``.

Both match ``statsmodels.stats.multitest.multipletests`` (methods ``"holm"`` and ``"fdr_bh"``); the tests check.
Confidence intervals are not adjusted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pyarrow as pa

from liuliang.causal._result import FlatResult
from liuliang.errors import ModelInputError

__all__ = ["AdjustedPValues", "adjust_pvalues"]

Correction = Literal["holm", "bh", "none"]


@dataclass(frozen=True)
class AdjustedPValues(FlatResult):
    """Raw and adjusted p-values in input order.

    Attributes
    ----------
    method: ``"holm"``, ``"bh"`` or ``"none"``. alpha: the level ``reject`` uses. names: one per test.
    p_values, adjusted: raw and adjusted. reject: ``adjusted < alpha``.
    """

    method: str
    alpha: float
    names: tuple[str, ...]
    p_values: tuple[float, ...]
    adjusted: tuple[float, ...]
    reject: tuple[bool, ...]

    def to_arrow(self) -> pa.Table:
        return pa.table(
            {
                "name": list(self.names),
                "p_value": list(self.p_values),
                "p_adjusted": list(self.adjusted),
                "reject": list(self.reject),
            }
        )


def _holm(p: np.ndarray) -> np.ndarray:
    m = p.size
    order = np.argsort(p, kind="stable")
    stepped = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out = np.empty(m)
    out[order] = np.maximum.accumulate(stepped)
    return out


def _bh(p: np.ndarray) -> np.ndarray:
    m = p.size
    order = np.argsort(p, kind="stable")
    stepped = np.minimum(1.0, m / np.arange(1, m + 1) * p[order])
    out = np.empty(m)
    out[order] = np.minimum.accumulate(stepped[::-1])[::-1]
    return out


def adjust_pvalues(
    p_values: Sequence[float],
    method: Correction = "holm",
    *,
    alpha: float = 0.05,
    names: Sequence[str] | None = None,
) -> AdjustedPValues:
    """Holm or Benjamini–Hochberg adjusted p-values (``"none"`` passes them through).

    Examples
    --------
    >>> adjust_pvalues([0.01, 0.04, 0.03], "holm").adjusted
    (0.03, 0.06, 0.06)
    """
    p = np.asarray(p_values, dtype=float)
    if p.ndim != 1 or p.size == 0:
        raise ModelInputError("adjust_pvalues: need a non-empty list of p-values")
    if np.any(~np.isfinite(p)) or np.any((p < 0) | (p > 1)):
        raise ModelInputError("adjust_pvalues: p-values must be finite and in [0, 1]")
    if not 0 < alpha < 1:
        raise ModelInputError(f"adjust_pvalues: alpha must be in (0, 1); got {alpha!r}")
    if method == "holm":
        adj = _holm(p)
    elif method == "bh":
        adj = _bh(p)
    elif method == "none":
        adj = p.copy()
    else:
        raise ModelInputError(f"adjust_pvalues: method must be 'holm', 'bh' or 'none'; got {method!r}")
    labels = tuple(str(i) for i in range(p.size)) if names is None else tuple(names)
    if len(labels) != p.size:
        raise ModelInputError(f"adjust_pvalues: {len(labels)} names for {p.size} p-values")
    return AdjustedPValues(
        method=method,
        alpha=alpha,
        names=labels,
        p_values=tuple(float(v) for v in p),
        adjusted=tuple(float(v) for v in adj),
        reject=tuple(bool(v < alpha) for v in adj),
    )
