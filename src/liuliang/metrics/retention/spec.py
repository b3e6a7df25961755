"""What a retention query asks: one frozen dataclass, every knob explicit, validated by small named rules.

Definitions used throughout (the reference implementation in ``tests/metrics/retention/reference.py`` is written
from these paragraphs, not from the engine):

*Start events / return events.* ``None`` means any event. A start row is an event whose name is in
``start_events`` and that matches ``start_where``; a return row is an event whose name is in ``return_events`` and
that matches ``return_where``. Events after ``data_end`` do not exist for the query.

*Filters.* ``start_where`` / ``return_where`` / ``user_where`` are conjunctions of
:class:`~liuliang.metrics.retention.filters.Condition` ``(column, op, value)`` on columns of ``events`` (or
``users``); a row matches when every condition holds. Operators: ``exact``, ``is_not``, ``in``, ``not_in``,
``contains``, ``not_contains``, ``icontains``, ``not_icontains``, ``regex``, ``not_regex`` (string columns);
``gt``, ``gte``, ``lt``, ``lte``, ``between`` (inclusive; numeric columns, or string columns holding plain decimals:
any other string is not a number and never matches); ``is_set``, ``is_not_set`` (any column). Null semantics are
PostHog's: an unset (null) value never matches a positive operator and always matches a negated one (``is_not``,
``not_in``, ``not_contains``, ``not_icontains``, ``not_regex``) and ``is_not_set``: "city is not bj" keeps events
without a city.
``regex`` is an unanchored RE2 search restricted to the syntax DuckDB and Spark share; the full table, the number
syntax and the regex subset are in :mod:`liuliang.metrics.retention.filters`. Accepted forms: ``Condition``
objects, ``(column, value)`` pairs (a string value: ``exact``; a tuple: ``in``), ``(column, op, value)`` triples,
or a mapping ``{column: value}``; they are normalised to a tuple of ``Condition`` (set values sorted).
``user_where`` keeps the members whose ``users`` row matches (members without a users row are dropped, whatever
the operator).

*Cohort members.* A member is a (user, cohort period) pair with a start instant ``start_ts``:

- ``first_time``: the user's lifetime-first start event (earliest ``ts``, over all data up to ``data_end``); the
  user belongs to the cohort of that event's period, and only if that period lies in the date range.
- ``first_matching``: PostHog's "first-ever occurrence": the user's first-ever start event *ignoring*
  ``start_where`` (earliest ``ts`` among events named in ``start_events``) must itself match the filters, or the
  user is in no cohort; ``start_ts`` is that instant (when several events share it, one matching is enough).
  Without ``start_where`` this is ``first_time``. (``first_time`` with filters: the first *matching* start row.)
- ``first_in_range``: the user's first start event whose period lies inside the date range.
- ``recurring``: one member per period (inside the range) in which the user has a start event; ``start_ts`` is the
  first start event of that period.
- ``signup``: the user's ``users.signup_ts`` (users without one, or signing up after ``data_end``, are left out).

*Event-property breakdown.* With ``breakdown_event_property`` (a string column of ``events``) each start and
return row carries its value (null: ``"(none)"``), and cohorting runs separately for each value (PostHog: the
breakdown value is taken from the start event): a member is a (user, value, cohort) triple built from the user's
start rows with that value (``first_matching``: one member per value among the matching rows at the first-ever
instant), and only return rows with the same value count for it. A user may so be in several breakdown values.
(PostHog's first-ever mode buckets the user by the first event's value and counts returns of any value; here returns
must share the value in every mode.) ``breakdown`` (a ``users`` column) and ``breakdown_event_property`` exclude
each other; ``signup`` cohorting takes neither ``start_where`` nor an event-property breakdown.

*Periods.* Calendar periods are local to the workspace time zone: hour = local seconds // 3600, day = local day,
week = weeks starting on the workspace's week start, month, quarter. The cohort of a member is the calendar period
of ``start_ts``. The offset of a return row is ``period(return) - cohort`` for calendar windows. For
``window="rolling"`` (Amplitude's default) the offset is measured from the member's own start:
day windows count whole UTC hours (Amplitude truncates timestamps to the hour): ``(hour(ts) - hour(start_ts)) //
24``; week and month windows count local days: ``(day(ts) - day(start_ts)) // 7`` (or ``// 30``). Rows with a
negative offset (before the start) are ignored. The cohort label is still the calendar period of ``start_ts``.

*Active offsets.* A member is active at offset ``k`` when it has at least ``min_occurrences`` return rows at that
offset. Offset 0 (the start period) depends on ``period_zero``:

- ``"cohort"`` (PostHog, Amplitude, Mixpanel's displayed day 0): the period-0 cell is the whole cohort, and
  returns in the start period never count for any criterion;
- ``"returns"``: offset 0 is active like any other (return rows anywhere in the start period, even before the
  start instant);
- ``"returns_after_start"``: offset 0 is active when the member has ``min_occurrences`` return rows at offset 0
  with ``ts >= start_ts`` (so with the same start and return event, the start event itself counts).

*Criteria.* Cells are ``period_offset`` 0..``periods`` with the span ``[offset_lo, offset_hi]`` (= ``[k, k]``),
or for ``brackets=(b1, b2, ...)`` cell 0 = ``[0, 0]`` and cell i = ``[b_{i-1} + 1, b_i]`` (``b_0 = 0``). With
``A`` the member's active offsets (without 0 in ``"cohort"`` mode), the member counts in a cell when:
``on``/``brackets``: some ``a`` in ``A`` lies in the span; ``on_or_after``: some ``a >= offset_lo``;
``on_or_before``: some ``a <= offset_hi``; ``streak``: every offset ``1..offset_hi`` is in ``A`` (cell 0: ``0`` in
``A``). In ``"cohort"`` mode every member counts in cell 0.

*Incomplete cells and observation.* ``data_end`` (default: the last event time) is "now". A member's end offset is
the offset of ``data_end`` itself; the member is *observed* for a cell when its end offset is greater than
``offset_hi`` (the span has fully elapsed). A cell is incomplete when any member is not observed; an empty cohort's
cell is incomplete when ``cohort + offset_hi >= period(data_end)``.

*Counts.* ``cohort_size`` = members; ``observed`` = observed members; ``count`` = members counting in the cell
(``denominator="observed"``: observed members only). ``value`` is ``count`` for ``aggregation="users"``; for
``"sum"`` the summed ``amount`` of the return rows at the member's active offsets within the span (``on_or_before``:
offsets ``0..offset_hi``), over the counted members; here offset 0 is active by the ``"returns"`` rule in
``"cohort"`` mode (so the period-0 value is the start period's revenue); ``"average"`` = sum / count.
``rate`` = count / cohort_size (``"observed"``: / observed) for users; for sum/average = value / period-0 value.
With ``reference="previous"`` the rate of cell k > 0 divides by cell k-1 instead.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, field, fields, replace
from typing import Literal

from liuliang.errors import LiuliangError
from liuliang.metrics.retention.filters import Condition

Cohorting = Literal["first_time", "first_matching", "first_in_range", "recurring", "signup"]
PeriodName = Literal["hour", "day", "week", "month", "quarter"]
Window = Literal["calendar", "rolling"]
Criterion = Literal["on", "on_or_after", "on_or_before", "brackets", "streak"]
PeriodZero = Literal["cohort", "returns", "returns_after_start"]
Denominator = Literal["cohort", "observed"]
Reference = Literal["cohort", "previous"]
Aggregation = Literal["users", "sum", "average"]
#: A filter: conditions and-ed together (see :func:`normalise_where` for the accepted input forms).
Where = tuple[Condition, ...]

CHOICES: dict[str, tuple[str, ...]] = {
    "cohorting": ("first_time", "first_matching", "first_in_range", "recurring", "signup"),
    "period": ("hour", "day", "week", "month", "quarter"),
    "window": ("calendar", "rolling"),
    "criterion": ("on", "on_or_after", "on_or_before", "brackets", "streak"),
    "period_zero": ("cohort", "returns", "returns_after_start"),
    "denominator": ("cohort", "observed"),
    "reference": ("cohort", "previous"),
    "aggregation": ("users", "sum", "average"),
}

#: Length of a rolling window, in the unit it is counted in (hours for days, local days for weeks and months).
ROLLING_LENGTH = {"day": 24, "week": 7, "month": 30}


def normalise_where(where: object) -> Where:
    """A tuple of :class:`Condition` from any accepted form (``None``, a ``Condition``, a mapping
    ``{column: value}``, or an iterable of conditions, ``(column, value)`` pairs and ``(column, op, value)``
    triples). A pair's string value means ``exact`` and a tuple/list ``in`` (the pre-operator forms keep working).
    Conditions are canonical and hashable, so equal filters give equal specs. A shape that is no condition at all
    raises :class:`RetentionSpecError` (``retention_where_invalid``); a bad operator or value is left to
    :meth:`RetentionSpec.validate`."""
    if where is None:
        return ()
    if isinstance(where, Condition):
        return (where,)
    items = list(where.items()) if isinstance(where, dict) else where
    out = []
    for item in items:  # type: ignore[union-attr]
        if isinstance(item, Condition):
            out.append(item)
        elif isinstance(item, tuple | list) and len(item) == 2:
            out.append(Condition(str(item[0]), "exact", item[1]))
        elif isinstance(item, tuple | list) and len(item) == 3:
            out.append(Condition(str(item[0]), str(item[1]), item[2]))
        else:
            raise RetentionSpecError(
                "retention_where_invalid",
                f"a filter is a Condition(column, op, value), a (column, value) pair or a (column, op, value) "
                f"triple; got {item!r}",
            )
    return tuple(out)


class RetentionSpecError(LiuliangError):
    """A spec that cannot be run as asked; ``code`` is stable (tests and UIs match on it)."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(f"{message} [{code}]")


