"""What users cost: CAC per channel and campaign, cost per retained user, and the payback period.

Definitions (the reference in ``tests/metrics/money_reference.py`` is written from these paragraphs, not from
the code). ``data_end``, the end day and the end period are as in :mod:`liuliang.metrics.revenue`: nothing after
``data_end`` exists (events, incentives, signups).

*Acquired users and the acquisition day.* A user is acquired by ``data_end`` when they have a ``users`` row with
``signup_ts <= data_end`` or any event up to ``data_end``. Their *acquisition day* is the earlier of the local day
of ``signup_ts`` (when ``<= data_end``) and their first active local day (day 0). Users without a ``users`` row
are acquired (by their first event) with no acquisition cost; a ``users`` row without ``signup_ts`` and without
events is not (there is no instant to place it).

*Cost of a user.* ``acquisition_cost`` (null counts as 0; such users are counted in ``cost_missing``) plus the
``cost`` (null = 0) of every incentive granted to the user with ``ts <= data_end`` and a local day in
``[acquisition day, acquisition day + incentive_window_days]`` (default 30, both ends included). Incentives granted
before the acquisition day, or later than the window, are not acquisition costs. A user's window is *open* when it
has not fully elapsed by ``data_end`` (``acquisition day + window >= end day``): their cost may still grow.

*CAC* per segment of each dimension in ``by`` (a ``users`` column, values as text, ``"(none)"`` for null or no
``users`` row; or ``"all"``): ``(Σ acquisition_cost + Σ incentive cost) / acquired users``.

*Cost per retained user at day N* — retention as in :mod:`liuliang.metrics.day_n`: users with an event are the
population, day 0 is the first active local day, a user is *observable* at N when ``day 0 + N <= end day`` and
*retained* when also active (an event up to ``data_end``) on local day ``day 0 + N``. Users not observable at N are
left out of the numerator, the denominator and the cost (their outcome is unknown, so charging their cost to the
observable users would inflate the figure). Per segment and N: ``users`` (all), ``observable``, ``retained``,
``rate = retained / observable``, ``cost`` (total cost, as above, of the observable users) and
``cost_per_retained = cost / retained`` (null when nobody is retained). Dimensions: a ``users`` column, ``"all"``,
or ``"incentive_kind"``: a user belongs to the segment of every incentive kind they were granted with
``ts <= data_end`` on a local day ``<= day 0`` ("before or on day 0"), and to ``"(none)"`` if none; segments
overlap, so they do not add up to the total.

*Payback.* Per (breakdown, cohort), cohorts as in :mod:`liuliang.metrics.revenue` (users with an event, by the
calendar period of day 0): ``users``, ``cost`` (total cost as above), ``cac = cost / users``; for every offset
``k = 0 .. end period - cohort`` the cumulative revenue ``R_k`` of the cohort's users in periods
``cohort .. cohort + k`` (up to ``data_end``). The payback offset is the first ``k`` with
``margin * R_k / users >= cac`` (computed as ``margin * R_k >= cost``); ``None`` with ``reached = False`` when no
offset up to ``data_end`` gets there.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from liuliang.errors import WorkspaceError
from liuliang.metrics.result import LongResult, json_rows
from liuliang.metrics.retention.result import period_start
from liuliang.metrics.revenue import (
    ALL,
    NO_VALUE,
    MoneyPeriod,
    MoneySpecError,
    Span,
    activity,
    check_period,
    first_days,
    left_join,
    local_day_of,
    period_of_day_number,
    period_revenue,
    ratio,
    resolve_span,
    shape,
)
from liuliang.warehouse import Workspace, periods
from liuliang.warehouse import tables as T

INCENTIVE_KIND = "incentive_kind"

CAC_SCHEMA = pa.schema(
    [
        ("dimension", pa.string()),
        ("segment", pa.string()),
        ("users", pa.int64()),
        ("acquisition_cost", pa.float64()),
        ("incentive_cost", pa.float64()),
        ("total_cost", pa.float64()),
        ("cac", pa.float64()),
        ("cost_missing", pa.int64()),
        ("window_open", pa.int64()),
    ]
)

RETAINED_SCHEMA = pa.schema(
    [
        ("dimension", pa.string()),
        ("segment", pa.string()),
        ("day", pa.int64()),
        ("users", pa.int64()),
        ("observable", pa.int64()),
        ("retained", pa.int64()),
        ("rate", pa.float64()),
        ("cost", pa.float64()),
        ("cost_per_retained", pa.float64()),
    ]
)

PAYBACK_SCHEMA = pa.schema(
    [
        ("breakdown", pa.string()),
        ("cohort", pa.int64()),
        ("users", pa.int64()),
        ("cost", pa.float64()),
        ("cac", pa.float64()),
        ("revenue_to_date", pa.float64()),
        ("periods_observed", pa.int64()),
        ("payback_offset", pa.int64()),
        ("reached", pa.bool_()),
    ]
)

CURVE_SCHEMA = pa.schema(
    [
        ("breakdown", pa.string()),
        ("cohort", pa.int64()),
        ("period_offset", pa.int64()),
        ("users", pa.int64()),
        ("cost", pa.float64()),
        ("cac", pa.float64()),
        ("revenue", pa.float64()),
        ("cumulative_revenue", pa.float64()),
        ("cumulative_revenue_per_user", pa.float64()),
        ("reached", pa.bool_()),
        ("incomplete", pa.bool_()),
    ]
)


def _check_window(days: object, owner: str) -> None:
    if not isinstance(days, int) or isinstance(days, bool) or days < 0:
        raise MoneySpecError(
            "money_incentive_window", f"{owner}.incentive_window_days must be an integer >= 0; got {days!r}"
        )


def _check_by(by: tuple[str, ...], owner: str, allowed_special: tuple[str, ...]) -> None:
    if not by:
        raise MoneySpecError("money_by_empty", f"{owner}.by needs at least one dimension (use ('all',) for a total)")
    for d in by:
        if not isinstance(d, str) or not d:
            raise MoneySpecError("money_by", f"{owner}.by entries must be column names; got {d!r}")
        if d.startswith("_") or d in ("user_key", "user_id"):
            raise MoneySpecError("money_by", f"{owner}.by cannot group by {d!r}")
        if d == INCENTIVE_KIND and INCENTIVE_KIND not in allowed_special:
            raise MoneySpecError("money_by", f"{owner}.by cannot use {INCENTIVE_KIND!r}")


@dataclass(frozen=True)
class CacSpec:
    """CAC query.

    Parameters
    ----------
    by: dimensions, each a ``users`` column or ``"all"``; default channel and campaign.
    incentive_window_days: incentives granted on local days ``[acquisition day, acquisition day + N]`` count.
    """

    by: tuple[str, ...] = ("channel", "campaign")
    incentive_window_days: int = 30

    def __post_init__(self) -> None:
        object.__setattr__(self, "by", (self.by,) if isinstance(self.by, str) else tuple(self.by))

    def validate(self) -> CacSpec:
        _check_by(self.by, "CacSpec", ())
        _check_window(self.incentive_window_days, "CacSpec")
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"by": list(self.by)}


@dataclass(frozen=True)
class CostPerRetainedSpec:
    """Cost per retained user.

    Parameters
    ----------
    days: the N of "retained on day N"; default 7 and 30.
    by: dimensions: ``users`` columns, ``"all"`` or ``"incentive_kind"`` (kinds received on or before day 0).
    incentive_window_days: as in :class:`CacSpec`.
    """

    days: tuple[int, ...] = (7, 30)
    by: tuple[str, ...] = ("channel", INCENTIVE_KIND)
    incentive_window_days: int = 30

    def __post_init__(self) -> None:
        object.__setattr__(self, "by", (self.by,) if isinstance(self.by, str) else tuple(self.by))
        object.__setattr__(self, "days", (self.days,) if isinstance(self.days, int) else tuple(self.days))

    def validate(self) -> CostPerRetainedSpec:
        _check_by(self.by, "CostPerRetainedSpec", (INCENTIVE_KIND,))
        _check_window(self.incentive_window_days, "CostPerRetainedSpec")
        if not self.days or any(not isinstance(d, int) or isinstance(d, bool) or d < 0 for d in self.days):
            raise MoneySpecError("money_days", f"CostPerRetainedSpec.days must be integers >= 0; got {self.days!r}")
        if len(set(self.days)) != len(self.days):
            raise MoneySpecError("money_days", f"CostPerRetainedSpec.days has duplicates: {self.days!r}")
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"by": list(self.by), "days": list(self.days)}


@dataclass(frozen=True)
class PaybackSpec:
    """Payback period per breakdown and cohort.

    Parameters
    ----------
    period: cohort and offset period (``day`` | ``week`` | ``month`` | ``quarter``).
    breakdown: a ``users`` column (default ``channel``) or ``None`` (one breakdown, ``"all"``).
    margin: share of revenue that pays back the cost (default 1.0: revenue itself), > 0.
    incentive_window_days: as in :class:`CacSpec`.
    """

    period: MoneyPeriod = "month"
    breakdown: str | None = "channel"
    margin: float = 1.0
    incentive_window_days: int = 30

    def validate(self) -> PaybackSpec:
        check_period(self.period, "PaybackSpec")
        if self.breakdown is not None:
            _check_by((self.breakdown,), "PaybackSpec", ())
        _check_window(self.incentive_window_days, "PaybackSpec")
        if isinstance(self.margin, bool) or not isinstance(self.margin, int | float) or not self.margin > 0:
            raise MoneySpecError("money_margin", f"PaybackSpec.margin must be a number > 0; got {self.margin!r}")
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- acquired users and their cost ---------------------------------------------------------------------------------
def _attr(name: str) -> str:
    return f"_a_{name}"


def acquired_users(ws: Workspace, span: Span, window_days: int, attrs: tuple[str, ...] = ()) -> ir.Table:
    """Acquired users with ``user_key, day0 (null: never active), acq_day, acquisition_cost, cost, _a_<attr>``.

    Reads the ``users`` table's ``signup_ts`` range first (to place signups in the reporting zone); then builds.
    """
    act = activity(ws, span)
    first = first_days(act)
    if ws.has_table(T.USERS):
        users = ws.table(T.USERS)
        missing = [a for a in attrs if a not in users.columns]
        if missing:
            raise WorkspaceError(f"the users table has no column {missing[0]!r}; columns: {', '.join(users.columns)}")
        lo = ws.engine.to_arrow(users.aggregate(lo=users.signup_ts.min()))["lo"][0].as_py()
        lo = span.first_ts if lo is None else min(lo, span.first_ts)
        segments = ws.offset_segments(lo, max(lo, span.data_end))
        signed = users.signup_ts <= span.data_end
        u = users.select(
            "user_key",
            sday=ibis.ifelse(signed, periods.local_day(users.signup_ts, segments), ibis.null("int32")),
            acquisition_cost=users.acquisition_cost,
            **{_attr(a): users[a].cast("string") for a in attrs},
        )
        keys = first.select("user_key").union(u.filter(u.sday.notnull()).select("user_key"), distinct=True)
        acq = left_join(left_join(keys, first, ["user_key"]), u, ["user_key"])
        acq = acq.mutate(acq_day=ibis.least(acq.sday.fill_null(acq.day0), acq.day0.fill_null(acq.sday)))
    else:
        if attrs:
            raise WorkspaceError(f"grouping by {', '.join(attrs)} reads the users table; ingest it first")
        acq = first.mutate(acq_day=first.day0, acquisition_cost=ibis.null("float64"))
    acq = acq.select("user_key", "day0", "acq_day", "acquisition_cost", *[_attr(a) for a in attrs])
    if ws.has_table(T.INCENTIVES):
        inc = ws.table(T.INCENTIVES)
        inc = inc.filter(inc.ts <= span.data_end)
        ij = inc.join(acq.select("user_key", "acq_day"), "user_key")
        ij = ij.filter((ij.day >= ij.acq_day) & (ij.day <= ij.acq_day + window_days))
        ic = ij.group_by("user_key").aggregate(incentive_cost=ij.cost.fill_null(0.0).sum())
        acq = left_join(acq, ic, ["user_key"])
        acq = acq.mutate(incentive_cost=acq.incentive_cost.fill_null(0.0))
    else:
        acq = acq.mutate(incentive_cost=ibis.literal(0.0))
    return acq.mutate(cost=acq.acquisition_cost.fill_null(0.0) + acq.incentive_cost)


def _segment(t: ir.Table, dimension: str) -> ir.Value:
    return ibis.literal(ALL) if dimension == ALL else t[_attr(dimension)].fill_null(NO_VALUE)


def _columns(by: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(d for d in by if d not in (ALL, INCENTIVE_KIND))


# -- CAC ---------------------------------------------------------------------------------------------------------
def cac_expr(ws: Workspace, spec: CacSpec, span: Span) -> ir.Table:
    acq = acquired_users(ws, span, spec.incentive_window_days, _columns(spec.by))
    parts = []
    for d in spec.by:
        g = acq.mutate(dimension=ibis.literal(d), segment=_segment(acq, d))
        parts.append(
            g.group_by(["dimension", "segment"]).aggregate(
                users=g.count(),
                acquisition_cost=g.acquisition_cost.fill_null(0.0).sum(),
                incentive_cost=g.incentive_cost.sum(),
                cost_missing=g.acquisition_cost.isnull().cast("int64").sum(),
                window_open=((g.acq_day + spec.incentive_window_days) >= span.end_day).cast("int64").sum(),
            )
        )
    out = ibis.union(*parts, distinct=False) if len(parts) > 1 else parts[0]
    out = out.mutate(total_cost=out.acquisition_cost + out.incentive_cost)
    out = out.mutate(cac=ratio(out.total_cost, out.users))
    return out.select(*CAC_SCHEMA.names).order_by(["dimension", "segment"])


@dataclass(frozen=True)
class CacTable(LongResult):
    """CAC per segment; ``table`` has schema :data:`CAC_SCHEMA` (one row per dimension and segment)."""

    spec: CacSpec
    table: pa.Table
    data_end: dt.datetime | None

    def row(self, dimension: str, segment: str) -> dict[str, Any]:
        for r in self.table.to_pylist():
            if (r["dimension"], r["segment"]) == (dimension, segment):
                return r
        raise KeyError((dimension, segment))

    def cac(self, dimension: str, segment: str) -> float | None:
        return self.row(dimension, segment)["cac"]


def cac(ws: Workspace, spec: CacSpec | None = None, *, data_end: dt.datetime | None = None) -> CacTable:
    """Acquisition cost plus incentive cost per acquired user, per channel and campaign by default."""
    spec = (spec or CacSpec()).validate()
    span = resolve_span(ws, data_end)
    if span is None:
        return CacTable(spec, CAC_SCHEMA.empty_table(), None)
    return CacTable(spec, shape(ws.engine.to_arrow(cac_expr(ws, spec, span)), CAC_SCHEMA), span.data_end)


# -- cost per retained user ------------------------------------------------------------------------------------------
def cost_per_retained_expr(ws: Workspace, spec: CostPerRetainedSpec, span: Span) -> ir.Table:
    acq = acquired_users(ws, span, spec.incentive_window_days, _columns(spec.by))
    members = acq.filter(acq.day0.notnull())
    days = ibis.memtable({"day": list(spec.days)}, schema={"day": "int64"})
    grid = members.cross_join(days)
    grid = grid.mutate(target=grid.day0.cast("int64") + grid.day)
    grid = grid.mutate(observable=grid.target <= span.end_day)
    act = activity(ws, span)
    active = act.select("user_key", target=act.day.cast("int64"), hit=ibis.literal(1))
    grid = left_join(grid, active, ["user_key", "target"])
    grid = grid.mutate(retained=grid.observable & grid.hit.notnull())
    parts = []
    for d in spec.by:
        if d == INCENTIVE_KIND:
            kinds = _kinds_by_day0(ws, span, members)
            g = left_join(grid, kinds, ["user_key"])
            g = g.mutate(dimension=ibis.literal(d), segment=g.kind.fill_null(NO_VALUE))
        else:
            g = grid.mutate(dimension=ibis.literal(d), segment=_segment(grid, d))
        parts.append(
            g.group_by(["dimension", "segment", "day"]).aggregate(
                users=g.count(),
                observable=g.observable.cast("int64").sum(),
                retained=g.retained.cast("int64").sum(),
                cost=ibis.ifelse(g.observable, g.cost, 0.0).sum(),
            )
        )
    out = ibis.union(*parts, distinct=False) if len(parts) > 1 else parts[0]
    out = out.mutate(rate=ratio(out.retained, out.observable), cost_per_retained=ratio(out.cost, out.retained))
    return out.select(*RETAINED_SCHEMA.names).order_by(["dimension", "segment", "day"])


def _kinds_by_day0(ws: Workspace, span: Span, members: ir.Table) -> ir.Table:
    """``(user_key, kind)``: distinct kinds granted up to ``data_end`` on or before each member's day 0."""
    if not ws.has_table(T.INCENTIVES):
        return ibis.memtable({"user_key": [], "kind": []}, schema={"user_key": "int64", "kind": "string"})
    inc = ws.table(T.INCENTIVES)
    inc = inc.filter(inc.ts <= span.data_end)
    j = inc.join(members.select("user_key", "day0"), "user_key")
    j = j.filter(j.day <= j.day0)
    return j.select("user_key", "kind").distinct()


