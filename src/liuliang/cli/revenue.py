"""``liuliang revenue``: revenue retention (NRR / GRR), CAC, cost per retained user and payback."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from liuliang.cli.common import WorkspaceOpt, open_workspace, out
from liuliang.cli.info import existing_workspace
from liuliang.cli.output import TableFormat, TableFormatOpt, emit, with_cohort_start
from liuliang.metrics.acquisition import (
    CacSpec,
    CostPerRetainedSpec,
    PaybackSpec,
    cac,
    cost_per_retained,
    payback,
)
from liuliang.metrics.revenue import RevenueSpec, cohort_revenue


class View(StrEnum):
    nrr = "nrr"
    cac = "cac"
    retained_cost = "retained-cost"
    payback = "payback"


def _by(text: str) -> tuple[str, ...]:
    return tuple(b.strip() for b in text.split(",") if b.strip())


def revenue(
    show: Annotated[
        View, typer.Argument(help="nrr (cohort revenue retention), cac, retained-cost or payback.")
    ] = View.nrr,
    workspace: WorkspaceOpt = Path("liuliang.duckdb"),
    period: Annotated[str, typer.Option(help="day, week, month or quarter (nrr, payback).")] = "month",
    periods: Annotated[int, typer.Option(help="Follow cohorts for periods 0..N (nrr).")] = 6,
    by: Annotated[
        str | None,
        typer.Option("--by", help="users column(s), comma-separated; retained-cost also takes incentive_kind."),
    ] = None,
    days: Annotated[str, typer.Option(help="Retention days for retained-cost, e.g. 7,30.")] = "7,30",
    window: Annotated[
        int, typer.Option(help="Days after acquisition whose incentive costs count as acquisition cost.")
    ] = 30,
    margin: Annotated[float, typer.Option(help="Share of revenue that pays back CAC (payback).")] = 1.0,
    fmt: TableFormatOpt = TableFormat.table,
) -> None:
    """Did the money come back? NRR/GRR by cohort, CAC, cost per retained user, payback period."""
    with open_workspace(existing_workspace(workspace)) as ws:
        if show is View.nrr:
            res = cohort_revenue(ws, RevenueSpec(period=period, periods=periods, breakdown=by))
            table = with_cohort_start(res.to_arrow(), period, ws.settings.week_start)
            emit(
                table,
                fmt,
                title=f"revenue retention by {period} cohort",
                columns=[
                    c
                    for c in (
                        "breakdown",
                        "cohort_start",
                        "period_offset",
                        "cohort_size",
                        "revenue",
                        "nrr",
                        "grr",
                        "arpu",
                        "incomplete",
                    )
                    if c in table.column_names
                ],
                percent=("nrr", "grr"),
            )
        elif show is View.cac:
            res = cac(ws, CacSpec(by=_by(by or "channel,campaign"), incentive_window_days=window))
            emit(res.to_arrow(), fmt, title="customer acquisition cost")
        elif show is View.retained_cost:
            spec = CostPerRetainedSpec(
                days=tuple(int(d) for d in _by(days)),
                by=_by(by or "channel,incentive_kind"),
                incentive_window_days=window,
            )
            emit(cost_per_retained(ws, spec).to_arrow(), fmt, title="cost per retained user")
        else:
            res = payback(
                ws, PaybackSpec(period=period, breakdown=by or "channel", margin=margin, incentive_window_days=window)
            )
            table = with_cohort_start(res.to_arrow(), period, ws.settings.week_start)
            emit(
                table,
                fmt,
                title=f"payback (margin {margin:g})",
                columns=[c for c in table.column_names if c != "cohort"],
            )
    if fmt is TableFormat.table and show is View.nrr:
        out.print("* incomplete: the period has not fully elapsed.", style="dim")
