"""Revenue by acquisition cohort: NRR, GRR and ARPU, read from the ``user_day`` rollup.

Definitions (the reference in ``tests/metrics/money_reference.py`` is written from these paragraphs, not from
the code):

*data_end.* "Now": an instant (naive UTC, or aware and converted to UTC); default the last event time. Events
after it do not exist for the query. The *end day* is the local day (workspace time zone) of ``data_end``, the
*end period* that day's period.

*Cohort.* A user's day 0 is their first active local day (first event up to ``data_end``); their cohort is the
calendar period (day / week / month / quarter, local, weeks starting on the workspace's week start) holding day 0.
Every user with an event is in exactly one cohort; the ``users`` table is read only for a breakdown.

*Revenue.* ``rev(u, k)`` is the sum of ``amount`` (null counts as 0) of user ``u``'s events in period
``cohort + k``, read from ``user_day.amount`` (the day holding ``data_end`` is re-read from ``events`` with
``ts <= data_end``). A user is *active* in period ``cohort + k`` when they have an event in it (revenue or not).

*Cells.* One row per (breakdown, cohort, period_offset ``k`` = 0..``periods``):

- ``cohort_size``: users of the cohort; ``active_users``: those active in period ``k``;
- ``revenue`` = Σ_u rev(u, k); ``base_revenue`` = the cohort's revenue at ``k = 0``;
- ``retained_revenue`` = Σ_u min(rev(u, k), rev(u, 0)): each user's revenue capped at their own period-0 revenue
  (a user with no period-0 revenue contributes nothing);
- ``nrr`` = revenue / base_revenue (expansion included, may exceed 1); ``grr`` = retained_revenue / base_revenue
  (never above 1 while amounts are not negative); both null when ``base_revenue <= 0``;
- ``arpu`` = revenue / cohort_size; ``arpu_active`` = revenue / active_users (null with no active user);
- ``incomplete``: period ``cohort + k`` is not fully elapsed by ``data_end``, i.e. ``cohort + k >= end period``
  (the period holding ``data_end`` is incomplete, as in the retention table). Cells wholly after ``data_end`` are
  reported too (zero revenue, incomplete).

*Breakdown.* A column of the ``users`` table (as text); users without a ``users`` row or with a null value get
``"(none)"``; without a breakdown every row's breakdown is ``"all"``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any, Literal
from zoneinfo import ZoneInfo

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from liuliang.errors import LiuliangError, WorkspaceError
from liuliang.metrics.result import LongResult
from liuliang.metrics.retention.activity import Bounds, day_grain
from liuliang.metrics.retention.result import period_start
from liuliang.warehouse import Workspace, periods
from liuliang.warehouse import tables as T

MoneyPeriod = Literal["day", "week", "month", "quarter"]
PERIODS = ("day", "week", "month", "quarter")
NO_VALUE = "(none)"
ALL = "all"
_EPOCH = dt.date(1970, 1, 1)

REVENUE_SCHEMA = pa.schema(
    [
        ("breakdown", pa.string()),
        ("cohort", pa.int64()),
        ("period_offset", pa.int64()),
        ("cohort_size", pa.int64()),
        ("active_users", pa.int64()),
        ("revenue", pa.float64()),
        ("base_revenue", pa.float64()),
        ("retained_revenue", pa.float64()),
        ("nrr", pa.float64()),
        ("grr", pa.float64()),
        ("arpu", pa.float64()),
        ("arpu_active", pa.float64()),
        ("incomplete", pa.bool_()),
    ]
)


class MoneySpecError(LiuliangError):
    """A money-metric spec that cannot be run as asked; ``code`` is stable (tests and UIs match on it)."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(f"{message} [{code}]")


def check_period(name: str, owner: str) -> None:
    if name not in PERIODS:
        raise MoneySpecError("money_period", f"{owner}.period must be one of {', '.join(PERIODS)}; got {name!r}")


@dataclass(frozen=True)
class RevenueSpec:
    """Cohort revenue query.

    Parameters
    ----------
    period: ``day`` | ``week`` | ``month`` | ``quarter`` (calendar periods in the workspace time zone).
    periods: last period offset reported (cells 0..periods).
    breakdown: column of the ``users`` table to split by, or ``None``.
    """

    period: MoneyPeriod = "month"
    periods: int = 6
    breakdown: str | None = None

    def validate(self) -> RevenueSpec:
        check_period(self.period, "RevenueSpec")
        if not isinstance(self.periods, int) or self.periods < 0:
            raise MoneySpecError("money_periods", f"RevenueSpec.periods must be an integer >= 0; got {self.periods!r}")
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- shared helpers (also used by liuliang.metrics.acquisition) ------------------------------------------------------
@dataclass(frozen=True)
class Span:
    """Resolved before building: ``data_end`` (naive UTC), its local day, and the first event time."""

    data_end: dt.datetime
    end_day: int
    first_ts: dt.datetime

    @property
    def bounds(self) -> Bounds:
        return Bounds(self.data_end, self.end_day)


