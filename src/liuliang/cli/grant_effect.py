"""``liuliang grant-effect``: the observational effect of a grant on retention — IPW or doubly robust, with balance.

Every output says OBSERVATIONAL: grants were not randomised, so the estimate is causal only under the design's
assumption (no unmeasured confounding; see :mod:`liuliang.causal.grant_effect`).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer

from liuliang.causal.grant_effect import GrantEffectSpec, run_grant_effect
from liuliang.cli.common import WorkspaceOpt, open_workspace, out
from liuliang.cli.info import existing_workspace
from liuliang.cli.output import TableFormat, TableFormatOpt, emit

COLUMNS = (
    "kind",
    "estimator",
    "effect",
    "ci_lower",
    "ci_upper",
    "naive_difference",
    "treated_mean",
    "control_mean",
    "n_treated",
    "n_control",
    "max_abs_smd_before",
    "max_abs_smd_after",
)


def grant_effect(
    workspace: WorkspaceOpt = Path("liuliang.duckdb"),
    kind: Annotated[
        str, typer.Option("--kind", help="The incentives.kind whose grant is the treatment.")
    ] = "red_packet",
    window: Annotated[int, typer.Option("--window", help="Treated = first grant within this many days of signup.")] = 7,
    day: Annotated[int, typer.Option("--day", help="Outcome: active on day N after signup (N >= window).")] = 30,
    estimator: Annotated[str, typer.Option("--estimator", help="aipw (doubly robust) or ipw.")] = "aipw",
    data_end: Annotated[
        dt.datetime | None, typer.Option(help="'Now' in UTC (default: the last event).", formats=["%Y-%m-%dT%H:%M:%S"])
    ] = None,
    fmt: TableFormatOpt = TableFormat.table,
) -> None:
    """Did the grant cause retention? An OBSERVATIONAL estimate (grants not randomised) with covariate balance."""
    spec = GrantEffectSpec(kind, grant_window_days=window, outcome_day=day, estimator=estimator)  # type: ignore[arg-type]
    with open_workspace(existing_workspace(workspace)) as ws:
        res = run_grant_effect(ws, spec, data_end=data_end)
    if fmt is TableFormat.json:
        data = res.to_dict()
        emit(res.to_arrow(), fmt, title="", json_extra={"title": res.title(), **data})
        return
    if fmt is TableFormat.csv:
        emit(res.to_arrow(), fmt, title="")
        return
    emit(res.to_arrow(), fmt, title=res.title(), columns=COLUMNS)
    emit(res.balance_table(), fmt, title="covariate balance (standardized mean differences)")
    out.print(res.label, style="yellow", markup=False)
    excluded = (
        f"excluded: {res.n_unobserved:,} not yet observed at day {day}, {res.n_no_overlap:,} in channels with one arm"
        f"{' (' + ', '.join(res.no_overlap_channels) + ')' if res.no_overlap_channels else ''}, "
        f"{res.n_granted_before:,} granted before signup, {res.n_before_data:,} signed up before the data"
    )
    out.print(excluded, style="dim", markup=False)
