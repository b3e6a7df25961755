"""``liuliang signals`` and ``liuliang intents``: did the subsidy buy habits? Aha behaviours and the "帮我" metric.

``signals`` prints :func:`liuliang.signals.aha.aha_signals` (definitions there): the one-line findings, then the
ranked behaviours. ``intents`` counts, per local week (or day / month), the messages users typed (events with a
``text``) by intent — task request, chat, other — and the market's own habit metric, task requests per active
user ("how many times users said 帮我"). Labels come from :func:`liuliang.signals.intents.classify_intents`.

Why ``intents`` classifies outside the warehouse: the rules run on Arrow's regex kernels, not in SQL, and real logs
repeat the same few thousand texts ("帮我打车") millions of times. So the warehouse only groups ``events`` into
``(period, text, count)`` rows — small next to the events — and the classifier labels that table's texts (once per
distinct text); the labelled counts are then summed per period in Arrow.
"""

from __future__ import annotations

import datetime as dt
import math
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa
import typer
from rich import box
from rich.table import Table
from rich.text import Text

from liuliang.cli.common import WorkspaceOpt, open_workspace, out, parse_data_end, print_json
from liuliang.cli.info import existing_workspace
from liuliang.cli.output import TableFormat, TableFormatOpt, emit, emit_for_machines
from liuliang.errors import WorkspaceError
from liuliang.metrics.retention.result import period_start
from liuliang.signals.aha import AhaSignals, AhaSpec, aha_signals
from liuliang.signals.intents import LABELS, classify_intents
from liuliang.warehouse import Workspace, periods
from liuliang.warehouse import tables as T


class Criterion(StrEnum):
    on = "on"
    on_or_after = "on_or_after"


class RankBy(StrEnum):
    adjusted = "adjusted"
    ci_lower = "ci_lower"


class IntentPeriod(StrEnum):
    day = "day"
    week = "week"
    month = "month"