@dataclass(frozen=True)
class RetentionSpec:
    """A retention query. Every field has a default; presets in :mod:`.presets` set a tool's defaults.

    Parameters
    ----------
    start_events, return_events:
        Event names that start a cohort / count as a return; ``None`` = any event.
    cohorting:
        ``first_time`` | ``first_matching`` | ``first_in_range`` | ``recurring`` | ``signup`` (module docstring).
    period:
        ``hour`` | ``day`` | ``week`` | ``month`` | ``quarter``.
    window:
        ``calendar`` periods in the workspace zone, or ``rolling`` windows from each member's start (24 h days
        counted in whole hours, 7-day weeks, 30-day months).
    periods:
        Last offset reported: cells 0..periods (ignored when ``brackets`` are given).
    criterion:
        ``on`` | ``on_or_after`` | ``on_or_before`` | ``brackets`` | ``streak``.
    brackets:
        Increasing upper offsets of custom brackets, e.g. ``(1, 3, 7, 14)``: 1, 2-3, 4-7, 8-14.
    min_occurrences:
        Return rows needed in a period for it to count as active (from the rollup counts).
    period_zero:
        ``cohort`` | ``returns`` | ``returns_after_start``: what the start period (offset 0) means.
    date_from, date_to:
        Inclusive local dates bounding the cohort periods (``None``: unbounded). Returns are followed with all data
        up to ``data_end`` whatever ``date_to`` is (no truncation of late cohorts, PostHog issue 23355).
    denominator:
        ``cohort`` (PostHog: rate over the whole cohort) or ``observed`` (Amplitude: only members whose period
        has fully elapsed).
    reference:
        ``cohort`` (rate over the cohort / period-0 value) or ``previous`` (over the previous cell).
    aggregation:
        ``users`` (count members), ``sum`` or ``average`` of the return rows' ``amount`` (revenue retention).
    breakdown:
        Column of the ``users`` table to split by (missing values become ``"(none)"``).
    breakdown_event_property:
        String column of ``events`` to split by, taken from the start rows; returns must share the value.
    start_where, return_where:
        Filters on columns of ``events``: ``(Condition("city", "is_not", "bj"), Condition("level", "gte", 3))``,
        or the short forms ``(("city", "bj"), ("os", ("ios", "android")))`` (equality / "in") and
        ``{"city": "bj"}``. Conditions are and-ed; operators and their null semantics (PostHog's: a negated
        operator keeps unset values) in the module docstring and :mod:`.filters`.
    user_where:
        The same filters on columns of ``users``: only members whose users row matches.
    """

    start_events: tuple[str, ...] | None = None
    return_events: tuple[str, ...] | None = None
    cohorting: Cohorting = "first_time"
    period: PeriodName = "day"
    window: Window = "calendar"
    periods: int = 7
    criterion: Criterion = "on"
    brackets: tuple[int, ...] = ()
    min_occurrences: int = 1
    period_zero: PeriodZero = "cohort"
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    denominator: Denominator = "cohort"
    reference: Reference = "cohort"
    aggregation: Aggregation = "users"
    breakdown: str | None = None
    start_where: Where = field(default=())
    return_where: Where = field(default=())
    breakdown_event_property: str | None = None
    user_where: Where = field(default=())

    def __post_init__(self) -> None:
        # Normalise list inputs into tuples on this (new, frozen) object; the caller's values are untouched.
        for name in ("start_events", "return_events"):
            value = getattr(self, name)
            if isinstance(value, str):
                object.__setattr__(self, name, (value,))
            elif value is not None:
                object.__setattr__(self, name, tuple(value))
        object.__setattr__(self, "brackets", tuple(int(b) for b in self.brackets))
        for name in ("start_where", "return_where", "user_where"):
            object.__setattr__(self, name, normalise_where(getattr(self, name)))

    def replace(self, **changes: object) -> RetentionSpec:
        """A new spec with some fields changed (the spec itself is immutable)."""
        return replace(self, **changes)

    def validate(self) -> RetentionSpec:
        """Run every rule; raise :class:`RetentionSpecError` for the first broken one; return self."""
        for rule in RULES:
            rule.check(self)
        return self

    def cells(self) -> list[tuple[int, int, int]]:
        """``(period_offset, offset_lo, offset_hi)`` of every reported cell."""
        if self.criterion == "brackets":
            edges = (0, *self.brackets)
            return [(0, 0, 0)] + [(i, edges[i - 1] + 1, edges[i]) for i in range(1, len(edges))]
        return [(k, k, k) for k in range(self.periods + 1)]

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ("start_where", "return_where", "user_where"):
                value = [{"column": c.column, "op": c.op, "value": c.value} for c in value]
            out[f.name] = value.isoformat() if isinstance(value, dt.date) else value
        return out


