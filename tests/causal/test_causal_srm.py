"""Sample-ratio mismatch fires on a planted 52/48 split at 100k users and stays quiet on a fair one (fixed seeds);
its statistic is scipy's chi-square goodness of fit."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import stats

from liuliang.causal import SampleRatioMismatchWarning, sample_ratio_test
from liuliang.errors import ModelInputError


def _assign(seed: int, n: int, p_treatment: float) -> dict[str, int]:
    treated = int(np.random.default_rng(seed).binomial(n, p_treatment))
    return {"control": n - treated, "treatment": treated}


def test_planted_52_48_imbalance_fires_with_a_typed_warning() -> None:
    counts = _assign(20260501, 100_000, 0.48)
    with pytest.warns(SampleRatioMismatchWarning, match="sample ratio mismatch"):
        r = sample_ratio_test(counts)
    assert r.mismatch and r.p_value < 1e-20
    assert r.to_dict()["mismatch"] is True


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_fair_split_stays_quiet(seed: int) -> None:
    counts = _assign(seed, 100_000, 0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error", SampleRatioMismatchWarning)
        r = sample_ratio_test(counts)
    assert not r.mismatch and r.p_value > 0.001


def test_false_alarm_rate_is_the_threshold() -> None:
    """Under a fair 50/50 split, the p-value is uniform-ish, so 20,000 experiments alarm ~0.1 % of the time."""
    rng = np.random.default_rng(9)
    treated = rng.binomial(10_000, 0.5, 20_000)
    alarms = sum(sample_ratio_test([10_000 - t, t], warn=False).mismatch for t in treated)
    assert alarms / 20_000 < 0.003


def test_matches_scipy_chisquare_with_an_uneven_plan() -> None:
    observed = {"control": 9_000, "red_packet": 45_500, "free_order": 45_500}
    planned = {"control": 0.1, "red_packet": 0.45, "free_order": 0.45}
    with pytest.warns(SampleRatioMismatchWarning):
        r = sample_ratio_test(observed, planned)
    ref = stats.chisquare([9_000, 45_500, 45_500], f_exp=[10_000, 45_000, 45_000])
    assert r.statistic == pytest.approx(ref.statistic) and r.p_value == pytest.approx(ref.pvalue)
    assert r.df == 2 and r.mismatch
    table = r.to_arrow()
    assert table.column("variant").to_pylist() == ["control", "red_packet", "free_order"]
    assert table.column("observed_share").to_pylist()[0] == pytest.approx(0.09)
    # shares need not sum to one, and a 90/10 plan met exactly is fine
    assert not sample_ratio_test([9_000, 1_000], [9, 1]).mismatch


def test_bad_inputs_raise() -> None:
    with pytest.raises(ModelInputError, match="two arms"):
        sample_ratio_test([5])
    with pytest.raises(ModelInputError, match="names"):
        sample_ratio_test({"a": 1, "b": 2}, {"a": 0.5, "c": 0.5})
    with pytest.raises(ModelInputError, match="integers"):
        sample_ratio_test([1.5, 2])
