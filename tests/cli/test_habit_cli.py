"""``liuliang habit`` on the small generated world: json is the API's result, the table shows the API's numbers
(including the adjusted line per breakdown value), csv is the long cohort-week table, options reach the spec and
errors are one line with exit code 2."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest
from cli_helpers import run

import liuliang
from liuliang.signals.habit import TaskHabitSpec, task_habit


@pytest.fixture(scope="module")
def ws_path(small_world_workspace: Path, tmp_path_factory) -> Path:
    """A private copy of the shared small world (3,000 users, 90 days), so opening it never contends with others."""
    path = tmp_path_factory.mktemp("habit_cli") / "ws.duckdb"
    shutil.copy(small_world_workspace, path)
    return path


def _api(path: Path, spec: TaskHabitSpec, data_end: dt.datetime | None = None):
    with liuliang.Workspace.open(path) as ws:
        res = task_habit(ws, spec, data_end=data_end)
    return json.loads(json.dumps(res.to_dict(), default=str)), res


def test_json_csv_and_table_are_the_api_result(ws_path, capsys) -> None:
    code, out, err = run(["habit", "-w", str(ws_path), "--by", "channel", "-f", "json"], capsys)
    assert code == 0, err
    expected, res = _api(ws_path, TaskHabitSpec(breakdown="channel"))
    assert json.loads(out) == expected
    assert res.table.num_rows > 20 and res.n_observed > 1000  # not a comparison of two empty results

    code, out, _ = run(["habit", "-w", str(ws_path), "--by", "channel", "-f", "csv"], capsys)
    lines = out.splitlines()
    assert code == 0 and lines[0] == ",".join(res.table.column_names)
    assert len(lines) == 1 + res.table.num_rows

    code, out, _ = run(["habit", "-w", str(ws_path), "--by", "channel"], capsys)
    assert code == 0
    rows = [line.split() for line in out.splitlines()]
    # every cohort line: start, users, then task requests per active user per week (* incomplete)
    for r in res.trend.to_pylist():
        weeks = [
            f"{c['task_per_active_user']:.1f}" + ("*" if c["incomplete"] else "")
            for c in res.table.to_pylist()
            if c["breakdown"] == r["breakdown"] and c["cohort"] == r["cohort"]
        ]
        assert [r["cohort_start"].isoformat(), f"{r['cohort_users']:,}", *weeks] in [x[: 2 + len(weeks)] for x in rows]
    for c in res.correlation.to_pylist():
        line = [c["breakdown"], f"{c['users']:,}", f"{c['mean_early_tasks']:.1f}", f"{100 * c['retention_rate']:.1f}%"]
        assert [*line, f"{c['rho']:+.2f}"] in [x[:5] for x in rows]
    all_rows = [r for r in res.retention.to_pylist() if r["breakdown"] == "all"]
    first = all_rows[0]
    assert ["all", "0", f"{first['users']:,}"] in [x[:3] for x in rows]
    for r in all_rows[1:]:
        assert [r["bucket"], f"{r['users']:,}", f"{100 * r['share']:.1f}%", f"{100 * r['rate']:.1f}%"] in [
            x[:4] for x in rows
        ]
    # one adjusted line per channel and for all, with the API's numbers, written out here
    lines = out.splitlines()
    adjusted = res.adjusted.to_pylist()
    assert [r["breakdown"] for r in adjusted] == ["free_order", "organic", "red_packet", "social_share", "all"]
    for r in adjusted:
        pts = [f"{100 * r[c]:+.0f}" for c in ("adjusted_difference", "ci_lower", "ci_upper")]
        expected_line = (
            f"{r['breakdown']}: 3+ task requests in the first 7 days: D30 {100 * r['rate_with']:.0f}% vs "
            f"{100 * r['rate_without']:.0f}%; within channel and early activity {pts[0]} pts "
            f"(95% CI {pts[1]} to {pts[2]})"
        )
        assert expected_line in lines
    pooled = next(r for r in adjusted if r["breakdown"] == "all")
    assert pooled["ci_lower"] > 0 and pooled["adjusted_difference"] < pooled["raw_difference"]


def test_options_reach_the_spec(ws_path, capsys) -> None:
    argv = ["habit", "-w", str(ws_path), "--weeks", "3", "--cohort", "month", "--early-days", "3"]
    argv += ["--retention-day", "14", "--threshold", "2", "--data-end", "2026-03-20T00:00:00", "-f", "json"]
    code, out, err = run(argv, capsys)
    assert code == 0, err
    spec = TaskHabitSpec(cohort_period="month", weeks=3, early_days=3, retention_day=14, threshold=2)
    expected, res = _api(ws_path, spec, dt.datetime(2026, 3, 20))
    data = json.loads(out)
    assert data == expected
    assert data["data_end"] == "2026-03-20T00:00:00" and {r["week"] for r in data["rows"]} == {0, 1, 2}
    assert {r["breakdown"] for r in data["retention"]} == {"all"}
    assert [(r["breakdown"], r["k"]) for r in data["adjusted"]] == [("all", 2)] and data["adjusted_by"] == "channel"
    # --per member shows task requests per cohort member and the per-member slope
    code, out, _ = run(["habit", "-w", str(ws_path), "--per", "member", "--weeks", "3"], capsys)
    assert code == 0 and "per cohort member" in out
    _, res = _api(ws_path, TaskHabitSpec(weeks=3))
    first = res.table.to_pylist()[0]
    assert f"{first['task_per_user']:.1f}" in out
    # without --by: one adjusted line, no group name in front (the strata are still the users' channels)
    assert res.adjusted_finding() in out.splitlines()
    assert res.adjusted_finding().startswith("3+ task requests in the first 7 days: D30 ")


def _flat(err: str) -> str:
    """The error panel's text without its frame and line breaks (Rich wraps long messages)."""
    return "".join(ch for ch in err if not ch.isspace() and ch not in "│╭╮╰╯─")


def test_errors_are_one_panel(ws_path, tmp_path, capsys) -> None:
    code, _, err = run(["habit", "-w", str(ws_path), "--by", "no_such_column"], capsys)
    assert code == 2 and "nocolumn'no_such_column'" in _flat(err)
    code, _, err = run(["habit", "-w", str(ws_path), "--early-days", "40"], capsys)
    assert code == 2 and "TaskHabitSpec.early_days" in _flat(err)
    code, _, err = run(["habit", "-w", str(tmp_path / "missing.duckdb")], capsys)
    assert code == 2 and "noworkspacehere" in _flat(err)