def local_day_of(instant: dt.datetime, tz: str) -> int:
    """Local day number of a naive-UTC instant."""
    local = instant.replace(tzinfo=dt.UTC).astimezone(ZoneInfo(tz))
    return (local.date() - _EPOCH).days


def period_of_day_number(day: int, period: str, week_start: str) -> int:
    """Python twin of :func:`liuliang.warehouse.periods.period_of_day` for one day number."""
    if period == "day":
        return day
    if period == "week":
        return (day + (3 - periods.WEEKDAYS.index(week_start)) % 7) // 7
    date = periods.date_of_day(day)
    month = date.year * 12 + date.month - 1
    return month if period == "month" else month // 3


def resolve_span(ws: Workspace, data_end: dt.datetime | None) -> Span | None:
    """``data_end`` (default: last event time) and the first event time; ``None`` for a workspace without events."""
    events = ws.event_span()
    if events is None:
        return None
    end = data_end if data_end is not None else events.last_ts
    if end.tzinfo is not None:
        end = end.astimezone(dt.UTC).replace(tzinfo=None)
    return Span(data_end=end, end_day=local_day_of(end, ws.settings.tz), first_ts=min(events.first_ts, end))


def activity(ws: Workspace, span: Span) -> ir.Table:
    """One row per (user_key, local day) with events up to ``data_end``: ``user_key, day, ts, n, amount``."""
    return day_grain(ws, None, span.bounds)


def users_attribute(ws: Workspace, column: str, why: str) -> ir.Table:
    """``(user_key, value)`` with ``value`` the users column as text (nulls kept)."""
    if not ws.has_table(T.USERS):
        raise WorkspaceError(f"{why} reads the users table; ingest it first (table='users')")
    users = ws.table(T.USERS)
    if column not in users.columns:
        raise WorkspaceError(f"the users table has no column {column!r}; columns: {', '.join(users.columns)}")
    return users.select("user_key", value=users[column].cast("string"))


def with_breakdown(ws: Workspace, t: ir.Table, column: str | None, name: str = "breakdown") -> ir.Table:
    """``t`` plus a ``name`` column: the users column's value, ``"(none)"`` when missing, ``"all"`` without one."""
    if column is None:
        return t.mutate(**{name: ibis.literal(ALL)})
    attr = users_attribute(ws, column, f"a breakdown by {column!r}")
    joined = left_join(t, attr, ["user_key"])
    return joined.mutate(**{name: joined.value.fill_null(NO_VALUE)}).drop("value")


def left_join(left: ir.Table, right: ir.Table, on: list[str]) -> ir.Table:
    """Left join on same-named keys, keeping the left table's key columns only."""
    joined = left.left_join(right, on)
    return joined.select(*[c for c in joined.columns if not (c.endswith("_right") and c[: -len("_right")] in on)])


def first_days(act: ir.Table) -> ir.Table:
    """``(user_key, day0)``: each user's first active local day."""
    return act.group_by("user_key").aggregate(day0=act.day.min())


def period_revenue(act: ir.Table, members: ir.Table, period: str, week_start: str) -> ir.Table:
    """``(user_key, period_offset, rev)``: revenue per member and active period offset (members carry ``cohort``)."""
    p = act.mutate(p=periods.period_of_day(act.day, period, week_start).cast("int64"))
    per = p.group_by(["user_key", "p"]).aggregate(rev=p.amount.sum())
    per = per.join(members.select("user_key", "cohort"), "user_key")
    return per.select("user_key", period_offset=per.p - per.cohort, rev=per.rev)


def cohort_members(ws: Workspace, act: ir.Table, period: str, breakdown: str | None) -> ir.Table:
    """``(user_key, day0, cohort, breakdown)`` of every active user."""
    m = first_days(act)
    m = m.mutate(cohort=periods.period_of_day(m.day0, period, ws.settings.week_start).cast("int64"))
    return with_breakdown(ws, m, breakdown)


def ratio(num: ir.NumericValue, den: ir.NumericValue, *, positive: bool = False) -> ir.FloatingValue:
    """``num / den`` as float64, null when ``den`` is 0 (``positive``: when ``den <= 0``)."""
    ok = den > 0 if positive else den != 0
    return ibis.ifelse(ok, num.cast("float64") / den.cast("float64"), ibis.null("float64"))


