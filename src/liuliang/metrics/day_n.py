"""Day-N retention by a user attribute, read from the ``user_day`` rollup.

The headline question after a subsidy campaign — what share of the users each channel brought is still active
on day 1, 7 and 30 — answered the way PostHog/Amplitude call "first-time, on day N, daily": a user's cohort day is
their first active local day, and they count as retained on day N if they have any event on cohort day + N.
A user whose day N lies after the last day in the data is *not observable* and is left out of both numerator and
denominator, so young cohorts do not drag the rate down.

(The full retention engine with every PostHog / Amplitude / Mixpanel knob builds on the same rollup.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from liuliang._display import dataclass_html
from liuliang.warehouse import Workspace
from liuliang.warehouse import tables as T

UNKNOWN = "(unknown)"


@dataclass(frozen=True)
class DayNRetention:
    """Long table: one row per (group, day N) with cohort users, observable users, retained users and rate."""

    by: str | None
    days: tuple[int, ...]
    table: pa.Table
    last_day: int | None

    def to_arrow(self) -> pa.Table:
        return self.table

    def _repr_html_(self) -> str:
        return dataclass_html(self)

    def to_pandas(self):
        return self.table.to_pandas()

    def rate(self, group: str, day: int) -> float | None:
        for row in self.table.to_pylist():
            if row["group"] == group and row["day"] == day:
                return row["rate"]
        raise KeyError((group, day))

    def groups(self) -> list[str]:
        return sorted({r["group"] for r in self.table.to_pylist()})

    def to_dict(self) -> dict[str, object]:
        return {"by": self.by, "days": list(self.days), "last_day": self.last_day, "rows": self.table.to_pylist()}


def day_n_expr(
    user_day: ir.Table, groups: ir.Table | None, days: Sequence[int], group_col: str, last_day: int
) -> ir.Table:
    """Build (not run) the day-N retention query; ``groups`` maps user_key to ``group_col`` (or is None).

    ``last_day`` is the last local day with data (resolved before building, so the query has no subquery).
    """
    first = user_day.group_by("user_key").aggregate(cohort_day=user_day.day.min())
    if groups is not None:
        first = first.left_join(groups, "user_key").select(
            "user_key", "cohort_day", group=groups[group_col].fill_null(UNKNOWN)
        )
    else:
        first = first.mutate(group=ibis.literal("all"))
    offsets = ibis.memtable({"day": list(days)}, schema={"day": "int32"})
    grid = first.cross_join(offsets)
    grid = grid.mutate(
        target=grid.cohort_day + grid.day, observable=(grid.cohort_day + grid.day) <= ibis.literal(last_day)
    )
    active = user_day.select("user_key", target=user_day.day, hit=ibis.literal(1))
    joined = grid.left_join(active, ["user_key", "target"])
    out = joined.group_by(["group", "day"]).aggregate(
        users=joined.user_key.nunique(),
        observable=joined.observable.cast("int64").sum(),
        retained=(joined.observable & joined.hit.notnull()).cast("int64").sum(),
    )
    return out.mutate(
        rate=ibis.ifelse(out.observable > 0, out.retained.cast("float64") / out.observable, ibis.null("float64"))
    ).order_by(["group", "day"])


def day_n_retention(ws: Workspace, days: Sequence[int] = (1, 7, 30), by: str | None = "channel") -> DayNRetention:
    """Day-N retention of every user, grouped by a column of the ``users`` table (``by=None``: everyone)."""
    user_day = ws.user_day()
    groups = None
    if by is not None:
        if not ws.has_table(T.USERS) or by not in ws.table(T.USERS).columns:
            groups = None
            by = None
        else:
            groups = ws.table(T.USERS).select("user_key", by)
    last = ws.engine.to_arrow(user_day.aggregate(m=user_day.day.max()))["m"][0].as_py()
    if last is None:
        return DayNRetention(by=by, days=tuple(days), table=pa.table({}), last_day=None)
    table = ws.engine.to_arrow(day_n_expr(user_day, groups, days, by or "", last))
    return DayNRetention(by=by, days=tuple(days), table=table, last_day=last)
