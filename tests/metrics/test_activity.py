"""DAU/WAU/MAU, frequency histograms and daily participation: hand-computed cases, the naive reference on generated
logs across a DST change in America/New_York, and Spark = DuckDB on a tiny log."""

from __future__ import annotations

import datetime as dt
import math

import pytest
from activity_loading import load, open_world
from activity_reference import (
    reference_active_users,
    reference_frequency,
    reference_participation,
    worlds,
)
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import liuliang
from liuliang.errors import WorkspaceError
from liuliang.metrics.activity import (
    ActiveUsersSpec,
    ActivitySpecError,
    FrequencySpec,
    ParticipationSpec,
    active_users,
    frequency,
    participation,
)

NY = "America/New_York"
SETTINGS = settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target],  # no shrinking: each example ingests a log
)


def close(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-15)


def dau_rows(result) -> dict:
    return {
        (r["breakdown"], r["date"]): (r["dau"], r["wau"], r["mau"], r["stickiness"], r["incomplete"])
        for r in result.to_arrow().to_pylist()
    }


def freq_rows(result) -> dict:
    return {
        (r["breakdown"], r["period_start"], r["days_active"]): (
            r["period_days"],
            r["observed_days"],
            r["users"],
            r["users_or_more"],
            r["active_users"],
            r["incomplete"],
        )
        for r in result.to_arrow().to_pylist()
    }


def assert_close_maps(actual: dict, expected: dict, label: str) -> None:
    assert sorted(actual) == sorted(expected), f"{label}: keys differ: {sorted(set(actual) ^ set(expected))[:6]}"
    bad = [
        (k, actual[k], v)
        for k, v in expected.items()
        if len(v) != len(actual[k])
        or not all(close(a, b) if isinstance(b, float) else a == b for a, b in zip(actual[k], v, strict=True))
    ]
    assert not bad, f"{label}: {len(bad)} rows differ; first: {bad[:3]}"


# -- hand-computed ----------------------------------------------------------------------------------------------
HAND = [
    # a: 1 March, 9 March; b: 3 March; c: 11 March 23:00 EDT (03:00 UTC on the 12th) — the first day after the
    # spring-forward change (10 March), so a fixed UTC-5 offset would put it on 11 March too but UTC on the 12th.
    ("a", dt.datetime(2024, 3, 1, 15), "open"),
    ("a", dt.datetime(2024, 3, 9, 15), "order"),
    ("b", dt.datetime(2024, 3, 3, 15), "open"),
    ("b", dt.datetime(2024, 3, 3, 16), "open"),
    ("c", dt.datetime(2024, 3, 12, 3), "open"),
]


def test_dau_wau_mau_by_hand() -> None:
    ws = open_world(HAND, {})
    rows = dau_rows(active_users(ws))
    d = dt.date
    assert rows[("all", d(2024, 3, 1))] == (1, 1, 1, 1.0, False)
    assert rows[("all", d(2024, 3, 2))] == (0, 1, 1, 0.0, False)
    assert rows[("all", d(2024, 3, 3))] == (1, 2, 2, 0.5, False)
    assert rows[("all", d(2024, 3, 8))] == (0, 1, 2, 0.0, False)  # a's 1 March left the 7-day window (2..8 March)
    assert rows[("all", d(2024, 3, 11))][:3] == (1, 2, 3)  # c is on 11 March local, not 12 March
    assert rows[("all", d(2024, 3, 11))][4] is True  # the day holding data_end
    assert max(k[1] for k in rows) == d(2024, 3, 11)
    assert len(rows) == 11


def test_data_end_inside_the_data_and_event_filter() -> None:
    ws = open_world(HAND, {})
    # data_end 9 March 14:00 UTC: a's order at 15:00 does not exist yet.
    rows = dau_rows(active_users(ws, data_end=dt.datetime(2024, 3, 9, 14)))
    assert rows[("all", dt.date(2024, 3, 9))] == (0, 1, 2, 0.0, True)
    only_orders = dau_rows(active_users(ws, ActiveUsersSpec(events=("order",))))
    assert only_orders[("all", dt.date(2024, 3, 1))] == (0, 0, 0, None, False)  # zeros, not an empty table
    assert only_orders[("all", dt.date(2024, 3, 9))] == (1, 1, 1, 1.0, False)


