"""The generated workspace the metric benchmarks share (built once per scratch directory, reused after)."""

from __future__ import annotations

import shutil
from pathlib import Path

from liuliang.simulate import WorldConfig, generate_world
from liuliang.warehouse import Workspace

TZ = "Asia/Shanghai"


def ensure_workspace(scratch: Path, users: int) -> Path:
    """``<scratch>/metrics.duckdb`` with the users and events of a generated world; ingest time is not measured here."""
    world, ws_path = scratch / "world", scratch / "metrics.duckdb"
    if not ws_path.exists():
        if world.exists():
            shutil.rmtree(world)
        print(f"generating {users:,} users and ingesting (not timed here; see bench_ingest.py)", flush=True)
        generate_world(WorldConfig(n_users=users), world)
        with Workspace.open(ws_path, tz=TZ) as ws:
            ws.ingest(world / "users.parquet", table="users")
            ws.ingest(world / "events")
    return ws_path
