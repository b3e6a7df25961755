"""An ingest happens completely or not at all.

(a) An exception at any stage (reading a later source, a source generator, merging the rollups, writing the commit
    marker) leaves every table of the workspace exactly as it was, and the next ingest gets the same id a clean
    one would. Run on DuckDB (one transaction) and Spark (commit marker + undo/repair).
(b) SIGKILL: a child process ingests a large CSV into a DuckDB workspace that already holds data and is killed at
    chosen phases (while reading, after reading, mid-rollup, just before the commit marker) and at fractions of a
    measured full ingest. Reopened, the workspace equals its before-state; a later ingest equals a clean one.
"""

from __future__ import annotations

import queue
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pytest

import liuliang
from liuliang.errors import MissingColumnError, SourceError
from liuliang.ingest import loader
from liuliang.warehouse import rollup
from wsutil import assert_snapshots_equal, random_events, snapshot, write_csv

HEADER = ["user_id", "ts", "event", "amount"]


def _seed(ws, tmp_path: Path) -> Path:
    """Give the workspace some history: two event ingests, a rejected row and a property column."""
    first = write_csv(
        tmp_path / "seed1.csv",
        [*HEADER, "city"],
        [
            ("u1", "2024-03-01T10:00:00+08:00", "app_open", "1", "bj"),
            ("u2", "2024-03-01T12:00:00+08:00", "order", "2.5", "sh"),
            ("u2", "bad time", "order", "1", "sh"),
        ],
    )
    ws.ingest(first)
    second = write_csv(
        tmp_path / "seed2.csv",
        HEADER,
        [("u1", "2024-03-02T10:00:00+08:00", "order", "4"), ("u3", "2024-03-02T11:00:00Z", "x", "")],
    )
    ws.ingest(second)
    return second


@pytest.fixture
def new_rows_csv(tmp_path: Path) -> Path:
    """Rows that touch existing (user, day) rollup rows and bring a new property column and a new user."""
    return write_csv(
        tmp_path / "new.csv",
        [*HEADER, "campaign"],
        [
            ("u1", "2024-03-01T11:00:00+08:00", "app_open", "3", "spring"),
            ("u4", "2024-03-03T11:00:00+08:00", "order", "9", ""),
            ("u4", "never", "order", "9", ""),
        ],
    )


def _failing_reader(good: pa.Table) -> pa.RecordBatchReader:
    def batches():
        yield from good.to_batches(max_chunksize=1)
        raise RuntimeError("source went away")

    return pa.RecordBatchReader.from_batches(good.schema, batches())


def test_failures_while_reading_leave_the_workspace_unchanged(duck_ws, tmp_path, new_rows_csv):
    _seed(duck_ws, tmp_path)
    before = snapshot(duck_ws)
    malformed = write_csv(tmp_path / "malformed.csv", ["user", "when"], [("u9", "2024-03-01")])
    good = pa.table({"user_id": ["z1", "z2"], "ts": ["2024-03-05T00:00:00Z"] * 2, "event": ["x", "x"]})
    failures = [
        ([new_rows_csv, tmp_path / "missing.csv"], SourceError, "missing.csv: no such file"),
        ([new_rows_csv, malformed], MissingColumnError, "malformed.csv"),
        (_failing_reader(good), RuntimeError, "source went away"),
    ]
    for source, error, message in failures:
        with pytest.raises(error, match=message):
            duck_ws.ingest(source)
        assert_snapshots_equal(snapshot(duck_ws), before)
    # A failed first ingest of a side table leaves no table behind.
    with pytest.raises(SourceError):
        duck_ws.ingest(
            [write_csv(tmp_path / "u.csv", ["user_id", "channel"], [("u1", "ads")]), tmp_path / "nope.csv"],
            table="users",
        )
    assert_snapshots_equal(snapshot(duck_ws), before)
    assert duck_ws.ingest(new_rows_csv).ingest_id == 3