def test_mau_window_is_30_days() -> None:
    ws = open_world([("a", dt.datetime(2024, 1, 1, 17), "e"), ("b", dt.datetime(2024, 2, 15, 17), "e")], {})
    rows = dau_rows(active_users(ws))
    assert rows[("all", dt.date(2024, 1, 30))][2] == 1  # 1..30 January
    assert rows[("all", dt.date(2024, 1, 31))][2] == 0


def test_frequency_by_hand() -> None:
    # Week of Monday 4 March: a on 4, 5, 6 March; b on 4 March twice (one day); c only the week before.
    events = [
        ("a", dt.datetime(2024, 3, 4, 15), "e"),
        ("a", dt.datetime(2024, 3, 5, 15), "e"),
        ("a", dt.datetime(2024, 3, 6, 15), "e"),
        ("b", dt.datetime(2024, 3, 4, 15), "e"),
        ("b", dt.datetime(2024, 3, 4, 18), "e"),
        ("c", dt.datetime(2024, 2, 29, 15), "e"),
    ]
    rows = freq_rows(frequency(open_world(events, {})))
    week = dt.date(2024, 3, 4)
    assert rows[("all", week, 1)] == (7, 3, 1, 2, 2, True)
    assert rows[("all", week, 3)] == (7, 3, 1, 1, 2, True)
    assert rows[("all", week, 4)] == (7, 3, 0, 0, 2, True)
    assert rows[("all", dt.date(2024, 2, 26), 1)] == (7, 4, 1, 1, 1, False)  # data starts on Thursday 29 Feb
    monthly = freq_rows(frequency(open_world(events, {}), FrequencySpec(period="month")))
    assert monthly[("all", dt.date(2024, 2, 1), 29)][0] == 29  # leap February: k runs 1..29
    assert ("all", dt.date(2024, 2, 1), 30) not in monthly


def test_participation_by_hand() -> None:
    users = {
        "a": {"signup_ts": dt.datetime(2024, 2, 28, 15), "channel": "ads"},
        "b": {"signup_ts": None, "channel": None},
    }
    ws = open_world(HAND, users)
    res = participation(ws, ParticipationSpec(cohort_period="month", breakdown="channel"))
    per_user = {r["user_id"]: r for r in res.users.to_pylist()}
    # data_end = c's event, 11 March local: a is eligible 1..11 March (11 days), active 2; b 3..11 (9), active 1.
    assert (per_user["a"]["eligible_days"], per_user["a"]["active_days"]) == (11, 2)
    assert (per_user["b"]["eligible_days"], per_user["b"]["active_days"]) == (9, 1)
    assert per_user["c"]["share"] == 1.0
    assert per_user["b"]["breakdown"] == "(none)"
    summary = {(r["breakdown"], r["cohort_start"]): r for r in res.to_arrow().to_pylist()}
    assert summary[("(none)", dt.date(2024, 3, 1))]["median_share"] == pytest.approx((1 / 9 + 1) / 2)
    assert summary[("(none)", dt.date(2024, 3, 1))]["pooled_share"] == pytest.approx(2 / 10)
    by_signup = participation(ws, ParticipationSpec(by_signup=True, events=("order",)))
    [row] = by_signup.users.to_pylist()  # only a has a signup time; c has no users row at all
    assert (row["user_id"], row["eligible_days"], row["active_days"]) == ("a", 13, 1)  # 28 Feb..11 Mar, one order


def test_participation_median_and_activity_before_signup() -> None:
    noon = {day: dt.datetime(2024, 3, day, 17) for day in range(1, 5)}  # noon EST, 1..4 March
    events = [("x", noon[d], "e") for d in (1, 2, 3, 4)] + [("y", noon[1], "e")]
    events += [("z", noon[1], "e"), ("z", noon[2], "e"), ("w", noon[2], "e"), ("w", noon[3], "e")]
    users = {"w": {"signup_ts": noon[3] - dt.timedelta(hours=1), "channel": None}}
    ws = open_world(events, users)
    res = participation(ws, ParticipationSpec(cohort_period="day"))
    first = {(r["cohort_start"]): r for r in res.to_arrow().to_pylist()}[dt.date(2024, 3, 1)]
    # x 4/4, y 1/4, z 2/4: the median is the middle share, not the mean
    assert (first["users"], first["median_share"]) == (3, 0.5)
    assert first["mean_share"] == pytest.approx((1 + 0.25 + 0.5) / 3)
    [w] = participation(ws, ParticipationSpec(by_signup=True)).users.to_pylist()
    # w signed up on 3 March: the 2 March visit is before acquisition and does not count
    assert (w["eligible_days"], w["active_days"], w["share"]) == (2, 1, 0.5)


