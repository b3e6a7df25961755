"""A naive retention reference, written from the definitions in ``liuliang.metrics.retention.spec`` (its module
docstring), not from the engine. Plain Python over lists; local times come from :mod:`zoneinfo`.

Input: events as ``(user_id, ts, event, amount)`` or ``(user_id, ts, event, amount, props)`` with ``ts`` a naive
UTC datetime and ``props`` a tuple of ``(column, str | None)`` pairs (absent columns are null); users as
``{user_id: {"signup_ts": naive UTC datetime | None, <attribute>: str | None}}`` (users absent from the dict have
no row). Output: ``{(breakdown, cohort, period_offset): Cell}``.

Filters are evaluated here from the operator table in ``liuliang.metrics.retention.filters`` (its docstring), with
Python's ``re`` for regexes: on the patterns the tests draw (the portable subset) and on values without line
breaks, ``re.search`` means what RE2 means.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from dataclasses import dataclass
from zoneinfo import ZoneInfo

EPOCH = dt.datetime(1970, 1, 1)
EPOCH_DATE = EPOCH.date()
DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
ROLLING = {"day": 24, "week": 7, "month": 30}


#: A number stored as a string: a plain decimal, up to 20 digits either side of the point, exponent of 1-2 digits.
NUMBER = re.compile(r"[+-]?([0-9]{1,20}(\.[0-9]{0,20})?|\.[0-9]{1,20})([eE][+-]?[0-9]{1,2})?")
#: Operators that an unset (null) value satisfies (PostHog: the negated comparisons are wrapped in ifNull(..., 1)).
NULL_SATISFIES = {"is_not", "not_in", "not_contains", "not_icontains", "not_regex", "is_not_set"}


def as_number(x: object) -> float | None:
    if isinstance(x, bool) or x is None:
        return None
    if isinstance(x, int | float):
        return float(x)
    if isinstance(x, str) and NUMBER.fullmatch(x):
        return float(x)
    return None


def holds(op: str, want: object, x: object) -> bool:
    """Whether the value ``x`` (None when unset) satisfies ``op want``."""
    if x is None:
        return op in NULL_SATISFIES
    if op == "is_set":
        return True
    if op == "is_not_set":
        return False
    if op in ("gt", "gte", "lt", "lte", "between"):
        n = as_number(x)
        if n is None:
            return False
        if op == "between":
            return want[0] <= n <= want[1]
        return {"gt": n > want, "gte": n >= want, "lt": n < want, "lte": n <= want}[op]
    if op == "exact":
        return x == want
    if op == "is_not":
        return x != want
    if op == "in":
        return x in want
    if op == "not_in":
        return x not in want
    if op == "contains":
        return want in x
    if op == "not_contains":
        return want not in x
    if op == "icontains":
        return want.lower() in x.lower()
    if op == "not_icontains":
        return want.lower() not in x.lower()
    if op == "regex":
        return re.search(want, x, re.ASCII) is not None
    if op == "not_regex":
        return re.search(want, x, re.ASCII) is None
    raise AssertionError(f"unknown operator {op}")


@dataclass(frozen=True)
class Cell:
    cohort_size: int
    observed: int
    count: int
    value: float
    rate: float | None
    incomplete: bool


class Calendar:
    """Local calendar periods of the workspace zone."""

    def __init__(self, tz: str, week_start: str, period: str) -> None:
        self.zone, self.week_start, self.period = ZoneInfo(tz), week_start, period

    def local(self, ts: dt.datetime) -> dt.datetime:
        return ts.replace(tzinfo=dt.UTC).astimezone(self.zone).replace(tzinfo=None)

    def day(self, ts: dt.datetime) -> int:
        return (self.local(ts).date() - EPOCH_DATE).days

    def of_date(self, d: dt.date) -> int:
        """Period number of a local date (hour: its first hour)."""
        if self.period == "hour":
            return (d - EPOCH_DATE).days * 24
        if self.period == "day":
            return (d - EPOCH_DATE).days
        if self.period == "week":
            # the week containing 1970-01-01 is week 0; weeks begin on week_start
            def begin(x: dt.date) -> dt.date:
                return x - dt.timedelta(days=(x.weekday() - DAYS.index(self.week_start)) % 7)

            return (begin(d) - begin(EPOCH_DATE)).days // 7
        if self.period == "month":
            return d.year * 12 + d.month - 1
        return d.year * 4 + (d.month - 1) // 3

    def of(self, ts: dt.datetime) -> int:
        if self.period == "hour":
            return int((self.local(ts) - EPOCH) // dt.timedelta(hours=1))
        return self.of_date(self.local(ts).date())


def utc_hour(ts: dt.datetime) -> int:
    return int((ts - EPOCH) // dt.timedelta(hours=1))


def reference_retention(
    events: list[tuple[str, dt.datetime, str, float | None]],
    users: dict[str, dict[str, object]],
    spec,
    tz: str,
    week_start: str = "monday",
    data_end: dt.datetime | None = None,
) -> dict[tuple[str, int, int], Cell]:
    # identical rows are one event (ingest drops exact duplicates); props compare as sorted non-null pairs
    rows = {(*e[:4], tuple(sorted((k, v) for k, v in (e[4] if len(e) > 4 else ()) if v is not None))) for e in events}
    ordered = sorted(rows, key=lambda e: (e[1], e[0], e[2], -1 if e[3] is None else e[3], e[4]))
    events = [(*e[:4], dict(e[4])) for e in ordered]
    if not events:
        return {}
    if data_end is None:
        data_end = max(e[1] for e in events)
    events = [e for e in events if e[1] <= data_end]
    cal = Calendar(tz, week_start, spec.period)

    def matches(names, name):
        return names is None or name in names

    def where_ok(where, row: dict) -> bool:
        # every condition holds; an absent column is an unset (null) value
        return all(holds(c.op, c.value, row.get(c.column)) for c in where)

    prop = getattr(spec, "breakdown_event_property", None)

    def value_of(props: dict) -> str:
        if prop is None:
            return "all"
        v = props.get(prop)
        return "(none)" if v is None else v

    lo = cal.of_date(spec.date_from) if spec.date_from else None
    if spec.date_to is None:
        hi = None
    elif spec.period == "hour":
        hi = cal.of_date(spec.date_to) + 23
    else:
        hi = cal.of_date(spec.date_to)

    def in_range(c: int) -> bool:
        return (lo is None or c >= lo) and (hi is None or c <= hi)

    # -- members: (user, value, cohort) -> start_ts; value = the event-property breakdown value ("all" without one)
    starts: dict[tuple[str, str, int], dt.datetime] = {}
    if spec.cohorting == "signup":
        for user, row in users.items():
            s = row.get("signup_ts")
            if s is not None and s <= data_end and in_range(cal.of(s)):
                starts[(user, "all", cal.of(s))] = s
    else:
        first_ever: dict[str, dt.datetime] = {}  # ignoring start_where
        by_user: dict[tuple[str, str], list[dt.datetime]] = defaultdict(list)
        for user, ts, name, amount, props in events:
            if matches(spec.start_events, name):
                first_ever[user] = min(first_ever.get(user, ts), ts)
                if where_ok(spec.start_where, {**props, "event": name, "amount": amount}):
                    by_user[(user, value_of(props))].append(ts)
        for (user, value), stamps in by_user.items():
            if spec.cohorting == "first_time":
                first = min(stamps)
                if in_range(cal.of(first)):
                    starts[(user, value, cal.of(first))] = first
            elif spec.cohorting == "first_matching":
                # the first-ever start event (any properties) must be one of the matching rows with this value
                first = first_ever[user]
                if first in stamps and in_range(cal.of(first)):
                    starts[(user, value, cal.of(first))] = first
            elif spec.cohorting == "first_in_range":
                inside = [t for t in stamps if in_range(cal.of(t))]
                if inside:
                    starts[(user, value, cal.of(min(inside)))] = min(inside)
            else:  # recurring
                for t in stamps:
                    c = cal.of(t)
                    if in_range(c) and ((user, value, c) not in starts or t < starts[(user, value, c)]):
                        starts[(user, value, c)] = t
    if spec.user_where:
        starts = {m: t for m, t in starts.items() if m[0] in users and where_ok(spec.user_where, users[m[0]])}

    length = 1 if spec.window == "calendar" else ROLLING[spec.period]

    def elapsed(ts: dt.datetime, cohort: int, start: dt.datetime) -> int:
        if spec.window == "calendar":
            return cal.of(ts) - cohort
        if spec.period == "day":
            return utc_hour(ts) - utc_hour(start)
        return cal.day(ts) - cal.day(start)

    # -- active offsets per member
    counts: dict[tuple[str, str, int], dict[int, list]] = {m: defaultdict(lambda: [0, 0.0]) for m in starts}
    returns_by_user: dict[str, list] = defaultdict(list)
    for user, ts, name, amount, props in events:
        if matches(spec.return_events, name) and where_ok(
            spec.return_where, {**props, "event": name, "amount": amount}
        ):
            returns_by_user[user].append((ts, amount, value_of(props)))
    for (user, value, cohort), start in starts.items():
        for ts, amount, return_value in returns_by_user[user]:
            if return_value != value:
                continue  # with an event-property breakdown, a return counts only with the start's value
            e = elapsed(ts, cohort, start)
            if e < 0:
                continue
            k = e // length
            if k == 0 and spec.period_zero == "returns_after_start" and ts < start:
                continue
            counts[(user, value, cohort)][k][0] += 1
            counts[(user, value, cohort)][k][1] += amount or 0.0
    active_all = {m: {k: v[1] for k, v in per.items() if v[0] >= spec.min_occurrences} for m, per in counts.items()}

    cells = spec.cells()
    end_cohort = cal.of(data_end)
    out: dict[tuple[str, int, int], list] = {}
    for (user, value, cohort), start in starts.items():
        if prop is not None:
            b = value
        else:
            b = "all" if spec.breakdown is None else users.get(user, {}).get(spec.breakdown) or "(none)"
        b = str(b)
        acts = active_all[(user, value, cohort)]
        a = {k for k in acts if not (spec.period_zero == "cohort" and k == 0)}
        end_offset = elapsed(data_end, cohort, start) // length
        for k, k_lo, k_hi in cells:
            if spec.period_zero == "cohort" and k == 0:
                counted = True
            elif spec.criterion in ("on", "brackets"):
                counted = any(k_lo <= x <= k_hi for x in a)
            elif spec.criterion == "on_or_after":
                counted = any(x >= k_lo for x in a)
            elif spec.criterion == "on_or_before":
                counted = any(x <= k_hi for x in a)
            else:  # streak
                counted = (0 in a) if k_hi == 0 else all(x in a for x in range(1, k_hi + 1))
            observed = end_offset > k_hi
            if spec.denominator == "observed":
                counted = counted and observed
            span_lo = 0 if spec.criterion == "on_or_before" else k_lo
            value = sum(v for x, v in acts.items() if span_lo <= x <= k_hi) if counted else 0.0
            acc = out.setdefault((b, cohort, k), [0, 0, 0, 0.0, False, k_hi])
            acc[0] += 1
            acc[1] += observed
            acc[2] += counted
            acc[3] += value
            acc[4] = acc[4] or not observed
    if spec.date_from is not None:
        values = {key[0] for key in out} if spec.breakdown is not None or prop is not None else {"all"}
        top = end_cohort if hi is None else min(hi, end_cohort)
        for b in values:
            for c in range(lo, top + 1):
                for k, _, k_hi in cells:
                    out.setdefault((b, c, k), [0, 0, 0, 0.0, c + k_hi >= end_cohort, k_hi])
    return _with_rates(out, spec)


def _with_rates(out: dict[tuple[str, int, int], list], spec) -> dict[tuple[str, int, int], Cell]:
    result: dict[tuple[str, int, int], Cell] = {}
    for (b, c, k), (size, observed, count, total, incomplete, _) in out.items():
        if spec.aggregation == "users":
            value = float(count)
        elif spec.aggregation == "sum":
            value = total
        else:
            value = total / count if count else None
        result[(b, c, k)] = [size, observed, count, value, incomplete]
    final = {}
    for (b, c, k), (size, observed, count, value, incomplete) in result.items():
        if spec.reference == "previous" and k > 0:
            base = result[(b, c, k - 1)][3]
        elif spec.aggregation == "users":
            base = observed if spec.denominator == "observed" else size
        else:
            base = result[(b, c, 0)][3]
        rate = value / base if base and value is not None else None
        final[(b, c, k)] = Cell(size, observed, count, value if value is not None else None, rate, incomplete)
    return final
