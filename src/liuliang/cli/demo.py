"""``liuliang demo``: generate a festival world, load it into an embedded workspace, print the headlines.

The point of the demo is the question liuliang exists for — did the subsidy buy habits or only visits? — so it
shows, per acquisition channel, how many users came and how many were still there on day 1, 7 and 30, next to
the retention the generator planted (the truth the engine should recover), and where each channel's retention
curve is heading: projected D90 / D365 and the habit floor (the share that stays however long you wait).
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import typer
from rich.table import Table

from liuliang.cli.common import FormatOpt, OutputFormat, err, out, print_json, progress_bar
from liuliang.cli.generate import DaysOpt, SeedOpt, UsersOpt, run_generate
from liuliang.cli.report import make_spec, write_workspace_report
from liuliang.errors import LiuliangError
from liuliang.metrics import (
    CacSpec,
    CostPerRetainedSpec,
    DayNRetention,
    LifecycleSpec,
    RevenueSpec,
    active_users,
    cac,
    cohort_revenue,
    cost_per_retained,
    day_n_retention,
    lifecycle,
)
from liuliang.metrics.retention import RetentionSpec, retention
from liuliang.models import RetentionCurveFitter
from liuliang.report.view import ViewSpec
from liuliang.warehouse import Workspace

DEMO_TZ = "Asia/Shanghai"
DAYS = (1, 7, 30)
PROJECT_TO = (90, 365)
TABLES = (
    ("users", "users.parquet"),
    ("events", "events"),
    ("incentives", "incentives.parquet"),
    ("assignments", "assignments.parquet"),
)


@dataclass(frozen=True)
class DemoResult:
    workspace: Path
    retention: DayNRetention
    users_by_channel: dict[str, int]
    truth: dict[tuple[str, int], float]
    seconds: dict[str, float]
    money: list[dict[str, Any]]
    activity: dict[str, Any]
    lifecycle: list[dict[str, Any]]
    projection: list[dict[str, Any]] = field(default_factory=list)
    experiment: dict[str, Any] = field(default_factory=dict)
    plan: dict[str, Any] = field(default_factory=dict)
    scorecard: Any = None
    report: Path | None = None


def money_by_channel(ws: Workspace) -> list[dict[str, Any]]:
    """CAC, cost per retained user (D7, D30) and month-1 NRR per channel: did the spend buy users who stay?"""
    cac_rows = {r["segment"]: r for r in cac(ws, CacSpec(by=("channel",))).to_arrow().to_pylist()}
    kept = cost_per_retained(ws, CostPerRetainedSpec(days=(7, 30), by=("channel",))).to_arrow().to_pylist()
    per_day = {(r["segment"], r["day"]): r["cost_per_retained"] for r in kept}
    nrr: dict[str, list[float]] = {}
    for r in cohort_revenue(ws, RevenueSpec(period="month", periods=1, breakdown="channel")).to_arrow().to_pylist():
        if r["period_offset"] == 1 and not r["incomplete"] and r["base_revenue"]:
            acc = nrr.setdefault(r["breakdown"], [0.0, 0.0])
            acc[0] += r["revenue"]
            acc[1] += r["base_revenue"]
    return [
        {
            "channel": channel,
            "cac": row["cac"],
            "cost_per_retained_d7": per_day.get((channel, 7)),
            "cost_per_retained_d30": per_day.get((channel, 30)),
            "nrr_month1": nrr[channel][0] / nrr[channel][1] if channel in nrr else None,
        }
        for channel, row in sorted(cac_rows.items())
    ]


def latest_activity(ws: Workspace) -> dict[str, Any]:
    rows = [r for r in active_users(ws).to_arrow().to_pylist() if not r["incomplete"]]
    last = rows[-1] if rows else {}
    return {k: last.get(k) for k in ("date", "dau", "wau", "mau", "stickiness")}


def recent_lifecycle(ws: Workspace, weeks: int = 6) -> list[dict[str, Any]]:
    """The last complete weeks as one row per week: new / returning / resurrecting / dormant."""
    by_week: dict[Any, dict[str, Any]] = {}
    for r in lifecycle(ws, LifecycleSpec(period="week")).to_arrow().to_pylist():
        if not r["incomplete"]:
            by_week.setdefault(r["period_start"], {"week": r["period_start"]})[r["status"]] = r["users"]
    return [by_week[w] for w in sorted(by_week)[-weeks:]]


def projected_retention(ws: Workspace, days: int) -> list[dict[str, Any]]:
    """Per channel: the retention curve fitted on daily cohorts (ages 1..N, complete cells), projected to D90 and
    D365 with intervals, and its habit floor. A channel whose curve cannot be fitted says why instead."""
    # Every observable age: the habit floor only shows in the late ages (fitting half of them hid it).
    periods = max(7, days - 2)
    table = retention(ws, RetentionSpec(period="day", periods=periods, breakdown="channel"))
    rows: list[dict[str, Any]] = []
    for channel in sorted(set(table.to_arrow()["breakdown"].to_pylist())):
        row: dict[str, Any] = {"channel": channel, "fitted_ages": periods}
        try:
            fitter = RetentionCurveFitter().fit_retention_table(table, breakdown=channel)
        except LiuliangError as exc:
            rows.append({**row, "model": None, "error": str(exc)})
            continue
        row["model"] = fitter.model_
        for p in fitter.project(PROJECT_TO).to_arrow().to_pylist():
            k = f"d{p['age']:g}"
            row[k], row[f"{k}_lower"], row[f"{k}_upper"] = p["retention"], p["lower"], p["upper"]
        row["habit_floor"] = fitter.habit_floor_
        rows.append(row)
    return rows


def planted_long_run(world: Path) -> dict[str, dict[str, float]]:
    """channel -> planted D90 (when the window reaches it) and habit floor: the mean over the channel's users of
    habitual × daily activity probability (habitual users never die; bumps before card expiry are transient)."""
    users_path, retention_path = world / "truth" / "users.parquet", world / "truth" / "channel_retention.parquet"
    if not users_path.exists():
        return {}
    users = pq.read_table(users_path, columns=["channel", "habitual", "lam"])
    floor = pc.multiply(users["habitual"].cast(pa.float64()), users["lam"])
    grouped = pa.table({"channel": users["channel"], "floor": floor}).group_by("channel").aggregate([("floor", "mean")])
    out = {r["channel"]: {"habit_floor": r["floor_mean"]} for r in grouped.to_pylist()}
    if retention_path.exists():
        for r in pq.read_table(retention_path, columns=["channel", "day", "expected_share"]).to_pylist():
            if int(r["day"]) == 90 and r["channel"] in out and r["expected_share"] is not None:
                out[r["channel"]]["d90"] = float(r["expected_share"])
    return out


def planted_truth(world: Path) -> dict[tuple[str, int], float]:
    """(channel, day) -> the generator's exact expected day-N retention."""
    path = world / "truth" / "channel_retention.parquet"
    if not path.exists():
        return {}
    rows = pq.read_table(path, columns=["channel", "day", "expected_share"]).to_pylist()
    return {
        (r["channel"], int(r["day"])): float(r["expected_share"])
        for r in rows
        if int(r["day"]) in DAYS and r["expected_share"] is not None
    }