# -- validation rules: one class per rule, each with a stable code -------------------------------------------------
class Rule:
    code = ""

    def check(self, spec: RetentionSpec) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def fail(self, message: str) -> None:
        raise RetentionSpecError(self.code, message)


class KnownChoices(Rule):
    code = "retention_unknown_choice"

    def check(self, spec: RetentionSpec) -> None:
        for name, allowed in CHOICES.items():
            value = getattr(spec, name)
            if value not in allowed:
                self.fail(f"RetentionSpec.{name} must be one of {', '.join(allowed)}; got {value!r}")


class NonNegativePeriods(Rule):
    code = "retention_periods_negative"

    def check(self, spec: RetentionSpec) -> None:
        if not isinstance(spec.periods, int) or spec.periods < 0:
            self.fail(f"RetentionSpec.periods must be an integer >= 0; got {spec.periods!r}")


class PositiveMinOccurrences(Rule):
    code = "retention_min_occurrences_not_positive"

    def check(self, spec: RetentionSpec) -> None:
        if not isinstance(spec.min_occurrences, int) or spec.min_occurrences < 1:
            self.fail(f"RetentionSpec.min_occurrences must be an integer >= 1; got {spec.min_occurrences!r}")


class BracketsMatchCriterion(Rule):
    code = "retention_brackets_invalid"

    def check(self, spec: RetentionSpec) -> None:
        if spec.criterion != "brackets":
            if spec.brackets:
                self.fail(f"RetentionSpec.brackets is only used with criterion='brackets' (got {spec.criterion!r})")
            return
        b = spec.brackets
        if not b or b[0] < 1 or any(y <= x for x, y in itertools.pairwise(b)):
            self.fail(f"RetentionSpec.brackets must be strictly increasing offsets >= 1, e.g. (1, 3, 7, 14); got {b}")


