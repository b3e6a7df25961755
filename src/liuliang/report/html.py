"""The self-contained HTML report: every view in one file a growth lead can mail, open on a train, or print.

Why one file: the people who read the morning numbers open attachments, not servers, and a report that needs a CDN
shows blank charts behind a company proxy or offline. So plotly.js is inlined once (about 4.6 MB), each view's
figure travels as JSON in a ``<script type="application/json">`` block, and a small inline script draws them with
``Plotly.newPlot``; nothing is fetched. When every chart has drawn the script sets ``body[data-ready="1"]``, which
the browser tests wait for.

The DOM follows the contract the dashboard shares (``section.view#view-{key}``, ``h2``, ``p.reading``, ``p.note``,
``div.chart#chart-{key}``, ``table.numbers``), so one set of browser checks reads both. All text goes through
Jinja2's autoescape; the embedded JSON has ``<``, ``>`` and ``&`` escaped so a label containing ``</script>``
cannot end its block.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import jinja2
from markupsafe import Markup

from liuliang.report.view import View, ViewSpec, build_views

if TYPE_CHECKING:
    from liuliang.warehouse import Workspace
    from liuliang.warehouse.workspace import WorkspaceInfo

#: Rows of a view's table shown under its chart (the contract's cap; the dashboard's API serves the rest).
MAX_ROWS = 200

FONTS = {
    "en": 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, "Noto Sans", sans-serif',
    # CJK faces first so Han characters and Latin digits come from one family on each platform.
    "zh": (
        '"PingFang SC", "Hiragino Sans GB", "Microsoft YaHei", "Noto Sans CJK SC", "Noto Sans SC", '
        '"Source Han Sans SC", "WenQuanYi Micro Hei", system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif'
    ),
}
HTML_LANG = {"en": "en", "zh": "zh-CN"}

#: Every fixed string of the page, per language (the views translate their own).
LABELS: dict[str, dict[str, str]] = {
    "en": {
        "title": "liuliang report: did the subsidy buy habits, or only visits?",
        "workspace": "Workspace",
        "engine": "Engine",
        "span": "Data",
        "tz": "Time zone",
        "users": "Users",
        "generated": "Generated",
        "filters": "Filters",
        "contents": "Contents",
        "numbers": "Numbers",
        "rows": "{n:,} rows",
        "truncated": "Showing the first {shown:,} of {total:,} rows.",
        "no_data": "no events",
        "all": "all",
        "footer": (
            "Made by liuliang. Self-contained: this file fetches nothing. Each chart's numbers are in the table "
            "under it."
        ),
        "start": "from",
        "end": "to",
        "breakdown": "breakdown",
        "period": "period",
        "criterion": "criterion",
        "preset": "preset",
        "none": "none",
    },
    "zh": {
        "title": "留量报告：补贴买来的是习惯，还是只是访问？",
        "workspace": "工作区",
        "engine": "引擎",
        "span": "数据范围",
        "tz": "时区",
        "users": "用户数",
        "generated": "生成时间",
        "filters": "筛选条件",
        "contents": "目录",
        "numbers": "数据明细",
        "rows": "{n:,} 行",
        "truncated": "仅显示前 {shown:,} 行，共 {total:,} 行。",
        "no_data": "暂无事件",
        "all": "全部",
        "footer": "由 liuliang 生成。本文件自包含，不联网加载任何内容。每张图的数字见其下方表格。",
        "start": "开始",
        "end": "结束",
        "breakdown": "拆分维度",
        "period": "周期",
        "criterion": "留存口径",
        "preset": "预设",
        "none": "无",
    },
}

#: Plotly's mode-bar tooltips in Chinese (registered as the ``zh-CN`` locale in the page; plotly.py ships none).
PLOTLY_ZH = {
    "Autoscale": "自动缩放",
    "Box Select": "矩形选择",
    "Click to enter Colorscale title": "点击输入色阶标题",
    "Compare data on hover": "悬停时比较数据",
    "Double-click on legend to isolate one trace": "双击图例只显示该序列",
    "Download plot as a png": "下载图表为 PNG",
    "Download plot": "下载图表",
    "Lasso Select": "套索选择",
    "Pan": "平移",
    "Produced with Plotly.js": "由 Plotly.js 生成",
    "Reset axes": "重置坐标轴",
    "Reset view": "重置视图",
    "Show closest data on hover": "悬停时显示最近的数据",
    "Snapshot succeeded": "截图成功",
    "Taking snapshot - this may take a few seconds": "正在截图，请稍候",
    "Toggle Spike Lines": "切换辅助线",
    "Zoom": "缩放",
    "Zoom in": "放大",
    "Zoom out": "缩小",
    "trace": "序列",
}

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("liuliang.report", "templates"),
    autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
)


def script_json(text: str) -> Markup:
    """JSON text made safe inside a ``<script>`` element: ``<``, ``>`` and ``&`` become ``\\u`` escapes (valid JSON
    inside strings, the only place JSON has them), so no value can close the element or open a comment."""
    return Markup(text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e"))


@dataclass(frozen=True)
class _Cell:
    text: str
    raw: str
    numeric: bool


def _cell(v: Any) -> _Cell:
    """A table cell: a readable text, and for numbers the exact value in ``data-value`` (so nothing is lost)."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return _Cell("–", "", False)
    if isinstance(v, bool):
        return _Cell(str(v).lower(), "", False)
    if isinstance(v, int):
        return _Cell(f"{v:,}", str(v), True)
    if isinstance(v, float):
        if math.isinf(v):
            return _Cell("∞" if v > 0 else "−∞", repr(v), True)
        text = f"{v:,.2f}" if abs(v) >= 1000 else f"{v:.4g}"
        return _Cell(text, repr(v), True)
    if isinstance(v, dt.datetime | dt.date):
        return _Cell(v.isoformat(), "", False)
    return _Cell(str(v), "", False)


