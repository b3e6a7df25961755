"""Per-user model inputs computed in the warehouse: RFM summaries for the transaction models, churn durations for
the survival models.

Why in the warehouse: the models fit on a few numbers per user (BG/NBD on three, survival on two), while the
activity behind them is billions of events. Grouping the ``user_day`` / ``user_day_event`` rollups in Ibis and
pulling one row per user as Arrow works the same on the embedded DuckDB and on Spark, and 10M users come back as
a few hundred MB of NumPy columns instead of a pandas groupby over every event.

RFM conventions (those of ``lifetimes.utils.summary_data_from_transaction_data`` and
``calibration_and_holdout_data``, Davidson-Pilon et al., so a summary here feeds the fitters exactly like theirs):

- Activity is counted in *periods* (local days of the workspace's time zone, or weeks starting on its week
  start). Several events in one period are one "transaction"; the period's amount is the sum of their amounts
  (missing amounts count as 0).
- ``frequency`` = active periods in the calibration window after the first one (repeat periods);
- ``recency`` = last active period − first active period (0 without repeats): the age at the last repeat;
- ``T`` = calibration-end period − first active period: the age at the end of calibration;
- ``monetary_value`` = mean amount over the repeat periods (the first period's amount is left out, as in
  lifetimes with ``include_first_transaction=False``); 0 without repeats;
- ``holdout_frequency`` = active periods after ``calibration_end`` up to ``observation_end`` (lifetimes'
  ``frequency_holdout``), ``holdout_monetary`` their mean amount per period (0 when none). lifetimes averages
  the holdout's raw *transactions* instead, which differs from its own calibration definition; the two agree
  when each holdout period has one transaction, and per period is what Gamma-Gamma predicts;
- ``holdout_periods`` = observation-end period − calibration-end period (``duration_holdout``).

Users are those active in the calibration window. A user first seen in the calibration-end period has ``T = 0``;
lifetimes keeps such rows and so does this summary, but the fitters need ``T > 0``: use
:meth:`RFMSummary.without_newcomers`.

``data_end`` ("now") is required and never read from a clock: nothing after it is counted, even inside a day the
rollups already hold (that day is re-read from ``events``), and a window ending after its local day is refused.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal
from zoneinfo import ZoneInfo

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from liuliang._display import dataclass_html
from liuliang.errors import LiuliangError
from liuliang.metrics.activity.base import (
    breakdown_of,
    local_day_of,
    period_first_day,
    period_number,
    to_naive_utc,
    with_breakdown,
)
from liuliang.warehouse import Workspace, periods
from liuliang.warehouse import tables as T

RFMPeriod = Literal["day", "week"]
PERIODS: tuple[str, ...] = ("day", "week")

RFM_SCHEMA = pa.schema(
    [
        ("user_key", pa.int64()),
        ("user_id", pa.string()),
        ("breakdown", pa.string()),
        ("first_date", pa.date32()),
        ("frequency", pa.float64()),
        ("recency", pa.float64()),
        ("T", pa.float64()),
        ("monetary_value", pa.float64()),
        ("holdout_frequency", pa.float64()),
        ("holdout_monetary", pa.float64()),
    ]
)
CHURN_SCHEMA = pa.schema(
    [
        ("user_key", pa.int64()),
        ("user_id", pa.string()),
        ("breakdown", pa.string()),
        ("first_date", pa.date32()),
        ("last_date", pa.date32()),
        ("duration", pa.int64()),
        ("churned", pa.bool_()),
    ]
)


class SummaryError(LiuliangError):
    """A summary that cannot be computed as asked (names the argument, what is allowed and what it got)."""


def _column(table: pa.Table, name: str) -> np.ndarray:
    return table[name].to_numpy(zero_copy_only=False)


def _events(event: str | Sequence[str] | None) -> tuple[str, ...] | None:
    if event is None:
        return None
    names = (event,) if isinstance(event, str) else tuple(event)
    if not names or not all(isinstance(e, str) and e for e in names):
        raise SummaryError(f"event must be None (any event), an event name or a list of names; got {event!r}")
    return names


@dataclass(frozen=True)
class _Window:
    """``data_end`` resolved: its local day and whether the rollups hold nothing after it."""

    data_end: dt.datetime
    end_day: int
    rollups_exact: bool


def _resolve(ws: Workspace, data_end: dt.datetime | dt.date) -> _Window:
    if not isinstance(data_end, dt.date):
        raise SummaryError(f"data_end must be a datetime (naive UTC or aware); got {data_end!r}")
    if not isinstance(data_end, dt.datetime):  # a date: through the end of that local day, so whole days count
        start = dt.datetime.combine(data_end + dt.timedelta(days=1), dt.time(), ZoneInfo(ws.settings.tz))
        end = start.astimezone(dt.UTC).replace(tzinfo=None) - dt.timedelta(microseconds=1)
        return _Window(end, periods.day_number(data_end), True)
    end = to_naive_utc(data_end)
    span = ws.event_span()  # from the ingests log, not a scan of the rollup
    return _Window(end, local_day_of(end, ws.settings.tz), span is None or end >= span.last_ts)


def _active_days(ws: Workspace, events: tuple[str, ...] | None, window: _Window, last_day: int) -> ir.Table:
    """``(user_key, day, amount)``: one row per active user-day up to ``last_day`` and ``data_end``, amount summed.

    Rolled-up days are used as they are, except the day holding ``data_end`` when events after it exist: that day
    is re-aggregated from ``events`` with ``ts <= data_end``.
    """
    if events is None:
        roll = ws.user_day()
    else:
        roll = ws.user_day_event()
        roll = roll.filter(roll.event.isin(list(events)))
    partial = not window.rollups_exact and last_day >= window.end_day
    top = min(last_day, window.end_day - 1) if partial else min(last_day, window.end_day)
    roll = roll.filter(roll.day <= top)
    rows = roll.select(
        user_key=roll.user_key.cast("int64"), day=roll.day.cast("int64"), amount=roll.amount.fill_null(0.0)
    )
    if partial:
        ev = ws.table(T.EVENTS)
        ev = ev.filter((ev.day == window.end_day) & (ev.ts <= window.data_end))
        if events is not None:
            ev = ev.filter(ev.event.isin(list(events)))
        rows = rows.union(
            ev.select(user_key=ev.user_key.cast("int64"), day=ev.day.cast("int64"), amount=ev.amount.fill_null(0.0)),
            distinct=False,
        )
    if events is not None or partial:  # several event names (or the re-read day) make several rows per user-day
        rows = rows.group_by(["user_key", "day"]).aggregate(amount=rows.amount.sum())
    return rows


def _with_ids(ws: Workspace, t: ir.Table, breakdown: str | None) -> ir.Table:
    keys = ws.table(T.USER_KEYS).select("user_key", "user_id")
    t = t.left_join(keys, "user_key").select(*t.columns, "user_id")
    return with_breakdown(t, breakdown_of(ws, breakdown))


def _finish(table: pa.Table, schema: pa.Schema) -> pa.Table:
    table = table.select(schema.names).cast(schema)
    return table.take(pc.sort_indices(table, [("user_key", "ascending")])).combine_chunks()


def _date_column(days: pa.ChunkedArray) -> pa.ChunkedArray:
    """Local day numbers count days from 1970-01-01 (local), which is exactly Arrow's date32: a cast, no Python loop."""
    return days.cast(pa.int32()).cast(pa.date32())


