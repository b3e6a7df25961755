"""``liuliang report``: every view of a workspace in one self-contained HTML file (works offline, prints well).

The knobs are the dashboard's filter bar (:class:`~liuliang.report.view.ViewSpec`), so a report can be regenerated
to match what someone saw on the board. Progress (one step per view) goes to stderr; stdout gets only the path, so
``open "$(liuliang report -w ws.duckdb --out r.html)"`` works.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from liuliang.cli.common import WorkspaceOpt, err, open_workspace, out
from liuliang.cli.info import existing_workspace
from liuliang.errors import LiuliangError
from liuliang.report.view import CRITERIA, LANGS, PERIODS, VIEWS, ViewSpec
from liuliang.warehouse import Workspace

Panel = "Filters"


def parse_date(text: str | None, option: str) -> dt.date | None:
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"expected a date YYYY-MM-DD, got {text!r}", param_hint=option) from None


def make_spec(
    *,
    start: str | None = None,
    end: str | None = None,
    breakdown: str | None = "channel",
    period: str = "day",
    criterion: str = "on",
    preset: str | None = None,
    lang: str = "en",
) -> ViewSpec:
    """The command line's strings as a validated :class:`ViewSpec` (``--breakdown none`` means one line)."""
    from liuliang.metrics.retention.presets import PRESETS

    if preset is not None and preset not in PRESETS:
        raise LiuliangError(f"preset must be one of {', '.join(PRESETS)}, got {preset!r}")
    if breakdown is not None and breakdown.strip().lower() in ("", "none"):
        breakdown = None
    return ViewSpec(
        start=parse_date(start, "--start"),
        end=parse_date(end, "--end"),
        breakdown=breakdown,
        period=period,  # type: ignore[arg-type]  # ViewSpec checks it
        criterion=criterion,  # type: ignore[arg-type]
        preset=preset,
        lang=lang,  # type: ignore[arg-type]
    )


@contextmanager
def view_progress(keys: tuple[str, ...], description: str = "report") -> Iterator[Callable[[str], None]]:
    """A transient Rich bar on stderr with one step per view; yields the ``progress(key)`` callback, which marks
    the previous view done and names the one starting."""
    columns = [SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn()]
    with Progress(*columns, TimeElapsedColumn(), console=err, transient=True) as bar:
        task = bar.add_task(description, total=len(keys))
        started = 0

        def step(key: str) -> None:
            nonlocal started
            bar.update(task, completed=started, description=f"{description}: {key}")
            started += 1

        yield step
        bar.update(task, completed=len(keys))


def write_workspace_report(
    ws: Workspace, out_path: Path, spec: ViewSpec, *, generated_at: dt.datetime | None = None
) -> Path:
    """``write_report`` with the terminal's progress bar (shared by ``liuliang report`` and ``liuliang demo``)."""
    from liuliang.report.html import write_report

    now = generated_at or dt.datetime.now(ZoneInfo(ws.settings.tz))
    with view_progress(tuple(VIEWS)) as step:
        return write_report(ws, out_path, spec, step, generated_at=now)


def report_command(
    workspace: WorkspaceOpt = Path("liuliang.duckdb"),
    out_path: Annotated[Path, typer.Option("--out", "-o", help="The HTML file to write.")] = Path("report.html"),
    lang: Annotated[str, typer.Option(help=f"Labels and readings: {' or '.join(LANGS)}.")] = "en",
    start: Annotated[
        str | None, typer.Option(help="First local date shown (YYYY-MM-DD); default the data's.", rich_help_panel=Panel)
    ] = None,
    end: Annotated[
        str | None,
        typer.Option(help="Last local date (YYYY-MM-DD); later data is ignored.", rich_help_panel=Panel),
    ] = None,
    breakdown: Annotated[
        str, typer.Option(help="users column to split by, or 'none'.", rich_help_panel=Panel)
    ] = "channel",
    period: Annotated[str, typer.Option(help=f"{' or '.join(PERIODS)} cohorts.", rich_help_panel=Panel)] = "day",
    criterion: Annotated[
        str, typer.Option(help=f"Retention criterion: {' or '.join(CRITERIA)}.", rich_help_panel=Panel)
    ] = "on",
    preset: Annotated[
        str | None, typer.Option(help="posthog, amplitude or mixpanel retention defaults.", rich_help_panel=Panel)
    ] = None,
) -> None:
    """Write every view (retention, activity, revenue, decay, experiment, uplift, scorecard) to one HTML file."""
    spec = make_spec(
        start=start, end=end, breakdown=breakdown, period=period, criterion=criterion, preset=preset, lang=lang
    )
    with open_workspace(existing_workspace(workspace)) as ws:
        path = write_workspace_report(ws, out_path, spec)
    out.print(str(path.resolve()), markup=False, highlight=False, soft_wrap=True)