def _break(monkeypatch, where: str) -> None:
    def boom(*args, **kwargs):
        raise RuntimeError(f"crash in {where}")

    if where == "rollup":
        monkeypatch.setattr(rollup, "apply_new_events", boom)
    elif where == "merge user_day":  # after user_day_event has been rewritten
        original = rollup._merge

        def merge(engine, name, *args, **kwargs):
            if name == "user_day":
                boom()
            return original(engine, name, *args, **kwargs)

        monkeypatch.setattr(rollup, "_merge", merge)
    else:  # the very last step: the commit marker
        monkeypatch.setattr(loader, "_log_row", boom)


@pytest.mark.parametrize("where", ["rollup", "commit marker"])
def test_failure_after_rows_were_written_leaves_the_workspace_unchanged(
    duck_ws, tmp_path, new_rows_csv, monkeypatch, where
):
    _check_failure(duck_ws, tmp_path, new_rows_csv, monkeypatch, where)


def test_failure_mid_rollup_merge_leaves_the_workspace_unchanged_on_every_engine(
    ws, tmp_path, new_rows_csv, monkeypatch
):
    # The point where the most has been written: events, user keys, a new column, one rollup already merged.
    _check_failure(ws, tmp_path, new_rows_csv, monkeypatch, "merge user_day")


def _check_failure(ws, tmp_path: Path, new_rows_csv: Path, monkeypatch, where: str) -> None:
    _seed(ws, tmp_path)
    before = snapshot(ws)
    with monkeypatch.context() as m:
        _break(m, where)
        with pytest.raises(RuntimeError, match="crash in"):
            ws.ingest(new_rows_csv)
    after = snapshot(ws)
    if not ws.engine.transactional:
        # Spark keeps schema changes: the property column the failed ingest added stays (all null, harmless;
        # dropping it would rewrite the whole table). Every row is as before.
        added = set(after["events"].column_names) - set(before["events"].column_names)
        assert added == {"campaign"} and after["events"]["campaign"].null_count == after["events"].num_rows
        after["events"] = after["events"].drop_columns(sorted(added))
    assert_snapshots_equal(after, before)
    rep = ws.ingest(new_rows_csv)
    assert (rep.ingest_id, rep.added, rep.rejected, rep.new_users) == (3, 2, 1, 1)
    assert "campaign" in ws.table("events").columns
    assert sorted(ws.engine.to_arrow(ws.table("ingests").ingest_id).to_pylist()) == [1, 2, 3]
    assert sorted(ws.engine.to_arrow(ws.table("quarantine")._ingest).to_pylist()) == [1, 3]


# -- SIGKILL --------------------------------------------------------------------------------------------------
CHILD = textwrap.dedent(
    """
    import sys, time
    import liuliang
    from liuliang.ingest import loader
    from liuliang.warehouse import rollup

    path, source, pause_at, batch_rows = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])

    def mark(label):
        print(label, flush=True)
        if label == pause_at:
            time.sleep(600)  # the parent kills us here

    def wrap(module, name, label):
        original = getattr(module, name)
        def wrapped(*args, **kwargs):
            mark(label)
            return original(*args, **kwargs)
        setattr(module, name, wrapped)

    wrap(rollup, "apply_new_events", "rollup")
    wrap(rollup, "_merge", "merge")
    wrap(loader, "_log_row", "commit")
    ws = liuliang.Workspace.open(path)
    mark("start")
    ws.ingest(source, batch_rows=batch_rows, progress=lambda n: mark(f"rows {n}"))
    mark("done")
    """
)
KILL_ROWS, KILL_BATCH = 300_000, 5_000


