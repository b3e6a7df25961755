"""``liuliang forecast``: the scenarios, ``--change`` parsing, json output and the backtest, on a small world."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from cli_helpers import run, world_workspace

from liuliang.simulate import WorldConfig

CFG = WorldConfig(n_users=1500, days=80, experiment=False, seed=5)


@pytest.fixture(scope="module")
def ws_path(tmp_path_factory):
    return world_workspace(CFG, tmp_path_factory.mktemp("cli_forecast"), ("events", "users"))


def test_forecast_json_scenarios(ws_path, capsys):
    code, stdout, err = run(["forecast", "-w", str(ws_path), "--horizon", "20", "-f", "json"], capsys)
    assert code == 0, err
    stop = json.loads(stdout)
    assert stop["spec"]["scenario"] == "stop" and len([r for r in stop["rows"] if r["breakdown"] == "all"]) == 20
    code, stdout, err = run(
        [
            "forecast",
            "-w",
            str(ws_path),
            "--horizon",
            "20",
            "--scenario",
            "change",
            "--change",
            "organic=2",
            "-f",
            "json",
        ],
        capsys,
    )
    assert code == 0, err
    doubled = json.loads(stdout)
    assert doubled["spec"]["change"] == [["organic", 2.0]]
    a = [r["dau"] for r in stop["rows"] if r["breakdown"] == "all"]
    b = [r["dau"] for r in doubled["rows"] if r["breakdown"] == "all"]
    assert all(y > x for x, y in zip(a, b, strict=True))


def test_forecast_table_and_bad_change(ws_path, capsys):
    code, stdout, _ = run(["forecast", "-w", str(ws_path), "--horizon", "14"], capsys)
    assert code == 0 and "scenario stop" in stdout and "channels" in stdout
    code, _, err = run(["forecast", "-w", str(ws_path), "--scenario", "change", "--change", "red_packet"], capsys)
    assert code != 0 and "channel=multiplier" in err


def test_forecast_backtest(ws_path, capsys):
    cut = CFG.start + dt.timedelta(days=CFG.days - 31)
    code, stdout, err = run(["forecast", "-w", str(ws_path), "--backtest", cut.isoformat(), "--horizon", "30"], capsys)
    assert code == 0, err
    assert "DAU MAPE" in stdout
    code, stdout, err = run(
        ["forecast", "-w", str(ws_path), "--backtest", cut.isoformat(), "--horizon", "30", "-f", "json"], capsys
    )
    res = json.loads(stdout)
    assert res["dau_mape"] < 0.3 and len(res["rows"]) == 30
