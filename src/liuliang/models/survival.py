"""Time to churn per breakdown: Kaplan-Meier curves, log-rank test and restricted mean survival, via lifelines.

lifelines does these well (Greenwood bands, ties, weights), so this module only shapes its answers into liuliang's
typed results: a long Arrow table of curves keyed by group, and frozen dataclasses for the test and the RMST.
Durations are whatever unit the caller measured (days since first order, say); ``churned=False`` marks users still
active at the end of the data (right-censored), which is why a churn-rate-by-day table would be biased and this
is not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from liuliang._display import dataclass_html, fitter_html
from liuliang.errors import LiuliangError, NotFittedError
from liuliang.models._likelihood import check_confidence, require_plotly

CURVE_SCHEMA = pa.schema(
    [
        ("group", pa.string()),
        ("time", pa.float64()),
        ("survival", pa.float64()),
        ("lower", pa.float64()),
        ("upper", pa.float64()),
        ("at_risk", pa.float64()),
        ("churned", pa.float64()),
        ("censored", pa.float64()),
    ]
)


@dataclass(frozen=True)
class LogRankResult:
    """Log-rank test that all groups share one survival curve.

    Attributes
    ----------
    statistic: chi-square statistic. df: degrees of freedom (groups − 1). p_value: its p-value.
    groups: the groups compared.
    """

    statistic: float
    df: int
    p_value: float
    groups: tuple[str, ...]

    def _repr_html_(self) -> str:
        return dataclass_html(self)


@dataclass(frozen=True)
class RMSTResult:
    """Restricted mean survival time up to ``horizon`` per group: the expected time active within the horizon.

    Attributes
    ----------
    horizon: the restriction time. table: Arrow table (group, rmst from lifelines, se: Greenwood-type).
    """

    horizon: float
    table: pa.Table

    def to_arrow(self) -> pa.Table:
        return self.table

    def _repr_html_(self) -> str:
        return dataclass_html(self)

    def to_pandas(self) -> pd.DataFrame:
        return self.table.to_pandas()

    def of(self, group: str) -> float:
        rows = self.table.filter(pc.equal(self.table["group"], group))
        if not rows.num_rows:
            raise KeyError(group)
        return float(rows["rmst"][0].as_py())


def rmst_standard_error(sf: pd.Series, event_table: pd.DataFrame, horizon: float) -> float:
    """Greenwood-type standard error of the Kaplan-Meier RMST (Klein & Moeschberger 2003, eq. 4.5.1).

    Var = Σ_{t_j <= horizon} A_j² d_j / (n_j (n_j − d_j)), A_j = ∫_{t_j}^{horizon} S(u) du. lifelines' own
    ``return_variance`` is the variance of the restricted lifetime min(T, horizon) across users, not of the
    estimate, so the standard error is computed here.
    """
    times = sf.index.to_numpy(dtype=float)
    values = sf.to_numpy(dtype=float)
    knots = np.append(times[times < horizon], horizon)
    # S is right-continuous and constant on [knots[k], knots[k + 1]); area from each knot to the horizon
    widths = np.diff(knots)
    areas = values[: widths.size] * widths
    tail = np.append(np.cumsum(areas[::-1])[::-1], 0.0)
    d = event_table["observed"].to_numpy(dtype=float)
    n = event_table["at_risk"].to_numpy(dtype=float)
    t = event_table.index.to_numpy(dtype=float)
    use = (t <= horizon) & (d > 0) & (n > d)
    a = tail[np.searchsorted(knots, t[use], side="left")]
    return float(np.sqrt(np.sum(a**2 * d[use] / (n[use] * (n[use] - d[use])))))


class SurvivalAnalysis:
    """Kaplan-Meier time-to-churn curves per group, with a log-rank test and restricted mean survival time.

    Parameters
    ----------
    rmst_horizon:
        Time up to which the restricted mean is computed (None: the largest observed duration).
    confidence:
        Level of the pointwise bands (lifelines' exponential Greenwood intervals), 0.95.

    Attributes
    ----------
    curves_:
        Arrow table (group, time, survival, lower, upper, at_risk, churned, censored), schema
        :data:`CURVE_SCHEMA`.
    fitters_:
        The lifelines ``KaplanMeierFitter`` per group (for anything not exposed here).
    logrank_:
        :class:`LogRankResult`, or None with a single group.
    rmst_:
        :class:`RMSTResult`.
    median_:
        pandas Series of median time to churn per group (inf when the curve never drops to 0.5).

    Examples
    --------
    >>> s = SurvivalAnalysis(rmst_horizon=30).fit([3, 10, 40, 40], [True, True, False, False], ["a", "a", "b", "b"])
    >>> s.logrank_.df
    1
    """

    def __init__(self, rmst_horizon: float | None = None, *, confidence: float = 0.95) -> None:
        self.rmst_horizon = rmst_horizon
        self.confidence = confidence

    def fit(self, durations: Any, churned: Any, groups: Any = None, *, weights: Any = None) -> SurvivalAnalysis:
        """Fit one curve per group (``groups`` None: one group named ``"all"``)."""
        from lifelines import KaplanMeierFitter
        from lifelines.statistics import multivariate_logrank_test
        from lifelines.utils import restricted_mean_survival_time

        level = check_confidence(type(self).__name__, self.confidence)
        t = np.asarray(durations, dtype=float).ravel()
        e = np.asarray(churned, dtype=bool).ravel()
        g = np.full(t.shape, "all", dtype=object) if groups is None else np.asarray(groups).astype(str).ravel()
        w = np.ones_like(t) if weights is None else np.asarray(weights, dtype=float).ravel()
        if not (t.shape == e.shape == g.shape == w.shape):
            raise LiuliangError("SurvivalAnalysis: durations, churned, groups and weights must have the same length")
        if t.size == 0 or np.any(~np.isfinite(t)) or np.any(t < 0):
            raise LiuliangError("SurvivalAnalysis: durations must be a non-empty array of finite values >= 0")
        if np.any(~np.isfinite(w)) or np.any(w <= 0):
            raise LiuliangError("SurvivalAnalysis: weights must be finite and > 0")
        horizon = float(t.max()) if self.rmst_horizon is None else float(self.rmst_horizon)
        if not horizon > 0:
            raise LiuliangError(f"SurvivalAnalysis: rmst_horizon must be > 0; got {self.rmst_horizon!r}")
        names = sorted(set(g.tolist()))
        fitters, parts, rmst_rows, medians = {}, [], [], {}
        for name in names:
            sel = g == name
            kmf = KaplanMeierFitter(alpha=1 - level, label=name)
            kmf.fit(t[sel], e[sel], weights=w[sel])
            fitters[name] = kmf
            sf = kmf.survival_function_.iloc[:, 0]
            ci = kmf.confidence_interval_survival_function_
            table = kmf.event_table
            parts.append(
                pa.table(
                    {
                        "group": pa.array([name] * len(sf), pa.string()),
                        "time": pa.array(sf.index.to_numpy(dtype=float)),
                        "survival": pa.array(sf.to_numpy(dtype=float)),
                        "lower": pa.array(ci.iloc[:, 0].to_numpy(dtype=float)),
                        "upper": pa.array(ci.iloc[:, 1].to_numpy(dtype=float)),
                        "at_risk": pa.array(table["at_risk"].reindex(sf.index).to_numpy(dtype=float)),
                        "churned": pa.array(table["observed"].reindex(sf.index).to_numpy(dtype=float)),
                        "censored": pa.array(table["censored"].reindex(sf.index).to_numpy(dtype=float)),
                    },
                    schema=CURVE_SCHEMA,
                )
            )
            mean = restricted_mean_survival_time(kmf, t=horizon)
            rmst_rows.append((name, float(mean), rmst_standard_error(sf, table, horizon)))
            medians[name] = float(kmf.median_survival_time_)
        self.fitters_ = fitters
        self.curves_ = pa.concat_tables(parts)
        self.rmst_ = RMSTResult(
            horizon,
            pa.table(
                {
                    "group": pa.array([r[0] for r in rmst_rows], pa.string()),
                    "rmst": pa.array([r[1] for r in rmst_rows], pa.float64()),
                    "se": pa.array([r[2] for r in rmst_rows], pa.float64()),
                }
            ),
        )
        self.median_ = pd.Series(medians, name="median")
        self.logrank_: LogRankResult | None = None
        if len(names) > 1:
            res = multivariate_logrank_test(t, g, e, weights=w if weights is not None else None)
            self.logrank_ = LogRankResult(
                float(res.test_statistic), int(res.degrees_of_freedom), float(res.p_value), tuple(names)
            )
        self.n_obs_ = float(w.sum())
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "curves_"):
            raise NotFittedError("SurvivalAnalysis is not fitted yet: call fit(...) first")

    def survival_at(self, time: float, group: str = "all") -> float:
        """Kaplan-Meier S(time) of one group."""
        self._check_fitted()
        if group not in self.fitters_:
            raise KeyError(group)
        return float(self.fitters_[group].predict(time))

    def _repr_html_(self) -> str:
        return fitter_html(self, fitted=hasattr(self, "curves_"))

    def __repr__(self) -> str:
        if not hasattr(self, "curves_"):
            return "<SurvivalAnalysis: not fitted>"
        p = f", log-rank p={self.logrank_.p_value:.3g}" if self.logrank_ else ""
        return f"<SurvivalAnalysis: fitted on {self.n_obs_:,.0f} users in {len(self.fitters_)} group(s){p}>"

    def plot(self) -> Any:
        """Plotly step curves per group with shaded confidence bands."""
        self._check_fitted()
        go = require_plotly(type(self).__name__)
        fig = go.Figure()
        for name in self.fitters_:
            part = self.curves_.filter(pc.equal(self.curves_["group"], name)).to_pandas()
            x = part["time"].tolist()
            fig.add_trace(
                go.Scatter(
                    x=x + x[::-1],
                    y=part["upper"].tolist() + part["lower"].tolist()[::-1],
                    fill="toself",
                    line={"width": 0, "shape": "hv"},
                    opacity=0.2,
                    showlegend=False,
                    name=f"{name} band",
                )
            )
            fig.add_trace(go.Scatter(x=x, y=part["survival"], line={"shape": "hv"}, name=name))
        fig.update_layout(xaxis_title="time", yaxis_title="share not churned", yaxis_range=[0, 1.02])
        return fig
