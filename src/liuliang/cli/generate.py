"""``liuliang generate``: write a festival world with planted ground truth."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from liuliang.cli.common import FormatOpt, OutputFormat, out, print_json, progress_bar

UsersOpt = Annotated[int, typer.Option("--users", "-n", help="Consumers to simulate (about 100 events each).")]
DaysOpt = Annotated[int, typer.Option("--days", help="Length of the observed window in days.")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Random seed; the same seed gives the same files.")]


def manifest_dict(manifest: Any) -> dict[str, Any]:
    """A JSON-ready view of a :class:`~liuliang.simulate.WorldManifest` (paths as text)."""

    def plain(value: Any) -> Any:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, dict):
            return {str(k): plain(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [plain(v) for v in value]
        if isinstance(value, int | float | bool) or value is None:
            return value
        return str(value)

    return plain(manifest)


def run_generate(out_dir: Path, users: int, days: int, seed: int) -> Any:
    from liuliang.simulate import WorldConfig, generate_world

    config = WorldConfig(n_users=users, days=days, seed=seed)
    with progress_bar("generating world") as update:
        return generate_world(config, out_dir, progress=lambda done, total: update(done, total))


def generate(
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Directory to write the world to.")] = Path("world"),
    users: UsersOpt = 20_000,
    days: DaysOpt = 120,
    seed: SeedOpt = 0,
    fmt: FormatOpt = OutputFormat.table,
) -> None:
    """Generate users, events, incentives, an experiment and couriers, plus the ground truth behind them."""
    manifest = run_generate(out_dir, users, days, seed)
    data = manifest_dict(manifest)
    if fmt is OutputFormat.json:
        print_json(data)
        return
    grid = Table(title=f"world written to {out_dir}", title_justify="left", show_header=False)
    for key, value in data.items():
        if key.startswith("n_"):
            grid.add_row(key[2:].replace("_", " "), f"{value:,}")
    out.print(grid)
