"""The same comparison across a family — segments of one metric, or several metrics — with adjusted p-values.

Slicing an experiment by city tier, channel or new-vs-returning multiplies the chances of a lucky "winner", so the
p-values of the family are adjusted together (Holm by default; see :mod:`liuliang.causal.multiple`). Each member is
analysed independently from its own sufficient statistics; the result is one long table keyed by the member's name
(``segment`` or ``metric``), never a dict of results.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import pyarrow as pa

from liuliang._display import html_fields, html_result, html_table
from liuliang.causal.cuped import cuped_ttest
from liuliang.causal.frequentist import FrequentistResult, two_proportion_ztest, welch_ttest
from liuliang.causal.multiple import AdjustedPValues, Correction, adjust_pvalues
from liuliang.causal.stats import CovariateStats, SufficientStats
from liuliang.errors import ModelInputError

__all__ = ["FamilyResult", "effects_by_metric", "effects_by_segment"]

Test = Literal["proportion", "welch", "cuped"]
_TESTS: dict[str, Callable[..., FrequentistResult]] = {
    "proportion": two_proportion_ztest,
    "welch": welch_ttest,
    "cuped": cuped_ttest,
}

Arms = tuple[SufficientStats, SufficientStats] | tuple[CovariateStats, CovariateStats]


@dataclass(frozen=True)
class FamilyResult:
    """One result per member plus the family's adjusted p-values.

    Attributes
    ----------
    key: ``"segment"`` or ``"metric"``. names: members in input order. results: their
    :class:`~liuliang.causal.frequentist.FrequentistResult` (same order). adjustment: the adjusted p-values.
    """

    key: str
    names: tuple[str, ...]
    results: tuple[FrequentistResult, ...]
    adjustment: AdjustedPValues

    def to_arrow(self) -> pa.Table:
        """Long table: the member's name, every field of its result, ``p_adjusted`` and ``reject``."""
        rows = []
        for name, res, adj, rej in zip(
            self.names, self.results, self.adjustment.adjusted, self.adjustment.reject, strict=True
        ):
            row: dict[str, Any] = {self.key: name}
            row.update(res.to_arrow().to_pylist()[0])
            row.update(p_adjusted=adj, reject=rej, correction=self.adjustment.method)
            rows.append(row)
        columns = list(dict.fromkeys(k for row in rows for k in row))  # CUPED rows carry extra columns
        return pa.Table.from_pylist([{c: row.get(c) for c in columns} for row in rows])

    def _repr_html_(self) -> str:
        adj = self.adjustment
        fields = [("by", self.key), ("members", len(self.names)), ("correction", getattr(adj, "method", None))]
        return html_result("FamilyResult", html_fields(fields), html_table(self.to_arrow()))

    def to_pandas(self) -> Any:
        return self.to_arrow().to_pandas()

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "correction": self.adjustment.method, "rows": self.to_arrow().to_pylist()}

    def of(self, name: str) -> FrequentistResult:
        return self.results[self.names.index(name)]


def _family(
    key: str, members: Mapping[str, Arms], test: Test, correction: Correction, alpha: float, **test_kwargs: Any
) -> FamilyResult:
    if not members:
        raise ModelInputError(f"effects_by_{key}: no {key}s given")
    if test not in _TESTS:
        raise ModelInputError(f"effects_by_{key}: test must be one of {sorted(_TESTS)}; got {test!r}")
    fn = _TESTS[test]
    names, results = [], []
    for name, arms in members.items():
        control, treatment = arms
        try:
            results.append(fn(control, treatment, alpha=alpha, **test_kwargs))
        except ModelInputError as e:
            raise ModelInputError(f"{key} {name!r}: {e}") from e
        names.append(str(name))
    adjustment = adjust_pvalues([r.p_value for r in results], correction, alpha=alpha, names=names)
    return FamilyResult(key=key, names=tuple(names), results=tuple(results), adjustment=adjustment)


def effects_by_segment(
    segments: Mapping[str, Arms],
    *,
    test: Test = "welch",
    correction: Correction = "holm",
    alpha: float = 0.05,
    **test_kwargs: Any,
) -> FamilyResult:
    """Analyse one metric per segment (``{segment: (control, treatment)}``), adjusting across segments.

    Examples
    --------
    >>> p = SufficientStats.from_proportion
    >>> fam = effects_by_segment({"tier1": (p(5000, 1500), p(5000, 1650)), "tier3": (p(5000, 1200), p(5000, 1210))},
    ...                          test="proportion")
    >>> fam.adjustment.reject
    (True, False)
    """
    return _family("segment", segments, test, correction, alpha, **test_kwargs)


def effects_by_metric(
    metrics: Mapping[str, Arms],
    *,
    test: Test | Mapping[str, Test] = "welch",
    correction: Correction = "holm",
    alpha: float = 0.05,
) -> FamilyResult:
    """Analyse several metrics of one experiment (``{metric: (control, treatment)}``), adjusting across metrics.

    ``test`` may differ per metric (``{"retained_d7": "proportion", "revenue": "cuped"}``).
    """
    if isinstance(test, str):
        return _family("metric", metrics, test, correction, alpha)
    missing = set(metrics) - set(test)
    if missing:
        raise ModelInputError(f"effects_by_metric: no test given for {sorted(missing)}")
    names, results = [], []
    for name, (control, treatment) in metrics.items():
        one = _family("metric", {name: (control, treatment)}, test[name], "none", alpha)
        names.append(one.names[0])
        results.append(one.results[0])
    adjustment = adjust_pvalues([r.p_value for r in results], correction, alpha=alpha, names=names)
    return FamilyResult(key="metric", names=tuple(names), results=tuple(results), adjustment=adjustment)
