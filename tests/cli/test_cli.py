"""The command line as a user meets it: exit codes, one-line errors, JSON output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_helpers import run

from liuliang.cli.app import main


@pytest.fixture
def csv_file(tmp_path: Path) -> Path:
    path = tmp_path / "events.csv"
    path.write_text(
        "customer_id,ts,event,amount\n"
        "u1,2026-02-16T20:00:00+08:00,app_open,\n"
        "u1,2026-02-17T09:00:00+08:00,order,35.5\n"
        "u2,not-a-time,app_open,\n"
        "u3,2026-02-18T10:00:00Z,ask,\n"
    )
    return path


def test_ingest_reports_rejects_and_exits_1(tmp_path, csv_file, capsys) -> None:
    ws = tmp_path / "w.duckdb"
    code, out, err = run(["ingest", str(csv_file), "-w", str(ws), "--map", "user_id=customer_id", "-f", "json"], capsys)
    assert code == 1
    report = json.loads(out)
    assert (report["rows_read"], report["added"], report["rejected"]) == (4, 3, 1)
    assert report["rejects_sample"][0]["row"] == 3 and report["rejects_sample"][0]["column"] == "ts"
    assert "quarantine" in err and "Traceback" not in err
    # the same file again: nothing added, rejects allowed this time
    code, out, _ = run(
        ["ingest", str(csv_file), "-w", str(ws), "--map", "user_id=customer_id", "--allow-rejects", "-f", "json"],
        capsys,
    )
    assert code == 0 and json.loads(out)["added"] == 0 and json.loads(out)["duplicates"] == 3


def test_missing_column_is_one_clear_line(tmp_path, csv_file, capsys) -> None:
    code, out, err = run(["ingest", str(csv_file), "-w", str(tmp_path / "w.duckdb")], capsys)
    assert code == 2
    assert "'user_id'" in err and "customer_id" in err and "Traceback" not in err
    assert out == ""


def test_debug_shows_traceback(tmp_path, csv_file) -> None:
    from liuliang.errors import MissingColumnError

    with pytest.raises(MissingColumnError):
        main(["--debug", "ingest", str(csv_file), "-w", str(tmp_path / "w.duckdb")])


def test_info_and_quarantine_json(tmp_path, csv_file, capsys) -> None:
    ws = tmp_path / "w.duckdb"
    run(["ingest", str(csv_file), "-w", str(ws), "--map", "user_id=customer_id", "--tz", "Asia/Shanghai"], capsys)
    code, out, _ = run(["info", "-w", str(ws), "-f", "json"], capsys)
    info = json.loads(out)
    assert code == 0 and info["tz"] == "Asia/Shanghai" and info["tables"]["events"] == 3 and info["quarantined"] == 1
    code, out, _ = run(["quarantine", "-w", str(ws), "-f", "json"], capsys)
    rows = json.loads(out)
    assert code == 0 and rows[0]["reason"].endswith("not-a-time") and json.loads(rows[0]["raw"])["user_id"] == "u2"


def test_info_on_missing_workspace(tmp_path, capsys) -> None:
    code, _, err = run(["info", "-w", str(tmp_path / "none.duckdb")], capsys)
    assert code == 2 and "no workspace" in err


def test_demo_json(tmp_path, capsys) -> None:
    code, out, _ = run(["demo", "--dir", str(tmp_path), "--users", "3000", "--days", "45", "-f", "json"], capsys)
    assert code == 0
    data = json.loads(out)
    channels = {c["channel"]: c for c in data["channels"]}
    assert set(channels) == {"organic", "red_packet", "free_order", "social_share"}
    assert sum(c["users"] for c in channels.values()) == 3000
    for c in channels.values():
        assert c["d7_planted"] is not None and 0 <= c["d7"] <= 1
    # the story the demo tells: cash red packets and share links retain worse than organic users
    assert channels["organic"]["d7"] > channels["red_packet"]["d7"] > channels["social_share"]["d7"]


def test_retention_command(tmp_path, capsys) -> None:
    ws = tmp_path / "w.duckdb"
    events = tmp_path / "e.csv"
    events.write_text(
        "user_id,ts,event\n"
        "a,2026-03-02T10:00:00Z,open\na,2026-03-03T10:00:00Z,open\n"
        "b,2026-03-02T11:00:00Z,open\nb,2026-03-04T11:00:00Z,open\n"
        "c,2026-03-03T09:00:00Z,open\n"
    )
    run(["ingest", str(events), "-w", str(ws)], capsys)
    code, out, _ = run(["retention", "-w", str(ws), "--periods", "2", "-f", "json"], capsys)
    assert code == 0
    cells = {(r["cohort_start"], r["period_offset"]): r for r in json.loads(out)["rows"]}
    assert cells[("2026-03-02", 1)]["count"] == 1 and cells[("2026-03-02", 1)]["cohort_size"] == 2
    assert cells[("2026-03-02", 2)]["count"] == 1
    assert cells[("2026-03-03", 1)]["incomplete"]  # 4 March is the last day in the data
    code, out, _ = run(["retention", "-w", str(ws), "--preset", "mixpanel", "--periods", "2", "-f", "csv"], capsys)
    assert code == 0 and out.splitlines()[0].startswith("breakdown,cohort,period_offset")
    code, out, _ = run(["retention", "-w", str(ws), "--periods", "2"], capsys)
    assert code == 0 and "mean" in out and "2026-03-02" in out
    code, _, err = run(["retention", "-w", str(ws), "--criterion", "sometimes"], capsys)
    assert code == 2 and "criterion" in err


def test_revenue_command(tmp_path, capsys) -> None:
    ws = tmp_path / "w.duckdb"
    events, users = tmp_path / "e.csv", tmp_path / "u.csv"
    events.write_text(
        "user_id,ts,event,amount\n"
        "a,2026-01-05T10:00:00Z,order,10\na,2026-02-05T10:00:00Z,order,30\n"
        "b,2026-01-06T10:00:00Z,order,20\nb,2026-02-06T10:00:00Z,order,5\n"
        "b,2026-03-06T10:00:00Z,order,5\n"
    )
    users.write_text("user_id,channel,acquisition_cost\na,red_packet,12\nb,organic,2\n")
    run(["ingest", str(events), "-w", str(ws)], capsys)
    run(["ingest", str(users), "-w", str(ws), "-t", "users"], capsys)
    code, out, _ = run(["revenue", "nrr", "-w", str(ws), "--periods", "1", "-f", "json"], capsys)
    cell = {r["period_offset"]: r for r in json.loads(out)["rows"]}
    # January cohort: 30 in period 0; February 35 -> NRR 35/30; GRR caps a at 10 and b at 5 -> 15/30
    assert code == 0 and cell[1]["nrr"] == pytest.approx(35 / 30) and cell[1]["grr"] == pytest.approx(0.5)
    code, out, _ = run(["revenue", "cac", "-w", str(ws), "--by", "channel", "-f", "json"], capsys)
    cac = {r["segment"]: r["cac"] for r in json.loads(out)["rows"]}
    assert code == 0 and cac == {"red_packet": 12.0, "organic": 2.0}
    for view in ("retained-cost", "payback"):
        code, out, _ = run(["revenue", view, "-w", str(ws)], capsys)
        assert code == 0 and out.strip()


def test_activity_and_lifecycle_commands(tmp_path, capsys) -> None:
    ws = tmp_path / "w.duckdb"
    events = tmp_path / "e.csv"
    events.write_text(
        "user_id,ts,event\n"
        "a,2026-03-02T10:00:00Z,open\na,2026-03-03T10:00:00Z,open\n"
        "b,2026-03-03T11:00:00Z,open\nb,2026-03-12T11:00:00Z,open\n"
    )
    run(["ingest", str(events), "-w", str(ws)], capsys)
    code, out, _ = run(["activity", "dau", "-w", str(ws), "-f", "json"], capsys)
    days = {r["date"]: r for r in json.loads(out)["rows"]}
    assert code == 0 and days["2026-03-03"]["dau"] == 2 and days["2026-03-12"]["mau"] == 2
    assert days["2026-03-12"]["wau"] == 1
    code, out, _ = run(["lifecycle", "-w", str(ws), "--period", "week", "-f", "json"], capsys)
    status = {(r["period_start"], r["status"]): r["users"] for r in json.loads(out)["rows"]}
    # week of 2 March: a and b are new; week of 9 March: b is returning (active both weeks), a is dormant
    assert code == 0 and status[("2026-03-02", "new")] == 2
    assert status[("2026-03-09", "returning")] == 1 and status[("2026-03-09", "dormant")] == 1
    for view in ("frequency", "participation"):
        code, out, _ = run(["activity", view, "-w", str(ws)], capsys)
        assert code == 0 and out.strip()


def test_demo_headline_tables(tmp_path, capsys) -> None:
    code, out, _ = run(["demo", "--dir", str(tmp_path), "--users", "2500", "--days", "70", "-f", "json"], capsys)
    data = json.loads(out)
    money = {r["channel"]: r for r in data["money"]}
    assert code == 0 and set(money) == {"organic", "red_packet", "free_order", "social_share"}
    # festival channels (every user observable at D30): a user kept costs more than one acquired, more at D30 than D7
    for channel in ("red_packet", "social_share"):
        r = money[channel]
        assert r["cost_per_retained_d30"] >= r["cost_per_retained_d7"] >= r["cac"] > 0
    assert money["free_order"]["cac"] > money["organic"]["cac"]
    assert 0 < data["activity"]["dau"] <= data["activity"]["wau"] <= data["activity"]["mau"]
    assert data["lifecycle"] and all(w["new"] >= 0 and w["dormant"] >= 0 for w in data["lifecycle"])


def test_retention_property_filters(tmp_path, capsys) -> None:
    ws = tmp_path / "w.duckdb"
    events = tmp_path / "e.csv"
    events.write_text(
        "user_id,ts,event,city\n"
        "a,2026-03-02T10:00:00Z,open,bj\na,2026-03-03T10:00:00Z,open,sh\n"
        "b,2026-03-02T11:00:00Z,open,sh\nb,2026-03-03T11:00:00Z,open,bj\nb,2026-03-04T11:00:00Z,open,bj\n"
    )
    run(["ingest", str(events), "-w", str(ws)], capsys)
    code, out, _ = run(["retention", "-w", str(ws), "--periods", "1", "--where", "city=bj", "-f", "json"], capsys)
    cells = {(r["cohort_start"], r["period_offset"]): r for r in json.loads(out)["rows"]}
    # first start event matching city=bj: a on 2 March, b on 3 March (b's first event was in sh)
    assert code == 0 and cells[("2026-03-02", 0)]["cohort_size"] == 1 and cells[("2026-03-03", 0)]["cohort_size"] == 1
    code, out, _ = run(
        [
            "retention",
            "-w",
            str(ws),
            "--periods",
            "1",
            "--where",
            "city=bj",
            "--cohorting",
            "first_matching",
            "-f",
            "json",
        ],
        capsys,
    )
    sizes = {r["cohort_start"]: r["cohort_size"] for r in json.loads(out)["rows"] if r["period_offset"] == 0}
    assert code == 0 and sizes.get("2026-03-02") == 1 and not sizes.get("2026-03-03")  # b's first-ever event is sh
    code, _, err = run(["retention", "-w", str(ws), "--where", "city"], capsys)
    assert code != 0 and "city" in err


def test_retention_filter_operators(tmp_path, capsys) -> None:
    ws = tmp_path / "w.duckdb"
    events = tmp_path / "e.csv"
    # a: bj then no city; b: sh; c: no city, then gz. level holds numbers as strings ("x" is none)
    events.write_text(
        "user_id,ts,event,city,level\n"
        "a,2026-03-02T10:00:00Z,open,bj,5\na,2026-03-03T10:00:00Z,open,,x\n"
        "b,2026-03-02T11:00:00Z,open,sh,12\nb,2026-03-03T11:00:00Z,open,sh,1\n"
        "c,2026-03-02T09:00:00Z,open,,\nc,2026-03-04T09:00:00Z,open,gz,3\n"
    )
    run(["ingest", str(events), "-w", str(ws)], capsys)
    argv = ["retention", "-w", str(ws), "--periods", "2", "-f", "json"]
    code, out, _ = run([*argv, "--where", "city!=bj", "--return-where", "level>=3"], capsys)
    data = json.loads(out)
    assert code == 0 and data["spec"]["start_where"] == [{"column": "city", "op": "is_not", "value": "bj"}]
    cells = {(r["cohort_start"], r["period_offset"]): (r["cohort_size"], r["count"]) for r in data["rows"]}
    # "not bj" keeps unset cities: b and c start on 2 March, a (no city) on 3 March; c's level 3 on 4 March
    assert cells[("2026-03-02", 0)] == (2, 2) and cells[("2026-03-02", 1)] == (2, 0)
    assert cells[("2026-03-02", 2)] == (2, 1) and cells[("2026-03-03", 0)] == (1, 1)
    code, out, _ = run([*argv, "--where", "city:unset", "--where", "level:set"], capsys)
    sizes = {r["cohort_start"]: r["cohort_size"] for r in json.loads(out)["rows"] if r["period_offset"] == 0}
    assert code == 0 and sizes == {"2026-03-03": 1}  # a's second event; c's first has no level
    code, out, _ = run([*argv, "--where", "level:between:1,5"], capsys)
    sizes = {r["cohort_start"]: r["cohort_size"] for r in json.loads(out)["rows"] if r["period_offset"] == 0}
    assert code == 0 and sizes == {"2026-03-02": 1, "2026-03-03": 1, "2026-03-04": 1}  # a 5, b 1, c 3 (not 12, x)
    code, out, _ = run([*argv, "--where", "city=~^(sh|gz)$", "--where", "city!~*S"], capsys)
    sizes = {r["cohort_start"]: r["cohort_size"] for r in json.loads(out)["rows"] if r["period_offset"] == 0}
    assert code == 0 and sizes == {"2026-03-04": 1}  # c's gz
    code, out, _ = run(["retention", "-w", str(ws), "--periods", "1", "--where", "city~j"], capsys)
    assert code == 0 and "city:contains:j" in out
    for bad in ("city?", "level>many", "city=~(?i)bj", "level:between:5,1", "city:sometimes:x"):
        code, _, err = run(["retention", "-w", str(ws), "--where", bad], capsys)
        assert code == 2 and "--where" in err and bad in err, bad
