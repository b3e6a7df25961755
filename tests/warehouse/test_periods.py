"""Time bucketing against an independent plain-Python reference (zoneinfo + datetime), run through DuckDB.

The reference never calls liuliang: a naive-UTC instant is made aware, converted with ``astimezone`` and its local
date counted from 1970-01-01; weeks, months and quarters come from that date with ``datetime`` arithmetic.
Instants are drawn uniformly over 1990-2100 and densely around DST changes (America/New_York, Europe/London and
Asia/Shanghai, which had DST in 1990-1991), with microseconds, because day boundaries are where bugs live.
"""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
from zoneinfo import ZoneInfo

import ibis
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from liuliang.errors import WorkspaceError
from liuliang.warehouse import periods

ZONES = ("America/New_York", "Europe/London", "Asia/Shanghai", "UTC")
WEEKDAYS = periods.WEEKDAYS
EPOCH_DATE = dt.date(1970, 1, 1)
MIN_TS, MAX_TS = dt.datetime(1990, 1, 1), dt.datetime(2099, 12, 31)

# UTC instants of (approximately) real offset changes; the strategy samples densely around them.
TRANSITIONS = {
    "America/New_York": [
        dt.datetime(1990, 4, 1, 7),
        dt.datetime(2006, 10, 29, 6),
        dt.datetime(2007, 3, 11, 7),
        dt.datetime(2024, 3, 10, 7),
        dt.datetime(2024, 11, 3, 6),
        dt.datetime(2061, 3, 13, 7),
    ],
    "Europe/London": [
        dt.datetime(1996, 10, 27, 1),
        dt.datetime(2024, 3, 31, 1),
        dt.datetime(2024, 10, 27, 1),
        dt.datetime(2070, 3, 30, 1),
    ],
    "Asia/Shanghai": [
        dt.datetime(1990, 4, 14, 18),
        dt.datetime(1990, 9, 15, 17),
        dt.datetime(1991, 4, 13, 18),
        dt.datetime(1991, 9, 14, 17),
        dt.datetime(2024, 3, 1, 16),  # local midnight
    ],
    "UTC": [dt.datetime(2024, 3, 1), dt.datetime(2000, 1, 1)],
}

SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# -- the independent reference --------------------------------------------------------------------------------
def ref_local_date(ts: dt.datetime, tz: str) -> dt.date:
    return ts.replace(tzinfo=dt.UTC).astimezone(ZoneInfo(tz)).date()


def ref_offset(ts: dt.datetime, tz: str) -> int:
    return int(ts.replace(tzinfo=dt.UTC).astimezone(ZoneInfo(tz)).utcoffset().total_seconds())


def ref_week(d: dt.date, week_start: str) -> int:
    """Weeks since the week (starting on ``week_start``) that contains 1970-01-01."""
    start_idx = WEEKDAYS.index(week_start)

    def start_of_week(x: dt.date) -> dt.date:
        return x - dt.timedelta(days=(x.weekday() - start_idx) % 7)

    return (start_of_week(d) - start_of_week(EPOCH_DATE)).days // 7


def ref_month(d: dt.date) -> int:
    return d.year * 12 + d.month - 1


def ref_quarter(d: dt.date) -> int:
    return d.year * 4 + (d.month - 1) // 3


# -- strategies -----------------------------------------------------------------------------------------------
@st.composite
def zone_and_instants(draw: st.DrawFn) -> tuple[str, list[dt.datetime]]:
    tz = draw(st.sampled_from(ZONES))
    center = draw(st.one_of(st.datetimes(MIN_TS, MAX_TS), st.sampled_from(TRANSITIONS[tz])))
    near = st.integers(-8 * 3600, 8 * 3600)
    far = st.integers(-200 * 86_400, 200 * 86_400)
    # Within two seconds of a local midnight (found with zoneinfo: it only places inputs, it is not the oracle).
    midnight = st.tuples(st.integers(-200, 200), st.integers(-2, 1)).map(
        lambda kd: _local_midnight_offset(center, tz, kd[0]) + kd[1]
    )
    offsets = draw(st.lists(st.one_of(near, far, midnight, midnight), min_size=5, max_size=50))
    micro = st.one_of(st.integers(0, 999_999), st.integers(500_000, 999_999))
    micros = draw(st.lists(micro, min_size=len(offsets), max_size=len(offsets)))
    instants = [
        min(max(center + dt.timedelta(seconds=o, microseconds=u), MIN_TS), MAX_TS)
        for o, u in zip(offsets, micros, strict=True)
    ]
    return tz, instants