class RollingNeedsDayWeekMonth(Rule):
    code = "retention_rolling_period_unsupported"

    def check(self, spec: RetentionSpec) -> None:
        if spec.window == "rolling" and spec.period not in ROLLING_LENGTH:
            self.fail(f"rolling windows exist for day, week and month periods; got period={spec.period!r}")


class DateRangeOrdered(Rule):
    code = "retention_date_range_reversed"

    def check(self, spec: RetentionSpec) -> None:
        if spec.date_from is not None and spec.date_to is not None and spec.date_from > spec.date_to:
            self.fail(f"RetentionSpec.date_from {spec.date_from} is after date_to {spec.date_to}")


class ValueAggregationCriterion(Rule):
    code = "retention_value_aggregation_criterion_unsupported"

    def check(self, spec: RetentionSpec) -> None:
        if spec.aggregation != "users" and spec.criterion not in ("on", "on_or_before", "brackets"):
            self.fail(
                f"aggregation={spec.aggregation!r} sums the amounts of a span of periods; it is defined for "
                f"criterion on, on_or_before and brackets, not {spec.criterion!r}"
            )


class FirstInRangeNeedsRange(Rule):
    code = "retention_first_in_range_without_range"

    def check(self, spec: RetentionSpec) -> None:
        if spec.cohorting == "first_in_range" and spec.date_from is None and spec.date_to is None:
            self.fail("cohorting='first_in_range' needs date_from and/or date_to (without a range use first_time)")


