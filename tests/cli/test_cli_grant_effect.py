"""``liuliang grant-effect`` on a small generated world: the title says OBSERVATIONAL, the JSON equals the Python API
(spec -> run_grant_effect, no CLI code), csv carries the label, and a kind without overlap is one error panel."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from cli_helpers import run, world_workspace

import liuliang
from liuliang.causal.grant_effect import GrantEffectSpec, run_grant_effect
from liuliang.causal.observational import OBSERVATIONAL_LABEL
from liuliang.simulate import WorldConfig

CONFIG = WorldConfig(n_users=2000, days=60, seed=7, courier_share=0.0)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    return world_workspace(CONFIG, tmp_path_factory.mktemp("cli-grant"), ("events", "users", "incentives"))


ARGS = ["--kind", "coupon", "--window", "7", "--day", "14"]


def test_table_title_says_observational(workspace, capsys) -> None:
    code, out, _ = run(["grant-effect", "-w", str(workspace), *ARGS], capsys)
    assert code == 0
    assert "OBSERVATIONAL (not randomised)" in out and "covariate balance" in out and "smd_after" in out
    assert "grants were not randomised" in " ".join(out.split())  # the fixed label, however Rich wraps it


def test_json_equals_the_api(workspace, capsys) -> None:
    code, out, _ = run(["grant-effect", "-w", str(workspace), *ARGS, "--estimator", "ipw", "-f", "json"], capsys)
    assert code == 0
    data = json.loads(out)
    with liuliang.Workspace.open(workspace) as ws:
        api = run_grant_effect(ws, GrantEffectSpec("coupon", grant_window_days=7, outcome_day=14, estimator="ipw"))
    assert data["title"].startswith("OBSERVATIONAL (not randomised)")
    assert data["effect"] == pytest.approx(api.effect, abs=1e-12) and data["n_treated"] == api.n_treated
    assert data["observational"] is True and data["label"] == OBSERVATIONAL_LABEL
    assert data["balance"] == api.to_dict()["balance"] and data["spec"]["estimator"] == "ipw"


def test_csv_carries_the_label(workspace, capsys) -> None:
    code, out, _ = run(["grant-effect", "-w", str(workspace), *ARGS, "-f", "csv"], capsys)
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and len(rows) == 1
    assert rows[0]["observational"] == "True" and rows[0]["label"] == OBSERVATIONAL_LABEL
    assert float(rows[0]["ci_lower"]) <= float(rows[0]["effect"]) <= float(rows[0]["ci_upper"])


def test_errors_are_one_panel(workspace, capsys) -> None:
    code, _, err = run(["grant-effect", "-w", str(workspace), "--kind", "red_packet", "--day", "14"], capsys)
    assert code == 2 and "no red_packet grant effect" in err and "Traceback" not in err
    code, _, err = run(["grant-effect", "-w", str(workspace), "--window", "7", "--day", "3"], capsys)
    assert code == 2 and "outcome_day" in err
