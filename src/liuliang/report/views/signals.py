"""Habit signals: do users keep asking the assistant to *do* things, and which early behaviours go with staying?

Two views, both reading the signal APIs and only reshaping their results, so a number on the page is the API's:

- ``habit`` (:func:`task_habit_view`): the market's own habit metric — task requests ("帮我…") — from
  :func:`liuliang.signals.habit.task_habit`. Left panel: task requests per cohort *member* by week since arrival
  (:meth:`TaskHabit.pooled`: complete cohort-weeks summed over cohorts), one line per breakdown value. Per member
  rather than per active user because the board's question is whether the spend bought a habit that *holds*: per
  active user rises as casual users leave (survivorship) and would flatter a channel that keeps only a small core.
  Right panel: D30 retention by task requests in the first 7 days (all users pooled, Wilson intervals), the
  relation that makes the count worth watching. Pooled rather than per breakdown value because five buckets times
  each channel gives intervals too wide to read on a few thousand users; the per-value rows stay in
  :attr:`TaskHabit.retention`.
- ``aha`` (:func:`aha_view`): :func:`liuliang.signals.aha.aha_signals` with single events *and* feature pairs
  (``AhaSpec(sets=2)``). The chart is a forest of the adjusted D30 difference (within channel x early activity)
  with its interval for the top behaviours, the raw difference beside it so the reader sees how much of the naive
  gap was just "was active early". Each event appears once, at its best-ranked threshold (``ask >= 3`` and
  ``ask >= 5`` are one behaviour measured twice, and would fill the list), as the API's own findings do; a pair is
  its own entry.

The readings: ``habit`` compares the top early bucket with users who asked for nothing, with the rank correlation;
its note adds the adjusted figure (:attr:`TaskHabit.adjusted`, all users: 3+ early requests against none within
channel x early active days), since the bucket gap alone mixes "asks" with "came back early" — kept out of the
reading so that it stays one sentence;
``aha`` names the best-ranked behaviour that *survives adjustment* — its adjusted interval lies above zero, its
Benjamini–Hochberg q-value is at most alpha and, for a pair, it adds to its best member alone (the API's finding
rule) — or says that none does.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import plotly.graph_objects as go
import pyarrow as pa
import pyarrow.compute as pc
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from liuliang.errors import LiuliangError
from liuliang.report.view import View, ViewSpec, pct, pick
from liuliang.signals.aha import AhaSignals, AhaSpec, aha_signals
from liuliang.signals.habit import ALL, TaskHabit, TaskHabitSpec, task_habit
from liuliang.warehouse import tables as T

if TYPE_CHECKING:
    from liuliang.warehouse import Workspace

#: Lines drawn at most in the habit view (the largest breakdown values by users); more cannot be told apart.
MAX_LINES = 6
#: Behaviours drawn and tabulated in the aha view.
TOP = 10
#: The aha search: single events at the default thresholds and every pair of the six most common early events.
AHA_SETS = 2

HABIT_SCHEMA = pa.schema(
    [
        ("breakdown", pa.string()),
        ("week", pa.int64()),
        ("cohorts", pa.int64()),
        ("cohort_users", pa.int64()),
        ("active_users", pa.int64()),
        ("task_requests", pa.int64()),
        ("task_per_user", pa.float64()),
        ("task_per_active_user", pa.float64()),
    ]
)

AHA_SCHEMA = pa.schema(
    [
        ("rank", pa.int64()),
        ("behaviour", pa.string()),
        ("kind", pa.string()),
        ("users", pa.int64()),
        ("coverage", pa.float64()),
        ("d30_with", pa.float64()),
        ("d30_without", pa.float64()),
        ("difference", pa.float64()),
        ("adjusted", pa.float64()),
        ("ci_lower", pa.float64()),
        ("ci_upper", pa.float64()),
        ("q_value", pa.float64()),
        ("best_member", pa.string()),
        ("beyond_member", pa.float64()),
        ("beyond_member_q", pa.float64()),
        ("survives", pa.bool_()),
    ]
)


def _label(name: str, lang: str) -> str:
    return pick(lang, "All users", "全部用户") if name == ALL else name


def _finite(x: Any) -> bool:
    return x is not None and not (isinstance(x, float) and math.isnan(x))


# -- habit -------------------------------------------------------------------------------------------------------------
def habit_spec(spec: ViewSpec) -> TaskHabitSpec:
    """The task-habit query behind the view (the tests build the same one): weekly cohorts, 8 weeks, D30 by the
    first 7 days' requests, users arriving on or after ``spec.start``, split by ``spec.breakdown``."""
    return TaskHabitSpec(breakdown=spec.breakdown, since=spec.start)


