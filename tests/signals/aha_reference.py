"""Plain-Python twins for the aha tests (no liuliang code): per-user behaviour flags and day-N retention from raw
event lists, the post-stratified difference by explicit loops, and a synthetic log with planted truth."""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from itertools import combinations
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa

EPOCH = dt.date(1970, 1, 1)


def local_day(ts_utc: dt.datetime, tz: str) -> int:
    return (ts_utc.replace(tzinfo=dt.UTC).astimezone(ZoneInfo(tz)).date() - EPOCH).days


def reference_users(
    rows: Iterable[dict[str, Any]],
    channels: dict[str, str],
    *,
    tz: str,
    days: int,
    horizon: int,
    thresholds: Sequence[int],
    criterion: str,
    data_end: dt.datetime,
    sets: int = 0,
    set_events: int = 6,
) -> tuple[dict[str, dict[str, Any]], int, list[str]]:
    """(observed users' rows by user_id, users with a first day, candidate events ordered as liuliang orders them).

    ``rows``: dicts with ``user_id``, ``ts`` (naive UTC) and ``event``. Events after ``data_end`` do not exist yet.
    Feature sets (``sets`` >= 2): every 2- (.. ``sets``-) combination of the first ``set_events`` events, column
    ``set:a + b``: 1 when the user has each of them at least once in the early window, from the raw rows.
    """
    end_day = local_day(data_end, tz)
    active: dict[str, set[int]] = defaultdict(set)
    per_day_event: list[tuple[str, int, str]] = []
    for r in rows:
        if r["ts"] > data_end:
            continue
        day = local_day(r["ts"], tz)
        active[r["user_id"]].add(day)
        per_day_event.append((r["user_id"], day, r["event"]))
    first = {u: min(ds) for u, ds in active.items()}
    observed = {u for u, a in first.items() if a + horizon < end_day}
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for u, day, event in per_day_event:
        if u in observed and 0 <= day - first[u] < days:
            counts[u][event] += 1
    doers: dict[str, set[str]] = defaultdict(set)
    for u, by_event in counts.items():
        for e in by_event:
            doers[e].add(u)
    events = sorted(doers, key=lambda e: (-len(doers[e]), e))
    top = events[:set_events]
    combos = [c for r in range(2, sets + 1) for c in combinations(top, r)]
    seen: dict[str, set[str]] = defaultdict(set)  # user -> names seen in the early window, straight from the rows
    for u, day, event in per_day_event:
        if u in observed and 0 <= day - first[u] < days:
            seen[u].add(event)
    out: dict[str, dict[str, Any]] = {}
    for u in observed:
        a = first[u]
        offsets = {d - a for d in active[u]}
        retained = (horizon in offsets) if criterion == "on" else any(o >= horizon for o in offsets)
        row: dict[str, Any] = {
            "first_day": a,
            "channel": channels.get(u, "(none)"),
            "early_active_days": sum(1 for o in offsets if 0 <= o < days),
            "retained": int(retained),
        }
        for e in events:
            row[f"count:{e}"] = counts[u].get(e, 0)
            for k in thresholds:
                row[f"{e}>={k}"] = int(counts[u].get(e, 0) >= k)
        for c in combos:
            row["set:" + " + ".join(c)] = int(all(e in seen[u] for e in c))
        out[u] = row
    return out, len(first), events


def stratified_reference(y: Sequence[float], t: Sequence[bool], strata: Sequence[int], *, z: float, min_cell: int):
    """(effect, se, overlap share, strata used) by explicit per-stratum loops; effect None when no overlap."""
    cells: dict[int, list[list[float]]] = defaultdict(lambda: [[], []])
    for yi, ti, si in zip(y, t, strata, strict=True):
        cells[si][1 if ti else 0].append(yi)
    used = {s: c for s, c in cells.items() if len(c[0]) >= min_cell and len(c[1]) >= min_cell}
    if not used:
        return None, None, 0.0, 0
    total = sum(len(c[0]) + len(c[1]) for c in used.values())
    effect = var = 0.0
    for c0, c1 in used.values():
        w = (len(c0) + len(c1)) / total
        effect += w * (sum(c1) / len(c1) - sum(c0) / len(c0))
        q1 = (sum(c1) + 1) / (len(c1) + 2)
        q0 = (sum(c0) + 1) / (len(c0) + 2)
        var += w * w * (q1 * (1 - q1) / len(c1) + q0 * (1 - q0) / len(c0))
    return effect, math.sqrt(var), total / len(y), len(used)


