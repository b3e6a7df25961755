"""``liuliang scorecard``: per campaign and incentive kind, did the spend buy habits or only visits?

Prints :func:`liuliang.signals.scorecard.scorecard` (definitions there): one row per segment — users, cost, CAC,
D7 / D30 retention and cost per retained user, habit share, month-1 NRR, projected LTV vs CAC — and the one-line
verdicts. ``print_scorecard`` is shared with ``liuliang demo``, which ends with this table.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.table import Table

from liuliang.cli.common import WorkspaceOpt, open_workspace, out, parse_data_end
from liuliang.cli.info import existing_workspace
from liuliang.cli.output import TableFormat, TableFormatOpt, emit_for_machines
from liuliang.signals.scorecard import Scorecard, scorecard


class RevenueBasis(StrEnum):
    gmv = "gmv"
    revenue = "revenue"


class By(StrEnum):
    campaign_kind = "campaign,kind"
    campaign = "campaign"
    kind = "kind"
    channel = "channel"


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _money(x: float | None) -> str:
    return "-" if x is None else f"¥{x:,.0f}" if abs(x) >= 100 else f"¥{x:.2f}"


def _ratio(x: float | None) -> str:
    return "-" if x is None else f"{x:,.1f}"


def print_scorecard(
    res: Scorecard, title: str = "Campaign scorecard: did the subsidy buy habits, or only visits?"
) -> None:
    """The board's table (one row per segment, the total last), then the verdicts, then how to read it."""
    grid = Table(
        title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1), collapse_padding=True
    )
    grid.add_column("segment", overflow="fold", min_width=16)  # the only column that may wrap: numbers never do
    for h in ("users", "CAC", "D7", "D30", "¥/D30", "habit", "NRR1", "LTV/CAC"):
        grid.add_column(h, justify="right", no_wrap=True)
    for r in res.table.to_pylist():
        grid.add_row(
            r["segment"],
            f"{r['users']:,}",
            _money(r["cac"]),
            _pct(r["d7_rate"]),
            _pct(r["d30_rate"]),
            _money(r["d30_cost_per_retained"]),
            _pct(r["habit_share"]),
            "-" if r["nrr_month1"] is None else f"{100 * r['nrr_month1']:.0f}%",
            _ratio(r["ltv_cac"]),
        )
    out.print(grid)
    for r in res.table.to_pylist():
        out.print(f"- {r['segment']}: {r['verdict']}", markup=False, highlight=False)
    s = res.spec
    out.print(
        f"cost = acquisition + incentives in the first {s.incentive_window_days} days; D7/D30 = first-time cohorts "
        f"active on day N; habit = share of users acquired >= {s.habit_min_age} days ago active in the last "
        f"{s.habit_window} days; {s.describe_revenue()}; LTV = margin {s.margin:g} x platform revenue per active "
        f"day x expected active days in {s.ltv_months} months (retention curve). Verdict: habits when "
        f"D30 >= {100 * s.rules.habit_d30:.0f}% and habit >= {100 * s.rules.habit_share:.0f}% "
        f"(at least {s.rules.min_users} users observed).",
        style="dim",
        markup=False,
    )


def scorecard_command(
    workspace: WorkspaceOpt = Path("liuliang.duckdb"),
    by: Annotated[By, typer.Option("--by", help="Segments: campaign x incentive kind, or one dimension.")] = (
        By.campaign_kind
    ),
    take_rate: Annotated[
        float | None,
        typer.Option(
            "--take-rate",
            help="Your share of GMV (0-1], e.g. 0.05: needed for LTV when amounts are order values (GMV).",
        ),
    ] = None,
    revenue_basis: Annotated[
        RevenueBasis,
        typer.Option("--revenue-basis", help="What the events' amount is: gmv (order value) or revenue (yours)."),
    ] = RevenueBasis.gmv,
    margin: Annotated[
        float, typer.Option("--margin", help="Share of platform revenue left after serving costs (default 1).")
    ] = 1.0,
    ltv_months: Annotated[int, typer.Option("--ltv-months", help="Horizon of the projected LTV, months.")] = 12,
    data_end: Annotated[
        str | None, typer.Option("--data-end", help="'Now' as an ISO time in UTC; default the last event.")
    ] = None,
    fmt: TableFormatOpt = TableFormat.table,
) -> None:
    """Campaign scorecard: users, cost, D7/D30, cost per retained user, habit share, NRR, LTV vs CAC, verdict.

    kind = the incentive kinds a user was given on or before their first active day (red_packet, free_order,
    points, ...), joined with '+'. csv lists every column; json also echoes the spec and the curve points.
    Amounts are taken as GMV (order value) unless --revenue-basis revenue: LTV/CAC then needs --take-rate, your
    share of GMV (LTV in GMV would overstate LTV/CAC by 1 / take rate).
    """
    with open_workspace(existing_workspace(workspace)) as ws:
        res = scorecard(
            ws,
            by=tuple(by.value.split(",")),
            data_end=parse_data_end(data_end),
            margin=margin,
            revenue_basis=revenue_basis.value,
            take_rate=take_rate,
            ltv_months=ltv_months,
        )
    if emit_for_machines(res, fmt):
        return
    print_scorecard(res)
