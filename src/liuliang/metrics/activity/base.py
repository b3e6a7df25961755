"""What every activity and lifecycle metric shares: the resolved time span, active user-days, breakdowns, results.

*Active user-day.* A user is active on a local day when they have at least one event (of ``events``, or of any name
when ``events`` is None) on that day with ``ts <= data_end``. Days come from the ``user_day`` / ``user_day_event``
rollups; only when ``data_end`` falls before the last event is the day holding it re-read from ``events`` (so a
``data_end`` inside the data is exact and nothing after it is ever counted).

*data_end* is "now" (naive UTC, or aware and converted): default the last event time in the data. Its local day is
``end_day``; the period holding it is *incomplete* (it has not fully elapsed).

*Breakdown.* A column of the ``users`` table, cast to a string; users without a row or a value get ``"(none)"``;
without a breakdown every row has ``breakdown = "all"``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from liuliang.errors import LiuliangError, WorkspaceError
from liuliang.metrics.result import LongResult, spec_dict  # noqa: F401 - re-exported for activity results
from liuliang.warehouse import Workspace, periods
from liuliang.warehouse import tables as T

ALL = "all"
NO_VALUE = "(none)"
CALENDAR_PERIODS = ("day", "week", "month", "quarter")


class ActivitySpecError(LiuliangError):
    """An activity or lifecycle spec that cannot be run as asked (names the field, what is allowed, what it got)."""


def check_choice(spec: object, name: str, allowed: tuple[str, ...]) -> None:
    value = getattr(spec, name)
    if value not in allowed:
        raise ActivitySpecError(
            f"{type(spec).__name__}.{name} must be one of {', '.join(map(repr, allowed))}; got {value!r}"
        )


def check_events(spec: Any) -> None:
    events = spec.events
    if events is None:
        return
    if isinstance(events, str) or not events or not all(isinstance(e, str) and e for e in events):
        raise ActivitySpecError(
            f"{type(spec).__name__}.events must be None (any event) or a non-empty tuple of event names; got {events!r}"
        )


def check_dates(spec: Any) -> None:
    lo, hi = spec.date_from, spec.date_to
    if lo is not None and hi is not None and lo > hi:
        raise ActivitySpecError(f"{type(spec).__name__}: date_from {lo} is after date_to {hi}")


@dataclass(frozen=True)
class Span:
    """Resolved before building: ``data_end`` (naive UTC), its local day, the first local day with data, and
    whether the rollups are exact up to ``data_end`` (no event after it)."""

    data_end: dt.datetime
    end_day: int
    first_day: int
    rollups_exact: bool
    #: the ``user_day`` table expression ``resolve`` read (reused so a metric looks the table up once)
    user_day: ir.Table | None = field(default=None, compare=False, repr=False)


def to_naive_utc(instant: dt.datetime) -> dt.datetime:
    if instant.tzinfo is not None:
        return instant.astimezone(dt.UTC).replace(tzinfo=None)
    return instant


def local_day_of(instant: dt.datetime, tz: str) -> int:
    local = instant.replace(tzinfo=dt.UTC).astimezone(ZoneInfo(tz))
    return periods.day_number(local.date())


def resolve(ws: Workspace, data_end: dt.datetime | None) -> Span | None:
    """The data's span, from the ingests log (None when there are no events up to ``data_end``)."""
    events = ws.event_span()
    if events is None:
        return None
    end = to_naive_utc(data_end) if data_end is not None else events.last_ts
    if end < events.first_ts:
        return None
    return Span(end, local_day_of(end, ws.settings.tz), events.first_day, end >= events.last_ts, ws.user_day())


def active_days(ws: Workspace, events: tuple[str, ...] | None, span: Span) -> ir.Table:
    """Distinct ``(user_key int64, day int64)`` rows: the active user-days up to ``data_end``."""
    if events is None:
        roll = span.user_day if span.user_day is not None else ws.user_day()
    else:
        roll = ws.user_day_event()
        roll = roll.filter(roll.event.isin(list(events)))
    if not span.rollups_exact:
        # the day holding data_end comes from events (below); with no event after data_end every rolled day is
        # <= end_day already, so the filter is left out then
        roll = roll.filter(roll.day <= span.end_day - 1)
    past = roll.select(user_key=roll.user_key.cast("int64"), day=roll.day.cast("int64"))
    if events is not None:
        past = past.distinct()
    if span.rollups_exact:
        return past
    ev = ws.table(T.EVENTS)
    ev = ev.filter((ev.day == span.end_day) & (ev.ts <= span.data_end))
    if events is not None:
        ev = ev.filter(ev.event.isin(list(events)))
    last = ev.select(user_key=ev.user_key.cast("int64"), day=ev.day.cast("int64")).distinct()
    return past.union(last, distinct=False)


def _users(ws: Workspace, why: str) -> ir.Table:
    if not ws.has_table(T.USERS):
        raise WorkspaceError(f"{why} reads the users table; ingest it first (table='users')")
    return ws.table(T.USERS)