def _require_text(ws: Workspace) -> None:
    if not ws.has_table(T.EVENTS):
        raise LiuliangError("the workspace has no events yet; ingest events (with a text column) to see the task habit")
    if "text" not in ws.table(T.EVENTS).columns:
        raise LiuliangError(
            "the events table has no text column, so there are no task requests (帮我…) to count; "
            "ingest events with a text column to see the task habit"
        )


def _shown(res: TaskHabit) -> tuple[list[str], int]:
    """Breakdown values drawn (the ``MAX_LINES`` largest by users with a complete week), and how many were left out."""
    sizes: dict[str, int] = {}
    for r in res.table.to_pylist():
        if r["week"] == 0:
            sizes[r["breakdown"]] = sizes.get(r["breakdown"], 0) + r["cohort_users"]
    pooled = set(res.pooled()["breakdown"].to_pylist())
    names = sorted((b for b in sizes if b in pooled), key=lambda b: (-sizes[b], b))
    return names[:MAX_LINES], max(0, len(names) - MAX_LINES)


def _bucket_rows(res: TaskHabit) -> list[dict[str, Any]]:
    return [r for r in res.retention.to_pylist() if r["breakdown"] == ALL]


def _habit_reading(res: TaskHabit, pooled: list[dict[str, Any]], lang: str) -> str:
    """The top early bucket against the lowest one with users (all users pooled) and the rank correlation; when
    fewer than two buckets have users (an early end date), the first-week volume by breakdown value instead."""
    buckets = [r for r in _bucket_rows(res) if r["users"]]
    n = res.spec.retention_day
    if len(buckets) >= 2:
        top, low = buckets[-1], buckets[0]
        cor = next(r for r in res.correlation.to_pylist() if r["breakdown"] == ALL)
        rho_en = f" (Spearman ρ {cor['rho']:.2f})" if _finite(cor["rho"]) else ""
        rho_zh = f"（Spearman ρ {cor['rho']:.2f}）" if _finite(cor["rho"]) else ""
        first = pick(lang, "first week", "首周") if res.spec.early_days == 7 else None
        window_en = first or f"first {res.spec.early_days} days"
        window_zh = first or f"前{res.spec.early_days}天"
        low_en = "none" if low["bucket_lo"] == 0 else low["bucket"]
        low_zh = "一次都没请求" if low["bucket_lo"] == 0 else f"请求 {low['bucket']} 次"
        return pick(
            lang,
            f"Users who asked for {top['bucket']} tasks in their {window_en} kept {pct(top['rate'])} at D{n}, "
            f"against {pct(low['rate'])} for those who asked {low_en}{rho_en}.",
            f"{window_zh}请求 {top['bucket']} 次任务的用户第{n}天留存 {pct(top['rate'])}，"
            f"{low_zh}的用户只有 {pct(low['rate'])}{rho_zh}。",
        )
    tail_en = f"nobody has reached D{n} yet" if not res.n_observed else f"too few users have reached D{n} to compare"
    tail_zh = f"还没有用户到达第{n}天" if not res.n_observed else f"到达第{n}天的用户太少，无法比较"
    week0 = sorted((r for r in pooled if r["week"] == 0), key=lambda r: (-r["task_per_user"], r["breakdown"]))
    if not week0:
        return pick(lang, "No cohort has a complete first week yet.", "还没有同期群过完第一周。")
    hi, lo = week0[0], week0[-1]
    if len(week0) == 1:
        who_en = "All users" if hi["breakdown"] == ALL else f"{hi['breakdown']} users"
        who_zh = "全部用户" if hi["breakdown"] == ALL else f"{hi['breakdown']} 用户"
        return pick(
            lang,
            f"{who_en} asked for {hi['task_per_user']:.1f} tasks each in their first week; {tail_en}.",
            f"{who_zh}首周人均请求 {hi['task_per_user']:.1f} 次任务；{tail_zh}。",
        )
    return pick(
        lang,
        f"In their first week {hi['breakdown']} users asked for {hi['task_per_user']:.1f} tasks each and "
        f"{lo['breakdown']} users {lo['task_per_user']:.1f}; {tail_en}.",
        f"首周 {hi['breakdown']} 用户人均请求 {hi['task_per_user']:.1f} 次任务，{lo['breakdown']} 用户 "
        f"{lo['task_per_user']:.1f} 次；{tail_zh}。",
    )


