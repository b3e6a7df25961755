"""The ebb (退潮) forecast: DAU / WAU / MAU for the next months if the subsidies stop, continue or change.

Why a cohort model and not a time-series model: after a subsidy war the question is not "where does the DAU line
go" but "how much of it is left when the red packets stop". A time series cannot answer that, because the
incentive's effect is in *who* arrives (acquisition) and *how long they stay* (retention), and only a cohort model
keeps the two apart: the retention curves say how each channel's users fade, the acquisition schedule says how many
arrive, and a scenario changes only the second.

Method (``t`` and ``c`` are local day numbers of the workspace zone; ``T`` is the local day of ``data_end``, the
first day forecast — days before ``T`` are complete, ``T`` itself is replaced by the forecast):

1. **Curves.** Per acquisition channel (``users.channel``; none: ``"(none)"``), a
   :class:`~liuliang.models.curves.RetentionCurveFitter` is fitted on daily first-time cohorts, criterion ``on``
   (share of the cohort active on exactly age ``a``), complete cells at ages ``1 .. max_age`` (default every
   observable age), cohort-size weighted. ``m_ch(a)`` is its fitted share active at age ``a``; ``m_ch(0) = 1``
   (a cohort is active on its first day by definition).
2. **Acquisition schedule.** ``n_ch(c)``: the first-time cohort sizes of complete days ``c < T`` (observed), and
   for ``c >= T`` the scenario's: ``recent_ch`` = mean daily new users over the last ``recent_days`` complete days;
   ``"continue"``: ``recent_ch``; ``"stop"``: ``recent_ch`` for the channels in ``organic_channels``, 0 for the
   incentive-driven rest; ``"change"``: ``recent_ch`` times a user-given multiplier (1 when not given).
3. **DAU.** ``DAU_ch(t) = sum over c <= t of n_ch(c) * m_ch(t - c)``: the expected number of users active on ``t``
   (existing cohorts plus the scenario's new ones), and ``DAU(t) = sum over ch``. Every user belongs to exactly one
   first-time cohort, so on history this sum is exactly the observed DAU when ``m`` is replaced by the observed
   shares — the forecast's only assumptions are the curves and the schedule.
4. **Habitual floor.** ``floor_ch`` = the curve's floor term (``habit_floor_``: 0 for shapes without a floor);
   ``habitual DAU_ch(t) = floor_ch * (users acquired before t)``: the part of DAU that is never forecast to leave.
5. **WAU / MAU.** Daily probabilities do not give "active at least once in a 7/30-day window" (activity is
   strongly correlated across days: habitual users are active most days, hunters on a few), so the window counts
   are split where they can be exact and a ratio is estimated where they cannot. For a window of ``W`` days
   (7 or 30), a cohort younger than ``W`` days is wholly in the window (its first day is in it), so
   ``WAU_ch(t) = N_ch(t) + rho_ch * A_ch(t)`` with ``N_ch(t)`` = users acquired on ``t-W+1 .. t`` (exact) and
   ``A_ch(t) = sum over c <= t-W of n_ch(c) * m_ch(t - c)`` the expected daily actives among the older cohorts.
   ``rho_ch`` ("window-active per day-active among users older than the window") is estimated from history over
   the last ``recent_days`` complete days: ``sum (WAU_obs - N_obs) / sum A_obs`` with ``A_obs`` the observed daily
   actives of cohorts at least ``W`` days old (from the retention cells). The split matters for the ebb: when
   acquisition stops, ``N`` drops to 0 within ``W`` days, while the older users' ratio stays roughly as it was. The
   remaining assumption is that ``rho`` does not drift as older cohorts age (it falls slowly as hunters leave, so
   WAU/MAU are biased slightly upwards far out; the backtest reports their errors).
6. **Intervals.** Delta method on each forecast quantity, using the fitter's (dispersion-scaled) covariance of its
   unconstrained parameters: every quantity is linear in the curve values, so its gradient is the same cohort sum
   over the curve's Jacobian; channels are fitted separately, so their variances add. The interval is
   ``q * exp(+-z * se / q)`` (log scale, so it stays positive), the same recipe as
   :meth:`RetentionCurveFitter.project`. Chosen over sampling parameters because sampling a 4-5 parameter curve
   along its curved likelihood ridge (exponent against scale) gave intervals that did not contain the point
   estimate's neighbourhood symmetrically (the point sat at the draws' 5% quantile), and the delta method is
   deterministic (no seed). The floor's gradient is taken numerically. Intervals do **not** cover the acquisition
   scenario, the ratios ``rho`` (held fixed), day-to-day binomial noise, calendar effects (festivals) or a wrong
   curve shape beyond the observed ages.

Backtest (:func:`backtest`): fit with ``data_end`` at local midnight of the cut-off date, forecast ``horizon`` days
with the new users that *actually* arrived (so only the retention part is tested), and compare with the observed
DAU / WAU / MAU: mean absolute percentage error, mean error and interval coverage.
"""

