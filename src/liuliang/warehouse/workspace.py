"""A workspace: one warehouse (any Ibis backend), its reporting time zone and week start, and its tables.

Open one with :meth:`Workspace.open`: a path opens (or creates) an embedded DuckDB file, ``":memory:"`` a
throw-away one, a URL goes through :func:`ibis.connect`, and an Ibis backend object is used as it is (a PySpark
connection makes a Spark workspace in the session's current database).

The reporting time zone and week start are fixed when the workspace is created — the rollups store local day
numbers — and reopening with a different zone is an error rather than a silent shift of every day.
"""

from __future__ import annotations

import datetime as dt
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from liuliang.errors import UnsupportedOperationError, WorkspaceError
from liuliang.warehouse import periods
from liuliang.warehouse import tables as T
from liuliang.warehouse.engine import Engine, Prepared

if TYPE_CHECKING:
    from liuliang.ingest.report import IngestReport

DEFAULT_PATH = "liuliang.duckdb"


@dataclass(frozen=True)
class WorkspaceSettings:
    tz: str = "UTC"
    week_start: str = "monday"

    def __post_init__(self) -> None:
        periods.check_tz(self.tz)
        object.__setattr__(self, "week_start", periods.check_week_start(self.week_start))


@dataclass(frozen=True)
class EventSpan:
    """First and last event time (naive UTC) and local day in the workspace."""

    first_ts: dt.datetime
    last_ts: dt.datetime
    first_day: int
    last_day: int


#: Compiled queries kept per workspace (a dashboard or a benchmark repeats a few dozen specs).
PREPARED_CACHE_SIZE = 256


@dataclass(frozen=True)
class TableInfo:
    name: str
    rows: int


@dataclass(frozen=True)
class WorkspaceInfo:
    """What ``liuliang info`` prints: where the data lives and what is in it."""

    location: str
    engine: str
    settings: WorkspaceSettings
    tables: tuple[TableInfo, ...]
    users: int
    first_ts: dt.datetime | None
    last_ts: dt.datetime | None
    quarantined: int
    ingests: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "location": self.location,
            "engine": self.engine,
            "tz": self.settings.tz,
            "week_start": self.settings.week_start,
            "tables": {t.name: t.rows for t in self.tables},
            "users": self.users,
            "first_ts": self.first_ts.isoformat() if self.first_ts else None,
            "last_ts": self.last_ts.isoformat() if self.last_ts else None,
            "quarantined": self.quarantined,
            "ingests": self.ingests,
        }


