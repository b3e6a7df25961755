"""Per-variant sufficient statistics: what the warehouse returns for each arm, so the statistics never see rows.

A two-sample test of means needs only ``n``, ``Σy`` and ``Σy²`` per arm; CUPED (Deng, Xu, Kohavi & Walker 2013)
additionally needs the pre-period covariate's ``Σx``, ``Σx²`` and the cross-product ``Σxy``. These are sums, so
they are computed by one ``GROUP BY variant`` on any engine and partial results (per day, per shard) merge with
``+`` — the design of GrowthBook's ``gbstats`` (``models/statistics.py``). A proportion (retained at D7, say) is the
special case of a 0/1 outcome: ``sum = successes`` and ``sum_squares = successes``.

Variances use the textbook one-pass formula ``(Σy² − (Σy)²/n)/(n − 1)``, which loses precision when the mean is
large relative to the spread (|mean|/sd ≳ 1e6); money in yuan and counts of days are far from that. A slightly
negative result of the cancellation is clamped to zero.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from liuliang._display import dataclass_html
from liuliang.errors import ModelInputError

__all__ = ["CovariateStats", "SufficientStats"]


def _check_finite(owner: str, **values: float) -> None:
    for name, v in values.items():
        if not math.isfinite(v):
            raise ModelInputError(f"{owner}: {name} must be finite; got {v!r}")


def _one_pass_variance(n: int, s: float, ss: float) -> float:
    if n < 2:
        return math.nan
    return max((ss - s * s / n) / (n - 1), 0.0)


@dataclass(frozen=True)
class SufficientStats:
    """One arm's ``n``, ``Σy`` and ``Σy²`` — enough for means, variances and every two-sample test here.

    Attributes
    ----------
    n: number of units (users) in the arm. sum: Σy. sum_squares: Σy².

    Examples
    --------
    >>> SufficientStats.from_proportion(n=1000, successes=412).mean
    0.412
    >>> (SufficientStats(2, 3.0, 5.0) + SufficientStats(1, 4.0, 16.0)).n
    3
    """

    n: int
    sum: float
    sum_squares: float

    def _repr_html_(self) -> str:
        return dataclass_html(self, extra={"mean": self.mean, "variance": self.variance})

    def __post_init__(self) -> None:
        if int(self.n) != self.n or self.n < 0:
            raise ModelInputError(f"SufficientStats: n must be a non-negative integer; got {self.n!r}")
        _check_finite("SufficientStats", sum=self.sum, sum_squares=self.sum_squares)
        if self.sum_squares < 0:
            raise ModelInputError(f"SufficientStats: sum_squares must be >= 0; got {self.sum_squares!r}")

    @classmethod
    def from_proportion(cls, n: int, successes: float) -> SufficientStats:
        """A 0/1 outcome: ``successes`` of ``n`` (Σy = Σy² = successes)."""
        if not 0 <= successes <= n:
            raise ModelInputError(f"SufficientStats: successes must be in [0, n={n}]; got {successes!r}")
        return cls(int(n), float(successes), float(successes))

    @classmethod
    def from_values(cls, values: Any) -> SufficientStats:
        """Reduce raw per-unit values (tests, notebooks); the warehouse computes the same sums in SQL."""
        y = np.asarray(values, dtype=float).ravel()
        return cls(int(y.size), float(y.sum()), float(np.dot(y, y)))

    def __add__(self, other: SufficientStats) -> SufficientStats:
        if not isinstance(other, SufficientStats):
            return NotImplemented
        return SufficientStats(self.n + other.n, self.sum + other.sum, self.sum_squares + other.sum_squares)

    @property
    def mean(self) -> float:
        return self.sum / self.n if self.n else math.nan

    @property
    def variance(self) -> float:
        """Sample variance (ddof = 1), as scipy's Welch test uses."""
        return _one_pass_variance(self.n, self.sum, self.sum_squares)

    @property
    def is_binary_compatible(self) -> bool:
        """Whether these sums can come from a 0/1 outcome (Σy = Σy², 0 <= Σy <= n)."""
        return math.isclose(self.sum, self.sum_squares, rel_tol=1e-12, abs_tol=1e-9) and 0 <= self.sum <= self.n


@dataclass(frozen=True)
class CovariateStats:
    """One arm's outcome sums plus a pre-period covariate's sums and the cross-product, for CUPED.

    Attributes
    ----------
    n: units. sum, sum_squares: Σy, Σy² of the outcome. x_sum, x_sum_squares: Σx, Σx² of the pre-period
    covariate (the same metric before assignment is the usual choice). xy_sum: Σxy.
    """

    n: int
    sum: float
    sum_squares: float
    x_sum: float
    x_sum_squares: float
    xy_sum: float

    def _repr_html_(self) -> str:
        return dataclass_html(self, extra={"covariance": self.covariance})

    def __post_init__(self) -> None:
        if int(self.n) != self.n or self.n < 0:
            raise ModelInputError(f"CovariateStats: n must be a non-negative integer; got {self.n!r}")
        _check_finite(
            "CovariateStats",
            sum=self.sum,
            sum_squares=self.sum_squares,
            x_sum=self.x_sum,
            x_sum_squares=self.x_sum_squares,
            xy_sum=self.xy_sum,
        )

    @classmethod
    def from_values(cls, y: Any, x: Any) -> CovariateStats:
        """Reduce raw per-unit outcome ``y`` and covariate ``x`` (tests, notebooks)."""
        yy = np.asarray(y, dtype=float).ravel()
        xx = np.asarray(x, dtype=float).ravel()
        if yy.size != xx.size:
            raise ModelInputError(f"CovariateStats: y has {yy.size} values but x has {xx.size}")
        return cls(
            int(yy.size),
            float(yy.sum()),
            float(np.dot(yy, yy)),
            float(xx.sum()),
            float(np.dot(xx, xx)),
            float(np.dot(xx, yy)),
        )

    def __add__(self, other: CovariateStats) -> CovariateStats:
        if not isinstance(other, CovariateStats):
            return NotImplemented
        return CovariateStats(
            self.n + other.n,
            self.sum + other.sum,
            self.sum_squares + other.sum_squares,
            self.x_sum + other.x_sum,
            self.x_sum_squares + other.x_sum_squares,
            self.xy_sum + other.xy_sum,
        )

    @property
    def outcome(self) -> SufficientStats:
        return SufficientStats(self.n, self.sum, self.sum_squares)

    @property
    def covariate(self) -> SufficientStats:
        return SufficientStats(self.n, self.x_sum, self.x_sum_squares)

    @property
    def covariance(self) -> float:
        """Sample covariance of outcome and covariate (ddof = 1)."""
        if self.n < 2:
            return math.nan
        return (self.xy_sum - self.sum * self.x_sum / self.n) / (self.n - 1)
