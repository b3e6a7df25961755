"""``liuliang fit``, ``liuliang project`` and ``liuliang clv``: the decay and lifetime models on a workspace.

Every command reads per-user summaries or a retention table from the warehouse (``liuliang.models.summaries``,
``liuliang.metrics.retention``), fits one model per breakdown value (``--by channel``) and prints a long table:
one row per (group, parameter) for ``fit``, per group for ``project``, per user and per group for ``clv``.
``data_end`` ("now") defaults to the last event in the workspace, never to the clock.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pyarrow as pa
import typer

from liuliang.cli.common import WorkspaceOpt, err, open_workspace, out
from liuliang.cli.info import existing_workspace
from liuliang.cli.output import TableFormat, TableFormatOpt, emit
from liuliang.errors import LiuliangError
from liuliang.metrics.retention import RetentionSpec, RetentionTable, retention
from liuliang.models import (
    BetaGeoBetaBinomFitter,
    BetaGeoFitter,
    CureFractionFitter,
    GammaGammaFitter,
    ModifiedBetaGeoFitter,
    ParetoNBDFitter,
    RetentionCurveFitter,
    ShiftedBetaGeometricFitter,
    SurvivalAnalysis,
)
from liuliang.models.bootstrap import BootstrapResult, bootstrap
from liuliang.models.summaries import RFMSummary, churn_durations, rfm_summary
from liuliang.warehouse import Workspace

Data = "Data"
Model = "Model"

EventOpt = Annotated[
    str | None,
    typer.Option(
        "--event", help="Event(s) that count as activity, comma-separated; default any.", rich_help_panel=Data
    ),
]
ByOpt = Annotated[
    str | None,
    typer.Option("--by", help="Fit one model per value of a users column, e.g. channel.", rich_help_panel=Data),
]
DataEndOpt = Annotated[
    str | None,
    typer.Option(
        "--data-end",
        help="'Now': YYYY-MM-DD (end of that local day) or an ISO time in UTC; default the last event.",
        rich_help_panel=Data,
    ),
]
CalibrationEndOpt = Annotated[
    str | None,
    typer.Option(
        "--calibration-end",
        help="Last local date of the fitting window (YYYY-MM-DD); default the local day of --data-end.",
        rich_help_panel=Data,
    ),
]


PlotOpt = Annotated[
    Path | None,
    typer.Option(
        "--plot",
        help="Also write the fitted model's Plotly chart to this .html file (one file per group: NAME-GROUP.html).",
    ),
]


BootstrapOpt = Annotated[
    int,
    typer.Option(
        "--bootstrap",
        min=0,
        metavar="N",
        help="Also refit on N resamples of the users (seed 0): bootstrap se and percentile interval columns.",
        rich_help_panel=Model,
    ),
]
#: Seed of ``--bootstrap`` draws: a rerun prints the same intervals.
BOOTSTRAP_SEED = 0
BOOTSTRAP_COLUMNS = ("bootstrap_se", "bootstrap_lower", "bootstrap_upper", "bootstrap_failed")


def save_plots(figures: dict[str, Any], path: Path | None) -> list[Path]:
    """Write each group's figure as self-contained HTML; one group keeps ``path`` itself."""
    if path is None:
        return []
    written = []
    for group, fig in figures.items():
        target = path if len(figures) == 1 else path.with_name(f"{path.stem}-{group}{path.suffix or '.html'}")
        fig.write_html(target, include_plotlyjs="cdn")
        written.append(target)
    err.print(f"[dim]wrote {', '.join(map(str, written))}[/dim]")
    return written


class RFMPeriod(StrEnum):
    day = "day"
    week = "week"


PeriodOpt = Annotated[
    RFMPeriod, typer.Option("--period", help="Unit of frequency, recency and T: day or week.", rich_help_panel=Data)
]
CohortPeriodsOpt = Annotated[
    int, typer.Option("--periods", help="Follow each cohort for periods 0..N.", rich_help_panel=Data)
]


class TransactionModel(StrEnum):
    bgnbd = "bgnbd"
    pareto = "pareto"


class CurveModel(StrEnum):
    auto = "auto"
    exponential = "exponential"
    power = "power"
    power_floor = "power_floor"
    mixture = "mixture"


