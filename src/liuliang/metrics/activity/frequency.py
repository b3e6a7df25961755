"""Frequency histogram: how many days of each calendar week (or month) a user was active.

Definitions: for each user and each calendar period (local weeks starting on the workspace's week start, or local
months) in which the user was active at least once, ``k`` = the number of distinct active days in the period. For
every period and ``k = 1 .. days in the period`` the histogram reports ``users`` (exactly ``k`` days) and
``users_or_more`` (at least ``k`` days), ``active_users`` (at least one day) and the shares of ``active_users``.
Users inactive in a period are not counted in it (as PostHog's stickiness and Amplitude's frequency charts).
``observed_days`` is the number of the period's days between the first day with data and ``data_end``'s day; the
period holding ``data_end`` is ``incomplete``. Periods are reported from the first with data (or ``date_from``'s) to
``data_end``'s (or ``date_to``'s).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

import ibis
import ibis.expr.types as ir
import pyarrow as pa
import pyarrow.compute as pc

from liuliang.metrics.activity import base
from liuliang.metrics.activity.base import LongResult, Span
from liuliang.warehouse import Workspace, periods

FrequencyPeriod = Literal["week", "month"]

SCHEMA = pa.schema(
    [
        ("breakdown", pa.string()),
        ("period", pa.int64()),
        ("period_start", pa.date32()),
        ("period_days", pa.int64()),
        ("observed_days", pa.int64()),
        ("days_active", pa.int64()),
        ("users", pa.int64()),
        ("users_or_more", pa.int64()),
        ("active_users", pa.int64()),
        ("share", pa.float64()),
        ("share_or_more", pa.float64()),
        ("incomplete", pa.bool_()),
    ]
)


@dataclass(frozen=True)
class FrequencySpec:
    """Parameters
    ----------
    period: ``"week"`` (days active 1..7) or ``"month"`` (1..28-31).
    events: event names that make a day active; None = any event.
    breakdown: a column of the ``users`` table to group by.
    date_from, date_to: local dates; the periods holding them bound the report (inclusive).
    """

    period: FrequencyPeriod = "week"
    events: tuple[str, ...] | None = None
    breakdown: str | None = None
    date_from: dt.date | None = None
    date_to: dt.date | None = None

    def validate(self) -> FrequencySpec:
        base.check_choice(self, "period", ("week", "month"))
        base.check_events(self)
        base.check_dates(self)
        return self


@dataclass(frozen=True)
class FrequencyHistogram(LongResult):
    """One row per (breakdown, period, days_active); see the module docstring for the columns."""

    week_start: str = "monday"

    def summary(self, *, include_incomplete: bool = False) -> pa.Table:
        """The histogram pooled over periods (user-periods per ``days_active``), complete periods only by default.

        Pooling months of different lengths mixes 28- and 31-day scales; it is exact, but read it with that in mind.
        """
        t = self.table if include_incomplete else self.table.filter(pc.invert(self.table["incomplete"]))
        agg = t.group_by(["breakdown", "days_active"]).aggregate(
            [("users", "sum"), ("users_or_more", "sum"), ("active_users", "sum")]
        )
        agg = agg.rename_columns(["breakdown", "days_active", "users", "users_or_more", "active_users"])
        return agg.sort_by([("breakdown", "ascending"), ("days_active", "ascending")])

    def __repr__(self) -> str:
        return f"FrequencyHistogram({self.spec.period}, {self.table.num_rows} rows, data_end={self.data_end})"


def _frame(span: Span, spec: FrequencySpec, week_start: str) -> ir.Table:
    lo, hi = base.date_range_periods(span, spec.period, week_start, spec.date_from, spec.date_to)
    cols: dict[str, list[int]] = {"period": [], "period_days": [], "observed_days": [], "days_active": []}
    for p in range(lo, hi + 1):
        first = base.period_first_day(p, spec.period, week_start)
        n = base.period_days(p, spec.period, week_start)
        observed = max(0, min(first + n - 1, span.end_day) - max(first, span.first_day) + 1)
        for k in range(1, n + 1):
            cols["period"].append(p)
            cols["period_days"].append(n)
            cols["observed_days"].append(observed)
            cols["days_active"].append(k)
    return ibis.memtable(cols, schema=dict.fromkeys(cols, "int64"))


def frequency_expr(ws: Workspace, spec: FrequencySpec, span: Span) -> ir.Table:
    week_start = ws.settings.week_start
    active = base.active_days(ws, spec.events, span)
    active = active.mutate(period=periods.period_of_day(active.day, spec.period, week_start).cast("int64"))
    per_user = active.group_by(["user_key", "period"]).aggregate(days_active=active.count())
    per_user = base.with_breakdown(per_user, base.breakdown_of(ws, spec.breakdown))
    hist = per_user.group_by(["breakdown", "period", "days_active"]).aggregate(users=per_user.count())
    frame = base.breakdown_values(per_user, spec.breakdown).cross_join(_frame(span, spec, week_start))
    keys = ["breakdown", "period", "days_active"]
    full = frame.left_join(hist, keys)
    full = full.select(*frame.columns, users=full.users.fill_null(0))
    by_period = ibis.window(group_by=["breakdown", "period"])
    or_more = ibis.cumulative_window(group_by=["breakdown", "period"], order_by=ibis.desc("days_active"))
    full = full.mutate(users_or_more=full.users.sum().over(or_more), active_users=full.users.sum().over(by_period))
    share = full.users.cast("float64") / full.active_users
    share_or_more = full.users_or_more.cast("float64") / full.active_users
    full = full.mutate(
        share=ibis.ifelse(full.active_users > 0, share, ibis.null("float64")),
        share_or_more=ibis.ifelse(full.active_users > 0, share_or_more, ibis.null("float64")),
        incomplete=full.period == base.period_number(span.end_day, spec.period, week_start),
    )
    return full.order_by(keys)


def frequency(
    ws: Workspace, spec: FrequencySpec | None = None, *, data_end: dt.datetime | None = None
) -> FrequencyHistogram:
    """Days-active-per-period histogram; ``data_end`` is "now" (default: the last event time)."""
    spec = (spec or FrequencySpec()).validate()
    week_start = ws.settings.week_start
    span = base.resolve(ws, data_end)
    if span is None:
        return FrequencyHistogram(spec, SCHEMA.empty_table(), None, week_start)
    table = ws.query(("frequency", spec, span), lambda: frequency_expr(ws, spec, span))
    table = base.add_start_column(table, 0, spec.period, week_start)
    return FrequencyHistogram(spec, base.conform_arrow(table, SCHEMA), span.data_end, week_start)
