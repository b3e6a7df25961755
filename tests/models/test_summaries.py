"""RFM summaries and churn durations from the warehouse: a naive pure-Python reference over the raw event list on
hypothesis-generated logs (DuckDB), one small case on Spark, hand-computed rows, and lifetimes'
``summary_data_from_transaction_data`` / ``calibration_and_holdout_data`` on a small log."""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import liuliang
from liuliang.models.summaries import SummaryError, churn_durations, rfm_summary

TZ = "Asia/Shanghai"
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
START = dt.datetime(2026, 1, 5)  # naive UTC
SETTINGS = settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target],  # no shrinking: each example ingests a log
)


# -- the naive reference ------------------------------------------------------------------------------------------
def local_date(ts: dt.datetime, tz: str) -> dt.date:
    return ts.replace(tzinfo=dt.UTC).astimezone(ZoneInfo(tz)).date()


def week_start_of(d: dt.date, week_start: str) -> dt.date:
    return d - dt.timedelta(days=(d.weekday() - WEEKDAYS.index(week_start)) % 7)


def period_index(d: dt.date, period: str, week_start: str) -> int:
    """The day's ordinal, or for weeks the ordinal of the week's first day (so weeks are 7 apart)."""
    if period == "day":
        return d.toordinal()
    return week_start_of(d, week_start).toordinal()


def steps(a: int, b: int, period: str) -> float:
    return float(b - a) if period == "day" else (b - a) / 7


def reference_rfm(events, users, tz, *, names, period, week_start, cal, obs, data_end, breakdown):
    """(user_id) -> (breakdown, first_date, frequency, recency, T, monetary, holdout_frequency, holdout_monetary)."""
    cal_p = period_index(cal, period, week_start)
    cal_amounts: dict[str, dict[int, float]] = defaultdict(lambda: defaultdict(float))
    hold_amounts: dict[str, dict[int, float]] = defaultdict(lambda: defaultdict(float))
    first_date: dict[str, dt.date] = {}
    for user, ts, name, amount in events:
        if ts > data_end or (names is not None and name not in names):
            continue
        d = local_date(ts, tz)
        p = period_index(d, period, week_start)
        if d <= cal:
            cal_amounts[user][p] += amount or 0.0
            first_date[user] = min(first_date.get(user, d), d)
        elif d <= obs:
            hold_amounts[user][p] += amount or 0.0
    out = {}
    for user, per in cal_amounts.items():
        ps = sorted(per)
        freq = len(ps) - 1
        hold = hold_amounts.get(user, {})
        group = "all" if breakdown is None else (users.get(user) or "(none)")
        out[user] = (
            group,
            first_date[user],
            float(freq),
            steps(ps[0], ps[-1], period),
            steps(ps[0], cal_p, period),
            sum(per[p] for p in ps[1:]) / freq if freq else 0.0,
            float(len(hold)),
            sum(hold.values()) / len(hold) if hold else 0.0,
        )
    return out


def reference_churn(events, users, tz, *, names, inactivity_days, data_end, breakdown):
    end = local_date(data_end, tz)
    days: dict[str, list[dt.date]] = defaultdict(list)
    for user, ts, name, _ in events:
        if ts <= data_end and (names is None or name in names):
            days[user].append(local_date(ts, tz))
    out = {}
    for user, ds in days.items():
        first, last = min(ds), max(ds)
        group = "all" if breakdown is None else (users.get(user) or "(none)")
        out[user] = (group, first, last, (last - first).days + 1, (end - last).days >= inactivity_days)
    return out


def rfm_rows(result) -> dict:
    cols = ("breakdown", "first_date", "frequency", "recency", "T", "monetary_value")
    return {
        r["user_id"]: tuple(r[c] for c in (*cols, "holdout_frequency", "holdout_monetary"))
        for r in result.to_arrow().to_pylist()
    }


def churn_rows(result) -> dict:
    return {
        r["user_id"]: (r["breakdown"], r["first_date"], r["last_date"], r["duration"], r["churned"])
        for r in result.to_arrow().to_pylist()
    }


def same(a, b) -> bool:
    if isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)
    return a == b


def assert_rows(actual: dict, expected: dict, label: str) -> None:
    assert sorted(actual) == sorted(expected), f"{label}: users differ: {sorted(set(actual) ^ set(expected))}"
    bad = [(u, actual[u], e) for u, e in expected.items() if not all(map(same, actual[u], e))]
    assert not bad, f"{label}: {len(bad)} users differ; first: {bad[:3]}"