class BreakdownsExclusive(Rule):
    code = "retention_breakdowns_exclusive"

    def check(self, spec: RetentionSpec) -> None:
        if spec.breakdown is not None and spec.breakdown_event_property is not None:
            self.fail("give either breakdown (a users column) or breakdown_event_property (an events column)")


class SignupTakesNoStartFilters(Rule):
    code = "retention_signup_start_filters"

    def check(self, spec: RetentionSpec) -> None:
        if spec.cohorting == "signup" and (spec.start_where or spec.breakdown_event_property is not None):
            self.fail(
                "cohorting='signup' has no start event: start_where and breakdown_event_property do not apply "
                "(filter members with user_where)"
            )


class WhereWellFormed(Rule):
    code = "retention_where_invalid"

    def check(self, spec: RetentionSpec) -> None:
        for name in ("start_where", "return_where", "user_where"):
            for c in getattr(spec, name):
                problem = c.problem()
                if problem:
                    self.fail(f"RetentionSpec.{name}: {c.column!r} {problem}")


RULES: tuple[Rule, ...] = (
    KnownChoices(),
    NonNegativePeriods(),
    PositiveMinOccurrences(),
    BracketsMatchCriterion(),
    RollingNeedsDayWeekMonth(),
    DateRangeOrdered(),
    ValueAggregationCriterion(),
    FirstInRangeNeedsRange(),
    BreakdownsExclusive(),
    SignupTakesNoStartFilters(),
    WhereWellFormed(),
)
