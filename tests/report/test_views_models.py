"""The model and causal views: every number in a view's table is recomputed here from the public APIs, by hand where
the view does its own arithmetic (pooling retention cells, deciles of uplift), and the reading names the right ones.

The views are built once per module (en and zh) on the session's small world, so the file stays fast.
"""

from __future__ import annotations

import datetime as dt
import json
import warnings
from collections import defaultdict
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from sklearn.model_selection import StratifiedKFold
from threadpoolctl import threadpool_limits

import liuliang
from liuliang.causal.evaluation import auuc_score, qini_coefficient
from liuliang.causal.experiment import ExperimentSpec, run_experiment
from liuliang.causal.features import FeatureSpec, experiment_features
from liuliang.causal.meta_learners import TLearner
from liuliang.causal.srm import SampleRatioMismatchWarning
from liuliang.errors import LiuliangError
from liuliang.metrics.retention import RetentionSpec, retention
from liuliang.models import RetentionCurveFitter
from liuliang.report.view import View, ViewSpec, build_view, pct, yuan
from liuliang.report.views import causal, decay
from liuliang.signals.scorecard import scorecard as campaign_scorecard
from liuliang.simulate import WorldConfig, generate_world
from liuliang.warehouse import periods

KEYS = ("decay", "experiment", "uplift", "scorecard")


@pytest.fixture(scope="module")
def ws(small_world_workspace: Path):
    workspace = liuliang.Workspace.open(small_world_workspace)
    yield workspace
    workspace.close()


@pytest.fixture(scope="module")
def views(ws) -> dict[tuple[str, str], View]:
    return {(key, lang): build_view(ws, key, ViewSpec(lang=lang)) for key in KEYS for lang in ("en", "zh")}


def rows(view: View) -> list[dict]:
    assert view.table is not None
    return view.table.to_pylist()


# -- every view --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("key", KEYS)
def test_view_is_complete_translated_and_json_ready(views, key) -> None:
    en, zh = views[(key, "en")], views[(key, "zh")]
    for v in (en, zh):
        assert v.key == key and v.figure is not None and v.table is not None and v.table.num_rows > 0
        assert v.reading.count(". ") == 0 and v.reading.endswith((".", "。")), v.reading  # one sentence
        d = json.loads(json.dumps(v.to_dict(), allow_nan=False))
        assert d["figure"]["data"] and d["rows"]
    assert zh.title != en.title and zh.reading != en.reading
    assert any("\u4e00" <= ch <= "\u9fff" for ch in zh.reading)
    en_axis = en.figure.layout.xaxis.title.text
    assert en_axis and en_axis != zh.figure.layout.xaxis.title.text
    assert en.table.equals(zh.table) or key == "scorecard"  # numbers do not change with the language


# -- decay -------------------------------------------------------------------------------------------------------------
def _pooled_fit(table, name: str):
    """By hand: Σ count / Σ cohort size per age >= 1 over complete cells, then the power-floor fit."""
    acc: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for r in table.to_arrow().to_pylist():
        if r["breakdown"] == name and r["period_offset"] >= 1 and not r["incomplete"] and r["cohort_size"]:
            acc[r["period_offset"]][0] += r["count"]
            acc[r["period_offset"]][1] += r["cohort_size"]
    ages = np.array(sorted(acc), dtype=float)
    n = np.array([acc[a][1] for a in sorted(acc)], dtype=float)
    share = np.array([acc[a][0] for a in sorted(acc)]) / n
    return ages, share, RetentionCurveFitter(model="power_floor").fit(ages, share, n)


def test_decay_numbers_are_the_pooled_power_floor_fit(ws, views) -> None:
    span = ws.event_span()
    days = (periods.date_of_day(span.last_day) - periods.date_of_day(span.first_day)).days
    table = retention(ws, RetentionSpec(period="day", periods=days, breakdown="channel"))
    got = {r["breakdown"]: r for r in rows(views[("decay", "en")])}
    users = defaultdict(int)
    for r in table.to_arrow().to_pylist():
        if r["period_offset"] == 0:
            users[r["breakdown"]] += r["cohort_size"]
    assert set(got) == set(users) == {"organic", "red_packet", "free_order", "social_share"}
    for name, row in got.items():
        ages, share, f = _pooled_fit(table, name)
        proj = {p["age"]: p for p in f.project((90, 365)).to_arrow().to_pylist()}
        assert row["users"] == users[name] and row["fitted_ages"] == ages.max() and row["model"] == "power_floor"
        assert row["d30_observed"] == pytest.approx(share[ages == 30][0], rel=1e-12)
        for d in (90, 365):
            for col, key in (("", "retention"), ("_lower", "lower"), ("_upper", "upper")):
                assert row[f"d{d}{col}"] == pytest.approx(proj[d][key], rel=1e-9), (name, d, col)
        assert row["habit_floor"] == pytest.approx(f.habit_floor_, rel=1e-9, abs=1e-12)
        lo, hi = f.habit_floor_interval_
        assert row["habit_floor_lower"] == pytest.approx(lo, abs=1e-9)
        assert row["habit_floor_upper"] == pytest.approx(hi, abs=1e-9)
        assert row["habit_floor_lower"] <= row["habit_floor"] <= row["habit_floor_upper"]
    # the reading names the lowest and the highest floor
    order = sorted(got.values(), key=lambda r: (r["habit_floor"], r["d365"], r["breakdown"]))
    reading = views[("decay", "en")].reading
    for r in (order[0], order[-1]):
        assert r["breakdown"] in reading and pct(r["habit_floor"]) in reading
    assert reading.index(order[0]["breakdown"]) < reading.index(order[-1]["breakdown"])


