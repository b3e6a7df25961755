"""The shape every metric result shares: the spec that asked, the long Arrow table it produced, and ``data_end``.

One base so each metric only declares what is its own (extra tables, lookups, display); the conversions people
and programs rely on — ``to_arrow()``, ``to_pandas()``, ``to_dict()`` — behave the same everywhere.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pyarrow as pa


def spec_dict(spec: Any) -> dict[str, Any]:
    """A frozen spec dataclass as JSON-ready values (dates as ISO strings, tuples as lists)."""
    out: dict[str, Any] = {}
    for k, v in vars(spec).items():
        if isinstance(v, dt.date):
            v = v.isoformat()
        elif isinstance(v, tuple):
            v = list(v)
        out[k] = v
    return out


def json_rows(table: pa.Table) -> list[dict[str, Any]]:
    """Rows as flat records, dates as ISO strings."""
    rows = table.to_pylist()
    for r in rows:
        for k, v in r.items():
            if isinstance(v, dt.date):
                r[k] = v.isoformat()
    return rows


@dataclass(frozen=True)
class LongResult:
    """A spec, the long Arrow table it produced and the ``data_end`` used."""

    spec: Any
    table: pa.Table
    data_end: dt.datetime | None

    def to_arrow(self) -> pa.Table:
        return self.table

    def to_pandas(self) -> Any:
        return self.table.to_pandas()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the spec, ``data_end`` and the rows as flat records (dates as ISO strings)."""
        return {
            "spec": spec_dict(self.spec),
            "data_end": self.data_end.isoformat() if self.data_end else None,
            "rows": json_rows(self.table),
        }

    def _repr_html_(self) -> str:
        """Notebook display: the spec and ``data_end``, then the first rows (escaped, capped)."""
        from liuliang._display import html_fields, html_result, html_table

        fields = [*spec_dict(self.spec).items(), ("data_end", self.data_end)]
        return html_result(type(self).__name__, html_fields(fields), html_table(self.table))