def shape(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """Columns in schema order and types (engines differ in integer widths)."""
    return pa.Table.from_arrays([table[f.name].cast(f.type) for f in schema], schema=schema)


# -- the revenue table -------------------------------------------------------------------------------------------
def revenue_expr(ws: Workspace, spec: RevenueSpec, span: Span) -> ir.Table:
    """The cohort revenue cells as one Ibis expression (build only)."""
    act = activity(ws, span)
    members = cohort_members(ws, act, spec.period, spec.breakdown)
    per = period_revenue(act, members, spec.period, ws.settings.week_start)
    per = per.filter(per.period_offset <= spec.periods)
    rev0 = per.filter(per.period_offset == 0).select("user_key", rev0=per.rev)
    offsets = ibis.memtable({"period_offset": list(range(spec.periods + 1))}, schema={"period_offset": "int64"})
    grid = members.select("user_key", "cohort", "breakdown").cross_join(offsets)
    grid = left_join(grid, per, ["user_key", "period_offset"])
    grid = left_join(grid, rev0, ["user_key"])
    rev = grid.rev.fill_null(0.0)
    base = grid.rev0.fill_null(0.0)
    grid = grid.mutate(r=rev, capped=ibis.ifelse(rev < base, rev, base), active=grid.rev.notnull().cast("int64"))
    agg = grid.group_by(["breakdown", "cohort", "period_offset"]).aggregate(
        cohort_size=grid.count(),
        active_users=grid.active.sum(),
        revenue=grid.r.sum(),
        retained_revenue=grid.capped.sum(),
    )
    win = ibis.window(group_by=["breakdown", "cohort"], order_by="period_offset")
    agg = agg.mutate(base_revenue=agg.revenue.first().over(win))
    end_period = period_of_day_number(span.end_day, spec.period, ws.settings.week_start)
    agg = agg.mutate(
        nrr=ratio(agg.revenue, agg.base_revenue, positive=True),
        grr=ratio(agg.retained_revenue, agg.base_revenue, positive=True),
        arpu=ratio(agg.revenue, agg.cohort_size),
        arpu_active=ratio(agg.revenue, agg.active_users),
        incomplete=(agg.cohort + agg.period_offset) >= end_period,
    )
    return agg.select(*REVENUE_SCHEMA.names).order_by(["breakdown", "cohort", "period_offset"])


@dataclass(frozen=True)
class RevenueTable(LongResult):
    """Cohort revenue cells of one :class:`RevenueSpec`.

    Attributes
    ----------
    spec: the validated spec.
    table: long Arrow table, schema :data:`REVENUE_SCHEMA` (one row per breakdown, cohort, period_offset).
    data_end: the resolved "now" (naive UTC), ``None`` for a workspace without events.
    week_start: the workspace's week start (to label week cohorts).
    """

    spec: RevenueSpec
    table: pa.Table
    data_end: dt.datetime | None
    week_start: str = "monday"

    def cohort_start(self, cohort: int) -> dt.date:
        """Local first day of an integer cohort period."""
        return period_start(cohort, self.spec.period, self.week_start)  # type: ignore[return-value]

    def cell(self, cohort: int, period_offset: int, breakdown: str = ALL) -> dict[str, Any]:
        for r in self.table.to_pylist():
            if (r["breakdown"], r["cohort"], r["period_offset"]) == (breakdown, cohort, period_offset):
                return r
        raise KeyError((breakdown, cohort, period_offset))

    def __repr__(self) -> str:
        cohorts = len(set(self.table["cohort"].to_pylist())) if self.table.num_rows else 0
        return f"RevenueTable({self.spec.period}, {cohorts} cohorts, data_end={self.data_end})"


def cohort_revenue(
    ws: Workspace, spec: RevenueSpec | None = None, *, data_end: dt.datetime | None = None
) -> RevenueTable:
    """NRR, GRR and ARPU per cohort and period offset; ``data_end`` is "now" (default: the last event time)."""
    spec = (spec or RevenueSpec()).validate()
    span = resolve_span(ws, data_end)
    if span is None:
        return RevenueTable(spec, REVENUE_SCHEMA.empty_table(), None, ws.settings.week_start)
    # compiled SQL kept per (spec, span) until the workspace writes: building and compiling cost ~150 ms a call
    table = shape(ws.query(("cohort_revenue", spec, span), lambda: revenue_expr(ws, spec, span)), REVENUE_SCHEMA)
    return RevenueTable(spec, table, span.data_end, ws.settings.week_start)
