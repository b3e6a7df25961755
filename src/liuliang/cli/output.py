"""Print a long Arrow result table as a Rich table, CSV or JSON — one place for every metrics command."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable
from enum import StrEnum
from typing import Annotated, Any

import pyarrow as pa
import typer
from rich.table import Table

from liuliang.cli.common import out, print_json


class TableFormat(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


TableFormatOpt = Annotated[TableFormat, typer.Option("--format", "-f", help="table, csv or json.")]


def to_csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    if rows:
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return buf.getvalue()


def _text(value: Any, percent: bool, name: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        if name == "incomplete":
            return "*" if value else ""
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{100 * value:.1f}%" if percent else f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value)


def emit_for_machines(result: Any, fmt: TableFormat) -> bool:
    """``--format json``: the result's ``to_dict()``; ``csv``: its long table. Returns True when it wrote, so a
    command goes on to print its own tables only for people."""
    if fmt is TableFormat.json:
        print_json(result.to_dict())
        return True
    if fmt is TableFormat.csv:
        emit(result.to_arrow(), fmt, title="")
        return True
    return False


def emit(
    table: pa.Table,
    fmt: TableFormat,
    *,
    title: str,
    columns: Iterable[str] | None = None,
    percent: Iterable[str] = (),
    json_extra: dict[str, Any] | None = None,
) -> None:
    """Write ``table``: all columns for csv/json, the chosen ``columns`` for people."""
    rows = table.to_pylist()
    if fmt is TableFormat.json:
        print_json({**(json_extra or {}), "rows": rows})
        return
    if fmt is TableFormat.csv:
        out.print(to_csv(rows), end="", markup=False, highlight=False, soft_wrap=True)
        return
    names = list(columns or table.column_names)
    pct = set(percent)
    grid = Table(title=title, title_justify="left")
    for name in names:
        numeric = pa.types.is_integer(table.schema.field(name).type) or pa.types.is_floating(
            table.schema.field(name).type
        )
        grid.add_column(name, justify="right" if numeric else "left", no_wrap=not numeric)
    for r in rows:
        grid.add_row(*(_text(r[n], n in pct, n) for n in names))
    out.print(grid)


def with_cohort_start(table: pa.Table, period: str, week_start: str) -> pa.Table:
    """Add the first date of each integer ``cohort`` period, so people read dates, not period numbers."""
    from liuliang.metrics.retention.result import period_start

    starts = [period_start(c, period, week_start) if c is not None else None for c in table["cohort"].to_pylist()]
    return table.add_column(table.column_names.index("cohort") + 1, "cohort_start", pa.array(starts))
