"""Lifecycle (new / returning / resurrecting / dormant): PostHog's cases by hand, the naive reference on generated
logs across a DST change in America/New_York, and Spark = DuckDB on a tiny log."""

from __future__ import annotations

import datetime as dt

import pytest
from activity_loading import load, open_world
from activity_reference import reference_lifecycle, worlds
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from liuliang.metrics.activity import ActivitySpecError
from liuliang.metrics.lifecycle import STATUSES, LifecycleSpec, lifecycle

NY = "America/New_York"
SETTINGS = settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target],
)


def rows(result) -> dict:
    return {
        (r["breakdown"], r["period_start"], r["status"]): (r["users"], r["incomplete"])
        for r in result.table.to_pylist()
    }


def noon(day: int) -> dt.datetime:
    """Noon New York time on 2024-03-<day> (UTC-5 before 10 March, UTC-4 after)."""
    return dt.datetime(2024, 3, day, 17 if day < 10 else 16)


# -- hand-computed (PostHog's definitions) -------------------------------------------------------------------------
def test_daily_statuses_by_hand() -> None:
    # a: 1, 2, 4 March -> new, returning, dormant(3), resurrecting(4), dormant(5)
    # b: 2, 3 March     -> new(2), returning(3), dormant(4)
    events = [("a", noon(1), "e"), ("a", noon(2), "e"), ("a", noon(4), "e"), ("b", noon(2), "e"), ("b", noon(3), "e")]
    events.append(("c", noon(6), "e"))  # c: new on 6 March, and makes 6 March the last day
    res = lifecycle(open_world(events, {}))
    got = rows(res)
    d = dt.date
    expected = {
        d(2024, 3, 1): {"new": 1},
        d(2024, 3, 2): {"new": 1, "returning": 1},
        d(2024, 3, 3): {"returning": 1, "dormant": 1},
        d(2024, 3, 4): {"resurrecting": 1, "dormant": 1},
        d(2024, 3, 5): {"dormant": 1},
        d(2024, 3, 6): {"new": 1},
    }
    for day, counts in expected.items():
        for status in STATUSES:
            assert got[("all", day, status)][0] == counts.get(status, 0), (day, status)
    assert got[("all", d(2024, 3, 6), "new")][1] is True
    assert len(got) == 6 * 4  # nothing after data_end's day (a's second dormant day, 6 March, is not re-counted)
    signed = {(r["period_start"], r["status"]): r["signed_users"] for r in res.table.to_pylist()}
    assert signed[(d(2024, 3, 5), "dormant")] == -1
    assert signed[(d(2024, 3, 4), "resurrecting")] == 1
    assert res.count(d(2024, 3, 2), "returning") == 1
    # (new + resurrecting) / dormant, 1..6 March: nobody dormant on 1, 2 and 6 March
    assert res.quick_ratio()["quick_ratio"].to_pylist() == [None, None, 0.0, 1.0, 0.0, None]


def test_new_by_signup_and_weeks() -> None:
    # Weekly (Monday): a signed up in the week of 26 Feb, first active in the week of 4 March -> resurrecting;
    # b signed up and was active in the week of 4 March -> new; c has no users row -> first-seen -> new.
    users = {
        "a": {"signup_ts": dt.datetime(2024, 2, 27, 12), "channel": "ads"},
        "b": {"signup_ts": dt.datetime(2024, 3, 4, 12), "channel": "ads"},
    }
    events = [("a", noon(5), "e"), ("b", noon(6), "e"), ("c", noon(7), "e"), ("c", noon(12), "e")]
    ws = open_world(events, users)
    by_signup = rows(lifecycle(ws, LifecycleSpec(period="week", new_by="signup", breakdown="channel")))
    week = dt.date(2024, 3, 4)
    assert by_signup[("ads", week, "resurrecting")] == (1, False)
    assert by_signup[("ads", week, "new")] == (1, False)
    assert by_signup[("(none)", week, "new")] == (1, False)
    assert by_signup[("ads", dt.date(2024, 3, 11), "dormant")] == (2, True)
    assert by_signup[("(none)", dt.date(2024, 3, 11), "returning")] == (1, True)
    first_seen = rows(lifecycle(ws, LifecycleSpec(period="week", breakdown="channel")))
    assert first_seen[("ads", week, "new")] == (2, False)


def test_monthly_across_dst_and_event_filter() -> None:
    # 10 March 2024 05:30 UTC is 00:30 EST on 10 March (before the change) — local day 10 March, month March.
    events = [("a", dt.datetime(2024, 2, 10, 12), "open"), ("a", dt.datetime(2024, 3, 10, 5, 30), "order")]
    events.append(("b", dt.datetime(2024, 4, 1, 3, 59), "open"))  # 23:59 EDT on 31 March: still March
    ws = open_world(events, {})
    got = rows(lifecycle(ws, LifecycleSpec(period="month")))
    assert got[("all", dt.date(2024, 3, 1), "returning")] == (1, True)
    assert got[("all", dt.date(2024, 3, 1), "new")] == (1, True)
    orders = rows(lifecycle(ws, LifecycleSpec(period="month", events=("order",))))
    assert orders[("all", dt.date(2024, 2, 1), "new")] == (0, False)  # February has data, but no order
    assert orders[("all", dt.date(2024, 3, 1), "new")] == (1, True)


