"""``liuliang forecast``: the ebb (退潮) forecast — DAU / WAU / MAU if the subsidies stop, continue or change.

The method (per-channel retention curves times the acquisition schedule) is in :mod:`liuliang.signals.forecast`;
this command only parses the scenario, runs it (or a backtest) and prints the result.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import pyarrow.compute as pc
import typer

from liuliang.cli.common import WorkspaceOpt, open_workspace, out, parse_data_end, print_json
from liuliang.cli.info import existing_workspace
from liuliang.cli.output import TableFormat, TableFormatOpt, emit, emit_for_machines
from liuliang.signals.forecast import EbbSpec, backtest, ebb_forecast


class ScenarioOpt(StrEnum):
    stop = "stop"
    continue_ = "continue"
    change = "change"


def parse_change(items: list[str] | None) -> dict[str, float]:
    """``--change red_packet=0.5`` (repeatable, or comma-separated) -> {"red_packet": 0.5}."""
    out_: dict[str, float] = {}
    for item in items or []:
        for part in item.split(","):
            name, sep, value = part.partition("=")
            try:
                out_[name.strip()] = float(value)
            except ValueError:
                raise typer.BadParameter(f"expected channel=multiplier, got {part!r}", param_hint="--change") from None
            if not sep or not name.strip():
                raise typer.BadParameter(f"expected channel=multiplier, got {part!r}", param_hint="--change")
    return out_


def forecast(
    workspace: WorkspaceOpt = Path("liuliang.duckdb"),
    scenario: Annotated[
        ScenarioOpt, typer.Option("--scenario", help="stop: incentive channels acquire nobody; continue; change.")
    ] = ScenarioOpt.stop,
    change: Annotated[
        list[str] | None, typer.Option("--change", help="channel=multiplier on recent acquisition (with change).")
    ] = None,
    horizon: Annotated[int, typer.Option("--horizon", help="Days to forecast.")] = 90,
    organic: Annotated[
        str, typer.Option("--organic", help="Channels not driven by incentives, comma-separated.")
    ] = "organic",
    backtest_date: Annotated[
        str | None,
        typer.Option("--backtest", help="Cut-off date YYYY-MM-DD: fit before it, compare the next --horizon days."),
    ] = None,
    data_end: Annotated[
        str | None, typer.Option("--data-end", help="'Now' as an ISO time in UTC; default the last event.")
    ] = None,
    fmt: TableFormatOpt = TableFormat.table,
) -> None:
    """Ebb forecast: DAU / WAU / MAU for the next --horizon days, with the habitual floor and intervals.

    Per channel: a retention curve fitted on daily first-time cohorts, times the acquisition schedule (observed,
    then the scenario's). Intervals: parameter uncertainty (delta method). With --backtest the forecast is made at
    the cut-off with the acquisition that actually happened, and its DAU error is reported.
    """
    spec = EbbSpec(
        horizon_days=horizon,
        scenario=scenario.value,  # type: ignore[arg-type]
        change=parse_change(change),
        organic_channels=tuple(c.strip() for c in organic.split(",") if c.strip()),
    )
    with open_workspace(existing_workspace(workspace)) as ws:
        if backtest_date:
            try:
                cut = dt.date.fromisoformat(backtest_date)
            except ValueError:
                raise typer.BadParameter(
                    f"expected YYYY-MM-DD, got {backtest_date!r}", param_hint="--backtest"
                ) from None
            bt = backtest(ws, cut, horizon, spec=spec)
            if fmt is TableFormat.json:
                print_json(bt.to_dict())
                return
            emit(bt.to_arrow(), fmt, title=f"backtest from {cut}, {horizon} days")
            if fmt is TableFormat.table:
                out.print(
                    f"DAU MAPE {bt.dau_mape:.1%}, mean error {bt.dau_mean_error:+,.0f} ({bt.dau_mean_pct_error:+.1%}); "
                    f"WAU MAPE {bt.wau_mape:.1%}; MAU MAPE {bt.mau_mape:.1%}; "
                    f"DAU inside interval {bt.dau_coverage:.0%} of days.",
                    highlight=False,
                )
            return
        res = ebb_forecast(ws, spec, data_end=parse_data_end(data_end))
    if emit_for_machines(res, fmt):
        return
    emit(
        res.channels,
        fmt,
        title="channels",
        columns=["channel", "model", "habit_floor", "recent_daily_new", "scenario_daily_new", "last_dau"],
        percent=["habit_floor"],
    )
    total = res.to_arrow().filter(pc.equal(res.to_arrow()["breakdown"], "all"))
    weekly = total.take(list(range(0, total.num_rows, 7)) + ([total.num_rows - 1] if total.num_rows % 7 != 1 else []))
    emit(
        weekly,
        fmt,
        title=f"scenario {spec.scenario}: every 7th day",
        columns=["date", "new_users", "dau", "dau_lower", "dau_upper", "habitual_dau", "wau", "mau"],
    )