# -- a log with planted truth -----------------------------------------------------------------------------------------
TZ = "Asia/Shanghai"
START = dt.date(2024, 3, 1)  # local day 0
SPAN = 45  # local days 0 .. 44 are complete at data_end
PLANTED_ASK = 0.25  # the retention the "ask" habit adds, whatever else the user does


def utc_noon(day: int) -> dt.datetime:
    """Local noon of local day ``day`` (from START) as naive UTC."""
    local = dt.datetime.combine(START + dt.timedelta(days=day), dt.time(12), ZoneInfo(TZ))
    return local.astimezone(dt.UTC).replace(tzinfo=None)


def planted_log(seed: int = 7, n_users: int = 2000) -> tuple[pa.Table, pa.Table, dt.datetime]:
    """(events, users, data_end). Engagement (unrecorded) depends on the channel and drives early activity and day-30
    retention; ``browse`` fires on each early active day with probability 0.6, so given the number of early active
    days it says nothing more (a marker); ``ask`` comes from an independent habit that itself adds
    :data:`PLANTED_ASK` to day-30 retention (a cause); ``app_open`` opens every active day (activity itself).
    ``share`` fires on each early active day with probability 0.4, like ``browse`` a marker, so the feature set
    ``{browse, share}`` is a *confounded set*: users seen on more days have more chances to do both, its raw
    difference is large, and given early activity it says nothing. ``share`` draws from its own generator, so the
    other events are those of the log without it. One in ten users arrives after day 14 and is not yet observed on
    day 30."""
    rng = np.random.default_rng(seed)
    rng_share = np.random.default_rng(seed + 10_000)
    uid, ts, ev = [], [], []
    channel = rng.choice(["organic", "red_packet"], size=n_users)
    engaged = rng.random(n_users) < np.where(channel == "organic", 0.6, 0.3)
    habit = rng.random(n_users) < 0.35
    late = rng.random(n_users) < 0.1
    first = np.where(late, rng.integers(15, 35, n_users), rng.integers(0, 10, n_users))
    q = np.where(engaged, 0.8, 0.25)
    retain = rng.random(n_users) < 0.05 + 0.40 * engaged + PLANTED_ASK * habit
    for i in range(n_users):
        u = f"u{i:05d}"

        def emit(day: int, event: str, second: int = 0, u: str = u) -> None:
            uid.append(u)
            ts.append(utc_noon(day) + dt.timedelta(seconds=second))
            ev.append(event)

        a = int(first[i])
        for off in range(0, SPAN - a):
            if off < 7:
                if off > 0 and rng.random() >= q[i]:
                    continue
                emit(a + off, "app_open")
                if rng.random() < 0.6:
                    emit(a + off, "browse", 60)
                if habit[i] and rng.random() < 0.8:
                    emit(a + off, "ask", 120)
                if rng_share.random() < 0.4:
                    emit(a + off, "share", 180)
            elif off == 30:
                if retain[i]:
                    emit(a + off, "app_open")
            elif rng.random() < 0.3 * q[i]:
                emit(a + off, "app_open")
    events = pa.table(
        {"user_id": uid, "ts": pa.array(ts, pa.timestamp("us")).cast(pa.timestamp("us", tz="UTC")), "event": ev}
    )
    users = pa.table({"user_id": [f"u{i:05d}" for i in range(n_users)], "channel": channel.tolist()})
    end = dt.datetime.combine(START + dt.timedelta(days=SPAN), dt.time(), ZoneInfo(TZ))
    return events, users, end.astimezone(dt.UTC).replace(tzinfo=None)
