"""``liuliang fit|project|clv`` on a small generated world: every model runs, JSON/CSV/table outputs, and the numbers
equal the same fits done through the Python API (an independent path: summary -> fitter, no CLI code)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import run, world_workspace

import liuliang
from liuliang.metrics.retention import RetentionSpec
from liuliang.models import BetaGeoFitter, GammaGammaFitter, RetentionCurveFitter
from liuliang.models.summaries import rfm_summary
from liuliang.simulate import WorldConfig

CONFIG = WorldConfig(n_users=1500, days=84, seed=4, experiment=False, courier_share=0.0)
END = CONFIG.start + dt.timedelta(days=CONFIG.days - 1)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    return world_workspace(CONFIG, tmp_path_factory.mktemp("cli-models"), ("events", "users"))


def json_run(argv: list[str], capsys) -> dict:
    code, out, err = run([*argv, "-f", "json"], capsys)
    assert code == 0, err
    return json.loads(out)


def test_fit_bgnbd_matches_the_api(workspace, capsys) -> None:
    got = json_run(["fit", "bgnbd", "-w", str(workspace), "--by", "channel"], capsys)
    with liuliang.Workspace.open(workspace) as ws:
        last = ws.engine.to_arrow(ws.user_day().aggregate(m=ws.user_day().last_ts.max()))["m"][0].as_py()
        summary = rfm_summary(ws, calibration_end=END, data_end=last, breakdown="channel").without_newcomers()
    groups = sorted({r["group"] for r in got["rows"]})
    assert groups == ["free_order", "organic", "red_packet", "social_share"]
    assert got["calibration_end"] == END.isoformat()
    for g in groups:
        part = summary.for_group(g)
        m = BetaGeoFitter().fit(part.frequency, part.recency, part.T)
        rows = {r["param"]: r for r in got["rows"] if r["group"] == g}
        assert list(rows) == ["r", "alpha", "a", "b"]
        for name, value in m.params_.items():
            assert rows[name]["estimate"] == pytest.approx(value, rel=1e-9)
            assert rows[name]["lower"] < value < rows[name]["upper"]
        assert rows["r"]["n"] == len(part) and rows["r"]["log_likelihood"] == pytest.approx(m.log_likelihood_)


@pytest.mark.parametrize(
    ("model", "params"),
    [
        ("mbgnbd", ["r", "alpha", "a", "b"]),
        ("pareto", ["r", "alpha", "s", "beta"]),
        ("gamma-gamma", ["p", "q", "gamma"]),
        ("bgbb", ["alpha", "beta", "gamma", "delta"]),
        ("sbg", ["alpha", "beta"]),
    ],
)
def test_every_parametric_model_fits(workspace, capsys, model, params) -> None:
    got = json_run(["fit", model, "-w", str(workspace)], capsys)
    assert [r["param"] for r in got["rows"]] == params
    assert all(r["estimate"] > 0 and r["se"] > 0 and r["lower"] < r["estimate"] < r["upper"] for r in got["rows"])
    assert all(np.isfinite(r["log_likelihood"]) for r in got["rows"])


def test_fit_curve_and_survival(workspace, tmp_path, capsys) -> None:
    curve = json_run(
        [
            "fit",
            "curve",
            "-w",
            str(workspace),
            "--by",
            "channel",
            "--periods",
            "40",
            "--plot",
            str(tmp_path / "c.html"),
        ],
        capsys,
    )
    assert sorted(p.name for p in tmp_path.glob("c-*.html")) == [
        f"c-{g}.html" for g in ("free_order", "organic", "red_packet", "social_share")
    ]
    assert "plotly" in (tmp_path / "c-organic.html").read_text()
    assert {r["group"] for r in curve["rows"]} == {"free_order", "organic", "red_packet", "social_share"}
    assert all(0 <= r["habit_floor"] < 1 for r in curve["rows"])
    surv = json_run(["fit", "survival", "-w", str(workspace), "--by", "channel", "--at", "7,30"], capsys)
    rows = {r["group"]: r for r in surv["rows"]}
    assert set(rows) == {"free_order", "organic", "red_packet", "social_share"}
    assert sum(r["users"] for r in rows.values()) > 1000
    for r in rows.values():
        assert 1 >= r["S(7)"] >= r["S(30)"] >= 0 and 0 < r["churned"] <= r["users"]
    # the planted story: organic users keep the habit, share-link users do not
    assert rows["organic"]["S(30)"] > rows["social_share"]["S(30)"] + 0.2
    assert surv["logrank"]["df"] == 3 and surv["logrank"]["p_value"] < 1e-6


def test_project_matches_the_api_and_is_ordered(workspace, capsys) -> None:
    got = json_run(["project", "-w", str(workspace), "--by", "channel", "--periods", "40"], capsys)
    rows = {r["group"]: r for r in got["rows"]}
    assert set(rows) == {"free_order", "organic", "red_packet", "social_share"}
    for r in rows.values():
        assert r["d90_lower"] <= r["d90"] <= r["d90_upper"]
        assert r["d365"] <= r["d180"] <= r["d90"] < 1
        assert r["habit_floor"] <= r["d365"] + 1e-12
    with liuliang.Workspace.open(workspace) as ws:
        table = ws.retention(RetentionSpec(periods=40, breakdown="channel"))
    direct = RetentionCurveFitter().fit_retention_table(table, breakdown="organic").project([90, 365])
    assert rows["organic"]["d90"] == pytest.approx(direct.at(90), rel=1e-9)
    assert rows["organic"]["d365_upper"] == pytest.approx(direct.to_arrow()["upper"][1].as_py(), rel=1e-9)


def test_clv_matches_gamma_gamma(workspace, capsys) -> None:
    got = json_run(["clv", "-w", str(workspace), "--by", "channel", "--top", "0", "--months", "6"], capsys)
    top = got["top"]
    assert [r["clv"] for r in top] == sorted((r["clv"] for r in top), reverse=True)
    assert sum(t["users"] for t in got["totals"]) == len(top)
    assert sum(t["clv_total"] for t in got["totals"]) == pytest.approx(sum(r["clv"] for r in top))
    # repeat buyers: the CLI's discounted stream x expected spend == GammaGammaFitter.customer_lifetime_value
    tx = BetaGeoFitter().fit([r["frequency"] for r in top], [r["recency"] for r in top], [r["T"] for r in top])
    assert dict(tx.params_) == pytest.approx(got["params"]["transaction_model"], rel=1e-9)
    buyers = [r for r in top if r["frequency"] > 0 and r["monetary_value"] > 0]
    gg = GammaGammaFitter().fit([r["frequency"] for r in buyers], [r["monetary_value"] for r in buyers])
    expected = gg.customer_lifetime_value(
        tx,
        np.array([r["frequency"] for r in buyers]),
        np.array([r["recency"] for r in buyers]),
        np.array([r["T"] for r in buyers]),
        np.array([r["monetary_value"] for r in buyers]),
        time=6,
        discount_rate=0.01,
        freq="D",
    )
    np.testing.assert_allclose([r["clv"] for r in buyers], expected, rtol=1e-9)
    # everyone else is valued at the population mean spend
    others = [r for r in top if not (r["frequency"] > 0 and r["monetary_value"] > 0)]
    mean_spend = gg.params_["gamma"] * gg.params_["p"] / (gg.params_["q"] - 1)
    assert others and all(r["expected_spend"] == pytest.approx(mean_spend) for r in others)


def test_table_and_csv_outputs(workspace, capsys) -> None:
    code, out, _ = run(["clv", "-w", str(workspace), "--top", "3"], capsys)
    assert code == 0 and "CLV" in out and "top 3 users" in out
    code, out, _ = run(["fit", "gamma-gamma", "-w", str(workspace), "-f", "csv"], capsys)
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and [r["param"] for r in rows] == ["p", "q", "gamma"]
    code, out, _ = run(["project", "-w", str(workspace), "--periods", "30"], capsys)
    assert code == 0 and "d90" in out and "habit_floor" in out


def squashed(text: str) -> str:
    """The error panel's text without its frame and line breaks (long paths wrap)."""
    return "".join(text.replace("│", "").split())


