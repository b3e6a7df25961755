"""BG/BB: the donation data's published fit, the naive likelihood, closed forms, lifetimes, and a generated world."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from period_models_reference import bgbb_expected_future, bgbb_likelihood, bgbb_p_alive
from scipy import optimize

from liuliang.errors import LiuliangError
from liuliang.models import BetaGeoBetaBinomFitter
from liuliang.models.bgbb import bgbb_negloglik

# Fader, Hardie & Shang (2010): 11,104 first-time supporters of a nonprofit, 1995 cohort, 6 annual periods; the
# (frequency, recency) counts as shipped (MIT licence) in the `lifetimes` package's datasets/donations.csv.
DONATIONS = pd.read_csv(Path(__file__).parent / "data" / "bgbb_donations.csv")
PUBLISHED = {"alpha": 1.204, "beta": 0.750, "gamma": 0.657, "delta": 2.783}


@pytest.fixture(scope="module")
def donations_fit() -> BetaGeoBetaBinomFitter:
    d = DONATIONS
    return BetaGeoBetaBinomFitter().fit(d.frequency, d.recency, d.periods, weights=d.weights)


def test_published_estimates(donations_fit: BetaGeoBetaBinomFitter) -> None:
    assert DONATIONS.weights.sum() == 11_104
    for name, value in PUBLISHED.items():
        assert round(float(donations_fit.params_[name]), 3) == value
    assert round(donations_fit.log_likelihood_, 1) == -33_225.6


rows = st.integers(1, 8).flatmap(
    lambda n: st.integers(0, n).flatmap(
        lambda tx: st.tuples(st.integers(1, tx) if tx else st.just(0), st.just(tx), st.just(n))
    )
)
params = st.tuples(*[st.floats(0.1, 8)] * 4)


@settings(max_examples=40, deadline=None)
@given(p=params, data=st.lists(rows, min_size=1, max_size=6), w=st.integers(1, 50))
def test_engine_likelihood_and_gradient_match_reference(p: tuple, data: list[tuple[int, int, int]], w: int) -> None:
    x, tx, n = (np.array(c, dtype=float) for c in zip(*data, strict=True))
    weights = np.full(x.size, float(w))
    u = np.log(p)
    ref = sum(w * np.log(bgbb_likelihood(*p, *r)) for r in data)
    assert -bgbb_negloglik(u, x, tx, n, weights)[0] == pytest.approx(ref, rel=1e-9)
    f = lambda v: bgbb_negloglik(v, x, tx, n, weights)  # noqa: E731
    assert optimize.check_grad(lambda v: f(v)[0], lambda v: f(v)[1], u) < 1e-4 * max(1.0, np.abs(f(u)[1]).max())


def test_predictions_match_the_papers_closed_forms(donations_fit: BetaGeoBetaBinomFitter) -> None:
    a, b, g, d = donations_fit.params_
    x, tx, n = DONATIONS.frequency, DONATIONS.recency, DONATIONS.periods
    p_alive = donations_fit.probability_alive(x, tx, n)
    future = donations_fit.expected_transactions(5, x, tx, n)
    for i, (xi, ti, ni) in enumerate(zip(x, tx, n, strict=True)):
        assert p_alive[i] == pytest.approx(bgbb_p_alive(a, b, g, d, xi, ti, ni), rel=1e-9)
        assert future[i] == pytest.approx(bgbb_expected_future(a, b, g, d, xi, ti, ni, 5), rel=1e-9)
    probs = donations_fit.probability_of_n_transactions(np.arange(7), 6)
    assert probs.sum() == pytest.approx(1.0)
    # E[X(6)] for a new donor two ways: from the distribution and from the running sum
    assert donations_fit.expected_transactions_new(6)[0] == pytest.approx(probs @ np.arange(7))


def test_agrees_with_lifetimes(donations_fit: BetaGeoBetaBinomFitter) -> None:
    lifetimes = pytest.importorskip("lifetimes")
    d = DONATIONS
    ref = lifetimes.BetaGeoBetaBinomFitter().fit(d.frequency, d.recency, d.periods, weights=d.weights)
    np.testing.assert_allclose(donations_fit.params_.to_numpy(), ref.params_.to_numpy(), rtol=1e-4)
    np.testing.assert_allclose(
        donations_fit.probability_alive(d.frequency, d.recency, d.periods, periods_ahead=3),
        ref.conditional_probability_alive(3, d.frequency, d.recency, d.periods),
        rtol=1e-4,
    )


def simulate(n_users: int, truth: dict[str, float], periods: int, future: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    p = rng.beta(truth["alpha"], truth["beta"], n_users)
    theta = rng.beta(truth["gamma"], truth["delta"], n_users)
    death = rng.geometric(theta)  # dies at the start of this period: alive in 1 .. death - 1
    t = np.arange(1, periods + future + 1)
    active = (t[None, :] < death[:, None]) & (rng.random((n_users, t.size)) < p[:, None])
    cal = active[:, :periods]
    freq = cal.sum(axis=1)
    rec = np.where(freq > 0, periods - np.argmax(cal[:, ::-1], axis=1), 0)
    return pd.DataFrame({"frequency": freq, "recency": rec, "holdout": active[:, periods:].sum(axis=1)})


def test_generated_world_recovery_and_calibration() -> None:
    truth = {"alpha": 1.5, "beta": 1.0, "gamma": 0.8, "delta": 3.0}
    users = simulate(20_000, truth, periods=6, future=5, seed=7)
    grouped = users.groupby(["frequency", "recency"]).size().reset_index(name="weights")
    m = BetaGeoBetaBinomFitter().fit(grouped.frequency, grouped.recency, 6, weights=grouped.weights)
    for name, value in truth.items():
        assert abs(m.params_[name] - value) < 3 * m.standard_errors_[name], (name, m.params_[name], value)
    # predicted vs realised activity in the 5 holdout periods, by decile of the prediction
    pred = m.expected_transactions(5, users.frequency, users.recency, 6)
    decile = pd.qcut(pred + np.arange(pred.size) * 1e-12, 10, labels=False)
    frame = pd.DataFrame({"pred": pred, "real": users.holdout, "decile": decile}).groupby("decile")
    stats = frame.agg(pred=("pred", "mean"), real=("real", "mean"), sd=("real", "std"), n=("real", "size"))
    assert np.all(np.abs(stats.pred - stats.real) < 4 * stats.sd / np.sqrt(stats.n) + 0.02)
    alive = m.probability_alive(users.frequency, users.recency, 6)
    assert np.corrcoef(alive, users.holdout > 0)[0, 1] > 0.3


def test_validation_and_surface() -> None:
    with pytest.raises(LiuliangError, match="recency"):
        BetaGeoBetaBinomFitter().fit([2], [1], [6])
    m = BetaGeoBetaBinomFitter()
    assert "not fitted" in repr(m)
    m.fit([0, 1, 2, 6], [0, 1, 5, 6], 6, weights=[50, 20, 15, 15])
    assert "100 users" in repr(m)
    assert set(m.summary.index) == {"alpha", "beta", "gamma", "delta"}
    assert type(m.plot()).__name__ == "Figure"
