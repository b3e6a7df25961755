"""``liuliang signals`` and ``liuliang intents`` on a small generated world: the CLI's numbers are the API's, and the
weekly intent counts match a naive count over the world's own events Parquet."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow.dataset as pads
import pytest
from cli_helpers import run, world_workspace

import liuliang
from liuliang.signals import AhaSpec, aha_signals, classify_intents
from liuliang.simulate import WorldConfig

CONFIG = WorldConfig(n_users=1500, days=60, seed=3, courier_share=0.0)
SHANGHAI = dt.timedelta(hours=8)  # Asia/Shanghai has had no DST since 1991: a fixed offset is exact here


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("signals")
    world_workspace(CONFIG, base, tables=("events", "users"))
    return base


def _api(ws_path: Path, spec: AhaSpec) -> dict:
    with liuliang.Workspace.open(ws_path) as ws:
        res = aha_signals(ws, spec)
    return json.loads(json.dumps(res.to_dict(), default=str)), res


def test_signals_json_is_the_api_result(world, capsys) -> None:
    ws = world / "ws.duckdb"
    code, out, err = run(["signals", "-w", str(ws), "--thresholds", "1,3,5", "-f", "json"], capsys)
    assert code == 0, err
    expected, res = _api(ws, AhaSpec(days=7, horizon=30, thresholds=(1, 3, 5)))
    assert json.loads(out) == expected
    assert res.ranked().num_rows >= 2 and len(res.findings) >= 1  # the comparison is not between two empty results
    # the other options reach the spec: criterion, rank_by, horizon, days, top, events and data_end
    argv = ["signals", "-w", str(ws), "--days", "3", "--horizon", "14", "--criterion", "on_or_after"]
    argv += ["--rank-by", "ci_lower", "--top", "1", "--events", "ask,order", "--data-end", "2026-03-10T00:00:00"]
    code, out, err = run([*argv, "-f", "json"], capsys)
    assert code == 0, err
    spec = AhaSpec(days=3, horizon=14, criterion="on_or_after", rank_by="ci_lower", top=1, events=("ask", "order"))
    with liuliang.Workspace.open(ws) as w:
        res2 = aha_signals(w, spec, data_end=dt.datetime(2026, 3, 10))
    data = json.loads(out)
    assert data == json.loads(json.dumps(res2.to_dict(), default=str))
    assert data["spec"]["criterion"] == "on_or_after" and len(data["findings"]) == 1
    assert data["data_end"] == "2026-03-10T00:00:00" and {r["event"] for r in data["rows"]} == {"ask", "order"}
    # people's table: the findings and one line per ranked behaviour; csv: every behaviour
    code, out, _ = run(["signals", "-w", str(ws), "--thresholds", "1,3,5"], capsys)
    flat = " ".join(out.split())
    assert code == 0 and all(" ".join(f.split()) in flat for f in res.findings)
    assert f"{res.n_observed:,} users observed to day 30" in flat
    ranked = res.ranked().to_pylist()
    lines = [line.split() for line in out.splitlines()]
    for r in ranked:
        assert [str(r["rank"]), r["event"], str(r["threshold"]), f"{100 * r['coverage']:.1f}%"] in [
            x[:4] for x in lines
        ]
    code, out, _ = run(["signals", "-w", str(ws), "--thresholds", "1,3,5", "-f", "csv"], capsys)
    assert code == 0 and out.splitlines()[0].startswith("event,threshold,days,behaviour,n,n_with,coverage")
    assert len(out.splitlines()) == 1 + res.table.num_rows


def test_signals_sets(world, capsys) -> None:
    """--sets 2 / --set-events reach the spec: the json is the API's, the table lists the ranked sets (k = all)."""
    ws = world / "ws.duckdb"
    argv = ["signals", "-w", str(ws), "--thresholds", "1,3", "--sets", "2", "--set-events", "4"]
    code, out, err = run([*argv, "-f", "json"], capsys)
    assert code == 0, err
    expected, res = _api(ws, AhaSpec(thresholds=(1, 3), sets=2, set_events=4))
    data = json.loads(out)
    assert data == expected and data["spec"]["sets"] == 2
    set_rows = [r for r in data["rows"] if r["kind"] == "set"]
    assert len(set_rows) == 6 and all(r["size"] == 2 and " + " in r["event"] for r in set_rows)  # C(4, 2)
    ranked_sets = [r for r in res.ranked().to_pylist() if r["kind"] == "set"]
    assert ranked_sets  # the table below has something to show
    code, out, err = run(argv, capsys)
    assert code == 0, err
    assert "feature sets: what the rest of the set adds to its best member" in out
    lines = [line.split() for line in out.splitlines()]
    for r in res.ranked().to_pylist():  # every ranked row, sets (k = all) among the events, narrow terminal or not
        k = "all" if r["kind"] == "set" else str(r["threshold"])
        row = [x for x in lines if x[:1] == [str(r["rank"])] and k in x and f"{100 * r['coverage']:.1f}%" in x]
        assert row and r["event"].split(" + ")[0].startswith(row[0][1][:4]), (r, out)
    code, _, err = run(["signals", "-w", str(ws), "--sets", "4"], capsys)
    assert code == 2 and "sets" in err and "Traceback" not in err


