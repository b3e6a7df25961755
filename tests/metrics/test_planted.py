"""The retention engine recovers the retention the generator planted (issue: D7/D30 within sampling error)."""

from __future__ import annotations

import datetime as dt
import math
from zoneinfo import ZoneInfo

import pyarrow.parquet as pq
import pytest

import liuliang
from liuliang.metrics.retention import posthog
from liuliang.simulate import WorldConfig, generate_world


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    out = tmp_path_factory.mktemp("planted")
    manifest = generate_world(WorldConfig(n_users=8000, days=60, seed=11, courier_share=0.0, experiment=False), out)
    ws = liuliang.Workspace.open(out / "ws.duckdb", tz=manifest.config.tz)
    ws.ingest(out / "events")
    ws.ingest(out / "users.parquet", table="users")
    # "now" = the end of the simulated window, so every day inside it has fully elapsed (and none after it has)
    cfg = manifest.config
    end = dt.datetime.combine(cfg.start + dt.timedelta(days=cfg.days), dt.time(), ZoneInfo(cfg.tz))
    data_end = end.astimezone(dt.UTC).replace(tzinfo=None)
    yield ws, pq.read_table(manifest.truth_channel_retention).to_pylist(), data_end
    ws.close()


@pytest.mark.parametrize("day", [1, 7, 30])
def test_pooled_day_n_within_sampling_error(world, day) -> None:
    """Complete cells pooled over cohorts (the weighted mean) vs the generator's exact expectation, per channel."""
    ws, truth, data_end = world
    table = ws.retention(posthog(periods=30, breakdown="channel"), data_end=data_end)
    pooled = {r["breakdown"]: r for r in table.mean(weighted=True).to_pylist() if r["period_offset"] == day}
    checked = 0
    for row in truth:
        if row["day"] != day or row["channel"] == "all":
            continue
        measured = pooled[row["channel"]]
        n, p = measured["cohort_size"], row["expected_share"]
        # same population: complete cells are exactly the users whose day N is inside the window
        assert n == row["n_observable"], (row["channel"], n, row["n_observable"])
        se = math.sqrt(p * (1 - p) / n)
        assert abs(measured["rate"] - p) < 4 * se, (row["channel"], day, measured["rate"], p, n)
        checked += 1
    assert checked == 4
