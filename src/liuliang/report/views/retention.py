"""Retention views: the cohort triangle (who came back, cohort by cohort) and the curves by breakdown value.

Both run :func:`liuliang.metrics.retention.retention` once and only reshape its long table, so the numbers on the
chart are the metric's numbers. The knobs map onto a :class:`~liuliang.metrics.retention.RetentionSpec`:

- ``preset`` picks the tool's defaults (window, denominator, what period 0 means, cohorting); ``None`` is liuliang's
  own (first time, calendar periods, the whole cohort as denominator);
- ``period`` and ``criterion`` are the filter bar's and always win over the preset's, so what the reader sees
  selected is what was computed (Mixpanel's preset says ``on_or_after``; choose it in the criterion control);
- ``start`` / ``end`` bound the cohorts; ``end`` is also ``data_end``, so nothing after it is counted;
- the grid is fixed per period (days 0-30, weeks 0-12): the presets' seven periods are too short to see a habit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from liuliang.errors import LiuliangError
from liuliang.metrics.retention import RetentionSpec, RetentionTable, retention
from liuliang.metrics.retention.presets import PRESETS
from liuliang.report.view import View, ViewSpec, pct, pick

if TYPE_CHECKING:
    from liuliang.warehouse import Workspace

#: Last offset shown per period: a month of days, a quarter of weeks.
OFFSETS = {"day": 30, "week": 12}
#: Offsets the readings quote, when their cells have fully elapsed for some cohort.
QUOTED = {"day": (1, 7, 30), "week": (1, 4, 12)}
#: Most recent cohorts drawn in the triangle (60 x 31 cells keeps the figure light).
MAX_COHORTS = 60
#: Breakdown values drawn as curves (the largest ones; more lines cannot be told apart).
MAX_SERIES = 10

POOLED_SCHEMA = pa.schema(
    [
        ("breakdown", pa.string()),
        ("offset", pa.int64()),
        ("cohorts", pa.int64()),
        ("users", pa.int64()),
        ("retained", pa.int64()),
        ("rate", pa.float64()),
    ]
)


# -- shared with the other metric views ------------------------------------------------------------------------------
def offset_name(lang: str, period: str, k: int) -> str:
    """``day 7`` / ``第 7 天``: how a reading names one offset."""
    if period == "week":
        return pick(lang, f"week {k}", f"第 {k} 周")
    if period == "month":
        return pick(lang, f"month {k}", f"第 {k} 月")
    return pick(lang, f"day {k}", f"第 {k} 天")


def offset_axis(lang: str, period: str) -> str:
    names = {
        "day": ("Days since first activity", "首次活跃后的天数"),
        "week": ("Weeks since first activity", "首次活跃后的周数"),
        "month": ("Months since first activity", "首次活跃后的月数"),
    }
    en, zh = names[period]
    return pick(lang, en, zh)


def series_list(lang: str, items: list[str]) -> str:
    """``a, b and c`` / ``a、b 和 c``."""
    if len(items) <= 1:
        return "".join(items)
    return pick(lang, f"{', '.join(items[:-1])} and {items[-1]}", f"{'、'.join(items[:-1])} 和 {items[-1]}")


def breakdown_label(lang: str, value: str) -> str:
    return pick(lang, "all users", "全部用户") if value == "all" else value


# -- the query ---------------------------------------------------------------------------------------------------------
def retention_spec(spec: ViewSpec, *, breakdown: str | None) -> RetentionSpec:
    """The metric spec the view's knobs ask for (see the module docstring for which knob wins)."""
    if spec.preset is not None and spec.preset not in PRESETS:
        raise LiuliangError(f"preset must be one of {', '.join(PRESETS)} or none; got {spec.preset!r}")
    make = PRESETS[spec.preset] if spec.preset else RetentionSpec
    knobs: dict[str, Any] = {"period": spec.period, "periods": OFFSETS[spec.period], "breakdown": breakdown}
    if spec.criterion is not None:  # (a spec without one would keep the preset's)
        knobs["criterion"] = spec.criterion
    return make(date_from=spec.start, date_to=spec.end, **knobs)


def run(ws: Workspace, spec: ViewSpec, *, breakdown: str | None) -> RetentionTable:
    return retention(ws, retention_spec(spec, breakdown=breakdown), data_end=spec.data_end(ws.settings.tz))


