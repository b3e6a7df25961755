"""Sample-ratio mismatch: are the arms' sizes consistent with the planned split?

If a 50/50 experiment ends 52/48 on 100k users, something between assignment and logging dropped or duplicated
users non-randomly (a crash in one variant, a bot filter, a redirect), and every effect estimate is suspect.
The check is Pearson's chi-square goodness of fit of the observed counts against ``n·planned_share``
(``scipy.stats.chisquare``), with ``k − 1`` degrees of freedom. The threshold is p < 0.001, the convention of
Fabijan et al. (2019, "Diagnosing sample ratio mismatch in online controlled experiments", KDD) and of GrowthBook:
the check runs on every experiment, so a 0.05 threshold would cry wolf once in twenty.

A mismatch is both a flag on the result (``mismatch``) and a typed :class:`SampleRatioMismatchWarning`, so a
notebook shows it and a pipeline can turn it into an error with ``warnings.simplefilter("error", ...)``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from scipy import stats

from liuliang.causal._result import FlatResult
from liuliang.errors import ModelInputError

__all__ = ["SRM_THRESHOLD", "SRMResult", "SampleRatioMismatchWarning", "sample_ratio_test"]

SRM_THRESHOLD = 0.001


class SampleRatioMismatchWarning(UserWarning):
    """The arms' sizes are inconsistent with the planned split; effect estimates may be biased."""


@dataclass(frozen=True)
class SRMResult(FlatResult):
    """Chi-square goodness of fit of arm sizes against the planned split.

    Attributes
    ----------
    variants, observed, planned_shares, expected: per arm (tuples in the same order).
    statistic, df, p_value: Pearson's chi-square test. threshold: p below which a mismatch is declared.
    mismatch: ``p_value < threshold``. message: one line saying what was found.
    """

    variants: tuple[str, ...]
    observed: tuple[int, ...]
    planned_shares: tuple[float, ...]
    expected: tuple[float, ...]
    statistic: float
    df: int
    p_value: float
    threshold: float
    mismatch: bool
    message: str

    def to_arrow(self) -> pa.Table:
        """One row per arm: variant, observed, expected, planned and observed share (test figures repeated)."""
        total = sum(self.observed)
        k = len(self.variants)
        return pa.table(
            {
                "variant": list(self.variants),
                "observed": list(self.observed),
                "expected": list(self.expected),
                "planned_share": list(self.planned_shares),
                "observed_share": [o / total for o in self.observed],
                "p_value": [self.p_value] * k,
                "mismatch": [self.mismatch] * k,
            }
        )


def sample_ratio_test(
    observed: Mapping[str, int] | Sequence[int],
    planned_shares: Mapping[str, float] | Sequence[float] | None = None,
    *,
    threshold: float = SRM_THRESHOLD,
    warn: bool = True,
) -> SRMResult:
    """Test arm sizes against the planned split (equal shares when ``planned_shares`` is None).

    ``observed`` maps variant to count (or lists counts, named ``"0"``, ``"1"``, ...); ``planned_shares`` in the
    same form, normalised to sum to 1 (so ``[1, 1]`` means 50/50). Emits :class:`SampleRatioMismatchWarning` when
    ``warn`` and the p-value is below ``threshold``.

    Examples
    --------
    >>> sample_ratio_test({"control": 50_000, "treatment": 50_210}).mismatch
    False
    """
    if isinstance(observed, Mapping):
        names = tuple(str(k) for k in observed)
        counts = np.array([observed[k] for k in observed], dtype=float)
    else:
        counts = np.asarray(observed, dtype=float)
        names = tuple(str(i) for i in range(counts.size))
    if counts.size < 2:
        raise ModelInputError(f"sample_ratio_test: need at least two arms; got {counts.size}")
    if np.any(counts < 0) or np.any(counts != np.round(counts)) or counts.sum() <= 0:
        raise ModelInputError("sample_ratio_test: counts must be non-negative integers with a positive total")
    if planned_shares is None:
        shares = np.full(counts.size, 1 / counts.size)
    else:
        if isinstance(planned_shares, Mapping):
            if set(planned_shares) != set(names):
                raise ModelInputError(
                    f"sample_ratio_test: planned_shares names {sorted(planned_shares)} differ from arms {list(names)}"
                )
            raw = np.array([planned_shares[k] for k in names], dtype=float)
        else:
            raw = np.asarray(planned_shares, dtype=float)
        if raw.size != counts.size or np.any(raw <= 0) or not np.all(np.isfinite(raw)):
            raise ModelInputError("sample_ratio_test: planned_shares needs one positive share per arm")
        shares = raw / raw.sum()
    if not 0 < threshold < 1:
        raise ModelInputError(f"sample_ratio_test: threshold must be in (0, 1); got {threshold!r}")
    total = counts.sum()
    expected = total * shares
    statistic = float(np.sum((counts - expected) ** 2 / expected))
    df = counts.size - 1
    p = float(stats.chi2.sf(statistic, df))
    mismatch = p < threshold
    split = "/".join(f"{100 * c / total:.2f}" for c in counts)
    planned = "/".join(f"{100 * s:.2f}" for s in shares)
    message = (
        f"sample ratio mismatch: observed {split} % vs planned {planned} % (chi2={statistic:.1f}, p={p:.2g} < "
        f"{threshold:g}); check assignment and logging before trusting any effect"
        if mismatch
        else f"no sample ratio mismatch: observed {split} % vs planned {planned} % (p={p:.2g})"
    )
    if mismatch and warn:
        warnings.warn(message, SampleRatioMismatchWarning, stacklevel=2)
    return SRMResult(
        variants=names,
        observed=tuple(int(c) for c in counts),
        planned_shares=tuple(float(s) for s in shares),
        expected=tuple(float(e) for e in expected),
        statistic=statistic,
        df=df,
        p_value=p if math.isfinite(p) else 0.0,
        threshold=threshold,
        mismatch=mismatch,
        message=message,
    )
