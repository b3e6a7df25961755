"""Turn one raw Arrow batch into typed, canonical rows plus rejected rows with reasons.

Validation is vectorised SQL in a private in-memory DuckDB, whatever the warehouse engine: DuckDB parses ISO
timestamps with mixed offsets, ``strptime`` patterns and numbers per row without raising, which is exactly what
a row-level quarantine needs. Each rejected row keeps its source, row number, first failing column, a reason
that quotes the bad value, and the raw row as JSON, so nothing is lost.

Canonical rows: contract columns in their contract types (timestamps as naive UTC), every other column kept as
a text property in ``_props``, and ``_dedup``, a 63-bit hash of the row (or of ``event_id`` when present) that
is the same whether the row came from CSV, Parquet or a DataFrame.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from liuliang.errors import SourceError
from liuliang.ingest.contract import Column, TableContract
from liuliang.warehouse.tables import RESERVED

TsFormat = Literal["auto", "date", "epoch_s", "epoch_ms", "epoch_us"] | str
_EPOCH_SCALE = {"epoch_s": 1_000_000, "epoch_ms": 1_000, "epoch_us": 1}
_TS_MIN, _TS_MAX = "1990-01-01", "2100-01-01"
_NULL = "chr(0)"
_SCAN_CHUNK = 32_768
_SEP = "chr(31)"
#: Epoch values beyond this many microseconds (year ~128,000) cannot be a time; they are reported as out of range.
_EPOCH_US_LIMIT = 4e18
_NUMBER_TEXT = r"^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$"


def _is_text(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)


def _is_number(t: pa.DataType) -> bool:
    return pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)


_RS = "chr(30)"  # separates the failing column from its reason inside one CASE result


@dataclass(frozen=True)
class TimeOptions:
    """How to read timestamps.

    ``ts_format``: ``auto`` (ISO 8601, offsets honoured), ``date`` (YYYY-MM-DD), ``epoch_s`` / ``epoch_ms`` /
    ``epoch_us``, or a ``strptime`` pattern such as ``%d/%m/%Y %H:%M``.
    ``naive_tz``: zone of timestamps written without an offset (default UTC).
    ``date_tz``: zone whose midnight a date-only value stands for — the workspace's reporting zone, so a date
    lands on the same day in every report.
    """

    ts_format: TsFormat = "auto"
    naive_tz: str = "UTC"
    date_tz: str = "UTC"


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def output_schema(contract: TableContract) -> pa.Schema:
    """Schema of the validated rows a :class:`BatchValidator` returns (and ingest stages)."""
    types = {"string": pa.string(), "enum": pa.string(), "float": pa.float64(), "timestamp": pa.timestamp("us")}
    fields = [pa.field(c.name, types[c.kind]) for c in contract.columns]
    fields += [
        pa.field("_props", pa.map_(pa.string(), pa.string())),
        pa.field("_dedup", pa.int64()),
        pa.field("_row", pa.int64()),
    ]
    return pa.schema(fields)


REJECT_SCHEMA = pa.schema(
    [
        ("source", pa.string()),
        ("row", pa.int64()),
        ("column", pa.string()),
        ("reason", pa.string()),
        ("raw", pa.string()),
    ]
)


class BatchValidator:
    """Validates the batches of one source; the SQL is built once from the first batch's schema."""

    def __init__(self, contract: TableContract, source: str, schema: pa.Schema, time: TimeOptions) -> None:
        self.contract, self.source, self.time = contract, source, time
        self.schema = schema
        self._check_columns(schema)
        self.props = sorted(n for n in schema.names if contract.column(n) is None)
        self.out_schema = output_schema(contract)
        self.sql = self._build_sql(schema)
        self._checked_values = False
        self.con = duckdb.connect()
        self.con.execute(f"SET TimeZone = {_lit(time.naive_tz)}")

    def _check_columns(self, schema: pa.Schema) -> None:
        from liuliang.errors import MissingColumnError

        missing = [c for c in self.contract.required if c not in schema.names]
        if missing:
            raise MissingColumnError(self.source, self.contract.name, missing, list(schema.names))
        # Warehouses (DuckDB, Spark) match column names case-insensitively: "Day" is "day", "Amount" is "amount".
        lower: dict[str, str] = {}
        for name in schema.names:
            if name.lower() in lower:
                raise SourceError(
                    f"{self.source}: columns {lower[name.lower()]!r} and {name!r} differ only in case; "
                    "the warehouse cannot keep both"
                )
            lower[name.lower()] = name
        reserved = [n for n in schema.names if n.lower() in RESERVED]
        if reserved:
            raise SourceError(
                f"{self.source}: column {reserved[0]!r} is reserved by liuliang; rename it with "
                f"--map my_{reserved[0]}={reserved[0]}"
            )
        for col in self.contract.columns:
            near = lower.get(col.name.lower())
            if near is not None and near != col.name:
                raise SourceError(
                    f"{self.source}: column {near!r} differs from the contract's {col.name!r} only in case; "
                    f"map it with --map {col.name}={near}"
                )
            if col.name in schema.names:
                _check_type(self.source, col, schema.field(col.name).type, self.time)

    def _check_values(self, batch: pa.RecordBatch) -> None:
        """Numbers in a text timestamp column (CSV, JSON) are a whole-column problem, like typed numbers."""
        if self.time.ts_format not in ("auto", "date"):
            return
        for col in self.contract.columns:
            if col.kind != "timestamp" or col.name not in batch.schema.names:
                continue
            values = batch.column(col.name)
            if not _is_text(values.type):
                continue
            present = pc.drop_null(values)
            present = present.filter(pc.not_equal(pc.utf8_trim_whitespace(present), ""))
            if len(present) and pc.all(pc.match_substring_regex(present, _NUMBER_TEXT)).as_py():
                raise SourceError(
                    f"{self.source}: column {col.name!r} holds numbers (e.g. {present[0].as_py()!r}); pass "
                    "--ts-format epoch_s, epoch_ms or epoch_us to read them as Unix times"
                )

    # -- SQL building -----------------------------------------------------------------------------------
    def _value(self, col: Column, arrow_type: pa.DataType | None) -> str:
        if arrow_type is None:
            sql_type = {"float": "DOUBLE", "timestamp": "TIMESTAMP"}.get(col.kind, "VARCHAR")
            return f"CAST(NULL AS {sql_type})"
        ref = _q(col.name)
        if col.kind == "string":
            return f"CAST({ref} AS VARCHAR)"
        if col.kind == "enum":
            return f"lower(trim(CAST({ref} AS VARCHAR)))"
        if col.kind == "float":
            if _is_text(arrow_type):
                return f"TRY_CAST(trim({ref}) AS DOUBLE)"
            return f"CAST({ref} AS DOUBLE)"
        return _timestamp_sql(ref, arrow_type, self.time)

    def _build_sql(self, schema: pa.Schema) -> str:
        """Three steps: typed values (``_v_<col>``), the first failing check (``_bad``), the output row.

        Each value is computed once and each check once; text-only checks (empty after trim) run only on text
        columns, because casting typed timestamps or numbers to text per row is what made validation slow.
        """
        values, checks = [], []
        for col in self.contract.columns:
            arrow_type = schema.field(col.name).type if col.name in schema.names else None
            values.append(f"{self._value(col, arrow_type)} AS {_q('_v_' + col.name)}")
            if arrow_type is not None:
                checks += self._checks(col, arrow_type)
        bad = "CASE " + " ".join(f"WHEN {c} THEN {r}" for c, r in checks) + " END" if checks else "NULL"
        raw_json = (
            "CAST(to_json(struct_pack(" + ", ".join(f"{_q(n)} := {_q(n)}" for n in schema.names) + ")) AS VARCHAR)"
        )
        outputs = ", ".join(f"{_q('_v_' + c.name)} AS {_q(c.name)}" for c in self.contract.columns)
        return (
            f"WITH a AS (SELECT *, {', '.join(values)} FROM _ll_batch), "
            f"b AS (SELECT *, {bad} AS _bad FROM a) "
            f"SELECT {outputs}, {self._props_sql()} AS _props, _row, _bad, "
            f"CASE WHEN _bad IS NOT NULL THEN {raw_json} END AS _raw, {self._dedup_sql()} AS _dedup FROM b"
        )

    def _checks(self, col: Column, arrow_type: pa.DataType) -> list[tuple[str, str]]:
        """(condition, 'column<RS>reason') pairs for one source column, in the order they are tried."""
        ref, val = _q(col.name), _q("_v_" + col.name)
        raw = f"CAST({ref} AS VARCHAR)"
        present = f"({ref} IS NOT NULL AND trim({ref}) <> '')" if _is_text(arrow_type) else f"({ref} IS NOT NULL)"

        def tagged(reason_sql: str) -> str:
            return f"{_lit(col.name)} || {_RS} || {reason_sql}"

        checks = []
        if col.required:
            checks.append((f"NOT {present}", tagged("'is empty'")))
        if col.kind == "float":
            checks.append(
                (f"{present} AND ({val} IS NULL OR NOT isfinite({val}))", tagged(f"'is not a number: ' || {raw}"))
            )
        elif col.kind == "enum":
            allowed = ", ".join(_lit(a) for a in col.allowed)
            reason = f"'is ' || {raw} || '; allowed: {', '.join(col.allowed)}'"
            checks.append((f"{present} AND {val} NOT IN ({allowed})", tagged(reason)))
        elif col.kind == "timestamp":
            fmt = self.time.ts_format
            checks.append((f"{present} AND {val} IS NULL", tagged(f"'is not a timestamp in format {fmt}: ' || {raw}")))
            out_of_range = f"({val} < TIMESTAMP '{_TS_MIN}' OR {val} >= TIMESTAMP '{_TS_MAX}')"
            reason = f"'is out of range ({_TS_MIN[:4]}-{_TS_MAX[:4]}): ' || {raw} || '; check --ts-format'"
            checks.append((f"{present} AND {out_of_range}", tagged(reason)))
        return checks

    def _props_sql(self) -> str:
        if not self.props:
            return "MAP(CAST([] AS VARCHAR[]), CAST([] AS VARCHAR[]))"
        keys = ", ".join(_lit(p) for p in self.props)
        vals = ", ".join(f"CAST({_q(p)} AS VARCHAR)" for p in self.props)
        return f"MAP([{keys}], [{vals}])"

    def _dedup_sql(self) -> str:
        """63-bit md5 of the canonical row (or of the id): stable across DuckDB versions, engines and formats."""
        parts = []
        for col in self.contract.columns:
            if col.name == self.contract.id_column:
                continue
            val = _q("_v_" + col.name)
            text = f"CAST(epoch_us({val}) AS VARCHAR)" if col.kind == "timestamp" else f"CAST({val} AS VARCHAR)"
            parts.append(f"coalesce({text}, {_NULL})")
        parts += [f"{_lit(p + '=')} || CAST({_q(p)} AS VARCHAR)" for p in self.props]
        row_hash = f"concat_ws({_SEP}, {', '.join(parts)})"
        if self.contract.id_column:
            idc = _q("_v_" + self.contract.id_column)
            row_hash = f"CASE WHEN {idc} IS NOT NULL THEN 'id' || {_SEP} || {idc} ELSE {row_hash} END"
        return f"CAST(md5_number_lower({row_hash}) >> 1 AS BIGINT)"

    # -- running ----------------------------------------------------------------------------------------
    def validate(self, batch: pa.RecordBatch, first_row: int) -> tuple[pa.Table, pa.Table]:
        """Return ``(valid rows in output_schema, rejected rows in REJECT_SCHEMA)``."""
        if batch.schema != self.schema:
            batch = _conform(batch, self.schema, self.source)
        if not self._checked_values:
            self._check_values(batch)
            self._checked_values = True
        rows = pa.array(np.arange(first_row, first_row + batch.num_rows, dtype=np.int64))
        # Several record batches, not one: DuckDB scans Arrow in parallel per batch (md5 is the costly part).
        pieces = [batch.slice(i, _SCAN_CHUNK) for i in range(0, max(batch.num_rows, 1), _SCAN_CHUNK)]
        table = _naive_utc(pa.Table.from_batches(pieces, schema=batch.schema)).append_column("_row", rows)
        self.con.register("_ll_batch", table)
        try:
            result = self.con.execute(self.sql)
            out = result.to_arrow_table() if hasattr(result, "to_arrow_table") else result.fetch_arrow_table()
        finally:
            self.con.unregister("_ll_batch")
        bad = pc.is_valid(out["_bad"])
        good = out.filter(pc.invert(bad)).select(self.out_schema.names).cast(self.out_schema)
        rejected = out.filter(bad)
        column_reason = pc.split_pattern(rejected["_bad"], "\x1e", max_splits=1)
        rejects = pa.table(
            {
                "source": pa.array([self.source] * rejected.num_rows, pa.string()),
                "row": rejected["_row"],
                "column": pc.list_element(column_reason, 0),
                "reason": pc.list_element(column_reason, 1),
                "raw": rejected["_raw"],
            },
            schema=REJECT_SCHEMA,
        )
        return good, rejects

    def close(self) -> None:
        self.con.close()


