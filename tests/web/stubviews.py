"""Stand-in view builders for the dashboard tests: small, fast, and with numbers a test can recompute by hand.

The dashboard must not depend on what the real views compute, only on the ``View`` contract, so most API tests swap
the registry (``liuliang.report.view.VIEWS``) for these.
"""

from __future__ import annotations

import datetime as dt
import time

import ibis
import plotly.graph_objects as go
import pyarrow as pa

from liuliang.errors import LiuliangError
from liuliang.report.view import View, ViewSpec, pick
from liuliang.warehouse import Workspace
from liuliang.warehouse.periods import day_number

#: Builds per view key, so a test can tell a cached answer from a recomputed one.
CALLS: dict[str, int] = {}
#: Set ``seconds`` to make ``slow`` take that long for weekly periods (the browser test's spinner check).
DELAY = {"seconds": 0.0}


def _count(key: str) -> None:
    CALLS[key] = CALLS.get(key, 0) + 1


def active_users(ws: Workspace, spec: ViewSpec) -> View:
    """Distinct active users per breakdown value between start and end (user_day rollup), as bars."""
    _count("active")
    ud = ws.user_day()
    if spec.start is not None:
        ud = ud.filter(ud.day >= day_number(spec.start))
    if spec.end is not None:
        ud = ud.filter(ud.day <= day_number(spec.end))
    if spec.breakdown:
        users = ws.table("users")
        ud = ud.join(users.select("user_key", group=users[spec.breakdown].cast("string")), "user_key")
    else:
        ud = ud.mutate(group=ibis.literal("all"))
    agg = ud.group_by("group").aggregate(users=ud.user_key.nunique(), user_days=ud.count()).order_by("group")
    table = ws.engine.to_arrow(agg)
    fig = go.Figure(
        go.Bar(x=table["group"].to_pylist(), y=table["users"].to_pylist(), name=pick(spec.lang, "users", "用户"))
    )
    total = sum(table["users"].to_pylist())
    return View(
        key="active",
        title=pick(spec.lang, "Active users", "活跃用户"),
        reading=pick(spec.lang, f"{total:,} users were active.", f"共 {total:,} 名用户活跃。"),
        figure=fig,
        table=table,
    )


def echo(ws: Workspace, spec: ViewSpec) -> View:
    """The knobs the builder received, as a one-row table (checks what the API passes on)."""
    _count("echo")
    row = {k: [None if v is None else str(v)] for k, v in spec.to_dict().items()}
    row["nan"] = [float("nan")]
    row["when"] = [dt.date(2026, 1, 1)]
    return View(key="echo", title="Echo", reading=pick(spec.lang, "The knobs.", "参数。"), table=pa.table(row))


def missing(ws: Workspace, spec: ViewSpec) -> View:
    """A view whose data is absent: build_view turns the error into a note."""
    _count("missing")
    raise LiuliangError("no experiments in this workspace")


def slow(ws: Workspace, spec: ViewSpec) -> View:
    """Waits ``DELAY['seconds']`` when the period is a week, so the page has a request in flight to show."""
    _count("slow")
    if spec.period == "week":
        time.sleep(DELAY["seconds"])
    return View(key="slow", title="Slow", reading=pick(spec.lang, f"Period: {spec.period}.", f"周期：{spec.period}。"))


def registry(*names: str) -> dict[str, str]:
    """A ``VIEWS`` registry of the named builders of this module."""
    return {name: f"{__name__}:{fn}" for name, fn in ((n, {"active": "active_users"}.get(n, n)) for n in names)}
