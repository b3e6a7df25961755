"""Load a source into a workspace: stream, validate, stage, then commit everything at once.

The order matters for safety:

1. every batch is validated and written to a session-local staging table (memory stays bounded);
2. inside one transaction: new users get integer keys, rows already present are dropped (idempotence), the
   rest is appended, the rollups are merged, rejected rows go to ``quarantine``, and finally the ``ingests``
   log row is written.

On DuckDB the transaction makes a crash at any point a no-op. On engines without transactions the ``ingests``
row is the commit marker: rows of an ingest without one are removed when the workspace is next opened.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from liuliang.errors import MissingColumnError, SourceError
from liuliang.ingest.contract import TableContract, contract_for
from liuliang.ingest.report import IngestReport
from liuliang.ingest.sources import BATCH_ROWS, header_of, iter_sources
from liuliang.ingest.validate import REJECT_SCHEMA, BatchValidator, TimeOptions, TsFormat, output_schema
from liuliang.warehouse import rollup
from liuliang.warehouse import tables as T
from liuliang.warehouse.workspace import Workspace

Progress = Callable[[int], None]


@dataclass(frozen=True)
class IngestSpec:
    """Options of one ingest.

    ``mapping`` maps contract names to source column names (``{"user_id": "customer_id"}``).
    ``ts_format`` / ``naive_tz``: see :class:`liuliang.ingest.validate.TimeOptions`; date-only values mean local
    midnight in the workspace's reporting zone. ``progress`` is called with the number of rows read so far.
    """

    table: str = "events"
    mapping: Mapping[str, str] = field(default_factory=dict)
    ts_format: TsFormat = "auto"
    naive_tz: str = "UTC"
    batch_rows: int = BATCH_ROWS
    progress: Progress | None = None


def _rename(batch: pa.RecordBatch, mapping: Mapping[str, str], source: str) -> pa.RecordBatch:
    if not mapping:
        return batch
    names = list(batch.schema.names)
    for target, src in mapping.items():
        if src not in names:
            raise SourceError(f"{source}: --map {target}={src}: no column {src!r}; found {', '.join(map(repr, names))}")
        if target != src and target in names:
            raise SourceError(f"{source}: --map {target}={src}: the source already has a column {target!r}")
    renamed = {src: target for target, src in mapping.items()}
    return batch.rename_columns([renamed.get(n, n) for n in names])


@dataclass
class _Staged:
    rows_read: int = 0
    rejected: int = 0
    sources: list[str] = field(default_factory=list)
    props: set[str] = field(default_factory=set)


def _stage_sources(
    ws: Workspace, source: Any, spec: IngestSpec, contract: TableContract
) -> tuple[ir.Table, ir.Table, _Staged]:
    engine = ws.engine
    stage = engine.stage(f"_ll_stage_{contract.name}", output_schema(contract))
    rejects = engine.stage("_ll_stage_rejects", REJECT_SCHEMA)
    time = TimeOptions(spec.ts_format, spec.naive_tz, ws.settings.tz)
    state = _Staged()
    for name, batches in iter_sources(source, batch_rows=spec.batch_rows):
        state.sources.append(name)
        validator: BatchValidator | None = None
        row = 1
        try:
            for batch in batches:
                batch = _rename(batch, spec.mapping, name)
                if validator is None:
                    validator = BatchValidator(contract, name, batch.schema, time)
                    state.props.update(validator.props)
                good, bad = validator.validate(batch, row)
                for b in good.to_batches():
                    stage.write(b)
                for b in bad.to_batches():
                    rejects.write(b)
                row += batch.num_rows
                state.rows_read += batch.num_rows
                state.rejected += bad.num_rows
                if spec.progress is not None:
                    spec.progress(state.rows_read)
        finally:
            if validator is not None:
                validator.close()
        if validator is None:
            _check_empty_source(name, contract, spec)
    return stage.finish(), rejects.finish(), state


def _check_empty_source(name: str, contract: TableContract, spec: IngestSpec) -> None:
    """A file without rows is fine if its header has the required columns; a file with no header is not."""
    if name.startswith("<"):
        return  # an empty in-memory frame: nothing to load, nothing to reject
    renamed = {src: target for target, src in spec.mapping.items()}
    found = [renamed.get(n, n) for n in header_of(name)]
    missing = [c for c in contract.required if c not in found]
    if missing:
        raise MissingColumnError(name, contract.name, missing, found)


def _assign_user_keys(ws: Workspace, staged: ir.Table, ingest_id: int) -> int:
    engine = ws.engine
    keys = engine.table(T.USER_KEYS)
    top = engine.to_arrow(keys.aggregate(m=keys.user_key.max()))["m"][0].as_py() or 0
    new_ids = staged.select("user_id").distinct().anti_join(keys, "user_id")
    new_keys = new_ids.mutate(
        user_key=(ibis.row_number().over(order_by="user_id") + top + 1).cast("int64"),
        _ingest=ibis.literal(ingest_id, "int64"),
    )
    new_keys = engine.materialize("_ll_new_keys", new_keys)
    try:
        added = int(engine.to_arrow(new_keys.count().name("n").as_table())["n"][0].as_py())
        if added:
            engine.append(T.USER_KEYS, new_keys)
    finally:
        engine.drop_temp("_ll_new_keys")
    return added


def _ts_range(ws: Workspace, staged: ir.Table, column: str) -> tuple[dt.datetime, dt.datetime] | None:
    span = ws.engine.to_arrow(staged.aggregate(lo=staged[column].min(), hi=staged[column].max()))
    lo, hi = span["lo"][0].as_py(), span["hi"][0].as_py()
    return (lo, hi) if lo is not None else None


def _new_rows(ws: Workspace, staged: ir.Table, contract: TableContract, props: set[str]) -> ir.Table:
    """Keyed, typed, de-duplicated rows that are not yet in the target table."""
    engine = ws.engine
    keys = engine.table(T.USER_KEYS).select("user_key", "user_id")
    keyed = staged.join(keys, "user_id")
    cols: dict[str, ir.Value] = {"user_key": keyed.user_key}
    for c in contract.columns:
        if c.name != "user_id":
            cols[c.name] = keyed[c.name]
    for p in sorted(props):
        cols[p] = keyed._props.get(p)
    cols["_dedup"] = keyed._dedup
    cols["_row"] = keyed._row
    rows = keyed.select(**cols)
    if contract.day_of is not None:
        span = _ts_range(ws, staged, contract.day_of)
        if span is not None:
            rows = rows.mutate(day=ws.local_day(rows[contract.day_of], *span))
    first = rows.mutate(_rank=ibis.row_number().over(group_by="_dedup", order_by="_row"))
    unique = first.filter(first._rank == 0).drop("_rank")
    target = engine.table(contract.name)
    fresh = unique.anti_join(target.select("_dedup"), "_dedup")
    if contract.one_row_per_user:
        last = fresh.mutate(_rank=ibis.row_number().over(group_by="user_key", order_by=ibis.desc("_row")))
        fresh = last.filter(last._rank == 0).drop("_rank")
    return fresh


def _count(ws: Workspace, t: ir.Table) -> int:
    return int(ws.engine.to_arrow(t.count().name("n").as_table())["n"][0].as_py())


def ingest(ws: Workspace, source: Any, spec: IngestSpec) -> IngestReport:
    """Load ``source`` into ``spec.table`` atomically and idempotently; see the module docstring."""
    contract = contract_for(spec.table)
    engine = ws.engine
    engine.ensure_table(contract.name, T.SCHEMAS[contract.name])
    ingest_id = ws.committed_ingest() + 1
    temps = [f"_ll_stage_{contract.name}", "_ll_stage_rejects", "_ll_new_rows"]
    try:
        with engine.transaction():
            staged, rejects, state = _stage_sources(ws, source, spec, contract)
            new_users = _assign_user_keys(ws, staged, ingest_id)
            target_cols = set(engine.table(contract.name).columns)
            missing = {p: "string" for p in sorted(state.props) if p not in target_cols}
            if missing:
                engine.add_columns(contract.name, missing)
            fresh = _new_rows(ws, staged, contract, state.props)
            if contract.day_of is not None:
                fresh = fresh.order_by(["day", "user_key"])
            fresh = engine.materialize("_ll_new_rows", fresh.mutate(_ingest=ibis.literal(ingest_id, "int64")))
            added = _count(ws, fresh)
            updated = 0
            if contract.one_row_per_user and added:
                existing = engine.table(contract.name)
                updated = _count(ws, existing.semi_join(fresh, "user_key"))
                engine.delete_matching(contract.name, fresh.select("user_key"), ["user_key"])
            min_day = max_day = None
            if added:
                engine.append(contract.name, fresh)
                if contract.name == T.EVENTS:
                    span = ws.engine.to_arrow(fresh.aggregate(lo=fresh.day.min(), hi=fresh.day.max()))
                    min_day, max_day = span["lo"][0].as_py(), span["hi"][0].as_py()
                    rollup.apply_new_events(engine, fresh, ingest_id, (min_day, max_day))
            if state.rejected:
                engine.append(
                    T.QUARANTINE,
                    rejects.mutate(_ingest=ibis.literal(ingest_id, "int64"), table_name=ibis.literal(contract.name)),
                )
            sample = engine.to_arrow(rejects.order_by(["source", "row"]).limit(20)) if state.rejected else None
            duplicates = state.rows_read - state.rejected - added
            report = IngestReport(
                ingest_id=ingest_id,
                table=contract.name,
                sources=tuple(state.sources),
                rows_read=state.rows_read,
                added=added,
                duplicates=duplicates,
                rejected=state.rejected,
                new_users=new_users,
                updated=updated,
                min_day=min_day,
                max_day=max_day,
                rejects_sample=sample,
            )
            engine.append(T.INGESTS, _log_row(report))
    finally:
        for name in temps:
            with contextlib.suppress(Exception):
                engine.drop_temp(name)
    return report


def _log_row(report: IngestReport) -> ir.Table:
    return ibis.memtable(
        pa.table(
            {
                "ingest_id": pa.array([report.ingest_id], pa.int64()),
                "table_name": [report.table],
                "sources": ["\n".join(report.sources)],
                "rows_read": pa.array([report.rows_read], pa.int64()),
                "added": pa.array([report.added], pa.int64()),
                "duplicates": pa.array([report.duplicates], pa.int64()),
                "rejected": pa.array([report.rejected], pa.int64()),
                "min_day": pa.array([report.min_day], pa.int32()),
                "max_day": pa.array([report.max_day], pa.int32()),
            }
        )
    )