def test_errors_are_one_panel(workspace, tmp_path, capsys) -> None:
    code, _, err = run(["fit", "bgnbd", "-w", str(tmp_path / "none.duckdb")], capsys)
    assert code == 2 and "noworkspace" in squashed(err)
    code, _, err = run(
        ["fit", "bgnbd", "-w", str(workspace), "--period", "week", "--calibration-end", "2026-03-04"], capsys
    )
    assert code == 2 and "lastdayofaweek" in squashed(err) and "Traceback" not in err


def test_demo_prints_projections_by_channel(tmp_path, capsys) -> None:
    got = json_run(["demo", "--dir", str(tmp_path), "--users", "1500", "--days", "60"], capsys)
    rows = {r["channel"]: r for r in got["projection"]}
    assert set(rows) == {"free_order", "organic", "red_packet", "social_share"}
    for r in rows.values():
        assert r["fitted_ages"] == 58 and r["model"] is not None
        assert r["d90_lower"] <= r["d90"] <= r["d90_upper"] and r["d365"] <= r["d90"]
        assert 0 <= r["habit_floor"] <= r["d365"] + 1e-12 and 0 < r["habit_floor_planted"] < 0.3
        assert r["d90_planted"] is None  # a 60-day window does not reach day 90
    # the planted ordering survives the extrapolation: organic users keep far more of their habit than share links
    assert rows["organic"]["d365"] > 3 * rows["social_share"]["d365"]
    assert "models" in got["seconds"]


