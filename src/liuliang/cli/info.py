"""``liuliang info`` and ``liuliang quarantine``: what a workspace holds."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from liuliang.cli.common import FormatOpt, OutputFormat, WorkspaceOpt, open_workspace, out, print_json
from liuliang.errors import WorkspaceError


def existing_workspace(path: Path) -> Path:
    """The path, or a clear error if there is no workspace there (instead of creating an empty one)."""
    if not path.exists():
        raise WorkspaceError(f"{path}: no workspace here (create one with liuliang ingest or liuliang demo)")
    return path


def info(workspace: WorkspaceOpt = Path("liuliang.duckdb"), fmt: FormatOpt = OutputFormat.table) -> None:
    """Tables and row counts, date range, time zone and quarantine count."""
    with open_workspace(existing_workspace(workspace)) as ws:
        data = ws.info()
    if fmt is OutputFormat.json:
        print_json(data.to_dict())
        return
    grid = Table(title=f"workspace {data.location}", title_justify="left", show_header=False)
    grid.add_row("engine", data.engine)
    grid.add_row("time zone", data.settings.tz)
    grid.add_row("week starts", data.settings.week_start)
    grid.add_row("users", f"{data.users:,}")
    grid.add_row("first event (UTC)", str(data.first_ts or "-"))
    grid.add_row("last event (UTC)", str(data.last_ts or "-"))
    grid.add_row("ingests", f"{data.ingests:,}")
    grid.add_row("quarantined rows", f"{data.quarantined:,}")
    out.print(grid)
    tables = Table(title="tables", title_justify="left")
    tables.add_column("table")
    tables.add_column("rows", justify="right")
    for t in data.tables:
        tables.add_row(t.name, f"{t.rows:,}")
    out.print(tables)


def quarantine(
    workspace: WorkspaceOpt = Path("liuliang.duckdb"),
    limit: Annotated[int, typer.Option(help="Show at most this many rows.")] = 50,
    fmt: FormatOpt = OutputFormat.table,
) -> None:
    """Rejected rows: source file, row number, column, reason and the raw row."""
    with open_workspace(existing_workspace(workspace)) as ws:
        rows = ws.quarantine().slice(0, limit).to_pylist()
    if fmt is OutputFormat.json:
        print_json(rows)
        return
    grid = Table(title="quarantine", title_justify="left")
    for col in ("table_name", "source", "row", "column", "reason", "raw"):
        grid.add_column(col, overflow="fold")
    for r in rows:
        grid.add_row(*(str(r[c]) for c in ("table_name", "source", "row", "column", "reason", "raw")))
    out.print(grid)
