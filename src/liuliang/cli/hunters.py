"""``liuliang hunters``: who came only for the red packets? The incentive-hunter (红包党) score by channel or campaign.

Prints the summary by ``--by`` (users, share flagged incentive-only, mean score) and, with ``--top N``, the N most
hunter-like users. Definitions live in :mod:`liuliang.causal.hunters`; this file only parses and prints.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import pyarrow as pa
import typer

from liuliang.causal.hunters import HunterSpec, hunter_scores
from liuliang.cli.common import WorkspaceOpt, open_workspace, out, parse_data_end, print_json
from liuliang.cli.info import existing_workspace
from liuliang.cli.output import TableFormat, TableFormatOpt, emit
from liuliang.errors import LiuliangError


class Breakdown(StrEnum):
    channel = "channel"
    campaign = "campaign"


def _read_uplift(path: Path | None) -> pa.Table | None:
    """An uplift model's predictions: Parquet or CSV with columns user_id and uplift."""
    if path is None:
        return None
    if not path.exists():
        raise LiuliangError(f"--uplift {path}: no such file")
    if path.suffix.lower() == ".csv":
        import pyarrow.csv as pacsv

        return pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(column_types={"user_id": pa.string()}))
    import pyarrow.parquet as pq

    return pq.read_table(path)


SUMMARY_COLUMNS = ("breakdown", "users", "flagged", "share_flagged", "mean_score", "mean_tied_share")
TOP_COLUMNS = ("user_id", "channel", "active_days", "tied_share", "drop_status", "activity_drop", "score")


def hunters(
    workspace: WorkspaceOpt = Path("liuliang.duckdb"),
    window: Annotated[int, typer.Option("--window", help="Days compared before and after incentives end.")] = 7,
    by: Annotated[Breakdown, typer.Option("--by", help="Summarise by channel or campaign.")] = Breakdown.channel,
    top: Annotated[int, typer.Option("--top", help="Also list the N most hunter-like users (0: none).")] = 0,
    tie_days: Annotated[int, typer.Option("--tie-days", help="Days after a redemption tied to it (0: same day).")] = 0,
    uplift: Annotated[
        Path | None, typer.Option("--uplift", help="Parquet/CSV of an uplift model's user_id, uplift predictions.")
    ] = None,
    data_end: Annotated[
        str | None, typer.Option("--data-end", help="'Now' as an ISO time in UTC; default the last event.")
    ] = None,
    fmt: TableFormatOpt = TableFormat.table,
) -> None:
    """Incentive hunters (红包党): activity tied to redemptions, the drop after incentives end, a flag and a score.

    csv prints the summary, or the top users when --top is given; json has both.
    """
    if top < 0:
        raise typer.BadParameter(f"expected a count >= 0, got {top}", param_hint="--top")
    spec = HunterSpec(window=window, tie_days=tie_days)
    predictions = _read_uplift(uplift)
    with open_workspace(existing_workspace(workspace)) as ws:
        res = hunter_scores(ws, spec, uplift=predictions, data_end=parse_data_end(data_end))
    summary = res.by(by.value).to_arrow()
    users = res.top(top)
    if fmt is TableFormat.json:
        print_json(
            {
                "data_end": res.data_end,
                "spec": res.to_dict()["spec"],
                "by": by.value,
                "rows": summary.to_pylist(),
                "top": users.to_pylist(),
            }
        )
        return
    if fmt is TableFormat.csv and top:
        emit(users, fmt, title="")
        return
    emit(
        summary,
        fmt,
        title=f"incentive hunters by {by.value} (window {window} days, data_end {res.data_end})",
        columns=SUMMARY_COLUMNS,
        percent=("share_flagged", "mean_tied_share"),
    )
    if top and fmt is TableFormat.table:
        emit(users, fmt, title=f"top {top} users by hunter score", columns=TOP_COLUMNS, percent=("tied_share",))
    if fmt is TableFormat.table:
        out.print("flagged: incentive-only (mostly redemption days, inactive after incentives ended).", style="dim")