fit_app = typer.Typer(
    name="fit",
    help="Fit a decay or lifetime model per breakdown and print its parameters.",
    rich_markup_mode="rich",
    no_args_is_help=True,
)


# -- shared helpers ------------------------------------------------------------------------------------------------
def _names(text: str | None) -> tuple[str, ...] | None:
    names = tuple(e.strip() for e in (text or "").split(",") if e.strip())
    return names or None


def _parse_date(text: str, option: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"expected YYYY-MM-DD, got {text!r}", param_hint=option) from None


def resolve_data_end(ws: Workspace, text: str | None) -> dt.datetime | dt.date:
    """``--data-end`` as given (a date or a UTC instant), or the last event time in the rollups."""
    if text:
        try:
            return dt.date.fromisoformat(text) if len(text) == 10 else dt.datetime.fromisoformat(text)
        except ValueError:
            raise typer.BadParameter(
                f"expected YYYY-MM-DD or an ISO time, got {text!r}", param_hint="--data-end"
            ) from None
    return ws.resolve_data_end(None, "fitting a model")


def _local_day(ws: Workspace, end: dt.datetime | dt.date) -> dt.date:
    if not isinstance(end, dt.datetime):
        return end
    from liuliang.metrics.activity.base import local_day_of, to_naive_utc
    from liuliang.warehouse import periods

    return periods.date_of_day(local_day_of(to_naive_utc(end), ws.settings.tz))


def _summary(
    ws: Workspace,
    event: str | None,
    period: RFMPeriod,
    calibration_end: str | None,
    data_end: str | None,
    by: str | None,
) -> RFMSummary:
    """The calibration summary (no holdout) a transaction model is fitted on."""
    end = resolve_data_end(ws, data_end)
    cal = _parse_date(calibration_end, "--calibration-end") if calibration_end else _local_day(ws, end)
    if period is RFMPeriod.week and calibration_end is None:
        cal = _last_week_end(ws, cal)
    return rfm_summary(
        ws,
        event=_names(event),
        period=period.value,
        calibration_end=cal,
        observation_end=cal,
        data_end=end,
        breakdown=by,
    )


def _last_week_end(ws: Workspace, day: dt.date) -> dt.date:
    """The last day of the last week ending on or before ``day``."""
    from liuliang.warehouse.periods import WEEKDAYS

    start = WEEKDAYS.index(ws.settings.week_start)
    while (day + dt.timedelta(days=1)).weekday() != start:
        day -= dt.timedelta(days=1)
    return day


def _groups(summary_groups: Sequence[str], by: str | None) -> list[str]:
    return list(summary_groups) if by else ["all"]


def param_rows(group: str, model: Any, n: float) -> list[dict[str, Any]]:
    """(group, param, estimate, se, lower, upper, n, log_likelihood) from either kind of fitter's ``summary``."""
    table = model.summary
    if "estimate" in table.columns:  # transaction fitters: columns param, estimate, se, lower, upper
        values = table[["param", "estimate", "se", "lower", "upper"]].itertuples(index=False)
    else:  # period fitters: index = param; coef, se(coef), coef lower x%, coef upper x%
        values = ((name, *row) for name, row in zip(table.index, table.to_numpy().tolist(), strict=True))
    return [
        {
            "group": group,
            "param": str(p),
            "estimate": float(est),
            "se": float(se),
            "lower": float(lo),
            "upper": float(hi),
            "n": round(n),
            "log_likelihood": float(model.log_likelihood_),
        }
        for p, est, se, lo, hi in values
    ]


