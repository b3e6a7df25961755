"""Read any supported input as a stream of Arrow record batches, each tagged with its source and row number.

Why streams: files may be larger than memory, so nothing here materialises a whole file (pandas is never
involved for files). Why row numbers: a rejected row must be findable in the user's file — row N is the N-th
data record (1-based, header not counted).

CSV columns are read as text on purpose: type inference per block breaks when a later block disagrees, and the
validator turns text into typed values with a clear error per row instead. JSON lines are read the same way, as the
text of each value (through DuckDB's JSON reader): Arrow's JSON reader infers types per block, fails when a key
changes type between rows, and turns ISO strings into timestamps, dropping whether they carried an offset.
"""

from __future__ import annotations

import csv
import glob
import gzip
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from liuliang.errors import SourceError

BATCH_ROWS = 256_000
_CSV = (".csv", ".csv.gz", ".tsv", ".tsv.gz")
_JSON = (".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz", ".json", ".json.gz")
_PARQUET = (".parquet", ".pq")
SUPPORTED = _CSV + _JSON + _PARQUET


@dataclass(frozen=True)
class SourceBatch:
    """A slice of one source: ``first_row`` is the 1-based row number of the batch's first row."""

    source: str
    first_row: int
    batch: pa.RecordBatch


@dataclass(frozen=True)
class Source:
    """One input: its name (path, or ``<module.Type>`` for a frame), its batches, and the object it came from."""

    name: str
    batches: Iterator[pa.RecordBatch]
    origin: Any

    def header(self) -> list[str]:
        """Column names without reading rows (to report the missing columns of an input without rows)."""
        return header_of(self.origin)


def iter_sources(obj: Any, *, batch_rows: int = BATCH_ROWS) -> Iterator[Source]:
    """Yield a :class:`Source` for a path, glob, directory, list of those, or an in-memory frame."""
    if isinstance(obj, list | tuple):
        for item in obj:
            yield from iter_sources(item, batch_rows=batch_rows)
        return
    if isinstance(obj, str | Path):
        for path in expand_paths(obj):
            yield Source(str(path), _file_batches(path, batch_rows), path)
        return
    yield Source(_frame_name(obj), _frame_batches(obj, batch_rows), obj)


def iter_batches(obj: Any, *, batch_rows: int = BATCH_ROWS) -> Iterator[SourceBatch]:
    """Flatten :func:`iter_sources` into batches that carry their source and first row number."""
    for source in iter_sources(obj, batch_rows=batch_rows):
        row = 1
        for batch in source.batches:
            yield SourceBatch(source.name, row, batch)
            row += batch.num_rows


def expand_paths(spec: str | Path) -> list[Path]:
    """A file, a directory (every supported file below it) or a glob, in sorted order."""
    text = str(spec)
    if any(ch in text for ch in "*?["):
        paths = [Path(p) for p in sorted(glob.glob(text, recursive=True)) if Path(p).is_file()]
        if not paths:
            raise SourceError(f"{text}: no file matches this pattern")
        return paths
    path = Path(text)
    if path.is_dir():
        paths = sorted(p for p in path.rglob("*") if p.is_file() and _suffix(p) in SUPPORTED)
        if not paths:
            raise SourceError(f"{path}: directory holds no {', '.join(SUPPORTED)} files")
        return paths
    if not path.exists():
        raise SourceError(f"{path}: no such file")
    return [path]


def _suffix(path: Path) -> str:
    name = path.name.lower()
    for suffix in sorted(SUPPORTED, key=len, reverse=True):
        if name.endswith(suffix):
            return suffix
    return path.suffix.lower()


def _file_batches(path: Path, batch_rows: int) -> Iterator[pa.RecordBatch]:
    suffix = _suffix(path)
    try:
        if suffix in _PARQUET:
            yield from pq.ParquetFile(path).iter_batches(batch_size=batch_rows)
        elif suffix in _CSV:
            yield from _csv_batches(path, "\t" if suffix.startswith(".tsv") else ",", batch_rows)
        elif suffix in _JSON:
            yield from _json_batches(path, batch_rows)
        else:
            raise SourceError(f"{path}: unknown format {suffix!r}; expected one of {', '.join(SUPPORTED)}")
    except (pa.ArrowInvalid, OSError, UnicodeDecodeError, EOFError, duckdb.Error) as exc:
        if isinstance(exc, SourceError):
            raise
        raise SourceError(f"{path}: cannot be read: {exc}") from exc


def _csv_header(path: Path, delimiter: str) -> list[str]:
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8-sig", newline="") as fh:
        return next(csv.reader(fh, delimiter=delimiter), [])


def _sliced(batches: Iterator[pa.RecordBatch], batch_rows: int) -> Iterator[pa.RecordBatch]:
    """Batches of at most ``batch_rows`` rows (readers that work in bytes return blocks of any length)."""
    for batch in batches:
        for start in range(0, batch.num_rows, batch_rows):
            yield batch.slice(start, batch_rows)