def run_demo(directory: Path, users: int, days: int, seed: int, *, report: ViewSpec | None = None) -> DemoResult:
    """Generate, ingest and compute the headlines; with ``report`` (the views' spec) also write report.html."""
    seconds: dict[str, float] = {}
    world = directory / "world"
    ws_path = directory / "demo.duckdb"
    t0 = time.perf_counter()
    if world.exists():
        shutil.rmtree(world)
    run_generate(world, users, days, seed)
    seconds["generate"] = time.perf_counter() - t0
    for stale in (ws_path, ws_path.with_suffix(".duckdb.wal")):
        stale.unlink(missing_ok=True)
    t0 = time.perf_counter()
    with Workspace.open(ws_path, tz=DEMO_TZ) as ws:
        for table, name in TABLES:
            with progress_bar(f"ingesting {table}") as update:
                ws.ingest(world / name, table=table, progress=update)
        seconds["ingest"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        retention = day_n_retention(ws, DAYS, by="channel")
        users_tab = ws.table("users")
        counts = ws.engine.to_arrow(users_tab.group_by("channel").aggregate(n=users_tab.count()))
        money, activity, weeks = money_by_channel(ws), latest_activity(ws), recent_lifecycle(ws)
        seconds["metrics"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        projection = projected_retention(ws, days)
        seconds["models"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        experiment = experiment_summary(ws, world, days)
        seconds["experiment"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        plan = plan_summary(ws, directory, experiment)
        seconds["plan"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        card = scorecard_summary(ws)
        seconds["scorecard"] = time.perf_counter() - t0
        report_path = None
        if report is not None:
            t0 = time.perf_counter()
            report_path = write_workspace_report(ws, directory / "report.html", report)
            seconds["report"] = time.perf_counter() - t0
    planted = planted_long_run(world)
    for row in projection:
        truth = planted.get(row["channel"], {})
        row["d90_planted"], row["habit_floor_planted"] = truth.get("d90"), truth.get("habit_floor")
    return DemoResult(
        workspace=ws_path,
        retention=retention,
        users_by_channel={r["channel"]: r["n"] for r in counts.to_pylist()},
        truth=planted_truth(world),
        seconds=seconds,
        money=money,
        activity=activity,
        lifecycle=weeks,
        projection=projection,
        experiment=experiment,
        plan=plan,
        scorecard=card,
        report=report_path,
    )


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def demo(
    directory: Annotated[Path, typer.Option("--dir", help="Where the world and the workspace are written.")] = Path(
        "liuliang-demo"
    ),
    users: UsersOpt = 20_000,
    days: DaysOpt = 120,
    seed: SeedOpt = 0,
    fmt: FormatOpt = OutputFormat.table,
    report: Annotated[
        bool, typer.Option("--report/--no-report", help="Also write report.html (every view) into --dir.")
    ] = True,
    lang: Annotated[str, typer.Option(help="Language of report.html: en or zh.")] = "en",
) -> None:
    """Generate a Spring-Festival subsidy world, ingest it, print the headlines by channel and write report.html."""
    spec = make_spec(lang=lang) if report else None  # a bad --lang fails before the world is generated
    result = run_demo(directory, users, days, seed, report=spec)
    rows: list[dict[str, Any]] = []
    for channel in result.retention.groups():
        row: dict[str, Any] = {"channel": channel, "users": result.users_by_channel.get(channel, 0)}
        for d in DAYS:
            row[f"d{d}"] = result.retention.rate(channel, d)
            row[f"d{d}_planted"] = result.truth.get((channel, d))
        rows.append(row)
    rows.sort(key=lambda r: -r["users"])
    if fmt is OutputFormat.json:
        print_json(
            {
                "workspace": str(result.workspace),
                "channels": rows,
                "money": result.money,
                "activity": result.activity,
                "lifecycle": result.lifecycle,
                "projection": result.projection,
                "experiment": result.experiment,
                "plan": result.plan,
                "scorecard": getattr(result.scorecard, "to_dict", lambda: result.scorecard)(),
                "seconds": result.seconds,
                "report": None if result.report is None else str(result.report.resolve()),
            }
        )
        return
    grid = Table(title="Did the subsidy buy habits? Day-N retention by acquisition channel", title_justify="left")
    grid.add_column("channel", no_wrap=True)
    grid.add_column("users", justify="right")
    for d in DAYS:
        grid.add_column(f"D{d}", justify="right")
        grid.add_column("truth", justify="right", style="dim")
    for r in rows:
        cells = [r["channel"], f"{r['users']:,}"]
        for d in DAYS:
            cells += [_pct(r[f"d{d}"]), _pct(r[f"d{d}_planted"])]
        grid.add_row(*cells)
    out.print(grid)
    out.print("First-time cohorts, active on day N (Asia/Shanghai days); truth = the generator's planted expectation.")
    print_projection(result.projection)
    print_money(result.money)
    print_activity(result.activity, result.lifecycle)
    print_experiment(result.experiment)
    print_plan(result.plan)
    print_demo_scorecard(result.scorecard)
    timing = ", ".join(f"{k} {v:.1f}s" for k, v in result.seconds.items())
    err.print(f"[dim]{timing}[/dim]")
    out.print(f"workspace: {result.workspace}  (try: liuliang info -w {result.workspace})")
    if result.report is not None:
        out.print(f"report: {result.report.resolve()}  (open it in a browser; it works offline)", soft_wrap=True)


def _money(x: float | None) -> str:
    return "-" if x is None else f"¥{x:,.2f}"


def print_money(rows: list[dict[str, Any]]) -> None:
    grid = Table(title="What a user who stays cost", title_justify="left")
    for col in ("channel", "CAC", "per user kept D7", "per user kept D30", "NRR month 1"):
        grid.add_column(col, justify="left" if col == "channel" else "right", no_wrap=True)
    for r in rows:
        grid.add_row(
            r["channel"],
            _money(r["cac"]),
            _money(r["cost_per_retained_d7"]),
            _money(r["cost_per_retained_d30"]),
            _pct(r["nrr_month1"]),
        )
    out.print(grid)
    out.print("CAC = acquisition cost + incentives in the first 30 days; NRR = month-1 revenue / month-0 revenue.")


def print_activity(activity: dict[str, Any], weeks: list[dict[str, Any]]) -> None:
    if activity:
        out.print(
            f"On {activity['date']}: DAU {activity['dau']:,}, WAU {activity['wau']:,}, MAU {activity['mau']:,}, "
            f"DAU/MAU {_pct(activity['stickiness'])}"
        )
    grid = Table(title="Lifecycle by week: are users coming back, or only arriving?", title_justify="left")
    for col in ("week", "new", "returning", "resurrecting", "dormant"):
        grid.add_column(col, justify="left" if col == "week" else "right", no_wrap=True)
    for w in weeks:
        grid.add_row(str(w["week"]), *(f"{w.get(k, 0):,}" for k in ("new", "returning", "resurrecting", "dormant")))
    out.print(grid)


def _with_interval(row: dict[str, Any], key: str) -> str:
    if row.get(key) is None:
        return "-"
    return f"{_pct(row[key])} [dim]({100 * row[key + '_lower']:.1f}–{100 * row[key + '_upper']:.1f})[/dim]"


def print_projection(rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    grid = Table(title="Where is retention heading? Projected day-N retention by channel", title_justify="left")
    grid.add_column("channel", no_wrap=True)
    grid.add_column("curve", no_wrap=True)
    grid.add_column("D90", justify="right", no_wrap=True)
    grid.add_column("truth", justify="right", style="dim")
    grid.add_column("D365", justify="right", no_wrap=True)
    grid.add_column("floor", justify="right")
    grid.add_column("truth", justify="right", style="dim")
    for r in rows:
        truth = (_pct(r.get("d90_planted")), _pct(r.get("habit_floor_planted")))
        if r.get("model") is None:
            grid.add_row(r["channel"], "not fitted", "-", truth[0], "-", "-", truth[1])
            continue
        grid.add_row(
            r["channel"],
            r["model"],
            _pct(r["d90"]),
            truth[0],
            _with_interval(r, "d365"),
            _pct(r["habit_floor"]),
            truth[1],
        )
    out.print(grid)
    ages = rows[0]["fitted_ages"]
    out.print(
        f"Curve fitted on ages 1..{ages} of daily cohorts, chosen by quasi-AIC; 95% intervals cover parameter "
        "uncertainty only (D365 in brackets). Floor = habit floor, the share still active however long you wait "
        "(truth: habitual users x their daily activity)."
    )


# -- the experiment section -----------------------------------------------------------------------------------------
EXPERIMENT = "challenge7"


def experiment_summary(ws: Workspace, world: Path, days: int) -> dict[str, Any]:
    """The "7-day challenge" A/B test read from the warehouse, next to the planted effect: the mean true effect on
    P(active on day N) over the experiment's users observed at day N (day N before the window's last, partial day),
    the estimand of the difference in means."""
    from liuliang.causal.experiment import ExperimentSpec, run_experiment

    if not ws.has_table("assignments"):
        return {}
    spec = ExperimentSpec(EXPERIMENT, metrics=("d7", "d30", "incentive_cost_d7"), days=(7,))
    try:
        res = run_experiment(ws, spec)
    except LiuliangError as exc:
        return {"error": str(exc)}
    truth: dict[str, float] = {}
    path = world / "truth" / "users.parquet"
    if path.exists():
        t = pq.read_table(path, columns=["treated", "effect_d7", "effect_d30", "acq_day"])
        t = t.filter(pc.is_valid(t["treated"]))
        for d in (7, 30):
            seen = t.filter(pc.less(pc.add(t["acq_day"], d), days - 1))
            if seen.num_rows:
                truth[f"retention_d{d}"] = pc.mean(seen[f"effect_d{d}"]).as_py()
    rows = []
    for r in res.to_arrow().to_pylist():
        if r["segment"] == "all" and not r["is_control"]:
            keep = ("metric", "n", "unobserved", "control_mean", "mean", "difference", "ci_lower", "ci_upper")
            rows.append({**{k: r[k] for k in keep}, "p_value": r["p_value"], "planted": truth.get(r["metric"])})
    return {"experiment": EXPERIMENT, "rows": rows, "srm_p_value": res.srm.p_value, "srm_mismatch": res.srm.mismatch}


def print_experiment(summary: dict[str, Any]) -> None:
    if not summary:
        return
    if "error" in summary:
        out.print(f"experiment {EXPERIMENT}: {summary['error']}", markup=False)
        return
    grid = Table(title=f"Did the {EXPERIMENT} challenge cause it? Treatment − control", title_justify="left")
    for col in ("metric", "treated n", "control", "treated", "effect [95% CI]", "truth"):
        grid.add_column(col, justify="left" if col == "metric" else "right", no_wrap=True)
    for r in summary["rows"]:
        money = r["metric"].startswith("incentive_cost")
        fmt = _money if money else _pct
        ci = "-"
        if r["difference"] is not None:
            if money:
                ci = f"{r['difference']:+.2f} [{r['ci_lower']:+.2f}, {r['ci_upper']:+.2f}]"
            else:
                ci = f"{100 * r['difference']:+.1f} [{100 * r['ci_lower']:+.1f}, {100 * r['ci_upper']:+.1f}]"
        planted = "-" if r["planted"] is None else f"{100 * r['planted']:+.1f}"
        label = r["metric"].replace("retention_d", "D").replace("incentive_cost_d", "cost ")
        grid.add_row(label, f"{r['n']:,}", fmt(r["control_mean"]), fmt(r["mean"]), ci, planted)
    out.print(grid)
    srm = "MISMATCH: check assignment before trusting" if summary["srm_mismatch"] else "no mismatch"
    out.print(
        f"Effects in percentage points (cost in ¥). Sample ratio check: {srm} (p = {summary['srm_p_value']:.2g}). "
        "Truth = the planted mean effect over the "
        "experiment's users; users assigned at signup have no pre-period, so CUPED does not apply here.",
        markup=False,
    )


# -- the budgeted plan section --------------------------------------------------------------------------------------
PLAN_BUDGET = 10_000.0
PLAN_FALLBACK_COST = 10.0


def plan_summary(ws: Workspace, directory: Path, experiment: dict[str, Any]) -> dict[str, Any]:
    """Who should get the challenge next, within a budget? An X-learner fitted on the experiment's users (features
    known at assignment, retained on day 7) scores today's active users; the offer costs what the experiment
    measured (treatment − control incentive cost in the first 7 days); the plan is written beside the workspace
    (a dry run) and compared with random targeting at the same budget (the model's predicted mean uplift)."""
    from liuliang.causal.targeting import Offer
    from liuliang.cli.uplift import fit_experiment_model, plan_from_model

    if not experiment or "error" in experiment:
        return {}
    cost = next(
        (r["difference"] for r in experiment["rows"] if r["metric"] == "incentive_cost_d7" and r["difference"]), None
    )
    cost = round(cost, 2) if cost is not None and cost > 0 else PLAN_FALLBACK_COST
    try:
        model, _ = fit_experiment_model(ws, EXPERIMENT, learner="x", day=7, test_size=0.0)
        run = plan_from_model(
            ws, model, [Offer(EXPERIMENT, cost)], PLAN_BUDGET, include_granted=True, created_at=model.data_end
        )
    except LiuliangError as exc:
        return {"error": str(exc)}
    plan = run.plan
    path, manifest = plan.write(directory / "plan.csv")
    chosen = plan.assignments.num_rows
    return {
        "offer": EXPERIMENT,
        "cost_per_user": cost,
        "budget": plan.budget,
        "candidates": run.candidates,
        "users": chosen,
        "total_cost": plan.total_cost,
        "expected_incremental": plan.expected_incremental,
        "cost_per_incremental": None if chosen == 0 else plan.cost_per_incremental,
        "random_expected_incremental": run.random_incremental,
        "random_cost_per_incremental": plan.total_cost / run.random_incremental if run.random_incremental > 0 else None,
        "gap": plan.gap,
        "model": model.name,
        "file": str(path),
        "manifest": str(manifest),
    }


def print_plan(summary: dict[str, Any]) -> None:
    if not summary:
        return
    if "error" in summary:
        out.print(f"budgeted plan: {summary['error']}", markup=False)
        return
    grid = Table(title=f"Who should get {summary['offer']} next? A budgeted plan (dry run)", title_justify="left")
    for col in ("budget", "candidates", "chosen", "spent", "+retained D7", "per +user"):
        grid.add_column(col, justify="right", no_wrap=True)
    grid.add_row(
        _money(summary["budget"]),
        f"{summary['candidates']:,}",
        f"{summary['users']:,}",
        _money(summary["total_cost"]),
        f"{summary['expected_incremental']:,.1f}",
        _money(summary["cost_per_incremental"]),
    )
    out.print(grid)
    rnd = summary["random_cost_per_incremental"]
    versus = (
        f"{_money(rnd)} per incremental user"
        if rnd is not None
        else "no expected gain (the mean predicted uplift is not positive)"
    )
    out.print(
        f"Offer: {summary['offer']} at {_money(summary['cost_per_user'])} per user (its measured extra incentive "
        "cost). +retained D7 = expected incremental users retained on day 7; per +user = spent / that. "
        f"Random targeting with the same budget: {summary['random_expected_incremental']:,.1f} incremental retained "
        f"users, {versus}. Candidates: users active in the last 28 days, scored by an X-learner on the experiment "
        f"(gap to the proven optimum {summary['gap']:.3g}). Plan written to {summary['file']} (nothing sent).",
        markup=False,
    )


# -- the campaign scorecard (the demo ends with it) -----------------------------------------------------------------
def scorecard_summary(ws: Workspace) -> Any:
    """Per campaign and incentive kind: users, cost, D7/D30, habit share, NRR, LTV vs CAC and the verdict — the page
    a growth lead shows the board (definitions in :mod:`liuliang.signals.scorecard`)."""
    from liuliang.signals.scorecard import DEMO_TAKE_RATE, scorecard

    try:
        # Generated order amounts are GMV; LTV counts only the platform's take of it.
        return scorecard(ws, by=("campaign", "kind"), take_rate=DEMO_TAKE_RATE)
    except LiuliangError as exc:
        return str(exc)


def print_demo_scorecard(card: Any) -> None:
    from liuliang.cli.scorecard import print_scorecard

    if card is None:
        return
    if isinstance(card, str):
        out.print(f"scorecard: {card}", markup=False)
        return
    print_scorecard(card, title="The board's page: did each campaign buy habits, or only visits?")
