"""The retention runner: a :class:`RetentionSpec` in, a :class:`RetentionTable` out.

Building (:meth:`RetentionRunner.to_expr`, Ibis expressions only) is separate from running
(:meth:`RetentionRunner.run`, which resolves ``data_end`` first, executes once and shapes the result). The clock is
never read: ``data_end`` defaults to the last event time in the data.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from liuliang.metrics.retention import activity, counts
from liuliang.metrics.retention.activity import Bounds
from liuliang.metrics.retention.cohorts import ALL, Clock, members
from liuliang.metrics.retention.result import RESULT_SCHEMA, RetentionTable
from liuliang.metrics.retention.spec import RetentionSpec
from liuliang.warehouse import Workspace
from liuliang.warehouse import tables as T

KEYS = ["user_key", "cohort", "breakdown"]  # a member (with an event-property breakdown, per value)
CELL_KEYS = ["breakdown", "cohort", "period_offset"]


@dataclass(frozen=True)
class Resolved:
    """Everything read from the warehouse before building: the data's time span."""

    data_end: dt.datetime
    first_ts: dt.datetime
    last_ts: dt.datetime


class RetentionRunner:
    """Builds and runs one retention query on a workspace.

    >>> RetentionRunner(ws, RetentionSpec(period="week")).run().mean()  # doctest: +SKIP
    """

    def __init__(self, ws: Workspace, spec: RetentionSpec, *, data_end: dt.datetime | None = None) -> None:
        self.ws, self.spec, self.data_end = ws, spec, data_end

    # -- checks -------------------------------------------------------------------------------------------------
    def check(self) -> None:
        self.spec.validate()

    def resolve(self) -> Resolved | None:
        """The data's first event and ``data_end`` (None when there are no events)."""
        span = self.ws.event_span()
        if span is None:
            return None
        lo = span.first_ts
        if self.spec.cohorting == "signup" and self.ws.has_table(T.USERS):
            u = self.ws.table(T.USERS)
            s = self.ws.engine.to_arrow(u.aggregate(lo=u.signup_ts.min())).to_pylist()[0]["lo"]
            lo = min(lo, s) if s is not None else lo
        end = self.data_end if self.data_end is not None else span.last_ts
        if end.tzinfo is not None:
            end = end.astimezone(dt.UTC).replace(tzinfo=None)
        return Resolved(data_end=end, first_ts=min(lo, end), last_ts=span.last_ts)

    def clock(self, resolved: Resolved) -> Clock:
        segs = self.ws.offset_segments(resolved.first_ts, resolved.data_end)
        return Clock(self.spec, self.ws.settings.tz, self.ws.settings.week_start, tuple(segs))

    # -- building -----------------------------------------------------------------------------------------------
    def _fine(self) -> bool:
        s = self.spec
        return (
            s.period == "hour"
            or (s.window == "rolling" and s.period == "day")
            or s.period_zero == ("returns_after_start")
        )

    def filtered(self) -> bool:
        """Whether start or return rows need event properties (then they are read from ``events``)."""
        s = self.spec
        return bool(s.start_where or s.return_where or s.breakdown_event_property is not None)

    def aggregated(self) -> bool:
        """Whether the query is the small count query of :mod:`.counts` (calendar periods, counting users)."""
        return counts.applies(self.spec, self._fine()) and not self.filtered()

    def to_expr(self, resolved: Resolved) -> ir.Table:
        """The whole query as one Ibis expression (build only): the result table, or for :meth:`aggregated` specs
        the count rows of :func:`counts.counts_expr`."""
        spec, ws = self.spec, self.ws
        clock = self.clock(resolved)
        bounds = Bounds(resolved.data_end, clock.day_of(resolved.data_end), whole=resolved.data_end >= resolved.last_ts)
        if self.aggregated():
            returns = activity.day_grain(ws, spec.return_events, bounds, lean=True)
            starts = None
            if spec.cohorting != "signup":
                same = spec.start_events == spec.return_events
                starts = returns if same else activity.day_grain(ws, spec.start_events, bounds, lean=True)
            m = members(ws, spec, clock, starts, resolved.data_end, with_start=False)
            return counts.counts_expr(spec, clock, m, returns, unique_days=spec.period == "day")
        first_ever = None
        if self.filtered():
            prop = spec.breakdown_event_property
            starts = None
            if spec.cohorting != "signup":
                starts = activity.filtered_grain(ws, spec.start_events, spec.start_where, prop, bounds, "start_where")
            returns = activity.filtered_grain(ws, spec.return_events, spec.return_where, prop, bounds, "return_where")
            if spec.cohorting == "first_matching":
                ev = activity.event_grain(ws, spec.start_events, bounds)
                first_ever = ev.group_by("user_key").aggregate(first_ts=ev.ts.min())
        else:
            grain = activity.event_grain if self._fine() else activity.day_grain
            starts = grain(ws, spec.start_events, bounds) if spec.cohorting != "signup" else None
            returns = grain(ws, spec.return_events, bounds)
        m = members(ws, spec, clock, starts, resolved.data_end, first_ever=first_ever)
        m = m.mutate(end_offset=self._end_offset(m, clock, resolved.data_end))

        active_all = self._active(m, returns, clock)
        active = active_all.filter(active_all.offset > 0) if spec.period_zero == "cohort" else active_all
        cells = ibis.memtable(
            {
                "period_offset": [c[0] for c in spec.cells()],
                "offset_lo": [c[1] for c in spec.cells()],
                "offset_hi": [c[2] for c in spec.cells()],
            },
            schema={"period_offset": "int64", "offset_lo": "int64", "offset_hi": "int64"},
        )
        grid = self._member_cells(m, cells, active, active_all)
        agg = self._aggregate(grid)
        agg = self._complete(agg, m, cells, clock, resolved.data_end)
        return self._rates(agg)

    @staticmethod
    def _end_offset(m: ir.Table, clock: Clock, data_end: dt.datetime) -> ir.IntegerValue:
        spec = clock.spec
        if spec.window == "calendar":
            elapsed = ibis.literal(clock.cohort_of_instant(data_end), "int64") - m.cohort
        elif spec.period == "day":
            end_hour = int((data_end.replace(microsecond=0) - dt.datetime(1970, 1, 1)).total_seconds()) // 3600
            elapsed = ibis.literal(end_hour, "int64") - clock.epoch_hour(m.start_ts)
        else:
            elapsed = ibis.literal(clock.day_of(data_end), "int64") - m.start_day.cast("int64")
        return elapsed // clock.length()  # data_end is never before a member's start: elapsed >= 0

    def _active(self, m: ir.Table, returns: ir.Table, clock: Clock) -> ir.Table:
        """Active offsets of each member: ``(user_key, cohort, offset, amount)`` with n >= min_occurrences."""
        on = ["user_key"]
        if self.spec.breakdown_event_property is not None:
            on.append("breakdown")  # returns count only for the member with the start's value
        elif "breakdown" in returns.columns:
            returns = returns.drop("breakdown")
        j = returns.join(m.select("user_key", "cohort", "start_ts", "start_day", "breakdown"), on)
        j = j.mutate(elapsed=clock.elapsed(j.day, j.ts, j.cohort, j.start_day, j.start_ts))
        j = j.filter(j.elapsed >= 0)  # before dividing: engines differ on negative integer division
        j = j.mutate(offset=j.elapsed // clock.length())
        if self.spec.period_zero == "returns_after_start":
            j = j.filter((j.offset > 0) | (j.ts >= j.start_ts))
        a = j.group_by([*KEYS, "offset"]).aggregate(n=j.n.sum(), amount=j.amount.sum())
        return a.filter(a.n >= self.spec.min_occurrences).select(*KEYS, "offset", "amount")

    def _member_cells(self, m: ir.Table, cells: ir.Table, active: ir.Table, active_all: ir.Table) -> ir.Table:
        """One row per (member, cell) with whether the member counts in it and its value."""
        spec = self.spec
        grid = m.cross_join(cells)
        if spec.criterion in ("on", "brackets"):
            hits = active.join(cells, [active.offset >= cells.offset_lo, active.offset <= cells.offset_hi])
            hits = hits.group_by([*KEYS, "period_offset"]).aggregate(hit=hits.count())
            grid = _left(grid, hits, [*KEYS, "period_offset"])
            retained = grid.hit.notnull()
        else:
            summary = active.group_by(KEYS).aggregate(
                max_a=active.offset.max(), min_a=active.offset.min(), has0=(active.offset == 0).cast("int64").max()
            )
            pos = active.filter(active.offset >= 1)
            pos = pos.mutate(rn=ibis.row_number().over(group_by=KEYS, order_by=pos.offset))
            streak = pos.group_by(KEYS).aggregate(streak=(pos.offset == pos.rn + 1).cast("int64").sum())
            summary = summary.left_join(streak, KEYS).select(*KEYS, "max_a", "min_a", "has0", "streak")
            grid = _left(grid, summary, KEYS)
            if spec.criterion == "on_or_after":
                retained = (grid.max_a >= grid.offset_lo).fill_null(False)
            elif spec.criterion == "on_or_before":
                retained = (grid.min_a <= grid.offset_hi).fill_null(False)
            else:  # streak
                retained = ibis.ifelse(
                    grid.offset_hi == 0, grid.has0.fill_null(0) == 1, grid.streak.fill_null(0) >= grid.offset_hi
                )
        if spec.period_zero == "cohort":
            retained = retained | (grid.period_offset == 0)
        observed = grid.end_offset > grid.offset_hi
        counted = retained & observed if spec.denominator == "observed" else retained
        grid = grid.mutate(retained=counted, observed=observed)
        if spec.aggregation == "users":
            return grid.mutate(amount=ibis.literal(0.0))
        lo = cells.offset_lo if spec.criterion != "on_or_before" else ibis.literal(0, "int64")
        val = active_all.join(cells, [active_all.offset >= lo, active_all.offset <= cells.offset_hi])
        val = val.group_by([*KEYS, "period_offset"]).aggregate(amount=val.amount.sum())
        grid = _left(grid, val, [*KEYS, "period_offset"])
        return grid.mutate(amount=ibis.ifelse(grid.retained, grid.amount.fill_null(0.0), 0.0))

    @staticmethod
    def _aggregate(grid: ir.Table) -> ir.Table:
        return grid.group_by([*CELL_KEYS, "offset_lo", "offset_hi"]).aggregate(
            cohort_size=grid.count(),
            observed=grid.observed.cast("int64").sum(),
            count=grid.retained.cast("int64").sum(),
            total=grid.amount.sum(),
            incomplete=(grid.end_offset <= grid.offset_hi).any(),
        )

    def _complete(self, agg: ir.Table, m: ir.Table, cells: ir.Table, clock: Clock, data_end: dt.datetime) -> ir.Table:
        """Add the empty cohorts of the date range (only with a ``date_from``: without one there is no start)."""
        lo, hi = clock.cohort_range()
        if lo is None:
            return agg
        end = clock.cohort_of_instant(data_end)
        hi = end if hi is None else min(hi, end)
        cohorts = ibis.memtable({"cohort": list(range(lo, hi + 1))}, schema={"cohort": "int64"})
        if self.spec.breakdown is None and self.spec.breakdown_event_property is None:
            values = ibis.memtable({"breakdown": [ALL]}, schema={"breakdown": "string"})
        else:
            values = m.select("breakdown").distinct()
        frame = values.cross_join(cohorts).cross_join(cells)
        full = frame.left_join(agg, CELL_KEYS)
        return full.select(
            *CELL_KEYS,
            "offset_lo",
            "offset_hi",
            cohort_size=full.cohort_size.fill_null(0),
            observed=full.observed.fill_null(0),
            count=full["count"].fill_null(0),
            total=full.total.fill_null(0.0),
            incomplete=full.incomplete.fill_null(full.cohort + full.offset_hi >= end),
        )

    def _rates(self, agg: ir.Table) -> ir.Table:
        spec = self.spec
        win = ibis.window(group_by=["breakdown", "cohort"], order_by="period_offset")
        count = agg["count"].cast("float64")
        if spec.aggregation == "users":
            value = count
        elif spec.aggregation == "sum":
            value = agg.total
        else:
            value = ibis.ifelse(agg["count"] > 0, agg.total / count, ibis.null("float64"))
        agg = agg.mutate(value=value)
        if spec.aggregation == "users":
            base = (agg.observed if spec.denominator == "observed" else agg.cohort_size).cast("float64")
        else:
            base = agg.value.first().over(win)
        if spec.reference == "previous":
            prev = agg.value.lag().over(win)
            base = ibis.ifelse(agg.period_offset == 0, base, prev)
        agg = agg.mutate(base=base.cast("float64"))
        agg = agg.mutate(rate=ibis.ifelse(agg.base > 0, agg.value / agg.base, ibis.null("float64")))
        return agg.select(*RESULT_SCHEMA.names).order_by(CELL_KEYS)

    # -- running ------------------------------------------------------------------------------------------------
    def run(self) -> RetentionTable:
        self.check()
        ws = self.ws
        self.ws = _Tables(ws)  # type: ignore[assignment]
        try:
            return self._run()
        finally:
            self.ws = ws

    def _run(self) -> RetentionTable:
        resolved = self.resolve()
        if resolved is None:
            return RetentionTable(self.spec, RESULT_SCHEMA.empty_table(), None, self.ws.settings.week_start)
        # The key holds everything the expression depends on: the spec and the data's resolved span.
        table = self.ws.query(("retention", self.spec, resolved), lambda: self.to_expr(resolved))
        if self.aggregated():
            clock = self.clock(resolved)
            end = clock.cohort_of_instant(resolved.data_end)
            table = counts.shape(self.spec, table, end, clock.cohort_range())
            return RetentionTable(self.spec, table, resolved.data_end, self.ws.settings.week_start)
        table = pa.Table.from_arrays(
            [table[n].cast(f.type) for n, f in zip(RESULT_SCHEMA.names, RESULT_SCHEMA, strict=True)],
            schema=RESULT_SCHEMA,
        )
        return RetentionTable(self.spec, table, resolved.data_end, self.ws.settings.week_start)


class _Tables:
    """The workspace with its table lookups memoised for one run (each lookup is a catalog query or two)."""

    def __init__(self, ws: Workspace) -> None:
        self._ws = ws
        self._tables: dict[str, ir.Table] = {}
        self._has: dict[str, bool] = {}

    def table(self, name: str) -> ir.Table:
        if name not in self._tables:
            self._tables[name] = self._ws.table(name)
        return self._tables[name]

    def has_table(self, name: str) -> bool:
        if name not in self._has:
            self._has[name] = name in self._tables or self._ws.has_table(name)
        return self._has[name]

    def user_day(self) -> ir.Table:
        return self.table(T.USER_DAY)

    def user_day_event(self) -> ir.Table:
        return self.table(T.USER_DAY_EVENT)

    def __getattr__(self, name: str) -> object:
        return getattr(self._ws, name)


def _left(left: ir.Table, right: ir.Table, on: list[str]) -> ir.Table:
    """Left join on same-named keys, keeping the left table's key columns only."""
    joined = left.left_join(right, on)
    return joined.select(*[c for c in joined.columns if not (c.endswith("_right") and c[: -len("_right")] in on)])


def retention(
    ws: Workspace, spec: RetentionSpec | None = None, *, data_end: dt.datetime | None = None
) -> RetentionTable:
    """Run ``spec`` (default: first-time daily retention) on ``ws``; ``data_end`` is "now" (default: last event)."""
    return RetentionRunner(ws, spec or RetentionSpec(), data_end=data_end).run()