from __future__ import annotations

import datetime as dt
import html
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from scipy import stats

from liuliang.errors import ConvergenceError, LiuliangError, ModelInputError, WorkspaceError
from liuliang.metrics.activity.active_users import ActiveUsersSpec, active_users
from liuliang.metrics.result import json_rows, spec_dict
from liuliang.metrics.retention import RetentionSpec, retention
from liuliang.models import RetentionCurveFitter
from liuliang.models._likelihood import to_natural
from liuliang.models.curves import MODELS
from liuliang.warehouse import Workspace, periods

__all__ = [
    "BacktestResult",
    "EbbForecast",
    "EbbInputs",
    "EbbSpec",
    "backtest",
    "cohort_sum",
    "ebb_forecast",
    "ebb_inputs",
    "forecast_from_inputs",
]

Scenario = Literal["stop", "continue", "change"]
ALL = "all"
COUNTS = ("dau", "wau", "mau")
WINDOWS = {"wau": 7, "mau": 30}


# -- the spec ---------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EbbSpec:
    """What to forecast (module docstring for the method).

    Parameters
    ----------
    horizon_days : days forecast, from the local day of ``data_end`` on.
    scenario : ``"stop"`` (incentive-driven channels acquire nobody; organic continues at its recent rate),
        ``"continue"`` (every channel keeps its recent daily acquisition) or ``"change"`` (recent rate times
        ``change``'s multiplier per channel, 1 when not given).
    change : channel -> multiplier for ``"change"`` (a mapping or pairs; e.g. ``{"red_packet": 0.5}``).
    organic_channels : channels not driven by incentives (they keep acquiring under ``"stop"``).
    recent_days : the window (last complete days) of the recent acquisition rate and the WAU/MAU ratios.
    model : the curve shape (``"auto"`` picks per channel; see :class:`RetentionCurveFitter`).
    max_age : oldest age fitted (None: every observable age).
    confidence : interval level (delta method, parameter uncertainty only).
    """

    horizon_days: int = 90
    scenario: Scenario = "stop"
    change: tuple[tuple[str, float], ...] = ()
    organic_channels: tuple[str, ...] = ("organic",)
    recent_days: int = 28
    model: str = "auto"
    max_age: int | None = None
    confidence: float = 0.95

    def __post_init__(self) -> None:
        def bad(name: str, allowed: str) -> ModelInputError:
            return ModelInputError(f"EbbSpec.{name} must be {allowed}; got {getattr(self, name)!r}")

        def is_int(v: Any, lo: int) -> bool:
            return isinstance(v, int) and not isinstance(v, bool) and v >= lo

        for name in ("horizon_days", "recent_days"):
            if not is_int(getattr(self, name), 1):
                raise bad(name, "an integer >= 1")
        if self.max_age is not None and not is_int(self.max_age, 3):
            raise bad("max_age", "an integer >= 3 or None")
        if self.scenario not in ("stop", "continue", "change"):
            raise bad("scenario", "'stop', 'continue' or 'change'")
        if self.model != "auto" and self.model not in MODELS:
            raise bad("model", f"'auto' or one of {', '.join(MODELS)}")
        if not 0 < self.confidence < 1:
            raise bad("confidence", "in (0, 1)")
        items = self.change.items() if isinstance(self.change, Mapping) else self.change
        try:
            change = tuple(sorted((str(k), float(v)) for k, v in items))
        except (TypeError, ValueError):
            raise bad("change", "a mapping channel -> multiplier") from None
        if any(not math.isfinite(v) or v < 0 for _, v in change) or len({k for k, _ in change}) != len(change):
            raise bad("change", "distinct channels with finite multipliers >= 0")
        object.__setattr__(self, "change", change)
        orgs = (self.organic_channels,) if isinstance(self.organic_channels, str) else tuple(self.organic_channels)
        object.__setattr__(self, "organic_channels", orgs)

    def multiplier(self, channel: str) -> float:
        """The factor on ``channel``'s recent daily acquisition under this spec's scenario."""
        if self.scenario == "continue":
            return 1.0
        if self.scenario == "stop":
            return 1.0 if channel in self.organic_channels else 0.0
        return dict(self.change).get(channel, 1.0)


