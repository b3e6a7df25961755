"""``liuliang hunters`` as a user meets it: JSON summary and top users, CSV, the table, an uplift file, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_helpers import run


@pytest.fixture
def workspace(tmp_path: Path, capsys) -> Path:
    """h took a red packet on 1 March and never came back; t redeemed one too but kept coming; o is organic."""
    ws = tmp_path / "w.duckdb"
    events = tmp_path / "e.csv"
    lines = ["user_id,ts,event", "h,2026-03-01T10:00:00Z,redeem_red_packet", "t,2026-03-01T10:00:00Z,redeem_red_packet"]
    lines += [f"t,2026-03-{d:02d}T10:00:00Z,order" for d in range(2, 21)]
    lines += [f"o,2026-03-{d:02d}T10:00:00Z,app_open" for d in range(1, 21)]
    events.write_text("\n".join(lines) + "\n")
    incentives = tmp_path / "i.csv"
    incentives.write_text(
        "user_id,ts,kind,redeemed_ts\nh,2026-03-01T10:00:00Z,red_packet,2026-03-01T10:00:00Z\n"
        "t,2026-03-01T10:00:00Z,red_packet,2026-03-01T10:00:00Z\n"
    )
    users = tmp_path / "u.csv"
    users.write_text("user_id,channel,campaign\nh,red_packet,cny\nt,red_packet,cny\no,organic,\n")
    for path, table in ((events, "events"), (incentives, "incentives"), (users, "users")):
        code, _, err = run(["ingest", str(path), "-w", str(ws), "-t", table], capsys)
        assert code == 0, err
    return ws


def test_json_summary_and_top(workspace, capsys) -> None:
    code, out, _ = run(["hunters", "-w", str(workspace), "--window", "7", "--top", "2", "-f", "json"], capsys)
    data = json.loads(out)
    assert code == 0 and data["by"] == "channel" and data["spec"]["window"] == 7
    by = {r["breakdown"]: r for r in data["rows"]}
    # h: every active day a redemption, nothing in the 7 days after -> flagged, score 1; t: 1 of 20 days tied
    assert (
        by["red_packet"]["users"] == 2 and by["red_packet"]["flagged"] == 1 and by["red_packet"]["share_flagged"] == 0.5
    )
    assert by["organic"]["flagged"] == 0 and by["organic"]["mean_score"] == 0.0
    assert [r["user_id"] for r in data["top"]] == ["h", "t"] and data["top"][0]["score"] == 1.0
    assert data["top"][1]["tied_share"] == pytest.approx(1 / 20)


def test_campaign_csv_table_and_uplift(workspace, tmp_path, capsys) -> None:
    code, out, _ = run(["hunters", "-w", str(workspace), "--by", "campaign", "-f", "csv"], capsys)
    assert code == 0 and out.splitlines()[0].startswith("breakdown,users,flagged")
    assert {line.split(",")[0] for line in out.splitlines()[1:]} == {"cny", "(none)"}
    code, out, _ = run(["hunters", "-w", str(workspace), "--top", "1", "-f", "csv"], capsys)
    assert code == 0 and out.splitlines()[1].startswith("h,red_packet")
    code, out, _ = run(["hunters", "-w", str(workspace), "--top", "3"], capsys)
    assert code == 0 and "red_packet" in out and "top 3 users" in out
    # an uplift file where t gains least (component 1, h's 0): t = 0.4 * 1/20 + 0.2 = 0.22, h = (0.4 + 0.4) / 1
    predictions = tmp_path / "uplift.csv"
    predictions.write_text("user_id,uplift\nh,0.2\nt,0.0\n")
    code, out, _ = run(
        ["hunters", "-w", str(workspace), "--top", "3", "--uplift", str(predictions), "-f", "json"], capsys
    )
    top = {r["user_id"]: r for r in json.loads(out)["top"]}
    assert code == 0 and top["t"]["uplift"] == 0.0 and top["h"]["score"] == pytest.approx(0.8)
    assert top["t"]["score"] == pytest.approx(0.22) and top["o"]["score"] == 0.0


def test_errors_are_one_line(workspace, tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # short paths: Rich wraps long ones inside the error panel
    code, _, err = run(["hunters", "-w", str(workspace), "--window", "0"], capsys)
    assert code == 2 and "window" in err and "Traceback" not in err
    code, _, err = run(["hunters", "-w", "none.duckdb"], capsys)
    assert code == 2 and "no workspace" in err
    code, _, err = run(["hunters", "-w", str(workspace), "--uplift", "missing.csv"], capsys)
    assert code == 2 and "no such file" in err