def breakdown_of(ws: Workspace, column: str | None) -> ir.Table | None:
    """``(user_key, breakdown)`` from the users table (None without a breakdown)."""
    if column is None:
        return None
    users = _users(ws, f"breakdown={column!r}")
    if column not in users.columns:
        raise WorkspaceError(f"the users table has no column {column!r}; columns: {', '.join(users.columns)}")
    return users.select(user_key=users.user_key.cast("int64"), breakdown=users[column].cast("string"))


def with_breakdown(t: ir.Table, groups: ir.Table | None) -> ir.Table:
    """Add a ``breakdown`` column to a table keyed by ``user_key``."""
    if groups is None:
        return t.mutate(breakdown=ibis.literal(ALL))
    joined = t.left_join(groups.rename(_b="breakdown"), "user_key")
    return joined.select(*t.columns, breakdown=joined._b.fill_null(NO_VALUE))


def breakdown_values(rows: ir.Table, column: str | None) -> ir.Table:
    """The breakdown values a result reports: ``"all"`` alone without a breakdown (so an empty selection still
    reports zeros), else the values of the rows."""
    if column is None:
        return ibis.memtable({"breakdown": [ALL]}, schema={"breakdown": "string"})
    return rows.select("breakdown").distinct()


def signups(
    ws: Workspace, data_end: dt.datetime | None = None
) -> tuple[ir.Table, tuple[dt.datetime, dt.datetime]] | None:
    """``(user_key, signup_day)`` of users with a ``signup_ts`` (up to ``data_end`` when given), and the instants'
    range (None when there are none)."""
    users = _users(ws, "signup-based activity")
    users = users.filter(users.signup_ts.notnull())
    if data_end is not None:
        users = users.filter(users.signup_ts <= data_end)
    row = ws.engine.to_arrow(users.aggregate(lo=users.signup_ts.min(), hi=users.signup_ts.max())).to_pylist()[0]
    if row["lo"] is None:
        return None
    day = ws.local_day(users.signup_ts, row["lo"], row["hi"])
    return users.select(user_key=users.user_key.cast("int64"), signup_day=day.cast("int64")), (row["lo"], row["hi"])


def int_memtable(name: str, values: list[int]) -> ir.Table:
    return ibis.memtable({name: values}, schema={name: "int64"})


def period_number(day: int, period: str, week_start: str) -> int:
    """Plain-Python twin of :func:`liuliang.warehouse.periods.period_of_day` for one day number."""
    if period == "day":
        return day
    if period == "week":
        return (day + (3 - periods.WEEKDAYS.index(week_start)) % 7) // 7
    date = periods.date_of_day(day)
    if period == "month":
        return date.year * 12 + date.month - 1
    if period == "quarter":
        return date.year * 4 + (date.month - 1) // 3
    raise ActivitySpecError(f"period must be one of {', '.join(CALENDAR_PERIODS)}; got {period!r}")


def period_first_day(p: int, period: str, week_start: str) -> int:
    """Local day number of the first day of period ``p``."""
    if period == "day":
        return p
    if period == "week":
        return p * 7 - (3 - periods.WEEKDAYS.index(week_start)) % 7
    if period == "month":
        return periods.day_number(dt.date(p // 12, p % 12 + 1, 1))
    return periods.day_number(dt.date(p // 4, (p % 4) * 3 + 1, 1))


def period_days(p: int, period: str, week_start: str) -> int:
    """Number of days in period ``p``."""
    return period_first_day(p + 1, period, week_start) - period_first_day(p, period, week_start)


def date_range_periods(
    span: Span, period: str, week_start: str, date_from: dt.date | None, date_to: dt.date | None
) -> tuple[int, int]:
    """Inclusive period numbers reported: from the first period with data (or ``date_from``'s) to ``data_end``'s
    (or ``date_to``'s, if earlier)."""
    lo = period_number(span.first_day, period, week_start)
    hi = period_number(span.end_day, period, week_start)
    if date_from is not None:
        lo = max(lo, period_number(periods.day_number(date_from), period, week_start))
    if date_to is not None:
        hi = min(hi, period_number(periods.day_number(date_to), period, week_start))
    return lo, hi


def conform_arrow(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """Columns in ``schema`` order and types (engines differ in integer widths)."""
    return pa.Table.from_arrays([table[f.name].cast(f.type) for f in schema], schema=schema)


def add_start_column(table: pa.Table, index: int, period: str, week_start: str, name: str = "period_start") -> pa.Table:
    """Insert the local start date of each row's ``period`` number (dates are labels; numbers stay the keys)."""
    starts = [periods.date_of_day(period_first_day(p, period, week_start)) for p in table["period"].to_pylist()]
    return table.add_column(index, pa.field(name, pa.date32()), pa.array(starts, pa.date32()))