# -- RFM -----------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RFMSummary:
    """One row per user active in the calibration window; columns of :data:`RFM_SCHEMA`.

    Attributes
    ----------
    table: the Arrow table (user_key, user_id, breakdown, first_date, frequency, recency, T, monetary_value,
        holdout_frequency, holdout_monetary), sorted by user_key.
    period: "day" or "week" — the unit of frequency, recency, T and holdout_periods.
    events: the event names that make a period active (None: any event).
    calibration_end, observation_end: last local dates of the calibration and holdout windows.
    holdout_periods: observation-end period − calibration-end period (0: no holdout).
    data_end: the instant after which nothing was counted.
    breakdown: the users column in ``breakdown`` (None: every row says "all").
    """

    table: pa.Table
    period: str
    events: tuple[str, ...] | None
    calibration_end: dt.date
    observation_end: dt.date
    holdout_periods: int
    data_end: dt.datetime
    breakdown: str | None

    def to_arrow(self) -> pa.Table:
        return self.table

    def _repr_html_(self) -> str:
        return dataclass_html(self, extra={"users": self.table.num_rows})

    def to_pandas(self) -> pd.DataFrame:
        return self.table.to_pandas()

    def __len__(self) -> int:
        return self.table.num_rows

    @property
    def user_key(self) -> np.ndarray:
        return _column(self.table, "user_key")

    @property
    def frequency(self) -> np.ndarray:
        return _column(self.table, "frequency")

    @property
    def recency(self) -> np.ndarray:
        return _column(self.table, "recency")

    @property
    def T(self) -> np.ndarray:
        return _column(self.table, "T")

    @property
    def monetary_value(self) -> np.ndarray:
        return _column(self.table, "monetary_value")

    @property
    def holdout_frequency(self) -> np.ndarray:
        return _column(self.table, "holdout_frequency")

    @property
    def holdout_monetary(self) -> np.ndarray:
        return _column(self.table, "holdout_monetary")

    def groups(self) -> list[str]:
        return sorted(set(self.table["breakdown"].to_pylist()))

    def where(self, mask: np.ndarray | pa.Array) -> RFMSummary:
        """The same summary restricted to the rows where ``mask`` is true."""
        return replace(self, table=self.table.filter(pa.array(np.asarray(mask, dtype=bool))))

    def for_group(self, group: str) -> RFMSummary:
        """Rows of one breakdown value."""
        return replace(self, table=self.table.filter(pc.equal(self.table["breakdown"], group)))

    def without_newcomers(self) -> RFMSummary:
        """Rows with T > 0: a user first seen in the calibration-end period has no observed time to fit."""
        return self.where(self.T > 0)


