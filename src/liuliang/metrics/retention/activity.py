"""Activity rows for one set of event names: ``(user_key, day, ts, n, amount)``, as Ibis expressions.

Two grains, same columns:

- *day grain* (calendar day/week/month/quarter, rolling week/month): one row per user and local day, read from the
  ``user_day_event`` / ``user_day`` rollups; ``ts`` is the day's first matching event, ``n`` the number of events.
  The last day (the one holding ``data_end``) is re-aggregated from ``events`` with ``ts <= data_end``, so a
  ``data_end`` inside the data is exact and the rollups are never read past it; when ``data_end`` is at or after
  the last event (the default) the rollups are exact as they stand and ``events`` is not read.
- *event grain* (hour periods, rolling day windows, ``period_zero="returns_after_start"``): one row per event.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir

from liuliang.metrics.retention.filters import predicate, string_column
from liuliang.metrics.retention.spec import Where
from liuliang.warehouse import Workspace

ALL = "all"
NO_VALUE = "(none)"

COLUMNS = ("user_key", "day", "ts", "n", "amount")


@dataclass(frozen=True)
class Bounds:
    """Resolved before building: ``data_end`` (naive UTC), its local day, and whether it is at or after the last
    event (then the rollups hold exactly the events up to ``data_end`` and no raw event is read)."""

    data_end: dt.datetime
    end_day: int
    whole: bool = False


def _shape(t: ir.Table, *, ts: ir.Value, n: ir.Value, amount: ir.Value) -> ir.Table:
    return t.select(
        user_key=t.user_key.cast("int64"),
        day=t.day.cast("int32"),
        ts=ts.cast("timestamp"),
        n=n.cast("int64"),
        amount=amount.cast("float64"),
    )


def _events(ws: Workspace, names: tuple[str, ...] | None, bounds: Bounds) -> ir.Table:
    ev = ws.table("events")
    ev = ev.filter(ev.ts <= bounds.data_end)
    if names is not None:
        ev = ev.filter(ev.event.isin(list(names)))
    return ev


def event_grain(ws: Workspace, names: tuple[str, ...] | None, bounds: Bounds) -> ir.Table:
    """One row per event up to ``data_end``."""
    ev = _events(ws, names, bounds)
    return _shape(ev, ts=ev.ts, n=ibis.literal(1), amount=ev.amount.fill_null(0.0))


def filtered_grain(
    ws: Workspace, names: tuple[str, ...] | None, where: Where, prop: str | None, bounds: Bounds, why: str
) -> ir.Table:
    """One row per event up to ``data_end`` matching ``where``, plus ``breakdown``: the value of the events column
    ``prop`` (``"(none)"`` when null; the constant ``"all"`` without ``prop``). Reads ``events`` (the rollups carry
    no properties)."""
    ev = _events(ws, names, bounds)
    if where:
        ev = ev.filter(predicate(ev, where, "events", why))
    if prop is None:
        value = ibis.literal(ALL)
    else:
        value = string_column(ev, prop, "events", "breakdown_event_property").fill_null(NO_VALUE)
    ev = ev.mutate(_bv=value)
    rows = ev.select(
        user_key=ev.user_key.cast("int64"),
        day=ev.day.cast("int32"),
        ts=ev.ts.cast("timestamp"),
        n=ibis.literal(1, "int64"),
        amount=ev.amount.fill_null(0.0).cast("float64"),
        breakdown=ev._bv.cast("string"),
    )
    return rows


def day_grain(ws: Workspace, names: tuple[str, ...] | None, bounds: Bounds, *, lean: bool = False) -> ir.Table:
    """One row per user and local day up to ``data_end`` (rollups before its day, raw events on it).

    ``lean=True``: only ``(user_key, day, n)``, for queries that need neither times nor amounts.
    """
    if names is None:
        roll = ws.user_day()
    else:
        roll = ws.user_day_event()
        roll = roll.filter(roll.event.isin(list(names)))
    if not bounds.whole:
        roll = roll.filter(roll.day < bounds.end_day)
    if lean:
        if names is not None:
            roll = roll.group_by(["user_key", "day"]).aggregate(events=roll.events.sum())
        past = roll.select("user_key", "day", n=roll.events)
    else:
        if names is not None:
            roll = roll.group_by(["user_key", "day"]).aggregate(
                events=roll.events.sum(), amount=roll.amount.sum(), first_ts=roll.first_ts.min()
            )
        past = _shape(roll, ts=roll.first_ts, n=roll.events, amount=roll.amount.fill_null(0.0))
    if bounds.whole:
        return past
    ev = _events(ws, names, bounds)
    ev = ev.filter(ev.day == bounds.end_day)
    last = ev.group_by(["user_key", "day"]).aggregate(
        first_ts=ev.ts.min(), events=ev.count(), amount=ev.amount.fill_null(0.0).sum()
    )
    last = _shape(last, ts=last.first_ts, n=last.events, amount=last.amount)
    if lean:
        last = last.select("user_key", "day", "n")
        past = past.select(user_key=past.user_key.cast("int64"), day=past.day.cast("int32"), n=past.n.cast("int64"))
    return past.union(last, distinct=False)