# -- the warehouse part -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EbbInputs:
    """What the forecast needs from the warehouse, per channel (all arrays over local days ``first_day .. T-1``).

    Attributes
    ----------
    channels : channel names, sorted. first_day : local day of the first cohort. end_day : ``T``, the first day
        forecast (the local day of ``data_end``).
    acquisition : shape (channels, T - first_day): first-time cohort sizes per complete day.
    dau, wau, mau : shape (channels, T - first_day): observed counts per complete day.
    aged : ``"wau"``/``"mau"`` -> shape (channels, T - first_day): observed daily actives of cohorts at least 7 / 30
        days old (from the retention cells), for the window ratios.
    retention : the daily retention table the curves are fitted on (criterion ``on``, breakdown channel).
    data_end : the "now" used (naive UTC).
    """

    channels: tuple[str, ...]
    first_day: int
    end_day: int
    acquisition: np.ndarray
    dau: np.ndarray
    wau: np.ndarray
    mau: np.ndarray
    aged: Mapping[str, np.ndarray] = field(repr=False)
    retention: Any = field(repr=False)
    data_end: dt.datetime

    def recent(self, days: int) -> slice:
        """Index range of the last ``days`` complete days."""
        n = self.end_day - self.first_day
        return slice(max(0, n - days), n)


def ebb_inputs(ws: Workspace, spec: EbbSpec | None = None, *, data_end: dt.datetime | None = None) -> EbbInputs:
    """Run the warehouse part: daily channel retention (first-time cohorts, ``on``) and DAU/WAU/MAU per channel."""
    spec = spec or EbbSpec()
    end = ws.resolve_data_end(data_end, "forecasting")
    span = ws.event_span()
    if span is None:
        raise WorkspaceError("the workspace has no events yet; ingest events before forecasting")
    end_day = periods.day_of_instant(end, ws.settings.tz)
    first_day = span.first_day
    n_days = end_day - first_day
    if n_days < 4:
        raise ModelInputError(f"ebb forecast: {n_days} complete days before data_end; need at least 4 to fit curves")
    ages = n_days - 1 if spec.max_age is None else min(spec.max_age, n_days - 1)
    table = retention(ws, RetentionSpec(period="day", periods=ages, criterion="on", breakdown="channel"), data_end=end)
    t = table.to_arrow()
    channels = tuple(sorted(set(t["breakdown"].to_pylist())))
    if not channels:
        raise ModelInputError("ebb forecast: no cohorts before data_end")
    index = {c: i for i, c in enumerate(channels)}
    acq = np.zeros((len(channels), n_days))
    for r in t.filter(pc.equal(t["period_offset"], 0)).to_pylist():
        if first_day <= r["cohort"] < end_day:
            acq[index[r["breakdown"]], r["cohort"] - first_day] = r["cohort_size"]
    act = active_users(ws, ActiveUsersSpec(breakdown="channel"), data_end=end).to_arrow().to_pylist()
    counts = {k: np.zeros((len(channels), n_days)) for k in COUNTS}
    for r in act:
        if first_day <= r["day"] < end_day and r["breakdown"] in index:
            for k in COUNTS:
                counts[k][index[r["breakdown"]], r["day"] - first_day] = r[k]
    cells = t.filter(pc.and_(pc.greater_equal(t["period_offset"], 1), pc.invert(t["incomplete"])))
    row_ch = np.array([index[b] for b in cells["breakdown"].to_pylist()], dtype=np.int64)
    age = cells["period_offset"].to_numpy()
    day = cells["cohort"].to_numpy() + age - first_day
    count = cells["count"].to_numpy().astype(float)
    aged = {}
    for k, width in WINDOWS.items():
        arr = np.zeros((len(channels), n_days))
        keep = (age >= width) & (day >= 0) & (day < n_days)
        np.add.at(arr, (row_ch[keep], day[keep]), count[keep])
        aged[k] = arr
    return EbbInputs(channels, first_day, end_day, acq, counts["dau"], counts["wau"], counts["mau"], aged, table, end)