def _habit_figure(res: TaskHabit, pooled: list[dict[str, Any]], names: list[str], lang: str) -> go.Figure:
    n, d = res.spec.retention_day, res.spec.early_days
    fig = make_subplots(
        rows=1,
        cols=2,
        column_widths=[0.6, 0.4],
        horizontal_spacing=0.1,
        subplot_titles=(
            pick(lang, "Task requests per cohort member, by week", "每位同期用户每周任务请求数"),
            pick(lang, f"D{n} retention by early task requests", f"按早期任务请求数的第{n}天留存"),
        ),
    )
    palette = qualitative.Plotly
    for i, name in enumerate(names):
        mine = [r for r in pooled if r["breakdown"] == name]
        fig.add_trace(
            go.Scatter(
                x=[r["week"] for r in mine],
                y=[r["task_per_user"] for r in mine],
                mode="lines+markers",
                line={"color": palette[i % len(palette)]},
                name=_label(name, lang),
                customdata=[[r["cohort_users"], r["task_per_active_user"]] for r in mine],
                hovertemplate=pick(
                    lang,
                    "week %{x}: %{y:.2f} per member (%{customdata[0]:,} members), "
                    "%{customdata[1]:.2f} per active user<extra>%{fullData.name}</extra>",
                    "第 %{x} 周：每位成员 %{y:.2f} 次（%{customdata[0]:,} 位成员），"
                    "每位活跃用户 %{customdata[1]:.2f} 次<extra>%{fullData.name}</extra>",
                ),
            ),
            row=1,
            col=1,
        )
    buckets = [r for r in _bucket_rows(res) if r["users"]]
    fig.add_trace(
        go.Bar(
            x=[r["bucket"] for r in buckets],
            y=[r["rate"] for r in buckets],
            marker={"color": "#555555"},
            error_y={
                "type": "data",
                "symmetric": False,
                "array": [r["ci_upper"] - r["rate"] for r in buckets],
                "arrayminus": [r["rate"] - r["ci_lower"] for r in buckets],
            },
            customdata=[r["users"] for r in buckets],
            name=pick(lang, f"D{n} retention, all users (95% CI)", f"第{n}天留存，全部用户（95% 区间）"),
            hovertemplate=pick(
                lang,
                "%{x} requests: %{y:.1%} of %{customdata:,} users<extra></extra>",
                "%{x} 次请求：%{customdata:,} 人中 %{y:.1%}<extra></extra>",
            ),
        ),
        row=1,
        col=2,
    )
    fig.update_xaxes(title_text=pick(lang, "Week since arrival", "到达后第几周"), dtick=1, row=1, col=1)
    fig.update_yaxes(title_text=pick(lang, "Task requests per member", "每位成员的任务请求数"), row=1, col=1)
    fig.update_xaxes(
        title_text=pick(lang, f"Task requests in the first {d} days", f"前{d}天的任务请求数"),
        type="category",
        row=1,
        col=2,
    )
    fig.update_yaxes(
        title_text=pick(lang, f"Active on day {n}", f"第{n}天仍活跃"),
        tickformat=".0%",
        rangemode="tozero",
        row=1,
        col=2,
    )
    fig.update_layout(legend_title_text=pick(lang, "Lines: breakdown", "折线：分组"), margin={"t": 40})
    return fig


