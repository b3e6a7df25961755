"""Cohort members: ``(user_key, cohort, start_ts, start_day, breakdown)`` as an Ibis expression.

A member is a (user, cohort period) pair; only ``recurring`` cohorting gives a user more than one. Period numbers
are integers (see :mod:`liuliang.warehouse.periods`); everything after this module is integer arithmetic.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import ibis
import ibis.expr.types as ir

from liuliang.errors import WorkspaceError
from liuliang.metrics.retention.activity import ALL, NO_VALUE
from liuliang.metrics.retention.filters import predicate
from liuliang.metrics.retention.spec import ROLLING_LENGTH, RetentionSpec
from liuliang.warehouse import Workspace, periods
from liuliang.warehouse import tables as T

_EPOCH = dt.datetime(1970, 1, 1)


@dataclass(frozen=True)
class Clock:
    """Turns days and instants into the spec's period numbers and offsets (expressions and Python scalars)."""

    spec: RetentionSpec
    tz: str
    week_start: str
    segments: tuple[periods.OffsetSegment, ...]

    # -- expressions ------------------------------------------------------------------------------------------
    def cohort_of(self, day: ir.IntegerValue, ts: ir.TimestampValue | None) -> ir.IntegerValue:
        """Calendar period of a row (the cohort label, also used by rolling windows); ``ts`` only for hours."""
        if self.spec.period == "hour":
            return (periods.local_seconds(ts, list(self.segments)) // 3600).cast("int64")
        return periods.period_of_day(day, self.spec.period, self.week_start).cast("int64")

    def local_day(self, ts: ir.TimestampValue) -> ir.IntegerValue:
        return periods.local_day(ts, list(self.segments))

    @staticmethod
    def epoch_hour(ts: ir.TimestampValue) -> ir.IntegerValue:
        return ts.truncate("s").epoch_seconds().cast("int64") // 3600

    def elapsed(
        self,
        day: ir.IntegerValue,
        ts: ir.TimestampValue,
        cohort: ir.IntegerValue,
        start_day: ir.IntegerValue,
        start_ts: ir.TimestampValue,
    ) -> ir.IntegerValue:
        """Units elapsed from a member's start to a row (may be negative); ``offset = elapsed // length``."""
        if self.spec.window == "calendar":
            return self.cohort_of(day, ts) - cohort
        if self.spec.period == "day":
            return self.epoch_hour(ts) - self.epoch_hour(start_ts)
        return (day - start_day).cast("int64")

    def length(self) -> int:
        return 1 if self.spec.window == "calendar" else ROLLING_LENGTH[self.spec.period]

    # -- scalars ----------------------------------------------------------------------------------------------
    def local_naive(self, instant: dt.datetime) -> dt.datetime:
        return instant.replace(tzinfo=dt.UTC).astimezone(ZoneInfo(self.tz)).replace(tzinfo=None)

    def day_of(self, instant: dt.datetime) -> int:
        return (self.local_naive(instant).date() - _EPOCH.date()).days

    def period_of_date(self, day: int) -> int:
        """Python twin of :func:`periods.period_of_day` for one day number."""
        p = self.spec.period
        date = periods.date_of_day(day)
        if p in ("day", "hour"):
            return day if p == "day" else day * 24
        if p == "week":
            shift = (3 - periods.WEEKDAYS.index(self.week_start)) % 7
            return (day + shift) // 7
        if p == "month":
            return date.year * 12 + date.month - 1
        return date.year * 4 + (date.month - 1) // 3

    def cohort_of_instant(self, instant: dt.datetime) -> int:
        if self.spec.period == "hour":
            return int((self.local_naive(instant.replace(microsecond=0)) - _EPOCH).total_seconds()) // 3600
        return self.period_of_date(self.day_of(instant))

    def cohort_range(self) -> tuple[int | None, int | None]:
        """Inclusive cohort numbers of the spec's date range (``None`` where unbounded)."""
        lo = hi = None
        if self.spec.date_from is not None:
            lo = self.period_of_date(periods.day_number(self.spec.date_from))
        if self.spec.date_to is not None:
            d = periods.day_number(self.spec.date_to)
            hi = d * 24 + 23 if self.spec.period == "hour" else self.period_of_date(d)
        return lo, hi


def _in_range(cohort: ir.IntegerValue, lo: int | None, hi: int | None) -> ir.BooleanValue:
    cond = ibis.literal(True)
    if lo is not None:
        cond &= cohort >= lo
    if hi is not None:
        cond &= cohort <= hi
    return cond


def members(
    ws: Workspace,
    spec: RetentionSpec,
    clock: Clock,
    starts: ir.Table,
    data_end: dt.datetime,
    *,
    with_start: bool = True,
    first_ever: ir.Table | None = None,
) -> ir.Table:
    """Cohort members of ``spec`` from start rows (activity columns) or, for ``signup``, the users table.

    ``with_start=False`` (calendar day-based periods only) leaves out ``start_ts`` and ``start_day``:
    ``(user_key, cohort, breakdown)``. With ``breakdown_event_property`` the start rows carry a ``breakdown``
    column and members are formed per value. ``first_ever`` (``first_matching`` with ``start_where``):
    ``(user_key, first_ts)``, each user's first start event ignoring the filters; members must start then.
    """
    by_value = spec.breakdown_event_property is not None
    lo, hi = clock.cohort_range()
    if spec.cohorting == "signup":
        users = _users(ws, "signup")
        users = users.filter(users.signup_ts.notnull() & (users.signup_ts <= data_end))
        m = users.select(
            "user_key", start_ts=users.signup_ts.cast("timestamp"), start_day=clock.local_day(users.signup_ts)
        )
        m = m.mutate(cohort=clock.cohort_of(m.start_day, m.start_ts))
    else:
        s = starts.mutate(cohort=clock.cohort_of(starts.day, starts.ts if spec.period == "hour" else None))
        if spec.cohorting == "first_in_range":
            s = s.filter(_in_range(s.cohort, lo, hi))
        keys = ["user_key", "cohort"] if spec.cohorting == "recurring" else ["user_key"]
        if by_value:
            keys.append("breakdown")
        if not with_start and spec.cohorting == "recurring":
            m = s.select(*keys).distinct()
        elif not with_start:
            m = s.group_by(keys).aggregate(start_day=s.day.min())
            m = m.mutate(cohort=clock.cohort_of(m.start_day, None))
        else:
            m = s.group_by(keys).aggregate(start_ts=s.ts.min(), start_day=s.day.min())
            if first_ever is not None:
                fe = first_ever.select(_fu="user_key", _fts="first_ts")
                m = m.join(fe, m.user_key == fe._fu).filter(lambda t: t.start_ts == t._fts)
                m = m.drop("_fu", "_fts")
            if spec.cohorting != "recurring":
                m = m.mutate(cohort=clock.cohort_of(m.start_day, m.start_ts))
    m = m.filter(_in_range(m.cohort, lo, hi))
    if spec.user_where:
        users = _users(ws, "user_where")
        ok = users.filter(predicate(users, spec.user_where, "users", "user_where")).select(_uk="user_key")
        m = m.semi_join(ok, m.user_key == ok._uk)
    extra = ("breakdown",) if by_value else ()
    if with_start:
        m = m.select(
            "user_key",
            *extra,
            cohort=m.cohort.cast("int64"),
            start_ts="start_ts",
            start_day=m.start_day.cast("int32"),
        )
    else:
        m = m.select("user_key", *extra, cohort=m.cohort.cast("int64"))
    start_cols = ("start_ts", "start_day") if with_start else ()
    if by_value:
        return m.select("user_key", "cohort", *start_cols, "breakdown")
    if spec.breakdown is None:
        return m.mutate(breakdown=ibis.literal(ALL))
    users = _users(ws, f"breakdown={spec.breakdown!r}")
    if spec.breakdown not in users.columns:
        raise WorkspaceError(f"the users table has no column {spec.breakdown!r}; columns: {', '.join(users.columns)}")
    attr = users.select("user_key", _b=users[spec.breakdown].cast("string"))
    m = m.left_join(attr, "user_key")
    return m.select("user_key", "cohort", *start_cols, breakdown=m._b.fill_null(NO_VALUE))


def _users(ws: Workspace, why: str) -> ir.Table:
    if not ws.has_table(T.USERS):
        raise WorkspaceError(f"retention with {why} reads the users table; ingest it first (table='users')")
    return ws.table(T.USERS)
