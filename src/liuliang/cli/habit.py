"""``liuliang habit``: the task-intent habit metric — task requests per week since acquisition by cohort, the
trend, and day-N retention by task requests in the first days (:mod:`liuliang.signals.habit`).

The table view is compact on purpose: one line per cohort with one cell per week, then one line per breakdown
value with one cell per early-request bucket, the rank correlations, and one line per breakdown value comparing
users with ``--threshold`` (3) or more early requests with users with none, raw and within channel x early active
days (:attr:`TaskHabit.adjusted`): the figure that says whether asking adds anything beyond coming back.
``--format csv`` writes the long cohort-week table (every count); ``--format json`` writes the whole result
(cohort weeks, trend, retention by bucket, rank correlation, adjusted relation).
"""

from __future__ import annotations

import math
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from liuliang.cli.common import WorkspaceOpt, open_workspace, out, parse_data_end
from liuliang.cli.info import existing_workspace
from liuliang.cli.output import TableFormat, TableFormatOpt, emit_for_machines
from liuliang.signals.habit import TaskHabit, TaskHabitSpec, task_habit


class CohortPeriod(StrEnum):
    day = "day"
    week = "week"
    month = "month"


class Per(StrEnum):
    active = "active"
    member = "member"


def _num(v: float | None, digits: int = 2) -> str:
    return "-" if v is None or not math.isfinite(v) else f"{v:.{digits}f}"


def _pct(v: float | None) -> str:
    return "-" if v is None or not math.isfinite(v) else f"{100 * v:.1f}%"


def _grid(title: str, headers: list[str], rows: list[list[str]], left: int = 1) -> None:
    """A Rich table of preformatted cells that never wraps a number (the first ``left`` columns are text); no
    edges and one space between columns, so eight weeks fit an 80-column terminal."""
    out.print(Text(title, style="bold"))  # not a table title: Rich wraps those to the (narrow) table's width
    grid = Table(box=box.SIMPLE_HEAD, show_edge=False, padding=0)
    for i, h in enumerate(headers):
        grid.add_column(h, justify="left" if i < left else "right", no_wrap=True)
    for r in rows:
        grid.add_row(*(Text(c) for c in r))  # breakdown values are data, not Rich markup
    out.print(grid)
    out.print()


def _values(table: Any) -> list[str]:
    """Breakdown values in table order (``all`` last where it is a pooled group)."""
    return list(dict.fromkeys(table["breakdown"].to_pylist()))


def cohort_display(res: TaskHabit, per: Per, breakdown: str) -> tuple[list[str], list[list[str]]]:
    """One line per cohort of one breakdown value: size, the chosen rate per week (* incomplete), the trend."""
    key = "task_per_active_user" if per is Per.active else "task_per_user"
    cells: dict[Any, dict[int, dict[str, Any]]] = {}
    for r in res.table.to_pylist():
        if r["breakdown"] == breakdown:
            cells.setdefault(r["cohort_start"], {})[r["week"]] = r
    trend = {t["cohort_start"]: t for t in res.trend.to_pylist() if t["breakdown"] == breakdown}
    slope_key = "relative_slope" if per is Per.active else "slope_per_member"
    headers = ["cohort", "users", *(f"w{k}" for k in range(res.spec.weeks))]
    headers.append("trend" if per is Per.active else "slope")
    rows = []
    for start, weeks in cells.items():
        first = next(iter(weeks.values()))
        line = [start.isoformat(), f"{first['cohort_users']:,}"]
        for k in range(res.spec.weeks):
            r = weeks.get(k)
            line.append("" if r is None else _num(r[key], 1) + ("*" if r["incomplete"] else ""))
        t = trend[start][slope_key]
        line.append("-" if t is None else (f"{100 * t:+.0f}%" if per is Per.active else f"{t:+.2f}"))
        rows.append(line)
    return headers, rows


def retention_display(res: TaskHabit) -> tuple[list[str], list[list[str]]]:
    """Per breakdown value (name on its first line) and early bucket: users, day-N retention, Wilson interval."""
    level = f"{100 * (1 - res.spec.alpha):.0f}% CI"
    headers = ["breakdown", "early requests", "users", "share", f"D{res.spec.retention_day}", level]
    rows, last = [], None
    for r in res.retention.to_pylist():
        ci = "-" if r["ci_lower"] is None else f"{100 * r['ci_lower']:.1f}-{100 * r['ci_upper']:.1f}%"
        name = "" if r["breakdown"] == last else r["breakdown"]
        last = r["breakdown"]
        rows.append([name, r["bucket"], f"{r['users']:,}", _pct(r["share"]), _pct(r["rate"]), ci])
    return headers, rows