def _adjusted_note(res: TaskHabit, lang: str) -> str | None:
    """The pooled adjusted relation in a sentence: the raw gap of k+ early requests against none, and what is left
    of it within the same channel (or breakdown) and early active days, in points to one decimal like the aha
    reading (:func:`_pts`); None when it could not be estimated."""
    row = next((r for r in res.adjusted.to_pylist() if r["breakdown"] == ALL), None)
    if row is None or row["adjusted_difference"] is None:
        return None
    n, d, k = res.spec.retention_day, res.spec.early_days, row["k"]
    window_en = "first week" if d == 7 else f"first {d} days"
    window_zh = "首周" if d == 7 else f"前{d}天"
    by = res.adjusted_by
    same_en = f"the same {by} and number of early active days" if by else "the same number of early active days"
    by_zh = "渠道" if by == "channel" else by
    same_zh = f"同{by_zh}、同早期活跃天数的用户之间" if by else "早期活跃天数相同的用户之间"
    adj, lo, hi = _pts(row["adjusted_difference"]), _pts(row["ci_lower"]), _pts(row["ci_upper"])
    return pick(
        lang,
        f"Users with {k}+ task requests in their {window_en} kept {pct(row['rate_with'])} at D{n} against "
        f"{pct(row['rate_without'])} for those with none ({_pts(row['raw_difference'])} pts); among users of "
        f"{same_en} the gap is {adj} pts (95% CI {lo} to {hi}), the part not explained by coming back early.",
        f"{window_zh}请求 {k} 次及以上任务的用户第{n}天留存 {pct(row['rate_with'])}，一次都没请求的用户 "
        f"{pct(row['rate_without'])}（{_pts(row['raw_difference'])} 个百分点）；在{same_zh}，差距为 {adj} 个百分点"
        f"（95% 区间 {lo} 至 {hi}），这部分不能用早期多来解释。",
    )