def _csv_batches(path: Path, delimiter: str, batch_rows: int) -> Iterator[pa.RecordBatch]:
    names = _csv_header(path, delimiter)
    if not names:
        return  # an empty file has no rows; the validator reports its missing columns
    reader = pacsv.open_csv(
        pa.input_stream(str(path), compression="detect"),
        read_options=pacsv.ReadOptions(block_size=16 << 20),
        parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            column_types={n: pa.string() for n in names},
            # Only an empty field is missing: "NA", "null", "nan" are real values (a user id, a country, text).
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
        ),
    )
    yield from _sliced(reader, batch_rows)


def _sql_text(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _json_batches(path: Path, batch_rows: int) -> Iterator[pa.RecordBatch]:
    """Every key of every record as a text column (nested values as JSON text), keys in order of appearance."""
    con = duckdb.connect()
    try:
        records = f"read_json_objects({_sql_text(str(path))}, format = 'auto')"
        key_lists = con.execute(
            f"SELECT ks FROM (SELECT json_keys(json) AS ks, row_number() OVER () AS rn FROM {records}) "
            "GROUP BY ks ORDER BY min(rn)"
        ).fetchall()
        keys = list(dict.fromkeys(k for (ks,) in key_lists for k in ks or ()))
        if not keys:
            return
        cols = ", ".join(
            f"json_extract_string(json, {_sql_text(_json_path(k))}) AS " + '"' + k.replace('"', '""') + '"'
            for k in keys
        )
        result = con.execute(f"SELECT {cols} FROM {records}")
        # DuckDB 1.5 renamed fetch_record_batch to to_arrow_reader; 1.4 has only the old name.
        reader = (
            result.to_arrow_reader(batch_rows)
            if hasattr(result, "to_arrow_reader")
            else (result.fetch_record_batch(batch_rows))
        )
        yield from _sliced(reader, batch_rows)
    finally:
        con.close()


def _json_path(key: str) -> str:
    return '$."' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'


def header_of(obj: Any) -> list[str]:
    """Column names of a source without reading its rows (used to report missing columns of empty files)."""
    if isinstance(obj, str | Path):
        path = Path(obj)
        suffix = _suffix(path)
        if suffix in _CSV:
            return _csv_header(path, "\t" if suffix.startswith(".tsv") else ",")
        if suffix in _PARQUET:
            return pq.ParquetFile(path).schema_arrow.names
        return []
    return list(_frame_schema(obj).names)


# -- in-memory frames -------------------------------------------------------------------------------------
def _frame_name(obj: Any) -> str:
    module = type(obj).__module__.split(".")[0]
    return f"<{module}.{type(obj).__name__}>"


def _frame_schema(obj: Any) -> pa.Schema:
    if isinstance(obj, pa.Table | pa.RecordBatch | pa.RecordBatchReader):
        return obj.schema
    if type(obj).__module__.startswith("polars"):
        return obj.head(0).to_arrow().schema
    if type(obj).__module__.startswith("pandas"):
        return _pandas_batch(obj.head(0)).schema
    return pa.schema([])


def _frame_batches(obj: Any, batch_rows: int) -> Iterator[pa.RecordBatch]:
    if isinstance(obj, pa.Table):
        yield from obj.to_batches(max_chunksize=batch_rows)
    elif isinstance(obj, pa.RecordBatch):
        yield from _sliced(iter([obj]), batch_rows)
    elif isinstance(obj, pa.RecordBatchReader):
        yield from _sliced(obj, batch_rows)
    elif type(obj).__module__.startswith("polars"):
        yield from obj.to_arrow().to_batches(max_chunksize=batch_rows)
    elif type(obj).__module__.startswith("pandas"):
        for start in range(0, max(len(obj), 1), batch_rows):
            yield _pandas_batch(obj.iloc[start : start + batch_rows])
    else:
        raise SourceError(
            f"cannot ingest a {type(obj).__name__}: pass a path, glob, directory, Arrow table, "
            "pandas or Polars DataFrame"
        )


def _pandas_batch(df: Any) -> pa.RecordBatch:
    """A pandas slice as Arrow; an object column mixing types (1.5 and 'abc') becomes text, so the validator
    rejects the bad rows one by one instead of the whole frame failing to convert."""
    try:
        return pa.RecordBatch.from_pandas(df, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        pass
    import pandas as pd

    arrays, names = [], []
    for name in df.columns:
        col = df[name]
        try:
            arrays.append(pa.array(col, from_pandas=True))
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            arrays.append(pa.array([None if _is_missing(pd, v) else str(v) for v in col], pa.string()))
        names.append(str(name))
    return pa.RecordBatch.from_arrays(arrays, names=names)


def _is_missing(pd: Any, value: Any) -> bool:
    return pd.api.types.is_scalar(value) and bool(pd.isna(value))
