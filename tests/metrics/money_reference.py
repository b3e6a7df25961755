"""Naive plain-Python reference for the money metrics (revenue, CAC, cost per retained user, payback).

Written from the definitions in the docstrings of ``liuliang.metrics.revenue`` and ``liuliang.metrics.acquisition``,
without liuliang code: local days with :mod:`zoneinfo`, periods from calendar dates, sums as exact fractions.

Inputs:
- ``events``: ``(user_id, ts, amount)`` with ``ts`` naive UTC and ``amount`` a float or None;
- ``users``: ``{user_id: {"signup_ts", "channel", "campaign", "acquisition_cost"}}`` (any key may be absent/None);
- ``incentives``: ``(user_id, ts, kind, cost)``.

Rows are distinct, as the warehouse stores them (ingesting an identical row twice keeps one copy).
Results are dicts keyed like the engine's rows; numbers are floats (exact fractions rounded once), nulls None.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from fractions import Fraction
from zoneinfo import ZoneInfo

EPOCH = dt.date(1970, 1, 1)
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
NONE = "(none)"


def local_date(ts: dt.datetime, tz: str) -> dt.date:
    return ts.replace(tzinfo=dt.UTC).astimezone(ZoneInfo(tz)).date()


def local_day(ts: dt.datetime, tz: str) -> int:
    return (local_date(ts, tz) - EPOCH).days


def period_number(day: int, period: str, week_start: str) -> int:
    """Calendar period of a local day number: days since epoch, weeks since the epoch's week, months, quarters."""
    date = EPOCH + dt.timedelta(days=day)
    if period == "day":
        return day
    if period == "week":
        # the week_start day on or before 1970-01-01 starts week 0
        anchor = EPOCH - dt.timedelta(days=(EPOCH.weekday() - WEEKDAYS.index(week_start)) % 7)
        start = date - dt.timedelta(days=(date.weekday() - WEEKDAYS.index(week_start)) % 7)
        return (start - anchor).days // 7
    if period == "month":
        return date.year * 12 + date.month - 1
    if period == "quarter":
        return date.year * 4 + (date.month - 1) // 3
    raise ValueError(period)


def frac(x: float | None) -> Fraction:
    return Fraction(0) if x is None else Fraction(x)


def div(a: Fraction | int, b: Fraction | int, *, positive: bool = False) -> float | None:
    if b == 0 or (positive and b < 0):
        return None
    return float(Fraction(a) / Fraction(b))


def resolve_end(events, data_end):
    return data_end if data_end is not None else max(ts for _, ts, _ in events)


def activity(events, tz: str, end: dt.datetime) -> dict[str, dict[int, Fraction]]:
    """user -> local day -> revenue of that day (the day exists when the user had any event)."""
    out: dict[str, dict[int, Fraction]] = defaultdict(dict)
    for user, ts, amount in events:
        if ts <= end:
            d = local_day(ts, tz)
            out[user][d] = out[user].get(d, Fraction(0)) + frac(amount)
    return out


def attribute(users, user: str, column: str | None) -> str:
    if column is None or column == "all":
        return "all"
    value = users.get(user, {}).get(column)
    return NONE if value is None else str(value)


# -- revenue -------------------------------------------------------------------------------------------------------
def ref_revenue(events, users, tz, week_start, data_end, period: str, periods: int, breakdown: str | None):
    """(breakdown, cohort, k) -> row of the revenue table."""
    end = resolve_end(events, data_end)
    act = activity(events, tz, end)
    end_period = period_number(local_day(end, tz), period, week_start)
    cohorts: dict[tuple[str, int], list[str]] = defaultdict(list)
    revenue: dict[str, dict[int, Fraction]] = {}
    for user, days in act.items():
        cohort = period_number(min(days), period, week_start)
        cohorts[(attribute(users, user, breakdown), cohort)].append(user)
        per: dict[int, Fraction] = defaultdict(Fraction)
        for d, amount in days.items():
            per[period_number(d, period, week_start) - cohort] += amount
        revenue[user] = per
    out = {}
    for (b, cohort), members in cohorts.items():
        base = sum((revenue[u].get(0, Fraction(0)) for u in members), Fraction(0))
        for k in range(periods + 1):
            rev = sum((revenue[u].get(k, Fraction(0)) for u in members), Fraction(0))
            kept = sum(
                (min(revenue[u].get(k, Fraction(0)), revenue[u].get(0, Fraction(0))) for u in members), Fraction(0)
            )
            active = sum(1 for u in members if k in revenue[u])
            out[(b, cohort, k)] = {
                "cohort_size": len(members),
                "active_users": active,
                "revenue": float(rev),
                "base_revenue": float(base),
                "retained_revenue": float(kept),
                "nrr": div(rev, base, positive=True),
                "grr": div(kept, base, positive=True),
                "arpu": div(rev, len(members)),
                "arpu_active": div(rev, active),
                "incomplete": cohort + k >= end_period,
            }
    return out


