"""``liuliang experiment``: read an A/B test from the warehouse — effects with intervals, CUPED, SRM, Holm/BH."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer

from liuliang.causal.experiment import HEADLINE, ExperimentSpec, run_experiment
from liuliang.cli.common import WorkspaceOpt, open_workspace, out
from liuliang.cli.info import existing_workspace
from liuliang.cli.output import TableFormat, TableFormatOpt, emit

#: The result's headline columns, with which test gave them (plain or CUPED) in place of the variance reduction.
COLUMNS = (*(c for c in HEADLINE if c != "cuped_variance_reduction"), "method")


def experiment(
    name: Annotated[str, typer.Option("--experiment", "-e", help="The assignments.experiment to read.")],
    workspace: WorkspaceOpt = Path("liuliang.duckdb"),
    metric: Annotated[
        list[str] | None,
        typer.Option(
            "--metric",
            "-m",
            help="d7 (retention), or a kind (retention, participation, orders, revenue, incentive_cost, "
            "cost_per_retained) at every --days horizon, or kind_dN. Repeatable.",
        ),
    ] = None,
    days: Annotated[str, typer.Option(help="Horizons for metrics given without a day, e.g. 1,7,30.")] = "1,7,30",
    control: Annotated[str, typer.Option(help="The control variant.")] = "control",
    by: Annotated[str | None, typer.Option("--by", help="users column to break effects down by.")] = None,
    cuped_days: Annotated[int, typer.Option(help="Pre-period days of the CUPED covariate (0: off).")] = 14,
    criterion: Annotated[str, typer.Option(help="Retention: on (active on day N) or on_or_after.")] = "on",
    correction: Annotated[str, typer.Option(help="holm, bh or none, across metrics.")] = "holm",
    data_end: Annotated[
        dt.datetime | None, typer.Option(help="'Now' in UTC (default: the last event).", formats=["%Y-%m-%dT%H:%M:%S"])
    ] = None,
    fmt: TableFormatOpt = TableFormat.table,
) -> None:
    """Did the variant work? Per-variant D1/D7/D30 retention, money and cost with intervals, CUPED and an SRM check."""
    spec = ExperimentSpec(
        name,
        control=control,
        metrics=tuple(metric) if metric else ExperimentSpec.__dataclass_fields__["metrics"].default,
        days=tuple(int(d) for d in days.split(",") if d.strip()),
        criterion=criterion,  # type: ignore[arg-type]
        cuped_days=cuped_days,
        by=by,
        correction=correction,  # type: ignore[arg-type]
    )
    with open_workspace(existing_workspace(workspace)) as ws:
        res = run_experiment(ws, spec, data_end=data_end)
    table = res.to_arrow()
    if fmt is TableFormat.json:
        data = res.to_dict()
        emit(table, fmt, title="", json_extra={k: v for k, v in data.items() if k != "rows"})
        return
    shown = table.filter(table["is_control"].to_numpy(zero_copy_only=False) == 0) if fmt is TableFormat.table else table
    emit(
        shown,
        fmt,
        title=f"experiment {name}: variants vs {control}",
        columns=COLUMNS if fmt is TableFormat.table else None,
    )
    if fmt is TableFormat.table:
        out.print(res.srm.message, style="red" if res.srm.mismatch else "dim", markup=False)
        if res.multiple_variants:
            out.print(f"{res.multiple_variants:,} users were in several variants and are excluded.", style="dim")
        out.print(
            f"difference = variant − control ({int(100 * (1 - spec.alpha))}% interval; method cuped = adjusted by the "
            f"{spec.cuped_days}-day pre-period); p_adjusted: {spec.correction} across metrics.",
            style="dim",
            markup=False,
        )