def test_fit_bootstrap_option(workspace, capsys) -> None:
    """``--bootstrap N`` adds the bootstrap se and percentile interval of ``liuliang.models.bootstrap`` (seed 0), the
    same numbers as the API on the same summary; without it the columns are absent."""
    from liuliang.models import bootstrap

    got = json_run(["fit", "bgnbd", "-w", str(workspace), "--bootstrap", "12"], capsys)
    assert got["bootstrap"] == {"resamples": 12, "seed": 0, "interval": "percentile"}
    with liuliang.Workspace.open(workspace) as ws:
        last = ws.engine.to_arrow(ws.user_day().aggregate(m=ws.user_day().last_ts.max()))["m"][0].as_py()
        s = rfm_summary(ws, calibration_end=END, data_end=last).without_newcomers()
    direct = bootstrap(BetaGeoFitter(), s.frequency, s.recency, s.T, n_resamples=12, seed=0).to_pandas()
    rows = {r["param"]: r for r in got["rows"]}
    assert list(rows) == list(direct["param"])
    for d in direct.itertuples():
        r = rows[d.param]
        assert r["bootstrap_se"] == pytest.approx(d.bootstrap_se, rel=1e-9) and r["bootstrap_se"] > 0
        assert (r["bootstrap_lower"], r["bootstrap_upper"]) == pytest.approx((d.lower, d.upper), rel=1e-9)
        assert r["bootstrap_lower"] <= r["bootstrap_upper"] and r["bootstrap_failed"] == 12 - d.n_converged
    sbg = json_run(["fit", "sbg", "-w", str(workspace), "--bootstrap", "20"], capsys)
    assert all(r["bootstrap_lower"] < r["estimate"] < r["bootstrap_upper"] for r in sbg["rows"])
    code, out, _ = run(["fit", "gamma-gamma", "-w", str(workspace), "--bootstrap", "5"], capsys)
    assert code == 0 and "boot" in out  # headers shortened to fit 80 columns, so possibly cut further
    plain = json_run(["fit", "gamma-gamma", "-w", str(workspace)], capsys)
    assert "bootstrap" not in plain and "bootstrap_se" not in plain["rows"][0]