# -- the arithmetic ---------------------------------------------------------------------------------------------------
def cohort_sum(sizes: np.ndarray, shares: np.ndarray, days: np.ndarray) -> np.ndarray:
    """``out[..., i] = sum over c <= days[i] of sizes[c] * shares[..., days[i] - c]``.

    ``sizes[c]`` is the cohort acquired on (relative) day ``c``; ``shares[..., a]`` the share active at age ``a``
    (leading axes: e.g. the Jacobian's parameters), with at least ``max(days) + 1`` ages. A Toeplitz product rather
    than a convolution so that leading axes share one weight matrix.
    """
    sizes = np.asarray(sizes, dtype=float)
    days = np.asarray(days, dtype=np.int64)
    c = np.arange(sizes.size)
    age = days[:, None] - c[None, :]
    valid = age >= 0
    weights = np.where(valid, sizes[None, :], 0.0)  # (days, cohorts)
    gathered = np.take(shares, np.where(valid, age, 0), axis=-1)  # (..., days, cohorts)
    return np.einsum("...dc,dc->...d", gathered, weights)


@dataclass(frozen=True)
class _ChannelCurve:
    """A channel's curve at ages 0..n-1 with its Jacobian, floor, floor gradient and parameter covariance."""

    shares: np.ndarray  # (ages,), shares[0] = 1
    jac: np.ndarray  # (params, ages), jac[:, 0] = 0
    floor: float
    floor_grad: np.ndarray  # (params,)
    cov: np.ndarray  # (params, params)


def _curve(fitter: RetentionCurveFitter, n_ages: int) -> _ChannelCurve:
    model = MODELS[fitter.model_]
    u = np.asarray(fitter._unconstrained_, dtype=float)
    cov = np.asarray(fitter._unconstrained_cov_, dtype=float)
    with np.errstate(all="ignore"):
        m, jac = model.shape(u, np.arange(1, n_ages, dtype=float))

    def floor(x: np.ndarray) -> float:
        return float(model.floor(dict(zip(model.names, to_natural(x, model.transforms)[0], strict=True))))

    eps = 1e-6
    grad = np.array([(floor(u + eps * e) - floor(u - eps * e)) / (2 * eps) for e in np.eye(u.size)])
    return _ChannelCurve(
        np.concatenate([[1.0], m]),
        np.concatenate([np.zeros((u.size, 1)), jac], axis=1),
        float(fitter.habit_floor_),
        grad,
        np.where(np.isfinite(cov), cov, 0.0),
    )


def fit_curves(inputs: EbbInputs, spec: EbbSpec) -> dict[str, RetentionCurveFitter]:
    """One fitted curve per channel; a channel that cannot be fitted raises, naming it (no silent zero)."""
    out: dict[str, RetentionCurveFitter] = {}
    for ch in inputs.channels:
        try:
            out[ch] = RetentionCurveFitter(spec.model, confidence=spec.confidence).fit_retention_table(
                inputs.retention, breakdown=ch
            )
        except (ConvergenceError, LiuliangError) as exc:
            raise ModelInputError(
                f"ebb forecast: the retention curve of channel {ch!r} cannot be fitted ({exc}); try a longer history, "
                "model='power_floor', or leave the channel's users out"
            ) from exc
    return out