def _view_context(view: View, labels: dict[str, str]) -> dict[str, Any]:
    columns: list[str] = []
    rows: list[list[_Cell]] = []
    total = 0
    if view.table is not None:
        columns = list(view.table.column_names)
        total = view.table.num_rows
        for rec in view.table.slice(0, MAX_ROWS).to_pylist():
            rows.append([_cell(rec[c]) for c in columns])
    figure = None if view.figure is None else script_json(view.figure.to_json())
    truncated = labels["truncated"].format(shown=MAX_ROWS, total=total) if total > MAX_ROWS else ""
    return {
        "key": view.key,
        "title": view.title,
        "reading": view.reading,
        "note": view.note,
        "figure_json": figure,
        "columns": columns,
        "rows": rows,
        "rows_label": labels["rows"].format(n=total),
        "truncated": truncated,
    }


def _local(ts: dt.datetime, tz: str) -> dt.datetime:
    """A workspace timestamp (naive UTC) in the reporting zone."""
    return ts.replace(tzinfo=dt.UTC).astimezone(ZoneInfo(tz))


def _meta(
    info: WorkspaceInfo | None, spec: ViewSpec | None, generated_at: dt.datetime | None, labels: dict[str, str]
) -> list[tuple[str, str]]:
    meta: list[tuple[str, str]] = []
    if info is not None:
        tz = info.settings.tz
        meta.append((labels["workspace"], info.location or "-"))
        if info.first_ts and info.last_ts:
            first, last = _local(info.first_ts, tz), _local(info.last_ts, tz)
            meta.append((labels["span"], f"{first:%Y-%m-%d} – {last:%Y-%m-%d %H:%M}"))
        else:
            meta.append((labels["span"], labels["no_data"]))
        meta.append((labels["tz"], tz))
        meta.append((labels["users"], f"{info.users:,}"))
    if spec is not None:
        knobs = [
            (labels["start"], spec.start.isoformat() if spec.start else labels["all"]),
            (labels["end"], spec.end.isoformat() if spec.end else labels["all"]),
            (labels["breakdown"], spec.breakdown or labels["none"]),
            (labels["period"], spec.period),
            (labels["criterion"], spec.criterion),
            (labels["preset"], spec.preset or labels["none"]),
        ]
        meta.append((labels["filters"], "; ".join(f"{k} {v}" for k, v in knobs)))
    if generated_at is not None:
        meta.append((labels["generated"], generated_at.isoformat(sep=" ", timespec="seconds")))
    return meta


def render_report(
    views: Sequence[View],
    *,
    lang: str = "en",
    title: str | None = None,
    generated_at: dt.datetime | None = None,
    workspace_info: WorkspaceInfo | None = None,
    spec: ViewSpec | None = None,
) -> str:
    """The report page for ``views`` (in their order) as one HTML string with plotly.js inlined.

    ``generated_at`` is printed as given (the caller reads the clock, the renderer does not), ``workspace_info``
    (``ws.info()``) fills the header with where the data lives and the span it covers, and ``spec`` lists the filters.
    """
    import plotly.offline

    if lang not in LABELS:
        raise ValueError(f"lang must be one of {', '.join(LABELS)}, got {lang!r}")
    labels = LABELS[lang]
    template = _ENV.get_template("report.html.j2")
    return template.render(
        lang=lang,
        html_lang=HTML_LANG[lang],
        font_stack=Markup(FONTS[lang]),
        title=title or labels["title"],
        t=labels,
        meta=_meta(workspace_info, spec, generated_at, labels),
        views=[_view_context(v, labels) for v in views],
        plotly_js=Markup(plotly.offline.get_plotlyjs()),
        plotly_zh_dictionary=script_json(json.dumps(PLOTLY_ZH, ensure_ascii=False)),
    )


def write_report(
    ws: Workspace,
    out: Path,
    spec: ViewSpec | None = None,
    progress: Callable[[str], None] | None = None,
    *,
    keys: Sequence[str] | None = None,
    title: str | None = None,
    generated_at: dt.datetime | None = None,
) -> Path:
    """Build every view (or ``keys``) on ``ws`` and write the report to ``out``; returns the path.

    ``progress(key)`` is called before each view is built. The file is written next to ``out`` and renamed into
    place, so a reader never opens half a report. ``generated_at`` defaults to now: it is only printed in the
    header, nothing is computed from it.
    """
    spec = spec or ViewSpec()
    views = build_views(ws, spec, keys, progress)
    if generated_at is None:
        generated_at = dt.datetime.now(ZoneInfo(ws.settings.tz))
    text = render_report(
        views, lang=spec.lang, title=title, generated_at=generated_at, workspace_info=ws.info(), spec=spec
    )
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    # Not mkstemp: its 0600 mode would make a report meant for mailing unreadable to others; open() honours umask.
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return out
