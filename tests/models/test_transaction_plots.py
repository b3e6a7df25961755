"""plot() of the transaction models: the tables behind the figures against the data and against simulation.

Expected counts are exact sums of model probabilities, so they are checked two independent ways: over enough bins
they account for every customer (a mis-normalised P(X(t) = n) would not), and they match customers drawn from the
fitted model itself (liuliang.models.simulate) within sampling error.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from liuliang.errors import ModelInputError, NotFittedError
from liuliang.models import (
    BetaGeoFitter,
    GammaGammaFitter,
    ModifiedBetaGeoFitter,
    ParetoNBDFitter,
    datasets,
    simulate,
)

COUNT_MODELS = [BetaGeoFitter, ModifiedBetaGeoFitter, ParetoNBDFitter]


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    return datasets.load_cdnow_sample()


@pytest.fixture(scope="module")
def fitted(cdnow: pd.DataFrame) -> dict[str, object]:
    cols = (cdnow["frequency"], cdnow["recency"], cdnow["T"])
    return {cls.__name__: cls().fit(*cols) for cls in COUNT_MODELS}


def _simulate(model: object, T: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    p = model.params_.to_numpy()
    if isinstance(model, ParetoNBDFitter):
        return simulate.pareto_nbd(T.size, *p, T, rng)["frequency"].to_numpy()
    modified = isinstance(model, ModifiedBetaGeoFitter)
    return simulate.bg_nbd(T.size, *p, T, rng, modified=modified)["frequency"].to_numpy()


@pytest.mark.parametrize("name", [c.__name__ for c in COUNT_MODELS])
def test_period_transactions_plot(name: str, fitted: dict[str, object], cdnow: pd.DataFrame) -> None:
    model = fitted[name]
    table = model.period_transactions()
    fig = model.plot()
    assert isinstance(fig, go.Figure)
    assert [(type(t).__name__, t.name) for t in fig.data] == [("Bar", "observed"), ("Bar", "model")]
    np.testing.assert_allclose(fig.data[0].y, table["observed"])
    np.testing.assert_allclose(fig.data[1].y, table["expected"])
    assert table["frequency"].tolist() == ["0", "1", "2", "3", "4", "5", "6", "7+"]
    observed = np.bincount(np.minimum(cdnow["frequency"], 7), minlength=8)
    np.testing.assert_array_equal(table["observed"], observed)
    # the same table from explicit arguments
    explicit = model.period_transactions(cdnow["frequency"], cdnow["T"])
    np.testing.assert_allclose(explicit["expected"], table["expected"], rtol=1e-10)
    # 60 exact bins hold all customers: the probabilities are normalised without the remainder bin's help
    wide = model.period_transactions(max_frequency=60)
    assert wide["expected"].iloc[:-1].sum() == pytest.approx(len(cdnow), abs=0.05)
    assert wide["expected"].iloc[-1] == pytest.approx(0.0, abs=0.05)
    # and they are what customers drawn from the fitted model do (20 copies of each customer's T)
    reps = 20
    draws = _simulate(model, np.tile(cdnow["T"].to_numpy(), reps), np.random.default_rng(7))
    sim = np.bincount(np.minimum(draws, 7), minlength=8) / reps
    se = np.sqrt(table["expected"].to_numpy() / reps)
    assert np.all(np.abs(sim - table["expected"].to_numpy()) < 4.5 * se + 0.5)


def test_spend_distribution_plot(cdnow: pd.DataFrame) -> None:
    rep = cdnow[cdnow["frequency"] > 0]
    gg = GammaGammaFitter().fit(rep["frequency"], rep["monetary_value"])
    table = gg.spend_distribution(bins=15)
    fig = gg.plot(bins=15)
    assert isinstance(fig, go.Figure)
    assert [(type(t).__name__, t.name) for t in fig.data] == [("Bar", "observed"), ("Scatter", "model")]
    np.testing.assert_allclose(fig.data[0].y, table["observed"])
    np.testing.assert_allclose(fig.data[1].y, table["expected"])
    assert len(table) == 15 and np.isinf(table["upper"].iloc[-1])
    assert table["observed"].sum() == 946
    assert table["expected"].sum() == pytest.approx(946, rel=1e-9)
    edges = np.append(table["lower"].to_numpy(), np.inf)
    np.testing.assert_array_equal(table["observed"], np.histogram(rep["monetary_value"], bins=edges)[0])
    # spends drawn from the fitted model for 50 copies of the repeat buyers land in the bins as expected
    reps = 50
    freq = np.tile(rep["frequency"].to_numpy(), reps)
    m = simulate.gamma_gamma(freq, *gg.params_.to_numpy(), np.random.default_rng(3))
    sim = np.histogram(m, bins=edges)[0] / reps
    se = np.sqrt(table["expected"].to_numpy() / reps)
    assert np.all(np.abs(sim - table["expected"].to_numpy()) < 4.5 * se + 0.5)


def test_plot_needs_data_or_arguments() -> None:
    m = BetaGeoFitter()
    with pytest.raises(NotFittedError):
        m.plot()
    m.params_ = pd.Series([0.24, 4.4, 0.79, 2.4], index=["r", "alpha", "a", "b"])
    with pytest.raises(NotFittedError, match="pass frequency and T"):
        m.period_transactions()
    assert m.period_transactions([0, 1, 9], [30.0, 30.0, 30.0])["observed"].tolist() == [1, 1, 0, 0, 0, 0, 0, 1]
    with pytest.raises(ModelInputError, match="max_frequency"):
        m.period_transactions([0], [1.0], max_frequency=0)
    with pytest.raises(ModelInputError, match="both"):
        m.period_transactions([0])
