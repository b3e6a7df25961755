"""The aggregated path for calendar periods counting users: one small group-by query, cells shaped in Python.

With calendar periods every member of a cohort has the same end offset (``period(data_end) - cohort``), so
observation and incompleteness are properties of the (cohort, cell) and need no per-member grid. The query then
only has to return, per (breakdown, cohort):

- ``kind = SIZE``: the number of members (left out when the hits already hold it: :func:`sizes_from_hits`);
- ``kind = HIT``: for ``on`` the members active at each offset ``key``; for ``brackets`` the members active in
  bracket ``key`` (a member active twice in a bracket counts once);
- ``kind = LAST`` / ``FIRST``: for ``on_or_after`` / ``on_or_before``, how many members have ``key`` as their
  largest / smallest active offset (the cells are then suffix / prefix sums of this histogram).

That is the same join and group-by a hand-written query does (members joined to the ``user_day`` rollup), with no
member x cell cross join, no window function and no temporary tables; :func:`shape` turns the few hundred rows into
the :data:`RESULT_SCHEMA` table by the definitions in :mod:`.spec`.
"""

from __future__ import annotations

from collections import defaultdict

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from liuliang.metrics.retention.cohorts import ALL, Clock
from liuliang.metrics.retention.result import RESULT_SCHEMA
from liuliang.metrics.retention.spec import RetentionSpec

SIZE, HIT, LAST, FIRST = 0, 1, 2, 3
CRITERIA = ("on", "on_or_after", "on_or_before", "brackets")
COLUMNS = ("breakdown", "cohort", "kind", "key", "n")


def applies(spec: RetentionSpec, fine: bool) -> bool:
    """Whether the aggregated path computes ``spec`` (else the general member x cell path does)."""
    return spec.window == "calendar" and spec.aggregation == "users" and spec.criterion in CRITERIA and not fine


def sizes_from_hits(spec: RetentionSpec) -> bool:
    """Whether cohort sizes can be read off the hits instead of a second pass over the members.

    When the start event is also a return event (and one occurrence suffices), every member is active at offset 0,
    so the offset-0 hit count (``on``) or the histogram's total (``on_or_after``) *is* the cohort size. Measured at
    98.7M events: counting the members separately re-ran their first-day aggregation and cost a third of the query.
    """
    return (
        spec.cohorting != "signup"
        and spec.start_events == spec.return_events
        and spec.min_occurrences == 1
        and spec.criterion in ("on", "on_or_after")
    )


def _rows(t: ir.Table, kind: int, key: ir.Value, n: ir.Value) -> ir.Table:
    return t.select(
        breakdown=t.breakdown,
        cohort=t.cohort.cast("int64"),
        kind=ibis.literal(kind, "int8"),
        key=key.cast("int64"),
        n=n.cast("int64"),
    )


def counts_expr(spec: RetentionSpec, clock: Clock, m: ir.Table, returns: ir.Table, unique_days: bool) -> ir.Table:
    """``(breakdown, cohort, kind, key, n)`` rows; ``m`` = members ``(user_key, cohort, breakdown)``, ``returns`` =
    day-grain activity; ``unique_days``: returns have one row per (user, period), so no dedupe is needed."""
    from_hits = sizes_from_hits(spec)
    first = 1 if spec.period_zero == "cohort" and not from_hits else 0
    j = returns.select("user_key", "day", "n").join(m, "user_key")
    j = j.select("user_key", "cohort", "breakdown", "n", offset=clock.cohort_of(j.day, None) - j.cohort)
    j = j.filter(j.offset >= first)
    if spec.criterion in ("on", "on_or_before"):
        j = j.filter(j.offset <= spec.periods)
    elif spec.criterion == "brackets":
        j = j.filter(j.offset <= spec.brackets[-1])
    if not unique_days:
        j = j.group_by(["user_key", "cohort", "breakdown", "offset"]).aggregate(n=j.n.sum())
    if spec.min_occurrences > 1:
        j = j.filter(j.n >= spec.min_occurrences)
    if spec.criterion == "on":
        h = j.group_by(["breakdown", "cohort", "offset"]).aggregate(n=j.count())
        hits = _rows(h, HIT, h.offset, h.n)
    elif spec.criterion == "brackets":
        bucket = ibis.cases(*[(j.offset <= hi, i) for i, (_, _, hi) in enumerate(spec.cells())])
        b = j.select("user_key", "cohort", "breakdown", bucket=bucket).distinct()
        h = b.group_by(["breakdown", "cohort", "bucket"]).aggregate(n=b.count())
        hits = _rows(h, HIT, h.bucket, h.n)
    else:
        kind = LAST if spec.criterion == "on_or_after" else FIRST
        ext = j.offset.max() if kind == LAST else j.offset.min()
        per = j.group_by(["user_key", "cohort", "breakdown"]).aggregate(key=ext)
        h = per.group_by(["breakdown", "cohort", "key"]).aggregate(n=per.count())
        hits = _rows(h, kind, h.key, h.n)
    if from_hits:
        return hits
    sizes = m.group_by(["breakdown", "cohort"]).aggregate(n=m.count())
    return _rows(sizes, SIZE, ibis.literal(0), sizes.n).union(hits, distinct=False)


