"""Covariate balance between treated and untreated users: standardized mean differences before and after weighting.

An observational estimate is only as good as the balance its weights achieve, so every one reports it. The
standardized mean difference of covariate ``x`` is

    SMD = (x̄_treated − x̄_control) / sqrt((s²_treated + s²_control) / 2)

(Austin 2009, Stat. Med. 28:3083; Austin & Stuart 2015, Stat. Med. 34:3661), computed with weighted means after
weighting. The denominator is the **unweighted** pooled standard deviation in both cases (the default of R's
``cobalt``), so the change from "before" to "after" is only the change in the mean difference. |SMD| > 0.1 is the
customary sign of imbalance (Austin 2009).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from liuliang._display import html_fields, html_result, html_table
from liuliang.errors import ModelInputError

__all__ = ["SMD_THRESHOLD", "BalanceResult", "standardized_mean_differences"]

SMD_THRESHOLD = 0.1


@dataclass(frozen=True)
class BalanceResult:
    """Per-covariate SMD before and after weighting.

    Attributes
    ----------
    covariates: names. smd_before, smd_after: signed SMDs (treated − control). threshold: |SMD| flagged above.
    """

    covariates: tuple[str, ...]
    smd_before: tuple[float, ...]
    smd_after: tuple[float, ...]
    threshold: float = SMD_THRESHOLD

    @property
    def max_abs_before(self) -> float:
        return float(np.max(np.abs(self.smd_before)))

    @property
    def max_abs_after(self) -> float:
        return float(np.max(np.abs(self.smd_after)))

    @property
    def imbalanced_after(self) -> tuple[str, ...]:
        """Covariates still above the threshold after weighting."""
        return tuple(c for c, s in zip(self.covariates, self.smd_after, strict=True) if abs(s) > self.threshold)

    def to_arrow(self) -> pa.Table:
        return pa.table(
            {
                "covariate": list(self.covariates),
                "smd_before": list(self.smd_before),
                "smd_after": list(self.smd_after),
                "imbalanced_after": [abs(s) > self.threshold for s in self.smd_after],
            }
        )

    def _repr_html_(self) -> str:
        fields = [("threshold", self.threshold), ("max |SMD| before", self.max_abs_before)]
        fields += [("max |SMD| after", self.max_abs_after), ("imbalanced after", self.imbalanced_after or "none")]
        return html_result("BalanceResult", html_fields(fields), html_table(self.to_arrow()))

    def to_pandas(self) -> Any:
        return self.to_arrow().to_pandas()

    def to_dict(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "rows": self.to_arrow().to_pylist()}


def _weighted_mean(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    return (w[:, None] * x).sum(axis=0) / w.sum()


def standardized_mean_differences(
    X: Any, treatment: Any, weights: Any | None = None, *, names: Sequence[str] | None = None
) -> BalanceResult:
    """SMDs of every column of ``X`` between ``treatment == 1`` and ``== 0``, unweighted and with ``weights``."""
    x = np.asarray(X, dtype=float)
    if x.ndim == 1:
        x = x[:, None]
    t = np.asarray(treatment).astype(bool).ravel()
    if x.shape[0] != t.size:
        raise ModelInputError(f"standardized_mean_differences: X has {x.shape[0]} rows, treatment {t.size}")
    if t.all() or not t.any():
        raise ModelInputError("standardized_mean_differences: need both treated and untreated units")
    w = np.ones(t.size) if weights is None else np.asarray(weights, dtype=float).ravel()
    sd = np.sqrt((x[t].var(axis=0, ddof=1) + x[~t].var(axis=0, ddof=1)) / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        before = np.where(sd > 0, (x[t].mean(axis=0) - x[~t].mean(axis=0)) / sd, 0.0)
        after = np.where(sd > 0, (_weighted_mean(x[t], w[t]) - _weighted_mean(x[~t], w[~t])) / sd, 0.0)
    labels = tuple(names) if names is not None else tuple(f"x{i}" for i in range(x.shape[1]))
    if len(labels) != x.shape[1]:
        raise ModelInputError(f"standardized_mean_differences: {len(labels)} names for {x.shape[1]} columns")
    return BalanceResult(labels, tuple(float(v) for v in before), tuple(float(v) for v in after))
