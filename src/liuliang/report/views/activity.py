"""Activity views: stickiness (DAU / WAU / MAU and DAU/MAU), how many days a week users come, lifecycle bars.

Each runs one activity metric (:mod:`liuliang.metrics.activity`, :mod:`liuliang.metrics.lifecycle`) and reshapes
its long table in Arrow. ``start`` / ``end`` bound the days or periods shown and ``end`` is ``data_end``; the
``criterion`` and ``preset`` knobs are retention's and do not apply here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from liuliang.errors import LiuliangError
from liuliang.metrics import activity as activity_metrics
from liuliang.metrics.activity import ActiveUsersSpec, FrequencySpec, active_users
from liuliang.metrics.lifecycle import STATUSES, LifecycleSpec, lifecycle
from liuliang.report.view import View, ViewSpec, pct, pick
from liuliang.report.views.retention import breakdown_label

if TYPE_CHECKING:
    from liuliang.warehouse import Workspace

ALL = "all"
#: "Comes often": this many active days in the period or more (about half a week; about twice a week in a month).
OFTEN = {"week": 4, "month": 8}
#: PostHog's lifecycle colours: growth green / blue / purple, loss red.
STATUS_COLOURS = {"new": "#2ca02c", "returning": "#1f77b4", "resurrecting": "#9467bd", "dormant": "#d62728"}


def _status_name(lang: str, status: str) -> str:
    names = {
        "new": ("new", "新增"),
        "returning": ("returning", "留存"),
        "resurrecting": ("resurrecting", "回流"),
        "dormant": ("dormant", "流失"),
    }
    en, zh = names[status]
    return pick(lang, en, zh)


# -- stickiness --------------------------------------------------------------------------------------------------------
def stickiness(ws: Workspace, spec: ViewSpec) -> View:
    """DAU, WAU and MAU per day, and DAU/MAU on a second axis, for all users.

    Ignores ``breakdown``: splitting by a users column joins every user-day to ``users`` and made the metric ~1.7x
    slower on 10M events (~300 ms of CPU instead of ~175), past the dashboard's budget; the retention curves and the
    frequency view already split by it. Ignores ``period``: the windows are days by definition (1, 7 and 30)."""
    lang = spec.lang
    au = active_users(
        ws,
        ActiveUsersSpec(date_from=spec.start, date_to=spec.end),
        data_end=spec.data_end(ws.settings.tz),
    )
    t = au.table
    if t.num_rows == 0:
        raise LiuliangError(pick(lang, "no activity in the chosen dates", "所选日期内没有活跃"))
    table = t.select(["date", "dau", "wau", "mau", "stickiness", "incomplete"])
    title = pick(lang, "Stickiness: DAU, WAU, MAU and DAU/MAU", "粘性：日活、周活、月活与日活/月活")
    return View("stickiness", title, _stickiness_reading(lang, table), _stickiness_figure(lang, table), table)


def _stickiness_reading(lang: str, table: pa.Table) -> str:
    """Quotes the last day that has fully elapsed (the day holding ``data_end`` is still filling up)."""
    rows = table.to_pylist()
    day = ([r for r in rows if not r["incomplete"]] or rows)[-1]
    return pick(
        lang,
        f"On {day['date']}, {day['dau']:,} of the {day['mau']:,} users active in the past 30 days came "
        f"(DAU/MAU {pct(day['stickiness'])}).",
        f"{day['date']}，近 30 天活跃的 {day['mau']:,} 名用户中有 {day['dau']:,} 名当天活跃"
        f"（日活/月活 {pct(day['stickiness'])}）。",
    )


def _stickiness_figure(lang: str, table: pa.Table) -> Any:
    import plotly.graph_objects as go

    dates = [d.isoformat() for d in table["date"].to_pylist()]
    names = {"dau": pick(lang, "DAU", "日活"), "wau": pick(lang, "WAU", "周活"), "mau": pick(lang, "MAU", "月活")}
    traces = [go.Scatter(x=dates, y=table[k].to_pylist(), name=names[k], mode="lines") for k in ("dau", "wau", "mau")]
    ratio = pick(lang, "DAU/MAU", "日活/月活")
    traces.append(
        go.Scatter(
            x=dates,
            y=table["stickiness"].to_pylist(),
            name=ratio,
            yaxis="y2",
            mode="lines",
            line={"color": "black", "width": 3},
            hovertemplate=f"{ratio} %{{x}}: %{{y:.1%}}<extra></extra>",
        )
    )
    layout = {
        "title": {"text": pick(lang, "Active users and stickiness", "活跃用户与粘性")},
        "xaxis": {"title": {"text": pick(lang, "Day", "日期")}},
        "yaxis": {"title": {"text": pick(lang, "Active users", "活跃用户数")}, "rangemode": "tozero"},
        "yaxis2": {
            "title": {"text": ratio},
            "overlaying": "y",
            "side": "right",
            "tickformat": ".0%",
            "rangemode": "tozero",
            "showgrid": False,
        },
        "legend": {"orientation": "h", "y": -0.2},
    }
    return go.Figure(data=traces, layout=layout)


# -- frequency ---------------------------------------------------------------------------------------------------------
def frequency_period(spec: ViewSpec) -> str:
    """Days active per week for the ``day`` period, per month for ``week`` (the coarser bucket)."""
    return "week" if spec.period == "day" else "month"


def frequency(ws: Workspace, spec: ViewSpec) -> View:
    """How many days of a week (``period="day"``) or month (``period="week"``) active users were active, pooled over
    the complete weeks / months of the date range, one bar series per ``breakdown`` value. Falls back to including
    the unfinished period (with a note) when no period has finished yet."""
    lang = spec.lang
    bucket = frequency_period(spec)
    hist = activity_metrics.frequency(
        ws,
        FrequencySpec(period=bucket, breakdown=spec.breakdown, date_from=spec.start, date_to=spec.end),  # type: ignore[arg-type]
        data_end=spec.data_end(ws.settings.tz),
    )
    summary = hist.summary()
    note = None
    if summary.num_rows == 0 or pc.sum(summary["active_users"]).as_py() in (None, 0):
        summary = hist.summary(include_incomplete=True)
        note = pick(
            lang,
            f"No {bucket} has finished in the chosen dates; the unfinished one is shown.",
            f"所选日期内没有完整结束的{'周' if bucket == 'week' else '月'}，显示的是未结束的。",
        )
    if summary.num_rows == 0 or not pc.sum(summary["active_users"]).as_py():
        raise LiuliangError(pick(lang, "no activity in the chosen dates", "所选日期内没有活跃"))
    parts = [_with_shares(summary)]
    if spec.breakdown:
        g = summary.group_by("days_active").aggregate(
            [("users", "sum"), ("users_or_more", "sum"), ("active_users", "sum")]
        )
        g = g.rename_columns(["days_active", "users", "users_or_more", "active_users"])
        g = g.append_column("breakdown", pa.array([ALL] * g.num_rows, pa.string())).sort_by("days_active")
        parts.insert(0, _with_shares(g.select(summary.column_names)))
    table = pa.concat_tables(parts)
    unit = pick(lang, "week" if bucket == "week" else "month", "周" if bucket == "week" else "月")
    title = pick(lang, f"Days active per {unit}", f"每{unit}活跃天数")
    reading = _frequency_reading(lang, spec, bucket, table, complete=note is None)
    return View("frequency", title, reading, _frequency_figure(lang, spec, bucket, table), table, note)


def _with_shares(s: pa.Table) -> pa.Table:
    active = s["active_users"].cast(pa.float64())
    return pa.table(
        {
            "breakdown": s["breakdown"],
            "days_active": s["days_active"].cast(pa.int64()),
            "user_periods": s["users"].cast(pa.int64()),
            "active_user_periods": s["active_users"].cast(pa.int64()),
            "share": _ratio(s["users"], active),
            "share_or_more": _ratio(s["users_or_more"], active),
        }
    )


def _ratio(num: pa.ChunkedArray, den: pa.ChunkedArray) -> pa.ChunkedArray:
    """``num / den`` as floats, null where ``den`` is 0 (a breakdown value with nobody active in the range)."""
    return pc.if_else(pc.greater(den, 0), pc.divide(num.cast(pa.float64()), den), None).cast(pa.float64())


def _frequency_reading(lang: str, spec: ViewSpec, bucket: str, table: pa.Table, *, complete: bool) -> str:
    often = OFTEN[bucket]
    rows = table.to_pylist()

    def share(b: str, k: int, col: str) -> float:
        return next(r[col] for r in rows if r["breakdown"] == b and r["days_active"] == k)

    one, many = share(ALL, 1, "share"), share(ALL, often, "share_or_more")
    unit = pick(lang, bucket, "周" if bucket == "week" else "月")
    head = pick(
        lang,
        f"In {'a complete' if complete else 'the unfinished'} {unit}, {pct(one)} of active users came on one day "
        f"only and {pct(many)} on {often} days or more",
        f"在{'完整的一' if complete else '尚未结束的这一'}{unit}中，{pct(one)} 的活跃用户只来了一天，"
        f"{pct(many)} 来了 {often} 天或以上",
    )
    values = sorted({r["breakdown"] for r in rows if r["share_or_more"] is not None} - {ALL})
    if len(values) < 2:
        return head + pick(lang, ".", "。")
    ranked = sorted(values, key=lambda b: (share(b, often, "share_or_more"), b))
    lo, hi = ranked[0], ranked[-1]
    lo_s, hi_s = share(lo, often, "share_or_more"), share(hi, often, "share_or_more")
    return head + pick(
        lang,
        f"; {hi} users came most often ({pct(hi_s)} on {often}+ days) and {lo} least ({pct(lo_s)}).",
        f"；{hi} 用户来得最勤（{pct(hi_s)} 达 {often} 天以上），{lo} 最少（{pct(lo_s)}）。",
    )


def _frequency_figure(lang: str, spec: ViewSpec, bucket: str, table: pa.Table) -> Any:
    import plotly.graph_objects as go

    values = sorted(set(table["breakdown"].to_pylist()) - {ALL}) if spec.breakdown else [ALL]
    traces = []
    for b in values:
        part = table.filter(pc.equal(table["breakdown"], b))
        traces.append(
            go.Bar(
                x=part["days_active"].to_pylist(),
                y=part["share"].to_pylist(),
                customdata=part["user_periods"].to_pylist(),
                name=breakdown_label(lang, b),
                hovertemplate=f"{breakdown_label(lang, b)}: %{{x}} → %{{y:.1%}} (%{{customdata:,}})<extra></extra>",
            )
        )
    unit = pick(lang, bucket, "周" if bucket == "week" else "月")
    layout = {
        "title": {"text": pick(lang, f"Days active per {unit}", f"每{unit}活跃天数")},
        "barmode": "group",
        "xaxis": {"title": {"text": pick(lang, f"Days active in the {unit}", f"一{unit}内活跃天数")}, "dtick": 1},
        "yaxis": {"title": {"text": pick(lang, "Share of active users", "占活跃用户比例")}, "tickformat": ".0%"},
        "legend": {"title": {"text": spec.breakdown or ""}},
    }
    return go.Figure(data=traces, layout=layout)


# -- lifecycle ---------------------------------------------------------------------------------------------------------
def lifecycle_bars(ws: Workspace, spec: ViewSpec) -> View:
    """New, returning and resurrecting users stacked above the axis and dormant ones below it (PostHog's lifecycle
    chart), per day or week; the unfinished last period is drawn faint. Ignores ``breakdown``: four statuses per
    value would be a stack nobody can read (the metric supports it for tables)."""
    lang = spec.lang
    lc = lifecycle(
        ws,
        LifecycleSpec(period=spec.period, date_from=spec.start, date_to=spec.end),
        data_end=spec.data_end(ws.settings.tz),
    )
    t = lc.table
    if t.num_rows == 0:
        raise LiuliangError(pick(lang, "no activity in the chosen dates", "所选日期内没有活跃"))
    table = t.select(["period_start", "status", "users", "signed_users", "incomplete"])
    title = pick(lang, "Lifecycle: new, returning, resurrecting, dormant", "生命周期：新增、留存、回流、流失")
    reading = _lifecycle_reading(lang, spec, table)
    return View("lifecycle", title, reading, _lifecycle_figure(lang, spec, table), table)


def quick_ratio(counts: dict[str, int]) -> float | None:
    """(new + resurrecting) / dormant: above 1 the active base grows."""
    return (counts["new"] + counts["resurrecting"]) / counts["dormant"] if counts["dormant"] else None


def _lifecycle_reading(lang: str, spec: ViewSpec, table: pa.Table) -> str:
    rows = table.to_pylist()
    done = [r for r in rows if not r["incomplete"]] or rows
    last = done[-1]["period_start"]
    counts = {r["status"]: r["users"] for r in done if r["period_start"] == last}
    qr = quick_ratio(counts)
    when = pick(
        lang,
        f"In the week of {last}" if spec.period == "week" else f"On {last}",
        f"{last} 这一{'周' if spec.period == 'week' else '天'}",
    )
    q_en = f"quick ratio {qr:.2f}" if qr is not None else "no one went dormant"
    q_zh = f"快速比率 {qr:.2f}" if qr is not None else "无人流失"
    return pick(
        lang,
        f"{when}, {counts['new']:,} users were new, {counts['returning']:,} returning, {counts['resurrecting']:,} "
        f"resurrecting and {counts['dormant']:,} went dormant ({q_en}: (new + resurrecting) / dormant, above 1 the "
        f"active base grows).",
        f"{when}：新增 {counts['new']:,} 人，留存 {counts['returning']:,} 人，回流 {counts['resurrecting']:,} 人，"
        f"流失 {counts['dormant']:,} 人（{q_zh}：(新增 + 回流) / 流失，大于 1 表示活跃用户在增长）。",
    )


def _lifecycle_figure(lang: str, spec: ViewSpec, table: pa.Table) -> Any:
    import plotly.graph_objects as go

    rows = table.to_pylist()
    traces = []
    for status in STATUSES:
        mine = [r for r in rows if r["status"] == status]
        name = _status_name(lang, status)
        traces.append(
            go.Bar(
                x=[r["period_start"].isoformat() for r in mine],
                y=[r["signed_users"] for r in mine],
                name=name,
                marker={"color": STATUS_COLOURS[status], "opacity": [0.4 if r["incomplete"] else 1.0 for r in mine]},
                hovertemplate=f"{name} %{{x}}: %{{y:,}}<extra></extra>",
            )
        )
    unit = pick(lang, "Week" if spec.period == "week" else "Day", "周" if spec.period == "week" else "日期")
    layout = {
        "title": {"text": pick(lang, "Lifecycle (dormant below the axis)", "生命周期（流失在横轴下方）")},
        "barmode": "relative",
        "xaxis": {"title": {"text": unit}},
        "yaxis": {"title": {"text": pick(lang, "Users", "用户数")}},
        "legend": {"orientation": "h", "y": -0.2},
    }
    return go.Figure(data=traces, layout=layout)
