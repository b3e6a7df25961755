"""Opening workspaces: settings are fixed at creation, every way of naming a warehouse works, errors say why."""

from __future__ import annotations

import datetime as dt

import ibis
import pyarrow as pa
import pytest

import liuliang
from liuliang.errors import WorkspaceError
from wsutil import persistent_tables


def test_settings_are_fixed_when_the_workspace_is_created(tmp_path):
    path = tmp_path / "w.duckdb"
    with liuliang.Workspace.open(path, tz="Asia/Shanghai", week_start="Sunday") as ws:
        assert (ws.settings.tz, ws.settings.week_start) == ("Asia/Shanghai", "sunday")
    with liuliang.Workspace.open(path) as ws:  # no settings: the stored ones
        assert (ws.settings.tz, ws.settings.week_start) == ("Asia/Shanghai", "sunday")
    with pytest.raises(WorkspaceError, match=r"reports in Asia/Shanghai.*--tz UTC"):
        liuliang.Workspace.open(path, tz="UTC")
    with pytest.raises(WorkspaceError, match="start on sunday, not monday"):
        liuliang.Workspace.open(path, week_start="monday")
    with liuliang.Workspace.open(path, tz="Asia/Shanghai", week_start="sunday"):
        pass


def test_bad_settings_and_targets(tmp_path):
    with pytest.raises(WorkspaceError, match="'Asia/Beijing'"):
        liuliang.Workspace.open(tmp_path / "a.duckdb", tz="Asia/Beijing")
    with pytest.raises(WorkspaceError, match="cannot use a dict"):
        liuliang.Workspace.open({"path": "x"})


def test_ways_to_open_a_duckdb_workspace(tmp_path):
    t = pa.table({"user_id": ["a"], "ts": pa.array([dt.datetime(2024, 3, 1)], pa.timestamp("us")), "event": ["x"]})
    url = f"duckdb://{tmp_path / 'url.duckdb'}"
    for target in (":memory:", tmp_path / "p.duckdb", str(tmp_path / "s.duckdb"), url, ibis.duckdb.connect()):
        with liuliang.Workspace.open(target, tz="UTC") as ws:
            assert ws.engine.name == "duckdb"
            assert ws.ingest(t).added == 1
            assert ws.info().to_dict()["tables"]["events"] == 1
    with liuliang.Workspace.open(url) as ws:  # the URL names a file: the data is still there
        assert ws.info().users == 1


def test_new_workspace_tables_and_info(duck_ws):
    assert persistent_tables(duck_ws) == [
        "events",
        "ingests",
        "meta",
        "quarantine",
        "user_day",
        "user_day_event",
        "user_keys",
    ]
    info = duck_ws.info().to_dict()
    assert info["tz"] == "Asia/Shanghai" and info["engine"] == "duckdb"
    assert (info["users"], info["first_ts"], info["ingests"]) == (0, None, 0)
    assert duck_ws.committed_ingest() == 0
    assert duck_ws.repair() is False
    with pytest.raises(WorkspaceError, match="no table 'users' yet"):
        duck_ws.table("users")
