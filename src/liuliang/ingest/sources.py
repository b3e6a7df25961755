"""Read any supported input as a stream of Arrow record batches, each tagged with its source and row number.

Why streams: files may be larger than memory, so nothing here materialises a whole file (pandas is never
involved for files). Why row numbers: a rejected row must be findable in the user's file — row N is the N-th
data record (1-based, header not counted).

CSV columns are read as text on purpose: type inference per block breaks when a later block disagrees, and the
validator turns text into typed values with a clear error per row instead.
"""

from __future__ import annotations

import csv
import glob
import gzip
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pajson
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


def iter_sources(obj: Any, *, batch_rows: int = BATCH_ROWS) -> Iterator[tuple[str, Iterator[pa.RecordBatch]]]:
    """Yield ``(source name, batches)`` for a path, glob, directory, list of those, or an in-memory frame."""
    if isinstance(obj, list | tuple):
        for item in obj:
            yield from iter_sources(item, batch_rows=batch_rows)
        return
    if isinstance(obj, str | Path):
        for path in expand_paths(obj):
            yield str(path), _file_batches(path, batch_rows)
        return
    yield _frame_name(obj), _frame_batches(obj, batch_rows)


def iter_batches(obj: Any, *, batch_rows: int = BATCH_ROWS) -> Iterator[SourceBatch]:
    """Flatten :func:`iter_sources` into batches that carry their source and first row number."""
    for name, batches in iter_sources(obj, batch_rows=batch_rows):
        row = 1
        for batch in batches:
            yield SourceBatch(name, row, batch)
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
            yield from _csv_batches(path, delimiter="\t" if suffix.startswith(".tsv") else ",")
        elif suffix in _JSON:
            yield from _json_batches(path)
        else:
            raise SourceError(f"{path}: unknown format {suffix!r}; expected one of {', '.join(SUPPORTED)}")
    except (pa.ArrowInvalid, OSError, UnicodeDecodeError) as exc:
        if isinstance(exc, SourceError):
            raise
        raise SourceError(f"{path}: cannot be read: {exc}") from exc


def _csv_header(path: Path, delimiter: str) -> list[str]:
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8-sig", newline="") as fh:
        return next(csv.reader(fh, delimiter=delimiter), [])


def _csv_batches(path: Path, delimiter: str) -> Iterator[pa.RecordBatch]:
    names = _csv_header(path, delimiter)
    if not names:
        return  # an empty file has no rows; the validator reports its missing columns
    reader = pacsv.open_csv(
        pa.input_stream(str(path), compression="detect"),
        read_options=pacsv.ReadOptions(block_size=16 << 20),
        parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            column_types={n: pa.string() for n in names},
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
        ),
    )
    yield from reader


def _json_batches(path: Path) -> Iterator[pa.RecordBatch]:
    stream = pa.input_stream(str(path), compression="detect")
    head = stream.read(1)
    if not head:
        return
    stream = pa.input_stream(str(path), compression="detect")
    for batch in pajson.open_json(stream, read_options=pajson.ReadOptions(block_size=16 << 20)):
        yield _scalars_as_text(batch)


def _scalars_as_text(batch: pa.RecordBatch) -> pa.RecordBatch:
    """JSON types are inferred per block; text for every scalar keeps blocks compatible (the validator types it)."""
    cols = [
        c if pa.types.is_nested(c.type) or pa.types.is_timestamp(c.type) else pc.cast(c, pa.string())
        for c in batch.columns
    ]
    return pa.RecordBatch.from_arrays(cols, names=batch.schema.names)


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
    if isinstance(obj, pa.Table | pa.RecordBatch):
        return obj.schema
    return next(iter(_frame_batches(obj, 1)), pa.record_batch([])).schema


def _frame_batches(obj: Any, batch_rows: int) -> Iterator[pa.RecordBatch]:
    if isinstance(obj, pa.Table):
        yield from obj.to_batches(max_chunksize=batch_rows)
    elif isinstance(obj, pa.RecordBatch):
        yield obj
    elif isinstance(obj, pa.RecordBatchReader):
        yield from obj
    elif type(obj).__module__.startswith("polars"):
        yield from obj.to_arrow().to_batches(max_chunksize=batch_rows)
    elif type(obj).__module__.startswith("pandas"):
        for start in range(0, max(len(obj), 1), batch_rows):
            yield pa.RecordBatch.from_pandas(obj.iloc[start : start + batch_rows], preserve_index=False)
    else:
        raise SourceError(
            f"cannot ingest a {type(obj).__name__}: pass a path, glob, directory, Arrow table, "
            "pandas or Polars DataFrame"
        )