class Child:
    """The ingesting child process, with its stdout lines on a queue (time of arrival, line)."""

    def __init__(self, db: Path, source: Path, pause_at: str = "") -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(db), str(source), pause_at or "-", str(KILL_BATCH)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=db.parent,
        )
        self.lines: queue.Queue[tuple[float, str]] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        for line in self.proc.stdout:
            self.lines.put((time.monotonic(), line.strip()))
        self.lines.put((time.monotonic(), "<eof>"))

    def wait_for(self, label: str, timeout: float = 120) -> float:
        deadline = time.monotonic() + timeout
        while True:
            at, line = self.lines.get(timeout=max(deadline - time.monotonic(), 0.01))
            self.seen.append(line)
            if line == label:
                return at
            if line == "<eof>":
                raise AssertionError(f"child ended before {label!r}: {self.proc.wait()} {self.proc.stderr.read()}")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        while not self.lines.empty():
            self.seen.append(self.lines.get()[1])

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)
        for stream in (self.proc.stdout, self.proc.stderr):
            stream.close()


def _snapshot_of(db: Path) -> dict[str, pa.Table]:
    ws = liuliang.Workspace.open(db)
    try:
        return snapshot(ws)
    finally:
        ws.close()


@pytest.fixture(scope="module")
def big_csv(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("kill") / "big.csv"
    t = random_events(KILL_ROWS, seed=7, users=20_000, days=20)
    text_ts = pc.binary_join_element_wise(pc.strftime(t["ts"], format="%Y-%m-%dT%H:%M:%S"), "Z", "")
    pacsv.write_csv(t.set_column(1, "ts", text_ts), path)
    return path


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_sigkill_at_any_point_leaves_the_workspace_as_before(tmp_path, big_csv):
    db = tmp_path / "ws.duckdb"
    with liuliang.Workspace.open(db, tz="Asia/Shanghai") as ws:
        _seed(ws, tmp_path)
        # Overlap the big file's users and days, so the kill can land in a real rollup merge.
        ws.ingest(random_events(2_000, seed=8, users=20_000, days=20))
    before = _snapshot_of(db)
    pristine = tmp_path / "pristine.duckdb"
    shutil.copy(db, pristine)

    # A full, unpaused run on a copy: its duration places the timed kills, its result is the clean ingest.
    clean = tmp_path / "clean" / "ws.duckdb"
    clean.parent.mkdir()
    shutil.copy(pristine, clean)
    child = Child(clean, big_csv)
    try:
        started = child.wait_for("start")
        duration = child.wait_for("done") - started
        assert child.proc.wait(timeout=60) == 0
    finally:
        child.close()
    after = _snapshot_of(clean)
    assert after["events"].num_rows > before["events"].num_rows

    kills = [
        ("paused while reading", f"rows {KILL_BATCH * 3}", None),
        ("paused after reading everything", f"rows {KILL_ROWS}", None),
        ("paused in the rollup merge", "merge", None),
        ("paused before the commit marker", "commit", None),
        *[(f"at {f:.0%} of a full ingest", "", f) for f in (0.2, 0.5, 0.9)],
    ]
    for label, pause_at, fraction in kills:
        child = Child(db, big_csv, pause_at)
        try:
            if pause_at:
                child.wait_for(pause_at)
            else:
                time.sleep(max(child.wait_for("start") + fraction * duration - time.monotonic(), 0))
            child.kill()
        finally:
            child.close()
        state = _snapshot_of(db)
        past_commit = "done" in child.seen or ("commit" in child.seen and pause_at != "commit")
        if past_commit and state["ingests"].num_rows == after["ingests"].num_rows:
            # The kill came after the commit marker was written and the commit made it: all, not nothing.
            assert_snapshots_equal(state, after)
            shutil.copy(pristine, db)
            continue
        try:
            assert_snapshots_equal(state, before)
        except AssertionError as exc:
            raise AssertionError(f"killed {label}: {exc}") from exc

    # The killed attempts left nothing behind that changes a later, successful ingest.
    with liuliang.Workspace.open(db) as ws:
        assert ws.ingest(big_csv, batch_rows=50_000).ingest_id == 4
    assert_snapshots_equal(_snapshot_of(db), after)