def _fit_each(
    groups: Sequence[str], fit: Callable[[str], tuple[Any, ...]]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Parameter rows of every group's fit, and the fitted models by group.

    ``fit(group)`` returns (model, n) or, with ``--bootstrap``, (model, n, BootstrapResult)."""
    rows: list[dict[str, Any]] = []
    models: dict[str, Any] = {}
    for g in groups:
        model, n, *boot = fit(g)
        group_rows = param_rows(g, model, n)
        rows += with_bootstrap(group_rows, boot[0]) if boot and boot[0] is not None else group_rows
        models[g] = model
    return rows, models


def _bootstrap(resamples: int, template: Any, *columns: Any, weights: Any = None) -> BootstrapResult | None:
    """``--bootstrap N``: resample the group's users N times (``liuliang.models.bootstrap``), or nothing for N = 0."""
    if not resamples:
        return None
    return bootstrap(template, *columns, weights=weights, n_resamples=resamples, seed=BOOTSTRAP_SEED)


def with_bootstrap(rows: list[dict[str, Any]], boot: BootstrapResult) -> list[dict[str, Any]]:
    """One group's parameter rows with the bootstrap se, percentile interval and the count of failed refits."""
    table = {r["param"]: r for r in boot.to_arrow().to_pylist()}
    return [
        {
            **r,
            "bootstrap_se": table[r["param"]]["bootstrap_se"],
            "bootstrap_lower": table[r["param"]]["lower"],
            "bootstrap_upper": table[r["param"]]["upper"],
            "bootstrap_failed": boot.n_failed,
        }
        for r in rows
    ]


def _bootstrap_extra(resamples: int) -> dict[str, Any]:
    if not resamples:
        return {}
    return {"bootstrap": {"resamples": resamples, "seed": BOOTSTRAP_SEED, "interval": "percentile"}}


def readable(table: pa.Table, columns: Sequence[str]) -> pa.Table:
    """``columns`` as text with 4 significant digits, for people only: parameters span 1e-3..1e3, and two decimals
    would print a shape of 0.004 as 0.00."""
    for name in columns:
        if name in table.column_names:
            text = pa.array(["-" if v is None else f"{v:.4g}" for v in table[name].to_pylist()], pa.string())
            table = table.set_column(table.column_names.index(name), name, text)
    return table


def _emit_params(
    rows: list[dict[str, Any]],
    fmt: TableFormat,
    title: str,
    extra: dict[str, Any],
    columns: Sequence[str] = ("group", "param", "estimate", "se", "lower", "upper", "n", "log_likelihood"),
) -> None:
    if not rows:
        raise LiuliangError("no group had data to fit")
    table = pa.Table.from_pylist(rows)
    if fmt is TableFormat.table:
        table = readable(table, ("estimate", "se", "lower", "upper", "habit_floor", *BOOTSTRAP_COLUMNS[:3]))
        table = table.set_column(
            table.column_names.index("log_likelihood"),
            "log_likelihood",
            pa.array([f"{v:.6g}" for v in table["log_likelihood"].to_pylist()]),
        )
        if "bootstrap_se" in table.column_names:
            # the Hessian and bootstrap intervals side by side, under short headers so both fit 80 columns
            # (csv and json keep every column under its full name)
            short = {"bootstrap_se": "boot se", "bootstrap_lower": "boot lower", "bootstrap_upper": "boot upper"}
            table = table.rename_columns([short.get(c, c) for c in table.column_names])
            columns = (*[c for c in columns if c not in ("n", "log_likelihood")], *short.values())
    emit(table, fmt, title=title, json_extra=extra, columns=columns if fmt is TableFormat.table else None)


def _retention_table(
    ws: Workspace, *, event: str | None, period: str, periods: int, criterion: str, by: str | None, data_end: str | None
) -> RetentionTable:
    names = _names(event)
    spec = RetentionSpec(
        start_events=names, return_events=names, period=period, periods=periods, criterion=criterion, breakdown=by
    )
    end = resolve_data_end(ws, data_end) if data_end else None
    if isinstance(end, dt.date) and not isinstance(end, dt.datetime):
        raise typer.BadParameter("give a time (YYYY-MM-DDTHH:MM) for retention-based models", param_hint="--data-end")
    return retention(ws, spec, data_end=end)


def _table_groups(table: RetentionTable) -> list[str]:
    return sorted(set(table.to_arrow()["breakdown"].to_pylist()))


def _transaction_fit(
    cls: type,
    title: str,
    workspace: Path,
    event: str | None,
    period: RFMPeriod,
    calibration_end: str | None,
    data_end: str | None,
    by: str | None,
    fmt: TableFormat,
    resamples: int = 0,
) -> None:
    with open_workspace(existing_workspace(workspace)) as ws:
        summary = _summary(ws, event, period, calibration_end, data_end, by).without_newcomers()

    def fit(g: str) -> tuple[Any, ...]:
        part = summary.for_group(g) if by else summary
        if not len(part):
            raise LiuliangError(f"group {g!r} has no user with T > 0 to fit on")
        cols = (part.frequency, part.recency, part.T)
        return cls().fit(*cols), float(len(part)), _bootstrap(resamples, cls(), *cols)

    _emit_params(
        _fit_each(_groups(summary.groups(), by), fit)[0],
        fmt,
        f"{title} per {period.value} (calibration to {summary.calibration_end})",
        {
            "model": title,
            "period": period.value,
            "calibration_end": summary.calibration_end,
            **_bootstrap_extra(resamples),
        },
    )


# -- liuliang fit ... ----------------------------------------------------------------------------------------------
@fit_app.command("bgnbd")
def fit_bgnbd(
    workspace: WorkspaceOpt = Path("liuliang.duckdb"),
    event: EventOpt = None,
    period: PeriodOpt = RFMPeriod.day,
    calibration_end: CalibrationEndOpt = None,
    data_end: DataEndOpt = None,
    by: ByOpt = None,
    fmt: TableFormatOpt = TableFormat.table,
    resamples: BootstrapOpt = 0,
) -> None:
    """BG/NBD (Fader, Hardie & Lee 2005): purchase rate while alive, dropout after a purchase."""
    _transaction_fit(BetaGeoFitter, "BG/NBD", workspace, event, period, calibration_end, data_end, by, fmt, resamples)


@fit_app.command("mbgnbd")
def fit_mbgnbd(
    workspace: WorkspaceOpt = Path("liuliang.duckdb"),
    event: EventOpt = None,
    period: PeriodOpt = RFMPeriod.day,
    calibration_end: CalibrationEndOpt = None,
    data_end: DataEndOpt = None,
    by: ByOpt = None,
    fmt: TableFormatOpt = TableFormat.table,
    resamples: BootstrapOpt = 0,
) -> None:
    """Modified BG/NBD (Batislam et al. 2007): dropout possible right after the first purchase too."""
    _transaction_fit(
        ModifiedBetaGeoFitter, "MBG/NBD", workspace, event, period, calibration_end, data_end, by, fmt, resamples
    )


@fit_app.command("pareto")
def fit_pareto(
    workspace: WorkspaceOpt = Path("liuliang.duckdb"),
    event: EventOpt = None,
    period: PeriodOpt = RFMPeriod.day,
    calibration_end: CalibrationEndOpt = None,
    data_end: DataEndOpt = None,
    by: ByOpt = None,
    fmt: TableFormatOpt = TableFormat.table,
    resamples: BootstrapOpt = 0,
) -> None:
    """Pareto/NBD (Schmittlein, Morrison & Colombo 1987): dropout at any moment."""
    _transaction_fit(
        ParetoNBDFitter, "Pareto/NBD", workspace, event, period, calibration_end, data_end, by, fmt, resamples
    )


@fit_app.command("gamma-gamma")
def fit_gamma_gamma(
    workspace: WorkspaceOpt = Path("liuliang.duckdb"),
    event: EventOpt = "order",
    period: PeriodOpt = RFMPeriod.day,
    calibration_end: CalibrationEndOpt = None,
    data_end: DataEndOpt = None,
    by: ByOpt = None,
    fmt: TableFormatOpt = TableFormat.table,
    resamples: BootstrapOpt = 0,
) -> None:
    """Gamma-Gamma spend per transaction (repeat buyers with a positive average amount)."""
    with open_workspace(existing_workspace(workspace)) as ws:
        summary = _summary(ws, event, period, calibration_end, data_end, by)

    def fit(g: str) -> tuple[Any, ...]:
        part = summary.for_group(g) if by else summary
        part = part.where((part.frequency > 0) & (part.monetary_value > 0))
        if len(part) < 2:
            raise LiuliangError(f"group {g!r} has fewer than 2 repeat buyers with a positive amount")
        cols = (part.frequency, part.monetary_value)
        return GammaGammaFitter().fit(*cols), float(len(part)), _bootstrap(resamples, GammaGammaFitter(), *cols)

    _emit_params(
        _fit_each(_groups(summary.groups(), by), fit)[0],
        fmt,
        f"Gamma-Gamma spend per {period.value} with {event or 'any event'} (repeat buyers)",
        {
            "model": "Gamma-Gamma",
            "period": period.value,
            "calibration_end": summary.calibration_end,
            **_bootstrap_extra(resamples),
        },
    )


@fit_app.command("bgbb")
def fit_bgbb(
    workspace: WorkspaceOpt = Path("liuliang.duckdb"),
    event: EventOpt = None,
    period: PeriodOpt = RFMPeriod.week,
    calibration_end: CalibrationEndOpt = None,
    data_end: DataEndOpt = None,
    by: ByOpt = None,
    plot: PlotOpt = None,
    fmt: TableFormatOpt = TableFormat.table,
    resamples: BootstrapOpt = 0,
) -> None:
    """BG/BB (Fader, Hardie & Shang 2010): active or not in each period after the first, dropout between periods.

    A user first active in period 0 has n = T later periods to be active in; x = repeat active periods, t_x = the
    last one (the RFM summary in periods is exactly the BG/BB's sufficient statistic).
    """
    with open_workspace(existing_workspace(workspace)) as ws:
        summary = _summary(ws, event, period, calibration_end, data_end, by).without_newcomers()

    def fit(g: str) -> tuple[Any, ...]:
        part = (summary.for_group(g) if by else summary).to_arrow()
        if not part.num_rows:
            raise LiuliangError(f"group {g!r} has no user with a period after the first")
        rows = part.group_by(["frequency", "recency", "T"]).aggregate([("user_key", "count")])
        cols = (rows["frequency"].to_numpy(), rows["recency"].to_numpy(), rows["T"].to_numpy())
        weights = rows["user_key_count"].to_numpy().astype(float)
        model = BetaGeoBetaBinomFitter().fit(*cols, weights=weights)
        return model, float(part.num_rows), _bootstrap(resamples, BetaGeoBetaBinomFitter(), *cols, weights=weights)

    rows, models = _fit_each(_groups(summary.groups(), by), fit)
    _emit_params(
        rows,
        fmt,
        f"BG/BB per {period.value} (calibration to {summary.calibration_end})",
        {
            "model": "BG/BB",
            "period": period.value,
            "calibration_end": summary.calibration_end,
            **_bootstrap_extra(resamples),
        },
    )
    save_plots({g: m.plot() for g, m in models.items()}, plot)


@fit_app.command("sbg")
def fit_sbg(
    workspace: WorkspaceOpt = Path("liuliang.duckdb"),
    event: EventOpt = None,
    period: Annotated[str, typer.Option(help="Cohort period: day, week or month.", rich_help_panel=Data)] = "week",
    periods: CohortPeriodsOpt = 12,
    data_end: DataEndOpt = None,
    by: ByOpt = None,
    plot: PlotOpt = None,
    fmt: TableFormatOpt = TableFormat.table,
    resamples: BootstrapOpt = 0,
) -> None:
    """Shifted-beta-geometric churn on survivor counts (retention 'on or after', Fader & Hardie 2007)."""
    with open_workspace(existing_workspace(workspace)) as ws:
        table = _retention_table(
            ws, event=event, period=period, periods=periods, criterion="on_or_after", by=by, data_end=data_end
        )

    def fit(g: str) -> tuple[Any, ...]:
        model = ShiftedBetaGeometricFitter().fit_retention_table(table, breakdown=g)
        # the bootstrap resamples each cohort's users from the survivor counts the fit used
        return model, model.n_obs_, _bootstrap(resamples, ShiftedBetaGeometricFitter(), model.survivors_)

    rows, models = _fit_each(_table_groups(table), fit)
    _emit_params(
        rows,
        fmt,
        f"sBG on {period} survivor counts (active in period k or later)",
        {"model": "sBG", "period": period, "periods": periods, **_bootstrap_extra(resamples)},
    )
    save_plots({g: m.plot() for g, m in models.items()}, plot)


@fit_app.command("curve")
def fit_curve(
    workspace: WorkspaceOpt = Path("liuliang.duckdb"),
    event: EventOpt = None,
    period: Annotated[str, typer.Option(help="Cohort period: day, week or month.", rich_help_panel=Data)] = "day",
    periods: CohortPeriodsOpt = 60,
    model: Annotated[CurveModel, typer.Option(help="Shape, or auto (by quasi-AIC).", rich_help_panel=Model)] = (
        CurveModel.auto
    ),
    data_end: DataEndOpt = None,
    by: ByOpt = None,
    plot: PlotOpt = None,
    fmt: TableFormatOpt = TableFormat.table,
) -> None:
    """Retention-curve shape (exponential, power, power with a floor, hunters + habit mixture) per breakdown."""
    with open_workspace(existing_workspace(workspace)) as ws:
        table = _retention_table(
            ws, event=event, period=period, periods=periods, criterion="on", by=by, data_end=data_end
        )
    rows: list[dict[str, Any]] = []
    figures: dict[str, Any] = {}
    for g in _table_groups(table):
        m = RetentionCurveFitter(model=model.value).fit_retention_table(table, breakdown=g)
        rows += [{**r, "model": m.model_, "habit_floor": m.habit_floor_} for r in param_rows(g, m, m.n_obs_)]
        if plot is not None:
            figures[g] = m.plot()
    _emit_params(
        rows,
        fmt,
        f"retention curve on {period} cells (habit floor: share still active however long you wait)",
        {"model": "curve", "period": period},
        columns=("group", "model", "param", "estimate", "se", "lower", "upper", "habit_floor"),
    )
    save_plots(figures, plot)


@fit_app.command("survival")
def fit_survival(
    workspace: WorkspaceOpt = Path("liuliang.duckdb"),
    event: EventOpt = None,
    inactivity_days: Annotated[
        int, typer.Option(help="Churned: no activity in this many days before --data-end.", rich_help_panel=Model)
    ] = 28,
    horizon: Annotated[float | None, typer.Option(help="RMST horizon in days (default longest).")] = None,
    at: Annotated[str, typer.Option(help="Days to report S(t) at, comma-separated.", rich_help_panel=Model)] = (
        "7,30,90"
    ),
    data_end: DataEndOpt = None,
    by: ByOpt = None,
    plot: PlotOpt = None,
    fmt: TableFormatOpt = TableFormat.table,
) -> None:
    """Kaplan-Meier time to churn per breakdown, log-rank test, restricted mean, and the never-churn share
    (a cure-fraction model: the share that never churns by the inactivity rule, an upper bound on the habit share)."""
    days = [float(x) for x in at.split(",") if x.strip()]
    with open_workspace(existing_workspace(workspace)) as ws:
        d = churn_durations(
            ws,
            inactivity_days=inactivity_days,
            data_end=resolve_data_end(ws, data_end),
            event=_names(event),
            breakdown=by,
        )
    if not len(d):
        raise LiuliangError("no active users up to --data-end")
    s = SurvivalAnalysis(rmst_horizon=horizon).fit(d.durations, d.churned, d.groups_of_users)
    rows = []
    for g in sorted(s.fitters_):
        part = d.for_group(g)
        row: dict[str, Any] = {
            "group": g,
            "users": len(part),
            "churned": int(part.churned.sum()),
            "median_days": float(s.median_[g]),
            "rmst": s.rmst_.of(g),
        }
        for t in days:
            row[f"S({t:g})"] = s.survival_at(t, g)
        try:
            # Lomax latency: churners with mixed hazards have a heavy tail that a Weibull pushes into the cure
            # share. The share is "never churns by the inactivity rule", not the habit share (see cure.py).
            cure = CureFractionFitter(latency="lomax").fit(part.durations, part.churned)
            row["never_churn_share"] = cure.cure_fraction_
            row["never_churn_share_se"] = float(cure.standard_errors_["cure_fraction"])
        except LiuliangError:  # not identified (nobody churned, or no plateau): say so rather than guess
            row["never_churn_share"] = None
            row["never_churn_share_se"] = None
        rows.append(row)
    logrank = s.logrank_
    extra = {
        "model": "survival",
        "inactivity_days": inactivity_days,
        "rmst_horizon": s.rmst_.horizon,
        "logrank": None
        if logrank is None
        else {"statistic": logrank.statistic, "df": logrank.df, "p_value": logrank.p_value},
    }
    emit(
        pa.Table.from_pylist(rows),
        fmt,
        title=f"time to churn (no activity for {inactivity_days} days), RMST to day {s.rmst_.horizon:g}",
        percent=[f"S({t:g})" for t in days] + ["never_churn_share"],
        json_extra=extra,
    )
    if fmt is TableFormat.table and logrank is not None:
        out.print(
            f"log-rank test of equal curves: chi2 = {logrank.statistic:.1f}, df = {logrank.df}, "
            f"p = {logrank.p_value:.3g}"
        )
    save_plots({"all": s.plot()} if plot is not None else {}, plot)


# -- liuliang project ----------------------------------------------------------------------------------------------
def project_rows(table: RetentionTable, ages: Sequence[float], model: str = "auto") -> list[dict[str, Any]]:
    """Per breakdown: the chosen curve, projected retention at ``ages`` with intervals, and the habit floor."""
    rows = []
    for g in _table_groups(table):
        fitter = RetentionCurveFitter(model=model).fit_retention_table(table, breakdown=g)
        proj = fitter.project(ages).to_arrow().to_pylist()
        row: dict[str, Any] = {"group": g, "model": fitter.model_}
        for p in proj:
            k = f"d{p['age']:g}"
            row[k], row[f"{k}_lower"], row[f"{k}_upper"] = p["retention"], p["lower"], p["upper"]
        row["habit_floor"] = fitter.habit_floor_
        rows.append(row)
    return rows


def project(
    workspace: WorkspaceOpt = Path("liuliang.duckdb"),
    event: EventOpt = None,
    periods: CohortPeriodsOpt = 60,
    days: Annotated[str, typer.Option(help="Ages to project to, comma-separated days.", rich_help_panel=Model)] = (
        "90,180,365"
    ),
    model: Annotated[CurveModel, typer.Option(help="Shape, or auto (by quasi-AIC).", rich_help_panel=Model)] = (
        CurveModel.auto
    ),
    data_end: DataEndOpt = None,
    by: ByOpt = None,
    fmt: TableFormatOpt = TableFormat.table,
) -> None:
    """Project daily retention to D90 / D180 / D365 with intervals, and the habit floor, per breakdown."""
    ages = [float(x) for x in days.split(",") if x.strip()]
    with open_workspace(existing_workspace(workspace)) as ws:
        table = _retention_table(
            ws, event=event, period="day", periods=periods, criterion="on", by=by, data_end=data_end
        )
    rows = project_rows(table, ages, model.value)
    shown = ["group", "model"] + [f"d{a:g}" for a in ages] + ["habit_floor"]
    emit(
        pa.Table.from_pylist(rows),
        fmt,
        title=f"projected day-N retention (curve fitted on ages 1..{periods}; intervals in csv/json)",
        columns=shown if fmt is TableFormat.table else None,
        percent=[c for c in rows[0] if c.startswith("d") or c == "habit_floor"] if rows else (),
        json_extra={"periods": periods, "ages": ages, "method": "delta method on the logit scale"},
    )


# -- liuliang clv --------------------------------------------------------------------------------------------------
UNITS_PER_MONTH = {"day": 30.0, "week": 4.345}


def discounted_purchases(tx: Any, s: RFMSummary, *, months: int, discount_rate: float, unit: float) -> np.ndarray:
    """Σ_{i=1..months} (E[Y(i·u)] − E[Y((i−1)·u)]) / (1 + d)^i: the discounted expected purchases per user (the
    stream ``GammaGammaFitter.customer_lifetime_value`` multiplies by the expected spend; ``u`` = a month in
    model periods)."""
    if not isinstance(months, int) or months < 1:
        raise LiuliangError(f"--months must be a whole number >= 1; got {months!r}")
    if not discount_rate > -1:
        raise LiuliangError(f"--discount-rate must be > -1; got {discount_rate!r}")
    total = np.zeros(len(s))
    previous = np.zeros(len(s))
    for i in range(1, months + 1):
        cumulative = np.asarray(tx.predict_purchases(i * unit, s.frequency, s.recency, s.T), dtype=float)
        total += (cumulative - previous) / (1 + discount_rate) ** i
        previous = cumulative
    return total


def clv_table(
    summary: RFMSummary, model: TransactionModel, *, months: int, discount_rate: float
) -> tuple[pa.Table, dict[str, Any]]:
    """Per user (T > 0): P(alive), expected purchases and discounted CLV over ``months``, fitted on everyone."""
    s = summary.without_newcomers()
    if len(s) < 10:
        raise LiuliangError(f"CLV needs at least 10 users with T > 0; found {len(s)}")
    tx = (BetaGeoFitter() if model is TransactionModel.bgnbd else ParetoNBDFitter()).fit(s.frequency, s.recency, s.T)
    buyers = (s.frequency > 0) & (s.monetary_value > 0)
    if buyers.sum() < 2:
        raise LiuliangError("CLV needs repeat buyers with a positive amount (try --event order)")
    gg = GammaGammaFitter().fit(s.frequency[buyers], s.monetary_value[buyers])
    unit = UNITS_PER_MONTH[s.period]
    # Users without a positive repeat amount (one purchase, or repeat activity without money) get Gamma-Gamma's
    # population mean spend; CLV is linear in spend, so it multiplies the discounted purchase stream.
    spend = np.asarray(gg.expected_spend(np.where(buyers, s.frequency, 0.0), np.where(buyers, s.monetary_value, 0.0)))
    value = spend * discounted_purchases(tx, s, months=months, discount_rate=discount_rate, unit=unit)
    t = s.to_arrow()
    table = pa.table(
        {
            "user_id": t["user_id"],
            "group": t["breakdown"],
            "frequency": t["frequency"],
            "recency": t["recency"],
            "T": t["T"],
            "monetary_value": t["monetary_value"],
            "p_alive": np.asarray(tx.probability_alive(s.frequency, s.recency, s.T), dtype=float),
            "expected_purchases": np.asarray(
                tx.predict_purchases(months * unit, s.frequency, s.recency, s.T), dtype=float
            ),
            "expected_spend": spend,
            "clv": value,
        }
    )
    params = {
        "transaction_model": {k: float(v) for k, v in tx.params_.items()},
        "gamma_gamma": {k: float(v) for k, v in gg.params_.items()},
    }
    return table, params


def clv_totals(table: pa.Table) -> pa.Table:
    grouped = table.group_by("group").aggregate(
        [("user_id", "count"), ("clv", "sum"), ("clv", "mean"), ("p_alive", "mean"), ("expected_purchases", "sum")]
    )
    return grouped.rename_columns(
        ["group", "users", "clv_total", "clv_mean", "p_alive_mean", "expected_purchases"]
    ).sort_by("group")


def clv(
    workspace: WorkspaceOpt = Path("liuliang.duckdb"),
    event: EventOpt = "order",
    period: PeriodOpt = RFMPeriod.day,
    model: Annotated[
        TransactionModel, typer.Option(help="Purchase model: bgnbd or pareto.", rich_help_panel=Model)
    ] = TransactionModel.bgnbd,
    months: Annotated[int, typer.Option(help="Horizon in months.", rich_help_panel=Model)] = 12,
    discount_rate: Annotated[float, typer.Option(help="Monthly discount rate.", rich_help_panel=Model)] = 0.01,
    top: Annotated[int, typer.Option(help="Users to list, highest CLV first (0: all).")] = 20,
    calibration_end: CalibrationEndOpt = None,
    data_end: DataEndOpt = None,
    by: ByOpt = None,
    fmt: TableFormatOpt = TableFormat.table,
) -> None:
    """Discounted customer lifetime value: BG/NBD or Pareto/NBD purchases times Gamma-Gamma spend.

    One model is fitted on everyone (the per-user posterior already adapts to each history); ``--by`` groups the
    totals. Users first active in the calibration-end period (T = 0) are left out.
    """
    with open_workspace(existing_workspace(workspace)) as ws:
        summary = _summary(ws, event, period, calibration_end, data_end, by)
    table, params = clv_table(summary, model, months=months, discount_rate=discount_rate)
    ranked = table.sort_by([("clv", "descending"), ("user_id", "ascending")])
    if top:
        ranked = ranked.slice(0, top)
    totals = clv_totals(table)
    if fmt is TableFormat.json:
        from liuliang.cli.common import print_json

        print_json(
            {
                "model": model.value,
                "months": months,
                "discount_rate": discount_rate,
                "period": period.value,
                "calibration_end": summary.calibration_end,
                "params": params,
                "totals": totals.to_pylist(),
                "top": ranked.to_pylist(),
            }
        )
        return
    if fmt is TableFormat.csv:
        emit(ranked, fmt, title="")
        return
    emit(
        totals,
        fmt,
        title=f"{months}-month CLV by {by or 'all'} ({model.value} + Gamma-Gamma)",
        percent=["p_alive_mean"],
    )
    emit(
        ranked,
        fmt,
        title=f"top {ranked.num_rows} users by CLV",
        columns=["user_id", "group", "frequency", "recency", "p_alive", "expected_purchases", "expected_spend", "clv"],
        percent=["p_alive"],
    )