def _local_midnight_offset(center: dt.datetime, tz: str, k: int) -> int:
    """Seconds from ``center`` (naive UTC) to the local midnight ``k`` days after its local date."""
    zone = ZoneInfo(tz)
    day = ref_local_date(center, tz) + dt.timedelta(days=k)
    midnight = dt.datetime.combine(day, dt.time(), zone).astimezone(dt.UTC).replace(tzinfo=None)
    return int((midnight - center).total_seconds())


@pytest.fixture(scope="module")
def con():
    c = ibis.duckdb.connect()
    c.raw_sql("SET TimeZone = 'UTC'")
    yield c
    c.disconnect()


def _instants_table(instants: list[dt.datetime]) -> ibis.Table:
    return ibis.memtable(
        pa.table({"i": pa.array(range(len(instants)), pa.int64()), "ts": pa.array(instants, pa.timestamp("us"))})
    )


# -- offset segments ------------------------------------------------------------------------------------------
@SETTINGS
@given(zone_and_instants())
def test_offset_segments_give_the_zone_offset_at_every_instant(case):
    tz, instants = case
    segments = periods.offset_segments(tz, min(instants), max(instants))
    starts = [s.start_epoch for s in segments]
    assert starts == sorted(starts)
    assert all(a.offset_s != b.offset_s for a, b in itertools.pairwise(segments))
    for ts in instants:
        epoch = int((ts - dt.datetime(1970, 1, 1)).total_seconds() // 1)
        assert epoch >= starts[0]
        seg = segments[bisect.bisect_right(starts, epoch) - 1]
        assert seg.offset_s == ref_offset(ts, tz), (tz, ts)


def test_offset_segments_without_dst_is_one_segment():
    segs = periods.offset_segments("Asia/Shanghai", dt.datetime(2020, 1, 1), dt.datetime(2025, 1, 1))
    assert [s.offset_s for s in segs] == [8 * 3600]
    segs = periods.offset_segments("America/New_York", dt.datetime(2024, 1, 1), dt.datetime(2024, 12, 31))
    assert [s.offset_s for s in segs] == [-5 * 3600, -4 * 3600, -5 * 3600]
    # The change is found to the second: 2024-03-10 02:00 EST = 07:00 UTC.
    assert segs[1].start_epoch == int(dt.datetime(2024, 3, 10, 7, tzinfo=dt.UTC).timestamp())


# -- local day, weeks, months, quarters through DuckDB ---------------------------------------------------------
@SETTINGS
@given(zone_and_instants(), st.sampled_from(WEEKDAYS))
def test_local_day_and_periods_match_zoneinfo(con, case, week_start):
    tz, instants = case
    segments = periods.offset_segments(tz, min(instants), max(instants))
    t = _instants_table(instants)
    days = con.to_pyarrow(t.select("i", day=periods.local_day(t.ts, segments)).order_by("i"))
    # Periods are derived from the stored integer day, as the rollups do (not from the CASE expression).
    d = ibis.memtable(days)
    expr = d.select(
        "i",
        "day",
        week=periods.week_of_day(d.day, week_start),
        week_p=periods.period_of_day(d.day, "week", week_start),
        month=periods.period_of_day(d.day, "month"),
        quarter=periods.period_of_day(d.day, "quarter"),
    ).order_by("i")
    got = con.to_pyarrow(expr).to_pylist()
    for row, ts in zip(got, instants, strict=True):
        d = ref_local_date(ts, tz)
        expected = {
            "day": (d - EPOCH_DATE).days,
            "week": ref_week(d, week_start),
            "week_p": ref_week(d, week_start),
            "month": ref_month(d),
            "quarter": ref_quarter(d),
        }
        assert {k: row[k] for k in expected} == expected, (tz, ts, week_start)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(-30_000, 80_000), min_size=1, max_size=200), st.sampled_from(("monday", "sunday")))
