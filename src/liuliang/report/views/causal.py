"""Did the incentive cause it, and for whom? The experiment read and a quick uplift model, as report views.

Retention by channel shows who stayed; only a randomised experiment says whether the incentive *made* them stay.
Two views:

- ``experiment``: every experiment in the ``assignments`` table (the :data:`MAX_EXPERIMENTS` most recent by last
  assignment) read with :func:`liuliang.causal.experiment.run_experiment` — treatment − control on D7 and D30
  retention and on the incentive cost of the first 7 days, with 95% intervals (CUPED-adjusted when the experiment
  has a pre-period), drawn as a forest plot, and the sample-ratio check of each experiment.
- ``uplift``: on the most recent experiment, a T-learner (:class:`~liuliang.causal.meta_learners.TLearner`, the
  cheapest learner: two gradient-boosted fits) on the features known at assignment
  (:func:`~liuliang.causal.features.experiment_features`, outcome: retained on day 7). Every user is scored by a
  model that did not see them (:data:`FOLDS`-fold cross-fitting, seeded), so the whole experiment serves as the
  held-out set — a 30% test split of a few hundred users would leave ~10 per decile. The deciles of predicted
  uplift are compared with the observed uplift in each (:func:`~liuliang.causal.evaluation.evaluate_uplift`), and
  the normalised Qini coefficient and AUUC say whether the ranking beats random targeting (0 = random, 1 = perfect).

Both raise :class:`~liuliang.errors.LiuliangError` when there is no ``assignments`` table or too few users;
:func:`liuliang.report.view.build_view` turns that into a view with a note.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import plotly.graph_objects as go
import pyarrow as pa
from plotly.subplots import make_subplots
from threadpoolctl import threadpool_limits

from liuliang.causal.evaluation import evaluate_uplift
from liuliang.causal.experiment import ExperimentResult, ExperimentSpec, run_experiment
from liuliang.causal.features import FeatureSpec, experiment_features
from liuliang.causal.meta_learners import TLearner
from liuliang.errors import LiuliangError
from liuliang.report.view import View, ViewSpec, pick, yuan
from liuliang.warehouse import tables as T

if TYPE_CHECKING:
    import datetime as dt

    from liuliang.warehouse import Workspace

CONTROL = "control"
#: Experiments shown at most (most recent first).
MAX_EXPERIMENTS = 4
#: The metrics read: retention on day 7 and 30, and incentive cost over the first 7 days (lower is better).
METRICS = ("retention_d7", "retention_d30", "incentive_cost_d7")
RETENTION_METRICS = METRICS[:2]
COST_METRIC = METRICS[2]
#: Uplift: outcome horizon, cross-fitting folds, seed, deciles, and the least data a model is fitted on.
UPLIFT_DAY = 7
FOLDS = 5
SEED = 0
BINS = 10
MIN_UPLIFT_USERS = 200
MIN_UPLIFT_ARM = 50

EXPERIMENT_SCHEMA = pa.schema(
    [
        ("experiment", pa.string()),
        ("variant", pa.string()),
        ("metric", pa.string()),
        ("n_control", pa.int64()),
        ("n", pa.int64()),
        ("control_mean", pa.float64()),
        ("mean", pa.float64()),
        ("difference", pa.float64()),
        ("ci_lower", pa.float64()),
        ("ci_upper", pa.float64()),
        ("p_value", pa.float64()),
        ("p_adjusted", pa.float64()),
        ("method", pa.string()),
        ("srm_p_value", pa.float64()),
        ("srm_mismatch", pa.bool_()),
    ]
)

UPLIFT_SCHEMA = pa.schema(
    [
        ("experiment", pa.string()),
        ("treatment", pa.string()),
        ("decile", pa.int64()),
        ("n", pa.int64()),
        ("n_treated", pa.int64()),
        ("n_control", pa.int64()),
        ("predicted", pa.float64()),
        ("observed", pa.float64()),
        ("ci_low", pa.float64()),
        ("ci_high", pa.float64()),
        ("qini", pa.float64()),
        ("auuc", pa.float64()),
    ]
)


@dataclass(frozen=True)
class ExperimentInfo:
    """One experiment of the ``assignments`` table: its name, users assigned and last assignment (naive UTC)."""

    name: str
    users: int
    last_ts: dt.datetime


def list_experiments(ws: Workspace, data_end: dt.datetime | None) -> list[ExperimentInfo]:
    """Experiments assigned by ``data_end``, the most recent (last assignment) first; raises when there are none."""
    if not ws.has_table(T.ASSIGNMENTS):
        raise LiuliangError("this workspace has no assignments table: ingest an experiment's assignments to see it")
    a = ws.table(T.ASSIGNMENTS)
    if data_end is not None:
        a = a.filter(a.ts <= ws.resolve_data_end(data_end, "reading experiments"))
    rows = ws.engine.to_arrow(
        a.group_by("experiment").aggregate(users=a.user_key.nunique(), last_ts=a.ts.max())
    ).to_pylist()
    found = sorted(
        (ExperimentInfo(r["experiment"], int(r["users"]), r["last_ts"]) for r in rows if r["experiment"]),
        key=lambda e: (e.last_ts, e.name),
        reverse=True,
    )
    if not found:
        raise LiuliangError("the assignments table has no experiment assigned in this date range")
    return found


def experiment_spec(name: str, spec: ViewSpec) -> ExperimentSpec:
    """The read behind the view (the tests build the same one)."""
    return ExperimentSpec(name, control=CONTROL, metrics=METRICS, days=(7,), criterion=spec.criterion)


def _read(ws: Workspace, name: str, spec: ViewSpec) -> ExperimentResult:
    # A sample-ratio mismatch also raises a SampleRatioMismatchWarning; it is left alone (silencing it would change the
    # process-wide warning filters under a threaded server) and the view says it in its reading and note.
    return run_experiment(ws, experiment_spec(name, spec), data_end=spec.data_end(ws.settings.tz))


def _effect_rows(name: str, res: ExperimentResult) -> list[dict[str, Any]]:
    rows = res.to_arrow().to_pylist()
    n_control = {r["metric"]: r["n"] for r in rows if r["segment"] == "all" and r["is_control"]}
    out = []
    for r in rows:
        if r["segment"] != "all" or r["is_control"]:
            continue
        out.append(
            {
                **{c: r.get(c) for c in EXPERIMENT_SCHEMA.names if c in r},
                "experiment": name,
                "n_control": n_control.get(r["metric"]),
                "srm_p_value": res.srm.p_value,
                "srm_mismatch": res.srm.mismatch,
            }
        )
    return out


def _metric_label(metric: str, lang: str) -> str:
    return {
        "retention_d7": pick(lang, "D7 retention", "第7日留存"),
        "retention_d30": pick(lang, "D30 retention", "第30日留存"),
        "incentive_cost_d7": pick(lang, "incentive cost, first 7 days", "前7天激励成本"),
    }[metric]


def _pp(x: float) -> str:
    return f"{100 * x:+.1f}"


def _experiment_reading(row7: dict[str, Any] | None, cost: dict[str, Any] | None, name: str, lang: str) -> str:
    arm = "" if row7 is None or row7["variant"] == "treatment" else f" ({row7['variant']})"
    if row7 is None or row7["difference"] is None:
        return pick(
            lang,
            f"{name}{arm}: D7 retention cannot be compared yet (no user observed on day 7 in both arms).",
            f"{name}{arm}：第7日留存暂无法比较（两组都还没有用户到达第7天）。",
        )
    d, lo, hi = row7["difference"], row7["ci_lower"], row7["ci_upper"]
    ci = f"{_pp(lo)} – {_pp(hi)}"
    if lo > 0 or hi < 0:
        verb_en = "raised" if d > 0 else "lowered"
        verb_zh = "提高" if d > 0 else "降低"
        en = f"{name}{arm} {verb_en} D7 retention by {abs(100 * d):.1f} pp (95% CI {ci} pp)"
        zh = f"{name}{arm} 使第7日留存{verb_zh}了 {abs(100 * d):.1f} 个百分点（95% 置信区间 {ci}）"
    else:
        en = f"{name}{arm} had no clear effect on D7 retention ({_pp(d)} pp, 95% CI {ci} pp)"
        zh = f"{name}{arm} 对第7日留存没有明显影响（{_pp(d)} 个百分点，95% 置信区间 {ci}）"
    if cost is not None and cost["difference"] is not None:
        c = cost["difference"]
        more_en, more_zh = ("more", "多") if c >= 0 else ("less", "少")
        en += f", at {yuan(abs(c))} {more_en} incentive cost per user in the first week"
        zh += f"，首周每位用户的激励成本{more_zh} {yuan(abs(c))}"
    return pick(lang, en + ".", zh + "。")


def _srm_sentence(name: str, res: ExperimentResult, lang: str) -> str:
    p = res.srm.p_value
    if res.srm.mismatch:
        return pick(
            lang,
            f"{name}: sample-ratio MISMATCH (p = {p:.2g}): the arms' sizes do not match the planned split, so "
            "check the assignment before trusting its effects.",
            f"{name}：样本比例不匹配（p = {p:.2g}），各组人数与计划分配不符，请先检查分组再采信结果。",
        )
    return pick(
        lang,
        f"{name}: the arms' sizes match the planned split (sample-ratio check p = {p:.2g}).",
        f"{name}：各组人数与计划分配相符（样本比例检验 p = {p:.2g}）。",
    )


def _forest(rows: list[dict[str, Any]], lang: str) -> go.Figure:
    fig = make_subplots(
        rows=1,
        cols=2,
        shared_yaxes=True,
        horizontal_spacing=0.06,
        subplot_titles=(
            pick(lang, "Retention: treatment − control (pp)", "留存：实验组 − 对照组（百分点）"),
            pick(lang, "Incentive cost per user, first 7 days (¥)", "前7天每位用户激励成本（¥）"),
        ),
    )
    multi = len({r["variant"] for r in rows}) > 1
    for col, metrics, scale in ((1, RETENTION_METRICS, 100.0), (2, (COST_METRIC,), 1.0)):
        for metric in metrics:
            sel = [r for r in rows if r["metric"] == metric and r["difference"] is not None]
            if not sel:
                continue
            label = [
                f"{r['experiment']}{' · ' + r['variant'] if multi else ''} · {_metric_label(r['metric'], lang)}"
                for r in sel
            ]
            diff = np.array([r["difference"] for r in sel]) * scale
            lo = np.array([r["ci_lower"] for r in sel]) * scale
            hi = np.array([r["ci_upper"] for r in sel]) * scale
            fig.add_trace(
                go.Scatter(
                    x=diff.tolist(),
                    y=label,
                    mode="markers",
                    marker={"size": 10, "symbol": "square"},
                    error_x={
                        "type": "data",
                        "symmetric": False,
                        "array": (hi - diff).tolist(),
                        "arrayminus": (diff - lo).tolist(),
                    },
                    name=_metric_label(metric, lang),
                    hovertemplate="%{y}: %{x:.2f}<extra></extra>",
                ),
                row=1,
                col=col,
            )
        fig.add_vline(x=0, line_dash="dot", line_color="grey", row=1, col=col)
    fig.update_xaxes(title_text=pick(lang, "effect (95% CI)", "效应（95% 置信区间）"))
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(showlegend=True, margin={"t": 40}, legend_title_text=pick(lang, "Metric", "指标"))
    return fig


def experiment(ws: Workspace, spec: ViewSpec) -> View:
    """Treatment − control on D7/D30 retention and incentive cost per experiment (forest plot), with the SRM check.

    Uses ``spec.end`` (``data_end``; assignments after it are not counted), ``spec.criterion`` (retention ``on`` /
    ``on_or_after``) and ``spec.lang``. Ignores ``start`` (an experiment's users are whoever it assigned),
    ``breakdown`` (the overall effect is the randomised one; segments would multiply the rows and the tests),
    ``period`` and ``preset`` (the read is defined on days since assignment, not on retention cohorts).
    """
    data_end = spec.data_end(ws.settings.tz)
    found = list_experiments(ws, data_end)[:MAX_EXPERIMENTS]
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    results: dict[str, ExperimentResult] = {}
    for info in found:
        try:
            res = _read(ws, info.name, spec)
        except LiuliangError as exc:
            notes.append(f"{info.name}: {exc}")
            continue
        results[info.name] = res
        rows += _effect_rows(info.name, res)
        notes.append(_srm_sentence(info.name, res, spec.lang))
    if not results:
        raise LiuliangError("no experiment could be read: " + "; ".join(notes))
    latest = next(i.name for i in found if i.name in results)
    first_arm = next(r["variant"] for r in rows if r["experiment"] == latest)

    def pick_row(metric: str) -> dict[str, Any] | None:
        return next(
            (r for r in rows if r["experiment"] == latest and r["variant"] == first_arm and r["metric"] == metric), None
        )

    if results[latest].srm.mismatch:
        reading = _srm_sentence(latest, results[latest], spec.lang)
    else:
        reading = _experiment_reading(pick_row("retention_d7"), pick_row(COST_METRIC), latest, spec.lang)
    table = pa.Table.from_pylist(
        [{c: r.get(c) for c in EXPERIMENT_SCHEMA.names} for r in rows], schema=EXPERIMENT_SCHEMA
    )
    return View(
        key="experiment",
        title=pick(spec.lang, "Did the incentive cause it? Experiment effects", "是激励带来的吗？实验效应"),
        reading=reading,
        figure=_forest(rows, spec.lang),
        table=table,
        note=" ".join(notes),
    )


# -- uplift ------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class UpliftFit:
    """What the uplift view computed: the experiment, the users' out-of-fold uplift scores and their evaluation."""

    experiment: str
    treatment: np.ndarray
    y: np.ndarray
    uplift: np.ndarray
    arms: tuple[str, ...]


def cross_fitted_uplift(ws: Workspace, name: str, spec: ViewSpec) -> UpliftFit:
    """Out-of-fold T-learner uplift for every observed user of experiment ``name`` (seeded, deterministic)."""
    from sklearn.model_selection import StratifiedKFold

    fspec = FeatureSpec(day=UPLIFT_DAY, criterion=spec.criterion)
    feats = experiment_features(ws, name, fspec, data_end=spec.data_end(ws.settings.tz)).observed()
    t = feats.treatment().astype(str)
    arms, counts = np.unique(t, return_counts=True)
    if (
        feats.n_users < MIN_UPLIFT_USERS
        or CONTROL not in arms.tolist()
        or len(arms) < 2
        or counts.min() < MIN_UPLIFT_ARM
    ):
        sizes = ", ".join(f"{a} {c:,}" for a, c in zip(arms.tolist(), counts.tolist(), strict=True)) or "none"
        raise LiuliangError(
            f"experiment {name!r} has too few users with observed day-{UPLIFT_DAY} retention for an uplift model "
            f"({sizes}; need {MIN_UPLIFT_USERS} in all, a {CONTROL!r} arm and {MIN_UPLIFT_ARM} per arm)"
        )
    X, y = feats.X(), feats.y()
    treated = tuple(a for a in arms.tolist() if a != CONTROL)
    uplift = np.empty((feats.n_users, len(treated)))
    folds = StratifiedKFold(n_splits=FOLDS, shuffle=True, random_state=SEED)
    # Gradient boosting parallelises with OpenMP over every core; on a few hundred rows the threads only spin, and on
    # a shared 2-core server that made each fit ~50x slower (4.7 s instead of 0.06 s). Scoped, restored on exit.
    with threadpool_limits(limits=1, user_api="openmp"):
        for train, test in folds.split(X, t):
            model = TLearner(control=CONTROL, random_state=SEED).fit(X[train], t[train], y[train])
            uplift[test] = model.predict(X[test])
    return UpliftFit(name, t, y, uplift, treated)


def uplift(ws: Workspace, spec: ViewSpec) -> View:
    """Observed vs predicted uplift on D7 retention by decile of a cross-fitted T-learner, with Qini and AUUC.

    Uses ``spec.end`` (``data_end``), ``spec.criterion`` (the outcome's retention criterion) and ``spec.lang``.
    Ignores ``start``, ``breakdown``, ``period`` and ``preset`` for the reasons given in :func:`experiment`
    (the channel is one of the model's features already).
    """
    latest = list_experiments(ws, spec.data_end(ws.settings.tz))[0]
    fit = cross_fitted_uplift(ws, latest.name, spec)
    ev = evaluate_uplift(fit.y, fit.uplift, fit.treatment, treatments=np.array(fit.arms), control=CONTROL, bins=BINS)
    cal = ev.calibration.to_pylist()
    rows = [
        {
            "experiment": fit.experiment,
            "treatment": r["treatment"],
            "decile": r["bin"],
            **{c: r[c] for c in ("n", "n_treated", "n_control", "predicted", "observed", "ci_low", "ci_high")},
            "qini": ev.metric(r["treatment"], "qini"),
            "auuc": ev.metric(r["treatment"], "auuc"),
        }
        for r in cal
    ]
    table = pa.Table.from_pylist(rows, schema=UPLIFT_SCHEMA)
    arm = fit.arms[0]
    mine = [r for r in rows if r["treatment"] == arm]
    qini, auuc = mine[0]["qini"], mine[0]["auuc"]
    top, bottom = mine[0]["observed"], mine[-1]["observed"]
    label = fit.experiment if len(fit.arms) == 1 else f"{fit.experiment} ({arm})"
    deciles = pick(
        spec.lang,
        f"the observed uplift on D7 retention is {_pp(top)} pp in the top tenth and {_pp(bottom)} pp in the "
        "bottom tenth",
        f"实测第7日留存增益在预测最高的十分之一用户中为 {_pp(top)} 个百分点，"
        f"在最低的十分之一中为 {_pp(bottom)} 个百分点",
    )
    if qini > 0:
        reading = pick(
            spec.lang,
            f"Ranking {label}'s users by predicted uplift beats random targeting (Qini {qini:.2f}, AUUC {auuc:.2f}): "
            f"{deciles}.",
            f"按预测增益给 {label} 的用户排序优于随机投放（Qini {qini:.2f}，AUUC {auuc:.2f}）：{deciles}。",
        )
    else:
        reading = pick(
            spec.lang,
            f"The uplift model ranks {label}'s users no better than random (Qini {qini:.2f}, AUUC {auuc:.2f}): "
            f"{deciles}.",
            f"增益模型对 {label} 用户的排序不比随机更好（Qini {qini:.2f}，AUUC {auuc:.2f}）：{deciles}。",
        )
    note = pick(
        spec.lang,
        f"T-learner on the features known at assignment, {FOLDS}-fold cross-fitted (every user scored by a model "
        f"that did not see them), {len(fit.y):,} users with observed day-{UPLIFT_DAY} retention. Qini and AUUC are "
        "normalised: 0 = random targeting, 1 = perfect.",
        f"T-learner，使用分组时已知的特征，{FOLDS} 折交叉拟合（每位用户由未见过其数据的模型打分），"
        f"共 {len(fit.y):,} 位已观察到第{UPLIFT_DAY}日留存的用户。Qini 与 AUUC 已归一化：0 为随机投放，1 为完美。",
    )
    return View(
        key="uplift",
        title=pick(spec.lang, "Who does the incentive move? Uplift by decile", "激励打动了谁？按十分位的增益"),
        reading=reading,
        figure=_uplift_figure(rows, spec.lang),
        table=table,
        note=note,
    )


def _uplift_figure(rows: list[dict[str, Any]], lang: str) -> go.Figure:
    fig = go.Figure()
    for arm in dict.fromkeys(r["treatment"] for r in rows):
        mine = [r for r in rows if r["treatment"] == arm]
        x = [r["decile"] for r in mine]
        obs = np.array([np.nan if r["observed"] is None else r["observed"] for r in mine], dtype=float) * 100
        lo = np.array([np.nan if r["ci_low"] is None else r["ci_low"] for r in mine], dtype=float) * 100
        hi = np.array([np.nan if r["ci_high"] is None else r["ci_high"] for r in mine], dtype=float) * 100
        suffix = "" if len(rows) == len(mine) else f" ({arm})"
        fig.add_trace(
            go.Bar(
                x=x,
                y=obs.tolist(),
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": (hi - obs).tolist(),
                    "arrayminus": (obs - lo).tolist(),
                },
                name=pick(lang, "observed uplift", "实测增益") + suffix,
                opacity=0.8,
            )
        )
        fig.add_trace(
            go.Scatter(
                x=x,
                y=[100 * r["predicted"] for r in mine],
                mode="lines+markers",
                name=pick(lang, "predicted uplift", "预测增益") + suffix,
            )
        )
    fig.add_hline(y=0, line_dash="dot", line_color="grey")
    fig.update_layout(
        xaxis_title=pick(lang, "Decile of predicted uplift (1 = highest)", "预测增益十分位（1 = 最高）"),
        yaxis_title=pick(lang, "D7 retention: treated − control (pp)", "第7日留存：实验组 − 对照组（百分点）"),
        xaxis={"tickmode": "linear", "dtick": 1},
        margin={"t": 30},
    )
    return fig