def test_date_range_and_data_end() -> None:
    events = [("a", noon(1), "e"), ("a", noon(2), "e"), ("a", noon(5), "e")]
    ws = open_world(events, {})
    got = rows(lifecycle(ws, LifecycleSpec(date_from=dt.date(2024, 3, 2), date_to=dt.date(2024, 3, 3))))
    assert sorted({k[1] for k in got}) == [dt.date(2024, 3, 2), dt.date(2024, 3, 3)]
    assert got[("all", dt.date(2024, 3, 2), "returning")] == (1, False)  # history before date_from still counts
    early = rows(lifecycle(ws, data_end=noon(2) - dt.timedelta(seconds=1)))
    assert early[("all", dt.date(2024, 3, 2), "returning")] == (0, True)
    assert max(k[1] for k in early) == dt.date(2024, 3, 2)


def test_bad_spec() -> None:
    ws = open_world([("a", noon(1), "e")], {})
    with pytest.raises(ActivitySpecError, match="period"):
        lifecycle(ws, LifecycleSpec(period="quarter"))  # type: ignore[arg-type]
    with pytest.raises(ActivitySpecError, match="new_by"):
        lifecycle(ws, LifecycleSpec(new_by="created"))  # type: ignore[arg-type]
    d = lifecycle(ws).to_dict()
    assert d["spec"]["period"] == "day" and d["rows"][0]["period_start"] == "2024-03-01"


# -- against the reference ----------------------------------------------------------------------------------------
@SETTINGS
@given(data=st.data())
def test_lifecycle_matches_reference(data: st.DataObject) -> None:
    week_start = data.draw(st.sampled_from(["monday", "sunday"]), label="week_start")
    events, users, anchor = data.draw(worlds(NY), label="world")
    ws = open_world(events, users, week_start=week_start)
    for i in range(4):
        period = data.draw(st.sampled_from(["day", "week", "month"]), label="period")
        names = data.draw(st.sampled_from([None, ("a",), ("b", "c")]), label="events")
        new_by = data.draw(st.sampled_from(["first_seen", "signup"]), label="new_by") if users else "first_seen"
        breakdown = data.draw(st.sampled_from([None, "channel"]), label="breakdown") if users else None
        date_from = date_to = None
        if data.draw(st.booleans(), label="ranged"):
            date_from = anchor.date() + dt.timedelta(days=data.draw(st.integers(-45, 20)))
            date_to = date_from + dt.timedelta(days=data.draw(st.integers(0, 40)))
        end = None
        if data.draw(st.booleans(), label="explicit end"):
            end = data.draw(st.sampled_from(sorted({e[1] for e in events})), label="data_end")
            end += dt.timedelta(seconds=data.draw(st.sampled_from([-1, 0, 1, 86_400 * 9])))
        spec = LifecycleSpec(period, names, new_by, breakdown, date_from, date_to)
        expected = reference_lifecycle(
            events,
            users,
            NY,
            period=period,
            week_start=week_start,
            names=names,
            new_by=new_by,
            breakdown=breakdown,
            date_from=date_from,
            date_to=date_to,
            data_end=end,
        )
        got = rows(lifecycle(ws, spec, data_end=end))
        assert sorted(got) == sorted(expected), f"spec {i} {spec}: keys differ {sorted(set(got) ^ set(expected))[:6]}"
        bad = [(k, got[k], v) for k, v in expected.items() if got[k] != v]
        assert not bad, f"spec {i} {spec}, end={end}: {len(bad)} cells differ; first {bad[:4]}"


# -- Spark = DuckDB ---------------------------------------------------------------------------------------------
def test_lifecycle_same_on_every_engine(ws) -> None:
    events = [("a", noon(1), "e"), ("a", noon(2), "e"), ("a", noon(5), "x"), ("b", noon(3), "e")]
    users = {"a": {"signup_ts": dt.datetime(2024, 2, 20, 12), "channel": "ads"}}
    load(ws, events, users)
    duck = open_world(events, users, tz=ws.settings.tz)
    for spec in (LifecycleSpec(period="day", breakdown="channel"), LifecycleSpec(period="week", new_by="signup")):
        assert lifecycle(ws, spec).to_arrow().equals(lifecycle(duck, spec).to_arrow()), spec
    end = noon(2) - dt.timedelta(seconds=1)  # inside the data: the last day is re-read from events
    assert lifecycle(ws, data_end=end).to_arrow().equals(lifecycle(duck, data_end=end).to_arrow())