# -- acquired users and their cost ---------------------------------------------------------------------------------
def acquired(events, users, incentives, tz, end: dt.datetime, window: int):
    """user -> {"day0", "acq_day", "acquisition_cost", "incentive_cost"} for users acquired by ``end``."""
    act = activity(events, tz, end)
    out = {}
    for user in set(users) | set(act):
        row = users.get(user, {})
        signup = row.get("signup_ts")
        sday = local_day(signup, tz) if signup is not None and signup <= end else None
        day0 = min(act[user]) if user in act else None
        candidates = [d for d in (sday, day0) if d is not None]
        if not candidates:
            continue
        acq = min(candidates)
        inc = sum(
            (
                frac(cost)
                for u, ts, _, cost in incentives
                if u == user and ts <= end and acq <= local_day(ts, tz) <= acq + window
            ),
            Fraction(0),
        )
        cost = row.get("acquisition_cost")
        out[user] = {"day0": day0, "acq_day": acq, "acquisition_cost": cost, "incentive_cost": inc}
    return out


def user_cost(info) -> Fraction:
    return frac(info["acquisition_cost"]) + info["incentive_cost"]


def ref_cac(events, users, incentives, tz, data_end, by, window: int = 30):
    """(dimension, segment) -> row of the CAC table."""
    end = resolve_end(events, data_end)
    end_day = local_day(end, tz)
    acq = acquired(events, users, incentives, tz, end, window)
    out = {}
    for dim in by:
        groups: dict[str, list[str]] = defaultdict(list)
        for user in acq:
            groups[attribute(users, user, dim)].append(user)
        for seg, members in groups.items():
            a = sum((frac(acq[u]["acquisition_cost"]) for u in members), Fraction(0))
            i = sum((acq[u]["incentive_cost"] for u in members), Fraction(0))
            out[(dim, seg)] = {
                "users": len(members),
                "acquisition_cost": float(a),
                "incentive_cost": float(i),
                "total_cost": float(a + i),
                "cac": div(a + i, len(members)),
                "cost_missing": sum(1 for u in members if acq[u]["acquisition_cost"] is None),
                "window_open": sum(1 for u in members if acq[u]["acq_day"] + window >= end_day),
            }
    return out


def ref_cost_per_retained(events, users, incentives, tz, data_end, days, by, window: int = 30):
    """(dimension, segment, day) -> row of the cost-per-retained table."""
    end = resolve_end(events, data_end)
    end_day = local_day(end, tz)
    act = activity(events, tz, end)
    acq = acquired(events, users, incentives, tz, end, window)
    population = [u for u in acq if acq[u]["day0"] is not None]
    out = {}
    for dim in by:
        groups: dict[str, list[str]] = defaultdict(list)
        for user in population:
            if dim == "incentive_kind":
                day0 = acq[user]["day0"]
                kinds = {k for u, ts, k, _ in incentives if u == user and ts <= end and local_day(ts, tz) <= day0}
                for kind in kinds or {NONE}:
                    groups[kind].append(user)
            else:
                groups[attribute(users, user, dim)].append(user)
        for seg, members in groups.items():
            for n in days:
                observable = [u for u in members if acq[u]["day0"] + n <= end_day]
                retained = [u for u in observable if acq[u]["day0"] + n in act[u]]
                cost = sum((user_cost(acq[u]) for u in observable), Fraction(0))
                out[(dim, seg, n)] = {
                    "users": len(members),
                    "observable": len(observable),
                    "retained": len(retained),
                    "rate": div(len(retained), len(observable)),
                    "cost": float(cost),
                    "cost_per_retained": div(cost, len(retained)),
                }
    return out


def ref_payback(events, users, incentives, tz, week_start, data_end, period, breakdown, margin, window: int = 30):
    """((breakdown, cohort) -> summary row, (breakdown, cohort, k) -> curve row)."""
    end = resolve_end(events, data_end)
    end_period = period_number(local_day(end, tz), period, week_start)
    act = activity(events, tz, end)
    acq = acquired(events, users, incentives, tz, end, window)
    groups: dict[tuple[str, int], list[str]] = defaultdict(list)
    for user, days in act.items():
        groups[(attribute(users, user, breakdown), period_number(min(days), period, week_start))].append(user)
    summary, curve = {}, {}
    for (b, cohort), members in groups.items():
        cost = sum((user_cost(acq[u]) for u in members), Fraction(0))
        per_k: dict[int, Fraction] = defaultdict(Fraction)
        for u in members:
            for d, amount in act[u].items():
                per_k[period_number(d, period, week_start) - cohort] += amount
        cum = Fraction(0)
        first = None
        for k in range(end_period - cohort + 1):
            cum += per_k.get(k, Fraction(0))
            reached = Fraction(margin) * cum >= cost
            if reached and first is None:
                first = k
            curve[(b, cohort, k)] = {
                "users": len(members),
                "cost": float(cost),
                "cac": div(cost, len(members)),
                "revenue": float(per_k.get(k, Fraction(0))),
                "cumulative_revenue": float(cum),
                "cumulative_revenue_per_user": div(cum, len(members)),
                "reached": reached,
                "incomplete": cohort + k >= end_period,
            }
        summary[(b, cohort)] = {
            "users": len(members),
            "cost": float(cost),
            "cac": div(cost, len(members)),
            "revenue_to_date": float(cum),
            "periods_observed": end_period - cohort + 1,
            "payback_offset": first,
            "reached": first is not None,
        }
    return summary, curve