def test_period_of_day_matches_calendar(con, days, week_start):
    t = ibis.memtable(pa.table({"i": pa.array(range(len(days)), pa.int64()), "day": pa.array(days, pa.int32())}))
    expr = t.select(
        "i",
        "day",
        same=periods.period_of_day(t.day, "day"),
        week=periods.period_of_day(t.day, "week", week_start),
        month=periods.period_of_day(t.day, "month"),
        quarter=periods.period_of_day(t.day, "quarter"),
    ).order_by("i")
    for row in con.to_pyarrow(expr).to_pylist():
        d = periods.date_of_day(row["day"])
        assert d == EPOCH_DATE + dt.timedelta(days=row["day"])
        assert periods.day_number(d) == row["day"]
        assert row["same"] == row["day"]
        assert row["week"] == ref_week(d, week_start)
        assert row["month"] == ref_month(d)
        assert row["quarter"] == ref_quarter(d)


@pytest.mark.parametrize(
    ("tz", "ts", "local"),
    [
        # A fraction of a second before midnight stays on its day (epoch seconds must be floored, not rounded).
        ("UTC", dt.datetime(2024, 3, 1, 23, 59, 59, 700_000), dt.date(2024, 3, 1)),
        ("Asia/Shanghai", dt.datetime(2024, 3, 1, 15, 59, 59, 999_999), dt.date(2024, 3, 1)),
        ("Asia/Shanghai", dt.datetime(2024, 3, 1, 16, 0, 0), dt.date(2024, 3, 2)),
        # New York spring forward: 06:59:59 UTC is 01:59:59 EST, 07:00 UTC is 03:00 EDT.
        ("America/New_York", dt.datetime(2024, 3, 10, 4, 59, 59, 900_000), dt.date(2024, 3, 9)),
        ("America/New_York", dt.datetime(2024, 3, 10, 5, 0, 0), dt.date(2024, 3, 10)),
        ("America/New_York", dt.datetime(2024, 11, 4, 4, 59, 59), dt.date(2024, 11, 3)),
        ("America/New_York", dt.datetime(2024, 11, 4, 5, 0, 0), dt.date(2024, 11, 4)),
        ("Europe/London", dt.datetime(2024, 10, 26, 22, 59, 59), dt.date(2024, 10, 26)),
        ("Europe/London", dt.datetime(2024, 10, 26, 23, 0, 0), dt.date(2024, 10, 27)),
    ],
)
def test_local_day_at_day_boundaries(con, tz, ts, local):
    segments = periods.offset_segments(tz, ts, ts)
    t = _instants_table([ts])
    got = con.to_pyarrow(t.select(day=periods.local_day(t.ts, segments)))["day"][0].as_py()
    assert got == periods.day_number(local) == (ref_local_date(ts, tz) - EPOCH_DATE).days


def test_week_starts_known_dates(con):
    # 2024-03-03 is a Sunday, 2024-03-04 a Monday.
    sun, mon = periods.day_number(dt.date(2024, 3, 3)), periods.day_number(dt.date(2024, 3, 4))
    t = ibis.memtable(pa.table({"day": pa.array([sun, mon], pa.int32())}))
    got = con.to_pyarrow(
        t.select(m=periods.week_of_day(t.day, "monday"), s=periods.week_of_day(t.day, "sunday"))
    ).to_pylist()
    assert got[0]["m"] == got[1]["m"] - 1  # Monday starts a new Monday week
    assert got[0]["s"] == got[1]["s"]  # Sunday and Monday share a Sunday week


def test_bad_settings_raise_errors_that_name_the_value():
    with pytest.raises(WorkspaceError, match="Mars/Olympus"):
        periods.check_tz("Mars/Olympus")
    with pytest.raises(WorkspaceError, match="'mon'"):
        periods.check_week_start("mon")
    with pytest.raises(WorkspaceError, match="hour"):
        periods.period_of_day(ibis.literal(1), "hour")
    assert periods.check_week_start("Sunday") == "sunday"