def test_pooling_gives_the_per_cohort_maximum_likelihood_curve(ws) -> None:
    """Why the view may pool: the binomial likelihood of cohorts sharing m(a) is the pooled one plus a constant."""
    table = retention(ws, RetentionSpec(period="day", periods=60, breakdown="channel"))
    _, _, pooled = _pooled_fit(table, "social_share")
    cells = RetentionCurveFitter(model="power_floor").fit_retention_table(table, breakdown="social_share")
    assert pooled.predict([7, 30, 90]) == pytest.approx(cells.predict([7, 30, 90]), rel=1e-3)
    # different points (one per age vs one per cohort and age), the same kernel Σ r log m + (n − r) log(1 − m)
    assert pooled.n_obs_ < cells.n_obs_
    assert pooled.log_likelihood_ == pytest.approx(cells.log_likelihood_, rel=1e-6)


def test_decay_respects_end_and_breakdown(ws) -> None:
    end = dt.date(2026, 3, 31)
    v = build_view(ws, "decay", ViewSpec(end=end, breakdown=None, lang="zh"))
    (row,) = rows(v)
    first = periods.date_of_day(ws.event_span().first_day)
    assert row["breakdown"] == "all" and row["fitted_ages"] <= (end - first).days
    assert "全部用户" in v.reading and pct(row["habit_floor"]) in v.reading
    # period is ignored: the same daily query whatever it says
    assert decay.retention_spec(ws, ViewSpec(end=end, period="week")) == decay.retention_spec(ws, ViewSpec(end=end))
    rspec, data_end = decay.retention_spec(ws, ViewSpec(end=end, breakdown=None, preset="mixpanel", criterion="on"))
    assert (rspec.period, rspec.criterion, rspec.period_zero, rspec.breakdown) == (
        "day",
        "on",
        "returns_after_start",
        None,
    )
    assert rspec.date_to == end and data_end == ViewSpec(end=end).data_end(ws.settings.tz)


# -- experiment --------------------------------------------------------------------------------------------------------
def test_experiment_numbers_are_run_experiment(ws, views) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SampleRatioMismatchWarning)
        res = run_experiment(
            ws, ExperimentSpec("challenge7", metrics=("retention_d7", "retention_d30", "incentive_cost_d7"), days=(7,))
        )
    got = {r["metric"]: r for r in rows(views[("experiment", "en")])}
    assert set(got) == {"retention_d7", "retention_d30", "incentive_cost_d7"}
    for metric, row in got.items():
        want, control = res.row(metric, "treatment"), res.row(metric, "control")
        assert row["experiment"] == "challenge7" and row["variant"] == "treatment"
        assert (row["n"], row["n_control"]) == (want["n"], control["n"])
        for c in ("mean", "control_mean", "difference", "ci_lower", "ci_upper", "p_value", "p_adjusted"):
            assert row[c] == pytest.approx(want[c], rel=1e-12), (metric, c)
        assert row["srm_p_value"] == pytest.approx(res.srm.p_value) and row["srm_mismatch"] is res.srm.mismatch
    # by hand: a difference of means and its 95% interval in percentage points
    d7 = got["retention_d7"]
    assert d7["difference"] == pytest.approx(d7["mean"] - d7["control_mean"], rel=1e-9)
    view = views[("experiment", "en")]
    assert f"{100 * d7['difference']:+.1f}" in view.reading and f"{100 * d7['ci_lower']:+.1f}" in view.reading
    assert yuan(got["incentive_cost_d7"]["difference"]) in view.reading and "challenge7" in view.reading
    straddles = d7["ci_lower"] < 0 < d7["ci_upper"]
    assert ("no clear effect" in view.reading) is straddles
    assert f"p = {res.srm.p_value:.2g}" in (view.note or "") and "match the planned split" in view.note


def test_sample_ratio_mismatch_becomes_the_reading() -> None:
    res = SimpleNamespace(srm=SimpleNamespace(mismatch=True, p_value=1.2e-5))
    en, zh = causal._srm_sentence("exp", res, "en"), causal._srm_sentence("exp", res, "zh")
    assert "MISMATCH" in en and "1.2e-05" in en and "不匹配" in zh