def task_habit_view(ws: Workspace, spec: ViewSpec) -> View:
    """Task requests per member by week since arrival per breakdown value, and D30 by early task requests.

    Uses ``start`` (users arriving on or after it), ``end`` (``data_end``), ``breakdown`` and ``lang``. Ignores
    ``period`` (weeks since arrival are the user's own 7-day weeks: calendar periods would mix the habit with the
    arrival weekday), ``criterion`` and ``preset`` (the relation's D30 is "active on day 30", the definition of
    :mod:`liuliang.signals.habit`, so that it means the same for every user). Raises :class:`LiuliangError` when
    the events carry no text (``build_view`` turns it into a note).
    """
    _require_text(ws)
    res = task_habit(ws, habit_spec(spec), data_end=spec.data_end(ws.settings.tz))
    if res.distinct_texts == 0:
        raise LiuliangError(
            "no event up to this date has a text (a message), so there are no task requests (帮我…) to count; "
            "ingest events with a text column to see the task habit"
        )
    names, left_out = _shown(res)
    pooled = [r for r in res.pooled().to_pylist() if r["breakdown"] in names]
    if not pooled:
        raise LiuliangError("no cohort has a complete week since arrival in this date range")
    n = res.spec.retention_day
    notes = [
        pick(
            spec.lang,
            f"{res.n_users:,} users; {res.task_texts:,} of {res.distinct_texts:,} distinct message texts are task "
            f"requests. Complete cohort-weeks only. The D{n} panel covers the {res.n_observed:,} users observed to "
            f"day {n}; it is association, not a promise that pushing requests retains anyone.",
            f"共 {res.n_users:,} 位用户；{res.distinct_texts:,} 条不同消息文本中 {res.task_texts:,} 条是任务请求。"
            f"只计完整的同期周。第{n}天留存面板基于已观察到第{n}天的 {res.n_observed:,} 位用户；"
            "这是相关而非因果，不代表推动请求就能留住用户。",
        )
    ]
    adjusted = _adjusted_note(res, spec.lang)
    if adjusted:
        notes.append(adjusted)
    if left_out:
        notes.append(
            pick(
                spec.lang,
                f"The {left_out} smallest of {len(names) + left_out} groups are not shown.",
                f"{len(names) + left_out} 个分组中最小的 {left_out} 个未显示。",
            )
        )
    return View(
        key="habit",
        title=pick(spec.lang, "Task habit: do users keep asking for help?", "任务习惯：用户是否持续请求帮忙？"),
        reading=_habit_reading(res, pooled, spec.lang),
        figure=_habit_figure(res, pooled, names, spec.lang),
        table=pa.Table.from_pylist([{c: r[c] for c in HABIT_SCHEMA.names} for r in pooled], schema=HABIT_SCHEMA),
        note=" ".join(notes),
    )


# -- aha ---------------------------------------------------------------------------------------------------------------
def aha_spec(spec: ViewSpec) -> AhaSpec:
    """The aha search behind the view (the tests build the same one): single events and pairs, D30 with the view's
    criterion, users arriving on or after ``spec.start``."""
    return AhaSpec(sets=AHA_SETS, criterion=spec.criterion, since=spec.start)


def survives(row: dict[str, Any], alpha: float) -> bool:
    """Does the behaviour hold once channel and early activity are held fixed? Adjusted interval above zero and
    q-value at most alpha; a pair must also add to its best member alone (the API's finding rule)."""
    ok = _finite(row["adjusted_ci_lower"]) and row["adjusted_ci_lower"] > 0
    ok = ok and _finite(row["q_value"]) and row["q_value"] <= alpha
    if row["kind"] == "set":
        beyond, q = row["beyond_member"], row["beyond_member_q"]
        ok = ok and _finite(beyond) and beyond > 0 and _finite(q) and q <= alpha
    return bool(ok)


def top_behaviours(res: AhaSignals, top: int = TOP) -> list[dict[str, Any]]:
    """The ``top`` best-ranked behaviours, each event once (its best-ranked threshold); pairs are their own entries."""
    seen: set[str] = set()
    out = []
    for r in res.ranked().to_pylist():
        if r["event"] in seen:
            continue
        seen.add(r["event"])
        out.append(r)
        if len(out) == top:
            break
    return out


def _short(row: dict[str, Any], lang: str) -> str:
    if row["kind"] == "set":
        return pick(lang, f"{row['event']} (both)", f"{row['event']}（都用过）")
    return pick(lang, f"{row['event']} ≥ {row['threshold']}", f"{row['event']} ≥ {row['threshold']} 次")


def _describe(row: dict[str, Any], lang: str) -> str:
    d = row["days"]
    if row["kind"] == "set":
        return pick(lang, f"used {row['event']} in their first {d} days", f"前{d}天用过 {row['event']}")
    k, e = row["threshold"], row["event"]
    return pick(lang, f"had {k}+ {e} events in their first {d} days", f"前{d}天 {e} 达到 {k} 次及以上")


def _pts(x: float) -> str:
    return f"{100 * x:+.1f}"