def test_results_are_typed_and_serialisable() -> None:
    ws = open_world(HAND, {})
    for res in (active_users(ws), frequency(ws), participation(ws)):
        d = res.to_dict()
        assert d["data_end"] == "2024-03-12T03:00:00"
        assert d["rows"] and isinstance(d["rows"][0], dict)
        assert res.to_pandas().shape[0] == res.to_arrow().num_rows
        with pytest.raises(AttributeError):
            res.table = None  # frozen


def test_bad_specs_and_missing_tables() -> None:
    ws = open_world(HAND, {})
    with pytest.raises(ActivitySpecError, match="period"):
        frequency(ws, FrequencySpec(period="day"))  # type: ignore[arg-type]
    with pytest.raises(ActivitySpecError, match="events"):
        active_users(ws, ActiveUsersSpec(events="open"))  # type: ignore[arg-type]
    with pytest.raises(ActivitySpecError, match="date_from"):
        active_users(ws, ActiveUsersSpec(date_from=dt.date(2024, 3, 5), date_to=dt.date(2024, 3, 1)))
    with pytest.raises(ActivitySpecError, match="min_eligible_days"):
        participation(ws, ParticipationSpec(min_eligible_days=0))
    with pytest.raises(WorkspaceError, match="users table"):
        active_users(ws, ActiveUsersSpec(breakdown="channel"))
    ws2 = open_world(HAND, {"a": {"signup_ts": None, "channel": "x"}})
    with pytest.raises(WorkspaceError, match="no column 'campaign_x'"):
        frequency(ws2, FrequencySpec(breakdown="campaign_x"))


def test_empty_before_data() -> None:
    ws = open_world(HAND, {})
    res = active_users(ws, data_end=dt.datetime(2024, 1, 1))
    assert res.to_arrow().num_rows == 0 and res.data_end is None
    assert participation(ws, data_end=dt.datetime(2024, 1, 1)).users.num_rows == 0


# -- against the reference ----------------------------------------------------------------------------------------
def draw_end(data: st.DataObject, events) -> dt.datetime | None:
    if not data.draw(st.booleans(), label="explicit data_end"):
        return None
    end = data.draw(st.sampled_from(sorted({e[1] for e in events})), label="data_end")
    return end + dt.timedelta(seconds=data.draw(st.sampled_from([-1, 0, 1, 86_400 * 3])))


def draw_common(data: st.DataObject, users, anchor) -> dict:
    names = data.draw(st.sampled_from([None, ("a",), ("b", "c")]), label="events")
    breakdown = data.draw(st.sampled_from([None, "channel"]), label="breakdown") if users else None
    out = {"names": names, "breakdown": breakdown}
    return out


def draw_range(data: st.DataObject, anchor) -> dict:
    if not data.draw(st.booleans(), label="ranged"):
        return {"date_from": None, "date_to": None}
    lo = anchor.date() + dt.timedelta(days=data.draw(st.integers(-45, 20)))
    hi = lo + dt.timedelta(days=data.draw(st.integers(0, 40))) if data.draw(st.booleans()) else None
    return {"date_from": lo, "date_to": hi}


@SETTINGS
@given(data=st.data())
def test_active_users_match_reference(data: st.DataObject) -> None:
    events, users, anchor = data.draw(worlds(NY), label="world")
    ws = open_world(events, users)
    for i in range(3):
        kw = {**draw_common(data, users, anchor), **draw_range(data, anchor)}
        end = draw_end(data, events)
        spec = ActiveUsersSpec(
            events=kw["names"], breakdown=kw["breakdown"], date_from=kw["date_from"], date_to=kw["date_to"]
        )
        expected = reference_active_users(events, users, NY, data_end=end, **kw)
        assert_close_maps(dau_rows(active_users(ws, spec, data_end=end)), expected, f"spec {i}: {spec}, end={end}")


@SETTINGS
@given(data=st.data())
def test_frequency_matches_reference(data: st.DataObject) -> None:
    week_start = data.draw(st.sampled_from(["monday", "sunday"]), label="week_start")
    events, users, anchor = data.draw(worlds(NY), label="world")
    ws = open_world(events, users, week_start=week_start)
    for i in range(3):
        kw = {**draw_common(data, users, anchor), **draw_range(data, anchor)}
        period = data.draw(st.sampled_from(["week", "month"]), label="period")
        end = draw_end(data, events)
        spec = FrequencySpec(period, kw["names"], kw["breakdown"], kw["date_from"], kw["date_to"])
        expected = reference_frequency(events, users, NY, period=period, week_start=week_start, data_end=end, **kw)
        assert_close_maps(freq_rows(frequency(ws, spec, data_end=end)), expected, f"spec {i}: {spec}, end={end}")