def pooled(table: pa.Table) -> pa.Table:
    """Retention per (breakdown, offset) pooled over the cohorts whose cell has fully elapsed: the summed retained
    counts over the summed denominators (``RetentionTable.mean(weighted=True)``), so a cohort weighs by its size
    and an unfinished period never drags a curve down. Done in Arrow: the metric's ``mean`` loops in Python."""
    done = table.filter(pc.and_(pc.invert(table["incomplete"]), pc.greater(table["base"], 0)))
    g = done.group_by(["breakdown", "period_offset"]).aggregate(
        [("cohort", "count"), ("base", "sum"), ("value", "sum")]
    )
    g = g.sort_by([("breakdown", "ascending"), ("period_offset", "ascending")])
    base, value = g["base_sum"], g["value_sum"]
    return pa.table(
        [
            g["breakdown"],
            g["period_offset"].cast(pa.int64()),
            g["cohort_count"].cast(pa.int64()),
            base.cast(pa.int64()),
            value.cast(pa.int64()),
            pc.divide(value, base),
        ],
        schema=POOLED_SCHEMA,
    )


@dataclass(frozen=True)
class _Quote:
    offset: int
    users: int
    rate: float


def quotes(pool: pa.Table, period: str, breakdown: str = "all") -> list[_Quote]:
    """The reading's offsets (day 1/7/30, week 1/4/12) that have a pooled rate for ``breakdown``."""
    rows = {r["offset"]: r for r in pool.to_pylist() if r["breakdown"] == breakdown}
    return [_Quote(k, rows[k]["users"], rows[k]["rate"]) for k in QUOTED[period] if k in rows]


def _active_phrase(lang: str, criterion: str, period: str, k: int) -> str:
    name = offset_name(lang, period, k)
    if criterion == "on_or_after":
        return pick(lang, f"on {name} or later", f"{name}及之后")
    return pick(lang, f"on {name}", name)


# -- views -------------------------------------------------------------------------------------------------------------
def retention_heatmap(ws: Workspace, spec: ViewSpec) -> View:
    """The cohort triangle: one row per cohort (its size on the label), one column per offset, the rate in each cell;
    cells whose period has not fully elapsed are drawn grey. Only the ``MAX_COHORTS`` most recent cohorts are drawn
    and tabled. Ignores ``breakdown``: one triangle of all users (the curves view splits by breakdown)."""
    lang = spec.lang
    rt = run(ws, spec, breakdown=None)
    t = rt.table
    cohorts = sorted(set(t["cohort"].to_pylist()))
    if not cohorts:
        raise LiuliangError(pick(lang, "no cohort in the chosen dates", "所选日期内没有同期群"))
    shown = cohorts[-MAX_COHORTS:]
    t = t.filter(pc.is_in(t["cohort"], pa.array(shown, pa.int64())))
    starts = {c: rt.cohort_start(c) for c in shown}
    table = pa.table(
        {
            "cohort": pa.array([starts[c] for c in t["cohort"].to_pylist()], pa.date32()),
            "offset": t["period_offset"],
            "size": t["cohort_size"],
            "retained": t["count"],
            "rate": t["rate"],
            "incomplete": t["incomplete"],
        }
    )
    pool = pooled(t)
    title = pick(lang, "Retention by cohort", "按同期群的留存")
    note = None
    if len(cohorts) > len(shown):
        note = pick(
            lang,
            f"The {len(shown)} most recent of {len(cohorts)} cohorts are shown.",
            f"仅显示 {len(cohorts)} 个同期群中最近的 {len(shown)} 个。",
        )
    reading = _heatmap_reading(lang, spec, t, starts, pool)
    return View("retention", title, reading, _heatmap_figure(lang, spec, t, starts), table, note)


