"""The per-user-per-day rollups every metric reads instead of raw events.

``user_day_event``: one row per (user, local day, event name) — counts, amount and first/last time, so
metrics with a specific start or return event and a minimum number of occurrences read it directly.
``user_day``: one row per (user, local day) over all events — the table behind "any event" metrics.

Why maintained at ingest: building the distinct (user, day) set is ~90% of the cost of a retention query on
raw events (shared/engine-notes.md), while merging one new day into a kept rollup takes a fraction of a second.
The merge is additive — counts and sums add, first/last take min/max — so only the (user, day) keys touched by
new events are rewritten.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from liuliang.warehouse import tables as T
from liuliang.warehouse.engine import Engine, conform

_DAY_EVENT_KEYS = ["user_key", "day", "event"]
_DAY_KEYS = ["user_key", "day"]


def day_event_delta(events: ir.Table, ingest_id: int | None) -> ir.Table:
    """Aggregate raw events into ``user_day_event`` rows (``ingest_id`` None: keep each group's latest)."""
    return events.group_by(_DAY_EVENT_KEYS).aggregate(
        events=events.count(),
        amount=events.amount.sum().fill_null(0.0),
        first_ts=events.ts.min(),
        last_ts=events.ts.max(),
        _ingest=events._ingest.max() if ingest_id is None else ibis.literal(ingest_id, "int64"),
    )


def day_delta(day_events: ir.Table) -> ir.Table:
    """Collapse ``user_day_event``-shaped rows to ``user_day`` rows."""
    return day_events.group_by(_DAY_KEYS).aggregate(
        events=day_events.events.sum(),
        amount=day_events.amount.sum(),
        first_ts=day_events.first_ts.min(),
        last_ts=day_events.last_ts.max(),
        _ingest=day_events._ingest.max(),
    )


def _merge(engine: Engine, name: str, delta: ir.Table, keys: list[str], day_range: tuple[int, int]) -> None:
    """Combine ``delta`` with the rows it touches, then swap those rows in place."""
    existing = engine.table(name)
    delta = conform(delta, existing.schema())
    lo, hi = day_range
    in_range = existing.filter(existing.day.between(lo, hi))
    if engine.to_arrow(in_range.limit(1).count().name("n").as_table())["n"][0].as_py() == 0:
        engine.append(name, delta.order_by(keys[:2]))  # new days only (the usual daily load): nothing to merge
        return
    touched = in_range.semi_join(delta, keys)
    both = touched.union(delta, distinct=False)
    merged = both.group_by(keys).aggregate(
        events=both.events.sum(),
        amount=both.amount.sum(),
        first_ts=both.first_ts.min(),
        last_ts=both.last_ts.max(),
        _ingest=both._ingest.max(),
    )
    tmp = f"_ll_merged_{name}"
    merged = engine.materialize(tmp, merged)
    try:
        engine.delete_matching(name, delta.select(keys), keys)
        engine.append(name, merged.order_by(keys[:2]))
    finally:
        engine.drop_temp(tmp)


def apply_new_events(engine: Engine, new_events: ir.Table, ingest_id: int, day_range: tuple[int, int]) -> None:
    """Fold the events an ingest added into both rollups (inside the ingest's transaction)."""
    tmp = "_ll_delta_user_day_event"
    delta = engine.materialize(tmp, day_event_delta(new_events, ingest_id))
    try:
        _merge(engine, T.USER_DAY_EVENT, delta, _DAY_EVENT_KEYS, day_range)
        _merge(engine, T.USER_DAY, day_delta(delta), _DAY_KEYS, day_range)
    finally:
        engine.drop_temp(tmp)


def rebuild(engine: Engine) -> None:
    """Recompute both rollups from ``events`` (after a repair, or to check the incremental path)."""
    events = engine.table(T.EVENTS)
    per_event = day_event_delta(events, None)
    engine.rewrite(T.USER_DAY_EVENT, per_event.order_by(_DAY_KEYS))
    engine.rewrite(T.USER_DAY, day_delta(engine.table(T.USER_DAY_EVENT)).order_by(_DAY_KEYS))
