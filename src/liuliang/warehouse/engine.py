"""What liuliang needs from a backend beyond Ibis expressions: staging, atomic writes, schema changes.

Relational logic is written once with Ibis; this small interface holds the few operations Ibis leaves to
each engine (transactions, temp tables, deleting rows). :mod:`liuliang.warehouse.duckdb` and
:mod:`liuliang.warehouse.spark` implement it.
"""

from __future__ import annotations

import abc
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import ibis
import ibis.expr.schema as sch
import ibis.expr.types as ir
import pyarrow as pa
from ibis.backends import BaseBackend


@dataclass(frozen=True)
class Prepared:
    """A table expression made ready to run again: the engine's compiled SQL (if it keeps one) and the result schema."""

    expr: ir.Table
    sql: str | None = None
    schema: pa.Schema | None = None


class StageWriter(abc.ABC):
    """Receives validated Arrow batches one at a time, so ingest memory stays bounded."""

    @abc.abstractmethod
    def write(self, batch: pa.RecordBatch) -> None: ...

    @abc.abstractmethod
    def finish(self) -> ir.Table:
        """Return the staged rows as a table expression on the warehouse."""


class Engine(abc.ABC):
    """A warehouse backend. ``con`` is the Ibis connection; everything relational goes through it."""

    name: str
    #: True when ``transaction()`` makes a whole ingest atomic by itself (no repair on open needed).
    transactional: bool

    def __init__(self, con: BaseBackend) -> None:
        self.con = con

    # -- reading ---------------------------------------------------------------------------------------
    def table(self, name: str) -> ir.Table:
        return self.con.table(name)

    def has_table(self, name: str) -> bool:
        return name in self.con.list_tables()

    def to_arrow(self, expr: ir.Expr) -> pa.Table:
        return expr.to_pyarrow()

    def prepare(self, expr: ir.Table) -> Prepared:
        """Do once what running ``expr`` repeatedly needs (engines that can reuse compiled SQL override this)."""
        return Prepared(expr)

    def run(self, prepared: Prepared) -> pa.Table:
        return self.to_arrow(prepared.expr)

    # -- writing ---------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Atomic block where the engine supports it; a no-op elsewhere (repair on open covers those)."""
        yield

    @abc.abstractmethod
    def stage(self, name: str, schema: pa.Schema) -> StageWriter:
        """A writer for a session-local staging table."""

    @abc.abstractmethod
    def materialize(self, name: str, expr: ir.Table) -> ir.Table:
        """Evaluate ``expr`` now into a session-local table, so later writes cannot change it."""

    @abc.abstractmethod
    def drop_temp(self, name: str) -> None: ...

    def ensure_table(self, name: str, schema: sch.Schema) -> None:
        if not self.has_table(name):
            self.con.create_table(name, schema=schema)

    def append(self, name: str, expr: ir.Table) -> None:
        """Append rows; ``expr`` may list columns in any order and omit nullable ones."""
        self.con.insert(name, conform(expr, self.table(name).schema()))

    @abc.abstractmethod
    def add_columns(self, name: str, columns: dict[str, str]) -> None:
        """Add nullable columns (ibis type names) to an existing table."""

    @abc.abstractmethod
    def delete_matching(self, name: str, keys: ir.Table, on: list[str]) -> None:
        """Delete the rows of ``name`` whose ``on`` columns match a row of ``keys``."""

    @abc.abstractmethod
    def rewrite(self, name: str, expr: ir.Table) -> None:
        """Replace the contents of ``name`` with ``expr`` (which may read ``name`` itself)."""

    def recover(self) -> bool:
        """Finish or undo table-level operations a crash interrupted (engines without transactions)."""
        return False

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.con.disconnect()


def conform(expr: ir.Table, schema: sch.Schema) -> ir.Table:
    """``expr`` with exactly ``schema``'s columns, in order and types; absent columns become nulls.

    Literals and set operations let engines infer narrower types (a literal 1 is INTEGER in DuckDB), so every
    write and every union goes through this.
    """
    cols = [(expr[c].cast(t) if c in expr.columns else ibis.null().cast(t)).name(c) for c, t in schema.items()]
    return expr.select(*cols)
