"""A naive reference for the activity and lifecycle metrics, written from their definitions, not from the engine.

Plain Python over ``(user_id, naive UTC datetime, event)`` lists and :mod:`zoneinfo`: no liuliang import, no integer
period numbers — periods are keyed by their first local *date*, and every count is a brute-force scan (WAU looks at
the 7 dates, lifecycle at the previous period, and so on). The engine's results are compared on the same keys.

Also here: hypothesis strategies for event logs that straddle a DST change in America/New_York, local midnights,
week and month starts, with gaps, duplicate timestamps and users without events.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import defaultdict
from collections.abc import Iterable
from zoneinfo import ZoneInfo

from hypothesis import strategies as st

UTC = dt.UTC
DAY = dt.timedelta(days=1)
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
Event = tuple[str, dt.datetime, str]  # (user_id, naive UTC instant, event name)
Users = dict[str, dict[str, object]]  # user_id -> {"signup_ts": naive UTC | None, "channel": str | None}


# -- calendar -------------------------------------------------------------------------------------------------
def local_date(ts: dt.datetime, tz: str) -> dt.date:
    return ts.replace(tzinfo=UTC).astimezone(ZoneInfo(tz)).date()


def period_start(date: dt.date, period: str, week_start: str = "monday") -> dt.date:
    if period == "day":
        return date
    if period == "week":
        return date - dt.timedelta(days=(date.weekday() - WEEKDAYS.index(week_start)) % 7)
    if period == "month":
        return date.replace(day=1)
    if period == "quarter":
        return dt.date(date.year, 3 * ((date.month - 1) // 3) + 1, 1)
    raise ValueError(period)


def next_start(start: dt.date, period: str) -> dt.date:
    if period == "day":
        return start + DAY
    if period == "week":
        return start + 7 * DAY
    months = 3 if period == "quarter" else 1
    m = start.month - 1 + months
    return dt.date(start.year + m // 12, m % 12 + 1, 1)


def previous_start(start: dt.date, period: str, week_start: str) -> dt.date:
    return period_start(start - DAY, period, week_start)


def dates(lo: dt.date, hi: dt.date) -> list[dt.date]:
    return [lo + i * DAY for i in range((hi - lo).days + 1)]


def starts_between(lo: dt.date, hi: dt.date, period: str, week_start: str) -> list[dt.date]:
    out, p = [], period_start(lo, period, week_start)
    while p <= hi:
        out.append(p)
        p = next_start(p, period)
    return out


# -- shared pieces --------------------------------------------------------------------------------------------
def end_of(events: list[Event], data_end: dt.datetime | None) -> dt.datetime:
    return data_end if data_end is not None else max(ts for _, ts, _ in events)


def active(events: list[Event], tz: str, names: Iterable[str] | None, data_end: dt.datetime) -> dict[str, set[dt.date]]:
    """User -> local dates with a matching event at or before ``data_end``."""
    wanted = None if names is None else set(names)
    out: dict[str, set[dt.date]] = defaultdict(set)
    for user, ts, name in events:
        if ts <= data_end and (wanted is None or name in wanted):
            out[user].add(local_date(ts, tz))
    return out


def before_data(events: list[Event], end: dt.datetime) -> bool:
    """``data_end`` before the first event: every metric is empty."""
    return end < min(ts for _, ts, _ in events)


def group_of(users: Users, column: str | None):
    def group(user: str) -> str:
        if column is None:
            return "all"
        value = users.get(user, {}).get(column)
        return "(none)" if value is None else str(value)

    return group


def first_date(events: list[Event], tz: str, data_end: dt.datetime) -> dt.date:
    return min(local_date(ts, tz) for _, ts, _ in events if ts <= data_end)


# -- DAU / WAU / MAU ------------------------------------------------------------------------------------------
def reference_active_users(
    events: list[Event],
    users: Users,
    tz: str,
    *,
    names=None,
    breakdown=None,
    date_from=None,
    date_to=None,
    data_end=None,
) -> dict[tuple[str, dt.date], tuple[int, int, int, float | None, bool]]:
    """(breakdown, date) -> (dau, wau, mau, stickiness, incomplete)."""
    end = end_of(events, data_end)
    if before_data(events, end):
        return {}
    act = active(events, tz, names, end)
    group = group_of(users, breakdown)
    groups = {"all"} if breakdown is None else {group(u) for u in act}
    last = local_date(end, tz)
    out = {}
    for day in dates(first_date(events, tz, end), last):
        if (date_from and day < date_from) or (date_to and day > date_to):
            continue
        for g in groups:
            members = [ds for u, ds in act.items() if group(u) == g]

            def within(n: int, day: dt.date = day, members: list = members) -> int:
                window = {day - i * DAY for i in range(n)}
                return sum(1 for ds in members if ds & window)

            dau, wau, mau = within(1), within(7), within(30)
            out[(g, day)] = (dau, wau, mau, dau / mau if mau else None, day == last)
    return out


# -- frequency ------------------------------------------------------------------------------------------------
def reference_frequency(
    events: list[Event],
    users: Users,
    tz: str,
    *,
    period="week",
    week_start="monday",
    names=None,
    breakdown=None,
    date_from=None,
    date_to=None,
    data_end=None,
) -> dict[tuple[str, dt.date, int], tuple[int, int, int, int, int, bool]]:
    """(breakdown, period start, k) -> (period_days, observed_days, users, users_or_more, active_users, incomplete)."""
    end = end_of(events, data_end)
    if before_data(events, end):
        return {}
    act = active(events, tz, names, end)
    group = group_of(users, breakdown)
    groups = {"all"} if breakdown is None else {group(u) for u in act}
    first, last = first_date(events, tz, end), local_date(end, tz)
    lo = date_from if date_from and date_from > first else first
    hi = date_to if date_to and date_to < last else last
    out = {}
    for start in starts_between(lo, hi, period, week_start):
        span = dates(start, next_start(start, period) - DAY)
        observed = sum(1 for d in span if first <= d <= last)
        for g in groups:
            ks = [len(ds & set(span)) for u, ds in act.items() if group(u) == g]
            ks = [k for k in ks if k > 0]
            for k in range(1, len(span) + 1):
                out[(g, start, k)] = (
                    len(span),
                    observed,
                    ks.count(k),
                    sum(1 for x in ks if x >= k),
                    len(ks),
                    start <= last < next_start(start, period),
                )
    return out


# -- participation --------------------------------------------------------------------------------------------
def reference_participation(
    events: list[Event],
    users: Users,
    tz: str,
    *,
    names=None,
    by_signup=False,
    cohort_period="week",
    week_start="monday",
    breakdown=None,
    min_eligible_days=1,
    data_end=None,
):
    """(per-user {user: (breakdown, cohort start, acquisition date, eligible, active, share)},
    summary {(breakdown, cohort start): (users, eligible, active, mean, median, pooled)})."""
    end = end_of(events, data_end)
    if before_data(events, end):
        return {}, {}
    last = local_date(end, tz)
    anything = active(events, tz, None, end)
    act = active(events, tz, names, end)
    group = group_of(users, breakdown)
    if by_signup:
        acquired = {
            u: local_date(a["signup_ts"], tz)
            for u, a in users.items()
            if a.get("signup_ts") is not None and a["signup_ts"] <= end
        }
    else:
        acquired = {u: min(ds) for u, ds in anything.items()}
    per_user = {}
    for u, a in acquired.items():
        eligible = (last - a).days + 1
        if eligible < min_eligible_days:
            continue
        n = sum(1 for d in act.get(u, ()) if a <= d <= last)
        per_user[u] = (group(u), period_start(a, cohort_period, week_start), a, eligible, n, n / eligible)
    cohorts: dict[tuple[str, dt.date], list[tuple]] = defaultdict(list)
    for row in per_user.values():
        cohorts[(row[0], row[1])].append(row)
    summary = {}
    for key, rows in cohorts.items():
        shares = [r[5] for r in rows]
        eligible, n = sum(r[3] for r in rows), sum(r[4] for r in rows)
        summary[key] = (len(rows), eligible, n, sum(shares) / len(shares), statistics.median(shares), n / eligible)
    return per_user, summary


# -- lifecycle ------------------------------------------------------------------------------------------------
def reference_lifecycle(
    events: list[Event],
    users: Users,
    tz: str,
    *,
    period="day",
    week_start="monday",
    names=None,
    new_by="first_seen",
    breakdown=None,
    date_from=None,
    date_to=None,
    data_end=None,
) -> dict[tuple[str, dt.date, str], tuple[int, bool]]:
    """(breakdown, period start, status) -> (users, incomplete)."""
    end = end_of(events, data_end)
    if before_data(events, end):
        return {}
    act = active(events, tz, names, end)
    group = group_of(users, breakdown)
    groups = {"all"} if breakdown is None else {group(u) for u in act}
    first, last = first_date(events, tz, end), local_date(end, tz)
    lo = date_from if date_from and date_from > first else first
    hi = date_to if date_to and date_to < last else last
    user_periods = {u: {period_start(d, period, week_start) for d in ds} for u, ds in act.items()}
    out = {}
    for start in starts_between(lo, hi, period, week_start):
        counts = {(g, s): 0 for g in groups for s in ("new", "returning", "resurrecting", "dormant")}
        before = previous_start(start, period, week_start)
        for u, ps in user_periods.items():
            if new_by == "signup" and users.get(u, {}).get("signup_ts") is not None:
                new_period = period_start(local_date(users[u]["signup_ts"], tz), period, week_start)
            else:
                new_period = min(ps)
            earlier = [p for p in ps if p < start]
            if start in ps:
                if not earlier:
                    status = "new" if start == new_period else "resurrecting"
                elif before in ps:
                    status = "returning"
                else:
                    status = "resurrecting"
            elif before in ps:
                status = "dormant"
            else:
                continue
            counts[(group(u), status)] += 1
        incomplete = start <= last < next_start(start, period)
        for (g, s), n in counts.items():
            out[(g, start, s)] = (n, incomplete)
    return out


# -- generated logs -------------------------------------------------------------------------------------------
#: Naive-UTC instants of America/New_York's 2024 DST changes (spring forward, fall back).
NY_DST = (dt.datetime(2024, 3, 10, 7), dt.datetime(2024, 11, 3, 6))
NAMES = ("a", "b", "c")


def local_midnight_utc(tz: str, date: dt.date) -> dt.datetime:
    return dt.datetime.combine(date, dt.time(), tzinfo=ZoneInfo(tz)).astimezone(UTC).replace(tzinfo=None)


@st.composite
def instants(draw, tz: str, anchor: dt.datetime) -> dt.datetime:
    """Uniform over ~10 weeks around ``anchor`` (so 30-day windows fill), within 3 days of it, or a second around a
    local midnight, a week start or a month start."""
    kind = draw(st.sampled_from(["uniform", "uniform", "cluster", "cluster", "cluster", "midnight", "month", "monday"]))
    if kind == "uniform":
        ts = anchor + dt.timedelta(seconds=draw(st.integers(-40 * 86_400, 30 * 86_400)))
    elif kind == "cluster":  # consecutive days around the DST change: returning users
        ts = anchor + dt.timedelta(seconds=draw(st.integers(-3 * 86_400, 3 * 86_400)))
    else:
        base = anchor.date() + dt.timedelta(days=draw(st.integers(-40, 30)))
        if kind == "month":
            base = base.replace(day=1)
        elif kind == "monday":
            base -= dt.timedelta(days=base.weekday())
        ts = local_midnight_utc(tz, base) + dt.timedelta(seconds=draw(st.sampled_from([-1, 0, 1, 3600])))
    if draw(st.booleans()):
        ts += dt.timedelta(microseconds=draw(st.integers(0, 999_999)))
    return ts


@st.composite
def worlds(draw, tz: str = "America/New_York", max_events: int = 40):
    """(events, users, anchor): a few users, instants drawn from a pool (so timestamps repeat), and user rows —
    including users with no events and users without a signup time or channel."""
    anchor = draw(st.sampled_from(NY_DST))
    pool = draw(st.lists(instants(tz, anchor), min_size=3, max_size=16))
    pool += [ts + DAY for ts in pool[: draw(st.integers(0, len(pool)))]]  # the next day too: consecutive days
    n_users = draw(st.integers(1, 5))
    rows = draw(
        st.lists(
            st.tuples(st.integers(0, n_users - 1), st.sampled_from(pool), st.sampled_from(NAMES)),
            min_size=4,
            max_size=max_events,
        )
    )
    events = [(f"u{u}", ts, name) for u, ts, name in rows]
    users: Users = {}
    for u in range(n_users + 1):  # one extra user who may have signed up without any event
        if draw(st.booleans()):
            users[f"u{u}"] = {
                # sometimes an event's own instant: signups on (and just before) active days
                "signup_ts": draw(st.none() | instants(tz, anchor) | st.sampled_from(pool)),
                "channel": draw(st.sampled_from(["ads", "organic", None])),
            }
    return events, users, anchor
