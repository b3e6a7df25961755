"""Day-N retention against a plain-Python reference, and against the generator's planted truth."""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import liuliang
from liuliang.metrics import day_n_retention
from liuliang.simulate import WorldConfig, generate_world

UTC = dt.UTC


def reference(events: list[tuple[str, dt.datetime]], channels: dict[str, str], tz: str, days: tuple[int, ...]):
    """Naive day-N retention: cohort = first local day; observable if cohort + N <= last local day of the data."""
    zone = ZoneInfo(tz)
    active: dict[str, set[int]] = defaultdict(set)
    for user, ts in events:
        local = ts.replace(tzinfo=UTC).astimezone(zone).date()
        active[user].add((local - dt.date(1970, 1, 1)).days)
    last = max(max(d) for d in active.values())
    out: dict[tuple[str, int], tuple[int, int, int]] = {}
    for n in days:
        counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
        for user, ds in active.items():
            group = channels.get(user, "(unknown)") if channels else "all"  # no users table: one group
            first = min(ds)
            c = counts[group]
            c[0] += 1
            if first + n <= last:
                c[1] += 1
                c[2] += (first + n) in ds
        for group, (users, observable, retained) in counts.items():
            out[(group, n)] = (users, observable, retained)
    return out


def engine_rows(result) -> dict[tuple[str, int], tuple[int, int, int]]:
    return {(r["group"], r["day"]): (r["users"], r["observable"], r["retained"]) for r in result.table.to_pylist()}


def test_hand_example() -> None:
    ws = liuliang.Workspace.open(":memory:", tz="Asia/Shanghai")
    # 2026-01-01 16:30 UTC is already 2 January in Shanghai: a's second event is day 1, not day 0.
    ws.ingest(
        pa.table(
            {
                "user_id": ["a", "a", "b", "b", "c"],
                "ts": [
                    "2026-01-01 02:00:00",
                    "2026-01-01 16:30:00",
                    "2026-01-01 03:00:00",
                    "2026-01-08 03:00:00",
                    "2026-01-08 05:00:00",
                ],
                "event": ["open"] * 5,
            }
        )
    )
    ws.ingest(pa.table({"user_id": ["a", "b"], "channel": ["red_packet", "organic"]}), table="users")
    res = day_n_retention(ws, days=(1, 7))
    rows = engine_rows(res)
    assert rows[("red_packet", 1)] == (1, 1, 1)
    assert rows[("organic", 1)] == (1, 1, 0)
    assert rows[("organic", 7)] == (1, 1, 1)
    assert rows[("(unknown)", 1)] == (1, 0, 0)  # c's day 1 is after the data ends: not observable
    assert res.rate("(unknown)", 1) is None
    assert res.rate("organic", 7) == 1.0


instants = st.datetimes(min_value=dt.datetime(2026, 3, 1), max_value=dt.datetime(2026, 4, 20))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    events=st.lists(st.tuples(st.sampled_from([f"u{i}" for i in range(12)]), instants), min_size=1, max_size=80),
    channels=st.dictionaries(st.sampled_from([f"u{i}" for i in range(12)]), st.sampled_from(["organic", "red"])),
    tz=st.sampled_from(["UTC", "Asia/Shanghai", "America/New_York"]),
)
def test_matches_reference(events, channels, tz) -> None:
    ws = liuliang.Workspace.open(":memory:", tz=tz)
    ws.ingest(pa.table({"user_id": [u for u, _ in events], "ts": [t for _, t in events], "event": ["e"] * len(events)}))
    if channels:
        ws.ingest(pa.table({"user_id": list(channels), "channel": list(channels.values())}), table="users")
    days = (0, 1, 3, 7, 30)
    assert engine_rows(day_n_retention(ws, days=days)) == reference(events, channels, tz, days)


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    out = tmp_path_factory.mktemp("world")
    manifest = generate_world(WorldConfig(n_users=8000, days=60, seed=3, courier_share=0.0, experiment=False), out)
    ws = liuliang.Workspace.open(out / "ws.duckdb", tz=manifest.config.tz)
    ws.ingest(out / "events")
    ws.ingest(out / "users.parquet", table="users")
    return ws, pq.read_table(manifest.truth_channel_retention).to_pylist()


@pytest.mark.parametrize("day", [1, 7, 30])
def test_recovers_planted_retention(planted, day) -> None:
    """Each channel's measured D-N is within 4 standard errors of the generator's exact expectation."""
    ws, truth = planted
    result = day_n_retention(ws, days=(day,), by="channel")
    checked = 0
    for row in truth:
        if row["day"] != day or row["channel"] == "all":
            continue
        measured = result.rate(row["channel"], day)
        n = next(r["observable"] for r in result.table.to_pylist() if r["group"] == row["channel"])
        p = row["expected_share"]
        se = math.sqrt(max(p * (1 - p), 1e-9) / n)
        assert abs(measured - p) < 4 * se + 1e-9, (row["channel"], day, measured, p, n)
        checked += 1
    assert checked == 4