def _aha_reading(res: AhaSignals, rows: list[dict[str, Any]], lang: str) -> str:
    n = res.spec.horizon
    best = next((r for r in rows if survives(r, res.spec.alpha)), None)
    if best is None:
        return pick(
            lang,
            f"No early behaviour goes with D{n} retention once channel and early activity are held fixed: the raw "
            "gaps come from being active early.",
            f"在控制渠道与早期活跃度之后，没有任何早期行为与第{n}天留存相关：原始差距来自早期活跃本身。",
        )
    level = f"{100 * (1 - res.spec.alpha):.0f}%"
    return pick(
        lang,
        f"Users who {_describe(best, lang)} kept {pct(best['rate_with'])} at D{n} against "
        f"{pct(best['rate_without'])} without; within the same channel and early activity the gap is "
        f"{_pts(best['adjusted'])} points ({level} CI {_pts(best['adjusted_ci_lower'])} to "
        f"{_pts(best['adjusted_ci_upper'])}).",
        f"{_describe(best, lang)}的用户第{n}天留存 {pct(best['rate_with'])}，其他用户 {pct(best['rate_without'])}；"
        f"在同一渠道、同样早期活跃度的用户中高出 {100 * best['adjusted']:.1f} 个百分点"
        f"（{level} 置信区间 {_pts(best['adjusted_ci_lower'])} 至 {_pts(best['adjusted_ci_upper'])}）。",
    )


def _aha_figure(rows: list[dict[str, Any]], aspec: AhaSpec, lang: str) -> go.Figure:
    alpha, n, d = aspec.alpha, aspec.horizon, aspec.days
    labels = [_short(r, lang) for r in rows]
    adj = [100 * r["adjusted"] for r in rows]
    hover_adj = pick(
        lang,
        "%{y}: %{x:+.1f} pts within channel × early activity<br>%{customdata[0]:,} users; q = %{customdata[1]:.2g}"
        "<extra></extra>",
        "%{y}：同渠道、同早期活跃度内 %{x:+.1f} 个百分点<br>%{customdata[0]:,} 位用户；q = %{customdata[1]:.2g}"
        "<extra></extra>",
    )
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=[100 * r["difference"] for r in rows],
            y=labels,
            mode="markers",
            marker={"symbol": "circle-open", "size": 9, "color": "#7f7f7f"},
            name=pick(lang, "Raw difference", "原始差异"),
            hovertemplate=pick(lang, "%{y}: raw %{x:+.1f} pts", "%{y}：原始 %{x:+.1f} 个百分点") + "<extra></extra>",
        )
    )
    for flag, colour, name in (
        (True, "#2ca02c", pick(lang, "Adjusted, holds (95% CI)", "调整后，成立（95% 区间）")),
        (False, "#1f77b4", pick(lang, "Adjusted, not established (95% CI)", "调整后，未确立（95% 区间）")),
    ):
        idx = [i for i, r in enumerate(rows) if survives(r, alpha) is flag]
        if not idx:
            continue
        fig.add_trace(
            go.Scatter(
                x=[adj[i] for i in idx],
                y=[labels[i] for i in idx],
                mode="markers",
                marker={"symbol": "square", "size": 10, "color": colour},
                error_x={
                    "type": "data",
                    "symmetric": False,
                    "array": [100 * rows[i]["adjusted_ci_upper"] - adj[i] for i in idx],
                    "arrayminus": [adj[i] - 100 * rows[i]["adjusted_ci_lower"] for i in idx],
                },
                customdata=[[rows[i]["n_with"], rows[i]["q_value"]] for i in idx],
                name=name,
                hovertemplate=hover_adj,
            )
        )
    fig.add_vline(x=0, line_dash="dot", line_color="grey")
    fig.update_layout(
        xaxis_title=pick(lang, f"Difference in D{n} retention (percentage points)", f"第{n}天留存差异（百分点）"),
        yaxis_title=pick(lang, f"Early behaviour (first {d} days)", f"早期行为（前{d}天）"),
        yaxis={"autorange": "reversed", "type": "category", "categoryorder": "array", "categoryarray": labels},
        legend_title_text=pick(lang, "Within channel × early activity", "同渠道、同早期活跃度内"),
        margin={"t": 30},
    )
    return fig


