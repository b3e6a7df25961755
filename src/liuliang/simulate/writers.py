"""Parquet writing: a file filled block by block, and a directory of part files.

Why sinks: blocks arrive one at a time, in order, and memory must stay at a block. A sink owns one output,
appends blocks as they come, and decides row groups from the row stream alone, never from the chunking.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq


def _parquet_writer(path: Path, schema: pa.Schema) -> pq.ParquetWriter:
    """zstd; dictionary encoding only for repetitive strings (a unique ``event_id`` or a timestamp gains
    nothing from a dictionary, and trying one costs a third of the write time)."""
    repetitive = [f.name for f in schema if pa.types.is_string(f.type) and f.name != "event_id"]
    return pq.ParquetWriter(path, schema, compression="zstd", use_dictionary=repetitive)


class FileSink:
    """One Parquet file, written block by block; row groups are cut at a fixed row count.

    Why buffer: a block of 2,000 users makes tiny tables (users, incentives), and thousands of tiny row
    groups slow every reader down. The cut points depend only on the row stream, never on chunking.
    """

    def __init__(self, path: Path, schema: pa.Schema, rows_per_group: int = 1_000_000) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path, self.rows = path, 0
        self._writer = _parquet_writer(path, schema)
        self._pending: list[pa.Table] = []
        self._pending_rows, self._rows_per_group = 0, rows_per_group

    def write(self, table: pa.Table) -> None:
        self._pending.append(table)
        self._pending_rows += table.num_rows
        self.rows += table.num_rows
        if self._pending_rows >= self._rows_per_group:
            self._flush()

    def _flush(self) -> None:
        if self._pending_rows:
            table = pa.concat_tables(self._pending).combine_chunks()
            self._writer.write_table(table, row_group_size=table.num_rows)
        self._pending, self._pending_rows = [], 0

    def close(self) -> None:
        self._flush()
        self._writer.close()


class PartSink:
    """``part-NNNNN.parquet`` files of ``blocks_per_part`` blocks each, one row group per block."""

    def __init__(self, directory: Path, schema: pa.Schema, blocks_per_part: int) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.glob("part-*.parquet"):  # a previous run's parts would join the dataset
            stale.unlink()
        self.directory, self.schema, self.blocks_per_part = directory, schema, blocks_per_part
        self.paths: list[Path] = []
        self.rows = 0
        self._writer: pq.ParquetWriter | None = None

    def write(self, block: int, table: pa.Table) -> None:
        part = block // self.blocks_per_part
        if part == len(self.paths):
            self.close()
            path = self.directory / f"part-{part:05d}.parquet"
            self.paths.append(path)
            self._writer = _parquet_writer(path, self.schema)
        assert self._writer is not None
        self._writer.write_table(table, row_group_size=max(table.num_rows, 1))
        self.rows += table.num_rows

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def finish(self) -> None:
        """Close; with no rows at all (no couriers), still write one empty part so the dataset reads."""
        if not self.paths:
            self.write(0, self.schema.empty_table())
        self.close()
