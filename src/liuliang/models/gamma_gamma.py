"""Gamma-Gamma spend model and discounted customer lifetime value.

Each transaction's value is Gamma(p, ν) around a customer's own mean p/ν, and ν ~ Gamma(q, γ) across customers. A
customer's observed average m̄ over x transactions is then shrunk toward the population mean by how many
transactions back it up: one big red-packet order says little, twenty orders say a lot. Spend is assumed
independent of purchase frequency (check the correlation on your data before combining the two).

Formulas (Fader, Hardie & Lee 2005, "RFM and CLV: Using Iso-Value Curves for Customer Base Analysis", *JMR* 42(4),
and Fader & Hardie 2013, "The Gamma-Gamma Model of Monetary Value", https://www.brucehardie.com/notes/025/):

- f(m̄ | p, q, γ; x) = Γ(px+q) / (Γ(px) Γ(q)) · γ^q m̄^(px−1) x^(px) / (γ + m̄x)^(px+q)
- E[M | m̄, x] = (γ + m̄x) p / (px + q − 1)  = (q−1)/(px+q−1) · γp/(q−1) + px/(px+q−1) · m̄

The gradient is analytic (digamma terms); standard errors from central differences of it at the optimum.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd
from scipy import special

from liuliang.errors import ModelInputError, NotFittedError
from liuliang.models._base import (
    Compressed,
    TransactionFitter,
    as_array,
    check_rft,
    check_weights,
    compress,
    shaped,
)
from liuliang.models._likelihood import require_plotly

#: model time units per month, for ``customer_lifetime_value(freq=...)`` (the ``lifetimes`` convention)
MONTH_IN_UNITS = {"H": 30.0 * 24, "D": 30.0, "W": 4.345, "M": 1.0}


def _row_loglik(
    params: np.ndarray, x: np.ndarray, m: np.ndarray, *, grad: bool
) -> tuple[np.ndarray, np.ndarray | None]:
    p, q, g = params
    px = p * x
    log_m, log_x, log_gmx = np.log(m), np.log(x), np.log(g + m * x)
    ll = (
        special.gammaln(px + q)
        - special.gammaln(px)
        - special.gammaln(q)
        + q * np.log(g)
        + (px - 1) * log_m
        + px * log_x
        - (px + q) * log_gmx
    )
    if not grad:
        return ll, None
    psi = special.digamma
    d_p = x * (psi(px + q) - psi(px) + log_m + log_x - log_gmx)
    d_q = psi(px + q) - psi(q) + np.log(g) - log_gmx
    d_g = q / g - (px + q) / (g + m * x)
    return ll, np.column_stack([d_p, d_q, d_g])


def _check_spend(owner: str, frequency: Any, monetary_value: Any) -> tuple[np.ndarray, np.ndarray]:
    x = as_array(owner, "frequency", frequency)
    m = as_array(owner, "monetary_value", monetary_value)
    x, m = np.broadcast_arrays(x, m)
    if np.any(x <= 0) or np.any(x != np.round(x)):
        raise ModelInputError(
            f"{owner}: frequency must be a whole number >= 1 (fit on customers with at least one repeat purchase)"
        )
    if np.any(m <= 0):
        raise ModelInputError(f"{owner}: monetary_value (average spend per transaction) must be > 0")
    return x.astype(float), m.astype(float)


class GammaGammaFitter(TransactionFitter):
    """Gamma-Gamma model of average transaction value, and CLV combining it with a transaction model.

    Parameters
    ----------
    confidence, max_iter, tol
        As :class:`~liuliang.models.BetaGeoFitter`.

    Attributes
    ----------
    params_ : pandas.Series
        p, q, gamma (ν ~ Gamma(q, rate γ); spend ~ Gamma(p, rate ν)).
    log_likelihood_ : float
        Maximised log-likelihood of the average spends.

    Examples
    --------
    >>> from liuliang.models import GammaGammaFitter, datasets
    >>> d = datasets.load_cdnow_sample().query("frequency > 0")
    >>> gg = GammaGammaFitter().fit(d["frequency"], d["monetary_value"])
    >>> [round(v, 2) for v in gg.params_]
    [6.25, 3.74, 15.45]
    """

    _param_names: ClassVar[tuple[str, ...]] = ("p", "q", "gamma")

    def fit(self, frequency: Any, monetary_value: Any, weights: Any = None) -> GammaGammaFitter:
        """Fit on repeat buyers: ``frequency`` (>= 1 transactions) and ``monetary_value`` (their average value)."""
        x, m = _check_spend(type(self).__name__, frequency, monetary_value)
        w = check_weights(type(self).__name__, weights, x.size)
        self._fit_compressed(compress((x, m), w))
        return self

    def _row_loglik(self, params: np.ndarray, *columns: np.ndarray, grad: bool) -> tuple[np.ndarray, np.ndarray | None]:
        x, m = (np.asarray(c, dtype=float) for c in columns)
        return _row_loglik(params, x, m, grad=grad)

    def _start(self, data: Compressed) -> np.ndarray:
        _, m = data.columns
        mean = float(data.weights @ m) / float(data.weights.sum())
        # q = 2 puts the population mean spend γp/(q-1) at the sample mean with p = 1
        return np.array([1.0, 2.0, max(mean, 1e-6)])

    def expected_spend(self, frequency: Any, monetary_value: Any) -> Any:
        """E[average transaction value | x, m̄] (``lifetimes``: ``conditional_expected_average_profit``).

        Customers without repeat purchases (``frequency == 0``) get the population mean γp/(q−1).
        """
        p, q, g = self._check_fitted()
        x = as_array(type(self).__name__, "frequency", frequency)
        m = as_array(type(self).__name__, "monetary_value", monetary_value)
        x, m = np.broadcast_arrays(x, m)
        if np.any(x < 0) or np.any((x > 0) & (m <= 0)):
            raise ModelInputError(f"{type(self).__name__}: frequency must be >= 0 and monetary_value > 0 when it is")
        out = (g + m * x) * p / (p * x + q - 1)
        return shaped(out, frequency, monetary_value)

    def spend_distribution(self, frequency: Any = None, monetary_value: Any = None, *, bins: int = 20) -> pd.DataFrame:
        """Observed and expected number of repeat buyers by average spend, in ``bins`` bins.

        Under the model x·m̄/(γ + x·m̄) ~ Beta(px, q) for a customer with x transactions (m̄ | ν ~ Gamma(px, xν) and
        ν ~ Gamma(q, γ)), so the expected count in a bin is exact: Σ_customers of the difference of regularised
        incomplete betas at its edges. Bins are equal-width up to the observed 95th percentile, then one open bin;
        without arguments the data the model was fitted on are used.
        """
        name = type(self).__name__
        p, q, g = self._check_fitted()
        if not isinstance(bins, int) or bins < 2:
            raise ModelInputError(f"{name}: bins must be an integer >= 2; got {bins!r}")
        if (frequency is None) != (monetary_value is None):
            raise ModelInputError(
                f"{name}: pass both frequency and monetary_value, or neither (to use the fitted data)"
            )
        if frequency is None:
            data = getattr(self, "_fit_data", None)
            if data is None:
                raise NotFittedError(f"{name}: the fitted data are not available; pass frequency and monetary_value")
            (x, m), w = data.columns, data.weights
        else:
            x, m = _check_spend(name, frequency, monetary_value)
            w = np.ones(x.size)
        top = float(np.quantile(m, 0.95))
        edges = np.append(np.linspace(0.0, top, bins), np.inf)
        observed = np.histogram(m, bins=edges, weights=w)[0]
        with np.errstate(invalid="ignore"):
            u = (x[:, None] * edges[None, :]) / (g + x[:, None] * edges[None, :])
        u[:, -1] = 1.0
        cdf = special.betainc(p * x[:, None], q, u)
        expected = w @ np.diff(cdf, axis=1)
        return pd.DataFrame({"lower": edges[:-1], "upper": edges[1:], "observed": observed, "expected": expected})

    def plot(self, frequency: Any = None, monetary_value: Any = None, *, bins: int = 20) -> Any:
        """Plotly chart of :meth:`spend_distribution`: observed repeat buyers per spend bin (bars), model (line)."""
        go = require_plotly(type(self).__name__)
        table = self.spend_distribution(frequency, monetary_value, bins=bins)
        labels = [
            f"{lo:.4g}-{hi:.4g}" if np.isfinite(hi) else f"{lo:.4g}+"
            for lo, hi in zip(table["lower"], table["upper"], strict=True)
        ]
        fig = go.Figure(
            [
                go.Bar(x=labels, y=table["observed"], name="observed"),
                go.Scatter(x=labels, y=table["expected"], name="model", mode="lines+markers"),
            ]
        )
        fig.update_layout(
            title=f"{type(self).__name__}: repeat buyers by average transaction value",
            xaxis_title="average transaction value",
            yaxis_title="customers",
        )
        return fig

    def customer_lifetime_value(
        self,
        transaction_model: Any,
        frequency: Any,
        recency: Any,
        T: Any,
        monetary_value: Any,
        time: int = 12,
        discount_rate: float = 0.01,
        freq: str | float = "D",
    ) -> Any:
        """Discounted expected value over the next ``time`` months.

        CLV = Σ_{i=1..time} E[spend] · (E[Y(i·u)] − E[Y((i−1)·u)]) / (1 + d)^i, where ``u`` is one month in the
        model's time unit (``freq``: "H", "D", "W", "M" as in ``lifetimes``, or a number of units per month), ``d`` the
        monthly ``discount_rate``, E[Y] the fitted ``transaction_model``'s conditional expected purchases and E[spend]
        :meth:`expected_spend`. Monthly steps make the discounting match how finance discounts cash.
        """
        self._check_fitted()
        owner = type(self).__name__
        if not hasattr(transaction_model, "predict_purchases"):
            raise ModelInputError(f"{owner}: transaction_model must be a fitted BG/NBD, MBG/NBD or Pareto/NBD fitter")
        unit = MONTH_IN_UNITS.get(freq) if isinstance(freq, str) else float(freq)
        if unit is None or not unit > 0:
            raise ModelInputError(
                f"{owner}: freq must be one of {', '.join(MONTH_IN_UNITS)} or a positive number; got {freq!r}"
            )
        if not isinstance(time, int) or time < 1:
            raise ModelInputError(f"{owner}: time is a whole number of months >= 1; got {time!r}")
        if not discount_rate > -1:
            raise ModelInputError(f"{owner}: discount_rate must be > -1; got {discount_rate!r}")
        x, tx, age = check_rft(owner, frequency, recency, T)
        spend = np.asarray(self.expected_spend(x, as_array(owner, "monetary_value", monetary_value)))
        clv = np.zeros(x.size)
        previous = np.zeros(x.size)
        for i in range(1, time + 1):
            cumulative = np.asarray(transaction_model.predict_purchases(i * unit, x, tx, age))
            clv += spend * (cumulative - previous) / (1 + discount_rate) ** i
            previous = cumulative
        if isinstance(frequency, pd.Series):
            return pd.Series(clv, index=frequency.index, name="clv")
        return shaped(clv, frequency, recency, T, monetary_value)
