"""Hypothesis strategies for retention tests: event logs across DST changes and period boundaries, and specs."""

from __future__ import annotations

import datetime as dt
import math
from zoneinfo import ZoneInfo

import pyarrow as pa
from hypothesis import strategies as st
from reference import Cell

import liuliang
from liuliang.metrics.retention import RetentionSpec
from liuliang.metrics.retention.filters import Condition
from liuliang.metrics.retention.result import RetentionTable

#: One DST change per entry (naive UTC instants near the change), so every log straddles one.
DST = {
    "America/New_York": (dt.datetime(2024, 3, 10, 7), dt.datetime(2024, 11, 3, 6)),
    "Europe/London": (dt.datetime(2024, 3, 31, 1), dt.datetime(2024, 10, 27, 1)),
}
EVENTS = ("a", "b", "c")
#: Event property columns (stored as strings; null when absent) and the values drawn for them. ``level`` holds
#: numbers as strings and strings that are no number (``"x"``, ``" 5"``, ``"inf"``) for the numeric operators.
PROPS = {
    "city": ("bj", "sh", "gz", "Bj"),
    "os": ("ios", "android"),
    "level": ("1", "2.5", "10", "-3", ".5", "3e1", "x", " 5", "inf"),
}
#: Regexes in the portable subset (filters module docstring), for ``regex`` / ``not_regex``.
REGEXES = ("^b", "j$", "^(bj|sh)$", "[a-g]", "o.s", r"\d", r"^-?[0-9]+$", "i?o{1,2}", "^[^b]", r"\.")
#: Values drawn for the string operators (substrings and whole values of the property columns).
TEXTS = ("bj", "sh", "Bj", "ios", "j", "J", "o", "s", "1", "x")
#: The pre-operator forms (pairs, "in" tuples), still accepted.
WHERES = (
    (),
    (),
    (("city", "bj"),),
    (("city", ("bj", "sh")),),
    (("city", "sh"), ("os", "ios")),
    (("os", "android"),),
)


@st.composite
def conditions(draw, table: str = "events") -> Condition:
    """One condition with a random operator on a column of ``events`` (props, ``event``, ``amount``) or ``users``."""
    kind = draw(st.sampled_from(["text", "text", "set", "numeric", "presence"]))
    if table == "users":
        if kind == "numeric":
            kind = "presence"
        column = "signup_ts" if kind == "presence" and draw(st.booleans()) else "channel"
        texts: tuple[str, ...] = ("ads", "organic", "a", "S")
    else:
        texts = TEXTS
        column = draw(st.sampled_from(["city", "city", "os", "event"]))
    if kind == "text":
        op = draw(st.sampled_from(["exact", "is_not", "contains", "not_contains", "icontains", "not_icontains"]))
        if table == "events" and draw(st.booleans()):
            return Condition(column, draw(st.sampled_from(["regex", "not_regex"])), draw(st.sampled_from(REGEXES)))
        return Condition(column, op, draw(st.sampled_from(texts)))
    if kind == "set":
        values = draw(st.lists(st.sampled_from(texts), min_size=1, max_size=3))
        return Condition(column, draw(st.sampled_from(["in", "not_in"])), tuple(values))
    if kind == "numeric":
        column = draw(st.sampled_from(["level", "level", "amount"]))
        bounds = st.sampled_from([-3, 0, 0.5, 1, 2.5, 10, 30])
        op = draw(st.sampled_from(["gt", "gte", "lt", "lte", "between"]))
        if op == "between":
            return Condition(column, op, tuple(sorted((draw(bounds), draw(bounds)))))
        return Condition(column, op, draw(bounds))
    if table == "events":
        column = draw(st.sampled_from(["city", "os", "level", "amount"]))
    return Condition(column, draw(st.sampled_from(["is_set", "is_not_set"])))


def wheres(table: str = "events", *, empty: bool = True):
    """A filter: a pre-operator form or one or two random conditions (or none, when ``empty``)."""
    forms = WHERES if table == "events" else ((("channel", "ads"),), (("channel", ("ads", "organic")),))
    options = [st.sampled_from([w for w in forms if w or empty])]
    options.append(st.lists(conditions(table), min_size=1, max_size=2).map(tuple))
    if empty:
        options.append(st.just(()))
    return st.one_of(options)


def local_midnight_utc(tz: str, date: dt.date) -> dt.datetime:
    local = dt.datetime.combine(date, dt.time(), tzinfo=ZoneInfo(tz))
    return local.astimezone(dt.UTC).replace(tzinfo=None)


@st.composite
def instants(draw, tz: str, anchor: dt.datetime) -> dt.datetime:
    """Uniform in ~5 weeks around ``anchor``, or a second around a local midnight / month start."""
    kind = draw(st.sampled_from(["uniform", "uniform", "midnight", "month"]))
    if kind == "uniform":
        ts = anchor + dt.timedelta(seconds=draw(st.integers(-12 * 86_400, 24 * 86_400)))
    else:
        base = anchor.date() + dt.timedelta(days=draw(st.integers(-12, 24)))
        if kind == "month":
            base = base.replace(day=1)
        ts = local_midnight_utc(tz, base) + dt.timedelta(seconds=draw(st.sampled_from([-1, 0, 1, 3599, 3600])))
    if draw(st.booleans()):
        ts += dt.timedelta(microseconds=draw(st.integers(0, 999_999)))
    return ts


