"""Bootstrap of the parametric models: agreement with the Hessian (and a naive sandwich reference) on CDNOW and the
sBG paper's data, reproducibility, grouped weights = expanded rows in distribution, the resamplers, failure counting."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from liuliang.errors import ConvergenceError, ModelInputError, UnsupportedOperationError
from liuliang.models import (
    BetaGeoBetaBinomFitter,
    BetaGeoFitter,
    BootstrapResult,
    GammaGammaFitter,
    ModifiedBetaGeoFitter,
    ParetoNBDFitter,
    RetentionCurveFitter,
    ShiftedBetaGeometricFitter,
    bootstrap,
    datasets,
)
from liuliang.models.bg_nbd import _row_loglik
from liuliang.models.bootstrap import _resample_survivors, clone, resample_counts

CDNOW = datasets.load_cdnow_sample()
COLS = (CDNOW["frequency"], CDNOW["recency"], CDNOW["T"])
DONATIONS = pd.read_csv(Path(__file__).parent / "data" / "bgbb_donations.csv")
REGULAR = [1000, 631, 468, 382, 326, 289, 262, 241]  # Fader & Hardie 2007, "regular" customers, years 0-7


@pytest.fixture(scope="module")
def cdnow_boot() -> BootstrapResult:
    return bootstrap(BetaGeoFitter(), *COLS, n_resamples=200, seed=0)


def test_cdnow_bgnbd_bootstrap_agrees_with_the_hessian(cdnow_boot: BootstrapResult) -> None:
    fit = BetaGeoFitter().fit(*COLS)
    b = cdnow_boot
    assert b.param_names == ("r", "alpha", "a", "b") and b.n_resamples == 200 and b.n_failed == 0
    np.testing.assert_allclose(b.estimate, fit.params_.to_numpy(), rtol=1e-9)
    # seed 0 ratios to the Hessian: r 1.14, alpha 1.17, a 1.13, b 1.17 (seeds 0-5 range 1.04-1.27)
    np.testing.assert_allclose(b.standard_errors, fit.standard_errors_.to_numpy(), rtol=0.25)
    # The excess over the Hessian is real: a naive sandwich (robust) covariance H^-1 J H^-1, J = Σ per-customer score
    # outer products, is 15-23% above the Hessian for r and alpha too, and the bootstrap tracks it.
    _, score = _row_loglik(fit.params_.to_numpy(), *(np.asarray(c, dtype=float) for c in COLS), grad=True)
    cov = fit.variance_matrix_.to_numpy()
    sandwich_se = np.sqrt(np.diag(cov @ (score.T @ score) @ cov))
    np.testing.assert_allclose(b.standard_errors, sandwich_se, rtol=0.25)
    assert np.all(b.lower < b.estimate) and np.all(b.estimate < b.upper)


def test_summary_is_the_naive_computation(cdnow_boot: BootstrapResult) -> None:
    b = cdnow_boot
    table = b.to_arrow()
    assert table.column_names == ["param", "estimate", "bootstrap_se", "lower", "upper", "n_converged"]
    s = b.summary
    naive_se = [np.sqrt(np.sum((col - col.mean()) ** 2) / (col.size - 1)) for col in b.samples.T]
    np.testing.assert_allclose(s["bootstrap_se"], naive_se, rtol=1e-12)
    np.testing.assert_allclose(s["lower"], np.percentile(b.samples, 2.5, axis=0), rtol=1e-12)
    np.testing.assert_allclose(s["upper"], np.percentile(b.samples, 97.5, axis=0), rtol=1e-12)
    assert list(s["n_converged"]) == [200] * 4
    assert "200/200 resamples converged" in repr(b)
    with pytest.raises(ValueError):
        b.samples[0, 0] = 1.0  # read-only


def test_sbg_bootstrap_on_the_papers_counts() -> None:
    fit = ShiftedBetaGeometricFitter().fit(REGULAR)
    b = bootstrap(ShiftedBetaGeometricFitter(), REGULAR, n_resamples=200, seed=0)
    assert b.param_names == ("alpha", "beta") and b.n_failed == 0
    np.testing.assert_allclose(b.estimate, [fit.alpha_, fit.beta_], rtol=1e-9)
    np.testing.assert_allclose(b.standard_errors, fit.standard_errors_.to_numpy(), rtol=0.25)
    # a fitted model's survivors_ work as the data, and the template is left unfitted
    template = ShiftedBetaGeometricFitter()
    again = bootstrap(template, fit.survivors_, n_resamples=200, seed=0)
    np.testing.assert_array_equal(again.samples, b.samples)
    assert not hasattr(template, "params_")


def test_sbg_resampler_is_unbiased_and_keeps_survival_shape() -> None:
    rng = np.random.default_rng(3)
    cohorts = [np.asarray(REGULAR, dtype=float), np.array([200.0, 150.0, 120.0])]
    draws = [_resample_survivors(rng, cohorts) for _ in range(4000)]
    for i, cohort in enumerate(cohorts):
        arr = np.array([d[i] for d in draws])
        assert np.all(arr[:, 0] == cohort[0]) and np.all(np.diff(arr, axis=1) <= 0) and np.all(arr >= 0)
        # E[survivors at t] = the observed survivors; multinomial sd of the mean < 0.3 customer here
        np.testing.assert_allclose(arr.mean(axis=0), cohort, atol=1.5)


def test_seeded_runs_are_reproducible_and_leave_the_fitter_alone() -> None:
    g = CDNOW.query("frequency > 0")
    template = GammaGammaFitter(tol=1e-8).fit(g["frequency"], g["monetary_value"])
    before = template.params_.copy()
    one = bootstrap(template, g["frequency"], g["monetary_value"], n_resamples=15, seed=7)
    two = bootstrap(template, g["frequency"], g["monetary_value"], n_resamples=15, seed=7)
    other = bootstrap(template, g["frequency"], g["monetary_value"], n_resamples=15, seed=8)
    np.testing.assert_array_equal(one.samples, two.samples)
    assert not np.array_equal(one.samples, other.samples)
    assert template.params_.equals(before)
    assert clone(template).tol == 1e-8 and not hasattr(clone(template), "params_")


def test_grouped_weights_resample_like_the_expanded_rows() -> None:
    grouped = CDNOW.groupby(["frequency", "recency", "T"]).size().reset_index(name="n")
    assert len(grouped) < len(CDNOW)
    by_weight = bootstrap(
        BetaGeoFitter(), grouped["frequency"], grouped["recency"], grouped["T"], weights=grouped["n"], n_resamples=150
    )
    expanded = bootstrap(BetaGeoFitter(), *COLS, n_resamples=150, seed=1)
    np.testing.assert_allclose(by_weight.estimate, expanded.estimate, rtol=1e-7)
    # same distribution: means within ~0.35 sd (the noise of a 150-resample mean difference is ~0.12 sd)
    sd = expanded.standard_errors
    assert np.all(np.abs(by_weight.samples.mean(axis=0) - expanded.samples.mean(axis=0)) < 0.35 * sd)
    np.testing.assert_allclose(by_weight.standard_errors, sd, rtol=0.25)


def test_bgbb_grouped_rows() -> None:
    d = DONATIONS
    fit = BetaGeoBetaBinomFitter().fit(d.frequency, d.recency, d.periods, weights=d.weights)
    b = bootstrap(BetaGeoBetaBinomFitter(), d.frequency, d.recency, d.periods, weights=d.weights, n_resamples=60)
    assert b.param_names == ("alpha", "beta", "gamma", "delta") and b.n_failed == 0
    np.testing.assert_allclose(b.standard_errors, fit.standard_errors_.to_numpy(), rtol=0.3)


@pytest.mark.parametrize("cls", [ModifiedBetaGeoFitter, ParetoNBDFitter])
def test_other_purchase_models_run(cls: type) -> None:
    b = bootstrap(cls(), *COLS, n_resamples=8, seed=2)
    assert b.n_converged == 8 and np.all(b.samples > 0)
    np.testing.assert_allclose(b.estimate, cls().fit(*COLS).params_.to_numpy(), rtol=1e-7)


@given(st.lists(st.integers(0, 50), min_size=1, max_size=30).filter(lambda w: sum(w) > 0), st.integers(0, 2**32 - 1))
@settings(max_examples=40, deadline=None)
def test_resampled_counts_are_a_resample_of_the_customers(weights: list[int], seed: int) -> None:
    w = np.asarray(weights, dtype=float)
    counts = resample_counts(np.random.default_rng(seed), w)
    assert counts.sum() == w.sum() and np.all(counts >= 0) and np.all(counts == np.round(counts))
    assert np.all(counts[w == 0] == 0)


def test_resampled_counts_have_the_multinomial_moments() -> None:
    w = np.array([5.0, 0.0, 1.0, 14.0])
    draws = np.array([resample_counts(np.random.default_rng(s), w) for s in range(3000)])
    np.testing.assert_allclose(draws.mean(axis=0), w, atol=0.25)
    p = w / w.sum()
    np.testing.assert_allclose(draws.var(axis=0), w.sum() * p * (1 - p), rtol=0.1, atol=1e-12)


class FlakyFitter(BetaGeoFitter):
    """Every third refit fails (the full-data fit is call 0 and succeeds)."""

    calls: Any = itertools.count()

    def fit(self, *args: Any, **kwargs: Any) -> FlakyFitter:
        if next(FlakyFitter.calls) % 3 == 1:
            raise ConvergenceError("flaky")
        return super().fit(*args, **kwargs)


def test_failures_are_counted_and_skipped() -> None:
    FlakyFitter.calls = itertools.count()
    b = bootstrap(FlakyFitter(), *COLS, n_resamples=10, seed=0)
    # calls 1..10 are the resamples; 1, 4, 7, 10 fail
    assert (b.n_resamples, b.n_failed, b.n_converged) == (10, 4, 6) and b.failures == ("flaky",) * 4
    # a degenerate resample counts as a failure too: 10 customers, 1 churned, so 0.9^10 = 35% of resamples churn none
    tiny = bootstrap(ShiftedBetaGeometricFitter(), [10, 9, 9], n_resamples=200, seed=0)
    assert abs(tiny.n_failed - 200 * 0.9**10) < 4 * np.sqrt(200 * 0.35 * 0.65)
    assert all("nobody churned" in f for f in tiny.failures)
    assert tiny.n_converged + tiny.n_failed == 200


def test_too_few_converged_resamples_raise() -> None:
    class Broken(BetaGeoFitter):
        calls: Any = itertools.count()

        def fit(self, *args: Any, **kwargs: Any) -> Broken:
            if next(Broken.calls) > 0:
                raise ConvergenceError("no")
            return super().fit(*args, **kwargs)

    with pytest.raises(ConvergenceError, match="only 0 of 5 resamples converged"):
        bootstrap(Broken(), *COLS, n_resamples=5)


def test_bad_input() -> None:
    with pytest.raises(UnsupportedOperationError, match="RetentionCurveFitter"):
        bootstrap(RetentionCurveFitter(), [1.0, 0.5])
    with pytest.raises(ModelInputError, match="whole numbers"):
        bootstrap(BetaGeoFitter(), *COLS, weights=np.full(len(CDNOW), 0.5))
    with pytest.raises(ModelInputError, match="one count per row"):
        bootstrap(BetaGeoFitter(), *COLS, weights=[1, 2])
    with pytest.raises(ModelInputError, match="drop weights"):
        bootstrap(ShiftedBetaGeometricFitter(), REGULAR, weights=[1] * 8)
    with pytest.raises(ModelInputError, match="n_resamples"):
        bootstrap(BetaGeoFitter(), *COLS, n_resamples=1)
    with pytest.raises(ModelInputError, match="confidence"):
        bootstrap(BetaGeoFitter(), *COLS, confidence=95)
