"""Daily participation: the share of the days since acquisition on which a user was active.

Definitions: a user's *acquisition day* is their first local day with any event up to ``data_end`` (first-seen), or
with ``by_signup=True`` the local day of ``users.signup_ts`` (users without one, or signing up after ``data_end``,
are left out; users who signed up but never came back stay in with share 0). The *eligible days* run from the
acquisition day to ``data_end``'s local day, both included (the day holding ``data_end`` counts although it has not
fully elapsed). *Active days* are the eligible days with an event of ``events`` (any event when None) — so with an
event filter, first-seen acquisition still means the first event of any kind, and users who never did the event have
share 0. ``share = active_days / eligible_days``. Users with fewer than ``min_eligible_days`` eligible days are left
out (very young users have noisy shares).

The summary groups users by breakdown and *cohort* (the calendar ``cohort_period`` holding the acquisition day):
``users``, ``mean_share`` (mean of the users' shares), ``median_share`` (the middle share; the mean of the two
middle ones for an even count) and ``pooled_share`` (all active days over all eligible days).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Literal

import ibis
import ibis.expr.types as ir
import pyarrow as pa
import pyarrow.compute as pc

from liuliang.metrics.activity import base
from liuliang.metrics.activity.base import LongResult, Span
from liuliang.warehouse import Workspace, periods
from liuliang.warehouse import tables as T

CohortPeriod = Literal["day", "week", "month", "quarter"]

USER_SCHEMA = pa.schema(
    [
        ("breakdown", pa.string()),
        ("period", pa.int64()),
        ("cohort_start", pa.date32()),
        ("user_key", pa.int64()),
        ("user_id", pa.string()),
        ("acquisition_day", pa.int64()),
        ("eligible_days", pa.int64()),
        ("active_days", pa.int64()),
        ("share", pa.float64()),
    ]
)

SUMMARY_SCHEMA = pa.schema(
    [
        ("breakdown", pa.string()),
        ("period", pa.int64()),
        ("cohort_start", pa.date32()),
        ("users", pa.int64()),
        ("eligible_days", pa.int64()),
        ("active_days", pa.int64()),
        ("mean_share", pa.float64()),
        ("median_share", pa.float64()),
        ("pooled_share", pa.float64()),
    ]
)


@dataclass(frozen=True)
class ParticipationSpec:
    """Parameters
    ----------
    events: event names that make a day active; None = any event.
    by_signup: acquisition = the ``signup_ts`` day instead of the first day with an event.
    cohort_period: ``"day" | "week" | "month" | "quarter"``: the cohorts of the summary (``period`` column).
    breakdown: a column of the ``users`` table to group by.
    min_eligible_days: leave out users with fewer eligible days (>= 1).
    """

    events: tuple[str, ...] | None = None
    by_signup: bool = False
    cohort_period: CohortPeriod = "week"
    breakdown: str | None = None
    min_eligible_days: int = 1

    def validate(self) -> ParticipationSpec:
        base.check_events(self)
        base.check_choice(self, "cohort_period", base.CALENDAR_PERIODS)
        if not isinstance(self.min_eligible_days, int) or self.min_eligible_days < 1:
            raise base.ActivitySpecError(
                f"ParticipationSpec.min_eligible_days must be an integer >= 1; got {self.min_eligible_days!r}"
            )
        return self


@dataclass(frozen=True)
class Participation(LongResult):
    """``table``: the summary, one row per (breakdown, cohort period); ``users``: one row per user.

    ``period`` is the cohort's period number (``cohort_period``), ``cohort_start`` its first local date.
    """

    users: pa.Table = field(default_factory=USER_SCHEMA.empty_table)

    def user_shares(self, breakdown: str | None = None) -> pa.Table:
        if breakdown is None:
            return self.users
        return self.users.filter(pc.equal(self.users["breakdown"], breakdown))

    def __repr__(self) -> str:
        return f"Participation({self.users.num_rows} users, {self.table.num_rows} cohorts, data_end={self.data_end})"


def acquisitions(ws: Workspace, spec: ParticipationSpec, span: Span) -> ir.Table | None:
    """``(user_key, acquisition_day)`` (None when signup-based and nobody has a usable ``signup_ts``)."""
    if spec.by_signup:
        found = base.signups(ws, span.data_end)
        if found is None:
            return None
        su, _ = found
        return su.select("user_key", acquisition_day=su.signup_day)
    anything = base.active_days(ws, None, span)
    return anything.group_by("user_key").aggregate(acquisition_day=anything.day.min())


def per_user_expr(ws: Workspace, spec: ParticipationSpec, span: Span, acq: ir.Table) -> ir.Table:
    active = base.active_days(ws, spec.events, span)
    hits = active.join(acq, "user_key")
    hits = hits.filter(hits.day >= hits.acquisition_day)
    counts = hits.group_by("user_key").aggregate(active_days=hits.count())
    users = acq.mutate(eligible_days=ibis.literal(span.end_day, "int64") - acq.acquisition_day + 1)
    users = users.filter(users.eligible_days >= spec.min_eligible_days)
    users = users.left_join(counts, "user_key")
    users = users.select(
        "user_key",
        "acquisition_day",
        "eligible_days",
        active_days=users.active_days.fill_null(0),
        period=periods.period_of_day(users.acquisition_day, spec.cohort_period, ws.settings.week_start).cast("int64"),
    )
    users = users.mutate(share=users.active_days.cast("float64") / users.eligible_days)
    users = base.with_breakdown(users, base.breakdown_of(ws, spec.breakdown))
    keys = ws.table(T.USER_KEYS).select(user_key=ibis._.user_key.cast("int64"), user_id="user_id")
    users = users.left_join(keys, "user_key").select(*users.columns, "user_id")
    return users


def summary_expr(users: ir.Table) -> ir.Table:
    s = users.group_by(["breakdown", "period"]).aggregate(
        users=users.count(),
        eligible_days=users.eligible_days.sum(),
        active_days=users.active_days.sum(),
        mean_share=users.share.mean(),
        median_share=users.share.median(),
    )
    return s.mutate(pooled_share=s.active_days.cast("float64") / s.eligible_days).order_by(["breakdown", "period"])


def participation(
    ws: Workspace, spec: ParticipationSpec | None = None, *, data_end: dt.datetime | None = None
) -> Participation:
    """Share of eligible days active since acquisition, per user and per cohort; ``data_end`` default: last event."""
    spec = (spec or ParticipationSpec()).validate()
    week_start = ws.settings.week_start
    empty = Participation(spec, SUMMARY_SCHEMA.empty_table(), None, USER_SCHEMA.empty_table())
    span = base.resolve(ws, data_end)
    if span is None:
        return empty
    acq = acquisitions(ws, spec, span)
    if acq is None:
        return Participation(spec, SUMMARY_SCHEMA.empty_table(), span.data_end, USER_SCHEMA.empty_table())
    users = per_user_expr(ws, spec, span, acq)
    user_table = ws.engine.to_arrow(users.order_by(["breakdown", "period", "user_key"]))
    summary = ws.engine.to_arrow(summary_expr(users))
    user_table = base.add_start_column(user_table, 0, spec.cohort_period, week_start, "cohort_start")
    summary = base.add_start_column(summary, 0, spec.cohort_period, week_start, "cohort_start")
    return Participation(
        spec,
        base.conform_arrow(summary, SUMMARY_SCHEMA),
        span.data_end,
        base.conform_arrow(user_table, USER_SCHEMA),
    )
