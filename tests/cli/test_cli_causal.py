"""``liuliang experiment`` on a small generated world: table/csv/json outputs, and the numbers equal the Python API's
(an independent path: spec -> run_experiment, no CLI code); errors are one panel."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from cli_helpers import run, world_workspace

import liuliang
from liuliang.causal.experiment import ExperimentSpec, run_experiment
from liuliang.simulate import WorldConfig

CONFIG = WorldConfig(n_users=2500, days=70, seed=5, courier_share=0.0)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    return world_workspace(CONFIG, tmp_path_factory.mktemp("cli-causal"))


def test_experiment_json_equals_the_api(workspace, capsys) -> None:
    argv = ["experiment", "-w", str(workspace), "--experiment", "challenge7", "--metric", "d7", "--metric", "d30"]
    code, out, _ = run([*argv, "--metric", "revenue", "--days", "7", "--by", "channel", "-f", "json"], capsys)
    assert code == 0
    data = json.loads(out)
    with liuliang.Workspace.open(workspace) as ws:
        spec = ExperimentSpec("challenge7", metrics=("d7", "d30", "revenue"), days=(7,), by="channel")
        api = run_experiment(ws, spec).to_dict()
    assert data["rows"] == api["rows"] and data["srm"]["mismatch"] is False
    metrics = {r["metric"] for r in data["rows"]}
    assert metrics == {"retention_d7", "retention_d30", "revenue_d7"}
    assert {r["segment"] for r in data["rows"]} >= {"all", "organic"}


def test_experiment_table_and_csv(workspace, capsys) -> None:
    base = ["experiment", "-w", str(workspace), "-e", "challenge7", "-m", "d7", "--cuped-days", "0"]
    code, out, _ = run(base, capsys)
    assert code == 0 and "retention_d7" in out and "sample ratio mismatch" in out
    code, out, _ = run([*base, "-f", "csv"], capsys)
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and {r["variant"] for r in rows} == {"control", "treatment"}
    treated = next(r for r in rows if r["variant"] == "treatment")
    assert float(treated["ci_lower"]) <= float(treated["difference"]) <= float(treated["ci_upper"])


def test_experiment_errors_are_one_panel(workspace, tmp_path, capsys) -> None:
    code, _, err = run(["experiment", "-w", str(workspace), "-e", "nope"], capsys)
    assert code == 2 and "no assignments" in err and "Traceback" not in err
    code, _, err = run(["experiment", "-w", str(workspace), "-e", "challenge7", "-m", "ltv"], capsys)
    assert code == 2 and "unknown metric" in err
    code, _, err = run(["experiment", "-w", str(tmp_path / "none.duckdb"), "-e", "challenge7"], capsys)
    assert code == 2 and "no workspace" in err