# -- results ----------------------------------------------------------------------------------------------------------
FORECAST_SCHEMA = pa.schema(
    [
        ("breakdown", pa.string()),
        ("day", pa.int64()),
        ("date", pa.date32()),
        ("new_users", pa.float64()),
        *[(f"{k}{s}", pa.float64()) for k in (*COUNTS, "habitual_dau") for s in ("", "_lower", "_upper")],
    ]
)


def _html_table(rows: list[dict[str, Any]], limit: int = 40) -> str:
    if not rows:
        return "<p>(no rows)</p>"
    head = "".join(f"<th>{html.escape(k)}</th>" for k in rows[0])

    def cell(v: Any) -> str:
        return f"{v:,.1f}" if isinstance(v, float) else html.escape(str(v))

    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in r.values()) + "</tr>" for r in rows[:limit])
    more = f"<p>{len(rows) - limit:,} more rows: use .to_pandas()</p>" if len(rows) > limit else ""
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{more}"


@dataclass(frozen=True)
class EbbForecast:
    """The ebb forecast (module docstring).

    Attributes
    ----------
    table : long Arrow table, one row per (breakdown, day): ``breakdown`` (a channel or ``"all"``), ``day``, ``date``,
        ``new_users`` (the scenario's), ``dau``, ``wau``, ``mau``, ``habitual_dau``, each with ``_lower``/``_upper``.
    channels : one row per channel: curve ``model``, ``habit_floor`` (+ profile interval), ``recent_daily_new``,
        ``scenario_daily_new``, ``wau_ratio``, ``mau_ratio``, last observed ``dau``/``wau``/``mau``.
    fitters : the fitted curve per channel. spec : what was asked. data_end : "now". first_day : the first day
        forecast.
    """

    spec: EbbSpec
    table: pa.Table
    channels: pa.Table
    fitters: Mapping[str, RetentionCurveFitter] = field(repr=False)
    data_end: dt.datetime
    first_day: int

    def to_arrow(self) -> pa.Table:
        return self.table

    def to_pandas(self) -> Any:
        return self.table.to_pandas()

    def total(self, column: str = "dau") -> np.ndarray:
        """The ``"all"`` rows' ``column`` per forecast day."""
        rows = self.table.filter(pc.equal(self.table["breakdown"], ALL))
        return rows[column].to_numpy()

    def to_dict(self) -> dict[str, Any]:
        return {
            "spec": spec_dict(self.spec),
            "data_end": self.data_end.isoformat(),
            "first_date": periods.date_of_day(self.first_day).isoformat(),
            "channels": json_rows(self.channels),
            "rows": json_rows(self.table),
        }

    def _repr_html_(self) -> str:
        caption = (
            f"<p><b>EbbForecast</b> scenario={html.escape(self.spec.scenario)}, {self.spec.horizon_days} days from "
            f"{periods.date_of_day(self.first_day)}, data_end={self.data_end:%Y-%m-%d %H:%M} UTC</p>"
        )
        total = self.table.filter(pc.equal(self.table["breakdown"], ALL))
        cols = ["date", "new_users", "dau", "dau_lower", "dau_upper", "habitual_dau", "wau", "mau"]
        return caption + _html_table(self.channels.to_pylist()) + _html_table(total.select(cols).to_pylist())

    def __repr__(self) -> str:
        dau = self.total()
        return (
            f"EbbForecast(scenario={self.spec.scenario!r}, days={dau.size}, "
            f"dau {dau[0]:,.0f} -> {dau[-1]:,.0f}, channels={self.channels.num_rows})"
        )


def _interval(q: np.ndarray, var: np.ndarray, z: float) -> tuple[np.ndarray, np.ndarray]:
    """``q * exp(-+ z * se / q)``: the delta-method interval on the log scale (0 where ``q`` is 0)."""
    se = np.sqrt(np.clip(var, 0, None))
    with np.errstate(all="ignore"):
        f = np.where(q > 0, np.exp(z * se / np.where(q > 0, q, 1.0)), 1.0)
    return q / f, q * f


