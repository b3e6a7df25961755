"""Shared fixtures: DuckDB workspaces, one Spark session for the whole run, and the cross-engine ``ws`` fixture.

Spark is expensive (~10 s to start, seconds per ingest), so there is exactly one session, each Spark test gets a
fresh database in it, and only tests marked ``spark`` use it. The session's warehouse, Derby home and scratch
space live under pytest's tmp directory so a run leaves nothing in the repository.
"""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import liuliang
from liuliang.warehouse.workspace import Workspace

TZ = "Asia/Shanghai"
_db_counter = itertools.count()


@pytest.fixture(scope="session", autouse=True)
def one_blas_thread() -> Iterator[None]:
    """Run NumPy/SciPy linear algebra and scikit-learn's OpenMP loops on one thread: their threads spin on the models'
    small problems and made the model tests 3x and gradient boosting 5x slower on 2 shared cores. Restored after."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"), threadpool_limits(limits=1, user_api="openmp"):
        yield


@pytest.fixture
def duck_ws(tmp_path: Path) -> Iterator[Workspace]:
    """A fresh DuckDB-file workspace reporting in Asia/Shanghai."""
    ws = liuliang.Workspace.open(tmp_path / "ws.duckdb", tz=TZ)
    yield ws
    ws.close()


@pytest.fixture(scope="session")
def spark_session(tmp_path_factory: pytest.TempPathFactory):
    """One local Spark session (local[2], UTC) for the whole test run."""
    pytest.importorskip("pyspark")
    if shutil.which("java") is None:
        pytest.skip("PySpark needs a JDK (java not on PATH)")
    from liuliang.warehouse.spark import local_spark_session

    base = tmp_path_factory.mktemp("spark")
    derby = base / "derby"
    derby.mkdir()
    session = local_spark_session(
        base / "warehouse",
        conf={
            "spark.driver.extraJavaOptions": f"-Dderby.system.home={derby}",
            "spark.local.dir": str(base / "local"),
            "spark.sql.shuffle.partitions": "2",
            "spark.default.parallelism": "2",
        },
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture
def spark_db(spark_session) -> Callable[..., Workspace]:
    """Create a fresh Spark database and return ``open(tz=...)`` that (re)opens a workspace in it."""
    import ibis

    name = f"ll_test_{next(_db_counter)}"
    spark_session.sql(f"CREATE DATABASE {name}")
    spark_session.catalog.setCurrentDatabase(name)

    def open_ws(tz: str | None = TZ) -> Workspace:
        spark_session.catalog.setCurrentDatabase(name)
        return liuliang.Workspace.open(ibis.pyspark.connect(spark_session), tz=tz)

    yield open_ws
    spark_session.catalog.setCurrentDatabase("default")
    spark_session.sql(f"DROP DATABASE IF EXISTS {name} CASCADE")


@pytest.fixture(params=["duckdb", pytest.param("spark", marks=pytest.mark.spark)])
def ws(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Workspace]:
    """The same test on a DuckDB file and on a Spark database (Asia/Shanghai)."""
    if request.param == "duckdb":
        workspace = liuliang.Workspace.open(tmp_path / "ws.duckdb", tz=TZ)
    else:
        workspace = request.getfixturevalue("spark_db")()
    yield workspace
    workspace.close()


@pytest.fixture(scope="session")
def small_world_workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small generated festival world (3,000 users, 90 days, experiment on) ingested into a DuckDB file, built once
    per run for the tests that only read (report views, dashboard, browser). Open it; do not write to it."""
    from liuliang.simulate import WorldConfig, generate_world

    base = tmp_path_factory.mktemp("small_world")
    config = WorldConfig(n_users=3000, days=90, seed=3, courier_share=0.02)
    generate_world(config, base / "world")
    path = base / "ws.duckdb"
    sources = {"events": "events", "users": "users.parquet", "incentives": "incentives.parquet"}
    sources["assignments"] = "assignments.parquet"
    with Workspace.open(path, tz=config.tz) as ws:
        for table, name in sources.items():
            ws.ingest(base / "world" / name, table=table)
    return path