# -- loading ------------------------------------------------------------------------------------------------------
def load(ws, events, users):
    ws.ingest(
        pa.table(
            {
                "user_id": [e[0] for e in events],
                "ts": pa.array([e[1] for e in events], pa.timestamp("us")),
                "event": [e[2] for e in events],
                "amount": pa.array([e[3] for e in events], pa.float64()),
            }
        )
    )
    if users:
        ids = sorted(users)
        ws.ingest(pa.table({"user_id": ids, "channel": pa.array([users[u] for u in ids], pa.string())}), table="users")
    return ws


@st.composite
def logs(draw):
    """Up to 5 users, events over ~10 weeks at distinct minutes (so no two rows are duplicates), amounts in
    quarters (sums are exact in binary), some without an amount, and a users table covering some of them."""
    n_users = draw(st.integers(1, 5))
    minutes = draw(st.lists(st.integers(0, 70 * 1440), min_size=1, max_size=40, unique=True))
    events = []
    for m in minutes:
        user = f"u{draw(st.integers(0, n_users - 1))}"
        name = draw(st.sampled_from(["open", "order"]))
        amount = draw(st.one_of(st.none(), st.integers(0, 400).map(lambda q: q / 4)))
        events.append((user, START + dt.timedelta(minutes=m), name, amount))
    ids = sorted({e[0] for e in events})
    users = {u: draw(st.sampled_from(["organic", "red_packet", None])) for u in ids if draw(st.booleans())}
    return events, users


