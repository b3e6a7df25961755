"""Revenue retention view: NRR and GRR by offset, one pair of lines per cohort (or per breakdown value).

It runs :func:`liuliang.metrics.revenue.cohort_revenue` once and pools its cells in Arrow. Knobs:

- ``period``: ``week`` gives weekly cohorts (weeks 0-12); otherwise calendar months (months 0-6), the period
  revenue retention is usually read in; daily revenue cohorts are too small to say anything.
- ``breakdown``: with one, a line pair per value pooled over the cohorts; without, a line pair per cohort.
- ``start`` / ``end``: the cohorts shown are those whose period holds a day of the range (a user's cohort is fixed
  by their first activity over all data, so narrowing the range never moves a user); ``end`` is ``data_end``.
- ``criterion`` and ``preset`` are retention's and do not apply.

Only cells whose period has fully elapsed and whose cohort had period-0 revenue are pooled or drawn.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from liuliang.errors import LiuliangError
from liuliang.metrics.revenue import RevenueSpec, cohort_revenue, period_of_day_number
from liuliang.report.view import View, ViewSpec, pct, pick
from liuliang.report.views.retention import MAX_SERIES, breakdown_label, offset_axis, offset_name
from liuliang.warehouse import periods

if TYPE_CHECKING:
    from liuliang.warehouse import Workspace

#: Last offset per cohort period.
OFFSETS = {"month": 6, "week": 12}

SUMS = ["cohort_size", "base_revenue", "revenue", "retained_revenue"]


def revenue_period(spec: ViewSpec) -> str:
    return "week" if spec.period == "week" else "month"


def revenue_retention(ws: Workspace, spec: ViewSpec) -> View:
    """Net (NRR: all revenue, expansion included) and gross (GRR: each user capped at their own period-0 spend)
    revenue retention by offset; see the module docstring for the knobs."""
    lang = spec.lang
    period = revenue_period(spec)
    rt = cohort_revenue(
        ws,
        RevenueSpec(period=period, periods=OFFSETS[period], breakdown=spec.breakdown),  # type: ignore[arg-type]
        data_end=spec.data_end(ws.settings.tz),
    )
    t = _in_range(rt.table, spec, period, ws.settings.week_start)
    done = t.filter(pc.and_(pc.invert(t["incomplete"]), pc.greater(t["base_revenue"], 0.0)))
    if done.num_rows == 0:
        raise LiuliangError(
            pick(
                lang,
                "no cohort with revenue has a finished period in the chosen dates",
                "所选日期内没有已结束且有收入的同期群",
            )
        )
    if spec.breakdown:
        table = _pool(done, ["breakdown", "period_offset"]).rename_columns(_names("breakdown"))
        key = "breakdown"
    else:
        starts = [rt.cohort_start(c) for c in done["cohort"].to_pylist()]
        by_cohort = done.set_column(done.schema.get_field_index("cohort"), "cohort", pa.array(starts, pa.date32()))
        table = _pool(by_cohort, ["cohort", "period_offset"]).rename_columns(_names("cohort"))
        key = "cohort"
    table, note = _top_series(lang, table, key, spec)
    overall = _pool(done, ["period_offset"])
    unit = pick(lang, "month" if period == "month" else "week", "月" if period == "month" else "周")
    title = pick(lang, f"Revenue retention (NRR and GRR by {unit})", f"收入留存（按{unit}的 NRR 与 GRR）")
    reading = _reading(lang, period, overall, table, key)
    return View("revenue", title, reading, _figure(lang, period, table, key), table, note)


def _in_range(t: pa.Table, spec: ViewSpec, period: str, week_start: str) -> pa.Table:
    mask = None
    for date, op in ((spec.start, pc.greater_equal), (spec.end, pc.less_equal)):
        if date is None:
            continue
        bound = op(t["cohort"], period_of_day_number(periods.day_number(date), period, week_start))
        mask = bound if mask is None else pc.and_(mask, bound)
    return t if mask is None else t.filter(mask)


def _pool(t: pa.Table, keys: list[str]) -> pa.Table:
    """Sums over the grouped cells, then NRR = revenue / base and GRR = retained / base (so each cohort weighs by
    its period-0 revenue: the pooled ratio is the revenue-weighted mean of the cohorts' ratios)."""
    g = t.group_by(keys).aggregate([("cohort", "count")] + [(c, "sum") for c in SUMS])
    g = g.sort_by([(k, "ascending") for k in keys])
    base = g["base_revenue_sum"]
    cols = [g[k] for k in keys] + [
        g["cohort_count"].cast(pa.int64()),
        g["cohort_size_sum"].cast(pa.int64()),
        base,
        g["revenue_sum"],
        g["retained_revenue_sum"],
        pc.divide(g["revenue_sum"], base),
        pc.divide(g["retained_revenue_sum"], base),
    ]
    return pa.table(cols, names=[*keys, *_names("")[2:]])


def _names(first: str) -> list[str]:
    return [first, "offset", "cohorts", "users", "base_revenue", "revenue", "retained_revenue", "nrr", "grr"]


def _top_series(lang: str, table: pa.Table, key: str, spec: ViewSpec) -> tuple[pa.Table, str | None]:
    """At most ``MAX_SERIES`` line pairs: the most recent cohorts, or the breakdown values with most revenue."""
    zero = table.filter(pc.equal(table["offset"], 0))
    series = zero[key].to_pylist()
    if len(series) <= MAX_SERIES:
        return table, None
    if key == "cohort":
        keep = sorted(series)[-MAX_SERIES:]
        note = pick(
            lang,
            f"The {MAX_SERIES} most recent of {len(series)} cohorts are shown.",
            f"仅显示 {len(series)} 个同期群中最近的 {MAX_SERIES} 个。",
        )
        kept = pa.array(keep, pa.date32())
    else:
        base = dict(zip(series, zero["base_revenue"].to_pylist(), strict=True))
        keep = sorted(sorted(series, key=lambda b: (-base[b], b))[:MAX_SERIES])
        note = pick(
            lang,
            f"The {MAX_SERIES} of {len(series)} {spec.breakdown} values with most revenue are shown.",
            f"仅显示 {len(series)} 个 {spec.breakdown} 取值中收入最多的 {MAX_SERIES} 个。",
        )
        kept = pa.array(keep, pa.string())
    return table.filter(pc.is_in(table[key], kept)), note


def _reading(lang: str, period: str, overall: pa.Table, table: pa.Table, key: str) -> str:
    one = overall.filter(pc.equal(overall["period_offset"], 1)).to_pylist()
    name = offset_name(lang, period, 1)
    if not one:
        return pick(
            lang,
            f"No cohort with revenue has reached a finished {name} in the chosen dates.",
            f"所选日期内还没有有收入的同期群走完{name}。",
        )
    nrr, grr = one[0]["nrr"], one[0]["grr"]
    if period == "month":
        what_en = (
            "what the cohorts spent in the calendar month after the one they arrived in, over that first "
            "(often partial) month's spend"
        )
        what_zh = "同期群在到来后的下一个自然月的消费额，除以到来当月（常不满一月）的消费额"
    else:
        what_en = "what the cohorts spent in the week after the one they arrived in, over that first week's spend"
        what_zh = "同期群在到来后下一周的消费额，除以到来当周的消费额"
    head = pick(
        lang,
        f"NRR {name} ({what_en}) was {pct(nrr)}; GRR, counting each user only up to their own first-{period} spend, "
        f"was {pct(grr)}",
        f"NRR {name}（{what_zh}）为 {pct(nrr)}；"
        f"GRR（每个用户最多计到其首{'月' if period == 'month' else '周'}消费额）为 {pct(grr)}",
    )
    if key != "breakdown":
        return head + pick(lang, ".", "。")
    rows = [r for r in table.to_pylist() if r["offset"] == 1 and r["nrr"] is not None]
    if len(rows) < 2:
        return head + pick(lang, ".", "。")
    rows.sort(key=lambda r: (r["nrr"], r["breakdown"]))
    lo, hi = rows[0], rows[-1]
    return head + pick(
        lang,
        f"; {hi['breakdown']} kept the most ({pct(hi['nrr'])} NRR) and {lo['breakdown']} the least ({pct(lo['nrr'])}).",
        f"；{hi['breakdown']} 最高（NRR {pct(hi['nrr'])}），{lo['breakdown']} 最低（NRR {pct(lo['nrr'])}）。",
    )


def _figure(lang: str, period: str, table: pa.Table, key: str) -> Any:
    import plotly.graph_objects as go
    from plotly.colors import qualitative

    rows = table.to_pylist()
    series = sorted({r[key] for r in rows})
    palette = qualitative.Plotly
    traces = []
    for i, s in enumerate(series):
        mine = [r for r in rows if r[key] == s]
        label = breakdown_label(lang, s) if key == "breakdown" else str(s)
        colour = palette[i % len(palette)]
        for metric, dash in (("nrr", "solid"), ("grr", "dash")):
            traces.append(
                go.Scatter(
                    x=[r["offset"] for r in mine],
                    y=[r[metric] for r in mine],
                    name=f"{label} · {metric.upper()}",
                    legendgroup=label,
                    mode="lines+markers",
                    line={"color": colour, "dash": dash},
                    hovertemplate=f"{label} {metric.upper()} %{{x}}: %{{y:.1%}}<extra></extra>",
                )
            )
    layout = {
        "title": {"text": pick(lang, "NRR (solid) and GRR (dashed)", "NRR（实线）与 GRR（虚线）")},
        "xaxis": {"title": {"text": offset_axis(lang, period)}, "dtick": 1},
        "yaxis": {"title": {"text": pick(lang, "Revenue vs. period 0", "相对首期收入")}, "tickformat": ".0%"},
        "legend": {"title": {"text": pick(lang, key, "同期群" if key == "cohort" else key)}},
    }
    return go.Figure(data=traces, layout=layout)
