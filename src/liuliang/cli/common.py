"""Options, output and error helpers shared by every command.

Results go to stdout (a Rich table, or JSON with ``--format json``); progress and errors go to stderr, so
``liuliang info --format json | jq`` always gets clean JSON.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.panel import Panel
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from liuliang.errors import LiuliangError
from liuliang.warehouse import Workspace

out = Console()
err = Console(stderr=True)


class OutputFormat(StrEnum):
    table = "table"
    json = "json"


WorkspaceOpt = Annotated[
    Path,
    typer.Option(
        "--workspace", "-w", help="DuckDB file of the workspace (created if missing).", envvar="LIULIANG_WORKSPACE"
    ),
]
TzOpt = Annotated[
    str | None,
    typer.Option("--tz", help="Reporting time zone of a new workspace, e.g. Asia/Shanghai (default UTC)."),
]
WeekStartOpt = Annotated[
    str | None, typer.Option("--week-start", help="First day of a reporting week for a new workspace (default monday).")
]
FormatOpt = Annotated[OutputFormat, typer.Option("--format", "-f", help="table for people, json for programs.")]


def open_workspace(path: Path, tz: str | None = None, week_start: str | None = None) -> Workspace:
    return Workspace.open(path, tz=tz, week_start=week_start)


def print_json(data: Any) -> None:
    out.print_json(json.dumps(data, ensure_ascii=False, default=str))


def print_error(exc: BaseException) -> None:
    err.print(Panel(str(exc), title="error", title_align="left", border_style="red", expand=False))


@contextmanager
def progress_bar(description: str, total: int | None = None) -> Iterator[Any]:
    """A transient progress bar on stderr; yields ``update(done)``."""
    columns = [SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed:,}")]
    with Progress(*columns, TimeElapsedColumn(), console=err, transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda done, total=None: bar.update(task, completed=done, total=total)


def parse_data_end(text: str | None) -> dt.datetime | None:
    """``--data-end``: an ISO time (an offset is honoured, a naive time is UTC) as naive UTC; empty means "now"."""
    if not text:
        return None
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"expected an ISO time in UTC, got {text!r}", param_hint="--data-end") from None
    return value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo else value


def parse_map(spec: str | None) -> dict[str, str]:
    """``user_id=customer_id,ts=date`` -> {"user_id": "customer_id", "ts": "date"}."""
    if not spec:
        return {}
    mapping: dict[str, str] = {}
    for part in spec.split(","):
        target, sep, source = part.partition("=")
        if not sep or not target.strip() or not source.strip():
            raise LiuliangError(f"--map {spec!r}: expected target=source pairs separated by commas, got {part!r}")
        mapping[target.strip()] = source.strip()
    return mapping
