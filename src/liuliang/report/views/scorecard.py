"""The board's page: per campaign, did the spend buy habits or only visits?

The numbers are :func:`liuliang.signals.scorecard.scorecard`'s (its module docstring defines every column) with
``by=("campaign",)``; this view only selects the columns a reader needs, translates the verdict, and draws each
campaign as a bubble: habit share (x: the share of a mature cohort still active monthly) against what a user
retained at D30 cost (y), bubble size = users acquired. Good campaigns sit bottom-right (many habits, cheap),
bad ones top-left.

The reading names the best and the worst campaign by D30 cost per retained user, among the campaigns with a
verdict (``too_early`` ones have too few mature users to judge), so a tiny campaign never "wins" by chance.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import plotly.graph_objects as go
import pyarrow as pa

from liuliang.errors import LiuliangError
from liuliang.report.view import View, ViewSpec, pct, pick, yuan
from liuliang.signals.scorecard import scorecard as campaign_scorecard

if TYPE_CHECKING:
    from liuliang.signals.scorecard import Scorecard
    from liuliang.warehouse import Workspace

BY = ("campaign",)
ALL = "all"
#: Colours of the verdicts (habits good, visits bad, too early neutral).
COLOURS = {"habits": "#2ca02c", "visits": "#d62728", "too_early": "#7f7f7f"}

TABLE_SCHEMA = pa.schema(
    [
        ("campaign", pa.string()),
        ("users", pa.int64()),
        ("total_cost", pa.float64()),
        ("cac", pa.float64()),
        ("d7_rate", pa.float64()),
        ("d30_rate", pa.float64()),
        ("d30_cost_per_retained", pa.float64()),
        ("habit_share", pa.float64()),
        ("nrr_month1", pa.float64()),
        ("ltv_cac", pa.float64()),
        ("verdict_code", pa.string()),
        ("verdict", pa.string()),
    ]
)


def _verdict(code: str, lang: str) -> str:
    return {
        "habits": pick(lang, "bought habits", "买到了习惯"),
        "visits": pick(lang, "bought visits", "只买到了访问"),
        "too_early": pick(lang, "too early to tell", "为时尚早"),
    }.get(code, code)


def _finite(x: Any) -> bool:
    return x is not None and not (isinstance(x, float) and math.isnan(x))


def _reading(rows: list[dict[str, Any]], lang: str) -> str:
    judged = [r for r in rows if r["verdict_code"] != "too_early" and _finite(r["d30_cost_per_retained"])]
    if not judged:
        return pick(
            lang,
            "Too early to judge any campaign: none has enough users observed at D30 and old enough for the habit "
            "share.",
            "现在评判任何活动都为时尚早：没有活动有足够的用户到达第30天且足够老以计算习惯占比。",
        )
    order = sorted(judged, key=lambda r: (r["d30_cost_per_retained"], r["campaign"]))
    best, worst = order[0], order[-1]
    if len(order) == 1:
        return pick(
            lang,
            f"{best['campaign']} paid {yuan(best['d30_cost_per_retained'])} per user retained at D30, with a "
            f"{pct(best['habit_share'])} habit share: {_verdict(best['verdict_code'], lang)}.",
            f"{best['campaign']} 每留存一位第30日用户花费 {yuan(best['d30_cost_per_retained'])}，习惯占比 "
            f"{pct(best['habit_share'])}：{_verdict(best['verdict_code'], lang)}。",
        )
    return pick(
        lang,
        f"{best['campaign']} bought retained users cheapest ({yuan(best['d30_cost_per_retained'])} per user kept at "
        f"D30, {pct(best['habit_share'])} habit share); {worst['campaign']} cost most "
        f"({yuan(worst['d30_cost_per_retained'])}, {pct(worst['habit_share'])} habit share).",
        f"{best['campaign']} 留存用户最便宜（第30日每留存一人 {yuan(best['d30_cost_per_retained'])}，习惯占比 "
        f"{pct(best['habit_share'])}）；{worst['campaign']} 最贵（{yuan(worst['d30_cost_per_retained'])}，习惯占比 "
        f"{pct(worst['habit_share'])}）。",
    )


def _figure(rows: list[dict[str, Any]], lang: str) -> go.Figure:
    fig = go.Figure()
    shown = [r for r in rows if _finite(r["habit_share"]) and _finite(r["d30_cost_per_retained"])]
    biggest = max((r["users"] for r in shown), default=1) or 1
    for code in COLOURS:
        mine = [r for r in shown if r["verdict_code"] == code]
        if not mine:
            continue
        fig.add_trace(
            go.Scatter(
                x=[r["habit_share"] for r in mine],
                y=[r["d30_cost_per_retained"] for r in mine],
                mode="markers+text",
                text=[r["campaign"] for r in mine],
                textposition="top center",
                customdata=[[r["users"], r["d30_rate"]] for r in mine],
                marker={
                    "size": [12 + 48 * math.sqrt(r["users"] / biggest) for r in mine],
                    "color": COLOURS[code],
                    "opacity": 0.6,
                    "line": {"width": 1, "color": "white"},
                },
                name=_verdict(code, lang),
                hovertemplate=pick(
                    lang,
                    "%{text}<br>habit share %{x:.1%}<br>¥%{y:,.2f} per user kept at D30<br>%{customdata[0]:,} users"
                    "<extra></extra>",
                    "%{text}<br>习惯占比 %{x:.1%}<br>第30日每留存一人 ¥%{y:,.2f}<br>%{customdata[0]:,} 位用户"
                    "<extra></extra>",
                ),
            )
        )
    fig.update_layout(
        xaxis_title=pick(
            lang, "Habit share (mature users still active monthly)", "习惯占比（成熟用户中每月仍活跃的比例）"
        ),
        yaxis_title=pick(lang, "Cost per user retained at D30 (¥)", "第30日每留存一位用户的成本（¥）"),
        xaxis_tickformat=".0%",
        legend_title_text=pick(lang, "Verdict (bubble = users)", "结论（气泡大小 = 用户数）"),
        margin={"t": 30},
    )
    return fig


def _rows(card: Scorecard, lang: str) -> list[dict[str, Any]]:
    rows = []
    for r in card.to_arrow().to_pylist():
        row = {c: r.get(c) for c in TABLE_SCHEMA.names if c in r}
        row["campaign"] = r["segment"]
        row["verdict"] = _verdict(r["verdict_code"], lang)
        rows.append(row)
    return rows


def scorecard(ws: Workspace, spec: ViewSpec) -> View:
    """The campaign scorecard with verdicts, and cost per retained user vs habit share per campaign.

    Uses ``spec.end`` (the scorecard's ``data_end``) and ``spec.lang``. Ignores ``start`` (users are counted from
    their acquisition, whenever it was), ``breakdown`` (this is the *campaign* page; channels have their own views),
    ``period``, ``criterion`` and ``preset`` (D7/D30 and the habit share have fixed definitions in the scorecard).
    """
    card = campaign_scorecard(ws, by=BY, data_end=spec.data_end(ws.settings.tz))
    rows = _rows(card, spec.lang)
    campaigns = [r for r in rows if r["campaign"] != ALL]
    if not campaigns:
        raise LiuliangError("the scorecard is empty: no user was acquired by the end of this range")
    total = next((r for r in rows if r["campaign"] == ALL), None)
    note = None
    if total is not None:
        note = pick(
            spec.lang,
            f"All campaigns together: {total['users']:,} users, {yuan(total['d30_cost_per_retained'])} per user kept "
            f"at D30, habit share {pct(total['habit_share'])}.",
            f"全部活动合计：{total['users']:,} 位用户，第30日每留存一人 {yuan(total['d30_cost_per_retained'])}，"
            f"习惯占比 {pct(total['habit_share'])}。",
        )
    return View(
        key="scorecard",
        title=pick(spec.lang, "Campaign scorecard: habits or visits?", "活动记分卡：买到习惯还是只买到访问？"),
        reading=_reading(campaigns, spec.lang),
        figure=_figure(campaigns, spec.lang),
        table=pa.Table.from_pylist([{c: r.get(c) for c in TABLE_SCHEMA.names} for r in rows], schema=TABLE_SCHEMA),
        note=note,
    )