def _period_expr(day: ir.IntegerValue, period: str, week_start: str) -> ir.IntegerValue:
    return periods.period_of_day(day, period, week_start).cast("int64")


def rfm_summary(
    ws: Workspace,
    *,
    event: str | Sequence[str] | None = None,
    period: RFMPeriod = "day",
    calibration_end: dt.date,
    observation_end: dt.date | None = None,
    data_end: dt.datetime | dt.date,
    breakdown: str | None = None,
) -> RFMSummary:
    """Frequency / recency / T / monetary value per user, with a holdout (see the module docstring).

    Parameters
    ----------
    ws: the workspace; reads ``user_day`` (any event) or ``user_day_event`` (named events).
    event: None (any event makes a period active), an event name such as ``"order"``, or several names.
    period: "day" or "week" (weeks start on the workspace's week start).
    calibration_end: last local date of the calibration window. For weeks it must end a week, so no week is split
        between calibration and holdout.
    observation_end: last local date of the holdout (None: the local day of ``data_end``, or for weeks the end of
        the last week ending on or before it). Equal to ``calibration_end``: no holdout.
    data_end: "now" — a datetime (naive UTC or aware); nothing after it is counted. A date means the end of that
        local day.
    breakdown: a ``users`` column reported per user (``"(none)"`` where unset).
    """
    if period not in PERIODS:
        raise SummaryError(f"rfm_summary: period must be one of {', '.join(map(repr, PERIODS))}; got {period!r}")
    if not isinstance(calibration_end, dt.date) or isinstance(calibration_end, dt.datetime):
        raise SummaryError(f"rfm_summary: calibration_end must be a date; got {calibration_end!r}")
    names = _events(event)
    week_start = ws.settings.week_start
    window = _resolve(ws, data_end)
    cal_day = periods.day_number(calibration_end)

    def last_day_of_period(day: int) -> int:
        return period_first_day(period_number(day, period, week_start) + 1, period, week_start) - 1

    if observation_end is None:
        obs_day = window.end_day
        if period == "week" and last_day_of_period(obs_day) != obs_day:
            obs_day = period_first_day(period_number(obs_day, period, week_start), period, week_start) - 1
    else:
        if not isinstance(observation_end, dt.date) or isinstance(observation_end, dt.datetime):
            raise SummaryError(f"rfm_summary: observation_end must be a date or None; got {observation_end!r}")
        obs_day = periods.day_number(observation_end)
    if period == "week":
        for label, day in (("calibration_end", cal_day), ("observation_end", obs_day)):
            if last_day_of_period(day) != day:
                end = periods.date_of_day(last_day_of_period(day))
                raise SummaryError(
                    f"rfm_summary: with period='week', {label} must be the last day of a week (weeks start on "
                    f"{week_start}); got {periods.date_of_day(day)}, the week ends {end}"
                )
    end_date = periods.date_of_day(window.end_day)
    if cal_day > window.end_day:
        raise SummaryError(
            f"rfm_summary: calibration_end {calibration_end} is after data_end's local day {end_date}: the "
            "calibration window has not elapsed"
        )
    if obs_day < cal_day or obs_day > window.end_day:
        raise SummaryError(
            f"rfm_summary: observation_end must lie between calibration_end {calibration_end} and data_end's local "
            f"day {end_date}; got {periods.date_of_day(obs_day)}"
        )
    cal_p = period_number(cal_day, period, week_start)
    obs_p = period_number(obs_day, period, week_start)

    days = _active_days(ws, names, window, obs_day)
    days = days.mutate(p=_period_expr(days.day, period, week_start))
    per = days.group_by(["user_key", "p"]).aggregate(amount=days.amount.sum(), d0=days.day.min())
    cal = per.filter(per.p <= cal_p)  # for weeks cal_day ends a week, so this is also "day <= calibration_end"
    first = cal.group_by("user_key").aggregate(first=cal.p.min(), first_day=cal.d0.min())
    joined = cal.join(first, "user_key")
    repeat = joined.p > joined.first
    summary = joined.group_by("user_key").aggregate(
        first=joined.first.max(),
        first_day=joined.first_day.max(),
        last=joined.p.max(),
        n=joined.count(),
        repeat_amount=ibis.ifelse(repeat, joined.amount, 0.0).sum(),
    )
    hold = per.filter(per.p > cal_p)
    hold = hold.group_by("user_key").aggregate(h_n=hold.count(), h_amount=hold.amount.sum())
    s = summary.left_join(hold, "user_key")
    freq = (s.n - 1).cast("float64")
    h_n = s.h_n.fill_null(0).cast("float64")
    s = s.select(
        "user_key",
        "first_day",
        frequency=freq,
        recency=(s.last - s.first).cast("float64"),
        T=(ibis.literal(cal_p, "int64") - s.first).cast("float64"),
        monetary_value=ibis.ifelse(s.n > 1, s.repeat_amount / freq, 0.0),
        holdout_frequency=h_n,
        holdout_monetary=ibis.ifelse(h_n > 0, s.h_amount.fill_null(0.0) / h_n, 0.0),
    )
    table = ws.engine.to_arrow(_with_ids(ws, s, breakdown))
    table = table.append_column("first_date", _date_column(table["first_day"]))
    return RFMSummary(
        table=_finish(table, RFM_SCHEMA),
        period=period,
        events=names,
        calibration_end=calibration_end,
        observation_end=periods.date_of_day(obs_day),
        holdout_periods=int(obs_p - cal_p),
        data_end=window.data_end,
        breakdown=breakdown,
    )


