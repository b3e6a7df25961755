"""Load the activity reference's plain-Python worlds into a workspace (shared by the activity and lifecycle tests)."""

from __future__ import annotations

import pyarrow as pa

import liuliang

NY = "America/New_York"


def load(ws: liuliang.Workspace, events, users) -> liuliang.Workspace:
    """``events``: (user_id, naive-UTC ts, event) tuples; ``users``: user_id -> {signup_ts, channel}."""
    ws.ingest(
        pa.table(
            {
                "user_id": [e[0] for e in events],
                "ts": pa.array([e[1] for e in events], pa.timestamp("us")),
                "event": [e[2] for e in events],
            }
        )
    )
    if users:
        ids = sorted(users)
        ws.ingest(
            pa.table(
                {
                    "user_id": ids,
                    "signup_ts": pa.array([users[u]["signup_ts"] for u in ids], pa.timestamp("us")),
                    "channel": pa.array([users[u]["channel"] for u in ids], pa.string()),
                }
            ),
            table="users",
        )
    return ws


def open_world(events, users, tz: str = NY, week_start: str = "monday") -> liuliang.Workspace:
    return load(liuliang.Workspace.open(":memory:", tz=tz, week_start=week_start), events, users)