def _heatmap_reading(lang: str, spec: ViewSpec, t: pa.Table, starts: dict[int, Any], pool: pa.Table) -> str:
    zero = t.filter(pc.equal(t["period_offset"], 0))
    users = int(pc.sum(zero["cohort_size"]).as_py() or 0)
    n = len(starts)
    first, last = min(starts.values()), max(starts.values())
    kind = pick(lang, "daily" if spec.period == "day" else "weekly", "按日" if spec.period == "day" else "按周")
    qs = [q for q in quotes(pool, spec.period) if q.offset > 0]
    if not qs:
        return pick(
            lang,
            f"{users:,} users started in the {n} {kind} cohorts from {first} to {last}; no period after the first "
            f"has fully elapsed yet.",
            f"{first} 至 {last} 的 {n} 个{kind}同期群共 {users:,} 名用户；首个周期之后还没有完整结束的周期。",
        )
    if lang == "zh":
        rest = "，".join(f"{_active_phrase(lang, spec.criterion, spec.period, q.offset)}为 {pct(q.rate)}" for q in qs)
        return (
            f"{first} 至 {last} 的 {n} 个{kind}同期群共 {users:,} 名用户中，仍活跃的比例：{rest}"
            f"（只计该周期已完整结束的同期群）。"
        )
    parts = [f"{pct(q.rate)} {_active_phrase(lang, spec.criterion, spec.period, q.offset)}" for q in qs]
    parts[0] = f"{pct(qs[0].rate)} were active {_active_phrase(lang, spec.criterion, spec.period, qs[0].offset)}"
    return (
        f"Of the {users:,} users in the {n} {kind} cohorts from {first} to {last}, {series_list(lang, parts)} "
        f"(pooled over the cohorts whose period has fully elapsed)."
    )


def _heatmap_figure(lang: str, spec: ViewSpec, t: pa.Table, starts: dict[int, Any]) -> Any:
    import plotly.graph_objects as go

    rows = t.select(["cohort", "period_offset", "cohort_size", "rate", "incomplete"]).to_pylist()
    order = sorted(starts)
    index = {c: i for i, c in enumerate(order)}
    offsets = list(range(OFFSETS[spec.period] + 1))
    done: list[list[float | None]] = [[None] * len(offsets) for _ in order]
    grey: list[list[float | None]] = [[None] * len(offsets) for _ in order]
    sizes = dict.fromkeys(order, 0)
    top = 0.0
    for r in rows:
        i, k = index[r["cohort"]], r["period_offset"]
        sizes[r["cohort"]] = r["cohort_size"]
        if r["rate"] is None:
            continue
        (grey if r["incomplete"] else done)[i][k] = round(r["rate"], 4)  # 0.01 pt: enough to draw, less JSON
        if not r["incomplete"] and k > 0:
            top = max(top, r["rate"])
    labels = [f"{starts[c]} · {sizes[c]:,}" for c in order]
    unit = pick(lang, "cohort", "同期群")
    hover = f"{unit} %{{y}}<br>%{{x}}: %{{z:.1%}}<extra></extra>"
    text = "%{z:.0%}" if len(order) * len(offsets) <= 400 else None
    scale = {"zmin": 0.0, "zmax": top or 1.0}
    traces = [
        go.Heatmap(
            z=done,
            x=offsets,
            y=labels,
            colorscale="Blues",
            name=pick(lang, "complete", "已结束"),
            colorbar={"title": {"text": pick(lang, "rate", "留存率")}, "tickformat": ".0%"},
            hovertemplate=hover,
            texttemplate=text,
            **scale,
        ),
        go.Heatmap(
            z=grey,
            x=offsets,
            y=labels,
            colorscale=[[0, "#e5e5e5"], [1, "#9a9a9a"]],
            showscale=False,
            name=pick(lang, "incomplete", "未结束"),
            hovertemplate=f"{unit} %{{y}}<br>%{{x}}: %{{z:.1%}} ({pick(lang, 'incomplete', '未结束')})<extra></extra>",
            texttemplate=text,
            **scale,
        ),
    ]
    layout = {
        "title": {"text": pick(lang, "Retention by cohort (grey: not yet elapsed)", "按同期群的留存（灰色：未结束）")},
        "xaxis": {"title": {"text": offset_axis(lang, spec.period)}, "dtick": 1 if spec.period == "week" else 5},
        "yaxis": {
            "title": {"text": pick(lang, "Cohort · users", "同期群 · 用户数")},
            "autorange": "reversed",
            "type": "category",
        },
        "margin": {"l": 150},
    }
    return go.Figure(data=traces, layout=layout)


