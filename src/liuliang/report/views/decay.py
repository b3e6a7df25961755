"""Where is retention heading? Retention curves fitted per breakdown value and projected to D90 / D365.

The question the dashboard opens with — did the subsidy buy habits, or only visits? — is answered by the *habit
floor*: the share of a cohort still active however long you wait. A red-packet channel can show a fine D7 and
still be heading for almost nobody; this view shows, per breakdown value, the observed day-N retention, the fitted
curve, where it will be on day 90 and day 365 (with an interval), and the floor it levels off at.

How the numbers are made (the tests recompute them this way, independently):

- Cells: :func:`liuliang.metrics.retention.retention` with daily first-time cohorts (``RetentionSpec`` built from
  ``spec.preset`` when given, then ``criterion``, the cohort dates and the breakdown of the view spec), every
  observable age ``1 .. periods`` where ``periods`` spans the first cohort day to the last day.
- Points: for each breakdown value and age ``a >= 1``, the cohorts' complete cells pooled — Σ count / Σ cohort
  size, :meth:`RetentionTable.mean` with ``weighted=True``. Pooling gives the *same* maximum-likelihood curve as
  fitting every cohort cell (the binomial log-likelihood of cells sharing m(a) is the pooled one plus a constant)
  and is 3-4x faster; only the Pearson dispersion that widens the intervals is computed on the pooled points.
- Curve: :class:`~liuliang.models.curves.RetentionCurveFitter` with ``model="power_floor"`` (power-law decay to a
  floor; it nests the floorless power law). Chosen over ``model="auto"`` because the four-shape selection costs 3x
  (about 3 s for four channels, too slow for a page) and on generated worlds the power floor recovered the
  planted floors as well or better; it is also the curve behind the scorecard's LTV, so the two views agree.
- Projection: :meth:`RetentionCurveFitter.project` at 90 and 365 days (delta-method interval, parameter
  uncertainty only); floor interval: the fitter's profile-likelihood ``habit_floor_interval_``.

ViewSpec knobs: ``start``/``end`` bound the cohorts and ``end`` is the ``data_end``; ``breakdown``, ``criterion``
and ``preset`` are applied. ``period`` is ignored: D90 / D365 are day ages, and weekly cohorts would leave a dozen
points to fit a four-parameter curve on.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import plotly.graph_objects as go
import pyarrow as pa
import pyarrow.compute as pc
from plotly.colors import qualitative

from liuliang.errors import LiuliangError
from liuliang.metrics.retention import RetentionSpec, RetentionTable, retention
from liuliang.metrics.retention.presets import PRESETS
from liuliang.models import RetentionCurveFitter
from liuliang.report.view import View, ViewSpec, pct, pick
from liuliang.warehouse import periods

if TYPE_CHECKING:
    from liuliang.warehouse import Workspace

KEY = "decay"
MODEL = "power_floor"
PROJECT_TO = (90, 365)
#: Lines drawn at most (the largest breakdown values by users); more would be unreadable and slow.
MAX_LINES = 6
#: A floor below this (0.01%) is a floorless curve: no dashed line at zero.
FLOOR_SHOWN = 1e-4
#: The curve and band are drawn on this many ages between 1 and the last projected age.
GRID_POINTS = 120

TABLE_SCHEMA = pa.schema(
    [
        ("breakdown", pa.string()),
        ("users", pa.int64()),
        ("fitted_ages", pa.int64()),
        ("model", pa.string()),
        ("d30_observed", pa.float64()),
        ("d90", pa.float64()),
        ("d90_lower", pa.float64()),
        ("d90_upper", pa.float64()),
        ("d365", pa.float64()),
        ("d365_lower", pa.float64()),
        ("d365_upper", pa.float64()),
        ("habit_floor", pa.float64()),
        ("habit_floor_lower", pa.float64()),
        ("habit_floor_upper", pa.float64()),
        ("note", pa.string()),
    ]
)


@dataclass(frozen=True)
class _Line:
    """One breakdown value: its pooled points and, when the curve could be fitted, the fitter."""

    name: str
    users: int
    ages: np.ndarray
    share: np.ndarray
    size: np.ndarray
    fitter: RetentionCurveFitter | None
    error: str | None


def retention_spec(ws: Workspace, spec: ViewSpec) -> tuple[RetentionSpec, dt.datetime | None]:
    """The retention query behind the view, and its ``data_end`` (the tests build the same one)."""
    span = ws.event_span()
    if span is None:
        raise LiuliangError("the workspace has no events yet; ingest events before projecting retention")
    first = max(periods.date_of_day(span.first_day), spec.start) if spec.start else periods.date_of_day(span.first_day)
    last = min(periods.date_of_day(span.last_day), spec.end) if spec.end else periods.date_of_day(span.last_day)
    ages = max(7, (last - first).days)
    fields: dict[str, Any] = {
        "period": "day",
        "periods": ages,
        "criterion": spec.criterion,
        "breakdown": spec.breakdown,
        "date_from": spec.start,
        "date_to": spec.end,
    }
    if spec.preset is not None:
        if spec.preset not in PRESETS:
            raise LiuliangError(f"unknown preset {spec.preset!r}; choose one of {', '.join(PRESETS)}")
        # period, periods, criterion, breakdown and the dates are the view's; the preset sets the rest
        # (window, denominator, period zero)
        rspec = PRESETS[spec.preset](**fields)
    else:
        rspec = RetentionSpec(**fields)
    return rspec, spec.data_end(ws.settings.tz)


def pooled_points(table: RetentionTable) -> pa.Table:
    """``breakdown, period_offset, cohort_size, count, rate`` per age >= 1: complete cells pooled over cohorts."""
    mean = table.mean(weighted=True)
    keep = pc.and_(pc.greater_equal(mean["period_offset"], 1), pc.greater(mean["cohort_size"], 0))
    return mean.filter(pc.and_(keep, pc.is_valid(mean["rate"])))


def _users(table: RetentionTable) -> dict[str, int]:
    """Cohort members per breakdown value (every cohort, complete or not): the offset-0 cells summed."""
    t = table.to_arrow()
    zero = t.filter(pc.equal(t["period_offset"], 0))
    sums = zero.group_by("breakdown").aggregate([("cohort_size", "sum")])
    return dict(zip(sums["breakdown"].to_pylist(), sums["cohort_size_sum"].to_pylist(), strict=True))


def _fit_lines(table: RetentionTable) -> tuple[list[_Line], int]:
    """The largest ``MAX_LINES`` breakdown values with their points and fits, and how many values were left out."""
    users = _users(table)
    names = sorted(users, key=lambda b: (-users[b], b))
    points = pooled_points(table)
    lines = []
    for name in names[:MAX_LINES]:
        p = points.filter(pc.equal(points["breakdown"], name))
        ages = np.asarray(p["period_offset"].to_pylist(), dtype=float)
        share = np.asarray(p["rate"].to_pylist(), dtype=float)
        size = np.asarray(p["cohort_size"].to_pylist(), dtype=float)
        fitter, error = None, None
        try:
            fitter = RetentionCurveFitter(model=MODEL).fit(ages, share, size)
        except LiuliangError as exc:
            error = str(exc)
        lines.append(_Line(name, int(users[name]), ages, share, size, fitter, error))
    return lines, max(0, len(names) - MAX_LINES)


def _row(line: _Line) -> dict[str, Any]:
    at30 = line.share[line.ages == 30]
    row: dict[str, Any] = {
        "breakdown": line.name,
        "users": line.users,
        "fitted_ages": int(line.ages.max()) if line.ages.size else 0,
        "d30_observed": float(at30[0]) if at30.size else None,
    }
    if line.fitter is None:
        return {**row, "note": line.error}
    f = line.fitter
    row["model"] = f.model_
    for p in f.project(PROJECT_TO).to_arrow().to_pylist():
        k = f"d{p['age']:g}"
        row[k], row[f"{k}_lower"], row[f"{k}_upper"] = p["retention"], p["lower"], p["upper"]
    row["habit_floor"] = f.habit_floor_
    row["habit_floor_lower"], row["habit_floor_upper"] = f.habit_floor_interval_
    return row


def _label(name: str, lang: str) -> str:
    return pick(lang, "All users", "全部用户") if name == "all" else name


def _reading(rows: list[dict[str, Any]], lang: str) -> str:
    fitted = [r for r in rows if r.get("model") is not None]
    if len(fitted) == 1:
        r = fitted[0]
        name = _label(r["breakdown"], lang)
        return pick(
            lang,
            f"{name} users are heading for a {pct(r['habit_floor'])} habit floor, {pct(r['d365'])} active on day 365.",
            f"{name}用户的留存正趋向 {pct(r['habit_floor'])} 的习惯底线，第365天预计 {pct(r['d365'])} 仍活跃。",
        )
    order = sorted(fitted, key=lambda r: (r["habit_floor"], r["d365"], r["breakdown"]))
    low, high = order[0], order[-1]
    lo, hi = _label(low["breakdown"], lang), _label(high["breakdown"], lang)
    return pick(
        lang,
        f"{lo} users are heading for a {pct(low['habit_floor'])} habit floor; "
        f"{hi} users for {pct(high['habit_floor'])}.",
        f"{lo}用户的留存正趋向 {pct(low['habit_floor'])} 的习惯底线；{hi}用户则趋向 {pct(high['habit_floor'])}。",
    )


def _figure(lines: list[_Line], lang: str) -> go.Figure:
    fig = go.Figure()
    palette = qualitative.Plotly
    top = float(max(PROJECT_TO))
    grid = np.unique(np.r_[np.geomspace(1, top, GRID_POINTS), PROJECT_TO])
    for i, line in enumerate(lines):
        color = palette[i % len(palette)]
        name = _label(line.name, lang)
        group = f"g{i}"
        if line.fitter is not None:
            proj = line.fitter.project(grid).to_arrow()
            x = proj["age"].to_pylist()
            fig.add_trace(
                go.Scatter(
                    x=x + x[::-1],
                    y=proj["upper"].to_pylist() + proj["lower"].to_pylist()[::-1],
                    fill="toself",
                    fillcolor=color,
                    opacity=0.15,
                    line={"width": 0},
                    hoverinfo="skip",
                    legendgroup=group,
                    showlegend=False,
                    name=pick(lang, f"{name}: 95% interval", f"{name}：95% 区间"),
                )
            )
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=proj["retention"].to_pylist(),
                    mode="lines",
                    line={"color": color},
                    legendgroup=group,
                    showlegend=False,
                    name=pick(lang, f"{name}: fitted and projected", f"{name}：拟合与预测"),
                )
            )
            if line.fitter.habit_floor_ >= FLOOR_SHOWN:
                fig.add_trace(
                    go.Scatter(
                        x=[1.0, top],
                        y=[line.fitter.habit_floor_] * 2,
                        mode="lines",
                        line={"color": color, "dash": "dash", "width": 1},
                        legendgroup=group,
                        showlegend=False,
                        name=pick(lang, f"{name}: habit floor", f"{name}：习惯底线"),
                    )
                )
        fig.add_trace(
            go.Scatter(
                x=line.ages.tolist(),
                y=line.share.tolist(),
                mode="markers",
                marker={"color": color, "size": 5},
                legendgroup=group,
                name=name,
                customdata=line.size.astype(int).tolist(),
                hovertemplate=pick(
                    lang,
                    "day %{x}: %{y:.1%} of %{customdata:,} users",
                    "第 %{x} 天：%{customdata:,} 人中 %{y:.1%}",
                ),
            )
        )
    fig.update_layout(
        xaxis_title=pick(lang, "Days since first visit", "首次访问后天数"),
        yaxis_title=pick(lang, "Share of the cohort active that day", "当天活跃的同期用户占比"),
        yaxis_tickformat=".0%",
        legend_title_text=pick(
            lang, "Dots: observed; line: fitted; dashes: habit floor", "点：实测；线：拟合；虚线：习惯底线"
        ),
        margin={"t": 30},
    )
    return fig


def decay_projection(ws: Workspace, spec: ViewSpec) -> View:
    """Per breakdown value: pooled observed day-N retention, the fitted curve, D90/D365 and the habit floor.

    Ignores ``spec.period`` (always daily ages; see the module docstring). Raises :class:`LiuliangError` when no
    breakdown value has enough ages to fit a curve (``build_view`` turns it into a note).
    """
    rspec, data_end = retention_spec(ws, spec)
    table = retention(ws, rspec, data_end=data_end)
    lines, left_out = _fit_lines(table)
    rows = [_row(line) for line in lines]
    if not any(r.get("model") for r in rows):
        reasons = "; ".join(f"{r['breakdown']}: {r.get('note')}" for r in rows) or "no cohorts in this range"
        raise LiuliangError(f"no retention curve could be fitted ({reasons})")
    notes = [
        pick(spec.lang, f"{r['breakdown']}: not fitted ({r['note']}).", f"{r['breakdown']}：未拟合（{r['note']}）。")
        for r in rows
        if r.get("model") is None
    ]
    if left_out:
        notes.append(
            pick(
                spec.lang,
                f"The {left_out} smallest of {len(lines) + left_out} groups are not shown.",
                f"{len(lines) + left_out} 个分组中最小的 {left_out} 个未显示。",
            )
        )
    notes.append(
        pick(
            spec.lang,
            "Curve: power-law decay to a habit floor, fitted on daily first-time cohorts; 95% intervals cover "
            "parameter uncertainty only, not the risk that the shape changes after the observed days.",
            "曲线：幂律衰减至习惯底线，基于按日首次访问同期群拟合；"
            "95% 区间只含参数不确定性，不含观测期之后曲线形状改变的风险。",
        )
    )
    return View(
        key=KEY,
        title=pick(
            spec.lang,
            "Where is retention heading? Projected retention and habit floor",
            "留存将走向哪里？预测留存与习惯底线",
        ),
        reading=_reading(rows, spec.lang),
        figure=_figure(lines, spec.lang),
        table=pa.Table.from_pylist([{c: r.get(c) for c in TABLE_SCHEMA.names} for r in rows], schema=TABLE_SCHEMA),
        note=" ".join(notes),
    )
