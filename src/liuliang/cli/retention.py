"""``liuliang retention``: a retention table with every knob of the spec as an option.

Start from a preset (``--preset posthog|amplitude|mixpanel``) and override any knob; what runs is printed with the
result, so a number can always be traced back to its definition.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from liuliang.cli.common import WorkspaceOpt, open_workspace, out, print_json
from liuliang.cli.info import existing_workspace
from liuliang.metrics.retention import RetentionSpec, RetentionTable, retention
from liuliang.metrics.retention.filters import NUMERIC_OPS, OPS, PRESENCE_OPS, Condition
from liuliang.metrics.retention.presets import PRESETS

Panel = "Retention spec"


class TableFormat(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


def _events(text: str | None) -> tuple[str, ...] | None:
    return tuple(e.strip() for e in text.split(",") if e.strip()) if text else None


#: ``--where`` shorthands, longest first (so ``!=~`` is not read as ``!=`` and a value starting with ``~``).
SHORTHANDS = (
    ("!=~", "not_regex"),
    ("!~*", "not_icontains"),
    ("!=", "is_not"),
    ("!~", "not_contains"),
    ("=~", "regex"),
    ("~*", "icontains"),
    (">=", "gte"),
    ("<=", "lte"),
    ("=", "exact"),
    ("~", "contains"),
    (">", "gt"),
    ("<", "lt"),
)
#: Names accepted in the ``COLUMN:OP[:VALUE]`` form besides the operator names themselves.
OP_ALIASES = {"set": "is_set", "unset": "is_not_set", "not_set": "is_not_set", "eq": "exact", "ne": "is_not"}
WHERE_HELP = (
    "COLUMN<op>VALUE, repeat to and: = (V1,V2: any of), != (none of), ~ contains, !~ not contains, "
    "~* / !~* ignoring case, =~ / !=~ regex, > >= < <= numbers; or COLUMN:OP[:VALUE] for any operator "
    "(city:set, city:unset, level:between:1,5, city:exact:~x). An unset value matches only the negated "
    "operators (!=, !~, !~*, !=~) and unset."
)
_WHERE_RE = re.compile(r"^([^=!<>~:]+?)\s*(" + "|".join(re.escape(t) for t, _ in SHORTHANDS) + r"|:)(.*)$", re.S)


def _where(items: list[str] | None, option: str) -> tuple[Condition, ...] | None:
    """``--where`` expressions as conditions: ``["city=bj", "os!=ios,android", "level>=3", "city:unset"]``.

    ``COLUMN=V1,V2`` means "in" (and ``!=`` with a comma "not in"); values are stripped of surrounding spaces.
    A malformed expression is a one-line error naming the option and the text.
    """
    if not items:
        return None
    out = []
    for item in items:
        try:
            out.append(_condition(item))
        except ValueError as e:
            raise typer.BadParameter(f"{e} in {item!r}", param_hint=option) from None
    return tuple(out)


def _condition(item: str) -> Condition:
    m = _WHERE_RE.match(item.strip())
    if not m or not m.group(1).strip():
        raise ValueError("expected COLUMN<op>VALUE (=, !=, ~, !~, ~*, !~*, =~, !=~, >, >=, <, <=) or COLUMN:OP[:VALUE]")
    column, token, rest = m.group(1).strip(), m.group(2), m.group(3)
    if token == ":":
        name, sep, rest = rest.partition(":")
        op = OP_ALIASES.get(name.strip(), name.strip())
        if op not in OPS:
            raise ValueError(f"unknown operator {name.strip()!r}; operators: {', '.join(OPS)}, set, unset")
        if op in PRESENCE_OPS:
            if sep:
                raise ValueError(f"{op} takes no value")
            return Condition(column, op)
        if not sep:
            raise ValueError(f"{op} needs a value (COLUMN:{name.strip()}:VALUE)")
    else:
        op = dict(SHORTHANDS)[token]
    value = rest.strip()
    if not value:
        raise ValueError(f"{op} needs a value")
    if op in NUMERIC_OPS:
        parts = [p.strip() for p in value.split(",")]
        try:
            numbers = [float(p) for p in parts]
        except ValueError:
            raise ValueError(f"{op} needs a number{' pair LOW,HIGH' if op == 'between' else ''}") from None
        if (op == "between") != (len(numbers) == 2) or len(numbers) > 2:
            raise ValueError("between needs LOW,HIGH" if op == "between" else f"{op} needs one number")
        cond = Condition(column, op, tuple(numbers) if op == "between" else numbers[0])
    elif op in ("exact", "is_not", "in", "not_in"):
        values = [v.strip() for v in value.split(",")]
        if not all(values):
            raise ValueError("empty value in a comma-separated list")
        cond = Condition(column, op, tuple(values) if len(values) > 1 or op in ("in", "not_in") else values[0])
    else:
        cond = Condition(column, op, value)
    problem = cond.problem()
    if problem:
        raise ValueError(f"{column!r} {problem}")
    return cond


def build_spec(preset: str | None, overrides: dict[str, Any]) -> RetentionSpec:
    """A preset (or the default spec) with the options the user gave on top."""
    given = {k: v for k, v in overrides.items() if v is not None}
    if preset is None:
        return RetentionSpec(**given)
    if preset not in PRESETS:
        raise typer.BadParameter(
            f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}", param_hint="--preset"
        )
    return PRESETS[preset](**given)


def retention_command(
    workspace: WorkspaceOpt = Path("liuliang.duckdb"),
    preset: Annotated[
        str | None, typer.Option(help="posthog, amplitude or mixpanel defaults.", rich_help_panel=Panel)
    ] = None,
    start_event: Annotated[
        str | None, typer.Option(help="Start event(s), comma-separated; default any.", rich_help_panel=Panel)
    ] = None,
    return_event: Annotated[
        str | None, typer.Option(help="Return event(s), comma-separated; default any.", rich_help_panel=Panel)
    ] = None,
    cohorting: Annotated[
        str | None,
        typer.Option(help="first_time, first_matching, first_in_range, recurring, signup.", rich_help_panel=Panel),
    ] = None,
    period: Annotated[str | None, typer.Option(help="hour, day, week, month, quarter.", rich_help_panel=Panel)] = None,
    window: Annotated[
        str | None,
        typer.Option(help="calendar (workspace time zone) or rolling (from each user's start).", rich_help_panel=Panel),
    ] = None,
    periods: Annotated[int | None, typer.Option(help="Follow cohorts for periods 0..N.", rich_help_panel=Panel)] = None,
    criterion: Annotated[
        str | None, typer.Option(help="on, on_or_after, on_or_before, brackets, streak.", rich_help_panel=Panel)
    ] = None,
    brackets: Annotated[
        str | None, typer.Option(help="Bracket ends for --criterion brackets, e.g. 1,3,7,14.", rich_help_panel=Panel)
    ] = None,
    min_occurrences: Annotated[
        int | None, typer.Option(help="Return events needed in a period to count.", rich_help_panel=Panel)
    ] = None,
    period_zero: Annotated[
        str | None, typer.Option(help="cohort, returns or returns_after_start.", rich_help_panel=Panel)
    ] = None,
    date_from: Annotated[
        str | None, typer.Option("--from", help="First cohort date (YYYY-MM-DD).", rich_help_panel=Panel)
    ] = None,
    date_to: Annotated[
        str | None, typer.Option("--to", help="Last cohort date; later data is still followed.", rich_help_panel=Panel)
    ] = None,
    denominator: Annotated[
        str | None, typer.Option(help="cohort (PostHog) or observed (Amplitude).", rich_help_panel=Panel)
    ] = None,
    reference: Annotated[str | None, typer.Option(help="cohort or previous period.", rich_help_panel=Panel)] = None,
    aggregation: Annotated[
        str | None, typer.Option(help="users, sum or average (of amount: revenue retention).", rich_help_panel=Panel)
    ] = None,
    by: Annotated[
        str | None, typer.Option("--by", help="Break down by a users column, e.g. channel.", rich_help_panel=Panel)
    ] = None,
    by_event: Annotated[
        str | None,
        typer.Option(help="Break down by an events column, taken from the start event.", rich_help_panel=Panel),
    ] = None,
    where: Annotated[
        list[str] | None,
        typer.Option(help=f"Start-event filter {WHERE_HELP}", rich_help_panel=Panel),
    ] = None,
    return_where: Annotated[
        list[str] | None, typer.Option(help="Return-event filter, as --where.", rich_help_panel=Panel)
    ] = None,
    user_where: Annotated[
        list[str] | None, typer.Option(help="Filter on users columns, as --where.", rich_help_panel=Panel)
    ] = None,
    weighted: Annotated[bool, typer.Option(help="Mean row weighted by cohort size instead of a simple mean.")] = False,
    fmt: Annotated[TableFormat, typer.Option("--format", "-f", help="table, csv or json.")] = TableFormat.table,
) -> None:
    """Cohort retention exactly as PostHog, Amplitude or Mixpanel define it, every knob explicit.

    Incomplete cells (the period has not fully elapsed) are marked * and left out of the mean.
    """
    spec = build_spec(
        preset,
        {
            "start_events": _events(start_event),
            "return_events": _events(return_event),
            "cohorting": cohorting,
            "period": period,
            "window": window,
            "periods": periods,
            "criterion": criterion,
            "brackets": tuple(int(b) for b in brackets.split(",")) if brackets else None,
            "min_occurrences": min_occurrences,
            "period_zero": period_zero,
            "date_from": dt.date.fromisoformat(date_from) if date_from else None,
            "date_to": dt.date.fromisoformat(date_to) if date_to else None,
            "denominator": denominator,
            "reference": reference,
            "aggregation": aggregation,
            "breakdown": by,
            "breakdown_event_property": by_event,
            "start_where": _where(where, "--where"),
            "return_where": _where(return_where, "--return-where"),
            "user_where": _where(user_where, "--user-where"),
        },
    )
    with open_workspace(existing_workspace(workspace)) as ws:
        result = retention(ws, spec)
    if fmt is TableFormat.json:
        print_json(result.to_dict())
    elif fmt is TableFormat.csv:
        out.print(to_csv(result), end="", markup=False, highlight=False, soft_wrap=True)
    else:
        print_table(result, weighted)


def to_csv(result: RetentionTable) -> str:
    buf = io.StringIO()
    rows = result.to_dict()["rows"]
    if rows:
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return buf.getvalue()


def _cell(row: dict[str, Any] | None) -> str:
    """Percent of the reference; incomplete cells get a dim *, cells nobody has reached yet stay blank."""
    if row is None or (row["incomplete"] and not row.get("observed", 1) and not row["count"]):
        return ""
    text = "-" if row["rate"] is None else f"{100 * row['rate']:.1f}"
    return f"[dim]{text}*[/dim]" if row["incomplete"] else text


def _described(value: object) -> str:
    """A spec value for the table title; filters in the ``--where`` syntax (``city:is_not:bj``)."""
    if isinstance(value, tuple) and value and all(isinstance(c, Condition) for c in value):
        return " & ".join(str(c) for c in value)
    return repr(value)


def print_table(result: RetentionTable, weighted: bool) -> None:
    spec = result.spec
    rows = result.to_arrow().to_pylist()
    offsets = sorted({r["period_offset"] for r in rows})
    breakdowns = sorted({r["breakdown"] for r in rows})
    described = ", ".join(
        f"{f.name}={_described(getattr(spec, f.name))}"
        for f in dataclasses.fields(spec)
        if getattr(spec, f.name) != f.default
    )
    grid = Table(title=f"retention ({described or 'defaults'})", title_justify="left")
    if len(breakdowns) > 1:
        grid.add_column("breakdown")
    grid.add_column("cohort", no_wrap=True)
    grid.add_column("users", justify="right")
    for k in offsets:
        grid.add_column(f"{spec.period[0].upper()}{k} %", justify="right")
    by_key = {(r["breakdown"], r["cohort"], r["period_offset"]): r for r in rows}
    for b in breakdowns:
        for c in sorted({r["cohort"] for r in rows if r["breakdown"] == b}):
            cells = [by_key.get((b, c, k)) for k in offsets]
            size = next((x["cohort_size"] for x in cells if x), 0)
            lead = [b] if len(breakdowns) > 1 else []
            grid.add_row(
                *lead,
                str(result.cohort_start(c)),
                f"{size:,}",
                *(_cell(x) for x in cells),
            )
        mean = {r["period_offset"]: r for r in result.mean(weighted=weighted).to_pylist() if r["breakdown"] == b}
        lead = [b] if len(breakdowns) > 1 else []
        grid.add_row(
            *lead,
            "[bold]mean[/bold]",
            "",
            *(_cell({**mean[k], "incomplete": False}) if k in mean else "" for k in offsets),
            end_section=True,
        )
    out.print(grid)
    out.print("* incomplete: the period has not fully elapsed; left out of the mean.", style="dim")