# -- uplift ------------------------------------------------------------------------------------------------------------
def test_uplift_deciles_and_scores_by_hand(ws, views) -> None:
    feats = experiment_features(ws, "challenge7", FeatureSpec(day=7)).observed()
    X, t, y = feats.X(), feats.treatment().astype(str), feats.y()
    score = np.empty(len(y))
    with threadpool_limits(limits=1, user_api="openmp"):
        for train, test in StratifiedKFold(n_splits=5, shuffle=True, random_state=0).split(X, t):
            model = TLearner(control="control", random_state=0).fit(X[train], t[train], y[train])
            score[test] = model.predict(X[test])[:, 0]
    got = rows(views[("uplift", "en")])
    assert [r["decile"] for r in got] == list(range(1, 11)) and sum(r["n"] for r in got) == len(y)
    treated = (t == "treatment").astype(int)
    order = np.argsort(-score, kind="mergesort")
    for r, idx in zip(got, np.array_split(order, 10), strict=True):
        yt, yc = y[idx][treated[idx] == 1], y[idx][treated[idx] == 0]
        assert (r["n"], r["n_treated"], r["n_control"]) == (idx.size, yt.size, yc.size)
        assert r["predicted"] == pytest.approx(score[idx].mean(), rel=1e-9)
        assert r["observed"] == pytest.approx(yt.mean() - yc.mean(), rel=1e-9)
    qini, auuc = qini_coefficient(y, score, treated), auuc_score(y, score, treated)
    assert all(r["qini"] == pytest.approx(qini) and r["auuc"] == pytest.approx(auuc) for r in got)
    reading = views[("uplift", "en")].reading
    assert f"Qini {qini:.2f}" in reading and f"AUUC {auuc:.2f}" in reading and "challenge7" in reading
    assert ("beats random" in reading) == bool(qini > 0)
    assert f"{100 * got[0]['observed']:+.1f}" in reading and f"{100 * got[-1]['observed']:+.1f}" in reading


# -- scorecard ---------------------------------------------------------------------------------------------------------
def test_scorecard_numbers_and_best_and_worst(ws, views) -> None:
    card = campaign_scorecard(ws, by=("campaign",))
    got = {r["campaign"]: r for r in rows(views[("scorecard", "en")])}
    assert set(got) == set(card.segments())
    for seg in card.segments():
        want, row = card.row(seg), got[seg]
        for c in ("users", "total_cost", "cac", "d7_rate", "d30_rate", "d30_cost_per_retained", "habit_share"):
            assert row[c] == pytest.approx(want[c], rel=1e-12), (seg, c)
        assert row["verdict_code"] == want["verdict_code"]
    zh = {r["campaign"]: r for r in rows(views[("scorecard", "zh")])}
    assert {r["verdict"] for r in got.values()} <= {"bought habits", "bought visits", "too early to tell"}
    assert all(zh[s]["verdict"] != got[s]["verdict"] for s in got)
    judged = [r for s, r in got.items() if s != "all" and r["verdict_code"] != "too_early"]
    best = min(judged, key=lambda r: r["d30_cost_per_retained"])
    worst = max(judged, key=lambda r: r["d30_cost_per_retained"])
    reading = views[("scorecard", "en")].reading
    assert reading.startswith(best["campaign"]) and worst["campaign"] in reading
    assert yuan(best["d30_cost_per_retained"]) in reading and yuan(worst["d30_cost_per_retained"]) in reading
    fig = views[("scorecard", "en")].figure
    drawn = {name for trace in fig.data for name in trace.text}
    assert drawn == set(got) - {"all"}
    sizes = {n: s for trace in fig.data for n, s in zip(trace.text, trace.marker.size, strict=True)}
    assert max(sizes, key=sizes.get) == max(judged, key=lambda r: r["users"])["campaign"]


# -- without an experiment ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_worlds(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """One tiny world ingested twice: without the assignments table, and with an experiment too small to model."""
    base = tmp_path_factory.mktemp("tiny_world")
    config = WorldConfig(n_users=400, days=60, seed=5, courier_share=0.0)
    generate_world(config, base / "world")
    paths = []
    for name, tables in (("without", ("events", "users", "incentives")), ("with", ("events", "users", "assignments"))):
        path = base / f"{name}.duckdb"
        with liuliang.Workspace.open(path, tz=config.tz) as w:
            for table in tables:
                source = base / "world" / ("events" if table == "events" else f"{table}.parquet")
                w.ingest(source, table=table)
        paths.append(path)
    return paths[0], paths[1]


def test_no_assignments_table_gives_a_note(tiny_worlds) -> None:
    with liuliang.Workspace.open(tiny_worlds[0]) as w:
        for key in ("experiment", "uplift"):
            for lang, text in (("en", "Not available."), ("zh", "暂无数据。")):
                v = build_view(w, key, ViewSpec(lang=lang))
                assert v.figure is None and v.table is None and v.reading == text
                assert "no assignments table" in (v.note or "")
                json.dumps(v.to_dict())
        with pytest.raises(LiuliangError, match="assignments"):
            causal.experiment(w, ViewSpec())


def test_too_few_users_for_an_uplift_model_gives_a_note(tiny_worlds) -> None:
    with liuliang.Workspace.open(tiny_worlds[1]) as w:
        v = build_view(w, "uplift", ViewSpec())
        assert v.figure is None and "too few users" in (v.note or "") and "challenge7" in v.note
