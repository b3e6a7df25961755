"""``liuliang ingest``: validate and load files into a workspace."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from liuliang.cli.common import (
    FormatOpt,
    OutputFormat,
    TzOpt,
    WeekStartOpt,
    WorkspaceOpt,
    err,
    open_workspace,
    out,
    parse_map,
    print_json,
    progress_bar,
)
from liuliang.errors import RejectedRowsError
from liuliang.ingest.contract import CONTRACTS
from liuliang.ingest.report import IngestReport


def ingest(
    sources: Annotated[
        list[str], typer.Argument(help="Files, directories or globs (CSV, CSV.gz, Parquet, JSON lines).")
    ],
    table: Annotated[str, typer.Option("--table", "-t", help=f"Target table: {', '.join(CONTRACTS)}.")] = "events",
    mapping: Annotated[
        str | None, typer.Option("--map", help="Source column names, e.g. user_id=customer_id,ts=date.")
    ] = None,
    ts_format: Annotated[
        str, typer.Option(help="auto (ISO 8601 with offsets), date, epoch_s, epoch_ms, epoch_us or a strptime pattern.")
    ] = "auto",
    naive_tz: Annotated[str, typer.Option(help="Time zone of timestamps written without an offset.")] = "UTC",
    allow_rejects: Annotated[
        bool, typer.Option("--allow-rejects", help="Exit 0 even if rows were quarantined.")
    ] = False,
    workspace: WorkspaceOpt = Path("liuliang.duckdb"),
    tz: TzOpt = None,
    week_start: WeekStartOpt = None,
    fmt: FormatOpt = OutputFormat.table,
) -> None:
    """Validate rows against the data contract and load them; rejected rows go to the quarantine table.

    Re-ingesting the same rows adds nothing; a failure leaves the workspace as it was.
    """
    with open_workspace(workspace, tz, week_start) as ws, progress_bar(f"ingesting {table}") as update:
        report = ws.ingest(
            sources, table=table, mapping=parse_map(mapping), ts_format=ts_format, naive_tz=naive_tz, progress=update
        )
    if fmt is OutputFormat.json:
        print_json(report.to_dict())
    else:
        print_report(report)
    if report.rejected and not allow_rejects:
        raise RejectedRowsError(
            f"{report.rejected:,} row(s) rejected and kept in the quarantine table "
            f"(liuliang quarantine -w {workspace}); the other rows were loaded. Pass --allow-rejects to accept."
        )


def print_report(report: IngestReport) -> None:
    grid = Table(title=f"ingest #{report.ingest_id} into {report.table}", show_header=False, title_justify="left")
    for label, value in [
        ("rows read", report.rows_read),
        ("added", report.added),
        ("duplicates", report.duplicates),
        ("rejected", report.rejected),
        ("new users", report.new_users),
    ] + ([("updated users", report.updated)] if report.table == "users" else []):
        grid.add_row(label, f"{value:,}")
    out.print(grid)
    if report.rejects_sample is not None and report.rejects_sample.num_rows:
        bad = Table(title="first rejected rows", title_justify="left")
        for col in ("source", "row", "column", "reason"):
            bad.add_column(col)
        for r in report.rejects_sample.to_pylist()[:10]:
            bad.add_row(str(r["source"]), str(r["row"]), str(r["column"]), str(r["reason"]))
        err.print(bad)