@st.composite
def worlds(draw, tz: str):
    """(events, users, anchor): a few users, a pool of instants (so timestamps repeat), users' attributes; events
    carry ``city`` / ``os`` properties (often null)."""
    anchor = draw(st.sampled_from(DST[tz]))
    pool = draw(st.lists(instants(tz, anchor), min_size=1, max_size=12))
    n_users = draw(st.integers(1, 6))
    rows = draw(
        st.lists(
            st.tuples(
                st.integers(0, n_users - 1),
                st.sampled_from(pool),
                st.sampled_from(EVENTS),
                st.sampled_from([None, 0.25, 1.0, 2.5]),
                st.sampled_from((None, *PROPS["city"])),
                st.sampled_from((None, *PROPS["os"])),
                st.sampled_from((None, *PROPS["level"])),
            ),
            min_size=1,
            max_size=35,
        )
    )
    events = [
        (f"u{u}", ts, name, amount, (("city", city), ("os", os_), ("level", level)))
        for u, ts, name, amount, city, os_, level in rows
    ]
    users: dict[str, dict[str, object]] = {}
    for u in range(n_users + 1):  # one extra user who may have signed up without any event
        if draw(st.booleans()):
            users[f"u{u}"] = {
                "signup_ts": draw(st.none() | instants(tz, anchor)),
                "channel": draw(st.sampled_from(["ads", "organic", None])),
            }
    return events, users, anchor


@st.composite
def specs(draw, anchor: dt.datetime) -> RetentionSpec:
    period = draw(st.sampled_from(["hour", "day", "day", "week", "month", "quarter"]))
    window = "rolling" if period in ("day", "week", "month") and draw(st.booleans()) else "calendar"
    criterion = draw(st.sampled_from(["on", "on_or_after", "on_or_before", "brackets", "streak"]))
    brackets = draw(st.sampled_from([(1, 3), (1, 3, 7), (2, 5)])) if criterion == "brackets" else ()
    cohorting = draw(st.sampled_from(["first_time", "first_matching", "first_in_range", "recurring", "signup"]))
    ranged = cohorting == "first_in_range" or draw(st.booleans())
    date_from = date_to = None
    if ranged:
        date_from = anchor.date() + dt.timedelta(days=draw(st.integers(-14, 10)))
        if draw(st.booleans()):
            date_to = date_from + dt.timedelta(days=draw(st.integers(0, 20)))
    aggregation = "users"
    if criterion in ("on", "on_or_before", "brackets"):
        aggregation = draw(st.sampled_from(["users", "users", "sum", "average"]))
    breakdown = draw(st.sampled_from([None, None, "channel", "event:city"]))
    start_where = draw(wheres()) if cohorting != "signup" else ()
    if cohorting == "signup" and breakdown == "event:city":
        breakdown = None
    return RetentionSpec(
        start_events=draw(st.sampled_from([None, ("a",), ("a", "b")])),
        return_events=draw(st.sampled_from([None, ("b",), ("a", "c")])),
        cohorting=cohorting,
        period=period,
        window=window,
        periods=draw(st.integers(0, 30 if period == "hour" else 6)),
        criterion=criterion,
        brackets=brackets,
        min_occurrences=draw(st.sampled_from([1, 1, 2])),
        period_zero=draw(st.sampled_from(["cohort", "returns", "returns_after_start"])),
        date_from=date_from,
        date_to=date_to,
        denominator=draw(st.sampled_from(["cohort", "observed"])),
        reference=draw(st.sampled_from(["cohort", "cohort", "previous"])),
        aggregation=aggregation,
        breakdown=breakdown if breakdown != "event:city" else None,
        breakdown_event_property="city" if breakdown == "event:city" else None,
        start_where=start_where,
        return_where=draw(wheres()),
        user_where=draw(st.one_of(st.just(()), wheres("users"))),
    )


def open_world(tz: str, events, users, week_start: str = "monday") -> liuliang.Workspace:
    ws = liuliang.Workspace.open(":memory:", tz=tz, week_start=week_start)
    return ingest_world(ws, events, users)


def ingest_world(ws: liuliang.Workspace, events, users) -> liuliang.Workspace:
    """Ingest a reference-format log (and users, if any) into ``ws``; returns ``ws``."""
    columns = {
        "user_id": [e[0] for e in events],
        "ts": pa.array([e[1] for e in events], pa.timestamp("us")),
        "event": [e[2] for e in events],
        "amount": pa.array([e[3] for e in events], pa.float64()),
    }
    names = sorted({k for e in events if len(e) > 4 for k, _ in e[4]})
    for name in names:
        columns[name] = pa.array([dict(e[4]).get(name) if len(e) > 4 else None for e in events], pa.string())
    ws.ingest(pa.table(columns))
    if users:
        ids = sorted(users)
        ws.ingest(
            pa.table(
                {
                    "user_id": ids,
                    "signup_ts": pa.array([users[u]["signup_ts"] for u in ids], pa.timestamp("us")),
                    "channel": pa.array([users[u]["channel"] for u in ids], pa.string()),
                }
            ),
            table="users",
        )
    return ws


def engine_cells(result: RetentionTable) -> dict[tuple[str, int, int], Cell]:
    return {
        (r["breakdown"], r["cohort"], r["period_offset"]): Cell(
            r["cohort_size"], r["observed"], r["count"], r["value"], r["rate"], r["incomplete"]
        )
        for r in result.table.to_pylist()
    }


def _close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def assert_same(actual: dict, expected: dict, label: str) -> None:
    assert sorted(actual) == sorted(expected), f"{label}: cells differ: {sorted(set(actual) ^ set(expected))[:8]}"
    bad = []
    for key, want in expected.items():
        got = actual[key]
        exact = (got.cohort_size, got.observed, got.count, got.incomplete)
        if exact != (want.cohort_size, want.observed, want.count, want.incomplete) or not (
            _close(got.value, want.value) and _close(got.rate, want.rate)
        ):
            bad.append((key, got, want))
    assert not bad, f"{label}: {len(bad)} cells differ; first: {bad[:3]}"
