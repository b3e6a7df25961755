"""BG/NBD, MBG/NBD, Pareto/NBD and Gamma-Gamma on CDNOW: published estimates, ``lifetimes`` predictions, the API.

Published values: Fader, Hardie & Lee (2005) "Counting your customers the easy way" (BG/NBD, and Pareto/NBD on the
same data); Fader & Hardie's Gamma-Gamma note (p, q, gamma on the 946 repeat buyers). ``lifetimes`` is an optional
baseline: its predictions are compared at *our* parameters, so only the formulas are under test there.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from liuliang.errors import ModelInputError, NotFittedError
from liuliang.models import BetaGeoFitter, GammaGammaFitter, ModifiedBetaGeoFitter, ParetoNBDFitter, datasets


def sig3(v: float) -> float:
    return float(f"{v:.3g}")


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    return datasets.load_cdnow_sample()


@pytest.fixture(scope="module")
def bg(cdnow: pd.DataFrame) -> BetaGeoFitter:
    return BetaGeoFitter().fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])


@pytest.fixture(scope="module")
def mbg(cdnow: pd.DataFrame) -> ModifiedBetaGeoFitter:
    return ModifiedBetaGeoFitter().fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])


@pytest.fixture(scope="module")
def pnbd(cdnow: pd.DataFrame) -> ParetoNBDFitter:
    return ParetoNBDFitter().fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])


@pytest.fixture(scope="module")
def gg(cdnow: pd.DataFrame) -> GammaGammaFitter:
    rep = cdnow[cdnow["frequency"] > 0]
    return GammaGammaFitter().fit(rep["frequency"], rep["monetary_value"])


def test_fixture_is_the_published_sample(cdnow: pd.DataFrame) -> None:
    assert len(cdnow) == 2357
    assert (cdnow["frequency"] > 0).sum() == 946
    assert cdnow["T"].max() == pytest.approx(38.86)


def test_bgnbd_reproduces_fader_hardie_lee(bg: BetaGeoFitter) -> None:
    assert [sig3(v) for v in bg.params_] == [sig3(v) for v in (0.243, 4.414, 0.793, 2.426)]
    assert bg.log_likelihood_ == pytest.approx(-9582.4, abs=0.05)


def test_pareto_nbd_reproduces_published(pnbd: ParetoNBDFitter) -> None:
    assert [sig3(v) for v in pnbd.params_] == [sig3(v) for v in (0.553, 10.578, 0.606, 11.669)]
    assert pnbd.log_likelihood_ == pytest.approx(-9595.0, abs=0.05)


def test_gamma_gamma_reproduces_published(gg: GammaGammaFitter) -> None:
    assert [sig3(v) for v in gg.params_] == [sig3(v) for v in (6.25, 3.74, 15.44)]
    assert gg.n_customers_ == 946


def test_mbgnbd_fits_at_least_as_well_as_bgnbd_here(mbg: ModifiedBetaGeoFitter, bg: BetaGeoFitter) -> None:
    # Batislam et al.'s model nests no BG/NBD, but on CDNOW both reach ~-9582; a broken fit would be far off
    assert mbg.log_likelihood_ == pytest.approx(-9582.13, abs=0.05)


def test_standard_errors_match_the_published_table(bg: BetaGeoFitter) -> None:
    # FHL (2005) report no SEs; these are lifetimes' (autograd Hessian) values on the same data, to 2 digits
    assert np.round(bg.standard_errors_.to_numpy(), 2).tolist() == pytest.approx([0.01, 0.38, 0.19, 0.71])


def test_summary_and_repr(bg: BetaGeoFitter) -> None:
    s = bg.summary
    assert list(s.columns) == ["param", "estimate", "se", "lower", "upper"]
    assert s["param"].tolist() == ["r", "alpha", "a", "b"]
    assert np.all((s["lower"] < s["estimate"]) & (s["estimate"] < s["upper"]) & (s["lower"] > 0))
    assert "2,357 customers" in repr(bg) and "r=0.2426" in repr(bg)
    assert repr(BetaGeoFitter()) == "<BetaGeoFitter: not fitted>"


def test_compression_equals_expanded_fit(cdnow: pd.DataFrame, bg: BetaGeoFitter) -> None:
    grouped = cdnow.groupby(["frequency", "recency", "T"], as_index=False).size()
    m = BetaGeoFitter().fit(grouped["frequency"], grouped["recency"], grouped["T"], weights=grouped["size"])
    assert m.n_rows_ == bg.n_rows_ == len(grouped)
    np.testing.assert_allclose(m.params_, bg.params_, rtol=1e-6)
    assert m.log_likelihood_ == pytest.approx(bg.log_likelihood_, abs=1e-6)


def test_unfitted_and_bad_input_raise(cdnow: pd.DataFrame) -> None:
    with pytest.raises(NotFittedError):
        BetaGeoFitter().probability_alive(1, 1.0, 2.0)
    with pytest.raises(ModelInputError, match="recency must lie"):
        BetaGeoFitter().fit([1, 2], [3.0, 1.0], [2.0, 2.0])
    with pytest.raises(ModelInputError, match="recency must be 0"):
        ParetoNBDFitter().fit([0, 2], [1.0, 1.0], [2.0, 2.0])
    with pytest.raises(ModelInputError, match="whole number"):
        BetaGeoFitter().fit([1.5], [1.0], [2.0])
    with pytest.raises(ModelInputError, match="frequency must be a whole number >= 1"):
        GammaGammaFitter().fit([0, 1], [1.0, 1.0])
    with pytest.raises(ModelInputError, match="confidence"):
        BetaGeoFitter(confidence=1.5).fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])


def test_scalar_calls_return_floats(bg: BetaGeoFitter) -> None:
    assert isinstance(bg.probability_alive(2, 30.43, 38.86), float)
    assert isinstance(bg.expected_purchases(39), float)
    assert bg.probability_alive([0, 2], [0.0, 30.43], [38.86, 38.86]).shape == (2,)


# -- cross-checks against lifetimes at our parameters --------------------------------------------------------------
LIFETIMES = {"BetaGeoFitter": "bg", "ModifiedBetaGeoFitter": "mbg", "ParetoNBDFitter": "pnbd"}


@pytest.mark.parametrize("name", list(LIFETIMES))
def test_predictions_match_lifetimes(name: str, cdnow: pd.DataFrame, request: pytest.FixtureRequest) -> None:
    lifetimes = pytest.importorskip("lifetimes")
    ours = request.getfixturevalue(LIFETIMES[name])
    theirs = getattr(lifetimes, name)()
    theirs.params_ = pd.Series(ours.params_.to_numpy(), index=ours.params_.index)
    f, r, T = (cdnow[c].to_numpy() for c in ("frequency", "recency", "T"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        np.testing.assert_allclose(
            ours.probability_alive(f, r, T), theirs.conditional_probability_alive(f, r, T), rtol=1e-9
        )
        for t in (1.0, 10.0, 39.0):
            np.testing.assert_allclose(
                ours.predict_purchases(t, f, r, T),
                theirs.conditional_expected_number_of_purchases_up_to_time(t, f, r, T),
                rtol=1e-8,
            )
        ts = np.array([1.0, 10.0, 39.0, 78.0])
        np.testing.assert_allclose(
            ours.expected_purchases(ts), theirs.expected_number_of_purchases_up_to_time(ts), rtol=1e-9
        )
        if name != "ParetoNBDFitter":  # lifetimes has no unconditional P(X(t)=n) for the Pareto/NBD
            for n in range(6):
                assert ours.probability_of_purchases(39.0, n) == pytest.approx(
                    float(theirs.probability_of_n_purchases_up_to_time(39.0, n)), rel=1e-9
                )


def test_lifetimes_reaches_no_better_likelihood(cdnow: pd.DataFrame, bg: BetaGeoFitter, pnbd: ParetoNBDFitter) -> None:
    lifetimes = pytest.importorskip("lifetimes")
    cols = (cdnow["frequency"], cdnow["recency"], cdnow["T"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for ours, cls in ((bg, lifetimes.BetaGeoFitter), (pnbd, lifetimes.ParetoNBDFitter)):
            theirs = cls().fit(*cols)
            assert ours.log_likelihood(theirs.params_.to_numpy(), *cols) <= ours.log_likelihood_ + 1e-6


def test_clv_matches_lifetimes(cdnow: pd.DataFrame, bg: BetaGeoFitter, gg: GammaGammaFitter) -> None:
    lifetimes = pytest.importorskip("lifetimes")
    rep = cdnow[cdnow["frequency"] > 0].head(200)
    ours = gg.customer_lifetime_value(
        bg, rep["frequency"], rep["recency"], rep["T"], rep["monetary_value"], time=12, discount_rate=0.01, freq="W"
    )
    assert isinstance(ours, pd.Series) and (ours.index == rep.index).all()
    l_bg = lifetimes.BetaGeoFitter()
    l_bg.params_ = pd.Series(bg.params_.to_numpy(), index=bg.params_.index)
    l_bg.predict = l_bg.conditional_expected_number_of_purchases_up_to_time  # lifetimes sets this in fit()
    l_gg = lifetimes.GammaGammaFitter()
    l_gg.params_ = pd.Series(gg.params_.to_numpy(), index=["p", "q", "v"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = l_gg.customer_lifetime_value(
            l_bg,
            rep["frequency"],
            rep["recency"],
            rep["T"],
            rep["monetary_value"],
            time=12,
            discount_rate=0.01,
            freq="W",
        )
        spend = l_gg.conditional_expected_average_profit(rep["frequency"], rep["monetary_value"])
    np.testing.assert_allclose(ours.to_numpy(), np.asarray(theirs), rtol=1e-8)
    np.testing.assert_allclose(
        gg.expected_spend(rep["frequency"], rep["monetary_value"]), np.asarray(spend), rtol=1e-12
    )


def test_clv_by_hand(bg: BetaGeoFitter, gg: GammaGammaFitter) -> None:
    """Three monthly steps (4.345 weeks each), discounted at 10%, from the closed forms directly."""
    x, tx, T, m = 3, 20.0, 38.86, 30.0
    cum = [bg.predict_purchases(4.345 * i, x, tx, T) if i else 0.0 for i in range(4)]
    spend = (gg.params_["gamma"] + m * x) * gg.params_["p"] / (gg.params_["p"] * x + gg.params_["q"] - 1)
    expected = sum(spend * (cum[i] - cum[i - 1]) / 1.1**i for i in (1, 2, 3))
    assert gg.customer_lifetime_value(bg, x, tx, T, m, time=3, discount_rate=0.1, freq="W") == pytest.approx(expected)


def test_model_errors_live_in_liuliang_errors() -> None:
    """One class each, shared by the transaction and the period models, so callers catch them in one place."""
    from liuliang import errors
    from liuliang.models import _likelihood

    assert issubclass(errors.ModelInputError, errors.LiuliangError) and issubclass(errors.ModelInputError, ValueError)
    assert issubclass(errors.ConvergenceError, errors.LiuliangError)
    assert issubclass(errors.NotFittedError, errors.LiuliangError)
    assert _likelihood.ConvergenceError is errors.ConvergenceError
    assert _likelihood.NotFittedError is errors.NotFittedError
    with pytest.raises(ValueError, match="whole number"):
        BetaGeoFitter().fit([1.5], [1.0], [2.0])