def draw_spec(data, events, week_start: str):
    """A spec valid for the log: period, events, calibration / observation ends (week ends for weeks), data_end."""
    period = data.draw(st.sampled_from(["day", "week"]), label="period")
    names = data.draw(st.sampled_from([None, ("order",), ("open", "order")]), label="names")
    last_ts = max(e[1] for e in events)
    data_end = last_ts + dt.timedelta(minutes=data.draw(st.sampled_from([-600, -1, 0, 0, 30, 3000]), label="end"))
    data_end = max(data_end, START)
    end_day = local_date(data_end, TZ)
    first_day = local_date(START, TZ)
    if period == "day":
        cal = first_day + dt.timedelta(days=data.draw(st.integers(0, (end_day - first_day).days), label="cal"))
        obs_choices = [None, cal, cal + dt.timedelta(days=(end_day - cal).days // 2), end_day]
    else:
        end_of = [d for d in (first_day + dt.timedelta(days=i) for i in range((end_day - first_day).days + 1))]
        last_week_days = [d for d in end_of if (d + dt.timedelta(days=1)).weekday() == WEEKDAYS.index(week_start)]
        if not last_week_days:
            return None
        cal = data.draw(st.sampled_from(last_week_days), label="cal")
        obs_choices = [None, *[d for d in last_week_days if d >= cal]]
    obs = data.draw(st.sampled_from(obs_choices), label="obs")
    return period, names, cal, obs, data_end


def expected_obs(obs, period, week_start, data_end):
    if obs is not None:
        return obs
    end = local_date(data_end, TZ)
    if period == "day":
        return end
    while (end + dt.timedelta(days=1)).weekday() != WEEKDAYS.index(week_start):
        end -= dt.timedelta(days=1)
    return end


# -- reference agreement ------------------------------------------------------------------------------------------
@SETTINGS
@given(data=st.data())
def test_rfm_and_churn_match_reference_on_duckdb(data: st.DataObject) -> None:
    events, users = data.draw(logs(), label="log")
    week_start = data.draw(st.sampled_from(["monday", "sunday"]), label="week_start")
    ws = load(liuliang.Workspace.open(":memory:", tz=TZ, week_start=week_start), events, users)
    for i in range(3):
        spec = draw_spec(data, events, week_start)
        if spec is None:
            continue
        period, names, cal, obs, data_end = spec
        breakdown = data.draw(st.sampled_from([None, "channel"]), label="breakdown") if users else None
        obs_day = expected_obs(obs, period, week_start, data_end)
        if obs_day < cal:  # the last complete week ends before calibration_end: refused
            with pytest.raises(SummaryError):
                rfm_summary(ws, event=names, period=period, calibration_end=cal, data_end=data_end)
            continue
        res = rfm_summary(
            ws,
            event=names,
            period=period,
            calibration_end=cal,
            observation_end=obs,
            data_end=data_end,
            breakdown=breakdown,
        )
        expected = reference_rfm(
            events,
            users,
            TZ,
            names=names,
            period=period,
            week_start=week_start,
            cal=cal,
            obs=obs_day,
            data_end=data_end,
            breakdown=breakdown,
        )
        label = f"spec {i}: {period} {names} cal={cal} obs={obs} end={data_end} by={breakdown}"
        assert_rows(rfm_rows(res), expected, label)
        assert res.observation_end == obs_day
        assert res.holdout_periods == steps(
            period_index(cal, period, week_start), period_index(obs_day, period, week_start), period
        )
        k = data.draw(st.integers(1, 30), label="inactivity")
        churn = churn_durations(ws, inactivity_days=k, data_end=data_end, event=names, breakdown=breakdown)
        expected_churn = reference_churn(
            events, users, TZ, names=names, inactivity_days=k, data_end=data_end, breakdown=breakdown
        )
        assert_rows(churn_rows(churn), expected_churn, f"churn {label} k={k}")


SMALL_LOG = [
    ("a", dt.datetime(2026, 1, 5, 2), "order", 10.0),
    ("a", dt.datetime(2026, 1, 5, 20), "open", None),  # 04:00 on the 6th in Shanghai: a second active day
    ("a", dt.datetime(2026, 1, 9, 3), "order", 5.5),
    ("a", dt.datetime(2026, 1, 9, 4), "order", 2.0),  # same day: one period with amount 7.5
    ("a", dt.datetime(2026, 1, 16, 1), "order", 7.0),
    ("b", dt.datetime(2026, 1, 6, 1), "open", None),
    ("b", dt.datetime(2026, 1, 13, 1), "order", 3.0),
    ("c", dt.datetime(2026, 1, 11, 1), "open", None),
    ("d", dt.datetime(2026, 1, 14, 1), "order", 4.0),  # first seen in the holdout: not in the summary
]
SMALL_USERS = {"a": "organic", "b": "red_packet"}


def test_hand_computed_rows(duck_ws) -> None:
    ws = load(duck_ws, SMALL_LOG, SMALL_USERS)
    res = rfm_summary(ws, calibration_end=dt.date(2026, 1, 11), data_end=dt.datetime(2026, 1, 20), breakdown="channel")
    rows = rfm_rows(res)
    # a: active 5, 6, 9 Jan (Shanghai) in calibration -> 2 repeats, recency 4, T 6, repeat amounts (0 + 7.5) / 2
    assert rows["a"] == ("organic", dt.date(2026, 1, 5), 2.0, 4.0, 6.0, 3.75, 1.0, 7.0)
    assert rows["b"] == ("red_packet", dt.date(2026, 1, 6), 0.0, 0.0, 5.0, 0.0, 1.0, 3.0)
    assert rows["c"] == ("(none)", dt.date(2026, 1, 11), 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    assert "d" not in rows and res.holdout_periods == 9
    assert list(res.without_newcomers().to_arrow()["user_id"].to_pylist()) == ["a", "b"]
    np.testing.assert_array_equal(res.for_group("organic").frequency, [2.0])
    orders = rfm_summary(ws, event="order", calibration_end=dt.date(2026, 1, 11), data_end=dt.date(2026, 1, 16))
    assert rfm_rows(orders)["a"][2:] == (1.0, 4.0, 6.0, 7.5, 1.0, 7.0)  # the 6th had no order
    churn = churn_rows(churn_durations(ws, inactivity_days=5, data_end=dt.datetime(2026, 1, 15, 12)))
    # a's 16 Jan order is after data_end; E = 15 Jan: a last on 9th (6 days idle: churned), b on 13th (censored)
    assert churn["a"] == ("all", dt.date(2026, 1, 5), dt.date(2026, 1, 9), 5, True)
    assert churn["b"] == ("all", dt.date(2026, 1, 6), dt.date(2026, 1, 13), 8, False)


def test_bad_arguments_are_refused(duck_ws) -> None:
    ws = load(duck_ws, SMALL_LOG, SMALL_USERS)
    end = dt.datetime(2026, 1, 20)
    with pytest.raises(SummaryError, match="period"):
        rfm_summary(ws, period="month", calibration_end=dt.date(2026, 1, 11), data_end=end)
    with pytest.raises(SummaryError, match="last day of a week"):
        rfm_summary(ws, period="week", calibration_end=dt.date(2026, 1, 10), data_end=end)
    with pytest.raises(SummaryError, match="has not elapsed"):
        rfm_summary(ws, calibration_end=dt.date(2026, 1, 25), data_end=end)
    with pytest.raises(SummaryError, match="observation_end"):
        rfm_summary(ws, calibration_end=dt.date(2026, 1, 11), observation_end=dt.date(2026, 1, 10), data_end=end)
    with pytest.raises(SummaryError, match="inactivity_days"):
        churn_durations(ws, inactivity_days=0, data_end=end)


@pytest.mark.spark
def test_spark_matches_reference(spark_db) -> None:
    ws = load(spark_db(), SMALL_LOG, SMALL_USERS)
    for period, cal in (("day", dt.date(2026, 1, 11)), ("week", dt.date(2026, 1, 11))):
        for names in (None, ("order",)):
            end = dt.datetime(2026, 1, 15, 19, 30)  # inside the local day of 16 Jan: that day is re-read
            res = rfm_summary(ws, event=names, period=period, calibration_end=cal, data_end=end, breakdown="channel")
            obs = expected_obs(None, period, "monday", end)
            expected = reference_rfm(
                SMALL_LOG,
                SMALL_USERS,
                TZ,
                names=names,
                period=period,
                week_start="monday",
                cal=cal,
                obs=obs,
                data_end=end,
                breakdown="channel",
            )
            assert_rows(rfm_rows(res), expected, f"spark {period} {names}")
    churn = churn_durations(ws, inactivity_days=4, data_end=dt.datetime(2026, 1, 15, 12), breakdown="channel")
    expected = reference_churn(
        SMALL_LOG,
        SMALL_USERS,
        TZ,
        names=None,
        inactivity_days=4,
        data_end=dt.datetime(2026, 1, 15, 12),
        breakdown="channel",
    )
    assert_rows(churn_rows(churn), expected, "spark churn")
    ws.close()


# -- lifetimes ----------------------------------------------------------------------------------------------------
def test_lifetimes_summary_agrees() -> None:
    """Same log through lifetimes (pandas, UTC dates) and through the warehouse (a UTC workspace)."""
    pytest.importorskip("lifetimes")
    import pandas as pd
    from lifetimes.utils import calibration_and_holdout_data, summary_data_from_transaction_data

    rng = np.random.default_rng(7)
    events = []
    for u in range(40):
        start = int(rng.integers(0, 40))
        days = sorted({start, *rng.integers(start, 90, size=int(rng.integers(0, 12))).tolist()})
        # one transaction per day in the holdout (lifetimes averages holdout *transactions*, this summary holdout
        # *periods*; they agree when each holdout day has one), two on some calibration days
        for d in days:
            n = 2 if d < 60 and rng.random() < 0.3 else 1
            for k in range(n):
                ts = dt.datetime(2026, 1, 1) + dt.timedelta(days=d, hours=1 + 3 * k)
                events.append((f"u{u:02d}", ts, "order", float(rng.integers(1, 200)) / 4))
    ws = load(liuliang.Workspace.open(":memory:", tz="UTC"), events, {})
    frame = pd.DataFrame(events, columns=["user_id", "ts", "event", "amount"])
    cal, obs = dt.date(2026, 3, 1), dt.date(2026, 3, 31)

    whole = summary_data_from_transaction_data(
        frame, "user_id", "ts", monetary_value_col="amount", observation_period_end=obs
    ).sort_index()
    ours = rfm_summary(ws, calibration_end=obs, data_end=dt.datetime(2026, 4, 1)).to_pandas().set_index("user_id")
    assert list(ours.index) == list(whole.index)
    for col in ("frequency", "recency", "T", "monetary_value"):
        np.testing.assert_allclose(ours[col], whole[col], rtol=1e-12, err_msg=col)

    split = calibration_and_holdout_data(
        frame,
        "user_id",
        "ts",
        calibration_period_end=pd.Timestamp(cal) + pd.Timedelta(hours=23, minutes=59),
        observation_period_end=pd.Timestamp(obs) + pd.Timedelta(hours=23, minutes=59),
        monetary_value_col="amount",
    ).sort_index()
    res = rfm_summary(ws, calibration_end=cal, observation_end=obs, data_end=dt.datetime(2026, 4, 1))
    mine = res.to_pandas().set_index("user_id")
    assert list(mine.index) == list(split.index) and len(mine) > 20
    pairs = {
        "frequency": "frequency_cal",
        "recency": "recency_cal",
        "T": "T_cal",
        "monetary_value": "monetary_value_cal",
        "holdout_frequency": "frequency_holdout",
        "holdout_monetary": "monetary_value_holdout",
    }
    for ours_col, theirs in pairs.items():
        np.testing.assert_allclose(mine[ours_col], split[theirs], rtol=1e-12, err_msg=ours_col)
    assert res.holdout_periods == int(split["duration_holdout"].iloc[0]) == 30