@SETTINGS
@given(data=st.data())
def test_participation_matches_reference(data: st.DataObject) -> None:
    week_start = data.draw(st.sampled_from(["monday", "sunday"]), label="week_start")
    events, users, anchor = data.draw(worlds(NY), label="world")
    ws = open_world(events, users, week_start=week_start)
    for i in range(3):
        kw = draw_common(data, users, anchor)
        by_signup = bool(users) and data.draw(st.booleans(), label="by_signup")
        cohort_period = data.draw(st.sampled_from(["day", "week", "month", "quarter"]), label="cohort_period")
        min_days = data.draw(st.sampled_from([1, 1, 5]), label="min_eligible_days")
        end = draw_end(data, events)
        spec = ParticipationSpec(kw["names"], by_signup, cohort_period, kw["breakdown"], min_days)
        res = participation(ws, spec, data_end=end)
        want_users, want_summary = reference_participation(
            events,
            users,
            NY,
            by_signup=by_signup,
            cohort_period=cohort_period,
            week_start=week_start,
            min_eligible_days=min_days,
            data_end=end,
            **kw,
        )
        got_users = {
            r["user_id"]: (
                r["breakdown"],
                r["cohort_start"],
                dt.date(1970, 1, 1) + dt.timedelta(days=r["acquisition_day"]),
                r["eligible_days"],
                r["active_days"],
                r["share"],
            )
            for r in res.users.to_pylist()
        }
        assert_close_maps(got_users, want_users, f"users {i}: {spec}, end={end}")
        got_summary = {
            (r["breakdown"], r["cohort_start"]): (
                r["users"],
                r["eligible_days"],
                r["active_days"],
                r["mean_share"],
                r["median_share"],
                r["pooled_share"],
            )
            for r in res.to_arrow().to_pylist()
        }
        assert_close_maps(got_summary, want_summary, f"summary {i}: {spec}, end={end}")


# -- Spark = DuckDB ---------------------------------------------------------------------------------------------
TINY_USERS = {
    "a": {"signup_ts": dt.datetime(2024, 2, 27, 12), "channel": "ads"},
    "b": {"signup_ts": None, "channel": None},
}


def twin(ws: liuliang.Workspace) -> liuliang.Workspace:
    """``ws`` (DuckDB file or Spark) and an in-memory DuckDB twin, both loaded with the tiny log."""
    load(ws, HAND, TINY_USERS)
    return open_world(HAND, TINY_USERS, tz=ws.settings.tz)


def test_active_users_same_on_every_engine(ws) -> None:
    duck = twin(ws)
    spec = ActiveUsersSpec(breakdown="channel")
    assert active_users(ws, spec).to_arrow().equals(active_users(duck, spec).to_arrow())


def test_frequency_same_on_every_engine(ws) -> None:
    duck = twin(ws)
    spec = FrequencySpec(period="month", events=("open",))
    assert frequency(ws, spec).to_arrow().equals(frequency(duck, spec).to_arrow())


def test_participation_same_on_every_engine(ws) -> None:
    duck = twin(ws)
    spec = ParticipationSpec(breakdown="channel", cohort_period="week")
    a, b = participation(ws, spec), participation(duck, spec)
    assert a.users.num_rows == 3
    # Means and medians may differ in the last bit between engines (summation order, interpolation formula).
    key = {"users": "user_id", "summary": "cohort_start"}
    for name, got, want in (("users", a.users, b.users), ("summary", a.to_arrow(), b.to_arrow())):
        rows_a = {(r["breakdown"], r[key[name]]): tuple(r.values()) for r in got.to_pylist()}
        rows_b = {(r["breakdown"], r[key[name]]): tuple(r.values()) for r in want.to_pylist()}
        if name == "users":  # user keys are engine-assigned; compare everything else
            rows_a = {k: v[:3] + v[4:] for k, v in rows_a.items()}
            rows_b = {k: v[:3] + v[4:] for k, v in rows_b.items()}
        assert_close_maps(rows_a, rows_b, name)
