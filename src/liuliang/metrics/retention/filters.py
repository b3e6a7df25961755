"""Property filters (``start_where`` / ``return_where`` / ``user_where``) as Ibis predicates."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from liuliang.errors import UnsupportedOperationError, WorkspaceError
from liuliang.metrics.retention.spec import Where


def string_column(t: ir.Table, column: str, table: str, why: str) -> ir.StringValue:
    """``t[column]``, checked to exist and to be a string column (property columns are stored as strings)."""
    if column not in t.columns:
        raise WorkspaceError(f"{why}: the {table} table has no column {column!r}; columns: {', '.join(t.columns)}")
    col = t[column]
    if not col.type().is_string():
        raise UnsupportedOperationError(
            f"{why}: {table}.{column} is {col.type()}; retention filters and breakdowns take string columns only"
        )
    return col


def predicate(t: ir.Table, where: Where, table: str, why: str) -> ir.BooleanValue:
    """All conditions of ``where`` on ``t`` (and-ed); a null value never matches."""
    cond = ibis.literal(True)
    for column, value in where:
        col = string_column(t, column, table, why)
        test = col == value if isinstance(value, str) else col.isin(list(value))
        cond &= test.fill_null(False)
    return cond
