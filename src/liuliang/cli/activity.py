"""``liuliang activity`` and ``liuliang lifecycle``: who is active, how often, and who came back."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from liuliang.cli.common import WorkspaceOpt, open_workspace
from liuliang.cli.info import existing_workspace
from liuliang.cli.output import TableFormat, TableFormatOpt, emit
from liuliang.metrics.activity import (
    ActiveUsersSpec,
    FrequencySpec,
    ParticipationSpec,
    active_users,
    frequency,
    participation,
)
from liuliang.metrics.lifecycle import LifecycleSpec, lifecycle

EventsOpt = Annotated[str | None, typer.Option("--event", help="Event(s) that make a user active, comma-separated.")]
ByOpt = Annotated[str | None, typer.Option("--by", help="Break down by a users column, e.g. channel.")]
FromOpt = Annotated[str | None, typer.Option("--from", help="First day shown (YYYY-MM-DD).")]
ToOpt = Annotated[str | None, typer.Option("--to", help="Last day shown (YYYY-MM-DD).")]


class ActivityView(StrEnum):
    dau = "dau"
    frequency = "frequency"
    participation = "participation"


def _events(text: str | None) -> tuple[str, ...] | None:
    return tuple(e.strip() for e in text.split(",") if e.strip()) if text else None


def _date(text: str | None) -> dt.date | None:
    return dt.date.fromisoformat(text) if text else None


def activity(
    show: Annotated[ActivityView, typer.Argument(help="dau (DAU/WAU/MAU, stickiness), frequency or participation.")] = (
        ActivityView.dau
    ),
    workspace: WorkspaceOpt = Path("liuliang.duckdb"),
    event: EventsOpt = None,
    by: ByOpt = None,
    date_from: FromOpt = None,
    date_to: ToOpt = None,
    period: Annotated[str, typer.Option(help="week or month (frequency); cohort period (participation).")] = "week",
    fmt: TableFormatOpt = TableFormat.table,
) -> None:
    """Daily, weekly and monthly actives and stickiness; days active per week or month; daily participation."""
    with open_workspace(existing_workspace(workspace)) as ws:
        if show is ActivityView.dau:
            res = active_users(ws, ActiveUsersSpec(_events(event), by, _date(date_from), _date(date_to)))
            emit(
                res.to_arrow(),
                fmt,
                title="active users (WAU: 7 days, MAU: 30 days ending that day)",
                columns=[
                    c
                    for c in ("breakdown", "date", "dau", "wau", "mau", "stickiness", "incomplete")
                    if c in res.to_arrow().column_names
                ],
                percent=("stickiness",),
            )
        elif show is ActivityView.frequency:
            res = frequency(ws, FrequencySpec(period, _events(event), by, _date(date_from), _date(date_to)))
            emit(
                res.summary() if fmt is TableFormat.table else res.to_arrow(),
                fmt,
                title=f"days active per {period} (complete {period}s pooled)",
            )
        else:
            res = participation(ws, ParticipationSpec(events=_events(event), cohort_period=period, breakdown=by))
            table = res.to_arrow()
            emit(
                table,
                fmt,
                title="daily participation: share of days active since acquisition",
                columns=[c for c in table.column_names if c != "period"],
                percent=("mean_share", "median_share", "pooled_share"),
            )


def lifecycle_command(
    workspace: WorkspaceOpt = Path("liuliang.duckdb"),
    period: Annotated[str, typer.Option(help="day, week or month.")] = "week",
    new_by: Annotated[str, typer.Option(help="first_seen or signup: what makes a user new.")] = "first_seen",
    event: EventsOpt = None,
    by: ByOpt = None,
    date_from: FromOpt = None,
    date_to: ToOpt = None,
    fmt: TableFormatOpt = TableFormat.table,
) -> None:
    """New, returning, resurrecting and dormant users per period (PostHog's lifecycle)."""
    with open_workspace(existing_workspace(workspace)) as ws:
        res = lifecycle(
            ws,
            LifecycleSpec(
                period=period,
                events=_events(event),
                new_by=new_by,
                breakdown=by,
                date_from=_date(date_from),
                date_to=_date(date_to),
            ),
        )
    table = res.to_arrow()
    emit(
        table,
        fmt,
        title=f"lifecycle by {period} (dormant = gone in the period after activity)",
        columns=[c for c in table.column_names if c != "period"],
    )