# -- churn durations -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ChurnDurations:
    """Time from first to last active day per user, and whether the user has churned (else right-censored).

    Attributes
    ----------
    table: Arrow table (user_key, user_id, breakdown, first_date, last_date, duration, churned) sorted by user_key.
    inactivity_days: days without activity before ``data_end``'s local day that make a user churned.
    events: event names that count as activity (None: any).
    data_end, breakdown: as passed.
    """

    table: pa.Table
    inactivity_days: int
    events: tuple[str, ...] | None
    data_end: dt.datetime
    breakdown: str | None

    def to_arrow(self) -> pa.Table:
        return self.table

    def _repr_html_(self) -> str:
        churned = int(pc.sum(pc.cast(self.table["churned"], pa.int64())).as_py() or 0)
        return dataclass_html(self, extra={"users": self.table.num_rows, "churned": churned})

    def to_pandas(self) -> pd.DataFrame:
        return self.table.to_pandas()

    def __len__(self) -> int:
        return self.table.num_rows

    @property
    def durations(self) -> np.ndarray:
        return _column(self.table, "duration").astype(float)

    @property
    def churned(self) -> np.ndarray:
        return _column(self.table, "churned").astype(bool)

    @property
    def groups_of_users(self) -> np.ndarray:
        """The breakdown value of each row (for ``SurvivalAnalysis.fit(..., groups=)``)."""
        return _column(self.table, "breakdown").astype(str)

    def groups(self) -> list[str]:
        return sorted(set(self.table["breakdown"].to_pylist()))

    def for_group(self, group: str) -> ChurnDurations:
        return replace(self, table=self.table.filter(pc.equal(self.table["breakdown"], group)))