def window_ratio(observed: np.ndarray, new_in_window: np.ndarray, aged_daily: np.ndarray) -> float:
    """rho = sum (window count - users acquired in the window) / sum (daily actives older than the window).

    1 (its lower bound: an older user active on the day is in the window) when no older user was active.
    """
    denom = float(aged_daily.sum())
    return float((observed - new_in_window).sum() / denom) if denom > 0 else 1.0


def forecast_from_inputs(
    inputs: EbbInputs,
    spec: EbbSpec,
    *,
    fitters: Mapping[str, RetentionCurveFitter] | None = None,
    future_acquisition: Mapping[str, np.ndarray] | None = None,
) -> EbbForecast:
    """The statistics part: fit the curves (unless given) and forecast ``spec.horizon_days`` days.

    ``future_acquisition`` (channel -> new users per forecast day) replaces the scenario's schedule; the backtest
    passes the acquisition that actually happened.
    """
    fitters = dict(fitters) if fitters is not None else fit_curves(inputs, spec)
    h, n_hist = spec.horizon_days, inputs.end_day - inputs.first_day
    days = np.arange(n_hist, n_hist + h)  # relative to first_day
    ages = np.arange(n_hist + h)
    hist_days = np.arange(n_hist)
    recent = inputs.recent(spec.recent_days)
    z = float(stats.norm.ppf(0.5 + spec.confidence / 2))
    keys = (*COUNTS, "habitual_dau")
    cols: dict[str, list[Any]] = {f.name: [] for f in FORECAST_SCHEMA}
    total = {k: np.zeros(h) for k in keys}
    total_var = {k: np.zeros(h) for k in keys}
    new_total = np.zeros(h)
    ch_rows = []

    def add(name: str, point: dict[str, np.ndarray], var: dict[str, np.ndarray], new: np.ndarray) -> None:
        cols["breakdown"].extend([name] * h)
        cols["day"].extend((days + inputs.first_day).tolist())
        cols["date"].extend(periods.date_of_day(int(d)) for d in days + inputs.first_day)
        cols["new_users"].extend(new.tolist())
        for k in keys:
            lo, hi = _interval(point[k], var[k], z)
            cols[k].extend(point[k].tolist())
            cols[f"{k}_lower"].extend(lo.tolist())
            cols[f"{k}_upper"].extend(hi.tolist())

    for i, ch in enumerate(inputs.channels):
        curve = _curve(fitters[ch], ages.size)
        rate = float(inputs.acquisition[i, recent].mean())
        if future_acquisition is not None:
            new = np.asarray(future_acquisition.get(ch, np.zeros(h)), dtype=float)
            if new.shape != (h,):
                raise ModelInputError(f"future_acquisition[{ch!r}] must have {h} days; got shape {new.shape}")
        else:
            new = np.full(h, rate * spec.multiplier(ch))
        sizes = np.concatenate([inputs.acquisition[i], new])
        point: dict[str, np.ndarray] = {}
        var: dict[str, np.ndarray] = {}
        ratio: dict[str, float] = {}
        for k in COUNTS:
            width = WINDOWS.get(k, 1)
            old = (ages >= width).astype(float)
            young = 1.0 - old
            if k == "dau":
                ratio[k] = 1.0
            else:
                observed = getattr(inputs, k)[i, recent]
                new_obs = cohort_sum(inputs.acquisition[i], young[:n_hist], hist_days)[recent]
                ratio[k] = window_ratio(observed, new_obs, inputs.aged[k][i, recent])
            grad = ratio[k] * cohort_sum(sizes, curve.jac * old, days)  # (params, days)
            point[k] = cohort_sum(sizes, young, days) + ratio[k] * cohort_sum(sizes, curve.shares * old, days)
            var[k] = np.einsum("pd,pq,qd->d", grad, curve.cov, grad)
        acquired = np.cumsum(sizes)[days - 1]  # users acquired before each forecast day (age >= 1)
        point["habitual_dau"] = curve.floor * acquired
        var["habitual_dau"] = float(curve.floor_grad @ curve.cov @ curve.floor_grad) * acquired**2
        add(ch, point, var, new)
        for k in keys:
            total[k] += point[k]
            total_var[k] += var[k]
        new_total += new
        lo, hi = fitters[ch].habit_floor_interval_
        ch_rows.append(
            {
                "channel": ch,
                "model": fitters[ch].model_,
                "habit_floor": curve.floor,
                "habit_floor_lower": float(lo),
                "habit_floor_upper": float(hi),
                "users_so_far": float(inputs.acquisition[i].sum()),
                "recent_daily_new": rate,
                "scenario_daily_new": float(new.mean()),
                "wau_ratio": ratio["wau"],
                "mau_ratio": ratio["mau"],
                "last_dau": float(inputs.dau[i, -1]),
                "last_wau": float(inputs.wau[i, -1]),
                "last_mau": float(inputs.mau[i, -1]),
            }
        )
    add(ALL, total, total_var, new_total)
    table = pa.table(cols, schema=FORECAST_SCHEMA)
    return EbbForecast(spec, table, pa.Table.from_pylist(ch_rows), fitters, inputs.data_end, inputs.end_day)


