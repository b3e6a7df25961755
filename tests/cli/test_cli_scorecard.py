"""``liuliang scorecard``: the table, csv and json agree with the library call, and errors are clean."""

from __future__ import annotations

import csv
import io
import json

import pytest
from cli_helpers import run, world_workspace

import liuliang
from liuliang.signals.scorecard import SCORECARD_SCHEMA, scorecard
from liuliang.simulate import WorldConfig


@pytest.fixture(scope="module")
def ws_path(tmp_path_factory):
    config = WorldConfig(n_users=2000, days=90, courier_share=0.0)
    return world_workspace(config, tmp_path_factory.mktemp("cli_scorecard"), ("events", "users", "incentives"))


def close(got, want) -> bool:
    """Equal, floats to 1e-9 relative: DuckDB sums in parallel, so the last digits of a total vary between runs."""
    if isinstance(want, dict):
        return isinstance(got, dict) and got.keys() == want.keys() and all(close(got[k], want[k]) for k in want)
    if isinstance(want, list):
        return isinstance(got, list) and len(got) == len(want) and all(map(close, got, want))
    if isinstance(want, float) and isinstance(got, float):
        return got == pytest.approx(want, rel=1e-9, abs=1e-12, nan_ok=True)
    return got == want


def test_json_matches_library(ws_path, capsys) -> None:
    code, stdout, _ = run(["scorecard", "-w", str(ws_path), "--by", "channel", "--format", "json"], capsys)
    assert code == 0
    got = json.loads(stdout)
    with liuliang.Workspace.open(ws_path) as ws:
        want = scorecard(ws, by="channel").to_dict()
    assert got["spec"]["by"] == ["channel"]
    assert [r["segment"] for r in got["rows"]] == [r["segment"] for r in want["rows"]]
    assert [r["users"] for r in got["rows"]] == [r["users"] for r in want["rows"]]
    assert got["rows"][-1]["segment"] == "all"


def test_table_and_csv(ws_path, capsys) -> None:
    code, stdout, _ = run(["scorecard", "-w", str(ws_path)], capsys)
    assert code == 0
    assert "Campaign scorecard" in stdout and "organic / (none)" in stdout
    assert "bought habits" in stdout or "bought visits" in stdout or "too early to tell" in stdout
    code, stdout, _ = run(["scorecard", "-w", str(ws_path), "--by", "kind", "--format", "csv"], capsys)
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(stdout)))
    assert list(rows[0]) == SCORECARD_SCHEMA.names
    assert {"red_packet", "free_order", "all"} <= {r["segment"] for r in rows}


def test_errors(tmp_path, ws_path, capsys) -> None:
    code, _, stderr = run(["scorecard", "-w", str(tmp_path / "missing.duckdb")], capsys)
    assert code != 0 and "no workspace" in " ".join(stderr.replace("│", " ").split())  # however Rich wraps it
    code, _, stderr = run(["scorecard", "-w", str(ws_path), "--margin", "0"], capsys)
    assert code != 0 and "margin" in stderr
    code, _, stderr = run(["scorecard", "-w", str(ws_path), "--take-rate", "1.5"], capsys)
    assert code != 0 and "take_rate" in stderr
    argv = ["scorecard", "-w", str(ws_path), "--revenue-basis", "revenue", "--take-rate", "0.1"]
    code, _, stderr = run(argv, capsys)
    assert code != 0 and "take_rate" in stderr


def test_take_rate_and_revenue_basis(ws_path, capsys) -> None:
    """--take-rate / --revenue-basis / --margin reach the library; the footer says what the revenue is."""
    argv = ["scorecard", "-w", str(ws_path), "--by", "channel", "--take-rate", "0.05", "--margin", "0.8"]
    code, stdout, err = run([*argv, "--format", "json"], capsys)
    assert code == 0, err
    got = json.loads(stdout)
    with liuliang.Workspace.open(ws_path) as ws:
        want = json.loads(json.dumps(scorecard(ws, by="channel", take_rate=0.05, margin=0.8).to_dict(), default=str))
    assert close(got, want) and got["spec"]["take_rate"] == 0.05 and got["spec"]["revenue_basis"] == "gmv"
    assert any(r["ltv_cac"] is not None for r in got["rows"])
    code, stdout, _ = run(argv, capsys)
    flat = " ".join(stdout.split())
    assert code == 0 and "revenue = GMV (order value); platform revenue = 5% take rate x GMV" in flat
    code, stdout, _ = run(["scorecard", "-w", str(ws_path), "--by", "channel", "--format", "json"], capsys)
    assert code == 0 and all(r["ltv_cac"] is None for r in json.loads(stdout)["rows"])  # GMV, no take rate
    argv = ["scorecard", "-w", str(ws_path), "--by", "channel", "--revenue-basis", "revenue", "--format", "json"]
    code, stdout, _ = run(argv, capsys)
    assert code == 0 and json.loads(stdout)["spec"]["revenue_basis"] == "revenue"
