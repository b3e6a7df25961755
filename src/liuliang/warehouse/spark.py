"""PySpark, the scale-out engine.

Spark's plain tables have no transactions, so atomicity comes from bookkeeping instead: every row carries the
id of the ingest that wrote it, the ``ingests`` log row is written last, and opening a workspace removes rows of
ingests that never logged a commit and rebuilds the rollups (:meth:`liuliang.warehouse.Workspace.repair`).
Staging goes through Parquet files in a local temporary directory so Arrow batches never pass through pandas.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa
import pyarrow.parquet as pq

from liuliang.warehouse.engine import Engine, StageWriter

_NEW, _OLD = "_ll_new_", "_ll_old_"


def local_spark_session(
    warehouse_dir: str | Path | None = None, *, cores: int = 2, conf: Mapping[str, str] | None = None
) -> Any:
    """A local Spark session configured the way liuliang needs it (UTC session, few shuffle partitions).

    ``conf`` adds or overrides Spark settings, e.g. ``{"spark.driver.extraJavaOptions":
    "-Dderby.system.home=/tmp/x"}`` (JVM options only take effect if no Spark session is running yet).
    """
    from pyspark.sql import SparkSession

    builder = (
        SparkSession.builder.master(f"local[{cores}]")
        .appName("liuliang")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", str(max(2, cores)))
        .config("spark.driver.memory", "2g")
        .config("spark.sql.parquet.inferTimestampNTZ.enabled", "true")
    )
    if warehouse_dir is not None:
        builder = builder.config("spark.sql.warehouse.dir", str(warehouse_dir))
    for key, value in (conf or {}).items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


class _SparkStage(StageWriter):
    def __init__(self, engine: SparkEngine, name: str, schema: pa.Schema) -> None:
        self.engine, self.name, self.schema = engine, name, schema
        self.dir = Path(tempfile.mkdtemp(prefix=f"liuliang-stage-{name}-"))
        engine._cleanup[name] = self.dir  # removed by drop_temp even if staging fails before finish()
        self.writer = pq.ParquetWriter(self.dir / "part-0.parquet", schema)

    def write(self, batch: pa.RecordBatch) -> None:
        if batch.num_rows:
            self.writer.write_batch(batch)

    def finish(self) -> ir.Table:
        self.writer.close()
        df = self.engine.session.read.parquet(str(self.dir))
        return self.engine._register(self.name, df, cleanup=self.dir)


class SparkEngine(Engine):
    name = "pyspark"
    transactional = False

    def __init__(self, con: ibis.BaseBackend) -> None:
        super().__init__(con)
        self.session = con._session
        self._cleanup: dict[str, Path] = {}

    def _register(self, name: str, df: Any, cleanup: Path | None = None) -> ir.Table:
        # Eager local checkpoint: the staged rows must not be recomputed after the target tables change.
        df = df.localCheckpoint(eager=True)
        df.createOrReplaceTempView(name)
        if cleanup is not None:
            self._cleanup[name] = cleanup
        return self.con.table(name)

    def stage(self, name: str, schema: pa.Schema) -> StageWriter:
        return _SparkStage(self, name, schema)

    def materialize(self, name: str, expr: ir.Table) -> ir.Table:
        return self._register(name, self.session.sql(self.con.compile(expr)))

    def drop_temp(self, name: str) -> None:
        self.session.catalog.dropTempView(name)
        path = self._cleanup.pop(name, None)
        if path is not None:
            shutil.rmtree(path, ignore_errors=True)

    def has_table(self, name: str) -> bool:
        return any(t.name == name and not t.isTemporary for t in self.session.catalog.listTables())

    def add_columns(self, name: str, columns: dict[str, str]) -> None:
        cols = ", ".join(
            f"`{c}` {self.con.compiler.type_mapper.from_ibis(ibis.dtype(t)).sql('spark')}" for c, t in columns.items()
        )
        self.session.sql(f"ALTER TABLE `{name}` ADD COLUMNS ({cols})")

    def delete_matching(self, name: str, keys: ir.Table, on: list[str]) -> None:
        self.rewrite(name, self.table(name).anti_join(keys, on))

    def rewrite(self, name: str, expr: ir.Table) -> None:
        """Spark cannot overwrite a table it is reading: write a new table, then swap names.

        The old table is renamed aside (``_ll_old_<name>``) and dropped only after the new one has its name, so a
        crash at any step leaves a state :meth:`recover` can finish or undo; dropping first lost the whole table
        to a crash between the drop and the rename (the next open then created it empty).
        """
        new, old = f"{_NEW}{name}", f"{_OLD}{name}"
        for leftover in (new, old):
            self.session.sql(f"DROP TABLE IF EXISTS `{leftover}`")
        self.con.create_table(new, expr)
        self.session.sql(f"ALTER TABLE `{name}` RENAME TO `{old}`")
        self.session.sql(f"ALTER TABLE `{new}` RENAME TO `{name}`")
        self.session.sql(f"DROP TABLE `{old}`")

    def recover(self) -> bool:
        """Finish or undo table swaps a crash interrupted; True if there was one."""
        tables = {t.name for t in self.session.catalog.listTables() if not t.isTemporary}
        found = False
        for table in sorted(tables):
            if table.startswith(_OLD):
                found = True
                base = table[len(_OLD) :]
                if base in tables:  # the swap completed: the old copy is garbage
                    self.session.sql(f"DROP TABLE `{table}`")
                else:  # crashed between the two renames: put the old table back
                    self.session.sql(f"ALTER TABLE `{table}` RENAME TO `{base}`")
            elif table.startswith(_NEW):
                found = True
                self.session.sql(f"DROP TABLE `{table}`")
        return found

    def close(self) -> None:
        for name in list(self._cleanup):
            self.drop_temp(name)
