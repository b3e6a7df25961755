"""Notebook display shared by every result: small, escaped HTML tables built from the result's own numbers.

Why one helper: a result's ``_repr_html_`` is what an analyst sees first in Jupyter, and each class writing its own
markup drifted (some escaped user-supplied labels, some did not; some dumped 100,000 rows). Everything here escapes
every string it is given, caps tables at ``max_rows`` and formats numbers one way (:func:`format_value`), so a
test can look for a result's numbers in its HTML. Nothing is computed here: the numbers come from the result.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pyarrow as pa

#: Rows shown per table in a notebook (``to_pandas()`` has the rest).
MAX_ROWS = 50
_STYLE = "border-collapse:collapse;margin:4px 0"
_CELL = "padding:1px 8px;border:1px solid #ddd"


def format_value(v: Any) -> str:
    """One number format for every display: integers with thousands separators, other floats to 4 significant
    digits (2 decimals from 1,000 up, so money stays readable), missing or NaN as an en dash."""
    if isinstance(v, np.generic):
        v = v.item()
    if v is None:
        return "–"
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        if math.isnan(v):
            return "–"
        if math.isinf(v):
            return "∞" if v > 0 else "−∞"
        return f"{v:,.2f}" if abs(v) >= 1000 else f"{v:.4g}"
    if isinstance(v, dt.datetime):
        return v.isoformat(sep=" ")
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, tuple | list):
        return ", ".join(format_value(x) for x in v)
    return str(v)


def _cell(v: Any, tag: str = "td") -> str:
    numeric = isinstance(v, int | float | np.number) and not isinstance(v, bool)
    align = ";text-align:right" if numeric else ""
    return f'<{tag} style="{_CELL}{align}">{html.escape(format_value(v))}</{tag}>'


def html_table(data: Any, *, caption: str | None = None, max_rows: int = MAX_ROWS, index: str | None = None) -> str:
    """An Arrow table (or a pandas DataFrame; ``index`` names its index column, None drops it) as escaped HTML,
    at most ``max_rows`` rows, with a note saying how many were left out."""
    if not isinstance(data, pa.Table):
        frame = data.reset_index(names=index) if index is not None else data
        data = pa.Table.from_pandas(frame, preserve_index=False)
    total = data.num_rows
    cols = data.column_names
    head = "".join(_cell(c, "th") for c in cols)
    body = "".join("<tr>" + "".join(_cell(r[c]) for c in cols) + "</tr>" for r in data.slice(0, max_rows).to_pylist())
    cap = f'<caption style="text-align:left">{html.escape(caption)}</caption>' if caption else ""
    more = f"<p><i>{total - max_rows:,} more rows: use .to_pandas()</i></p>" if total > max_rows else ""
    return f'<table style="{_STYLE}">{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{more}'


def html_fields(fields: Mapping[str, Any] | Iterable[tuple[str, Any]], *, caption: str | None = None) -> str:
    """Name / value pairs as a two-column table (values through :func:`format_value`)."""
    items = fields.items() if isinstance(fields, Mapping) else fields
    rows = "".join(
        f'<tr><th style="{_CELL};text-align:left">{html.escape(str(k))}</th>{_cell(v)}</tr>' for k, v in items
    )
    cap = f'<caption style="text-align:left">{html.escape(caption)}</caption>' if caption else ""
    return f'<table style="{_STYLE}">{cap}<tbody>{rows}</tbody></table>'


def html_result(title: str, *parts: str, note: str | None = None) -> str:
    """A titled block of already-built parts (tables from the functions above, or another result's HTML)."""
    head = f"<p><b>{html.escape(title)}</b></p>"
    tail = f"<p><i>{html.escape(note)}</i></p>" if note else ""
    return f'<div class="liuliang-result">{head}{"".join(parts)}{tail}</div>'


def _is_scalar(v: Any) -> bool:
    if isinstance(v, np.ndarray):
        return False
    if isinstance(v, tuple | list):
        return len(v) <= 20 and all(_is_scalar(x) for x in v)
    return v is None or isinstance(v, str | int | float | bool | np.generic | dt.date)


def _parts(items: Iterable[tuple[str, Any]]) -> tuple[list[tuple[str, Any]], list[str]]:
    """Scalars become fields; tables, frames, arrays, specs and nested results become their own parts."""
    fields: list[tuple[str, Any]] = []
    parts: list[str] = []
    for name, v in items:
        if _is_scalar(v):
            fields.append((name, v))
        elif isinstance(v, pa.Table):
            parts.append(html_table(v, caption=name))
        elif isinstance(v, np.ndarray):
            if v.ndim == 1 and v.size <= 20:
                fields.append((name, tuple(v.tolist())))
            else:
                fields.append((name, f"array of shape {v.shape}"))
        elif hasattr(v, "to_frame") and hasattr(v, "index"):  # a pandas Series
            parts.append(html_table(v.to_frame(name=name), caption=name, index="index"))
        elif hasattr(v, "columns") and hasattr(v, "index"):  # a pandas DataFrame
            parts.append(html_table(v, caption=name, index=v.index.name or "index"))
        elif hasattr(v, "_repr_html_") and type(v).__module__.startswith("liuliang."):
            parts.append(v._repr_html_())
        elif dataclasses.is_dataclass(v):
            fields.append(
                (name, ", ".join(f"{f.name}={format_value(getattr(v, f.name))}" for f in dataclasses.fields(v)))
            )
        else:
            text = repr(v)
            fields.append((name, text if len(text) <= 200 else text[:199] + "…"))
    return fields, parts


def dataclass_html(obj: Any, *, title: str | None = None, extra: Mapping[str, Any] | None = None) -> str:
    """A frozen dataclass result: its scalar fields (plus ``extra``, e.g. derived properties) as a name/value table,
    then each table-like field (capped), then nested results."""
    items = [(f.name, getattr(obj, f.name)) for f in dataclasses.fields(obj) if not f.name.startswith("_")]
    items += list((extra or {}).items())
    fields, parts = _parts(items)
    return html_result(title or type(obj).__name__, html_fields(fields) if fields else "", *parts)


def fitter_html(obj: Any, *, fitted: bool, summary: Any = None, index: str | None = "param") -> str:
    """An estimator (lifelines / scikit-learn shape): "not fitted" with its parameters, or its learned scalar
    attributes (names ending in ``_``), learned tables, and its ``summary`` table (index as ``index``)."""
    name = type(obj).__name__
    learned = {k: v for k, v in vars(obj).items() if k.endswith("_") and not k.startswith("_")}
    settings = {k: v for k, v in vars(obj).items() if not k.endswith("_") and not k.startswith("_")}
    if not fitted:
        fields, _ = _parts(settings.items())
        return html_result(name, html_fields([("fitted", False), *fields]), note="not fitted: call fit(...) first")
    fields, parts = _parts((k, v) for k, v in learned.items() if k not in ("params_", "standard_errors_"))
    if summary is not None:
        parts.insert(0, html_table(summary, caption="summary", index=index))
    settings_fields, _ = _parts(settings.items())
    return html_result(name, html_fields([("fitted", True), *fields, *settings_fields]), *parts)