@dataclass(frozen=True)
class CostPerRetainedTable(LongResult):
    """Cost per retained user; ``table`` has schema :data:`RETAINED_SCHEMA` (one row per dimension, segment, day)."""

    spec: CostPerRetainedSpec
    table: pa.Table
    data_end: dt.datetime | None

    def row(self, dimension: str, segment: str, day: int) -> dict[str, Any]:
        for r in self.table.to_pylist():
            if (r["dimension"], r["segment"], r["day"]) == (dimension, segment, day):
                return r
        raise KeyError((dimension, segment, day))


def cost_per_retained(
    ws: Workspace, spec: CostPerRetainedSpec | None = None, *, data_end: dt.datetime | None = None
) -> CostPerRetainedTable:
    """Total cost of observable users over users retained on day N, per channel and incentive kind by default."""
    spec = (spec or CostPerRetainedSpec()).validate()
    span = resolve_span(ws, data_end)
    if span is None:
        return CostPerRetainedTable(spec, RETAINED_SCHEMA.empty_table(), None)
    table = shape(ws.engine.to_arrow(cost_per_retained_expr(ws, spec, span)), RETAINED_SCHEMA)
    return CostPerRetainedTable(spec, table, span.data_end)


# -- payback ---------------------------------------------------------------------------------------------------------
def payback_curve_expr(ws: Workspace, spec: PaybackSpec, span: Span) -> ir.Table:
    """Cumulative revenue per (breakdown, cohort, offset) up to the end period, with the cost to pay back."""
    attrs = _columns((spec.breakdown,)) if spec.breakdown is not None else ()
    acq = acquired_users(ws, span, spec.incentive_window_days, attrs)
    week_start = ws.settings.week_start
    m = acq.filter(acq.day0.notnull())
    m = m.mutate(
        cohort=periods.period_of_day(m.day0, spec.period, week_start).cast("int64"),
        breakdown=_segment(m, spec.breakdown) if spec.breakdown is not None else ibis.literal(ALL),
    )
    groups = m.group_by(["breakdown", "cohort"]).aggregate(users=m.count(), cost=m.cost.sum())
    per = period_revenue(activity(ws, span), m, spec.period, week_start)
    per = per.join(m.select("user_key", "cohort", "breakdown"), "user_key")
    rev = per.group_by(["breakdown", "cohort", "period_offset"]).aggregate(revenue=per.rev.sum())
    end_period = period_of_day_number(span.end_day, spec.period, week_start)
    first_period = period_of_day_number(
        min(span.end_day, local_day_of(span.first_ts, ws.settings.tz)), spec.period, week_start
    )
    offsets = ibis.memtable(
        {"period_offset": list(range(end_period - first_period + 1))}, schema={"period_offset": "int64"}
    )
    grid = groups.cross_join(offsets)
    grid = grid.filter(grid.cohort + grid.period_offset <= end_period)
    grid = left_join(grid, rev, ["breakdown", "cohort", "period_offset"])
    grid = grid.mutate(revenue=grid.revenue.fill_null(0.0))
    win = ibis.cumulative_window(group_by=["breakdown", "cohort"], order_by="period_offset")
    grid = grid.mutate(cumulative_revenue=grid.revenue.sum().over(win))
    grid = grid.mutate(
        cac=ratio(grid.cost, grid.users),
        cumulative_revenue_per_user=ratio(grid.cumulative_revenue, grid.users),
        reached=(grid.cumulative_revenue * ibis.literal(float(spec.margin))) >= grid.cost,
        incomplete=(grid.cohort + grid.period_offset) >= end_period,
    )
    return grid.select(*CURVE_SCHEMA.names)