def ebb_forecast(ws: Workspace, spec: EbbSpec | None = None, *, data_end: dt.datetime | None = None) -> EbbForecast:
    """Forecast DAU / WAU / MAU for ``spec.horizon_days`` days under ``spec.scenario`` (module docstring).

    ``data_end`` is "now" (naive UTC, or aware; default the last event time).

    Examples
    --------
    >>> res = ebb_forecast(ws, EbbSpec(scenario="change", change={"red_packet": 0.5}))  # doctest: +SKIP
    >>> res.total("dau")[-1], res.total("habitual_dau")[-1]  # doctest: +SKIP
    """
    spec = spec or EbbSpec()
    return forecast_from_inputs(ebb_inputs(ws, spec, data_end=data_end), spec)


# -- the backtest -----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BacktestResult:
    """A forecast made at a cut-off against what happened next.

    Attributes
    ----------
    table : one row per day after the cut-off: ``date``, ``day``, ``ahead`` (1 = the cut-off day), actual and forecast
        ``dau``/``wau``/``mau`` (``forecast_dau_lower``/``_upper``), ``dau_error`` (forecast - actual).
    dau_mape, dau_mean_error, dau_mean_pct_error : over the horizon (MAPE: mean of |error| / actual).
    wau_mape, mau_mape : the same for WAU and MAU. dau_coverage : share of days whose actual DAU is inside the
        interval (parameter uncertainty only, so expect it below the nominal level).
    forecast : the forecast made at the cut-off. cutoff : the first day held back.
    """

    cutoff: dt.date
    horizon: int
    table: pa.Table
    dau_mape: float
    dau_mean_error: float
    dau_mean_pct_error: float
    wau_mape: float
    mau_mape: float
    dau_coverage: float
    forecast: EbbForecast = field(repr=False)

    def to_arrow(self) -> pa.Table:
        return self.table

    def to_pandas(self) -> Any:
        return self.table.to_pandas()

    def metrics(self) -> dict[str, float]:
        return {
            "dau_mape": self.dau_mape,
            "dau_mean_error": self.dau_mean_error,
            "dau_mean_pct_error": self.dau_mean_pct_error,
            "wau_mape": self.wau_mape,
            "mau_mape": self.mau_mape,
            "dau_coverage": self.dau_coverage,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "cutoff": self.cutoff.isoformat(),
            "horizon": self.horizon,
            **self.metrics(),
            "channels": json_rows(self.forecast.channels),
            "rows": json_rows(self.table),
        }

    def _repr_html_(self) -> str:
        head = (
            f"<p><b>Backtest</b> cut-off {self.cutoff}, {self.horizon} days: DAU MAPE {self.dau_mape:.1%}, "
            f"mean error {self.dau_mean_error:+,.1f} ({self.dau_mean_pct_error:+.1%}), WAU MAPE {self.wau_mape:.1%}, "
            f"MAU MAPE {self.mau_mape:.1%}, interval coverage {self.dau_coverage:.0%}</p>"
        )
        return head + _html_table(self.table.to_pylist())


