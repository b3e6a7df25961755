"""Holm and Benjamini–Hochberg agree with statsmodels and with hand-computed examples; families of segments and
metrics are each member's own test plus the family's adjustment."""

from __future__ import annotations

from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from liuliang.causal import (
    CovariateStats,
    SufficientStats,
    adjust_pvalues,
    cuped_ttest,
    effects_by_metric,
    effects_by_segment,
    two_proportion_ztest,
    welch_ttest,
)
from liuliang.errors import ModelInputError

multitest = pytest.importorskip("statsmodels.stats.multitest")


@settings(max_examples=80, deadline=None)
@given(p=st.lists(st.floats(0, 1), min_size=1, max_size=30), alpha=st.sampled_from([0.01, 0.05, 0.1]))
def test_matches_statsmodels(p: list[float], alpha: float) -> None:
    for ours, theirs in (("holm", "holm"), ("bh", "fdr_bh")):
        r = adjust_pvalues(p, ours, alpha=alpha)
        # multipletests calls gc.collect() on every call (~100 ms under hypothesis); skip it, for this call only
        with mock.patch("gc.collect", lambda: 0):
            reject, adjusted, *_ = multitest.multipletests(p, alpha=alpha, method=theirs)
        np.testing.assert_allclose(r.adjusted, adjusted, rtol=1e-12, atol=1e-15)
        # statsmodels rejects at p_adj <= alpha; liuliang at < alpha: they differ only on exact ties with alpha
        assert [a for a in r.reject] == [bool(a < alpha) for a in adjusted]
        assert sum(r.reject) <= sum(reject)


def test_hand_computed_examples() -> None:
    p = [0.01, 0.04, 0.03, 0.005]
    # Holm: sorted 0.005, 0.01, 0.03, 0.04 → ×4, ×3, ×2, ×1 = 0.02, 0.03, 0.06, 0.04
    #       → running max 0.02, 0.03, 0.06, 0.06
    assert adjust_pvalues(p, "holm").adjusted == pytest.approx((0.03, 0.06, 0.06, 0.02))
    # BH: sorted ×4/1, ×4/2, ×4/3, ×4/4 = 0.02, 0.02, 0.04, 0.04 → running min from the top: same
    assert adjust_pvalues(p, "bh").adjusted == pytest.approx((0.02, 0.04, 0.04, 0.02))
    assert adjust_pvalues(p, "none").adjusted == tuple(p)
    assert adjust_pvalues(p, "holm", names=list("abcd")).to_arrow().column("name").to_pylist() == list("abcd")
    with pytest.raises(ModelInputError, match="method"):
        adjust_pvalues(p, "bonferroni")  # type: ignore[arg-type]
    with pytest.raises(ModelInputError, match=r"\[0, 1\]"):
        adjust_pvalues([0.5, 1.2])


def _segments(seed: int) -> dict[str, tuple[SufficientStats, SufficientStats]]:
    rng = np.random.default_rng(seed)
    out = {}
    for name, base, lift in (("tier1", 0.30, 0.03), ("tier2", 0.25, 0.01), ("tier3", 0.20, 0.0), ("lower", 0.18, 0.0)):
        n = 8_000
        out[name] = (
            SufficientStats.from_proportion(n, rng.binomial(n, base)),
            SufficientStats.from_proportion(n, rng.binomial(n, base + lift)),
        )
    return out


def test_effects_by_segment_is_each_test_plus_the_adjustment() -> None:
    segs = _segments(3)
    fam = effects_by_segment(segs, test="proportion", correction="holm")
    singles = [two_proportion_ztest(*arms) for arms in segs.values()]
    assert [r.p_value for r in fam.results] == [s.p_value for s in singles]
    assert fam.adjustment.adjusted == adjust_pvalues([s.p_value for s in singles], "holm").adjusted
    assert fam.of("tier1").difference == singles[0].difference
    table = fam.to_arrow()
    assert table.column("segment").to_pylist() == list(segs)
    assert {"p_value", "p_adjusted", "reject", "relative_lift_ci_lower", "correction"} <= set(table.column_names)
    adjusted, raw = table.column("p_adjusted").to_pylist(), table.column("p_value").to_pylist()
    assert all(a >= r for a, r in zip(adjusted, raw, strict=True))
    assert fam.to_dict()["rows"][0]["segment"] == "tier1"


def test_effects_by_metric_mixes_tests_and_names_the_failing_member() -> None:
    rng = np.random.default_rng(8)
    x = rng.normal(10, 3, (2, 4000))
    y = x + rng.normal(0, 2, (2, 4000))
    y[1] += 0.3
    metrics = {
        "retained_d7": (SufficientStats.from_proportion(4000, 1200), SufficientStats.from_proportion(4000, 1290)),
        "orders": (SufficientStats.from_values(y[0]), SufficientStats.from_values(y[1])),
        "revenue": (CovariateStats.from_values(y[0], x[0]), CovariateStats.from_values(y[1], x[1])),
    }
    fam = effects_by_metric(metrics, test={"retained_d7": "proportion", "orders": "welch", "revenue": "cuped"})
    assert fam.of("revenue").p_value == cuped_ttest(*metrics["revenue"]).p_value
    assert fam.of("orders").p_value == welch_ttest(*metrics["orders"]).p_value
    table = fam.to_arrow()
    assert table.column("metric").to_pylist() == ["retained_d7", "orders", "revenue"]
    assert table.column("theta").to_pylist()[:2] == [None, None]  # only the CUPED row has a slope
    bh = effects_by_metric(
        metrics, test={"retained_d7": "proportion", "orders": "welch", "revenue": "cuped"}, correction="bh"
    )
    assert all(b <= h for b, h in zip(bh.adjustment.adjusted, fam.adjustment.adjusted, strict=True))
    with pytest.raises(ModelInputError, match="segment 'flat'"):
        effects_by_segment({"flat": (SufficientStats.from_values([1.0, 1.0]), SufficientStats.from_values([1.0, 1.0]))})
    with pytest.raises(ModelInputError, match="no test given"):
        effects_by_metric(metrics, test={"orders": "welch"})