@dataclass
class Workspace:
    """The warehouse plus its settings. Metrics and models take a workspace and read its tables."""

    engine: Engine
    settings: WorkspaceSettings
    location: str = ""
    read_only: bool = False
    _segments_cache: dict[tuple[int, int], list[periods.OffsetSegment]] = field(default_factory=dict, repr=False)
    _table_cache: dict[str, ir.Table] = field(default_factory=dict, repr=False)
    _prepared: OrderedDict[Hashable, Prepared] = field(default_factory=OrderedDict, repr=False)

    # -- opening ----------------------------------------------------------------------------------------
    @classmethod
    def open(
        cls,
        target: str | Path | ibis.BaseBackend | None = None,
        *,
        tz: str | None = None,
        week_start: str | None = None,
        memory_limit: str | None = None,
        read_only: bool = False,
    ) -> Workspace:
        """Open or create a workspace; ``tz``/``week_start`` are required to match an existing one.

        ``memory_limit`` (e.g. ``"8GB"``) caps an embedded DuckDB workspace's memory; beyond it DuckDB spills.
        ``read_only`` opens an existing DuckDB file for reading only (the dashboard): nothing is created, recovered
        or upgraded, and DuckDB itself refuses any write.
        """
        engine, location = _engine_for(target, memory_limit, read_only)
        ws = cls(engine, WorkspaceSettings(), location, read_only)
        try:
            if read_only:
                ws._read_settings(tz, week_start)
                return ws
            engine.recover()  # before anything creates a table: finish a crashed swap, drop scratch left-overs
            ws._init_tables(tz, week_start)
        except BaseException:
            engine.close()
            raise
        if not engine.transactional:
            ws.repair()
        return ws

    def _read_settings(self, tz: str | None, week_start: str | None) -> None:
        """A read-only open: the tables must already be there, in the current format (nothing may be added)."""
        missing = [n for n in (T.META, T.INGESTS, T.EVENTS, T.USER_DAY) if not self.engine.has_table(n)]
        if missing:
            raise WorkspaceError(f"{self.location}: not a liuliang workspace (no {', '.join(missing)} table)")
        log_columns = self.engine.table(T.INGESTS).columns
        if any(c not in log_columns for c in T.SCHEMAS[T.INGESTS]):
            raise WorkspaceError(
                f"{self.location}: written by an older liuliang; open it once for writing (liuliang info) to upgrade"
            )
        self._check_settings(tz, week_start)

    def _init_tables(self, tz: str | None, week_start: str | None) -> None:
        for name in (T.META, T.INGESTS, T.USER_KEYS, T.QUARANTINE, T.EVENTS, T.USER_DAY, T.USER_DAY_EVENT):
            self.engine.ensure_table(name, T.SCHEMAS[name])
        # A workspace written by an earlier version lacks the log's newer columns; metrics fall back for those rows.
        log_columns = self.engine.table(T.INGESTS).columns
        missing = {c: str(t) for c, t in T.SCHEMAS[T.INGESTS].items() if c not in log_columns}
        if missing:
            self.engine.add_columns(T.INGESTS, missing)
        if not self._check_settings(tz, week_start):
            settings = WorkspaceSettings(tz or "UTC", week_start or "monday")
            rows = {"tz": settings.tz, "week_start": settings.week_start, "format": "1"}
            self.engine.append(T.META, ibis.memtable({"key": list(rows), "value": list(rows.values())}))
            self.settings = settings

    def _check_settings(self, tz: str | None, week_start: str | None) -> bool:
        """Load the stored zone and week start (False if none are stored yet); a different requested one is an error."""
        stored = {r["key"]: r["value"] for r in self.engine.to_arrow(self.engine.table(T.META)).to_pylist()}
        if not stored:
            if self.read_only:
                raise WorkspaceError(f"{self.location}: the workspace has no settings yet (ingest data first)")
            return False
        settings = WorkspaceSettings(stored["tz"], stored["week_start"])
        if tz is not None and tz != settings.tz:
            raise WorkspaceError(
                f"{self.location}: workspace reports in {settings.tz}; its rollups hold {settings.tz} days, "
                f"so it cannot be opened with --tz {tz} (use a new workspace for another zone)"
            )
        if week_start is not None and periods.check_week_start(week_start) != settings.week_start:
            raise WorkspaceError(f"{self.location}: workspace weeks start on {settings.week_start}, not {week_start}")
        self.settings = settings
        return True

    # -- tables -----------------------------------------------------------------------------------------
    def table(self, name: str) -> ir.Table:
        """A warehouse table as an Ibis expression (lazy; nothing runs until you execute it).

        Expressions are cached until this workspace next writes: looking a table up costs two catalog queries
        (~5 ms on DuckDB), which is a visible share of a metric that runs in tens of milliseconds.
        """
        cached = self._table_cache.get(name)
        if cached is not None:
            return cached
        if not self.engine.has_table(name):
            raise WorkspaceError(f"{self.location}: no table {name!r} yet (ingest it first)")
        self._table_cache[name] = table = self.engine.table(name)
        return table

    def has_table(self, name: str) -> bool:
        if name in self._table_cache:
            return True
        return self.engine.has_table(name)

    def events(self) -> ir.Table:
        """Events with the string ``user_id`` joined back (group on ``user_key`` for speed)."""
        ev = self.table(T.EVENTS)
        return ev.join(self.table(T.USER_KEYS).select("user_key", "user_id"), "user_key")

    def user_day(self) -> ir.Table:
        return self.table(T.USER_DAY)

    def user_day_until(self, data_end: dt.datetime) -> ir.Table:
        """``user_day`` as seen at ``data_end`` (naive UTC): every day before its local day, and on that day only the
        users whose first event of the day is at or before it. The one definition of "active so far" that every
        read taking a ``data_end`` (experiments, features, grants, aha, habit, intents) starts from."""
        end_day = periods.day_of_instant(data_end, self.settings.tz)
        ud = self.user_day()
        at_end = (ud.day == end_day) & (ud.first_ts <= ibis.literal(data_end, "timestamp"))
        return ud.filter((ud.day < end_day) | at_end)

    def user_day_event(self) -> ir.Table:
        return self.table(T.USER_DAY_EVENT)

    def offset_segments(self, lo: dt.datetime, hi: dt.datetime) -> list[periods.OffsetSegment]:
        """The reporting zone's UTC offsets between two instants (cached per day range)."""
        key = (lo.toordinal(), hi.toordinal())
        if key not in self._segments_cache:
            self._segments_cache[key] = periods.offset_segments(self.settings.tz, lo, hi)
        return self._segments_cache[key]

    def local_day(self, ts: ir.TimestampValue, lo: dt.datetime, hi: dt.datetime) -> ir.IntegerValue:
        """Local day number of a naive-UTC timestamp column whose values lie in ``[lo, hi]``."""
        return periods.local_day(ts, self.offset_segments(lo, hi))

    # -- writing ----------------------------------------------------------------------------------------
    def ingest(self, source: Any, table: str = "events", **options: Any) -> IngestReport:
        """Validate and load ``source`` into ``table``; see :class:`liuliang.ingest.IngestSpec` for options."""
        from liuliang.ingest.loader import IngestSpec, ingest

        self._check_writable("ingest")
        try:
            return ingest(self, source, IngestSpec(table=table, **options))
        finally:
            self.forget()  # an ingest may add tables and columns

    def _check_writable(self, what: str) -> None:
        if self.read_only:
            raise WorkspaceError(f"{self.location}: opened read-only; cannot {what} (open it without read_only)")

    def forget(self) -> None:
        """Drop cached table handles and compiled queries (after this workspace writes)."""
        self._table_cache.clear()
        self._prepared.clear()

    def query(self, key: Hashable, build: Callable[[], ir.Table]) -> pa.Table:
        """Run the table expression ``build()`` returns, compiling it only the first time ``key`` is seen.

        Why: building and compiling a metric's Ibis expression costs 20-60 ms of Python, as much as DuckDB takes
        to run it on 10M events. ``key`` must determine the expression completely — the metric, its spec and every
        data-derived value the builder reads (e.g. the resolved span) — because the compiled SQL is reused as is.
        Kept until this workspace writes (other writers change data, not the SQL's meaning: data-derived inputs are
        in the key, recomputed by the caller each time).
        """
        prepared = self._prepared.get(key)
        if prepared is None:
            prepared = self._prepared[key] = self.engine.prepare(build())
            while len(self._prepared) > PREPARED_CACHE_SIZE:
                self._prepared.popitem(last=False)
        else:
            self._prepared.move_to_end(key)
        return self.engine.run(prepared)

    def resolve_data_end(self, data_end: dt.datetime | None, purpose: str) -> dt.datetime:
        """ "Now" for a read: ``data_end`` as naive UTC, or the last event's time when it is None.

        ``purpose`` completes the error for an empty workspace ("... before <purpose>").
        """
        if data_end is None:
            span = self.event_span()
            if span is None:
                raise WorkspaceError(f"the workspace has no events yet; ingest events before {purpose}")
            return span.last_ts
        return data_end.astimezone(dt.UTC).replace(tzinfo=None) if data_end.tzinfo is not None else data_end

    def event_span(self) -> EventSpan | None:
        """The events' time span, read from the small ``ingests`` log rather than by scanning ``events``.

        Events are append-only (only uncommitted rows are ever removed), so the committed ingests' spans cover
        the table exactly. A log row from before the span columns existed makes this scan ``events`` instead.
        """

        def build() -> ir.Table:
            log = self.table(T.INGESTS)
            log = log.filter((log.table_name == T.EVENTS) & (log.added > 0))
            return log.aggregate(
                lo=log.min_ts.min(),
                hi=log.max_ts.max(),
                d0=log.min_day.min(),
                d1=log.max_day.max(),
                unknown=(log.min_ts.isnull() | log.min_day.isnull()).cast("int64").sum(),
            )

        row = self.query(("event_span",), build).to_pylist()[0]
        if row["unknown"]:
            ev = self.table(T.EVENTS)
            agg = ev.aggregate(lo=ev.ts.min(), hi=ev.ts.max(), d0=ev.day.min(), d1=ev.day.max())
            row = self.engine.to_arrow(agg).to_pylist()[0]
        if row["lo"] is None:
            return None
        return EventSpan(row["lo"], row["hi"], int(row["d0"]), int(row["d1"]))

    def committed_ingest(self) -> int:
        """Id of the last ingest that logged its commit (0 for an empty workspace)."""
        log = self.engine.table(T.INGESTS)
        value = self.engine.to_arrow(log.aggregate(m=log.ingest_id.max()))["m"][0].as_py()
        return int(value or 0)

    def repair(self) -> bool:
        """Remove rows written by ingests that never committed, and rebuild rollups if events changed.

        Needed only on engines without transactions (Spark); harmless elsewhere. Returns True if it repaired.
        """
        self.forget()
        from liuliang.warehouse import rollup

        committed = self.committed_ingest()
        repaired: list[str] = []
        for name in T.VERSIONED:
            if not self.engine.has_table(name):
                continue
            t = self.engine.table(name)
            stray = self.engine.to_arrow(t.filter(t._ingest > committed).count().name("n").as_table())
            if stray["n"][0].as_py():
                self.engine.rewrite(name, t.filter(t._ingest <= committed))
                repaired.append(name)
        if repaired and any(n in (T.EVENTS, *T.ROLLUPS) for n in repaired):
            rollup.rebuild(self.engine)
        return bool(repaired)

    def rebuild_rollups(self) -> None:
        from liuliang.warehouse import rollup

        self._check_writable("rebuild rollups")
        self.forget()
        with self.engine.transaction():
            rollup.rebuild(self.engine)

    # -- metrics (conveniences: the metrics stage does the work, the workspace only passes itself) ---------
    def retention(self, spec: Any = None, **options: Any) -> Any:
        """``liuliang.metrics.retention.retention(self, spec, ...)``: a :class:`RetentionTable`."""
        from liuliang.metrics.retention import retention

        return retention(self, spec, **options)

    # -- describing -------------------------------------------------------------------------------------
    def info(self) -> WorkspaceInfo:
        names = [
            n
            for n in (
                T.EVENTS,
                T.USERS,
                T.INCENTIVES,
                T.ASSIGNMENTS,
                T.USER_KEYS,
                T.USER_DAY,
                T.USER_DAY_EVENT,
                T.QUARANTINE,
                T.INGESTS,
            )
            if self.engine.has_table(n)
        ]
        counts = {n: int(self.engine.table(n).count().to_pyarrow().as_py()) for n in names}
        span = self.event_span()
        return WorkspaceInfo(
            location=self.location,
            engine=self.engine.name,
            settings=self.settings,
            tables=tuple(TableInfo(n, counts[n]) for n in names),
            users=counts.get(T.USER_KEYS, 0),
            first_ts=span.first_ts if span else None,
            last_ts=span.last_ts if span else None,
            quarantined=counts.get(T.QUARANTINE, 0),
            ingests=counts.get(T.INGESTS, 0),
        )

    def quarantine(self) -> pa.Table:
        """Rejected rows with their source, row number, column and reason."""
        q = self.table(T.QUARANTINE)
        return self.engine.to_arrow(q.order_by(["_ingest", "source", "row"]))

    def close(self) -> None:
        self.engine.close()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _engine_for(
    target: str | Path | ibis.BaseBackend | None, memory_limit: str | None = None, read_only: bool = False
) -> tuple[Engine, str]:
    from liuliang.warehouse.duckdb import DuckDBEngine, connect_duckdb

    if target is None:
        target = DEFAULT_PATH
    if isinstance(target, str | Path):
        text = str(target)
        if "://" in text and not text.startswith("duckdb://"):
            return _engine_for(ibis.connect(text), read_only=read_only)
        path = text.removeprefix("duckdb://") or ":memory:"
        return DuckDBEngine(connect_duckdb(path, memory_limit, read_only)), path
    if read_only:
        raise UnsupportedOperationError(
            f"read_only applies to DuckDB workspace files; open the {type(target).__name__} with read-only credentials"
        )
    backend = getattr(target, "name", None)
    if backend == "duckdb":
        target.raw_sql("SET TimeZone = 'UTC'")
        return DuckDBEngine(target), "duckdb connection"
    if backend == "pyspark":
        from liuliang.warehouse.spark import SparkEngine

        tz = target._session.conf.get("spark.sql.session.timeZone")
        if tz != "UTC":
            raise WorkspaceError(
                f"the Spark session time zone is {tz}; liuliang stores naive UTC times and needs "
                "spark.sql.session.timeZone=UTC (liuliang.warehouse.spark.local_spark_session sets it)"
            )
        db = target._session.catalog.currentDatabase()
        return SparkEngine(target), f"spark database {db}"
    raise WorkspaceError(
        f"cannot use a {type(target).__name__} as a workspace: pass a DuckDB path, a URL or an Ibis "
        "DuckDB/PySpark backend"
    )