def payback_expr(curve: ir.Table) -> ir.Table:
    out = curve.group_by(["breakdown", "cohort"]).aggregate(
        users=curve.users.max(),
        cost=curve.cost.max(),
        revenue_to_date=curve.revenue.sum(),
        periods_observed=curve.count(),
        payback_offset=ibis.ifelse(curve.reached, curve.period_offset, ibis.null("int64")).min(),
    )
    out = out.mutate(cac=ratio(out.cost, out.users), reached=out.payback_offset.notnull())
    return out.select(*PAYBACK_SCHEMA.names).order_by(["breakdown", "cohort"])


@dataclass(frozen=True)
class PaybackTable(LongResult):
    """Payback per (breakdown, cohort).

    Attributes
    ----------
    table: schema :data:`PAYBACK_SCHEMA`; ``payback_offset`` is null and ``reached`` False when the cohort has not
        paid back by ``data_end``.
    curve: schema :data:`CURVE_SCHEMA`, one row per (breakdown, cohort, period_offset) up to the end period.
    """

    spec: PaybackSpec
    table: pa.Table
    data_end: dt.datetime | None
    curve: pa.Table
    week_start: str = "monday"

    def to_dict(self) -> dict[str, Any]:
        return super().to_dict() | {"curve": json_rows(self.curve)}

    def cohort_start(self, cohort: int) -> dt.date:
        return period_start(cohort, self.spec.period, self.week_start)  # type: ignore[return-value]

    def row(self, cohort: int, breakdown: str = ALL) -> dict[str, Any]:
        for r in self.table.to_pylist():
            if (r["breakdown"], r["cohort"]) == (breakdown, cohort):
                return r
        raise KeyError((breakdown, cohort))


def payback(ws: Workspace, spec: PaybackSpec | None = None, *, data_end: dt.datetime | None = None) -> PaybackTable:
    """First period offset at which each cohort's cumulative revenue (× margin) covers what its users cost."""
    spec = (spec or PaybackSpec()).validate()
    span = resolve_span(ws, data_end)
    if span is None:
        return PaybackTable(
            spec, PAYBACK_SCHEMA.empty_table(), None, CURVE_SCHEMA.empty_table(), ws.settings.week_start
        )
    curve_expr = payback_curve_expr(ws, spec, span)
    curve = shape(ws.engine.to_arrow(curve_expr.order_by(["breakdown", "cohort", "period_offset"])), CURVE_SCHEMA)
    table = shape(ws.engine.to_arrow(payback_expr(curve_expr)), PAYBACK_SCHEMA)
    return PaybackTable(spec, table, span.data_end, curve, ws.settings.week_start)