def _ints(text: str, option: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise typer.BadParameter(f"expected integers separated by commas, got {text!r}", param_hint=option) from None


# -- signals ----------------------------------------------------------------------------------------------------------
def _pts(v: float | None) -> str:
    return "-" if v is None or not math.isfinite(v) else f"{100 * v:+.1f}"


def _pct(v: float | None) -> str:
    return "-" if v is None or not math.isfinite(v) else f"{100 * v:.1f}%"


def _ci(lo: float | None, hi: float | None) -> str:
    return "-" if _pts(lo) == "-" or _pts(hi) == "-" else f"{_pts(lo)}..{_pts(hi)}"


def _grid(
    title: str, headers: list[str], rows: list[list[str]], left: tuple[int, ...] = (), fold: tuple[int, ...] = ()
) -> None:
    """A Rich table of preformatted cells that never wraps a number (``emit`` shrinks numeric columns to fit
    narrow terminals, which hides them when a table has this many columns); a last text column may fold, and so
    may the text columns in ``fold`` (feature-set labels such as ``redeem_red_packet + order`` are long)."""
    grid = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for i, h in enumerate(headers):
        fold_it = (i == len(headers) - 1 and i in left) or i in fold
        grid.add_column(h, justify="left" if i in left else "right", no_wrap=not fold_it, overflow="fold")
    for r in rows:
        grid.add_row(*(Text(c) for c in r))  # event names are data, not Rich markup
    out.print(grid)


def signals_display(res: AhaSignals) -> tuple[list[str], list[list[str]]]:
    """The people's table (headers, cells) of the ranked behaviours, best first."""
    rows = sorted((r for r in res.table.to_pylist() if r["rank"] is not None), key=lambda r: r["rank"])
    level = f"{100 * (1 - res.spec.alpha):.0f}% CI"
    headers = ["#", "event", "k", "coverage", f"D{res.spec.horizon} with", "without", "raw", "adjusted", level]
    cells = []
    for r in rows:
        line = [
            str(r["rank"]),
            r["event"],
            "all" if r["kind"] == "set" else str(r["threshold"]),
            _pct(r["coverage"]),
            _pct(r["rate_with"]),
            _pct(r["rate_without"]),
            _pts(r["difference"]),
            _pts(r["adjusted"]),
            _ci(r["adjusted_ci_lower"], r["adjusted_ci_upper"]),
        ]
        cells.append(line)
    return headers, cells


def sets_display(res: AhaSignals) -> tuple[list[str], list[list[str]]]:
    """The ranked feature sets against their best member: what the rest of the set adds (adjusted, q-value)."""
    rows = sorted((r for r in res.table.to_pylist() if r["rank"] is not None and r["kind"] == "set"), key=_rank)
    level = f"{100 * (1 - res.spec.alpha):.0f}% CI"
    headers = ["#", "set", "best member", "beyond", level, "q"]
    cells = [
        [
            str(r["rank"]),
            r["event"],
            r["best_member"] or "-",
            _pts(r["beyond_member"]),
            _ci(r["beyond_member_ci_lower"], r["beyond_member_ci_upper"]),
            "-"
            if r["beyond_member_q"] is None or not math.isfinite(r["beyond_member_q"])
            else f"{r['beyond_member_q']:.3f}",
        ]
        for r in rows
    ]
    return headers, cells


def _rank(r: dict[str, Any]) -> int:
    return r["rank"]


def unranked_display(res: AhaSignals) -> tuple[list[str], list[list[str]]]:
    """The behaviours left out of the ranking and why (status), in candidate order."""
    rows = [r for r in res.table.to_pylist() if r["rank"] is None]
    headers = ["event", "k", "coverage", f"D{res.spec.horizon} with", "without", "raw", "status"]
    cells = [
        [
            r["event"],
            "all" if r["kind"] == "set" else str(r["threshold"]),
            _pct(r["coverage"]),
            _pct(r["rate_with"]),
            _pct(r["rate_without"]),
            _pts(r["difference"]),
            r["status"],
        ]
        for r in rows
    ]
    return headers, cells


def signals(
    workspace: WorkspaceOpt = Path("liuliang.duckdb"),
    days: Annotated[int, typer.Option("--days", help="Early window d: the first d days from a user's first day.")] = 7,
    horizon: Annotated[int, typer.Option("--horizon", help="Retention day N (the outcome is DN retention).")] = 30,
    criterion: Annotated[
        Criterion, typer.Option("--criterion", help="on: active on day N exactly; on_or_after: on day N or later.")
    ] = Criterion.on,
    thresholds: Annotated[
        str, typer.Option("--thresholds", help="The k of 'at least k events in the first d days', comma-separated.")
    ] = "1,2,3,5,7",
    events: Annotated[
        str | None,
        typer.Option("--events", help="Candidate events, comma-separated (default: the 20 most common early)."),
    ] = None,
    sets: Annotated[
        int,
        typer.Option(
            "--sets",
            help="Also try feature sets 'used every event of S': 2 = pairs, 3 = pairs and triples (0: none).",
        ),
    ] = 0,
    set_events: Annotated[
        int, typer.Option("--set-events", help="Sets are built from this many most common early events.")
    ] = 6,
    rank_by: Annotated[
        RankBy, typer.Option("--rank-by", help="adjusted effect, or its lower CI bound (large and well measured).")
    ] = RankBy.adjusted,
    top: Annotated[int, typer.Option("--top", help="How many one-line findings (best threshold per event).")] = 5,
    show_all: Annotated[
        bool, typer.Option("--all", help="Table: also list the behaviours not ranked, with the reason.")
    ] = False,
    data_end: Annotated[
        str | None, typer.Option("--data-end", help="'Now' as an ISO time in UTC; default the last event.")
    ] = None,
    fmt: TableFormatOpt = TableFormat.table,
) -> None:
    """Aha signals: early behaviours that go with DN retention beyond channel and early activity.

    Behaviour: at least k events E in the user's first --days days (from the first active day).
    Compared on day --horizon retention: coverage, both rates, the raw difference (percentage points), and the
    difference adjusted for acquisition channel and early active days (post-stratified, with an interval).
    Users whose day N has not ended by --data-end are left out. Rankings are associations, not promises.
    --sets 2 adds feature sets ("used search + ask in the first d days", k = all) from the --set-events most common
    early events, ranked with the single events; a set is written as a finding only when it adds to its best
    member (beyond best member: the adjusted difference among users who did that member).
    csv and json list every behaviour; json also has the one-line findings.
    """
    names = tuple(e.strip() for e in events.split(",") if e.strip()) if events else None
    spec = AhaSpec(
        days=days,
        horizon=horizon,
        criterion=criterion.value,  # type: ignore[arg-type]
        thresholds=_ints(thresholds, "--thresholds"),
        events=names or None,
        rank_by=rank_by.value,  # type: ignore[arg-type]
        top=top,
        sets=sets,
        set_events=set_events,
    )
    with open_workspace(existing_workspace(workspace)) as ws:
        res = aha_signals(ws, spec, data_end=parse_data_end(data_end))
    if emit_for_machines(res, fmt):
        return
    out.print(
        f"{res.n_observed:,} users observed to day {horizon} (D{horizon} {_pct(res.base_rate)}); "
        f"{res.n_unobserved:,} not yet observed, left out. data_end {res.data_end:%Y-%m-%d %H:%M} UTC.",
        highlight=False,
    )
    for line in res.findings or ("no behaviour could be ranked (see --all)",):
        out.print(f"- {line}", markup=False, highlight=False)
    title = f"behaviours in the first {days} days, ranked by {rank_by.value}"
    _grid(title, *signals_display(res), left=(1,), fold=(1,) if sets else ())
    if sets:
        _grid(
            "feature sets: what the rest of the set adds to its best member", *sets_display(res), left=(1, 2), fold=(1,)
        )
    if show_all:
        _grid("not ranked", *unranked_display(res), left=(0, 6), fold=(0,) if sets else ())
    out.print(
        "raw, adjusted: percentage points; adjusted: within users of the same channel and number of early active days.",
        style="dim",
    )
    if sets:
        out.print(
            "sets (k = all): used every event listed. beyond: the set's adjusted difference among users who did its "
            "best member (the strongest single event); a set is a finding only when this is above 0 (q <= alpha).",
            style="dim",
        )


# -- intents ----------------------------------------------------------------------------------------------------------
def _period_days(p: int, by: str, week_start: str) -> tuple[int, int]:
    """First and last local day number of period ``p``."""
    first = period_start(p, by, week_start)
    if by == "day":
        last = first
    elif by == "week":
        last = first + dt.timedelta(days=6)
    else:
        nxt = dt.date(first.year + first.month // 12, first.month % 12 + 1, 1)
        last = nxt - dt.timedelta(days=1)
    return periods.day_number(first), periods.day_number(last)


def _text_counts(ws: Workspace, by: str, end: dt.datetime | None) -> ir.Table:
    """``period, text, n``: messages (events with a non-null text) per period and text, up to ``end``."""
    ev = ws.table(T.EVENTS)
    ev = ev.filter(ev.text.notnull())
    if end is not None:
        ev = ev.filter(ev.ts <= ibis.literal(end, "timestamp"))
    ev = ev.mutate(period=periods.period_of_day(ev.day, by, ws.settings.week_start).cast("int64"))
    return ev.group_by(["period", "text"]).aggregate(n=ev.count())


def _active_users(ws: Workspace, by: str, end: dt.datetime | None) -> ir.Table:
    """``period, active_users``: users with any event in the period (from the user-day rollup), up to ``end``."""
    ud = ws.user_day() if end is None else ws.user_day_until(end)
    ud = ud.mutate(period=periods.period_of_day(ud.day, by, ws.settings.week_start).cast("int64"))
    return ud.group_by("period").aggregate(active_users=ud.user_key.nunique())


def summarise_intents(
    counts: pa.Table, active: pa.Table, *, by: str, week_start: str, span: tuple[int, int] | None
) -> pa.Table:
    """Per period: messages by label and task requests per active user, from the two warehouse tables.

    ``span`` (first and last local day with data) marks periods the data does not cover entirely as incomplete:
    their counts are not comparable with whole periods.
    """
    labels = classify_intents(counts["text"]).labels.cast(pa.string())
    labelled = pa.table({"period": counts["period"], "label": labels, "n": counts["n"].cast(pa.int64())})
    sums = labelled.group_by(["period", "label"]).aggregate([("n", "sum")]).to_pylist()
    by_label: dict[tuple[int, str], int] = {(r["period"], r["label"]): r["n_sum"] for r in sums}
    users = dict(zip(active["period"].to_pylist(), active["active_users"].to_pylist(), strict=True))
    keys = sorted(set(users) | {p for p, _ in by_label})
    rows: list[dict[str, Any]] = []
    for p in keys:
        first, last = _period_days(p, by, week_start)
        n = {label: int(by_label.get((p, label), 0)) for label in LABELS}
        messages = sum(n.values())
        au = int(users.get(p, 0))
        rows.append(
            {
                "period": p,
                "period_start": periods.date_of_day(first),
                "incomplete": span is not None and (first < span[0] or last > span[1]),
                "messages": messages,
                **n,
                "active_users": au,
                "task_per_active_user": n["task"] / au if au else None,
                "task_share": n["task"] / messages if messages else None,
            }
        )
    schema = pa.schema(
        [
            ("period", pa.int64()),
            ("period_start", pa.date32()),
            ("incomplete", pa.bool_()),
            ("messages", pa.int64()),
            *[(label, pa.int64()) for label in LABELS],
            ("active_users", pa.int64()),
            ("task_per_active_user", pa.float64()),
            ("task_share", pa.float64()),
        ]
    )
    return pa.Table.from_pylist(rows, schema=schema)


def intent_table(ws: Workspace, by: str = "week", *, data_end: dt.datetime | None = None) -> pa.Table:
    """Run both warehouse queries and :func:`summarise_intents` (see the module docstring)."""
    if not ws.has_table(T.EVENTS):
        raise WorkspaceError("intents read the events table; ingest events first")
    if "text" not in ws.table(T.EVENTS).columns:
        raise WorkspaceError("the events table has no text column: no messages to classify")
    counts = ws.engine.to_arrow(_text_counts(ws, by, data_end))
    active = ws.engine.to_arrow(_active_users(ws, by, data_end))
    span = ws.event_span()
    covered = None
    if span is not None:
        last = (
            span.last_day if data_end is None else min(span.last_day, periods.day_of_instant(data_end, ws.settings.tz))
        )
        covered = (span.first_day, last)
    return summarise_intents(counts, active, by=by, week_start=ws.settings.week_start, span=covered)


def intents(
    workspace: WorkspaceOpt = Path("liuliang.duckdb"),
    by: Annotated[IntentPeriod, typer.Option("--by", help="Local period: day, week or month.")] = IntentPeriod.week,
    data_end: Annotated[
        str | None, typer.Option("--data-end", help="Count events up to this ISO time in UTC; default all.")
    ] = None,
    fmt: TableFormatOpt = TableFormat.table,
) -> None:
    """Task intent per week: task requests, chat and other messages, and task requests per active user.

    A message is an event with a text; the built-in rules label it (simplified, traditional Chinese, English):
    task: a request for the assistant to act (帮我订…, 幫我訂…, please book…).
    chat: social talk (greetings, thanks, jokes, feelings).
    other: the rest (factual, how-to and capability questions, reports of the past, withdrawn requests).
    task/user (task_per_active_user): task requests / users with any event in the period, the 帮我 habit metric.
    Periods are local (workspace time zone and week start); * (incomplete) marks periods the data covers in part.
    """
    with open_workspace(existing_workspace(workspace)) as ws:
        table = intent_table(ws, by.value, data_end=parse_data_end(data_end))
    if fmt is TableFormat.json:
        print_json({"by": by.value, "method": "rules", "data_end": data_end, "rows": table.to_pylist()})
        return
    if fmt is TableFormat.csv:
        emit(table, fmt, title="")
        return
    headers = [by.value, "messages", *LABELS, "active", "task/user", "task %"]
    cells = [
        [
            r["period_start"].isoformat() + ("*" if r["incomplete"] else ""),
            f"{r['messages']:,}",
            *(f"{r[label]:,}" for label in LABELS),
            f"{r['active_users']:,}",
            "-" if r["task_per_active_user"] is None else f"{r['task_per_active_user']:.2f}",
            _pct(r["task_share"]),
        ]
        for r in table.to_pylist()
    ]
    _grid(f"messages by intent per {by.value}", headers, cells, left=(0,))
    out.print(
        "* the data covers only part of the period. active: users with any event; task/user: task requests per "
        "active user; task %: share of messages.",
        style="dim",
    )