def _naive_utc(table: pa.Table) -> pa.Table:
    """Zoned Arrow timestamps hold UTC instants already; dropping the zone is free, converting in SQL is not."""
    for i, field in enumerate(table.schema):
        if pa.types.is_timestamp(field.type) and field.type.tz is not None:
            table = table.set_column(i, field.name, table.column(i).cast(pa.timestamp(field.type.unit)))
    return table


def _conform(batch: pa.RecordBatch, schema: pa.Schema, source: str) -> pa.RecordBatch:
    """Bring a later batch to the first batch's columns (JSON lines may omit keys or add new ones)."""
    extra = sorted(set(batch.schema.names) - set(schema.names))
    if extra:
        raise SourceError(f"{source}: column(s) {extra} first appear after the first rows; put them in every row")
    cols = []
    for field in schema:
        if field.name not in batch.schema.names:
            cols.append(pa.nulls(batch.num_rows, field.type))
            continue
        try:
            cols.append(pc.cast(batch.column(field.name), field.type))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise SourceError(f"{source}: column {field.name!r} changes type within the file: {exc}") from exc
    return pa.RecordBatch.from_arrays(cols, schema=schema)


def _check_type(source: str, col: Column, arrow_type: pa.DataType, time: TimeOptions) -> None:
    """Whole-column type problems are a source error (every row would fail), not a quarantine."""
    numeric = _is_number(arrow_type)
    if col.kind == "timestamp" and numeric and time.ts_format not in _EPOCH_SCALE:
        raise SourceError(
            f"{source}: column {col.name!r} holds numbers ({arrow_type}); pass --ts-format epoch_s, epoch_ms "
            "or epoch_us to read them as Unix times"
        )
    if col.kind == "float" and not (numeric or _is_text(arrow_type) or pa.types.is_null(arrow_type)):
        raise SourceError(f"{source}: column {col.name!r} has type {arrow_type}; expected numbers")


