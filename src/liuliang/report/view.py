"""What every page shows: a typed view (title, one-sentence reading, chart, numbers) built from a workspace and a spec.

The HTML report and the web dashboard render the same views, so a number on the board and in the file cannot
disagree. A view is computed once per (workspace version, key, spec) by whoever caches; building one never writes.
Builders live one module per topic under :mod:`liuliang.report.views` and are looked up by key, so the report and
the dashboard import nothing view-specific.
"""

from __future__ import annotations

import datetime as dt
import html
import importlib
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo

import pyarrow as pa

from liuliang.errors import LiuliangError

if TYPE_CHECKING:
    from liuliang.warehouse import Workspace

Lang = Literal["en", "zh"]
LANGS: tuple[str, ...] = ("en", "zh")
PERIODS: tuple[str, ...] = ("day", "week")
CRITERIA: tuple[str, ...] = ("on", "on_or_after")


@dataclass(frozen=True)
class ViewSpec:
    """What a reader may change, the same knobs in the report's command line and the dashboard's filter bar.

    Parameters
    ----------
    start, end:
        Inclusive local dates bounding the cohorts / days shown (``None``: the data's own span). ``end`` is also the
        ``data_end`` of the analysis, so a later day never leaks into an earlier picture.
    breakdown:
        Column of ``users`` to split by (``channel`` by default; ``None`` for one line).
    period:
        ``day`` or ``week`` cohorts and activity buckets.
    criterion:
        Retention criterion: ``on`` (active in period N) or ``on_or_after`` (unbounded: active in N or later).
    preset:
        ``posthog`` | ``amplitude`` | ``mixpanel`` retention defaults, or ``None`` for liuliang's.
    lang:
        ``en`` or ``zh`` labels and readings. Numbers do not change with the language.
    """

    start: dt.date | None = None
    end: dt.date | None = None
    breakdown: str | None = "channel"
    period: Literal["day", "week"] = "day"
    criterion: Literal["on", "on_or_after"] = "on"
    preset: str | None = None
    lang: Lang = "en"

    def __post_init__(self) -> None:
        if self.lang not in LANGS:
            raise LiuliangError(f"lang must be one of {', '.join(LANGS)}, got {self.lang!r}")
        if self.period not in PERIODS:
            raise LiuliangError(f"period must be one of {', '.join(PERIODS)}, got {self.period!r}")
        if self.criterion not in CRITERIA:
            raise LiuliangError(f"criterion must be one of {', '.join(CRITERIA)}, got {self.criterion!r}")
        if self.start and self.end and self.start > self.end:
            raise LiuliangError(f"start {self.start} is after end {self.end}")

    def data_end(self, tz: str) -> dt.datetime | None:
        """The metrics' ``data_end``: local midnight after ``end`` in the workspace zone ``tz`` (an aware datetime,
        which the workspace turns into naive UTC), or ``None`` for "up to the last event"."""
        if self.end is None:
            return None
        return dt.datetime.combine(self.end + dt.timedelta(days=1), dt.time(), tzinfo=ZoneInfo(tz))

    def with_lang(self, lang: Lang) -> ViewSpec:
        return replace(self, lang=lang)

    def to_dict(self) -> dict[str, Any]:
        return {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class View:
    """One chart and its numbers, with a plain-language reading.

    ``figure`` is a Plotly figure or ``None`` when there is nothing to draw (then ``note`` says why, e.g. the
    workspace has no experiments). ``table`` holds the numbers the chart shows, so a reader can check it.
    """

    key: str
    title: str
    reading: str
    figure: Any | None = None
    table: pa.Table | None = None
    note: str | None = None

    def figure_json(self) -> dict[str, Any] | None:
        """The figure as Plotly's JSON (``data`` and ``layout``), what Plotly.js draws."""
        return None if self.figure is None else json.loads(self.figure.to_json())

    def table_rows(self) -> tuple[list[str], list[list[Any]]]:
        """Column names and rows as JSON-ready values (dates as ISO strings, NaN as ``None``)."""
        if self.table is None:
            return [], []
        cols = self.table.column_names
        rows = []
        for rec in self.table.to_pylist():
            rows.append([_jsonable(rec[c]) for c in cols])
        return cols, rows

    def to_dict(self) -> dict[str, Any]:
        columns, rows = self.table_rows()
        return {
            "key": self.key,
            "title": self.title,
            "reading": self.reading,
            "note": self.note,
            "figure": self.figure_json(),
            "columns": columns,
            "rows": rows,
        }

    def _repr_html_(self) -> str:
        parts = [f"<h3>{html.escape(self.title)}</h3>", f"<p>{html.escape(self.reading)}</p>"]
        if self.note:
            parts.append(f"<p><i>{html.escape(self.note)}</i></p>")
        if self.figure is not None:
            # plotly.js inlined: a notebook opened offline still draws it (no CDN, as in the report).
            parts.append(self.figure.to_html(full_html=False, include_plotlyjs=True))
        if self.table is not None:
            parts.append(self.table.slice(0, 50).to_pandas().to_html(index=False))
        return "".join(parts)


def _jsonable(v: Any) -> Any:
    if isinstance(v, dt.datetime | dt.date):
        return v.isoformat()
    if isinstance(v, float) and v != v:
        return None
    return v


def pick(lang: str, en: str, zh: str) -> str:
    """The label in the reader's language; every user-facing string in a view goes through this."""
    return zh if lang == "zh" else en


def pct(x: float | None, digits: int = 1) -> str:
    return "–" if x is None else f"{100 * x:.{digits}f}%"


def yuan(x: float | None) -> str:
    return "–" if x is None else f"¥{x:,.2f}"


Builder = Callable[["Workspace", ViewSpec], View]

#: key -> "module:function". Order is the report's order: from "who came and stayed" to "what to do next".
VIEWS: dict[str, str] = {
    "retention": "liuliang.report.views.retention:retention_heatmap",
    "retention_curves": "liuliang.report.views.retention:retention_curves",
    "stickiness": "liuliang.report.views.activity:stickiness",
    "frequency": "liuliang.report.views.activity:frequency",
    "lifecycle": "liuliang.report.views.activity:lifecycle_bars",
    "revenue": "liuliang.report.views.revenue:revenue_retention",
    "decay": "liuliang.report.views.decay:decay_projection",
    "habit": "liuliang.report.views.signals:task_habit_view",
    "aha": "liuliang.report.views.signals:aha_view",
    "experiment": "liuliang.report.views.causal:experiment",
    "uplift": "liuliang.report.views.causal:uplift",
    "scorecard": "liuliang.report.views.scorecard:scorecard",
}


def builder(key: str) -> Builder:
    if key not in VIEWS:
        raise LiuliangError(f"unknown view {key!r}; choose one of {', '.join(VIEWS)}")
    module, name = VIEWS[key].split(":")
    return getattr(importlib.import_module(module), name)


def build_view(ws: Workspace, key: str, spec: ViewSpec | None = None) -> View:
    """Build one view. A view that cannot be computed on this data (no experiment, too few cohorts) comes back with
    ``figure=None`` and a ``note`` saying why, so one missing table never breaks the whole report."""
    spec = spec or ViewSpec()
    build = builder(key)  # an unknown key is the caller's mistake: raise, do not hide it in a note
    try:
        return build(ws, spec)
    except LiuliangError as exc:
        title = key.replace("_", " ")
        return View(key=key, title=title, reading=pick(spec.lang, "Not available.", "暂无数据。"), note=str(exc))


def build_views(
    ws: Workspace,
    spec: ViewSpec | None = None,
    keys: Sequence[str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[View]:
    """Every view (or ``keys``) in report order; ``progress(key)`` is called before each one starts."""
    views = []
    for key in keys or tuple(VIEWS):
        if progress is not None:
            progress(key)
        views.append(build_view(ws, key, spec))
    return views