def _naive_intents(world: Path, by: str, end: dt.datetime | None = None) -> dict[dt.date, dict[str, float]]:
    """Per local period start: messages by label, active users, task per active user — from the Parquet files."""
    ev = pads.dataset(world / "world" / "events").to_table(columns=["user_id", "ts", "text"])
    ts = ev["ts"].to_numpy().astype("datetime64[us]")
    keep = np.ones(len(ts), dtype=bool) if end is None else ts <= np.datetime64(end, "us")
    ev, ts = ev.filter(keep), ts[keep]
    local_days = (ts + np.timedelta64(SHANGHAI)).astype("datetime64[D]").astype(dt.date)

    def start(d: dt.date) -> dt.date:
        return d - dt.timedelta(days=d.weekday()) if by == "week" else d.replace(day=1)

    periods = np.array([start(d) for d in local_days], dtype=object)
    labels = classify_intents(ev["text"]).labels.to_pylist()  # None where there is no text (not a message)
    counts = Counter(zip(periods.tolist(), labels, strict=True))
    users: dict[dt.date, set[str]] = {}
    for p, u in zip(periods.tolist(), ev["user_id"].to_pylist(), strict=True):
        users.setdefault(p, set()).add(u)
    out = {}
    for p, us in users.items():
        n = {label: counts[(p, label)] for label in ("task", "chat", "other")}
        out[p] = {
            **n,
            "messages": sum(n.values()),
            "active_users": len(us),
            "task_per_active_user": n["task"] / len(us),
        }
    return out


@pytest.mark.parametrize(("by", "end"), [("week", None), ("month", dt.datetime(2026, 2, 20, 3, 30))])
def test_intents_counts_match_a_naive_count(world, capsys, by, end) -> None:
    argv = ["intents", "-w", str(world / "ws.duckdb"), "--by", by, "-f", "json"]
    code, out, err = run([*argv, "--data-end", end.isoformat()] if end else argv, capsys)
    assert code == 0, err
    rows = json.loads(out)["rows"]
    naive = _naive_intents(world, by, end)
    got = {dt.date.fromisoformat(r["period_start"]): r for r in rows}
    assert set(got) == set(naive) and len(got) >= 2
    for p, want in naive.items():
        for key in ("messages", "task", "chat", "other", "active_users"):
            assert got[p][key] == want[key], (p, key)
        assert got[p]["task_per_active_user"] == pytest.approx(want["task_per_active_user"], rel=1e-12)
    assert sum(r["task"] for r in rows) > 0 and sum(r["chat"] for r in rows) > 0
    # the world starts on Monday 19 January and ends on Thursday 19 March (local): only the last week is partial;
    # with the data cut on 20 February, January is whole and February is not
    flags = [r["incomplete"] for r in sorted(rows, key=lambda r: r["period"])]
    assert flags == ([False] * (len(rows) - 1) + [True] if by == "week" else [True, True])


def test_intents_table_and_csv(world, capsys) -> None:
    ws = str(world / "ws.duckdb")
    code, out, _ = run(["intents", "-w", ws, "-f", "csv"], capsys)
    header, *body = out.splitlines()
    assert code == 0 and header.startswith("period,period_start,incomplete,messages,task,chat,other,active_users")
    first = dict(zip(header.split(","), body[0].split(","), strict=True))
    code, out, _ = run(["intents", "-w", ws], capsys)
    row = next(line.split() for line in out.splitlines() if line.strip().startswith(first["period_start"]))
    assert code == 0 and row[1:5] == [f"{int(first[k]):,}" for k in ("messages", "task", "chat", "other")]


def test_errors_are_one_line(world, tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # short paths: Rich wraps long ones inside the error panel
    for command in ("signals", "intents"):
        code, _, err = run([command, "-w", "none.duckdb"], capsys)
        assert code == 2 and "no workspace" in err and "Traceback" not in err
    ws = str(world / "ws.duckdb")
    code, _, err = run(["signals", "-w", ws, "--days", "40"], capsys)
    assert code == 2 and "days" in err and "Traceback" not in err
    code, _, err = run(["signals", "-w", ws, "--thresholds", "1,x"], capsys)
    assert code == 2 and "thresholds" in err
    code, _, err = run(["intents", "-w", ws, "--by", "year"], capsys)
    assert code == 2 and "Traceback" not in err
