"""What the CLI test files share: running the app in-process, and a generated world ingested into a workspace."""

from __future__ import annotations

from pathlib import Path

import liuliang
from liuliang.cli.app import main
from liuliang.simulate import WorldConfig, generate_world

#: ``events`` comes from the world's event directory, the other tables from their Parquet files.
SOURCES = {
    "events": "events",
    "users": "users.parquet",
    "incentives": "incentives.parquet",
    "assignments": "assignments.parquet",
}


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of ``liuliang <argv>`` run in this process."""
    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def world_workspace(config: WorldConfig, base: Path, tables: tuple[str, ...] = tuple(SOURCES)) -> Path:
    """Generate ``config``'s world under ``base`` and ingest ``tables`` into ``base/ws.duckdb``."""
    generate_world(config, base / "world")
    path = base / "ws.duckdb"
    with liuliang.Workspace.open(path, tz=config.tz) as ws:
        for table in tables:
            ws.ingest(base / "world" / SOURCES[table], table=table)
    return path