def correlation_display(res: TaskHabit) -> tuple[list[str], list[list[str]]]:
    """Per breakdown value: users, mean early requests, day-N retention, Spearman's rho with interval and p."""
    level = f"{100 * (1 - res.spec.alpha):.0f}% CI"
    headers = ["breakdown", "users", "mean early", f"D{res.spec.retention_day}", "rho", level, "p"]
    rows = []
    for c in res.correlation.to_pylist():
        ci = "-" if c["ci_lower"] is None else f"{c['ci_lower']:+.2f}..{c['ci_upper']:+.2f}"
        p = "-" if c["p_value"] is None else f"{c['p_value']:.2g}"
        rho = "-" if c["rho"] is None else f"{c['rho']:+.2f}"
        rows.append([c["breakdown"], f"{c['users']:,}", _num(c["mean_early_tasks"], 1), _pct(c["retention_rate"])])
        rows[-1] += [rho, ci, p]
    return headers, rows


def habit_command(
    workspace: WorkspaceOpt = Path("liuliang.duckdb"),
    by: Annotated[
        str | None, typer.Option("--by", help="A users column to split cohorts by, e.g. channel (default: none).")
    ] = None,
    weeks: Annotated[int, typer.Option("--weeks", help="Weeks since acquisition to show (0 .. weeks-1).")] = 8,
    cohort: Annotated[
        CohortPeriod, typer.Option("--cohort", help="Cohort period of the first active day.")
    ] = CohortPeriod.week,
    early_days: Annotated[
        int, typer.Option("--early-days", help="Early window d: task requests in the first d days.")
    ] = 7,
    retention_day: Annotated[int, typer.Option("--retention-day", help="Retention day N (active on day N).")] = 30,
    threshold: Annotated[
        int, typer.Option("--threshold", help="k of the adjusted line: k+ early task requests against none.")
    ] = 3,
    per: Annotated[
        Per, typer.Option("--per", help="Table: task requests per active user (intensity) or per member (volume).")
    ] = Per.active,
    data_end: Annotated[
        str | None, typer.Option("--data-end", help="'Now' as an ISO time in UTC; default the last event.")
    ] = None,
    fmt: TableFormatOpt = TableFormat.table,
) -> None:
    """Task-intent habit: task requests ("帮我…") per week since acquisition by cohort, and D30 by early requests.

    A task request is a message the built-in rules label task (simplified, traditional Chinese, English).
    Week k is days 7k..7k+6 from the user's first active day; a cohort is the week of that day (x --by).
    w0, w1, ...: task requests per active user that week (--per member: per cohort member); * the week has not
    ended for every member. trend: weighted slope over complete weeks, as % of the level per week.
    Then: day --retention-day retention by task requests in the first --early-days days (users), Spearman's rho,
    and --threshold+ requests against none, raw and within channel (or --by) x early active days, with a 95% CI.
    Associations, not promises: task users are a different kind of user.
    """
    spec = TaskHabitSpec(
        cohort_period=cohort.value,  # type: ignore[arg-type]
        weeks=weeks,
        breakdown=by,
        early_days=early_days,
        retention_day=retention_day,
        threshold=threshold,
    )
    with open_workspace(existing_workspace(workspace)) as ws:
        res = task_habit(ws, spec, data_end=parse_data_end(data_end))
    if emit_for_machines(res, fmt):
        return
    out.print(
        f"{res.n_users:,} users; {res.task_texts:,} of {res.distinct_texts:,} distinct texts are task requests "
        f"({res.method}). data_end {res.data_end:%Y-%m-%d %H:%M} UTC.",
        highlight=False,
    )
    what = "per active user" if per is Per.active else "per cohort member"
    for value in _values(res.table):
        where = "" if by is None else f"{by} = {value}: "
        _grid(f"{where}task requests {what} by week since acquisition", *cohort_display(res, per, value))
    out.print(
        "* the week is not over for every member. "
        + (
            "trend: weighted slope over the complete weeks, per week, as a share of the level."
            if per is Per.active
            else "slope: change per week over the complete weeks."
        ),
        style="dim",
    )
    _grid(
        f"D{retention_day} retention by task requests in the first {early_days} days "
        f"({res.n_observed:,} users observed to day {retention_day})",
        *retention_display(res),
        left=2,
    )
    _grid(f"rank correlation of early task requests with D{retention_day}", *correlation_display(res))
    for value in _values(res.adjusted):
        line = res.adjusted_finding(value)
        out.print(line if by is None else f"{value}: {line}", highlight=False, soft_wrap=True)