def shape(spec: RetentionSpec, rows: pa.Table, end: int, cohort_range: tuple[int | None, int | None]) -> pa.Table:
    """The result table from the count rows; ``end`` = period of ``data_end``; empty cohorts of the range added."""
    sizes: dict[tuple[str, int], int] = {}
    hist: dict[tuple[str, int], dict[int, int]] = defaultdict(dict)
    for r in rows.to_pylist():
        key = (r["breakdown"], r["cohort"])
        if r["kind"] == SIZE:
            sizes[key] = r["n"]
        else:
            hist[key][r["key"]] = r["n"]
    if sizes_from_hits(spec):  # every member is a hit at offset 0 (see sizes_from_hits)
        for key, h in hist.items():
            sizes[key] = h.get(0, 0) if spec.criterion == "on" else sum(h.values())
    lo, hi = cohort_range
    groups = set(sizes)
    if lo is not None:
        values = {b for b, _ in sizes} if spec.breakdown is not None else {ALL}
        top = end if hi is None else min(hi, end)
        groups |= {(b, c) for b in values for c in range(lo, top + 1)}
    cells = spec.cells()
    keys = sorted(groups)
    cols: dict[str, list] = {name: [] for name in RESULT_SCHEMA.names}
    zero_is_cohort = spec.period_zero == "cohort"
    observed_only = spec.denominator == "observed"
    previous = spec.reference == "previous"
    for b, c in keys:
        size, h = sizes.get((b, c), 0), hist.get((b, c), {})
        prev = 0.0
        for k, off_lo, off_hi in cells:
            if zero_is_cohort and k == 0:
                count = size
            elif spec.criterion in ("on", "brackets"):
                count = h.get(k, 0)
            elif spec.criterion == "on_or_after":
                count = sum(n for a, n in h.items() if a >= off_lo)
            else:
                count = sum(n for a, n in h.items() if a <= off_hi)
            elapsed = end - c > off_hi
            if observed_only and not elapsed:
                count = 0
            observed = size if elapsed else 0
            value = float(count)
            base = prev if previous and k > 0 else float(observed if observed_only else size)
            prev = value
            cols["count"].append(count)
            cols["observed"].append(observed)
            cols["value"].append(value)
            cols["base"].append(base)
            cols["rate"].append(value / base if base else None)
            cols["incomplete"].append(not elapsed)
    n_cells = len(cells)
    cols["breakdown"] = [b for b, _ in keys for _ in range(n_cells)]
    cols["cohort"] = [c for _, c in keys for _ in range(n_cells)]
    cols["cohort_size"] = [sizes.get(key, 0) for key in keys for _ in range(n_cells)]
    for i, name in enumerate(("period_offset", "offset_lo", "offset_hi")):
        cols[name] = [cell[i] for cell in cells] * len(keys)
    return pa.table(cols, schema=RESULT_SCHEMA)