def churn_durations(
    ws: Workspace,
    *,
    inactivity_days: int = 28,
    data_end: dt.datetime | dt.date,
    event: str | Sequence[str] | None = None,
    breakdown: str | None = None,
) -> ChurnDurations:
    """Durations and churn flags for :class:`~liuliang.models.SurvivalAnalysis` and
    :class:`~liuliang.models.CureFractionFitter`.

    With F and L a user's first and last active local days up to ``data_end`` (day E):

    - ``duration`` = L − F + 1 days (a one-day user lived one day);
    - ``churned`` = E − L >= ``inactivity_days``: no activity on any of the last ``inactivity_days`` days.

    A user not churned is *censored at the same duration*: all we know is that the lifetime is at least L − F + 1
    (measuring censored users up to E instead would credit them with days they may already have been gone).
    Users whose first day is within ``inactivity_days`` of E can only be censored — which is what Kaplan-Meier
    and the cure model expect.
    """
    if not isinstance(inactivity_days, int) or isinstance(inactivity_days, bool) or inactivity_days < 1:
        raise SummaryError(f"churn_durations: inactivity_days must be an integer >= 1; got {inactivity_days!r}")
    names = _events(event)
    window = _resolve(ws, data_end)
    days = _active_days(ws, names, window, window.end_day)
    per = days.group_by("user_key").aggregate(first_day=days.day.min(), last_day=days.day.max())
    per = per.mutate(
        duration=(per.last_day - per.first_day + 1).cast("int64"),
        churned=(ibis.literal(window.end_day, "int64") - per.last_day) >= inactivity_days,
    )
    table = ws.engine.to_arrow(_with_ids(ws, per, breakdown))
    table = table.append_column("first_date", _date_column(table["first_day"]))
    table = table.append_column("last_date", _date_column(table["last_day"]))
    return ChurnDurations(
        table=_finish(table, CHURN_SCHEMA),
        inactivity_days=inactivity_days,
        events=names,
        data_end=window.data_end,
        breakdown=breakdown,
    )


__all__ = [
    "CHURN_SCHEMA",
    "RFM_SCHEMA",
    "ChurnDurations",
    "RFMSummary",
    "SummaryError",
    "churn_durations",
    "rfm_summary",
]