def _aha_row(r: dict[str, Any], alpha: float) -> dict[str, Any]:
    def num(v: Any) -> float | None:
        return float(v) if _finite(v) else None

    return {
        "rank": r["rank"],
        "behaviour": r["behaviour"],
        "kind": r["kind"],
        "users": r["n_with"],
        "coverage": num(r["coverage"]),
        "d30_with": num(r["rate_with"]),
        "d30_without": num(r["rate_without"]),
        "difference": num(r["difference"]),
        "adjusted": num(r["adjusted"]),
        "ci_lower": num(r["adjusted_ci_lower"]),
        "ci_upper": num(r["adjusted_ci_upper"]),
        "q_value": num(r["q_value"]),
        "best_member": r["best_member"],
        "beyond_member": num(r["beyond_member"]),
        "beyond_member_q": num(r["beyond_member_q"]),
        "survives": survives(r, alpha),
    }


def aha_view(ws: Workspace, spec: ViewSpec) -> View:
    """The early behaviours (events and pairs) that go with D30 retention within channel x early activity.

    Uses ``start`` (users arriving on or after it), ``end`` (``data_end``), ``criterion`` (D30 "on" day 30 or "on or
    after") and ``lang``. Ignores ``breakdown`` (channel is already a stratum of the adjustment; splitting the search
    by it would multiply the contrasts and halve the users behind each), ``period`` (the early window is the first
    7 days, the outcome day 30) and ``preset`` (it sets retention-table defaults, which the search has no use for).
    """
    res = aha_signals(ws, aha_spec(spec), data_end=spec.data_end(ws.settings.tz))
    n = res.spec.horizon
    if res.n_observed == 0:
        raise LiuliangError(f"no user has been observed to day {n} yet in this date range")
    rows = top_behaviours(res)
    if not rows:
        raise LiuliangError(
            f"no early behaviour could be ranked among the {res.n_observed:,} users observed to day {n} "
            "(each is held by almost everyone or almost no one, or has no comparable users without it)"
        )
    table = pa.Table.from_pylist([_aha_row(r, res.spec.alpha) for r in rows], schema=AHA_SCHEMA)
    on = pick(spec.lang, f"active on day {n}", f"第{n}天活跃")
    if res.spec.criterion == "on_or_after":
        on = pick(spec.lang, f"active on day {n} or later", f"第{n}天或之后活跃")
    note = pick(
        spec.lang,
        f"{res.n_observed:,} users observed to day {n} (D{n}: {on}; {pct(res.base_rate)} overall), "
        f"{int(pc.sum(res.table['rank'].is_valid()).as_py())} behaviours ranked; shown: each event at its "
        f"best-ranked threshold, and pairs, top {TOP}. "
        "Adjusted = compared within the same channel and number of early active days; q = Benjamini–Hochberg "
        "over the whole search. Association, not a promise that pushing a behaviour retains anyone.",
        f"已观察到第{n}天的用户 {res.n_observed:,} 位（第{n}天留存：{on}；总体 {pct(res.base_rate)}），"
        f"共排名 {int(pc.sum(res.table['rank'].is_valid()).as_py())} 个行为；图表显示前 {TOP} 个"
        "（每个事件取排名最高的阈值，另含事件组合）。"
        "调整后 = 在同一渠道、同样早期活跃天数的用户中比较；q 值为整个搜索的 Benjamini–Hochberg 校正。"
        "这是相关而非因果，不代表推动该行为就能留住用户。",
    )
    return View(
        key="aha",
        title=pick(spec.lang, "Aha signals: early behaviours that go with staying", "顿悟信号：与留存相关的早期行为"),
        reading=_aha_reading(res, rows, spec.lang),
        figure=_aha_figure(rows, res.spec, spec.lang),
        table=table,
        note=note,
    )