def local_midnight(day: dt.date, tz: str) -> dt.datetime:
    """Naive-UTC instant of local midnight starting ``day`` (the cut-off's ``data_end``)."""
    return dt.datetime.combine(day, dt.time(0), tzinfo=ZoneInfo(tz)).astimezone(dt.UTC).replace(tzinfo=None)


def backtest(ws: Workspace, cutoff_date: dt.date, horizon: int = 30, *, spec: EbbSpec | None = None) -> BacktestResult:
    """Fit on the data before local ``cutoff_date``, forecast ``horizon`` days with the acquisition that actually
    happened, and compare with the observed counts (module docstring). Every forecast day must be complete."""
    spec = spec or EbbSpec()
    if not isinstance(horizon, int) or horizon < 1:
        raise ModelInputError(f"backtest: horizon must be an integer >= 1; got {horizon!r}")
    full = ebb_inputs(ws, spec)  # everything up to the last event: the actuals
    cut_day = periods.day_number(cutoff_date)
    last_complete = full.end_day - 1
    if cut_day + horizon - 1 > last_complete:
        raise ModelInputError(
            f"backtest: {cutoff_date} + {horizon} days reaches past the last complete day "
            f"{periods.date_of_day(last_complete)}; choose an earlier cut-off or a shorter horizon"
        )
    inputs = ebb_inputs(ws, spec, data_end=local_midnight(cutoff_date, ws.settings.tz))
    if inputs.end_day != cut_day:  # the zone's midnight maps back to the cut-off day; anything else is a bug
        raise WorkspaceError(f"backtest: cut-off day {inputs.end_day} != {cut_day}")
    idx = slice(cut_day - full.first_day, cut_day - full.first_day + horizon)
    # First-time cohorts are the same with or without later data (a user's first day does not move), so the
    # full-data cohort sizes after the cut-off are exactly the new users the forecast would have seen.
    actual_new = {ch: full.acquisition[i, idx] for i, ch in enumerate(full.channels)}
    bt_spec = EbbSpec(**{**vars(spec), "horizon_days": horizon, "scenario": "continue", "change": ()})
    fc = forecast_from_inputs(inputs, bt_spec, future_acquisition=actual_new)
    actual = {k: getattr(full, k)[:, idx].sum(axis=0) for k in COUNTS}
    pred = {k: fc.total(k) for k in COUNTS}
    lo, hi = fc.total("dau_lower"), fc.total("dau_upper")
    err = pred["dau"] - actual["dau"]

    def mape(k: str) -> float:
        return float(np.mean(np.abs(pred[k] - actual[k]) / actual[k]))

    day = np.arange(cut_day, cut_day + horizon)
    table = pa.table(
        {
            "date": pa.array([periods.date_of_day(int(d)) for d in day], pa.date32()),
            "day": pa.array(day, pa.int64()),
            "ahead": pa.array(np.arange(1, horizon + 1), pa.int64()),
            **{f"actual_{k}": pa.array(actual[k], pa.float64()) for k in COUNTS},
            **{f"forecast_{k}": pa.array(pred[k], pa.float64()) for k in COUNTS},
            "forecast_dau_lower": pa.array(lo, pa.float64()),
            "forecast_dau_upper": pa.array(hi, pa.float64()),
            "dau_error": pa.array(err, pa.float64()),
        }
    )
    return BacktestResult(
        cutoff=cutoff_date,
        horizon=horizon,
        table=table,
        dau_mape=mape("dau"),
        dau_mean_error=float(err.mean()),
        dau_mean_pct_error=float(np.mean(err / actual["dau"])),
        wau_mape=mape("wau"),
        mau_mape=mape("mau"),
        dau_coverage=float(np.mean((actual["dau"] >= lo) & (actual["dau"] <= hi))),
        forecast=fc,
    )