def retention_curves(ws: Workspace, spec: ViewSpec) -> View:
    """Retention by offset, one line per ``breakdown`` value (one line without a breakdown), pooled over the cohorts
    of the date range whose period has fully elapsed. The ``MAX_SERIES`` largest values are drawn."""
    lang = spec.lang
    rt = run(ws, spec, breakdown=spec.breakdown)
    pool = pooled(rt.table)
    if pool.num_rows == 0:
        raise LiuliangError(pick(lang, "no cohort in the chosen dates", "所选日期内没有同期群"))
    zero = pool.filter(pc.equal(pool["offset"], 0))
    size = dict(zip(zero["breakdown"].to_pylist(), zero["users"].to_pylist(), strict=True))
    values = sorted(size, key=lambda b: (-size[b], b))
    shown = sorted(values[:MAX_SERIES])
    note = None
    if len(values) > len(shown):
        pool = pool.filter(pc.is_in(pool["breakdown"], pa.array(shown, pa.string())))
        note = pick(
            lang,
            f"The {len(shown)} largest of {len(values)} {spec.breakdown} values are shown.",
            f"仅显示 {len(values)} 个 {spec.breakdown} 取值中最大的 {len(shown)} 个。",
        )
    title = pick(lang, "Retention curves", "留存曲线")
    if spec.breakdown:
        title = pick(lang, f"Retention curves by {spec.breakdown}", f"按 {spec.breakdown} 的留存曲线")
    reading = _curves_reading(lang, spec, pool, shown)
    return View("retention_curves", title, reading, _curves_figure(lang, spec, pool, shown), pool, note)


def _curves_reading(lang: str, spec: ViewSpec, pool: pa.Table, shown: list[str]) -> str:
    # The quoted offset: the longest of day 1/7/30 (week 1/4/12) that every line has reached.
    per = {b: {q.offset: q for q in quotes(pool, spec.period, b)} for b in shown}
    common = [k for k in QUOTED[spec.period] if all(k in per[b] for b in shown)]
    if not common:
        return pick(
            lang,
            "No period after the first has fully elapsed for every line yet.",
            "尚无所有曲线都已完整结束的后续周期。",
        )
    k = common[-1]
    phrase = _active_phrase(lang, spec.criterion, spec.period, k)
    ranked = sorted(shown, key=lambda b: (per[b][k].rate, b))
    lo = per[ranked[0]][k]
    if len(shown) == 1:
        who = breakdown_label(lang, shown[0])
        return pick(
            lang,
            f"Of the {lo.users:,} users whose {offset_name(lang, spec.period, k)} has passed, {pct(lo.rate)} were "
            f"active {phrase}.",
            f"{who}中已满{offset_name(lang, spec.period, k)}的 {lo.users:,} 名用户里，"
            f"{pct(lo.rate)} 在{phrase}仍活跃。",
        )
    hi_b = ranked[-1]
    hi = per[hi_b][k]
    return pick(
        lang,
        f"Of the {lo.users:,} {ranked[0]} users whose {offset_name(lang, spec.period, k)} has passed, {pct(lo.rate)} "
        f"were active {phrase}; {hi_b} kept {pct(hi.rate)} of {hi.users:,}.",
        f"已满{offset_name(lang, spec.period, k)}的 {lo.users:,} 名 {ranked[0]} 用户中，"
        f"{pct(lo.rate)} 在{phrase}仍活跃；{hi_b} 的 {hi.users:,} 名用户中为 {pct(hi.rate)}。",
    )


def _curves_figure(lang: str, spec: ViewSpec, pool: pa.Table, shown: list[str]) -> Any:
    import plotly.graph_objects as go

    rows = pool.to_pylist()
    traces = []
    for b in shown:
        mine = [r for r in rows if r["breakdown"] == b]
        traces.append(
            go.Scatter(
                x=[r["offset"] for r in mine],
                y=[r["rate"] for r in mine],
                customdata=[r["users"] for r in mine],
                mode="lines+markers",
                name=breakdown_label(lang, b),
                hovertemplate=f"{breakdown_label(lang, b)} %{{x}}: %{{y:.1%}} (n=%{{customdata:,}})<extra></extra>",
            )
        )
    layout = {
        "title": {"text": pick(lang, "Retention by offset", "各周期留存率")},
        "xaxis": {"title": {"text": offset_axis(lang, spec.period)}},
        "yaxis": {"title": {"text": pick(lang, "Retained users", "留存用户占比")}, "tickformat": ".0%"},
        "legend": {"title": {"text": spec.breakdown or ""}},
    }
    return go.Figure(data=traces, layout=layout)
