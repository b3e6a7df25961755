"""``liuliang demo``: generate a festival world, load it into an embedded workspace, print the headlines.

The point of the demo is the question liuliang exists for — did the subsidy buy habits or only visits? — so it
shows, per acquisition channel, how many users came and how many were still there on day 1, 7 and 30, next to
the retention the generator planted (the truth the engine should recover).
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import pyarrow.parquet as pq
import typer
from rich.table import Table

from liuliang.cli.common import FormatOpt, OutputFormat, err, out, print_json, progress_bar
from liuliang.cli.generate import DaysOpt, SeedOpt, UsersOpt, run_generate
from liuliang.metrics import DayNRetention, day_n_retention
from liuliang.warehouse import Workspace

DEMO_TZ = "Asia/Shanghai"
DAYS = (1, 7, 30)
TABLES = (
    ("users", "users.parquet"),
    ("events", "events"),
    ("incentives", "incentives.parquet"),
    ("assignments", "assignments.parquet"),
)


@dataclass(frozen=True)
class DemoResult:
    workspace: Path
    retention: DayNRetention
    users_by_channel: dict[str, int]
    truth: dict[tuple[str, int], float]
    seconds: dict[str, float]


def planted_truth(world: Path) -> dict[tuple[str, int], float]:
    """(channel, day) -> the generator's exact expected day-N retention."""
    path = world / "truth" / "channel_retention.parquet"
    if not path.exists():
        return {}
    rows = pq.read_table(path, columns=["channel", "day", "expected_share"]).to_pylist()
    return {
        (r["channel"], int(r["day"])): float(r["expected_share"])
        for r in rows
        if int(r["day"]) in DAYS and r["expected_share"] is not None
    }


def run_demo(directory: Path, users: int, days: int, seed: int) -> DemoResult:
    seconds: dict[str, float] = {}
    world = directory / "world"
    ws_path = directory / "demo.duckdb"
    t0 = time.perf_counter()
    if world.exists():
        shutil.rmtree(world)
    run_generate(world, users, days, seed)
    seconds["generate"] = time.perf_counter() - t0
    for stale in (ws_path, ws_path.with_suffix(".duckdb.wal")):
        stale.unlink(missing_ok=True)
    t0 = time.perf_counter()
    with Workspace.open(ws_path, tz=DEMO_TZ) as ws:
        for table, name in TABLES:
            with progress_bar(f"ingesting {table}") as update:
                ws.ingest(world / name, table=table, progress=update)
        seconds["ingest"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        retention = day_n_retention(ws, DAYS, by="channel")
        users_tab = ws.table("users")
        counts = ws.engine.to_arrow(users_tab.group_by("channel").aggregate(n=users_tab.count()))
        seconds["metrics"] = time.perf_counter() - t0
    return DemoResult(
        workspace=ws_path,
        retention=retention,
        users_by_channel={r["channel"]: r["n"] for r in counts.to_pylist()},
        truth=planted_truth(world),
        seconds=seconds,
    )


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def demo(
    directory: Annotated[Path, typer.Option("--dir", help="Where the world and the workspace are written.")] = Path(
        "liuliang-demo"
    ),
    users: UsersOpt = 20_000,
    days: DaysOpt = 120,
    seed: SeedOpt = 0,
    fmt: FormatOpt = OutputFormat.table,
) -> None:
    """Generate a Spring-Festival subsidy world, ingest it and print users and D1/D7/D30 retention by channel."""
    result = run_demo(directory, users, days, seed)
    rows: list[dict[str, Any]] = []
    for channel in result.retention.groups():
        row: dict[str, Any] = {"channel": channel, "users": result.users_by_channel.get(channel, 0)}
        for d in DAYS:
            row[f"d{d}"] = result.retention.rate(channel, d)
            row[f"d{d}_planted"] = result.truth.get((channel, d))
        rows.append(row)
    rows.sort(key=lambda r: -r["users"])
    if fmt is OutputFormat.json:
        print_json({"workspace": str(result.workspace), "channels": rows, "seconds": result.seconds})
        return
    grid = Table(title="Did the subsidy buy habits? Day-N retention by acquisition channel", title_justify="left")
    grid.add_column("channel", no_wrap=True)
    grid.add_column("users", justify="right")
    for d in DAYS:
        grid.add_column(f"D{d}", justify="right")
        grid.add_column("truth", justify="right", style="dim")
    for r in rows:
        cells = [r["channel"], f"{r['users']:,}"]
        for d in DAYS:
            cells += [_pct(r[f"d{d}"]), _pct(r[f"d{d}_planted"])]
        grid.add_row(*cells)
    out.print(grid)
    out.print("First-time cohorts, active on day N (Asia/Shanghai days); truth = the generator's planted expectation.")
    timing = ", ".join(f"{k} {v:.1f}s" for k, v in result.seconds.items())
    err.print(f"[dim]{timing}[/dim]")
    out.print(f"workspace: {result.workspace}  (try: liuliang info -w {result.workspace})")
