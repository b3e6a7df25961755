"""The conversions every causal result shares: ``to_dict()`` (JSON-ready, flat) and ``to_arrow()`` (one row).

Results here are flat frozen dataclasses of numbers and strings, so one mixin turns any of them into a record and a
one-row Arrow table; results that own a long table (SRM per variant, effects by segment, covariate balance) override
``to_arrow`` to return it. No nested dicts: a caller that wants several results gets a table, keyed by name.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import pyarrow as pa


def _jsonable(value: Any) -> Any:
    """Floats stay floats (NaN/inf become None so the record is valid JSON); tuples become lists."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    return value


class FlatResult:
    """Mixin for frozen dataclass results whose fields are scalars (or tuples of scalars)."""

    def to_dict(self) -> dict[str, Any]:
        """The fields as a flat JSON-ready record (non-finite floats as ``None``)."""
        return {f.name: _jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}  # type: ignore[arg-type]

    def to_arrow(self) -> pa.Table:
        """The result as a one-row Arrow table, so several results concatenate into a long table."""
        row = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}  # type: ignore[arg-type]
        return pa.Table.from_pylist([row])

    def to_pandas(self) -> Any:
        return self.to_arrow().to_pandas()

    def _repr_html_(self) -> str:
        """Notebook display: the fields as a name/value table, and the long table when the result owns one."""
        from liuliang._display import dataclass_html, html_table

        out = dataclass_html(self)
        if type(self).to_arrow is not FlatResult.to_arrow:
            out += html_table(self.to_arrow())
        return out