def _timestamp_sql(ref: str, arrow_type: pa.DataType, time: TimeOptions) -> str:
    naive_tz, date_tz = _lit(time.naive_tz), _lit(time.date_tz)

    def from_naive(expr: str, tz: str) -> str:
        return f"timezone('UTC', timezone({tz}, CAST({expr} AS TIMESTAMP)))"

    fmt = time.ts_format
    if pa.types.is_timestamp(arrow_type):
        if arrow_type.tz is not None:  # stripped to naive UTC in Arrow before the SQL runs (see _naive_utc)
            return f"CAST({ref} AS TIMESTAMP)"
        return f"CAST({ref} AS TIMESTAMP)" if time.naive_tz == "UTC" else from_naive(ref, naive_tz)
    if pa.types.is_date(arrow_type):
        return from_naive(ref, date_tz)
    if fmt in _EPOCH_SCALE:
        number = f"CAST({ref} AS DOUBLE)" if _is_number(arrow_type) else f"TRY_CAST(trim({ref}) AS DOUBLE)"
        micros = f"({number} * {_EPOCH_SCALE[fmt]})"
        # A value in the wrong unit (ms read as s) overflows BIGINT microseconds: give it a time past the range
        # check (so it is quarantined as out of range) instead of failing the whole ingest.
        return (
            f"CASE WHEN isnan({number}) THEN NULL "
            f"WHEN abs({micros}) >= {_EPOCH_US_LIMIT} THEN TIMESTAMP '9999-12-31' "
            f"ELSE make_timestamp(CAST(round({micros}) AS BIGINT)) END"
        )
    text = f"trim(CAST({ref} AS VARCHAR))"
    if fmt == "auto":
        # epoch_us of a TIMESTAMPTZ is its UTC instant: no ICU calendar work per row, unlike timezone('UTC', x).
        return f"make_timestamp(epoch_us(TRY_CAST({text} AS TIMESTAMPTZ)))"
    if fmt == "date":
        return from_naive(f"TRY_STRPTIME({text}, '%Y-%m-%d')", date_tz)
    if "%" not in fmt:
        raise SourceError(
            f"unknown --ts-format {fmt!r}; use auto, date, epoch_s, epoch_ms, epoch_us or a strptime pattern"
        )
    parsed = f"TRY_STRPTIME({text}, {_lit(fmt)})"
    if "%z" in fmt or "%Z" in fmt:
        return f"timezone('UTC', {parsed})"
    return from_naive(parsed, naive_tz)
